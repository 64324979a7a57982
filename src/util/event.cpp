#include "util/event.hpp"

#include "util/log.hpp"

// tevent.h (0.14) has no extern "C" block of its own.
extern "C" {
#include <tevent.h>
}

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <sys/timerfd.h>
#include <unistd.h>

namespace vigil {

namespace {

// Called from inside a catch handler. Logging may itself throw (it allocates);
// nothing may leave a C callback, so that is swallowed: quitting matters more.
void report_escaped_exception(EventLoop &loop, const char *where) noexcept
{
    try {
        try {
            throw;
        } catch (const std::exception &e) {
            VLOG(critical, "exception escaped a %s, stopping: %s", where, e.what());
        } catch (...) {
            VLOG(critical, "exception escaped a %s, stopping: not a std::exception", where);
        }
    } catch (...) {
    }
    loop.quit(EXIT_FAILURE);
}

// tevent's private_data points at one of these; the trampoline holds its own
// reference while the callback runs, so a callback that destroys its Watch
// does not destroy the function it is executing.
struct FdCallback : std::enable_shared_from_this<FdCallback> {
    EventLoop *loop;
    std::function<void()> fn;
};

struct SignalCallback : std::enable_shared_from_this<SignalCallback> {
    EventLoop *loop;
    std::function<void(int)> fn;
};

void fd_trampoline(tevent_context *, tevent_fd *, uint16_t, void *private_data) noexcept
{
    auto *slot = static_cast<FdCallback *>(private_data);
    EventLoop &loop = *slot->loop;
    try {
        std::shared_ptr<FdCallback> keep = slot->shared_from_this();
        keep->fn();
    } catch (...) {
        report_escaped_exception(loop, "file descriptor callback");
    }
}

void signal_trampoline(tevent_context *, tevent_signal *, int signum, int, void *, void *private_data) noexcept
{
    auto *slot = static_cast<SignalCallback *>(private_data);
    EventLoop &loop = *slot->loop;
    try {
        std::shared_ptr<SignalCallback> keep = slot->shared_from_this();
        keep->fn(signum);
    } catch (...) {
        report_escaped_exception(loop, "signal callback");
    }
}

// tevent's own messages go to our log. Its trace level fires on every event,
// so it is formatted only when someone asked for library internals.
__attribute__((format(printf, 3, 0))) void tevent_debug_to_log(void *, enum tevent_debug_level level,
                                                                const char *format, va_list ap)
{
    log::Level ours = log::Level::internal;
    switch (level) {
    case TEVENT_DEBUG_FATAL: ours = log::Level::critical; break;
    case TEVENT_DEBUG_ERROR: ours = log::Level::error; break;
    case TEVENT_DEBUG_WARNING: ours = log::Level::minor; break;
    case TEVENT_DEBUG_TRACE: ours = log::Level::internal; break;
    }
    if (!log::enabled(ours)) return;
    char text[1024];
    std::vsnprintf(text, sizeof text, format, ap);
    std::size_t len = std::strlen(text);
    if (len > 0 && text[len - 1] == '\n') text[len - 1] = '\0'; // our lines end themselves
    log::write(ours, "tevent", "%s", text);
}

} // namespace

// One timerfd on CLOCK_MONOTONIC for all timers of the loop. tevent's timers
// read gettimeofday, so a wall-clock step would delay them or fire them early.
// std::chrono::steady_clock is CLOCK_MONOTONIC on Linux, the timerfd's clock.
class TimerQueue : public std::enable_shared_from_this<TimerQueue> {
public:
    TimerQueue(EventLoop &loop, int fd) : loop_(loop), fd_(fd) {}
    ~TimerQueue()
    {
        watch_.reset(); // before the fd it watches is closed
        talloc_free(immediate_);
        ::close(fd_);
    }
    TimerQueue(const TimerQueue &) = delete;
    TimerQueue &operator=(const TimerQueue &) = delete;

    Status start()
    {
        // Not a child of the context: freed by us, and tevent unlinks it if
        // the context goes first.
        immediate_ = tevent_create_immediate(nullptr);
        if (immediate_ == nullptr) return Error{Errc::internal, "cannot create the event loop: out of memory"};
        auto watch = loop_.on_readable(fd_, [this] { fire_due(true); });
        if (!watch) return std::move(watch).error();
        watch_ = std::move(*watch);
        return {};
    }

    Timer add(EventLoop::Clock::time_point deadline, std::function<void()> callback)
    {
        TimerKey key{deadline, next_seq_++};
        entries_.emplace(key, std::move(callback));
        wake_for(deadline, EventLoop::Clock::now(), !firing_);
        return Timer(weak_from_this(), key);
    }

