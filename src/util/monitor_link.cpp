#include "util/monitor_link.hpp"

#include "util/log.hpp"
#include "util/sbus/monitor_iface.hpp"

namespace vigil {

using namespace std::chrono_literals;

Result<std::unique_ptr<MonitorLink>> MonitorLink::connect(EventLoop &loop, const std::string &socket_path,
                                                          const std::string &name, Hooks hooks)
{
    auto shared_hooks = std::make_shared<Hooks>(std::move(hooks));
    std::weak_ptr<Hooks> weak = shared_hooks;
    const char *iface = monitor_iface::service;
    std::vector<sbus::Method> methods = {
        {iface, "ping", "", "", [](sbus::Request req) { req.reply({}); }},
        {iface, "reload", "", "",
         [weak](sbus::Request req) {
             auto h = weak.lock();
             Status st = h && h->reload ? h->reload() : Status{};
             if (st) req.reply({});
             else req.fail(st.error());
         }},
        {iface, "setDebugLevel", "u", "",
         [](sbus::Request req) {
             std::uint32_t level = sbus::get<std::uint32_t>(req.args(), 0);
             if (level > 9) {
                 req.fail(Error{Errc::invalid_argument, "a log level is 0 to 9, not " + std::to_string(level)});
                 return;
             }
             log::set_level(static_cast<int>(level));
             VLOG(config, "log level set to %u by vigild", level);
             req.reply({});
         }},
    };
    auto conn = sbus::Connection::connect(loop, socket_path, std::move(methods));
    if (!conn) return std::move(conn).error();
    std::unique_ptr<MonitorLink> link(new MonitorLink());
    link->conn_ = std::move(*conn);
    link->hooks_ = shared_hooks;
    link->conn_->on_disconnect([weak] {
        if (auto h = weak.lock(); h && h->lost) h->lost("vigild closed the connection");
    });
    Status sent = link->conn_->call(monitor_iface::monitor, "register", {name}, 10s, [weak](Result<sbus::Args> r) {
        if (r) {
            VLOG(config, "registered with vigild");
            return;
        }
        if (auto h = weak.lock(); h && h->lost) h->lost("vigild refused the registration: " + r.error().message);
    });
    if (!sent) return std::move(sent).error();
    return link;
}

MonitorLink::~MonitorLink()
{
    hooks_.reset(); // closing is not "lost": no callback from here on
    if (conn_) conn_->close();
}

} // namespace vigil
