#include "responder/common/client_server.hpp"

#include "util/log.hpp"

#include <cerrno>
#include <cstring>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

namespace vigil::responder {

class ClientConnection : public std::enable_shared_from_this<ClientConnection> {
public:
    ClientConnection(ClientServer &server, int fd, const ucred &cred) : server_(server), fd_(fd), cred_(cred) {}
    ~ClientConnection()
    {
        if (server_.options_.wipe_requests && !in_.empty()) explicit_bzero(in_.data(), in_.size());
        read_.reset();
        write_.reset();
        ::close(fd_);
    }
    uid_t uid() const { return cred_.uid; }

    void start()
    {
        last_active_ = EventLoop::Clock::now();
        arm_reading();
        arm_idle(server_.options_.idle_timeout);
    }

    void send(std::uint32_t command, vigil_status status, std::span<const std::uint8_t> body);

private:
    void arm_reading();
    void touch() noexcept { last_active_ = EventLoop::Clock::now(); }
    void arm_idle(EventLoop::Clock::duration after);
    void idle_check();
    void on_readable();
    void on_writable();
    void process_buffered();
    bool handle_message(const std::uint8_t *msg, std::uint32_t length);
    void flush();
    void close_now(const char *why);

    ClientServer &server_;
    int fd_;
    ucred cred_;
    std::vector<std::uint8_t> in_; // what the client sent: [in_pos_, in_end_) is still to handle
    std::size_t in_pos_ = 0;
    std::size_t in_end_ = 0;
    std::vector<std::uint8_t> out_;
    std::size_t out_pos_ = 0;
    std::uint32_t version_ = 0; // agreed in HELLO; 0 before
    bool busy_ = false;         // a request is with its handler
    bool close_after_send_ = false;
    bool closed_ = false;
    bool dispatching_ = false;  // in process_buffered: it takes the next request itself
    EventLoop::Clock::time_point last_active_; // the last request, or progress of an answer
    Watch read_;
    Watch write_;
    Timer idle_;
    Timer resume_;
};

Reply::~Reply()
{
    if (!used_) status(VIGIL_STATUS_UNAVAIL);
}

void Reply::ok(std::span<const std::uint8_t> body)
{
    if (used_) return;
    used_ = true;
    if (auto c = conn_.lock()) c->send(command_, VIGIL_STATUS_OK, body);
}

void Reply::status(vigil_status s)
{
    if (used_) return;
    used_ = true;
    if (auto c = conn_.lock()) c->send(command_, s, {});
}

void ClientConnection::arm_reading()
{
    if (read_.active() || closed_) return;
    std::weak_ptr<ClientConnection> weak = weak_from_this();
    auto w = server_.loop_.on_readable(fd_, [weak] {
        if (auto c = weak.lock()) c->on_readable();
    });
    if (w) read_ = std::move(*w);
    else close_now("cannot watch the socket");
}

// One timer per connection, not one per request: a request only notes the
// time, and the timer, when it fires, waits again for what is left.
void ClientConnection::arm_idle(EventLoop::Clock::duration after)
{
    std::weak_ptr<ClientConnection> weak = weak_from_this();
    idle_ = server_.loop_.at(EventLoop::Clock::now() + after, [weak] {
        if (auto c = weak.lock()) c->idle_check();
    });
}

void ClientConnection::idle_check()
{
    const auto timeout = std::chrono::duration_cast<EventLoop::Clock::duration>(server_.options_.idle_timeout);
    const auto quiet = EventLoop::Clock::now() - last_active_;
    if (quiet < timeout) {
        arm_idle(timeout - quiet);
        return;
    }
    if (!busy_) close_now("idle");
    // A client that does not read its answer must not hold a slot forever.
    else if (out_pos_ < out_.size()) close_now("the client does not read its answer");
    else arm_idle(timeout); // its answer is with the provider, which has its own timeout
}

void ClientConnection::on_readable()
{
    auto keep = shared_from_this();
    // Straight into the buffer, which keeps its size from one request to
    // the next: a connection that asks again and again allocates nothing.
    if (in_pos_ > 0) {
        std::memmove(in_.data(), in_.data() + in_pos_, in_end_ - in_pos_);
        // What the move left behind is a copy (requests ahead may hold secrets).
        if (server_.options_.wipe_requests) explicit_bzero(in_.data() + (in_end_ - in_pos_), in_pos_);
        in_end_ -= in_pos_;
        in_pos_ = 0;
    }
    constexpr std::size_t chunk = 16384;
    if (in_.size() - in_end_ < chunk) {
        if (server_.options_.wipe_requests && !in_.empty()) {
            // Grown by hand: a reallocation would free the old buffer, with
            // what it holds of a request, unwiped.
            std::vector<std::uint8_t> bigger(in_end_ + chunk);
            std::memcpy(bigger.data(), in_.data(), in_end_);
            explicit_bzero(in_.data(), in_.size());
            in_.swap(bigger);
        } else {
            in_.resize(in_end_ + chunk);
        }
    }
    ssize_t n = ::recv(fd_, in_.data() + in_end_, chunk, 0);
    if (n == 0) {
        close_now(nullptr); // the client closed: the normal end
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        close_now(std::strerror(errno));
        return;
    }
    in_end_ += static_cast<std::size_t>(n);
    process_buffered();
}

void ClientConnection::process_buffered()
{
    struct Dispatching {
        bool &flag;
        explicit Dispatching(bool &f) : flag(f) { flag = true; }
        ~Dispatching() { flag = false; }
    } dispatching(dispatching_);
    while (!busy_ && !closed_ && in_end_ - in_pos_ >= VIGIL_HEADER_LEN) {
        const std::uint8_t *at = in_.data() + in_pos_;
        const std::uint32_t length = vigil_get_u32(at + VIGIL_HDR_LEN_OFF);
        if (length < VIGIL_HEADER_LEN || length > VIGIL_MAX_REQUEST_LEN) {
            close_now("a request with an impossible length");
            return;
        }
        if (in_end_ - in_pos_ < length) break;
        touch();
        // The handler reads the request where it lies: in_ is not touched
        // until it returns (a handler that answers later keeps what it needs).
        const bool go_on = handle_message(at, length);
        // A handler that answers later copied what it needs (a password
        // into a Secret): the bytes in the buffer go now.
        if (server_.options_.wipe_requests) explicit_bzero(in_.data() + in_pos_, length);
        in_pos_ += length;
        if (!go_on) return;
    }
    if (closed_) return;
    // One request at a time: stop reading while one is being answered, so
    // a client cannot queue unbounded work; and cap what a client may send ahead.
    if (busy_ || in_end_ - in_pos_ > VIGIL_MAX_REQUEST_LEN) read_.reset();
    else arm_reading();
}

bool ClientConnection::handle_message(const std::uint8_t *msg, std::uint32_t length)
{
    const std::uint32_t command = vigil_get_u32(msg + VIGIL_HDR_CMD_OFF);
    const std::uint32_t status = vigil_get_u32(msg + VIGIL_HDR_STATUS_OFF);
    const std::uint32_t version = vigil_get_u32(msg + VIGIL_HDR_VERSION_OFF);
    std::span<const std::uint8_t> body(msg + VIGIL_HEADER_LEN, length - VIGIL_HEADER_LEN);
    if (status != 0) {
        close_now("a request with a status");
        return false;
    }
    if (command == VIGIL_CMD_HELLO) {
        WireReader r(body);
        auto min = r.u32(), max = r.u32();
        if (version_ != 0 || version != 0 || !min || !max || !r.done() || *min > *max) {
            close_now("a bad HELLO");
            return false;
        }
        busy_ = true;
        if (*max < VIGIL_PROTOCOL_VERSION_MIN || *min > VIGIL_PROTOCOL_VERSION_MAX) {
            WireWriter w;
            w.u32(VIGIL_PROTOCOL_VERSION_MIN);
            w.u32(VIGIL_PROTOCOL_VERSION_MAX);
            close_after_send_ = true;
            send(command, VIGIL_STATUS_BAD_VERSION, w.take());
            return false;
        }
        WireWriter w;
        w.u32(std::min(*max, VIGIL_PROTOCOL_VERSION_MAX));
        send(command, VIGIL_STATUS_OK, w.take());
        version_ = std::min(*max, VIGIL_PROTOCOL_VERSION_MAX);
        return true;
    }
    if (version_ == 0) {
        close_now("a request before HELLO");
        return false;
    }
    if (version != version_) {
        busy_ = true;
        close_after_send_ = true;
        send(command, VIGIL_STATUS_BAD_VERSION, {});
        return false;
    }
    auto handler = server_.handlers_.find(command);
    if (handler == server_.handlers_.end()) {
        busy_ = true;
        close_after_send_ = true;
        send(command, VIGIL_STATUS_BAD_REQUEST, {});
        return false;
    }
    busy_ = true;
    handler->second(ClientRequest{command, body, cred_.uid, cred_.pid}, Reply(weak_from_this(), command));
    return !closed_;
}

void ClientConnection::send(std::uint32_t command, vigil_status status, std::span<const std::uint8_t> body)
{
    if (closed_) return;
    std::uint8_t header[VIGIL_HEADER_LEN];
    vigil_put_u32(header + VIGIL_HDR_LEN_OFF, static_cast<std::uint32_t>(VIGIL_HEADER_LEN + body.size()));
    vigil_put_u32(header + VIGIL_HDR_CMD_OFF, command);
    vigil_put_u32(header + VIGIL_HDR_STATUS_OFF, status);
    vigil_put_u32(header + VIGIL_HDR_VERSION_OFF, command == VIGIL_CMD_HELLO ? 0 : version_);
    std::size_t sent = 0;
    if (out_.empty()) {
        // Straight from where the answer lies (a hot answer is not copied
        // first); only what the socket does not take now is queued.
        iovec iov[2] = {{header, VIGIL_HEADER_LEN},
                        {const_cast<std::uint8_t *>(body.data()), body.size()}};
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = body.empty() ? 1 : 2;
        ssize_t n;
        do n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) {
            close_now(nullptr); // the client went away before its answer
            return;
        }
        sent = n < 0 ? 0 : static_cast<std::size_t>(n);
    }
    if (sent < VIGIL_HEADER_LEN) out_.insert(out_.end(), header + sent, header + VIGIL_HEADER_LEN);
    const std::size_t body_sent = sent > VIGIL_HEADER_LEN ? sent - VIGIL_HEADER_LEN : 0;
    out_.insert(out_.end(), body.begin() + static_cast<std::ptrdiff_t>(body_sent), body.end());
    flush();
}

