// Going to the background, and telling whoever started us when we are ready.
//
// The parent of daemonize() does not exit until the daemon reports: an admin
// (or systemd with Type=forking) sees "started" only once vigild serves, and
// a start-up failure is printed on their terminal, not buried in a log.
#pragma once

#include "util/result.hpp"

#include <string>

namespace vigil {

// The daemon's half of the readiness channel. Report once; later reports are
// ignored. Destroying it without a report tells the parent the start failed.
class Readiness {
public:
    Readiness(Readiness &&other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Readiness &operator=(Readiness &&other) noexcept;
    Readiness(const Readiness &) = delete;
    Readiness &operator=(const Readiness &) = delete;
    ~Readiness();

    // The parent exits 0.
    void ready();
    // The parent prints "NAME: cannot start: WHY" on its stderr and exits 1.
    void failed(const std::string &why);

private:
    friend Result<Readiness> daemonize();
    explicit Readiness(int fd) : fd_(fd) {}
    void send_and_close(const std::string &message) noexcept;

    int fd_ = -1;
};

// Forks. The parent waits up to 30 s for the child's report and _exit()s
// (0 ready; 1 failed, died or silent) without running destructors; only the
// child returns. The child is a session leader without a controlling tty
// (every open uses O_NOCTTY, so no second fork is needed), in "/", with
// stdin, stdout and stderr on /dev/null and a umask of at least 022.
// Open files (a PidFile and its lock among them) are inherited.
Result<Readiness> daemonize();

// Sends STATE ("READY=1", "STOPPING=1", "STATUS=...") to systemd's
// $NOTIFY_SOCKET if it is set; does nothing otherwise. Failures are logged,
// never fatal: the daemon works the same without systemd.
void notify_systemd(const char *state);

} // namespace vigil
