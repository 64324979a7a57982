#include "providers/krb5/krb5_pam.hpp"

#include <strings.h>

namespace vigil::krb5 {

OnlineAuth online_auth(ChildResult r)
{
    switch (r) {
    case ChildResult::ok: return OnlineAuth::ok;
    case ChildResult::wrong_password:
    case ChildResult::unknown_principal: return OnlineAuth::wrong_password;
    case ChildResult::password_expired: return OnlineAuth::password_expired;
    case ChildResult::account_locked: return OnlineAuth::account_locked;
    case ChildResult::kdc_unreachable: return OnlineAuth::unavailable;
    case ChildResult::clock_skew: return OnlineAuth::clock_skew;
    case ChildResult::validation_failed:
    case ChildResult::ccache_failed:
    case ChildResult::bad_request:
    case ChildResult::password_rejected:
    case ChildResult::keytab_failed:
    case ChildResult::error: break;
    }
    return OnlineAuth::error;
}

OnlineChange online_change(ChildResult r)
{
    switch (r) {
    case ChildResult::ok: return OnlineChange::ok;
    case ChildResult::wrong_password:
    case ChildResult::unknown_principal: return OnlineChange::wrong_password;
    case ChildResult::account_locked: return OnlineChange::account_locked;
    case ChildResult::password_rejected: return OnlineChange::rejected;
    case ChildResult::kdc_unreachable: return OnlineChange::unavailable;
    case ChildResult::password_expired:
    case ChildResult::clock_skew:
    case ChildResult::validation_failed:
    case ChildResult::ccache_failed:
    case ChildResult::bad_request:
    case ChildResult::keytab_failed:
    case ChildResult::error: break;
    }
    return OnlineChange::error;
}

namespace {

// The cached user, with the principal the directory names (the attribute
// by any case, as the cache keeps the server's spelling).
Krb5User who(const sysdb::CachedUser &user, const std::string &principal_attribute)
{
    Krb5User u{user.record.name, user.record.uid, user.record.gid, user.record.home, {}};
    for (const auto &[name, values] : user.record.extra) {
        if (!values.empty() && strcasecmp(name.c_str(), principal_attribute.c_str()) == 0) {
            u.principal = values.front();
            break;
        }
    }
    return u;
}

// KRB5CCNAME for the PAM environment, when a ccache was stored.
std::vector<std::string> ccname_env(const Krb5Answer &a)
{
    if (a.result != ChildResult::ok || a.ccname.empty()) return {};
    return {"KRB5CCNAME=" + a.ccname};
}

} // namespace

void plug_into(Krb5Auth &auth, bool authenticate, bool change_password, PamHandler::Directory &directory)
{
    if (authenticate) {
        directory.authenticate = [&auth](const sysdb::CachedUser &user, const Secret &password,
                                         PamHandler::Directory::AuthDone done) {
            auth.authenticate(who(user, auth.settings().principal_attribute), password, [done](Krb5Answer a) {
                done(DirectoryAnswer{online_auth(a.result), a.message, ccname_env(a), {}});
            });
        };
    }
    if (authenticate && auth.settings().store_password_if_offline) {
        directory.offline_login_accepted = [&auth](const sysdb::CachedUser &user, const Secret &password) {
            auth.keep_for_later(who(user, auth.settings().principal_attribute), password);
        };
    }
    if (change_password) {
        directory.check_old_password = [&auth](const sysdb::CachedUser &user, const Secret &password,
                                               PamHandler::Directory::AuthDone done) {
            auth.check_password(who(user, auth.settings().principal_attribute), password, [done](Krb5Answer a) {
                // "Right" is all a check says; an expired password is fine to change.
                done(DirectoryAnswer{online_auth(a.result), a.message, {}, {}});
            });
        };
        directory.change_password = [&auth](const sysdb::CachedUser &user, const Secret &old_password,
                                            const Secret &new_password,
                                            PamHandler::Directory::ChangeDone done) {
            auth.change_password(
                who(user, auth.settings().principal_attribute), old_password, new_password,
                [done](Krb5Answer a) { done(online_change(a.result), a.message, ccname_env(a)); });
        };
    }
}

} // namespace vigil::krb5
