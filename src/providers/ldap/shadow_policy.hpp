// ldap_pwd_policy = shadow: what a user's shadowAccount attributes say about
// a login today. A pure function of the attribute values and the day, so the
// PAM path can ask it with the cache's copy (online or offline) and every
// boundary is unit-tested (tests/unit/test_shadow_policy.cpp).
//
// Days are days since 1970-01-01 (UTC), as in shadow(5). The rules follow
// shadow-utils (what `chage -l` prints), one decision per rule:
//  - shadowExpire E: the account is expired from day E on (today >= E).
//    E = 0 is 1970-01-01, so expired (pam_unix and SSSD read it so; failing
//    closed beats guessing "never"); -1 or a missing value: never.
//  - shadowLastChange 0: the password must be changed now.
//  - shadowMax M (-1 or missing: no password expiry; 99999, the usual "never",
//    is simply far in the future): the password has expired from day
//    lastchange + M on; the user must change it (PAM_NEW_AUTHTOK_REQD).
//  - shadowInactive I (with M): from day lastchange + M + I on the account is
//    expired (the grace for changing an expired password is over).
//  - shadowWarning W (with M): from day lastchange + M - W on, a warning
//    with the days left (at least 1).
//  - a shadowLastChange in the future (the clock went back) does not expire
//    the password.
//  - shadowMin only limits changes: too_early_to_change().
// A value that is not a decimal integer, or a negative one other than -1, is
// `malformed`: the caller denies the login and logs `reason` (a typo in the
// directory must not silently disable expiry).
#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vigil::ldap {

struct ShadowAttributes {
    // The directory's values as text (the cache stores them so); nullopt: absent.
    std::optional<std::string> last_change; // shadowLastChange
    std::optional<std::string> min_days;    // shadowMin
    std::optional<std::string> max_days;    // shadowMax
    std::optional<std::string> warn_days;   // shadowWarning
    std::optional<std::string> inactive_days; // shadowInactive
    std::optional<std::string> expire;      // shadowExpire

    // From attribute name -> values as the cache keeps them (sysdb::User::extra,
    // the same map type): names compare case-insensitively; an attribute with
    // several values (the schema says single-valued) is malformed ("" stands in).
    static ShadowAttributes from_attributes(const std::map<std::string, std::vector<std::string>> &attrs);
};

enum class ShadowStatus {
    ok,
    warn_expiring,    // days_left: the password expires in that many days
    password_expired, // log in, then change it (PAM_NEW_AUTHTOK_REQD)
    account_expired,  // no login (PAM_ACCT_EXPIRED)
    malformed,        // an attribute is not a number: deny, reason says which
};

struct ShadowVerdict {
    ShadowStatus status = ShadowStatus::ok;
    std::int64_t days_left = 0; // warn_expiring only
    std::string reason;         // for the log; empty when ok
};

ShadowVerdict check_shadow(const ShadowAttributes &attrs, std::int64_t today);

// shadowMin: true when a change today comes too soon after the last one.
// Malformed or absent values never forbid a change.
bool too_early_to_change(const ShadowAttributes &attrs, std::int64_t today);

// Days since 1970-01-01 for a wall-clock time (UTC).
std::int64_t days_since_epoch(std::time_t when);

const char *shadow_status_name(ShadowStatus status) noexcept;

} // namespace vigil::ldap
