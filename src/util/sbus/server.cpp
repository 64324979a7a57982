#include "util/sbus/server.hpp"

#include "util/log.hpp"
#include "util/sbus/glue.hpp"

#include <algorithm>
#include <cerrno>
#include <dbus/dbus.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vigil::sbus {
namespace {

// Handed to libdbus for each accepted connection; freed by it.
struct UidPolicy {
    std::vector<uid_t> allowed;
    std::string path;
};

dbus_bool_t allow_uid(DBusConnection *, unsigned long uid, void *data)
{
    const auto *policy = static_cast<const UidPolicy *>(data);
    if (std::find(policy->allowed.begin(), policy->allowed.end(), static_cast<uid_t>(uid)) != policy->allowed.end())
        return TRUE;
    VLOG(error, "refused a D-Bus peer with uid %lu on %s", uid, policy->path.c_str());
    return FALSE;
}

std::string dirname_of(const std::string &path)
{
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

Server::Server(EventLoop &loop, std::string path, std::vector<uid_t> allowed, std::vector<Method> methods, OnConnect cb)
    : loop_(loop), path_(std::move(path)), allowed_(std::move(allowed)), methods_(std::move(methods)),
      on_connect_(std::move(cb)), glue_(std::make_unique<Glue>(loop, [] {}))
{
}

Result<std::unique_ptr<Server>> Server::listen(EventLoop &loop, const std::string &socket_path,
                                               std::vector<uid_t> allowed_uids, std::vector<Method> methods,
                                               OnConnect on_connect)
{
    std::string dir = dirname_of(socket_path);
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) return sys_error("sbus socket directory " + dir, errno);
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        return Error{Errc::permission, "sbus socket directory " + dir + " is open to group or others: it must be 0700"};
    }
    // We hold the pid file: a socket left here is from a process that died.
    if (unlink(socket_path.c_str()) != 0 && errno != ENOENT) return sys_error("remove stale " + socket_path, errno);

    std::unique_ptr<Server> server(
        new Server(loop, socket_path, std::move(allowed_uids), std::move(methods), std::move(on_connect)));
    char *escaped = dbus_address_escape_value(socket_path.c_str());
    if (escaped == nullptr) return Error{Errc::internal, "out of memory"};
    std::string address = std::string("unix:path=") + escaped;
    dbus_free(escaped);

    DBusError err;
    dbus_error_init(&err);
    server->server_ = dbus_server_listen(address.c_str(), &err);
    if (server->server_ == nullptr) {
        Error e{Errc::io, "cannot listen on " + socket_path + ": " + (err.message ? err.message : "?")};
        dbus_error_free(&err);
        return e;
    }
    if (chmod(socket_path.c_str(), 0600) != 0) return sys_error("chmod " + socket_path, errno);
    // EXTERNAL only: the kernel's word on the peer's uid, nothing else.
    const char *mechanisms[] = {"EXTERNAL", nullptr};
    if (!dbus_server_set_auth_mechanisms(server->server_, mechanisms))
        return Error{Errc::internal, "out of memory"};
    dbus_server_set_new_connection_function(server->server_, new_connection, server.get(), nullptr);
    if (!dbus_server_set_watch_functions(server->server_, Glue::add_watch, Glue::remove_watch, Glue::toggle_watch,
                                         server->glue_.get(), nullptr) ||
        !dbus_server_set_timeout_functions(server->server_, Glue::add_timeout, Glue::remove_timeout,
                                           Glue::toggle_timeout, server->glue_.get(), nullptr)) {
        return Error{Errc::internal, "cannot attach the sbus server to the event loop"};
    }
    VLOG(config, "sbus listening on %s", socket_path.c_str());
    return server;
}

Server::~Server()
{
    auto connections = std::move(connections_);
    for (auto &c : connections) c->close();
    connections.clear();
    if (server_ != nullptr) {
        dbus_server_disconnect(server_);
        dbus_server_set_watch_functions(server_, nullptr, nullptr, nullptr, nullptr, nullptr);
        dbus_server_set_timeout_functions(server_, nullptr, nullptr, nullptr, nullptr, nullptr);
        dbus_server_unref(server_);
        unlink(path_.c_str());
    }
}

void Server::new_connection(DBusServer *, DBusConnection *raw, void *data)
{
    auto *self = static_cast<Server *>(data);
    auto *policy = new UidPolicy{self->allowed_, self->path_};
    dbus_connection_set_unix_user_function(raw, allow_uid, policy,
                                           [](void *p) { delete static_cast<UidPolicy *>(p); });
    auto conn = Connection::adopt(self->loop_, raw, self->methods_, "peer on " + self->path_);
    // The server keeps each connection until its peer goes away.
    conn->on_disconnect([self, c = conn.get()] { self->forget(c); });
    self->connections_.push_back(conn);
    if (self->on_connect_) self->on_connect_(conn);
}

void Server::forget(const Connection *conn)
{
    auto it = std::find_if(connections_.begin(), connections_.end(),
                           [conn](const auto &c) { return c.get() == conn; });
    if (it == connections_.end()) return;
    // This runs inside the connection's own dispatch, which holds a reference
    // of its own: the connection closes once that returns.
    connections_.erase(it);
}

void Server::emit_all(std::string_view interface, std::string_view signal, const Args &args)
{
    for (const auto &c : connections_) {
        if (!c->connected()) continue;
        Status st = c->emit(interface, signal, args);
        if (!st) VLOG(minor, "%s", st.error().message.c_str());
    }
}

} // namespace vigil::sbus
