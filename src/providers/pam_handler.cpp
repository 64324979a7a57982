#include "providers/pam_handler.hpp"

#include "util/log.hpp"

#include <ctime>

namespace vigil {
namespace {

std::string local_time(creds::WallTime t)
{
    std::time_t tt = static_cast<std::time_t>(t.time_since_epoch().count());
    std::tm tm{};
    char text[64];
    if (localtime_r(&tt, &tm) == nullptr || std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
        return std::to_string(tt);
    return text;
}

constexpr const char *clock_skew_text =
    "The clocks of this computer and the Kerberos server differ too much: ask an administrator.";
constexpr const char *expired_no_grace_text =
    "Your password has expired and no grace login is left: ask an administrator to reset it.";

PamVerdict verdict(vigil_pam_result result)
{
    PamVerdict v;
    v.result = result;
    return v;
}

} // namespace

void PamHandler::handle(PamCall given, Done done)
{
    auto call = std::make_shared<PamCall>(std::move(given));
    auto found = cache_.user_by_name(call->user);
    if (!found) {
        VLOG(error, "PAM for %s: reading the cache: %s", call->user.c_str(), found.error().message.c_str());
        done(verdict(VIGIL_PAM_SYSTEM_ERR));
        return;
    }
    if (!*found) {
        done(verdict(VIGIL_PAM_USER_UNKNOWN));
        return;
    }
    switch (call->command) {
    case VIGIL_CMD_PAM_SETCRED:
    case VIGIL_CMD_PAM_OPEN_SESSION:
    case VIGIL_CMD_PAM_CLOSE_SESSION: done(verdict(VIGIL_PAM_SUCCESS)); return;
    case VIGIL_CMD_PAM_AUTHENTICATE: authenticate(call, std::move(**found), std::move(done)); return;
    case VIGIL_CMD_PAM_ACCT_MGMT: acct_mgmt(call, std::move(**found), std::move(done)); return;
    case VIGIL_CMD_PAM_CHAUTHTOK_PRELIM:
    case VIGIL_CMD_PAM_CHAUTHTOK: chauthtok(call, std::move(**found), std::move(done)); return;
    default: break;
    }
    done(verdict(VIGIL_PAM_SYSTEM_ERR));
}

void PamHandler::authenticate(std::shared_ptr<PamCall> call, sysdb::CachedUser user, Done done)
{
    // An empty simple bind is an anonymous bind, which "succeeds": an empty
    // password never reaches the directory, nor the cached hash.
    if (!call->authtok || call->authtok->empty()) {
        VLOG(info, "authenticate %s: an empty password, refused", call->user.c_str());
        done(verdict(VIGIL_PAM_AUTH_ERR));
        return;
    }
    if (!directory_.authenticate) {
        // No way to ask the directory (auth_provider = none, or one not
        // served here): cached credentials never stand in for it online.
        done(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL));
        return;
    }
    if (!directory_.online()) {
        offline_login(call, user, std::move(done));
        return;
    }
    const bool refused = directory_.refused && directory_.refused();
    directory_.authenticate(user, *call->authtok, [this, call, user, done, refused](DirectoryAnswer answer) {
        const OnlineAuth outcome = answer.outcome;
        const std::string &message = answer.message;
        switch (outcome) {
        case OnlineAuth::ok:
        case OnlineAuth::password_expired: {
            // An expired (or admin-reset) password is not kept for offline
            // logins: it must be changed first.
            if (offline_ != nullptr && outcome == OnlineAuth::ok) {
                const std::string name = call->user;
                Status st = offline_->remember(call->user, *call->authtok, [name](Status stored) {
                    if (!stored)
                        VLOG(error, "authenticate %s: cannot keep the credentials for offline logins: %s", name.c_str(),
                             stored.error().message.c_str());
                });
                if (!st) VLOG(error, "authenticate %s: %s", call->user.c_str(), st.error().message.c_str());
            }
            VLOG(info, "authenticate %s: accepted by the directory%s", call->user.c_str(),
                 outcome == OnlineAuth::password_expired ? "; the password has expired" : "");
            // Right but expired: NEW_AUTHTOK_REQD, which pam_vigil.so turns
            // into a success that marks this PAM handle, so that its
            // acct_mgmt (where applications look) asks for a change.
            PamVerdict v = verdict(outcome == OnlineAuth::ok ? VIGIL_PAM_SUCCESS : VIGIL_PAM_NEW_AUTHTOK_REQD);
            v.env = std::move(answer.env);
            for (const std::string &notice : answer.notices) v.info(notice);
            done(std::move(v));
            return;
        }
        case OnlineAuth::wrong_password:
            // The directory said no: the cache never overrides it.
            VLOG(info, "authenticate %s: refused by the directory", call->user.c_str());
            done(verdict(VIGIL_PAM_AUTH_ERR));
            return;
        case OnlineAuth::account_locked:
            // Locked or disabled in the directory: the cached hash goes too,
            // so the account cannot log in offline either.
            if (offline_ != nullptr) (void)offline_->forget(call->user);
            VLOG(info, "authenticate %s: the directory says the account is locked: %s", call->user.c_str(),
                 message.c_str());
            done(verdict(VIGIL_PAM_PERM_DENIED).error("Your account is locked."));
            return;
        case OnlineAuth::expired_no_grace:
            // The password is right but the directory will not let it log in
            // again, not even to change it: an offline login must not let in
            // what the directory keeps out.
            if (offline_ != nullptr) (void)offline_->forget(call->user);
            VLOG(info, "authenticate %s: %s", call->user.c_str(), message.c_str());
            done(verdict(VIGIL_PAM_ACCT_EXPIRED).error(expired_no_grace_text));
            return;
        case OnlineAuth::unavailable:
            VLOG(minor, "authenticate %s: the directory did not answer (%s): cached credentials decide",
                 call->user.c_str(), message.c_str());
            offline_login(call, user, done);
            return;
        case OnlineAuth::clock_skew:
            VLOG(error, "authenticate %s: clock skew: %s", call->user.c_str(), message.c_str());
            done(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL).error(clock_skew_text));
            return;
        case OnlineAuth::error:
            if (refused) {
                VLOG(minor, "authenticate %s: no verdict from the directory (%s), which refuses this host's "
                            "connection too: cached credentials decide", call->user.c_str(), message.c_str());
                offline_login(call, user, done);
                return;
            }
            break;
        }
        VLOG(error, "authenticate %s: %s", call->user.c_str(), message.c_str());
        done(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL));
    });
}

