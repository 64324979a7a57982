// auth_provider = ldap: password checks and changes by simple bind as the
// user, for the provider's PAM handlers.
//
// Each request opens a connection of its own with the Connector (TCP, TLS,
// no bind: the identity connection is never used, so a user's bind cannot
// change who the identity searches run as), binds as the user with the
// asynchronous ldap_sasl_bind on the event loop, then unbinds and closes.
// No pool: a login costs one TCP and TLS handshake, and no connection ever
// carries one user's identity into another user's request.
//
// Rules, checked before anything reaches the network:
//  - an empty password is refused (a simple bind with an empty password is
//    an unauthenticated bind, which "succeeds");
//  - no TLS, no password: an ldap:// URI needs ldap_id_use_start_tls = true
//    (ldaps:// is TLS from the start), and TLS is checked on the connected
//    handle before the bind is sent, unless
//    ldap_auth_disable_tls_never_use_in_production = true;
//  - passwords travel as Secret (wiped, never printed) and are wiped from
//    the request once sent; no log line names a password.
//
// Password change (RFC 3062, the password modify extended operation), on
// ldap_chpass_uri when set, else ldap_uri:
//  - change_password: bound as the user with the old password; the server
//    checks it again and applies its policy; a refusal comes back with the
//    server's text for the PAM conversation;
//  - reset_password: no old password, bound as ldap_default_bind_dn (the
//    account the directory admin gave the right to write userPassword). The
//    PAM side calls it only for a request from root on the private socket
//    (pam_chauthtok by uid 0); anyone else must use change_password.
//
// Every callback runs once, on the loop, never inside the call that started
// it; destroying the PasswordAuth abandons what is in flight silently.
// Failover: a server that cannot be reached is skipped for the next URI; a
// server that took the bind and did not answer within ldap_opt_timeout
// ends the request as unavailable (the password is not sent twice).
#pragma once

#include "providers/ldap/ldap_connect.hpp"
#include "providers/ldap/ldap_settings.hpp"
#include "util/config.hpp"
#include "util/event.hpp"
#include "util/secret.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::ldap {

// ldap_pwd_policy: which expiry rules the PAM side applies after a good bind.
enum class PwdPolicy { none, shadow };

struct AuthSettings {
    LdapSettings ldap;                      // ldap_uri, TLS, timeouts; the bind DN only for resets
    std::vector<std::string> chpass_uris;   // ldap_chpass_uri; empty: ldap.uris
    bool allow_without_tls = false;         // ldap_auth_disable_tls_never_use_in_production
    PwdPolicy pwd_policy = PwdPolicy::none; // ldap_pwd_policy

    static Result<AuthSettings> from_config(const Config &config, const std::string &domain);
};

enum class AuthOutcome {
    ok,
    wrong_password,   // also an unknown DN and an empty password (PAM_AUTH_ERR)
    account_locked,   // locked or disabled, as the server said (PAM_PERM_DENIED)
    password_expired, // the password is right but must be changed (PAM_NEW_AUTHTOK_REQD)
    expired_no_grace, // right, but expired and the server allows no more logins, not even to change it:
                      // only an administrator's reset helps (PAM_ACCT_EXPIRED)
    unavailable,      // no server answered in time (PAM_AUTHINFO_UNAVAIL; offline rules apply)
    error,            // refused by configuration (no TLS) or a server error (PAM_SYSTEM_ERR)
};

enum class ChangeOutcome {
    ok,
    wrong_password, // the old password (or the reset account's) was refused
    account_locked,
    rejected,       // the server refused the new password: message holds its reason
    unavailable,
    error,
};

struct AuthAnswer {
    AuthOutcome outcome = AuthOutcome::error;
    std::string message; // for the log and, where it helps, the PAM conversation
    // From the server's password policy response (draft-behera ppolicy), when sent:
    int expires_in = -1;       // seconds until the password expires
    int grace_logins_left = -1;
};

struct ChangeAnswer {
    ChangeOutcome outcome = ChangeOutcome::error;
    std::string message; // for `rejected`: the server's text, for the PAM conversation
};

const char *auth_outcome_name(AuthOutcome o) noexcept;

// What the password policy response says to the user after a bind that
// took: the grace logins left (the password has expired), or the time
// until it expires. Empty when the server sent neither.
std::vector<std::string> policy_notices(const AuthAnswer &answer);
const char *change_outcome_name(ChangeOutcome o) noexcept;

// What one bind result means; pure, so every code is unit-tested.
// `ppolicy_error` is the password policy response's error (-1: none or no
// control), `diag` the server's diagnostic message.
AuthAnswer classify_bind(int ldap_code, std::string_view diag, int ppolicy_error);
// What the password modify result means (after a successful bind).
ChangeAnswer classify_change(int ldap_code, std::string_view diag, int ppolicy_error);

class PasswordAuth {
public:
    using AuthDone = std::function<void(AuthAnswer)>;
    using ChangeDone = std::function<void(ChangeAnswer)>;

    PasswordAuth(EventLoop &loop, AuthSettings settings);
    ~PasswordAuth();
    PasswordAuth(const PasswordAuth &) = delete;
    PasswordAuth &operator=(const PasswordAuth &) = delete;

    void authenticate(std::string user_dn, Secret password, AuthDone done);
    void change_password(std::string user_dn, Secret old_password, Secret new_password, ChangeDone done);
    void reset_password(std::string user_dn, Secret new_password, ChangeDone done);

    std::size_t in_flight() const { return requests_.size(); }

    // Connections being opened at once (each a Connector worker thread, of
    // the process's 16): more requests wait in line, each no longer than a
    // connection attempt may take, so that a burst of logins neither fails
    // for want of a worker nor starves the identity provider of them.
    static constexpr std::size_t max_connecting = 8;
    const AuthSettings &settings() const { return settings_; }

private:
    struct Request;
    struct Verdict;
    std::uint64_t admit(std::unique_ptr<Request> req);
    void connect(std::uint64_t id);
    void slot_freed();
    void connected(std::uint64_t id, Result<Connected> result);
    void send_bind(std::uint64_t id);
    void send_change(std::uint64_t id);
    void arm_deadline(std::uint64_t id);
    void readable(std::uint64_t id);
    void answered(std::uint64_t id, LDAPMessage *msg);
    void conclude(std::uint64_t id, Verdict verdict);
    void conclude_later(std::uint64_t id, Verdict verdict);

    EventLoop &loop_;
    AuthSettings settings_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, std::unique_ptr<Request>> requests_;
    std::size_t connecting_ = 0;
    std::deque<std::uint64_t> waiting_for_slot_; // may hold ids already concluded: skipped
};

} // namespace vigil::ldap
