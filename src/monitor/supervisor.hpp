// vigild's supervision: it starts every service, pings each over sbus,
// restarts one that exits or hangs (with backoff), gives up on a crash loop
// and says so, and stops them all in reverse order.
//
// A service's life is one explicit state:
//
//   starting ──register──► running ──exit / hung──► restarting ──timer──► starting
//       │                     │                         └──(limit)──► given_up
//       └──────(no register within the bound: hung)─────┘
//   any ──(removed from the config, or vigild stops)──► stopping ──► gone
#pragma once

#include "monitor/restart_policy.hpp"
#include "util/event.hpp"
#include "util/result.hpp"
#include "util/sbus/connection.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vigil {

// One process to supervise, named as vigilctl and the config name it:
// "domain/LDAP" (a vigil_be), "nss", "pam", "policy", "ifp".
struct ServiceSpec {
    std::string name;
    std::string binary;            // "vigil_be", found in the libexec dir
    std::vector<std::string> args; // particular to it: --domain LDAP
    bool is_provider = false;      // gets SIGUSR1/SIGUSR2; started first, stopped last
    bool operator==(const ServiceSpec &) const = default;
};

struct SupervisorSettings {
    std::chrono::seconds heartbeat{10};
    int heartbeat_misses = 3;
    RestartPolicy::Limits limits;
    std::string libexec_dir;
    std::vector<std::string> common_args; // given to every service: --confdb, --monitor, --logger
};

enum class ServiceState { starting, running, restarting, given_up, stopping };
const char *state_name(ServiceState state);

struct ServiceStatus {
    std::string name;
    pid_t pid = 0;
    ServiceState state = ServiceState::starting;
    int restarts = 0;
    std::chrono::seconds uptime{0};
    std::string last_event;
};

class Supervisor {
public:
    Supervisor(EventLoop &loop, SupervisorSettings settings);
    ~Supervisor();
    Supervisor(const Supervisor &) = delete;
    Supervisor &operator=(const Supervisor &) = delete;

    // Starts every service (providers first) and the heartbeat.
    void start(std::vector<ServiceSpec> specs);
    // Runs once, when every service has registered or failed once since start:
    // vigild reports readiness then.
    void on_settled(std::function<void()> callback) { on_settled_ = std::move(callback); }

    // A new configuration: running services are told to reload, new ones are
    // started, removed ones stopped, and given-up ones get another chance.
    void reconfigure(SupervisorSettings settings, std::vector<ServiceSpec> specs);

    // A service connected and said its name. Only a process this supervisor
    // started, under the name it was started as, is accepted.
    Status attach(const std::string &name, const std::shared_ptr<sbus::Connection> &conn);

    // SIGCHLD: collects every exited child.
    void reap();
    // Passes SIGUSR1/SIGUSR2 on to the providers.
    void signal_providers(int signum);
    // The final stop: responders, then providers, each tier waited for up to
    // `bound` and then killed. Blocks.
    void stop_all(std::chrono::milliseconds bound);

    std::vector<ServiceStatus> status() const;
    // The services with this name ("" for all that run) and their connections.
    std::vector<std::pair<std::string, std::shared_ptr<sbus::Connection>>> connections(const std::string &name) const;
    bool knows(const std::string &name) const;

private:
    struct Supervised;

    void spawn(const std::shared_ptr<Supervised> &s);
    void heartbeat();
    void ping(const std::shared_ptr<Supervised> &s);
    void kill_hung(Supervised &s, const std::string &why);
    void exited(const std::shared_ptr<Supervised> &s, int wait_status);
    void schedule_restart(const std::shared_ptr<Supervised> &s);
    void check_settled();
    void arm_heartbeat();

    EventLoop &loop_;
    SupervisorSettings settings_;
    std::vector<std::shared_ptr<Supervised>> services_; // providers first, then responders
    Timer heartbeat_timer_;
    std::function<void()> on_settled_;
    bool settled_ = false;
    bool stopping_ = false;
    std::uint64_t generation_ = 0; // bumped by every reconfigure()
};

} // namespace vigil
