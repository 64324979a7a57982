// vigilctl's commands about domains and their caches: domain-status asks the
// domain's provider; user-show, group-show and cache-expire use the cache
// files directly (root, or the user vigil runs as).
#include "tools/vigilctl.hpp"

#include "util/creds/canonical_name.hpp"
#include "util/creds/credential_store.hpp"
#include "util/creds/credentials_config.hpp"
#include "util/creds/password_hash.hpp"
#include "util/sbus/dp_iface.hpp"
#include "util/sbus/monitor_iface.hpp"
#include "util/sysdb/sysdb.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sys/stat.h>

namespace vigilctl {

namespace {

using vigil::sysdb::Sysdb;

std::string when(std::int64_t t, std::int64_t now)
{
    if (t == 0) return "never";
    char buf[64];
    std::time_t tt = static_cast<std::time_t>(t);
    struct tm tm {};
    localtime_r(&tt, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    std::string out = buf;
    if (t > now) out += " (in " + std::to_string(t - now) + " s)";
    else out += " (" + std::to_string(now - t) + " s ago)";
    return out;
}

struct DomainCache {
    std::string domain;
    Sysdb cache;
    std::int64_t entry_timeout;
};

// The caches of the domains asked for (--domain D, else all), opened read-only
// (or for writing, for cache-expire).
vigil::Result<std::vector<DomainCache>> open_caches(const vigil::Config &c, const std::string &only, Sysdb::Role role)
{
    std::vector<DomainCache> out;
    for (const std::string &d : c.domains()) {
        if (!only.empty() && d != only) continue;
        auto cache = Sysdb::open(vigil::sysdb::SysdbPaths::for_domain(c.get_string("vigil", "state_dir"), d), role);
        if (!cache) return vigil::Error{cache.error().code, "domain " + d + ": " + cache.error().message};
        out.push_back({d, std::move(*cache), c.get_int("domain/" + d, "entry_cache_timeout")});
    }
    if (out.empty()) return vigil::Error{vigil::Errc::not_found, "no domain named '" + only + "'"};
    return out;
}

// NAME [--domain D]
bool parse_name_args(const Context &ctx, const char *command, std::string &name, std::string &domain)
{
    for (std::size_t i = 0; i < ctx.args.size(); ++i) {
        if (ctx.args[i] == "--domain" && i + 1 < ctx.args.size()) domain = ctx.args[++i];
        else if (name.empty() && !ctx.args[i].starts_with("--")) name = ctx.args[i];
        else {
            std::fprintf(stderr, "vigilctl: usage: %s NAME [--domain DOMAIN]\n", command);
            return false;
        }
    }
    if (name.empty()) std::fprintf(stderr, "vigilctl: usage: %s NAME [--domain DOMAIN]\n", command);
    return !name.empty();
}

void print_timestamps(const vigil::sysdb::Timestamps &ts, std::int64_t timeout, std::int64_t now)
{
    std::printf("last update:  %s\n", when(ts.last_update, now).c_str());
    // 0 is not "never": it is an entry marked expired (vigilctl cache-expire) or never refreshed.
    std::printf("expires:      %s\n", ts.expires_at == 0 ? "already (marked expired)" : when(ts.expires_at, now).c_str());
    std::printf("state:        %s\n",
                vigil::sysdb::freshness_name(vigil::sysdb::classify(ts, now, timeout, 50)));
}

} // namespace

int domain_status(const Context &ctx)
{
    if (ctx.args.size() != 1) {
        std::fprintf(stderr, "vigilctl: usage: domain-status DOMAIN\n");
        return exit_usage;
    }
    vigil::ConfigLoad load = load_config_leniently(ctx);
    const std::string &domain = ctx.args[0];
    auto domains = load.config.domains();
    if (std::find(domains.begin(), domains.end(), domain) == domains.end()) {
        std::fprintf(stderr, "vigilctl: no domain named '%s' in %s\n", domain.c_str(), ctx.config_path.c_str());
        return exit_usage;
    }
    bool reached = false;
    auto reply = call_bus(vigil::dp_iface::socket_path(load.config.get_string("vigil", "run_dir"), domain),
                          vigil::dp_iface::interface, "domainStatus", {}, reached);
    if (!reply) {
        std::fprintf(stderr, "vigilctl: the provider of %s %s (%s)\n", domain.c_str(),
                     reached ? "failed" : "is not running", reply.error().message.c_str());
        return exit_not_running;
    }
    for (const std::string &line : vigil::sbus::get<vigil::sbus::StringList>(*reply, 0)) {
        auto tab = line.find('\t');
        std::string key = line.substr(0, tab) + ":";
        std::printf("%-15s %s\n", key.c_str(), tab == std::string::npos ? "" : line.substr(tab + 1).c_str());
    }
    return 0;
}

namespace {

// What user-show and group-show share: NAME [--domain D], and the caches
// to look in. Returns an exit code, or -1 with `caches` filled.
int open_for_show(const Context &ctx, const char *command, std::string &name, std::vector<DomainCache> &caches,
                  vigil::ConfigLoad *config = nullptr)
{
    std::string only;
    if (!parse_name_args(ctx, command, name, only)) return exit_usage;
    vigil::ConfigLoad load = load_config_leniently(ctx);
    auto opened = open_caches(load.config, only, Sysdb::Role::reader);
    if (config != nullptr) *config = load;
    if (!opened) {
        std::fprintf(stderr, "vigilctl: %s\n", opened.error().message.c_str());
        return exit_not_running;
    }
    caches = std::move(*opened);
    return -1;
}

// What the credentials database holds for the user (never the hash): the
// file is opened only if it exists (vigilctl creates nothing).
void print_credentials(const vigil::Config &config, const std::string &domain, const std::string &name,
                       std::int64_t now)
{
    const auto cc = vigil::creds::credentials_config(config, domain);
    if (!cc.cache_credentials) {
        std::printf("cached password: not kept (cache_credentials = false)\n");
        return;
    }
    struct stat st {};
    const std::string path = cc.db_dir + "/" + vigil::creds::CredentialStore::file_name(domain);
    if (::stat(path.c_str(), &st) != 0) {
        std::printf("cached password: none\n");
        return;
    }
    auto store = vigil::creds::CredentialStore::open(cc.db_dir, domain);
    auto user = vigil::creds::canonical_user_name(name, cc.naming);
    if (!store || !user) {
        std::printf("cached password: cannot be read (%s)\n",
                    (!store ? store.error() : user.error()).message.c_str());
        return;
    }
    auto record = store->find(*user);
    if (!record) {
        std::printf("cached password: cannot be read (%s)\n", record.error().message.c_str());
        return;
    }
    if (!*record) {
        std::printf("cached password: none\n");
        return;
    }
    const auto &r = **record;
    auto secs = [](vigil::creds::WallTime t) { return static_cast<std::int64_t>(t.time_since_epoch().count()); };
    std::printf("cached password: stored %s (%s; new hashes: cost %u)\nfailed logins:   %u (offline, since the last "
                "success)\n",
                when(secs(r.stored_at), now).c_str(), vigil::creds::describe_hash(r.hash).c_str(), cc.hash_cost,
                r.failed_attempts);
    if (r.locked_until) std::printf("locked until:    %s\n", when(secs(*r.locked_until), now).c_str());
}

} // namespace

int user_show(const Context &ctx)
{
    std::string name;
    std::vector<DomainCache> caches;
    vigil::ConfigLoad load;
    if (int rc = open_for_show(ctx, "user-show", name, caches, &load); rc >= 0) return rc;
    const std::int64_t now = std::time(nullptr);
    for (DomainCache &dc : caches) {
        auto user = dc.cache.user_by_name(name);
        if (!user) {
            std::fprintf(stderr, "vigilctl: domain %s: %s\n", dc.domain.c_str(), user.error().message.c_str());
            continue;
        }
        if (!*user) continue;
        const auto &u = (*user)->record;
        std::printf("domain:       %s\nname:         %s\nuid:          %u\ngid:          %u\ngecos:        %s\n"
                    "home:         %s\nshell:        %s\ndn:           %s\nmodified:     %s\n",
                    dc.domain.c_str(), u.name.c_str(), u.uid, u.gid, u.gecos.c_str(), u.home.c_str(),
                    u.shell.c_str(), u.original_dn.c_str(), u.modify_stamp.c_str());
        print_timestamps((*user)->timestamps, dc.entry_timeout, now);
        auto groups = dc.cache.groups_of_user(u.name, u.gid);
        if (groups) {
            std::string gids;
            for (std::uint32_t g : groups->gids) gids += (gids.empty() ? "" : ", ") + std::to_string(g);
            std::printf("groups:       %s\ngroups as of: %s\n", gids.c_str(),
                        when(groups->timestamps.last_update, now).c_str());
        }
        print_credentials(load.config, dc.domain, u.name, now);
        return 0;
    }
    std::fprintf(stderr, "vigilctl: user %s is not in the cache\n", name.c_str());
    return exit_not_running;
}

int group_show(const Context &ctx)
{
    std::string name;
    std::vector<DomainCache> caches;
    if (int rc = open_for_show(ctx, "group-show", name, caches); rc >= 0) return rc;
    const std::int64_t now = std::time(nullptr);
    for (DomainCache &dc : caches) {
        auto group = dc.cache.group_by_name(name);
        if (!group || !*group) continue;
        const auto &g = (*group)->record;
        std::string members;
        for (const std::string &m : g.members) members += (members.empty() ? "" : ", ") + m;
        std::printf("domain:       %s\nname:         %s\ngid:          %u\nmembers:      %s\ndn:           %s\n"
                    "modified:     %s\n",
                    dc.domain.c_str(), g.name.c_str(), g.gid, members.c_str(), g.original_dn.c_str(),
                    g.modify_stamp.c_str());
        print_timestamps((*group)->timestamps, dc.entry_timeout, now);
        return 0;
    }
    std::fprintf(stderr, "vigilctl: group %s is not in the cache\n", name.c_str());
    return exit_not_running;
}

int cache_expire(const Context &ctx)
{
    std::string user, group, only;
    bool everything = false;
    const char *usage = "vigilctl: usage: cache-expire --user NAME | --group NAME | --everything [--domain DOMAIN]\n";
    for (std::size_t i = 0; i < ctx.args.size(); ++i) {
        const std::string &a = ctx.args[i];
        bool has_value = i + 1 < ctx.args.size();
        if (a == "--user" && has_value) user = ctx.args[++i];
        else if (a == "--group" && has_value) group = ctx.args[++i];
        else if (a == "--domain" && has_value) only = ctx.args[++i];
        else if (a == "--everything") everything = true;
        else {
            std::fputs(usage, stderr);
            return exit_usage;
        }
    }
    if ((user.empty() ? 0 : 1) + (group.empty() ? 0 : 1) + (everything ? 1 : 0) != 1) {
        std::fputs(usage, stderr);
        return exit_usage;
    }
    vigil::ConfigLoad load = load_config_leniently(ctx);
    const std::string kind = everything ? "everything" : !user.empty() ? "user" : "group";
    const std::string name = everything ? "" : !user.empty() ? user : group;
    const std::string what = everything ? "every entry" : kind + " " + name;
    bool any = false;
    for (const std::string &domain : load.config.domains()) {
        if (!only.empty() && domain != only) continue;
        any = true;
        // The running provider is the cache's one writer: it does the expiry.
        bool reached = false;
        auto reply = call_bus(vigil::dp_iface::socket_path(load.config.get_string("vigil", "run_dir"), domain),
                              vigil::dp_iface::interface, "expireCache", {kind, name}, reached);
        if (reply) {
            std::printf("%s: expired %s\n", domain.c_str(), what.c_str());
            continue;
        }
        if (reached) {
            std::fprintf(stderr, "vigilctl: domain %s: %s\n", domain.c_str(), reply.error().message.c_str());
            return 1;
        }
        // No provider runs: nobody else writes the file now.
        auto caches = open_caches(load.config, domain, Sysdb::Role::writer);
        if (!caches) {
            std::fprintf(stderr, "vigilctl: %s\n", caches.error().message.c_str());
            return exit_not_running;
        }
        Sysdb &cache = caches->front().cache;
        vigil::Status st = everything ? cache.expire_all() : !user.empty() ? cache.expire_user(user)
                                                                           : cache.expire_group(group);
        if (!st) {
            std::fprintf(stderr, "vigilctl: domain %s: %s\n", domain.c_str(), st.error().message.c_str());
            return 1;
        }
        std::printf("%s: expired %s (in the cache file: the provider is not running)\n", domain.c_str(), what.c_str());
    }
    if (!any) {
        std::fprintf(stderr, "vigilctl: no domain named '%s'\n", only.c_str());
        return exit_usage;
    }
    return 0;
}

} // namespace vigilctl
