#include "monitor/supervisor.hpp"

#include "monitor/child.hpp"
#include "util/log.hpp"
#include "util/sbus/monitor_iface.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/wait.h>

namespace vigil {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {
// A service removed from the configuration gets this long after SIGTERM.
constexpr auto stop_bound = 5s;
} // namespace

struct Supervisor::Supervised {
    Supervised(ServiceSpec s, RestartPolicy::Limits limits) : spec(std::move(s)), policy(limits) {}

    ServiceSpec spec;
    ServiceState state = ServiceState::starting;
    pid_t pid = 0;
    Clock::time_point started{};  // when the current process was spawned
    Clock::time_point stop_sent{}; // when it was told to stop (state stopping)
    int restarts = 0;             // since vigild started
    int missed = 0;               // pings in a row without an answer
    bool ping_in_flight = false;
    bool settled = false;         // registered, or failed, since vigild started
    bool respawn_after_stop = false; // put back into the config while stopping
    std::uint64_t generation = 0; // of the configuration it was started with
    std::string kill_reason;      // set when vigild killed it for hanging
    std::string last_event;       // shown by vigilctl status
    RestartPolicy policy;
    std::shared_ptr<sbus::Connection> conn;
    Timer restart_timer;
};

const char *state_name(ServiceState state)
{
    switch (state) {
    case ServiceState::starting: return "starting";
    case ServiceState::running: return "running";
    case ServiceState::restarting: return "restarting";
    case ServiceState::given_up: return "given-up";
    case ServiceState::stopping: return "stopping";
    }
    return "?";
}

Supervisor::Supervisor(EventLoop &loop, SupervisorSettings settings) : loop_(loop), settings_(std::move(settings)) {}

Supervisor::~Supervisor()
{
    // vigild failed after starting some services: none may outlive it.
    if (!stopping_) stop_all(2s);
}

void Supervisor::start(std::vector<ServiceSpec> specs)
{
    std::stable_partition(specs.begin(), specs.end(), [](const ServiceSpec &s) { return s.is_provider; });
    for (ServiceSpec &spec : specs) {
        auto s = std::make_shared<Supervised>(std::move(spec), settings_.limits);
        services_.push_back(s);
        spawn(s);
    }
    arm_heartbeat();
    check_settled();
}

void Supervisor::arm_heartbeat()
{
    heartbeat_timer_ = loop_.after(settings_.heartbeat, [this] { heartbeat(); });
}

void Supervisor::spawn(const std::shared_ptr<Supervised> &s)
{
    std::vector<std::string> argv{settings_.libexec_dir + "/" + s->spec.binary};
    argv.insert(argv.end(), settings_.common_args.begin(), settings_.common_args.end());
    argv.insert(argv.end(), s->spec.args.begin(), s->spec.args.end());
    s->state = ServiceState::starting;
    s->generation = generation_;
    s->started = Clock::now();
    s->missed = 0;
    s->ping_in_flight = false;
    s->kill_reason.clear();
    s->conn.reset();
    auto pid = spawn_child(argv);
    if (!pid) {
        VLOG(critical, "cannot start %s (%s): %s", s->spec.name.c_str(), argv[0].c_str(), pid.error().message.c_str());
        s->pid = 0;
        s->last_event = "could not be started: " + pid.error().message;
        s->settled = true;
        schedule_restart(s);
        check_settled();
        return;
    }
    s->pid = *pid;
    VLOG(config, "started %s (pid %ld)", s->spec.name.c_str(), static_cast<long>(s->pid));
}

Status Supervisor::attach(const std::string &name, const std::shared_ptr<sbus::Connection> &conn)
{
    auto peer = conn->peer_pid();
    if (!peer) return Error{Errc::permission, "the peer's pid is unknown"};
    auto it = std::find_if(services_.begin(), services_.end(), [&](const auto &s) { return s->pid == *peer; });
    if (it == services_.end())
        return Error{Errc::permission, "pid " + std::to_string(*peer) + " is not a service vigild started"};
    Supervised &s = **it;
    if (s.spec.name != name)
        return Error{Errc::permission, "pid " + std::to_string(*peer) + " was started as " + s.spec.name +
                                           ", not as " + name};
    if (s.state != ServiceState::starting) return Error{Errc::invalid_argument, name + " has already registered"};
    s.conn = conn;
    s.state = ServiceState::running;
    s.missed = 0;
    s.settled = true;
    VLOG(config, "%s (pid %ld) registered", name.c_str(), static_cast<long>(s.pid));
    if (s.generation != generation_) {
        // Started before the last SIGHUP: it may have read the old confdb.
        std::string n = s.spec.name;
        Status sent = conn->call(monitor_iface::service, "reload", {}, 30s, [n](Result<sbus::Args> r) {
            if (!r) VLOG(error, "%s did not reload: %s", n.c_str(), r.error().message.c_str());
        });
        if (!sent) VLOG(error, "cannot tell %s to reload: %s", n.c_str(), sent.error().message.c_str());
        s.generation = generation_;
    }
    std::weak_ptr<Supervised> weak = *it;
    pid_t pid = s.pid;
    conn->on_disconnect([weak, pid] {
        auto sv = weak.lock();
        if (!sv || sv->pid != pid) return;
        sv->conn.reset();
        VLOG(minor, "%s (pid %ld) closed its connection", sv->spec.name.c_str(), static_cast<long>(pid));
    });
    check_settled();
    return {};
}

void Supervisor::check_settled()
{
    if (settled_) return;
    if (!std::all_of(services_.begin(), services_.end(),
                     [](const auto &s) { return s->settled || s->state == ServiceState::stopping; }))
        return;
    settled_ = true;
    if (on_settled_) on_settled_();
}

void Supervisor::heartbeat()
{
    const auto register_bound = settings_.heartbeat * settings_.heartbeat_misses;
    for (const auto &s : services_) {
        if (s->pid == 0) continue;
        if (s->state == ServiceState::running) {
            ping(s);
        } else if (s->state == ServiceState::starting && Clock::now() - s->started > register_bound) {
            kill_hung(*s, "it did not register within " + std::to_string(register_bound.count()) + " s");
        } else if (s->state == ServiceState::stopping && Clock::now() - s->stop_sent > stop_bound) {
            VLOG(error, "%s (pid %ld) did not stop within %lld s; killing it", s->spec.name.c_str(),
                 static_cast<long>(s->pid), static_cast<long long>(stop_bound.count()));
            kill(s->pid, SIGKILL);
        }
    }
    arm_heartbeat();
}

// Each heartbeat with a ping still unanswered is one miss, so a hung
// service is found after heartbeat_misses heartbeats, not twice that.
void Supervisor::ping(const std::shared_ptr<Supervised> &s)
{
    auto count_miss = [this](Supervised &sv, const std::string &why) {
        sv.missed += 1;
        VLOG(minor, "%s (pid %ld) missed a ping (%d of %d): %s", sv.spec.name.c_str(), static_cast<long>(sv.pid),
             sv.missed, settings_.heartbeat_misses, why.c_str());
        if (sv.missed >= settings_.heartbeat_misses)
            kill_hung(sv, std::to_string(sv.missed) + " pings in a row went unanswered (heartbeat = " +
                              std::to_string(settings_.heartbeat.count()) + " s)");
    };
    if (s->ping_in_flight) {
        count_miss(*s, "no answer within " + std::to_string(settings_.heartbeat.count()) + " s");
        return;
    }
    if (!s->conn || !s->conn->connected()) {
        count_miss(*s, "it has no connection to vigild");
        return;
    }
    std::weak_ptr<Supervised> weak = s;
    pid_t pid = s->pid;
    s->ping_in_flight = true;
    // The heartbeats count the misses; the call's own timeout only ends it.
    const auto bound = settings_.heartbeat * (settings_.heartbeat_misses + 1);
    Status sent = s->conn->call(monitor_iface::service, "ping", {}, bound,
                                [weak, pid, count_miss](Result<sbus::Args> reply) {
                                    auto sv = weak.lock();
                                    if (!sv || sv->pid != pid) return;
                                    sv->ping_in_flight = false;
                                    if (reply) sv->missed = 0;
                                    else if (reply.error().code != Errc::timeout) count_miss(*sv, reply.error().message);
                                });
    if (!sent) {
        s->ping_in_flight = false;
        count_miss(*s, sent.error().message);
    }
}

void Supervisor::kill_hung(Supervised &s, const std::string &why)
{
    if (s.pid == 0 || !s.kill_reason.empty()) return;
    VLOG(critical, "%s (pid %ld) is hung: %s; killing it", s.spec.name.c_str(), static_cast<long>(s.pid), why.c_str());
    s.kill_reason = why;
    kill(s.pid, SIGKILL);
}

void Supervisor::reap()
{
    int wait_status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &wait_status, WNOHANG)) > 0) {
        auto it = std::find_if(services_.begin(), services_.end(), [&](const auto &s) { return s->pid == pid; });
        if (it == services_.end()) continue;
        std::shared_ptr<Supervised> s = *it; // exited() may remove it from services_
        exited(s, wait_status);
    }
}

