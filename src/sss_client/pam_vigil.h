/*
 * pam_vigil.h - the message half of pam_vigil.so: a PAM request encoded
 * from plain values, a PAM reply parsed and validated into a view that
 * points into the reply body.  No libpam here, so the parser can be fuzzed
 * on its own (tests/fuzz).  Layouts: doc/protocol.md, "PAM commands".
 */
#ifndef VIGIL_PAM_VIGIL_H
#define VIGIL_PAM_VIGIL_H

#include <stddef.h>
#include <stdint.h>

#include "client_common.h"

struct vigil_pam_request {
    const char *service;        /* each string may be NULL: item left out */
    const char *user;
    const char *tty;
    const char *ruser;
    const char *rhost;
    const char *authtok;        /* NULL: no AUTHTOK item */
    const char *newauthtok;     /* NULL: no NEWAUTHTOK item */
    uint32_t flags;             /* VIGIL_PAM_FLAG_* */
    uint32_t pid;
};

/* Encodes req into a malloc'd buffer of *len bytes.  0, EINVAL (an item
 * too long, or no user) or ENOMEM.  The buffer holds tokens: the caller
 * wipes it before freeing (vigil_pam_request_free). */
int vigil_pam_encode_request(const struct vigil_pam_request *req, uint8_t **out,
                             size_t *len);
void vigil_pam_request_free(uint8_t *buf, size_t len);

/* Text in the reply body: not NUL-terminated. */
struct vigil_pam_text {
    const char *text;
    uint32_t len;
    uint32_t style;             /* VIGIL_PAM_MSG_* (messages only) */
};

struct vigil_pam_blob {
    const char *name;
    uint32_t name_len;
    const uint8_t *data;
    uint32_t data_len;
};

struct vigil_pam_reply_view {
    uint32_t result;            /* enum vigil_pam_result, <= VIGIL_PAM_RESULT_MAX */
    size_t n_messages;
    size_t n_env;
    size_t n_data;
    struct vigil_pam_text messages[VIGIL_MAX_PAM_MESSAGES];
    struct vigil_pam_text env[VIGIL_MAX_PAM_ENV];
    struct vigil_pam_blob data[VIGIL_MAX_PAM_DATA];
};

/* Parses and validates a whole PAM reply body: 0, or EBADMSG for anything
 * that breaks doc/protocol.md (counts above the limits, an env item that is
 * not NAME=value, a NUL inside text, trailing bytes, ...). */
int vigil_pam_parse_reply(const uint8_t *body, size_t len, struct vigil_pam_reply_view *view);

#endif /* VIGIL_PAM_VIGIL_H */
