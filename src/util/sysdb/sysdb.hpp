// sysdb: the per-domain identity cache. vigil_be writes what the directory
// answered; vigil_nss (and the other responders) read it. doc/cache.md
// describes the files, the layout and the rules; in short:
//
// - Two files under state_dir/db, both 0600:
//     cache_DOMAIN.ldb       the entries (ldb), written durably;
//     timestamps_DOMAIN.tdb  lastUpdate/dataExpireTimestamp per entry (a tdb of
//                            fixed records, stamp_file.hpp), no fsync: losing it
//                            only makes entries read as expired.
//   Storing a record equal to the cached one rewrites only its timestamps,
//   so refreshing an unchanged 10,000-member group does not rewrite the group;
//   a changed group is written as a diff (members added and removed).
// - Each file carries a format version. The writer (vigil_be) moves a file
//   it cannot open, or whose version it does not know, aside (renamed
//   FILE.moved-YYYYmmddTHHMMSSZ, logged at level error) and starts empty: the
//   cache is disposable and never stops vigil from starting. A reader reports
//   such a file as Errc::unavailable and leaves it alone.
// - Names match exactly (case-sensitive, sssd's case_sensitive = true).
// - A stored user whose uid another cached name holds replaces that user
//   (the directory's newest answer wins: a rename); the same for groups by gid.
// - A Sysdb belongs to one thread (ldb handles are not thread-safe); each
//   process opens its own. Any number of processes may open the same files.
// - Every write is one transaction; a transaction never awaits (synchronous API).
//   A refused record (records.hpp validate()) fails the whole write with
//   Errc::invalid_argument and leaves the cache as it was.
#pragma once

#include "util/result.hpp"
#include "util/siphash.hpp"
#include "util/sysdb/ldb_file.hpp"
#include "util/sysdb/records.hpp"
#include "util/sysdb/stamp_file.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vigil::sysdb {

template <class Record>
struct Cached {
    Record record;
    Timestamps timestamps;
};
using CachedUser = Cached<User>;
using CachedGroup = Cached<Group>;

// The answer to initgroups: the gids and when the directory last answered
// initgroups for this user (store_initgroups), which is apart from when the
// user entry itself was refreshed.
struct Initgroups {
    std::vector<std::uint32_t> gids; // the primary gid first (unless 0), then ascending; each once
    Timestamps timestamps;
};

// What one committed write touched: each user or group written, expired or
// removed, by name, with its id now and, if the write moved it, before. Past
// `limit` entries (an enumeration batch, expire_all) only "everything".
// `timestamps_only`: the write changed that entry's timestamps and nothing
// else (an unchanged refresh, an expiry), so what a responder formatted from
// the entry still holds; `only_timestamps`: true of every change of the write.
struct Changes {
    struct Entry {
        bool user = true; // else a group
        std::string name;
        std::uint32_t id = 0;     // 0: not known (expired or removed by name)
        std::uint32_t old_id = 0; // the id it had before, if another
        bool timestamps_only = false;
    };
    static constexpr std::size_t limit = 1024;
    std::vector<Entry> entries;
    bool everything = false;
    bool only_timestamps = true;

    void add(bool user, const std::string &name, std::uint32_t id = 0, std::uint32_t old_id = 0,
             bool timestamps_only = false)
    {
        only_timestamps = only_timestamps && timestamps_only;
        if (everything) return;
        if (entries.size() >= limit) {
            set_everything();
            return;
        }
        entries.push_back({user, name, id, old_id == id ? 0 : old_id, timestamps_only});
    }
    void set_everything()
    {
        everything = true;
        entries.clear();
    }
};

// The last online answer of the access provider's ldap_access_filter for a
// user (providers/access): offline, acct_mgmt goes by it. Kept in the user's
// timestamps record, so that a refresh of the entry leaves it alone; losing
// that file loses it, and offline logins are then denied until the next
// online check (it fails closed).
struct AccessFilterMemo {
    bool allowed = false;
    std::int64_t checked_at = 0;   // wall clock of the directory's answer
    std::uint64_t filter_hash = 0; // which filter it answered (a changed filter is not answered by it)
    bool operator==(const AccessFilterMemo &) const = default;
};

