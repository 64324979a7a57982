#include "responder/common/dp_client.hpp"

#include "util/log.hpp"

namespace vigil::responder {

Result<std::shared_ptr<sbus::Connection>> DpClient::connection()
{
    if (conn_ && conn_->connected()) return conn_;
    if (conn_) lost(conn_.get());
    auto c = sbus::Connection::connect(loop_, socket_path_, {});
    if (!c) {
        retry_later();
        return Error{Errc::unavailable,
                     "the provider of " + domain_ + " is not running (" + c.error().message + ")"};
    }
    conn_ = std::move(*c);
    if (!changed_) return conn_;

    std::weak_ptr<bool> alive = alive_;
    const sbus::Connection *raw = conn_.get();
    conn_->on_signal(dp_iface::interface, dp_iface::cache_changed, [this, alive, raw](const sbus::Args &args) {
        if (alive.expired() || conn_.get() != raw) return;
        const auto *list = args.size() == 1 ? std::get_if<sbus::StringList>(&args[0]) : nullptr;
        changed_(list); // no list: a provider that does not say what, so everything
    });
    conn_->on_disconnect([this, alive, raw] {
        if (!alive.expired()) lost(raw);
    });
    send_watch();
    return conn_;
}

void DpClient::send_watch()
{
    // Watching only from the reply on: before it, the provider may not have
    // registered this connection yet, and a write could go unsignalled.
    std::weak_ptr<bool> alive = alive_;
    const sbus::Connection *raw = conn_.get();
    auto again = [this, alive, raw] {
        // A provider that did not answer (stopped, busy) is asked again later;
        // a dead line reports itself through on_disconnect.
        if (!conn_ || !conn_->connected() || retry_timer_.pending()) return;
        retry_timer_ = loop_.after(retry_, [this, alive, raw] {
            if (!alive.expired() && conn_.get() == raw && conn_->connected() && !watching_) send_watch();
        });
    };
    Status sent = conn_->call(dp_iface::interface, "watch", {}, timeout_, [this, alive, raw, again](Result<sbus::Args> r) {
        if (alive.expired() || conn_.get() != raw) return;
        if (!r) {
            VLOG(minor, "provider of %s: cannot watch the cache: %s", domain_.c_str(), r.error().message.c_str());
            again();
            return;
        }
        watching_ = true;
        changed_(nullptr);
    });
    if (!sent) {
        VLOG(minor, "provider of %s: %s", domain_.c_str(), sent.error().message.c_str());
        again();
    }
}

void DpClient::lost(const sbus::Connection *conn)
{
    if (conn_.get() != conn) return; // an older connection, already replaced
    const bool was_watching = watching_;
    watching_ = false;
    if (changed_ && was_watching) {
        VLOG(minor, "provider of %s went away: in-memory answers dropped", domain_.c_str());
        changed_(nullptr);
    }
    retry_later();
}

void DpClient::retry_later()
{
    if (!changed_ || retry_timer_.pending()) return;
    std::weak_ptr<bool> alive = alive_;
    retry_timer_ = loop_.after(retry_, [this, alive] {
        if (alive.expired() || (conn_ && conn_->connected())) return;
        (void)connection(); // failures schedule the next try
    });
}

void DpClient::watch(Changed changed, std::chrono::milliseconds retry)
{
    changed_ = std::move(changed);
    retry_ = retry;
    conn_.reset();
    (void)connection();
}

void DpClient::fetch(dp_iface::Lookup lookup, const std::string &key, Done done)
{
    auto conn = connection();
    if (!conn) {
        done(dp_iface::Outcome::unavailable, conn.error().message);
        return;
    }
    auto shared = std::make_shared<Done>(std::move(done));
    Status sent = (*conn)->call(dp_iface::interface, "getAccountInfo", {static_cast<std::uint32_t>(lookup), key},
                                timeout_, [shared, this](Result<sbus::Args> r) {
                                    if (!r) {
                                        VLOG(minor, "provider of %s: %s", domain_.c_str(), r.error().message.c_str());
                                        (*shared)(dp_iface::Outcome::unavailable, r.error().message);
                                        return;
                                    }
                                    auto outcome = static_cast<dp_iface::Outcome>(sbus::get<std::uint32_t>(*r, 0));
                                    if (outcome > dp_iface::Outcome::error) outcome = dp_iface::Outcome::error;
                                    (*shared)(outcome, sbus::get<std::string>(*r, 1));
                                });
    if (!sent) {
        // A refused argument is this call's problem; only a dead connection
        // is dropped (closing it would drop every other caller's call).
        if (!(*conn)->connected()) lost(conn->get());
        (*shared)(dp_iface::Outcome::unavailable, sent.error().message);
    }
}

void DpClient::call(const char *method, const sbus::Args &args, std::chrono::milliseconds timeout, CallDone done)
{
    auto conn = connection();
    if (!conn) {
        done(std::move(conn).error());
        return;
    }
    auto shared = std::make_shared<CallDone>(std::move(done));
    Status sent = (*conn)->call(dp_iface::interface, method, args, timeout,
                                [shared](Result<sbus::Args> r) { (*shared)(std::move(r)); });
    if (!sent) {
        if (!(*conn)->connected()) lost(conn->get());
        (*shared)(std::move(sent).error());
    }
}

} // namespace vigil::responder