    // Cancelling the earliest timer leaves the timerfd armed for it: the one
    // spurious wake-up is cheaper than a syscall on every cancel, and request
    // timeouts are cancelled far more often than they fire.
    void cancel(const TimerKey &key) noexcept { entries_.erase(key); }
    bool pending(const TimerKey &key) const noexcept { return entries_.count(key) != 0; }

private:
    // A timer already due ("as soon as possible", the commonest kind) runs
    // from a tevent immediate, on the next turn of the loop, with no system
    // call; a later one arms the timerfd if it is the earliest. tevent runs
    // immediates before it polls: one added by a timer callback goes through
    // the timerfd instead, so that a callback that keeps re-adding itself
    // (work done in slices) still lets every fd be served between slices.
    void wake_for(EventLoop::Clock::time_point deadline, EventLoop::Clock::time_point now, bool immediate)
    {
        if (immediate && deadline <= now) {
            if (!immediate_scheduled_) {
                immediate_scheduled_ = true;
                tevent_schedule_immediate(immediate_, loop_.raw(), immediate_trampoline, this);
            }
        } else if (!armed_for_ || deadline < *armed_for_) {
            arm(deadline);
        }
    }

    static void immediate_trampoline(tevent_context *, tevent_immediate *, void *private_data)
    {
        static_cast<TimerQueue *>(private_data)->fire_due(false);
    }

    void fire_due(bool from_timerfd)
    {
        if (from_timerfd) {
            std::uint64_t expirations;
            // EAGAIN (re-armed since the wake-up) is fine: the clock decides below.
            if (::read(fd_, &expirations, sizeof expirations) < 0 && errno != EAGAIN && errno != EINTR)
                VLOG(minor, "read timerfd: %s", std::strerror(errno));
            armed_for_.reset();
        } else {
            immediate_scheduled_ = false;
        }
        const auto now = EventLoop::Clock::now();
        // Timers added by these callbacks wait for the next round, even with a
        // zero delay: a callback re-adding itself cannot starve the loop.
        const std::uint64_t added_before = next_seq_;
        firing_ = true;
        while (!entries_.empty() && !loop_.quit_requested_) {
            auto first = entries_.begin();
            if (now < first->first.deadline || first->first.seq >= added_before) break;
            std::function<void()> callback = std::move(first->second);
            entries_.erase(first); // no longer pending while it runs
            try {
                callback();
            } catch (...) {
                report_escaped_exception(loop_, "timer callback");
            }
        }
        firing_ = false;
        // An empty queue leaves the timerfd as it is: if it fires, it finds
        // nothing due, which costs less than disarming it every time.
        if (entries_.empty()) return;
        // Due ones left behind (added by the callbacks, or not run because
        // of a quit) need the next turn; the earliest later one the timerfd.
        bool due_left = false;
        std::optional<EventLoop::Clock::time_point> later;
        for (const auto &[key, fn] : entries_) {
            if (key.deadline <= now) {
                due_left = true;
                continue;
            }
            later = key.deadline;
            break;
        }
        if (due_left) wake_for(now, now, false);
        else if (later) wake_for(*later, now, false);
    }

    // Armed relative to now: an interposed time library (libfaketime, which
    // the tests use to step the wall clock) rewrites absolute timerfd
    // deadlines as if they were wall-clock times, whatever the fd's clock.
    void arm(EventLoop::Clock::time_point deadline)
    {
        auto remaining = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - EventLoop::Clock::now());
        if (remaining.count() < 1) remaining = std::chrono::nanoseconds(1); // zero would disarm
        struct itimerspec spec {};
        spec.it_value.tv_sec = static_cast<time_t>(remaining.count() / 1000000000);
        spec.it_value.tv_nsec = static_cast<long>(remaining.count() % 1000000000);
        if (timerfd_settime(fd_, 0, &spec, nullptr) != 0) {
            // A loop whose timers cannot fire must not pretend to run.
            VLOG(critical, "timerfd_settime: %s; stopping the event loop", std::strerror(errno));
            loop_.quit(EXIT_FAILURE);
            return;
        }
        armed_for_ = deadline;
    }

    EventLoop &loop_;
    int fd_;
    Watch watch_;
    tevent_immediate *immediate_ = nullptr; // a talloc child of the tevent context
    bool immediate_scheduled_ = false;
    bool firing_ = false; // in fire_due: timers added now wait for the next poll
    std::map<TimerKey, std::function<void()>> entries_;
    std::uint64_t next_seq_ = 0;
    std::optional<EventLoop::Clock::time_point> armed_for_; // what the timerfd is set to
};

// ------------------------------------------------------------------ Watch

Watch::Watch(Watch &&other) noexcept
    : event_(other.event_), callback_(std::move(other.callback_)), loop_alive_(std::move(other.loop_alive_))
{
    other.event_ = nullptr;
}

Watch &Watch::operator=(Watch &&other) noexcept
{
    if (this != &other) {
        reset();
        event_ = other.event_;
        callback_ = std::move(other.callback_);
        loop_alive_ = std::move(other.loop_alive_);
        other.event_ = nullptr;
    }
    return *this;
}

void Watch::reset() noexcept
{
    // tevent allows freeing an event from inside its own handler.
    if (event_ != nullptr && !loop_alive_.expired()) talloc_free(event_);
    event_ = nullptr;
    callback_.reset();
    loop_alive_.reset();
}

// ------------------------------------------------------------------ Timer

Timer::Timer(Timer &&other) noexcept : queue_(std::move(other.queue_)), key_(other.key_)
{
    other.queue_.reset();
}

