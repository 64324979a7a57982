// vigil_policy's work: a refresh at start, then every
// policy_refresh_interval (with a tenth of it as jitter) and on demand;
// each one downloads on the loop, then stores, merges, renders and installs
// on a worker thread (nothing slow on the event loop), then writes the
// status file that `vigilctl policy status` shows. One refresh at a time; a
// request during one gets the next.
#pragma once

#include "policy/downloader.hpp"
#include "policy/policy_settings.hpp"
#include "policy/refresh.hpp"
#include "util/event.hpp"
#include "util/sbus/server.hpp"
#include "util/worker_pool.hpp"

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vigil::policy {

class PolicyDaemon {
public:
    static Result<std::unique_ptr<PolicyDaemon>> start(EventLoop &loop, PolicySettings settings);
    PolicyDaemon(const PolicyDaemon &) = delete;
    PolicyDaemon &operator=(const PolicyDaemon &) = delete;

private:
    enum class Phase { idle, resolving, downloading, applying };

    PolicyDaemon(EventLoop &loop, PolicySettings settings);
    std::vector<sbus::Method> methods();
    void refresh(bool explicit_request);
    void downloaded(Result<Download> download);
    void finished(Result<RefreshReport> report);
    void schedule_next(bool succeeded);
    void write_status();
    void rollback(sbus::Request request);

    EventLoop &loop_;
    PolicySettings settings_;
    CacheIndex index_;
    Downloader downloader_;
    std::unique_ptr<WorkerPool> worker_;
    std::unique_ptr<sbus::Server> server_;
    Timer next_refresh_;
    Phase phase_ = Phase::idle;
    bool again_ = false;                      // a request came during a refresh
    bool again_explicit_ = false;
    std::vector<std::shared_ptr<sbus::Request>> waiting_;       // answered when this refresh ends
    std::vector<std::shared_ptr<sbus::Request>> waiting_next_;  // answered when the next one ends
    std::string fqdn_;
    Download last_download_;                  // host, groups, server, searches of the last download
    std::vector<TypeReport> types_;           // the last outcome of each type
    std::string last_result_;                 // "ok" or "failed: why"
    std::time_t last_refresh_ = 0;
    std::time_t next_at_ = 0;
    int failures_ = 0;                        // in a row: the retry backs off
};

} // namespace vigil::policy
