#include "util/sbus/connection.hpp"

#include "util/ini.hpp" // is_valid_utf8
#include "util/log.hpp"
#include "util/sbus/glue.hpp"

#include <dbus/dbus.h>

namespace vigil::sbus {
namespace {

// Control messages only: anything near this size is a bug or an attack.
constexpr long max_message_size = 1024 * 1024;
// Messages handled per dispatch round before yielding to other events.
constexpr int dispatch_batch = 64;

DBusMessage *error_message(DBusMessage *call, const Error &error)
{
    // The text must be valid UTF-8 too: an error message may quote a name.
    std::string text = is_valid_utf8(error.message) ? error.message : "(message not valid UTF-8)";
    return dbus_message_new_error(call, error_name(error.code).c_str(), text.c_str());
}

DBusHandlerResult filter(DBusConnection *, DBusMessage *msg, void *data)
{
    // No exception may unwind through libdbus.
    try {
        return static_cast<Connection *>(data)->handle_message(msg) ? DBUS_HANDLER_RESULT_HANDLED
                                                                    : DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
    } catch (const std::exception &e) {
        VLOG(critical, "exception while handling a D-Bus message: %s", e.what());
    } catch (...) {
        VLOG(critical, "unknown exception while handling a D-Bus message");
    }
    return DBUS_HANDLER_RESULT_HANDLED;
}

} // namespace

// ---------------------------------------------------------------- Request

Request::Request(std::weak_ptr<Connection> conn, DBusMessage *call, std::string out_signature, Args args)
    : conn_(std::move(conn)), call_(dbus_message_ref(call)), out_signature_(std::move(out_signature)),
      args_(std::move(args))
{
}

Request::Request(Request &&other) noexcept
    : conn_(std::move(other.conn_)), call_(other.call_), out_signature_(std::move(other.out_signature_)),
      args_(std::move(other.args_))
{
    other.call_ = nullptr;
}

Request::~Request()
{
    if (call_ != nullptr) {
        VLOG(error, "%s.%s was never answered: replying with an internal error",
             dbus_message_get_interface(call_), dbus_message_get_member(call_));
        fail(Error{Errc::internal, "the handler gave no answer"});
    }
}

std::optional<uid_t> Request::peer_uid() const
{
    auto conn = conn_.lock();
    return conn ? conn->peer_uid() : std::nullopt;
}

void Request::send(DBusMessage *msg)
{
    DBusMessage *call = call_;
    call_ = nullptr;
    if (msg != nullptr) {
        if (auto conn = conn_.lock(); conn && conn->connected()) dbus_connection_send(conn->raw(), msg, nullptr);
        dbus_message_unref(msg);
    }
    dbus_message_unref(call);
}

void Request::reply(const Args &out)
{
    if (call_ == nullptr) return;
    std::string sig = signature_of(out);
    if (sig != out_signature_) {
        VLOG(error, "%s.%s replied (%s) where (%s) is declared", dbus_message_get_interface(call_),
             dbus_message_get_member(call_), sig.c_str(), out_signature_.c_str());
        return fail(Error{Errc::internal, "the handler replied with the wrong types"});
    }
    DBusMessage *msg = dbus_message_new_method_return(call_);
    if (msg == nullptr) return send(nullptr);
    Status st = append_args(msg, out);
    if (!st) {
        dbus_message_unref(msg);
        return fail(st.error());
    }
    send(msg);
}

void Request::fail(const Error &error)
{
    if (call_ == nullptr) return;
    send(error_message(call_, error));
}

// ---------------------------------------------------------------- Connection

Connection::Connection(EventLoop &loop, DBusConnection *conn, std::vector<Method> methods, std::string peer_name)
    : loop_(loop), conn_(conn), methods_(std::move(methods)), peer_name_(std::move(peer_name)),
      glue_(std::make_unique<Glue>(loop, [this] { schedule_dispatch(); }))
{
}

Status Connection::attach()
{
    dbus_connection_set_exit_on_disconnect(conn_, FALSE);
    dbus_connection_set_max_message_size(conn_, max_message_size);
    dbus_connection_set_max_received_size(conn_, 4 * max_message_size);
    if (!dbus_connection_add_filter(conn_, filter, this, nullptr))
        return Error{Errc::internal, "out of memory adding a D-Bus filter"};
    dbus_connection_set_dispatch_status_function(
        conn_,
        [](DBusConnection *, DBusDispatchStatus status, void *data) {
            if (status == DBUS_DISPATCH_DATA_REMAINS) static_cast<Connection *>(data)->schedule_dispatch();
        },
        this, nullptr);
    if (!dbus_connection_set_watch_functions(conn_, Glue::add_watch, Glue::remove_watch, Glue::toggle_watch,
                                             glue_.get(), nullptr) ||
        !dbus_connection_set_timeout_functions(conn_, Glue::add_timeout, Glue::remove_timeout,
                                               Glue::toggle_timeout, glue_.get(), nullptr)) {
        return Error{Errc::internal, "cannot attach a D-Bus connection to the event loop"};
    }
    schedule_dispatch(); // messages may be queued already
    return {};
}

Result<std::shared_ptr<Connection>> Connection::connect(EventLoop &loop, const std::string &socket_path,
                                                        std::vector<Method> methods)
{
    char *escaped = dbus_address_escape_value(socket_path.c_str());
    if (escaped == nullptr) return Error{Errc::internal, "out of memory"};
    std::string address = std::string("unix:path=") + escaped;
    dbus_free(escaped);

    DBusError err;
    dbus_error_init(&err);
    DBusConnection *conn = dbus_connection_open_private(address.c_str(), &err);
    if (conn == nullptr) {
        Error e{Errc::unavailable, "cannot connect to " + socket_path + ": " + (err.message ? err.message : "?")};
        dbus_error_free(&err);
        return e;
    }
    std::shared_ptr<Connection> c(new Connection(loop, conn, std::move(methods), socket_path));
    Status st = c->attach();
    if (!st) return std::move(st).error();
    return c;
}

std::shared_ptr<Connection> Connection::adopt(EventLoop &loop, DBusConnection *conn, std::vector<Method> methods,
                                              std::string peer_name)
{
    dbus_connection_ref(conn);
    std::shared_ptr<Connection> c(new Connection(loop, conn, std::move(methods), std::move(peer_name)));
    Status st = c->attach();
    if (!st) {
        VLOG(error, "%s", st.error().message.c_str());
        c->close();
    }
    return c;
}

Connection::~Connection()
{
    close();
    dbus_connection_unref(conn_);
}

void Connection::close()
{
    if (closed_) return;
    closed_ = true;
    // Dropped without callbacks: their owners are going away with us.
    for (auto &[p, call] : pending_) {
        dbus_pending_call_cancel(p);
        dbus_pending_call_unref(p);
    }
    pending_.clear();
    dbus_connection_remove_filter(conn_, filter, this);
    dbus_connection_close(conn_);
    dbus_connection_set_watch_functions(conn_, nullptr, nullptr, nullptr, nullptr, nullptr);
    dbus_connection_set_timeout_functions(conn_, nullptr, nullptr, nullptr, nullptr, nullptr);
    dbus_connection_set_dispatch_status_function(conn_, nullptr, nullptr, nullptr);
    dispatch_timer_.cancel();
}

bool Connection::connected() const { return !closed_ && dbus_connection_get_is_connected(conn_); }

std::optional<uid_t> Connection::peer_uid() const
{
    unsigned long uid;
    if (closed_ || !dbus_connection_get_unix_user(conn_, &uid)) return std::nullopt;
    return static_cast<uid_t>(uid);
}

std::optional<pid_t> Connection::peer_pid() const
{
    unsigned long pid;
    if (closed_ || !dbus_connection_get_unix_process_id(conn_, &pid)) return std::nullopt;
    return static_cast<pid_t>(pid);
}

void Connection::schedule_dispatch()
{
    if (closed_ || dispatch_timer_.pending()) return;
    dispatch_timer_ = loop_.after(std::chrono::milliseconds(0), [this] { dispatch(); });
}

void Connection::dispatch()
{
    // A handler may drop the last owner of this connection: stay alive until done.
    auto self = shared_from_this();
    for (int i = 0; i < dispatch_batch && !closed_; ++i) {
        if (dbus_connection_dispatch(conn_) != DBUS_DISPATCH_DATA_REMAINS) return;
    }
    schedule_dispatch();
}

bool Connection::handle_message(DBusMessage *msg)
{
    if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected")) {
        VLOG(trace, "D-Bus peer %s went away", peer_name_.c_str());
        // libdbus does not complete pending calls on disconnect: we do.
        fail_pending_calls();
        auto handlers = std::move(on_disconnect_);
        on_disconnect_.clear();
        for (auto &handler : handlers) handler();
        return true;
    }
    switch (dbus_message_get_type(msg)) {
    case DBUS_MESSAGE_TYPE_METHOD_CALL:
        handle_call(msg);
        return true;
    case DBUS_MESSAGE_TYPE_SIGNAL: {
        const char *iface = dbus_message_get_interface(msg);
        const char *name = dbus_message_get_member(msg);
        if (iface == nullptr || name == nullptr) return true;
        auto args = read_args(msg);
        if (!args) {
            VLOG(error, "signal %s.%s from %s: %s", iface, name, peer_name_.c_str(), args.error().message.c_str());
            return true;
        }
        auto handlers = signal_handlers_; // a handler may add or remove handlers
        for (const SignalHandler &h : handlers)
            if (h.interface == iface && h.name == name) h.handler(*args);
        return true;
    }
    default:
        return false; // replies go to their pending calls
    }
}

