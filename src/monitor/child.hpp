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
// other inherited fd above stderr, default signal dispositions and mask, and
// SIGTERM when vigild dies.
Result<pid_t> spawn_child(const std::vector<std::string> &argv);

// Describes a wait status: "exited with status 1", "was killed by SIGKILL".
std::string describe_exit(int wait_status);

// Sends SIGTERM (and SIGCONT, so a stopped process gets it) and waits up to
// `bound` for the process to exit; then SIGKILL and reaps it. Returns the
// wait status. For the final stop only: it blocks.
int stop_child(pid_t pid, std::chrono::milliseconds bound, bool *was_killed = nullptr);

} // namespace vigil
