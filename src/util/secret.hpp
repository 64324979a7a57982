// Secret: a password or key that wipes itself and never prints. It is not
// trivially copyable, so it cannot be handed to printf-style logging.
#pragma once

#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <strings.h>

namespace vigil {

class Secret {
public:
    Secret() = default;
    explicit Secret(std::string_view text) : value_(text) {}
    Secret(const Secret &other) : value_(other.value_) {}
    Secret(Secret &&other) noexcept : value_(std::move(other.value_)) { other.wipe(); }
    Secret &operator=(const Secret &other)
    {
        if (this != &other) { wipe(); value_ = other.value_; }
        return *this;
    }
    Secret &operator=(Secret &&other) noexcept
    {
        if (this != &other) { wipe(); value_ = std::move(other.value_); other.wipe(); }
        return *this;
    }
    ~Secret() { wipe(); }

    // The only way to the text: a call a reviewer can grep for.
    const std::string &reveal() const noexcept { return value_; }
    bool empty() const noexcept { return value_.empty(); }

    void wipe() noexcept
    {
        // The whole buffer, not just the size: a moved-from short string
        // keeps its bytes in the inline buffer with a size of 0. The
        // terminator's byte is past capacity() and always 0.
        // explicit_bzero is not removed by the optimiser as a dead store.
        explicit_bzero(value_.data(), value_.capacity());
        value_.clear();
    }

    static constexpr const char *redacted = "***";

private:
    std::string value_;
};

inline std::ostream &operator<<(std::ostream &os, const Secret &) { return os << Secret::redacted; }

} // namespace vigil
