// The responders' side of the client protocol: a UNIX socket that the client
// modules connect to, the framing, the HELLO handshake, and one request at a
// time per connection, in order. A command handler answers now or later
// (after asking the provider); a connection that breaks a rule of
// doc/protocol.md is closed without another word.
#pragma once

#include "responder/common/wire.hpp"
#include "util/event.hpp"
#include "util/result.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <span>
#include <vector>

namespace vigil::responder {

class ClientConnection;

// The answer to one request; use it once (ok or status). Dropped unused, it
// answers UNAVAIL, so a client never waits for its timeout on our account.
class Reply {
public:
    explicit Reply(std::weak_ptr<ClientConnection> conn, std::uint32_t command)
        : conn_(std::move(conn)), command_(command) {}
    Reply(Reply &&other) noexcept : conn_(std::move(other.conn_)), command_(other.command_) { other.used_ = true; }
    Reply &operator=(Reply &&) = delete;
    Reply(const Reply &) = delete;
    ~Reply();

    void ok(std::span<const std::uint8_t> body); // copied out before it returns
    void status(vigil_status status);

private:
    std::weak_ptr<ClientConnection> conn_;
    std::uint32_t command_;
    bool used_ = false;
};

// A request, valid for the handler's call only: body points into the
// connection's buffer (a handler that answers later copies what it needs).
struct ClientRequest {
    std::uint32_t command;
    std::span<const std::uint8_t> body;
    uid_t peer_uid;
    pid_t peer_pid;
};

using CommandHandler = std::function<void(ClientRequest request, Reply reply)>;

class ClientServer {
public:
    struct Options {
        unsigned mode = 0666;                        // who may connect: the directory decides the rest
        std::chrono::seconds idle_timeout{60};       // a connection with no request for this long is closed
        std::size_t max_connections = 4096;          // lowered to fit RLIMIT_NOFILE
        std::size_t max_per_uid = 256;               // root is not limited
        bool wipe_requests = false;                  // requests hold secrets: wiped once handled, and at close
    };

    static Result<std::unique_ptr<ClientServer>> listen(EventLoop &loop, const std::string &path, Options options,
                                                        std::map<std::uint32_t, CommandHandler> handlers);
    ~ClientServer(); // closes every connection and removes the socket
    ClientServer(const ClientServer &) = delete;
    ClientServer &operator=(const ClientServer &) = delete;

    std::size_t connections() const { return conns_.size(); }

private:
    friend class ClientConnection;
    ClientServer(EventLoop &loop, std::string path, Options options, std::map<std::uint32_t, CommandHandler> h)
        : loop_(loop), path_(std::move(path)), options_(options), handlers_(std::move(h)) {}
    void accept_all();
    Status watch_accept();
    void forget(ClientConnection *conn);

    EventLoop &loop_;
    std::string path_;
    Options options_;
    std::map<std::uint32_t, CommandHandler> handlers_;
    int fd_ = -1;
    Watch accept_watch_;
    Timer resume_accept_;
    std::map<ClientConnection *, std::shared_ptr<ClientConnection>> conns_;
};

} // namespace vigil::responder
