// Whether a domain's directory can be reached, as one explicit state:
//
//   online ──(no server answers)──► offline{next probe, delay} ──(probe ok)──► online
//                                      └──(probe fails: delay doubles, capped, ±25%)──┘
//
// Offline, requests that need the directory are answered "unavailable" at
// once (no connection attempt per request); only the probe tries, on the
// monotonic clock. SIGUSR1/SIGUSR2 (from vigild) force either state.
#pragma once

#include "util/event.hpp"

#include <chrono>
#include <functional>
#include <string>

namespace vigil {

class DomainState {
public:
    using Clock = EventLoop::Clock;
    enum class Mode { online, offline };

    struct Timing {
        std::chrono::seconds offline_timeout{60};      // the first probe delay
        std::chrono::seconds offline_timeout_max{3600}; // the longest (0: no growth)
    };

    // `probe` is asked to try the directory; it reports with came_online()
    // or went_offline().
    DomainState(EventLoop &loop, Timing timing, std::function<void()> probe);

    Mode mode() const { return mode_; }
    bool online() const { return mode_ == Mode::online; }
    const std::string &server() const { return server_; } // the one in use (online)
    const std::string &reason() const { return reason_; } // why offline
    // Offline although a server answered: it refused this host (its bind
    // credentials, a certificate that does not verify, the host's Kerberos
    // credentials). The directory is there: a login must still ask it (a
    // simple bind as the user, a Kerberos exchange need none of that), and
    // cached credentials decide only when it does not answer.
    bool refused() const { return mode_ == Mode::offline && refused_; }
    // When the next probe is due (offline only).
    Clock::time_point next_probe() const { return next_probe_; }

    // `refused`: a server answered and said no (see refused()).
    void went_offline(const std::string &why, bool refused = false);
    void came_online(const std::string &server);
    void force_offline(); // SIGUSR1
    void force_online();  // SIGUSR2: try the directory now

private:
    void schedule_probe();

    EventLoop &loop_;
    Timing timing_;
    std::function<void()> probe_;
    Mode mode_ = Mode::online;
    std::string server_;
    std::string reason_;
    bool refused_ = false;
    std::chrono::milliseconds delay_{0};
    Clock::time_point next_probe_{};
    Timer probe_timer_;
};

} // namespace vigil
