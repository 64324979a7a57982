/*
 * pam_vigil_message.c - encode a PAM request, parse a PAM reply.  The
 * parser checks every length and count before use and keeps pointers into
 * the body; nothing is copied or allocated.
 */
#define _GNU_SOURCE

#include "pam_vigil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void put_item(struct vigil_writer *w, uint32_t type, const void *data, size_t len)
{
    vigil_write_u32(w, type);
    vigil_write_u32(w, (uint32_t)len);
    vigil_write_bytes(w, data, len);
}

static int put_string_item(struct vigil_writer *w, uint32_t type, const char *str,
                           size_t max_len)
{
    if (str == NULL) {
        return 1;
    }
    size_t len = strnlen(str, max_len + 1);
    if (len > max_len) {
        return 0;
    }
    put_item(w, type, str, len);
    return 1;
}

static int put_authtok_item(struct vigil_writer *w, uint32_t type, const char *tok)
{
    if (tok == NULL) {
        return 1;
    }
    size_t len = strnlen(tok, VIGIL_MAX_AUTHTOK_LEN + 1);
    if (len > VIGIL_MAX_AUTHTOK_LEN) {
        return 0;
    }
    vigil_write_u32(w, type);
    vigil_write_u32(w, (uint32_t)(4 + len));
    vigil_write_u32(w, len == 0 ? VIGIL_AUTHTOK_EMPTY : VIGIL_AUTHTOK_PASSWORD);
    vigil_write_bytes(w, tok, len);
    return 1;
}

int vigil_pam_encode_request(const struct vigil_pam_request *req, uint8_t **out,
                             size_t *len)
{
    size_t cap = VIGIL_MAX_REQUEST_LEN - VIGIL_HEADER_LEN;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        return ENOMEM;
    }
    struct vigil_writer w;
    vigil_writer_init(&w, buf, cap);
    uint8_t u32[4];
    int ok = req->user != NULL && req->user[0] != '\0'
             && put_string_item(&w, VIGIL_PAM_ITEM_SERVICE, req->service, VIGIL_MAX_PAM_ITEM_LEN)
             && put_string_item(&w, VIGIL_PAM_ITEM_USER, req->user, VIGIL_MAX_NAME_LEN)
             && put_string_item(&w, VIGIL_PAM_ITEM_TTY, req->tty, VIGIL_MAX_PAM_ITEM_LEN)
             && put_string_item(&w, VIGIL_PAM_ITEM_RUSER, req->ruser, VIGIL_MAX_PAM_ITEM_LEN)
             && put_string_item(&w, VIGIL_PAM_ITEM_RHOST, req->rhost, VIGIL_MAX_PAM_ITEM_LEN)
             && put_authtok_item(&w, VIGIL_PAM_ITEM_AUTHTOK, req->authtok)
             && put_authtok_item(&w, VIGIL_PAM_ITEM_NEWAUTHTOK, req->newauthtok);
    if (ok) {
        vigil_put_u32(u32, req->flags);
        put_item(&w, VIGIL_PAM_ITEM_FLAGS, u32, sizeof(u32));
        vigil_put_u32(u32, req->pid);
        put_item(&w, VIGIL_PAM_ITEM_REQUESTING_PID, u32, sizeof(u32));
    }
    if (!ok || w.bad) {
        vigil_pam_request_free(buf, cap);
        return EINVAL;
    }
    *out = buf;
    *len = w.len;
    return 0;
}

void vigil_pam_request_free(uint8_t *buf, size_t len)
{
    if (buf != NULL) {
        /* The buffer may have held a password anywhere up to its capacity. */
        (void)len;
        explicit_bzero(buf, VIGIL_MAX_REQUEST_LEN - VIGIL_HEADER_LEN);
        free(buf);
    }
}

/* NAME=value with a non-empty NAME and no NUL anywhere. */
static int env_item_valid(const char *text, uint32_t len)
{
    const char *eq = memchr(text, '=', len);
    return eq != NULL && eq != text && memchr(text, '\0', len) == NULL;
}

int vigil_pam_parse_reply(const uint8_t *body, size_t len, struct vigil_pam_reply_view *view)
{
    struct vigil_reader r;
    vigil_reader_init(&r, body, len);
    view->n_messages = view->n_env = view->n_data = 0;
    if (!vigil_read_u32(&r, &view->result) || view->result > VIGIL_PAM_RESULT_MAX) {
        return EBADMSG;
    }
    while (r.left > 0) {
        uint32_t type, item_len;
        const uint8_t *item;
        if (!vigil_read_u32(&r, &type) || !vigil_read_u32(&r, &item_len)
            || !vigil_read_bytes(&r, item_len, &item)) {
            return EBADMSG;
        }
        struct vigil_reader in;
        vigil_reader_init(&in, item, item_len);
        switch (type) {
        case VIGIL_PAM_REPLY_MESSAGE: {
            uint32_t style;
            if (view->n_messages >= VIGIL_MAX_PAM_MESSAGES || !vigil_read_u32(&in, &style)
                || (style != VIGIL_PAM_MSG_INFO && style != VIGIL_PAM_MSG_ERROR)
                || in.left > VIGIL_MAX_PAM_MESSAGE_LEN
                || memchr(in.pos, '\0', in.left) != NULL) {
                return EBADMSG;
            }
            struct vigil_pam_text *m = &view->messages[view->n_messages++];
            m->style = style;
            m->text = (const char *)in.pos;
            m->len = (uint32_t)in.left;
            break;
        }
        case VIGIL_PAM_REPLY_ENV: {
            const char *text = (const char *)in.pos;
            if (view->n_env >= VIGIL_MAX_PAM_ENV || in.left > VIGIL_MAX_PAM_ITEM_LEN
                || !env_item_valid(text, (uint32_t)in.left)) {
                return EBADMSG;
            }
            struct vigil_pam_text *e = &view->env[view->n_env++];
            e->text = text;
            e->len = (uint32_t)in.left;
            e->style = 0;
            break;
        }
        case VIGIL_PAM_REPLY_DATA: {
            const char *name;
            uint32_t name_len;
            if (view->n_data >= VIGIL_MAX_PAM_DATA
                || !vigil_read_str(&in, VIGIL_MAX_NAME_LEN, &name, &name_len)
                || name_len == 0 || in.left > VIGIL_MAX_PAM_ITEM_LEN) {
                return EBADMSG;
            }
            struct vigil_pam_blob *d = &view->data[view->n_data++];
            d->name = name;
            d->name_len = name_len;
            d->data = in.pos;
            d->data_len = (uint32_t)in.left;
            break;
        }
        default:
            return EBADMSG;
        }
    }
    return vigil_reader_done(&r) ? 0 : EBADMSG;
}
