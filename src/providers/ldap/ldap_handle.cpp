#include "providers/ldap/ldap_handle.hpp"

namespace vigil::ldap {

std::string describe(LDAP *ld, int rc, const std::string &what)
{
    std::string text = what + ": " + ldap_err2string(rc);
    char *diag = nullptr;
    if (ld != nullptr && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS && diag) {
        if (*diag) text += std::string(" (") + diag + ")";
        ldap_memfree(diag);
    }
    return text;
}

Errc classify(int rc)
{
    switch (rc) {
    case LDAP_SERVER_DOWN:
    case LDAP_CONNECT_ERROR:
    case LDAP_UNAVAILABLE:
    case LDAP_BUSY: return Errc::unavailable;
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED: return Errc::timeout;
    case LDAP_INVALID_CREDENTIALS:
    case LDAP_INSUFFICIENT_ACCESS:
    case LDAP_STRONG_AUTH_REQUIRED:
    case LDAP_INAPPROPRIATE_AUTH: return Errc::permission;
    case LDAP_NO_SUCH_OBJECT: return Errc::not_found;
    case LDAP_DECODING_ERROR:
    case LDAP_PROTOCOL_ERROR: return Errc::protocol;
    default: return Errc::internal;
    }
}

} // namespace vigil::ldap
