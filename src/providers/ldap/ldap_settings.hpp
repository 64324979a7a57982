// How to reach and read one domain's directory: the ldap_* options of its
// [domain/NAME] section, with sssd.conf's names and meanings.
#pragma once

#include "util/config.hpp"
#include "util/result.hpp"
#include "util/secret.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace vigil::ldap {

// ldap_tls_reqcert, as ldap.conf's TLS_REQCERT.
enum class ReqCert { never, allow, try_, demand, hard };

// How the identity connection binds: ldap_sasl_mech unset (simple with
// ldap_default_bind_dn, or anonymous), or SASL GSSAPI with the host's
// Kerberos credentials (doc/krb5.md, "The identity connection with GSSAPI").
enum class BindMethod { simple, gssapi };

// The SASL GSSAPI bind: who, with which credentials, and the SASL layer.
struct SaslSettings {
    std::string authid;       // ldap_sasl_authid as written; empty: host/<fqdn>@realm, the child decides
    std::string realm;        // ldap_sasl_realm, else krb5_realm
    int min_ssf = -1;         // ldap_sasl_minssf; -1: libsasl's default
    int max_ssf = -1;         // ldap_sasl_maxssf; -1: libsasl's default
    bool canonicalize = false; // ldap_sasl_canonicalize: the server's name from reverse DNS
    std::string keytab;       // ldap_krb5_keytab; empty: the profile's default (/etc/krb5.keytab)
    bool init_creds = true;   // ldap_krb5_init_creds: vigil gets the TGT from the keytab
    std::uint32_t ticket_lifetime = 86400; // ldap_krb5_ticket_lifetime, seconds
    // The host TGT's private ccache (init_creds only; else the process's default ccache).
    std::string ccache; // FILE:STATE_DIR/krb5/host/DOMAIN.ccache
    std::string ccache_dir;
    // KRB5_CONFIG for libkrb5 in this process: the generated profile, then the base.
    std::string krb5_config;
};

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
    BindMethod bind_method = BindMethod::simple;
    SaslSettings sasl;                       // bind_method gssapi

    static Result<LdapSettings> from_config(const Config &config, const std::string &domain);
};

// For a GSSAPI bind: KRB5_CONFIG of this process set to the generated
// profile (then the base). libkrb5 has no per-thread or per-handle profile,
// and the SASL GSSAPI plugin makes its own contexts inside libldap, so the
// environment is the only way in. Call it before the process starts any
// thread (setenv races with every getenv of other threads); later calls
// with the same value change nothing.
Status set_sasl_environment(const LdapSettings &settings);

} // namespace vigil::ldap
