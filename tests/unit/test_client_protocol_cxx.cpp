// test_client_protocol_cxx - src/sss_client/vigil_protocol.h as the C++
// responders will see it: it must compile under C++20 with the strictest
// warnings they may turn on (old-style casts, conversions), and its helpers
// must agree with the C modules' byte order.
#include <cstddef>
#include <cstdint>
#include <cstring>

extern "C" {
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>
}

#include "vigil_protocol.h"

namespace {

void integers_round_trip_little_endian(void **)
{
    uint8_t b[8];
    vigil_put_u32(b, 0xA1B2C3D4u);
    const uint8_t expect32[4] = { 0xD4, 0xC3, 0xB2, 0xA1 };
    assert_memory_equal(b, expect32, 4);
    assert_int_equal(vigil_get_u32(b), 0xA1B2C3D4u);
    vigil_put_u64(b, 0x0102030405060708ull);
    assert_int_equal(b[0], 0x08);
    assert_int_equal(b[7], 0x01);
    assert_true(vigil_get_u64(b) == 0x0102030405060708ull);
}

void every_command_has_one_row_and_a_socket(void **)
{
    for (const auto &row : vigil_command_table) {
        assert_ptr_equal(vigil_command_lookup(row.command), &row);
        assert_true(row.socket == VIGIL_SOCKET_NSS || row.socket == VIGIL_SOCKET_PAM
                    || row.socket == VIGIL_SOCKET_ANY);
        assert_true(row.max_reply_len >= VIGIL_HEADER_LEN);
        assert_non_null(row.name);
    }
    assert_null(vigil_command_lookup(0));
}

}  // namespace

int main()
{
    const CMUnitTest tests[] = {
        cmocka_unit_test(integers_round_trip_little_endian),
        cmocka_unit_test(every_command_has_one_row_and_a_socket),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
