#include "responder/nss/nss_responder.hpp"

#include "responder/common/cache_reader.hpp"
#include "util/ini.hpp" // is_valid_utf8
#include "util/log.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace vigil::responder {

using dp_iface::Lookup;
using dp_iface::Outcome;

namespace {

// The passwd field: vigil never hands out password hashes.
constexpr std::string_view no_password = "*";

void encode(WireWriter &w, const sysdb::User &u)
{
    w.u32(u.uid);
    w.u32(u.gid);
    w.str(u.name);
    w.str(no_password);
    w.str(u.gecos);
    w.str(u.home);
    w.str(u.shell);
}

void encode(WireWriter &w, const sysdb::Group &g)
{
    w.u32(g.gid);
    w.str(g.name);
    w.str(no_password);
    w.u32(static_cast<std::uint32_t>(g.members.size()));
    for (const std::string &m : g.members) w.str(m);
}

template <class Record>
WireBody encoded(const Record &r)
{
    WireWriter w;
    encode(w, r);
    return std::make_shared<const std::vector<std::uint8_t>>(w.take());
}

template <class Record>
Formatted formatted(const sysdb::Cached<Record> &c)
{
    return {encoded(c.record), c.timestamps, c.record.name};
}

bool by_id(Lookup l) { return l == Lookup::user_by_uid || l == Lookup::group_by_gid; }
bool about_users(Lookup l) { return l == Lookup::user_by_name || l == Lookup::user_by_uid || l == Lookup::initgroups; }

// No directory name is anything but UTF-8; the rest never leaves this process.
bool servable_name(std::string_view name) { return !name.empty() && is_valid_utf8(name); }

// The request's key: a name, or an id in decimal (nullopt: malformed).
std::optional<std::string> read_key(const ClientRequest &req, Lookup lookup)
{
    WireReader r(req.body);
    if (by_id(lookup)) {
        auto id = r.u32();
        if (!id || !r.done()) return std::nullopt;
        char text[16];
        auto [end, ec] = std::to_chars(text, text + sizeof text, *id);
        return std::string(text, end);
    }
    auto name = r.str(VIGIL_MAX_NAME_LEN);
    if (!name || !r.done()) return std::nullopt;
    return name;
}

std::uint32_t parse_id(const std::string &key)
{
    std::uint32_t id = 0;
    std::from_chars(key.data(), key.data() + key.size(), id);
    return id;
}

// What an expiry writes (Sysdb::expire_*: expires_at = 0): expired, whatever
// the last update was.
constexpr sysdb::Timestamps expired_by_provider{0, 0};

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
    for (auto &d : domains_) d->hot = HotAnswers(settings_.memory);
}

void NssResponder::watch_providers()
{
    for (auto &d : domains_) {
        NssDomain *dom = d.get();
        dom->dp->watch([this, dom](const sbus::StringList *changes) { cache_changed(*dom, changes); });
    }
}

void NssResponder::cache_changed(NssDomain &d, const sbus::StringList *changes)
{
    bool users = false, groups = false;
    const bool everything = changes == nullptr || !dp_iface::for_each_change_line(*changes, [&](std::string_view line) {
        return apply_change(d, line, users, groups);
    });
    if (everything) {
        d.hot.clear();
        d.negative.clear();
        users = groups = true;
    }
    if (users) d.users.valid = false;
    if (groups) {
        d.groups.valid = false;
        // An initgroups answer lists groups, and leaves out the filter_groups
        // gids of every domain: a group change may touch any of them.
        for (auto &other : domains_) other->hot.clear(Lookup::initgroups);
    }
}

bool NssResponder::apply_change(NssDomain &d, std::string_view line, bool &users, bool &groups)
{
    if (line == dp_iface::every_timestamp_changed) {
        // Only timestamps: every answer still holds.
        d.hot.expire_all();
        return true;
    }
    if (line == dp_iface::everything_expired) {
        // An expiry of everything: every answer still holds, and is expired.
        d.hot.expire_all(expired_by_provider);
        return true;
    }
    auto change = dp_iface::parse_change(line);
    if (!change) return false;
    const auto [user, name, id, old_id, kind] = *change;
    if (kind != dp_iface::CacheChange::Kind::entry) {
        // Only its timestamps: its answers still hold, with timestamps to
        // read again or known to say expired.
        d.hot.expire(user, name, id,
                     kind == dp_iface::CacheChange::Kind::expired ? std::optional(expired_by_provider) : std::nullopt);
        return true;
    }
    d.hot.forget(user, name, id, old_id);
    // "No such entry" answers go too: the name or id may exist now.
    d.negative.erase(user ? Lookup::user_by_name : Lookup::group_by_name, name);
    if (user) d.negative.erase(Lookup::initgroups, name);
    for (std::uint32_t i : {id, old_id}) {
        if (i == 0) continue;
        char text[16];
        auto [end, ec] = std::to_chars(text, text + sizeof text, i);
        d.negative.erase(user ? Lookup::user_by_uid : Lookup::group_by_gid,
                         std::string_view(text, static_cast<std::size_t>(end - text)));
    }
    (user ? users : groups) = true;
    return true;
}

