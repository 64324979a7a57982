// The rules of an offline login, as pure functions of a stored record, the
// time and the [pam] settings (DESIGN.md "Offline"). No I/O and no clock:
// the tests drive them through every case, and CredentialStore and
// OfflineAuthenticator only carry out what they decide.
//
// Two steps, so that the order is fixed by the types: admit() decides, before
// any hash is computed, whether the password may be compared at all (no
// cached credentials, expired, locked out); only its Admitted value lets
// conclude() turn the comparison into a verdict and the record to write back.
#pragma once

#include <chrono>
#include <limits>
#include <optional>
#include <string>
#include <variant>

namespace vigil::creds {

// Wall-clock seconds: stored times must mean the same after a restart.
using WallTime = std::chrono::sys_seconds;

// locked_until for offline_failed_login_delay = 0: only an online login unlocks.
inline constexpr WallTime locked_until_online_login = WallTime::max();

struct OfflineSettings {
    unsigned failed_login_attempts = 0;          // [pam] offline_failed_login_attempts; 0: never lock
    std::chrono::minutes failed_login_delay{5};  // [pam] offline_failed_login_delay
    std::chrono::days credentials_expiration{0}; // [pam] offline_credentials_expiration; 0: never
};

// One user's row in the credentials database.
struct CredentialRecord {
    std::string hash;                     // crypt(3) output; never the password
    WallTime stored_at{};                 // the online login that stored it
    unsigned failed_attempts = 0;         // wrong offline passwords since the last success
    std::optional<WallTime> locked_until; // set once failed_attempts reached the limit

    bool operator==(const CredentialRecord &) const = default;
};

enum class OfflineVerdict {
    allowed,        // the cached password matched
    wrong_password, // it did not (and counted); locked_until says if that locked the account
    locked,         // refused before comparing: too many wrong passwords
    expired,        // stored longer ago than offline_credentials_expiration, or "in the future"
    no_credentials, // nothing cached for this user
};

const char *verdict_name(OfflineVerdict verdict) noexcept;

struct Refused {
    OfflineVerdict verdict;               // locked, expired or no_credentials
    std::optional<WallTime> locked_until; // for locked
};

// Permission to compute and compare the hash. Only admit() makes one.
class Admitted {
public:
    const CredentialRecord &record() const noexcept { return record_; }

private:
    friend std::variant<Refused, Admitted> admit(const std::optional<CredentialRecord> &, WallTime,
                                                 const OfflineSettings &);
    explicit Admitted(CredentialRecord record) : record_(std::move(record)) {}
    CredentialRecord record_;
};

std::variant<Refused, Admitted> admit(const std::optional<CredentialRecord> &stored, WallTime now,
                                      const OfflineSettings &settings);

struct Conclusion {
    OfflineVerdict verdict;               // allowed or wrong_password
    std::optional<WallTime> locked_until; // this failure locked the account until then
    CredentialRecord record;              // what the database must hold now
    bool record_changed = false;          // false: nothing to write (no fsync per login)
};

// A match resets the counter and any lock. A mismatch counts; reaching the
// limit locks for the delay. After a lock ran out the counter stays at the
// limit, so each further wrong password locks again at once: a guesser gets
// one try per delay, the user who remembers the password gets in.
Conclusion conclude(const Admitted &admitted, WallTime now, const OfflineSettings &settings, bool password_matched);

// After a successful online login: the new hash, stored now, counter reset.
CredentialRecord fresh_record(std::string hash, WallTime now);

} // namespace vigil::creds
