// vigilctl: the admin's command line. Each command is a row in `commands`.
#include "config.h"
#include "util/config.hpp"

#include <cstdio>
#include <cstring>
#include <getopt.h>
#include <string>
#include <vector>

namespace {

struct Context {
    std::string config_path = VIGIL_CONF_PATH;
    std::vector<std::string> args; // after the command name
};

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

struct Command {
    const char *name;
    const char *help;
    int (*run)(const Context &);
};

constexpr Command commands[] = {
    {"config-check", "validate the configuration and print every problem", config_check},
    {"config-options", "list every known option with its type and default", config_options},
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
    static const struct option options[] = {
        {"config", required_argument, nullptr, 'c'},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    Context ctx;
    opterr = 0;
    int c;
    // GNU getopt permutes, so "vigilctl config-check -c FILE" works too.
    while ((c = getopt_long(argc, argv, ":c:hV", options, nullptr)) != -1) {
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
    for (int i = optind + 1; i < argc; ++i) ctx.args.emplace_back(argv[i]);
    for (const Command &command : commands)
        if (std::strcmp(command.name, name) == 0) return command.run(ctx);
    std::fprintf(stderr, "vigilctl: unknown command '%s'\nTry 'vigilctl --help'.\n", name);
    return 2;
}
