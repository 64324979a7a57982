// A policy entry as the directory holds it (contrib/ldap/vigil-policy.schema,
// doc/policy.md), and whether it applies to this host.
#pragma once

#include "policy/attribute_map.hpp"
#include "policy/policy_types.hpp"
#include "util/result.hpp"

#include <string>
#include <vector>

namespace vigil::policy {

struct PolicyEntry {
    std::string dn;
    std::string name;                      // cn
    const PolicyType *type = nullptr;      // vigilPolicyType, a type this build knows
    int priority = 0;                      // vigilPolicyPriority
    InstallMode mode = InstallMode::ultimate;  // vigilPolicyMode; absent: the type's
    bool enabled = true;                   // vigilPolicyEnabled; absent: TRUE
    std::vector<std::string> hosts;        // vigilPolicyHost
    std::vector<std::string> host_groups;  // vigilPolicyHostGroup (DNs)
    std::string document;                  // vigilPolicyDocument (XML, not yet read)
};

// Checks and converts one entry. Refused, naming the DN: a missing cn, type,
// priority or document; a single-valued attribute with several values; a
// priority that is not a 32-bit integer; a mode other than ultimate/default
// or one the type does not allow (sudo is always ultimate); enabled other
// than TRUE/FALSE. An unknown type is Errc::not_found (a newer vigil's type:
// the caller skips it).
Result<PolicyEntry> policy_entry_from(const std::string &dn, const AttributeMap &attributes);

struct HostIdentity {
    std::string fqdn;                      // this host's name, from config or the system
    std::vector<std::string> group_dns;    // host groups it is a member of in the directory
};

// Enabled, and naming this host (case-insensitive) or one of its groups
// (DNs compared by same_dn). An entry with no hosts and no groups applies nowhere.
bool applies_to(const PolicyEntry &entry, const HostIdentity &host);

// DNs compared without case and without spaces around ',' '=' and '+'
// (what directories vary in); escaped characters are compared as written.
bool same_dn(const std::string &a, const std::string &b);

} // namespace vigil::policy
