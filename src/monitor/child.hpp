// Starting and stopping the processes vigild supervises.
#pragma once

#include "util/result.hpp"

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vigil {

// Starts `argv[0]` with `argv`. The child gets vigild's environment without
// NOTIFY_SOCKET (only vigild speaks for the unit), stdin on /dev/null, no
// other inherited fd above stderr, default signal dispositions and an empty
// mask, and SIGTERM when vigild dies. A failed exec is returned as an error
// naming the program and errno, not as a child that "exited with 127".
Result<pid_t> spawn_child(const std::vector<std::string> &argv);

// Describes a wait status: "exited with status 1", "was killed by SIGKILL".
std::string describe_exit(int wait_status);

// SIGCONT (so that a stopped process runs), then SIGTERM.
void request_stop(pid_t pid);

// Waits until `pid` exits or `deadline` passes; then SIGKILL and reap it.
// Returns the wait status. For the final stop only: it blocks.
int wait_child(pid_t pid, std::chrono::steady_clock::time_point deadline, bool *was_killed);

} // namespace vigil
