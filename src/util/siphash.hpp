// SipHash-2-4 with a 128-bit output (Aumasson and Bernstein, "SipHash: a
// fast short-input PRF"): a keyed hash whose collisions cannot be found
// without the key. vigil uses it for digests of directory answers, keyed
// with a secret kept in the cache, so that nobody who can only write
// directory data can make two answers look the same to vigil.
// Implemented here from the paper's description; tests/unit/test_siphash.cpp
// checks it against the paper's test vectors.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vigil {

class SipHash128 {
public:
    using Key = std::array<std::uint8_t, 16>;
    using Digest = std::array<std::uint8_t, 16>;

    explicit SipHash128(const Key &key) noexcept;

    // Appends bytes; feeding a message in pieces gives the hash of the whole.
    void update(const void *data, std::size_t size) noexcept;
    void update(std::string_view bytes) noexcept { update(bytes.data(), bytes.size()); }
    // A length (32 bits), then the bytes: one value among others, unambiguously.
    void update_framed(std::string_view bytes) noexcept;

    Digest finish() const noexcept;

    // The 64-bit SipHash-2-4 of a whole message (the paper's main vectors).
    static std::uint64_t hash64(const Key &key, const void *data, std::size_t size) noexcept;

private:
    void compress(std::uint64_t word) noexcept;
    std::uint64_t v0_, v1_, v2_, v3_;
    std::uint8_t buffer_[8] = {}; // bytes not yet in a whole word: length_ % 8 of them
    std::size_t length_ = 0;      // all bytes so far
};

} // namespace vigil
