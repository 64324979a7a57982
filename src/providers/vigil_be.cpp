// vigil_be: The vigil data provider for one domain (LDAP and Kerberos into the cache).
// This process runs the service skeleton (options, confdb, logging, signals);
// its own work is added by the issue that builds it.
#include "util/service.hpp"

namespace {

const vigil::ServiceInfo info{
    .name = "vigil_be",
    .section = "domain",
    .summary = "The vigil data provider for one domain (LDAP and Kerberos into the cache).",
    .needs_domain = true,
};

} // namespace

int main(int argc, char **argv)
{
    return vigil::run_service(info, argc, argv, [](vigil::Service &) -> vigil::Status { return {}; });
}
