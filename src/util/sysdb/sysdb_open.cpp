// Opening the cache files: format version, first-time layout, and moving
// aside what cannot be used (the cache is disposable; see sysdb.hpp).
#include "util/sysdb/sysdb.hpp"

#include "util/ldb_c.hpp"
#include "util/log.hpp"
#include "util/sysdb/layout.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <ctime>
#include <sys/random.h>
#include <sys/stat.h>
#include <tdb.h>
#include <unistd.h>

namespace vigil::sysdb {
namespace {

enum class Contents { empty, current, other };

// What a file ldb could open holds: nothing yet, our current format, or
// anything else (another version, another program's data).
Result<Contents> inspect(const LdbFile &file, std::string &why)
{
    TallocPtr<void> mem(talloc_new(nullptr));
    ldb_context *ldb = file.raw();
    ldb_result *res = nullptr;
    ldb_dn *root = ldb_dn_new(mem.get(), ldb, layout::root_dn);
    int ret = ldb_search(ldb, mem.get(), &res, root, LDB_SCOPE_BASE, nullptr, nullptr);
    if (ret == LDB_SUCCESS && res->count == 1) {
        std::int64_t version = layout::find_int(res->msgs[0], layout::attr::version, -1);
        if (version == Sysdb::format_version) return Contents::current;
        why = "format version " + std::to_string(version) + ", this vigil knows " +
              std::to_string(Sysdb::format_version);
        return Contents::other;
    }
    if (ret != LDB_SUCCESS && ret != LDB_ERR_NO_SUCH_OBJECT) {
        return Error{Errc::io, "cannot read " + file.path() + ": " + file.last_error()};
    }
    const char *no_attrs[] = {nullptr};
    ret = ldb_search(ldb, mem.get(), &res, nullptr, LDB_SCOPE_SUBTREE, no_attrs, nullptr);
    if (ret != LDB_SUCCESS) return Error{Errc::io, "cannot read " + file.path() + ": " + file.last_error()};
    if (res->count == 0) return Contents::empty;
    why = "no format version record (not a vigil cache)";
    return Contents::other;
}

Status add_skeleton_entry(ldb_context *ldb, TALLOC_CTX *mem, const char *dn,
                          const std::vector<std::pair<const char *, std::string>> &attrs)
{
    ldb_message *msg = ldb_msg_new(mem);
    if (msg == nullptr || (msg->dn = ldb_dn_new(msg, ldb, dn)) == nullptr) return Error{Errc::internal, "out of memory"};
    for (const auto &[name, value] : attrs) {
        if (ldb_msg_add_string(msg, name, talloc_strdup(msg, value.c_str())) != LDB_SUCCESS)
            return Error{Errc::internal, "out of memory"};
    }
    if (ldb_add(ldb, msg) != LDB_SUCCESS) {
        return Error{Errc::io, std::string("cannot add ") + dn + ": " + ldb_errstring(ldb)};
    }
    return {};
}

// The entries file's skeleton, and the indexes every lookup uses: by name
// (the DN), uid, gid, member and nested member.
Status initialise(const LdbFile &file)
{
    TallocPtr<void> mem(talloc_new(nullptr));
    auto tx = file.begin();
    if (!tx) return std::move(tx).error();
    ldb_context *ldb = file.raw();
    using namespace layout;
    {
        ldb_message *msg = ldb_msg_new(mem.get());
        if (msg == nullptr || (msg->dn = ldb_dn_new(msg, ldb, "@INDEXLIST")) == nullptr)
            return Error{Errc::internal, "out of memory"};
        for (const char *indexed : {attr::uid, attr::gid, attr::member, attr::member_group}) {
            if (ldb_msg_add_string(msg, "@IDXATTR", indexed) != LDB_SUCCESS) return Error{Errc::internal, "out of memory"};
        }
        if (ldb_add(ldb, msg) != LDB_SUCCESS)
            return Error{Errc::io, "cannot add @INDEXLIST to " + file.path() + ": " + file.last_error()};
    }
    Status st = add_skeleton_entry(ldb, mem.get(), root_dn, {{attr::version, std::to_string(Sysdb::format_version)}});
    if (st) st = add_skeleton_entry(ldb, mem.get(), users_dn, {});
    if (st) st = add_skeleton_entry(ldb, mem.get(), groups_dn, {});
    if (!st) return st;
    return tx->commit();
}

std::string moved_aside_name(const std::string &path)
{
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    std::string base = path + ".moved-" + stamp;
    std::string candidate = base;
    struct stat st;
    for (int n = 2; lstat(candidate.c_str(), &st) == 0; ++n) candidate = base + "-" + std::to_string(n);
    return candidate;
}

Status move_aside(const std::string &path, const std::string &why)
{
    std::string aside = moved_aside_name(path);
    if (rename(path.c_str(), aside.c_str()) != 0) {
        if (errno == ENOENT) return {};
        return sys_error("cannot move the unusable cache " + path + " (" + why + ") aside to " + aside, errno);
    }
    VLOG(error, "cache %s is unusable (%s): moved aside to %s, starting with an empty cache", path.c_str(),
         why.c_str(), aside.c_str());
    return {};
}

// tdb, asked to create, silently reinitialises a file whose header it does
// not recognise: check it first, so a damaged cache is kept for a post-mortem.
// Empty when the file is missing, empty, a tdb or unreadable; otherwise why
// it is not a tdb.
std::string not_a_tdb(const std::string &path)
{
    static constexpr std::string_view magic = "TDB file\n";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return ""; // missing, or a failure ldb will report when it opens it
    char head[magic.size()];
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    if (got == 0) return "";
    if (got == static_cast<ssize_t>(sizeof head) && std::string_view(head, sizeof head) == magic) return "";
    return "no tdb header";
}

// tdb files keep the hash table size they were created with, and ldb always
// creates them with 10,000 chains: with 100,000 users (and their index
// records) every lookup walks a chain of ~20 records, and a miss costs 4x a
// hit. Creating the file first with more chains keeps lookups flat (see
// doc/cache.md, Performance). ~400 KiB of hash table per file.
constexpr int tdb_hash_chains = 100003;

Status create_sized_tdb(const std::string &path)
{
    tdb_context *tdb = tdb_open(path.c_str(), tdb_hash_chains, TDB_DEFAULT, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (tdb == nullptr) {
        if (errno == EEXIST) return {};
        return sys_error("cannot create " + path, errno);
    }
    tdb_close(tdb);
    return {};
}

// Opens one file; the writer repairs it (moves it aside once and starts
// empty), the reader only reports. `rebuilt` says the writer started afresh.
Result<LdbFile> open_file(const std::string &path, Sysdb::Role role, bool &rebuilt)
{
    bool writer = role == Sysdb::Role::writer;
    auto access = writer ? LdbFile::Access::read_write : LdbFile::Access::read_only;
    rebuilt = false;
    for (int attempt = 0;; ++attempt) {
        // A file we may not open is not a damaged one: say so, do not move it.
        if (::access(path.c_str(), writer ? R_OK | W_OK : R_OK) != 0 && errno == EACCES)
            return Error{Errc::permission, "cache " + path + ": " + strerror(EACCES) + " (run as its owner)"};
        std::string why = writer ? not_a_tdb(path) : "";
        if (!why.empty()) {
            if (attempt > 0) return Error{Errc::io, "cache " + path + " is still unusable after a rebuild: " + why};
            if (Status st = move_aside(path, why); !st) return std::move(st).error();
            continue;
        }
        struct stat existing;
        if (writer && lstat(path.c_str(), &existing) != 0 && errno == ENOENT) {
            if (Status created = create_sized_tdb(path); !created) return std::move(created).error();
        }
        auto file = LdbFile::open(path, access, LdbFile::Sync::durable);
        // Also tightens a file left with a wider mode by hand or an old version.
        if (file && writer && chmod(path.c_str(), 0600) != 0) return sys_error("chmod 0600 " + path, errno);
        Result<Contents> contents = file ? inspect(*file, why) : Result<Contents>(file.error());
        if (!contents) why = contents.error().message;
        if (contents && *contents == Contents::current) return std::move(*file);
        if (contents && *contents == Contents::empty && writer) {
            Status st = initialise(*file);
            if (!st) return std::move(st).error();
            rebuilt = true;
            return std::move(*file);
        }
        if (!writer) {
            if (contents && *contents == Contents::empty) why = "not initialised yet";
            return Error{Errc::unavailable, "cache " + path + " cannot be used (" + why + "); vigil_be rebuilds it"};
        }
        if (attempt > 0) return Error{Errc::io, "cache " + path + " is still unusable after a rebuild: " + why};
        if (file) file = Error{Errc::internal, "closed"}; // close before the rename
        Status st = move_aside(path, why);
        if (!st) return std::move(st).error();
    }
}

// The timestamps file (stamp_file.hpp): the same repair rules as open_file.
Result<StampFile> open_stamps(const std::string &path, Sysdb::Role role)
{
    bool writer = role == Sysdb::Role::writer;
    for (int attempt = 0;; ++attempt) {
        if (::access(path.c_str(), writer ? R_OK | W_OK : R_OK) != 0 && errno == EACCES)
            return Error{Errc::permission, "cache " + path + ": " + strerror(EACCES) + " (run as its owner)"};
        std::string why = writer ? not_a_tdb(path) : "";
        if (why.empty()) {
            auto file = StampFile::open(path, writer ? StampFile::Access::read_write : StampFile::Access::read_only);
            if (!file) {
                if (!writer || attempt > 0) return std::move(file).error();
                why = file.error().message;
            } else {
                if (writer && chmod(path.c_str(), 0600) != 0) return sys_error("chmod 0600 " + path, errno);
                if (file->state() == StampFile::State::current) return std::move(*file);
                if (file->state() == StampFile::State::empty && writer) {
                    if (Status st = file->initialise(); !st) return std::move(st).error();
                    return std::move(*file);
                }
                why = file->state() == StampFile::State::empty ? "not initialised yet" : file->why();
                if (!writer) return Error{Errc::unavailable, "cache " + path + " cannot be used (" + why + "); vigil_be rebuilds it"};
            } // the file is closed here, before the rename
        }
        if (attempt > 0) return Error{Errc::io, "cache " + path + " is still unusable after a rebuild: " + why};
        if (Status st = move_aside(path, why); !st) return std::move(st).error();
    }
}

// The digest key in the entries file's root entry; the writer adds one if
// there is none (a cache from before it, or a new one).
Result<SipHash128::Key> read_digest_key(const LdbFile &file)
{
    TallocPtr<void> mem(talloc_new(nullptr));
    ldb_context *ldb = file.raw();
    ldb_dn *root = ldb_dn_new(mem.get(), ldb, layout::root_dn);
    ldb_result *res = nullptr;
    const char *attrs[] = {layout::attr::digest_key, nullptr};
    if (root == nullptr || ldb_search(ldb, mem.get(), &res, root, LDB_SCOPE_BASE, attrs, nullptr) != LDB_SUCCESS ||
        res->count != 1)
        return Error{Errc::io, "cannot read the root entry of " + file.path() + ": " + file.last_error()};
    SipHash128::Key key{};
    std::string hex = ldb_msg_find_attr_as_string(res->msgs[0], layout::attr::digest_key, "");
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    if (hex.size() == 2 * key.size() && hex.find_first_not_of("0123456789abcdef") == std::string::npos) {
        for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
        return key;
    }
    for (std::size_t have = 0; have < key.size();) {
        ssize_t got = getrandom(key.data() + have, key.size() - have, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return sys_error("getrandom for the cache's digest key", errno);
        have += static_cast<std::size_t>(got);
    }
    hex.clear();
    static constexpr char digits[] = "0123456789abcdef";
    for (std::uint8_t b : key) {
        hex.push_back(digits[b >> 4]);
        hex.push_back(digits[b & 15]);
    }
    auto tx = file.begin();
    if (!tx) return std::move(tx).error();
    ldb_message *msg = ldb_msg_new(mem.get());
    ldb_message_element *el = nullptr;
    if (msg == nullptr || (msg->dn = root) == nullptr ||
        ldb_msg_add_empty(msg, layout::attr::digest_key, LDB_FLAG_MOD_REPLACE, &el) != LDB_SUCCESS ||
        ldb_msg_add_string(msg, layout::attr::digest_key, talloc_strdup(msg, hex.c_str())) != LDB_SUCCESS)
        return Error{Errc::internal, "out of memory"};
    if (ldb_modify(ldb, msg) != LDB_SUCCESS)
        return Error{Errc::io, "cannot store the digest key in " + file.path() + ": " + file.last_error()};
    if (Status st = tx->commit(); !st) return std::move(st).error();
    return key;
}

} // namespace

SysdbPaths SysdbPaths::for_domain(const std::string &state_dir, const std::string &domain)
{
    return {state_dir + "/db/cache_" + domain + ".ldb", state_dir + "/db/timestamps_" + domain + ".tdb"};
}

Result<Sysdb> Sysdb::open(const SysdbPaths &paths, Role role)
{
    if (role == Role::writer) {
        std::string dir = paths.entries.substr(0, paths.entries.find_last_of('/'));
        if (!dir.empty() && dir != paths.entries && mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
            return sys_error("cannot create the cache directory " + dir, errno);
    }
    bool rebuilt = false;
    auto entries = open_file(paths.entries, role, rebuilt);
    if (!entries) return std::move(entries).error();
    // Timestamps of entries that are gone would only be noise: start them afresh too.
    if (rebuilt && unlink(paths.timestamps.c_str()) != 0 && errno != ENOENT)
        return sys_error("cannot remove the old timestamps " + paths.timestamps, errno);
    if (role == Role::writer) {
        // Before format 2 the timestamps were an ldb file: nothing in it is worth keeping.
        const std::string &now = paths.timestamps;
        std::string old = now.ends_with(".tdb") ? now.substr(0, now.size() - 4) + ".ldb" : "";
        if (!old.empty() && unlink(old.c_str()) == 0)
            VLOG(config, "removed %s: the timestamps now live in %s", old.c_str(), paths.timestamps.c_str());
    }
    SipHash128::Key key{};
    if (role == Role::writer) {
        auto found = read_digest_key(*entries);
        if (!found) return std::move(found).error();
        key = *found;
    }
    auto stamps = open_stamps(paths.timestamps, role);
    if (!stamps) return std::move(stamps).error();
    Sysdb db(std::move(*entries), std::move(*stamps), paths, role);
    db.digest_key_ = key;
    return db;
}

Sysdb::FileId Sysdb::file_id(const std::string &path)
{
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return {};
    return {static_cast<unsigned long long>(st.st_dev), static_cast<unsigned long long>(st.st_ino)};
}

Result<bool> Sysdb::reopen_if_replaced()
{
    if (file_id(paths_.entries) == entries_id_ && file_id(paths_.timestamps) == stamps_id_) return false;
    auto fresh = open(paths_, role_);
    if (!fresh) return std::move(fresh).error();
    VLOG(config, "cache %s was replaced on disk: reopened", paths_.entries.c_str());
    auto on_commit = std::move(on_commit_);
    *this = std::move(*fresh);
    on_commit_ = std::move(on_commit);
    return true;
}

} // namespace vigil::sysdb
