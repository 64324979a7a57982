#include "providers/ldap/ldap_settings.hpp"

namespace vigil::ldap {

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
    return s;
}

} // namespace vigil::ldap
