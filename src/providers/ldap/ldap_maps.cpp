#include "providers/ldap/ldap_maps.hpp"

#include "config.h"

#include "util/log.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <strings.h>
#include <unordered_map>

extern "C" {
#include "sss_client/vigil_protocol.h" // the sizes a client accepts
}

namespace vigil::ldap {

namespace {

// An id within min_id .. max_id (max_id 0: no upper limit).
Result<std::uint32_t> parse_id(const LdapEntry &e, const std::string &attr, std::uint32_t min_id, std::uint32_t max_id)
{
    auto value = e.first(attr);
    if (!value) return Error{Errc::invalid_argument, e.dn + ": no " + attr};
    if (e.values(attr)->size() != 1) return Error{Errc::invalid_argument, e.dn + ": more than one " + attr};
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
    if (ec != std::errc() || end != value->data() + value->size() || value->empty() || n > sysdb::invalid_id)
        return Error{Errc::invalid_argument, e.dn + ": " + attr + " '" + std::string(*value) + "' is not a number"};
    const auto id = static_cast<std::uint32_t>(n);
    if (id == 0) return Error{Errc::invalid_argument, e.dn + ": " + attr + " 0 is never served"};
    if (id < min_id || (max_id != 0 && id > max_id))
        return Error{Errc::invalid_argument, e.dn + ": " + attr + " " + std::to_string(id) + " is outside min_id " +
                                                 std::to_string(min_id) + " .. max_id " + std::to_string(max_id)};
    return id;
}

// Optional single-valued text: absent is "", several values take the first.
std::string text(const LdapEntry &e, const std::string &attr)
{
    if (attr.empty()) return {};
    auto v = e.first(attr);
    return v ? std::string(*v) : std::string();
}

// What a client would refuse as malformed is refused here, where the DN
// can still be named: the entry would otherwise be unavailable for good.
Status fits_the_protocol(const LdapEntry &e, std::string_view name, std::initializer_list<std::string_view> fields)
{
    if (name.size() > VIGIL_MAX_NAME_LEN)
        return Error{Errc::invalid_argument, e.dn + ": the name is longer than " +
                                                 std::to_string(VIGIL_MAX_NAME_LEN) + " bytes"};
    for (std::string_view f : fields)
        if (f.size() > VIGIL_MAX_FIELD_LEN)
            return Error{Errc::invalid_argument, e.dn + ": a field is longer than " +
                                                     std::to_string(VIGIL_MAX_FIELD_LEN) + " bytes"};
    return {};
}

// The value of the DN's first RDN when its attribute is `attr` and it needs
// no unescaping ("cn=devs,ou=Groups,..." → "devs").
std::optional<std::string> rdn_value(std::string_view dn, std::string_view attr)
{
    auto eq = dn.find('=');
    auto comma = dn.find(',');
    if (eq == std::string_view::npos || (comma != std::string_view::npos && comma < eq)) return std::nullopt;
    std::string_view type = dn.substr(0, eq);
    std::string_view value = dn.substr(eq + 1, comma == std::string_view::npos ? std::string_view::npos : comma - eq - 1);
    if (type.size() != attr.size() || strncasecmp(type.data(), attr.data(), attr.size()) != 0) return std::nullopt;
    if (value.find_first_of("\\+") != std::string_view::npos) return std::nullopt;
    return std::string(value);
}

// One pass over the bytes: find_first_of calls memchr for each byte of each
// member of a 10,000-member group.
bool servable_member(std::string_view m)
{
    if (m.empty() || m.size() > VIGIL_MAX_NAME_LEN) return false;
    return std::none_of(m.begin(), m.end(), [](char c) { return c == ':' || c == ',' || c == '\n' || c == '\0'; });
}

Result<std::string> single_name(const LdapEntry &e, const std::string &attr)
{
    const auto *values = e.values(attr);
    if (!values || values->empty()) return Error{Errc::invalid_argument, e.dn + ": no " + attr};
    // A multi-valued name (uid: alice, uid: alice2) is ambiguous as a login.
    if (values->size() != 1) return Error{Errc::invalid_argument, e.dn + ": more than one " + attr};
    return values->front();
}

} // namespace

Result<SearchBase> parse_search_base(std::string_view text)
{
    SearchBase b;
    auto q1 = text.find('?');
    b.base = std::string(text.substr(0, q1));
    if (q1 == std::string_view::npos) return b;
    std::string_view rest = text.substr(q1 + 1);
    auto q2 = rest.find('?');
    std::string_view scope = rest.substr(0, q2);
    if (scope.empty() || scope == "sub" || scope == "subtree") b.scope = Scope::subtree;
    else if (scope == "one" || scope == "onelevel") b.scope = Scope::one_level;
    else if (scope == "base") b.scope = Scope::base;
    else return Error{Errc::invalid_config, "search base '" + std::string(text) + "': scope '" + std::string(scope) +
                                                "' is not base, one(level) or sub(tree)"};
    if (q2 != std::string_view::npos) b.filter = std::string(rest.substr(q2 + 1));
    if (b.filter.find('?') != std::string::npos)
        return Error{Errc::invalid_config, "search base '" + std::string(text) +
                                               "': several bases in one option are not supported"};
    return b;
}

Result<IdSettings> IdSettings::from_config(const Config &c, const std::string &domain)
{
    const std::string sec = "domain/" + domain;
    IdSettings s;
    s.schema = c.get_string(sec, "ldap_schema") == "rfc2307bis" ? Schema::rfc2307bis : Schema::rfc2307;
    if (s.schema == Schema::rfc2307bis)
        return Error{Errc::invalid_config, "[" + sec + "] ldap_schema = rfc2307bis: member DNs and nested groups "
                                           "are not served yet; use rfc2307"};
    s.user = {c.get_string(sec, "ldap_user_object_class"), c.get_string(sec, "ldap_user_name"),
              c.get_string(sec, "ldap_user_uid_number"), c.get_string(sec, "ldap_user_gid_number"),
              c.get_string(sec, "ldap_user_gecos"), c.get_string(sec, "ldap_user_home_directory"),
              c.get_string(sec, "ldap_user_shell"), c.get_string(sec, "ldap_user_modify_timestamp"), {}};
    for (const char *option : {"ldap_user_shadow_expire", "ldap_user_authorized_host", "ldap_user_status",
                               "ldap_user_not_before", "ldap_user_not_after"}) {
        std::string attr = c.get_string(sec, option);
        if (!attr.empty() && std::find(s.user.extra.begin(), s.user.extra.end(), attr) == s.user.extra.end())
            s.user.extra.push_back(std::move(attr));
    }
    // A krb5 domain logs users in with the principal the directory names.
    if (c.get_string(sec, "auth_provider") == "krb5" || c.get_string(sec, "chpass_provider") == "krb5") {
        std::string attr = c.get_string(sec, "ldap_user_principal");
        if (!attr.empty() && std::find(s.user.extra.begin(), s.user.extra.end(), attr) == s.user.extra.end())
            s.user.extra.push_back(std::move(attr));
    }
    // ldap_pwd_policy = shadow decides from the shadow attributes: cached
    // with the user, so acct_mgmt decides offline as well.
    if (c.get_string(sec, "ldap_pwd_policy") == "shadow") {
        for (const char *attr : {"shadowLastChange", "shadowMin", "shadowMax", "shadowWarning", "shadowInactive",
                                 "shadowExpire"}) {
            if (std::find(s.user.extra.begin(), s.user.extra.end(), attr) == s.user.extra.end())
                s.user.extra.emplace_back(attr);
        }
    }
    std::string member = c.get_string(sec, "ldap_group_member");
    if (member.empty()) member = s.schema == Schema::rfc2307 ? "memberUid" : "member";
    s.group = {c.get_string(sec, "ldap_group_object_class"), c.get_string(sec, "ldap_group_name"),
               c.get_string(sec, "ldap_group_gid_number"), member,
               c.get_string(sec, "ldap_group_modify_timestamp")};
    s.search_base = c.get_string(sec, "ldap_search_base");
    s.user_base_text = c.get_string(sec, "ldap_user_search_base");
    s.group_base_text = c.get_string(sec, "ldap_group_search_base");
    s.min_id = static_cast<std::uint32_t>(c.get_int(sec, "min_id"));
    s.max_id = static_cast<std::uint32_t>(c.get_int(sec, "max_id"));
    s.entry_cache_timeout = c.get_int(sec, "entry_cache_timeout");
    s.enumerate = c.get_bool(sec, "enumerate");
    s.enumeration_refresh = std::chrono::seconds(c.get_int(sec, "ldap_enumeration_refresh_timeout"));
    s.enumeration_search_timeout = std::chrono::seconds(c.get_int(sec, "ldap_enumeration_search_timeout"));
    s.connection_check_interval = std::chrono::seconds(c.get_int(sec, "ldap_connection_check_interval"));
    // Refused now rather than at the first lookup.
    for (const std::string *t : {&s.user_base_text, &s.group_base_text}) {
        auto b = parse_search_base(*t);
        if (!b) return Error{Errc::invalid_config, "[" + sec + "] " + b.error().message};
    }
    return s;
}

namespace {

Result<SearchBase> resolve_base(const std::string &own, const std::string &search_base, const std::string &server)
{
    auto b = parse_search_base(own);
    if (!b) return b;
    if (b->base.empty()) b->base = !search_base.empty() ? search_base : server;
    if (b->base.empty())
        return Error{Errc::invalid_config, "no search base: set ldap_search_base (the server names no naming context)"};
    return b;
}

} // namespace

Result<SearchBase> IdSettings::user_base(const std::string &server_base) const
{
    return resolve_base(user_base_text, search_base, server_base);
}

Result<SearchBase> IdSettings::group_base(const std::string &server_base) const
{
    return resolve_base(group_base_text, search_base, server_base);
}

// Only what to_user() and to_group() read: the filter already names the
// object class, and every further attribute is sent, parsed and dropped.
std::vector<std::string> IdSettings::user_attributes() const
{
    std::vector<std::string> a;
    for (const std::string *n : {&user.name, &user.uid_number, &user.gid_number, &user.gecos, &user.home,
                                 &user.shell, &user.modify_stamp})
        if (!n->empty()) a.push_back(*n);
    a.insert(a.end(), user.extra.begin(), user.extra.end());
    return a;
}

std::vector<std::string> IdSettings::group_attributes() const
{
    std::vector<std::string> a;
    for (const std::string *n : {&group.name, &group.gid_number, &group.member, &group.modify_stamp})
        if (!n->empty()) a.push_back(*n);
    return a;
}

Result<sysdb::User> to_user(LdapEntry e, const IdSettings &s)
{
    sysdb::User u;
    auto name = single_name(e, s.user.name);
    if (!name) return std::move(name).error();
    u.name = std::move(*name);
    auto uid = parse_id(e, s.user.uid_number, s.min_id, s.max_id);
    if (!uid) return std::move(uid).error();
    u.uid = *uid;
    // The primary group may lie outside min_id/max_id (a shared "users"
    // group); only 0 and non-numbers are refused.
    auto gid = parse_id(e, s.user.gid_number, 1, 0);
    if (!gid) return std::move(gid).error();
    u.gid = *gid;
    u.gecos = text(e, s.user.gecos);
    u.home = text(e, s.user.home);
    u.shell = text(e, s.user.shell);
    u.original_dn = e.dn;
    u.modify_stamp = text(e, s.user.modify_stamp);
    // Last: moved out of the entry, after every field that might share an attribute with one.
    for (const std::string &attr : s.user.extra)
        if (auto *values = e.values(attr)) u.extra[attr] = std::move(*values);
    Status fits = fits_the_protocol(e, u.name, {u.gecos, u.home, u.shell});
    if (!fits) return std::move(fits).error();
    Status ok = sysdb::validate(u);
    if (!ok) return Error{ok.error().code, e.dn + ": " + ok.error().message};
    return u;
}

SipHash128 group_digest_start(const IdSettings &s)
{
    // Bump when to_group changes what it makes of the same entry: the
    // cached groups are then compared in full once more, not trusted.
    static constexpr std::string_view group_mapping_revision = "vigil group mapping 1 " PACKAGE_VERSION;
    SipHash128 h(s.digest_key);
    h.update_framed(group_mapping_revision);
    for (std::string_view setting : {s.group.object_class, s.group.name, s.group.gid_number, s.group.member, s.group.modify_stamp})
        h.update_framed(setting);
    const std::uint32_t numbers[] = {static_cast<std::uint32_t>(s.schema), s.min_id, s.max_id,
                                     static_cast<std::uint32_t>(VIGIL_MAX_GROUP_MEMBERS)};
    h.update(numbers, sizeof numbers);
    return h;
}

std::string group_entry_digest(const LdapEntry &e, const SipHash128 &start)
{
    SipHash128 h = start;
    h.update_framed(e.dn);
    for (const auto &[attr, values] : e.attributes) {
        h.update_framed(attr);
        const std::uint64_t count = values.size();
        h.update(&count, sizeof count);
        for (const std::string &v : values) h.update_framed(v);
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(32);
    for (std::uint8_t b : h.finish()) {
        hex.push_back(digits[b >> 4]);
        hex.push_back(digits[b & 15]);
    }
    return hex;
}

std::string group_entry_digest(const LdapEntry &e, const IdSettings &s)
{
    return group_entry_digest(e, group_digest_start(s));
}

namespace {
Result<sysdb::Group> to_group(LdapEntry e, const IdSettings &s, const SipHash128 &digest_start)
{
    sysdb::Group g;
    g.source_digest = group_entry_digest(e, digest_start); // before the values move out
    auto name = single_name(e, s.group.name);
    if (!name) {
        // cn is often multi-valued (cn: devs, cn: developers) and servers keep
        // no order among values: the one in the DN is the name, every time.
        auto rdn = rdn_value(e.dn, s.group.name);
        const auto *values = e.values(s.group.name);
        if (!values || values->empty()) return std::move(name).error();
        if (!rdn || std::find(values->begin(), values->end(), *rdn) == values->end())
            return Error{Errc::invalid_argument, e.dn + ": several " + s.group.name + " values and none is the DN's"};
        g.name = std::move(*rdn);
    } else {
        g.name = std::move(*name);
    }
    auto gid = parse_id(e, s.group.gid_number, s.min_id, s.max_id);
    if (!gid) return std::move(gid).error();
    g.gid = *gid;
    g.modify_stamp = text(e, s.group.modify_stamp);
    // Last: the members are moved out of the entry, not copied.
    if (auto *members = e.values(s.group.member)) {
        // One bad member must not cost every other member the group.
        g.members.reserve(members->size());
        for (std::string &m : *members) {
            if (servable_member(m)) g.members.push_back(std::move(m));
            else VLOG(minor, "%s: skipping member '%s': not a name NSS can carry", e.dn.c_str(), m.c_str());
        }
    }
    if (g.members.size() > VIGIL_MAX_GROUP_MEMBERS)
        return Error{Errc::invalid_argument, e.dn + ": more than " + std::to_string(VIGIL_MAX_GROUP_MEMBERS) + " members"};
    Status fits = fits_the_protocol(e, g.name, {});
    if (!fits) return std::move(fits).error();
    g.original_dn = e.dn;
    Status ok = sysdb::validate(g);
    if (!ok) return Error{ok.error().code, e.dn + ": " + ok.error().message};
    return sysdb::normalised(std::move(g));
}
} // namespace

Result<sysdb::Group> to_group(LdapEntry e, const IdSettings &s)
{
    return to_group(std::move(e), s, group_digest_start(s));
}

AnswerGroups distinct_groups(std::vector<LdapEntry> &entries, const IdSettings &s, const CachedGroupSources &cached)
{
    AnswerGroups out;
    // Reserved: the views in by_name point into the kept groups' names,
    // which must not move.
    out.converted.reserve(entries.size());
    if (!cached.empty()) out.unchanged.reserve(entries.size());
    std::unordered_map<std::uint32_t, std::string_view> by_gid; // the DN of the group that has it
    std::unordered_map<std::string_view, std::string_view> by_name;
    by_gid.reserve(entries.size());
    by_name.reserve(entries.size());
    // The earliest kept group with that gid or that name: its DN, or empty.
    auto earlier = [&](std::uint32_t gid, std::string_view name) {
        if (auto it = by_gid.find(gid); it != by_gid.end()) return it->second;
        if (auto it = by_name.find(name); it != by_name.end()) return it->second;
        return std::string_view();
    };
    const SipHash128 digest_start = group_digest_start(s);
    for (LdapEntry &e : entries) {
        if (auto known = cached.find(e.dn); known != cached.end() && !known->second.digest.empty() &&
                                            known->second.digest == group_entry_digest(e, digest_start)) {
            const CachedGroupSource &g = known->second;
            if (auto first = earlier(g.gid, g.name); !first.empty()) {
                VLOG(minor, "skipping %s: its name or gid is also %.*s", e.dn.c_str(), static_cast<int>(first.size()),
                     first.data());
                continue;
            }
            // The views stay valid: the cached groups outlive this call.
            by_gid.emplace(g.gid, known->first);
            by_name.emplace(g.name, known->first);
            out.unchanged.emplace_back(g.name);
            continue;
        }
        auto g = to_group(std::move(e), s, digest_start);
        if (!g) {
            VLOG(minor, "skipping %s", g.error().message.c_str());
            continue;
        }
        if (auto first = earlier(g->gid, g->name); !first.empty()) {
            VLOG(minor, "skipping %s: its name or gid is also %.*s", g->original_dn.c_str(),
                 static_cast<int>(first.size()), first.data());
            continue;
        }
        out.converted.push_back(std::move(*g));
        const sysdb::Group &kept = out.converted.back();
        by_gid.emplace(kept.gid, kept.original_dn);
        by_name.emplace(kept.name, kept.original_dn);
    }
    return out;
}

} // namespace vigil::ldap
