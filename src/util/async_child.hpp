// Runs a helper program (vigil_krb5_child) from the event loop without ever
// blocking it: the input is written, the output read and the exit noticed
// (a pidfd) by loop callbacks. The run is bounded in time and output; past
// either bound the child is killed by its pidfd (so never a recycled PID)
// and reaped from the loop once it is gone (never waited for: a process
// stuck in the kernel, on a hung NFS home say, dies only when the call
// returns). The same ideas as policy/child_process, which blocks.
//
// The child gets argv, an environment of _VIGIL_LOOPS=NO only, the input on
// stdin (a socket: it may exit before reading all of it), stdout to us and
// the parent's stderr (its messages land in the daemon's log). Signals
// start at their defaults, none blocked.
//
// A child may also be started ahead of need (prepare(), a spare): it runs
// and waits for its input, nothing is watched and no time runs; begin()
// then gives it the input, the limits and the callback, and from there on
// it is as if start() had run. What a spare saves is the spawn, the exec
// and the dynamic linker: latency off the request's path.
#pragma once

#include "util/event.hpp"
#include "util/result.hpp"
#include "util/secret.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vigil {

struct AsyncChildLimits {
    std::chrono::milliseconds timeout{10000};
    std::size_t max_output = 64 * 1024;
    // Named in the timeout's message: which option bounded the wait.
    std::string timeout_option = "the child's time limit";
};

struct AsyncChildOutcome {
    int exit_code = -1; // -1 when it was killed by a signal (or its status was lost)
    int signal = 0;
    std::string out;
};

class AsyncChild {
public:
    // Called once, on the loop, never inside start(); it may destroy the
    // AsyncChild. Errors: Errc::timeout (killed at the bound), Errc::protocol
    // (too much output, killed), Errc::io.
    using Done = std::function<void(Result<AsyncChildOutcome>)>;

    // The input is wiped once written (it may hold a password).
    static Result<std::unique_ptr<AsyncChild>> start(EventLoop &loop, const std::vector<std::string> &argv,
                                                     Secret input, AsyncChildLimits limits, Done done);
    // A spare: spawned, waiting for begin(). Destroying it kills it.
    static Result<std::unique_ptr<AsyncChild>> prepare(EventLoop &loop, const std::vector<std::string> &argv);
    // True while a prepared child is still running (not exited, not
    // begun): only then may begin() be called.
    bool idle() const;
    // The input (wiped once written), limits and callback for a prepared
    // child; `done` as for start(). An error only when the loop cannot
    // watch the child (it is killed then, and `done` is never called).
    Status begin(Secret input, AsyncChildLimits limits, Done done);
    // A child still running is killed (and reaped from the loop once it is
    // gone); `done` is not called.
    ~AsyncChild();
    AsyncChild(const AsyncChild &) = delete;
    AsyncChild &operator=(const AsyncChild &) = delete;

    pid_t pid() const { return pid_; }

private:
    explicit AsyncChild(EventLoop &loop) : loop_(loop) {}
    void writable();
    void readable();
    void exited();
    void kill_now();
    void finish(Result<AsyncChildOutcome> result);
    void maybe_finish();

    EventLoop &loop_;
    AsyncChildLimits limits_;
    Done done_;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    int in_ = -1;  // our end of the child's stdin
    int out_ = -1; // our end of the child's stdout
    Secret input_;
    std::size_t sent_ = 0;
    bool reaped_ = false;
    bool begun_ = false;
    AsyncChildOutcome outcome_;
    Watch in_watch_, out_watch_, exit_watch_;
    Timer deadline_;
};

} // namespace vigil
