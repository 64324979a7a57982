// Result<T>: the one error type used everywhere (std::expected needs C++23).
// An error carries a code a caller can switch over and a message a person can
// act on ("ldap_uri 'x': no scheme"), never just "failed".
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace vigil {

enum class Errc {
    invalid_argument,   // a caller passed something that can never work
    invalid_config,     // the configuration is refused
    io,                 // a system call failed; the message names it and errno
    not_found,          // the thing asked for does not exist
    exists,             // the thing to create is already there (e.g. a locked pid file)
    timeout,            // a bounded wait ran out; the message names the option
    unavailable,        // the peer or directory cannot be reached right now
    protocol,           // the peer sent something malformed
    permission,         // refused by ownership, mode or peer credentials
    internal,           // a library call failed in a way we did not expect
};

const char *errc_name(Errc code) noexcept;

struct Error {
    Errc code;
    std::string message;
};

// Builds an Error whose message ends with strerror(errnum): "open /x: No such file".
Error sys_error(std::string what, int errnum);

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T &value() & { assert(ok()); return std::get<0>(v_); }
    const T &value() const & { assert(ok()); return std::get<0>(v_); }
    T &&value() && { assert(ok()); return std::get<0>(std::move(v_)); }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }
    T &&operator*() && { return std::move(*this).value(); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }

    const Error &error() const & { assert(!ok()); return std::get<1>(v_); }
    Error &&error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    bool ok() const noexcept { return !failed_; }
    explicit operator bool() const noexcept { return ok(); }
    const Error &error() const & { assert(failed_); return error_; }
    Error &&error() && { assert(failed_); return std::move(error_); }

private:
    Error error_{Errc::internal, {}};
    bool failed_ = false;
};

using Status = Result<void>;

} // namespace vigil
