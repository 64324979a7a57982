// The event loop every vigil daemon runs: tevent underneath (so tevent_req
// based code and libraries plug in through raw()), C++ callbacks on top.
//
// Rules that hold for every callback registered here:
//  - it runs in the loop, never in signal context;
//  - an exception escaping it is logged (critical) and stops the loop with
//    EXIT_FAILURE: it never unwinds through tevent's C frames;
//  - it may create and destroy any Watch or Timer, including its own;
//  - it must not destroy the EventLoop itself (quit() instead).
//
// Handles (Watch, Timer) may outlive the loop: they then do nothing.
// One thread: the loop and its handles belong to the thread that runs it.
#pragma once

#include "util/result.hpp"
#include "util/talloc.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

struct tevent_context;

namespace vigil {

class EventLoop;
class TimerQueue;

// Owns one tevent fd or signal event. Destroying or reset()ing it removes the
// event; a callback that is running finishes on its own copy of the function.
class Watch {
public:
    Watch() = default;
    Watch(Watch &&other) noexcept;
    Watch &operator=(Watch &&other) noexcept;
    Watch(const Watch &) = delete;
    Watch &operator=(const Watch &) = delete;
    ~Watch() { reset(); }

    void reset() noexcept;
    bool active() const noexcept { return event_ != nullptr; }

private:
    friend class EventLoop;
    Watch(void *event, std::shared_ptr<void> callback, std::weak_ptr<void> loop_alive)
        : event_(event), callback_(std::move(callback)), loop_alive_(std::move(loop_alive)) {}

    void *event_ = nullptr;           // tevent_fd or tevent_signal, a talloc child of the context
    std::shared_ptr<void> callback_;  // what tevent's private_data points to
    std::weak_ptr<void> loop_alive_;  // expired: the context (and our event) is already freed
};

// Position of one timer in the queue: earliest deadline first, and for equal
// deadlines the one added first.
struct TimerKey {
    std::chrono::steady_clock::time_point deadline;
    std::uint64_t seq = 0;
    bool operator<(const TimerKey &other) const noexcept
    {
        return deadline != other.deadline ? deadline < other.deadline : seq < other.seq;
    }
};

// A one-shot timer. Destroying or cancel()ing it before it fires cancels it.
// It stops being pending when its callback starts, so a callback may reuse
// its own handle (timer = loop.after(...)) to run periodically.
class Timer {
public:
    Timer() = default;
    Timer(Timer &&other) noexcept;
    Timer &operator=(Timer &&other) noexcept;
    Timer(const Timer &) = delete;
    Timer &operator=(const Timer &) = delete;
    ~Timer() { cancel(); }

    void cancel() noexcept;
    bool pending() const noexcept;

private:
    friend class TimerQueue;
    Timer(std::weak_ptr<TimerQueue> queue, TimerKey key) : queue_(std::move(queue)), key_(key) {}

    std::weak_ptr<TimerQueue> queue_;
    TimerKey key_;
};

class EventLoop {
public:
    using Clock = std::chrono::steady_clock;

    static Result<std::unique_ptr<EventLoop>> create();
    ~EventLoop();
    EventLoop(const EventLoop &) = delete;
    EventLoop &operator=(const EventLoop &) = delete;
    EventLoop(EventLoop &&) = delete;
    EventLoop &operator=(EventLoop &&) = delete;

    // For tevent_req based code: requests run on this context.
    tevent_context *raw() const noexcept { return ev_.get(); }

    // Runs until quit() and returns its status; EXIT_FAILURE (logged) if
    // tevent fails. A quit() before run() makes run() return at once. run()
    // may be called again after it returned; it cannot be nested.
    int run();
    // run() returns once the callback that called quit() has returned.
    void quit(int status) noexcept;

    // The signal is caught with SA_RESTART and the callback runs in the loop.
    // Signals coalesce: one callback may stand for several deliveries.
    // Destroying the last Watch for a signal restores its previous action.
    Result<Watch> on_signal(int signum, std::function<void(int signum)> callback);
    // Level-triggered; destroy the Watch before closing the fd.
    Result<Watch> on_readable(int fd, std::function<void()> callback);
    Result<Watch> on_writable(int fd, std::function<void()> callback);

    // Timers run on the monotonic clock: a wall-clock jump neither delays nor
    // fires them. A negative delay means "as soon as possible".
    Timer after(std::chrono::milliseconds delay, std::function<void()> callback);
    Timer at(Clock::time_point deadline, std::function<void()> callback);
    static Clock::time_point now() noexcept { return Clock::now(); }

private:
    friend class TimerQueue;
    explicit EventLoop(TallocPtr<tevent_context> ev);
    Result<Watch> watch_fd(int fd, std::uint16_t flags, std::function<void()> callback);

    // Declaration order is destruction order, reversed: the timers (whose
    // callbacks may own Watches) go first, then the context, then the token.
    std::shared_ptr<void> alive_;
    TallocPtr<tevent_context> ev_;
    std::shared_ptr<TimerQueue> timers_;
    int quit_status_ = 0;
    bool quit_requested_ = false;
    bool running_ = false;
};

} // namespace vigil
