// sysdb: the identity cache the provider writes and the responders read.
#include "common.hpp"
#include "util/sysdb/stamp_file.hpp"
#include "util/sysdb/sysdb.hpp"

#include "util/ldb.hpp"
#include "util/ldb_c.hpp"

#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <optional>
#include <set>
#include <sys/wait.h>
#include <tdb.h>
#include <unistd.h>

using vigil::Errc;
using namespace vigil::sysdb;
using vigil::SipHash128;

namespace {

constexpr std::int64_t now = 1'700'000'000;
const Timestamps fresh_ts{now, now + 5400};

User alice()
{
    User u;
    u.name = "alice";
    u.uid = 10001;
    u.gid = 20001;
    u.gecos = "Alice Liddell";
    u.home = "/home/alice";
    u.shell = "/bin/bash";
    u.original_dn = "uid=alice,ou=people,dc=example,dc=com";
    u.modify_stamp = "20261123110000Z";
    u.extra = {{"shadowLastChange", {"19000"}}, {"shadowMax", {"99999"}}};
    return u;
}

User user(const std::string &name, std::uint32_t uid, std::uint32_t gid = 20001)
{
    User u;
    u.name = name;
    u.uid = uid;
    u.gid = gid;
    u.home = "/home/" + name;
    u.shell = "/bin/sh";
    return u;
}

Group group(const std::string &name, std::uint32_t gid, std::vector<std::string> members = {},
            std::vector<std::string> member_groups = {})
{
    Group g;
    g.name = name;
    g.gid = gid;
    g.members = std::move(members);
    g.member_groups = std::move(member_groups);
    g.original_dn = "cn=" + name + ",ou=groups,dc=example,dc=com";
    g.modify_stamp = "20261123110000Z";
    return g;
}

Sysdb open_writer(const test::TempDir &dir, const std::string &domain = "LDAP")
{
    auto db = Sysdb::open(SysdbPaths::for_domain(dir.path(), domain), Sysdb::Role::writer);
    if (!db) print_error("%s\n", db.error().message.c_str());
    assert_true(db.ok());
    return std::move(*db);
}

void assert_ok(const vigil::Status &st)
{
    if (!st) print_error("%s\n", st.error().message.c_str());
    assert_true(st.ok());
}

void assert_refused(const vigil::Status &st, const char *message)
{
    assert_false(st.ok());
    assert_int_equal(static_cast<int>(st.error().code), static_cast<int>(Errc::invalid_argument));
    assert_string_equal(st.error().message.c_str(), message);
}

// A reader of the cache in `dir` refuses to open it (unavailable), saying `why`.
void assert_reader_refused(const test::TempDir &dir, const char *why)
{
    auto reader = Sysdb::open(SysdbPaths::for_domain(dir.path(), "LDAP"), Sysdb::Role::reader);
    assert_false(reader.ok());
    assert_int_equal(static_cast<int>(reader.error().code), static_cast<int>(Errc::unavailable));
    if (strstr(reader.error().message.c_str(), why) == nullptr) print_error("got: %s\n", reader.error().message.c_str());
    assert_non_null(strstr(reader.error().message.c_str(), why));
}

std::vector<std::string> files_in(const std::string &dir)
{
    std::vector<std::string> names;
    DIR *d = opendir(dir.c_str());
    assert_non_null(d);
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<std::uint32_t> gids(const Sysdb &db, const std::string &name, std::uint32_t primary)
{
    auto answer = db.groups_of_user(name, primary);
    assert_true(answer.ok());
    return answer->gids;
}

// ------------------------------------------------------------ round trips

void user_round_trips_with_its_timestamps(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(alice(), fresh_ts));
    auto found = db.user_by_name("alice");
    assert_true(found.ok() && found->has_value());
    assert_true((*found)->record == alice());
    assert_true((*found)->timestamps == fresh_ts);
}

void user_with_empty_fields_round_trips(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    User bare = user("bare", 10002);
    bare.home.clear();
    bare.shell.clear();
    assert_ok(db.store_user(bare, fresh_ts));
    auto found = db.user_by_name("bare");
    assert_true(found.ok() && found->has_value());
    assert_true((*found)->record == bare);
}

void group_round_trips_with_members_and_nested_groups(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    Group devs = group("devs", 30001, {"bob", "alice", "alice"}, {"ops"});
    assert_ok(db.store_group(devs, fresh_ts));
    auto found = db.group_by_name("devs");
    assert_true(found.ok() && found->has_value());
    // Stored normalised: members sorted, the duplicate once.
    assert_true((*found)->record == normalised(devs));
    assert_int_equal((*found)->record.members.size(), 2);
    assert_true((*found)->timestamps == fresh_ts);
}

void lookups_by_id_find_the_same_records(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(alice(), fresh_ts));
    assert_ok(db.store_group(group("devs", 30001, {"alice"}), fresh_ts));
    auto by_uid = db.user_by_uid(10001);
    assert_true(by_uid.ok() && by_uid->has_value());
    assert_true((*by_uid)->record == alice());
    auto by_gid = db.group_by_gid(30001);
    assert_true(by_gid.ok() && by_gid->has_value());
    assert_string_equal((*by_gid)->record.name.c_str(), "devs");
    // A user's primary gid is not a group: gid lookups find groups only.
    auto primary = db.group_by_gid(20001);
    assert_true(primary.ok() && !primary->has_value());
}

void uncached_records_read_as_nothing(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    for (auto r : {db.user_by_name("nobody"), db.user_by_uid(4242), db.user_by_name("")}) assert_true(r.ok() && !r->has_value());
    for (auto r : {db.group_by_name("nogroup"), db.group_by_gid(4242)}) assert_true(r.ok() && !r->has_value());
}

void store_initgroups_stores_the_user_and_its_groups(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_initgroups(alice(), {group("devs", 30001, {"alice"}), group("web", 30002, {"alice", "bob"})},
                                  fresh_ts));
    auto u = db.user_by_name("alice");
    assert_true(u.ok() && u->has_value());
    auto answer = db.groups_of_user("alice", 20001);
    assert_true(answer.ok());
    assert_true(answer->gids == (std::vector<std::uint32_t>{20001, 30001, 30002}));
    assert_true(answer->timestamps == fresh_ts);
}

void initgroups_timestamps_are_apart_from_the_users(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(alice(), fresh_ts));
    auto answer = db.groups_of_user("alice", 20001);
    assert_true(answer.ok());
    // getpwnam refreshed the user; initgroups was never asked: expired.
    assert_true(answer->timestamps == Timestamps{});
}

void store_initgroups_drops_groups_the_user_left(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_initgroups(alice(), {group("devs", 30001, {"alice"}), group("web", 30002, {"alice", "bob"})},
                                  fresh_ts));
    assert_ok(db.store_initgroups(alice(), {group("devs", 30001, {"alice"})}, fresh_ts));
    assert_true(gids(db, "alice", 20001) == (std::vector<std::uint32_t>{20001, 30001}));
    auto web = db.group_by_name("web");
    assert_true(web.ok() && web->has_value());
    assert_true((*web)->record.members == std::vector<std::string>{"bob"});
}

void enumeration_lists_every_record_sorted_by_name(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(user("carol", 10003), fresh_ts));
    assert_ok(db.store_user(alice(), fresh_ts));
    assert_ok(db.store_group(group("web", 30002), fresh_ts));
    assert_ok(db.store_group(group("devs", 30001), fresh_ts));
    auto users = db.all_users();
    assert_true(users.ok());
    assert_int_equal(users->size(), 2);
    assert_string_equal((*users)[0].record.name.c_str(), "alice");
    assert_true((*users)[0].record == alice());
    assert_true((*users)[1].timestamps == fresh_ts);
    auto groups = db.all_groups();
    assert_true(groups.ok());
    assert_int_equal(groups->size(), 2);
    assert_string_equal((*groups)[0].record.name.c_str(), "devs");
    assert_string_equal((*groups)[1].record.name.c_str(), "web");
}

