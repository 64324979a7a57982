// vigild: the service controller. It validates the configuration, stores it
// in confdb for every other process, holds the pid file, and supervises one
// vigil_be per domain and the responders named in [vigil] services.
#include "monitor/supervisor.hpp"
#include "util/confdb.hpp"
#include "util/log.hpp"
#include "util/sbus/monitor_iface.hpp"
#include "util/sbus/server.hpp"
#include "util/service.hpp"

#include "config.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <unistd.h>

namespace {

using namespace vigil;
using namespace std::chrono_literals;

const ServiceInfo info{
    .name = "vigild",
    .section = "vigil",
    .summary = "The vigil service controller: validates the configuration and runs the vigil services.",
    .is_monitor = true,
};

// How long the final stop waits for each service before SIGKILL.
constexpr auto stop_bound = 5s;

std::string libexec_dir()
{
    // Tests run the services from the build tree.
    const char *dir = secure_getenv("VIGIL_LIBEXEC_DIR");
    return dir && *dir ? dir : VIGIL_LIBEXEC_DIR;
}

SupervisorSettings settings_for(const Service &svc)
{
    const Config &c = svc.config();
    SupervisorSettings s;
    s.heartbeat = std::chrono::seconds(c.get_int("vigil", "heartbeat"));
    s.heartbeat_misses = static_cast<int>(c.get_int("vigil", "heartbeat_misses"));
    s.limits.limit = static_cast<int>(c.get_int("vigil", "restart_limit"));
    s.limits.window = std::chrono::seconds(c.get_int("vigil", "restart_window"));
    s.libexec_dir = libexec_dir();
    const ServiceOptions &o = svc.options();
    LoggerKind logger = o.logger;
    if (logger == LoggerKind::automatic) logger = o.interactive ? LoggerKind::stderr_only : LoggerKind::files;
    s.common_args = {"-c", o.config_path, "--confdb", Confdb::path_for(c),
                     "--monitor", monitor_iface::socket_path(c.get_string("vigil", "run_dir")),
                     logger == LoggerKind::files ? "--logger=files" : "--logger=stderr"};
    if (o.debug_level >= 0) s.common_args.insert(s.common_args.end(), {"-d", std::to_string(o.debug_level)});
    return s;
}

std::vector<ServiceSpec> services_for(const Config &c)
{
    std::vector<ServiceSpec> specs;
    for (const std::string &d : c.domains()) specs.push_back({"domain/" + d, "vigil_be", {"--domain", d}, true});
    for (const std::string &name : c.get_list("vigil", "services")) specs.push_back({name, "vigil_" + name, {}, false});
    return specs;
}

class Monitor {
public:
    explicit Monitor(Service &svc) : svc_(svc), started_(std::chrono::steady_clock::now()) {}

    Status start()
    {
        const std::string run_dir = svc_.config().get_string("vigil", "run_dir");
        Status st = ensure_private_dir(monitor_iface::private_dir(run_dir), 0700);
        if (!st) return st;
        supervisor_ = std::make_unique<Supervisor>(svc_.loop(), settings_for(svc_));

        std::vector<uid_t> allowed{0};
        if (geteuid() != 0) allowed.push_back(geteuid());
        auto server = sbus::Server::listen(svc_.loop(), monitor_iface::socket_path(run_dir), allowed, methods(), {});
        if (!server) return std::move(server).error();
        server_ = std::move(*server);

        // Before the first child exists, so that no exit goes unnoticed.
        for (auto [signum, handler] : {std::pair<int, void (Monitor::*)(int)>{SIGCHLD, &Monitor::child_exited},
                                       {SIGUSR1, &Monitor::pass_on}, {SIGUSR2, &Monitor::pass_on}}) {
            st = svc_.on_signal(signum, [this, signum, handler] { (this->*handler)(signum); });
            if (!st) return st;
        }
        svc_.on_reload([this] {
            supervisor_->reconfigure(settings_for(svc_), services_for(svc_.config()));
            return Status{};
        });
        svc_.on_stop([this] {
            supervisor_->stop_all(stop_bound);
            server_.reset(); // removes the socket
        });
        svc_.defer_readiness();
        supervisor_->on_settled([this] {
            VLOG(config, "every service has started or failed once: vigild is ready");
            svc_.announce_ready();
        });
        supervisor_->start(services_for(svc_.config()));
        return {};
    }

private:
    void child_exited(int) { supervisor_->reap(); }
    void pass_on(int signum) { supervisor_->signal_providers(signum); }

