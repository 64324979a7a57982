// Writes of the identity cache, each one transaction (sysdb.hpp, doc/cache.md).
#include "util/sysdb/sysdb.hpp"

#include "util/ldb_c.hpp"
#include "util/log.hpp"
#include "util/sysdb/layout.hpp"
#include "util/sysdb/search.hpp"

#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace vigil::sysdb {
namespace attr = layout::attr;
using layout::Kind;
using namespace search;

struct Prefetch::Data {
    TallocPtr<void> mem{talloc_new(nullptr)};
    ldb_context *entries = nullptr;  // the file they were read from
    std::uint64_t commits = 0;       // Sysdb::durable_commits() then
    // By name (the views are into the messages, in mem).
    std::unordered_map<std::string_view, const ldb_message *> groups;
    std::optional<std::string> listing_of; // groups holds every cached group listing this user
};

Prefetch::Prefetch() = default;
Prefetch::~Prefetch() = default;
Prefetch::Prefetch(Prefetch &&) noexcept = default;
Prefetch &Prefetch::operator=(Prefetch &&) noexcept = default;

namespace {
Prefetch::Group group_read_ahead(std::string_view name, const ldb_message *msg)
{
    auto view = [msg](const char *attr_name) {
        const ldb_message_element *el = ldb_msg_find_element(msg, attr_name);
        return el != nullptr && el->num_values > 0
                   ? std::string_view(reinterpret_cast<const char *>(el->values[0].data), el->values[0].length)
                   : std::string_view();
    };
    return Prefetch::Group{name, view(attr::original_dn), view(attr::source_digest),
                           static_cast<std::uint32_t>(ldb_msg_find_attr_as_uint64(msg, attr::gid, 0))};
}
} // namespace

std::optional<Prefetch::Group> Prefetch::single_group() const
{
    if (!data_ || data_->groups.size() != 1) return std::nullopt;
    const auto &[name, msg] = *data_->groups.begin();
    return group_read_ahead(name, msg);
}

std::vector<Prefetch::Group> Prefetch::groups() const
{
    std::vector<Group> all;
    if (!data_) return all;
    all.reserve(data_->groups.size());
    for (const auto &[name, msg] : data_->groups) all.push_back(group_read_ahead(name, msg));
    return all;
}

// The steps of one write transaction. Each step validates what it writes, so
// a refused record anywhere fails the transaction and nothing is written.
//
// The timestamps file's transaction is open from the start; the entries
// file's only from the first step that writes an entry (entries()). A
// refresh that changes no entry (the common case: a lookup after the entry
// expired) then neither opens nor commits a transaction on the entries file,
// whose start alone costs a copy of its hash table and a remap of the file.
// Reading the entries outside a transaction is safe: vigil_be is the only
// writer, and this write runs on its one thread.
class Sysdb::Writer {
public:
    // `ahead`: still valid (Sysdb::write checked), or null.
    Writer(const LdbFile &entries, const StampFile &stamps, TALLOC_CTX *mem, Changes &changes, const Prefetch::Data *ahead)
        : entries_file_(entries), stamps_(stamps), ahead_(ahead), files_{entries.raw(), &stamps}, mem_(mem),
          changes_(changes)
    {
        if (ahead_ != nullptr) hints_ = &ahead_->groups;
    }

    // The entries file's transaction, if a step wrote an entry.
    std::optional<LdbFileTx> &entries_transaction() { return entries_tx_; }
    // The timestamps to write once the entries are committed.
    StampFile::Batch &stamps_batch() { return stamps_batch_; }

    Status store(const User &given, const Timestamps &ts)
    {
        if (Status st = validate(given); !st) return st;
        User user = normalised(given);
        Scratch scratch(mem_);
        if (!scratch) return out_of_memory("storing user " + user.name);
        ldb_message *msg = layout::encode(scratch.get(), files_.entries, user);
        if (msg == nullptr) return out_of_memory("encoding user " + user.name);
        auto old = find_by_dn(files_.entries, scratch.get(), msg->dn);
        if (!old) return std::move(old).error();
        auto stored = put_entry(scratch.get(), msg, *old, Kind::user, attr::uid, user.uid, user.name);
        if (!stored) return std::move(stored).error();
        changes_.add(true, user.name, user.uid, stored->old_id, !stored->wrote);
        return update_stamps(Kind::user, user.name, [&](StampRecord &r) { r.entry = ts; });
    }

