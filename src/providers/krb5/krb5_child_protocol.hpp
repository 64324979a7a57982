// What vigil_be and vigil_krb5_child say to each other: one request on the
// child's stdin, one answer on its stdout, then the child exits.
//
// Both messages have the same frame (all integers little-endian):
//
//   magic    4 bytes   "VK5Q" (request) or "VK5A" (answer)
//   version  u32       1
//   length   u32       bytes of fields that follow, at most max_body
//   fields   { tag u16, size u32, size bytes }*
//
// Each tag appears at most once; an unknown tag, a duplicate, a field that
// runs past the frame, a number field that is not 4 (u32) or 8 (u64) bytes
// long, or a missing required field refuses the whole message. Strings are
// bytes without NUL. The password is a field of the request and nothing
// else: never on argv, never in the environment; both sides wipe their
// copies (Secret) once it is used.
//
// Request fields (R required):
//   command (R)        u32   1 = authenticate (get a TGT and store it),
//                            2 = change_password (kpasswd with the old password,
//                                then a TGT with the new one, stored),
//                            3 = check_password (a kadmin/changepw ticket proves
//                                the password, expired or not; nothing stored)
//                            4 = host_tgt (a TGT for the host principal from the
//                                keytab, stored as root in a FILE ccache: the
//                                credentials of the GSSAPI-bound identity
//                                connection, as SSSD's ldap_child gets them)
//   user (R 1-3)       str   the user's name: the one component of the principal
//   realm (R)          str   krb5_realm (host_tgt: ldap_sasl_realm)
//   password (R 1-3)   str   the password
//   uid, gid (R 1-3)   u32   whom the ccache belongs to (the child drops to them)
//   ccname (R)         str   FILE:/path or DIR:/path, already expanded (host_tgt: FILE only)
//   krb5_config (R)    str   KRB5_CONFIG for the child: "GENERATED:BASE"
//   lifetime           u32   seconds, 0 or absent: the profile's default
//   renewable_lifetime u32   seconds, 0 or absent: not renewable unless the profile says so
//   validate           u32   1 = check the TGT against `keytab`
//   keytab             str   the host keytab (default: the profile's)
//   new_password       str   change_password only, and required there
//   principal          str   the directory's principal for the user (NAME@REALM,
//                            REALM = realm); absent: the one component `user`.
//                            host_tgt: ldap_sasl_authid (a name without a realm
//                            is in `realm`); absent: host/<this host's FQDN>@realm
//
// Answer fields:
//   result (R)         u32   ChildResult
//   ccname             str   what KRB5CCNAME should be (result ok)
//   message            str   what happened, for the log (never the password)
//   tgt_end            u64   the TGT's end time, seconds since the epoch (ok)
#pragma once

#include "util/result.hpp"
#include "util/secret.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::krb5 {

inline constexpr std::uint32_t child_protocol_version = 1;
inline constexpr std::size_t header_size = 12;
inline constexpr std::size_t max_body = 16 * 1024;

enum class ChildCommand : std::uint32_t { authenticate = 1, change_password = 2, check_password = 3, host_tgt = 4 };

enum class ChildResult : std::uint32_t {
    ok = 0,
    wrong_password = 1,    // KRB5KDC_ERR_PREAUTH_FAILED, KRB5KRB_AP_ERR_BAD_INTEGRITY
    unknown_principal = 2, // KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN
    password_expired = 3,  // KRB5KDC_ERR_KEY_EXP, and the password proven right
    clock_skew = 4,        // KRB5KRB_AP_ERR_SKEW
    kdc_unreachable = 5,   // KRB5_KDC_UNREACH, KRB5_REALM_CANT_RESOLVE: offline
    account_locked = 6,    // KRB5KDC_ERR_CLIENT_REVOKED
    validation_failed = 7, // the TGT did not verify against the keytab
    ccache_failed = 8,     // the TGT could not be stored
    bad_request = 9,       // the request was malformed
    error = 10,            // anything else: the message says what
    password_rejected = 11, // kpasswd refused the new password: the message is the KDC's reason
    keytab_failed = 12,     // host_tgt: no keytab, or the principal is not in it
};
inline constexpr std::uint32_t child_result_max = 12;

const char *child_result_name(ChildResult r) noexcept;

struct ChildRequest {
    ChildCommand command = ChildCommand::authenticate;
    std::string user;
    std::string realm;
    Secret password;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::string ccname;
    std::string krb5_config;
    std::uint32_t lifetime = 0;
    std::uint32_t renewable_lifetime = 0;
    bool validate = false;
    std::string keytab;
    Secret new_password; // change_password
    std::string principal; // from the directory (ldap_user_principal); empty: user@realm
};

struct ChildAnswer {
    ChildResult result = ChildResult::error;
    std::string ccname;
    std::string message;
    std::uint64_t tgt_end = 0;
};

// tgt_end from a libkrb5 ticket time (krb5_timestamp: a signed 32-bit
// field that MIT reads as unsigned, so times after 2038-01-19 wrap to
// negative values): the unsigned seconds since the epoch it stands for.
constexpr std::uint64_t ticket_time(std::int32_t krb5_time)
{
    return static_cast<std::uint32_t>(krb5_time);
}

// The whole message, frame included. The request's bytes hold the password:
// the caller keeps them in a Secret.
Secret encode_request(const ChildRequest &request);
std::string encode_answer(const ChildAnswer &answer);

// The body length a header announces (Errc::protocol for a bad magic,
// version or length); `header` must be header_size bytes.
Result<std::size_t> body_length(std::string_view header, bool request);

// The whole message, frame included; Errc::protocol says what is wrong.
Result<ChildRequest> decode_request(std::string_view message);
Result<ChildAnswer> decode_answer(std::string_view message);

} // namespace vigil::krb5
