// vigil_nss's work: answering getpwnam, getpwuid, getgrnam, getgrgid,
// initgroups and the enumerations from the cache, following the cache logic
// of DESIGN.md:
//
//   fresh        answer from the cache
//   expiring     answer from the cache, and have the provider refresh it (one
//                  refresh per object at a time, asked by name whatever key found it)
//   expired or   ask the provider, wait, answer from what it wrote;
//   missing        "no such entry" is remembered for entry_negative_timeout;
//                  no answer (offline, provider gone) serves the stale entry,
//                  or "unavailable" — never a negative-cache entry
//
// Domains are asked in [vigil] domains order; the first that has the object
// answers. Answers are formatted once and kept in memory (nss_memory.hpp)
// while the domain's provider is watched; a hot lookup is a hash lookup and a
// send.
#pragma once

#include "responder/common/client_server.hpp"
#include "responder/common/dp_client.hpp"
#include "responder/nss/nss_memory.hpp"
#include "util/config.hpp"
#include "util/sysdb/sysdb.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace vigil::responder {

struct NssSettings {
    int nowait_percentage = 50;                  // entry_cache_nowait_percentage
    std::chrono::seconds negative_timeout{15};   // entry_negative_timeout
    std::set<std::string, std::less<>> filter_users{"root"};  // root is always filtered
    std::set<std::string, std::less<>> filter_groups{"root"};
    HotAnswers::Limits memory;

    static NssSettings from_config(const Config &config);
};

// One entry of an enumeration snapshot, in id order.
struct Enumerated {
    std::uint32_t id;
    WireBody body;
};

struct NssDomain {
    std::string name;
    sysdb::SysdbPaths paths;
    std::int64_t entry_timeout;
    bool enumerate = false;
    std::unique_ptr<DpClient> dp;
    std::optional<sysdb::Sysdb> cache; // opened when first needed (the provider creates it)

    // In memory; see nss_memory.hpp.
    HotAnswers hot;
    LookupTable<EventLoop::Clock::time_point> negative;
    std::set<std::pair<dp_iface::Lookup, std::string>> refreshing; // background refreshes in flight
    struct Snapshot {
        bool valid = false;
        EventLoop::Clock::time_point taken;
        std::vector<Enumerated> entries;
    };
    Snapshot users, groups;
};

// What resolving one object came to.
enum class AnswerKind { found, not_found, unavailable };
struct Answer {
    AnswerKind kind;
    std::optional<Formatted> formatted;
};

class NssResponder {
public:
    NssResponder(EventLoop &loop, NssSettings settings, std::vector<std::unique_ptr<NssDomain>> domains);
    std::map<std::uint32_t, CommandHandler> handlers();
    // Connects to the providers and keeps watching them.
    void watch_providers();

private:
    // Reads one object from a domain's cache, formatted for the wire.
    using Read = std::function<Result<std::optional<Formatted>>(sysdb::Sysdb &)>;
    // The object's timestamps alone (name lookups): an expired object is not
    // read before the provider is asked, only after (or if it cannot answer).
    using Stamps = std::function<Result<sysdb::Timestamps>(sysdb::Sysdb &)>;
    using Done = std::function<void(Answer)>;

    // The in-memory answer if one serves, walking the domains from `index`
    // (which is left at the domain where the cache must be read).
    const Formatted *hot(std::size_t &index, dp_iface::Lookup lookup, std::string_view key);
    void resolve_in(std::size_t index, bool any_unavailable, dp_iface::Lookup lookup, std::string key, Read read,
                    Stamps stamps, Done done);
    void refresh_in_background(NssDomain &d, dp_iface::Lookup lookup, const Formatted &f);
    void keep(NssDomain &d, dp_iface::Lookup lookup, std::string_view key, const Formatted &f);
    void cache_changed(NssDomain &d, const sbus::StringList *changes);
    // One line of a cacheChanged signal; false: not understood (take it as
    // "everything changed"). Sets `users` / `groups` when one of them changed.
    bool apply_change(NssDomain &d, std::string_view line, bool &users, bool &groups);

    void serve(ClientRequest req, Reply reply, dp_iface::Lookup lookup);
    void enumerate(ClientRequest req, Reply reply, bool users);
    const std::vector<Enumerated> &snapshot(NssDomain &d, bool users);
    Read reader(dp_iface::Lookup lookup, const std::string &key);
    static Stamps stamps_reader(dp_iface::Lookup lookup, const std::string &key); // empty for id lookups
    // The answer kept in memory, with its timestamps as the cache holds them
    // (read again only if they changed since, nss_memory.hpp); nullopt: none.
    std::optional<Formatted> kept(NssDomain &d, sysdb::Sysdb &cache, dp_iface::Lookup lookup, const std::string &key);
    // The gids of the filter_groups names, as cached: left out of initgroups.
    std::set<std::uint32_t> filtered_gids();
    bool filtered(dp_iface::Lookup lookup, std::string_view name) const;
    // An answer's freshness; timestamps not known count as expired.
    sysdb::Freshness freshness(const NssDomain &d, const Formatted &f, std::int64_t now) const;

    sysdb::Sysdb *cache_of(NssDomain &domain);
    bool negative_hit(NssDomain &d, dp_iface::Lookup lookup, std::string_view key);
    void remember_negative(NssDomain &d, dp_iface::Lookup lookup, const std::string &key);

    EventLoop &loop_;
    NssSettings settings_;
    std::vector<std::unique_ptr<NssDomain>> domains_;
};

} // namespace vigil::responder
