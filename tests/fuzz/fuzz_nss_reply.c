/*
 * fuzz_nss_reply - libFuzzer target for the reply parsers of
 * libnss_vigil.so.2: passwd and group bodies into a caller's buffer, an
 * initgroups body into a glibc initgroups_dyn array.
 *
 * Input: byte 0 picks the parser (0 passwd, 1 group, 2 initgroups), byte 1
 * the caller's buffer size (x 16) or the array's initial size, byte 2 the
 * gids already in it, byte 3 the limit; the rest is the reply body.  Every
 * buffer is malloc'd to its exact size, so ASan sees any overrun; a
 * success is checked for strings and pointers inside the buffer.
 */
#define _GNU_SOURCE

#include "nss_vigil.h"

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int condition)
{
    if (!condition) {
        abort();
    }
}

/* s lies in [buf, buf + len) and is NUL-terminated there. */
static void check_string(const char *s, const char *buf, size_t len)
{
    must(s >= buf && s < buf + len);
    must(memchr(s, '\0', len - (size_t)(s - buf)) != NULL);
}

static void fuzz_entry(int group, const uint8_t *body, size_t len, size_t buflen)
{
    char *buf = malloc(buflen ? buflen : 1);
    if (buf == NULL) {
        return;
    }
    struct vigil_reader r;
    vigil_reader_init(&r, body, len);
    if (!group) {
        struct passwd pw;
        if (vigil_nss_fill_passwd(&r, &pw, buf, buflen) == 0) {
            check_string(pw.pw_name, buf, buflen);
            check_string(pw.pw_passwd, buf, buflen);
            check_string(pw.pw_gecos, buf, buflen);
            check_string(pw.pw_dir, buf, buflen);
            check_string(pw.pw_shell, buf, buflen);
            must(pw.pw_uid != 0 && pw.pw_gid != 0);
        }
    } else {
        struct group gr;
        if (vigil_nss_fill_group(&r, &gr, buf, buflen) == 0) {
            check_string(gr.gr_name, buf, buflen);
            check_string(gr.gr_passwd, buf, buflen);
            must((char *)gr.gr_mem >= buf && (char *)gr.gr_mem < buf + buflen);
            size_t i = 0;
            for (; gr.gr_mem[i] != NULL; i++) {
                check_string(gr.gr_mem[i], buf, buflen);
            }
            must(i <= VIGIL_MAX_GROUP_MEMBERS && gr.gr_gid != 0);
        }
    }
    free(buf);
}

static void fuzz_initgroups(const uint8_t *body, size_t len, long initial, long have,
                            long limit)
{
    long size = initial > 0 ? initial : 1, start = have < size ? have : size;
    gid_t *groups = malloc((size_t)size * sizeof(gid_t));
    if (groups == NULL) {
        return;
    }
    for (long i = 0; i < start; i++) {
        groups[i] = (gid_t)(1000 + i);
    }
    long start0 = start;
    int err = 0;
    enum nss_status s = vigil_nss_add_groups(body, len, 1000, &start, &size, &groups, limit,
                                             &err);
    must(start >= start0 && start <= size);
    if (s == NSS_STATUS_SUCCESS && limit > 0) {
        must(start <= (limit > start0 ? limit : start0));
    }
    /* Each gid at most once, and never gid 0 among the added ones. */
    for (long i = start0; i < start; i++) {
        must(groups[i] != 0);
        for (long j = 0; j < i; j++) {
            must(groups[i] != groups[j]);
        }
    }
    free(groups);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) {
        return 0;
    }
    const uint8_t *body = data + 4;
    size_t len = size - 4;
    switch (data[0] % 3) {
    case 0:
        fuzz_entry(0, body, len, (size_t)data[1] * 16);
        break;
    case 1:
        fuzz_entry(1, body, len, (size_t)data[1] * 16);
        break;
    default:
        fuzz_initgroups(body, len, data[1] % 64, data[2] % 8, (long)(int8_t)data[3]);
        break;
    }
    return 0;
}
