#include "util/async_child.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <spawn.h>
// glibc 2.36's header lacks its own extern "C".
extern "C" {
#include <sys/pidfd.h>
}
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vigil {
namespace {

void close_fd(int &fd)
{
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// Children killed but not gone yet: SIGKILL waits for a process stuck in
// the kernel (a ccache on a hung NFS home), and the loop must not. Each is
// reaped when its pidfd says it exited; none is ever waited for.
class Reaper {
public:
    void adopt(EventLoop &loop, pid_t pid, int pidfd)
    {
        auto watch = loop.on_readable(pidfd, [this, pid] { reap(pid); });
        if (!watch) {
            // Cannot watch: a zombie until we exit beats a stalled loop.
            ::close(pidfd);
            return;
        }
        pending_[pid] = Pending{pidfd, std::move(*watch)};
    }

private:
    struct Pending {
        int pidfd = -1;
        Watch watch;
    };
    void reap(pid_t pid)
    {
        auto it = pending_.find(pid);
        if (it == pending_.end()) return;
        siginfo_t info{};
        if (waitid(P_PIDFD, static_cast<id_t>(it->second.pidfd), &info, WEXITED | WNOHANG) == 0 && info.si_pid == 0)
            return; // not yet
        it->second.watch.reset();
        ::close(it->second.pidfd);
        pending_.erase(it);
    }

    std::map<pid_t, Pending> pending_;
};

Reaper &reaper()
{
    static Reaper r;
    return r;
}

// The pipe ends the child gets, closed in the parent once it runs.
struct ChildEnds {
    int in = -1, out = -1;
    ~ChildEnds()
    {
        close_fd(in);
        close_fd(out);
    }
};

} // namespace

Result<std::unique_ptr<AsyncChild>> AsyncChild::prepare(EventLoop &loop, const std::vector<std::string> &argv)
{
    if (argv.empty()) return Error{Errc::invalid_argument, "AsyncChild: no program"};
    std::unique_ptr<AsyncChild> child(new AsyncChild(loop));
    ChildEnds ends;
    int in_pair[2], out_pipe[2];
    // A socket for stdin: send() with MSG_NOSIGNAL survives a child that
    // exits before reading everything.
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, in_pair) < 0)
        return sys_error("socketpair", errno);
    child->in_ = in_pair[0];
    ends.in = in_pair[1];
    if (fcntl(ends.in, F_SETFL, 0) < 0) return sys_error("fcntl", errno); // the child's end blocks
    if (pipe2(out_pipe, O_CLOEXEC) < 0) return sys_error("pipe2", errno);
    child->out_ = out_pipe[0];
    ends.out = out_pipe[1];
    if (fcntl(child->out_, F_SETFL, O_NONBLOCK) < 0) return sys_error("fcntl", errno);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&actions, ends.in, 0);
    posix_spawn_file_actions_adddup2(&actions, ends.out, 1);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char *> args;
    for (const std::string &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    char loops[] = "_VIGIL_LOOPS=NO";
    char *env[] = {loops, nullptr};
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), env);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return sys_error("cannot run " + argv[0], rc);
    child->pid_ = pid;
    // Our child, not yet waited for: the PID cannot be recycled before this.
    child->pidfd_ = pidfd_open(pid, 0);
    if (child->pidfd_ < 0) {
        const int err = errno;
        child->kill_now();
        return sys_error("pidfd_open", err);
    }
    return child;
}

