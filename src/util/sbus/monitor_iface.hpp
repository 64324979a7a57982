// The control interface between vigild and the services it supervises, and
// between vigilctl and vigild. One place for the names, so the monitor, the
// services and the tool cannot drift apart.
//
//   service → vigild   org.vigil.Monitor.register(s name)
//   vigilctl → vigild  org.vigil.Monitor.status() → as rows (see StatusRow)
//                      org.vigil.Monitor.setDebugLevel(s target, u level) → as names
//   vigild → service   org.vigil.Service.ping(), reload(), setDebugLevel(u level)
#pragma once

#include <string>

namespace vigil::monitor_iface {

inline constexpr const char *monitor = "org.vigil.Monitor";
inline constexpr const char *service = "org.vigil.Service";

// The monitor's socket, in the 0700 private dir under run_dir.
inline std::string private_dir(const std::string &run_dir) { return run_dir + "/private"; }
inline std::string socket_path(const std::string &run_dir) { return private_dir(run_dir) + "/sbus-monitor"; }

// The name vigild goes by in status and debug-level ("vigil", its config section).
inline constexpr const char *monitor_name = "vigil";

// One status row is tab-separated: name, pid (0 when none), state, restarts,
// uptime in seconds (0 when not running), and what happened last (may be empty).
inline constexpr int status_fields = 6;

} // namespace vigil::monitor_iface
