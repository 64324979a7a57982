// One instance per pid file, going to the background, and telling systemd.
// Tests that fork keep the test process itself out of harm's way: children
// leave with _exit() (no cmocka, no destructors) and every wait is bounded.
#include "common.hpp"
#include "util/daemon.hpp"
#include "util/pidfile.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <functional>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

using vigil::PidFile;

namespace {

constexpr int wait_ms = 10000;

bool exists(const std::string &path)
{
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

// Reads until end of file, for at most `timeout_ms` in all.
std::string read_all(int fd, int timeout_ms = wait_ms)
{
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        struct pollfd pfd {fd, POLLIN, 0};
        if (left.count() <= 0 || poll(&pfd, 1, static_cast<int>(left.count())) == 0) {
            fail_msg("no end of file within %d ms", timeout_ms);
        }
        char buf[256];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
    }
}

// waitpid, bounded: a child that hangs is killed and the test fails.
int exit_status_of(pid_t pid)
{
    for (int waited = 0; waited < wait_ms; waited += 10) {
        int status = 0;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            fail_msg("child %ld was killed by signal %d", static_cast<long>(pid), WTERMSIG(status));
        }
        assert_true(done == 0 || errno == EINTR);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    fail_msg("child %ld did not exit within %d ms", static_cast<long>(pid), wait_ms);
    return -1;
}

void second_acquire_in_same_process_is_refused_with_pid_in_message(void **)
{
    test::TempDir dir;
    const std::string path = dir / "vigild.pid";
    auto first = PidFile::acquire(path);
    assert_true(first.ok());
    auto second = PidFile::acquire(path);
    assert_false(second.ok());
    assert_int_equal(static_cast<int>(second.error().code), static_cast<int>(vigil::Errc::exists));
    std::string expected = "another instance is running (pid " + std::to_string(getpid()) + ", pid file " + path + ")";
    assert_string_equal(second.error().message.c_str(), expected.c_str());
    assert_true(exists(path)); // the refused attempt did not remove the holder's file
}

void stale_pid_file_without_lock_is_taken_over(void **)
{
    test::TempDir dir;
    const std::string path = dir / "vigild.pid";
    test::write_file(path, "999999\n", 0644);
    auto taken = PidFile::acquire(path);
    assert_true(taken.ok());
    assert_int_equal(PidFile::read_pid(path), getpid());
}

void pid_file_is_removed_on_destruction(void **)
{
    test::TempDir dir;
    const std::string path = dir / "vigild.pid";
    {
        auto file = PidFile::acquire(path);
        assert_true(file.ok());
        assert_true(exists(path));
    }
    assert_false(exists(path));
    assert_true(PidFile::acquire(path).ok()); // and the next instance can start
}

void child_process_sees_lock_held(void **)
{
    test::TempDir dir;
    const std::string path = dir / "vigild.pid";
    auto file = PidFile::acquire(path);
    assert_true(file.ok());
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        auto again = PidFile::acquire(path);
        bool refused = !again.ok() && again.error().code == vigil::Errc::exists &&
                       contains(again.error().message, "pid " + std::to_string(getppid()) + ",");
        _exit(refused ? 0 : 1);
    }
    assert_int_equal(exit_status_of(child), 0);
    assert_int_equal(PidFile::read_pid(path), getpid()); // the child's attempt changed nothing
}

// The daemonize sequence: acquire, fork, the parent leaves, the child
// rewrites its pid and still holds the lock.
void lock_survives_fork_after_acquire(void **)
{
    test::TempDir dir;
    const std::string path = dir / "vigild.pid";
    int ready[2];
    int release[2];
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(release, O_CLOEXEC), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        ::close(ready[0]);
        ::close(release[1]);
        auto file = PidFile::acquire(path);
        if (!file) _exit(2);
        pid_t daemon = fork();
        if (daemon < 0) _exit(3);
        if (daemon > 0) _exit(0); // like daemonize()'s parent: no destructors
        if (!file->rewrite()) _exit(4);
        pid_t me = getpid();
        if (::write(ready[1], &me, sizeof me) != sizeof me) _exit(5);
        char go;
        while (::read(release[0], &go, 1) < 0 && errno == EINTR) {
        } // until the test closes its end (or dies)
        { PidFile owned = std::move(*file); } // removes the file
        _exit(0);
    }
    ::close(ready[1]);
    ::close(release[0]);
    assert_int_equal(exit_status_of(child), 0);

    pid_t daemon = 0;
    struct pollfd pfd {ready[0], POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, wait_ms), 1);
    assert_int_equal(::read(ready[0], &daemon, sizeof daemon), static_cast<ssize_t>(sizeof daemon));
    assert_int_equal(PidFile::read_pid(path), daemon);
    auto mine = PidFile::acquire(path);
    assert_false(mine.ok());
    assert_true(contains(mine.error().message, "pid " + std::to_string(daemon) + ","));

    ::close(release[1]);          // let the daemon stop
    assert_true(read_all(ready[0]).empty()); // end of file: it has exited
    ::close(ready[0]);
    assert_false(exists(path));
    assert_true(PidFile::acquire(path).ok());
}

