// vigil_ifp: The vigil InfoPipe D-Bus service.
// This process runs the service skeleton (options, confdb, logging, signals);
// its own work is added by the issue that builds it.
#include "util/service.hpp"

namespace {

const vigil::ServiceInfo info{
    .name = "vigil_ifp",
    .section = "ifp",
    .summary = "The vigil InfoPipe D-Bus service.",
    .needs_domain = false,
};

} // namespace

int main(int argc, char **argv)
{
    return vigil::run_service(info, argc, argv, [](vigil::Service &) -> vigil::Status { return {}; });
}
