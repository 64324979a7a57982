/*
 * test_client_parsers - the client modules' body readers and writers, at
 * every boundary: each buffer size around an entry's need, each limit of
 * doc/protocol.md, the byte order.  Buffers are malloc'd to their exact
 * size, so the sanitizer build sees any byte written past them.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nss_vigil.h"
#include "pam_vigil.h"

static uint8_t body[1 << 16];

static size_t passwd_body(const char *name, const char *gecos)
{
    struct vigil_writer w;
    vigil_writer_init(&w, body, sizeof(body));
    vigil_write_u32(&w, 10001);
    vigil_write_u32(&w, 10002);
    vigil_write_str(&w, name, VIGIL_MAX_NAME_LEN);
    vigil_write_str(&w, "x", VIGIL_MAX_FIELD_LEN);
    vigil_write_str(&w, gecos, VIGIL_MAX_FIELD_LEN);
    vigil_write_str(&w, "/home/a", VIGIL_MAX_FIELD_LEN);
    vigil_write_str(&w, "/bin/sh", VIGIL_MAX_FIELD_LEN);
    assert_false(w.bad);
    return w.len;
}

static int fill_passwd_sized(size_t len, size_t buflen, struct passwd *pw)
{
    char *buf = malloc(buflen ? buflen : 1);
    assert_non_null(buf);
    struct vigil_reader r;
    vigil_reader_init(&r, body, len);
    int rc = vigil_nss_fill_passwd(&r, pw, buf, buflen);
    if (rc == 0) {
        assert_string_equal(pw->pw_name, "alice");
        assert_string_equal(pw->pw_shell, "/bin/sh");
        assert_int_equal(pw->pw_uid, 10001);
        assert_int_equal(pw->pw_gid, 10002);
    }
    free(buf);
    return rc;
}

static void passwd_is_erange_below_its_need_and_fits_from_it(void **state)
{
    (void)state;
    size_t len = passwd_body("alice", "Alice L");
    /* Five strings and their NULs. */
    size_t need = sizeof("alice") + sizeof("x") + sizeof("Alice L") + sizeof("/home/a")
                  + sizeof("/bin/sh");
    for (size_t buflen = 0; buflen < need; buflen++) {
        struct passwd pw;
        memset(&pw, 0x5a, sizeof(pw));
        struct passwd before = pw;
        assert_int_equal(fill_passwd_sized(len, buflen, &pw), ERANGE);
        assert_memory_equal(&pw, &before, sizeof(pw));     /* untouched */
    }
    for (size_t buflen = need; buflen < need + 16; buflen++) {
        struct passwd pw;
        assert_int_equal(fill_passwd_sized(len, buflen, &pw), 0);
    }
}

static void passwd_with_trailing_byte_or_short_body_is_malformed(void **state)
{
    (void)state;
    size_t len = passwd_body("alice", "");
    struct passwd pw;
    assert_int_equal(fill_passwd_sized(len + 1, 4096, &pw), EBADMSG);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(fill_passwd_sized(cut, 4096, &pw), EBADMSG);
    }
}

static void passwd_with_nul_in_a_string_or_empty_name_is_malformed(void **state)
{
    (void)state;
    struct passwd pw;
    size_t len = passwd_body("alice", "ab");
    body[8 + 4 + 5 + 4 + 1 + 4 + 1] = '\0';   /* the gecos' second byte */
    assert_int_equal(fill_passwd_sized(len, 4096, &pw), EBADMSG);
    len = passwd_body("", "ab");
    assert_int_equal(fill_passwd_sized(len, 4096, &pw), EBADMSG);
}

static size_t group_body(uint32_t gid, uint32_t members)
{
    struct vigil_writer w;
    vigil_writer_init(&w, body, sizeof(body));
    vigil_write_u32(&w, gid);
    vigil_write_str(&w, "devs", VIGIL_MAX_NAME_LEN);
    vigil_write_str(&w, "x", VIGIL_MAX_FIELD_LEN);
    vigil_write_u32(&w, members);
    for (uint32_t i = 0; i < members; i++) {
        vigil_write_str(&w, i % 2 ? "bob" : "alice", VIGIL_MAX_NAME_LEN);
    }
    assert_false(w.bad);
    return w.len;
}

static int fill_group_sized(size_t len, size_t buflen, uint32_t members)
{
    char *buf = malloc(buflen ? buflen : 1);
    assert_non_null(buf);
    struct vigil_reader r;
    struct group gr;
    vigil_reader_init(&r, body, len);
    int rc = vigil_nss_fill_group(&r, &gr, buf, buflen);
    if (rc == 0) {
        assert_string_equal(gr.gr_name, "devs");
        for (uint32_t i = 0; i < members; i++) {
            assert_string_equal(gr.gr_mem[i], i % 2 ? "bob" : "alice");
        }
        assert_null(gr.gr_mem[members]);
    }
    free(buf);
    return rc;
}

