// A responder's line to one domain's provider: "bring the cache up to date
// for this object" and the outcome. Connects on demand; a provider that is
// not there (restarting) is "unavailable", and the responder serves what the
// cache holds.
//
// A responder that keeps formatted answers in memory also watches the
// provider: the line is kept open and registered for the provider's
// cacheChanged signal, and `changed` runs for each one, and whenever the line
// is established or lost (what changed meanwhile is unknown). In-memory
// answers are safe only while watching() — the provider is the cache's one
// writer, and it signals every write before it answers the lookup that made it.
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
    DpClient(const DpClient &) = delete;
    DpClient &operator=(const DpClient &) = delete;

    void fetch(dp_iface::Lookup lookup, const std::string &key, Done done);
    const std::string &domain() const { return domain_; }

    // Any other method of the provider's interface, bounded by `timeout`;
    // a provider that is not there is Errc::unavailable.
    using CallDone = std::function<void(Result<sbus::Args>)>;
    void call(const char *method, const sbus::Args &args, std::chrono::milliseconds timeout, CallDone done);

    // Starts watching (see above); reconnects every `retry` while the provider is away.
    // `changed` gets the cacheChanged signal's list (dp_iface.hpp), or nullptr
    // when anything may have changed (a line established or lost).
    using Changed = std::function<void(const sbus::StringList *changes)>;
    void watch(Changed changed, std::chrono::milliseconds retry = std::chrono::seconds(1));
    bool watching() const { return watching_; }

private:
    // The open connection, connected (and registering) now if there is none.
    Result<std::shared_ptr<sbus::Connection>> connection();
    void send_watch();
    void lost(const sbus::Connection *conn);
    void retry_later();

    EventLoop &loop_;
    std::string domain_;
    std::string socket_path_;
    std::chrono::milliseconds timeout_;
    std::shared_ptr<sbus::Connection> conn_;
    Changed changed_; // set: watching is wanted
    std::chrono::milliseconds retry_{1000};
    bool watching_ = false;
    Timer retry_timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace vigil::responder
