#include "providers/access/access_rules.hpp"

#include "providers/ldap/ldap_filter.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <netdb.h>
#include <strings.h>
#include <unistd.h>

namespace vigil::access {

namespace {

bool same_name(const std::string &a, const std::string &b)
{
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool listed(const std::vector<std::string> &list, const std::string &name)
{
    return std::any_of(list.begin(), list.end(), [&](const std::string &l) { return same_name(l, name); });
}

const std::string *first_listed(const std::vector<std::string> &list, const std::vector<std::string> &names)
{
    for (const std::string &n : names)
        if (listed(list, n)) return &n;
    return nullptr;
}

const std::vector<std::string> *extra_values(const sysdb::User &user, const std::string &attr)
{
    auto it = user.extra.find(attr);
    if (it == user.extra.end() || it->second.empty()) return nullptr;
    return &it->second;
}

const std::string *extra_single(const sysdb::User &user, const std::string &attr)
{
    const auto *values = extra_values(user, attr);
    return values ? &values->front() : nullptr;
}

bool parse_int(std::string_view text, std::int64_t &out)
{
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// "2024-05-01", or with `with_time` "2024-05-01 10:00:00 UTC".
std::string utc_text(std::int64_t t, bool with_time)
{
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    char buf[64];
    if (gmtime_r(&tt, &tm) == nullptr) return std::to_string(t);
    std::size_t n = with_time ? std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm)
                              : std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return n == 0 ? std::to_string(t) : std::string(buf);
}

constexpr std::int64_t day = 86400;

} // namespace

const char *decision_name(AccessDecision::Kind kind) noexcept
{
    switch (kind) {
    case AccessDecision::Kind::permit: return "permit";
    case AccessDecision::Kind::deny: return "deny";
    case AccessDecision::Kind::unavailable: return "unavailable";
    }
    return "?";
}

const char *ldap_rule_name(LdapRule rule) noexcept
{
    switch (rule) {
    case LdapRule::filter: return "filter";
    case LdapRule::expire: return "expire";
    case LdapRule::host: return "host";
    }
    return "?";
}

AccessDecision simple_rule(const SimpleLists &lists, const std::string &user, const std::vector<std::string> &groups)
{
    if (listed(lists.deny_users, user)) return AccessDecision::deny("access denied: user " + user + " is in simple_deny_users");
    if (const std::string *g = first_listed(lists.deny_groups, groups))
        return AccessDecision::deny("access denied: group " + *g + " is in simple_deny_groups");
    if (lists.allow_users.empty() && lists.allow_groups.empty()) return AccessDecision::permit();
    if (listed(lists.allow_users, user) || first_listed(lists.allow_groups, groups)) return AccessDecision::permit();
    return AccessDecision::deny("access denied: " + user + " is not in simple_allow_users or simple_allow_groups");
}

AccessDecision shadow_expire_rule(const sysdb::User &user, const std::string &attr, std::int64_t now)
{
    const std::string *value = extra_single(user, attr);
    if (value == nullptr) return AccessDecision::permit();
    std::int64_t days = 0;
    if (!parse_int(*value, days)) return AccessDecision::deny("access denied: " + attr + " '" + *value + "' is not a number");
    if (days == -1) return AccessDecision::permit();
    // Day `days` is the first day the account cannot be used (pam_unix: today >= expire).
    if (days < -1 || now / day >= days)
        return AccessDecision::expired("account expired on " + utc_text(days * day, false));
    return AccessDecision::permit();
}

AccessDecision aedir_rule(const sysdb::User &user, const LdapAccessSettings &s, std::int64_t now)
{
    const std::string *status = extra_single(user, s.status_attr);
    if (status == nullptr) return AccessDecision::deny("access denied: the account has no " + s.status_attr);
    if (*status != "0") return AccessDecision::deny("access denied: the account is not active (" + s.status_attr + " " + *status + ")");
    if (const std::string *nb = extra_single(user, s.not_before_attr)) {
        auto t = parse_generalized_time(*nb);
        if (!t) return AccessDecision::deny("access denied: " + s.not_before_attr + " '" + *nb + "' is not a time");
        if (now < *t) return AccessDecision::deny("account not valid before " + utc_text(*t, true));
    }
    if (const std::string *na = extra_single(user, s.not_after_attr)) {
        auto t = parse_generalized_time(*na);
        if (!t) return AccessDecision::deny("access denied: " + s.not_after_attr + " '" + *na + "' is not a time");
        if (now > *t) return AccessDecision::expired("account expired on " + utc_text(*t, true));
    }
    return AccessDecision::permit();
}

AccessDecision expire_rule(const sysdb::User &user, const LdapAccessSettings &s, std::int64_t now)
{
    switch (s.expire_policy) {
    case ExpirePolicy::shadow: return shadow_expire_rule(user, s.shadow_expire_attr, now);
    case ExpirePolicy::aedir: return aedir_rule(user, s, now);
    case ExpirePolicy::none: break;
    }
    // from_config refuses this; fail closed if it is ever reached.
    return AccessDecision::deny("access denied: no ldap_account_expire_policy");
}

AccessDecision host_rule(const sysdb::User &user, const std::string &attr, const std::string &fqdn)
{
    const auto *values = extra_values(user, attr);
    if (values == nullptr) return AccessDecision::deny("access denied: the account lists no " + attr);
    bool allowed = false;
    for (const std::string &v : *values) {
        if (v.size() > 1 && v.front() == '!') {
            if (same_name(v.substr(1), fqdn)) return AccessDecision::deny("access denied to host " + fqdn);
        } else if (v == "*" || same_name(v, fqdn)) {
            allowed = true;
        }
    }
    if (allowed) return AccessDecision::permit();
    return AccessDecision::deny("access denied: " + fqdn + " is not in the account's " + attr);
}

std::uint64_t filter_hash(const std::string &filter)
{
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : filter) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

AccessDecision filter_rule_online(bool matched)
{
    return matched ? AccessDecision::permit() : AccessDecision::deny("access denied: the account does not match ldap_access_filter");
}

AccessDecision filter_rule_offline(const std::optional<FilterMemo> &memo, const std::string &filter)
{
    if (!memo) return AccessDecision::deny("access denied: ldap_access_filter was never checked online for this account");
    if (memo->filter_hash != filter_hash(filter))
        return AccessDecision::deny("access denied: ldap_access_filter changed since it was last checked online");
    return filter_rule_online(memo->allowed);
}

std::string access_filter(const std::string &name_attr, const std::string &name, const std::string &filter)
{
    std::string f = "(&(" + name_attr + "=" + ldap::escape_filter_value(name) + ")";
    if (filter.empty() || filter.front() != '(') f += "(" + filter + ")";
    else f += filter;
    return f + ")";
}

Result<std::int64_t> parse_generalized_time(const std::string &text)
{
    auto refuse = [&] { return Error{Errc::invalid_argument, "'" + text + "' is not a GeneralizedTime"}; };
    std::size_t i = 0;
    auto digits = [&](std::size_t n, int &out) {
        if (i + n > text.size()) return false;
        out = 0;
        for (std::size_t k = 0; k < n; ++k) {
            char c = text[i + k];
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        i += n;
        return true;
    };
    int year, mon, mday, hour, min = 0, sec = 0;
    if (!digits(4, year) || !digits(2, mon) || !digits(2, mday) || !digits(2, hour)) return refuse();
    if (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (!digits(2, min)) return refuse();
        if (i < text.size() && text[i] >= '0' && text[i] <= '9' && !digits(2, sec)) return refuse();
    }
    if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
        ++i;
        std::size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
        if (i == start) return refuse(); // fractions are dropped: a bound is kept to the second
    }
    std::int64_t offset = 0;
    if (i < text.size() && text[i] == 'Z') {
        ++i;
    } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
        int sign = text[i] == '+' ? 1 : -1, oh = 0, om = 0;
        ++i;
        if (!digits(2, oh)) return refuse();
        if (i < text.size() && !digits(2, om)) return refuse();
        if (oh > 23 || om > 59) return refuse();
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return refuse(); // a local time says nothing without a zone
    }
    if (i != text.size()) return refuse();
    if (mon < 1 || mon > 12 || mday < 1 || mday > 31 || hour > 23 || min > 59 || sec > 60) return refuse();
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    std::time_t t = timegm(&tm);
    // timegm normalises 31 February into March: refuse dates that moved.
    std::tm back{};
    if (gmtime_r(&t, &back) == nullptr || back.tm_mday != mday || back.tm_mon != mon - 1) return refuse();
    return static_cast<std::int64_t>(t) - offset;
}

std::string system_fqdn()
{
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) return {};
    if (std::strchr(host, '.') != nullptr) return host;
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    addrinfo *res = nullptr;
    std::string fqdn = host;
    if (getaddrinfo(host, nullptr, &hints, &res) == 0 && res != nullptr) {
        if (res->ai_canonname != nullptr) fqdn = res->ai_canonname;
        freeaddrinfo(res);
    }
    return fqdn;
}

} // namespace vigil::access