void reader_sees_what_the_writer_stored(void **)
{
    test::TempDir dir;
    Sysdb writer = open_writer(dir);
    assert_ok(writer.store_user(alice(), fresh_ts));
    auto reader = Sysdb::open(SysdbPaths::for_domain(dir.path(), "LDAP"), Sysdb::Role::reader);
    assert_true(reader.ok());
    auto found = reader->user_by_name("alice");
    assert_true(found.ok() && found->has_value());
    assert_ok(writer.store_user(user("bob", 10002), fresh_ts));
    auto later = reader->user_by_uid(10002);
    assert_true(later.ok() && later->has_value());
    assert_false(reader->store_user(user("carol", 10003), fresh_ts).ok());
}

// ------------------------------------------------------------ files

void cache_files_are_created_0600(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    struct stat st;
    for (const std::string &path : {db.paths().entries, db.paths().timestamps}) {
        assert_int_equal(stat(path.c_str(), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
    }
    assert_string_equal(db.paths().entries.c_str(), (dir / "db/cache_LDAP.ldb").c_str());
    assert_int_equal(stat((dir / "db").c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
}

void cache_files_are_created_with_a_hash_table_for_100k_entries(void **)
{
    test::TempDir dir;
    SysdbPaths paths;
    {
        Sysdb db = open_writer(dir); // tdb opens a file once per process: close it first
        paths = db.paths();
    }
    for (const std::string &path : {paths.entries, paths.timestamps}) {
        tdb_context *tdb = tdb_open(path.c_str(), 0, TDB_DEFAULT, O_RDONLY, 0);
        assert_non_null(tdb);
        assert_true(tdb_hash_size(tdb) >= 100000); // ldb's own default is 10,000
        tdb_close(tdb);
    }
}

void unknown_format_version_is_moved_aside_and_rebuilt(void **)
{
    test::TempDir dir;
    { Sysdb db = open_writer(dir); assert_ok(db.store_user(alice(), fresh_ts)); }
    {
        auto raw = vigil::Ldb::open(dir / "db/cache_LDAP.ldb", vigil::Ldb::Mode::read_write);
        assert_true(raw.ok());
        ldb_message *msg = ldb_msg_new(nullptr);
        msg->dn = ldb_dn_new(msg, raw->raw(), "cn=sysdb");
        assert_int_equal(ldb_msg_add_empty(msg, "formatVersion", LDB_FLAG_MOD_REPLACE, nullptr), LDB_SUCCESS);
        assert_int_equal(ldb_msg_add_string(msg, "formatVersion", "99"), LDB_SUCCESS);
        assert_int_equal(ldb_modify(raw->raw(), msg), LDB_SUCCESS);
        talloc_free(msg);
    }
    // A reader leaves it alone and says why.
    assert_reader_refused(dir, "format version 99");

    Sysdb db = open_writer(dir);
    auto found = db.user_by_name("alice");
    assert_true(found.ok() && !found->has_value());
    assert_ok(db.store_user(alice(), fresh_ts));
    std::vector<std::string> files = files_in(dir / "db");
    assert_int_equal(files.size(), 3);
    assert_string_equal(files[0].c_str(), "cache_LDAP.ldb");
    assert_true(files[1].starts_with("cache_LDAP.ldb.moved-"));
    assert_string_equal(files[2].c_str(), "timestamps_LDAP.tdb");
}

void reader_finds_no_cache_unavailable_and_creates_nothing(void **)
{
    test::TempDir dir;
    assert_int_equal(mkdir((dir / "db").c_str(), 0700), 0);
    assert_reader_refused(dir, "");
    assert_true(files_in(dir / "db").empty());
}

void reader_follows_a_cache_the_writer_rebuilt(void **)
{
    test::TempDir dir;
    std::optional<Sysdb> writer(open_writer(dir));
    assert_ok(writer->store_user(alice(), fresh_ts));
    auto reader = Sysdb::open(SysdbPaths::for_domain(dir.path(), "LDAP"), Sysdb::Role::reader);
    assert_true(reader.ok());
    auto same = reader->reopen_if_replaced();
    assert_true(same.ok() && !*same);

    writer.reset();
    assert_int_equal(rename((dir / "db/cache_LDAP.ldb").c_str(), (dir / "db/old.ldb").c_str()), 0);
    writer.emplace(open_writer(dir));
    assert_ok(writer->store_user(user("bob", 10002), fresh_ts));
    auto replaced = reader->reopen_if_replaced();
    assert_true(replaced.ok() && *replaced);
    auto old = reader->user_by_name("alice");
    auto fresh = reader->user_by_name("bob");
    assert_true(old.ok() && !old->has_value() && fresh.ok() && fresh->has_value());
}

void unreadable_cache_is_refused_not_moved_aside(void **)
{
    if (geteuid() == 0) skip(); // root reads any file
    test::TempDir dir;
    { Sysdb db = open_writer(dir); }
    assert_int_equal(chmod((dir / "db/cache_LDAP.ldb").c_str(), 0), 0);
    auto db = Sysdb::open(SysdbPaths::for_domain(dir.path(), "LDAP"), Sysdb::Role::writer);
    assert_false(db.ok());
    assert_int_equal(static_cast<int>(db.error().code), static_cast<int>(Errc::permission));
    assert_int_equal(files_in(dir / "db").size(), 2);
}

void garbage_file_is_moved_aside_and_rebuilt(void **)
{
    test::TempDir dir;
    assert_int_equal(mkdir((dir / "db").c_str(), 0700), 0);
    test::write_file(dir / "db/cache_LDAP.ldb", std::string(4096, 'x') + "not a tdb file");
    test::write_file(dir / "db/timestamps_LDAP.tdb", "garbage too");
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(alice(), fresh_ts));
    auto found = db.user_by_name("alice");
    assert_true(found.ok() && found->has_value());
    std::vector<std::string> files = files_in(dir / "db");
    assert_int_equal(files.size(), 3);
    assert_true(files[1].starts_with("cache_LDAP.ldb.moved-"));
}

void garbage_timestamps_file_alone_is_moved_aside(void **)
{
    test::TempDir dir;
    { Sysdb db = open_writer(dir); assert_ok(db.store_user(alice(), fresh_ts)); }
    test::write_file(dir / "db/timestamps_LDAP.tdb", std::string(8192, 'z'));
    Sysdb db = open_writer(dir);
    auto found = db.user_by_name("alice");
    // The entry survives; without its timestamps it reads as expired.
    assert_true(found.ok() && found->has_value());
    assert_true((*found)->timestamps == Timestamps{});
}

void lost_timestamps_file_reads_as_expired(void **)
{
    test::TempDir dir;
    { Sysdb db = open_writer(dir); assert_ok(db.store_user(alice(), fresh_ts)); }
    assert_int_equal(unlink((dir / "db/timestamps_LDAP.tdb").c_str()), 0);
    Sysdb db = open_writer(dir);
    auto found = db.user_by_name("alice");
    assert_true(found.ok() && found->has_value());
    assert_int_equal(static_cast<int>(classify((*found)->timestamps, now, 5400, 50)), static_cast<int>(Freshness::expired));
}

void timestamps_of_another_format_are_moved_aside(void **)
{
    test::TempDir dir;
    { Sysdb db = open_writer(dir); assert_ok(db.store_user(alice(), fresh_ts)); }
    {
        // A header as an older or newer vigil would write it: version 7.
        tdb_context *tdb = tdb_open((dir / "db/timestamps_LDAP.tdb").c_str(), 0, TDB_DEFAULT, O_RDWR, 0);
        assert_non_null(tdb);
        TDB_DATA key{reinterpret_cast<unsigned char *>(const_cast<char *>("\0header")), 7};
        TDB_DATA value = tdb_fetch(tdb, key);
        assert_int_equal(value.dsize, 16);
        std::uint32_t seven = 7;
        std::memcpy(value.dptr + 4, &seven, sizeof seven);
        assert_int_equal(tdb_store(tdb, key, value, TDB_REPLACE), 0);
        free(value.dptr);
        tdb_close(tdb);
    }
    assert_reader_refused(dir, "format version 7");
    Sysdb db = open_writer(dir);
    auto found = db.user_by_name("alice");
    assert_true(found.ok() && found->has_value());
    assert_true((*found)->timestamps == Timestamps{});
    std::vector<std::string> files = files_in(dir / "db");
    assert_int_equal(files.size(), 3);
    assert_true(files[2].starts_with("timestamps_LDAP.tdb.moved-"));
}

void damaged_timestamps_record_reads_as_expired(void **)
{
    test::TempDir dir;
    {
        Sysdb db = open_writer(dir);
        assert_ok(db.store_user(alice(), fresh_ts));
        assert_ok(db.store_user(user("bob", 10002), fresh_ts));
    }
    {
        tdb_context *tdb = tdb_open((dir / "db/timestamps_LDAP.tdb").c_str(), 0, TDB_DEFAULT, O_RDWR, 0);
        assert_non_null(tdb);
        TDB_DATA key{reinterpret_cast<unsigned char *>(const_cast<char *>("ualice")), 6};
        TDB_DATA value{reinterpret_cast<unsigned char *>(const_cast<char *>("short")), 5};
        assert_int_equal(tdb_store(tdb, key, value, TDB_REPLACE), 0);
        tdb_close(tdb);
    }
    Sysdb db = open_writer(dir);
    auto alice_now = db.user_by_name("alice");
    auto bob_now = db.user_by_name("bob");
    assert_true(alice_now.ok() && alice_now->has_value() && (*alice_now)->timestamps == Timestamps{});
    assert_true(bob_now.ok() && bob_now->has_value() && (*bob_now)->timestamps == fresh_ts);
    // The next write of the entry repairs its record.
    assert_ok(db.store_user(alice(), fresh_ts));
    auto again = db.user_timestamps("alice");
    assert_true(again.ok() && *again == fresh_ts);
}

void timestamps_of_format_1_are_dropped(void **)
{
    // Before format 2 the timestamps were an ldb file beside the entries.
    test::TempDir dir;
    { Sysdb db = open_writer(dir); assert_ok(db.store_user(alice(), fresh_ts)); }
    test::write_file(dir / "db/timestamps_LDAP.ldb", "an old ldb file");
    Sysdb db = open_writer(dir);
    std::vector<std::string> files = files_in(dir / "db");
    assert_int_equal(files.size(), 2);
    assert_string_equal(files[0].c_str(), "cache_LDAP.ldb");
    assert_string_equal(files[1].c_str(), "timestamps_LDAP.tdb");
    auto found = db.user_timestamps("alice");
    assert_true(found.ok() && *found == fresh_ts);
}

// ------------------------------------------------------------ writes

void unchanged_store_rewrites_only_the_timestamps(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    std::vector<std::string> members;
    for (int i = 0; i < 10000; ++i) members.push_back("member" + std::to_string(i));
    Group big = group("big", 40000, members);
    assert_ok(db.store_group(big, fresh_ts));
    auto before = db.entries_sequence_number();
    assert_true(before.ok());
    struct stat file_before, file_after;
    assert_int_equal(stat(db.paths().entries.c_str(), &file_before), 0);

    // Refreshed later, the same data in another order.
    std::reverse(big.members.begin(), big.members.end());
    Timestamps later{now + 600, now + 6000};
    assert_ok(db.store_group(big, later));
    auto after = db.entries_sequence_number();
    assert_true(after.ok());
    assert_int_equal(*after, *before); // no ldb write to the entries file
    assert_int_equal(stat(db.paths().entries.c_str(), &file_after), 0);
    assert_int_equal(file_after.st_size, file_before.st_size); // and not a byte on disk
    assert_int_equal(file_after.st_mtim.tv_sec, file_before.st_mtim.tv_sec);
    assert_int_equal(file_after.st_mtim.tv_nsec, file_before.st_mtim.tv_nsec);
    auto found = db.group_by_name("big");
    assert_true(found.ok() && found->has_value());
    assert_true((*found)->timestamps == later);
    assert_int_equal((*found)->record.members.size(), 10000);
}

void timestamps_are_read_alone(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    const Timestamps initgr{now + 1, now + 99};
    assert_ok(db.store_user(alice(), fresh_ts));
    assert_ok(db.store_group(group("devs", 30001, {"alice"}), Timestamps{now + 2, now + 77}));
    auto u = db.user_timestamps("alice");
    auto g = db.group_timestamps("devs");
    auto i = db.initgroups_timestamps("alice");
    assert_true(u.ok() && g.ok() && i.ok());
    assert_true(*u == fresh_ts);
    assert_true(*g == (Timestamps{now + 2, now + 77}));
    assert_true(*i == Timestamps{}); // initgroups never answered
    assert_ok(db.store_initgroups(alice(), {group("devs", 30001, {"alice"})}, initgr));
    i = db.initgroups_timestamps("alice");
    assert_true(i.ok() && *i == initgr);
    // Not cached (and a group is not a user): expired.
    auto none = db.user_timestamps("devs");
    assert_true(none.ok() && *none == Timestamps{});
    assert_ok(db.expire_group("devs"));
    g = db.group_timestamps("devs");
    assert_true(g.ok() && g->expires_at == 0);
}

// vigil_be reads the cached groups ahead, while the directory searches
// (Sysdb::Prefetch): the writes must come out exactly as without.
void read_ahead_initgroups_store_equals_the_plain_one(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    std::vector<Group> groups;
    for (std::uint32_t i = 0; i < 20; ++i) groups.push_back(group("g" + std::to_string(i), 31000 + i, {"alice", "bob"}));
    assert_ok(db.store_initgroups(alice(), groups, fresh_ts));
    const auto commits = db.durable_commits();
    // Unchanged: timestamps only, no entries transaction.
    auto ahead = db.prefetch_groups_listing("alice");
    assert_true(ahead.ok());
    const Timestamps later{now + 600, now + 6000};
    assert_ok(db.store_initgroups(alice(), groups, later, *ahead));
    assert_int_equal(db.durable_commits(), commits);
    auto g0 = db.group_by_name("g0");
    assert_true(g0.ok() && g0->has_value() && (*g0)->timestamps == later);
    // Alice left g5 and joined g20.
    auto again = db.prefetch_groups_listing("alice");
    assert_true(again.ok());
    groups.erase(groups.begin() + 5);
    groups.push_back(group("g20", 31020, {"alice"}));
    assert_ok(db.store_initgroups(alice(), groups, later, *again));
    auto g5 = db.group_by_name("g5");
    assert_true(g5.ok() && g5->has_value());
    assert_true((*g5)->record.members == std::vector<std::string>{"bob"});
    auto answer = db.groups_of_user("alice", 20001);
    assert_true(answer.ok());
    assert_int_equal(answer->gids.size(), 21); // the primary gid and 20 groups
}

void read_ahead_older_than_a_write_is_not_used(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_initgroups(alice(), {group("devs", 31000, {"alice"})}, fresh_ts));
    // Read ahead, then another lookup's write adds alice to "ops".
    auto ahead = db.prefetch_groups_listing("alice");
    assert_true(ahead.ok());
    assert_ok(db.store_group(group("ops", 31001, {"alice", "bob"}), fresh_ts));
    // The directory's answer no longer has ops: the stale read-ahead (which
    // knows nothing of ops) must not decide what alice left.
    assert_ok(db.store_initgroups(alice(), {group("devs", 31000, {"alice"})}, fresh_ts, *ahead));
    auto ops = db.group_by_name("ops");
    assert_true(ops.ok() && ops->has_value());
    assert_true((*ops)->record.members == std::vector<std::string>{"bob"});

    // The same for one group: read ahead, changed by another write, then
    // the directory answers what the read-ahead held.
    auto group_ahead = db.prefetch_group("devs");
    assert_true(group_ahead.ok());
    assert_ok(db.store_group(group("devs", 31000, {"alice", "carol"}), fresh_ts));
    assert_ok(db.store_group(group("devs", 31000, {"alice"}), fresh_ts, *group_ahead));
    auto devs = db.group_by_name("devs");
    assert_true(devs.ok() && devs->has_value());
    assert_true((*devs)->record.members == std::vector<std::string>{"alice"});

    // By gid: the cached holder read ahead; the answer renamed it.
    auto by_gid = db.prefetch_group_by_gid(31000);
    assert_true(by_gid.ok());
    assert_ok(db.store_group(group("developers", 31000, {"alice"}), fresh_ts, *by_gid));
    auto old_name = db.group_by_name("devs");
    auto renamed = db.group_by_gid(31000);
    assert_true(old_name.ok() && !old_name->has_value());
    assert_true(renamed.ok() && renamed->has_value() && (*renamed)->record.name == "developers");
}

void a_group_known_unchanged_by_digest_refreshes_its_timestamps_only(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    Group devs = group("devs", 31000, {"alice", "bob"});
    devs.source_digest = "00112233445566778899aabbccddeeff";
    assert_ok(db.store_group(devs, fresh_ts));
    auto stored = db.group_by_name("devs");
    assert_true(stored.ok() && stored->has_value() && (*stored)->record == devs);
    auto ahead = db.prefetch_group("devs");
    assert_true(ahead.ok());
    auto seen = ahead->single_group();
    assert_true(seen.has_value());
    assert_true(seen->name == "devs" && seen->source_digest == devs.source_digest && seen->original_dn == devs.original_dn);
    const auto commits = db.durable_commits();
    const Timestamps later{now + 600, now + 6000};
    auto done = db.refresh_unchanged_group("devs", later, *ahead);
    assert_true(done.ok() && *done);
    assert_int_equal(db.durable_commits(), commits);
    auto after = db.group_by_name("devs");
    assert_true(after.ok() && after->has_value() && (*after)->timestamps == later && (*after)->record == devs);
    // A read-ahead older than a write: nothing written, the caller stores.
    auto stale = db.prefetch_group("devs");
    assert_true(stale.ok());
    assert_ok(db.store_group(group("devs", 31000, {"alice"}), fresh_ts));
    auto refused = db.refresh_unchanged_group("devs", Timestamps{now + 700, now + 7000}, *stale);
    assert_true(refused.ok() && !*refused);
    auto kept = db.group_by_name("devs");
    assert_true(kept.ok() && kept->has_value() && (*kept)->timestamps == fresh_ts);
    // Not a hex digest: refused like any bad field.
    Group bad = group("bad", 31001);
    bad.source_digest = "ZZ";
    assert_false(db.store_group(bad, fresh_ts).ok());
}

// initgroups with the groups the provider found unchanged by digest: their
// timestamps only, no entries transaction; the others stored as usual.
void initgroups_groups_known_unchanged_refresh_their_timestamps_only(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    std::vector<Group> groups;
    for (std::uint32_t i = 0; i < 10; ++i) {
        groups.push_back(group("g" + std::to_string(i), 31000 + i, {"alice", "bob"}));
        groups.back().source_digest = "00112233445566778899aabbccddee0" + std::to_string(i);
    }
    assert_ok(db.store_initgroups(alice(), groups, fresh_ts));
    const auto commits = db.durable_commits();
    auto ahead = db.prefetch_groups_listing("alice");
    assert_true(ahead.ok() && db.current(*ahead));
    auto seen = ahead->groups();
    assert_int_equal(seen.size(), 10);
    for (const auto &g : seen) {
        auto i = std::stoul(std::string(g.name.substr(1)));
        assert_int_equal(g.gid, 31000 + i);
        assert_true(g.source_digest == groups[i].source_digest && g.original_dn == groups[i].original_dn);
    }
    // g0-g8 unchanged, g9 no longer lists alice: she left it.
    std::vector<std::string> unchanged;
    for (std::uint32_t i = 0; i < 9; ++i) unchanged.push_back("g" + std::to_string(i));
    const Timestamps later{now + 600, now + 6000};
    assert_ok(db.store_initgroups(alice(), {}, unchanged, later, *ahead));
    assert_int_equal(db.durable_commits(), commits + 1); // g9 lost alice: one entries write
    for (std::uint32_t i = 0; i < 9; ++i) {
        auto found = db.group_by_name("g" + std::to_string(i));
        assert_true(found.ok() && found->has_value());
        assert_true((*found)->timestamps == later && (*found)->record == groups[i]);
    }
    auto g9 = db.group_by_name("g9");
    assert_true(g9.ok() && g9->has_value());
    assert_true((*g9)->record.members == std::vector<std::string>{"bob"});
    auto answer = db.groups_of_user("alice", 20001);
    assert_true(answer.ok() && answer->gids.size() == 10 && answer->timestamps == later);

    // A read-ahead older than a write, or a name it does not hold: refused,
    // nothing written.
    auto stale = db.prefetch_groups_listing("alice");
    assert_true(stale.ok());
    assert_ok(db.store_group(group("ops", 32000, {"carol"}), fresh_ts));
    assert_false(db.current(*stale));
    const Timestamps latest{now + 700, now + 7000};
    auto refused = db.store_initgroups(alice(), {}, unchanged, latest, *stale);
    assert_false(refused.ok());
    assert_int_equal(refused.error().code, vigil::Errc::invalid_argument);
    auto fresh = db.prefetch_groups_listing("alice");
    assert_true(fresh.ok());
    refused = db.store_initgroups(alice(), {}, {"g0", "ops"}, latest, *fresh);
    assert_false(refused.ok());
    auto g0 = db.group_by_name("g0");
    assert_true(g0.ok() && g0->has_value() && (*g0)->timestamps == later);
    auto u = db.user_by_name("alice");
    assert_true(u.ok() && u->has_value() && (*u)->timestamps == later);
}

// A group that loses a member because the user's initgroups answer no
// longer lists it is not what its directory entry made any more: it loses
// its digest, so that the entry, listing the user again (the same digest
// as before), is stored in full and not taken for the cached record.
void a_group_losing_a_member_by_initgroups_loses_its_digest(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    Group devs = group("devs", 31000, {"alice", "bob"});
    devs.source_digest = "00112233445566778899aabbccddeeff";
    assert_ok(db.store_initgroups(alice(), {devs}, fresh_ts));
    assert_ok(db.store_initgroups(alice(), {}, fresh_ts)); // alice left devs
    auto found = db.group_by_name("devs");
    assert_true(found.ok() && found->has_value());
    assert_true((*found)->record.members == std::vector<std::string>{"bob"});
    assert_true((*found)->record.source_digest.empty());
    // The same through a read-ahead, and for a group without a digest.
    assert_ok(db.store_initgroups(alice(), {devs, group("ops", 31001, {"alice"})}, fresh_ts));
    auto ahead = db.prefetch_groups_listing("alice");
    assert_true(ahead.ok());
    assert_ok(db.store_initgroups(alice(), {}, fresh_ts, *ahead));
    found = db.group_by_name("devs");
    assert_true(found.ok() && found->has_value() && (*found)->record.source_digest.empty());
    auto ops = db.group_by_name("ops");
    assert_true(ops.ok() && ops->has_value() && (*ops)->record.members.empty());
    // Nothing for a digest check to find any more: a getgrnam stores in full.
    auto by_name = db.prefetch_group("devs");
    assert_true(by_name.ok());
    auto single = by_name->single_group();
    assert_true(single.has_value() && single->source_digest.empty());
}

// What another process may do to `path` now: 0 take read and write locks
// anywhere, 1 only read locks, 2 neither (a child asks fcntl(2), F_GETLK:
// tdb refuses a second open of a file in a process forked with it open).
int other_process_may_lock(const std::string &path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path.c_str(), O_RDWR);
        if (fd < 0) _exit(10);
        auto free_for = [fd](short type) {
            struct flock fl = {};
            fl.l_type = type;
            fl.l_whence = SEEK_SET; // l_start 0, l_len 0: the whole file
            return fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_UNLCK;
        };
        _exit(free_for(F_WRLCK) ? 0 : free_for(F_RDLCK) ? 1 : 2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

// A write's timestamps batch holds the file's read lock from its first read
// until it is applied or dropped: readers read on, no other writer writes
// in between, and the lock never outlives the batch.
void a_timestamps_batch_read_locks_the_file_until_applied_or_dropped(void **)
{
    test::TempDir dir;
    const std::string path = dir.path() + "/stamps.tdb";
    auto file = StampFile::open(path, StampFile::Access::read_write);
    assert_true(file.ok());
    assert_ok(file->initialise());
    const StampRecord rec{fresh_ts, {}, false, false, 0, 0};
    {
        StampFile::Batch first;
        first.put(layout::Kind::user, "alice", rec);
        assert_ok(file->apply(first));
    }
    assert_int_equal(other_process_may_lock(path), 0);
    {
        StampFile::Batch batch;
        auto got = batch.get(*file, layout::Kind::user, "alice");
        assert_true(got.ok() && got->has_value() && **got == rec);
        assert_int_equal(other_process_may_lock(path), 1); // readers only
        StampRecord later = rec;
        later.entry.expires_at += 60;
        batch.put(layout::Kind::user, "alice", later);
        batch.put(layout::Kind::group, "devs", later); // a new record: through a transaction
        assert_ok(file->apply(batch));
        assert_int_equal(other_process_may_lock(path), 0);
        auto now_alice = file->get(layout::Kind::user, "alice");
        auto now_devs = file->get(layout::Kind::group, "devs");
        assert_true(now_alice.ok() && now_alice->has_value() && **now_alice == later);
        assert_true(now_devs.ok() && now_devs->has_value() && **now_devs == later);
    }
    {
        StampFile::Batch dropped; // a failed write's: never applied
        auto got = dropped.get(*file, layout::Kind::group, "nobody");
        assert_true(got.ok() && !got->has_value());
        assert_int_equal(other_process_may_lock(path), 1);
    }
    assert_int_equal(other_process_may_lock(path), 0);
    // And this process writes again.
    StampFile::Batch again;
    auto got = again.get(*file, layout::Kind::user, "alice");
    assert_true(got.ok() && got->has_value());
    again.remove(layout::Kind::user, "alice");
    assert_ok(file->apply(again));
    auto gone = file->get(layout::Kind::user, "alice");
    assert_true(gone.ok() && !gone->has_value());
}

void the_digest_key_is_kept_with_the_entries(void **)
{
    test::TempDir dir;
    SipHash128::Key first;
    { Sysdb db = open_writer(dir); first = db.digest_key(); }
    assert_false(first == SipHash128::Key{});
    Sysdb again = open_writer(dir);
    assert_true(again.digest_key() == first);
    test::TempDir other;
    Sysdb another = open_writer(other);
    assert_false(another.digest_key() == first);
}

void unchanged_initgroups_refresh_writes_no_entry(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    std::vector<Group> groups;
    for (std::uint32_t i = 0; i < 50; ++i)
        groups.push_back(group("g" + std::to_string(i), 31000 + i, {"alice", "bob" + std::to_string(i)}));
    assert_ok(db.store_initgroups(alice(), groups, fresh_ts));
    const auto commits = db.durable_commits();
    assert_int_equal(commits, 1);
    auto before = db.entries_sequence_number();
    assert_ok(db.expire_all());
    const Timestamps later{now + 600, now + 6000};
    // The same answer again (members in another order): only timestamps move.
    for (Group &g : groups) std::reverse(g.members.begin(), g.members.end());
    assert_ok(db.store_initgroups(alice(), groups, later));
    auto after = db.entries_sequence_number();
    assert_true(before.ok() && after.ok());
    assert_int_equal(*after, *before);
    assert_int_equal(db.durable_commits(), commits); // no transaction on the entries file at all
    for (const Group &g : groups) {
        auto found = db.group_by_name(g.name);
        assert_true(found.ok() && found->has_value());
        assert_true((*found)->timestamps == later);
    }
    auto answer = db.groups_of_user("alice", 20001);
    assert_true(answer.ok());
    assert_int_equal(answer->gids.size(), 51);
    assert_true(answer->timestamps == later);
    auto u = db.user_by_name("alice");
    assert_true(u.ok() && u->has_value() && (*u)->timestamps == later);

    // One group changed: one durable commit, for that group alone.
    groups[7].modify_stamp = "20261124090000Z";
    assert_ok(db.store_initgroups(alice(), groups, later));
    assert_int_equal(db.durable_commits(), commits + 1);
    after = db.entries_sequence_number();
    assert_true(after.ok());
    assert_int_equal(*after, *before + 1);
    auto g7 = db.group_by_name("g7");
    assert_true(g7.ok() && g7->has_value());
    assert_string_equal((*g7)->record.modify_stamp.c_str(), "20261124090000Z");
}

void group_grown_by_a_diff_reads_as_unchanged_when_refreshed(void **)
{
    // A diff appends the added members after the others: a refresh with
    // the same members (sorted) is still the same group.
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_group(group("devs", 30001, {"bob", "dave"}), fresh_ts));
    assert_ok(db.store_group(group("devs", 30001, {"alice", "bob", "carol", "dave"}), fresh_ts));
    const auto commits = db.durable_commits();
    assert_int_equal(commits, 2);
    assert_ok(db.store_group(group("devs", 30001, {"alice", "bob", "carol", "dave"}), fresh_ts));
    assert_int_equal(db.durable_commits(), commits);
    // Each field counts: a new DN, a nested group, a dropped stamp are written.
    Group moved = group("devs", 30001, {"alice", "bob", "carol", "dave"});
    moved.original_dn = "cn=devs,ou=teams,dc=example,dc=com";
    assert_ok(db.store_group(moved, fresh_ts));
    assert_int_equal(db.durable_commits(), commits + 1);
    moved.member_groups = {"ops"};
    assert_ok(db.store_group(moved, fresh_ts));
    assert_int_equal(db.durable_commits(), commits + 2);
    moved.modify_stamp.clear();
    assert_ok(db.store_group(moved, fresh_ts));
    assert_int_equal(db.durable_commits(), commits + 3);
    auto found = db.group_by_name("devs");
    assert_true(found.ok() && found->has_value());
    assert_true((*found)->record == moved);
}

void initgroups_answer_taking_a_listed_groups_gid_drops_that_group(void **)
{
    // A cached group that lists the user loses its gid to another group of
    // the answer (a rename in the directory): it is dropped, not updated.
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_initgroups(alice(), {group("old", 30001, {"alice"}), group("web", 30002, {"alice"})},
                                  fresh_ts));
    assert_ok(db.store_initgroups(alice(), {group("new", 30001, {"alice"})}, fresh_ts));
    auto old = db.group_by_name("old");
    assert_true(old.ok() && !old->has_value());
    assert_true(gids(db, "alice", 20001) == (std::vector<std::uint32_t>{20001, 30001}));
    auto web = db.group_by_name("web");
    assert_true(web.ok() && web->has_value() && (*web)->record.members.empty());
}

void changed_group_is_written_as_a_diff(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_group(group("devs", 30001, {"alice", "bob", "carol"}, {"ops"}), fresh_ts));
    auto before = db.entries_sequence_number();
    assert_ok(db.store_group(group("devs", 30001, {"alice", "carol", "dave"}, {}), fresh_ts));
    auto after = db.entries_sequence_number();
    assert_true(before.ok() && after.ok());
    assert_int_equal(*after, *before + 1); // one modify
    auto found = db.group_by_name("devs");
    assert_true(found.ok() && found->has_value());
    assert_true((*found)->record.members == (std::vector<std::string>{"alice", "carol", "dave"}));
    assert_true((*found)->record.member_groups.empty());
    // The member index follows: bob is in no group, dave is.
    assert_true(gids(db, "bob", 20001) == std::vector<std::uint32_t>{20001});
    assert_true(gids(db, "dave", 20001) == (std::vector<std::uint32_t>{20001, 30001}));
}

