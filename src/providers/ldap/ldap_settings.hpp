// How to reach and read one domain's directory: the ldap_* options of its
// [domain/NAME] section, with sssd.conf's names and meanings.
#pragma once

#include "util/config.hpp"
#include "util/result.hpp"
#include "util/secret.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace vigil::ldap {

// ldap_tls_reqcert, as ldap.conf's TLS_REQCERT.
enum class ReqCert { never, allow, try_, demand, hard };

struct LdapSettings {
    std::vector<std::string> uris; // ldap_uri, in failover order
    std::string search_base;       // ldap_search_base
    std::string bind_dn;           // ldap_default_bind_dn; empty: anonymous
    Secret bind_password;          // ldap_default_authtok
    bool start_tls = false;        // ldap_id_use_start_tls (for ldap:// URIs)
    std::string tls_cacert;        // ldap_tls_cacert
    ReqCert tls_reqcert = ReqCert::hard;
    std::chrono::seconds network_timeout{6}; // TCP connect and TLS handshake
    std::chrono::seconds opt_timeout{8};     // any other synchronous step (bind, StartTLS)
    std::chrono::seconds search_timeout{6};  // one search, all pages
    int page_size = 1000;                    // 0: no paged results control

    static Result<LdapSettings> from_config(const Config &config, const std::string &domain);
};

} // namespace vigil::ldap
