// Logging: one line per event, written with a single write(2) so lines from
// several processes sharing a file never interleave. Levels follow SSSD's
// debug levels so admins can keep their habits (0 fatal ... 9 everything).
#pragma once

#include "util/result.hpp"

#include <string>

namespace vigil::log {

enum class Level : int {
    fatal = 0,     // the process cannot go on
    critical = 1,  // a service-wide failure (a backend unusable)
    error = 2,     // one operation failed
    minor = 3,     // a failure that was worked around
    config = 4,    // configuration, start-up and state changes
    info = 5,      // per-request data
    trace = 6,     // steps inside a request
    internal = 7,  // library internals
    all = 9,
};

// Start-up, stop, reloads and state changes are logged by default.
inline constexpr int default_level = 4;

// Who is writing: "vigil_be" and "LDAP" give "vigil_be[1234] [LDAP]".
void set_identity(const std::string &process, const std::string &domain);

// Where lines go. to_file keeps the path so reopen() can follow logrotate.
void to_stderr();
Status to_file(const std::string &path);
Status reopen();

// The level can change at run time (vigilctl debug-level); reads are lock-free.
void set_level(int level);
int level() noexcept;
bool enabled(Level level) noexcept;

// printf-style on purpose: a class such as Secret cannot be passed through
// '...', so a password cannot reach a log line by accident.
void write(Level level, const char *function, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

// Replaces control characters (a newline in an LDAP value could forge a log
// line) with \xNN; exposed for tests.
std::string escape_controls(const char *text);

} // namespace vigil::log

#define VLOG(lvl, ...)                                                        \
    do {                                                                      \
        if (::vigil::log::enabled(::vigil::log::Level::lvl))                  \
            ::vigil::log::write(::vigil::log::Level::lvl, __func__, __VA_ARGS__); \
    } while (0)