void changed_user_fields_replace_the_old_ones(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(alice(), fresh_ts));
    User changed = alice();
    changed.shell = "/bin/zsh";
    changed.gecos.clear();
    changed.extra.erase("shadowMax");
    changed.extra["shadowExpire"] = {"20000"};
    assert_ok(db.store_user(changed, fresh_ts));
    auto found = db.user_by_name("alice");
    assert_true(found.ok() && found->has_value());
    assert_true((*found)->record == changed);
}

void stored_user_replaces_the_cached_holder_of_its_uid(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(alice(), fresh_ts));
    User renamed = alice();
    renamed.name = "alice.smith";
    assert_ok(db.store_user(renamed, fresh_ts));
    auto old_name = db.user_by_name("alice");
    assert_true(old_name.ok() && !old_name->has_value());
    auto by_uid = db.user_by_uid(10001);
    assert_true(by_uid.ok() && by_uid->has_value());
    assert_string_equal((*by_uid)->record.name.c_str(), "alice.smith");
    auto all = db.all_users();
    assert_true(all.ok());
    assert_int_equal(all->size(), 1);
}

// Each committed write says what it touched, for the responders' memory.
void a_commit_says_what_it_touched(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    std::vector<vigil::sysdb::Changes> seen;
    db.on_commit([&](const vigil::sysdb::Changes &c) { seen.push_back(c); });
    auto only = [&](bool user, const char *name, std::uint32_t id, std::uint32_t old_id) {
        assert_int_equal(seen.size(), 1);
        assert_false(seen[0].everything);
        assert_int_equal(seen[0].entries.size(), 1);
        const auto &e = seen[0].entries[0];
        assert_true(e.user == user);
        assert_string_equal(e.name.c_str(), name);
        assert_int_equal(e.id, id);
        assert_int_equal(e.old_id, old_id);
        seen.clear();
    };
    assert_ok(db.store_user(alice(), fresh_ts));
    only(true, "alice", 10001, 0);
    User moved = alice();
    moved.uid = 10077;
    assert_ok(db.store_user(moved, fresh_ts));
    only(true, "alice", 10077, 10001);
    assert_ok(db.store_user(moved, fresh_ts)); // unchanged but refreshed: its timestamps moved
    assert_true(seen.size() == 1 && seen[0].entries.size() == 1 && seen[0].entries[0].timestamps_only &&
                seen[0].only_timestamps);
    only(true, "alice", 10077, 0);
    assert_ok(db.store_group(group("devs", 30001, {"alice"}), fresh_ts));
    assert_true(seen.size() == 1 && !seen[0].entries[0].timestamps_only && !seen[0].only_timestamps);
    only(false, "devs", 30001, 0);
    assert_ok(db.store_group(group("devs", 30001, {"alice"}), fresh_ts));
    assert_true(seen.size() == 1 && seen[0].entries[0].timestamps_only);
    only(false, "devs", 30001, 0);
    assert_ok(db.expire_group("devs"));
    assert_true(seen.size() == 1 && seen[0].entries[0].timestamps_only);
    only(false, "devs", 0, 0);
    assert_ok(db.delete_user("alice"));
    only(true, "alice", 0, 0);
    // An id taken from another name: both are named.
    assert_ok(db.store_group(group("developers", 30001), fresh_ts));
    assert_int_equal(seen.size(), 1);
    assert_int_equal(seen[0].entries.size(), 2);
    assert_string_equal(seen[0].entries[0].name.c_str(), "devs");
    assert_string_equal(seen[0].entries[1].name.c_str(), "developers");
    seen.clear();
    assert_ok(db.expire_all());
    assert_int_equal(seen.size(), 1);
    assert_true(seen[0].everything && seen[0].only_timestamps);
    seen.clear();
    // An initgroups refresh that changed nothing: timestamps only, the user's
    // initgroups timestamps among them; a group the user left is a change.
    assert_ok(db.store_initgroups(moved, {group("developers", 30001, {"alice"}), group("web", 30002, {"alice"})},
                                  fresh_ts));
    seen.clear();
    assert_ok(db.store_initgroups(moved, {group("developers", 30001, {"alice"}), group("web", 30002, {"alice"})},
                                  fresh_ts));
    assert_int_equal(seen.size(), 1);
    assert_true(seen[0].only_timestamps);
    assert_int_equal(seen[0].entries.size(), 4); // the user, two groups, the user's initgroups timestamps
    seen.clear();
    assert_ok(db.store_initgroups(moved, {group("developers", 30001, {"alice"})}, fresh_ts));
    assert_int_equal(seen.size(), 1);
    assert_false(seen[0].only_timestamps);
    bool web_changed = false;
    for (const auto &e : seen[0].entries) web_changed = web_changed || (e.name == "web" && !e.timestamps_only);
    assert_true(web_changed);
    seen.clear();
    // Past the limit, a write says "everything" rather than a long list.
    std::vector<User> many;
    for (std::uint32_t i = 0; i <= vigil::sysdb::Changes::limit; ++i) many.push_back(user("u" + std::to_string(i), 50000 + i));
    assert_ok(db.store_users(many, fresh_ts));
    assert_int_equal(seen.size(), 1);
    assert_true(seen[0].everything);
    assert_int_equal(seen[0].entries.size(), 0);
}

