/*
 * nss_vigil_group.c - the group map of libnss_vigil.so.2: getgrnam_r,
 * getgrgid_r, enumeration and initgroups_dyn.  Reply bodies: see
 * doc/protocol.md ("group", "initgroups").
 */
#define _GNU_SOURCE

#include "nss_vigil.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>

enum nss_status _nss_vigil_getgrnam_r(const char *name, struct group *gr, char *buf,
                                      size_t buflen, int *errnop);
enum nss_status _nss_vigil_getgrgid_r(gid_t gid, struct group *gr, char *buf,
                                      size_t buflen, int *errnop);
enum nss_status _nss_vigil_setgrent(void);
enum nss_status _nss_vigil_getgrent_r(struct group *gr, char *buf, size_t buflen,
                                      int *errnop);
enum nss_status _nss_vigil_endgrent(void);
enum nss_status _nss_vigil_initgroups_dyn(const char *user, gid_t group, long int *start,
                                          long int *size, gid_t **groupsp,
                                          long int limit, int *errnop);

/* Two passes: the first validates everything and sizes it, the second
 * copies, so *gr is only written when the whole entry fits. */
int vigil_nss_fill_group(struct vigil_reader *r, void *entry, char *buf, size_t buflen)
{
    struct group *gr = entry;
    uint32_t gid, name_len, passwd_len, count, len;
    const char *name, *passwd, *member;

    if (!vigil_read_u32(r, &gid) || !vigil_read_str(r, VIGIL_MAX_NAME_LEN, &name, &name_len)
        || !vigil_read_str(r, VIGIL_MAX_FIELD_LEN, &passwd, &passwd_len)
        || !vigil_read_u32(r, &count) || count > VIGIL_MAX_GROUP_MEMBERS
        || name_len == 0) {
        return EBADMSG;
    }
    struct vigil_reader members = *r;
    size_t total = (size_t)name_len + 1 + passwd_len + 1;
    for (uint32_t i = 0; i < count; i++) {
        if (!vigil_read_str(r, VIGIL_MAX_NAME_LEN, &member, &len)) {
            return EBADMSG;
        }
        total += (size_t)len + 1;
    }
    if (!vigil_reader_done(r)) {
        return EBADMSG;
    }
    if (gid == 0) {
        return ENOENT;
    }
    struct vigil_nss_buf b = { buf, buflen, 0 };
    if (vigil_nss_buf_need(&b, (size_t)count + 1, total) > buflen) {
        return ERANGE;
    }
    char **mem = vigil_nss_buf_ptrs(&b, (size_t)count + 1);
    for (uint32_t i = 0; i < count; i++) {
        vigil_read_str(&members, VIGIL_MAX_NAME_LEN, &member, &len);
        mem[i] = vigil_nss_buf_str(&b, member, len);
    }
    mem[count] = NULL;
    gr->gr_name = vigil_nss_buf_str(&b, name, name_len);
    gr->gr_passwd = vigil_nss_buf_str(&b, passwd, passwd_len);
    gr->gr_gid = gid;
    gr->gr_mem = mem;
    return 0;
}

static enum nss_status answer(enum nss_status status, struct vigil_reply *reply,
                              struct group *gr, char *buf, size_t buflen, int *errnop)
{
    if (status == NSS_STATUS_SUCCESS) {
        struct vigil_reader r;
        vigil_reader_init(&r, reply->body, reply->body_len);
        status = vigil_nss_fill_status(vigil_nss_fill_group(&r, gr, buf, buflen), errnop);
    }
    vigil_reply_free(reply, 0);
    return status;
}

enum nss_status _nss_vigil_getgrnam_r(const char *name, struct group *gr, char *buf,
                                      size_t buflen, int *errnop)
{
    VIGIL_ERRNO_SAVE;
    if (vigil_nss_skip_name(name)) {
        *errnop = ENOENT;
        VIGIL_ERRNO_RETURN(NSS_STATUS_NOTFOUND);
    }
    struct vigil_reply reply;
    enum nss_status status = vigil_nss_by_name(VIGIL_CMD_GETGRNAM, name, &reply, errnop);
    VIGIL_ERRNO_RETURN(answer(status, &reply, gr, buf, buflen, errnop));
}

enum nss_status _nss_vigil_getgrgid_r(gid_t gid, struct group *gr, char *buf,
                                      size_t buflen, int *errnop)
{
    VIGIL_ERRNO_SAVE;
    if (vigil_nss_skip_id(gid)) {
        *errnop = ENOENT;
        VIGIL_ERRNO_RETURN(NSS_STATUS_NOTFOUND);
    }
    struct vigil_reply reply;
    enum nss_status status = vigil_nss_by_id(VIGIL_CMD_GETGRGID, gid, &reply, errnop);
    status = answer(status, &reply, gr, buf, buflen, errnop);
    if (status == NSS_STATUS_SUCCESS && gr->gr_gid != gid) {
        status = vigil_nss_malformed(errnop);     /* an answer to another question */
    }
    VIGIL_ERRNO_RETURN(status);
}

