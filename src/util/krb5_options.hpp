// The syntax of the Kerberos options (sssd.conf's spelling), as pure
// functions: config validation (vigilctl config-check) and the provider use
// the same ones.
//
//   krb5_lifetime, krb5_renewable_lifetime: a number of seconds, or amounts
//     with units s, m, h, d in that order ("90", "10h", "1d12h", "30m15s").
//   krb5_ccname_template: FILE:PATH or DIR:PATH (PATH absolute after
//     expansion), with %u user name, %U uid, %p principal, %r realm,
//     %h home directory, %d krb5_ccachedir, %% a percent sign; or exactly
//     KEYRING:persistent:%U (the user's persistent keyring: the child
//     descends from a daemon, so a session keyring would be the daemon's).
#pragma once

#include "util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::krb5opt {

// Seconds; Errc::invalid_config with the reason for anything else.
// Bounded to 2^31-1 seconds (libkrb5 keeps lifetimes in a krb5_deltat).
Result<std::int64_t> parse_duration(std::string_view text);

// What %-expansion fills in.
struct TemplateValues {
    std::string user;      // %u
    std::uint32_t uid = 0; // %U
    std::string principal; // %p (as principal_text() writes it)
    std::string realm;     // %r
    std::string home;      // %h
    std::string ccachedir; // %d
};

enum class CcacheType { file, dir, keyring };

struct CcacheName {
    CcacheType type = CcacheType::file;
    std::string path; // absolute, no ".." component; keyring: the uid
    std::string full() const
    {
        switch (type) {
        case CcacheType::file: return "FILE:" + path;
        case CcacheType::dir: return "DIR:" + path;
        case CcacheType::keyring: return "KEYRING:persistent:" + path;
        }
        return path;
    }
};

// The template alone (config-check): type prefix, known % escapes only.
Status check_ccname_template(std::string_view tmpl);

// The template for one user. Refused: an empty value for an escape that is
// used (no home directory for %h), a result that is not an absolute path or
// has a ".." component, or one with a control character.
Result<CcacheName> expand_ccname_template(std::string_view tmpl, const TemplateValues &values);

// "name@REALM" with the characters that would change the principal's
// meaning ('/', '@', '\\') escaped as krb5_unparse_name writes them.
std::string principal_text(std::string_view name, std::string_view realm);

// KRB5_CONFIG as the process found it at its first call (else
// /etc/krb5.conf): the base the generated profile is put in front of. Read
// once, so that a process that sets KRB5_CONFIG itself (vigil_be for the
// GSSAPI bind) still sees its own start-up value.
const std::string &base_profile();

// The generated profile of a domain: STATE_DIR/krb5/DOMAIN.conf.
std::string generated_profile_path(const std::string &state_dir, const std::string &domain);

} // namespace vigil::krb5opt