void stored_group_replaces_the_cached_holder_of_its_gid(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_group(group("devs", 30001, {"alice"}), fresh_ts));
    assert_ok(db.store_group(group("developers", 30001, {"alice"}), fresh_ts));
    auto old_name = db.group_by_name("devs");
    assert_true(old_name.ok() && !old_name->has_value());
    auto by_gid = db.group_by_gid(30001);
    assert_true(by_gid.ok() && by_gid->has_value());
    assert_string_equal((*by_gid)->record.name.c_str(), "developers");
    assert_true(gids(db, "alice", 20001) == (std::vector<std::uint32_t>{20001, 30001}));
}

void deleted_records_are_gone_with_their_timestamps(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(alice(), fresh_ts));
    assert_ok(db.store_group(group("devs", 30001, {"alice"}), fresh_ts));
    assert_ok(db.delete_user("alice"));
    assert_ok(db.delete_group("devs"));
    assert_ok(db.delete_user("never-cached"));
    auto u = db.user_by_name("alice");
    auto g = db.group_by_gid(30001);
    assert_true(u.ok() && !u->has_value() && g.ok() && !g->has_value());
    // Stored again, nothing of the old timestamps is left over.
    assert_ok(db.store_user(alice(), Timestamps{now + 1, now + 2}));
    assert_true((*db.user_by_name("alice"))->timestamps == (Timestamps{now + 1, now + 2}));
}