static _Atomic uint64_t gr_cursor;

enum nss_status _nss_vigil_setgrent(void)
{
    atomic_store(&gr_cursor, 0);
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_vigil_endgrent(void)
{
    atomic_store(&gr_cursor, 0);
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_vigil_getgrent_r(struct group *gr, char *buf, size_t buflen,
                                      int *errnop)
{
    VIGIL_ERRNO_SAVE;
    VIGIL_ERRNO_RETURN(vigil_nss_getent(&gr_cursor, VIGIL_CMD_GETGRENT, vigil_nss_fill_group, gr,
                                        buf, buflen, errnop));
}

/* ------------------------------------------------------------ initgroups */

/* The reply's gids are u32, and so is gid_t on Linux. */
_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");

static int compare_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

/* Appends gid to *groupsp unless `limit` (when > 0) is reached; grows the
 * array as glibc's own modules do (double, capped by limit).  0, or ENOMEM. */
static int append_gid(gid_t gid, long int *start, long int *size, gid_t **groupsp,
                      long int limit)
{
    if (limit > 0 && *start >= limit) {
        return 0;               /* full: the caller gets the first `limit` */
    }
    if (*start >= *size) {
        long int grown = *size > 0 ? *size * 2 : 16;
        if (limit > 0 && grown > limit) {
            grown = limit;
        }
        gid_t *bigger = realloc(*groupsp, (size_t)grown * sizeof(gid_t));
        if (bigger == NULL) {
            return ENOMEM;
        }
        *groupsp = bigger;
        *size = grown;
    }
    (*groupsp)[(*start)++] = gid;
    return 0;
}

/* The reply's gids, sorted, without duplicates, `group` and gid 0, and
 * without those already in (*groupsp)[0, *start) (another module's). */
static size_t new_gids(gid_t *gids, size_t count, gid_t group, const gid_t *have,
                       size_t have_count, gid_t *have_sorted)
{
    memcpy(have_sorted, have, have_count * sizeof(gid_t));
    qsort(have_sorted, have_count, sizeof(gid_t), compare_gid);
    qsort(gids, count, sizeof(gid_t), compare_gid);
    size_t out = 0;
    for (size_t i = 0; i < count; i++) {
        gid_t g = gids[i];
        if (g == 0 || g == group || (out > 0 && gids[out - 1] == g)
            || bsearch(&g, have_sorted, have_count, sizeof(gid_t), compare_gid) != NULL) {
            continue;
        }
        gids[out++] = g;
    }
    return out;
}

enum nss_status vigil_nss_add_groups(const uint8_t *body, size_t body_len, gid_t group,
                                     long int *start, long int *size, gid_t **groupsp,
                                     long int limit, int *errnop)
{
    struct vigil_reader r;
    uint32_t count;
    const uint8_t *raw;
    vigil_reader_init(&r, body, body_len);
    if (!vigil_read_u32(&r, &count) || count > VIGIL_MAX_INITGROUPS
        || !vigil_read_bytes(&r, (size_t)count * 4, &raw)
        || !vigil_reader_done(&r) || *start < 0 || *size < *start) {
        return vigil_nss_malformed(errnop);
    }
    size_t have = (size_t)*start;
    gid_t *scratch = malloc(((size_t)count + have + 1) * sizeof(gid_t));
    if (scratch == NULL) {
        *errnop = ENOMEM;
        return NSS_STATUS_TRYAGAIN;
    }
    for (uint32_t i = 0; i < count; i++) {
        scratch[i] = vigil_get_u32(raw + (size_t)i * 4);
    }
    size_t fresh = new_gids(scratch, count, group, *groupsp, have, scratch + count);
    int err = 0;
    for (size_t i = 0; i < fresh && err == 0; i++) {
        err = append_gid(scratch[i], start, size, groupsp, limit);
    }
    free(scratch);
    if (err != 0) {
        *errnop = err;
        return NSS_STATUS_TRYAGAIN;
    }
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_vigil_initgroups_dyn(const char *user, gid_t group, long int *start,
                                          long int *size, gid_t **groupsp,
                                          long int limit, int *errnop)
{
    VIGIL_ERRNO_SAVE;
    if (vigil_nss_skip_name(user)) {
        *errnop = ENOENT;
        VIGIL_ERRNO_RETURN(NSS_STATUS_NOTFOUND);
    }
    struct vigil_reply reply;
    enum nss_status status = vigil_nss_by_name(VIGIL_CMD_INITGROUPS, user, &reply, errnop);
    if (status == NSS_STATUS_SUCCESS) {
        status = vigil_nss_add_groups(reply.body, reply.body_len, group, start, size, groupsp,
                                      limit, errnop);
    }
    vigil_reply_free(&reply, 0);
    VIGIL_ERRNO_RETURN(status);
}
