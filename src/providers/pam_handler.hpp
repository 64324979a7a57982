// The provider's side of a PAM request (org.vigil.DataProvider.pam): what
// the directory, the access rules and the cached credentials say about one
// of this domain's users.
//
//   authenticate  an empty password is refused before anything else; online,
//                 the directory decides (auth_provider), and with
//                 cache_credentials = true an accepted password is hashed
//                 and kept for offline logins; while the directory is
//                 unreachable, the cached credentials decide (and say so).
//                 A directory that answered "wrong password" is never
//                 overridden by the cache. A right but expired password
//                 is NEW_AUTHTOK_REQD: pam_vigil.so marks its PAM handle
//                 and lets authenticate succeed (doc/protocol.md).
//   acct_mgmt     access_provider decides, from the cache (it works
//                 offline: SSH key logins call only this), then the
//                 password policy on the cached user (ldap_pwd_policy).
//   chauthtok     the directory changes the password (chpass_provider).
//   setcred, open_session, close_session: nothing to do for LDAP: success.
#pragma once

#include "util/creds/offline_auth.hpp"
#include "util/event.hpp"
#include "util/secret.hpp"
#include "util/sysdb/sysdb.hpp"
#include "sss_client/vigil_protocol.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vigil {

struct PamCall {
    std::uint32_t command = 0; // VIGIL_CMD_PAM_*
    std::string user;          // the cache's spelling
    std::string service, tty, ruser, rhost;
    std::uint32_t flags = 0; // VIGIL_PAM_FLAG_*
    std::uint32_t pid = 0;
    std::optional<Secret> authtok, new_authtok;
    bool by_root = false; // root, on the private socket: may set a password without the old one
};

struct PamVerdict {
    vigil_pam_result result = VIGIL_PAM_SYSTEM_ERR;
    std::vector<std::string> messages; // "1\ttext" info, "2\ttext" error
    std::vector<std::string> env;

    PamVerdict &info(const std::string &text) { messages.push_back("1\t" + text); return *this; }
    PamVerdict &error(const std::string &text) { messages.push_back("2\t" + text); return *this; }
};

// What the directory said.
// clock_skew: this host's clock and the KDC's differ too much (Kerberos);
// said as such to the user and in the log, never as a wrong password.
enum class OnlineAuth {
    ok,
    wrong_password,
    password_expired, // right, must be changed: NEW_AUTHTOK_REQD at acct_mgmt
    expired_no_grace, // right, expired, and the directory allows no login to change it: ACCT_EXPIRED
    account_locked,
    unavailable,
    clock_skew,
    error
};
enum class OnlineChange { ok, wrong_password, account_locked, rejected, unavailable, error };

// The directory's answer to a password.
struct DirectoryAnswer {
    OnlineAuth outcome = OnlineAuth::error;
    std::string message;              // for the log
    std::vector<std::string> env;     // NAME=value for the PAM environment on success (KRB5CCNAME)
    std::vector<std::string> notices; // for the user on success (the password expires soon, grace logins left)
};

class PamHandler {
public:
    using Done = std::function<void(PamVerdict)>;
    // The parts that ask the directory, given by the provider.
    struct Directory {
        // Whether to ask the directory: online, or offline because it refused
        // this host's connection (DomainState::refused()). Otherwise cached
        // credentials decide.
        std::function<bool()> online;
        // Whether the domain is offline because the directory refused this
        // host's connection: then a login whose own attempt gives no verdict
        // either (an error, e.g. the same certificate problem) falls back to
        // cached credentials as offline. Unset: never.
        std::function<bool()> refused;
        // The user's password against the directory.
        using AuthDone = std::function<void(DirectoryAnswer)>;
        std::function<void(const sysdb::CachedUser &, const Secret &, AuthDone)> authenticate;
        // The old password before a change (PAM_PRELIM_CHECK), with no side
        // effect such as a stored ccache. Unset: authenticate does it.
        std::function<void(const sysdb::CachedUser &, const Secret &, AuthDone)> check_old_password;
        // A new password: with the old one, or (root) without. `env` as for
        // authenticate (a TGT got with the new password).
        using ChangeDone = std::function<void(OnlineChange, std::string message, std::vector<std::string> env)>;
        std::function<void(const sysdb::CachedUser &, const Secret &old_password, const Secret &new_password,
                           ChangeDone)>
            change_password;
        std::function<void(const sysdb::CachedUser &, const Secret &new_password, ChangeDone)> reset_password;
        // access_provider: who may log in (from the cache; works offline).
        // Unset: everyone.
        std::function<void(const sysdb::CachedUser &, std::function<void(PamVerdict)>)> access;
        // Told when cached credentials let the user in while the directory
        // (or KDC) was unreachable: krb5_store_password_if_offline gets the
        // TGT once the KDC answers. Unset: nothing to do.
        std::function<void(const sysdb::CachedUser &, const Secret &password)> offline_login_accepted;
        // The password policy on the cached user (ldap_pwd_policy): a verdict
        // that is not SUCCESS refuses, a SUCCESS may carry a warning.
        std::function<PamVerdict(const sysdb::CachedUser &)> password_policy;
    };

    PamHandler(sysdb::Sysdb &cache, Directory directory, creds::OfflineAuthenticator *offline)
        : cache_(cache), directory_(std::move(directory)), offline_(offline) {}

    void handle(PamCall call, Done done);

private:
    void authenticate(std::shared_ptr<PamCall> call, sysdb::CachedUser user, Done done);
    void offline_login(std::shared_ptr<PamCall> call, const sysdb::CachedUser &user, Done done);
    void chauthtok(std::shared_ptr<PamCall> call, sysdb::CachedUser user, Done done);
    void acct_mgmt(std::shared_ptr<PamCall> call, sysdb::CachedUser user, Done done);

    sysdb::Sysdb &cache_;
    Directory directory_;
    creds::OfflineAuthenticator *offline_; // null: cache_credentials = false
};

} // namespace vigil
