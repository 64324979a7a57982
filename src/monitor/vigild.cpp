// vigild: the service controller. It validates the configuration, stores it
// in confdb for every other process, and holds the pid file. Supervising the
// providers and responders is built on this (see doc/architecture in README).
#include "util/log.hpp"
#include "util/service.hpp"

namespace {

const vigil::ServiceInfo info{
    .name = "vigild",
    .section = "vigil",
    .summary = "The vigil service controller: validates the configuration and runs the vigil services.",
    .is_monitor = true,
};

vigil::Status start_monitor(vigil::Service &svc)
{
    std::string domains;
    for (const std::string &d : svc.config().domains()) domains += (domains.empty() ? "" : ", ") + d;
    VLOG(config, "configuration %s accepted; domains: %s", svc.options().config_path.c_str(), domains.c_str());
    return {};
}

} // namespace

int main(int argc, char **argv) { return vigil::run_service(info, argc, argv, start_monitor); }
