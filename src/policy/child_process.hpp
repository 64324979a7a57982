// Runs a helper program (the render child, visudo) to completion: feeds it
// stdin, collects stdout and stderr, and bounds both time and output. A
// child that overruns is killed; nothing it does can hang the caller.
#pragma once

#include "util/result.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::policy {

struct ChildLimits {
    std::chrono::milliseconds timeout{30000};
    std::size_t max_output = 64u << 20;  // per stream
};

struct ChildOutcome {
    int exit_code = -1;        // -1 when it was killed by a signal
    int signal = 0;
    std::string out;
    std::string err;
    bool succeeded() const { return exit_code == 0; }
    // "exit status 1: <first lines of stderr>" for error messages.
    std::string describe() const;
};

// argv[0] is the program's path (no PATH search). The child gets an empty
// environment but for _VIGIL_LOOPS=NO, and stdin, stdout, stderr only.
Result<ChildOutcome> run_child(const std::vector<std::string> &argv, std::string_view input,
                               const ChildLimits &limits);

// Splits "prog -a -b" on spaces (for commands kept in configuration).
std::vector<std::string> split_command(std::string_view command);

} // namespace vigil::policy
