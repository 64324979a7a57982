#include "providers/ldap/shadow_policy.hpp"

#include <charconv>
#include <strings.h>

namespace vigil::ldap {

namespace {

constexpr std::int64_t not_set = -1;

// A shadow field: absent or -1 is "not set"; anything but a decimal integer
// within 32 bits (what shadow(5) and the LDAP INTEGER values hold), or a
// negative number other than -1, is malformed.
bool parse_field(const std::optional<std::string> &text, std::int64_t &out)
{
    out = not_set;
    if (!text) return true;
    const std::string &s = *text;
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return false;
    if (v < not_set || v > 2147483647) return false;
    out = v;
    return true;
}

struct Fields {
    std::int64_t last_change, min_days, max_days, warn_days, inactive_days, expire;
};

// The name of the first malformed attribute, or nullptr when all parse.
const char *parse_all(const ShadowAttributes &a, Fields &f)
{
    struct Row {
        const std::optional<std::string> &text;
        std::int64_t &out;
        const char *name;
    };
    const Row rows[] = {
        {a.last_change, f.last_change, "shadowLastChange"}, {a.min_days, f.min_days, "shadowMin"},
        {a.max_days, f.max_days, "shadowMax"},              {a.warn_days, f.warn_days, "shadowWarning"},
        {a.inactive_days, f.inactive_days, "shadowInactive"}, {a.expire, f.expire, "shadowExpire"},
    };
    for (const Row &r : rows)
        if (!parse_field(r.text, r.out)) return r.name;
    return nullptr;
}

} // namespace

ShadowAttributes ShadowAttributes::from_attributes(const std::map<std::string, std::vector<std::string>> &attrs)
{
    ShadowAttributes a;
    struct Row {
        const char *name;
        std::optional<std::string> &out;
    };
    Row rows[] = {{"shadowLastChange", a.last_change}, {"shadowMin", a.min_days},
                  {"shadowMax", a.max_days},          {"shadowWarning", a.warn_days},
                  {"shadowInactive", a.inactive_days}, {"shadowExpire", a.expire}};
    for (const auto &[name, values] : attrs) {
        for (Row &r : rows) {
            if (strcasecmp(name.c_str(), r.name) != 0 || values.empty()) continue;
            // Two values for one day: no way to tell which is meant.
            r.out = values.size() == 1 ? values.front() : std::string();
        }
    }
    return a;
}

ShadowVerdict check_shadow(const ShadowAttributes &attrs, std::int64_t today)
{
    Fields f{};
    if (const char *bad = parse_all(attrs, f))
        return {ShadowStatus::malformed, 0, std::string(bad) + " is not a number of days"};
    if (f.expire != not_set && today >= f.expire)
        return {ShadowStatus::account_expired, 0, "the account expired (shadowExpire " + std::to_string(f.expire) + ")"};
    if (f.last_change == 0)
        return {ShadowStatus::password_expired, 0, "shadowLastChange is 0: the password must be changed"};
    // No last change, no expiry, or a last change in the future: nothing expires.
    if (f.last_change == not_set || f.max_days == not_set || f.last_change > today) return {};
    const std::int64_t expires = f.last_change + f.max_days;
    if (f.inactive_days != not_set && today >= expires + f.inactive_days)
        return {ShadowStatus::account_expired, 0,
                "the password expired and the inactivity period (shadowInactive " +
                    std::to_string(f.inactive_days) + ") is over"};
    if (today >= expires)
        return {ShadowStatus::password_expired, 0, "the password expired (shadowMax " + std::to_string(f.max_days) + ")"};
    if (f.warn_days != not_set && today >= expires - f.warn_days)
        return {ShadowStatus::warn_expiring, expires - today,
                "the password expires in " + std::to_string(expires - today) + " day(s)"};
    return {};
}

bool too_early_to_change(const ShadowAttributes &attrs, std::int64_t today)
{
    Fields f{};
    if (parse_all(attrs, f)) return false;
    if (f.last_change <= 0 || f.min_days <= 0) return false;
    return today < f.last_change + f.min_days;
}

std::int64_t days_since_epoch(std::time_t when)
{
    std::int64_t t = when;
    // Floor, not truncation: 1969-12-31 is day -1.
    return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

const char *shadow_status_name(ShadowStatus status) noexcept
{
    switch (status) {
    case ShadowStatus::ok: return "ok";
    case ShadowStatus::warn_expiring: return "warn_expiring";
    case ShadowStatus::password_expired: return "password_expired";
    case ShadowStatus::account_expired: return "account_expired";
    case ShadowStatus::malformed: return "malformed";
    }
    return "?";
}

} // namespace vigil::ldap
