// Reads and writes of the identity cache (sysdb.hpp, doc/cache.md).
#include "util/sysdb/sysdb.hpp"

#include "util/ldb_c.hpp"
#include "util/log.hpp"
#include "util/sysdb/layout.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <type_traits>

namespace vigil::sysdb {
namespace attr = layout::attr;
using layout::Kind;

namespace {

// The two files of one cache, as ldb sees them.
struct Files {
    ldb_context *entries;
    ldb_context *stamps;
};

std::string dn_text(ldb_dn *dn)
{
    const char *text = dn != nullptr ? ldb_dn_get_linearized(dn) : nullptr;
    return text != nullptr ? text : "(no DN)";
}

Error ldb_failure(ldb_context *ldb, const std::string &what)
{
    const char *why = ldb_errstring(ldb);
    return Error{Errc::io, what + ": " + (why && *why ? why : "unknown ldb error")};
}

Error out_of_memory(const std::string &what) { return Error{Errc::internal, "out of memory " + what}; }

Result<ldb_dn *> dn_for(TALLOC_CTX *mem, ldb_context *ldb, Kind kind, const std::string &name)
{
    ldb_dn *dn = layout::entry_dn(mem, ldb, kind, name);
    if (dn == nullptr) return Error{Errc::internal, "cannot build a DN for '" + name + "'"};
    return dn;
}

// The entry at `dn`, or null when there is none.
Result<ldb_message *> find_by_dn(ldb_context *ldb, TALLOC_CTX *mem, ldb_dn *dn, const char *const *attrs = nullptr)
{
    ldb_result *res = nullptr;
    int ret = ldb_search(ldb, mem, &res, dn, LDB_SCOPE_BASE, attrs, nullptr);
    if (ret == LDB_ERR_NO_SUCH_OBJECT || (ret == LDB_SUCCESS && res->count == 0))
        return static_cast<ldb_message *>(nullptr);
    if (ret != LDB_SUCCESS) return ldb_failure(ldb, "cannot read " + dn_text(dn));
    return res->msgs[0];
}

// Entries of `kind` whose `attribute` equals `value`, through the attribute's
// index. The value is escaped (ldb_binary_encode_string), so '*' or ")(" in a
// name is only ever a value: no filter injection.
Result<ldb_result *> find_by_attr(ldb_context *ldb, TALLOC_CTX *mem, Kind kind, const char *attribute,
                                  const std::string &value, const char *const *attrs = nullptr)
{
    char *escaped = ldb_binary_encode_string(mem, value.c_str());
    ldb_dn *base = ldb_dn_new(mem, ldb, layout::container_of(kind));
    if (escaped == nullptr || base == nullptr) return out_of_memory("building a search");
    ldb_result *res = nullptr;
    int ret = ldb_search(ldb, mem, &res, base, LDB_SCOPE_SUBTREE, attrs, "(%s=%s)", attribute, escaped);
    if (ret != LDB_SUCCESS) return ldb_failure(ldb, std::string("cannot search ") + attribute + "=" + value);
    return res;
}

// Entries of `kind` whose `attribute` equals any of `values` (escaped as
// above): one indexed search for the lot.
Result<ldb_result *> find_by_any(ldb_context *ldb, TALLOC_CTX *mem, Kind kind, const char *attribute,
                                 const std::vector<std::string> &values, const char *const *attrs)
{
    if (values.size() == 1) return find_by_attr(ldb, mem, kind, attribute, values[0], attrs);
    std::string filter = "(|";
    for (const std::string &value : values) {
        char *escaped = ldb_binary_encode_string(mem, value.c_str());
        if (escaped == nullptr) return out_of_memory("building a search");
        filter += std::string("(") + attribute + "=" + escaped + ")";
    }
    filter += ")";
    ldb_dn *base = ldb_dn_new(mem, ldb, layout::container_of(kind));
    if (base == nullptr) return out_of_memory("building a search");
    ldb_result *res = nullptr;
    int ret = ldb_search(ldb, mem, &res, base, LDB_SCOPE_SUBTREE, attrs, "%s", filter.c_str());
    if (ret != LDB_SUCCESS) return ldb_failure(ldb, std::string("cannot search ") + attribute + " for " + std::to_string(values.size()) + " values");
    return res;
}

// How many groups one nesting search asks about (bounds the filter's size).
constexpr std::size_t nesting_slice = 128;

Timestamps stamps_from(const ldb_message *msg, bool initgroups)
{
    if (msg == nullptr) return {};
    return {layout::find_int(msg, initgroups ? attr::initgr_last_update : attr::last_update, 0),
            layout::find_int(msg, initgroups ? attr::initgr_expires_at : attr::expires_at, 0)};
}

// Missing timestamps read as {0, 0}: expired (the file may have been lost).
Result<Timestamps> stamps_of(ldb_context *stamps, TALLOC_CTX *mem, Kind kind, const std::string &name,
                             bool initgroups = false)
{
    auto dn = dn_for(mem, stamps, kind, name);
    if (!dn) return std::move(dn).error();
    auto msg = find_by_dn(stamps, mem, *dn);
    if (!msg) return std::move(msg).error();
    return stamps_from(*msg, initgroups);
}

template <class Record> Result<Record> decode(const ldb_message *msg);
template <> Result<User> decode<User>(const ldb_message *msg) { return layout::decode_user(msg); }
template <> Result<Group> decode<Group>(const ldb_message *msg) { return layout::decode_group(msg); }
template <class Record> constexpr Kind kind_of = std::is_same_v<Record, User> ? Kind::user : Kind::group;

template <class Record>
using Lookup = Result<std::optional<Cached<Record>>>;

template <class Record>
Lookup<Record> with_stamps(Files files, TALLOC_CTX *mem, const ldb_message *msg)
{
    if (msg == nullptr) return std::optional<Cached<Record>>{};
    auto record = decode<Record>(msg);
    if (!record) return std::move(record).error();
    auto ts = stamps_of(files.stamps, mem, kind_of<Record>, record->name);
    if (!ts) return std::move(ts).error();
    return std::optional<Cached<Record>>(Cached<Record>{std::move(*record), *ts});
}

template <class Record>
Lookup<Record> by_name(Files files, const std::string &name)
{
    if (name.empty()) return std::optional<Cached<Record>>{};
    TallocPtr<void> mem(talloc_new(nullptr));
    auto dn = dn_for(mem.get(), files.entries, kind_of<Record>, name);
    if (!dn) return std::move(dn).error();
    auto msg = find_by_dn(files.entries, mem.get(), *dn);
    if (!msg) return std::move(msg).error();
    return with_stamps<Record>(files, mem.get(), *msg);
}

template <class Record>
Lookup<Record> by_id(Files files, const char *id_attr, std::uint32_t id)
{
    TallocPtr<void> mem(talloc_new(nullptr));
    auto res = find_by_attr(files.entries, mem.get(), kind_of<Record>, id_attr, std::to_string(id));
    if (!res) return std::move(res).error();
    // The rename rule keeps ids unique; a second holder would be a bug.
    if ((*res)->count > 1) VLOG(minor, "%u entries hold %s %u; answering with the first", (*res)->count, id_attr, id);
    return with_stamps<Record>(files, mem.get(), (*res)->count > 0 ? (*res)->msgs[0] : nullptr);
}

template <class Record>
Result<std::vector<Cached<Record>>> all_of(Files files)
{
    TallocPtr<void> mem(talloc_new(nullptr));
    Kind kind = kind_of<Record>;
    ldb_dn *entries_base = ldb_dn_new(mem.get(), files.entries, layout::container_of(kind));
    ldb_dn *stamps_base = ldb_dn_new(mem.get(), files.stamps, layout::container_of(kind));
    if (entries_base == nullptr || stamps_base == nullptr) return out_of_memory("enumerating");
    ldb_result *stamps = nullptr;
    int ret = ldb_search(files.stamps, mem.get(), &stamps, stamps_base, LDB_SCOPE_ONELEVEL, nullptr, nullptr);
    if (ret != LDB_SUCCESS) return ldb_failure(files.stamps, "cannot enumerate timestamps");
    std::map<std::string, Timestamps> stamps_by_name;
    for (unsigned i = 0; i < stamps->count; ++i) {
        const ldb_val *rdn = ldb_dn_get_rdn_val(stamps->msgs[i]->dn);
        if (rdn == nullptr) continue;
        stamps_by_name[std::string(reinterpret_cast<const char *>(rdn->data), rdn->length)] =
            stamps_from(stamps->msgs[i], false);
    }
    ldb_result *res = nullptr;
    ret = ldb_search(files.entries, mem.get(), &res, entries_base, LDB_SCOPE_ONELEVEL, nullptr, "(%s=*)", attr::name);
    if (ret != LDB_SUCCESS) return ldb_failure(files.entries, "cannot enumerate the cache");
    std::vector<Cached<Record>> out;
    out.reserve(res->count);
    for (unsigned i = 0; i < res->count; ++i) {
        auto record = decode<Record>(res->msgs[i]);
        if (!record) return std::move(record).error();
        auto ts = stamps_by_name.find(record->name);
        out.push_back({std::move(*record), ts != stamps_by_name.end() ? ts->second : Timestamps{}});
    }
    std::sort(out.begin(), out.end(), [](const auto &a, const auto &b) { return a.record.name < b.record.name; });
    return out;
}

} // namespace

// The steps of one write transaction. Each step validates what it writes, so
// a refused record anywhere fails the transaction and nothing is written.
class Sysdb::Writer {
public:
    Writer(Files files, TALLOC_CTX *mem) : files_(files), mem_(mem) {}

