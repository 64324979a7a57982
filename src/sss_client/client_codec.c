/*
 * client_codec.c - the bounds-checked body reader and writer of
 * client_common.h: little-endian integers and protocol strings, every
 * read checked against what is left, the first failure sticky.
 */
#define _GNU_SOURCE

#include "client_common.h"

#include <string.h>

void vigil_reader_init(struct vigil_reader *r, const void *data, size_t len)
{
    r->pos = data;
    r->left = data != NULL ? len : 0;
    r->bad = 0;
}

int vigil_read_bytes(struct vigil_reader *r, size_t len, const uint8_t **bytes)
{
    if (r->bad || len > r->left) {
        r->bad = 1;
        return 0;
    }
    *bytes = r->pos;
    r->pos += len;
    r->left -= len;
    return 1;
}

int vigil_read_u32(struct vigil_reader *r, uint32_t *value)
{
    const uint8_t *p;
    if (!vigil_read_bytes(r, sizeof(*value), &p)) {
        return 0;
    }
    *value = vigil_get_u32(p);
    return 1;
}

int vigil_read_u64(struct vigil_reader *r, uint64_t *value)
{
    const uint8_t *p;
    if (!vigil_read_bytes(r, sizeof(*value), &p)) {
        return 0;
    }
    *value = vigil_get_u64(p);
    return 1;
}

int vigil_read_str(struct vigil_reader *r, uint32_t max_len, const char **str,
                   uint32_t *len)
{
    const uint8_t *p;
    uint32_t n;
    if (!vigil_read_u32(r, &n) || n > max_len || !vigil_read_bytes(r, n, &p)
        || memchr(p, '\0', n) != NULL) {
        r->bad = 1;
        return 0;
    }
    *str = (const char *)p;
    *len = n;
    return 1;
}

int vigil_reader_done(const struct vigil_reader *r)
{
    return !r->bad && r->left == 0;
}

void vigil_writer_init(struct vigil_writer *w, void *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->bad = 0;
}

void vigil_write_bytes(struct vigil_writer *w, const void *data, size_t len)
{
    if (w->bad || len > w->cap - w->len) {
        w->bad = 1;
        return;
    }
    if (len > 0) {
        memcpy(w->buf + w->len, data, len);
    }
    w->len += len;
}

void vigil_write_u32(struct vigil_writer *w, uint32_t value)
{
    uint8_t le[4];
    vigil_put_u32(le, value);
    vigil_write_bytes(w, le, sizeof(le));
}

void vigil_write_u64(struct vigil_writer *w, uint64_t value)
{
    uint8_t le[8];
    vigil_put_u64(le, value);
    vigil_write_bytes(w, le, sizeof(le));
}

void vigil_write_str(struct vigil_writer *w, const char *str, size_t max_len)
{
    size_t len = strnlen(str, max_len + 1);
    if (len > max_len) {
        w->bad = 1;
        return;
    }
    vigil_write_u32(w, (uint32_t)len);
    vigil_write_bytes(w, str, len);
}
