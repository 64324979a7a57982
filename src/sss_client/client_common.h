/*
 * client_common.h - the connection layer shared by libnss_vigil.so.2 and
 * pam_vigil.so: one socket per process and daemon, bounded waits
 * (client_common.c), and a bounds-checked reader and writer for message
 * bodies (client_codec.c).
 *
 * Nothing here keeps per-thread state, registers destructors or atexit
 * handlers: the PAM module is dlclosed at pam_end.
 */
#ifndef VIGIL_CLIENT_COMMON_H
#define VIGIL_CLIENT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "vigil_protocol.h"

/* Total time one request may take (connect, handshake, send, receive), in
 * ms; set at build time (make CLIENT_TIMEOUT_MS=...).  The environment
 * variable VIGIL_CLIENT_TIMEOUT_MS, read with secure_getenv, may lower it
 * (tests), never raise it. */
#ifndef VIGIL_CLIENT_TIMEOUT_MS
#define VIGIL_CLIENT_TIMEOUT_MS 10000
#endif

#ifndef VIGIL_PIPES_DIR
#define VIGIL_PIPES_DIR "/var/lib/vigil/pipes"
#endif

enum vigil_client_rc {
    VIGIL_CLIENT_OK = 0,
    VIGIL_CLIENT_NO_DAEMON,     /* no socket, or nobody listening on it */
    VIGIL_CLIENT_TIMEOUT,       /* the per-call bound ran out */
    VIGIL_CLIENT_BAD_PEER,      /* the listener runs as a uid we do not trust */
    VIGIL_CLIENT_BAD_REPLY,     /* truncated, oversized or malformed reply */
    VIGIL_CLIENT_BAD_VERSION,   /* the daemon refused our protocol version */
    VIGIL_CLIENT_NO_MEMORY,
    VIGIL_CLIENT_IO_ERROR,      /* the connection broke */
    VIGIL_CLIENT_BAD_REQUEST    /* unknown command or body too large: a caller bug */
};

struct vigil_reply {
    uint32_t status;            /* enum vigil_status */
    uint8_t *body;              /* malloc'd, NULL when empty */
    uint32_t body_len;
};

/* One request and its reply over the process's connection to the socket
 * that serves `command` (vigil_command_table).  On VIGIL_CLIENT_OK the
 * caller owns reply->body (vigil_reply_free). */
enum vigil_client_rc vigil_client_request(uint32_t command,
                                          const void *body, size_t body_len,
                                          struct vigil_reply *reply);

/* The same on a chosen socket: VIGIL_SOCKET_PAM_PRIVATE for a PAM command
 * when the caller is root. */
enum vigil_client_rc vigil_client_request_on(uint32_t socket_kind, uint32_t command,
                                             const void *body, size_t body_len,
                                             struct vigil_reply *reply);

/* Closes the process's connection on that socket, if open: the caller
 * found a well-framed reply malformed, so the peer gets no more requests
 * on it. */
void vigil_client_reset(uint32_t socket_kind);

/* Frees the body; wipe != 0 overwrites it first (PAM replies). */
void vigil_reply_free(struct vigil_reply *reply, int wipe);

/* True when the environment says we run inside a vigil daemon. */
int vigil_client_loops_disabled(void);

/* Human-readable name of a result code, for debug logging. */
const char *vigil_client_rc_name(enum vigil_client_rc rc);

/* Bounds-checked body reader: every read checks the remaining length; the
 * first failure sets `bad` and every later read fails too. */
struct vigil_reader {
    const uint8_t *pos;
    size_t left;
    int bad;
};

void vigil_reader_init(struct vigil_reader *r, const void *data, size_t len);
int vigil_read_u32(struct vigil_reader *r, uint32_t *value);
int vigil_read_u64(struct vigil_reader *r, uint64_t *value);
/* A protocol str: *len <= max_len and no NUL byte in it.  *str points into
 * the body and is NOT NUL-terminated. */
int vigil_read_str(struct vigil_reader *r, uint32_t max_len, const char **str,
                   uint32_t *len);
/* Raw bytes. */
int vigil_read_bytes(struct vigil_reader *r, size_t len, const uint8_t **bytes);
/* True when everything was read and nothing failed. */
int vigil_reader_done(const struct vigil_reader *r);

/* Body writer over a caller-provided buffer; overflow sets `bad`. */
struct vigil_writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int bad;
};

void vigil_writer_init(struct vigil_writer *w, void *buf, size_t cap);
void vigil_write_u32(struct vigil_writer *w, uint32_t value);
void vigil_write_u64(struct vigil_writer *w, uint64_t value);
void vigil_write_bytes(struct vigil_writer *w, const void *data, size_t len);
/* A protocol str from a C string (fails if longer than max_len). */
void vigil_write_str(struct vigil_writer *w, const char *str, size_t max_len);

#endif /* VIGIL_CLIENT_COMMON_H */
