#include "util/sysdb/layout.hpp"

#include "util/ldb_c.hpp"
#include "util/talloc.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <strings.h>

namespace vigil::sysdb::layout {
namespace {

constexpr std::array reserved_attrs{
    attr::version, attr::name, attr::object_class, attr::uid, attr::primary_gid, attr::gid,
    attr::gecos, attr::home, attr::shell, attr::member, attr::member_group, attr::original_dn,
    attr::modify_stamp, attr::source_digest, attr::digest_key, attr::last_update, attr::expires_at, attr::initgr_last_update,
    attr::initgr_expires_at, attr::access_filter_allowed, attr::access_filter_checked,
    attr::access_filter_hash, "distinguishedName", "dn",
};

constexpr const char *user_class = "user";
constexpr const char *group_class = "group";

// Adds `name` with `values` (copied into the message). Empty values are not
// stored: ldb refuses zero-length values, and an absent attribute reads back
// as an empty string. False when out of memory.
bool add(ldb_message *msg, const char *name, const std::vector<std::string> &values, int flags = 0)
{
    std::size_t count = std::count_if(values.begin(), values.end(), [](const std::string &v) { return !v.empty(); });
    if (count == 0) return true;
    ldb_val *vals = talloc_array(msg, ldb_val, count);
    if (vals == nullptr) return false;
    std::size_t i = 0;
    for (const std::string &v : values) {
        if (v.empty()) continue;
        char *copy = talloc_strndup(vals, v.data(), v.size());
        if (copy == nullptr) return false;
        vals[i++] = ldb_val{reinterpret_cast<uint8_t *>(copy), v.size()};
    }
    ldb_message_element *el = nullptr;
    if (ldb_msg_add_empty(msg, name, flags, &el) != LDB_SUCCESS) return false;
    el->values = vals;
    el->num_values = static_cast<unsigned>(count);
    return true;
}

bool add(ldb_message *msg, const char *name, const std::string &value) { return add(msg, name, std::vector<std::string>{value}); }

std::string value_string(const ldb_val &v) { return std::string(reinterpret_cast<const char *>(v.data), v.length); }

std::string single(const ldb_message *msg, const char *name)
{
    const ldb_message_element *el = ldb_msg_find_element(msg, name);
    return el != nullptr && el->num_values > 0 ? value_string(el->values[0]) : std::string();
}

Result<std::uint32_t> id_of(const ldb_message *msg, const char *name)
{
    std::string text = single(msg, name);
    char *end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || v > 0xffffffffULL) {
        const char *dn = ldb_dn_get_linearized(msg->dn);
        return Error{Errc::internal, std::string("cache entry ") + (dn ? dn : "?") + " has a bad " + name +
                                         " '" + text + "'"};
    }
    return static_cast<std::uint32_t>(v);
}

// An attribute's values as a sorted set: a flat vector, because a group's
// 10,000 members are compared on every refresh.
using ValueSet = std::vector<std::string_view>;

ValueSet value_set(const ldb_message_element *el)
{
    ValueSet out;
    out.reserve(el->num_values);
    for (unsigned i = 0; i < el->num_values; ++i)
        out.emplace_back(reinterpret_cast<const char *>(el->values[i].data), el->values[i].length);
    // Written sorted (records are normalised), so usually read back sorted;
    // a diff appends what it adds after them: only that tail is sorted, then
    // merged in (a 10,000-member group with one member added since its last
    // full write costs a pass, not a sort).
    auto tail = std::is_sorted_until(out.begin(), out.end());
    if (tail != out.end()) {
        std::sort(tail, out.end());
        std::inplace_merge(out.begin(), tail, out.end());
    }
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// An attribute's values as sorted strings (the normalised form).
std::vector<std::string> sorted_values_of(const ldb_message *msg, const char *name)
{
    const ldb_message_element *el = ldb_msg_find_element(msg, name);
    if (el == nullptr) return {};
    ValueSet views = value_set(el);
    return std::vector<std::string>(views.begin(), views.end());
}

bool add_views(ldb_message *msg, const char *name, const std::vector<std::string_view> &values, int flags)
{
    std::vector<std::string> copies(values.begin(), values.end());
    return add(msg, name, copies, flags);
}

} // namespace

bool is_reserved_attr(std::string_view name) noexcept
{
    return std::any_of(reserved_attrs.begin(), reserved_attrs.end(), [&](const char *r) {
        return std::string_view(r).size() == name.size() && strncasecmp(r, name.data(), name.size()) == 0;
    });
}

const char *container_of(Kind kind) noexcept { return kind == Kind::user ? users_dn : groups_dn; }

ldb_dn *entry_dn(TALLOC_CTX *mem, ldb_context *ldb, Kind kind, const std::string &name)
{
    ldb_dn *dn = ldb_dn_new(mem, ldb, container_of(kind));
    if (dn == nullptr) return nullptr;
    ldb_val v{reinterpret_cast<uint8_t *>(const_cast<char *>(name.data())), name.size()};
    if (!ldb_dn_add_child_val(dn, attr::name, v)) {
        talloc_free(dn);
        return nullptr;
    }
    return dn;
}

ldb_message *encode(TALLOC_CTX *mem, ldb_context *ldb, const User &user)
{
    TallocPtr<ldb_message> msg(ldb_msg_new(mem));
    if (!msg || (msg->dn = entry_dn(msg.get(), ldb, Kind::user, user.name)) == nullptr) return nullptr;
    bool ok = add(msg.get(), attr::object_class, user_class) && add(msg.get(), attr::name, user.name) &&
              add(msg.get(), attr::uid, std::to_string(user.uid)) &&
              add(msg.get(), attr::primary_gid, std::to_string(user.gid)) &&
              add(msg.get(), attr::gecos, user.gecos) && add(msg.get(), attr::home, user.home) &&
              add(msg.get(), attr::shell, user.shell) && add(msg.get(), attr::original_dn, user.original_dn) &&
              add(msg.get(), attr::modify_stamp, user.modify_stamp);
    for (const auto &[name, values] : user.extra) ok = ok && add(msg.get(), name.c_str(), values);
    return ok ? msg.release() : nullptr;
}

ldb_message *encode(TALLOC_CTX *mem, ldb_context *ldb, const Group &group)
{
    TallocPtr<ldb_message> msg(ldb_msg_new(mem));
    if (!msg || (msg->dn = entry_dn(msg.get(), ldb, Kind::group, group.name)) == nullptr) return nullptr;
    bool ok = add(msg.get(), attr::object_class, group_class) && add(msg.get(), attr::name, group.name) &&
              add(msg.get(), attr::gid, std::to_string(group.gid)) &&
              add(msg.get(), attr::member, group.members) &&
              add(msg.get(), attr::member_group, group.member_groups) &&
              add(msg.get(), attr::original_dn, group.original_dn) &&
              add(msg.get(), attr::modify_stamp, group.modify_stamp) &&
              add(msg.get(), attr::source_digest, group.source_digest);
    return ok ? msg.release() : nullptr;
}

Result<User> decode_user(const ldb_message *msg)
{
    User user;
    user.name = single(msg, attr::name);
    auto uid = id_of(msg, attr::uid);
    if (!uid) return std::move(uid).error();
    auto gid = id_of(msg, attr::primary_gid);
    if (!gid) return std::move(gid).error();
    user.uid = *uid;
    user.gid = *gid;
    user.gecos = single(msg, attr::gecos);
    user.home = single(msg, attr::home);
    user.shell = single(msg, attr::shell);
    user.original_dn = single(msg, attr::original_dn);
    user.modify_stamp = single(msg, attr::modify_stamp);
    for (unsigned i = 0; i < msg->num_elements; ++i) {
        const ldb_message_element &el = msg->elements[i];
        if (is_reserved_attr(el.name)) continue;
        auto &values = user.extra[el.name];
        for (unsigned v = 0; v < el.num_values; ++v) values.push_back(value_string(el.values[v]));
    }
    return user;
}

Result<Group> decode_group(const ldb_message *msg)
{
    Group group;
    group.name = single(msg, attr::name);
    auto gid = id_of(msg, attr::gid);
    if (!gid) return std::move(gid).error();
    group.gid = *gid;
    // Stored sorted, but a diff appends the members it adds: reads return
    // the normalised record all the same (records.hpp).
    group.members = sorted_values_of(msg, attr::member);
    group.member_groups = sorted_values_of(msg, attr::member_group);
    group.original_dn = single(msg, attr::original_dn);
    group.modify_stamp = single(msg, attr::modify_stamp);
    group.source_digest = single(msg, attr::source_digest);
    return group;
}

ldb_message *diff(TALLOC_CTX *mem, const ldb_message *old, const ldb_message *now)
{
    TallocPtr<ldb_message> mod(ldb_msg_new(mem));
    if (!mod || (mod->dn = ldb_dn_copy(mod.get(), now->dn)) == nullptr) return nullptr;
    for (unsigned i = 0; i < now->num_elements; ++i) {
        const ldb_message_element &el = now->elements[i];
        const ldb_message_element *before = ldb_msg_find_element(old, el.name);
        ValueSet wanted = value_set(&el);
        if (before == nullptr) {
            if (!add_views(mod.get(), el.name, wanted, LDB_FLAG_MOD_ADD)) return nullptr;
            continue;
        }
        ValueSet had = value_set(before);
        if (had == wanted) continue;
        if (had.size() == 1 && wanted.size() == 1) {
            if (!add_views(mod.get(), el.name, wanted, LDB_FLAG_MOD_REPLACE)) return nullptr;
            continue;
        }
        std::vector<std::string_view> removed, added;
        std::set_difference(had.begin(), had.end(), wanted.begin(), wanted.end(), std::back_inserter(removed));
        std::set_difference(wanted.begin(), wanted.end(), had.begin(), had.end(), std::back_inserter(added));
        if (!removed.empty() && !add_views(mod.get(), el.name, removed, LDB_FLAG_MOD_DELETE)) return nullptr;
        if (!added.empty() && !add_views(mod.get(), el.name, added, LDB_FLAG_MOD_ADD)) return nullptr;
    }
    for (unsigned i = 0; i < old->num_elements; ++i) {
        const char *name = old->elements[i].name;
        if (ldb_attr_cmp(name, "distinguishedName") == 0 || ldb_msg_find_element(now, name) != nullptr) continue;
        ldb_message_element *el = nullptr;
        if (ldb_msg_add_empty(mod.get(), name, LDB_FLAG_MOD_DELETE, &el) != LDB_SUCCESS) return nullptr;
    }
    return mod.release();
}

bool holds(const ldb_message *old, const Group &group)
{
    const std::string gid = std::to_string(group.gid);
    // What encode() writes: each attribute with its values (an empty single
    // value is not written), members sorted and each once (normalised).
    struct Expected {
        const char *name;
        const std::string *single; // or
        const std::vector<std::string> *many;
    };
    const std::string object_class = group_class;
    const Expected expected[] = {
        {attr::object_class, &object_class, nullptr},  {attr::name, &group.name, nullptr},
        {attr::gid, &gid, nullptr},                    {attr::member, nullptr, &group.members},
        {attr::member_group, nullptr, &group.member_groups}, {attr::original_dn, &group.original_dn, nullptr},
        {attr::modify_stamp, &group.modify_stamp, nullptr}, {attr::source_digest, &group.source_digest, nullptr},
    };
    unsigned written = 0;
    for (const Expected &e : expected) {
        const std::size_t count = e.single != nullptr ? (e.single->empty() ? 0 : 1) : e.many->size();
        const ldb_message_element *el = ldb_msg_find_element(old, e.name);
        if (count == 0) {
            if (el != nullptr) return false;
            continue;
        }
        ++written;
        if (el == nullptr || el->num_values != count) return false;
        if (e.single != nullptr) {
            if (std::string_view(reinterpret_cast<const char *>(el->values[0].data), el->values[0].length) != *e.single)
                return false;
            continue;
        }
        // Stored sorted, unless a diff appended values since: then sorted here.
        ValueSet had = value_set(el);
        if (!std::equal(had.begin(), had.end(), e.many->begin(), e.many->end())) return false;
    }
    // And nothing else (but the DN ldb adds to what it returns).
    unsigned present = 0;
    for (unsigned i = 0; i < old->num_elements; ++i) {
        if (ldb_attr_cmp(old->elements[i].name, "distinguishedName") != 0) ++present;
    }
    return present == written;
}

std::int64_t find_int(const ldb_message *msg, const char *name, std::int64_t fallback)
{
    return ldb_msg_find_attr_as_int64(msg, name, fallback);
}

} // namespace vigil::sysdb::layout
