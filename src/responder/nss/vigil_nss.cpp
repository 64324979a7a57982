// vigil_nss: The vigil NSS responder: answers libnss_vigil.so.2 from the cache.
// This process runs the service skeleton (options, confdb, logging, signals);
// its own work is added by the issue that builds it.
#include "util/service.hpp"

namespace {

const vigil::ServiceInfo info{
    .name = "vigil_nss",
    .section = "nss",
    .summary = "The vigil NSS responder: answers libnss_vigil.so.2 from the cache.",
    .needs_domain = false,
};

} // namespace

int main(int argc, char **argv)
{
    return vigil::run_service(info, argc, argv, [](vigil::Service &) -> vigil::Status { return {}; });
}