// Cached entries a write will compare the directory's answer with, read
// ahead of it: vigil_be reads them while the directory is still searching,
// so that the read is off a cold lookup's path (1 ms for the 500 groups of
// an initgroups, 0.5 ms for a 10,000-member group). A write uses them only
// if no write changed an entry since they were read (else it reads again);
// they are copies, so they stay valid to hold whatever happens meanwhile.
class Prefetch {
public:
    Prefetch();
    ~Prefetch();
    Prefetch(Prefetch &&) noexcept;
    Prefetch &operator=(Prefetch &&) noexcept;

    // A group read ahead; the views are valid while this Prefetch lives.
    struct Group {
        std::string_view name, original_dn, source_digest;
        std::uint32_t gid = 0;
    };
    // The one group read ahead, if exactly one (prefetch_group and
    // prefetch_group_by_gid).
    std::optional<Group> single_group() const;
    // Every group read ahead, by name.
    std::vector<Group> groups() const;

private:
    friend class Sysdb;
    struct Data;
    std::unique_ptr<Data> data_;
};

struct SysdbPaths {
    std::string entries;    // state_dir/db/cache_DOMAIN.ldb
    std::string timestamps; // state_dir/db/timestamps_DOMAIN.tdb

    static SysdbPaths for_domain(const std::string &state_dir, const std::string &domain);
};

class Sysdb {
public:
    static constexpr int format_version = 1;

    enum class Role {
        writer, // vigil_be: creates the files, repairs them, writes
        reader, // responders, vigilctl: read-only, never touches the files
    };

    // The writer also creates state_dir/db (0700) if it is missing.
    static Result<Sysdb> open(const SysdbPaths &paths, Role role);

    // Reads: the record and its timestamps, or nullopt when not cached.
    Result<std::optional<CachedUser>> user_by_name(const std::string &name) const;
    Result<std::optional<CachedUser>> user_by_uid(std::uint32_t uid) const;
    Result<std::optional<CachedGroup>> group_by_name(const std::string &name) const;
    Result<std::optional<CachedGroup>> group_by_gid(std::uint32_t gid) const;

    // initgroups: `primary_gid`, the groups listing `user` as a member, and
    // transitively the groups whose member_groups name one of those. Reads
    // only the cache as it is now, so the answer never depends on earlier
    // lookups; cycles are walked once.
    Result<Initgroups> groups_of_user(const std::string &user, std::uint32_t primary_gid) const;

    // The timestamps alone, from the timestamps file (the entry is not read):
    // for a caller that wants the entry only while it is fresh, e.g. a
    // responder that asks the provider anyway when it is expired, and reads
    // a large group once, after the refresh. {0, 0} (expired) when there is
    // no record; a record does not prove that the entry is cached.
    Result<Timestamps> user_timestamps(const std::string &name) const;
    Result<Timestamps> group_timestamps(const std::string &name) const;
    Result<Timestamps> initgroups_timestamps(const std::string &user) const; // groups_of_user's

    // nullopt: never checked online, or the user is not cached.
    Result<std::optional<AccessFilterMemo>> access_filter_memo(const std::string &user) const;

    // Enumeration, sorted by name.
    Result<std::vector<CachedUser>> all_users() const;
    Result<std::vector<CachedGroup>> all_groups() const;

    // Writes, each one transaction. `ts` comes from the provider (it adds the
    // jitter to expires_at).
    Status store_user(const User &user, const Timestamps &ts);
    Status store_group(const Group &group, const Timestamps &ts);
    // A page of a directory answer (enumeration, a paged search) in one
    // transaction: all stored, or none if one is refused.
    Status store_users(const std::vector<User> &users, const Timestamps &ts);
    Status store_groups(const std::vector<Group> &groups, const Timestamps &ts);
    // A user and all its groups from one directory answer. Also drops `user`
    // from cached groups that still list it but were not in the answer (the
    // user left them), and records `ts` as the user's initgroups timestamps.
    Status store_initgroups(const User &user, const std::vector<Group> &groups, const Timestamps &ts);