Timer &Timer::operator=(Timer &&other) noexcept
{
    if (this != &other) {
        cancel();
        queue_ = std::move(other.queue_);
        key_ = other.key_;
        other.queue_.reset();
    }
    return *this;
}

void Timer::cancel() noexcept
{
    if (auto queue = queue_.lock()) queue->cancel(key_);
    queue_.reset();
}

bool Timer::pending() const noexcept
{
    auto queue = queue_.lock();
    return queue && queue->pending(key_);
}

// ------------------------------------------------------------------ EventLoop

EventLoop::EventLoop(TallocPtr<tevent_context> ev) : alive_(std::make_shared<char>(0)), ev_(std::move(ev)) {}

EventLoop::~EventLoop()
{
    timers_.reset();
    ev_.reset();
    alive_.reset();
}

Result<std::unique_ptr<EventLoop>> EventLoop::create()
{
    TallocPtr<tevent_context> ev(tevent_context_init(nullptr));
    if (!ev) return Error{Errc::internal, "cannot create the event loop: tevent_context_init failed"};
    tevent_set_debug(ev.get(), tevent_debug_to_log, nullptr);
    std::unique_ptr<EventLoop> loop(new EventLoop(std::move(ev)));

    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return sys_error("cannot create the event loop: timerfd_create", errno);
    auto timers = std::make_shared<TimerQueue>(*loop, fd); // owns fd from here
    Status started = timers->start();
    if (!started) return std::move(started).error();
    loop->timers_ = std::move(timers);
    return loop;
}

int EventLoop::run()
{
    if (running_) {
        VLOG(critical, "EventLoop::run() called from inside the loop; refusing to nest");
        return EXIT_FAILURE;
    }
    running_ = true;
    int status = EXIT_FAILURE;
    for (;;) {
        if (quit_requested_) {
            status = quit_status_;
            break;
        }
        if (tevent_loop_once(ev_.get()) != 0) {
            VLOG(critical, "the event loop failed: tevent_loop_once: %s", std::strerror(errno));
            status = EXIT_FAILURE;
            break;
        }
    }
    quit_requested_ = false;
    running_ = false;
    return status;
}

void EventLoop::quit(int status) noexcept
{
    // The first reason wins: a later quit(0) must not hide a failure.
    if (quit_requested_) return;
    quit_requested_ = true;
    quit_status_ = status;
}

Result<Watch> EventLoop::on_signal(int signum, std::function<void(int)> callback)
{
    if (!callback) return Error{Errc::invalid_argument, "on_signal: empty callback"};
    if (signum <= 0 || static_cast<std::size_t>(signum) >= tevent_num_signals())
        return Error{Errc::invalid_argument, "on_signal: no such signal " + std::to_string(signum)};
    auto slot = std::make_shared<SignalCallback>();
    slot->loop = this;
    slot->fn = std::move(callback);
    tevent_signal *se = tevent_add_signal(ev_.get(), ev_.get(), signum, SA_RESTART, signal_trampoline, slot.get());
    if (se == nullptr) {
        const char *name = sigabbrev_np(signum);
        return Error{Errc::internal, std::string("cannot catch SIG") + (name ? name : std::to_string(signum).c_str()) +
                                         ": tevent_add_signal failed"};
    }
    return Watch(se, std::move(slot), alive_);
}

Result<Watch> EventLoop::on_readable(int fd, std::function<void()> callback)
{
    return watch_fd(fd, TEVENT_FD_READ, std::move(callback));
}

Result<Watch> EventLoop::on_writable(int fd, std::function<void()> callback)
{
    return watch_fd(fd, TEVENT_FD_WRITE, std::move(callback));
}

Result<Watch> EventLoop::watch_fd(int fd, std::uint16_t flags, std::function<void()> callback)
{
    if (!callback) return Error{Errc::invalid_argument, "fd watch: empty callback"};
    if (fd < 0) return Error{Errc::invalid_argument, "fd watch: invalid file descriptor " + std::to_string(fd)};
    auto slot = std::make_shared<FdCallback>();
    slot->loop = this;
    slot->fn = std::move(callback);
    tevent_fd *fde = tevent_add_fd(ev_.get(), ev_.get(), fd, flags, fd_trampoline, slot.get());
    if (fde == nullptr)
        return Error{Errc::internal, "cannot watch file descriptor " + std::to_string(fd) + ": tevent_add_fd failed"};
    return Watch(fde, std::move(slot), alive_);
}

Timer EventLoop::after(std::chrono::milliseconds delay, std::function<void()> callback)
{
    const auto start = Clock::now();
    if (delay < std::chrono::milliseconds::zero()) delay = std::chrono::milliseconds::zero();
    // now + delay must not overflow the clock's range (e.g. milliseconds::max()).
    const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - start);
    const auto deadline = delay >= room ? Clock::time_point::max() : start + delay;
    return at(deadline, std::move(callback));
}

Timer EventLoop::at(Clock::time_point deadline, std::function<void()> callback)
{
    return timers_->add(deadline, std::move(callback));
}

} // namespace vigil