    Status store(const Group &given, const Timestamps &ts)
    {
        if (Status st = validate(given); !st) return st;
        // The provider hands over normalised groups: no copy of 10,000 names then.
        std::optional<Group> copy;
        if (!is_normalised(given)) copy = normalised(given);
        const Group &group = copy ? *copy : given;
        Scratch scratch(mem_);
        if (!scratch) return out_of_memory("storing group " + group.name);
        // The cached entry: from the search hint_groups_listing() made, or read.
        const ldb_message *old = take_hint(group.name);
        if (old == nullptr) {
            auto dn = dn_for(scratch.get(), files_.entries, Kind::group, group.name);
            if (!dn) return std::move(dn).error();
            auto found = find_by_dn(files_.entries, scratch.get(), *dn);
            if (!found) return std::move(found).error();
            old = *found;
        }
        // Unchanged (a refresh): compared as it is, not encoded first.
        if (old != nullptr && layout::holds(old, group)) {
            changes_.add(false, group.name, group.gid, group.gid, true);
            return update_stamps(Kind::group, group.name, [&](StampRecord &r) { r.entry = ts; });
        }
        ldb_message *msg = layout::encode(scratch.get(), files_.entries, group);
        if (msg == nullptr) return out_of_memory("encoding group " + group.name);
        auto stored = put_entry(scratch.get(), msg, old, Kind::group, attr::gid, group.gid, group.name);
        if (!stored) return std::move(stored).error();
        changes_.add(false, group.name, group.gid, stored->old_id, !stored->wrote);
        return update_stamps(Kind::group, group.name, [&](StampRecord &r) { r.entry = ts; });
    }

    Status remove(Kind kind, const std::string &name)
    {
        changes_.add(kind == Kind::user, name);
        if (kind == Kind::group) {
            if (auto it = hints_->find(name); it != hints_->end()) taken_.insert(it->first);
        }
        if (Status st = entries(); !st) return st;
        auto dn = dn_for(mem_, files_.entries, kind, name);
        if (!dn) return std::move(dn).error();
        int ret = ldb_delete(files_.entries, *dn);
        if (ret != LDB_SUCCESS && ret != LDB_ERR_NO_SUCH_OBJECT) return ldb_failure(files_.entries, "cannot delete " + dn_text(*dn));
        stamps_batch_.remove(kind, name);
        return {};
    }

    // A group of the read-ahead listing (hint_groups_listing) whose
    // directory entry is the one its record was made from: its timestamps.
    Status refresh_listed_group(const std::string &name, const Timestamps &ts)
    {
        if (ahead_ == nullptr || hinted_user_.empty() || ahead_->listing_of != hinted_user_)
            return Error{Errc::invalid_argument, "group " + name + " was not read ahead"};
        const ldb_message *group = hint(name);
        if (group == nullptr) return Error{Errc::invalid_argument, "group " + name + " was not read ahead"};
        const auto gid = static_cast<std::uint32_t>(ldb_msg_find_attr_as_uint64(group, attr::gid, 0));
        return refresh_stamps(Kind::group, name, gid, ts);
    }

    // An entry known to be unchanged: its timestamps only.
    Status refresh_stamps(Kind kind, const std::string &name, std::uint32_t id, const Timestamps &ts)
    {
        changes_.add(kind == Kind::user, name, id, id, true);
        return update_stamps(kind, name, [&](StampRecord &r) { r.entry = ts; });
    }

    // The user's initgroups timestamps.
    Status set_initgroups_stamps(const std::string &user, const Timestamps &ts)
    {
        changes_.add(true, user, 0, 0, true);
        return update_stamps(Kind::user, user, [&](StampRecord &r) { r.initgroups = ts; });
    }

