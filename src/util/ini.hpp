// The INI reader: sections, "key = value" lines and comments, nothing more.
// The rules (and every message it gives) are documented in doc/config.md.
// It collects every problem in a file rather than stopping at the first, so
// that `vigilctl config-check` can list them all.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vigil {

// One thing wrong with a configuration, located as "file:line: message"
// (line 0 when the problem is the file as a whole).
struct Problem {
    std::string file;
    int line = 0;
    std::string message;

    std::string to_string() const;
};

struct IniEntry {
    std::string key;
    std::string value;
    int line = 0;
};

struct IniSection {
    std::string name;
    int line = 0;
    std::vector<IniEntry> entries;
};

struct IniFile {
    std::string path;
    std::vector<IniSection> sections;
};

inline constexpr std::size_t ini_max_line = 4096;

// Parses text already read from `path` (path is used for messages only).
IniFile parse_ini(std::string_view text, const std::string &path, std::vector<Problem> &problems);

// Reads and parses a file, refusing one that is not a regular file, is not
// owned by root or the user running us, or that group or others can read or write.
IniFile read_ini_file(const std::string &path, std::vector<Problem> &problems);

bool is_valid_utf8(std::string_view text) noexcept;

} // namespace vigil