static void group_fits_exactly_from_one_size_on(void **state)
{
    (void)state;
    for (uint32_t members = 0; members < 4; members++) {
        size_t len = group_body(20001, members);
        size_t first = 0;
        for (size_t buflen = 0; buflen < 256; buflen++) {
            int rc = fill_group_sized(len, buflen, members);
            if (first == 0 && rc == 0) {
                first = buflen;
            }
            /* ERANGE below the first size that fits, success from it on. */
            assert_int_equal(rc, first == 0 || buflen < first ? ERANGE : 0);
        }
        assert_true(first > 0);
    }
}

static void group_member_count_beyond_limit_or_body_is_malformed(void **state)
{
    (void)state;
    size_t len = group_body(20001, 2);
    vigil_put_u32(body + 4 + 8 + 5, 3);             /* count 3, two members sent */
    assert_int_equal(fill_group_sized(len, 4096, 3), EBADMSG);
    vigil_put_u32(body + 4 + 8 + 5, VIGIL_MAX_GROUP_MEMBERS + 1);
    assert_int_equal(fill_group_sized(len, 4096, 0), EBADMSG);
}

static void entries_with_id_zero_are_not_found(void **state)
{
    (void)state;
    size_t len = group_body(0, 1);
    assert_int_equal(fill_group_sized(len, 4096, 1), ENOENT);
}

static size_t gids_body(const uint32_t *gids, uint32_t n)
{
    vigil_put_u32(body, n);
    for (uint32_t i = 0; i < n; i++) {
        vigil_put_u32(body + 4 + 4 * i, gids[i]);
    }
    return 4 + 4 * (size_t)n;
}

static void initgroups_skips_known_gids_and_respects_limit(void **state)
{
    (void)state;
    static const uint32_t gids[] = { 5, 7, 5, 100, 0, 9, 7, 42 };
    size_t len = gids_body(gids, 8);
    for (long limit = -1; limit < 8; limit++) {
        long start = 2, size = 2;
        gid_t *groups = malloc(2 * sizeof(gid_t));
        assert_non_null(groups);
        groups[0] = 100;        /* the primary group */
        groups[1] = 42;         /* from a module before us */
        int err = 0;
        assert_int_equal(vigil_nss_add_groups(body, len, 100, &start, &size, &groups, limit,
                                               &err),
                         NSS_STATUS_SUCCESS);
        /* New: 5, 7, 9 (sorted); never 0, 100, 42 again. */
        long expect = limit <= 0 ? 5 : limit < 2 ? 2 : limit > 5 ? 5 : limit;
        assert_int_equal(start, expect);
        assert_true(start <= size);
        static const gid_t added[] = { 5, 7, 9 };
        for (long i = 2; i < start; i++) {
            assert_int_equal(groups[i], added[i - 2]);
        }
        free(groups);
    }
}

static void initgroups_count_beyond_limit_is_malformed(void **state)
{
    (void)state;
    long start = 1, size = 1;
    gid_t *groups = malloc(sizeof(gid_t));
    assert_non_null(groups);
    int err = 0;
    vigil_put_u32(body, VIGIL_MAX_INITGROUPS + 1);
    assert_int_equal(vigil_nss_add_groups(body, 4, 1, &start, &size, &groups, -1, &err),
                     NSS_STATUS_UNAVAIL);
    assert_int_equal(err, EBADMSG);
    vigil_put_u32(body, 2);                        /* two gids promised, one sent */
    assert_int_equal(vigil_nss_add_groups(body, 8, 1, &start, &size, &groups, -1, &err),
                     NSS_STATUS_UNAVAIL);
    assert_int_equal(start, 1);
    free(groups);
}

static void integers_are_little_endian(void **state)
{
    (void)state;
    uint8_t b[8];
    vigil_put_u32(b, 0x01020304u);
    assert_memory_equal(b, "\x04\x03\x02\x01", 4);
    vigil_put_u64(b, 0x0102030405060708ull);
    assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    assert_int_equal(vigil_get_u64(b), 0x0102030405060708ull);
}

static void command_table_covers_every_command_once(void **state)
{
    (void)state;
    size_t n = sizeof(vigil_command_table) / sizeof(vigil_command_table[0]);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(vigil_command_lookup(vigil_command_table[i].command),
                         &vigil_command_table[i]);
        assert_true(vigil_command_table[i].max_reply_len >= VIGIL_HEADER_LEN);
    }
    assert_null(vigil_command_lookup(0x7FFF0000u));
}

/* ---- PAM */

static struct vigil_writer pw_;

static void pam_item(uint32_t type, const void *data, size_t len)
{
    vigil_write_u32(&pw_, type);
    vigil_write_u32(&pw_, (uint32_t)len);
    vigil_write_bytes(&pw_, data, len);
}