void Connection::handle_call(DBusMessage *msg)
{
    const char *iface = dbus_message_get_interface(msg);
    const char *name = dbus_message_get_member(msg);
    auto answer_error = [&](const char *dbus_name, const std::string &text) {
        DBusMessage *err = dbus_message_new_error(msg, dbus_name, text.c_str());
        if (err != nullptr) {
            dbus_connection_send(conn_, err, nullptr);
            dbus_message_unref(err);
        }
    };
    const Method *method = nullptr;
    for (const Method &m : methods_)
        if (iface != nullptr && name != nullptr && m.interface == iface && m.name == name) method = &m;
    if (method == nullptr) {
        std::string what = std::string(iface ? iface : "(no interface)") + "." + (name ? name : "?");
        return answer_error(DBUS_ERROR_UNKNOWN_METHOD, "no method " + what);
    }
    const char *sig = dbus_message_get_signature(msg);
    if (method->in_signature != sig) {
        return answer_error(DBUS_ERROR_INVALID_ARGS, method->interface + "." + method->name + " takes (" +
                                                         method->in_signature + "), not (" + sig + ")");
    }
    auto args = read_args(msg);
    if (!args) return answer_error(DBUS_ERROR_INVALID_ARGS, args.error().message);
    VLOG(trace, "%s.%s from %s", iface, name, peer_name_.c_str());
    method->handler(Request(weak_from_this(), msg, method->out_signature, std::move(*args)));
}

