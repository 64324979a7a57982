#include "util/service.hpp"

#include "config.h"
#include "util/confdb.hpp"
#include "util/daemon.hpp"
#include "util/log.hpp"
#include "util/monitor_link.hpp"
#include "util/pidfile.hpp"

#include <algorithm>
#include <cerrno>
#include <optional>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vigil {

struct Service::Monitor {
    std::optional<PidFile> pid_file;
    std::optional<Readiness> readiness; // set when we daemonized: the parent waits on it
};

namespace {

void print_usage(const ServiceInfo &info, FILE *out)
{
    std::fprintf(out,
                 "Usage: %s [OPTION]...\n%s\n\n"
                 "  -c, --config=FILE      configuration file (default: %s)\n"
                 "  -d, --debug-level=N    log level 0-9 (default: debug_level in the config)\n"
                 "  -i, --interactive      stay in the foreground and log to stderr\n"
                 "      --logger=KIND      where logs go: stderr, or files (log_dir/%s.log)\n",
                 info.name, info.summary, VIGIL_CONF_PATH, info.name);
    if (info.needs_domain)
        std::fprintf(out, "      --domain=NAME      the domain this provider serves (required)\n");
    if (!info.is_monitor)
        std::fprintf(out, "      --confdb=PATH, --monitor=SOCKET\n"
                          "                         given by vigild to the services it starts\n");
    std::fprintf(out,
                 "  -h, --help             show this help and exit\n"
                 "  -V, --version          show the version and exit\n");
}

int usage_error(const ServiceInfo &info, const std::string &why)
{
    std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", info.name, why.c_str(), info.name);
    return 2;
}

bool parse_level(const char *text, int &level)
{
    char *end = nullptr;
    errno = 0;
    long n = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n < 0 || n > 9) return false;
    level = static_cast<int>(n);
    return true;
}

std::string log_file_name(const ServiceInfo &info, const std::string &domain)
{
    return domain.empty() ? std::string(info.name) + ".log"
                          : std::string(info.name) + "_" + domain + ".log";
}

} // namespace

int parse_service_options(const ServiceInfo &info, int argc, char **argv, ServiceOptions &out)
{
    enum { opt_logger = 1000, opt_domain, opt_confdb, opt_monitor };
    static const struct option long_options[] = {
        {"config", required_argument, nullptr, 'c'},
        {"debug-level", required_argument, nullptr, 'd'},
        {"interactive", no_argument, nullptr, 'i'},
        {"logger", required_argument, nullptr, opt_logger},
        {"domain", required_argument, nullptr, opt_domain},
        {"confdb", required_argument, nullptr, opt_confdb},
        {"monitor", required_argument, nullptr, opt_monitor},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    out.config_path = VIGIL_CONF_PATH;
    optind = 0; // full re-initialisation: tests parse several command lines
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:d:ihV", long_options, nullptr)) != -1) {
        switch (c) {
        case 'c': out.config_path = optarg; break;
        case 'd':
            if (!parse_level(optarg, out.debug_level))
                return usage_error(info, std::string("--debug-level: '") + optarg + "' is not a level from 0 to 9");
            break;
        case 'i': out.interactive = true; break;
        case opt_logger:
            if (std::strcmp(optarg, "stderr") == 0) out.logger = LoggerKind::stderr_only;
            else if (std::strcmp(optarg, "files") == 0) out.logger = LoggerKind::files;
            else return usage_error(info, std::string("--logger: '") + optarg + "' is not stderr or files");
            break;
        case opt_domain:
            if (!info.needs_domain) return usage_error(info, "--domain is only for vigil_be");
            out.domain = optarg;
            break;
        case opt_confdb: out.confdb_path = optarg; break;
        case opt_monitor:
            if (info.is_monitor) return usage_error(info, "--monitor is for the services vigild starts");
            out.monitor_socket = optarg;
            break;
        case 'h': print_usage(info, stdout); return 0;
        case 'V': std::printf("%s (vigil) %s\n", info.name, PACKAGE_VERSION); return 0;
        case ':': return usage_error(info, std::string("option '") + argv[optind - 1] + "' needs a value");
        default: return usage_error(info, std::string("unknown option '") + argv[optind - 1] + "'");
        }
    }
    if (optind < argc) return usage_error(info, std::string("unexpected argument '") + argv[optind] + "'");
    if (info.needs_domain && out.domain.empty()) return usage_error(info, "--domain NAME is required");
    return -1;
}

