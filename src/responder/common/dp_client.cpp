#include "responder/common/dp_client.hpp"

#include "util/log.hpp"

namespace vigil::responder {

void DpClient::fetch(dp_iface::Lookup lookup, const std::string &key, Done done)
{
    if (!conn_ || !conn_->connected()) {
        auto c = sbus::Connection::connect(loop_, socket_path_, {});
        if (!c) {
            done(dp_iface::Outcome::unavailable, "the provider of " + domain_ + " is not running (" +
                                                     c.error().message + ")");
            return;
        }
        conn_ = std::move(*c);
    }
    auto shared = std::make_shared<Done>(std::move(done));
    Status sent = conn_->call(dp_iface::interface, "getAccountInfo", {static_cast<std::uint32_t>(lookup), key},
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
        if (!conn_->connected()) conn_.reset();
        (*shared)(dp_iface::Outcome::unavailable, sent.error().message);
    }
}

} // namespace vigil::responder
