// What vigil_policy (and vigilctl's policy commands) read from the
// configuration: the [policy] section and the policy domain's ldap_* options.
#pragma once

#include "policy/pipeline.hpp"
#include "providers/ldap/ldap_settings.hpp"
#include "util/config.hpp"
#include "util/result.hpp"

#include <chrono>
#include <string>

namespace vigil::policy {

// How this host and its host groups are found in the directory.
struct HostSearch {
    std::string base;                 // ldap_host_search_base
    std::string object_class;         // ldap_host_object_class
    std::string fqdn_attribute;       // ldap_host_fqdn
    std::string group_base;           // ldap_hostgroup_search_base
    std::string group_object_class;   // ldap_hostgroup_object_class
    std::string group_member;         // ldap_hostgroup_member
};

struct DownloadSettings {
    ldap::LdapSettings ldap;          // the policy domain's connection options
    std::string policy_base;          // ldap_policy_search_base
    std::string sudo_base;            // ldap_sudo_search_base
    bool sudoroles = true;            // policy_sudoroles
    HostSearch host;
};

struct PolicySettings {
    std::string domain;               // policy_domain
    std::string host_fqdn;            // policy_host_fqdn; "" the system's
    std::chrono::seconds refresh_interval{3600};
    std::string state_dir;            // STATE/policy
    std::string run_dir;
    PipelineSettings pipeline;
    std::string sudo_target;          // policy_sudo_target
    int sudorole_priority = 0;
    DownloadSettings download;

    static Result<PolicySettings> from_config(const Config &config);

    std::string cache_dir() const { return state_dir + "/cache"; }
    std::string backup_dir(std::string_view type) const { return state_dir + "/backup/" + std::string(type); }
    std::string status_path() const { return state_dir + "/status"; }
    std::string hold_path(std::string_view type) const { return state_dir + "/held-" + std::string(type); }
    // Where a type's rendered file goes.
    std::string target_path(const PolicyType &type) const;
};

// The FQDN as configured, else gethostname(), canonicalised by the resolver
// when it has no dot (may block: call it off the loop).
Result<std::string> this_host_fqdn(const std::string &configured);

// The control socket of vigil_policy (vigilctl policy refresh|rollback).
//   org.vigil.Policy.refresh() → (b ok, as lines): a refresh now, answered when done
//   org.vigil.Policy.rollback(s type) → (b ok, s message)
namespace policy_iface {
inline constexpr const char *interface = "org.vigil.Policy";
inline std::string socket_path(const std::string &run_dir) { return run_dir + "/private/sbus-policy"; }
} // namespace policy_iface

} // namespace vigil::policy