Status ensure_private_dir(const std::string &path, unsigned mode)
{
    if (path.empty() || path.front() != '/') return Error{Errc::invalid_argument, "not an absolute path: " + path};
    // Parents first (0755, as a packager's layout would have them).
    for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
        std::string parent = path.substr(0, slash);
        if (mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("mkdir " + parent, errno);
    }
    if (mkdir(path.c_str(), mode) == 0) {
        // mkdir's mode passes through the umask; the mode asked for is the one wanted.
        if (chmod(path.c_str(), mode) != 0) return sys_error("chmod " + path, errno);
        return {};
    }
    if (errno != EEXIST) return sys_error("mkdir " + path, errno);
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return sys_error("stat " + path, errno);
    if (!S_ISDIR(st.st_mode)) return Error{Errc::invalid_config, path + " exists and is not a directory"};
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return Error{Errc::permission, path + " is owned by uid " + std::to_string(st.st_uid) +
                                           ", not by root or by the user running vigil"};
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return Error{Errc::permission, path + " can be written by group or others: run chmod go-w on it"};
    return {};
}

Result<Config> validate_config(const std::string &path)
{
    auto config = read_config(path);
    if (!config) return config;
    const Config &c = *config;
    const std::string state_dir = c.get_string("vigil", "state_dir");
    for (auto [dir, mode] : {std::pair{state_dir, 0755u}, {state_dir + "/db", 0700u},
                             {c.get_string("vigil", "log_dir"), 0750u},
                             {c.get_string("vigil", "run_dir"), 0755u}}) {
        Status st = ensure_private_dir(dir, mode);
        if (!st) return std::move(st).error();
    }
    return config;
}

Status store_config(const Config &config)
{
    auto confdb = Confdb::open(Confdb::path_for(config), Ldb::Mode::read_write);
    if (!confdb) return std::move(confdb).error();
    return confdb->write(config);
}

Service::Service(const ServiceInfo &info, ServiceOptions options)
    : info_(info), options_(std::move(options)), monitor_(std::make_unique<Monitor>())
{
}

Service::~Service() = default;

std::string Service::section() const
{
    if (info_.needs_domain) return "domain/" + options_.domain;
    return info_.section;
}

Status Service::load_config()
{
    if (info_.is_monitor) {
        auto config = validate_config(options_.config_path);
        if (!config) return std::move(config).error();
        // These are fixed for the life of vigild: its pid file, socket and
        // services' confdb path hang on them.
        if (monitor_->pid_file) {
            for (const char *key : {"state_dir", "run_dir", "log_dir"})
                if (config->get_string("vigil", key) != config_.get_string("vigil", key))
                    return Error{Errc::invalid_config, std::string("[vigil] ") + key +
                                                           " cannot change while vigild runs: restart vigild for it"};
            Status stored = store_config(*config);
            if (!stored) return stored;
        }
        config_ = std::move(*config);
        return {};
    }
    std::string confdb_path = options_.confdb_path;
    if (confdb_path.empty()) {
        auto file = read_config(options_.config_path);
        if (!file) return std::move(file).error();
        confdb_path = Confdb::path_for(*file);
    }
    auto confdb = Confdb::open(confdb_path, Ldb::Mode::read_only);
    if (!confdb) return std::move(confdb).error();
    auto config = confdb->read();
    if (!config) return std::move(config).error();
    config_ = std::move(*config);
    if (info_.needs_domain) {
        auto domains = config_.domains();
        if (std::find(domains.begin(), domains.end(), options_.domain) == domains.end())
            return Error{Errc::invalid_config, "domain '" + options_.domain + "' is not in [vigil] domains"};
    }
    return {};
}

Status Service::setup_logging(int level_from_config)
{
    log::set_level(options_.debug_level >= 0 ? options_.debug_level : level_from_config);
    LoggerKind kind = options_.logger;
    if (kind == LoggerKind::automatic) kind = options_.interactive ? LoggerKind::stderr_only : LoggerKind::files;
    logs_to_stderr_ = kind == LoggerKind::stderr_only;
    if (logs_to_stderr_) {
        log::to_stderr();
        return {};
    }
    return log::to_file(config_.get_string("vigil", "log_dir") + "/" + log_file_name(info_, options_.domain));
}

Status Service::install_signals()
{
    auto stop_on = [this](int signum) { handle_stop(signum); };
    for (int signum : {SIGTERM, SIGINT}) {
        auto w = loop_->on_signal(signum, stop_on);
        if (!w) return std::move(w).error();
        watches_.push_back(std::move(*w));
    }
    auto hup = loop_->on_signal(SIGHUP, [this](int) { handle_reload(); });
    if (!hup) return std::move(hup).error();
    watches_.push_back(std::move(*hup));
    return {};
}

Status Service::on_signal(int signum, std::function<void()> handler)
{
    auto w = loop_->on_signal(signum, [handler = std::move(handler)](int) { handler(); });
    if (!w) return std::move(w).error();
    watches_.push_back(std::move(*w));
    return {};
}

void Service::handle_stop(int signum)
{
    VLOG(config, "received SIG%s, stopping", sigabbrev_np(signum));
    stop(EXIT_SUCCESS);
}

void Service::handle_reload()
{
    VLOG(config, "received SIGHUP: reopening the log and re-reading the configuration");
    Status st = reload();
    if (!st) VLOG(error, "%s", st.error().message.c_str());
}

