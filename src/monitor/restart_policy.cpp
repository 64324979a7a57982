#include "monitor/restart_policy.hpp"

#include <algorithm>
#include <random>

namespace vigil {

namespace {

double default_random01()
{
    static std::mt19937 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

} // namespace

RestartPolicy::RestartPolicy(Limits limits, std::function<double()> random01)
    : limits_(limits), random01_(random01 ? std::move(random01) : default_random01)
{
}

void RestartPolicy::forget_old(Clock::time_point now)
{
    while (!restarts_.empty() && now - restarts_.front() >= limits_.window) restarts_.pop_front();
}

int RestartPolicy::recent(Clock::time_point now) const
{
    return static_cast<int>(std::count_if(restarts_.begin(), restarts_.end(),
                                           [&](Clock::time_point t) { return now - t < limits_.window; }));
}

RestartPolicy::Decision RestartPolicy::on_exit(Clock::time_point now)
{
    forget_old(now);
    Decision d;
    d.recent = static_cast<int>(restarts_.size());
    if (d.recent >= limits_.limit) {
        d.give_up = true;
        return d;
    }
    // Doubling from first_delay, capped: the shift stays small enough not to overflow.
    auto base = first_delay * (1LL << std::min(d.recent, 16));
    base = std::min<std::chrono::milliseconds>(base, max_delay);
    double spread = 0.75 + 0.5 * random01_();
    d.delay = std::chrono::milliseconds(static_cast<long long>(static_cast<double>(base.count()) * spread));
    restarts_.push_back(now);
    d.recent += 1;
    return d;
}

void RestartPolicy::reset(Limits limits)
{
    limits_ = limits;
    restarts_.clear();
}

} // namespace vigil
