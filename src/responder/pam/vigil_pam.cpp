// vigil_pam: answers pam_vigil.so (see pam_responder.hpp).
#include "responder/pam/pam_responder.hpp"
#include "util/log.hpp"
#include "util/sbus/dp_iface.hpp"
#include "util/service.hpp"

#include <sys/stat.h>

namespace {

using namespace vigil;
using namespace vigil::responder;

const ServiceInfo info{
    .name = "vigil_pam",
    .section = "pam",
    .summary = "The vigil PAM responder: answers pam_vigil.so.",
};

// How long finding the user may wait for the provider before the cache
// decides; the provider's decision gets what is left of the request's
// budget (PamSettings::budget), all below the client module's 10 s bound.
constexpr std::chrono::milliseconds lookup_wait{4000};

struct Pam {
    std::unique_ptr<PamResponder> responder;
    std::unique_ptr<ClientServer> public_server;
    std::unique_ptr<ClientServer> private_server;
};

Status setup(Service &svc)
{
    const Config &c = svc.config();
    const std::string state_dir = c.get_string("vigil", "state_dir");
    const std::string run_dir = c.get_string("vigil", "run_dir");
    std::vector<std::unique_ptr<PamDomain>> domains;
    for (const std::string &d : c.domains()) {
        auto dom = std::make_unique<PamDomain>();
        dom->name = d;
        dom->paths = sysdb::SysdbPaths::for_domain(state_dir, d);
        dom->dp = std::make_unique<DpClient>(svc.loop(), d, dp_iface::socket_path(run_dir, d), lookup_wait);
        domains.push_back(std::move(dom));
    }
    PamSettings settings;
    settings.id_timeout = std::chrono::seconds(c.get_int("pam", "pam_id_timeout"));
    auto pam = std::make_shared<Pam>();
    pam->responder = std::make_unique<PamResponder>(settings, std::move(domains));

    // The public socket: everybody may connect, and acts for itself only.
    // The private one: a directory only root may enter (DESIGN.md).
    const std::string pipes = state_dir + "/pipes";
    Status st = ensure_private_dir(pipes, 0755);
    if (!st) return st;
    st = ensure_private_dir(pipes + "/private", 0700);
    if (!st) return st;
    ClientServer::Options options;
    options.idle_timeout = std::chrono::seconds(c.get_int("pam", "client_idle_timeout"));
    options.wipe_requests = true;
    auto pub = ClientServer::listen(svc.loop(), pipes + "/" VIGIL_PAM_SOCKET_NAME, options,
                                    pam->responder->handlers(PamSocket::public_socket));
    if (!pub) return std::move(pub).error();
    options.mode = 0600;
    auto priv = ClientServer::listen(svc.loop(), pipes + "/" VIGIL_PAM_PRIVATE_SOCKET_NAME, options,
                                     pam->responder->handlers(PamSocket::private_socket));
    if (!priv) return std::move(priv).error();
    pam->public_server = std::move(*pub);
    pam->private_server = std::move(*priv);
    svc.keep(pam);
    return {};
}

} // namespace

int main(int argc, char **argv) { return run_service(info, argc, argv, setup); }