std::map<std::uint32_t, CommandHandler> NssResponder::handlers()
{
    auto by = [this](Lookup l) { return [this, l](ClientRequest q, Reply r) { serve(std::move(q), std::move(r), l); }; };
    return {
        {VIGIL_CMD_GETPWNAM, by(Lookup::user_by_name)},
        {VIGIL_CMD_GETPWUID, by(Lookup::user_by_uid)},
        {VIGIL_CMD_GETGRNAM, by(Lookup::group_by_name)},
        {VIGIL_CMD_GETGRGID, by(Lookup::group_by_gid)},
        {VIGIL_CMD_INITGROUPS, by(Lookup::initgroups)},
        {VIGIL_CMD_GETPWENT, [this](ClientRequest q, Reply r) { enumerate(std::move(q), std::move(r), true); }},
        {VIGIL_CMD_GETGRENT, [this](ClientRequest q, Reply r) { enumerate(std::move(q), std::move(r), false); }},
    };
}

sysdb::Sysdb *NssResponder::cache_of(NssDomain &d)
{
    bool replaced = false;
    sysdb::Sysdb *cache = open_cache_reader(d.cache, d.paths, d.name, &replaced);
    if (replaced) cache_changed(d, nullptr);
    return cache;
}

sysdb::Freshness NssResponder::freshness(const NssDomain &d, const Formatted &f, std::int64_t now) const
{
    if (!f.timestamps) return sysdb::Freshness::expired; // to be read again first
    return sysdb::classify(*f.timestamps, now, d.entry_timeout, settings_.nowait_percentage);
}

bool NssResponder::filtered(Lookup lookup, std::string_view name) const
{
    return about_users(lookup) ? settings_.filter_users.contains(name) : settings_.filter_groups.contains(name);
}

bool NssResponder::negative_hit(NssDomain &d, Lookup lookup, std::string_view key)
{
    auto *until = d.negative.find(lookup, key);
    if (until == nullptr) return false;
    if (EventLoop::now() < *until) return true;
    d.negative.erase(lookup, key);
    return false;
}

void NssResponder::remember_negative(NssDomain &d, Lookup lookup, const std::string &key)
{
    if (settings_.negative_timeout.count() == 0) return;
    if (d.negative.size() > 100000) {
        // Bounded: a scan for names that do not exist must not grow us forever.
        const auto now = EventLoop::now();
        d.negative.erase_if([&](const EventLoop::Clock::time_point &until) { return until <= now; });
        if (d.negative.size() > 100000) d.negative.clear();
    }
    d.negative.put(lookup, key, EventLoop::now() + settings_.negative_timeout);
}

void NssResponder::keep(NssDomain &d, Lookup lookup, std::string_view key, const Formatted &f)
{
    // Only while the provider can tell us the cache changed.
    if (d.dp->watching()) d.hot.keep(lookup, key, f);
}

const Formatted *NssResponder::hot(std::size_t &index, Lookup lookup, std::string_view key)
{
    for (; index < domains_.size(); ++index) {
        NssDomain &d = *domains_[index];
        if (negative_hit(d, lookup, key)) continue;
        if (!d.dp->watching()) return nullptr;
        const Formatted *f = d.hot.find(lookup, key);
        if (f == nullptr) return nullptr;
        return freshness(d, *f, std::time(nullptr)) == sysdb::Freshness::expired ? nullptr : f;
    }
    return nullptr;
}