void expire_marks_expired_and_keeps_the_entry(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_initgroups(alice(), {group("devs", 30001, {"alice"})}, fresh_ts));
    assert_ok(db.expire_user("alice"));
    assert_ok(db.expire_user("never-cached"));
    auto u = db.user_by_name("alice");
    assert_true(u.ok() && u->has_value());
    assert_int_equal((*u)->timestamps.last_update, now);
    assert_int_equal((*u)->timestamps.expires_at, 0);
    assert_int_equal(db.groups_of_user("alice", 20001)->timestamps.expires_at, 0);
    auto g = db.group_by_name("devs");
    assert_int_equal((*g)->timestamps.expires_at, fresh_ts.expires_at);
    assert_ok(db.expire_group("devs"));
    assert_int_equal((*db.group_by_name("devs"))->timestamps.expires_at, 0);
}

void expire_all_marks_every_entry_expired(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_initgroups(alice(), {group("devs", 30001, {"alice"})}, fresh_ts));
    assert_ok(db.store_user(user("bob", 10002), fresh_ts));
    assert_ok(db.expire_all());
    auto users = db.all_users();
    auto groups = db.all_groups();
    assert_true(users.ok() && groups.ok());
    for (const auto &u : *users) assert_int_equal(u.timestamps.expires_at, 0);
    for (const auto &g : *groups) assert_int_equal(g.timestamps.expires_at, 0);
    assert_int_equal(db.groups_of_user("alice", 20001)->timestamps.expires_at, 0);
    assert_int_equal(db.all_users()->size(), 2);
}

