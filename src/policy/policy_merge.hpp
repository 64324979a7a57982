// Merging the documents of one type into one document (doc/policy.md,
// "Merge rule"): sources in ascending priority, ties by name, each source's
// elements in its own order. For last-match-wins formats such as sudoers
// this means the highest priority is written last and wins.
#pragma once

#include "policy/policy_xml.hpp"
#include "util/result.hpp"

#include <string>
#include <vector>

namespace vigil::policy {

struct PolicySource {
    std::string name;   // the policy's name; unique among the sources of a type
    int priority = 0;
    XmlDoc doc;         // already validated against the type's schema
};

// The order the merge writes sources in: ascending priority, then name
// (byte order). Two sources of the same name are refused.
Status order_sources(std::vector<PolicySource> &sources);

// One <policy type="TYPE" version="1"> holding every top-level element of
// every source, in the order above, each marked with source= and priority=.
Result<XmlDoc> merge_by_priority(const std::string &type, std::vector<PolicySource> sources);

} // namespace vigil::policy
