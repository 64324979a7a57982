// The salted slow hash kept for offline logins: crypt(3) from libxcrypt,
// yescrypt ($y$) where the library has it, SHA-512 ($6$) otherwise. The
// password itself is never stored, logged or kept longer than one call.
//
// These calls are slow on purpose (tens of milliseconds): never call them on
// an event loop; creds/hash_worker.hpp runs them in a worker thread.
#pragma once

#include "util/result.hpp"
#include "util/secret.hpp"

#include <string>

namespace vigil::creds {

// "$y$" then "$6$": the first one libxcrypt can generate a salt for.
inline constexpr const char *preferred_hash_prefixes[] = {"$y$", "$6$"};

// The cost of a new hash ([domain/NAME] cache_credentials_hash_cost): the
// yescrypt cost of libxcrypt, where each step doubles both the time and the
// memory one guess takes. Where only SHA-512 is available the rounds scale
// alike: cost 2 = 5,000 rounds, the default of glibc and of SSSD. A stored
// hash keeps the cost it was made with; the next online login re-hashes.
inline constexpr unsigned min_hash_cost = 1;
inline constexpr unsigned max_hash_cost = 8; // 128 MiB a hash: two workers at once stay bounded

// SHA-512 rounds for a cost (bounded to min..max_hash_cost).
unsigned long sha512_rounds(unsigned cost) noexcept;

// A fresh random salt (getrandom) for every call: two stores of the same
// password give two different hashes. An empty password, or one with a NUL
// byte (crypt would hash only the part before it), is refused; so is a cost
// outside min..max_hash_cost.
Result<std::string> hash_password(const Secret &password, unsigned cost);

// The same with one method and its own cost parameter (0: the library's
// default), for tests.
Result<std::string> hash_password_with(const Secret &password, const char *prefix, unsigned long cost);

// The method and cost of a stored hash, for vigilctl ("yescrypt, cost 2",
// "SHA-512, 5000 rounds"): says whether hashes made before a change of
// cache_credentials_hash_cost were made again. Reveals nothing of the hash.
std::string describe_hash(const std::string &stored);

// Whether `password` hashes to `stored` (compared in constant time). A stored
// value crypt cannot use is an error, not a mismatch: the caller must not
// count it as a wrong password.
Result<bool> password_matches(const Secret &password, const std::string &stored);

} // namespace vigil::creds
