// vigil_policy: The vigil policy downloader: sudoers, SELinux user maps, desktop profiles.
// This process runs the service skeleton (options, confdb, logging, signals);
// its own work is added by the issue that builds it.
#include "util/service.hpp"

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
    return vigil::run_service(info, argc, argv, [](vigil::Service &) -> vigil::Status { return {}; });
}
