#include "providers/ldap/ldap_settings.hpp"

#include "util/krb5_options.hpp"

#include <cerrno>
#include <cstdlib>

namespace vigil::ldap {

namespace {

Error invalid(const std::string &section, const std::string &message)
{
    return Error{Errc::invalid_config, "[" + section + "] " + message};
}

// ldap_sasl_mech and what goes with it.
Status sasl_from_config(const Config &config, const std::string &domain, LdapSettings &s)
{
    const std::string section = "domain/" + domain;
    const std::string mech = config.get_string(section, "ldap_sasl_mech");
    if (mech.empty()) return {};
    // The schema allows GSSAPI only (EXTERNAL, a TLS client certificate bind, is not supported).
    if (mech != "GSSAPI") return invalid(section, "ldap_sasl_mech = '" + mech + "': only GSSAPI is supported");
    if (!s.bind_dn.empty())
        return invalid(section, "ldap_default_bind_dn and ldap_sasl_mech are both set: the identity connection "
                                "binds one way; leave ldap_default_bind_dn out for GSSAPI");
    s.bind_method = BindMethod::gssapi;
    SaslSettings &sasl = s.sasl;
    sasl.authid = config.get_string(section, "ldap_sasl_authid");
    sasl.realm = config.get_string(section, "ldap_sasl_realm");
    if (sasl.realm.empty()) sasl.realm = config.get_string(section, "krb5_realm");
    if (sasl.realm.empty())
        return invalid(section, "ldap_sasl_mech = GSSAPI needs the realm: set krb5_realm (or ldap_sasl_realm)");
    if (sasl.authid.find_first_of("\n\r") != std::string::npos ||
        sasl.realm.find_first_of("\n\r/@") != std::string::npos)
        return invalid(section, "ldap_sasl_authid or ldap_sasl_realm holds a character no principal has");
    sasl.min_ssf = static_cast<int>(config.get_int(section, "ldap_sasl_minssf"));
    sasl.max_ssf = static_cast<int>(config.get_int(section, "ldap_sasl_maxssf"));
    if (sasl.min_ssf >= 0 && sasl.max_ssf >= 0 && sasl.min_ssf > sasl.max_ssf)
        return invalid(section, "ldap_sasl_minssf (" + std::to_string(sasl.min_ssf) + ") is above ldap_sasl_maxssf (" +
                                    std::to_string(sasl.max_ssf) + ")");
    sasl.canonicalize = config.get_bool(section, "ldap_sasl_canonicalize");
    sasl.keytab = config.get_string(section, "ldap_krb5_keytab");
    sasl.init_creds = config.get_bool(section, "ldap_krb5_init_creds");
    const std::string lifetime = config.get_string(section, "ldap_krb5_ticket_lifetime");
    if (!lifetime.empty()) {
        auto seconds = krb5opt::parse_duration(lifetime);
        if (!seconds) return invalid(section, "ldap_krb5_ticket_lifetime: " + seconds.error().message);
        if (*seconds < 1) return invalid(section, "ldap_krb5_ticket_lifetime must be at least 1 second");
        sasl.ticket_lifetime = static_cast<std::uint32_t>(*seconds);
    }
    const std::string state_dir = config.get_string("vigil", "state_dir");
    if (sasl.init_creds) {
        sasl.ccache_dir = state_dir + "/krb5/host";
        sasl.ccache = "FILE:" + sasl.ccache_dir + "/" + domain + ".ccache";
    }
    sasl.krb5_config = krb5opt::generated_profile_path(state_dir, domain) + ":" + krb5opt::base_profile();
    return {};
}

} // namespace

Status set_sasl_environment(const LdapSettings &s)
{
    if (s.bind_method != BindMethod::gssapi) return {};
    const char *now = std::getenv("KRB5_CONFIG");
    if (now != nullptr && s.sasl.krb5_config == now) return {};
    if (setenv("KRB5_CONFIG", s.sasl.krb5_config.c_str(), 1) != 0) return sys_error("setenv KRB5_CONFIG", errno);
    return {};
}

Result<LdapSettings> LdapSettings::from_config(const Config &config, const std::string &domain)
{
    const std::string section = "domain/" + domain;
    LdapSettings s;
    s.uris = config.get_list(section, "ldap_uri");
    if (s.uris.empty()) return Error{Errc::invalid_config, "[" + section + "] ldap_uri is not set"};
    s.search_base = config.get_string(section, "ldap_search_base");
    s.bind_dn = config.get_string(section, "ldap_default_bind_dn");
    s.bind_password = Secret(config.get_string(section, "ldap_default_authtok"));
    s.start_tls = config.get_bool(section, "ldap_id_use_start_tls");
    s.tls_cacert = config.get_string(section, "ldap_tls_cacert");
    const std::string reqcert = config.get_string(section, "ldap_tls_reqcert");
    if (reqcert == "never") s.tls_reqcert = ReqCert::never;
    else if (reqcert == "allow") s.tls_reqcert = ReqCert::allow;
    else if (reqcert == "try") s.tls_reqcert = ReqCert::try_;
    else if (reqcert == "demand") s.tls_reqcert = ReqCert::demand;
    else s.tls_reqcert = ReqCert::hard;
    s.network_timeout = std::chrono::seconds(config.get_int(section, "ldap_network_timeout"));
    s.opt_timeout = std::chrono::seconds(config.get_int(section, "ldap_opt_timeout"));
    s.search_timeout = std::chrono::seconds(config.get_int(section, "ldap_search_timeout"));
    s.page_size = static_cast<int>(config.get_int(section, "ldap_page_size"));
    if (!s.bind_dn.empty() && s.bind_password.empty())
        return Error{Errc::invalid_config, "[" + section + "] ldap_default_bind_dn is set but ldap_default_authtok "
                                           "is empty: vigil refuses an unauthenticated bind"};
    Status sasl = sasl_from_config(config, domain, s);
    if (!sasl) return std::move(sasl).error();
    return s;
}

} // namespace vigil::ldap
