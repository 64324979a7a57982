#include "policy/policy_types.hpp"

#include <array>

namespace vigil::policy {

namespace {

// sudoers is always ultimate: its rules are last-match-wins, so priority
// decides the order they are written in and an overlay means nothing.
// sudo skips files in sudoers.d whose names hold '.' or '~'.
constexpr std::array types{
    PolicyType{
        .name = "sudo",
        .schema_file = "sudo.rng",
        .template_file = "sudo.xsl",
        .default_target = "/etc/sudoers.d/vigil",
        .forbidden_name_chars = ".~",
        .mode = InstallMode::ultimate,
        .overlay_allowed = false,
        .check_command = "/usr/sbin/visudo -cf",
    },
};

} // namespace

std::span<const PolicyType> all_types() { return types; }

const PolicyType *find_type(std::string_view name)
{
    for (const auto &type : types) {
        if (type.name == name) return &type;
    }
    return nullptr;
}

std::string data_path(const std::string &data_dir, std::string_view file)
{
    std::string path = data_dir;
    if (!path.empty() && path.back() != '/') path += '/';
    path += file;
    return path;
}

} // namespace vigil::policy
