// access_call: the access decision of pam_acct_mgmt, run as vigil_be would
// run it, so that the integration tests can drive it against a real slapd
// and then with slapd stopped. It is the domain's provider for its run: it
// opens the cache as the writer (vigil_be must not run on the same state dir).
//
//   access_call -c CONFIG [--domain NAME] [--no-refresh] [--show] USER...
//     For each USER in turn: refresh the user and its groups (initgroups, as
//     acct_mgmt does; skipped with --no-refresh), then decide. Prints
//       USER permit | USER deny: REASON | USER unavailable: REASON
//     and with --show, before that, the cached user's extra attributes as
//       USER extra ATTR=VALUE          (one line a value, sorted)
//     Exit status 0, or 2 for bad usage or a configuration refused.
#include "providers/access/access_checker.hpp"
#include "providers/ldap/ldap_id.hpp"
#include "util/config.hpp"
#include "util/log.hpp"

#include <cstdio>
#include <string>
#include <vector>

using namespace vigil;

namespace {

int usage()
{
    std::fprintf(stderr, "usage: access_call -c CONFIG [--domain NAME] [--no-refresh] [--show] USER...\n");
    return 2;
}

int refused(const std::string &what)
{
    std::fprintf(stderr, "access_call: %s\n", what.c_str());
    return 2;
}

} // namespace

int main(int argc, char **argv)
{
    log::set_identity("access_call", "");
    log::set_level(2);
    std::string config_path, domain;
    bool refresh = true, show = false;
    std::vector<std::string> users;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-c" || a == "--config") && i + 1 < argc) config_path = argv[++i];
        else if (a == "--domain" && i + 1 < argc) domain = argv[++i];
        else if (a == "--no-refresh") refresh = false;
        else if (a == "--show") show = true;
        else if (!a.empty() && a.front() == '-') return usage();
        else users.push_back(a);
    }
    if (config_path.empty() || users.empty()) return usage();
    ConfigLoad load = load_config(config_path);
    if (!load.ok()) return refused(load.problems.front().to_string());
    const Config &c = load.config;
    if (domain.empty()) {
        auto domains = c.domains();
        if (domains.empty()) return refused("no domain configured");
        domain = domains.front();
    }
    auto ldap_settings = ldap::LdapSettings::from_config(c, domain);
    if (!ldap_settings) return refused(ldap_settings.error().message);
    auto id_settings = ldap::IdSettings::from_config(c, domain);
    if (!id_settings) return refused(id_settings.error().message);
    auto access_settings = access::AccessSettings::from_config(c, domain);
    if (!access_settings) return refused(access_settings.error().message);
    auto cache = sysdb::Sysdb::open(sysdb::SysdbPaths::for_domain(c.get_string("vigil", "state_dir"), domain),
                                    sysdb::Sysdb::Role::writer);
    if (!cache) return refused(cache.error().message);
    auto loop = EventLoop::create();
    if (!loop) return refused(loop.error().message);
    const std::string sec = "domain/" + domain;
    DomainState::Timing timing{std::chrono::seconds(c.get_int(sec, "offline_timeout")),
                               std::chrono::seconds(c.get_int(sec, "offline_timeout_max"))};
    ldap::IdProvider id(**loop, std::move(*ldap_settings), std::move(*id_settings), *cache, timing);
    access::AccessChecker checker(
        std::move(*access_settings), *cache,
        [&id](ldap::SearchSpec spec, access::AccessChecker::SearchDone done) {
            id.search_directory(std::move(spec), std::move(done));
        },
        [&id](std::uint32_t gid, std::function<void()> then) {
            id.fetch(dp_iface::Lookup::group_by_gid, std::to_string(gid),
                     [then](dp_iface::Outcome, const std::string &) { then(); });
        });

    std::size_t next = 0;
    std::function<void()> decide_next;
    auto decide = [&](const std::string &user) {
        if (show) {
            auto cached = cache->user_by_name(user);
            if (cached && *cached)
                for (const auto &[attr, values] : (*cached)->record.extra)
                    for (const std::string &v : values) std::printf("%s extra %s=%s\n", user.c_str(), attr.c_str(), v.c_str());
        }
        checker.check(user, [&, user](access::AccessDecision d) {
            std::printf("%s %s%s%s\n", user.c_str(), access::decision_name(d.kind), d.reason.empty() ? "" : ": ",
                        d.reason.c_str());
            std::fflush(stdout);
            decide_next();
        });
    };
    decide_next = [&] {
        if (next == users.size()) {
            (*loop)->quit(0);
            return;
        }
        const std::string user = users[next++];
        if (!refresh) {
            decide(user);
            return;
        }
        id.fetch(dp_iface::Lookup::initgroups, user, [&, user](dp_iface::Outcome outcome, const std::string &message) {
            std::fprintf(stderr, "refresh %s: %s %s\n", user.c_str(), dp_iface::outcome_name(outcome), message.c_str());
            decide(user);
        });
    };
    // Started from the loop, so that every answer (even an immediate one) finds it running.
    Timer start = (*loop)->after(std::chrono::milliseconds(0), [&] { decide_next(); });
    (*loop)->run();
    return 0;
}
