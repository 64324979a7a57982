// Configurations for unit tests of code that reads a domain's options:
// one file with domain "d" (id_provider = ldap) and the lines given.
#pragma once

#include "common.hpp"
#include "util/config.hpp"
#include "util/ini.hpp"

#include <string>
#include <vector>

namespace test {

// The configuration's load with its problems (the file itself must parse).
// `vigil_lines` go to [vigil], `domain_lines` to [domain/d].
inline vigil::ConfigLoad load_domain_config(const std::string &domain_lines, const std::string &vigil_lines = "",
                                            const std::string &uri = "ldap://127.0.0.1")
{
    std::string text = "[vigil]\ndomains = d\n" + vigil_lines + "[domain/d]\nid_provider = ldap\nldap_uri = " + uri +
                       "\n" + domain_lines;
    std::vector<vigil::Problem> problems;
    std::vector<vigil::IniFile> files{vigil::parse_ini(text, "v.conf", problems)};
    assert_int_equal(problems.size(), 0);
    return vigil::validate_config(files, "v.conf");
}

// The same, which must be valid.
inline vigil::Config domain_config(const std::string &domain_lines, const std::string &vigil_lines = "",
                                   const std::string &uri = "ldap://127.0.0.1")
{
    vigil::ConfigLoad load = load_domain_config(domain_lines, vigil_lines, uri);
    for (const vigil::Problem &p : load.problems) print_error("problem: %s\n", p.to_string().c_str());
    assert_true(load.ok());
    return load.config;
}

} // namespace test
