// vigilctl: the admin's command line. Each command is a row in `commands`.
#include "tools/vigilctl.hpp"

#include "config.h"
#include "util/event.hpp"
#include "util/log.hpp"
#include "util/sbus/connection.hpp"
#include "util/sbus/monitor_iface.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <getopt.h>
#include <string>
#include <vector>

namespace vigilctl {

using namespace std::chrono_literals;

vigil::ConfigLoad load_config_leniently(const Context &ctx)
{
    // A file broken since the daemons read it must not hide them from the
    // admin: the paths are taken from it if those options are sound.
    vigil::ConfigLoad load = vigil::load_config(ctx.config_path);
    if (!load.ok())
        std::fprintf(stderr, "vigilctl: warning: %s has %zu problem%s ('vigilctl config-check' lists them)\n",
                     ctx.config_path.c_str(), load.problems.size(), load.problems.size() == 1 ? "" : "s");
    return load;
}

vigil::Result<vigil::sbus::Args> call_bus(const std::string &socket, const char *interface, const char *method,
                                          const vigil::sbus::Args &in, bool &reached, std::chrono::seconds timeout)
{
    reached = false;
    auto loop = vigil::EventLoop::create();
    if (!loop) return std::move(loop).error();
    auto conn = vigil::sbus::Connection::connect(**loop, socket, {});
    if (!conn) return vigil::Error{vigil::Errc::unavailable, conn.error().message};
    vigil::Result<vigil::sbus::Args> result = vigil::Error{vigil::Errc::internal, "no answer"};
    vigil::Status sent = (*conn)->call(interface, method, in, timeout, [&](vigil::Result<vigil::sbus::Args> r) {
        result = std::move(r);
        (*loop)->quit(0);
    });
    if (!sent) return std::move(sent).error();
    (*loop)->run();
    (*conn)->close();
    // The daemons' own refusals are never "unavailable": that is the
    // transport (authentication refused for our uid, or the daemon gone).
    reached = result || result.error().code != vigil::Errc::unavailable;
    return result;
}

} // namespace vigilctl

namespace {

using namespace vigilctl;
using namespace std::chrono_literals;

// Prints every problem the daemons would refuse; exit 1 when there is one.
int config_check(const Context &ctx)
{
    if (!ctx.args.empty()) {
        std::fprintf(stderr, "vigilctl: config-check takes no argument (use -c FILE)\n");
        return 2;
    }
    vigil::ConfigLoad load = vigil::load_config(ctx.config_path);
    for (const vigil::Problem &p : load.problems) std::printf("%s\n", p.to_string().c_str());
    if (!load.ok()) {
        std::printf("%zu problem%s: the configuration is refused\n", load.problems.size(),
                    load.problems.size() == 1 ? "" : "s");
        return 1;
    }
    std::string domains;
    for (const std::string &d : load.config.domains()) domains += (domains.empty() ? "" : ", ") + d;
    std::printf("%s: the configuration is valid (domains: %s)\n", ctx.config_path.c_str(), domains.c_str());
    return 0;
}

// The option table, one row per line: section, option, type, default.
int config_options(const Context &ctx)
{
    if (!ctx.args.empty()) {
        std::fprintf(stderr, "vigilctl: config-options takes no argument\n");
        return 2;
    }
    for (const vigil::OptionSpec &spec : vigil::option_table()) {
        std::string section(vigil::section_kind_name(spec.section));
        if (spec.section == vigil::SectionKind::domain) section += "/NAME";
        std::string def = spec.required ? "(required)" : std::string(spec.default_value);
        std::printf("%s\t%.*s\t%.*s\t%s\n", section.c_str(), static_cast<int>(spec.name.size()),
                    spec.name.data(), static_cast<int>(vigil::opt_type_name(spec.type).size()),
                    vigil::opt_type_name(spec.type).data(), def.c_str());
    }
    return 0;
}

// One call to vigild over its private socket, waited for (bounded).
vigil::Result<vigil::sbus::Args> call_monitor(const Context &ctx, const char *method, const vigil::sbus::Args &in,
                                              bool &reached)
{
    vigil::ConfigLoad load = load_config_leniently(ctx);
    const std::string socket = vigil::monitor_iface::socket_path(load.config.get_string("vigil", "run_dir"));
    auto r = call_bus(socket, vigil::monitor_iface::monitor, method, in, reached);
    if (!r && !reached) return vigil::Error{r.error().code, "vigild is not running (" + r.error().message + ")"};
    return r;
}

std::vector<std::string> split_tabs(const std::string &row)
{
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
        std::size_t tab = row.find('\t', start);
        fields.push_back(row.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) return fields;
        start = tab + 1;
    }
}

