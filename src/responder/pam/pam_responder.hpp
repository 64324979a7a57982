// vigil_pam: pam_vigil.so's requests, checked and sent on to the provider of
// the user's domain.
//
// For each request: parse it (pam_message.hpp), find the user (the cache,
// brought up to date by the provider when older than pam_id_timeout, so a
// user removed from a group loses it at the next login), apply the socket
// rule (the public socket acts only for the caller's own uid), then ask the
// provider (org.vigil.DataProvider.pam, dp_iface.hpp) within a bound and
// answer what it says. Tokens live in Secrets and in the provider call only;
// the connection wipes the request bytes once handled. Nothing here logs a
// token.
#pragma once

#include "responder/common/client_server.hpp"
#include "responder/common/dp_client.hpp"
#include "responder/pam/pam_message.hpp"
#include "util/sysdb/sysdb.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vigil::responder {

struct PamDomain {
    std::string name;
    sysdb::SysdbPaths paths;
    std::unique_ptr<DpClient> dp;
    std::optional<sysdb::Sysdb> cache; // opened when first needed (the provider creates it)
};

struct PamSettings {
    std::chrono::seconds id_timeout{5}; // pam_id_timeout
    // One request, user lookup and decision together: below the client
    // module's 10 s, so that it hears the answer (an offline login, say).
    std::chrono::milliseconds budget{8500};
};

class PamResponder {
public:
    PamResponder(PamSettings settings, std::vector<std::unique_ptr<PamDomain>> domains)
        : settings_(settings), domains_(std::move(domains)) {}

    // The command handlers of one socket.
    std::map<std::uint32_t, CommandHandler> handlers(PamSocket socket);

private:
    struct Found {
        PamDomain *domain = nullptr;
        std::optional<sysdb::CachedUser> user;
        bool unavailable = false; // not cached, and the provider could not say
    };
    void serve(ClientRequest req, Reply reply, PamSocket socket);
    void find_user(const std::string &name, bool refresh_groups, std::function<void(Found)> done);
    void ask_provider(PamDomain &domain, std::shared_ptr<PamRequest> req, std::shared_ptr<Reply> reply, bool by_root,
                      std::chrono::steady_clock::time_point started);
    sysdb::Sysdb *cache_of(PamDomain &d);

    PamSettings settings_;
    std::vector<std::unique_ptr<PamDomain>> domains_;
};

// A reply that carries only a result.
void answer(Reply &reply, vigil_pam_result result, const char *message = nullptr);

} // namespace vigil::responder
