// SipHash-2-4 against the test vectors of the SipHash paper (key 00..0f,
// message 00, 01, 02, ... of the given length).
#include "common.hpp"
#include "util/siphash.hpp"

#include <cstring>
#include <vector>

using vigil::SipHash128;

namespace {

SipHash128::Key paper_key()
{
    SipHash128::Key key;
    for (int i = 0; i < 16; ++i) key[i] = static_cast<std::uint8_t>(i);
    return key;
}

std::vector<std::uint8_t> paper_message(std::size_t n)
{
    std::vector<std::uint8_t> m(n);
    for (std::size_t i = 0; i < n; ++i) m[i] = static_cast<std::uint8_t>(i);
    return m;
}

void sixty_four_bit_vectors(void **)
{
    auto key = paper_key();
    auto m = paper_message(15);
    assert_true(SipHash128::hash64(key, m.data(), 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(SipHash128::hash64(key, m.data(), 15) == 0xa129ca6149be45e5ULL);
}

void one_hundred_twenty_eight_bit_vector(void **)
{
    const std::uint8_t empty[16] = {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
                                    0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93};
    SipHash128 h(paper_key());
    auto d = h.finish();
    assert_memory_equal(d.data(), empty, 16);
}

void pieces_hash_like_the_whole(void **)
{
    auto m = paper_message(64);
    for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 63u, 64u}) {
        SipHash128 whole(paper_key());
        whole.update(m.data(), n);
        for (std::size_t cut1 = 0; cut1 <= n; ++cut1) {
            for (std::size_t cut2 = cut1; cut2 <= n; cut2 += 3) {
                SipHash128 parts(paper_key());
                parts.update(m.data(), cut1);
                parts.update(m.data() + cut1, cut2 - cut1);
                parts.update(m.data() + cut2, n - cut2);
                assert_true(parts.finish() == whole.finish());
            }
        }
    }
}

void framing_separates_values(void **)
{
    SipHash128 ab_c(paper_key()), a_bc(paper_key());
    ab_c.update_framed("ab");
    ab_c.update_framed("c");
    a_bc.update_framed("a");
    a_bc.update_framed("bc");
    assert_false(ab_c.finish() == a_bc.finish());
    SipHash128 other_key(SipHash128::Key{});
    other_key.update_framed("ab");
    other_key.update_framed("c");
    assert_false(other_key.finish() == ab_c.finish());
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sixty_four_bit_vectors),
        cmocka_unit_test(one_hundred_twenty_eight_bit_vector),
        cmocka_unit_test(pieces_hash_like_the_whole),
        cmocka_unit_test(framing_separates_values),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