void NssResponder::refresh_in_background(NssDomain &d, Lookup lookup, const Formatted &f)
{
    // One refresh per object, whichever key found it: by name.
    const Lookup by_name = lookup == Lookup::user_by_uid    ? Lookup::user_by_name
                         : lookup == Lookup::group_by_gid   ? Lookup::group_by_name
                                                            : lookup;
    auto [it, first] = d.refreshing.emplace(by_name, f.name);
    if (!first) return;
    NssDomain *dom = &d;
    auto key = *it;
    d.dp->fetch(by_name, f.name, [dom, key](Outcome, const std::string &) { dom->refreshing.erase(key); });
}

void NssResponder::resolve_in(std::size_t index, bool any_unavailable, Lookup lookup, std::string key, Read read,
                              Stamps stamps, Done done)
{
    using Kind = AnswerKind;
    if (index == domains_.size()) {
        // Not found anywhere; but a domain that could not say is not a "no".
        done({any_unavailable ? Kind::unavailable : Kind::not_found, std::nullopt});
        return;
    }
    NssDomain &d = *domains_[index];
    if (negative_hit(d, lookup, key)) {
        resolve_in(index + 1, any_unavailable, lookup, std::move(key), std::move(read), std::move(stamps),
                   std::move(done));
        return;
    }
    const auto now = std::time(nullptr);
    std::optional<Formatted> cached;
    // Expired by its timestamps: the provider is asked first and the entry
    // read once, afterwards (a 10,000-member group costs milliseconds to
    // read); the stale copy only if the provider cannot answer.
    bool stale_unread = false;
    if (sysdb::Sysdb *cache = cache_of(d)) cached = kept(d, *cache, lookup, key);
    if (sysdb::Sysdb *cache = cached ? nullptr : cache_of(d)) {
        if (stamps) {
            auto ts = stamps(*cache);
            if (!ts) VLOG(error, "domain %s: reading the cache: %s", d.name.c_str(), ts.error().message.c_str());
            stale_unread = ts && sysdb::classify(*ts, now, d.entry_timeout, settings_.nowait_percentage) ==
                                     sysdb::Freshness::expired;
        }
        if (!stale_unread) {
            auto r = read(*cache);
            if (r) cached = std::move(*r);
            else VLOG(error, "domain %s: reading the cache: %s", d.name.c_str(), r.error().message.c_str());
        }
    }
    const auto cached_freshness = cached ? freshness(d, *cached, now) : sysdb::Freshness::expired;
    if (cached_freshness != sysdb::Freshness::expired) {
        keep(d, lookup, key, *cached);
        Formatted f = *cached;
        done({Kind::found, std::move(cached)});
        if (cached_freshness == sysdb::Freshness::expiring) refresh_in_background(d, lookup, f);
        return;
    }
    auto stale = std::make_shared<std::optional<Formatted>>(std::move(cached));
    d.dp->fetch(lookup, key, [this, index, any_unavailable, lookup, key, read, stamps, done, stale,
                              stale_unread](Outcome outcome, const std::string &) {
        NssDomain &dom = *domains_[index];
        switch (outcome) {
        case Outcome::ok: {
            sysdb::Sysdb *cache = cache_of(dom);
            // The refresh changed only timestamps: the answer kept is still good.
            auto again = cache ? kept(dom, *cache, lookup, key) : std::nullopt;
            if (again && freshness(dom, *again, std::time(nullptr)) != sysdb::Freshness::expired) {
                keep(dom, lookup, key, *again);
                done({Kind::found, std::move(again)});
                return;
            }
            auto fresh = cache ? read(*cache) : Result<std::optional<Formatted>>(std::nullopt);
            if (fresh && *fresh) {
                keep(dom, lookup, key, **fresh);
                done({Kind::found, std::move(*fresh)});
                return;
            }
            break; // gone again meanwhile: not in this domain
        }
        case Outcome::not_found: remember_negative(dom, lookup, key); break;
        case Outcome::unavailable:
        case Outcome::error:
            if (stale_unread) {
                // The provider wrote nothing: the cache still holds what it held.
                if (sysdb::Sysdb *cache = cache_of(dom)) {
                    auto r = read(*cache);
                    if (r) *stale = std::move(*r);
                    else VLOG(error, "domain %s: reading the cache: %s", dom.name.c_str(), r.error().message.c_str());
                }
            }
            if (*stale) {
                done({Kind::found, std::move(*stale)});
                return;
            }
            resolve_in(index + 1, true, lookup, key, read, stamps, done);
            return;
        }
        resolve_in(index + 1, any_unavailable, lookup, key, read, stamps, done);
    });
}

