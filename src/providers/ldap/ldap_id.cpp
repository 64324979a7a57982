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
      state_(loop, timing, [this] { probe(); })
{
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
    if (!connector_) connect_to(0);
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
        // Failover: the next server in ldap_uri, then offline.
        if (index + 1 < ldap_.uris.size()) {
            connect_to(index + 1);
            return;
        }
        connector_.reset();
        conn_.reset();
        // Any failure to reach a server is "offline"; a configuration problem
        // (bad credentials, a CA that does not verify) too, but it says so.
        state_.went_offline(conn.error().message);
        auto waiting = std::move(waiting_for_connection_);
        waiting_for_connection_.clear();
        for (auto &w : waiting) w(Error{Errc::unavailable, conn.error().message});
        return;
    }
    connector_.reset();
    conn_ = std::move(*conn);
    std::weak_ptr<bool> alive = alive_;
    conn_->on_broken([this, alive](const Error &e) {
        if (alive.expired()) return;
        VLOG(minor, "lost the connection: %s; reconnecting at the next lookup", e.message.c_str());
        conn_.reset();
    });
    VLOG(config, "connected to %s", uri.c_str());
    state_.came_online(uri);
    auto waiting = std::move(waiting_for_connection_);
    waiting_for_connection_.clear();
    for (auto &w : waiting) w(conn_);
}

void IdProvider::probe()
{
    if (connector_) return;
    conn_.reset();
    connect_to(0);
}

void IdProvider::force_offline()
{
    searches_.clear();
    auto waiting = std::move(in_flight_);
    in_flight_.clear();
    conn_.reset();
    state_.force_offline();
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
        conn_.reset();
        if (state_.online()) state_.went_offline(error.message);
        finish(key, Outcome::unavailable, error.message);
        return;
    }
    finish(key, Outcome::error, error.message);
}

