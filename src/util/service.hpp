// The service skeleton every vigil daemon runs: options, logging, config,
// the event loop with signals, and an orderly stop. A daemon's main() names
// itself and hands over what is particular to it:
//
//   int main(int argc, char **argv) {
//       return vigil::run_service(info, argc, argv, [](Service &svc) -> Status { ... });
//   }
#pragma once

#include "util/config.hpp"
#include "util/event.hpp"
#include "util/result.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace vigil {

struct ServiceInfo {
    const char *name;     // "vigil_be": process name, log file name, config section owner
    const char *section;  // the section whose debug_level applies ("nss", "domain/%s" for be)
    const char *summary;  // one line for --help
    bool needs_domain = false; // vigil_be: --domain NAME
    bool is_monitor = false;   // vigild: validates the file, writes confdb, holds the pid file
};

enum class LoggerKind { automatic, stderr_only, files };

struct ServiceOptions {
    std::string config_path;
    std::string confdb_path; // given by vigild to its children; else found from the config
    std::string monitor_socket; // given by vigild: register there and answer its pings
    std::string domain;
    int debug_level = -1;    // -1: the config's debug_level
    bool interactive = false;
    LoggerKind logger = LoggerKind::automatic;
};

// Parses argv. Returns the exit code to leave with for --help, --version and
// usage errors (having printed what to print), or -1 to go on.
int parse_service_options(const ServiceInfo &info, int argc, char **argv, ServiceOptions &out);

class Service {
public:
    Service(const ServiceInfo &info, ServiceOptions options);
    ~Service();
    Service(const Service &) = delete;
    Service &operator=(const Service &) = delete;

    const ServiceInfo &info() const { return info_; }
    const ServiceOptions &options() const { return options_; }
    const Config &config() const { return config_; }
    EventLoop &loop() { return *loop_; }
    const std::string &domain() const { return options_.domain; }
    // "domain/LDAP" for vigil_be, else the info's section.
    std::string section() const;

    // Called in the loop on SIGHUP after the log file was reopened. An error
    // is logged; the service keeps running on its previous state.
    void on_reload(std::function<Status()> reload) { reload_ = std::move(reload); }
    // Called once, in the loop, when SIGTERM or SIGINT arrives, before it stops.
    void on_stop(std::function<void()> stop) { stops_.push_back(std::move(stop)); }
    // SIGUSR1 / SIGUSR2 (the providers: go offline / online).
    Status on_signal(int signum, std::function<void()> handler);

    // Runs the on_stop hooks (once) and stops the loop; run() then returns `status`.
    void stop(int status);

    // Re-reads the configuration (vigild: validates the file and writes
    // confdb; others: read confdb) and runs the reload hook. On an error the
    // previous configuration stays in use.
    Status reload();

    // Readiness (the waiting parent, sd_notify) is reported when run()
    // starts, unless deferred; then announce_ready() reports it.
    void defer_readiness() { readiness_deferred_ = true; }
    void announce_ready();

    // Keeps an object alive until the loop has stopped (destroyed before it).
    void keep(std::shared_ptr<void> object) { kept_.push_back(std::move(object)); }

    // Everything up to the loop: logging, config, pid file, daemonizing.
    Status start();
    // Runs the loop until stop(); returns the exit status.
    int run();
    // Logs why start() or setup failed and makes sure the admin sees it.
    void report_start_failure(const Error &error);

private:
    Status setup_logging(int level_from_config);
    Status load_config();
    Status install_signals();
    void handle_reload();
    void handle_stop(int signum);

    // Destroyed in reverse order: what the daemon kept (vigild's supervisor
    // stops the services) goes before the loop, and the pid file last, so a
    // new vigild cannot start while this one's services still run.
    const ServiceInfo &info_;
    ServiceOptions options_;
    Config config_;
    struct Monitor; // the pid file and the parent waiting for readiness
    std::unique_ptr<Monitor> monitor_;
    std::unique_ptr<EventLoop> loop_;
    std::vector<Watch> watches_;
    std::function<Status()> reload_;
    std::vector<std::function<void()>> stops_;
    std::vector<std::shared_ptr<void>> kept_;
    std::unique_ptr<class MonitorLink> monitor_link_;
    bool logs_to_stderr_ = true;
    bool readiness_deferred_ = false;
    bool ready_announced_ = false;
};

// The whole life of a daemon: parse, start, setup(service), ready, run.
int run_service(const ServiceInfo &info, int argc, char **argv, std::function<Status(Service &)> setup);

// Loads and validates the config and creates its directories: what vigild
// does at start and on SIGHUP, before it may write confdb.
Result<Config> validate_config(const std::string &path);
// Writes a validated config to confdb (vigild holds the pid file by then).
Status store_config(const Config &config);

// Creates a directory (and missing parents) with `mode`, refusing an existing
// one that group or others can write.
Status ensure_private_dir(const std::string &path, unsigned mode);

} // namespace vigil
