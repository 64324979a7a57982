// sudoRole entries (the sudo-ldap schema, as Æ-DIR and many sites keep sudo
// rules) converted into a vigil sudo policy document, so that they merge and
// render like every other source (doc/policy.md, "sudoRole entries").
#pragma once

#include "policy/attribute_map.hpp"
#include "policy/policy_xml.hpp"
#include "util/result.hpp"

#include <string>
#include <vector>

namespace vigil::policy {

struct SudoRole {
    std::string name;          // the entry's cn (the rule name in comments and errors)
    AttributeMap attributes;   // sudoUser, sudoHost, sudoCommand, sudoOrder, ...
};

struct ConvertedRoles {
    XmlDoc doc;                         // <policy type="sudo">; validate it like any source
    std::vector<std::string> skipped;   // roles that apply nowhere, with the reason
};

// Rules are written in ascending sudoOrder (missing counts as 0), ties by
// name: the highest sudoOrder comes last and wins, as in sudo-ldap. A role
// named "defaults" holds global options and is written first. A role that
// cannot be converted (no command, a bad sudoOrder or date) refuses the
// whole set, naming the role.
Result<ConvertedRoles> convert_sudo_roles(std::vector<SudoRole> roles);

} // namespace vigil::policy
