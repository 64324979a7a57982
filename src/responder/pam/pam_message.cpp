#include "responder/pam/pam_message.hpp"

#include "util/ini.hpp" // is_valid_utf8

#include <array>
#include <cstring>

namespace vigil::responder {
namespace {

constexpr std::uint32_t known_flags = VIGIL_PAM_FLAG_SILENT | VIGIL_PAM_FLAG_DISALLOW_NULL_AUTHTOK |
                                      VIGIL_PAM_FLAG_ESTABLISH_CRED | VIGIL_PAM_FLAG_DELETE_CRED |
                                      VIGIL_PAM_FLAG_REINITIALIZE_CRED | VIGIL_PAM_FLAG_REFRESH_CRED |
                                      VIGIL_PAM_FLAG_CHANGE_EXPIRED_AUTHTOK;

Error refused(std::string what) { return Error{Errc::protocol, "PAM request: " + std::move(what)}; }

const char *item_name(std::uint32_t type)
{
    switch (type) {
    case VIGIL_PAM_ITEM_SERVICE: return "SERVICE";
    case VIGIL_PAM_ITEM_USER: return "USER";
    case VIGIL_PAM_ITEM_TTY: return "TTY";
    case VIGIL_PAM_ITEM_RUSER: return "RUSER";
    case VIGIL_PAM_ITEM_RHOST: return "RHOST";
    case VIGIL_PAM_ITEM_AUTHTOK: return "AUTHTOK";
    case VIGIL_PAM_ITEM_NEWAUTHTOK: return "NEWAUTHTOK";
    case VIGIL_PAM_ITEM_FLAGS: return "FLAGS";
    case VIGIL_PAM_ITEM_REQUESTING_PID: return "REQUESTING_PID";
    }
    return "?";
}

bool has_nul(std::span<const std::uint8_t> bytes) { return std::memchr(bytes.data(), 0, bytes.size()) != nullptr; }

Result<std::string> text_item(std::uint32_t type, std::span<const std::uint8_t> value, std::size_t max, bool required)
{
    if (value.size() > max)
        return refused(std::string(item_name(type)) + " longer than " + std::to_string(max) + " bytes");
    if (has_nul(value)) return refused(std::string(item_name(type)) + " holds a NUL byte");
    if (required && value.empty()) return refused(std::string(item_name(type)) + " is empty");
    std::string text(reinterpret_cast<const char *>(value.data()), value.size());
    // What travels on (D-Bus, the log) must be UTF-8: other bytes of a tty
    // or host name become '?'. A user name is kept as sent: none such is in
    // the directory, and it is answered as unknown.
    if (type != VIGIL_PAM_ITEM_USER && !is_valid_utf8(text))
        for (char &c : text)
            if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    return text;
}

Result<Secret> token_item(std::uint32_t type, std::span<const std::uint8_t> value)
{
    if (value.size() < 4) return refused(std::string(item_name(type)) + " without its type");
    const std::uint32_t kind = vigil_get_u32(value.data());
    const auto token = value.subspan(4);
    if (kind == VIGIL_AUTHTOK_EMPTY) {
        if (!token.empty()) return refused(std::string(item_name(type)) + " of type EMPTY carries bytes");
        return Secret();
    }
    if (kind != VIGIL_AUTHTOK_PASSWORD) return refused(std::string(item_name(type)) + " of an unknown type");
    if (token.empty()) return refused(std::string(item_name(type)) + " of type PASSWORD is empty");
    if (token.size() > VIGIL_MAX_AUTHTOK_LEN)
        return refused(std::string(item_name(type)) + " longer than " + std::to_string(VIGIL_MAX_AUTHTOK_LEN) + " bytes");
    if (has_nul(token)) return refused(std::string(item_name(type)) + " holds a NUL byte");
    return Secret(std::string_view(reinterpret_cast<const char *>(token.data()), token.size()));
}

Result<std::uint32_t> u32_item(std::uint32_t type, std::span<const std::uint8_t> value)
{
    if (value.size() != 4) return refused(std::string(item_name(type)) + " is not 4 bytes");
    return vigil_get_u32(value.data());
}

// The longest prefix of `text` of at most `max` bytes that does not end
// inside a UTF-8 sequence.
std::string cut_utf8(std::string text, std::size_t max)
{
    if (text.size() <= max) return text;
    std::size_t end = max;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    text.resize(end);
    return text;
}

void put_u32(std::vector<std::uint8_t> &out, std::uint32_t v)
{
    std::uint8_t b[4];
    vigil_put_u32(b, v);
    out.insert(out.end(), b, b + 4);
}

} // namespace

bool is_pam_command(std::uint32_t command)
{
    return command >= VIGIL_CMD_PAM_AUTHENTICATE && command <= VIGIL_CMD_PAM_CHAUTHTOK;
}

Result<PamRequest> parse_pam_request(std::uint32_t command, std::span<const std::uint8_t> body)
{
    if (!is_pam_command(command)) return refused("not a PAM command");
    if (body.size() > VIGIL_MAX_REQUEST_LEN - VIGIL_HEADER_LEN) return refused("longer than the limit");
    PamRequest req;
    req.command = command;
    std::array<bool, VIGIL_PAM_ITEM_REQUESTING_PID + 1> seen{};
    std::size_t pos = 0;
    while (pos < body.size()) {
        if (body.size() - pos < 8) return refused("an item cut short");
        const std::uint32_t type = vigil_get_u32(body.data() + pos);
        const std::uint32_t len = vigil_get_u32(body.data() + pos + 4);
        pos += 8;
        if (len > body.size() - pos) return refused("an item longer than the request");
        const auto value = body.subspan(pos, len);
        pos += len;
        if (type == 0 || type >= seen.size()) return refused("an unknown item type " + std::to_string(type));
        if (seen[type]) return refused(std::string(item_name(type)) + " twice");
        seen[type] = true;
        switch (type) {
        case VIGIL_PAM_ITEM_USER: {
            auto v = text_item(type, value, VIGIL_MAX_NAME_LEN, true);
            if (!v) return std::move(v).error();
            req.user = std::move(*v);
            break;
        }
        case VIGIL_PAM_ITEM_SERVICE:
        case VIGIL_PAM_ITEM_TTY:
        case VIGIL_PAM_ITEM_RUSER:
        case VIGIL_PAM_ITEM_RHOST: {
            auto v = text_item(type, value, VIGIL_MAX_PAM_ITEM_LEN, false);
            if (!v) return std::move(v).error();
            (type == VIGIL_PAM_ITEM_SERVICE ? req.service
             : type == VIGIL_PAM_ITEM_TTY   ? req.tty
             : type == VIGIL_PAM_ITEM_RUSER ? req.ruser
                                            : req.rhost) = std::move(*v);
            break;
        }
        case VIGIL_PAM_ITEM_AUTHTOK:
        case VIGIL_PAM_ITEM_NEWAUTHTOK: {
            auto v = token_item(type, value);
            if (!v) return std::move(v).error();
            (type == VIGIL_PAM_ITEM_AUTHTOK ? req.authtok : req.new_authtok) = std::move(*v);
            break;
        }
        case VIGIL_PAM_ITEM_FLAGS: {
            auto v = u32_item(type, value);
            if (!v) return std::move(v).error();
            if ((*v & ~known_flags) != 0) return refused("unknown flags");
            req.flags = *v;
            break;
        }
        case VIGIL_PAM_ITEM_REQUESTING_PID: {
            auto v = u32_item(type, value);
            if (!v) return std::move(v).error();
            req.requesting_pid = *v;
            break;
        }
        }
    }
    if (!seen[VIGIL_PAM_ITEM_USER]) return refused("no USER");
    return req;
}

PamReply &PamReply::message(vigil_pam_msg_style style, std::string text)
{
    if (messages.size() >= VIGIL_MAX_PAM_MESSAGES) return *this;
    for (char &c : text)
        if (c == '\0') c = '?';
    messages.push_back({style, cut_utf8(std::move(text), VIGIL_MAX_PAM_MESSAGE_LEN)});
    return *this;
}

Result<std::vector<std::uint8_t>> encode_pam_reply(const PamReply &reply)
{
    auto bad = [](std::string what) { return Error{Errc::invalid_argument, "PAM reply: " + std::move(what)}; };
    if (static_cast<std::uint32_t>(reply.result) > VIGIL_PAM_RESULT_MAX) return bad("an unknown result");
    if (reply.messages.size() > VIGIL_MAX_PAM_MESSAGES || reply.env.size() > VIGIL_MAX_PAM_ENV ||
        reply.data.size() > VIGIL_MAX_PAM_DATA)
        return bad("more items than the protocol allows");
    std::vector<std::uint8_t> out;
    put_u32(out, static_cast<std::uint32_t>(reply.result));
    for (const auto &m : reply.messages) {
        if (m.text.size() > VIGIL_MAX_PAM_MESSAGE_LEN || m.text.find('\0') != std::string::npos ||
            (m.style != VIGIL_PAM_MSG_INFO && m.style != VIGIL_PAM_MSG_ERROR))
            return bad("a message the client would refuse");
        put_u32(out, VIGIL_PAM_REPLY_MESSAGE);
        put_u32(out, static_cast<std::uint32_t>(4 + m.text.size()));
        put_u32(out, static_cast<std::uint32_t>(m.style));
        out.insert(out.end(), m.text.begin(), m.text.end());
    }
    for (const std::string &e : reply.env) {
        const auto eq = e.find('=');
        if (eq == std::string::npos || eq == 0 || e.size() > VIGIL_MAX_PAM_ITEM_LEN || e.find('\0') != std::string::npos)
            return bad("an environment item that is not NAME=value");
        put_u32(out, VIGIL_PAM_REPLY_ENV);
        put_u32(out, static_cast<std::uint32_t>(e.size()));
        out.insert(out.end(), e.begin(), e.end());
    }
    for (const auto &d : reply.data) {
        if (d.name.empty() || d.name.size() > VIGIL_MAX_NAME_LEN || d.name.find('\0') != std::string::npos ||
            d.bytes.size() > VIGIL_MAX_PAM_ITEM_LEN)
            return bad("a data item the client would refuse");
        put_u32(out, VIGIL_PAM_REPLY_DATA);
        put_u32(out, static_cast<std::uint32_t>(4 + d.name.size() + d.bytes.size()));
        put_u32(out, static_cast<std::uint32_t>(d.name.size()));
        out.insert(out.end(), d.name.begin(), d.name.end());
        out.insert(out.end(), d.bytes.begin(), d.bytes.end());
    }
    if (out.size() > VIGIL_MAX_PAM_REPLY_LEN - VIGIL_HEADER_LEN) return bad("longer than the limit");
    return out;
}

PamPermission pam_permission(PamSocket socket, uid_t caller, std::optional<uid_t> user_uid)
{
    // The private socket's directory lets only root in; a caller that is not
    // root there got in by a mistake of the set-up, and is refused anyway.
    if (socket == PamSocket::private_socket) {
        if (caller != 0) return PamPermission::not_for_this_caller;
        return user_uid ? PamPermission::allowed : PamPermission::unknown_user;
    }
    if (!user_uid) return PamPermission::unknown_user;
    // A privileged program (effective uid 0: su, sudo, passwd run by a
    // user) may ask about anyone; as on the private socket, but without
    // root's right to skip the old password (the caller decides that).
    if (caller == 0) return PamPermission::allowed;
    return *user_uid == caller ? PamPermission::allowed : PamPermission::not_for_this_caller;
}

} // namespace vigil::responder