void ClientConnection::flush()
{
    auto keep = shared_from_this();
    while (out_pos_ < out_.size()) {
        ssize_t n = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (!write_.active()) {
                    std::weak_ptr<ClientConnection> weak = weak_from_this();
                    auto w = server_.loop_.on_writable(fd_, [weak] {
                        if (auto c = weak.lock()) c->on_writable();
                    });
                    if (w) write_ = std::move(*w);
                    else close_now("cannot watch the socket");
                }
                return;
            }
            close_now(nullptr); // the client went away before its answer
            return;
        }
        out_pos_ += static_cast<std::size_t>(n);
    }
    out_.clear();
    out_pos_ = 0;
    write_.reset();
    busy_ = false;
    if (close_after_send_) {
        close_now(nullptr);
        return;
    }
    // An answer given while process_buffered dispatched: it goes on itself.
    if (dispatching_) return;
    // An answer given later: what the client sent ahead is taken on the next
    // turn of the loop (not inside whoever answered), else read again.
    if (in_end_ - in_pos_ >= VIGIL_HEADER_LEN) {
        std::weak_ptr<ClientConnection> weak = weak_from_this();
        resume_ = server_.loop_.after(std::chrono::milliseconds(-1), [weak] {
            if (auto c = weak.lock()) c->process_buffered();
        });
    } else {
        arm_reading();
    }
}

