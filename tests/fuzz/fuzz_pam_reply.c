/*
 * fuzz_pam_reply - libFuzzer target for pam_vigil.so's reply parser.  The
 * whole input is a PAM reply body.  A success is checked against the
 * protocol's rules: counts within the limits, every view inside the input,
 * env items NAME=value, no NUL in text.
 */
#define _GNU_SOURCE

#include "pam_vigil.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int condition)
{
    if (!condition) {
        abort();
    }
}

static void inside(const void *p, size_t len, const uint8_t *data, size_t size)
{
    const uint8_t *b = p;
    must(len == 0 || (b >= data && len <= size && b - data <= (ptrdiff_t)(size - len)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy: ASan then catches a read one past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    struct vigil_pam_reply_view view;
    if (vigil_pam_parse_reply(copy, size, &view) == 0) {
        must(view.result <= VIGIL_PAM_RESULT_MAX);
        must(view.n_messages <= VIGIL_MAX_PAM_MESSAGES && view.n_env <= VIGIL_MAX_PAM_ENV
             && view.n_data <= VIGIL_MAX_PAM_DATA);
        for (size_t i = 0; i < view.n_messages; i++) {
            inside(view.messages[i].text, view.messages[i].len, copy, size);
            must(view.messages[i].len <= VIGIL_MAX_PAM_MESSAGE_LEN);
            must(memchr(view.messages[i].text, '\0', view.messages[i].len) == NULL);
        }
        for (size_t i = 0; i < view.n_env; i++) {
            inside(view.env[i].text, view.env[i].len, copy, size);
            const char *eq = memchr(view.env[i].text, '=', view.env[i].len);
            must(eq != NULL && eq != view.env[i].text);
        }
        for (size_t i = 0; i < view.n_data; i++) {
            inside(view.data[i].name, view.data[i].name_len, copy, size);
            inside(view.data[i].data, view.data[i].data_len, copy, size);
            must(view.data[i].name_len > 0 && view.data[i].name_len <= VIGIL_MAX_NAME_LEN);
        }
    }
    free(copy);
    return 0;
}
