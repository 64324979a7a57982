// Directory entries as the policy code sees them: attribute name -> values,
// names compared without case (as LDAP does).
#pragma once

#include <map>
#include <string>
#include <strings.h>
#include <vector>

namespace vigil::policy {

struct AttributeNameLess {
    bool operator()(const std::string &a, const std::string &b) const { return strcasecmp(a.c_str(), b.c_str()) < 0; }
};
using AttributeMap = std::map<std::string, std::vector<std::string>, AttributeNameLess>;

} // namespace vigil::policy
