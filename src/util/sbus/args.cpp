#include "util/sbus/args.hpp"

#include "util/ini.hpp" // is_valid_utf8

#include <dbus/dbus.h>

#include <array>

namespace vigil::sbus {
namespace {

constexpr std::array<const char *, 7> type_signatures = {"b", "i", "u", "x", "t", "s", "as"};

bool valid_string(const std::string &s)
{
    return s.find('\0') == std::string::npos && is_valid_utf8(s);
}

struct ErrorName {
    Errc code;
    const char *name;
};

constexpr ErrorName error_names[] = {
    {Errc::invalid_argument, "org.vigil.Error.InvalidArgument"},
    {Errc::invalid_config, "org.vigil.Error.InvalidConfig"},
    {Errc::io, "org.vigil.Error.Io"},
    {Errc::not_found, "org.vigil.Error.NotFound"},
    {Errc::exists, "org.vigil.Error.Exists"},
    {Errc::timeout, "org.vigil.Error.Timeout"},
    {Errc::unavailable, "org.vigil.Error.Unavailable"},
    {Errc::protocol, "org.vigil.Error.Protocol"},
    {Errc::permission, "org.vigil.Error.Permission"},
    {Errc::internal, "org.vigil.Error.Internal"},
};

} // namespace

std::string signature_of(const Args &args)
{
    std::string sig;
    for (const Value &v : args) sig += type_signatures[v.index()];
    return sig;
}

Status append_args(DBusMessage *msg, const Args &args)
{
    // Validate everything before appending anything: a half-built message is never sent.
    for (std::size_t i = 0; i < args.size(); ++i) {
        bool ok = true;
        if (auto *s = std::get_if<std::string>(&args[i])) ok = valid_string(*s);
        if (auto *l = std::get_if<StringList>(&args[i]))
            for (const std::string &s : *l) ok = ok && valid_string(s);
        if (!ok) {
            return Error{Errc::invalid_argument,
                         "argument " + std::to_string(i + 1) + " holds a string that is not valid UTF-8 or holds NUL"};
        }
    }
    DBusMessageIter it;
    dbus_message_iter_init_append(msg, &it);
    bool ok = true;
    for (const Value &v : args) {
        if (auto *b = std::get_if<bool>(&v)) {
            dbus_bool_t x = *b ? TRUE : FALSE;
            ok = dbus_message_iter_append_basic(&it, DBUS_TYPE_BOOLEAN, &x);
        } else if (auto *i32 = std::get_if<std::int32_t>(&v)) {
            ok = dbus_message_iter_append_basic(&it, DBUS_TYPE_INT32, i32);
        } else if (auto *u32 = std::get_if<std::uint32_t>(&v)) {
            ok = dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, u32);
        } else if (auto *i64 = std::get_if<std::int64_t>(&v)) {
            dbus_int64_t x = *i64;
            ok = dbus_message_iter_append_basic(&it, DBUS_TYPE_INT64, &x);
        } else if (auto *u64 = std::get_if<std::uint64_t>(&v)) {
            dbus_uint64_t x = *u64;
            ok = dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &x);
        } else if (auto *s = std::get_if<std::string>(&v)) {
            const char *p = s->c_str();
            ok = dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &p);
        } else if (auto *l = std::get_if<StringList>(&v)) {
            DBusMessageIter sub;
            ok = dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, DBUS_TYPE_STRING_AS_STRING, &sub);
            for (const std::string &item : *l) {
                const char *p = item.c_str();
                ok = ok && dbus_message_iter_append_basic(&sub, DBUS_TYPE_STRING, &p);
            }
            ok = dbus_message_iter_close_container(&it, &sub) && ok;
        }
        if (!ok) return Error{Errc::internal, "out of memory building a D-Bus message"};
    }
    return {};
}

Result<Args> read_args(DBusMessage *msg)
{
    Args args;
    DBusMessageIter it;
    if (!dbus_message_iter_init(msg, &it)) return args; // no arguments
    do {
        int type = dbus_message_iter_get_arg_type(&it);
        switch (type) {
        case DBUS_TYPE_BOOLEAN: {
            dbus_bool_t x;
            dbus_message_iter_get_basic(&it, &x);
            args.emplace_back(static_cast<bool>(x));
            break;
        }
        case DBUS_TYPE_INT32: {
            dbus_int32_t x;
            dbus_message_iter_get_basic(&it, &x);
            args.emplace_back(static_cast<std::int32_t>(x));
            break;
        }
        case DBUS_TYPE_UINT32: {
            dbus_uint32_t x;
            dbus_message_iter_get_basic(&it, &x);
            args.emplace_back(static_cast<std::uint32_t>(x));
            break;
        }
        case DBUS_TYPE_INT64: {
            dbus_int64_t x;
            dbus_message_iter_get_basic(&it, &x);
            args.emplace_back(static_cast<std::int64_t>(x));
            break;
        }
        case DBUS_TYPE_UINT64: {
            dbus_uint64_t x;
            dbus_message_iter_get_basic(&it, &x);
            args.emplace_back(static_cast<std::uint64_t>(x));
            break;
        }
        case DBUS_TYPE_STRING: {
            const char *s;
            dbus_message_iter_get_basic(&it, &s);
            args.emplace_back(std::string(s));
            break;
        }
        case DBUS_TYPE_ARRAY: {
            if (dbus_message_iter_get_element_type(&it) != DBUS_TYPE_STRING)
                return Error{Errc::protocol, "unsupported array type in D-Bus message"};
            StringList list;
            DBusMessageIter sub;
            dbus_message_iter_recurse(&it, &sub);
            while (dbus_message_iter_get_arg_type(&sub) == DBUS_TYPE_STRING) {
                const char *s;
                dbus_message_iter_get_basic(&sub, &s);
                list.emplace_back(s);
                dbus_message_iter_next(&sub);
            }
            args.emplace_back(std::move(list));
            break;
        }
        default:
            return Error{Errc::protocol, std::string("unsupported D-Bus type '") + static_cast<char>(type) + "'"};
        }
    } while (dbus_message_iter_next(&it));
    return args;
}

std::string error_name(Errc code)
{
    for (const ErrorName &e : error_names)
        if (e.code == code) return e.name;
    return "org.vigil.Error.Internal";
}

Error error_from_dbus(std::string_view name, std::string_view message)
{
    for (const ErrorName &e : error_names)
        if (name == e.name) return Error{e.code, std::string(message)};
    // libdbus's own errors: what a caller can act on.
    if (name == DBUS_ERROR_NO_REPLY || name == DBUS_ERROR_TIMEOUT || name == DBUS_ERROR_TIMED_OUT)
        return Error{Errc::timeout, std::string(message)};
    if (name == DBUS_ERROR_DISCONNECTED || name == DBUS_ERROR_NO_SERVER || name == DBUS_ERROR_NO_NETWORK)
        return Error{Errc::unavailable, std::string(message)};
    if (name == DBUS_ERROR_ACCESS_DENIED || name == DBUS_ERROR_AUTH_FAILED)
        return Error{Errc::permission, std::string(message)};
    return Error{Errc::protocol, std::string(name) + ": " + std::string(message)};
}

} // namespace vigil::sbus
