#include "policy/policy_entry.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace vigil::policy {

namespace {

// The one value of a single-valued attribute; "" when absent.
Result<std::string> single(const std::string &dn, const AttributeMap &attributes, const char *name, bool required)
{
    auto found = attributes.find(name);
    if (found == attributes.end() || found->second.empty()) {
        if (required) return Error{Errc::invalid_argument, "policy " + dn + ": no " + name};
        return std::string();
    }
    if (found->second.size() > 1) {
        return Error{Errc::invalid_argument, "policy " + dn + ": " + name + " has " +
                                                 std::to_string(found->second.size()) + " values, one is allowed"};
    }
    return found->second.front();
}

std::vector<std::string> all(const AttributeMap &attributes, const char *name)
{
    auto found = attributes.find(name);
    return found == attributes.end() ? std::vector<std::string>{} : found->second;
}

bool equal_ignoring_case(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string normalized_dn(const std::string &dn)
{
    std::string out;
    for (std::size_t i = 0; i < dn.size(); ++i) {
        char c = dn[i];
        if (c == ' ') {
            // Drop spaces next to a separator (before or after it).
            char prev = out.empty() ? ',' : out.back();
            std::size_t next = dn.find_first_not_of(' ', i);
            char after = next == std::string::npos ? ',' : dn[next];
            bool escaped = !out.empty() && out.back() == '\\';
            if (!escaped && (prev == ',' || prev == '=' || prev == '+' || after == ',' || after == '=' || after == '+')) {
                continue;
            }
        }
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

} // namespace

bool same_dn(const std::string &a, const std::string &b) { return normalized_dn(a) == normalized_dn(b); }

Result<PolicyEntry> policy_entry_from(const std::string &dn, const AttributeMap &attributes)
{
    PolicyEntry entry;
    entry.dn = dn;
    auto name = single(dn, attributes, "cn", true);
    if (!name) return std::move(name).error();
    entry.name = *name;

    auto type = single(dn, attributes, "vigilPolicyType", true);
    if (!type) return std::move(type).error();
    entry.type = find_type(*type);
    if (entry.type == nullptr) {
        return Error{Errc::not_found, "policy " + dn + ": type '" + *type + "' is not known to this vigil"};
    }

    auto priority = single(dn, attributes, "vigilPolicyPriority", true);
    if (!priority) return std::move(priority).error();
    const char *begin = priority->data(), *end = begin + priority->size();
    auto [last, error] = std::from_chars(begin, end, entry.priority);
    if (error != std::errc() || last != end) {
        return Error{Errc::invalid_argument,
                     "policy " + dn + ": vigilPolicyPriority '" + *priority + "' is not a 32-bit integer"};
    }

    auto mode = single(dn, attributes, "vigilPolicyMode", false);
    if (!mode) return std::move(mode).error();
    if (mode->empty()) {
        entry.mode = entry.type->mode;
    } else if (equal_ignoring_case(*mode, "ultimate")) {
        entry.mode = InstallMode::ultimate;
    } else if (equal_ignoring_case(*mode, "default")) {
        entry.mode = InstallMode::overlay_default;
    } else {
        return Error{Errc::invalid_argument,
                     "policy " + dn + ": vigilPolicyMode '" + *mode + "' is neither ultimate nor default"};
    }
    if (entry.mode == InstallMode::overlay_default && !entry.type->overlay_allowed) {
        return Error{Errc::invalid_argument, "policy " + dn + ": " + std::string(entry.type->name) +
                                                 " policies are always ultimate (last match wins: an overlay "
                                                 "means nothing)"};
    }

    auto enabled = single(dn, attributes, "vigilPolicyEnabled", false);
    if (!enabled) return std::move(enabled).error();
    if (*enabled == "FALSE") {
        entry.enabled = false;
    } else if (!enabled->empty() && *enabled != "TRUE") {
        return Error{Errc::invalid_argument,
                     "policy " + dn + ": vigilPolicyEnabled '" + *enabled + "' is neither TRUE nor FALSE"};
    }

    auto document = single(dn, attributes, "vigilPolicyDocument", true);
    if (!document) return std::move(document).error();
    entry.document = std::move(*document);
    entry.hosts = all(attributes, "vigilPolicyHost");
    entry.host_groups = all(attributes, "vigilPolicyHostGroup");
    return entry;
}

bool applies_to(const PolicyEntry &entry, const HostIdentity &host)
{
    if (!entry.enabled) return false;
    for (const auto &name : entry.hosts) {
        if (equal_ignoring_case(name, host.fqdn)) return true;
    }
    for (const auto &group : entry.host_groups) {
        for (const auto &member_of : host.group_dns) {
            if (same_dn(group, member_of)) return true;
        }
    }
    return false;
}

} // namespace vigil::policy
