// vigilctl policy status | refresh | diff TYPE | rollback TYPE
#include "tools/vigilctl.hpp"

#include "policy/child_process.hpp"
#include "policy/policy_settings.hpp"
#include "policy/policy_xml.hpp"
#include "policy/refresh.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace vigilctl {

namespace {

using namespace vigil;
using namespace vigil::policy;

void usage_line()
{
    std::fprintf(stderr, "vigilctl: usage: policy status | refresh | diff TYPE | rollback TYPE\n");
}

int status(const PolicySettings &settings)
{
    auto text = read_text_file(settings.status_path());
    if (!text) {
        std::fprintf(stderr, "vigilctl: no policy status yet (%s): is vigil_policy in [vigil] services?\n",
                     text.error().message.c_str());
        return exit_not_running;
    }
    // The file outlives the daemon: say when it is not running.
    if (::access(policy_iface::socket_path(settings.run_dir).c_str(), F_OK) != 0) {
        std::printf("vigil_policy: not running (what follows is from its last refresh)\n");
    }
    std::fputs(text->c_str(), stdout);
    return 0;
}

// Longer than a refresh can take: each server of ldap_uri may take
// ldap_network_timeout and ldap_opt_timeout to fail, then the searches, the
// render and visudo their own bounds.
std::chrono::seconds refresh_bound(const PolicySettings &settings)
{
    const auto &ldap = settings.download.ldap;
    const auto per_server = ldap.network_timeout + ldap.opt_timeout * 3;
    const auto render = std::chrono::duration_cast<std::chrono::seconds>(settings.pipeline.render_limits.timeout);
    return per_server * static_cast<long>(ldap.uris.size() + 1) + ldap.search_timeout * 4 + render * 2 +
           std::chrono::seconds(30);
}

int refresh(const PolicySettings &settings)
{
    bool reached = false;
    auto reply = call_bus(policy_iface::socket_path(settings.run_dir), policy_iface::interface, "refresh", {}, reached,
                          refresh_bound(settings));
    if (!reply) {
        std::fprintf(stderr, "vigilctl: vigil_policy %s (%s)\n", reached ? "failed" : "is not running",
                     reply.error().message.c_str());
        return exit_not_running;
    }
    for (const std::string &line : sbus::get<sbus::StringList>(*reply, 1)) std::printf("%s\n", line.c_str());
    return sbus::get<bool>(*reply, 0) ? 0 : 1;
}

// What the next install would change: the cache rendered now, against the
// installed file, as a unified diff (exit 0: none, 1: some, as diff(1)).
int diff(const PolicySettings &settings, const PolicyType &type)
{
    std::string note;
    CacheIndex index = PolicyStore(settings.cache_dir()).load(&note);
    if (!note.empty()) std::fprintf(stderr, "vigilctl: %s\n", note.c_str());
    auto rendered = render_from_cache(settings, type, index);
    if (!rendered) {
        std::fprintf(stderr, "vigilctl: %s\n", rendered.error().message.c_str());
        return 2;
    }
    const std::string target = settings.target_path(type);
    const std::string installed = ::access(target.c_str(), F_OK) == 0 ? target : "/dev/null";
    auto out = run_child({"/usr/bin/diff", "-u", "--label", target + " (installed)", "--label",
                          target + " (next install)", installed, "-"},
                         *rendered, {});
    if (!out) {
        std::fprintf(stderr, "vigilctl: diff: %s\n", out.error().message.c_str());
        return 2;
    }
    std::fputs(out->out.c_str(), stdout);
    if (out->exit_code > 1) std::fprintf(stderr, "vigilctl: %s\n", out->describe().c_str());
    return out->exit_code;
}

int rollback(const PolicySettings &settings, const PolicyType &type)
{
    const std::string socket = policy_iface::socket_path(settings.run_dir);
    // vigil_policy removes its socket when it stops. While the socket is
    // there the rollback is the daemon's to do (never racing an install).
    if (::access(socket.c_str(), F_OK) == 0) {
        bool reached = false;
        auto reply = call_bus(socket, policy_iface::interface, "rollback", {std::string(type.name)}, reached,
                              refresh_bound(settings));
        if (reply) {
            std::printf("%s: %s\n", std::string(type.name).c_str(), sbus::get<std::string>(*reply, 1).c_str());
            return sbus::get<bool>(*reply, 0) ? 0 : 1;
        }
        std::fprintf(stderr, "vigilctl: vigil_policy %s (%s); nothing rolled back: try again, or stop vigild\n",
                     reached ? "failed" : "did not answer", reply.error().message.c_str());
        return 1;
    }
    // Nobody installs while vigil_policy is down: roll back here.
    if (auto rolled = rollback_type(settings, type); !rolled) {
        std::fprintf(stderr, "vigilctl: %s\n", rolled.error().message.c_str());
        return 1;
    }
    std::printf("%s: rolled back; held until 'vigilctl policy refresh'\n", std::string(type.name).c_str());
    return 0;
}

} // namespace

int policy(const Context &ctx)
{
    if (ctx.args.empty()) {
        usage_line();
        return exit_usage;
    }
    const std::string &what = ctx.args[0];
    const bool takes_type = what == "diff" || what == "rollback";
    if ((takes_type && ctx.args.size() != 2) || (!takes_type && ctx.args.size() != 1)) {
        usage_line();
        return exit_usage;
    }
    ConfigLoad load = load_config_leniently(ctx);
    auto settings = PolicySettings::from_config(load.config);
    if (!settings) {
        std::fprintf(stderr, "vigilctl: %s\n", settings.error().message.c_str());
        return exit_usage;
    }
    if (what == "status") return status(*settings);
    if (what == "refresh") {
        // A GSSAPI-bound domain binds with the host ccache vigil_be keeps.
        if (Status env = ldap::set_sasl_environment(settings->download.ldap); !env) {
            std::fprintf(stderr, "vigilctl: %s\n", env.error().message.c_str());
            return exit_usage;
        }
        return refresh(*settings);
    }
    const PolicyType *type = takes_type ? find_type(ctx.args[1]) : nullptr;
    if (takes_type && !type) {
        std::fprintf(stderr, "vigilctl: '%s' is not a policy type\n", ctx.args[1].c_str());
        return exit_usage;
    }
    if (what == "diff") return diff(*settings, *type);
    if (what == "rollback") return rollback(*settings, *type);
    usage_line();
    return exit_usage;
}

} // namespace vigilctl
