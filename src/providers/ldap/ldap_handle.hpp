// RAII for libldap's handles, and the error text an admin can act on.
#pragma once

#include "util/result.hpp"

#include <ldap.h>
#include <memory>
#include <string>

namespace vigil::ldap {

struct UnbindLdap {
    void operator()(LDAP *ld) const noexcept { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
using LdapHandle = std::unique_ptr<LDAP, UnbindLdap>;

struct FreeMessage {
    void operator()(LDAPMessage *msg) const noexcept { ldap_msgfree(msg); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, FreeMessage>;

// "what: Can't contact LDAP server (TLS: hostname does not match CN)": the
// result code's text plus the server's or library's diagnostic, when any.
std::string describe(LDAP *ld, int rc, const std::string &what);

// The Errc for a libldap result code: unreachable servers are `unavailable`
// (the provider goes offline), timeouts `timeout`, the rest what they are.
Errc classify(int rc);

} // namespace vigil::ldap
