// AccessSettings::from_config: the access options of one [domain/NAME].
#include "providers/access/access_rules.hpp"

#include <algorithm>

namespace vigil::access {

Result<AccessSettings> AccessSettings::from_config(const Config &c, const std::string &domain)
{
    const std::string sec = "domain/" + domain;
    AccessSettings s;
    const std::string provider = c.get_string(sec, "access_provider");
    if (provider == "permit") s.provider = ProviderKind::permit;
    else if (provider == "deny") s.provider = ProviderKind::deny;
    else if (provider == "simple") s.provider = ProviderKind::simple;
    else if (provider == "ldap") s.provider = ProviderKind::ldap;
    else return Error{Errc::invalid_config, "[" + sec + "] access_provider '" + provider + "' is not known"};

    s.simple = {c.get_list(sec, "simple_allow_users"), c.get_list(sec, "simple_allow_groups"),
                c.get_list(sec, "simple_deny_users"), c.get_list(sec, "simple_deny_groups")};
    s.user_name_attr = c.get_string(sec, "ldap_user_name");

    LdapAccessSettings &l = s.ldap;
    l.order.clear();
    for (const std::string &rule : c.get_list(sec, "ldap_access_order")) {
        if (rule == "filter") l.order.push_back(LdapRule::filter);
        else if (rule == "expire") l.order.push_back(LdapRule::expire);
        else if (rule == "host") l.order.push_back(LdapRule::host);
        else return Error{Errc::invalid_config, "[" + sec + "] ldap_access_order: '" + rule + "' is not filter, expire or host"};
    }
    l.filter = c.get_string(sec, "ldap_access_filter");
    const std::string policy = c.get_string(sec, "ldap_account_expire_policy");
    if (policy.empty()) l.expire_policy = ExpirePolicy::none;
    else if (policy == "shadow") l.expire_policy = ExpirePolicy::shadow;
    else if (policy == "aedir") l.expire_policy = ExpirePolicy::aedir;
    else return Error{Errc::invalid_config, "[" + sec + "] ldap_account_expire_policy '" + policy + "' is not shadow or aedir"};
    l.shadow_expire_attr = c.get_string(sec, "ldap_user_shadow_expire");
    l.status_attr = c.get_string(sec, "ldap_user_status");
    l.not_before_attr = c.get_string(sec, "ldap_user_not_before");
    l.not_after_attr = c.get_string(sec, "ldap_user_not_after");
    l.host_attr = c.get_string(sec, "ldap_user_authorized_host");
    l.fqdn = c.get_string(sec, "ldap_access_host_fqdn");

    if (s.provider != ProviderKind::ldap) return s;
    auto has = [&](LdapRule r) { return std::find(l.order.begin(), l.order.end(), r) != l.order.end(); };
    if (l.order.empty()) return Error{Errc::invalid_config, "[" + sec + "] ldap_access_order is empty"};
    if (has(LdapRule::filter) && l.filter.empty())
        return Error{Errc::invalid_config, "[" + sec + "] ldap_access_order has filter but ldap_access_filter is not set"};
    if (has(LdapRule::expire) && l.expire_policy == ExpirePolicy::none)
        return Error{Errc::invalid_config,
                     "[" + sec + "] ldap_access_order has expire but ldap_account_expire_policy is not set"};
    if (has(LdapRule::host) && l.fqdn.empty()) {
        l.fqdn = system_fqdn();
        if (l.fqdn.empty())
            return Error{Errc::invalid_config, "[" + sec + "] ldap_access_order has host but this host has no name; "
                                               "set ldap_access_host_fqdn"};
    }
    return s;
}

} // namespace vigil::access
