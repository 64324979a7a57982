// Writes of the identity cache, each one transaction (sysdb.hpp, doc/cache.md).
#include "util/sysdb/sysdb.hpp"

#include "util/ldb_c.hpp"
#include "util/log.hpp"
#include "util/sysdb/layout.hpp"
#include "util/sysdb/search.hpp"

#include <set>

namespace vigil::sysdb {
namespace attr = layout::attr;
using layout::Kind;
using namespace search;

// The steps of one write transaction. Each step validates what it writes, so
// a refused record anywhere fails the transaction and nothing is written.
class Sysdb::Writer {
public:
    Writer(Files files, TALLOC_CTX *mem, Changes &changes) : files_(files), mem_(mem), changes_(changes) {}

    Status store(const User &given, const Timestamps &ts)
    {
        if (Status st = validate(given); !st) return st;
        User user = normalised(given);
        Scratch scratch(mem_);
        if (!scratch) return out_of_memory("storing user " + user.name);
        ldb_message *msg = layout::encode(scratch.get(), files_.entries, user);
        if (msg == nullptr) return out_of_memory("encoding user " + user.name);
        auto stored = put_entry(scratch.get(), msg, Kind::user, attr::uid, user.uid, user.name);
        if (!stored) return std::move(stored).error();
        changes_.add(true, user.name, user.uid, stored->old_id);
        return write_stamps(scratch.get(), Kind::user, user.name,
                            {{attr::last_update, ts.last_update}, {attr::expires_at, ts.expires_at}}, stored->existed);
    }

    Status store(const Group &given, const Timestamps &ts)
    {
        if (Status st = validate(given); !st) return st;
        Group group = normalised(given);
        Scratch scratch(mem_);
        if (!scratch) return out_of_memory("storing group " + group.name);
        ldb_message *msg = layout::encode(scratch.get(), files_.entries, group);
        if (msg == nullptr) return out_of_memory("encoding group " + group.name);
        auto stored = put_entry(scratch.get(), msg, Kind::group, attr::gid, group.gid, group.name);
        if (!stored) return std::move(stored).error();
        changes_.add(false, group.name, group.gid, stored->old_id);
        return write_stamps(scratch.get(), Kind::group, group.name,
                            {{attr::last_update, ts.last_update}, {attr::expires_at, ts.expires_at}}, stored->existed);
    }

    Status remove(Kind kind, const std::string &name)
    {
        changes_.add(kind == Kind::user, name);
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
        changes_.add(kind == Kind::user, name);
        Scratch scratch(mem_);
        if (!scratch) return out_of_memory("writing timestamps");
        return write_stamps(scratch.get(), kind, name, values, Existed::maybe);
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
        return write_stamps(scratch.get(), Kind::user, user,
                            {{attr::access_filter_allowed, memo.allowed ? 1 : 0},
                             {attr::access_filter_checked, memo.checked_at},
                             {attr::access_filter_hash, static_cast<std::int64_t>(memo.filter_hash)}},
                            Existed::maybe);
    }

    // expires_at = 0 (and the initgroups expiry, if any); no record: already expired.
    Status expire(Kind kind, const std::string &name)
    {
        changes_.add(kind == Kind::user, name);
        auto dn = dn_for(mem_, files_.stamps, kind, name);
        if (!dn) return std::move(dn).error();
        auto existing = find_by_dn(files_.stamps, mem_, *dn);
        if (!existing) return std::move(existing).error();
        return *existing != nullptr ? expire_record(*existing) : Status{};
    }

    Status expire_everything()
    {
        changes_.set_everything();
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
            changes_.add(false, name, static_cast<std::uint32_t>(ldb_msg_find_attr_as_uint64(group, attr::gid, 0)));
            VLOG(trace, "user %s is no longer a member of group %s", user.c_str(), name);
        }
        return {};
    }

private:
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

    // Whether the entry's record was in the cache before this write: its
    // timestamps record then most likely is too (written together).
    enum class Existed { yes, no, maybe };
    struct Stored {
        Existed existed;
        std::uint32_t old_id; // the cached entry's id before (0: none)
    };