Status Connection::call(std::string_view interface, std::string_view method, const Args &in,
                        std::chrono::milliseconds timeout, ReplyHandler done)
{
    std::string what = std::string(interface) + "." + std::string(method);
    if (!connected()) return Error{Errc::unavailable, "cannot call " + what + ": " + peer_name_ + " is gone"};
    DBusMessage *msg = dbus_message_new_method_call(nullptr, object_path, std::string(interface).c_str(),
                                                    std::string(method).c_str());
    if (msg == nullptr) return Error{Errc::internal, "out of memory building " + what};
    Status st = append_args(msg, in);
    if (!st) {
        dbus_message_unref(msg);
        return Error{st.error().code, what + ": " + st.error().message};
    }
    DBusPendingCall *pending = nullptr;
    bool sent = dbus_connection_send_with_reply(conn_, msg, &pending, static_cast<int>(timeout.count()));
    dbus_message_unref(msg);
    if (!sent || pending == nullptr) {
        return Error{Errc::unavailable, "cannot call " + what + ": " + peer_name_ + " is gone"};
    }
    if (!dbus_pending_call_set_notify(pending, pending_done, this, nullptr)) {
        dbus_pending_call_cancel(pending);
        dbus_pending_call_unref(pending);
        return Error{Errc::internal, "out of memory"};
    }
    pending_.emplace(pending, PendingCall{std::move(done), std::move(what), static_cast<long>(timeout.count())});
    return {};
}

