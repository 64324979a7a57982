// vigil_nss: serves libnss_vigil.so.2 from the cache (see nss_responder.hpp).
#include "responder/nss/nss_responder.hpp"
#include "util/log.hpp"
#include "util/sbus/dp_iface.hpp"
#include "util/service.hpp"

namespace {

using namespace vigil;
using namespace vigil::responder;

const ServiceInfo info{
    .name = "vigil_nss",
    .section = "nss",
    .summary = "The vigil NSS responder: answers libnss_vigil.so.2 from the cache.",
};

// How long a client waits for the provider before it gets the cached entry
// (or "unavailable"): below the client module's own 10 s bound.
constexpr std::chrono::milliseconds provider_wait{8000};

struct Nss {
    std::unique_ptr<NssResponder> responder;
    std::unique_ptr<ClientServer> server;
};

Status setup(Service &svc)
{
    const Config &c = svc.config();
    const std::string state_dir = c.get_string("vigil", "state_dir");
    const std::string run_dir = c.get_string("vigil", "run_dir");
    std::vector<std::unique_ptr<NssDomain>> domains;
    for (const std::string &d : c.domains()) {
        auto dom = std::make_unique<NssDomain>();
        dom->name = d;
        dom->paths = sysdb::SysdbPaths::for_domain(state_dir, d);
        dom->entry_timeout = c.get_int("domain/" + d, "entry_cache_timeout");
        dom->enumerate = c.get_bool("domain/" + d, "enumerate");
        dom->dp = std::make_unique<DpClient>(svc.loop(), d, dp_iface::socket_path(run_dir, d), provider_wait);
        domains.push_back(std::move(dom));
    }
    auto nss = std::make_shared<Nss>();
    nss->responder = std::make_unique<NssResponder>(svc.loop(), NssSettings::from_config(c), std::move(domains));
    nss->responder->watch_providers();
    // Everyone may look users up: the pipes dir is 0755, the socket 0666.
    const std::string pipes = state_dir + "/pipes";
    Status st = ensure_private_dir(pipes, 0755);
    if (!st) return st;
    ClientServer::Options options;
    options.idle_timeout = std::chrono::seconds(c.get_int("nss", "client_idle_timeout"));
    auto server = ClientServer::listen(svc.loop(), pipes + "/" VIGIL_NSS_SOCKET_NAME, options, nss->responder->handlers());
    if (!server) return std::move(server).error();
    nss->server = std::move(*server);
    svc.keep(nss);
    return {};
}

} // namespace

int main(int argc, char **argv) { return run_service(info, argc, argv, setup); }
