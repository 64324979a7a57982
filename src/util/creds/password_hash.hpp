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

// A fresh random salt (getrandom) for every call: two stores of the same
// password give two different hashes. An empty password, or one with a NUL
// byte (crypt would hash only the part before it), is refused.
Result<std::string> hash_password(const Secret &password);

// The same with one method and cost (0: the library's default), for tests
// and for a later cost option.
Result<std::string> hash_password_with(const Secret &password, const char *prefix, unsigned long cost);

// Whether `password` hashes to `stored` (compared in constant time). A stored
// value crypt cannot use is an error, not a mismatch: the caller must not
// count it as a wrong password.
Result<bool> password_matches(const Secret &password, const std::string &stored);

} // namespace vigil::creds