    // Reads ahead what store_group / store_initgroups will compare with
    // (Prefetch above); the writes with `ahead` behave exactly as without.
    Result<Prefetch> prefetch_group(const std::string &name) const;
    Result<Prefetch> prefetch_group_by_gid(std::uint32_t gid) const;
    Result<Prefetch> prefetch_groups_listing(const std::string &user) const; // for store_initgroups(user, ...)
    Status store_group(const Group &group, const Timestamps &ts, const Prefetch &ahead);
    // The directory's entry of group `name` is the one its cached record
    // was made from (the provider compared Group::source_digest with
    // `ahead`'s): only its timestamps are written. False, writing nothing,
    // when `ahead` is no longer what the cache holds or has no `name`:
    // then the caller stores the record as usual.
    Result<bool> refresh_unchanged_group(const std::string &name, const Timestamps &ts, const Prefetch &ahead);
    Status store_initgroups(const User &user, const std::vector<Group> &groups, const Timestamps &ts,
                            const Prefetch &ahead);
    // The same, where `unchanged` names more groups of the answer: groups of
    // `ahead` whose directory entries are the ones their cached records were
    // made from (the provider compared DN and source_digest), of which only
    // the timestamps are written. `ahead` must be current() and hold each
    // of them: else Errc::invalid_argument, and nothing is written.
    Status store_initgroups(const User &user, const std::vector<Group> &groups,
                            const std::vector<std::string> &unchanged, const Timestamps &ts, const Prefetch &ahead);
    // `ahead` is still what the cache holds (no entry written since it was
    // read): a write given it uses it. Nothing else runs in vigil_be's
    // thread between this and a write, so it stays true until then.
    bool current(const Prefetch &ahead) const { return still_valid(&ahead) != nullptr; }

    // Errc::not_found when `user` is not cached.
    Status store_access_filter_memo(const std::string &user, const AccessFilterMemo &memo);

    // Deleting what is not cached succeeds: the cache ends as asked.
    Status delete_user(const std::string &name);
    Status delete_group(const std::string &name);

    // Mark expired (expires_at = 0) without deleting: the next lookup asks the
    // directory, and an offline lookup still finds the entry. Not cached: no-op.
    Status expire_user(const std::string &name); // the entry and its initgroups
    Status expire_group(const std::string &name);
    Status expire_all();

    // The entries file's ldb sequence number: it grows with every write to
    // an entry (not with timestamp-only refreshes), so it shows whether a
    // refresh rewrote anything, and a responder's in-memory copies of
    // formatted answers stay valid while it does not move.
    Result<std::uint64_t> entries_sequence_number() const;

    // How many writes of this handle committed a transaction on the entries
    // file (the durable one): a write that changes no entry (an unchanged
    // refresh) commits only the timestamps and does not count.
    std::uint64_t durable_commits() const noexcept { return durable_commits_; }

    // A reader keeps the file it opened; when the writer has moved it aside
    // and started a new one, this opens the new one (true) — a stat(2), cheap
    // enough to call before each request. False: still the same file.
    Result<bool> reopen_if_replaced();

    const SysdbPaths &paths() const noexcept { return paths_; }

    // The writer's secret key for digests of directory answers
    // (Group::source_digest), kept in the entries file's root entry and
    // made at random when it is new: digests written with it stay valid
    // with the entries, and cannot be forged by anyone without the file.
    const SipHash128::Key &digest_key() const noexcept { return digest_key_; }

    // Runs after every committed write, in the writer, with what it touched:
    // vigil_be tells the responders which in-memory copies of formatted
    // answers are out of date. One callback; setting another replaces it.
    void on_commit(std::function<void(const Changes &)> callback) { on_commit_ = std::move(callback); }

private:
    struct FileId {
        unsigned long long device = 0, inode = 0;
        bool operator==(const FileId &) const = default;
    };
    static FileId file_id(const std::string &path);

    Sysdb(LdbFile entries, StampFile stamps, SysdbPaths paths, Role role)
        : entries_(std::move(entries)), stamps_(std::move(stamps)), paths_(std::move(paths)), role_(role),
          entries_id_(file_id(paths_.entries)), stamps_id_(file_id(paths_.timestamps)) {}

    class Writer; // sysdb.cpp: the steps one write transaction is made of
    // Runs `steps` in one transaction over both files, committed only if
    // every step succeeded.
    // An empty read-ahead of the cache as it is now.
    Result<Prefetch::Data *> start_prefetch(Prefetch &ahead) const;
    // `ahead`'s data if it is still what the cache holds, else null.
    const Prefetch::Data *still_valid(const Prefetch *ahead) const;
    // `ahead`: read ahead for this write (used if still valid).
    Status write(const std::function<Status(Writer &)> &steps, const Prefetch *ahead = nullptr);

    LdbFile entries_;
    StampFile stamps_;
    SysdbPaths paths_;
    Role role_;
    FileId entries_id_; // which files entries_ and stamps_ are, to notice a replacement
    FileId stamps_id_;
    std::function<void(const Changes &)> on_commit_;
    std::uint64_t durable_commits_ = 0;
    SipHash128::Key digest_key_{};
};

} // namespace vigil::sysdb