NssResponder::Read NssResponder::reader(Lookup lookup, const std::string &key)
{
    using Found = Result<std::optional<Formatted>>;
    auto format = [](auto r) -> Found {
        if (!r) return std::move(r).error();
        if (!*r) return std::optional<Formatted>();
        return std::optional<Formatted>(formatted(**r));
    };
    switch (lookup) {
    case Lookup::user_by_name: return [key, format](sysdb::Sysdb &c) { return format(c.user_by_name(key)); };
    case Lookup::user_by_uid: return [id = parse_id(key), format](sysdb::Sysdb &c) { return format(c.user_by_uid(id)); };
    case Lookup::group_by_name: return [key, format](sysdb::Sysdb &c) { return format(c.group_by_name(key)); };
    case Lookup::group_by_gid:
        return [id = parse_id(key), format](sysdb::Sysdb &c) { return format(c.group_by_gid(id)); };
    case Lookup::initgroups: break;
    }
    // The user's groups, with the timestamps of the last initgroups answer;
    // filter_groups hides a group here as from getgrnam.
    return [this, key](sysdb::Sysdb &c) -> Found {
        auto user = c.user_by_name(key);
        if (!user) return std::move(user).error();
        if (!*user) return std::optional<Formatted>();
        auto groups = c.groups_of_user(key, (*user)->record.gid);
        if (!groups) return std::move(groups).error();
        const std::set<std::uint32_t> hidden = filtered_gids();
        std::vector<std::uint32_t> gids;
        for (std::uint32_t gid : groups->gids)
            if (gid != 0 && !hidden.contains(gid)) gids.push_back(gid);
        if (gids.size() > VIGIL_MAX_INITGROUPS) {
            VLOG(error, "%s is in %zu groups, more than a client accepts (%u); answering the first of them",
                 key.c_str(), gids.size(), VIGIL_MAX_INITGROUPS);
            gids.resize(VIGIL_MAX_INITGROUPS);
        }
        WireWriter w;
        w.u32(static_cast<std::uint32_t>(gids.size()));
        for (std::uint32_t gid : gids) w.u32(gid);
        return std::optional<Formatted>(
            Formatted{std::make_shared<const std::vector<std::uint8_t>>(w.take()), groups->timestamps, key});
    };
}

NssResponder::Stamps NssResponder::stamps_reader(Lookup lookup, const std::string &key)
{
    switch (lookup) {
    case Lookup::user_by_name: return [key](sysdb::Sysdb &c) { return c.user_timestamps(key); };
    case Lookup::group_by_name: return [key](sysdb::Sysdb &c) { return c.group_timestamps(key); };
    case Lookup::initgroups: return [key](sysdb::Sysdb &c) { return c.initgroups_timestamps(key); };
    case Lookup::user_by_uid:
    case Lookup::group_by_gid: break; // the name is in the entry: read it
    }
    return {};
}

std::optional<Formatted> NssResponder::kept(NssDomain &d, sysdb::Sysdb &cache, Lookup lookup, const std::string &key)
{
    if (!d.dp->watching()) return std::nullopt;
    const Formatted *f = d.hot.find(lookup, key);
    if (f == nullptr) return std::nullopt;
    // Unchanged since they were read or the provider told them: no read.
    if (f->timestamps) return *f;
    // By the object's name, whichever key found it.
    const Lookup by_name = lookup == Lookup::user_by_uid    ? Lookup::user_by_name
                         : lookup == Lookup::group_by_gid   ? Lookup::group_by_name
                                                            : lookup;
    auto ts = stamps_reader(by_name, f->name)(cache);
    if (!ts) {
        VLOG(error, "domain %s: reading the cache: %s", d.name.c_str(), ts.error().message.c_str());
        return std::nullopt;
    }
    Formatted answer = *f;
    answer.timestamps = *ts;
    return answer;
}