void Supervisor::exited(const std::shared_ptr<Supervised> &s, int wait_status)
{
    const pid_t pid = s->pid;
    std::string what = describe_exit(wait_status);
    if (!s->kill_reason.empty()) what = "was killed because it hung (" + s->kill_reason + ")";
    s->pid = 0;
    s->conn.reset();
    s->ping_in_flight = false;
    if (stopping_) return;
    if (s->state == ServiceState::stopping) {
        if (s->respawn_after_stop) {
            VLOG(config, "%s (pid %ld) stopped; starting it again: it is back in the configuration",
                 s->spec.name.c_str(), static_cast<long>(pid));
            s->respawn_after_stop = false;
            spawn(s);
            return;
        }
        VLOG(config, "%s (pid %ld) stopped: it is no longer in the configuration", s->spec.name.c_str(),
             static_cast<long>(pid));
        std::erase(services_, s);
        check_settled();
        return;
    }
    VLOG(critical, "%s (pid %ld) %s", s->spec.name.c_str(), static_cast<long>(pid), what.c_str());
    s->last_event = what;
    s->settled = true;
    schedule_restart(s);
    check_settled();
}

void Supervisor::schedule_restart(const std::shared_ptr<Supervised> &s)
{
    RestartPolicy::Decision d = s->policy.on_exit(Clock::now());
    if (d.give_up) {
        s->state = ServiceState::given_up;
        VLOG(fatal,
             "%s failed %d times within %lld s (restart_limit = %d, restart_window = %lld): not restarting it; "
             "the other services keep running. Fix the cause, then send SIGHUP to vigild (last: %s)",
             s->spec.name.c_str(), d.recent + 1, static_cast<long long>(settings_.limits.window.count()),
             settings_.limits.limit, static_cast<long long>(settings_.limits.window.count()), s->last_event.c_str());
        s->last_event = "given up after " + std::to_string(d.recent + 1) + " failures; last: " + s->last_event;
        return;
    }
    s->state = ServiceState::restarting;
    s->restarts += 1;
    VLOG(config, "restarting %s in %lld ms (restart %d of %d allowed within %lld s)", s->spec.name.c_str(),
         static_cast<long long>(d.delay.count()), d.recent, settings_.limits.limit,
         static_cast<long long>(settings_.limits.window.count()));
    std::weak_ptr<Supervised> weak = s;
    s->restart_timer = loop_.after(d.delay, [this, weak] {
        if (auto sv = weak.lock(); sv && sv->state == ServiceState::restarting) spawn(sv);
    });
}