    Status store(const User &given, const Timestamps &ts)
    {
        if (Status st = validate(given); !st) return st;
        User user = normalised(given);
        if (Status st = evict_id_holders(Kind::user, attr::uid, user.uid, user.name); !st) return st;
        ldb_message *msg = layout::encode(mem_, files_.entries, user);
        if (msg == nullptr) return out_of_memory("encoding user " + user.name);
        if (Status st = put_entry(msg); !st) return st;
        return set_stamps(Kind::user, user.name, {{attr::last_update, ts.last_update}, {attr::expires_at, ts.expires_at}});
    }

    Status store(const Group &given, const Timestamps &ts)
    {
        if (Status st = validate(given); !st) return st;
        Group group = normalised(given);
        if (Status st = evict_id_holders(Kind::group, attr::gid, group.gid, group.name); !st) return st;
        ldb_message *msg = layout::encode(mem_, files_.entries, group);
        if (msg == nullptr) return out_of_memory("encoding group " + group.name);
        if (Status st = put_entry(msg); !st) return st;
        return set_stamps(Kind::group, group.name, {{attr::last_update, ts.last_update}, {attr::expires_at, ts.expires_at}});
    }

    Status remove(Kind kind, const std::string &name)
    {
        for (ldb_context *ldb : {files_.entries, files_.stamps}) {
            auto dn = dn_for(mem_, ldb, kind, name);
            if (!dn) return std::move(dn).error();
            int ret = ldb_delete(ldb, *dn);
            if (ret != LDB_SUCCESS && ret != LDB_ERR_NO_SUCH_OBJECT) return ldb_failure(ldb, "cannot delete " + dn_text(*dn));
        }
        return {};
    }

