// vigil_pam: The vigil PAM responder: answers pam_vigil.so.
// This process runs the service skeleton (options, confdb, logging, signals);
// its own work is added by the issue that builds it.
#include "util/service.hpp"

namespace {

const vigil::ServiceInfo info{
    .name = "vigil_pam",
    .section = "pam",
    .summary = "The vigil PAM responder: answers pam_vigil.so.",
    .needs_domain = false,
};

} // namespace

int main(int argc, char **argv)
{
    return vigil::run_service(info, argc, argv, [](vigil::Service &) -> vigil::Status { return {}; });
}
