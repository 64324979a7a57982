#include "policy/policy_store.hpp"

#include "policy/install.hpp"
#include "policy/policy_types.hpp"
#include "policy/policy_xml.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <set>
#include <unistd.h>

namespace vigil::policy {

namespace {

constexpr std::string_view index_header = "vigil-policy-cache 1";
constexpr std::size_t max_index_bytes = 64u << 20;

std::vector<std::string_view> split(std::string_view line, char sep)
{
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = line.find(sep, start);
        fields.push_back(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return fields;
        start = end + 1;
    }
}

Result<CacheIndex> parse_index(const std::string &text)
{
    CacheIndex index;
    auto lines = split(text, '\n');
    if (lines.empty() || lines.front() != index_header) {
        return Error{Errc::protocol, "not a vigil policy cache index of this version"};
    }
    for (std::size_t i = 1; i < lines.size(); ++i) {
        if (lines[i].empty()) continue;
        auto raw = split(lines[i], '\t');
        std::vector<std::string> f;
        for (auto field : raw) {
            auto value = unescape_field(field);
            if (!value) return std::move(value).error();
            f.push_back(std::move(*value));
        }
        const std::string where = "line " + std::to_string(i + 1);
        if (f[0] == "document" && f.size() == 7) {
            if (!find_type(f[1])) return Error{Errc::protocol, where + ": unknown type"};
            StoredDocument d{f[1], f[2], f[3], 0, f[5], f[6]};
            char *end = nullptr;
            errno = 0;
            long priority = std::strtol(f[4].c_str(), &end, 10);
            if (errno != 0 || *end != '\0' || f[4].empty() || priority < INT32_MIN || priority > INT32_MAX) {
                return Error{Errc::protocol, where + ": bad priority"};
            }
            d.priority = static_cast<int>(priority);
            if (d.file.empty() || d.file.find('/') != std::string::npos || d.file[0] == '.') {
                return Error{Errc::protocol, where + ": bad file name"};
            }
            index.documents.push_back(std::move(d));
        } else if (f[0] == "role" && f.size() == 3) {
            index.roles.push_back(StoredRole{f[1], f[2]});
        } else if (f[0] == "roles-file" && f.size() == 2) {
            if (f[1].find('/') != std::string::npos || f[1].empty() || f[1][0] == '.') {
                return Error{Errc::protocol, where + ": bad file name"};
            }
            index.roles_file = f[1];
        } else {
            return Error{Errc::protocol, where + ": not an index record"};
        }
    }
    return index;
}

std::string format_index(const CacheIndex &index)
{
    std::string text(index_header);
    text += '\n';
    auto line = [&](std::initializer_list<std::string_view> fields) {
        bool first = true;
        for (auto field : fields) {
            if (!first) text += '\t';
            text += escape_field(field);
            first = false;
        }
        text += '\n';
    };
    for (const auto &d : index.documents) {
        line({"document", d.type, d.dn, d.name, std::to_string(d.priority), d.stamp, d.file});
    }
    for (const auto &r : index.roles) line({"role", r.dn, r.stamp});
    if (!index.roles_file.empty()) line({"roles-file", index.roles_file});
    return text;
}

std::uint64_t fnv1a(std::string_view text)
{
    std::uint64_t hash = 1469598103934665603ULL;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 1099511628211ULL;
    }
    return hash;
}

} // namespace

const StoredDocument *CacheIndex::find(std::string_view dn) const
{
    for (const auto &d : documents) {
        if (d.dn == dn) return &d;
    }
    return nullptr;
}

std::string escape_field(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '%' || c == '\t' || c == '\n' || c == '\r') {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
            out += hex;
        } else {
            out += c;
        }
    }
    return out;
}

Result<std::string> unescape_field(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '%') {
            out += value[i];
            continue;
        }
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        const int high = i + 2 < value.size() ? hex(value[i + 1]) : -1;
        const int low = i + 2 < value.size() ? hex(value[i + 2]) : -1;
        if (high < 0 || low < 0) return Error{Errc::protocol, "bad escape"};
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

