#include "policy/downloader.hpp"

#include "providers/ldap/ldap_filter.hpp"
#include "util/log.hpp"

#include <algorithm>

namespace vigil::policy {

namespace {

using ldap::LdapEntry;
using ldap::Scope;
using ldap::SearchSpec;

// Modify stamps, most precise first: OpenLDAP's entryCSN, 389 DS's
// entryUSN, AD's uSNChanged change with every write; modifyTimestamp only
// every second (two writes in one second look like one).
const std::vector<std::string> stamp_attributes = {"entryCSN", "entryUSN", "uSNChanged", "modifyTimestamp"};

std::vector<std::string> with_stamps(std::vector<std::string> attributes)
{
    attributes.insert(attributes.end(), stamp_attributes.begin(), stamp_attributes.end());
    return attributes;
}

const std::vector<std::string> policy_attributes = with_stamps(
    {"cn", "vigilPolicyType", "vigilPolicyPriority", "vigilPolicyMode", "vigilPolicyEnabled", "vigilPolicyHost",
     "vigilPolicyHostGroup"});

AttributeMap attribute_map(const LdapEntry &entry)
{
    AttributeMap map;
    for (const auto &[name, values] : entry.attributes) {
        auto &into = map[name];
        into.insert(into.end(), values.begin(), values.end());
    }
    return map;
}

} // namespace

std::string modify_stamp(const AttributeMap &attributes)
{
    for (const auto &name : stamp_attributes) {
        auto it = attributes.find(name);
        if (it != attributes.end() && !it->second.empty()) return name + "=" + it->second.front();
    }
    return {};
}

void Downloader::start(std::string fqdn, CacheIndex known, Done done)
{
    known_ = std::move(known);
    download_ = Download{};
    download_.fqdn = std::move(fqdn);
    done_ = std::move(done);
    if (settings_.ldap.uris.empty()) {
        finish(Error{Errc::invalid_config, "the policy domain has no ldap_uri"});
        return;
    }
    connect_to(0);
}

void Downloader::connect_to(std::size_t index)
{
    const std::string uri = settings_.ldap.uris.at(index);
    auto connector = ldap::Connector::start(loop_, settings_.ldap, uri, [this, index, uri](Result<ldap::Connected> r) {
        Result<std::shared_ptr<ldap::LdapConnection>> conn = Error{Errc::internal, "not connected"};
        if (r) conn = ldap::LdapConnection::adopt(loop_, std::move(*r), uri, settings_.ldap);
        else conn = std::move(r).error();
        // This connector is done; it goes once its callback has returned
        // (connector_ may hold the next server's by then).
        connector_gone_ = loop_.after(std::chrono::milliseconds(0),
                                      [done = std::shared_ptr<ldap::Connector>(std::move(connector_))] {});
        if (!conn) {
            VLOG(minor, "policy download: %s", conn.error().message.c_str());
            if (index + 1 < settings_.ldap.uris.size()) {
                connect_to(index + 1);
                return;
            }
            finish(Error{Errc::unavailable, "directory unreachable: " + conn.error().message});
            return;
        }
        conn_ = std::move(*conn);
        download_.server = uri;
        find_host();
    });
    if (!connector) {
        finish(std::move(connector).error());
        return;
    }
    connector_ = std::move(*connector);
}

std::string Downloader::base_or_default(const std::string &base) const
{
    return base.empty() && conn_ ? conn_->server_info().naming_context : base;
}

// One search of the download; its failure fails the whole download.
void Downloader::search(SearchSpec spec, std::function<void(std::vector<LdapEntry>)> next)
{
    ++download_.searches;
    spec.base = base_or_default(spec.base);
    if (spec.base.empty() && spec.scope != Scope::base) {
        finish(Error{Errc::invalid_config, "no search base for " + spec.what + " (set ldap_search_base)"});
        return;
    }
    const std::string what = spec.what;
    auto handle = conn_->search(std::move(spec), [this, what, next = std::move(next)](Result<ldap::SearchResult> r) {
        if (!r) {
            Errc code = r.error().code == Errc::not_found ? Errc::not_found : Errc::unavailable;
            finish(Error{code, "searching " + what + ": " + r.error().message});
            return;
        }
        next(std::move(r->entries));
    });
    if (!handle) {
        finish(Error{Errc::unavailable, "searching " + what + ": " + handle.error().message});
        return;
    }
    searches_.push_back(std::move(*handle));
}

void Downloader::find_host()
{
    const HostSearch &h = settings_.host;
    SearchSpec spec{.base = h.base,
                    .filter = ldap::equality_filter(ldap::escape_filter_value(h.object_class), h.fqdn_attribute,
                                                    download_.fqdn),
                    .attributes = {"1.1"},
                    .what = "the host entry of " + download_.fqdn};
    search(std::move(spec), [this](std::vector<LdapEntry> entries) {
        for (auto &e : entries) download_.host_dns.push_back(std::move(e.dn));
        if (download_.host_dns.empty()) {
            VLOG(config, "policy download: no host entry for %s: host groups do not apply", download_.fqdn.c_str());
            list_policies();
            return;
        }
        find_groups();
    });
}

void Downloader::find_groups()
{
    const HostSearch &h = settings_.host;
    std::string members;
    for (const auto &dn : download_.host_dns) members += "(" + h.group_member + "=" + ldap::escape_filter_value(dn) + ")";
    SearchSpec spec{.base = h.group_base,
                    .filter = "(&(objectClass=" + ldap::escape_filter_value(h.group_object_class) + ")(|" + members + "))",
                    .attributes = {"1.1"},
                    .what = "the host groups of " + download_.fqdn};
    search(std::move(spec), [this](std::vector<LdapEntry> entries) {
        for (auto &e : entries) download_.group_dns.push_back(std::move(e.dn));
        list_policies();
    });
}

void Downloader::list_policies()
{
    std::string which = "(vigilPolicyHost=" + ldap::escape_filter_value(download_.fqdn) + ")";
    for (const auto &dn : download_.group_dns) which += "(vigilPolicyHostGroup=" + ldap::escape_filter_value(dn) + ")";
    SearchSpec spec{.base = settings_.policy_base,
                    // A disabled policy is not listed: withdrawn, and never downloaded again.
                    .filter = "(&(objectClass=vigilPolicy)(!(vigilPolicyEnabled=FALSE))(|" + which + "))",
                    .attributes = policy_attributes,
                    .what = "the policies of " + download_.fqdn};
    search(std::move(spec), [this](std::vector<LdapEntry> entries) {
        for (auto &e : entries) {
            ListedPolicy listed{std::move(e.dn), attribute_map(e), {}, false};
            listed.stamp = modify_stamp(listed.attributes);
            download_.policies.push_back(std::move(listed));
        }
        fetch_documents();
    });
}

void Downloader::fetch_documents()
{
    std::vector<std::size_t> changed;
    for (std::size_t i = 0; i < download_.policies.size(); ++i) {
        const ListedPolicy &p = download_.policies[i];
        const StoredDocument *cached = known_.find(p.dn);
        if (!cached || p.stamp.empty() || cached->stamp != p.stamp) changed.push_back(i);
    }
    if (changed.empty()) {
        list_roles();
        return;
    }
    fetches_left_ = changed.size();
    std::vector<std::string> attributes = policy_attributes;
    attributes.emplace_back("vigilPolicyDocument");
    for (std::size_t i : changed) {
        SearchSpec spec{.base = download_.policies[i].dn,
                        .scope = Scope::base,
                        .filter = "(objectClass=vigilPolicy)",
                        .attributes = attributes,
                        .what = "policy " + download_.policies[i].dn};
        search(std::move(spec), [this, i](std::vector<LdapEntry> entries) {
            ListedPolicy &p = download_.policies[i];
            if (entries.size() != 1) {
                finish(Error{Errc::unavailable, "policy " + p.dn + " went away during the download"});
                return;
            }
            p.attributes = attribute_map(entries.front());
            p.stamp = modify_stamp(p.attributes);
            p.fetched = true;
            if (--fetches_left_ == 0) list_roles();
        });
        if (!done_) return; // the search could not even start
    }
}

void Downloader::list_roles()
{
    if (!settings_.sudoroles) {
        finish(std::move(download_));
        return;
    }
    SearchSpec spec{.base = settings_.sudo_base,
                    .filter = "(objectClass=sudoRole)",
                    .attributes = stamp_attributes,
                    .what = "the sudoRole entries"};
    search(std::move(spec), [this](std::vector<LdapEntry> entries) {
        for (auto &e : entries) download_.role_stamps.push_back(StoredRole{std::move(e.dn), modify_stamp(attribute_map(e))});
        std::sort(download_.role_stamps.begin(), download_.role_stamps.end(),
                  [](const StoredRole &a, const StoredRole &b) { return a.dn < b.dn; });
        bool unstamped = std::any_of(download_.role_stamps.begin(), download_.role_stamps.end(),
                                     [](const StoredRole &r) { return r.stamp.empty(); });
        if (!unstamped && download_.role_stamps == known_.roles) {
            finish(std::move(download_));
            return;
        }
        fetch_roles();
    });
}

void Downloader::fetch_roles()
{
    SearchSpec spec{.base = settings_.sudo_base,
                    .filter = "(objectClass=sudoRole)",
                    .attributes = with_stamps({"*"}),
                    .what = "the sudoRole entries"};
    search(std::move(spec), [this](std::vector<LdapEntry> entries) {
        std::vector<SudoRole> roles;
        download_.role_stamps.clear();
        for (auto &e : entries) {
            SudoRole role;
            role.attributes = attribute_map(e);
            auto cn = role.attributes.find("cn");
            role.name = cn == role.attributes.end() || cn->second.empty() ? e.dn : cn->second.front();
            download_.role_stamps.push_back(StoredRole{e.dn, modify_stamp(role.attributes)});
            // The stamps are ours to compare, not sudo options.
            for (const auto &name : stamp_attributes) role.attributes.erase(name);
            role.attributes.erase("objectClass");
            roles.push_back(std::move(role));
        }
        std::sort(download_.role_stamps.begin(), download_.role_stamps.end(),
                  [](const StoredRole &a, const StoredRole &b) { return a.dn < b.dn; });
        download_.roles = std::move(roles);
        finish(std::move(download_));
    });
}

void Downloader::finish(Result<Download> result)
{
    if (!done_) return;
    Done done = std::move(done_);
    done_ = nullptr;
    searches_.clear();
    // Not from inside the connection's own callback: the connection goes
    // (unbound, closed) from the loop, then the caller hears.
    finish_later_ = loop_.after(std::chrono::milliseconds(0),
                                [conn = std::move(conn_), done = std::move(done), result = std::move(result)]() mutable {
                                    conn.reset();
                                    done(std::move(result));
                                });
}

} // namespace vigil::policy
