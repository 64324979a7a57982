// The access decision of one login (pam_acct_mgmt) and the rules it is made
// of: each rule a pure function over the cached user record (and, for the
// filter rule, what the directory answered or the last answer kept in the
// cache), so every rule works offline and is tested at its boundaries.
// doc/access.md states the rules; access_checker.hpp runs them.
#pragma once

#include "util/config.hpp"
#include "util/result.hpp"
#include "util/sysdb/sysdb.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vigil::access {

struct AccessDecision {
    enum class Kind {
        permit,
        deny,        // reason: one line for the PAM conversation ("account expired on 2024-05-01")
        unavailable, // no decision can be made (user not cached, cache unreadable); reason says why
    };
    Kind kind = Kind::deny;
    std::string reason;
    bool account_expired = false; // a deny because the account expired (PAM_ACCT_EXPIRED, not PAM_PERM_DENIED)

    static AccessDecision permit() { return {Kind::permit, {}, false}; }
    static AccessDecision deny(std::string reason) { return {Kind::deny, std::move(reason), false}; }
    static AccessDecision expired(std::string reason) { return {Kind::deny, std::move(reason), true}; }
    static AccessDecision unavailable(std::string reason) { return {Kind::unavailable, std::move(reason), false}; }
    bool permitted() const { return kind == Kind::permit; }
    bool operator==(const AccessDecision &) const = default;
};

const char *decision_name(AccessDecision::Kind kind) noexcept;

// ---- simple: sssd-simple(5) -------------------------------------------------

struct SimpleLists {
    std::vector<std::string> allow_users, allow_groups, deny_users, deny_groups;
};

// Deny lists win; if any allow list is set, only the users it names (or
// whose groups it names) are permitted; with no allow list, everyone not
// denied. `groups` are the user's group names, the primary group included.
// Names compare without regard to case, as the domain's names do.
AccessDecision simple_rule(const SimpleLists &lists, const std::string &user, const std::vector<std::string> &groups);

// ---- ldap: sssd-ldap(5) ldap_access_order -----------------------------------

enum class LdapRule { filter, expire, host };
const char *ldap_rule_name(LdapRule rule) noexcept;

enum class ExpirePolicy {
    none,   // ldap_account_expire_policy unset (then "expire" is refused in ldap_access_order)
    shadow, // shadowExpire: days since 1970-01-01
    aedir,  // Æ-DIR: aeStatus must be 0 (active); now within aeNotBefore .. aeNotAfter
};

struct LdapAccessSettings {
    std::vector<LdapRule> order{LdapRule::filter};
    std::string filter;                       // ldap_access_filter
    ExpirePolicy expire_policy = ExpirePolicy::none;
    std::string shadow_expire_attr = "shadowExpire"; // ldap_user_shadow_expire
    std::string status_attr = "aeStatus";            // ldap_user_status
    std::string not_before_attr = "aeNotBefore";     // ldap_user_not_before
    std::string not_after_attr = "aeNotAfter";       // ldap_user_not_after
    std::string host_attr = "host";                  // ldap_user_authorized_host
    std::string fqdn;                                // ldap_access_host_fqdn, or the system's
};

// shadowExpire: absent or -1 never expires; otherwise the account is expired
// from the start (UTC) of day number shadowExpire on, as pam_unix reads it.
// A value that is not a number denies.
AccessDecision shadow_expire_rule(const sysdb::User &user, const std::string &attr, std::int64_t now);

// Æ-DIR: a status other than "0" (active), or a missing one, denies; a
// validity bound that is present limits: valid while notBefore <= now <= notAfter
// (both inclusive, to the second). A bound that is not a GeneralizedTime denies.
AccessDecision aedir_rule(const sysdb::User &user, const LdapAccessSettings &s, std::int64_t now);

// The expire rule for the configured policy.
AccessDecision expire_rule(const sysdb::User &user, const LdapAccessSettings &s, std::int64_t now);

// The host attribute: "!FQDN" denies (it wins over everything), "*" or FQDN
// permits, anything else (or no value at all) denies. Host names compare
// without regard to case.
AccessDecision host_rule(const sysdb::User &user, const std::string &attr, const std::string &fqdn);

// The last online answer to the access filter, kept with the user in the
// cache so that an offline login (an SSH key login calls only acct_mgmt)
// has something to go by.
using FilterMemo = sysdb::AccessFilterMemo; // sysdb.hpp

// A stable (FNV-1a 64) hash of the filter text: a memo answers only for the
// filter that was checked, not for one changed in the configuration since.
std::uint64_t filter_hash(const std::string &filter);

// Online: the search for (&(NAME_ATTR=NAME)(FILTER)) at the user's DN
// returned an entry (`matched`) or none.
AccessDecision filter_rule_online(bool matched);
// Offline: the memo decides; none, or one for another filter, denies.
AccessDecision filter_rule_offline(const std::optional<FilterMemo> &memo, const std::string &filter);

// "(&(uid=alice)(memberOf=cn=a,...))": the name escaped, the filter wrapped
// in parentheses when it has none.
std::string access_filter(const std::string &name_attr, const std::string &name, const std::string &filter);

// "20240501103000Z", "202405011030Z", "2024050110+0200", with or without
// fractions: seconds since 1970 (UTC). Refuses anything else.
Result<std::int64_t> parse_generalized_time(const std::string &text);

// ---- the provider ------------------------------------------------------------

enum class ProviderKind { permit, deny, simple, ldap };

struct AccessSettings {
    ProviderKind provider = ProviderKind::permit;
    SimpleLists simple;
    LdapAccessSettings ldap;
    std::string user_name_attr = "uid"; // ldap_user_name, for the filter search

    // access_provider and the simple_* / ldap_access_* options of
    // [domain/NAME]. Refused: "expire" in ldap_access_order without
    // ldap_account_expire_policy, "filter" without ldap_access_filter
    // (SSSD would deny everyone; a refused configuration says why at start).
    static Result<AccessSettings> from_config(const Config &config, const std::string &domain);
};

// gethostname(), made fully qualified through the resolver when it has no
// dot. Blocking: called once, when the settings are read.
std::string system_fqdn();

} // namespace vigil::access
