// An sbus server: a UNIX socket (mode 0600, in a directory only its owner
// can enter) that accepts only the peer uids it is given.
#pragma once

#include "util/sbus/connection.hpp"

#include <memory>
#include <vector>

struct DBusServer;

namespace vigil::sbus {

class Server {
public:
    using OnConnect = std::function<void(const std::shared_ptr<Connection> &)>;

    // Listens on `socket_path`. Its directory must not be accessible to group
    // or others. Peers whose uid is not in `allowed_uids` are refused during
    // authentication (EXTERNAL, i.e. SO_PEERCRED) and never reach a handler.
    static Result<std::unique_ptr<Server>> listen(EventLoop &loop, const std::string &socket_path,
                                                  std::vector<uid_t> allowed_uids, std::vector<Method> methods,
                                                  OnConnect on_connect);
    ~Server(); // closes every connection and removes the socket
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    const std::string &path() const { return path_; }
    std::size_t connection_count() const { return connections_.size(); }
    // Sends a signal to every connected peer; one that is gone is skipped.
    void emit_all(std::string_view interface, std::string_view signal, const Args &args);

private:
    Server(EventLoop &loop, std::string path, std::vector<uid_t> allowed, std::vector<Method> methods, OnConnect cb);
    static void new_connection(DBusServer *server, DBusConnection *conn, void *data);
    void forget(const Connection *conn);

    EventLoop &loop_;
    std::string path_;
    std::vector<uid_t> allowed_;
    std::vector<Method> methods_;
    OnConnect on_connect_;
    DBusServer *server_ = nullptr;
    std::unique_ptr<class Glue> glue_;
    std::vector<std::shared_ptr<Connection>> connections_;
};

} // namespace vigil::sbus
