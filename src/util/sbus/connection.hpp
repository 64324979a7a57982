// sbus: private peer-to-peer D-Bus between vigil's own processes, driven by
// our event loop. A service describes what it answers as a table of Methods;
// adding a method (ping, reload, getAccountInfo, ...) is adding a row.
//
//   const std::vector<sbus::Method> methods = {
//       {"org.vigil.Service", "ping", "", "", [](sbus::Request req) { req.reply({}); }},
//   };
//   conn->call("org.vigil.Service", "ping", {}, 500ms, [](Result<sbus::Args> r) { ... });
#pragma once

#include "util/event.hpp"
#include "util/result.hpp"
#include "util/sbus/args.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

struct DBusConnection;
struct DBusMessage;
struct DBusPendingCall;

namespace vigil::sbus {

inline constexpr const char *object_path = "/org/vigil";

class Connection;

// One incoming method call. Answer it with reply() or fail(), now or later
// (after awaiting a provider, say); a Request dropped unanswered answers
// "internal error" so the caller never waits for its timeout.
class Request {
public:
    Request(std::weak_ptr<Connection> conn, DBusMessage *call, std::string out_signature, Args args);
    Request(Request &&other) noexcept;
    Request &operator=(Request &&) = delete;
    Request(const Request &) = delete;
    ~Request();

    const Args &args() const { return args_; }
    // For a handler that must wipe what it was sent (a password) once read.
    Args &args() { return args_; }
    // The peer's uid as authenticated by the socket (SO_PEERCRED).
    std::optional<uid_t> peer_uid() const;
    // The connection the call came on (null once it is gone).
    std::shared_ptr<Connection> connection() const { return conn_.lock(); }

    void reply(const Args &out);
    void fail(const Error &error);

private:
    void send(DBusMessage *msg);

    std::weak_ptr<Connection> conn_;
    DBusMessage *call_ = nullptr; // a reference we hold; null once answered
    std::string out_signature_;
    Args args_;
};

struct Method {
    std::string interface;
    std::string name;
    std::string in_signature;  // checked before the handler runs
    std::string out_signature; // checked when it replies
    std::function<void(Request)> handler;
};

using ReplyHandler = std::function<void(Result<Args>)>;

class Connection : public std::enable_shared_from_this<Connection> {
public:
    // Connects to a server socket (as a client).
    static Result<std::shared_ptr<Connection>> connect(EventLoop &loop, const std::string &socket_path,
                                                       std::vector<Method> methods);
    // Adopts a connection a Server accepted; for Server only.
    static std::shared_ptr<Connection> adopt(EventLoop &loop, DBusConnection *conn, std::vector<Method> methods,
                                             std::string peer_name);
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    // Calls a method of the peer. An immediate failure (bad UTF-8, the peer
    // already gone) is returned and `done` is never called; otherwise `done`
    // runs exactly once, in the loop: with the reply, the peer's error, a
    // timeout (Errc::timeout) or the peer going away (Errc::unavailable).
    Status call(std::string_view interface, std::string_view method, const Args &in,
                std::chrono::milliseconds timeout, ReplyHandler done);

    Status emit(std::string_view interface, std::string_view signal, const Args &args);
    void on_signal(std::string_view interface, std::string_view signal, std::function<void(const Args &)> handler);
    // Each handler runs once when the peer goes away (or authentication failed).
    void on_disconnect(std::function<void()> handler) { on_disconnect_.push_back(std::move(handler)); }

    bool connected() const;
    std::optional<uid_t> peer_uid() const;
    std::optional<pid_t> peer_pid() const;
    const std::string &peer_name() const { return peer_name_; }
    DBusConnection *raw() const { return conn_; }

    // Closes now; pending calls are dropped without their callbacks.
    void close();

    // For the libdbus filter only: routes one incoming message. Returns true
    // when the message was ours (everything but replies to our calls).
    bool handle_message(DBusMessage *msg);

private:
    Connection(EventLoop &loop, DBusConnection *conn, std::vector<Method> methods, std::string peer_name);
    Status attach();
    void schedule_dispatch();
    void dispatch();
    void handle_call(DBusMessage *msg);
    static void pending_done(DBusPendingCall *pending, void *data);
    void finish_call(DBusPendingCall *pending, Result<Args> result);
    void fail_pending_calls();

    struct SignalHandler {
        std::string interface, name;
        std::function<void(const Args &)> handler;
    };

    EventLoop &loop_;
    DBusConnection *conn_;
    std::vector<Method> methods_;
    std::string peer_name_;
    std::unique_ptr<class Glue> glue_;
    Timer dispatch_timer_;
    std::vector<SignalHandler> signal_handlers_;
    std::vector<std::function<void()>> on_disconnect_;
    struct PendingCall {
        ReplyHandler done;
        std::string what; // "org.vigil.Service.ping"
        long timeout_ms;
    };
    std::map<DBusPendingCall *, PendingCall> pending_;
    bool closed_ = false;
};

} // namespace vigil::sbus
