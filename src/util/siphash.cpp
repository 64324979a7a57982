#include "util/siphash.hpp"

#include <cstring>

namespace vigil {
namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct State {
    std::uint64_t v0, v1, v2, v3;
    void round() noexcept
    {
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    }
    std::uint64_t fold() const noexcept { return v0 ^ v1 ^ v2 ^ v3; }
    // One message word, with the two compression rounds of SipHash-2-4.
    void absorb(std::uint64_t word) noexcept
    {
        v3 ^= word;
        round();
        round();
        v0 ^= word;
    }
};

std::uint64_t load64(const std::uint8_t *p) noexcept
{
    std::uint64_t w = 0;
    for (int i = 7; i >= 0; --i) w = (w << 8) | p[i]; // little-endian, whatever the machine
    return w;
}

State start(const SipHash128::Key &key, bool wide) noexcept
{
    const std::uint64_t k0 = load64(key.data()), k1 = load64(key.data() + 8);
    State s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
    if (wide) s.v1 ^= 0xee;
    return s;
}

} // namespace

SipHash128::SipHash128(const Key &key) noexcept
{
    State s = start(key, true);
    v0_ = s.v0, v1_ = s.v1, v2_ = s.v2, v3_ = s.v3;
}

void SipHash128::compress(std::uint64_t word) noexcept
{
    State s{v0_, v1_, v2_, v3_};
    s.absorb(word);
    v0_ = s.v0, v1_ = s.v1, v2_ = s.v2, v3_ = s.v3;
}

void SipHash128::update(const void *data, std::size_t size) noexcept
{
    const auto *p = static_cast<const std::uint8_t *>(data);
    std::size_t used = length_ % 8; // bytes already in buffer_
    length_ += size;
    if (used != 0) {
        const std::size_t take = size < 8 - used ? size : 8 - used;
        std::memcpy(buffer_ + used, p, take);
        p += take;
        size -= take;
        if (used + take < 8) return;
        compress(load64(buffer_));
    }
    for (; size >= 8; p += 8, size -= 8) compress(load64(p));
    std::memcpy(buffer_, p, size);
}

void SipHash128::update_framed(std::string_view bytes) noexcept
{
    // Values longer than 4 GiB do not occur here; the length is cut to 32 bits.
    const auto n = static_cast<std::uint32_t>(bytes.size());
    const std::uint8_t length[4] = {static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(n >> 8),
                                    static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 24)};
    update(length, sizeof length);
    update(bytes);
}

SipHash128::Digest SipHash128::finish() const noexcept
{
    State s{v0_, v1_, v2_, v3_};
    std::uint64_t last = static_cast<std::uint64_t>(length_) << 56;
    for (std::size_t i = 0; i < length_ % 8; ++i) last |= static_cast<std::uint64_t>(buffer_[i]) << (8 * i);
    s.absorb(last);
    s.v2 ^= 0xee;
    for (int i = 0; i < 4; ++i) s.round();
    const std::uint64_t first = s.fold();
    s.v1 ^= 0xdd;
    for (int i = 0; i < 4; ++i) s.round();
    const std::uint64_t second = s.fold();
    Digest out;
    for (int i = 0; i < 8; ++i) {
        out[i] = static_cast<std::uint8_t>(first >> (8 * i));
        out[8 + i] = static_cast<std::uint8_t>(second >> (8 * i));
    }
    return out;
}

std::uint64_t SipHash128::hash64(const Key &key, const void *data, std::size_t size) noexcept
{
    State s = start(key, false);
    const auto *p = static_cast<const std::uint8_t *>(data);
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) s.absorb(load64(p + i));
    std::uint64_t last = static_cast<std::uint64_t>(size) << 56;
    for (std::size_t j = 0; i + j < size; ++j) last |= static_cast<std::uint64_t>(p[i + j]) << (8 * j);
    s.absorb(last);
    s.v2 ^= 0xff;
    for (int r = 0; r < 4; ++r) s.round();
    return s.fold();
}

} // namespace vigil
