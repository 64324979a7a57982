// Enumeration (enumerate = true): every user and group of the directory into
// the cache, so that getpwent/getgrent can list them. One run: search the
// users, then the groups (paged, bounded by ldap_enumeration_search_timeout),
// check each entry as a lookup does, store them in transactions of a few
// hundred with a turn of the event loop between them (lookups keep flowing
// while a large directory is written), and only after all of that succeeded,
// drop the cached entries the run did not refresh: the directory no longer
// has them. A run that fails drops nothing.
#include "providers/ldap/ldap_filter.hpp"
#include "providers/ldap/ldap_id.hpp"
#include "util/log.hpp"

#include <ctime>
#include <random>
#include <unordered_set>

namespace vigil::ldap {

namespace {

constexpr std::size_t store_batch = 250;

std::chrono::milliseconds jittered(std::chrono::seconds period)
{
    static std::mt19937 engine{std::random_device{}()};
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(period).count();
    std::uniform_int_distribution<long long> tenth(-ms / 10, ms / 10);
    return std::chrono::milliseconds(ms + tenth(engine));
}

} // namespace

struct IdProvider::EnumRun {
    std::int64_t started = 0; // wall clock: entries refreshed before this were not in the answer
    std::vector<sysdb::User> users;
    std::vector<sysdb::Group> groups;
    std::size_t stored_users = 0, stored_groups = 0;
    std::size_t skipped = 0;
};

void IdProvider::start_enumeration()
{
    if (!id_.enumerate) return;
    std::weak_ptr<bool> alive = alive_;
    enum_timer_ = loop_.after(std::chrono::milliseconds(0), [this, alive] {
        if (!alive.expired()) enumerate_now();
    });
}

void IdProvider::enumerate_now()
{
    if (enum_run_) return;
    enum_status_.running = true;
    auto run = std::make_shared<EnumRun>();
    run->started = std::time(nullptr);
    enum_run_ = run;
    VLOG(info, "enumeration started");
    enumerate_kind(run, true);
}

void IdProvider::enumerate_kind(std::shared_ptr<EnumRun> run, bool users)
{
    std::weak_ptr<bool> alive = alive_;
    // The bases may come from the server's naming context: connected first.
    with_connection([this, alive, run, users](Result<std::shared_ptr<LdapConnection>> conn) {
        if (alive.expired() || run != enum_run_) return;
        if (!conn) {
            enumeration_over(run, conn.error().message);
            return;
        }
        const std::string naming_context = *conn ? (*conn)->server_info().naming_context : std::string();
        auto base = users ? id_.user_base(naming_context) : id_.group_base(naming_context);
        if (!base) {
            enumeration_over(run, base.error().message);
            return;
        }
        SearchSpec spec;
        spec.base = base->base;
        spec.scope = base->scope;
        spec.filter = users ? presence_filter(id_.user.object_class, id_.user.uid_number, base->filter)
                            : presence_filter(id_.group.object_class, id_.group.gid_number, base->filter);
        spec.attributes = users ? id_.user_attributes() : id_.group_attributes();
        spec.what = users ? "enumeration of users" : "enumeration of groups";
        spec.max_entries = 2000000;
        spec.timeout = id_.enumeration_search_timeout;
        search(std::move(spec), [this, alive, run, users](Result<SearchResult> r) {
            if (alive.expired() || run != enum_run_) return;
            searches_.erase(users ? "enumeration of users" : "enumeration of groups");
            if (!r) {
                // Unreachable is offline, as for a lookup; other errors are this run's.
                if (r.error().code == Errc::unavailable || r.error().code == Errc::timeout) {
                    drop_connection(r.error());
                    if (state_.online()) state_.went_offline(r.error().message);
                }
                enumeration_over(run, r.error().message);
                return;
            }
            // Each entry checked as a lookup checks it; a name or id twice keeps the first.
            std::unordered_set<std::string> names;
            std::unordered_set<std::uint32_t> ids;
            for (LdapEntry &e : r->entries) {
                if (users) {
                    auto u = to_user(std::move(e), id_);
                    if (!u) {
                        VLOG(minor, "skipping %s", u.error().message.c_str());
                        run->skipped += 1;
                        continue;
                    }
                    if (!names.insert(u->name).second || !ids.insert(u->uid).second) {
                        VLOG(minor, "skipping %s: its name or uid is another entry's too", u->original_dn.c_str());
                        run->skipped += 1;
                        continue;
                    }
                    run->users.push_back(std::move(*u));
                } else {
                    auto g = to_group(std::move(e), id_);
                    if (!g) {
                        VLOG(minor, "skipping %s", g.error().message.c_str());
                        run->skipped += 1;
                        continue;
                    }
                    if (!names.insert(g->name).second || !ids.insert(g->gid).second) {
                        VLOG(minor, "skipping %s: its name or gid is another entry's too", g->original_dn.c_str());
                        run->skipped += 1;
                        continue;
                    }
                    run->groups.push_back(std::move(*g));
                }
            }
            if (users) enumerate_kind(run, false);
            else enumeration_store(run);
        });
    });
}

void IdProvider::enumeration_store(std::shared_ptr<EnumRun> run)
{
    if (run != enum_run_) return; // given up meanwhile (forced offline)
    // One batch per turn of the loop: users, then groups.
    const sysdb::Timestamps ts = fresh_timestamps();
    Status st;
    if (run->stored_users < run->users.size()) {
        const std::size_t end = std::min(run->users.size(), run->stored_users + store_batch);
        std::vector<sysdb::User> batch(run->users.begin() + static_cast<std::ptrdiff_t>(run->stored_users),
                                       run->users.begin() + static_cast<std::ptrdiff_t>(end));
        st = cache_.store_users(batch, ts);
        run->stored_users = end;
    } else if (run->stored_groups < run->groups.size()) {
        const std::size_t end = std::min(run->groups.size(), run->stored_groups + store_batch);
        std::vector<sysdb::Group> batch(run->groups.begin() + static_cast<std::ptrdiff_t>(run->stored_groups),
                                        run->groups.begin() + static_cast<std::ptrdiff_t>(end));
        st = cache_.store_groups(batch, ts);
        run->stored_groups = end;
    } else {
        enumeration_cleanup(run);
        return;
    }
    if (!st) {
        enumeration_over(run, "cannot write the cache: " + st.error().message);
        return;
    }
    std::weak_ptr<bool> alive = alive_;
    enum_timer_ = loop_.after(std::chrono::milliseconds(0), [this, alive, run] {
        if (!alive.expired()) enumeration_store(run);
    });
}

void IdProvider::enumeration_cleanup(std::shared_ptr<EnumRun> run)
{
    // Everything the directory answered now has last_update >= started; so
    // has anything a lookup refreshed meanwhile. The rest is gone from it.
    std::size_t dropped = 0;
    auto users = cache_.all_users();
    auto groups = cache_.all_groups();
    if (!users || !groups) {
        enumeration_over(run, "cannot read the cache: " + (users ? groups.error() : users.error()).message);
        return;
    }
    for (const auto &u : *users) {
        if (u.timestamps.last_update >= run->started) continue;
        Status st = cache_.delete_user(u.record.name);
        if (!st) VLOG(error, "cannot drop user %s: %s", u.record.name.c_str(), st.error().message.c_str());
        else dropped += 1;
    }
    for (const auto &g : *groups) {
        if (g.timestamps.last_update >= run->started) continue;
        Status st = cache_.delete_group(g.record.name);
        if (!st) VLOG(error, "cannot drop group %s: %s", g.record.name.c_str(), st.error().message.c_str());
        else dropped += 1;
    }
    VLOG(config, "enumeration: %zu users, %zu groups stored, %zu entries skipped, %zu dropped (gone from the directory)",
         run->users.size(), run->groups.size(), run->skipped, dropped);
    enumeration_over(run, {});
}

void IdProvider::enumeration_over(const std::shared_ptr<EnumRun> &run, const std::string &error)
{
    if (run != enum_run_) return;
    enum_run_.reset();
    enum_status_.running = false;
    std::chrono::seconds next = id_.enumeration_refresh;
    if (error.empty()) {
        enum_status_.completed += 1;
        enum_status_.last_completed = std::time(nullptr);
        enum_status_.last_error.clear();
    } else {
        VLOG(minor, "enumeration failed: %s", error.c_str());
        enum_status_.last_error = error;
        next = std::min(next, timing_.offline_timeout);
    }
    std::weak_ptr<bool> alive = alive_;
    enum_timer_ = loop_.after(jittered(next), [this, alive] {
        if (!alive.expired()) enumerate_now();
    });
}

} // namespace vigil::ldap