void Supervisor::signal_providers(int signum)
{
    for (const auto &s : services_) {
        // One still starting may not have its handlers yet: the signal would kill it.
        if (!s->spec.is_provider || s->pid == 0 || s->state != ServiceState::running) continue;
        VLOG(config, "passing SIG%s to %s (pid %ld)", sigabbrev_np(signum), s->spec.name.c_str(),
             static_cast<long>(s->pid));
        kill(s->pid, signum);
    }
}

void Supervisor::reconfigure(SupervisorSettings settings, std::vector<ServiceSpec> specs)
{
    const bool heartbeat_changed = settings.heartbeat != settings_.heartbeat;
    settings_ = std::move(settings);
    generation_ += 1;
    std::stable_partition(specs.begin(), specs.end(), [](const ServiceSpec &s) { return s.is_provider; });
    std::vector<std::shared_ptr<Supervised>> next;
    for (ServiceSpec &spec : specs) {
        auto it = std::find_if(services_.begin(), services_.end(), [&](const auto &s) { return s->spec == spec; });
        if (it == services_.end()) {
            auto s = std::make_shared<Supervised>(std::move(spec), settings_.limits);
            next.push_back(s);
            spawn(s);
            continue;
        }
        auto s = *it;
        services_.erase(it);
        next.push_back(s);
        switch (s->state) {
        case ServiceState::stopping:
            // Still on its way out: started again once it has gone.
            s->respawn_after_stop = true;
            s->policy.reset(settings_.limits);
            break;
        case ServiceState::given_up:
            VLOG(config, "%s: trying again with the new configuration", s->spec.name.c_str());
            s->policy.reset(settings_.limits);
            spawn(s);
            break;
        case ServiceState::restarting:
        case ServiceState::starting:
            // It reads the new confdb when it starts, or is told at attach().
            s->policy.set_limits(settings_.limits);
            break;
        case ServiceState::running: {
            s->policy.set_limits(settings_.limits);
            s->generation = generation_;
            if (!s->conn) break;
            std::string name = s->spec.name;
            Status sent = s->conn->call(monitor_iface::service, "reload", {}, 30s, [name](Result<sbus::Args> r) {
                if (!r) VLOG(error, "%s did not reload: %s", name.c_str(), r.error().message.c_str());
            });
            if (!sent) VLOG(error, "cannot tell %s to reload: %s", name.c_str(), sent.error().message.c_str());
            break;
        }
        }
    }
    // What is left is no longer configured: stop it; reap() forgets it.
    for (const auto &s : services_) {
        s->restart_timer.cancel();
        s->respawn_after_stop = false;
        if (s->pid == 0) continue;
        next.push_back(s);
        if (s->state == ServiceState::stopping) continue; // already told, and timed
        VLOG(config, "stopping %s (pid %ld): it is no longer in the configuration", s->spec.name.c_str(),
             static_cast<long>(s->pid));
        s->state = ServiceState::stopping;
        s->stop_sent = Clock::now();
        request_stop(s->pid);
    }
    services_ = std::move(next);
    // Re-armed only for a new interval: frequent reloads must not postpone pings.
    if (heartbeat_changed) arm_heartbeat();
    check_settled();
}