std::string format_uptime(long long s)
{
    char buf[64];
    if (s >= 86400) std::snprintf(buf, sizeof buf, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%llds", s);
    return buf;
}

// Every service with its pid, state, restarts and uptime. Exit 0 when all
// run, 3 when one does not, 1 when vigild itself cannot be reached.
int status(const Context &ctx)
{
    if (!ctx.args.empty()) {
        std::fprintf(stderr, "vigilctl: status takes no argument\n");
        return exit_usage;
    }
    bool reached;
    auto reply = call_monitor(ctx, "status", {}, reached);
    if (!reply) {
        std::fprintf(stderr, "vigilctl: %s\n", reply.error().message.c_str());
        return exit_not_running;
    }
    int rc = 0;
    std::printf("%-16s %8s  %-10s %8s  %-8s %s\n", "SERVICE", "PID", "STATE", "RESTARTS", "UPTIME", "LAST EVENT");
    for (const std::string &row : vigil::sbus::get<vigil::sbus::StringList>(*reply, 0)) {
        auto f = split_tabs(row);
        if (f.size() != vigil::monitor_iface::status_fields) {
            std::fprintf(stderr, "vigilctl: vigild sent a status row it does not understand: %s\n", row.c_str());
            return exit_not_running;
        }
        bool running = f[2] == "running";
        if (!running) rc = exit_degraded;
        std::printf("%-16s %8s  %-10s %8s  %-8s %s\n", f[0].c_str(), f[1] == "0" ? "-" : f[1].c_str(), f[2].c_str(),
                    f[3].c_str(), running ? format_uptime(std::atoll(f[4].c_str())).c_str() : "-", f[5].c_str());
    }
    return rc;
}

// debug-level N [SERVICE]: vigild and every service, or one of them.
int debug_level(const Context &ctx)
{
    if (ctx.args.empty() || ctx.args.size() > 2) {
        std::fprintf(stderr, "vigilctl: usage: debug-level N [SERVICE]  (SERVICE: vigil, nss, pam, policy, ifp, "
                             "domain/NAME; all when omitted)\n");
        return exit_usage;
    }
    char *end = nullptr;
    long level = std::strtol(ctx.args[0].c_str(), &end, 10);
    if (ctx.args[0].empty() || *end != '\0' || level < 0 || level > 9) {
        std::fprintf(stderr, "vigilctl: '%s' is not a log level from 0 to 9\n", ctx.args[0].c_str());
        return exit_usage;
    }
    std::string target = ctx.args.size() == 2 ? ctx.args[1] : "";
    bool reached;
    auto reply = call_monitor(ctx, "setDebugLevel", {target, static_cast<std::uint32_t>(level)}, reached);
    if (!reply) {
        std::fprintf(stderr, "vigilctl: %s\n", reply.error().message.c_str());
        return reached ? 1 : exit_not_running;
    }
    for (const std::string &name : vigil::sbus::get<vigil::sbus::StringList>(*reply, 0))
        std::printf("%s: log level %ld\n", name.c_str(), level);
    return 0;
}

struct Command {
    const char *name;
    const char *help;
    int (*run)(const Context &);
};

constexpr Command commands[] = {
    {"config-check", "validate the configuration and print every problem", config_check},
    {"config-options", "list every known option with its type and default", config_options},
    {"status", "every service with its pid, state, restarts and uptime", status},
    {"debug-level", "N [SERVICE]: change log levels at runtime", debug_level},
    {"domain-status", "DOMAIN: online or offline, the server in use, the next probe", domain_status},
    {"user-show", "NAME: what the cache holds for a user, with its timestamps", user_show},
    {"group-show", "NAME: what the cache holds for a group, with its timestamps", group_show},
    {"cache-expire", "--user NAME | --group NAME | --everything [--domain D]: mark entries expired", cache_expire},
    {"policy", "status | refresh | diff TYPE | rollback TYPE: the policy downloader", policy},
};

void usage(FILE *out)
{
    std::fprintf(out,
                 "Usage: vigilctl [-c FILE] COMMAND [ARG]...\n"
                 "Administer vigil.\n\n"
                 "  -c, --config=FILE   configuration file (default: %s)\n"
                 "  -h, --help          show this help and exit\n"
                 "  -V, --version       show the version and exit\n\n"
                 "Commands:\n",
                 VIGIL_CONF_PATH);
    for (const Command &c : commands) std::fprintf(out, "  %-18s  %s\n", c.name, c.help);
}

} // namespace

int main(int argc, char **argv)
{
    vigil::log::set_identity("vigilctl", "");
    vigil::log::set_level(1); // only what stops the tool; errors are printed as messages
    static const struct option options[] = {
        {"config", required_argument, nullptr, 'c'},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    Context ctx;
    opterr = 0;
    int c;
    // Options end at the command ("+"): what follows belongs to it
    // (cache-expire --user NAME). -c FILE may still come after it.
    while ((c = getopt_long(argc, argv, "+:c:hV", options, nullptr)) != -1) {
        switch (c) {
        case 'c': ctx.config_path = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': std::printf("vigilctl (vigil) %s\n", PACKAGE_VERSION); return 0;
        case ':':
            std::fprintf(stderr, "vigilctl: option '%s' needs a value\n", argv[optind - 1]);
            return 2;
        default:
            std::fprintf(stderr, "vigilctl: unknown option '%s'\nTry 'vigilctl --help'.\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[optind];
    for (int i = optind + 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-c" || a == "--config") && i + 1 < argc) ctx.config_path = argv[++i];
        else if (a.starts_with("--config=")) ctx.config_path = a.substr(9);
        else ctx.args.push_back(std::move(a));
    }
    for (const Command &command : commands)
        if (std::strcmp(command.name, name) == 0) return command.run(ctx);
    std::fprintf(stderr, "vigilctl: unknown command '%s'\nTry 'vigilctl --help'.\n", name);
    return 2;
}
