#include "util/config.hpp"

#include "util/krb5_options.hpp"
#include "util/secret.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <dirent.h>
#include <set>
#include <sys/stat.h>
#include <cerrno>
#include <cstring>
#include <strings.h>

namespace vigil {
namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string_view trim(std::string_view s)
{
    std::size_t b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

bool parse_int(std::string_view text, std::int64_t &out)
{
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

bool in_choices(std::string_view value, std::string_view choices)
{
    for (const std::string &c : split_list(choices))
        if (c == value) return true;
    return false;
}

// Returns "" when the value fits the spec, else what is wrong with it.
std::string check_value(const OptionSpec &spec, std::string_view value)
{
    // A secret is never echoed, not even when it is malformed.
    std::string shown = spec.secret ? std::string(Secret::redacted) : quoted(value);
    switch (spec.type) {
    case OptType::string:
        return {};
    case OptType::integer: {
        std::int64_t n;
        if (!parse_int(value, n)) return shown + " is not an integer";
        if (n < spec.min || n > spec.max) {
            return std::string(value) + " is out of range (" + std::to_string(spec.min) + " to " +
                   std::to_string(spec.max) + ")";
        }
        return {};
    }
    case OptType::boolean: {
        bool b;
        return parse_bool(value, b) ? std::string() : shown + " is not a boolean (true or false)";
    }
    case OptType::choice:
        return in_choices(value, spec.choices)
                   ? std::string()
                   : shown + " is not one of: " + std::string(spec.choices);
    case OptType::list: {
        if (spec.choices.empty()) return {};
        // A service listed twice would run twice under one name.
        std::vector<std::string> seen;
        for (const std::string &item : split_list(value)) {
            if (!in_choices(item, spec.choices))
                return quoted(item) + " is not one of: " + std::string(spec.choices);
            if (std::find(seen.begin(), seen.end(), item) != seen.end()) return quoted(item) + " is listed twice";
            seen.push_back(item);
        }
        return {};
    }
    case OptType::path:
        return (!value.empty() && value.front() == '/') ? std::string()
                                                        : shown + " is not an absolute path";
    case OptType::ldap_uris: {
        auto uris = split_list(value);
        if (uris.empty()) return "no URI given";
        for (const std::string &uri : uris) {
            bool ok = (uri.starts_with("ldap://") && uri.size() > 7) ||
                      (uri.starts_with("ldaps://") && uri.size() > 8);
            if (!ok) return quoted(uri) + " is not an ldap:// or ldaps:// URI";
        }
        return {};
    }
    case OptType::duration: {
        auto seconds = krb5opt::parse_duration(value);
        return seconds ? std::string() : seconds.error().message;
    }
    case OptType::ccname: {
        Status st = krb5opt::check_ccname_template(value);
        return st ? std::string() : st.error().message;
    }
    }
    return "unknown option type";
}

class Validator {
public:
    explicit Validator(const std::string &main_path) : main_path_(main_path) {}

    void add_file(const IniFile &file)
    {
        file_order_.push_back(file.path);
        for (const IniSection &section : file.sections) add_section(file.path, section);
    }

    // `problems` are the reader's (syntax, file mode); they are listed with
    // the option problems in file order, then line order.
    ConfigLoad finish(std::vector<Problem> problems)
    {
        problems_ = std::move(problems);
        problems_.insert(problems_.end(), file_problems_.begin(), file_problems_.end());
        auto rank = [this](const Problem &p) {
            auto it = std::find(file_order_.begin(), file_order_.end(), p.file);
            return it - file_order_.begin();
        };
        std::stable_sort(problems_.begin(), problems_.end(), [&](const Problem &a, const Problem &b) {
            auto ra = rank(a), rb = rank(b);
            return ra != rb ? ra < rb : a.line < b.line;
        });
        check_whole();
        return ConfigLoad{std::move(config_), std::move(problems_)};
    }

private:
    void problem(const std::string &file, int line, std::string message)
    {
        file_problems_.push_back({file, line, std::move(message)});
    }
    void whole_problem(const std::string &file, int line, std::string message)
    {
        problems_.push_back({file, line, std::move(message)});
    }

    void add_section(const std::string &path, const IniSection &section)
    {
        SectionKind kind;
        std::string_view domain;
        if (!classify_section(section.name, kind, domain)) {
            problem(path, section.line,
                    "unknown section [" + section.name +
                        "] (known: vigil, nss, pam, policy, ifp, domain/NAME)");
            return;
        }
        ConfigSection &target = config_.sections[section.name];
        if (target.file.empty()) {
            target.file = path;
            target.line = section.line;
        }
        for (const IniEntry &entry : section.entries) {
            const OptionSpec *spec = find_option(kind, entry.key);
            if (spec == nullptr) {
                problem(path, entry.line,
                        "unknown option '" + entry.key + "' in [" + section.name + "]");
                continue;
            }
            std::string why = check_value(*spec, entry.value);
            if (!why.empty()) {
                problem(path, entry.line, entry.key + ": " + why);
                // Reported once: not again as "needs 'ldap_uri'".
                refused_.insert(section.name + "\n" + entry.key);
                continue;
            }
            // A later file (conf.d, in name order) overrides an earlier one.
            target.options[entry.key] = Setting{entry.value, path, entry.line};
        }
    }

    void check_whole()
    {
        auto vigil = config_.sections.find("vigil");
        if (vigil == config_.sections.end()) {
            whole_problem(main_path_, 0, "no [vigil] section");
            return;
        }
        check_required("vigil", vigil->second, SectionKind::vigil);
        auto domains_it = vigil->second.options.find("domains");
        if (domains_it != vigil->second.options.end()) check_domain_list(domains_it->second);

        for (const auto &[name, section] : config_.sections) {
            SectionKind kind;
            std::string_view domain;
            if (!classify_section(name, kind, domain) || kind != SectionKind::domain) continue;
            check_required(name, section, kind);
            check_domain(name, section);
        }
    }

    void check_required(const std::string &name, const ConfigSection &section, SectionKind kind)
    {
        for (const OptionSpec &spec : option_table()) {
            if (spec.section != kind || !spec.required) continue;
            if (!section.options.contains(spec.name) && !refused_.contains(name + "\n" + std::string(spec.name))) {
                whole_problem(section.file, section.line,
                              "[" + name + "] needs '" + std::string(spec.name) + "'");
            }
        }
    }

    void check_domain_list(const Setting &setting)
    {
        std::vector<std::string> seen;
        auto names = split_list(setting.value);
        if (names.empty()) {
            whole_problem(setting.file, setting.line, "domains: name at least one domain");
        }
        for (const std::string &name : names) {
            if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
                whole_problem(setting.file, setting.line, "domains: '" + name + "' is listed twice");
                continue;
            }
            seen.push_back(name);
            if (!config_.sections.contains("domain/" + name)) {
                whole_problem(setting.file, setting.line,
                              "domains: no [domain/" + name + "] section for domain '" + name + "'");
            }
        }
    }

    void check_domain(const std::string &name, const ConfigSection &section)
    {
        auto missing = [&](const char *key) {
            return !section.options.contains(key) && !refused_.contains(name + "\n" + key);
        };
        if (config_.get_string(name, "id_provider") == "ldap" && missing("ldap_uri")) {
            whole_problem(section.file, section.line,
                          "[" + name + "] needs 'ldap_uri' (id_provider = ldap)");
        }
        // chpass_provider follows auth_provider: name the one the admin wrote.
        const char *krb5_user = config_.get_string(name, "auth_provider") == "krb5" ? "auth_provider"
                                : config_.get_string(name, "chpass_provider") == "krb5" ? "chpass_provider"
                                                                                        : nullptr;
        if (krb5_user != nullptr && missing("krb5_realm")) {
            whole_problem(section.file, section.line,
                          "[" + name + "] needs 'krb5_realm' (" + krb5_user + " = krb5)");
        }
        if (config_.get_string(name, "ldap_sasl_mech") == "GSSAPI") {
            if (missing("krb5_realm") && missing("ldap_sasl_realm"))
                whole_problem(section.file, section.line,
                              "[" + name + "] needs 'krb5_realm' (ldap_sasl_mech = GSSAPI)");
            if (!missing("ldap_default_bind_dn"))
                whole_problem(section.file, section.line,
                              "[" + name + "] sets both 'ldap_sasl_mech' and 'ldap_default_bind_dn': the identity "
                                           "connection binds one way");
        }
        auto max_it = section.options.find("max_id");
        std::int64_t min_id = config_.get_int(name, "min_id");
        std::int64_t max_id = config_.get_int(name, "max_id");
        if (max_it != section.options.end() && max_id != 0 && max_id < min_id) {
            whole_problem(max_it->second.file, max_it->second.line,
                          "max_id (" + std::to_string(max_id) + ") is lower than min_id (" +
                              std::to_string(min_id) + ")");
        }
    }

    std::string main_path_;
    std::vector<std::string> file_order_;
    std::set<std::string> refused_; // "section\nkey" of values refused above
    Config config_;
    std::vector<Problem> file_problems_;
    std::vector<Problem> problems_;
};

const OptionSpec &spec_for(std::string_view section, std::string_view key)
{
    SectionKind kind;
    std::string_view domain;
    bool known = classify_section(section, kind, domain);
    const OptionSpec *spec = known ? find_option(kind, key) : nullptr;
    // Asking for an option that is not in the table is a programming error.
    assert(spec != nullptr);
    if (spec == nullptr) {
        static const OptionSpec none{SectionKind::vigil, "", OptType::string, ""};
        return none;
    }
    return *spec;
}

std::string dirname_of(const std::string &path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// conf.d/*.conf in byte order of their names; hidden files are skipped.
std::vector<std::string> snippet_paths(const std::string &dir, std::vector<Problem> &problems)
{
    std::vector<std::string> paths;
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
        if (errno != ENOENT) problems.push_back({dir, 0, std::string("cannot stat: ") + std::strerror(errno)});
        return paths;
    }
    if (!S_ISDIR(st.st_mode)) {
        problems.push_back({dir, 0, "not a directory"});
        return paths;
    }
    // Whoever can write conf.d can add options, so it is held to the file rule.
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        problems.push_back({dir, 0, "group or others can write this directory: run chmod go-w on it"});
        return paths;
    }
    DIR *d = opendir(dir.c_str());
    if (d == nullptr) {
        problems.push_back({dir, 0, std::string("cannot open directory: ") + std::strerror(errno)});
        return paths;
    }
    while (struct dirent *e = readdir(d)) {
        std::string_view name = e->d_name;
        if (name.starts_with(".") || !name.ends_with(".conf") || name.size() == 5) continue;
        paths.push_back(dir + "/" + std::string(name));
    }
    closedir(d);
    std::sort(paths.begin(), paths.end());
    return paths;
}

} // namespace

