// vigil_be: The vigil data provider for one domain (LDAP and Kerberos into the cache).
// This process runs the service skeleton (options, confdb, logging, signals);
// its own work is added by the issue that builds it.
#include "util/log.hpp"
#include "util/service.hpp"

#include <csignal>
#include <cstring>

namespace {

const vigil::ServiceInfo info{
    .name = "vigil_be",
    .section = "domain",
    .summary = "The vigil data provider for one domain (LDAP and Kerberos into the cache).",
    .needs_domain = true,
};

// vigild passes the admin's SIGUSR1 (go offline) and SIGUSR2 (go online) on
// to the providers. Caught here so that neither kills the process; the
// online state they switch arrives with the LDAP connection code.
vigil::Status setup(vigil::Service &svc)
{
    for (int signum : {SIGUSR1, SIGUSR2}) {
        vigil::Status st = svc.on_signal(signum, [signum] {
            VLOG(config, "received SIG%s (%s): no directory connection to switch yet", sigabbrev_np(signum),
                 signum == SIGUSR1 ? "force offline" : "force online");
        });
        if (!st) return st;
    }
    return {};
}

} // namespace

int main(int argc, char **argv) { return vigil::run_service(info, argc, argv, setup); }
