// Building and reading message bodies of the client protocol
// (doc/protocol.md, src/sss_client/vigil_protocol.h) from C++.
#pragma once

extern "C" {
#include "sss_client/vigil_protocol.h"
}

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::responder {

class WireWriter {
public:
    void u32(std::uint32_t v)
    {
        std::uint8_t b[4];
        vigil_put_u32(b, v);
        out_.insert(out_.end(), b, b + 4);
    }
    void u64(std::uint64_t v)
    {
        std::uint8_t b[8];
        vigil_put_u64(b, v);
        out_.insert(out_.end(), b, b + 8);
    }
    void str(std::string_view s)
    {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.insert(out_.end(), s.begin(), s.end());
    }
    std::size_t size() const { return out_.size(); }
    std::vector<std::uint8_t> take() { return std::move(out_); }

private:
    std::vector<std::uint8_t> out_;
};

// Reads a request body; every read checks the length first. A body is
// consumed exactly: done() says whether nothing is left.
class WireReader {
public:
    explicit WireReader(std::span<const std::uint8_t> body) : body_(body) {}
    std::optional<std::uint32_t> u32()
    {
        if (body_.size() - pos_ < 4) return std::nullopt;
        std::uint32_t v = vigil_get_u32(body_.data() + pos_);
        pos_ += 4;
        return v;
    }
    std::optional<std::uint64_t> u64()
    {
        if (body_.size() - pos_ < 8) return std::nullopt;
        std::uint64_t v = vigil_get_u64(body_.data() + pos_);
        pos_ += 8;
        return v;
    }
    // A str of at most `max` bytes without NUL.
    std::optional<std::string> str(std::uint32_t max)
    {
        auto len = u32();
        if (!len || *len > max || body_.size() - pos_ < *len) return std::nullopt;
        std::string s(reinterpret_cast<const char *>(body_.data() + pos_), *len);
        if (s.find('\0') != std::string::npos) return std::nullopt;
        pos_ += *len;
        return s;
    }
    bool done() const { return pos_ == body_.size(); }

private:
    std::span<const std::uint8_t> body_;
    std::size_t pos_ = 0;
};

} // namespace vigil::responder