    // Not a change NSS answers show, so not in `changes_`.
    Status set_access_filter_memo(const std::string &user, const AccessFilterMemo &memo)
    {
        Scratch scratch(mem_);
        if (!scratch) return out_of_memory("writing the access filter result");
        auto dn = dn_for(scratch.get(), files_.entries, Kind::user, user);
        if (!dn) return std::move(dn).error();
        auto entry = find_by_dn(files_.entries, scratch.get(), *dn);
        if (!entry) return std::move(entry).error();
        if (*entry == nullptr) return Error{Errc::not_found, "user '" + user + "' is not cached"};
        return update_stamps(Kind::user, user, [&](StampRecord &r) {
            r.has_access_memo = true;
            r.access_allowed = memo.allowed;
            r.access_checked = memo.checked_at;
            r.access_hash = memo.filter_hash;
        });
    }

    // expires_at = 0 (and the initgroups expiry, if any); no record: already expired.
    Status expire(Kind kind, const std::string &name)
    {
        changes_.add(kind == Kind::user, name, 0, 0, true);
        auto existing = stamps_batch_.get(stamps_, kind, name);
        if (!existing) return std::move(existing).error();
        if (*existing) expire_record(kind, name, **existing, false);
        return {};
    }

    Status expire_everything()
    {
        changes_.set_everything();
        for (Kind kind : {Kind::user, Kind::group}) {
            std::vector<std::pair<std::string, StampRecord>> all;
            Status listed = stamps_.for_each(kind, [&](std::string_view name, const StampRecord &r) {
                all.emplace_back(std::string(name), r);
            });
            if (!listed) return listed;
            for (const auto &[name, record] : all) expire_record(kind, name, record, true);
        }
        return {};
    }

    // Reads, in one indexed search, the cached groups that list `user`: the
    // groups of an initgroups answer are mostly those, and store() then takes
    // each from here instead of reading it (500 groups: one search, not 500).
    Status hint_groups_listing(const std::string &user)
    {
        if (ahead_ != nullptr && ahead_->listing_of == user) {
            hinted_user_ = user; // hints_ came from the read-ahead
            return {};
        }
        auto res = find_by_attr(files_.entries, mem_, Kind::group, attr::member, user);
        if (!res) return std::move(res).error();
        own_hints_.clear();
        own_hints_.reserve((*res)->count);
        for (unsigned i = 0; i < (*res)->count; ++i) {
            const ldb_message *group = (*res)->msgs[i];
            own_hints_.emplace(ldb_msg_find_attr_as_string(group, attr::name, ""), group); // the name lives in mem_
        }
        hints_ = &own_hints_;
        taken_.clear();
        hinted_user_ = user;
        return {};
    }

    // The directory listed `user` in exactly `answer`: cached groups that
    // still list it lose it (the user left them). After
    // hint_groups_listing(user) and the answer's stores, those are the
    // hinted groups that are left (every group of the answer took its hint;
    // a group removed meanwhile lost it).
    //
    // Such a group is no longer what its directory entry made: it loses
    // its source digest too, so that the entry, when it lists the user
    // again, is not taken for the one the record was made from.
    Status drop_left_memberships(const std::string &user, const std::unordered_set<std::string_view> &answer)
    {
        std::vector<const ldb_message *> listing;
        if (hinted_user_ == user) {
            for (const auto &[name, group] : *hints_)
                if (taken_.count(name) == 0) listing.push_back(group);
        } else {
            const char *attrs[] = {attr::name, attr::gid, attr::source_digest, nullptr};
            auto res = find_by_attr(files_.entries, mem_, Kind::group, attr::member, user, attrs);
            if (!res) return std::move(res).error();
            listing.assign((*res)->msgs, (*res)->msgs + (*res)->count);
        }
        for (const ldb_message *group : listing) {
            const char *name = ldb_msg_find_attr_as_string(group, attr::name, "");
            if (answer.count(name) != 0) continue;
            ldb_message *msg = ldb_msg_new(mem_);
            ldb_message_element *el = nullptr;
            if (msg == nullptr || (msg->dn = ldb_dn_copy(msg, group->dn)) == nullptr ||
                ldb_msg_add_empty(msg, attr::member, LDB_FLAG_MOD_DELETE, &el) != LDB_SUCCESS ||
                ldb_msg_add_string(msg, attr::member, talloc_strdup(msg, user.c_str())) != LDB_SUCCESS ||
                (ldb_msg_find_element(group, attr::source_digest) != nullptr &&
                 ldb_msg_add_empty(msg, attr::source_digest, LDB_FLAG_MOD_DELETE, nullptr) != LDB_SUCCESS))
                return out_of_memory("updating group " + std::string(name));
            if (Status st = entries(); !st) return st;
            if (ldb_modify(files_.entries, msg) != LDB_SUCCESS)
                return ldb_failure(files_.entries, "cannot drop " + user + " from group " + name);
            changes_.add(false, name, static_cast<std::uint32_t>(ldb_msg_find_attr_as_uint64(group, attr::gid, 0)));
            VLOG(trace, "user %s is no longer a member of group %s", user.c_str(), name);
        }
        return {};
    }

private:
    // The hinted entry of group `name`, taken (each is used once), or null.
    const ldb_message *take_hint(const std::string &name)
    {
        auto it = hints_->find(name);
        if (it == hints_->end() || !taken_.insert(it->first).second) return nullptr;
        return it->second;
    }

