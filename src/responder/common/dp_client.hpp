// A responder's line to one domain's provider: "bring the cache up to date
// for this object" and the outcome. Connects on demand; a provider that is
// not there (restarting) is "unavailable", and the responder serves what the
// cache holds.
#pragma once

#include "util/event.hpp"
#include "util/sbus/connection.hpp"
#include "util/sbus/dp_iface.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace vigil::responder {

class DpClient {
public:
    using Done = std::function<void(dp_iface::Outcome, const std::string &message)>;

    // `timeout` bounds each lookup: longer than this and the caller is
    // answered from the cache (or "unavailable") while the provider finishes.
    DpClient(EventLoop &loop, std::string domain, std::string socket_path, std::chrono::milliseconds timeout)
        : loop_(loop), domain_(std::move(domain)), socket_path_(std::move(socket_path)), timeout_(timeout) {}

    void fetch(dp_iface::Lookup lookup, const std::string &key, Done done);
    const std::string &domain() const { return domain_; }

private:
    EventLoop &loop_;
    std::string domain_;
    std::string socket_path_;
    std::chrono::milliseconds timeout_;
    std::shared_ptr<sbus::Connection> conn_;
};

} // namespace vigil::responder
