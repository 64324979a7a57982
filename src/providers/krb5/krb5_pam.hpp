// A krb5 domain's side of the PAM handler: what the child's results mean
// for PAM, and the Directory calls that run the child.
#pragma once

#include "providers/krb5/krb5_auth.hpp"
#include "providers/pam_handler.hpp"

namespace vigil::krb5 {

// wrong password and unknown principal alike (as an unknown DN for LDAP);
// the KDC not answering in time is unavailable (offline rules); clock skew
// is its own outcome; everything else an error with the child's message.
OnlineAuth online_auth(ChildResult result);
OnlineChange online_change(ChildResult result);

// Sets directory.authenticate (auth_provider = krb5: KRB5CCNAME in the
// reply's environment on success), and directory.check_old_password and
// change_password (chpass_provider = krb5). No reset_password: kpasswd needs the old
// password, and a reset would need kadmin rights.
void plug_into(Krb5Auth &auth, bool authenticate, bool change_password, PamHandler::Directory &directory);

} // namespace vigil::krb5