    // The hinted entry of group `name`, unless taken or removed, or null.
    const ldb_message *hint(std::string_view name) const
    {
        auto it = hints_->find(name);
        return it == hints_->end() || taken_.count(name) != 0 ? nullptr : it->second;
    }

    // Opens the entries file's transaction before the first write to it.
    Status entries()
    {
        if (entries_tx_) return {};
        auto tx = entries_file_.begin();
        if (!tx) return std::move(tx).error();
        entries_tx_.emplace(std::move(*tx));
        return {};
    }

    // A talloc context for one step, freed when the step ends: a write of
    // 500 groups does not pile up 500 steps' search results until commit.
    class Scratch {
    public:
        explicit Scratch(TALLOC_CTX *parent) : mem_(talloc_new(parent)) {}
        ~Scratch() { talloc_free(mem_); }
        Scratch(const Scratch &) = delete;
        Scratch &operator=(const Scratch &) = delete;
        explicit operator bool() const { return mem_ != nullptr; }
        TALLOC_CTX *get() const { return mem_; }

    private:
        TALLOC_CTX *mem_;
    };

    struct Stored {
        std::uint32_t old_id; // the cached entry's id before (0: none)
        bool wrote = true;    // false: equal to the cached entry, nothing written
    };

    // Adds the entry, or writes only what differs from the cached one:
    // nothing at all when it is equal. An id that another cached name holds
    // is taken from it first (evict_id_holders); when the cached entry of
    // this name already had this id, no other can hold it (every write keeps
    // ids unique), and the search is saved.
    // `old` is the cached entry of this name (null: none).
    Result<Stored> put_entry(TALLOC_CTX *mem, ldb_message *now, const ldb_message *old, Kind kind, const char *id_attr,
                             std::uint32_t id, const std::string &name)
    {
        const auto old_id =
            old != nullptr ? static_cast<std::uint32_t>(ldb_msg_find_attr_as_uint64(old, id_attr, 0)) : 0;
        const bool same_id = old != nullptr && old_id == id;
        if (!same_id) {
            if (Status st = evict_id_holders(kind, id_attr, id, name); !st) return std::move(st).error();
        }
        if (old == nullptr) {
            if (Status st = entries(); !st) return std::move(st).error();
            if (ldb_add(files_.entries, now) != LDB_SUCCESS) return ldb_failure(files_.entries, "cannot add " + dn_text(now->dn));
            return Stored{0, true};
        }
        ldb_message *changes = layout::diff(mem, old, now);
        if (changes == nullptr) return out_of_memory("comparing " + dn_text(now->dn));
        if (changes->num_elements == 0) return Stored{old_id, false};
        if (Status st = entries(); !st) return std::move(st).error();
        if (ldb_modify(files_.entries, changes) != LDB_SUCCESS)
            return ldb_failure(files_.entries, "cannot update " + dn_text(now->dn));
        return Stored{old_id, true};
    }