void refused_group_in_store_initgroups_rolls_back_everything(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_initgroups(alice(), {group("devs", 30001, {"alice"})}, fresh_ts));
    User changed = alice();
    changed.shell = "/bin/zsh";
    vigil::Status st = db.store_initgroups(changed, {group("web", 30002, {"alice"}), group("bad:name", 30003, {"alice"})},
                                           Timestamps{now + 10, now + 20});
    assert_refused(st, "group 'bad:name' (cn=bad:name,ou=groups,dc=example,dc=com): name contains ':'");
    auto u = db.user_by_name("alice");
    assert_true(u.ok() && u->has_value());
    assert_string_equal((*u)->record.shell.c_str(), "/bin/bash");
    assert_true((*u)->timestamps == fresh_ts);
    auto web = db.group_by_name("web");
    assert_true(web.ok() && !web->has_value());
    assert_true(gids(db, "alice", 20001) == (std::vector<std::uint32_t>{20001, 30001}));
}

void a_page_of_records_is_stored_all_or_nothing(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_users({alice(), user("bob", 10002)}, fresh_ts));
    assert_refused(db.store_users({user("carol", 10003), user("dave", 0)}, fresh_ts),
                   "user 'dave': uid 0 is root's, never served");
    assert_ok(db.store_groups({group("devs", 30001, {"alice"}), group("web", 30002)}, fresh_ts));
    auto users = db.all_users();
    auto groups = db.all_groups();
    assert_true(users.ok() && groups.ok());
    assert_int_equal(users->size(), 2);
    assert_int_equal(groups->size(), 2);
}

