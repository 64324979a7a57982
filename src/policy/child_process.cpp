#include "policy/child_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vigil::policy {

namespace {

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const { return fd_; }
    void reset()
    {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
};

// What a child's status says when waitpid cannot tell (it was reaped
// elsewhere, e.g. SIGCHLD ignored): exit 255, a failure, never a success.
constexpr int unknown_status = 255 << 8;

int wait_for(pid_t pid)
{
    int status = 0;
    for (;;) {
        if (waitpid(pid, &status, 0) == pid) return status;
        if (errno != EINTR) return unknown_status;
    }
}

// waitpid until `deadline`; false if the child is still running then.
bool wait_until(pid_t pid, std::chrono::steady_clock::time_point deadline, int &status)
{
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) return true;
        if (done < 0 && errno != EINTR) {
            status = unknown_status;
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) return false;
        usleep(1000);
    }
}

} // namespace

std::string ChildOutcome::describe() const
{
    std::string text = signal ? "killed by signal " + std::to_string(signal) : "exit status " + std::to_string(exit_code);
    std::string detail = err.empty() ? out : err;
    if (detail.size() > 2000) detail = detail.substr(0, 2000) + "...";
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
    if (!detail.empty()) text += ": " + detail;
    return text;
}

std::vector<std::string> split_command(std::string_view command)
{
    std::vector<std::string> words;
    std::size_t start = 0;
    while (start < command.size()) {
        std::size_t end = command.find(' ', start);
        if (end == std::string_view::npos) end = command.size();
        if (end > start) words.emplace_back(command.substr(start, end - start));
        start = end + 1;
    }
    return words;
}

Result<ChildOutcome> run_child(const std::vector<std::string> &argv, std::string_view input, const ChildLimits &limits)
{
    if (argv.empty()) return Error{Errc::invalid_argument, "run_child: no program"};
    const std::string &program = argv[0];
    // A socket for stdin: send() with MSG_NOSIGNAL survives a child that
    // exits before reading everything (a pipe would raise SIGPIPE).
    int in_pair[2], out_pipe[2], err_pipe[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) < 0) return sys_error("socketpair", errno);
    Fd in_parent(in_pair[0]), in_child(in_pair[1]);
    if (pipe2(out_pipe, O_CLOEXEC) < 0) return sys_error("pipe2", errno);
    Fd out_parent(out_pipe[0]), out_child(out_pipe[1]);
    if (pipe2(err_pipe, O_CLOEXEC) < 0) return sys_error("pipe2", errno);
    Fd err_parent(err_pipe[0]), err_child(err_pipe[1]);

    std::vector<char *> args;
    for (const auto &arg : argv) args.push_back(const_cast<char *>(arg.c_str()));
    args.push_back(nullptr);
    char loops[] = "_VIGIL_LOOPS=NO";
    char *env[] = {loops, nullptr};

    pid_t pid = fork();
    if (pid < 0) return sys_error("fork for " + program, errno);
    if (pid == 0) {
        // Only async-signal-safe calls until exec.
        if (dup2(in_child.get(), 0) < 0 || dup2(out_child.get(), 1) < 0 || dup2(err_child.get(), 2) < 0) _exit(126);
        execve(program.c_str(), args.data(), env);
        const char msg[] = "cannot execute the program\n";
        (void)!::write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    in_child.reset();
    out_child.reset();
    err_child.reset();
    fcntl(in_parent.get(), F_SETFL, O_NONBLOCK);
    if (input.empty()) in_parent.reset();

    ChildOutcome outcome;
    const auto deadline = std::chrono::steady_clock::now() + limits.timeout;
    bool out_open = true, err_open = true;
    std::size_t sent = 0;
    std::string failure;
    Errc failure_code = Errc::timeout;
    while (out_open || err_open) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            failure = "did not finish within " + std::to_string(limits.timeout.count()) + " ms";
            break;
        }
        struct pollfd fds[3] = {{out_open ? out_parent.get() : -1, POLLIN, 0},
                                {err_open ? err_parent.get() : -1, POLLIN, 0},
                                {in_parent.get(), POLLOUT, 0}};
        int ready = poll(fds, 3, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) {
            failure = "poll: " + std::string(strerror(errno));
            failure_code = Errc::io;
            break;
        }
        if (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
            ssize_t n = send(in_parent.get(), input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
            if (n > 0) sent += static_cast<std::size_t>(n);
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == input.size()) in_parent.reset();
        }
        struct Stream {
            int index;
            int fd;
            std::string *text;
            bool *open;
        } streams[] = {{0, out_parent.get(), &outcome.out, &out_open}, {1, err_parent.get(), &outcome.err, &err_open}};
        for (auto &stream : streams) {
            if (!(fds[stream.index].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buffer[65536];
            ssize_t n = ::read(stream.fd, buffer, sizeof buffer);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (n <= 0) {
                *stream.open = false;
                continue;
            }
            stream.text->append(buffer, static_cast<std::size_t>(n));
            if (stream.text->size() > limits.max_output) {
                failure = "wrote more than " + std::to_string(limits.max_output) + " bytes";
                failure_code = Errc::protocol;
            }
        }
        if (!failure.empty()) break;
    }
    int status = 0;
    if (failure.empty() && !wait_until(pid, deadline, status)) {
        failure = "did not exit within " + std::to_string(limits.timeout.count()) + " ms";
    }
    if (!failure.empty()) {
        kill(pid, SIGKILL);
        wait_for(pid);
        return Error{failure_code, program + " " + failure + "; killed"};
    }
    if (WIFEXITED(status)) {
        outcome.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        outcome.signal = WTERMSIG(status);
    }
    return outcome;
}

} // namespace vigil::policy