void Supervisor::stop_all(std::chrono::milliseconds bound)
{
    stopping_ = true;
    heartbeat_timer_.cancel();
    // Responders first (they use the providers), then the providers; each
    // tier is told at once and waited for within `bound`, in reverse order.
    for (bool providers : {false, true}) {
        std::vector<Supervised *> tier;
        for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
            Supervised &s = **it;
            s.restart_timer.cancel();
            if (s.pid == 0 || s.spec.is_provider != providers) continue;
            request_stop(s.pid);
            tier.push_back(&s);
        }
        const auto deadline = Clock::now() + bound;
        for (Supervised *s : tier) {
            bool killed = false;
            int wait_status = wait_child(s->pid, deadline, &killed);
            if (killed)
                VLOG(error, "%s (pid %ld) did not stop within %lld ms; killed it", s->spec.name.c_str(),
                     static_cast<long>(s->pid), static_cast<long long>(bound.count()));
            else
                VLOG(config, "%s (pid %ld) stopped (%s)", s->spec.name.c_str(), static_cast<long>(s->pid),
                     describe_exit(wait_status).c_str());
            s->pid = 0;
            s->conn.reset();
        }
    }
}

std::vector<ServiceStatus> Supervisor::status() const
{
    std::vector<ServiceStatus> rows;
    const auto now = Clock::now();
    for (const auto &s : services_) {
        ServiceStatus row{s->spec.name, s->pid, s->state, s->restarts, 0s, s->last_event};
        if (s->state == ServiceState::running)
            row.uptime = std::chrono::duration_cast<std::chrono::seconds>(now - s->started);
        rows.push_back(std::move(row));
    }
    return rows;
}

std::vector<std::pair<std::string, std::shared_ptr<sbus::Connection>>>
Supervisor::connections(const std::string &name) const
{
    std::vector<std::pair<std::string, std::shared_ptr<sbus::Connection>>> out;
    for (const auto &s : services_)
        if ((name.empty() || s->spec.name == name) && s->state == ServiceState::running && s->conn)
            out.emplace_back(s->spec.name, s->conn);
    return out;
}

bool Supervisor::knows(const std::string &name) const
{
    return std::any_of(services_.begin(), services_.end(), [&](const auto &s) { return s->spec.name == name; });
}

} // namespace vigil
