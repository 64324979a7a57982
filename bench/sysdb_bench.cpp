// sysdb lookup figures on a cache the size of a large site: 100,000 users,
// one user in 500 groups, one group of 10,000 members. Prints medians over
// several runs; asserts nothing (DESIGN.md: tests never assert a time).
//
//   make bench && LDB_MODULES_DISABLE_DEEPBIND=1 ./bench/sysdb_bench [USERS] [RUNS]
#include "util/sysdb/sysdb.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace vigil::sysdb;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint32_t first_uid = 100000;
constexpr std::uint32_t first_gid = 500000;
constexpr int groups_of_busy_user = 500;

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

[[noreturn]] void die(const std::string &what, const vigil::Error &e)
{
    std::fprintf(stderr, "sysdb_bench: %s: %s\n", what.c_str(), e.message.c_str());
    std::exit(1);
}

void check(const vigil::Status &st, const char *what)
{
    if (!st) die(what, st.error());
}

std::string user_name(std::uint32_t i) { return "user" + std::to_string(i); }

// user0's 500 groups, each with 20 other members.
std::vector<Group> busy_user_groups(std::uint32_t users)
{
    std::vector<Group> groups;
    for (int g = 0; g < groups_of_busy_user; ++g) {
        Group group;
        group.name = "group" + std::to_string(g);
        group.gid = first_gid + 1 + static_cast<std::uint32_t>(g);
        group.members.push_back(user_name(0));
        for (std::uint32_t m = 1; m <= 20; ++m) group.members.push_back(user_name((g * 20 + m) % users));
        groups.push_back(std::move(group));
    }
    return groups;
}

User busy_user()
{
    User u;
    u.name = user_name(0);
    u.uid = first_uid;
    u.gid = first_gid;
    u.gecos = "User 0";
    u.home = "/home/" + u.name;
    u.shell = "/bin/bash";
    u.original_dn = "uid=" + u.name + ",ou=people,dc=example,dc=com";
    return u;
}

double populate(Sysdb &db, std::uint32_t users, const Timestamps &ts)
{
    auto start = Clock::now();
    std::vector<User> page;
    for (std::uint32_t i = 0; i < users; ++i) {
        User u;
        u.name = user_name(i);
        u.uid = first_uid + i;
        u.gid = first_gid;
        u.gecos = "User " + std::to_string(i);
        u.home = "/home/" + u.name;
        u.shell = "/bin/bash";
        u.original_dn = "uid=" + u.name + ",ou=people,dc=example,dc=com";
        page.push_back(std::move(u));
        if (page.size() == 1000 || i + 1 == users) {
            check(db.store_users(page, ts), "storing users");
            page.clear();
        }
    }
    check(db.store_groups(busy_user_groups(users), ts), "storing groups");
    return micros(Clock::now() - start) / 1e6;
}

// `setup(i)` runs before each timed `lookup(i)`, untimed.
template <class Setup, class Lookup>
void report(const char *what, int runs, int per_run, Setup setup, Lookup lookup)
{
    std::vector<double> medians;
    for (int r = 0; r < runs; ++r) {
        std::vector<double> samples;
        for (int i = 0; i < per_run; ++i) {
            setup(i);
            auto start = Clock::now();
            lookup(i);
            samples.push_back(micros(Clock::now() - start));
        }
        medians.push_back(median(samples));
    }
    std::printf("%-44s median %9.1f us   (per-run medians:", what, median(medians));
    for (double m : medians) std::printf(" %.1f", m);
    std::printf(")\n");
}

template <class Lookup>
void report(const char *what, int runs, int per_run, Lookup lookup)
{
    report(what, runs, per_run, [](int) {}, lookup);
}

} // namespace