std::vector<std::string> split_list(std::string_view text)
{
    std::vector<std::string> items;
    while (true) {
        std::size_t comma = text.find(',');
        std::string_view item = trim(text.substr(0, comma));
        if (!item.empty()) items.emplace_back(item);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return items;
}

bool parse_bool(std::string_view text, bool &out)
{
    std::string t(text);
    if (strcasecmp(t.c_str(), "true") == 0 || strcasecmp(t.c_str(), "yes") == 0) {
        out = true;
        return true;
    }
    if (strcasecmp(t.c_str(), "false") == 0 || strcasecmp(t.c_str(), "no") == 0) {
        out = false;
        return true;
    }
    return false;
}

bool Config::is_set(std::string_view section, std::string_view key) const
{
    auto s = sections.find(section);
    return s != sections.end() && s->second.options.find(key) != s->second.options.end();
}

std::string Config::get_string(std::string_view section, std::string_view key) const
{
    auto s = sections.find(section);
    if (s != sections.end()) {
        auto o = s->second.options.find(key);
        if (o != s->second.options.end()) return o->second.value;
    }
    std::string_view def = spec_for(section, key).default_value;
    if (def.starts_with("@")) return get_string(section, def.substr(1));
    return std::string(def);
}

std::int64_t Config::get_int(std::string_view section, std::string_view key) const
{
    std::int64_t n = 0;
    if (!parse_int(get_string(section, key), n)) parse_int(spec_for(section, key).default_value, n);
    return n;
}

bool Config::get_bool(std::string_view section, std::string_view key) const
{
    bool b = false;
    if (!parse_bool(get_string(section, key), b)) parse_bool(spec_for(section, key).default_value, b);
    return b;
}

std::vector<std::string> Config::get_list(std::string_view section, std::string_view key) const
{
    return split_list(get_string(section, key));
}

std::string Config::dump() const
{
    std::string out;
    for (const auto &[name, section] : sections) {
        out += "[" + name + "]\n";
        for (const auto &[key, setting] : section.options) {
            SectionKind kind;
            std::string_view domain;
            const OptionSpec *spec = classify_section(name, kind, domain) ? find_option(kind, key) : nullptr;
            bool secret = spec != nullptr && spec->secret;
            out += key + " = " + (secret ? std::string(Secret::redacted) : setting.value) + "\n";
        }
    }
    return out;
}

ConfigLoad validate_config(const std::vector<IniFile> &files, const std::string &main_path)
{
    Validator v(main_path);
    for (const IniFile &f : files) v.add_file(f);
    return v.finish({});
}

ConfigLoad load_config(const std::string &path)
{
    std::vector<Problem> problems;
    std::vector<IniFile> files;
    files.push_back(read_ini_file(path, problems));
    bool main_readable = problems.empty() || problems.front().line > 0;
    if (main_readable) {
        for (const std::string &snippet : snippet_paths(dirname_of(path) + "/conf.d", problems))
            files.push_back(read_ini_file(snippet, problems));
    }
    Validator v(path);
    for (const IniFile &f : files) v.add_file(f);
    if (!main_readable) return ConfigLoad{Config{}, std::move(problems)};
    return v.finish(std::move(problems));
}

Result<Config> read_config(const std::string &path)
{
    ConfigLoad load = load_config(path);
    if (load.ok()) return std::move(load.config);
    std::string message;
    for (const Problem &p : load.problems) {
        if (!message.empty()) message += "\n";
        message += p.to_string();
    }
    return Error{Errc::invalid_config, std::move(message)};
}

} // namespace vigil