    // Adds the entry, or writes only what differs from the cached one:
    // nothing at all when it is equal. An id that another cached name holds
    // is taken from it first (evict_id_holders); when the cached entry of
    // this name already had this id, no other can hold it (every write keeps
    // ids unique), and the search is saved.
    Result<Stored> put_entry(TALLOC_CTX *mem, ldb_message *now, Kind kind, const char *id_attr, std::uint32_t id,
                             const std::string &name)
    {
        auto old = find_by_dn(files_.entries, mem, now->dn);
        if (!old) return std::move(old).error();
        const auto old_id =
            *old != nullptr ? static_cast<std::uint32_t>(ldb_msg_find_attr_as_uint64(*old, id_attr, 0)) : 0;
        const bool same_id = *old != nullptr && old_id == id;
        if (!same_id) {
            if (Status st = evict_id_holders(kind, id_attr, id, name); !st) return std::move(st).error();
        }
        if (*old == nullptr) {
            if (ldb_add(files_.entries, now) != LDB_SUCCESS) return ldb_failure(files_.entries, "cannot add " + dn_text(now->dn));
            return Stored{Existed::no, 0};
        }
        ldb_message *changes = layout::diff(mem, *old, now);
        if (changes == nullptr) return out_of_memory("comparing " + dn_text(now->dn));
        if (changes->num_elements == 0) return Stored{Existed::yes, old_id};
        if (ldb_modify(files_.entries, changes) != LDB_SUCCESS)
            return ldb_failure(files_.entries, "cannot update " + dn_text(now->dn));
        return Stored{Existed::yes, old_id};
    }

    // Replaces the values in the entry's timestamps record, or creates it:
    // tried in the likelier order first, so that most writes are one call.
    Status write_stamps(TALLOC_CTX *mem, Kind kind, const std::string &name,
                        const std::vector<std::pair<const char *, std::int64_t>> &values, Existed existed)
    {
        auto dn = dn_for(mem, files_.stamps, kind, name);
        if (!dn) return std::move(dn).error();
        auto message = [&](int flags) -> ldb_message * {
            ldb_message *msg = ldb_msg_new(mem);
            if (msg == nullptr) return nullptr;
            msg->dn = *dn;
            for (const auto &[name_of_attr, value] : values) {
                ldb_message_element *el = nullptr;
                char *text = talloc_asprintf(msg, "%lld", static_cast<long long>(value));
                if (text == nullptr || ldb_msg_add_empty(msg, name_of_attr, flags, &el) != LDB_SUCCESS ||
                    ldb_msg_add_string(msg, name_of_attr, text) != LDB_SUCCESS)
                    return nullptr;
            }
            return msg;
        };
        auto replace = [&]() -> int {
            ldb_message *msg = message(LDB_FLAG_MOD_REPLACE);
            return msg == nullptr ? LDB_ERR_OPERATIONS_ERROR : ldb_modify(files_.stamps, msg);
        };
        auto add = [&]() -> int {
            ldb_message *msg = message(0);
            return msg == nullptr ? LDB_ERR_OPERATIONS_ERROR : ldb_add(files_.stamps, msg);
        };
        int ret;
        if (existed == Existed::no) {
            ret = add();
            if (ret == LDB_ERR_ENTRY_ALREADY_EXISTS) ret = replace();
        } else {
            ret = replace();
            if (ret == LDB_ERR_NO_SUCH_OBJECT) ret = add();
        }
        if (ret != LDB_SUCCESS) return ldb_failure(files_.stamps, "cannot write the timestamps of " + dn_text(*dn));
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
    Changes &changes_;
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
    Changes changes;
    Writer writer(Files{entries_.raw(), stamps_.raw()}, mem.get(), changes);
    if (Status st = steps(writer); !st) return st;
    if (Status st = entries_tx->commit(); !st) return st;
    Status st = stamps_tx->commit(); // the entries changed, whatever this says
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