void Connection::finish_call(DBusPendingCall *pending, Result<Args> result)
{
    auto it = pending_.find(pending);
    if (it == pending_.end()) return;
    PendingCall call = std::move(it->second);
    pending_.erase(it);
    dbus_pending_call_unref(pending);
    try {
        if (call.done) call.done(std::move(result));
    } catch (const std::exception &e) {
        VLOG(critical, "exception in the reply handler of %s: %s", call.what.c_str(), e.what());
    }
}

void Connection::fail_pending_calls()
{
    while (!pending_.empty()) {
        auto it = pending_.begin();
        dbus_pending_call_cancel(it->first);
        std::string what = it->second.what;
        finish_call(it->first, Error{Errc::unavailable, "the peer went away before answering " + what});
    }
}

void Connection::pending_done(DBusPendingCall *pending, void *data)
{
    // `data` is the Connection: close() cancels every pending call, so this
    // never runs after it is gone.
    auto *self = static_cast<Connection *>(data);
    auto it = self->pending_.find(pending);
    if (it == self->pending_.end()) return;
    const PendingCall &call = it->second;
    DBusMessage *reply = dbus_pending_call_steal_reply(pending);
    Result<Args> result = Error{Errc::internal, call.what + ": no reply message"};
    if (reply != nullptr && dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_ERROR) {
        const char *text = nullptr;
        dbus_message_get_args(reply, nullptr, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID);
        result = error_from_dbus(dbus_message_get_error_name(reply), text ? text : "");
        // Say which call and which bound, not libdbus's generic sentence.
        if (std::string_view(dbus_message_get_error_name(reply)) == DBUS_ERROR_NO_REPLY) {
            result = self->connected()
                         ? Error{Errc::timeout, "no reply to " + call.what + " within " +
                                                    std::to_string(call.timeout_ms) + " ms (the peer is busy or hung)"}
                         : Error{Errc::unavailable, "the peer went away before answering " + call.what};
        }
    } else if (reply != nullptr) {
        result = read_args(reply);
    }
    if (reply != nullptr) dbus_message_unref(reply);
    self->finish_call(pending, std::move(result));
}

Status Connection::emit(std::string_view interface, std::string_view signal, const Args &args)
{
    std::string what = std::string(interface) + "." + std::string(signal);
    if (!connected()) return Error{Errc::unavailable, "cannot send " + what + ": " + peer_name_ + " is gone"};
    DBusMessage *msg = dbus_message_new_signal(object_path, std::string(interface).c_str(), std::string(signal).c_str());
    if (msg == nullptr) return Error{Errc::internal, "out of memory building " + what};
    Status st = append_args(msg, args);
    if (st) dbus_connection_send(conn_, msg, nullptr);
    dbus_message_unref(msg);
    if (!st) return Error{st.error().code, what + ": " + st.error().message};
    return {};
}

void Connection::on_signal(std::string_view interface, std::string_view signal,
                           std::function<void(const Args &)> handler)
{
    signal_handlers_.push_back({std::string(interface), std::string(signal), std::move(handler)});
}

} // namespace vigil::sbus