void ClientConnection::on_writable()
{
    touch(); // progress: the stall timer starts again
    flush();
}

void ClientConnection::close_now(const char *why)
{
    if (closed_) return;
    closed_ = true;
    if (why) VLOG(minor, "closing the connection of pid %ld (uid %ld): %s", static_cast<long>(cred_.pid),
                  static_cast<long>(cred_.uid), why);
    read_.reset();
    write_.reset();
    idle_.cancel();
    server_.forget(this); // may destroy us: callers hold a reference
}

Result<std::unique_ptr<ClientServer>> ClientServer::listen(EventLoop &loop, const std::string &path, Options options,
                                                           std::map<std::uint32_t, CommandHandler> handlers)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return Error{Errc::invalid_argument, "socket path too long: " + path};
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    // Every client is an fd: take the hard limit, and keep headroom below it
    // for the cache files and the provider connections.
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        (void)::setrlimit(RLIMIT_NOFILE, &lim);
    }
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur > 128)
        options.max_connections = std::min<std::size_t>(options.max_connections, lim.rlim_cur - 64);
    std::unique_ptr<ClientServer> s(new ClientServer(loop, path, options, std::move(handlers)));
    s->fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd_ < 0) return sys_error("socket", errno);
    // A socket left by a responder that died; vigild runs one of us at a time.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("remove stale " + path, errno);
    if (::bind(s->fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) return sys_error("bind " + path, errno);
    if (::chmod(path.c_str(), options.mode) != 0) return sys_error("chmod " + path, errno);
    if (::listen(s->fd_, 128) != 0) return sys_error("listen " + path, errno);
    Status watched = s->watch_accept();
    if (!watched) return std::move(watched).error();
    VLOG(config, "serving clients on %s", path.c_str());
    return s;
}

