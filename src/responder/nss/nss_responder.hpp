// vigil_nss's work: answering getpwnam, getpwuid, getgrnam, getgrgid and
// initgroups from the cache, following the cache logic of DESIGN.md:
//
//   fresh        answer from the cache
//   expiring     answer from the cache, and have the provider refresh it
//   expired or   ask the provider, wait, answer from what it wrote;
//   missing        "no such entry" is remembered for entry_negative_timeout;
//                  no answer (offline, provider gone) serves the stale entry,
//                  or "unavailable" — never a negative-cache entry
//
// Domains are asked in [vigil] domains order; the first that has the object
// answers.
#pragma once

#include "responder/common/client_server.hpp"
#include "responder/common/dp_client.hpp"
#include "util/config.hpp"
#include "util/sysdb/sysdb.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace vigil::responder {

struct NssSettings {
    int nowait_percentage = 50;                  // entry_cache_nowait_percentage
    std::chrono::seconds negative_timeout{15};   // entry_negative_timeout
    std::set<std::string> filter_users{"root"};  // root is always filtered
    std::set<std::string> filter_groups{"root"};

    static NssSettings from_config(const Config &config);
};

struct NssDomain {
    std::string name;
    sysdb::SysdbPaths paths;
    std::int64_t entry_timeout;
    std::unique_ptr<DpClient> dp;
    std::optional<sysdb::Sysdb> cache; // opened when first needed (the provider creates it)
};

// What resolving one object came to.
enum class AnswerKind { found, not_found, unavailable };
template <class Record>
struct Answer {
    AnswerKind kind;
    std::optional<Record> record;
};

class NssResponder {
public:
    NssResponder(EventLoop &loop, NssSettings settings, std::vector<std::unique_ptr<NssDomain>> domains);
    std::map<std::uint32_t, CommandHandler> handlers();

private:
    template <class Record>
    using Read = std::function<Result<std::optional<sysdb::Cached<Record>>>(sysdb::Sysdb &)>;
    template <class Record>
    using Done = std::function<void(Answer<Record>)>;

    template <class Record>
    void resolve(dp_iface::Lookup lookup, std::string key, Read<Record> read, Done<Record> done);
    template <class Record>
    void resolve_in(std::size_t index, bool any_unavailable, dp_iface::Lookup lookup, std::string key,
                    Read<Record> read, Done<Record> done);

    template <class Record>
    using ByName = Result<std::optional<sysdb::Cached<Record>>> (sysdb::Sysdb::*)(const std::string &) const;
    template <class Record>
    using ById = Result<std::optional<sysdb::Cached<Record>>> (sysdb::Sysdb::*)(std::uint32_t) const;
    template <class Record>
    void serve_by_name(ClientRequest req, Reply reply, dp_iface::Lookup lookup, const std::set<std::string> &filter,
                       ByName<Record> read);
    template <class Record>
    void serve_by_id(ClientRequest req, Reply reply, dp_iface::Lookup lookup, const std::set<std::string> &filter,
                     ById<Record> read);
    void initgroups(ClientRequest req, Reply reply);
    // The gids of the filter_groups names, as cached: left out of initgroups.
    std::set<std::uint32_t> filtered_gids();

    sysdb::Sysdb *cache_of(NssDomain &domain);
    bool negative_hit(std::size_t domain, dp_iface::Lookup lookup, const std::string &key);
    void remember_negative(std::size_t domain, dp_iface::Lookup lookup, const std::string &key);

    EventLoop &loop_;
    NssSettings settings_;
    std::vector<std::unique_ptr<NssDomain>> domains_;
    std::map<std::tuple<std::size_t, std::uint32_t, std::string>, EventLoop::Clock::time_point> negative_;
};

} // namespace vigil::responder
