// The responder's half of the PAM commands of doc/protocol.md: a request
// body parsed and checked into a PamRequest (tokens held as Secrets), a
// PamReply encoded within the protocol's limits, and the rule of who may ask
// for whom. No I/O here, so the parser can be fuzzed on its own
// (tests/fuzz/fuzz_pam_request.cpp).
#pragma once

#include "util/result.hpp"
#include "util/secret.hpp"
#include "sss_client/vigil_protocol.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vigil::responder {

// What a PAM call sent. Every item is checked: lengths, no NUL in text, a
// token type that agrees with its token, only the known flags.
struct PamRequest {
    std::uint32_t command = 0; // VIGIL_CMD_PAM_*
    std::string user;          // never empty
    std::string service, tty, ruser, rhost;
    // Sent or not; an AUTHTOK of type EMPTY is an empty Secret. Wiped with
    // the request.
    std::optional<Secret> authtok;
    std::optional<Secret> new_authtok;
    std::uint32_t flags = 0; // VIGIL_PAM_FLAG_*
    std::optional<std::uint32_t> requesting_pid;

    bool silent() const { return (flags & VIGIL_PAM_FLAG_SILENT) != 0; }
    bool disallow_null_authtok() const { return (flags & VIGIL_PAM_FLAG_DISALLOW_NULL_AUTHTOK) != 0; }
};

bool is_pam_command(std::uint32_t command);

// Errc::protocol with what is wrong (never a token's bytes) for anything
// doc/protocol.md does not allow: the caller answers BAD_REQUEST.
Result<PamRequest> parse_pam_request(std::uint32_t command, std::span<const std::uint8_t> body);

struct PamReply {
    vigil_pam_result result = VIGIL_PAM_SYSTEM_ERR;
    struct Message {
        vigil_pam_msg_style style;
        std::string text;
    };
    std::vector<Message> messages;
    std::vector<std::string> env; // NAME=value, for pam_putenv
    struct Data {
        std::string name;
        std::vector<std::uint8_t> bytes;
    };
    std::vector<Data> data; // for pam_set_data

    // Builders that keep to the limits: a message longer than the protocol
    // allows is cut at a UTF-8 boundary, one past the count is dropped.
    PamReply &info(std::string text) { return message(VIGIL_PAM_MSG_INFO, std::move(text)); }
    PamReply &error(std::string text) { return message(VIGIL_PAM_MSG_ERROR, std::move(text)); }
    PamReply &message(vigil_pam_msg_style style, std::string text);
};

// The reply body; Errc::invalid_argument for an env item that is not
// NAME=value, data past the limits, or text with a NUL (a bug of ours: the
// client would refuse the whole reply).
Result<std::vector<std::uint8_t>> encode_pam_reply(const PamReply &reply);

// Which socket a request came through.
enum class PamSocket { public_socket, private_socket };

// Who may ask about whom: on the private socket (root only: its directory
// is 0700 root) a root caller acts for anyone; on the public socket an
// unprivileged caller acts only for its own uid, so it can neither guess
// another user's password nor lock them out, while a privileged one
// (effective uid 0: a setuid su, sudo or passwd) acts for anyone. Only the
// private socket's root (real and effective uid 0, as pam_vigil.so chooses
// it) may set a password without the old one. `user_uid` is the uid the
// request's user resolves to (nullopt: not known).
enum class PamPermission { allowed, unknown_user, not_for_this_caller };
PamPermission pam_permission(PamSocket socket, uid_t caller, std::optional<uid_t> user_uid);

} // namespace vigil::responder