void read_pid_returns_written_pid(void **)
{
    test::TempDir dir;
    const std::string path = dir / "vigild.pid";
    assert_int_equal(PidFile::read_pid(path), 0); // no file
    {
        auto file = PidFile::acquire(path);
        assert_true(file.ok());
        assert_int_equal(PidFile::read_pid(path), getpid());
    }
    test::write_file(path, "not a pid\n", 0644);
    assert_int_equal(PidFile::read_pid(path), 0);
    test::write_file(path, "", 0644);
    assert_int_equal(PidFile::read_pid(path), 0);
}

struct Outcome {
    int exit_status;
    std::string printed; // the waiting parent's stderr
};

// Forks a stand-in for vigild that calls daemonize(); its daemon runs `body`.
// The stand-in is the parent that waits, so its exit status is the verdict.
Outcome daemonize_in_child(const std::function<void(vigil::Readiness &)> &body)
{
    int err[2];
    assert_int_equal(pipe2(err, O_CLOEXEC), 0);
    pid_t starter = fork();
    assert_true(starter >= 0);
    if (starter == 0) {
        if (dup2(err[1], STDERR_FILENO) < 0) _exit(6);
        ::close(err[0]);
        ::close(err[1]);
        auto readiness = vigil::daemonize();
        if (!readiness) _exit(5); // only the daemon returns here
        body(*readiness);
        _exit(0); // not reporting, unless the body did
    }
    ::close(err[1]);
    Outcome outcome;
    outcome.printed = read_all(err[0]); // the daemon's stderr is /dev/null: EOF once the starter exits
    ::close(err[0]);
    outcome.exit_status = exit_status_of(starter);
    return outcome;
}

// Why the daemon is not properly detached, or "".
std::string detachment_problem()
{
    if (getsid(0) != getpid()) return "not a session leader";
    char cwd[64];
    if (getcwd(cwd, sizeof cwd) == nullptr || std::strcmp(cwd, "/") != 0) return "not in /";
    struct stat null_dev;
    struct stat in;
    if (stat("/dev/null", &null_dev) != 0 || fstat(STDIN_FILENO, &in) != 0 || in.st_rdev != null_dev.st_rdev)
        return "stdin is not /dev/null";
    mode_t mask = umask(0);
    umask(mask);
    if ((mask & 022) != 022) return "umask lets group or others write";
    return "";
}

void daemonize_parent_exits_zero_after_child_ready(void **)
{
    Outcome outcome = daemonize_in_child([](vigil::Readiness &readiness) {
        std::string problem = detachment_problem();
        if (problem.empty()) readiness.ready();
        else readiness.failed(problem);
    });
    if (outcome.exit_status != 0) print_error("%s", outcome.printed.c_str());
    assert_int_equal(outcome.exit_status, 0);
    assert_true(outcome.printed.empty());
}

void daemonize_parent_exits_nonzero_when_child_fails(void **)
{
    Outcome outcome = daemonize_in_child(
        [](vigil::Readiness &readiness) { readiness.failed("ldap_uri 'x': no scheme (expected by the test)"); });
    assert_int_equal(outcome.exit_status, 1);
    assert_true(contains(outcome.printed, "cannot start: ldap_uri 'x': no scheme (expected by the test)\n"));
}

void daemonize_parent_exits_nonzero_when_child_dies_before_ready(void **)
{
    Outcome outcome = daemonize_in_child([](vigil::Readiness &) { _exit(3); });
    assert_int_equal(outcome.exit_status, 1);
    assert_true(contains(outcome.printed, "exited with status 3 before it was ready"));
}

// Binds a datagram socket at `name` ("/path" or "@abstract"), points
// NOTIFY_SOCKET at it, notifies, and returns what arrived.
std::string notify_and_receive(const std::string &name, const char *state)
{
    int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(sock >= 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    assert_true(name.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';
    else len += 1;
    assert_int_equal(bind(sock, reinterpret_cast<struct sockaddr *>(&addr), len), 0);

    setenv("NOTIFY_SOCKET", name.c_str(), 1);
    vigil::notify_systemd(state);
    unsetenv("NOTIFY_SOCKET");

    struct pollfd pfd {sock, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, wait_ms), 1);
    char buf[256];
    ssize_t n = recv(sock, buf, sizeof buf, 0);
    ::close(sock);
    assert_true(n >= 0);
    return std::string(buf, static_cast<std::size_t>(n));
}

void notify_systemd_sends_state_datagram(void **)
{
    test::TempDir dir;
    assert_string_equal(notify_and_receive(dir / "notify", "READY=1").c_str(), "READY=1");
}

void notify_systemd_reaches_abstract_socket(void **)
{
    std::string name = "@vigil-unit-notify-" + std::to_string(getpid());
    assert_string_equal(notify_and_receive(name, "STATUS=serving").c_str(), "STATUS=serving");
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(second_acquire_in_same_process_is_refused_with_pid_in_message),
        cmocka_unit_test(stale_pid_file_without_lock_is_taken_over),
        cmocka_unit_test(pid_file_is_removed_on_destruction),
        cmocka_unit_test(child_process_sees_lock_held),
        cmocka_unit_test(lock_survives_fork_after_acquire),
        cmocka_unit_test(read_pid_returns_written_pid),
        cmocka_unit_test(daemonize_parent_exits_zero_after_child_ready),
        cmocka_unit_test(daemonize_parent_exits_nonzero_when_child_fails),
        cmocka_unit_test(daemonize_parent_exits_nonzero_when_child_dies_before_ready),
        cmocka_unit_test(notify_systemd_sends_state_datagram),
        cmocka_unit_test(notify_systemd_reaches_abstract_socket),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
