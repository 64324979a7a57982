#include "providers/domain_state.hpp"

#include "util/log.hpp"

#include <algorithm>
#include <random>

namespace vigil {

namespace {

double spread()
{
    static std::mt19937 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.75, 1.25)(engine);
}

} // namespace

DomainState::DomainState(EventLoop &loop, Timing timing, std::function<void()> probe)
    : loop_(loop), timing_(timing), probe_(std::move(probe))
{
}

void DomainState::went_offline(const std::string &why, bool refused)
{
    if (mode_ == Mode::online) {
        VLOG(critical, "going offline: %s; serving from the cache, next try in about %lld s", why.c_str(),
             static_cast<long long>(timing_.offline_timeout.count()));
        delay_ = timing_.offline_timeout;
    } else {
        // Another failed probe: wait longer, up to offline_timeout_max.
        auto doubled = delay_ * 2;
        auto cap = std::chrono::duration_cast<std::chrono::milliseconds>(timing_.offline_timeout_max);
        if (timing_.offline_timeout_max.count() == 0) delay_ = timing_.offline_timeout;
        else delay_ = std::min(std::max<std::chrono::milliseconds>(doubled, timing_.offline_timeout), cap);
        VLOG(minor, "still offline: %s", why.c_str());
    }
    mode_ = Mode::offline;
    reason_ = why;
    refused_ = refused;
    server_.clear();
    schedule_probe();
}

void DomainState::schedule_probe()
{
    auto wait = std::chrono::milliseconds(static_cast<long long>(static_cast<double>(delay_.count()) * spread()));
    next_probe_ = Clock::now() + wait;
    probe_timer_ = loop_.after(wait, [this] {
        VLOG(trace, "probing the directory");
        probe_();
    });
}

void DomainState::came_online(const std::string &server)
{
    if (mode_ == Mode::offline) VLOG(config, "back online (%s)", server.c_str());
    mode_ = Mode::online;
    server_ = server;
    reason_.clear();
    probe_timer_.cancel();
}

void DomainState::force_offline()
{
    VLOG(config, "forced offline (SIGUSR1)");
    mode_ = Mode::online; // so that went_offline starts the backoff afresh
    went_offline("forced offline by the administrator (SIGUSR1)");
}

void DomainState::force_online()
{
    VLOG(config, "forced online (SIGUSR2): trying the directory now");
    probe_timer_.cancel();
    if (mode_ == Mode::offline) probe_();
}

} // namespace vigil
