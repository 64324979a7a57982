// The validated configuration: vigil.conf plus conf.d/*.conf (sorted by name,
// a later file overriding an option of an earlier one), checked against the
// option table. Typed getters apply the table's defaults, so a default lives
// in one place.
#pragma once

#include "util/config_schema.hpp"
#include "util/ini.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vigil {

struct Setting {
    std::string value;
    std::string file; // where it was set, for messages
    int line = 0;
};

struct ConfigSection {
    std::string file;
    int line = 0;
    std::map<std::string, Setting, std::less<>> options;
};

class Config {
public:
    // Sections by their name in the file: "vigil", "nss", "domain/LDAP".
    std::map<std::string, ConfigSection, std::less<>> sections;

    bool is_set(std::string_view section, std::string_view key) const;
    std::string get_string(std::string_view section, std::string_view key) const;
    std::int64_t get_int(std::string_view section, std::string_view key) const;
    bool get_bool(std::string_view section, std::string_view key) const;
    std::vector<std::string> get_list(std::string_view section, std::string_view key) const;

    // [vigil] domains, in the order given.
    std::vector<std::string> domains() const { return get_list("vigil", "domains"); }

    // "[section]" and "key = value" lines, secrets shown as ***: for logs and vigilctl.
    std::string dump() const;
};

struct ConfigLoad {
    Config config;
    std::vector<Problem> problems;
    bool ok() const { return problems.empty(); }
};

// Reads `path` and the conf.d directory beside it; collects every problem.
ConfigLoad load_config(const std::string &path);

// Validates already-parsed files (main file first): used by load_config and tests.
ConfigLoad validate_config(const std::vector<IniFile> &files, const std::string &main_path);

// The same, as one Result: the error lists every problem, one per line.
Result<Config> read_config(const std::string &path);

// Value helpers shared with confdb.
std::vector<std::string> split_list(std::string_view text);
bool parse_bool(std::string_view text, bool &out);

} // namespace vigil
