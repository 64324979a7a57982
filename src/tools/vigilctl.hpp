// What vigilctl's commands share: the command line's context, exit codes,
// and the one way to call a daemon.
#pragma once

#include "config.h"
#include "util/config.hpp"
#include "util/result.hpp"
#include "util/sbus/args.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace vigilctl {

// Exit codes of the commands that talk to daemons or read the cache.
constexpr int exit_not_running = 1; // the daemon cannot be reached; or: not in the cache
constexpr int exit_usage = 2;
constexpr int exit_degraded = 3;    // vigild runs, a service does not

struct Context {
    std::string config_path = VIGIL_CONF_PATH;
    std::vector<std::string> args; // after the command name
};

// The configuration, even one with problems (they are announced on stderr).
vigil::ConfigLoad load_config_leniently(const Context &ctx);

// One call over a private socket, waited for (bounded). `reached` says
// whether the daemon was there to answer at all.
vigil::Result<vigil::sbus::Args> call_bus(const std::string &socket, const char *interface, const char *method,
                                          const vigil::sbus::Args &in, bool &reached,
                                          std::chrono::seconds timeout = std::chrono::seconds(30));

int domain_status(const Context &ctx);
int user_show(const Context &ctx);
int group_show(const Context &ctx);
int cache_expire(const Context &ctx);
int policy(const Context &ctx);

} // namespace vigilctl
