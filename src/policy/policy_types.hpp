// The policy types vigil knows, as data: adding a type is a row here plus its
// schema and template in data/policy/, not a new pipeline (doc/policy.md).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace vigil::policy {

// ultimate: the rendered file replaces the local one. default: the local file
// is laid over the rendered one (Augeas), so local settings win.
enum class InstallMode { ultimate, overlay_default };

struct PolicyType {
    std::string_view name;             // the policy entry's type value
    std::string_view schema_file;      // Relax NG, under the policy data dir
    std::string_view template_file;    // XSLT, under the policy data dir
    std::string_view default_target;   // where the rendered file goes
    std::string_view forbidden_name_chars;  // characters the target's file name may not hold
    InstallMode mode;                  // used when a policy names none
    bool overlay_allowed;              // may a policy ask for default (overlay) mode?
    std::string_view check_command;    // validates a rendered file (its path appended); "" none
};

// Every type this build knows.
std::span<const PolicyType> all_types();

// nullptr when `name` is not a type this build knows.
const PolicyType *find_type(std::string_view name);

// data/policy as installed ($datadir/vigil/policy) unless the caller says otherwise.
std::string data_path(const std::string &data_dir, std::string_view file);

} // namespace vigil::policy
