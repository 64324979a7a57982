// The identity provider of one domain: users, groups and initgroups from the
// directory into the cache. It owns the connection (connected on demand,
// failover over ldap_uri in order) and the domain's online state; each lookup
// is one small flow: search, convert and check each entry, write the answer
// in one cache transaction, tell every caller waiting for that object.
#pragma once

#include "providers/domain_state.hpp"
#include "providers/ldap/ldap_conn.hpp"
#include "providers/ldap/ldap_maps.hpp"
#include "util/sbus/dp_iface.hpp"
#include "util/sysdb/sysdb.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vigil::ldap {

class IdProvider {
public:
    using Outcome = dp_iface::Outcome;
    using Lookup = dp_iface::Lookup;
    using Done = std::function<void(Outcome, const std::string &message)>;

    IdProvider(EventLoop &loop, LdapSettings ldap, IdSettings id, sysdb::Sysdb &cache, DomainState::Timing timing);
    ~IdProvider();
    IdProvider(const IdProvider &) = delete;
    IdProvider &operator=(const IdProvider &) = delete;

    // With a GSSAPI bind: asked before each connection attempt to make sure
    // the host's Kerberos credentials are there (renew: get new ones, after a
    // bind failed with the old), reporting with `done`. A failure takes the
    // domain offline like an unreachable server (the usual probes follow).
    using Credentials = std::function<void(bool renew, std::function<void(Status)> done)>;
    void use_credentials(Credentials credentials) { credentials_ = std::move(credentials); }

    // Brings the cache up to date for one object. Callers asking for the same
    // object while a lookup is in flight share it: one search, many answers.
    void fetch(Lookup lookup, const std::string &key, Done done);

    const DomainState &state() const { return state_; }
    void force_offline();
    void force_online();
    // One search on the identity connection for another part of the
    // provider (the access filter): offline, answered Errc::unavailable at
    // once; a server that stops answering takes the domain offline, as a
    // lookup's would. `done` runs once, also when forced offline meanwhile.
    // One search per `spec.what` at a time: a second one replaces the first,
    // which is answered Errc::unavailable.
    void search_directory(SearchSpec spec, std::function<void(Result<SearchResult>)> done);

    // Searches sent to the directory since start (tests and status count them).
    std::uint64_t searches_sent() const { return searches_sent_; }

    // enumerate = true: the directory's users and groups into the cache now,
    // then every ldap_enumeration_refresh_timeout (±10%); after a complete
    // enumeration, cached entries the directory no longer has are dropped
    // (ldap_enum.cpp). Retried after offline_timeout when it fails.
    void start_enumeration();
    struct EnumerationStatus {
        std::uint64_t completed = 0;
        std::int64_t last_completed = 0; // wall clock; 0: never
        std::string last_error;
        bool running = false;
    };
    const EnumerationStatus &enumeration() const { return enum_status_; }

private:
    using Key = std::pair<Lookup, std::string>;
    using ConnDone = std::function<void(Result<std::shared_ptr<LdapConnection>>)>;

    void with_connection(ConnDone done);
    void start_connecting();
    void connect_to(std::size_t index);
    void connection_failed(const Error &error);
    void fail_over(std::size_t index, const Error &error);
    void connected(std::size_t index, Result<Connected> result);
    void probe();
    void drop_connection(const Error &why);
    // While online, an idle connection is checked every
    // ldap_connection_check_interval (a root DSE read bounded by
    // ldap_opt_timeout): a server that stopped answering takes the domain
    // offline before a user's lookup has to find out.
    void schedule_health_check();
    void health_check();

    void run(const Key &key);
    void search(SearchSpec spec, std::function<void(Result<SearchResult>)> done);
    template <class Record>
    struct ObjectKind;
    // What a lookup read from the cache while its search was out (sysdb::Prefetch).
    struct ReadAhead {
        bool answered = false; // the search's callback ran (it may run before the read)
        std::optional<sysdb::Prefetch> cache;
        CachedGroupSources sources; // initgroups: cache's groups by DN (views into it)
    };
    template <class Record>
    void fetch_object(const Key &key, const ObjectKind<Record> &kind, bool by_id,
                      std::function<void(const Record &)> then);
    void fetch_user(const Key &key, bool with_groups);
    void fetch_group(const Key &key);
    // The search for the groups listing a user, sent before the user's
    // answer is in: its result waits here for the user, or the user for it.
    struct GroupsSearch {
        std::optional<Result<SearchResult>> result;
        std::function<void(Result<SearchResult>, const ReadAhead &)> waiting;
        std::shared_ptr<ReadAhead> ahead;
    };
    bool refreshed_unchanged(const Key &key, const SearchResult &r, const ReadAhead &ahead);
    // Null when the group search base is not known yet (it comes from the server).
    std::shared_ptr<GroupsSearch> search_groups_of(const Key &key, const std::string &name);
    void read_groups_ahead(GroupsSearch &groups, const std::string &name);
    void store_initgroups(const Key &key, const sysdb::User &user, std::shared_ptr<GroupsSearch> groups);
    void finish(const Key &key, Outcome outcome, const std::string &message);
    void search_failed(const Key &key, const Error &error);
    sysdb::Timestamps fresh_timestamps() const;

    struct EnumRun;
    void enumerate_now();
    void enumerate_kind(std::shared_ptr<EnumRun> run, bool users);
    void enumeration_store(std::shared_ptr<EnumRun> run);
    void enumeration_cleanup(std::shared_ptr<EnumRun> run);
    void enumeration_over(const std::shared_ptr<EnumRun> &run, const std::string &error);

    EventLoop &loop_;
    LdapSettings ldap_;
    IdSettings id_;
    sysdb::Sysdb &cache_;
    DomainState state_;
    std::shared_ptr<LdapConnection> conn_;
    std::unique_ptr<Connector> connector_;
    Credentials credentials_;
    // A connection attempt is under way: credentials asked for, or connector_.
    bool connecting_ = false;
    bool renewed_credentials_ = false; // in this attempt, after a failed bind
    std::uint64_t attempt_ = 0;        // a credentials answer for an older attempt is ignored
    std::vector<ConnDone> waiting_for_connection_;
    std::map<Key, std::vector<Done>> in_flight_;
    std::map<std::string, SearchHandle> searches_; // by what they are for: one each at a time
    std::map<std::string, std::function<void(Result<SearchResult>)>> directory_searches_; // search_directory's callers
    std::uint64_t searches_sent_ = 0;
    DomainState::Timing timing_;
    EnumerationStatus enum_status_;
    std::shared_ptr<EnumRun> enum_run_; // the run under way
    Timer enum_timer_;
    Timer health_timer_;
    SearchHandle health_search_;
    // A lookup's large leftovers (the cached groups read ahead, the records
    // made of the answer): freed a moment after the answer went out, not
    // before vigil_be returns to its loop. Freeing 500 cached groups takes
    // ~0.7 ms, and the responder waiting for the answer often shares the CPU.
    template <class T>
    void free_later(T &&leftover);
    std::vector<std::shared_ptr<void>> leftovers_;
    Timer leftovers_timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace vigil::ldap
