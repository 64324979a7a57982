#include "util/krb5_options.hpp"

#include <cstdlib>
#include <limits>

namespace vigil::krb5opt {
namespace {

Error invalid(std::string message) { return Error{Errc::invalid_config, std::move(message)}; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

} // namespace

Result<std::int64_t> parse_duration(std::string_view text)
{
    const std::string shown = "'" + std::string(text) + "'";
    if (text.empty()) return invalid("an empty duration");
    constexpr std::int64_t limit = std::numeric_limits<std::int32_t>::max();
    // A plain number is seconds.
    bool all_digits = true;
    for (char c : text) all_digits = all_digits && is_digit(c);
    if (all_digits) {
        if (text.size() > 10) return invalid(shown + " is too long (at most " + std::to_string(limit) + " s)");
        std::int64_t n = 0;
        for (char c : text) n = n * 10 + (c - '0');
        if (n > limit) return invalid(shown + " is too long (at most " + std::to_string(limit) + " s)");
        return n;
    }
    // Amounts with units, largest first, each unit at most once.
    constexpr std::string_view units = "dhms";
    constexpr std::int64_t factor[] = {86400, 3600, 60, 1};
    std::size_t next_unit = 0;
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t start = i;
        std::int64_t n = 0;
        while (i < text.size() && is_digit(text[i])) {
            n = n * 10 + (text[i] - '0');
            if (n > limit) return invalid(shown + " is too long (at most " + std::to_string(limit) + " s)");
            ++i;
        }
        if (i == start) return invalid(shown + " is not a duration (seconds, or amounts with d, h, m, s: 1d12h)");
        if (i == text.size()) return invalid(shown + ": a number without a unit after another amount");
        const std::size_t unit = units.find(text[i], next_unit);
        if (unit == std::string_view::npos)
            return invalid(shown + " is not a duration (units d, h, m, s, each once, largest first)");
        next_unit = unit + 1;
        ++i;
        total += n * factor[unit];
        if (total > limit) return invalid(shown + " is too long (at most " + std::to_string(limit) + " s)");
    }
    return total;
}

namespace {

constexpr std::string_view file_prefix = "FILE:";
constexpr std::string_view dir_prefix = "DIR:";
constexpr std::string_view persistent_keyring = "KEYRING:persistent:%U";

// The escapes, shared by the check and the expansion.
Status check_escapes(std::string_view body)
{
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '%') continue;
        if (i + 1 == body.size()) return invalid("krb5_ccname_template ends with a lone '%'");
        const char c = body[++i];
        if (std::string_view("uUprhd%").find(c) == std::string_view::npos)
            return invalid(std::string("krb5_ccname_template: unknown escape '%") + c +
                           "' (known: %u %U %p %r %h %d %%)");
    }
    return {};
}

Result<std::pair<CcacheType, std::string_view>> split_type(std::string_view tmpl)
{
    if (tmpl.starts_with(file_prefix)) return std::pair{CcacheType::file, tmpl.substr(file_prefix.size())};
    if (tmpl.starts_with(dir_prefix)) return std::pair{CcacheType::dir, tmpl.substr(dir_prefix.size())};
    if (tmpl == persistent_keyring) return std::pair{CcacheType::keyring, tmpl.substr(tmpl.size())};
    if (tmpl.starts_with("KEYRING:"))
        return invalid("krb5_ccname_template: of the keyrings only KEYRING:persistent:%U is supported (a session "
                       "keyring would be the daemon's, another uid's keyring is not the user's)");
    return invalid("krb5_ccname_template '" + std::string(tmpl) +
                   "' must start with FILE: or DIR:, or be KEYRING:persistent:%U");
}

} // namespace

Status check_ccname_template(std::string_view tmpl)
{
    auto split = split_type(tmpl);
    if (!split) return std::move(split).error();
    if (split->first == CcacheType::keyring) return {};
    const std::string_view body = split->second;
    if (body.empty()) return invalid("krb5_ccname_template has no path");
    Status st = check_escapes(body);
    if (!st) return st;
    // %d and %h expand to absolute paths; anything else must start with '/'.
    if (!(body.front() == '/' || body.starts_with("%d") || body.starts_with("%h")))
        return invalid("krb5_ccname_template: the path must be absolute (start with /, %d or %h)");
    return {};
}

Result<CcacheName> expand_ccname_template(std::string_view tmpl, const TemplateValues &v)
{
    Status checked = check_ccname_template(tmpl);
    if (!checked) return std::move(checked).error();
    auto split = split_type(tmpl);
    CcacheName out;
    out.type = split->first;
    if (out.type == CcacheType::keyring) {
        out.path = std::to_string(v.uid);
        return out;
    }
    const std::string_view body = split->second;
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '%') {
            out.path.push_back(body[i]);
            continue;
        }
        const char c = body[++i];
        auto put = [&](const std::string &value, const char *what) -> Status {
            if (value.empty()) return invalid(std::string("krb5_ccname_template: %") + c + " (" + what + ") is empty");
            out.path += value;
            return {};
        };
        Status st;
        switch (c) {
        case 'u': st = put(v.user, "the user name"); break;
        case 'U': out.path += std::to_string(v.uid); break;
        case 'p': st = put(v.principal, "the principal"); break;
        case 'r': st = put(v.realm, "the realm"); break;
        case 'h': st = put(v.home, "the home directory"); break;
        case 'd': st = put(v.ccachedir, "krb5_ccachedir"); break;
        case '%': out.path.push_back('%'); break;
        default: return invalid("krb5_ccname_template: unknown escape"); // checked above
        }
        if (!st) return std::move(st).error();
    }
    if (out.path.empty() || out.path.front() != '/')
        return invalid("the ccache path '" + out.path + "' is not absolute");
    for (char ch : out.path) {
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
            return invalid("the ccache path has a control character");
    }
    // A ".." anywhere (a user name or home directory that climbs) is refused.
    std::size_t start = 0;
    while (start <= out.path.size()) {
        std::size_t end = out.path.find('/', start);
        if (end == std::string::npos) end = out.path.size();
        if (out.path.compare(start, end - start, "..") == 0)
            return invalid("the ccache path '" + out.path + "' has a '..' component");
        start = end + 1;
    }
    return out;
}

std::string principal_text(std::string_view name, std::string_view realm)
{
    std::string out;
    out.reserve(name.size() + realm.size() + 1);
    for (char c : name) {
        if (c == '/' || c == '@' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('@');
    for (char c : realm) {
        if (c == '@' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

const std::string &base_profile()
{
    static const std::string base = [] {
        const char *value = std::getenv("KRB5_CONFIG");
        return std::string(value != nullptr && *value != '\0' ? value : "/etc/krb5.conf");
    }();
    return base;
}

std::string generated_profile_path(const std::string &state_dir, const std::string &domain)
{
    return state_dir + "/krb5/" + domain + ".conf";
}

} // namespace vigil::krb5opt