bool AsyncChild::idle() const
{
    if (begun_ || reaped_ || pidfd_ < 0) return false;
    // Exited (a zombie until we reap it): not idle. WNOWAIT leaves the
    // reaping to the destructor.
    siginfo_t info{};
    if (waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
    return info.si_pid == 0;
}

Status AsyncChild::begin(Secret input, AsyncChildLimits limits, Done done)
{
    if (begun_ || reaped_ || pidfd_ < 0) return Error{Errc::internal, "AsyncChild: begin() on a child not idle"};
    begun_ = true;
    limits_ = std::move(limits);
    done_ = std::move(done);
    input_ = std::move(input);
    auto exit_watch = loop_.on_readable(pidfd_, [this] { exited(); });
    auto out_watch = loop_.on_readable(out_, [this] { readable(); });
    auto in_watch = loop_.on_writable(in_, [this] { writable(); });
    if (!exit_watch || !out_watch || !in_watch) {
        input_.wipe();
        done_ = nullptr;
        kill_now();
        return Error{Errc::internal, "AsyncChild: cannot watch the child's descriptors"};
    }
    exit_watch_ = std::move(*exit_watch);
    out_watch_ = std::move(*out_watch);
    in_watch_ = std::move(*in_watch);
    deadline_ = loop_.after(limits_.timeout, [this] {
        kill_now();
        finish(Error{Errc::timeout, "did not answer within " + limits_.timeout_option + " (" +
                                        std::to_string(limits_.timeout.count()) + " ms): killed"});
    });
    return {};
}

Result<std::unique_ptr<AsyncChild>> AsyncChild::start(EventLoop &loop, const std::vector<std::string> &argv,
                                                      Secret input, AsyncChildLimits limits, Done done)
{
    auto child = prepare(loop, argv);
    if (!child) return std::move(child).error();
    Status st = (*child)->begin(std::move(input), std::move(limits), std::move(done));
    if (!st) return std::move(st).error();
    return child;
}

AsyncChild::~AsyncChild()
{
    in_watch_.reset();
    out_watch_.reset();
    exit_watch_.reset();
    if (!reaped_ && pid_ > 0) kill_now();
    close_fd(in_);
    close_fd(out_);
    close_fd(pidfd_);
}

void AsyncChild::writable()
{
    const std::string &bytes = input_.reveal();
    while (sent_ < bytes.size()) {
        ssize_t n = send(in_, bytes.data() + sent_, bytes.size() - sent_, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) break; // the child is gone: its exit says the rest
        sent_ += static_cast<std::size_t>(n);
    }
    input_.wipe();
    in_watch_.reset();
    close_fd(in_);
}

void AsyncChild::readable()
{
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(out_, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            out_watch_.reset();
            close_fd(out_);
            maybe_finish();
            return;
        }
        outcome_.out.append(buffer, static_cast<std::size_t>(n));
        if (outcome_.out.size() > limits_.max_output) {
            kill_now();
            finish(Error{Errc::protocol, "wrote more than " + std::to_string(limits_.max_output) + " bytes: killed"});
            return;
        }
    }
}

void AsyncChild::exited()
{
    siginfo_t info{};
    if (waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED | WNOHANG) != 0) {
        // ECHILD: someone else reaped it (SIGCHLD ignored); the output decides.
        if (errno == EINTR) return;
    } else if (info.si_pid == 0) {
        return; // not yet
    } else if (info.si_code == CLD_EXITED) {
        outcome_.exit_code = info.si_status;
    } else {
        outcome_.signal = info.si_status;
    }
    reaped_ = true;
    exit_watch_.reset();
    maybe_finish();
}

void AsyncChild::kill_now()
{
    if (reaped_ || pid_ <= 0) return;
    reaped_ = true;
    exit_watch_.reset();
    if (pidfd_ < 0) {
        // Only before the pidfd exists (start() failing): the child was
        // just spawned and runs our code, not a stuck system call.
        kill(pid_, SIGKILL);
        int status = 0;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        return;
    }
    pidfd_send_signal(pidfd_, SIGKILL, nullptr, 0);
    siginfo_t info{};
    if (waitid(P_PIDFD, static_cast<id_t>(pidfd_), &info, WEXITED | WNOHANG) == 0 && info.si_pid != 0) return;
    // Not gone yet: reaped from the loop when it is.
    reaper().adopt(loop_, pid_, pidfd_);
    pidfd_ = -1;
}

void AsyncChild::maybe_finish()
{
    if (out_ < 0 && reaped_) finish(std::move(outcome_));
}

void AsyncChild::finish(Result<AsyncChildOutcome> result)
{
    in_watch_.reset();
    out_watch_.reset();
    exit_watch_.reset();
    deadline_.cancel();
    input_.wipe();
    Done done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(result)); // may destroy *this: nothing after
}

} // namespace vigil
