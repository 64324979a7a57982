// Reads of the identity cache: lookups, initgroups, enumeration (sysdb.hpp, doc/cache.md).
#include "util/sysdb/sysdb.hpp"

#include "util/ldb_c.hpp"
#include "util/log.hpp"
#include "util/sysdb/layout.hpp"
#include "util/sysdb/search.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <type_traits>

namespace vigil::sysdb {
namespace attr = layout::attr;
using layout::Kind;
using namespace search;

namespace {

template <class Record> Result<Record> decode(const ldb_message *msg);
template <> Result<User> decode<User>(const ldb_message *msg) { return layout::decode_user(msg); }
template <> Result<Group> decode<Group>(const ldb_message *msg) { return layout::decode_group(msg); }
template <class Record> constexpr Kind kind_of = std::is_same_v<Record, User> ? Kind::user : Kind::group;

template <class Record>
using Lookup = Result<std::optional<Cached<Record>>>;

template <class Record>
Lookup<Record> with_stamps(Files files, const ldb_message *msg)
{
    if (msg == nullptr) return std::optional<Cached<Record>>{};
    auto record = decode<Record>(msg);
    if (!record) return std::move(record).error();
    auto ts = stamps_of(*files.stamps, kind_of<Record>, record->name);
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
    return with_stamps<Record>(files, *msg);
}

template <class Record>
Lookup<Record> by_id(Files files, const char *id_attr, std::uint32_t id)
{
    TallocPtr<void> mem(talloc_new(nullptr));
    auto res = find_by_attr(files.entries, mem.get(), kind_of<Record>, id_attr, std::to_string(id));
    if (!res) return std::move(res).error();
    // The rename rule keeps ids unique; a second holder would be a bug.
    if ((*res)->count > 1) VLOG(minor, "%u entries hold %s %u; answering with the first", (*res)->count, id_attr, id);
    return with_stamps<Record>(files, (*res)->count > 0 ? (*res)->msgs[0] : nullptr);
}

template <class Record>
Result<std::vector<Cached<Record>>> all_of(Files files)
{
    TallocPtr<void> mem(talloc_new(nullptr));
    Kind kind = kind_of<Record>;
    ldb_dn *entries_base = ldb_dn_new(mem.get(), files.entries, layout::container_of(kind));
    if (entries_base == nullptr) return out_of_memory("enumerating");
    std::map<std::string, Timestamps, std::less<>> stamps_by_name;
    Status listed = files.stamps->for_each(kind, [&](std::string_view name, const StampRecord &r) {
        stamps_by_name.emplace(std::string(name), r.entry);
    });
    if (!listed) return std::move(listed).error();
    ldb_result *res = nullptr;
    int ret = ldb_search(files.entries, mem.get(), &res, entries_base, LDB_SCOPE_ONELEVEL, nullptr, "(%s=*)", attr::name);
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

// How many groups one nesting search asks about (bounds the filter's size).
constexpr std::size_t nesting_slice = 128;

} // namespace

Result<std::optional<CachedUser>> Sysdb::user_by_name(const std::string &name) const
{
    return by_name<User>(Files{entries_.raw(), &stamps_}, name);
}

Result<std::optional<CachedUser>> Sysdb::user_by_uid(std::uint32_t uid) const
{
    return by_id<User>(Files{entries_.raw(), &stamps_}, attr::uid, uid);
}

Result<std::optional<CachedGroup>> Sysdb::group_by_name(const std::string &name) const
{
    return by_name<Group>(Files{entries_.raw(), &stamps_}, name);
}

Result<std::optional<CachedGroup>> Sysdb::group_by_gid(std::uint32_t gid) const
{
    return by_id<Group>(Files{entries_.raw(), &stamps_}, attr::gid, gid);
}

Result<Timestamps> Sysdb::user_timestamps(const std::string &name) const
{
    if (name.empty()) return Timestamps{};
    return stamps_of(stamps_, Kind::user, name);
}

Result<Timestamps> Sysdb::group_timestamps(const std::string &name) const
{
    if (name.empty()) return Timestamps{};
    return stamps_of(stamps_, Kind::group, name);
}

Result<Timestamps> Sysdb::initgroups_timestamps(const std::string &user) const
{
    if (user.empty()) return Timestamps{};
    return stamps_of(stamps_, Kind::user, user, true);
}

Result<std::optional<AccessFilterMemo>> Sysdb::access_filter_memo(const std::string &user) const
{
    if (user.empty()) return std::optional<AccessFilterMemo>{};
    TallocPtr<void> mem(talloc_new(nullptr));
    auto entry_dn = dn_for(mem.get(), entries_.raw(), Kind::user, user);
    if (!entry_dn) return std::move(entry_dn).error();
    auto entry = find_by_dn(entries_.raw(), mem.get(), *entry_dn);
    if (!entry) return std::move(entry).error();
    if (*entry == nullptr) return std::optional<AccessFilterMemo>{};
    auto record = stamps_.get(Kind::user, user);
    if (!record) return std::move(record).error();
    if (!*record || !(*record)->has_access_memo) return std::optional<AccessFilterMemo>{};
    AccessFilterMemo memo;
    memo.allowed = (*record)->access_allowed;
    memo.checked_at = (*record)->access_checked;
    memo.filter_hash = (*record)->access_hash;
    return std::optional<AccessFilterMemo>(memo);
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
    auto ts = stamps_of(stamps_, Kind::user, user, true);
    if (!ts) return std::move(ts).error();
    answer.timestamps = *ts;
    return answer;
}

Result<std::vector<CachedUser>> Sysdb::all_users() const { return all_of<User>(Files{entries_.raw(), &stamps_}); }

Result<std::vector<CachedGroup>> Sysdb::all_groups() const { return all_of<Group>(Files{entries_.raw(), &stamps_}); }

Result<std::uint64_t> Sysdb::entries_sequence_number() const
{
    std::uint64_t seq = 0;
    int ret = ldb_sequence_number(entries_.raw(), LDB_SEQ_HIGHEST_SEQ, &seq);
    if (ret != LDB_SUCCESS) return ldb_failure(entries_.raw(), "cannot read the sequence number of " + entries_.path());
    return seq;
}

} // namespace vigil::sysdb
