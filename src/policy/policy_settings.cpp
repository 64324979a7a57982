#include "policy/policy_settings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <netdb.h>
#include <unistd.h>

namespace vigil::policy {

namespace {

std::string or_default(std::string value, const std::string &fallback) { return value.empty() ? fallback : value; }

std::string render_program(const Config &c)
{
    std::string configured = c.get_string("policy", "policy_render_program");
    if (!configured.empty()) return configured;
    // Tests run the programs from the build tree (as vigild does for the services).
    const char *dir = secure_getenv("VIGIL_LIBEXEC_DIR");
    return std::string(dir && *dir ? dir : VIGIL_LIBEXEC_DIR) + "/vigil_policy_render";
}

// An attribute description as RFC 4512 has it (a name, or a numeric OID):
// it goes into search filters as it is.
bool attribute_name(std::string_view name)
{
    if (name.empty()) return false;
    const bool numeric = name[0] >= '0' && name[0] <= '9';
    for (char c : name) {
        const bool ok = numeric ? ((c >= '0' && c <= '9') || c == '.')
                                : ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-');
        if (!ok) return false;
    }
    // A name starts with a letter (the loop let digits and '-' through).
    return numeric || name[0] != '-';
}

} // namespace

Result<PolicySettings> PolicySettings::from_config(const Config &c)
{
    PolicySettings s;
    s.domain = c.get_string("policy", "policy_domain");
    const auto domains = c.domains();
    if (s.domain.empty()) {
        if (domains.empty()) return Error{Errc::invalid_config, "[policy]: no domain to download policies from"};
        s.domain = domains.front();
    } else if (std::find(domains.begin(), domains.end(), s.domain) == domains.end()) {
        return Error{Errc::invalid_config, "[policy] policy_domain = " + s.domain + " is not in [vigil] domains"};
    }
    s.host_fqdn = c.get_string("policy", "policy_host_fqdn");
    s.refresh_interval = std::chrono::seconds(c.get_int("policy", "policy_refresh_interval"));
    s.state_dir = c.get_string("vigil", "state_dir") + "/policy";
    s.run_dir = c.get_string("vigil", "run_dir");
    s.pipeline.data_dir = c.get_string("policy", "policy_data_dir");
    s.pipeline.render_program = render_program(c);
    s.sudo_target = c.get_string("policy", "policy_sudo_target");
    s.sudorole_priority = static_cast<int>(c.get_int("policy", "policy_sudorole_priority"));

    auto ldap = ldap::LdapSettings::from_config(c, s.domain);
    if (!ldap) return std::move(ldap).error();
    const std::string sec = "domain/" + s.domain;
    DownloadSettings &d = s.download;
    d.ldap = std::move(*ldap);
    // "" means the server's naming context, as for every other search base.
    d.policy_base = or_default(c.get_string(sec, "ldap_policy_search_base"), d.ldap.search_base);
    d.sudo_base = or_default(c.get_string(sec, "ldap_sudo_search_base"), d.ldap.search_base);
    d.sudoroles = c.get_bool("policy", "policy_sudoroles");
    d.host.base = or_default(c.get_string(sec, "ldap_host_search_base"), d.ldap.search_base);
    d.host.object_class = c.get_string(sec, "ldap_host_object_class");
    d.host.fqdn_attribute = c.get_string(sec, "ldap_host_fqdn");
    d.host.group_base = or_default(c.get_string(sec, "ldap_hostgroup_search_base"), d.ldap.search_base);
    d.host.group_object_class = c.get_string(sec, "ldap_hostgroup_object_class");
    d.host.group_member = c.get_string(sec, "ldap_hostgroup_member");
    for (const char *option : {"ldap_host_object_class", "ldap_host_fqdn", "ldap_hostgroup_object_class",
                               "ldap_hostgroup_member"}) {
        if (!attribute_name(c.get_string(sec, option))) {
            return Error{Errc::invalid_config, "[" + sec + "] " + option + " = '" + c.get_string(sec, option) +
                                                   "' is not an LDAP attribute or class name"};
        }
    }
    return s;
}

std::string PolicySettings::target_path(const PolicyType &type) const
{
    if (type.name == "sudo") return sudo_target;
    return std::string(type.default_target);
}

Result<std::string> this_host_fqdn(const std::string &configured)
{
    if (!configured.empty()) return configured;
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) return sys_error("gethostname", errno);
    std::string host = name;
    if (host.find('.') != std::string::npos) return host;
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    addrinfo *found = nullptr;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (rc != 0 || !found) {
        // Never a guess: policies for the short name would replace this
        // host's. The refresh fails and is tried again.
        return Error{Errc::unavailable, "cannot find the fully qualified name of '" + host + "' (" +
                                            (rc == EAI_SYSTEM ? std::string(std::strerror(errno)) : gai_strerror(rc)) +
                                            "); set [policy] policy_host_fqdn"};
    }
    std::string canonical = found->ai_canonname ? found->ai_canonname : "";
    ::freeaddrinfo(found);
    if (canonical.find('.') != std::string::npos) return canonical;
    // The resolver knows no domain for it: policies name it by that name.
    return host;
}

} // namespace vigil::policy
