/*
 * nss_vigil.h - what the passwd and group halves of libnss_vigil.so.2 share:
 * the request-and-map-status step and the packing of reply strings into the
 * caller's buffer.  Only the _nss_vigil_* entry points are exported
 * (nss_vigil.exports).
 */
#ifndef VIGIL_NSS_VIGIL_H
#define VIGIL_NSS_VIGIL_H

#include <nss.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client_common.h"

/* Saves errno on entry and puts it back on exit: glibc callers see the
 * module's verdict in *errnop only.  The status expression is evaluated
 * before errno is restored. */
#define VIGIL_ERRNO_SAVE int vigil_saved_errno_ = errno
#define VIGIL_ERRNO_RETURN(status)                     \
    do {                                               \
        enum nss_status vigil_status_ = (status);      \
        errno = vigil_saved_errno_;                    \
        return vigil_status_;                          \
    } while (0)

/* True for keys answered NOTFOUND without any I/O: inside a vigil daemon
 * (_VIGIL_LOOPS=NO), and root, which is never served (design rule). */
int vigil_nss_skip_name(const char *name);
int vigil_nss_skip_id(uint32_t id);

/* Sends a request whose body is one str (a name) or one u32 (an id). */
enum nss_status vigil_nss_by_name(uint32_t command, const char *name,
                                  struct vigil_reply *reply, int *errnop);
enum nss_status vigil_nss_by_id(uint32_t command, uint32_t id,
                                struct vigil_reply *reply, int *errnop);
/* Sends any body and maps every failure to an NSS status and *errnop.
 * NSS_STATUS_SUCCESS means a VIGIL_STATUS_OK reply is in *reply. */
enum nss_status vigil_nss_request(uint32_t command, const void *body, size_t len,
                                  struct vigil_reply *reply, int *errnop);

/* A caller-provided buffer that strings are copied into. */
struct vigil_nss_buf {
    char *base;
    size_t size;
    size_t used;
};

/* Reserves `count` pointers, aligned; NULL when it does not fit. */
char **vigil_nss_buf_ptrs(struct vigil_nss_buf *b, size_t count);
/* Copies len bytes plus a NUL; NULL when it does not fit. */
char *vigil_nss_buf_str(struct vigil_nss_buf *b, const char *str, uint32_t len);
/* Bytes that vigil_nss_buf_ptrs(count) + strings of total_len will need. */
size_t vigil_nss_buf_need(const struct vigil_nss_buf *b, size_t count, size_t total_len);

/* Reads one entry body from r into *entry and buf: 0, ERANGE (buf too
 * small), ENOENT (an entry never passed on: uid or gid 0) or EBADMSG. */
typedef int vigil_nss_fill_fn(struct vigil_reader *r, void *entry, char *buf,
                              size_t buflen);

/* One get*ent_r step.  Enumeration is stateless on the server: each reply
 * carries the opaque cursor of the next entry, kept in *cursor and advanced
 * only when an entry was delivered (so ERANGE repeats the same entry). */
enum nss_status vigil_nss_getent(_Atomic uint64_t *cursor, uint32_t command,
                                 vigil_nss_fill_fn *fill, void *entry, char *buf,
                                 size_t buflen, int *errnop);

/* The reply parsers (exported to the fuzzers, not from the module):
 * passwd and group bodies into caller buffers, an initgroups body into a
 * glibc initgroups_dyn array. */
vigil_nss_fill_fn vigil_nss_fill_passwd;
vigil_nss_fill_fn vigil_nss_fill_group;
enum nss_status vigil_nss_add_groups(const uint8_t *body, size_t body_len, gid_t group,
                                     long int *start, long int *size, gid_t **groupsp,
                                     long int limit, int *errnop);

/* A reply that broke the protocol: UNAVAIL with EBADMSG, and the
 * connection is closed (doc/protocol.md: nothing more on it). */
enum nss_status vigil_nss_malformed(int *errnop);

/* Maps a fill result (0, ERANGE, EBADMSG) to the NSS status. */
enum nss_status vigil_nss_fill_status(int result, int *errnop);

#endif /* VIGIL_NSS_VIGIL_H */
