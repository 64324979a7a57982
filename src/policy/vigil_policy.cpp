// vigil_policy: the policy downloader. Finds the policies meant for this
// host in the directory, keeps them in policy/cache/, merges each type by
// priority, renders it in the render child and installs it (doc/policy.md).
#include "policy/policy_daemon.hpp"
#include "providers/ldap/ldap_settings.hpp"
#include "util/service.hpp"

#include <csignal>

namespace {

const vigil::ServiceInfo info{
    .name = "vigil_policy",
    .section = "policy",
    .summary = "The vigil policy downloader: sudoers, SELinux user maps, desktop profiles.",
    .needs_domain = false,
};

} // namespace

int main(int argc, char **argv)
{
    // A file size limit (or a quota) makes a write fail with EFBIG, as a
    // full disk does with ENOSPC, and the refresh fails and says so: it
    // must not kill the daemon.
    std::signal(SIGXFSZ, SIG_IGN);
    // Inherited SIG_IGN would let the kernel reap visudo and the render
    // child before their exit status is read.
    std::signal(SIGCHLD, SIG_DFL);
    return vigil::run_service(info, argc, argv, [](vigil::Service &svc) -> vigil::Status {
        auto settings = vigil::policy::PolicySettings::from_config(svc.config());
        if (!settings) return std::move(settings).error();
        // A GSSAPI-bound domain: the binds read the host ccache vigil_be
        // keeps, with the domain's profile (set before any thread starts).
        vigil::Status env = vigil::ldap::set_sasl_environment(settings->download.ldap);
        if (!env) return env;
        auto daemon = vigil::policy::PolicyDaemon::start(svc.loop(), std::move(*settings));
        if (!daemon) return std::move(daemon).error();
        svc.keep(std::shared_ptr<vigil::policy::PolicyDaemon>(std::move(*daemon)));
        return {};
    });
}
