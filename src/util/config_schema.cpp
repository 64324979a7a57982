#include "util/config_schema.hpp"

#include <array>

namespace vigil {
namespace {

using enum OptType;
using enum SectionKind;

constexpr std::int64_t u32max = 4294967295LL;
constexpr std::int64_t day = 86400;

#define DEBUG_LEVEL_ROW(kind) OptionSpec{kind, "debug_level", integer, "4", 0, 9}

// Keep sorted by section, then by name: doc/config.md lists options in this order.
constexpr auto table = std::to_array<OptionSpec>({
    // [vigil]: the service controller and paths shared by every process.
    DEBUG_LEVEL_ROW(vigil),
    {vigil, "domains", list, "", 0, 0, {}, true},
    {vigil, "heartbeat", integer, "10", 1, 3600},
    {vigil, "heartbeat_misses", integer, "3", 1, 100},
    {vigil, "log_dir", path, VIGIL_LOG_DIR},
    {vigil, "restart_limit", integer, "5", 0, 1000},
    {vigil, "restart_window", integer, "300", 1, day},
    {vigil, "run_dir", path, VIGIL_RUN_DIR},
    {vigil, "services", list, "nss, pam", 0, 0, known_services},
    {vigil, "state_dir", path, VIGIL_STATE_DIR},

    // [nss]
    {nss, "client_idle_timeout", integer, "60", 10, day},
    DEBUG_LEVEL_ROW(nss),
    {nss, "entry_cache_nowait_percentage", integer, "50", 0, 99},
    {nss, "entry_negative_timeout", integer, "15", 0, day},
    {nss, "filter_groups", list, "root"},
    {nss, "filter_users", list, "root"},

    // [pam]
    {pam, "client_idle_timeout", integer, "60", 10, day},
    DEBUG_LEVEL_ROW(pam),
    {pam, "offline_credentials_expiration", integer, "0", 0, 3650},
    {pam, "offline_failed_login_attempts", integer, "0", 0, 1000},
    {pam, "offline_failed_login_delay", integer, "5", 0, 10080},
    {pam, "pam_id_timeout", integer, "5", 0, day},

    // [policy]
    DEBUG_LEVEL_ROW(policy),
    {policy, "policy_data_dir", path, VIGIL_POLICY_DATA_DIR},
    {policy, "policy_domain", string, ""},
    {policy, "policy_host_fqdn", string, ""},
    {policy, "policy_refresh_interval", integer, "3600", 10, 7 * day},
    {policy, "policy_render_program", string, ""},
    {policy, "policy_sudo_target", path, "/etc/sudoers.d/vigil"},
    {policy, "policy_sudorole_priority", integer, "0", -2147483648LL, 2147483647LL},
    {policy, "policy_sudoroles", boolean, "true"},

    // [ifp]
    DEBUG_LEVEL_ROW(ifp),

    // [domain/NAME]
    {domain, "access_provider", choice, "permit", 0, 0, "permit, deny, simple, ldap"},
    {domain, "auth_provider", choice, "@id_provider", 0, 0, "ldap, krb5, none"},
    {domain, "cache_credentials", boolean, "false"},
    {domain, "cache_credentials_hash_cost", integer, "2", 1, 8},
    {domain, "chpass_provider", choice, "@auth_provider", 0, 0, "ldap, krb5, none"},
    DEBUG_LEVEL_ROW(domain),
    {domain, "entry_cache_timeout", integer, "5400", 0, 365 * day},
    {domain, "enumerate", boolean, "false"},
    {domain, "id_provider", choice, "", 0, 0, "ldap", true},
    {domain, "krb5_auth_timeout", integer, "6", 1, 600},
    {domain, "krb5_backup_server", list, ""},
    {domain, "krb5_ccachedir", path, "/tmp"},
    {domain, "krb5_ccname_template", ccname, "FILE:%d/krb5cc_%U"},
    {domain, "krb5_keytab", path, ""},
    {domain, "krb5_kpasswd", list, ""},
    {domain, "krb5_lifetime", duration, ""},
    {domain, "krb5_realm", string, ""},
    {domain, "krb5_renewable_lifetime", duration, ""},
    {domain, "krb5_server", list, ""},
    {domain, "krb5_store_password_if_offline", boolean, "false"},
    {domain, "krb5_validate", boolean, "false"},
    {domain, "ldap_auth_disable_tls_never_use_in_production", boolean, "false"},
    {domain, "ldap_chpass_uri", ldap_uris, ""},
    {domain, "ldap_default_authtok", string, "", 0, 0, {}, false, true},
    {domain, "ldap_default_bind_dn", string, ""},
    {domain, "ldap_group_gid_number", string, "gidNumber"},
    {domain, "ldap_group_member", string, ""},
    {domain, "ldap_access_filter", string, ""},
    {domain, "ldap_access_host_fqdn", string, ""},
    {domain, "ldap_access_order", list, "filter", 0, 0, "filter, expire, host"},
    {domain, "ldap_account_expire_policy", choice, "", 0, 0, "shadow, aedir"},
    {domain, "ldap_connection_check_interval", integer, "10", 0, day},
    {domain, "ldap_enumeration_refresh_timeout", integer, "300", 1, day},
    {domain, "ldap_enumeration_search_timeout", integer, "60", 1, day},
    {domain, "ldap_group_modify_timestamp", string, "modifyTimestamp"},
    {domain, "ldap_group_name", string, "cn"},
    {domain, "ldap_group_object_class", string, "posixGroup"},
    {domain, "ldap_group_search_base", string, ""},
    {domain, "ldap_host_fqdn", string, "cn"},
    {domain, "ldap_host_object_class", string, "ipHost"},
    {domain, "ldap_host_search_base", string, ""},
    {domain, "ldap_hostgroup_member", string, "member"},
    {domain, "ldap_hostgroup_object_class", string, "groupOfNames"},
    {domain, "ldap_hostgroup_search_base", string, ""},
    {domain, "ldap_id_use_start_tls", boolean, "false"},
    {domain, "ldap_krb5_init_creds", boolean, "true"},
    {domain, "ldap_krb5_keytab", path, ""},
    {domain, "ldap_krb5_ticket_lifetime", duration, "86400"},
    {domain, "ldap_network_timeout", integer, "6", 1, 3600},
    {domain, "ldap_opt_timeout", integer, "8", 1, 3600},
    {domain, "ldap_page_size", integer, "1000", 0, 1000000},
    {domain, "ldap_policy_search_base", string, ""},
    {domain, "ldap_pwd_policy", choice, "none", 0, 0, "none, shadow"},
    {domain, "ldap_sasl_authid", string, ""},
    {domain, "ldap_sasl_canonicalize", boolean, "false"},
    {domain, "ldap_sasl_maxssf", integer, "-1", -1, 65535},
    {domain, "ldap_sasl_mech", choice, "", 0, 0, "GSSAPI"},
    {domain, "ldap_sasl_minssf", integer, "-1", -1, 65535},
    {domain, "ldap_sasl_realm", string, ""},
    {domain, "ldap_schema", choice, "rfc2307", 0, 0, "rfc2307, rfc2307bis"},
    {domain, "ldap_search_base", string, ""},
    {domain, "ldap_search_timeout", integer, "6", 1, 3600},
    {domain, "ldap_sudo_search_base", string, ""},
    {domain, "ldap_tls_cacert", path, ""},
    {domain, "ldap_tls_reqcert", choice, "hard", 0, 0, "never, allow, try, demand, hard"},
    {domain, "ldap_uri", ldap_uris, ""},
    {domain, "ldap_user_authorized_host", string, "host"},
    {domain, "ldap_user_gecos", string, "gecos"},
    {domain, "ldap_user_gid_number", string, "gidNumber"},
    {domain, "ldap_user_home_directory", string, "homeDirectory"},
    {domain, "ldap_user_modify_timestamp", string, "modifyTimestamp"},
    {domain, "ldap_user_name", string, "uid"},
    {domain, "ldap_user_not_after", string, "aeNotAfter"},
    {domain, "ldap_user_not_before", string, "aeNotBefore"},
    {domain, "ldap_user_object_class", string, "posixAccount"},
    {domain, "ldap_user_principal", string, "krb5PrincipalName"},
    {domain, "ldap_user_search_base", string, ""},
    {domain, "ldap_user_shadow_expire", string, "shadowExpire"},
    {domain, "ldap_user_shell", string, "loginShell"},
    {domain, "ldap_user_status", string, "aeStatus"},
    {domain, "ldap_user_uid_number", string, "uidNumber"},
    {domain, "max_id", integer, "0", 0, u32max},
    {domain, "min_id", integer, "1", 1, u32max},
    {domain, "offline_timeout", integer, "60", 1, day},
    {domain, "offline_timeout_max", integer, "3600", 0, day},
    {domain, "simple_allow_groups", list, ""},
    {domain, "simple_allow_users", list, ""},
    {domain, "simple_deny_groups", list, ""},
    {domain, "simple_deny_users", list, ""},
});

#undef DEBUG_LEVEL_ROW

} // namespace

std::span<const OptionSpec> option_table() { return table; }

const OptionSpec *find_option(SectionKind kind, std::string_view name)
{
    for (const OptionSpec &spec : table)
        if (spec.section == kind && spec.name == name) return &spec;
    return nullptr;
}

bool classify_section(std::string_view section, SectionKind &kind, std::string_view &domain)
{
    domain = {};
    constexpr std::string_view domain_prefix = "domain/";
    if (section.starts_with(domain_prefix)) {
        domain = section.substr(domain_prefix.size());
        // Domain names become file names (cache_NAME.ldb) and DN values.
        if (domain.empty() || domain.find('/') != std::string_view::npos) return false;
        kind = SectionKind::domain;
        return true;
    }
    for (SectionKind k : {vigil, nss, pam, policy, ifp}) {
        if (section == section_kind_name(k)) {
            kind = k;
            return true;
        }
    }
    return false;
}

std::string_view section_kind_name(SectionKind kind)
{
    switch (kind) {
    case vigil: return "vigil";
    case nss: return "nss";
    case pam: return "pam";
    case policy: return "policy";
    case ifp: return "ifp";
    case domain: return "domain";
    }
    return "?";
}

std::string_view opt_type_name(OptType type)
{
    switch (type) {
    case string: return "string";
    case integer: return "integer";
    case boolean: return "boolean";
    case choice: return "choice";
    case list: return "list";
    case path: return "path";
    case ldap_uris: return "LDAP URI list";
    case duration: return "duration";
    case ccname: return "ccache template";
    }
    return "?";
}

} // namespace vigil
