// One download of what the directory holds for this host, on the event loop
// (libldap's asynchronous API through providers/ldap): this host's entry and
// its host groups, the vigilPolicy entries naming either, and the sudoRole
// entries. A policy whose modify stamp (entryCSN, else modifyTimestamp) is
// the one in the cache is listed but its document is not downloaded again;
// the sudoRole entries are downloaded again, all together, when any of them
// changed, appeared or went.
//
// The download has its own connection, opened for it and closed after it:
// a refresh every hour or so does not keep a connection per host open, and
// a slow policy search never delays an identity lookup (vigil_be's).
#pragma once

#include "policy/attribute_map.hpp"
#include "policy/policy_settings.hpp"
#include "policy/policy_store.hpp"
#include "policy/sudo_role.hpp"
#include "providers/ldap/ldap_conn.hpp"
#include "util/event.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vigil::policy {

struct ListedPolicy {
    std::string dn;
    AttributeMap attributes;   // with vigilPolicyDocument when fetched
    std::string stamp;
    bool fetched = false;      // false: the cache's document is current
};

struct Download {
    std::string fqdn;
    std::vector<std::string> host_dns;
    std::vector<std::string> group_dns;
    std::vector<ListedPolicy> policies;
    std::vector<StoredRole> role_stamps;         // every sudoRole entry, sorted by DN
    std::optional<std::vector<SudoRole>> roles;  // set when they changed and were downloaded
    std::string server;                          // the URI that answered
    int searches = 0;                            // how many searches it took
};

class Downloader {
public:
    using Done = std::function<void(Result<Download>)>;

    Downloader(EventLoop &loop, DownloadSettings settings) : loop_(loop), settings_(std::move(settings)) {}
    Downloader(const Downloader &) = delete;
    Downloader &operator=(const Downloader &) = delete;

    // Starts a download for `fqdn`, given what the cache holds; `done` runs
    // once, in the loop. Destroying the Downloader abandons it (no callback).
    void start(std::string fqdn, CacheIndex known, Done done);
    bool running() const { return static_cast<bool>(done_); }

private:
    void connect_to(std::size_t index);
    void search(ldap::SearchSpec spec, std::function<void(std::vector<ldap::LdapEntry>)> next);
    void find_host();
    void find_groups();
    void list_policies();
    void fetch_documents();
    void list_roles();
    void fetch_roles();
    void finish(Result<Download> result);
    std::string base_or_default(const std::string &base) const;

    EventLoop &loop_;
    DownloadSettings settings_;
    CacheIndex known_;
    Download download_;
    Done done_;
    std::unique_ptr<ldap::Connector> connector_;
    std::shared_ptr<ldap::LdapConnection> conn_;
    std::vector<ldap::SearchHandle> searches_;
    std::size_t fetches_left_ = 0;
    Timer connector_gone_;
    Timer finish_later_;
};

// The stamp of an entry: entryCSN, else modifyTimestamp, else "".
std::string modify_stamp(const AttributeMap &attributes);

} // namespace vigil::policy