    // Writes timestamps for an entry, creating its record in the timestamps file if needed.
    Status set_stamps(Kind kind, const std::string &name, const std::vector<std::pair<const char *, std::int64_t>> &values)
    {
        auto dn = dn_for(mem_, files_.stamps, kind, name);
        if (!dn) return std::move(dn).error();
        auto existing = find_by_dn(files_.stamps, mem_, *dn);
        if (!existing) return std::move(existing).error();
        ldb_message *msg = ldb_msg_new(mem_);
        if (msg == nullptr) return out_of_memory("writing timestamps");
        msg->dn = *dn;
        int flags = *existing != nullptr ? LDB_FLAG_MOD_REPLACE : 0;
        for (const auto &[name_of_attr, value] : values) {
            ldb_message_element *el = nullptr;
            char *text = talloc_asprintf(msg, "%lld", static_cast<long long>(value));
            if (text == nullptr || ldb_msg_add_empty(msg, name_of_attr, flags, &el) != LDB_SUCCESS ||
                ldb_msg_add_string(msg, name_of_attr, text) != LDB_SUCCESS)
                return out_of_memory("writing timestamps");
        }
        int ret = *existing != nullptr ? ldb_modify(files_.stamps, msg) : ldb_add(files_.stamps, msg);
        if (ret != LDB_SUCCESS) return ldb_failure(files_.stamps, "cannot write the timestamps of " + dn_text(*dn));
        return {};
    }