Status Service::reload()
{
    Status reopened = log::reopen();
    if (!reopened) VLOG(error, "%s", reopened.error().message.c_str());
    // A configuration vigild refuses never replaces the one in use.
    Config previous = config_;
    Status loaded = load_config();
    if (!loaded) {
        config_ = std::move(previous);
        return Error{loaded.error().code,
                     "new configuration refused, keeping the previous one:\n" + loaded.error().message};
    }
    if (options_.debug_level < 0) log::set_level(static_cast<int>(config_.get_int(section(), "debug_level")));
    VLOG(config, "configuration reloaded");
    if (reload_) {
        Status st = reload_();
        if (!st) return Error{st.error().code, "reload failed: " + st.error().message};
    }
    return {};
}

void Service::stop(int status)
{
    if (info_.is_monitor) notify_systemd("STOPPING=1");
    auto stops = std::move(stops_);
    stops_.clear();
    for (auto &hook : stops) hook();
    loop_->quit(status);
}

void Service::report_start_failure(const Error &error)
{
    VLOG(fatal, "cannot start: %s", error.message.c_str());
    // The admin who started us must see why, wherever the log goes: after
    // daemonizing the waiting parent prints it, before that stderr is theirs.
    if (monitor_->readiness) {
        monitor_->readiness->failed(error.message);
        monitor_->readiness.reset();
    } else if (!logs_to_stderr_) {
        std::fprintf(stderr, "%s: cannot start: %s\n", info_.name, error.message.c_str());
    }
}

Status Service::start()
{
    setenv("_VIGIL_LOOPS", "NO", 1); // the client modules answer NOTFOUND inside us
    umask(077);
    std::signal(SIGPIPE, SIG_IGN);
    log::set_identity(info_.name, options_.domain);
    log::to_stderr();
    logs_to_stderr_ = true;

    Status st = load_config();
    if (!st) return st;
    st = setup_logging(static_cast<int>(config_.get_int(section(), "debug_level")));
    if (!st) return st;

    if (info_.is_monitor) {
        std::string pid_path = config_.get_string("vigil", "run_dir") + "/vigild.pid";
        auto pid_file = PidFile::acquire(pid_path);
        if (!pid_file) return std::move(pid_file).error();
        monitor_->pid_file.emplace(std::move(*pid_file));
        // Only the instance that holds the pid file writes confdb: a second
        // vigild must not replace what the running one's services read.
        Status stored = store_config(config_);
        if (!stored) return stored;
        if (!options_.interactive) {
            auto readiness = daemonize();
            if (!readiness) return std::move(readiness).error();
            monitor_->readiness.emplace(std::move(*readiness));
            Status rewritten = monitor_->pid_file->rewrite();
            if (!rewritten) return rewritten;
        }
    }

    auto loop = EventLoop::create();
    if (!loop) return std::move(loop).error();
    loop_ = std::move(*loop);
    Status signals = install_signals();
    if (!signals) return signals;
    return {};
}

void Service::announce_ready()
{
    if (ready_announced_) return;
    ready_announced_ = true;
    if (monitor_->readiness) monitor_->readiness->ready();
    monitor_->readiness.reset();
    // Only vigild is systemd's main process; its children must not speak for it.
    if (info_.is_monitor) notify_systemd("READY=1");
}

int Service::run()
{
    // A service registers with vigild only now, once its setup is done: to
    // vigild, registered means ready to serve.
    if (!options_.monitor_socket.empty()) {
        MonitorLink::Hooks hooks{
            .reload = [this] { return reload(); },
            .lost = [this](const std::string &why) {
                VLOG(fatal, "%s; stopping", why.c_str());
                stop(EXIT_FAILURE);
            },
        };
        auto link = MonitorLink::connect(*loop_, options_.monitor_socket, section(), std::move(hooks));
        if (!link) {
            VLOG(fatal, "cannot reach vigild: %s", link.error().message.c_str());
            return EXIT_FAILURE;
        }
        monitor_link_ = std::move(*link);
    }
    if (!readiness_deferred_) announce_ready();
    VLOG(config, "%s started (vigil %s, pid %ld)", info_.name, PACKAGE_VERSION, static_cast<long>(getpid()));
    int status = loop_->run();
    // Before the pid file goes: vigild's supervisor stops the services here.
    monitor_link_.reset();
    kept_.clear();
    VLOG(config, "%s stopped", info_.name);
    return status;
}

int run_service(const ServiceInfo &info, int argc, char **argv, std::function<Status(Service &)> setup)
{
    setenv("_VIGIL_LOOPS", "NO", 1);
    ServiceOptions options;
    int exit_now = parse_service_options(info, argc, argv, options);
    if (exit_now >= 0) return exit_now;
    try {
        Service service(info, std::move(options));
        Status st = service.start();
        if (st) st = setup(service);
        if (!st) {
            service.report_start_failure(st.error());
            return EXIT_FAILURE;
        }
        return service.run();
    } catch (const std::exception &e) {
        VLOG(fatal, "unexpected exception: %s", e.what());
        return EXIT_FAILURE;
    }
}

} // namespace vigil