Status ClientServer::watch_accept()
{
    auto w = loop_.on_readable(fd_, [this] { accept_all(); });
    if (!w) {
        VLOG(critical, "cannot watch %s: %s", path_.c_str(), w.error().message.c_str());
        return std::move(w).error();
    }
    accept_watch_ = std::move(*w);
    return {};
}

ClientServer::~ClientServer()
{
    accept_watch_.reset();
    conns_.clear();
    if (fd_ >= 0) {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
}

void ClientServer::accept_all()
{
    for (int i = 0; i < 64; ++i) {
        int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // The listening socket stays readable: pause, or we would spin.
                VLOG(error, "accept on %s: %s; pausing new connections for 100 ms", path_.c_str(),
                     std::strerror(errno));
                accept_watch_.reset();
                resume_accept_ = loop_.after(std::chrono::milliseconds(100), [this] { (void)watch_accept(); }); // logs its failure
            } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                VLOG(error, "accept on %s: %s", path_.c_str(), std::strerror(errno));
            }
            return;
        }
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            ::close(fd);
            continue;
        }
        // One user cannot take every slot: each uid but root gets a share.
        std::size_t of_uid = 0;
        for (const auto &[raw, c] : conns_)
            if (c->uid() == cred.uid) ++of_uid;
        if (conns_.size() >= options_.max_connections || (cred.uid != 0 && of_uid >= options_.max_per_uid)) {
            VLOG(error, "%s: refusing a connection of uid %ld (%zu of its own, %zu in all)", path_.c_str(),
                 static_cast<long>(cred.uid), of_uid, conns_.size());
            ::close(fd);
            continue;
        }
        auto conn = std::make_shared<ClientConnection>(*this, fd, cred);
        conns_.emplace(conn.get(), conn);
        conn->start();
    }
}

void ClientServer::forget(ClientConnection *conn) { conns_.erase(conn); }

} // namespace vigil::responder
