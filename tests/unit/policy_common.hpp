// Shared by the policy unit tests: where the shipped schema, template,
// examples and the render child are (make check sets VIGIL_SRCDIR and
// VIGIL_BUILDDIR), and small document builders.
#pragma once

#include "common.hpp"
#include "policy/policy_xml.hpp"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <string>
#include <vector>

namespace test {

inline std::string srcdir()
{
    const char *dir = std::getenv("VIGIL_SRCDIR");
    return dir && *dir ? dir : ".";
}

inline std::string builddir()
{
    const char *dir = std::getenv("VIGIL_BUILDDIR");
    return dir && *dir ? dir : ".";
}

inline std::string policy_data_dir() { return srcdir() + "/data/policy"; }
inline std::string sudo_schema_path() { return policy_data_dir() + "/sudo.rng"; }
inline std::string sudo_template_path() { return policy_data_dir() + "/sudo.xsl"; }
inline std::string render_program() { return builddir() + "/vigil_policy_render"; }

inline std::string read_file(const std::string &path)
{
    auto text = vigil::policy::read_text_file(path);
    if (!text) fail_msg("%s", text.error().message.c_str());
    return *text;
}

// The names in `dir` (without . and ..), sorted; none when it does not exist.
inline std::vector<std::string> dir_entries(const std::string &dir)
{
    std::vector<std::string> names;
    DIR *d = opendir(dir.c_str());
    if (!d) return names;
    while (struct dirent *entry = readdir(d)) {
        std::string name = entry->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

inline std::string example(const std::string &name) { return read_file(srcdir() + "/contrib/policy/" + name); }

inline vigil::policy::Schema sudo_schema()
{
    auto schema = vigil::policy::Schema::load(sudo_schema_path());
    if (!schema) fail_msg("%s", schema.error().message.c_str());
    return std::move(*schema);
}

// A sudo policy with one rule per name: "NAME" for user NAME, command /bin/NAME.
inline std::string sudo_policy(std::initializer_list<std::string> rule_names)
{
    std::string xml = "<policy type=\"sudo\" version=\"1\">";
    for (const auto &name : rule_names) {
        xml += "<rule name=\"" + name + "\"><user>" + name + "</user><host>ALL</host><command>/bin/" + name +
               "</command></rule>";
    }
    return xml + "</policy>";
}

inline bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

} // namespace test