    // expires_at = 0 (and the initgroups expiry, if any); no record: already expired.
    Status expire(Kind kind, const std::string &name)
    {
        auto dn = dn_for(mem_, files_.stamps, kind, name);
        if (!dn) return std::move(dn).error();
        auto existing = find_by_dn(files_.stamps, mem_, *dn);
        if (!existing) return std::move(existing).error();
        return *existing != nullptr ? expire_record(*existing) : Status{};
    }

    Status expire_everything()
    {
        ldb_dn *root = ldb_dn_new(mem_, files_.stamps, layout::root_dn);
        ldb_result *res = nullptr;
        int ret = ldb_search(files_.stamps, mem_, &res, root, LDB_SCOPE_SUBTREE, nullptr, "(%s=*)", attr::expires_at);
        if (ret != LDB_SUCCESS) return ldb_failure(files_.stamps, "cannot list the timestamps");
        for (unsigned i = 0; i < res->count; ++i) {
            if (Status st = expire_record(res->msgs[i]); !st) return st;
        }
        return {};
    }

    // The directory listed `user` in exactly `answer`: cached groups that
    // still list it lose it (the user left them).
    Status drop_left_memberships(const std::string &user, const std::set<std::string> &answer)
    {
        const char *attrs[] = {attr::name, attr::gid, nullptr};
        auto res = find_by_attr(files_.entries, mem_, Kind::group, attr::member, user, attrs);
        if (!res) return std::move(res).error();
        for (unsigned i = 0; i < (*res)->count; ++i) {
            const ldb_message *group = (*res)->msgs[i];
            const char *name = ldb_msg_find_attr_as_string(group, attr::name, "");
            if (answer.count(name) != 0) continue;
            ldb_message *msg = ldb_msg_new(mem_);
            ldb_message_element *el = nullptr;
            if (msg == nullptr || (msg->dn = ldb_dn_copy(msg, group->dn)) == nullptr ||
                ldb_msg_add_empty(msg, attr::member, LDB_FLAG_MOD_DELETE, &el) != LDB_SUCCESS ||
                ldb_msg_add_string(msg, attr::member, talloc_strdup(msg, user.c_str())) != LDB_SUCCESS)
                return out_of_memory("updating group " + std::string(name));
            if (ldb_modify(files_.entries, msg) != LDB_SUCCESS)
                return ldb_failure(files_.entries, "cannot drop " + user + " from group " + name);
            VLOG(trace, "user %s is no longer a member of group %s", user.c_str(), name);
        }
        return {};
    }

private:
    // Adds the entry, or writes only what differs from the cached one:
    // nothing at all when it is equal.
    Status put_entry(ldb_message *now)
    {
        auto old = find_by_dn(files_.entries, mem_, now->dn);
        if (!old) return std::move(old).error();
        if (*old == nullptr) {
            if (ldb_add(files_.entries, now) != LDB_SUCCESS) return ldb_failure(files_.entries, "cannot add " + dn_text(now->dn));
            return {};
        }
        ldb_message *changes = layout::diff(mem_, *old, now);
        if (changes == nullptr) return out_of_memory("comparing " + dn_text(now->dn));
        if (changes->num_elements == 0) return {};
        if (ldb_modify(files_.entries, changes) != LDB_SUCCESS)
            return ldb_failure(files_.entries, "cannot update " + dn_text(now->dn));
        return {};
    }

    // The rename rule: the directory's newest answer wins, so another cached
    // name holding this id is an older answer and is dropped.
    Status evict_id_holders(Kind kind, const char *id_attr, std::uint32_t id, const std::string &keep)
    {
        const char *attrs[] = {attr::name, nullptr};
        auto res = find_by_attr(files_.entries, mem_, kind, id_attr, std::to_string(id), attrs);
        if (!res) return std::move(res).error();
        for (unsigned i = 0; i < (*res)->count; ++i) {
            std::string holder = ldb_msg_find_attr_as_string((*res)->msgs[i], attr::name, "");
            if (holder == keep) continue;
            VLOG(info, "%s %u moves from cached '%s' to '%s': dropping '%s'", id_attr, id, holder.c_str(),
                 keep.c_str(), holder.c_str());
            if (Status st = remove(kind, holder); !st) return st;
        }
        return {};
    }