void PamHandler::offline_login(std::shared_ptr<PamCall> call, const sysdb::CachedUser &user, Done done)
{
    if (offline_ == nullptr) {
        done(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL));
        return;
    }
    auto shared = std::make_shared<Done>(std::move(done));
    auto accepted = directory_.offline_login_accepted;
    Status st = offline_->authenticate(
        call->user, *call->authtok,
        [call, user, accepted, shared](Result<creds::OfflineAuthenticator::Outcome> r) {
            if (!r) {
                VLOG(error, "offline authenticate %s: %s", call->user.c_str(), r.error().message.c_str());
                (*shared)(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL));
                return;
            }
            VLOG(info, "offline authenticate %s: %s", call->user.c_str(), creds::verdict_name(r->verdict));
            switch (r->verdict) {
            case creds::OfflineVerdict::allowed:
                if (accepted) accepted(user, *call->authtok);
                (*shared)(verdict(VIGIL_PAM_SUCCESS).info("Authenticated with cached credentials."));
                return;
            case creds::OfflineVerdict::wrong_password: {
                PamVerdict v = verdict(VIGIL_PAM_AUTH_ERR);
                if (r->locked_until)
                    v.error("Too many failed logins: the account is locked until " + local_time(*r->locked_until) +
                            ".");
                (*shared)(std::move(v));
                return;
            }
            case creds::OfflineVerdict::locked:
                (*shared)(verdict(VIGIL_PAM_MAXTRIES)
                              .error(r->locked_until ? "The account is locked until " + local_time(*r->locked_until) + "."
                                                     : std::string("The account is locked.")));
                return;
            case creds::OfflineVerdict::expired:
            case creds::OfflineVerdict::no_credentials: (*shared)(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL)); return;
            }
            (*shared)(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL));
        });
    if (!st) {
        VLOG(error, "offline authenticate %s: %s", call->user.c_str(), st.error().message.c_str());
        (*shared)(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL));
    }
}

void PamHandler::acct_mgmt(std::shared_ptr<PamCall> call, sysdb::CachedUser user, Done done)
{
    auto after_access = [this, call, user, done](PamVerdict access) {
        if (access.result != VIGIL_PAM_SUCCESS) {
            VLOG(info, "acct_mgmt %s: access refused (%u)", call->user.c_str(), static_cast<unsigned>(access.result));
            done(std::move(access));
            return;
        }
        PamVerdict policy = verdict(VIGIL_PAM_SUCCESS);
        if (directory_.password_policy) policy = directory_.password_policy(user);
        if (policy.result != VIGIL_PAM_SUCCESS) {
            done(std::move(policy));
            return;
        }
        done(std::move(policy)); // SUCCESS, with a warning if the policy had one
    };
    if (directory_.access) directory_.access(user, after_access);
    else after_access(verdict(VIGIL_PAM_SUCCESS));
}

