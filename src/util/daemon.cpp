#include "util/daemon.hpp"

#include "util/log.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vigil {

namespace {

constexpr std::chrono::seconds readiness_timeout{30};
constexpr char ready_byte = 'R';
constexpr char failed_byte = 'F';
// Far below the socket buffer, so the daemon's one send never blocks on a
// parent that does not read.
constexpr std::size_t max_message = 4000;

const char *program_name() { return program_invocation_short_name; }

// How the child ended, if it has; waits briefly since its socket closes a
// moment before the kernel reports the exit.
std::string child_exit_text(pid_t child)
{
    for (int tries = 0; tries < 100; ++tries) {
        int status = 0;
        pid_t done = waitpid(child, &status, WNOHANG);
        if (done == child) {
            if (WIFEXITED(status))
                return "the daemon (pid " + std::to_string(child) + ") exited with status " +
                       std::to_string(WEXITSTATUS(status)) + " before it was ready";
            const char *name = sigabbrev_np(WTERMSIG(status));
            return "the daemon (pid " + std::to_string(child) + ") was killed by SIG" +
                   (name ? name : std::to_string(WTERMSIG(status))) + " before it was ready";
        }
        if (done < 0 && errno != EINTR) break;
        usleep(10000);
    }
    return "the daemon (pid " + std::to_string(child) + ") stopped talking before it was ready";
}

[[noreturn]] void parent_exit(const std::string &why)
{
    std::fprintf(stderr, "%s: cannot start: %s\n", program_name(), why.c_str());
    std::fflush(stderr);
    _exit(EXIT_FAILURE);
}

// The parent's whole remaining life: relay the daemon's verdict as an exit code.
[[noreturn]] void wait_for_readiness(int fd, pid_t child)
{
    const auto deadline = std::chrono::steady_clock::now() + readiness_timeout;
    std::string received;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            parent_exit("the daemon (pid " + std::to_string(child) + ") did not report readiness within " +
                        std::to_string(readiness_timeout.count()) + " s; it may still be running, see its log");
        struct pollfd pfd {fd, POLLIN, 0};
        int n = poll(&pfd, 1, static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) parent_exit(std::string("poll on the readiness channel: ") + std::strerror(errno));
        if (n <= 0) continue;

        char buf[512];
        ssize_t got = ::read(fd, buf, sizeof buf);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            parent_exit(std::string("read from the readiness channel: ") + std::strerror(errno));
        }
        if (got > 0) {
            received.append(buf, static_cast<std::size_t>(got));
            if (received.front() == ready_byte) _exit(EXIT_SUCCESS);
            if (received.size() <= max_message + 1) continue; // a failure message: read it to the end
        }
        // End of the channel (or an oversized message): the verdict is in.
        if (received.empty()) parent_exit(child_exit_text(child));
        if (received.front() == failed_byte) parent_exit(received.substr(1, max_message));
        parent_exit("the daemon (pid " + std::to_string(child) + ") sent a malformed readiness report");
    }
}

Status detach_child()
{
    if (setsid() < 0) return sys_error("setsid", errno);
    if (chdir("/") != 0) return sys_error("chdir /", errno);
    // Never looser than 022, and never looser than what the caller already
    // set (the services run with 077): the daemon must not inherit a shell's 000.
    mode_t previous = umask(022);
    umask(previous | 022);
    int null_fd = ::open("/dev/null", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (null_fd < 0) return sys_error("open /dev/null", errno);
    for (int target : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
        // dup2 clears FD_CLOEXEC on the target: children we exec keep /dev/null.
        if (null_fd != target && dup2(null_fd, target) < 0) {
            int err = errno;
            ::close(null_fd);
            return sys_error("redirect standard streams to /dev/null", err);
        }
    }
    if (null_fd > STDERR_FILENO) ::close(null_fd);
    return {};
}

} // namespace

Readiness &Readiness::operator=(Readiness &&other) noexcept
{
    if (this != &other) {
        if (fd_ >= 0) send_and_close(std::string(1, failed_byte) + "the daemon dropped its readiness report");
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

Readiness::~Readiness()
{
    if (fd_ >= 0) send_and_close(std::string(1, failed_byte) + "the daemon stopped before it was ready");
}

void Readiness::ready()
{
    if (fd_ >= 0) send_and_close(std::string(1, ready_byte));
}

void Readiness::failed(const std::string &why)
{
    if (fd_ >= 0) send_and_close(failed_byte + why.substr(0, max_message));
}

void Readiness::send_and_close(const std::string &message) noexcept
{
    // A socket, not a pipe: MSG_NOSIGNAL, so a parent that gave up waiting
    // (and exited) cannot kill the daemon with SIGPIPE.
    std::size_t sent = 0;
    while (sent < message.size()) {
        ssize_t n = send(fd_, message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            VLOG(minor, "cannot report readiness to the parent: %s", std::strerror(errno));
            break;
        }
        sent += static_cast<std::size_t>(n);
    }
    ::close(fd_);
    fd_ = -1;
}

Result<Readiness> daemonize()
{
    int channel[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0)
        return sys_error("daemonize: socketpair", errno);
    // Buffered output would otherwise be written twice, by parent and child.
    std::fflush(nullptr);
    pid_t child = fork();
    if (child < 0) {
        int err = errno;
        ::close(channel[0]);
        ::close(channel[1]);
        return sys_error("daemonize: fork", err);
    }
    if (child > 0) {
        ::close(channel[1]);
        wait_for_readiness(channel[0], child);
    }
    ::close(channel[0]);
    Readiness readiness(channel[1]);
    Status detached = detach_child();
    if (!detached) {
        // The parent still holds the admin's terminal: it prints this.
        readiness.failed("daemonize: " + detached.error().message);
        return std::move(detached).error();
    }
    return readiness;
}

void notify_systemd(const char *state)
{
    const char *socket_name = std::getenv("NOTIFY_SOCKET");
    if (socket_name == nullptr || socket_name[0] == '\0' || state == nullptr) return;
    int saved_errno = errno;

    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::size_t name_len = std::strlen(socket_name);
    if ((socket_name[0] != '/' && socket_name[0] != '@') || name_len >= sizeof addr.sun_path) {
        VLOG(minor, "NOTIFY_SOCKET '%s' is not an absolute path or an abstract '@' name; not notifying systemd",
             socket_name);
        return;
    }
    std::memcpy(addr.sun_path, socket_name, name_len);
    socklen_t addr_len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + name_len);
    if (socket_name[0] == '@') addr.sun_path[0] = '\0'; // abstract: no terminating NUL counted
    else addr_len += 1;

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        VLOG(minor, "cannot notify systemd (%s): socket: %s", state, std::strerror(errno));
        errno = saved_errno;
        return;
    }
    ssize_t n = sendto(fd, state, std::strlen(state), MSG_NOSIGNAL,
                       reinterpret_cast<const struct sockaddr *>(&addr), addr_len);
    if (n < 0) VLOG(minor, "cannot notify systemd (%s) at %s: %s", state, socket_name, std::strerror(errno));
    ::close(fd);
    errno = saved_errno;
}

} // namespace vigil
