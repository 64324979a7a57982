// Opening a connection to one directory server without blocking the loop.
//
// libldap's TCP connect, TLS handshake (ldaps:// or StartTLS) and bind are
// synchronous calls, bounded by ldap_network_timeout and ldap_opt_timeout.
// They run in a worker thread that hands the ready handle back to the loop;
// from then on the loop thread alone uses it, through the asynchronous API.
#pragma once

#include "providers/ldap/ldap_handle.hpp"
#include "providers/ldap/ldap_settings.hpp"
#include "util/event.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace vigil::ldap {

// What the server said about itself in its root DSE.
struct ServerInfo {
    bool supports_paging = false; // the simple paged results control (RFC 2696)
    std::string naming_context;   // the first namingContexts value: the default search base
};

struct Connected {
    LdapHandle handle;
    ServerInfo info;
};

class Connector {
public:
    using Done = std::function<void(Result<Connected>)>;

    // Starts connecting to `uri`. `done` runs once, in the loop, unless the
    // Connector is destroyed first (the attempt is then abandoned; the worker
    // finishes on its own and frees what it made).
    static Result<std::unique_ptr<Connector>> start(EventLoop &loop, const LdapSettings &settings,
                                                    const std::string &uri, Done done);
    ~Connector();
    Connector(const Connector &) = delete;
    Connector &operator=(const Connector &) = delete;

private:
    struct Shared;
    Connector() = default;
    void finish();

    std::shared_ptr<Shared> shared_;
    Watch wake_;
    Timer deadline_;
    Done done_;
};

// At the end of the process: waits up to `bound` for the connection workers
// still running (a server that does not answer), joins them, and returns how
// many were still running (left to the process's end, and logged). At most
// 16 run at once; a Connector::start beyond that fails as unavailable.
std::size_t wait_for_connection_workers(std::chrono::milliseconds bound);

// Whether a failed connection's error is a GSSAPI bind that new host
// credentials may cure: libsasl's local error (no ccache, an expired or
// unusable ticket) or the server's invalid credentials. A server that
// refuses GSSAPI or the security layer, or a TLS failure, is not one.
bool gssapi_credentials_failed(const Error &error);

// The blocking part, as the worker runs it (also usable by tests and tools).
Result<Connected> connect_blocking(const LdapSettings &settings, const std::string &uri);

} // namespace vigil::ldap