    // Changes the entry's timestamps record (a new one if it has none).
    template <class Change>
    Status update_stamps(Kind kind, const std::string &name, Change change)
    {
        auto existing = stamps_batch_.get(stamps_, kind, name);
        if (!existing) return std::move(existing).error();
        StampRecord record = existing->value_or(StampRecord{});
        change(record);
        stamps_batch_.put(kind, name, record);
        return {};
    }

    // The rename rule: the directory's newest answer wins, so another cached
    // name holding this id is an older answer and is dropped.
    Status evict_id_holders(Kind kind, const char *id_attr, std::uint32_t id, const std::string &keep)
    {
        Scratch scratch(mem_);
        if (!scratch) return out_of_memory("looking up id holders");
        const char *attrs[] = {attr::name, nullptr};
        auto res = find_by_attr(files_.entries, scratch.get(), kind, id_attr, std::to_string(id), attrs);
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

    // `listed`: the record came from StampFile::for_each.
    void expire_record(Kind kind, const std::string &name, StampRecord record, bool listed)
    {
        if (record.entry.expires_at == 0 && record.initgroups.expires_at == 0) return;
        record.entry.expires_at = 0;
        record.initgroups.expires_at = 0;
        if (listed) stamps_batch_.put_listed(kind, name, record);
        else stamps_batch_.put(kind, name, record);
    }

    const LdbFile &entries_file_;
    const StampFile &stamps_;
    StampFile::Batch stamps_batch_; // applied after the entries commit
    const Prefetch::Data *ahead_;
    std::optional<LdbFileTx> entries_tx_;
    // hint_groups_listing(): cached groups by name, as read then: the
    // read-ahead's or own_hints_ (in mem_); both outlive the write. Those
    // in taken_ are used up (stored or removed by this write).
    using Hints = std::unordered_map<std::string_view, const ldb_message *>;
    Hints own_hints_;
    const Hints *hints_ = &own_hints_;
    std::unordered_set<std::string_view> taken_; // views of hints_' keys
    std::string hinted_user_;
    Files files_;
    TALLOC_CTX *mem_;
    Changes &changes_;
};

Status Sysdb::write(const std::function<Status(Writer &)> &steps, const Prefetch *ahead)
{
    const Prefetch::Data *valid = still_valid(ahead);
    if (role_ != Role::writer) return Error{Errc::permission, "the cache " + paths_.entries + " is open read-only"};
    // Entries (if a step wrote one), then timestamps, in that order: if the
    // second write fails, entries merely look older (or expired) than they
    // are. A step that fails writes neither.
    TallocPtr<void> mem(talloc_new(nullptr));
    if (!mem) return out_of_memory("starting a write");
    Changes changes;
    Writer writer(entries_, stamps_, mem.get(), changes, valid);
    if (Status st = steps(writer); !st) return st; // the entries transaction cancelled, no timestamp written
    if (auto &entries_tx = writer.entries_transaction()) {
        if (Status st = entries_tx->commit(); !st) return st;
        ++durable_commits_;
    }
    Status st = stamps_.apply(writer.stamps_batch()); // the entries changed, whatever this says
    if (on_commit_) on_commit_(changes);
    return st;
}

Status Sysdb::store_user(const User &user, const Timestamps &ts)
{
    return write([&](Writer &w) { return w.store(user, ts); });
}

Status Sysdb::store_group(const Group &group, const Timestamps &ts)
{
    return write([&](Writer &w) { return w.store(group, ts); });
}

Status Sysdb::store_group(const Group &group, const Timestamps &ts, const Prefetch &ahead)
{
    return write([&](Writer &w) { return w.store(group, ts); }, &ahead);
}

const Prefetch::Data *Sysdb::still_valid(const Prefetch *ahead) const
{
    // Read ahead, and still what the cache holds: no entry written since.
    return ahead != nullptr && ahead->data_ && ahead->data_->entries == entries_.raw() &&
                   ahead->data_->commits == durable_commits_
               ? ahead->data_.get()
               : nullptr;
}

Result<bool> Sysdb::refresh_unchanged_group(const std::string &name, const Timestamps &ts, const Prefetch &ahead)
{
    const Prefetch::Data *valid = still_valid(&ahead);
    if (valid == nullptr) return false;
    auto it = valid->groups.find(name);
    if (it == valid->groups.end()) return false;
    const auto gid = static_cast<std::uint32_t>(ldb_msg_find_attr_as_uint64(it->second, attr::gid, 0));
    Status st = write([&](Writer &w) { return w.refresh_stamps(Kind::group, name, gid, ts); });
    if (!st) return std::move(st).error();
    return true;
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
    return store_initgroups(user, groups, ts, Prefetch{});
}

Status Sysdb::store_initgroups(const User &user, const std::vector<Group> &groups, const Timestamps &ts,
                               const Prefetch &ahead)
{
    return store_initgroups(user, groups, {}, ts, ahead);
}

Status Sysdb::store_initgroups(const User &user, const std::vector<Group> &groups,
                               const std::vector<std::string> &unchanged, const Timestamps &ts, const Prefetch &ahead)
{
    if (!unchanged.empty() && !current(ahead))
        return Error{Errc::invalid_argument, "the groups of " + user.name + " read ahead are out of date"};
    return write([&](Writer &w) {
        if (Status st = w.store(user, ts); !st) return st;
        if (Status st = w.hint_groups_listing(user.name); !st) return st;
        std::unordered_set<std::string_view> answer;
        answer.reserve(groups.size() + unchanged.size());
        for (const Group &group : groups) {
            if (Status st = w.store(group, ts); !st) return st;
            answer.insert(group.name);
        }
        for (const std::string &name : unchanged) {
            if (Status st = w.refresh_listed_group(name, ts); !st) return st;
            answer.insert(name);
        }
        if (Status st = w.drop_left_memberships(user.name, answer); !st) return st;
        return w.set_initgroups_stamps(user.name, ts);
    }, &ahead);
}

Result<Prefetch::Data *> Sysdb::start_prefetch(Prefetch &ahead) const
{
    ahead.data_ = std::make_unique<Prefetch::Data>();
    Prefetch::Data &d = *ahead.data_;
    if (!d.mem) return out_of_memory("reading ahead");
    d.entries = entries_.raw();
    d.commits = durable_commits_;
    return &d;
}

Result<Prefetch> Sysdb::prefetch_group(const std::string &name) const
{
    Prefetch ahead;
    auto d = start_prefetch(ahead);
    if (!d) return std::move(d).error();
    auto dn = dn_for((*d)->mem.get(), (*d)->entries, Kind::group, name);
    if (!dn) return std::move(dn).error();
    auto found = find_by_dn((*d)->entries, (*d)->mem.get(), *dn);
    if (!found) return std::move(found).error();
    if (*found != nullptr) (*d)->groups.emplace(ldb_msg_find_attr_as_string(*found, attr::name, ""), *found);
    return ahead;
}

Result<Prefetch> Sysdb::prefetch_group_by_gid(std::uint32_t gid) const
{
    Prefetch ahead;
    auto d = start_prefetch(ahead);
    if (!d) return std::move(d).error();
    auto res = find_by_attr((*d)->entries, (*d)->mem.get(), Kind::group, attr::gid, std::to_string(gid));
    if (!res) return std::move(res).error();
    for (unsigned i = 0; i < (*res)->count; ++i)
        (*d)->groups.emplace(ldb_msg_find_attr_as_string((*res)->msgs[i], attr::name, ""), (*res)->msgs[i]);
    return ahead;
}

Result<Prefetch> Sysdb::prefetch_groups_listing(const std::string &user) const
{
    Prefetch ahead;
    auto d = start_prefetch(ahead);
    if (!d) return std::move(d).error();
    auto res = find_by_attr((*d)->entries, (*d)->mem.get(), Kind::group, attr::member, user);
    if (!res) return std::move(res).error();
    for (unsigned i = 0; i < (*res)->count; ++i)
        (*d)->groups.emplace(ldb_msg_find_attr_as_string((*res)->msgs[i], attr::name, ""), (*res)->msgs[i]);
    (*d)->listing_of = user;
    return ahead;
}

Status Sysdb::store_access_filter_memo(const std::string &user, const AccessFilterMemo &memo)
{
    return write([&](Writer &w) { return w.set_access_filter_memo(user, memo); });
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

} // namespace vigil::sysdb