void records_nss_cannot_carry_are_refused(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    User u = alice();
    u.name.clear();
    assert_refused(db.store_user(u, fresh_ts), "user '' (uid=alice,ou=people,dc=example,dc=com): name is empty");
    u = alice();
    u.name = "al:ice";
    assert_refused(db.store_user(u, fresh_ts), "user 'al:ice' (uid=alice,ou=people,dc=example,dc=com): name contains ':'");
    u = alice();
    u.gecos = "Alice\nroot::0:0::/:/bin/sh";
    assert_refused(db.store_user(u, fresh_ts), "user 'alice' (uid=alice,ou=people,dc=example,dc=com): gecos contains a newline");
    u = alice();
    u.home = std::string("/home/a\0b", 9);
    assert_refused(db.store_user(u, fresh_ts), "user 'alice' (uid=alice,ou=people,dc=example,dc=com): home contains a NUL byte");
    u = alice();
    u.uid = 0;
    assert_refused(db.store_user(u, fresh_ts), "user 'alice' (uid=alice,ou=people,dc=example,dc=com): uid 0 is root's, never served");
    u = alice();
    u.gid = 0;
    assert_refused(db.store_user(u, fresh_ts), "user 'alice' (uid=alice,ou=people,dc=example,dc=com): primary gid 0 is root's, never served");
    u = alice();
    u.extra["uidNumber"] = {"0"};
    assert_refused(db.store_user(u, fresh_ts), "user 'alice' (uid=alice,ou=people,dc=example,dc=com): extra attribute 'uidNumber' is reserved by the cache");
    assert_refused(db.store_group(group("wheel", 0), fresh_ts), "group 'wheel' (cn=wheel,ou=groups,dc=example,dc=com): gid 0 is root's, never served");
    assert_refused(db.store_group(group("devs", 30001, {"ok", "bad:member"}), fresh_ts),
                   "group 'devs' (cn=devs,ou=groups,dc=example,dc=com): member contains ':'");
    auto all = db.all_users();
    assert_true(all.ok() && all->empty());
}

// ------------------------------------------------------------ expiry

void expiry_is_classified_fresh_expiring_expired(void **)
{
    Timestamps ts{now, now + 100};
    assert_int_equal(static_cast<int>(classify(ts, now, 100, 50)), static_cast<int>(Freshness::fresh));
    assert_int_equal(static_cast<int>(classify(ts, now + 49, 100, 50)), static_cast<int>(Freshness::fresh));
    assert_int_equal(static_cast<int>(classify(ts, now + 50, 100, 50)), static_cast<int>(Freshness::expiring));
    assert_int_equal(static_cast<int>(classify(ts, now + 99, 100, 50)), static_cast<int>(Freshness::expiring));
    assert_int_equal(static_cast<int>(classify(ts, now + 100, 100, 50)), static_cast<int>(Freshness::expired));
    assert_string_equal(freshness_name(classify(ts, now + 100, 100, 50)), "expired");
}

void nowait_percentage_zero_never_answers_expiring(void **)
{
    Timestamps ts{now, now + 100};
    assert_int_equal(static_cast<int>(classify(ts, now + 99, 100, 0)), static_cast<int>(Freshness::fresh));
    assert_int_equal(static_cast<int>(classify(ts, now + 100, 100, 0)), static_cast<int>(Freshness::expired));
}

void last_update_in_the_future_counts_as_expired(void **)
{
    // Written while the clock was a day ahead, read after it was set right.
    Timestamps ts{now + 86400, now + 86400 + 5400};
    assert_int_equal(static_cast<int>(classify(ts, now, 5400, 50)), static_cast<int>(Freshness::expired));
}

void never_stored_timestamps_are_expired(void **)
{
    assert_int_equal(static_cast<int>(classify(Timestamps{}, now, 5400, 50)), static_cast<int>(Freshness::expired));
}

// ------------------------------------------------------------ initgroups

void nested_groups_are_followed_through_a_cycle_once(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    // alice in devs; devs in eng; eng in devs (a cycle); eng in all.
    assert_ok(db.store_group(group("devs", 30001, {"alice"}, {"eng"}), fresh_ts));
    assert_ok(db.store_group(group("eng", 30002, {}, {"devs"}), fresh_ts));
    assert_ok(db.store_group(group("all", 30003, {}, {"eng"}), fresh_ts));
    assert_ok(db.store_group(group("unrelated", 30004, {"bob"}), fresh_ts));
    std::vector<std::uint32_t> expected{20001, 30001, 30002, 30003};
    assert_true(gids(db, "alice", 20001) == expected);
    // The answer does not depend on lookups made before it.
    assert_true(gids(db, "bob", 20001) == (std::vector<std::uint32_t>{20001, 30004}));
    assert_true(db.group_by_name("all").ok());
    assert_true(gids(db, "alice", 20001) == expected);
}

void primary_group_nesting_counts_too(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_group(group("alice-private", 20001), fresh_ts));
    assert_ok(db.store_group(group("staff", 30005, {}, {"alice-private"}), fresh_ts));
    assert_true(gids(db, "alice", 20001) == (std::vector<std::uint32_t>{20001, 30005}));
}

void groups_of_user_never_answers_gid_0(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_group(group("devs", 30001, {"alice"}), fresh_ts));
    assert_true(gids(db, "alice", 0) == std::vector<std::uint32_t>{30001});
}

