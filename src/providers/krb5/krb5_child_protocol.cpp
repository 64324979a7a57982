#include "providers/krb5/krb5_child_protocol.hpp"

#include <bitset>
#include <cstring>

namespace vigil::krb5 {
namespace {

constexpr std::string_view request_magic = "VK5Q";
constexpr std::string_view answer_magic = "VK5A";

enum Tag : std::uint16_t {
    // request
    t_command = 1,
    t_user = 2,
    t_realm = 3,
    t_password = 4,
    t_uid = 5,
    t_gid = 6,
    t_ccname = 7,
    t_krb5_config = 8,
    t_lifetime = 9,
    t_renewable_lifetime = 10,
    t_validate = 11,
    t_keytab = 12,
    t_new_password = 13,
    t_principal = 14,
    // answer
    t_result = 32,
    t_answer_ccname = 33,
    t_message = 34,
    t_tgt_end = 35,
    t_max = 36,
};

void put_u16(std::string &out, std::uint16_t v)
{
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>(v >> 8));
}

void put_u32(std::string &out, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string &out, std::uint64_t v)
{
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(std::string_view bytes)
{
    std::uint64_t v = 0;
    for (std::size_t i = bytes.size(); i-- > 0;) v = v << 8 | static_cast<unsigned char>(bytes[i]);
    return v;
}

void put_field(std::string &out, Tag tag, std::string_view value)
{
    put_u16(out, tag);
    put_u32(out, static_cast<std::uint32_t>(value.size()));
    out.append(value);
}

void put_number(std::string &out, Tag tag, std::uint32_t value)
{
    put_u16(out, tag);
    put_u32(out, 4);
    put_u32(out, value);
}

// Frames `body` (the fields) into out, which starts empty.
void frame(std::string &out, std::string_view magic, std::string_view body)
{
    out.reserve(header_size + body.size());
    out.append(magic);
    put_u32(out, child_protocol_version);
    put_u32(out, static_cast<std::uint32_t>(body.size()));
    out.append(body);
}

Error bad(std::string what) { return Error{Errc::protocol, "krb5 child message: " + what}; }

// Walks the fields of a message whose header was checked.
template <typename OnField>
Status walk(std::string_view body, OnField on_field)
{
    std::bitset<t_max> seen;
    std::size_t at = 0;
    while (at < body.size()) {
        if (body.size() - at < 6) return bad("a field header runs past the end");
        const auto tag = static_cast<std::uint16_t>(get_le(body.substr(at, 2)));
        const auto size = static_cast<std::size_t>(get_le(body.substr(at + 2, 4)));
        at += 6;
        if (size > body.size() - at) return bad("field " + std::to_string(tag) + " runs past the end");
        if (tag >= t_max) return bad("unknown field " + std::to_string(tag));
        if (seen.test(tag)) return bad("field " + std::to_string(tag) + " appears twice");
        seen.set(tag);
        Status st = on_field(tag, body.substr(at, size));
        if (!st) return st;
        at += size;
    }
    return {};
}

Result<std::uint32_t> number(std::uint16_t tag, std::string_view value)
{
    if (value.size() != 4) return bad("field " + std::to_string(tag) + " is not a u32");
    return static_cast<std::uint32_t>(get_le(value));
}

Status text(std::uint16_t tag, std::string_view value, std::string &out)
{
    if (value.find('\0') != std::string_view::npos) return bad("field " + std::to_string(tag) + " holds a NUL");
    out.assign(value);
    return {};
}

Result<std::string_view> body_of(std::string_view message, bool request)
{
    if (message.size() < header_size) return bad("shorter than its header");
    auto length = body_length(message.substr(0, header_size), request);
    if (!length) return std::move(length).error();
    if (message.size() - header_size != *length) return bad("the length does not match the message");
    return message.substr(header_size);
}

} // namespace

const char *child_result_name(ChildResult r) noexcept
{
    switch (r) {
    case ChildResult::ok: return "ok";
    case ChildResult::wrong_password: return "wrong_password";
    case ChildResult::unknown_principal: return "unknown_principal";
    case ChildResult::password_expired: return "password_expired";
    case ChildResult::clock_skew: return "clock_skew";
    case ChildResult::kdc_unreachable: return "kdc_unreachable";
    case ChildResult::account_locked: return "account_locked";
    case ChildResult::validation_failed: return "validation_failed";
    case ChildResult::ccache_failed: return "ccache_failed";
    case ChildResult::bad_request: return "bad_request";
    case ChildResult::error: return "error";
    case ChildResult::password_rejected: return "password_rejected";
    case ChildResult::keytab_failed: return "keytab_failed";
    }
    return "?";
}

Secret encode_request(const ChildRequest &r)
{
    std::string body;
    body.reserve(256 + r.password.reveal().size() + r.new_password.reveal().size());
    put_number(body, t_command, static_cast<std::uint32_t>(r.command));
    const bool for_a_user = r.command != ChildCommand::host_tgt;
    if (for_a_user) put_field(body, t_user, r.user);
    put_field(body, t_realm, r.realm);
    if (for_a_user) {
        put_field(body, t_password, r.password.reveal());
        put_number(body, t_uid, r.uid);
        put_number(body, t_gid, r.gid);
    }
    put_field(body, t_ccname, r.ccname);
    put_field(body, t_krb5_config, r.krb5_config);
    if (r.lifetime != 0) put_number(body, t_lifetime, r.lifetime);
    if (r.renewable_lifetime != 0) put_number(body, t_renewable_lifetime, r.renewable_lifetime);
    if (r.validate) put_number(body, t_validate, 1);
    if (!r.keytab.empty()) put_field(body, t_keytab, r.keytab);
    if (r.command == ChildCommand::change_password) put_field(body, t_new_password, r.new_password.reveal());
    if (!r.principal.empty()) put_field(body, t_principal, r.principal);
    std::string message;
    frame(message, request_magic, body);
    Secret out(message);
    // Both copies held the password.
    explicit_bzero(body.data(), body.capacity());
    explicit_bzero(message.data(), message.capacity());
    return out;
}

std::string encode_answer(const ChildAnswer &a)
{
    std::string body;
    put_number(body, t_result, static_cast<std::uint32_t>(a.result));
    if (!a.ccname.empty()) put_field(body, t_answer_ccname, a.ccname);
    // The message is for a log line: bounded so the answer always fits.
    std::string_view message = a.message;
    if (message.size() > 4096) message = message.substr(0, 4096);
    if (!message.empty()) put_field(body, t_message, message);
    if (a.tgt_end != 0) {
        put_u16(body, t_tgt_end);
        put_u32(body, 8);
        put_u64(body, a.tgt_end);
    }
    std::string out;
    frame(out, answer_magic, body);
    return out;
}

Result<std::size_t> body_length(std::string_view header, bool request)
{
    if (header.size() != header_size) return bad("a header is " + std::to_string(header_size) + " bytes");
    if (header.substr(0, 4) != (request ? request_magic : answer_magic)) return bad("bad magic");
    const auto version = get_le(header.substr(4, 4));
    if (version != child_protocol_version) return bad("version " + std::to_string(version) + " is not 1");
    const auto length = static_cast<std::size_t>(get_le(header.substr(8, 4)));
    if (length > max_body) return bad("a body of " + std::to_string(length) + " bytes is too long");
    return length;
}

Result<ChildRequest> decode_request(std::string_view message)
{
    auto body = body_of(message, true);
    if (!body) return std::move(body).error();
    ChildRequest r;
    std::bitset<t_max> have;
    Status st = walk(*body, [&](std::uint16_t tag, std::string_view value) -> Status {
        have.set(tag);
        switch (tag) {
        case t_command: {
            auto n = number(tag, value);
            if (!n) return std::move(n).error();
            if (*n < static_cast<std::uint32_t>(ChildCommand::authenticate) ||
                *n > static_cast<std::uint32_t>(ChildCommand::host_tgt))
                return bad("unknown command " + std::to_string(*n));
            r.command = static_cast<ChildCommand>(*n);
            return {};
        }
        case t_user: return text(tag, value, r.user);
        case t_realm: return text(tag, value, r.realm);
        case t_password:
        case t_new_password:
            if (value.find('\0') != std::string_view::npos) return bad("a password holds a NUL");
            (tag == t_password ? r.password : r.new_password) = Secret(value);
            return {};
        case t_uid:
        case t_gid:
        case t_lifetime:
        case t_renewable_lifetime:
        case t_validate: {
            auto n = number(tag, value);
            if (!n) return std::move(n).error();
            if (tag == t_uid) r.uid = *n;
            else if (tag == t_gid) r.gid = *n;
            else if (tag == t_lifetime) r.lifetime = *n;
            else if (tag == t_renewable_lifetime) r.renewable_lifetime = *n;
            else if (*n > 1) return bad("validate is 0 or 1");
            else r.validate = *n == 1;
            return {};
        }
        case t_ccname: return text(tag, value, r.ccname);
        case t_krb5_config: return text(tag, value, r.krb5_config);
        case t_keytab: return text(tag, value, r.keytab);
        case t_principal: return text(tag, value, r.principal);
        default: return bad("field " + std::to_string(tag) + " does not belong in a request");
        }
    });
    if (!st) return std::move(st).error();
    for (Tag required : {t_command, t_realm, t_ccname, t_krb5_config}) {
        if (!have.test(required)) return bad("required field " + std::to_string(required) + " is missing");
    }
    if (r.realm.empty()) return bad("an empty realm");
    if (r.command == ChildCommand::host_tgt) {
        // The host's own credentials: no user, no password, stored as root.
        for (Tag user_only : {t_user, t_password, t_uid, t_gid}) {
            if (have.test(user_only))
                return bad("field " + std::to_string(user_only) + " does not belong in a host_tgt request");
        }
        if (!r.ccname.starts_with("FILE:/")) return bad("host_tgt stores into a FILE: ccache only");
    } else {
        for (Tag required : {t_user, t_password, t_uid, t_gid}) {
            if (!have.test(required)) return bad("required field " + std::to_string(required) + " is missing");
        }
        if (r.user.empty()) return bad("an empty user or realm");
    }
    // A new password belongs to a change, and a change needs one.
    if (have.test(t_new_password) != (r.command == ChildCommand::change_password))
        return bad(r.command == ChildCommand::change_password ? "a password change without a new password"
                                                              : "a new password outside a password change");
    return r;
}

Result<ChildAnswer> decode_answer(std::string_view message)
{
    auto body = body_of(message, false);
    if (!body) return std::move(body).error();
    ChildAnswer a;
    bool have_result = false;
    Status st = walk(*body, [&](std::uint16_t tag, std::string_view value) -> Status {
        switch (tag) {
        case t_result: {
            auto n = number(tag, value);
            if (!n) return std::move(n).error();
            if (*n > child_result_max) return bad("unknown result " + std::to_string(*n));
            a.result = static_cast<ChildResult>(*n);
            have_result = true;
            return {};
        }
        case t_answer_ccname: return text(tag, value, a.ccname);
        case t_message: return text(tag, value, a.message);
        case t_tgt_end:
            if (value.size() != 8) return bad("tgt_end is not a u64");
            a.tgt_end = get_le(value);
            return {};
        default: return bad("field " + std::to_string(tag) + " does not belong in an answer");
        }
    });
    if (!st) return std::move(st).error();
    if (!have_result) return bad("no result");
    return a;
}

} // namespace vigil::krb5