    Status expire_record(const ldb_message *record)
    {
        ldb_message *msg = ldb_msg_new(mem_);
        if (msg == nullptr || (msg->dn = ldb_dn_copy(msg, record->dn)) == nullptr) return out_of_memory("expiring");
        for (const char *a : {attr::expires_at, attr::initgr_expires_at}) {
            if (ldb_msg_find_element(record, a) == nullptr) continue;
            ldb_message_element *el = nullptr;
            if (ldb_msg_add_empty(msg, a, LDB_FLAG_MOD_REPLACE, &el) != LDB_SUCCESS ||
                ldb_msg_add_string(msg, a, "0") != LDB_SUCCESS)
                return out_of_memory("expiring");
        }
        if (msg->num_elements == 0) return {};
        if (ldb_modify(files_.stamps, msg) != LDB_SUCCESS)
            return ldb_failure(files_.stamps, "cannot expire " + dn_text(record->dn));
        return {};
    }

    Files files_;
    TALLOC_CTX *mem_;
};

Status Sysdb::write(const std::function<Status(Writer &)> &steps)
{
    // Entries first, then timestamps, both committed in that order: if the
    // second commit fails, entries merely look older (or expired) than they are.
    auto entries_tx = entries_.begin();
    if (!entries_tx) return std::move(entries_tx).error();
    auto stamps_tx = stamps_.begin();
    if (!stamps_tx) return std::move(stamps_tx).error();
    TallocPtr<void> mem(talloc_new(nullptr));
    if (!mem) return out_of_memory("starting a write");
    Writer writer(Files{entries_.raw(), stamps_.raw()}, mem.get());
    if (Status st = steps(writer); !st) return st;
    if (Status st = entries_tx->commit(); !st) return st;
    return stamps_tx->commit();
}

Result<std::optional<CachedUser>> Sysdb::user_by_name(const std::string &name) const
{
    return by_name<User>(Files{entries_.raw(), stamps_.raw()}, name);
}

Result<std::optional<CachedUser>> Sysdb::user_by_uid(std::uint32_t uid) const
{
    return by_id<User>(Files{entries_.raw(), stamps_.raw()}, attr::uid, uid);
}

Result<std::optional<CachedGroup>> Sysdb::group_by_name(const std::string &name) const
{
    return by_name<Group>(Files{entries_.raw(), stamps_.raw()}, name);
}

Result<std::optional<CachedGroup>> Sysdb::group_by_gid(std::uint32_t gid) const
{
    return by_id<Group>(Files{entries_.raw(), stamps_.raw()}, attr::gid, gid);
}

Result<Initgroups> Sysdb::groups_of_user(const std::string &user, std::uint32_t primary_gid) const
{
    TallocPtr<void> mem(talloc_new(nullptr));
    ldb_context *ldb = entries_.raw();
    const char *attrs[] = {attr::name, attr::gid, nullptr};
    std::map<std::string, std::uint32_t> found; // group name -> gid: each group walked once
    std::vector<std::string> level;             // found in the last step, parents not yet looked up
    auto take = [&](const Result<ldb_result *> &res) -> Status {
        if (!res) return res.error();
        for (unsigned i = 0; i < (*res)->count; ++i) {
            auto group = layout::decode_group((*res)->msgs[i]);
            if (!group) return group.error();
            if (found.emplace(group->name, group->gid).second) level.push_back(group->name);
        }
        return {};
    };
    if (Status st = take(find_by_attr(ldb, mem.get(), Kind::group, attr::member, user, attrs)); !st) return std::move(st).error();
    // gid 0 and (gid_t)-1 are never served (records.hpp), whatever the caller passed.
    bool primary_servable = primary_gid != 0 && primary_gid != invalid_id;
    if (primary_servable) {
        if (Status st = take(find_by_attr(ldb, mem.get(), Kind::group, attr::gid, std::to_string(primary_gid), attrs)); !st)
            return std::move(st).error();
    }
    // Up the nesting, one level at a time: the groups holding a group of the
    // level as a member. One indexed OR search per slice of the level, so a
    // user in 500 flat groups costs a few searches, not 500.
    while (!level.empty()) {
        std::vector<std::string> walking = std::move(level);
        level.clear();
        for (std::size_t at = 0; at < walking.size(); at += nesting_slice) {
            std::size_t end = std::min(walking.size(), at + nesting_slice);
            std::vector<std::string> slice(walking.begin() + static_cast<std::ptrdiff_t>(at),
                                           walking.begin() + static_cast<std::ptrdiff_t>(end));
            if (Status st = take(find_by_any(ldb, mem.get(), Kind::group, attr::member_group, slice, attrs)); !st)
                return std::move(st).error();
        }
    }
    std::set<std::uint32_t> others;
    for (const auto &[name, gid] : found) {
        if (gid != primary_gid) others.insert(gid);
    }
    Initgroups answer;
    if (primary_servable) answer.gids.push_back(primary_gid);
    answer.gids.insert(answer.gids.end(), others.begin(), others.end());
    auto ts = stamps_of(stamps_.raw(), mem.get(), Kind::user, user, true);
    if (!ts) return std::move(ts).error();
    answer.timestamps = *ts;
    return answer;
}

Result<std::vector<CachedUser>> Sysdb::all_users() const { return all_of<User>(Files{entries_.raw(), stamps_.raw()}); }

Result<std::vector<CachedGroup>> Sysdb::all_groups() const { return all_of<Group>(Files{entries_.raw(), stamps_.raw()}); }

Status Sysdb::store_user(const User &user, const Timestamps &ts)
{
    return write([&](Writer &w) { return w.store(user, ts); });
}

Status Sysdb::store_group(const Group &group, const Timestamps &ts)
{
    return write([&](Writer &w) { return w.store(group, ts); });
}

Status Sysdb::store_users(const std::vector<User> &users, const Timestamps &ts)
{
    return write([&](Writer &w) {
        for (const User &user : users) {
            if (Status st = w.store(user, ts); !st) return st;
        }
        return Status{};
    });
}

Status Sysdb::store_groups(const std::vector<Group> &groups, const Timestamps &ts)
{
    return write([&](Writer &w) {
        for (const Group &group : groups) {
            if (Status st = w.store(group, ts); !st) return st;
        }
        return Status{};
    });
}

Status Sysdb::store_initgroups(const User &user, const std::vector<Group> &groups, const Timestamps &ts)
{
    return write([&](Writer &w) {
        if (Status st = w.store(user, ts); !st) return st;
        std::set<std::string> answer;
        for (const Group &group : groups) {
            if (Status st = w.store(group, ts); !st) return st;
            answer.insert(group.name);
        }
        if (Status st = w.drop_left_memberships(user.name, answer); !st) return st;
        return w.set_stamps(Kind::user, user.name,
                            {{attr::initgr_last_update, ts.last_update}, {attr::initgr_expires_at, ts.expires_at}});
    });
}

Status Sysdb::delete_user(const std::string &name)
{
    if (name.empty()) return {};
    return write([&](Writer &w) { return w.remove(Kind::user, name); });
}

Status Sysdb::delete_group(const std::string &name)
{
    if (name.empty()) return {};
    return write([&](Writer &w) { return w.remove(Kind::group, name); });
}

Status Sysdb::expire_user(const std::string &name)
{
    if (name.empty()) return {};
    return write([&](Writer &w) { return w.expire(Kind::user, name); });
}

Status Sysdb::expire_group(const std::string &name)
{
    if (name.empty()) return {};
    return write([&](Writer &w) { return w.expire(Kind::group, name); });
}

Status Sysdb::expire_all()
{
    return write([](Writer &w) { return w.expire_everything(); });
}

Result<std::uint64_t> Sysdb::entries_sequence_number() const
{
    std::uint64_t seq = 0;
    int ret = ldb_sequence_number(entries_.raw(), LDB_SEQ_HIGHEST_SEQ, &seq);
    if (ret != LDB_SUCCESS) return ldb_failure(entries_.raw(), "cannot read the sequence number of " + entries_.path());
    return seq;
}

} // namespace vigil::sysdb
