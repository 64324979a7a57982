#include "responder/nss/nss_responder.hpp"

#include "util/ini.hpp" // is_valid_utf8
#include "util/log.hpp"

#include <charconv>
#include <ctime>

namespace vigil::responder {

using dp_iface::Lookup;
using dp_iface::Outcome;

namespace {

// The passwd field: vigil never hands out password hashes.
constexpr std::string_view no_password = "*";

std::vector<std::uint8_t> encode(const sysdb::User &u)
{
    WireWriter w;
    w.u32(u.uid);
    w.u32(u.gid);
    w.str(u.name);
    w.str(no_password);
    w.str(u.gecos);
    w.str(u.home);
    w.str(u.shell);
    return w.take();
}

std::vector<std::uint8_t> encode(const sysdb::Group &g)
{
    WireWriter w;
    w.u32(g.gid);
    w.str(g.name);
    w.str(no_password);
    w.u32(static_cast<std::uint32_t>(g.members.size()));
    for (const std::string &m : g.members) w.str(m);
    return w.take();
}

std::optional<std::string> read_name(const ClientRequest &req)
{
    WireReader r(req.body);
    auto name = r.str(VIGIL_MAX_NAME_LEN);
    if (!name || !r.done()) return std::nullopt;
    return name;
}

// No directory name is anything but UTF-8; the rest never leaves this process.
bool servable_name(const std::string &name) { return !name.empty() && is_valid_utf8(name); }

std::optional<std::uint32_t> read_id(const ClientRequest &req)
{
    WireReader r(req.body);
    auto id = r.u32();
    if (!id || !r.done()) return std::nullopt;
    return id;
}

} // namespace

NssSettings NssSettings::from_config(const Config &c)
{
    NssSettings s;
    s.nowait_percentage = static_cast<int>(c.get_int("nss", "entry_cache_nowait_percentage"));
    s.negative_timeout = std::chrono::seconds(c.get_int("nss", "entry_negative_timeout"));
    for (const std::string &u : c.get_list("nss", "filter_users")) s.filter_users.insert(u);
    for (const std::string &g : c.get_list("nss", "filter_groups")) s.filter_groups.insert(g);
    s.filter_users.insert("root");
    s.filter_groups.insert("root");
    return s;
}

NssResponder::NssResponder(EventLoop &loop, NssSettings settings, std::vector<std::unique_ptr<NssDomain>> domains)
    : loop_(loop), settings_(std::move(settings)), domains_(std::move(domains))
{
}

std::map<std::uint32_t, CommandHandler> NssResponder::handlers()
{
    using sysdb::Group;
    using sysdb::Sysdb;
    using sysdb::User;
    // Enumeration is not served (enumerate = false): the end, at once.
    auto no_enumeration = [](ClientRequest, Reply reply) { reply.status(VIGIL_STATUS_NOTFOUND); };
    return {
        {VIGIL_CMD_GETPWNAM,
         [this](ClientRequest q, Reply r) {
             serve_by_name<User>(std::move(q), std::move(r), Lookup::user_by_name, settings_.filter_users,
                                 &Sysdb::user_by_name);
         }},
        {VIGIL_CMD_GETPWUID,
         [this](ClientRequest q, Reply r) {
             serve_by_id<User>(std::move(q), std::move(r), Lookup::user_by_uid, settings_.filter_users,
                               &Sysdb::user_by_uid);
         }},
        {VIGIL_CMD_GETGRNAM,
         [this](ClientRequest q, Reply r) {
             serve_by_name<Group>(std::move(q), std::move(r), Lookup::group_by_name, settings_.filter_groups,
                                  &Sysdb::group_by_name);
         }},
        {VIGIL_CMD_GETGRGID,
         [this](ClientRequest q, Reply r) {
             serve_by_id<Group>(std::move(q), std::move(r), Lookup::group_by_gid, settings_.filter_groups,
                                &Sysdb::group_by_gid);
         }},
        {VIGIL_CMD_INITGROUPS, [this](ClientRequest q, Reply r) { initgroups(std::move(q), std::move(r)); }},
        {VIGIL_CMD_GETPWENT, no_enumeration},
        {VIGIL_CMD_GETGRENT, no_enumeration},
    };
}

sysdb::Sysdb *NssResponder::cache_of(NssDomain &d)
{
    // The provider may have moved a broken cache aside and started a new one.
    if (d.cache) {
        auto reopened = d.cache->reopen_if_replaced();
        if (!reopened) {
            VLOG(minor, "domain %s: %s", d.name.c_str(), reopened.error().message.c_str());
            d.cache.reset();
        }
    }
    if (!d.cache) {
        auto opened = sysdb::Sysdb::open(d.paths, sysdb::Sysdb::Role::reader);
        if (!opened) {
            VLOG(minor, "domain %s: no cache yet: %s", d.name.c_str(), opened.error().message.c_str());
            return nullptr;
        }
        d.cache.emplace(std::move(*opened));
    }
    return &*d.cache;
}

bool NssResponder::negative_hit(std::size_t domain, Lookup lookup, const std::string &key)
{
    auto it = negative_.find({domain, static_cast<std::uint32_t>(lookup), key});
    if (it == negative_.end()) return false;
    if (EventLoop::now() < it->second) return true;
    negative_.erase(it);
    return false;
}

void NssResponder::remember_negative(std::size_t domain, Lookup lookup, const std::string &key)
{
    if (settings_.negative_timeout.count() == 0) return;
    if (negative_.size() > 100000) {
        // Bounded: a scan for names that do not exist must not grow us forever.
        const auto now = EventLoop::now();
        std::erase_if(negative_, [&](const auto &e) { return e.second <= now; });
        if (negative_.size() > 100000) negative_.clear();
    }
    negative_[{domain, static_cast<std::uint32_t>(lookup), key}] = EventLoop::now() + settings_.negative_timeout;
}

template <class Record>
void NssResponder::resolve(Lookup lookup, std::string key, Read<Record> read, Done<Record> done)
{
    resolve_in<Record>(0, false, lookup, std::move(key), std::move(read), std::move(done));
}

template <class Record>
void NssResponder::resolve_in(std::size_t index, bool any_unavailable, Lookup lookup, std::string key,
                              Read<Record> read, Done<Record> done)
{
    using Kind = AnswerKind;
    if (index == domains_.size()) {
        // Not found anywhere; but a domain that could not say is not a "no".
        done({any_unavailable ? Kind::unavailable : Kind::not_found, std::nullopt});
        return;
    }
    NssDomain &d = *domains_[index];
    if (negative_hit(index, lookup, key)) {
        resolve_in<Record>(index + 1, any_unavailable, lookup, std::move(key), std::move(read), std::move(done));
        return;
    }
    std::optional<sysdb::Cached<Record>> cached;
    if (sysdb::Sysdb *cache = cache_of(d)) {
        auto r = read(*cache);
        if (r) cached = std::move(*r);
        else VLOG(error, "domain %s: reading the cache: %s", d.name.c_str(), r.error().message.c_str());
    }
    const auto freshness = cached ? sysdb::classify(cached->timestamps, std::time(nullptr), d.entry_timeout,
                                                    settings_.nowait_percentage)
                                  : sysdb::Freshness::expired;
    switch (freshness) {
    case sysdb::Freshness::fresh: done({Kind::found, std::move(cached->record)}); return;
    case sysdb::Freshness::expiring:
        done({Kind::found, std::move(cached->record)});
        // In the background; the provider runs one refresh per object however many ask.
        d.dp->fetch(lookup, key, [](Outcome, const std::string &) {});
        return;
    case sysdb::Freshness::expired: break;
    }
    auto stale = std::make_shared<std::optional<sysdb::Cached<Record>>>(std::move(cached));
    d.dp->fetch(lookup, key, [this, index, any_unavailable, lookup, key, read, done, stale](Outcome outcome,
                                                                                          const std::string &) {
        NssDomain &dom = *domains_[index];
        switch (outcome) {
        case Outcome::ok: {
            sysdb::Sysdb *cache = cache_of(dom);
            auto fresh = cache ? read(*cache) : Result<std::optional<sysdb::Cached<Record>>>(std::nullopt);
            if (fresh && *fresh) {
                done({Kind::found, std::move((*fresh)->record)});
                return;
            }
            break; // gone again meanwhile: not in this domain
        }
        case Outcome::not_found: remember_negative(index, lookup, key); break;
        case Outcome::unavailable:
        case Outcome::error:
            if (*stale) {
                done({Kind::found, std::move((*stale)->record)});
                return;
            }
            resolve_in<Record>(index + 1, true, lookup, key, read, done);
            return;
        }
        resolve_in<Record>(index + 1, any_unavailable, lookup, key, read, done);
    });
}

namespace {

template <class Record>
void answer(Reply &reply, const Answer<Record> &a, bool filtered)
{
    switch (a.kind) {
    case AnswerKind::found:
        if (!filtered) reply.ok(encode(*a.record));
        else reply.status(VIGIL_STATUS_NOTFOUND);
        return;
    case AnswerKind::not_found: reply.status(VIGIL_STATUS_NOTFOUND); return;
    case AnswerKind::unavailable: reply.status(VIGIL_STATUS_UNAVAIL); return;
    }
}

} // namespace

// getpwnam and getgrnam: the same flow, with the user or group parts.
template <class Record>
void NssResponder::serve_by_name(ClientRequest req, Reply reply, Lookup lookup, const std::set<std::string> &filter,
                                 ByName<Record> read)
{
    auto name = read_name(req);
    if (!name) {
        reply.status(VIGIL_STATUS_BAD_REQUEST);
        return;
    }
    if (!servable_name(*name) || filter.contains(*name)) {
        reply.status(VIGIL_STATUS_NOTFOUND);
        return;
    }
    auto shared = std::make_shared<Reply>(std::move(reply));
    resolve<Record>(lookup, *name, [n = *name, read](sysdb::Sysdb &c) { return (c.*read)(n); },
                    [shared](Answer<Record> a) { answer(*shared, a, false); });
}

// getpwuid and getgrgid. A record found by id is still filtered by its name.
template <class Record>
void NssResponder::serve_by_id(ClientRequest req, Reply reply, Lookup lookup, const std::set<std::string> &filter,
                               ById<Record> read)
{
    auto id = read_id(req);
    if (!id) {
        reply.status(VIGIL_STATUS_BAD_REQUEST);
        return;
    }
    if (*id == 0 || *id == sysdb::invalid_id) {
        reply.status(VIGIL_STATUS_NOTFOUND);
        return;
    }
    auto shared = std::make_shared<Reply>(std::move(reply));
    resolve<Record>(lookup, std::to_string(*id), [i = *id, read](sysdb::Sysdb &c) { return (c.*read)(i); },
                    [shared, &filter](Answer<Record> a) {
                        answer(*shared, a, a.record && filter.contains(a.record->name));
                    });
}

void NssResponder::initgroups(ClientRequest req, Reply reply)
{
    auto name = read_name(req);
    if (!name) {
        reply.status(VIGIL_STATUS_BAD_REQUEST);
        return;
    }
    if (!servable_name(*name) || settings_.filter_users.contains(*name)) {
        reply.status(VIGIL_STATUS_NOTFOUND);
        return;
    }
    // The user's groups, with the timestamps of the last initgroups answer.
    Read<sysdb::Initgroups> read = [n = *name](sysdb::Sysdb &c) -> Result<std::optional<sysdb::Cached<sysdb::Initgroups>>> {
        auto user = c.user_by_name(n);
        if (!user) return std::move(user).error();
        if (!*user) return std::optional<sysdb::Cached<sysdb::Initgroups>>();
        auto groups = c.groups_of_user(n, (*user)->record.gid);
        if (!groups) return std::move(groups).error();
        sysdb::Timestamps ts = groups->timestamps;
        return std::optional<sysdb::Cached<sysdb::Initgroups>>(sysdb::Cached<sysdb::Initgroups>{std::move(*groups), ts});
    };
    auto shared = std::make_shared<Reply>(std::move(reply));
    resolve<sysdb::Initgroups>(Lookup::initgroups, *name, std::move(read), [this, shared](Answer<sysdb::Initgroups> a) {
        using Kind = AnswerKind;
        if (a.kind == Kind::unavailable) {
            shared->status(VIGIL_STATUS_UNAVAIL);
            return;
        }
        if (a.kind == Kind::not_found) {
            shared->status(VIGIL_STATUS_NOTFOUND);
            return;
        }
        // filter_groups hides a group from initgroups as from getgrnam.
        const std::set<std::uint32_t> hidden = filtered_gids();
        std::vector<std::uint32_t> gids;
        for (std::uint32_t gid : a.record->gids)
            if (gid != 0 && !hidden.contains(gid)) gids.push_back(gid);
        if (gids.size() > VIGIL_MAX_INITGROUPS) {
            VLOG(error, "%zu groups are more than a client accepts (%u); answering the first of them", gids.size(),
                 VIGIL_MAX_INITGROUPS);
            gids.resize(VIGIL_MAX_INITGROUPS);
        }
        WireWriter w;
        w.u32(static_cast<std::uint32_t>(gids.size()));
        for (std::uint32_t gid : gids) w.u32(gid);
        shared->ok(w.take());
    });
}

std::set<std::uint32_t> NssResponder::filtered_gids()
{
    std::set<std::uint32_t> gids;
    for (auto &d : domains_) {
        sysdb::Sysdb *cache = cache_of(*d);
        if (!cache) continue;
        for (const std::string &name : settings_.filter_groups) {
            auto g = cache->group_by_name(name);
            if (g && *g) gids.insert((*g)->record.gid);
        }
    }
    return gids;
}

} // namespace vigil::responder
