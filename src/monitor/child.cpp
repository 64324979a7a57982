#include "monitor/child.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

namespace vigil {

Result<pid_t> spawn_child(const std::vector<std::string> &argv)
{
    // Everything the child needs is prepared before fork(): between fork and
    // exec only async-signal-safe calls are allowed.
    std::vector<char *> args;
    for (const std::string &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char *> env;
    for (char **e = environ; *e != nullptr; ++e)
        if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0) env.push_back(*e);
    env.push_back(nullptr);

    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) return sys_error("open /dev/null", errno);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(devnull);
        return sys_error("fork", e);
    }
    if (pid == 0) {
        // A child of a vigild that is already gone would run unsupervised.
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        // Handlers reset at exec; ignored signals (SIGPIPE) would not.
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);
        if (dup2(devnull, STDIN_FILENO) < 0) _exit(127);
        closefrom(STDERR_FILENO + 1);
        execve(args[0], args.data(), env.data());
        _exit(127);
    }
    close(devnull);
    return pid;
}

std::string describe_exit(int status)
{
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char *name = sigabbrev_np(WTERMSIG(status));
        return std::string("was killed by ") + (name ? std::string("SIG") + name : "signal " + std::to_string(WTERMSIG(status)));
    }
    return "changed state (wait status " + std::to_string(status) + ")";
}

int stop_child(pid_t pid, std::chrono::milliseconds bound, bool *was_killed)
{
    if (was_killed) *was_killed = false;
    kill(pid, SIGTERM);
    kill(pid, SIGCONT);
    const auto deadline = std::chrono::steady_clock::now() + bound;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return 0; // already reaped
        if (std::chrono::steady_clock::now() >= deadline) break;
        const struct timespec tick = {0, 5'000'000};
        nanosleep(&tick, nullptr);
    }
    if (was_killed) *was_killed = true;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

} // namespace vigil
