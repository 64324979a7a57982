// A service's line to vigild: it registers under its name, answers pings,
// reloads and log level changes, and learns when vigild goes away (the
// service then stops: nothing would restart it or stop it later).
#pragma once

#include "util/event.hpp"
#include "util/result.hpp"
#include "util/sbus/connection.hpp"

#include <functional>
#include <memory>
#include <string>

namespace vigil {

class MonitorLink {
public:
    struct Hooks {
        std::function<Status()> reload;           // vigild got SIGHUP and a valid config
        std::function<void(const std::string &)> lost; // why the link is gone
    };

    static Result<std::unique_ptr<MonitorLink>> connect(EventLoop &loop, const std::string &socket_path,
                                                        const std::string &name, Hooks hooks);
    ~MonitorLink();
    MonitorLink(const MonitorLink &) = delete;
    MonitorLink &operator=(const MonitorLink &) = delete;

private:
    MonitorLink() = default;
    std::shared_ptr<sbus::Connection> conn_;
    std::shared_ptr<Hooks> hooks_;
};

} // namespace vigil
