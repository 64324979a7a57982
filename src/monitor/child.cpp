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
    // The exec's errno travels back on a close-on-exec pipe: EOF means exec'd.
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        int e = errno;
        close(devnull);
        return sys_error("pipe2", e);
    }
    // Signals stay blocked from fork until the child has reset its handlers:
    // a SIGTERM in between would otherwise run the event loop's handler in
    // the child and be lost.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        // A child of a vigild that is already gone would run unsupervised.
        int err = 0;
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) err = ESRCH;
        else if (dup2(devnull, STDIN_FILENO) < 0) err = errno;
        if (err == 0) {
            // closefrom spares the report pipe (close-on-exec) only if it is
            // below 3, which it is not: keep it by closing around it.
            for (int fd = STDERR_FILENO + 1; fd < report[1]; ++fd) close(fd);
            closefrom(report[1] + 1);
            execve(args[0], args.data(), env.data());
            err = errno;
        }
        (void)!write(report[1], &err, sizeof err);
        _exit(127);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    close(devnull);
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        return sys_error("fork", fork_errno);
    }
    int child_errno = 0;
    ssize_t n;
    while ((n = read(report[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
    }
    close(report[0]);
    if (n == static_cast<ssize_t>(sizeof child_errno)) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return sys_error("cannot run " + argv[0], child_errno);
    }
    return pid;
}

std::string describe_exit(int status)
{
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char *name = sigabbrev_np(WTERMSIG(status));
        return std::string("was killed by ") +
               (name ? std::string("SIG") + name : "signal " + std::to_string(WTERMSIG(status)));
    }
    return "changed state (wait status " + std::to_string(status) + ")";
}

void request_stop(pid_t pid)
{
    // SIGCONT first, so that a stopped process runs to take the SIGTERM. Not
    // after it: by then the process may be exiting, and a SIGCONT discards the
    // SIGSTOP that a ptrace attach at exit (LeakSanitizer does one) waits for.
    kill(pid, SIGCONT);
    kill(pid, SIGTERM);
}

int wait_child(pid_t pid, std::chrono::steady_clock::time_point deadline, bool *was_killed)
{
    *was_killed = false;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return 0; // already reaped
        if (std::chrono::steady_clock::now() >= deadline) break;
        const struct timespec tick = {0, 5'000'000};
        nanosleep(&tick, nullptr);
    }
    *was_killed = true;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

} // namespace vigil
