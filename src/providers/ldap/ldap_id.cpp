#include "providers/ldap/ldap_id.hpp"

#include "providers/ldap/ldap_filter.hpp"
#include "util/log.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <random>

namespace vigil::ldap {

namespace {

const char *lookup_name(dp_iface::Lookup l)
{
    switch (l) {
    case dp_iface::Lookup::user_by_name: return "user";
    case dp_iface::Lookup::user_by_uid: return "uid";
    case dp_iface::Lookup::group_by_name: return "group";
    case dp_iface::Lookup::group_by_gid: return "gid";
    case dp_iface::Lookup::initgroups: return "groups of";
    }
    return "?";
}

std::string describe_key(const std::pair<dp_iface::Lookup, std::string> &key)
{
    return std::string(lookup_name(key.first)) + " " + key.second;
}

bool parse_number(const std::string &text, std::uint32_t &out)
{
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

} // namespace

IdProvider::IdProvider(EventLoop &loop, LdapSettings ldap, IdSettings id, sysdb::Sysdb &cache,
                       DomainState::Timing timing)
    : loop_(loop), ldap_(std::move(ldap)), id_(std::move(id)), cache_(cache),
      state_(loop, timing, [this] { probe(); }), timing_(timing)
{
    id_.digest_key = cache_.digest_key();
}

IdProvider::~IdProvider()
{
    *alive_ = false;
    searches_.clear(); // abandons them; their callbacks will not run
}

// ---- the connection ------------------------------------------------------

void IdProvider::with_connection(ConnDone done)
{
    if (!state_.online()) {
        done(Error{Errc::unavailable, "offline: " + state_.reason()});
        return;
    }
    if (conn_ && conn_->usable()) {
        done(conn_);
        return;
    }
    waiting_for_connection_.push_back(std::move(done));
    if (!connecting_) start_connecting();
}

void IdProvider::start_connecting()
{
    connecting_ = true;
    renewed_credentials_ = false;
    const std::uint64_t attempt = ++attempt_;
    if (!credentials_) {
        connect_to(0);
        return;
    }
    std::weak_ptr<bool> alive = alive_;
    credentials_(false, [this, alive, attempt](Status ready) {
        if (alive.expired() || attempt != attempt_) return;
        if (!ready) connection_failed(ready.error());
        else connect_to(0);
    });
}

void IdProvider::connect_to(std::size_t index)
{
    const std::string &uri = ldap_.uris.at(index);
    auto c = Connector::start(loop_, ldap_, uri, [this, index](Result<Connected> r) { connected(index, std::move(r)); });
    if (!c) {
        connected(index, std::move(c).error());
        return;
    }
    connector_ = std::move(*c);
}

void IdProvider::connected(std::size_t index, Result<Connected> result)
{
    const std::string uri = ldap_.uris.at(index);
    Result<std::shared_ptr<LdapConnection>> conn = Error{Errc::internal, "not connected"};
    if (result) conn = LdapConnection::adopt(loop_, std::move(*result), uri, ldap_);
    else conn = std::move(result).error();
    if (!conn) {
        VLOG(minor, "%s", conn.error().message.c_str());
        // A GSSAPI bind that failed for want of good host credentials (no
        // ccache, an expired ticket): new credentials, and the same server
        // again, once per attempt. A server's own refusal (no GSSAPI, the
        // security layer, TLS) is not worth an AS exchange.
        if (credentials_ && !renewed_credentials_ && gssapi_credentials_failed(conn.error())) {
            renewed_credentials_ = true;
            connector_.reset();
            const std::uint64_t attempt = attempt_;
            std::weak_ptr<bool> alive = alive_;
            VLOG(minor, "getting new Kerberos credentials for the host and binding to %s again", uri.c_str());
            credentials_(true, [this, alive, attempt, index, first = conn.error()](Status ready) {
                if (alive.expired() || attempt != attempt_) return;
                if (!ready) {
                    // The old TGT may still do for the other servers.
                    fail_over(index, Error{ready.error().code, first.message + "; then " + ready.error().message});
                    return;
                }
                connect_to(index);
            });
            return;
        }
        fail_over(index, conn.error());
        return;
    }
    connector_.reset();
    connecting_ = false;
    conn_ = std::move(*conn);
    std::weak_ptr<bool> alive = alive_;
    conn_->on_broken([this, alive](const Error &e) {
        if (alive.expired()) return;
        VLOG(minor, "lost the connection: %s; reconnecting at the next lookup", e.message.c_str());
        conn_.reset();
    });
    VLOG(config, "connected to %s", uri.c_str());
    state_.came_online(uri);
    schedule_health_check();
    auto waiting = std::move(waiting_for_connection_);
    waiting_for_connection_.clear();
    // One connection for all of them, even if an early one drops conn_.
    std::shared_ptr<LdapConnection> fresh = conn_;
    for (auto &w : waiting) w(fresh);
}

// The next server in ldap_uri, then offline.
void IdProvider::fail_over(std::size_t index, const Error &error)
{
    if (index + 1 < ldap_.uris.size()) {
        connect_to(index + 1);
        return;
    }
    connection_failed(error);
}

void IdProvider::connection_failed(const Error &error)
{
    connector_.reset();
    connecting_ = false;
    conn_.reset();
    // Any failure to reach a server is "offline"; a configuration problem
    // (bad credentials, a CA that does not verify, no keytab) too, but it says
    // so, and logins still ask the directory (DomainState::refused()).
    state_.went_offline(error.message, error.code != Errc::unavailable && error.code != Errc::timeout);
    auto waiting = std::move(waiting_for_connection_);
    waiting_for_connection_.clear();
    for (auto &w : waiting) w(Error{Errc::unavailable, error.message});
}

template <class T>
void IdProvider::free_later(T &&leftover)
{
    leftovers_.push_back(std::make_shared<std::decay_t<T>>(std::forward<T>(leftover)));
    if (leftovers_timer_.pending()) return;
    std::weak_ptr<bool> alive = alive_;
    leftovers_timer_ = loop_.after(std::chrono::milliseconds(5), [this, alive] {
        if (!alive.expired()) leftovers_.clear();
    });
}

void IdProvider::schedule_health_check()
{
    if (id_.connection_check_interval.count() == 0) return;
    std::weak_ptr<bool> alive = alive_;
    health_timer_ = loop_.after(id_.connection_check_interval, [this, alive] {
        if (!alive.expired()) health_check();
    });
}

void IdProvider::health_check()
{
    // Only a connection that is there: none means the next lookup connects
    // (and finds out then, or the offline probes do).
    if (!conn_ || !conn_->usable() || !state_.online()) return;
    if (conn_->searches_in_flight() > 0) {
        // Answers are flowing or awaited: their own timeouts watch the server.
        schedule_health_check();
        return;
    }
    SearchSpec spec;
    spec.base = "";
    spec.scope = Scope::base;
    spec.filter = "(objectClass=*)";
    spec.attributes = {"1.1"}; // no attributes: only "still there"
    spec.what = "the connection check";
    spec.max_entries = 10;
    spec.timeout = ldap_.opt_timeout;
    std::weak_ptr<bool> alive = alive_;
    std::weak_ptr<LdapConnection> checked = conn_;
    auto handle = conn_->search(std::move(spec), [this, alive, checked](Result<SearchResult> r) {
        if (alive.expired()) return;
        // Any answer, even a refusal, says the server is there.
        if (r || (r.error().code != Errc::unavailable && r.error().code != Errc::timeout)) {
            schedule_health_check();
            return;
        }
        // Only if it is still the connection in use: a newer one is fine.
        if (checked.lock() != conn_ || !conn_) return;
        VLOG(minor, "the connection check failed: %s", r.error().message.c_str());
        drop_connection(r.error());
        if (state_.online()) state_.went_offline(r.error().message);
    });
    if (!handle) {
        VLOG(minor, "cannot check the connection: %s", handle.error().message.c_str());
        return;
    }
    health_search_ = std::move(*handle);
}

void IdProvider::probe()
{
    if (connecting_) return;
    drop_connection(Error{Errc::unavailable, "reconnecting"});
    start_connecting();
}

void IdProvider::drop_connection(const Error &why)
{
    // Moved out first: the searches failed by close() may come back here.
    auto conn = std::move(conn_);
    if (conn) conn->close(why);
}

void IdProvider::force_offline()
{
    // A connection attempt under way must not bring the domain back online.
    connector_.reset();
    connecting_ = false;
    ++attempt_;
    auto connecting = std::move(waiting_for_connection_);
    waiting_for_connection_.clear();
    searches_.clear();
    auto waiting = std::move(in_flight_);
    in_flight_.clear();
    drop_connection(Error{Errc::unavailable, "forced offline"});
    state_.force_offline();
    for (auto &w : connecting) w(Error{Errc::unavailable, "offline: forced by the administrator"});
    auto direct = std::move(directory_searches_);
    directory_searches_.clear();
    for (auto &[what, d] : direct) d(Error{Errc::unavailable, "offline: forced by the administrator"});
    if (enum_run_) enumeration_over(enum_run_, "offline: forced by the administrator");
    for (auto &[key, dones] : waiting)
        for (auto &d : dones) d(Outcome::unavailable, "offline: forced by the administrator");
}

void IdProvider::force_online() { state_.force_online(); }

// ---- lookups -------------------------------------------------------------

void IdProvider::fetch(Lookup lookup, const std::string &key, Done done)
{
    Key k{lookup, key};
    auto [it, first] = in_flight_.try_emplace(k);
    it->second.push_back(std::move(done));
    if (!first) return; // joined the lookup already running for this object
    // Offline: no connection attempt per request, the answer is immediate.
    if (!state_.online()) {
        finish(k, Outcome::unavailable, "offline: " + state_.reason());
        return;
    }
    run(k);
}

void IdProvider::run(const Key &key)
{
    switch (key.first) {
    case Lookup::user_by_name:
    case Lookup::user_by_uid: fetch_user(key, false); return;
    case Lookup::initgroups: fetch_user(key, true); return;
    case Lookup::group_by_name:
    case Lookup::group_by_gid: fetch_group(key); return;
    }
    finish(key, Outcome::error, "unknown lookup");
}

void IdProvider::search(SearchSpec spec, std::function<void(Result<SearchResult>)> done)
{
    std::weak_ptr<bool> alive = alive_;
    with_connection([this, alive, spec = std::move(spec), done = std::move(done)](
                        Result<std::shared_ptr<LdapConnection>> conn) mutable {
        if (alive.expired()) return;
        if (!conn) {
            done(std::move(conn).error());
            return;
        }
        if (!*conn || !(*conn)->usable()) {
            done(Error{Errc::unavailable, "the connection to the directory was lost"});
            return;
        }
        searches_sent_ += 1;
        std::string what = spec.what;
        auto handle = (*conn)->search(std::move(spec), done);
        if (!handle) {
            done(std::move(handle).error());
            return;
        }
        // Kept by what the search is for, so that force_offline() can drop it.
        searches_[what] = std::move(*handle);
    });
}

void IdProvider::search_directory(SearchSpec spec, std::function<void(Result<SearchResult>)> done)
{
    if (!state_.online()) {
        done(Error{Errc::unavailable, "offline: " + state_.reason()});
        return;
    }
    const std::string what = spec.what;
    auto earlier = directory_searches_.find(what);
    if (earlier != directory_searches_.end()) {
        auto replaced = std::move(earlier->second);
        directory_searches_.erase(earlier);
        searches_.erase(what);
        replaced(Error{Errc::unavailable, what + ": replaced by a newer search"});
    }
    directory_searches_[what] = std::move(done);
    std::weak_ptr<bool> alive = alive_;
    search(std::move(spec), [this, alive, what](Result<SearchResult> r) {
        if (alive.expired()) return;
        searches_.erase(what);
        auto it = directory_searches_.find(what);
        if (it == directory_searches_.end()) return;
        auto answer = std::move(it->second);
        directory_searches_.erase(it);
        if (!r && (r.error().code == Errc::unavailable || r.error().code == Errc::timeout)) {
            drop_connection(r.error());
            if (state_.online()) state_.went_offline(r.error().message);
        }
        answer(std::move(r));
    });
}

sysdb::Timestamps IdProvider::fresh_timestamps() const
{
    static std::mt19937 engine{std::random_device{}()};
    const std::int64_t now = std::time(nullptr);
    // Up to a tenth earlier, never later: a thousand hosts that cached the
    // same entry together do not all ask for it again in the same second.
    std::int64_t jitter = id_.entry_cache_timeout / 10;
    std::int64_t early = jitter > 0 ? std::uniform_int_distribution<std::int64_t>(0, jitter)(engine) : 0;
    return {now, now + id_.entry_cache_timeout - early};
}

void IdProvider::search_failed(const Key &key, const Error &error)
{
    // The directory did not answer (it went away, or too slowly): offline.
    if (error.code == Errc::unavailable || error.code == Errc::timeout) {
        // Every other search on that connection is answered too, not left hanging.
        drop_connection(error);
        if (state_.online()) state_.went_offline(error.message);
        finish(key, Outcome::unavailable, error.message);
        return;
    }
    finish(key, Outcome::error, error.message);
}

// What differs between fetching a user and fetching a group: data, so the
// flow below is written once.
template <class Record>
struct IdProvider::ObjectKind {
    const char *id_noun; // "uid", "gid"
    Result<SearchBase> (IdSettings::*base)(const std::string &) const;
    std::string object_class, name_attr, id_attr;
    std::vector<std::string> attributes;
    Result<Record> (*convert)(LdapEntry, const IdSettings &);
    std::uint32_t Record::*id;
    Result<std::optional<sysdb::Cached<Record>>> (sysdb::Sysdb::*cached_by_id)(std::uint32_t) const;
    Status (sysdb::Sysdb::*store)(const Record &, const sysdb::Timestamps &);
    Status (sysdb::Sysdb::*remove)(const std::string &);
};

void IdProvider::fetch_user(const Key &key, bool with_groups)
{
    const ObjectKind<sysdb::User> k{"uid",
                                    &IdSettings::user_base,
                                    id_.user.object_class,
                                    id_.user.name,
                                    id_.user.uid_number,
                                    id_.user_attributes(),
                                    to_user,
                                    &sysdb::User::uid,
                                    &sysdb::Sysdb::user_by_uid,
                                    &sysdb::Sysdb::store_user,
                                    &sysdb::Sysdb::delete_user};
    std::function<void(const sysdb::User &)> then;
    std::shared_ptr<GroupsSearch> groups;
    if (with_groups) {
        // rfc2307 lists members by name, and initgroups asks by name: the
        // groups listing it are asked for at once, beside the user, not a
        // round trip later. (Stored only if the user is found.)
        groups = search_groups_of(key, key.second);
        then = [this, key, groups](const sysdb::User &u) { store_initgroups(key, u, groups); };
    }
    fetch_object<sysdb::User>(key, k, key.first == Lookup::user_by_uid, std::move(then));
    // Both searches are out: the cache is read while the directory works.
    if (groups) read_groups_ahead(*groups, key.second);
}

// A group lookup whose one answer is the very entry the cached group was
// made from (same DN, same digest): its timestamps are refreshed and the
// entry is not converted, checked and compared again (for 10,000 members
// that is most of the lookup's work). True when done (finished).
bool IdProvider::refreshed_unchanged(const Key &key, const SearchResult &r, const ReadAhead &ahead)
{
    if (!ahead.cache || r.entries.size() != 1) return false;
    auto cached = ahead.cache->single_group();
    if (!cached || cached->source_digest.empty() || cached->original_dn != r.entries[0].dn) return false;
    if (cached->source_digest != group_entry_digest(r.entries[0], id_)) return false;
    auto done = cache_.refresh_unchanged_group(std::string(cached->name), fresh_timestamps(), *ahead.cache);
    if (done && !*done) return false; // the read-ahead is out of date: the usual way
    if (!done) finish(key, Outcome::error, "cannot write the cache: " + done.error().message);
    else finish(key, Outcome::ok, {});
    return true;
}

std::shared_ptr<IdProvider::GroupsSearch> IdProvider::search_groups_of(const Key &key, const std::string &name)
{
    auto base = id_.group_base(conn_ ? conn_->server_info().naming_context : std::string());
    if (!base) return nullptr; // the base comes from the server: asked once the user is known
    SearchSpec spec;
    spec.base = base->base;
    spec.scope = base->scope;
    spec.filter = equality_filter(id_.group.object_class, id_.group.member, name, base->filter);
    spec.attributes = id_.group_attributes();
    spec.what = describe_key(key) + " (groups)";
    spec.max_entries = 65536 + 1000; // NGROUPS_MAX, and room for entries we skip
    auto groups = std::make_shared<GroupsSearch>();
    groups->ahead = std::make_shared<ReadAhead>();
    search(spec, [this, what = spec.what, groups](Result<SearchResult> r) {
        groups->ahead->answered = true;
        searches_.erase(what);
        if (auto waiting = std::move(groups->waiting)) {
            waiting(std::move(r), *groups->ahead);
            free_later(std::move(groups->ahead));
        } else {
            groups->result = std::move(r);
        }
    });
    return groups;
}

// The cached groups listing the user (500 of them: ~1 ms) are read while the
// directory searches, not after its answer.
void IdProvider::read_groups_ahead(GroupsSearch &groups, const std::string &name)
{
    if (groups.ahead->answered) return;
    auto read = cache_.prefetch_groups_listing(name);
    if (!read) {
        VLOG(trace, "reading the groups of %s ahead: %s", name.c_str(), read.error().message.c_str());
        return;
    }
    ReadAhead &ahead = *groups.ahead;
    ahead.cache = std::move(*read);
    // Indexed by DN now, while the directory is still searching: the
    // answer's entries are looked up by theirs.
    const auto cached = ahead.cache->groups();
    ahead.sources.reserve(cached.size());
    for (const auto &g : cached)
        if (!g.original_dn.empty()) ahead.sources.emplace(g.original_dn, CachedGroupSource{g.name, g.gid, g.source_digest});
}

void IdProvider::fetch_group(const Key &key)
{
    const ObjectKind<sysdb::Group> k{"gid",
                                     &IdSettings::group_base,
                                     id_.group.object_class,
                                     id_.group.name,
                                     id_.group.gid_number,
                                     id_.group_attributes(),
                                     to_group,
                                     &sysdb::Group::gid,
                                     &sysdb::Sysdb::group_by_gid,
                                     &sysdb::Sysdb::store_group,
                                     &sysdb::Sysdb::delete_group};
    fetch_object<sysdb::Group>(key, k, key.first == Lookup::group_by_gid, {});
}

// One object by name or id: search, keep the entries that really match (the
// server compares names without regard to case; we do not), skip bad and
// duplicate ones with a line each, then store it — or, when the directory
// has none, drop what the cache holds under that key. `then`, when set,
// takes over from the store (initgroups goes on to the groups).
template <class Record>
void IdProvider::fetch_object(const Key &key, const ObjectKind<Record> &kind, bool by_id,
                              std::function<void(const Record &)> then)
{
    std::uint32_t id = 0;
    if (by_id && !parse_number(key.second, id)) {
        finish(key, Outcome::not_found, "'" + key.second + "' is not a " + kind.id_noun);
        return;
    }
    auto base = (id_.*kind.base)(conn_ ? conn_->server_info().naming_context : std::string());
    if (!base && !conn_) {
        // The base may come from the server's naming context: connect first.
        with_connection([this, key, kind, by_id, then](Result<std::shared_ptr<LdapConnection>> c) {
            if (!c) search_failed(key, c.error());
            else if (!(id_.*kind.base)((*c)->server_info().naming_context)) finish(key, Outcome::error, "no search base");
            else fetch_object<Record>(key, kind, by_id, then);
        });
        return;
    }
    if (!base) {
        finish(key, Outcome::error, base.error().message);
        return;
    }
    SearchSpec spec;
    spec.base = base->base;
    spec.scope = base->scope;
    spec.filter = equality_filter(kind.object_class, by_id ? kind.id_attr : kind.name_attr, key.second, base->filter);
    spec.attributes = kind.attributes;
    spec.what = describe_key(key);
    spec.max_entries = 1000; // one name or id: a handful at most, even with duplicates
    spec.paged = false;      // so it never waits for a paged search (ldap_conn.hpp)
    auto ahead = std::make_shared<ReadAhead>();
    search(std::move(spec), [this, key, kind, by_id, id, then, ahead](Result<SearchResult> r) {
        ahead->answered = true;
        searches_.erase(describe_key(key));
        if (!r) {
            search_failed(key, r.error());
            return;
        }
        if constexpr (std::is_same_v<Record, sysdb::Group>) {
            free_later(ahead); // a large group's cached entry
            if (refreshed_unchanged(key, *r, *ahead)) {
                free_later(std::move(r->entries));
                return;
            }
        }
        std::optional<Record> found;
        for (LdapEntry &e : r->entries) {
            auto rec = kind.convert(std::move(e), id_);
            if (!rec) {
                VLOG(minor, "skipping %s", rec.error().message.c_str());
                continue;
            }
            if (by_id ? (*rec).*kind.id != id : rec->name != key.second) continue;
            if (found) {
                VLOG(minor, "skipping %s: %s %s is also %s", rec->original_dn.c_str(), by_id ? kind.id_noun : "name",
                     key.second.c_str(), found->original_dn.c_str());
                continue;
            }
            found = std::move(*rec);
        }
        if (!found) {
            Status st;
            if (by_id) {
                auto cached = (cache_.*kind.cached_by_id)(id);
                if (cached && *cached) st = (cache_.*kind.remove)((*cached)->record.name);
            } else {
                st = (cache_.*kind.remove)(key.second);
            }
            if (!st) VLOG(error, "cannot drop %s from the cache: %s", describe_key(key).c_str(), st.error().message.c_str());
            finish(key, Outcome::not_found, "no such entry in the directory");
            return;
        }
        if (then) {
            then(*found);
            return;
        }
        Status st;
        if constexpr (std::is_same_v<Record, sysdb::Group>) {
            st = ahead->cache ? cache_.store_group(*found, fresh_timestamps(), *ahead->cache)
                              : cache_.store_group(*found, fresh_timestamps());
        } else {
            st = (cache_.*kind.store)(*found, fresh_timestamps());
        }
        if (!st) finish(key, Outcome::error, "cannot write the cache: " + st.error().message);
        else finish(key, Outcome::ok, {});
        if constexpr (std::is_same_v<Record, sysdb::Group>) free_later(std::move(*found));
    });
    // A group's cached entry is read while the directory searches (a large
    // one costs ~0.5 ms to read): off the lookup's path.
    if constexpr (std::is_same_v<Record, sysdb::Group>) {
        if (!ahead->answered) {
            auto read = by_id ? cache_.prefetch_group_by_gid(id) : cache_.prefetch_group(key.second);
            if (read) ahead->cache = std::move(*read);
            else VLOG(trace, "reading %s ahead: %s", describe_key(key).c_str(), read.error().message.c_str());
        }
    }
}

void IdProvider::store_initgroups(const Key &key, const sysdb::User &user, std::shared_ptr<GroupsSearch> groups)
{
    if (!groups) {
        groups = search_groups_of(key, user.name);
        if (groups) read_groups_ahead(*groups, user.name);
    }
    if (!groups) {
        auto base = id_.group_base(conn_ ? conn_->server_info().naming_context : std::string());
        finish(key, Outcome::error, base ? "no group search base" : base.error().message);
        return;
    }
    auto store = [this, key, user](Result<SearchResult> r, const ReadAhead &ahead) {
        if (!r) {
            search_failed(key, r.error());
            return;
        }
        // Groups whose entries are the ones their cached records were made
        // from (same DN, same digest) are not converted and compared again:
        // their timestamps are refreshed. Only with a current read-ahead,
        // which the write then uses.
        static const CachedGroupSources none;
        const bool current = ahead.cache && cache_.current(*ahead.cache);
        AnswerGroups found = distinct_groups(r->entries, id_, current ? ahead.sources : none);
        Status st = ahead.cache ? cache_.store_initgroups(user, found.converted, found.unchanged, fresh_timestamps(),
                                                          *ahead.cache)
                                : cache_.store_initgroups(user, found.converted, fresh_timestamps());
        if (!st) finish(key, Outcome::error, "cannot write the cache: " + st.error().message);
        else finish(key, Outcome::ok, {});
        free_later(std::move(r->entries));
        free_later(std::move(found));
    };
    // No cycle: `waiting` does not hold `groups`.
    if (groups->result) {
        store(std::move(*groups->result), *groups->ahead);
        free_later(std::move(groups->ahead));
    } else {
        groups->waiting = std::move(store);
    }
}

void IdProvider::finish(const Key &key, Outcome outcome, const std::string &message)
{
    auto it = in_flight_.find(key);
    if (it == in_flight_.end()) return;
    auto dones = std::move(it->second);
    in_flight_.erase(it);
    VLOG(info, "%s: %s%s%s", describe_key(key).c_str(), dp_iface::outcome_name(outcome), message.empty() ? "" : ": ",
         message.c_str());
    for (auto &d : dones) d(outcome, message);
}

} // namespace vigil::ldap