void NssResponder::serve(ClientRequest req, Reply reply, Lookup lookup)
{
    auto key = read_key(req, lookup);
    if (!key) {
        reply.status(VIGIL_STATUS_BAD_REQUEST);
        return;
    }
    if (by_id(lookup)) {
        const std::uint32_t id = parse_id(*key);
        if (id == 0 || id == sysdb::invalid_id) {
            reply.status(VIGIL_STATUS_NOTFOUND);
            return;
        }
    } else if (!servable_name(*key) || filtered(lookup, *key)) {
        reply.status(VIGIL_STATUS_NOTFOUND);
        return;
    }
    // The hot path: the answer as formatted before, if it is still good.
    std::size_t index = 0;
    if (const Formatted *f = hot(index, lookup, *key)) {
        NssDomain &d = *domains_[index];
        // A record found by id is still filtered by its name.
        if (by_id(lookup) && filtered(lookup, f->name)) reply.status(VIGIL_STATUS_NOTFOUND);
        else reply.ok(*f->body);
        if (freshness(d, *f, std::time(nullptr)) == sysdb::Freshness::expiring) refresh_in_background(d, lookup, *f);
        return;
    }
    auto shared = std::make_shared<Reply>(std::move(reply));
    Read read = reader(lookup, *key);
    Stamps stamps = stamps_reader(lookup, *key);
    resolve_in(index, false, lookup, std::move(*key), std::move(read), std::move(stamps), [this, shared, lookup](Answer a) {
        switch (a.kind) {
        case AnswerKind::found:
            if (by_id(lookup) && filtered(lookup, a.formatted->name)) shared->status(VIGIL_STATUS_NOTFOUND);
            else shared->ok(*a.formatted->body);
            return;
        case AnswerKind::not_found: shared->status(VIGIL_STATUS_NOTFOUND); return;
        case AnswerKind::unavailable: shared->status(VIGIL_STATUS_UNAVAIL); return;
        }
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

// ---- enumeration ------------------------------------------------------------
//
// Served from what the cache holds (the provider enumerates the directory
// into it when enumerate = true), in id order per domain. The cursor is
// (domain index << 32) | the smallest id still to come: stateless, and an
// entry added or removed meanwhile moves nothing else.

const std::vector<Enumerated> &NssResponder::snapshot(NssDomain &d, bool users)
{
    NssDomain::Snapshot &s = users ? d.users : d.groups;
    const auto now = EventLoop::now();
    // While the provider is not watched, a change cannot be told: retaken
    // at most a second later.
    if (s.valid && (d.dp->watching() || now - s.taken < std::chrono::seconds(1))) return s.entries;
    s.entries.clear();
    s.valid = true;
    s.taken = now;
    sysdb::Sysdb *cache = cache_of(d);
    if (cache == nullptr) return s.entries;
    auto add = [&](const auto &all, const std::set<std::string, std::less<>> &filter, auto id_of) {
        if (!all) {
            VLOG(error, "domain %s: enumerating the cache: %s", d.name.c_str(), all.error().message.c_str());
            s.valid = false;
            return;
        }
        for (const auto &c : *all) {
            const std::uint32_t id = id_of(c.record);
            if (id == 0 || id == sysdb::invalid_id || filter.contains(c.record.name)) continue;
            s.entries.push_back({id, encoded(c.record)});
        }
    };
    if (users) add(cache->all_users(), settings_.filter_users, [](const sysdb::User &u) { return u.uid; });
    else add(cache->all_groups(), settings_.filter_groups, [](const sysdb::Group &g) { return g.gid; });
    std::sort(s.entries.begin(), s.entries.end(), [](const Enumerated &a, const Enumerated &b) { return a.id < b.id; });
    return s.entries;
}

void NssResponder::enumerate(ClientRequest req, Reply reply, bool users)
{
    WireReader r(req.body);
    auto cursor = r.u64();
    if (!cursor || !r.done()) {
        reply.status(VIGIL_STATUS_BAD_REQUEST);
        return;
    }
    std::uint64_t from = *cursor & 0xffffffffu;
    for (std::size_t index = *cursor >> 32; index < domains_.size(); ++index, from = 0) {
        NssDomain &d = *domains_[index];
        if (!d.enumerate) continue; // enumerate = false: nothing, at once
        const auto &entries = snapshot(d, users);
        auto it = std::lower_bound(entries.begin(), entries.end(), from,
                                   [](const Enumerated &e, std::uint64_t id) { return e.id < id; });
        if (it == entries.end()) continue;
        const std::uint64_t next = std::next(it) != entries.end()
                                       ? (std::uint64_t{index} << 32) | (std::uint64_t{it->id} + 1)
                                       : std::uint64_t{index + 1} << 32;
        WireWriter w;
        w.u64(next);
        std::vector<std::uint8_t> body = w.take();
        body.insert(body.end(), it->body->begin(), it->body->end());
        reply.ok(std::move(body));
        return;
    }
    reply.status(VIGIL_STATUS_NOTFOUND);
}

} // namespace vigil::responder