    std::vector<sbus::Method> methods()
    {
        const char *iface = monitor_iface::monitor;
        return {
            {iface, "register", "s", "", [this](sbus::Request req) { register_service(std::move(req)); }},
            {iface, "status", "", "as", [this](sbus::Request req) { status(std::move(req)); }},
            {iface, "setDebugLevel", "su", "as", [this](sbus::Request req) { set_debug_level(std::move(req)); }},
        };
    }

    void register_service(sbus::Request req)
    {
        auto conn = req.connection();
        if (!conn) return;
        Status st = supervisor_->attach(sbus::get<std::string>(req.args(), 0), conn);
        if (!st) {
            VLOG(error, "registration refused: %s", st.error().message.c_str());
            req.fail(st.error());
            return;
        }
        req.reply({});
    }

    void status(sbus::Request req)
    {
        auto row = [](const std::string &name, pid_t pid, const char *state, int restarts, long long uptime,
                      const std::string &last) {
            return name + "\t" + std::to_string(pid) + "\t" + state + "\t" + std::to_string(restarts) + "\t" +
                   std::to_string(uptime) + "\t" + last;
        };
        sbus::StringList rows;
        auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
        rows.push_back(row(monitor_iface::monitor_name, getpid(), "running", 0, up.count(), ""));
        for (const ServiceStatus &s : supervisor_->status())
            rows.push_back(row(s.name, s.pid, state_name(s.state), s.restarts, s.uptime.count(), s.last_event));
        req.reply({std::move(rows)});
    }

    // target "" is everyone, "vigil" vigild itself, else one service.
    void set_debug_level(sbus::Request req)
    {
        const std::string target = sbus::get<std::string>(req.args(), 0);
        const std::uint32_t level = sbus::get<std::uint32_t>(req.args(), 1);
        if (level > 9) {
            req.fail(Error{Errc::invalid_argument, "a log level is 0 to 9, not " + std::to_string(level)});
            return;
        }
        if (!target.empty() && target != monitor_iface::monitor_name && !supervisor_->knows(target)) {
            req.fail(Error{Errc::not_found, "no service named '" + target + "'"});
            return;
        }
        struct Pending {
            sbus::Request req;
            int waiting = 0;
            sbus::StringList changed;
            std::string errors;
        };
        auto pending = std::make_shared<Pending>(Pending{std::move(req), 0, {}, {}});
        auto finish = [](Pending &p) {
            if (p.waiting > 0) return;
            // Never "unavailable": vigilctl reads that as "vigild is not running".
            if (!p.errors.empty()) p.req.fail(Error{Errc::internal, p.errors});
            else p.req.reply({p.changed});
        };
        if (target.empty() || target == monitor_iface::monitor_name) {
            log::set_level(static_cast<int>(level));
            VLOG(config, "log level set to %u", level);
            pending->changed.push_back(monitor_iface::monitor_name);
        }
        if (target != monitor_iface::monitor_name) {
            auto conns = supervisor_->connections(target);
            if (conns.empty() && !target.empty()) {
                pending->req.fail(Error{Errc::not_found, target + " is not running now"});
                return;
            }
            for (auto &[name, conn] : conns) {
                Status sent = conn->call(monitor_iface::service, "setDebugLevel", {level}, 5s,
                                         [pending, finish, name](Result<sbus::Args> r) {
                                             pending->waiting -= 1;
                                             if (r) pending->changed.push_back(name);
                                             else pending->errors += name + ": " + r.error().message + "\n";
                                             finish(*pending);
                                         });
                if (sent) pending->waiting += 1;
                else pending->errors += name + ": " + sent.error().message + "\n";
            }
        }
        finish(*pending);
    }

    Service &svc_;
    std::chrono::steady_clock::time_point started_;
    std::unique_ptr<Supervisor> supervisor_;
    std::unique_ptr<sbus::Server> server_;
};

Status start_monitor(Service &svc)
{
    std::string domains;
    for (const std::string &d : svc.config().domains()) domains += (domains.empty() ? "" : ", ") + d;
    VLOG(config, "configuration %s accepted; domains: %s", svc.options().config_path.c_str(), domains.c_str());
    auto monitor = std::make_shared<Monitor>(svc);
    svc.keep(monitor);
    return monitor->start();
}

} // namespace

int main(int argc, char **argv) { return run_service(info, argc, argv, start_monitor); }
