// The one table of known sections and options: name, type, default, bounds.
// Validation, defaults, confdb and doc/config.md all follow it; adding an
// option is adding a row.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace vigil {

enum class OptType {
    string,
    integer,   // decimal, within [min, max]
    boolean,   // true/false, yes/no (any case)
    choice,    // one of `choices`
    list,      // comma-separated; each item one of `choices` when choices is set
    path,      // absolute path
    ldap_uris, // comma-separated ldap:// or ldaps:// URIs
    duration,  // seconds, or amounts with d, h, m, s (krb5_lifetime: util/krb5_options.hpp)
    ccname,    // a ccache name template (krb5_ccname_template: util/krb5_options.hpp)
};

// Which kind of section an option lives in. A domain section is "domain/NAME".
enum class SectionKind { vigil, nss, pam, policy, ifp, domain };

struct OptionSpec {
    SectionKind section;
    std::string_view name;
    OptType type;
    // The default as text; "" means no default. "@other" means "the value of
    // option `other` in the same section" (auth_provider follows id_provider).
    std::string_view default_value;
    std::int64_t min = 0;
    std::int64_t max = 0;
    std::string_view choices = {}; // comma-separated
    bool required = false;
    bool secret = false;           // never echoed in messages or logs
};

std::span<const OptionSpec> option_table();

// nullptr when the option is unknown in that kind of section.
const OptionSpec *find_option(SectionKind kind, std::string_view name);

// "vigil" -> vigil, "domain/LDAP" -> domain; false for an unknown section.
// `domain` receives the part after "domain/".
bool classify_section(std::string_view section, SectionKind &kind, std::string_view &domain);

std::string_view section_kind_name(SectionKind kind);
std::string_view opt_type_name(OptType type);

// The service names [vigil] services accepts, in start order.
inline constexpr std::string_view known_services = "nss, pam, policy, ifp";

} // namespace vigil