int main(int argc, char **argv)
{
    std::uint32_t users = argc > 1 ? static_cast<std::uint32_t>(std::strtoul(argv[1], nullptr, 10)) : 100000;
    int runs = argc > 2 ? std::atoi(argv[2]) : 5;
    if (users < 1000 || runs < 1) {
        std::fprintf(stderr, "usage: sysdb_bench [USERS >= 1000] [RUNS >= 1]\n");
        return 2;
    }
    const char *base = std::getenv("TMPDIR");
    std::string dir = std::string(base && *base ? base : "/tmp") + "/sysdb-bench-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) return 1;
    auto opened = Sysdb::open(SysdbPaths::for_domain(dir, "BENCH"), Sysdb::Role::writer);
    if (!opened) die("open", opened.error());
    Sysdb db = std::move(*opened);
    Timestamps ts{std::time(nullptr), std::time(nullptr) + 5400};

    std::printf("populating %u users and %d groups ... ", users, groups_of_busy_user);
    std::fflush(stdout);
    std::printf("%.1f s\n", populate(db, users, ts));
    struct stat st{};
    stat(db.paths().entries.c_str(), &st);
    std::printf("cache file %.1f MiB\n", static_cast<double>(st.st_size) / (1 << 20));

    std::mt19937 rng(42);
    std::uniform_int_distribution<std::uint32_t> pick(0, users - 1);
    std::vector<std::uint32_t> keys(2000);
    for (auto &k : keys) k = pick(rng);
    std::vector<std::string> names;
    for (auto k : keys) names.push_back(user_name(k));

    report("user_by_name (hit)", runs, 2000, [&](int i) {
        auto r = db.user_by_name(names[i]);
        if (!r || !r->has_value()) die("user_by_name", r ? vigil::Error{vigil::Errc::not_found, names[i]} : r.error());
    });
    report("user_by_uid (hit)", runs, 2000, [&](int i) {
        auto r = db.user_by_uid(first_uid + keys[i]);
        if (!r || !r->has_value()) die("user_by_uid", r ? vigil::Error{vigil::Errc::not_found, names[i]} : r.error());
    });
    report("user_by_name (miss)", runs, 2000, [&](int i) {
        auto r = db.user_by_name("nobody" + std::to_string(i));
        if (!r || r->has_value()) die("user_by_name miss", vigil::Error{vigil::Errc::internal, "found"});
    });
    report("groups_of_user (user in 500 groups)", runs, 50, [&](int) {
        auto r = db.groups_of_user(user_name(0), first_gid);
        if (!r || r->gids.size() != groups_of_busy_user + 1) die("groups_of_user", vigil::Error{vigil::Errc::internal, "wrong count"});
    });

    // What one cold lookup writes: a user new to the cache, in one durable
    // commit (entries and timestamps).
    std::uint32_t next_new = users;
    report("store_user (a new user, durable commit)", 1, 200, [&](int) {
        User u;
        u.name = user_name(next_new);
        u.uid = first_uid + next_new++;
        u.gid = first_gid;
        u.home = "/home/" + u.name;
        u.shell = "/bin/bash";
        u.original_dn = "uid=" + u.name + ",ou=people,dc=example,dc=com";
        check(db.store_user(u, ts), "store_user");
    });
    report("store_user (unchanged: a refresh)", 1, 200, [&](int i) {
        User u;
        u.name = user_name(users + static_cast<std::uint32_t>(i));
        u.uid = first_uid + users + static_cast<std::uint32_t>(i);
        u.gid = first_gid;
        u.home = "/home/" + u.name;
        u.shell = "/bin/bash";
        u.original_dn = "uid=" + u.name + ",ou=people,dc=example,dc=com";
        check(db.store_user(u, ts), "store_user");
    });

    // A cold initgroups of user0: the same user and 500 groups again (a
    // refresh that changes no entry: timestamps only, no durable commit).
    const std::vector<Group> groups = busy_user_groups(users);
    const User busy = busy_user();
    check(db.store_initgroups(busy, groups, ts), "store_initgroups");
    const std::uint64_t commits = db.durable_commits();
    report("store_initgroups, 500 groups, unchanged", runs, 10, [&](int) {
        check(db.store_initgroups(busy, groups, ts), "store_initgroups");
    });
    // vigil_be reads the cached groups while the directory searches: what is left after the answer.
    std::optional<vigil::sysdb::Prefetch> ahead;
    report("prefetch_groups_listing, 500 groups", runs, 10, [&](int) {
        auto read = db.prefetch_groups_listing(busy.name);
        if (!read) die("prefetch_groups_listing", read.error());
    });
    report("store_initgroups, 500 unchanged, read ahead", runs, 10,
           [&](int) {
               auto read = db.prefetch_groups_listing(busy.name);
               if (!read) die("prefetch_groups_listing", read.error());
               ahead = std::move(*read);
           },
           [&](int) { check(db.store_initgroups(busy, groups, ts, *ahead), "store_initgroups"); });
    if (db.durable_commits() != commits) die("store_initgroups", vigil::Error{vigil::Errc::internal, "an unchanged refresh committed entries"});

    // The refresh of a 10,000-member group: first store, then unchanged.
    Group big;
    big.name = "biggroup";
    big.gid = first_gid + 10000;
    for (std::uint32_t m = 0; m < 10000; ++m) big.members.push_back(user_name(m % users));
    big = normalised(std::move(big)); // as the provider hands it over
    report("store 10,000-member group (changed each time)", 1, std::max(runs, 3), [&](int i) {
        big.members.back() = "extra" + std::to_string(i);
        check(db.store_group(big, ts), "store big group");
    });
    report("store 10,000-member group (unchanged)", 1, std::max(runs, 3), [&](int) {
        check(db.store_group(big, ts), "store big group");
    });
    report("store 10,000-member group (unchanged, read ahead)", 1, std::max(runs, 3),
           [&](int) {
               auto read = db.prefetch_group(big.name);
               if (!read) die("prefetch_group", read.error());
               ahead = std::move(*read);
           },
           [&](int) { check(db.store_group(big, ts, *ahead), "store big group"); });
    report("group_by_name (10,000 members)", runs, 20, [&](int) {
        auto r = db.group_by_name("biggroup");
        if (!r || !r->has_value()) die("group_by_name", vigil::Error{vigil::Errc::not_found, "biggroup"});
    });

    std::string cleanup = "rm -rf '" + dir + "'";
    return std::system(cleanup.c_str()) == 0 ? 0 : 1;
}
