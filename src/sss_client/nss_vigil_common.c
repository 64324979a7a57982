/*
 * nss_vigil_common.c - the shape every libnss_vigil.so.2 lookup shares:
 * skip what must never reach the daemon, send one request, map the outcome
 * to glibc's NSS status and errno conventions, pack strings into the
 * caller's buffer.
 */
#define _GNU_SOURCE

#include "nss_vigil.h"

#include <errno.h>
#include <stdalign.h>
#include <string.h>

int vigil_nss_skip_name(const char *name)
{
    return vigil_client_loops_disabled() || name == NULL || *name == '\0'
           || strcmp(name, "root") == 0 || strlen(name) > VIGIL_MAX_NAME_LEN;
}

int vigil_nss_skip_id(uint32_t id)
{
    return vigil_client_loops_disabled() || id == 0;
}

/* glibc's meanings: UNAVAIL = this source cannot answer (no daemon, broken
 * daemon); TRYAGAIN = temporary, e.g. ERANGE or no memory; NOTFOUND = the
 * source answered and has no such entry. */
static enum nss_status client_failure(enum vigil_client_rc rc, int *errnop)
{
    switch (rc) {
    case VIGIL_CLIENT_OK: break;
    case VIGIL_CLIENT_NO_DAEMON: *errnop = ENOENT; return NSS_STATUS_UNAVAIL;
    case VIGIL_CLIENT_TIMEOUT: *errnop = ETIMEDOUT; return NSS_STATUS_UNAVAIL;
    case VIGIL_CLIENT_BAD_PEER: *errnop = EACCES; return NSS_STATUS_UNAVAIL;
    case VIGIL_CLIENT_BAD_REPLY: *errnop = EBADMSG; return NSS_STATUS_UNAVAIL;
    case VIGIL_CLIENT_BAD_VERSION: *errnop = EPROTONOSUPPORT; return NSS_STATUS_UNAVAIL;
    case VIGIL_CLIENT_NO_MEMORY: *errnop = ENOMEM; return NSS_STATUS_TRYAGAIN;
    case VIGIL_CLIENT_IO_ERROR: *errnop = EIO; return NSS_STATUS_UNAVAIL;
    case VIGIL_CLIENT_BAD_REQUEST: *errnop = EINVAL; return NSS_STATUS_UNAVAIL;
    }
    *errnop = EIO;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status vigil_nss_malformed(int *errnop)
{
    vigil_client_reset(VIGIL_SOCKET_NSS);
    *errnop = EBADMSG;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status vigil_nss_request(uint32_t command, const void *body, size_t len,
                                  struct vigil_reply *reply, int *errnop)
{
    enum vigil_client_rc rc = vigil_client_request(command, body, len, reply);
    if (rc != VIGIL_CLIENT_OK) {
        return client_failure(rc, errnop);
    }
    switch (reply->status) {
    case VIGIL_STATUS_OK:
        return NSS_STATUS_SUCCESS;
    case VIGIL_STATUS_NOTFOUND:
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    case VIGIL_STATUS_TRYAGAIN:
        *errnop = EAGAIN;
        return NSS_STATUS_TRYAGAIN;
    case VIGIL_STATUS_UNAVAIL:
        *errnop = ENOENT;
        return NSS_STATUS_UNAVAIL;
    case VIGIL_STATUS_DENIED:
        *errnop = EACCES;
        return NSS_STATUS_UNAVAIL;
    case VIGIL_STATUS_BAD_REQUEST:
        *errnop = EBADMSG;
        return NSS_STATUS_UNAVAIL;
    default:
        return vigil_nss_malformed(errnop);
    }
}

enum nss_status vigil_nss_by_name(uint32_t command, const char *name,
                                  struct vigil_reply *reply, int *errnop)
{
    uint8_t body[sizeof(uint32_t) + VIGIL_MAX_NAME_LEN];
    struct vigil_writer w;
    reply->body = NULL;
    reply->body_len = 0;
    vigil_writer_init(&w, body, sizeof(body));
    vigil_write_str(&w, name, VIGIL_MAX_NAME_LEN);
    if (w.bad) {
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    }
    return vigil_nss_request(command, body, w.len, reply, errnop);
}

enum nss_status vigil_nss_by_id(uint32_t command, uint32_t id,
                                struct vigil_reply *reply, int *errnop)
{
    uint8_t body[4];
    vigil_put_u32(body, id);
    return vigil_nss_request(command, body, sizeof(body), reply, errnop);
}

char **vigil_nss_buf_ptrs(struct vigil_nss_buf *b, size_t count)
{
    size_t need = vigil_nss_buf_need(b, count, 0);
    if (need > b->size - b->used) {
        return NULL;
    }
    size_t pad = need - count * sizeof(char *);
    char **ptrs = (char **)(void *)(b->base + b->used + pad);
    b->used += need;
    return ptrs;
}

char *vigil_nss_buf_str(struct vigil_nss_buf *b, const char *str, uint32_t len)
{
    if ((size_t)len >= b->size - b->used) {
        return NULL;
    }
    char *out = b->base + b->used;
    memcpy(out, str, len);
    out[len] = '\0';
    b->used += (size_t)len + 1;
    return out;
}

size_t vigil_nss_buf_need(const struct vigil_nss_buf *b, size_t count, size_t total_len)
{
    size_t need = total_len;
    if (count > 0) {
        uintptr_t at = (uintptr_t)(b->base + b->used);
        size_t align = alignof(char *);
        need += (align - at % align) % align + count * sizeof(char *);
    }
    return need;
}

enum nss_status vigil_nss_fill_status(int result, int *errnop)
{
    switch (result) {
    case 0:
        return NSS_STATUS_SUCCESS;
    case ERANGE:
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    case ENOENT:
        /* An entry the module refuses to pass on (uid or gid 0). */
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    default:
        return vigil_nss_malformed(errnop);
    }
}

/* Entries the module never passes on are skipped, at most this many in a
 * row, so that a broken server cannot keep a caller looping. */
#define MAX_SKIPPED_ENTRIES 64

enum nss_status vigil_nss_getent(_Atomic uint64_t *cursor, uint32_t command,
                                 vigil_nss_fill_fn *fill, void *entry, char *buf,
                                 size_t buflen, int *errnop)
{
    if (vigil_client_loops_disabled()) {
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    }
    /* No lock is held across the request: glibc serializes get*ent on one
     * stream, and a lock held over I/O would deadlock a forked child. */
    uint64_t at = atomic_load(cursor);
    for (int skipped = 0; skipped <= MAX_SKIPPED_ENTRIES; skipped++) {
        struct vigil_reply reply;
        uint8_t body[8];
        vigil_put_u64(body, at);
        enum nss_status status = vigil_nss_request(command, body, sizeof(body), &reply,
                                                   errnop);
        if (status != NSS_STATUS_SUCCESS) {
            return status;
        }
        struct vigil_reader r;
        uint64_t next = 0;
        vigil_reader_init(&r, reply.body, reply.body_len);
        int result = vigil_read_u64(&r, &next) ? fill(&r, entry, buf, buflen) : EBADMSG;
        vigil_reply_free(&reply, 0);
        if (result == 0 || result == ENOENT) {
            atomic_store(cursor, next);
            at = next;
        }
        if (result != ENOENT) {
            return vigil_nss_fill_status(result, errnop);
        }
    }
    return vigil_nss_fill_status(EBADMSG, errnop);
}
