// The host principal's TGT for the GSSAPI-bound identity connection
// (ldap_sasl_mech = GSSAPI with ldap_krb5_init_creds = true), as SSSD's
// ldap_child gets it: vigil_krb5_child (command host_tgt) reads the keytab,
// asks the KDC and stores the TGT in a root-only FILE ccache under the state
// dir; vigil_be never calls libkrb5 itself, so the KDC cannot stall its loop.
//
// The TGT is got before the first bind, again at three quarters of its life
// (a timer: the next reconnect, and vigil_policy's binds, find a live one),
// and again whenever a bind fails (ensure(renew = true): an expired ticket or
// a ccache someone removed). A refresh that fails (the KDC is down) leaves
// the old TGT in use while it has an eighth of its life left, and is tried
// again after offline_timeout (retry), whoever started it. One child at a
// time; callers that ask while it runs share its outcome.
#pragma once

#include "util/async_child.hpp"
#include "util/event.hpp"
#include "util/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace vigil::krb5 {

struct HostTgtSettings {
    std::string realm;       // ldap_sasl_realm, else krb5_realm
    std::string principal;   // ldap_sasl_authid; empty: host/<FQDN>@realm (the child finds the FQDN)
    std::string keytab;      // ldap_krb5_keytab; empty: the profile's default
    std::string ccname;      // FILE:STATE_DIR/krb5/host/DOMAIN.ccache
    std::string krb5_config; // the generated profile, then the base
    std::string child_path;  // vigil_krb5_child
    std::uint32_t lifetime = 86400;          // ldap_krb5_ticket_lifetime
    std::chrono::seconds timeout{6};         // krb5_auth_timeout: the child's bound
    std::chrono::seconds retry{60};          // offline_timeout: after a failed refresh
};

class HostTgt {
public:
    using Done = std::function<void(Status)>;
    using Clock = std::chrono::system_clock; // ticket times are wall-clock times
    // A TGT with less life left than this when the child answers is a
    // failure (Errc::permission), not one to refresh every second.
    static constexpr std::chrono::seconds min_life{10};

    HostTgt(EventLoop &loop, HostTgtSettings settings) : loop_(loop), settings_(std::move(settings)) {}
    HostTgt(const HostTgt &) = delete;
    HostTgt &operator=(const HostTgt &) = delete;

    // `done` runs once: at once (inside this call) when a TGT got by this
    // process is still good and `renew` is false (a refresh that is due is
    // started meanwhile), else when the child has answered. Errors: Errc::unavailable (no KDC answered, or not
    // in krb5_auth_timeout), Errc::invalid_config (no keytab, the principal
    // not in it, a stale key), Errc::permission (clock skew, the KDC refused,
    // a TGT with less than min_life left),
    // Errc::internal; the message says which and is logged.
    void ensure(bool renew, Done done);

    const HostTgtSettings &settings() const { return settings_; }
    // How many TGTs this process got (status and tests).
    std::uint64_t obtained() const { return obtained_; }

private:
    void start_child();
    void child_done(Result<AsyncChildOutcome> outcome);
    void conclude(const Status &status);
    void arm_refresh(std::chrono::milliseconds in);

    EventLoop &loop_;
    HostTgtSettings settings_;
    std::unique_ptr<AsyncChild> child_;
    std::vector<Done> waiting_;
    Clock::time_point refresh_at_{}; // three quarters of the TGT's life
    Clock::time_point good_until_{}; // seven eighths; epoch: no TGT got yet
    Timer refresh_timer_;                              // a refresh, or a retry after a failed one
    std::chrono::steady_clock::time_point refresh_due_{}; // when refresh_timer_ fires
    std::uint64_t obtained_ = 0;
};

} // namespace vigil::krb5
