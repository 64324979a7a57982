// When vigild starts a service that exited again, and when it stops trying.
// Pure bookkeeping on the monotonic clock, so a jump of the wall clock can
// neither trigger nor hide a crash loop.
#pragma once

#include <chrono>
#include <deque>
#include <functional>

namespace vigil {

class RestartPolicy {
public:
    using Clock = std::chrono::steady_clock;

    struct Limits {
        int limit = 5;                        // restart_limit: restarts allowed within the window
        std::chrono::seconds window{300};     // restart_window
    };

    // What to do about one exit.
    struct Decision {
        bool give_up = false;
        std::chrono::milliseconds delay{0};   // before the restart (when not giving up)
        int recent = 0;                       // restarts within the window, this one included
    };

    // The first restart waits about `first_delay`, each further one within the
    // window twice as long, never more than `max_delay`; every delay is spread
    // by ±25% so that services (and hosts) that failed together do not come
    // back in the same instant.
    static constexpr std::chrono::milliseconds first_delay{250};
    static constexpr std::chrono::milliseconds max_delay{30'000};

    // `random01` returns a number in [0, 1); tests pass a fixed one.
    explicit RestartPolicy(Limits limits, std::function<double()> random01 = {});

    Decision on_exit(Clock::time_point now);
    // A new configuration (SIGHUP) gives a service that was given up on
    // another chance and may change the limits.
    void reset(Limits limits);
    // New limits for a service that keeps its history (it is not given up).
    void set_limits(Limits limits) { limits_ = limits; }
    int recent(Clock::time_point now) const;

private:
    void forget_old(Clock::time_point now);

    Limits limits_;
    std::function<double()> random01_;
    std::deque<Clock::time_point> restarts_; // when each restart within the window was decided
};

} // namespace vigil