void PamHandler::chauthtok(std::shared_ptr<PamCall> call, sysdb::CachedUser user, Done done)
{
    if (!directory_.online()) {
        done(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL).error("The password cannot be changed while the directory is "
                                                        "unreachable."));
        return;
    }
    // Root on the private socket sets a password without the old one,
    // except when a login (sshd, login: root processes) asks its user to
    // change an expired one: that is the user's own change, checked with
    // the old password (an admin reset would only expire it again).
    const bool reset = call->by_root && (call->flags & VIGIL_PAM_FLAG_CHANGE_EXPIRED_AUTHTOK) == 0;
    // PAM_PRELIM_CHECK: the old password is checked, unless a reset.
    if (call->command == VIGIL_CMD_PAM_CHAUTHTOK_PRELIM) {
        if (reset) {
            done(verdict(VIGIL_PAM_SUCCESS));
            return;
        }
        if (!call->authtok || call->authtok->empty() || !directory_.authenticate) {
            done(verdict(VIGIL_PAM_AUTHTOK_RECOVERY_ERR));
            return;
        }
        const auto &check = directory_.check_old_password ? directory_.check_old_password : directory_.authenticate;
        check(user, *call->authtok, [call, done](DirectoryAnswer answer) {
            const std::string &message = answer.message;
            switch (answer.outcome) {
            case OnlineAuth::ok:
            case OnlineAuth::password_expired: done(verdict(VIGIL_PAM_SUCCESS)); return;
            case OnlineAuth::wrong_password: done(verdict(VIGIL_PAM_AUTHTOK_RECOVERY_ERR)); return;
            case OnlineAuth::account_locked: done(verdict(VIGIL_PAM_PERM_DENIED).error("Your account is locked.")); return;
            case OnlineAuth::expired_no_grace: done(verdict(VIGIL_PAM_PERM_DENIED).error(expired_no_grace_text)); return;
            case OnlineAuth::unavailable: done(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL)); return;
            case OnlineAuth::clock_skew: done(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL).error(clock_skew_text)); return;
            case OnlineAuth::error: break;
            }
            VLOG(error, "chauthtok %s: %s", call->user.c_str(), message.c_str());
            done(verdict(VIGIL_PAM_SYSTEM_ERR));
        });
        return;
    }
    // PAM_UPDATE_AUTHTOK: the new password, with the old one or as root.
    if (!call->new_authtok || call->new_authtok->empty()) {
        done(verdict(VIGIL_PAM_AUTHTOK_ERR).error("An empty password cannot be set."));
        return;
    }
    auto finished = [this, call, done](OnlineChange outcome, std::string message, std::vector<std::string> env) {
        switch (outcome) {
        case OnlineChange::ok: {
            VLOG(info, "chauthtok %s: the password was changed", call->user.c_str());
            if (offline_ != nullptr) {
                const std::string name = call->user;
                (void)offline_->remember(call->user, *call->new_authtok, [name](Status st) {
                    if (!st) VLOG(error, "chauthtok %s: %s", name.c_str(), st.error().message.c_str());
                });
            }
            PamVerdict v = verdict(VIGIL_PAM_SUCCESS);
            v.env = std::move(env);
            done(std::move(v));
            return;
        }
        case OnlineChange::wrong_password: done(verdict(VIGIL_PAM_AUTHTOK_RECOVERY_ERR)); return;
        case OnlineChange::account_locked: done(verdict(VIGIL_PAM_PERM_DENIED).error("Your account is locked.")); return;
        case OnlineChange::rejected:
            // The directory's own reason (a password policy): the user sees it.
            VLOG(info, "chauthtok %s: the directory refused the new password: %s", call->user.c_str(),
                 message.c_str());
            done(verdict(VIGIL_PAM_AUTHTOK_ERR)
                     .error(message.empty() ? std::string("The new password was refused.")
                                            : "The new password was refused: " + message));
            return;
        case OnlineChange::unavailable: done(verdict(VIGIL_PAM_AUTHINFO_UNAVAIL)); return;
        case OnlineChange::error: break;
        }
        VLOG(error, "chauthtok %s: %s", call->user.c_str(), message.c_str());
        done(verdict(VIGIL_PAM_SYSTEM_ERR));
    };
    if (reset) {
        if (!directory_.reset_password) {
            done(verdict(VIGIL_PAM_AUTHTOK_ERR));
            return;
        }
        directory_.reset_password(user, *call->new_authtok, finished);
        return;
    }
    if (!call->authtok || call->authtok->empty() || !directory_.change_password) {
        done(verdict(VIGIL_PAM_AUTHTOK_RECOVERY_ERR));
        return;
    }
    directory_.change_password(user, *call->authtok, *call->new_authtok, finished);
}

} // namespace vigil
