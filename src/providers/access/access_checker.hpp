// The access check of one login, as vigil_be runs it for pam_acct_mgmt:
// reads the user (and for simple, its groups) from the cache, runs the
// configured rules, and for ldap_access_filter asks the directory when it
// can — keeping the answer with the user — and goes by the kept answer when
// it cannot. Everything else is decided from the cache, so an SSH key login
// (acct_mgmt only) works offline. The caller refreshes the user (initgroups,
// per pam_id_timeout) before it asks; the rules see what the cache holds.
//
// Event-loop driven: `check` returns at once; `done` runs once, later or
// (when no directory search is needed) before `check` returns.
#pragma once

#include "providers/access/access_rules.hpp"
#include "providers/ldap/ldap_conn.hpp"
#include "util/sysdb/sysdb.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vigil::access {

class AccessChecker {
public:
    using Done = std::function<void(AccessDecision)>;
    // One directory search: vigil_be passes ldap::IdProvider::search_directory
    // (the identity connection and the domain's online state). It answers
    // Errc::unavailable or Errc::timeout when the directory cannot be reached.
    using SearchDone = std::function<void(Result<ldap::SearchResult>)>;
    using Search = std::function<void(ldap::SearchSpec, SearchDone)>;
    // Optional: brings a group into the cache by gid and then calls back
    // (vigil_be: IdProvider::fetch(group_by_gid)). Used when the user's
    // primary group is not cached; unset, such a group is simply not known.
    using FetchGroup = std::function<void(std::uint32_t gid, std::function<void()> then)>;
    using Clock = std::function<std::int64_t()>; // wall-clock seconds

    AccessChecker(AccessSettings settings, sysdb::Sysdb &cache, Search search, FetchGroup fetch_group = {},
                  Clock clock = {});
    ~AccessChecker();
    AccessChecker(const AccessChecker &) = delete;
    AccessChecker &operator=(const AccessChecker &) = delete;

    // `user` as cached (the canonical name the identity lookup returned).
    // Checks for the same user while one is running share its answer.
    void check(const std::string &user, Done done);

    const AccessSettings &settings() const { return settings_; }

private:
    struct Run;
    void simple(const std::shared_ptr<Run> &run);
    void simple_with_groups(const std::shared_ptr<Run> &run);
    void next_rule(const std::shared_ptr<Run> &run);
    void filter(const std::shared_ptr<Run> &run);
    void finish(const std::string &user, const AccessDecision &decision);

    AccessSettings settings_;
    sysdb::Sysdb &cache_;
    Search search_;
    FetchGroup fetch_group_;
    Clock clock_;
    std::map<std::string, std::vector<Done>> in_flight_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace vigil::access