void groups_of_user_lists_each_gid_once(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    // devs is reached directly and through web; the primary group lists alice too.
    assert_ok(db.store_group(group("primary", 20001, {"alice"}), fresh_ts));
    assert_ok(db.store_group(group("devs", 30001, {"alice"}, {"web"}), fresh_ts));
    assert_ok(db.store_group(group("web", 30002, {"alice"}, {"devs", "primary"}), fresh_ts));
    assert_true(gids(db, "alice", 20001) == (std::vector<std::uint32_t>{20001, 30001, 30002}));
}

// ------------------------------------------------------------ names

void names_with_ldb_special_characters_are_found_exactly(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    const std::vector<std::string> names{"a,b", "c=d", "back\\slash", "st*r", "(paren", "par)en", "jürgen", "Ζωή",
                                         " leading", "trailing ", "#hash", "+plus", "semi;colon", "quo\"te",
                                         "<lt>", "@special"};
    std::uint32_t uid = 11000;
    for (const std::string &name : names) assert_ok(db.store_user(user(name, uid++), fresh_ts));
    std::vector<std::string> members(names.begin(), names.end());
    assert_ok(db.store_group(group("g,=\\*(ü", 31000, members), fresh_ts));
    uid = 11000;
    for (const std::string &name : names) {
        auto found = db.user_by_name(name);
        assert_true(found.ok() && found->has_value());
        assert_string_equal((*found)->record.name.c_str(), name.c_str());
        auto by_uid = db.user_by_uid(uid++);
        assert_string_equal((*by_uid)->record.name.c_str(), name.c_str());
        assert_true(gids(db, name, 20001) == (std::vector<std::uint32_t>{20001, 31000}));
    }
    auto g = db.group_by_name("g,=\\*(ü");
    assert_true(g.ok() && g->has_value());
    assert_int_equal((*g)->record.members.size(), names.size());
    auto all = db.all_users();
    assert_int_equal(all->size(), names.size());
}

void a_star_as_a_name_finds_nothing(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(alice(), fresh_ts));
    assert_ok(db.store_group(group("devs", 30001, {"alice"}), fresh_ts));
    for (const char *probe : {"*", "a*", "alice)(name=*", "*)(|(name=*"}) {
        auto u = db.user_by_name(probe);
        assert_true(u.ok() && !u->has_value());
        auto g = db.group_by_name(probe);
        assert_true(g.ok() && !g->has_value());
        assert_true(gids(db, probe, 20001) == std::vector<std::uint32_t>{20001});
    }
}

void names_are_matched_case_sensitively(void **)
{
    test::TempDir dir;
    Sysdb db = open_writer(dir);
    assert_ok(db.store_user(alice(), fresh_ts));
    assert_ok(db.store_user(user("Alice", 10009), fresh_ts));
    assert_ok(db.store_group(group("devs", 30001, {"alice"}), fresh_ts));
    auto lower = db.user_by_name("alice");
    auto upper = db.user_by_name("Alice");
    assert_int_equal((*lower)->record.uid, 10001);
    assert_int_equal((*upper)->record.uid, 10009);
    auto none = db.user_by_name("ALICE");
    assert_true(none.ok() && !none->has_value());
    auto g = db.group_by_name("DEVS");
    assert_true(g.ok() && !g->has_value());
    assert_true(gids(db, "Alice", 20001) == std::vector<std::uint32_t>{20001});
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_round_trips_with_its_timestamps),
        cmocka_unit_test(user_with_empty_fields_round_trips),
        cmocka_unit_test(group_round_trips_with_members_and_nested_groups),
        cmocka_unit_test(lookups_by_id_find_the_same_records),
        cmocka_unit_test(uncached_records_read_as_nothing),
        cmocka_unit_test(store_initgroups_stores_the_user_and_its_groups),
        cmocka_unit_test(initgroups_timestamps_are_apart_from_the_users),
        cmocka_unit_test(store_initgroups_drops_groups_the_user_left),
        cmocka_unit_test(enumeration_lists_every_record_sorted_by_name),
        cmocka_unit_test(reader_sees_what_the_writer_stored),
        cmocka_unit_test(cache_files_are_created_0600),
        cmocka_unit_test(cache_files_are_created_with_a_hash_table_for_100k_entries),
        cmocka_unit_test(unknown_format_version_is_moved_aside_and_rebuilt),
        cmocka_unit_test(reader_finds_no_cache_unavailable_and_creates_nothing),
        cmocka_unit_test(reader_follows_a_cache_the_writer_rebuilt),
        cmocka_unit_test(unreadable_cache_is_refused_not_moved_aside),
        cmocka_unit_test(garbage_file_is_moved_aside_and_rebuilt),
        cmocka_unit_test(garbage_timestamps_file_alone_is_moved_aside),
        cmocka_unit_test(lost_timestamps_file_reads_as_expired),
        cmocka_unit_test(timestamps_of_another_format_are_moved_aside),
        cmocka_unit_test(damaged_timestamps_record_reads_as_expired),
        cmocka_unit_test(timestamps_of_format_1_are_dropped),
        cmocka_unit_test(unchanged_store_rewrites_only_the_timestamps),
        cmocka_unit_test(timestamps_are_read_alone),
        cmocka_unit_test(unchanged_initgroups_refresh_writes_no_entry),
        cmocka_unit_test(a_group_known_unchanged_by_digest_refreshes_its_timestamps_only),
        cmocka_unit_test(initgroups_groups_known_unchanged_refresh_their_timestamps_only),
        cmocka_unit_test(a_group_losing_a_member_by_initgroups_loses_its_digest),
        cmocka_unit_test(a_timestamps_batch_read_locks_the_file_until_applied_or_dropped),
        cmocka_unit_test(the_digest_key_is_kept_with_the_entries),
        cmocka_unit_test(read_ahead_initgroups_store_equals_the_plain_one),
        cmocka_unit_test(read_ahead_older_than_a_write_is_not_used),
        cmocka_unit_test(group_grown_by_a_diff_reads_as_unchanged_when_refreshed),
        cmocka_unit_test(initgroups_answer_taking_a_listed_groups_gid_drops_that_group),
        cmocka_unit_test(changed_group_is_written_as_a_diff),
        cmocka_unit_test(changed_user_fields_replace_the_old_ones),
        cmocka_unit_test(stored_user_replaces_the_cached_holder_of_its_uid),
        cmocka_unit_test(stored_group_replaces_the_cached_holder_of_its_gid),
        cmocka_unit_test(a_commit_says_what_it_touched),
        cmocka_unit_test(deleted_records_are_gone_with_their_timestamps),
        cmocka_unit_test(expire_marks_expired_and_keeps_the_entry),
        cmocka_unit_test(expire_all_marks_every_entry_expired),
        cmocka_unit_test(refused_group_in_store_initgroups_rolls_back_everything),
        cmocka_unit_test(a_page_of_records_is_stored_all_or_nothing),
        cmocka_unit_test(records_nss_cannot_carry_are_refused),
        cmocka_unit_test(expiry_is_classified_fresh_expiring_expired),
        cmocka_unit_test(nowait_percentage_zero_never_answers_expiring),
        cmocka_unit_test(last_update_in_the_future_counts_as_expired),
        cmocka_unit_test(never_stored_timestamps_are_expired),
        cmocka_unit_test(nested_groups_are_followed_through_a_cycle_once),
        cmocka_unit_test(primary_group_nesting_counts_too),
        cmocka_unit_test(groups_of_user_never_answers_gid_0),
        cmocka_unit_test(groups_of_user_lists_each_gid_once),
        cmocka_unit_test(names_with_ldb_special_characters_are_found_exactly),
        cmocka_unit_test(a_star_as_a_name_finds_nothing),
        cmocka_unit_test(names_are_matched_case_sensitively),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