void IdProvider::fetch_user(const Key &key, bool with_groups)
{
    const bool by_uid = key.first == Lookup::user_by_uid;
    std::uint32_t uid = 0;
    if (by_uid && !parse_number(key.second, uid)) {
        finish(key, Outcome::not_found, "'" + key.second + "' is not a uid");
        return;
    }
    auto base = id_.user_base(conn_ ? conn_->server_info().naming_context : std::string());
    // With no base known yet (it comes from the server), connect first.
    if (!base && !conn_) {
        with_connection([this, key, with_groups](Result<std::shared_ptr<LdapConnection>> c) {
            if (!c) search_failed(key, c.error());
            else if (!id_.user_base(c->get()->server_info().naming_context)) finish(key, Outcome::error, "no search base");
            else fetch_user(key, with_groups);
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
    spec.filter = equality_filter(id_.user.object_class, by_uid ? id_.user.uid_number : id_.user.name, key.second,
                                  base->filter);
    spec.attributes = id_.user_attributes();
    spec.what = describe_key(key);
    search(std::move(spec), [this, key, by_uid, uid, with_groups](Result<SearchResult> r) {
        searches_.erase(describe_key(key));
        if (!r) {
            search_failed(key, r.error());
            return;
        }
        std::vector<sysdb::User> users;
        for (const LdapEntry &e : r->entries) {
            auto u = to_user(e, id_);
            if (!u) {
                VLOG(minor, "skipping %s", u.error().message.c_str());
                continue;
            }
            // The server matches names without regard to case; we do not.
            if (by_uid ? u->uid != uid : u->name != key.second) continue;
            if (!users.empty()) {
                VLOG(minor, "skipping %s: %s %s is also %s", e.dn.c_str(), by_uid ? "uid" : "name", key.second.c_str(),
                     users.front().original_dn.c_str());
                continue;
            }
            users.push_back(std::move(*u));
        }
        if (users.empty()) {
            // The directory says no: drop what the cache has under that key.
            Status st;
            if (by_uid) {
                auto cached = cache_.user_by_uid(uid);
                if (cached && *cached) st = cache_.delete_user((*cached)->record.name);
            } else {
                st = cache_.delete_user(key.second);
            }
            if (!st) VLOG(error, "cannot drop %s from the cache: %s", describe_key(key).c_str(), st.error().message.c_str());
            finish(key, Outcome::not_found, "no such entry in the directory");
            return;
        }
        if (with_groups) {
            store_initgroups(key, users.front());
            return;
        }
        Status st = cache_.store_user(users.front(), fresh_timestamps());
        if (!st) finish(key, Outcome::error, "cannot write the cache: " + st.error().message);
        else finish(key, Outcome::ok, {});
    });
}

void IdProvider::store_initgroups(const Key &key, const sysdb::User &user)
{
    auto base = id_.group_base(conn_ ? conn_->server_info().naming_context : std::string());
    if (!base) {
        finish(key, Outcome::error, base.error().message);
        return;
    }
    SearchSpec spec;
    spec.base = base->base;
    spec.scope = base->scope;
    spec.filter = equality_filter(id_.group.object_class, id_.group.member, user.name, base->filter);
    spec.attributes = id_.group_attributes();
    spec.what = describe_key(key);
    search(std::move(spec), [this, key, user](Result<SearchResult> r) {
        searches_.erase(describe_key(key));
        if (!r) {
            search_failed(key, r.error());
            return;
        }
        std::vector<sysdb::Group> groups;
        for (const LdapEntry &e : r->entries) {
            auto g = to_group(e, id_);
            if (!g) {
                VLOG(minor, "skipping %s", g.error().message.c_str());
                continue;
            }
            auto dup = std::find_if(groups.begin(), groups.end(),
                                    [&](const sysdb::Group &o) { return o.gid == g->gid || o.name == g->name; });
            if (dup != groups.end()) {
                VLOG(minor, "skipping %s: its name or gid is also %s", e.dn.c_str(), dup->original_dn.c_str());
                continue;
            }
            groups.push_back(std::move(*g));
        }
        Status st = cache_.store_initgroups(user, groups, fresh_timestamps());
        if (!st) finish(key, Outcome::error, "cannot write the cache: " + st.error().message);
        else finish(key, Outcome::ok, {});
    });
}

void IdProvider::fetch_group(const Key &key)
{
    const bool by_gid = key.first == Lookup::group_by_gid;
    std::uint32_t gid = 0;
    if (by_gid && !parse_number(key.second, gid)) {
        finish(key, Outcome::not_found, "'" + key.second + "' is not a gid");
        return;
    }
    auto base = id_.group_base(conn_ ? conn_->server_info().naming_context : std::string());
    if (!base && !conn_) {
        with_connection([this, key](Result<std::shared_ptr<LdapConnection>> c) {
            if (!c) search_failed(key, c.error());
            else if (!id_.group_base(c->get()->server_info().naming_context)) finish(key, Outcome::error, "no search base");
            else fetch_group(key);
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
    spec.filter = equality_filter(id_.group.object_class, by_gid ? id_.group.gid_number : id_.group.name, key.second,
                                  base->filter);
    spec.attributes = id_.group_attributes();
    spec.what = describe_key(key);
    search(std::move(spec), [this, key, by_gid, gid](Result<SearchResult> r) {
        searches_.erase(describe_key(key));
        if (!r) {
            search_failed(key, r.error());
            return;
        }
        std::vector<sysdb::Group> groups;
        for (const LdapEntry &e : r->entries) {
            auto g = to_group(e, id_);
            if (!g) {
                VLOG(minor, "skipping %s", g.error().message.c_str());
                continue;
            }
            if (by_gid ? g->gid != gid : g->name != key.second) continue;
            if (!groups.empty()) {
                VLOG(minor, "skipping %s: %s %s is also %s", e.dn.c_str(), by_gid ? "gid" : "name", key.second.c_str(),
                     groups.front().original_dn.c_str());
                continue;
            }
            groups.push_back(std::move(*g));
        }
        if (groups.empty()) {
            Status st;
            if (by_gid) {
                auto cached = cache_.group_by_gid(gid);
                if (cached && *cached) st = cache_.delete_group((*cached)->record.name);
            } else {
                st = cache_.delete_group(key.second);
            }
            if (!st) VLOG(error, "cannot drop %s from the cache: %s", describe_key(key).c_str(), st.error().message.c_str());
            finish(key, Outcome::not_found, "no such entry in the directory");
            return;
        }
        Status st = cache_.store_group(groups.front(), fresh_timestamps());
        if (!st) finish(key, Outcome::error, "cannot write the cache: " + st.error().message);
        else finish(key, Outcome::ok, {});
    });
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
