// The values sbus carries between our processes: control messages (ping,
// reload, "fetch user X"), never directory data. A handful of D-Bus basic
// types is enough, each with its signature character.
#pragma once

#include "util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

struct DBusMessage;

namespace vigil::sbus {

using StringList = std::vector<std::string>;
// Order matters: the index is the type (see signature_of).
using Value = std::variant<bool, std::int32_t, std::uint32_t, std::int64_t, std::uint64_t, std::string, StringList>;
using Args = std::vector<Value>;

// "b", "i", "u", "x", "t", "s", "as".
std::string signature_of(const Args &args);

// Appends `args` to a message. Strings must be valid UTF-8 without NUL
// (libdbus aborts the process on anything else): checked first, and a bad
// one fails the whole message with Errc::invalid_argument.
Status append_args(DBusMessage *msg, const Args &args);

// Reads every argument of a message; a type outside Value is Errc::protocol.
Result<Args> read_args(DBusMessage *msg);

// Errors cross the bus as D-Bus error names, "org.vigil.Error.NotFound", so
// the caller gets the same Errc the handler returned.
std::string error_name(Errc code);
Error error_from_dbus(std::string_view name, std::string_view message);

// Typed access for handlers: get<std::string>(args, 0) after the signature
// was checked against the method table.
template <typename T>
const T &get(const Args &args, std::size_t index)
{
    return std::get<T>(args.at(index));
}

} // namespace vigil::sbus