static void pam_message(uint32_t style, const char *text)
{
    uint8_t item[2048];
    vigil_put_u32(item, style);
    memcpy(item + 4, text, strlen(text));
    pam_item(VIGIL_PAM_REPLY_MESSAGE, item, 4 + strlen(text));
}

static int parse(void)
{
    struct vigil_pam_reply_view view;
    assert_false(pw_.bad);
    return vigil_pam_parse_reply(body, pw_.len, &view);
}

static void pam_reply_limits(void **state)
{
    (void)state;
    vigil_writer_init(&pw_, body, sizeof(body));
    vigil_write_u32(&pw_, VIGIL_PAM_SUCCESS);
    for (unsigned i = 0; i < VIGIL_MAX_PAM_MESSAGES; i++) {
        pam_message(VIGIL_PAM_MSG_INFO, "hello");
    }
    pam_item(VIGIL_PAM_REPLY_ENV, "A=", 2);
    uint8_t data[16];
    vigil_put_u32(data, 1);
    memcpy(data + 4, "n", 1);
    pam_item(VIGIL_PAM_REPLY_DATA, data, 5);         /* empty data is fine */
    assert_int_equal(parse(), 0);
    pam_message(VIGIL_PAM_MSG_INFO, "one too many");
    assert_int_equal(parse(), EBADMSG);

    static const char *const bad_env[] = { "=x", "novalue", "A\0=b" };
    for (size_t i = 0; i < 3; i++) {
        vigil_writer_init(&pw_, body, sizeof(body));
        vigil_write_u32(&pw_, VIGIL_PAM_SUCCESS);
        pam_item(VIGIL_PAM_REPLY_ENV, bad_env[i], i == 2 ? 4 : strlen(bad_env[i]));
        assert_int_equal(parse(), EBADMSG);
    }
    vigil_writer_init(&pw_, body, sizeof(body));
    vigil_write_u32(&pw_, VIGIL_PAM_RESULT_MAX + 1);
    assert_int_equal(parse(), EBADMSG);
    vigil_writer_init(&pw_, body, sizeof(body));
    vigil_write_u32(&pw_, VIGIL_PAM_SUCCESS);
    pam_message(3, "bad style");
    assert_int_equal(parse(), EBADMSG);
    vigil_writer_init(&pw_, body, sizeof(body));
    vigil_write_u32(&pw_, VIGIL_PAM_SUCCESS);
    vigil_put_u32(data, 0);
    pam_item(VIGIL_PAM_REPLY_DATA, data, 4);         /* empty name */
    assert_int_equal(parse(), EBADMSG);
    vigil_writer_init(&pw_, body, sizeof(body));
    vigil_write_u32(&pw_, VIGIL_PAM_SUCCESS);
    vigil_write_u32(&pw_, VIGIL_PAM_REPLY_ENV);       /* an item header cut short */
    assert_int_equal(parse(), EBADMSG);
}

static void pam_request_refuses_oversized_items(void **state)
{
    (void)state;
    char *tok = malloc(VIGIL_MAX_AUTHTOK_LEN + 2);
    assert_non_null(tok);
    memset(tok, 'p', VIGIL_MAX_AUTHTOK_LEN + 1);
    tok[VIGIL_MAX_AUTHTOK_LEN + 1] = '\0';
    struct vigil_pam_request req = { .user = "alice", .authtok = tok };
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(vigil_pam_encode_request(&req, &out, &len), EINVAL);
    tok[VIGIL_MAX_AUTHTOK_LEN] = '\0';
    assert_int_equal(vigil_pam_encode_request(&req, &out, &len), 0);
    /* user item + authtok item (type, then the token) + flags + pid */
    assert_int_equal(len, (8 + 5) + (8 + 4 + VIGIL_MAX_AUTHTOK_LEN) + 12 + 12);
    vigil_pam_request_free(out, len);
    req.user = NULL;
    assert_int_equal(vigil_pam_encode_request(&req, &out, &len), EINVAL);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(passwd_is_erange_below_its_need_and_fits_from_it),
        cmocka_unit_test(passwd_with_trailing_byte_or_short_body_is_malformed),
        cmocka_unit_test(passwd_with_nul_in_a_string_or_empty_name_is_malformed),
        cmocka_unit_test(group_fits_exactly_from_one_size_on),
        cmocka_unit_test(group_member_count_beyond_limit_or_body_is_malformed),
        cmocka_unit_test(entries_with_id_zero_are_not_found),
        cmocka_unit_test(initgroups_skips_known_gids_and_respects_limit),
        cmocka_unit_test(initgroups_count_beyond_limit_is_malformed),
        cmocka_unit_test(integers_are_little_endian),
        cmocka_unit_test(command_table_covers_every_command_once),
        cmocka_unit_test(pam_reply_limits),
        cmocka_unit_test(pam_request_refuses_oversized_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