std::string PolicyStore::file_for(std::string_view name, std::string_view dn, std::string_view content)
{
    // Readable but bounded: with the hash and the installer's temp prefix
    // the name stays far below NAME_MAX whatever the cn holds.
    constexpr std::size_t max_readable = 96;
    std::string file;
    for (unsigned char c : name) {
        if (file.size() + 3 > max_readable) break;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (plain) {
            file += static_cast<char>(c);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", c);
            file += hex;
        }
    }
    // The DN: two entries of one name never share a file. The content: a
    // changed document is a new file, so a commit never overwrites a file
    // the index in force still names.
    char hash[48];
    std::snprintf(hash, sizeof hash, "@%016llx-%016llx.xml", static_cast<unsigned long long>(fnv1a(dn)),
                  static_cast<unsigned long long>(fnv1a(content)));
    return (file.empty() ? "policy" : file) + hash;
}

CacheIndex PolicyStore::load(std::string *note) const
{
    auto text = read_text_file(dir_ + "/index", max_index_bytes);
    if (!text) {
        if (note && text.error().code != Errc::not_found) *note = text.error().message;
        return {};
    }
    auto index = parse_index(*text);
    if (!index) {
        if (note) *note = dir_ + "/index: " + index.error().message + "; downloading everything again";
        return {};
    }
    return std::move(*index);
}

Result<std::string> PolicyStore::read(std::string_view type, const std::string &file) const
{
    return read_text_file(dir_ + "/" + std::string(type) + "/" + file);
}

CacheIndex PolicyStore::verified(const CacheIndex &index) const
{
    auto readable = [&](std::string_view type, const std::string &file) {
        return ::access((dir_ + "/" + std::string(type) + "/" + file).c_str(), R_OK) == 0;
    };
    CacheIndex checked;
    for (const auto &d : index.documents) {
        if (readable(d.type, d.file)) checked.documents.push_back(d);
    }
    if (index.roles_file.empty() || readable("sudo", index.roles_file)) {
        checked.roles = index.roles;
        checked.roles_file = index.roles_file;
    }
    return checked;
}

Status PolicyStore::commit(const CacheIndex &index, const std::map<std::string, std::string> &files)
{
    if (auto made = make_dirs(dir_, 0700); !made) return made;
    std::set<std::string> types;
    for (const auto &[path, content] : files) {
        std::size_t slash = path.find('/');
        const std::string type = path.substr(0, slash);
        if (types.insert(type).second) {
            if (auto made = make_dirs(dir_ + "/" + type, 0700); !made) return made;
        }
        if (auto written = write_file_durably(dir_ + "/" + type, path.substr(slash + 1), content, 0600); !written) {
            return written;
        }
    }
    if (auto written = write_file_durably(dir_, "index", format_index(index), 0600); !written) return written;
    // What the index no longer names goes (a crash before this only leaves
    // files the next commit removes).
    std::map<std::string, std::set<std::string>> kept;
    for (const auto &d : index.documents) kept[d.type].insert(d.file);
    if (!index.roles_file.empty()) kept["sudo"].insert(index.roles_file);
    DIR *top = ::opendir(dir_.c_str());
    if (!top) return {};
    std::vector<std::string> type_dirs;
    while (dirent *e = ::readdir(top)) {
        if (e->d_name[0] != '.' && e->d_type == DT_DIR) type_dirs.emplace_back(e->d_name);
    }
    ::closedir(top);
    for (const auto &type : type_dirs) {
        const std::string path = dir_ + "/" + type;
        DIR *d = ::opendir(path.c_str());
        if (!d) continue;
        std::vector<std::string> stale;
        while (dirent *e = ::readdir(d)) {
            if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0'))) continue;
            if (!kept[type].count(e->d_name)) stale.emplace_back(e->d_name);
        }
        ::closedir(d);
        for (const auto &name : stale) ::unlink((path + "/" + name).c_str());
    }
    return {};
}

} // namespace vigil::policy
