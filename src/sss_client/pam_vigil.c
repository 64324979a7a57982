/*
 * pam_vigil.c - pam_vigil.so: the six PAM service functions, wired to the
 * vigil_pam responder.  The meaning of each request is the responder's
 * job; this module gathers the items and tokens (conversation, options),
 * sends one request per step, and applies the reply: messages through the
 * conversation, environment with pam_putenv, data with pam_set_data.
 *
 * The module is dlclosed at pam_end: it keeps no state between calls (its
 * connection is closed after every request), registers no destructor, and
 * wipes every copy of a token it made.
 */
#define _GNU_SOURCE

#include "pam_vigil.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#define MAX_RETRY 10

struct options {
    int use_first_pass;         /* take PAM_AUTHTOK (OLDAUTHTOK) from the stack, never prompt */
    int use_authtok;            /* chauthtok: the new token is PAM_AUTHTOK from the stack */
    int forward_pass;           /* put a prompted token on the stack for later modules */
    int ignore_unknown_user;    /* USER_UNKNOWN -> PAM_IGNORE */
    int ignore_authinfo_unavail; /* AUTHINFO_UNAVAIL -> PAM_IGNORE */
    int quiet;                  /* no info messages, no log for unknown users */
    int debug;                  /* log every step at LOG_DEBUG */
    int retry;                  /* prompt again this many times after a wrong password */
};

static const struct {
    const char *name;
    size_t offset;
} flag_options[] = {
    { "use_first_pass", offsetof(struct options, use_first_pass) },
    { "use_authtok", offsetof(struct options, use_authtok) },
    { "forward_pass", offsetof(struct options, forward_pass) },
    { "ignore_unknown_user", offsetof(struct options, ignore_unknown_user) },
    { "ignore_authinfo_unavail", offsetof(struct options, ignore_authinfo_unavail) },
    { "quiet", offsetof(struct options, quiet) },
    { "debug", offsetof(struct options, debug) },
};

static void parse_options(pam_handle_t *pamh, int argc, const char **argv, struct options *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        size_t k = 0, n = sizeof(flag_options) / sizeof(flag_options[0]);
        while (k < n && strcmp(arg, flag_options[k].name) != 0) {
            k++;
        }
        if (k < n) {
            *(int *)(void *)((char *)o + flag_options[k].offset) = 1;
            continue;
        }
        if (strncmp(arg, "retry=", 6) == 0) {
            char *end;
            long v = strtol(arg + 6, &end, 10);
            if (arg[6] != '\0' && *end == '\0' && v >= 0 && v <= MAX_RETRY) {
                o->retry = (int)v;
                continue;
            }
        }
        pam_syslog(pamh, LOG_ERR, "unknown or bad option %s: ignored", arg);
    }
}

/* ------------------------------------------------------------ conversation */

/* One message; for prompts *answer receives the malloc'd reply (the caller
 * wipes and frees it). */
static int converse(pam_handle_t *pamh, int style, const char *text, char **answer)
{
    const struct pam_conv *conv = NULL;
    if (answer != NULL) {
        *answer = NULL;
    }
    int rc = pam_get_item(pamh, PAM_CONV, (const void **)&conv);
    if (rc != PAM_SUCCESS || conv == NULL || conv->conv == NULL) {
        return PAM_CONV_ERR;
    }
    struct pam_message msg = { .msg_style = style, .msg = text };
    const struct pam_message *msgs[1] = { &msg };
    struct pam_response *resp = NULL;
    rc = conv->conv(1, msgs, &resp, conv->appdata_ptr);
    if (resp != NULL) {
        if (answer != NULL && rc == PAM_SUCCESS) {
            *answer = resp[0].resp;
        } else if (resp[0].resp != NULL) {
            explicit_bzero(resp[0].resp, strlen(resp[0].resp));
            free(resp[0].resp);
        }
        free(resp);
    }
    if (rc == PAM_SUCCESS && answer != NULL && *answer == NULL) {
        return PAM_CONV_ERR;
    }
    return rc;
}

static void wipe_free(char *secret)
{
    if (secret != NULL) {
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
}

/* ------------------------------------------------------------ one request */

/* Our result numbering to Linux-PAM's (vigil_pam_result is the index). */
static const int pam_codes[VIGIL_PAM_RESULT_MAX + 1] = {
    [VIGIL_PAM_SUCCESS] = PAM_SUCCESS,
    [VIGIL_PAM_AUTH_ERR] = PAM_AUTH_ERR,
    [VIGIL_PAM_USER_UNKNOWN] = PAM_USER_UNKNOWN,
    [VIGIL_PAM_AUTHINFO_UNAVAIL] = PAM_AUTHINFO_UNAVAIL,
    [VIGIL_PAM_CRED_INSUFFICIENT] = PAM_CRED_INSUFFICIENT,
    [VIGIL_PAM_MAXTRIES] = PAM_MAXTRIES,
    [VIGIL_PAM_ACCT_EXPIRED] = PAM_ACCT_EXPIRED,
    [VIGIL_PAM_NEW_AUTHTOK_REQD] = PAM_NEW_AUTHTOK_REQD,
    [VIGIL_PAM_PERM_DENIED] = PAM_PERM_DENIED,
    [VIGIL_PAM_AUTHTOK_ERR] = PAM_AUTHTOK_ERR,
    [VIGIL_PAM_AUTHTOK_RECOVERY_ERR] = PAM_AUTHTOK_RECOVERY_ERR,
    [VIGIL_PAM_SESSION_ERR] = PAM_SESSION_ERR,
    [VIGIL_PAM_CRED_ERR] = PAM_CRED_ERR,
    [VIGIL_PAM_SYSTEM_ERR] = PAM_SYSTEM_ERR,
    [VIGIL_PAM_IGNORE] = PAM_IGNORE,
};

static const struct {
    int pam;
    uint32_t vigil;
} flag_map[] = {
    { PAM_SILENT, VIGIL_PAM_FLAG_SILENT },
    { PAM_DISALLOW_NULL_AUTHTOK, VIGIL_PAM_FLAG_DISALLOW_NULL_AUTHTOK },
    { PAM_ESTABLISH_CRED, VIGIL_PAM_FLAG_ESTABLISH_CRED },
    { PAM_DELETE_CRED, VIGIL_PAM_FLAG_DELETE_CRED },
    { PAM_REINITIALIZE_CRED, VIGIL_PAM_FLAG_REINITIALIZE_CRED },
    { PAM_REFRESH_CRED, VIGIL_PAM_FLAG_REFRESH_CRED },
    { PAM_CHANGE_EXPIRED_AUTHTOK, VIGIL_PAM_FLAG_CHANGE_EXPIRED_AUTHTOK },
};

static uint32_t wire_flags(int flags)
{
    uint32_t out = 0;
    for (size_t i = 0; i < sizeof(flag_map) / sizeof(flag_map[0]); i++) {
        if (flags & flag_map[i].pam) {
            out |= flag_map[i].vigil;
        }
    }
    return out;
}

static const char *item_string(pam_handle_t *pamh, int type)
{
    const void *value = NULL;
    return pam_get_item(pamh, type, &value) == PAM_SUCCESS ? value : NULL;
}

static void show_messages(pam_handle_t *pamh, int flags, const struct options *o,
                          const struct vigil_pam_reply_view *view)
{
    if (flags & PAM_SILENT) {
        return;
    }
    for (size_t i = 0; i < view->n_messages; i++) {
        const struct vigil_pam_text *m = &view->messages[i];
        if (m->style == VIGIL_PAM_MSG_INFO && o->quiet) {
            continue;
        }
        char text[VIGIL_MAX_PAM_MESSAGE_LEN + 1];
        memcpy(text, m->text, m->len);
        text[m->len] = '\0';
        (void)converse(pamh, m->style == VIGIL_PAM_MSG_ERROR ? PAM_ERROR_MSG : PAM_TEXT_INFO,
                       text, NULL);
    }
}

/* Reply data handed to pam_set_data: the bytes and a NUL (so string data
 * is usable as is), preceded, out of the consumer's sight, by their length,
 * which the cleanup needs to wipe binary data. */
static void cleanup_data(pam_handle_t *pamh, void *data, int error_status)
{
    (void)pamh;
    (void)error_status;
    if (data != NULL) {
        char *block = (char *)data - sizeof(size_t);
        size_t len;
        memcpy(&len, block, sizeof(len));
        explicit_bzero(block, sizeof(len) + len + 1);
        free(block);
    }
}

/* Environment and data from the reply. */
static int apply_reply(pam_handle_t *pamh, const struct vigil_pam_reply_view *view)
{
    for (size_t i = 0; i < view->n_env; i++) {
        char env[VIGIL_MAX_PAM_ITEM_LEN + 1];
        memcpy(env, view->env[i].text, view->env[i].len);
        env[view->env[i].len] = '\0';
        int rc = pam_putenv(pamh, env);
        explicit_bzero(env, sizeof(env));
        if (rc != PAM_SUCCESS) {
            return rc;
        }
    }
    for (size_t i = 0; i < view->n_data; i++) {
        const struct vigil_pam_blob *d = &view->data[i];
        char name[VIGIL_MAX_NAME_LEN + 1];
        memcpy(name, d->name, d->name_len);
        name[d->name_len] = '\0';
        size_t len = d->data_len;
        char *block = malloc(sizeof(len) + len + 1);
        if (block == NULL) {
            return PAM_BUF_ERR;
        }
        memcpy(block, &len, sizeof(len));
        char *copy = block + sizeof(len);
        if (len > 0) {
            memcpy(copy, d->data, len);
        }
        copy[len] = '\0';
        int rc = pam_set_data(pamh, name, copy, cleanup_data);
        if (rc != PAM_SUCCESS) {
            cleanup_data(pamh, copy, 0);
            return rc;
        }
    }
    return PAM_SUCCESS;
}

/* Sends one request for `user` and turns the answer into a PAM code. */
static int request(pam_handle_t *pamh, int flags, const struct options *o, uint32_t command,
                   const char *user, const char *authtok, const char *newauthtok)
{
    struct vigil_pam_request req = {
        .service = item_string(pamh, PAM_SERVICE),
        .user = user,
        .tty = item_string(pamh, PAM_TTY),
        .ruser = item_string(pamh, PAM_RUSER),
        .rhost = item_string(pamh, PAM_RHOST),
        .authtok = authtok,
        .newauthtok = newauthtok,
        .flags = wire_flags(flags),
        .pid = (uint32_t)getpid(),
    };
    uint8_t *body = NULL;
    size_t len = 0;
    int err = vigil_pam_encode_request(&req, &body, &len);
    if (err != 0) {
        pam_syslog(pamh, LOG_ERR, "cannot encode the request for %s: %s", user, strerror(err));
        return err == ENOMEM ? PAM_BUF_ERR : PAM_SYSTEM_ERR;
    }
    /* Root (real and effective) talks to the private socket, where it may
     * set a password without the old one; everybody else, a setuid-root
     * program run by a user (passwd, su, sudo) included, to the public one. */
    uint32_t socket_kind = getuid() == 0 && geteuid() == 0 ? VIGIL_SOCKET_PAM_PRIVATE : VIGIL_SOCKET_PAM;
    struct vigil_reply reply;
    enum vigil_client_rc rc = vigil_client_request_on(socket_kind, command, body, len, &reply);
    vigil_pam_request_free(body, len);
    if (rc != VIGIL_CLIENT_OK) {
        if (o->debug || rc != VIGIL_CLIENT_NO_DAEMON) {
            pam_syslog(pamh, rc == VIGIL_CLIENT_NO_DAEMON ? LOG_DEBUG : LOG_ERR,
                       "vigil_pam: %s", vigil_client_rc_name(rc));
        }
        return PAM_AUTHINFO_UNAVAIL;
    }
    int pam_rc;
    struct vigil_pam_reply_view view;
    if (reply.status == VIGIL_STATUS_NOTFOUND) {
        pam_rc = PAM_USER_UNKNOWN;
    } else if (reply.status == VIGIL_STATUS_DENIED) {
        pam_rc = PAM_PERM_DENIED;
    } else if (reply.status != VIGIL_STATUS_OK) {
        pam_rc = PAM_AUTHINFO_UNAVAIL;
    } else if (vigil_pam_parse_reply(reply.body, reply.body_len, &view) != 0) {
        pam_syslog(pamh, LOG_ERR, "vigil_pam sent a malformed reply");
        pam_rc = PAM_AUTHINFO_UNAVAIL;
    } else {
        show_messages(pamh, flags, o, &view);
        pam_rc = apply_reply(pamh, &view);
        if (pam_rc == PAM_SUCCESS) {
            pam_rc = pam_codes[view.result];
        }
    }
    vigil_reply_free(&reply, 1);
    if (o->debug) {
        pam_syslog(pamh, LOG_DEBUG, "%s for %s: %s", vigil_command_lookup(command)->name, user,
                   pam_strerror(pamh, pam_rc));
    }
    return pam_rc;
}

/* The ignore_* options and the quiet log, applied to a final result. */
static int finish(pam_handle_t *pamh, const struct options *o, const char *user, int rc)
{
    if (rc == PAM_USER_UNKNOWN && !o->quiet && user != NULL) {
        pam_syslog(pamh, LOG_NOTICE, "unknown user %s", user);
    }
    if ((rc == PAM_USER_UNKNOWN && o->ignore_unknown_user)
        || (rc == PAM_AUTHINFO_UNAVAIL && o->ignore_authinfo_unavail)) {
        return PAM_IGNORE;
    }
    return rc;
}

/* The user, or NULL after setting *rc: never root (uid 0 is never served),
 * never inside a vigil daemon (no loops); both without any I/O. */
static const char *get_user(pam_handle_t *pamh, int *rc)
{
    const char *user = NULL;
    *rc = pam_get_user(pamh, &user, NULL);
    if (*rc != PAM_SUCCESS) {
        return NULL;
    }
    if (user == NULL || *user == '\0' || strcmp(user, "root") == 0
        || strlen(user) > VIGIL_MAX_NAME_LEN || vigil_client_loops_disabled()) {
        *rc = PAM_USER_UNKNOWN;
        return NULL;
    }
    return user;
}

/* A token from the stack (item) or, unless use_first_pass, a prompt.
 * *owned is set when the caller must wipe_free the result. */
static int get_token(pam_handle_t *pamh, const struct options *o, int item, const char *prompt,
                     int may_use_item, const char **tok, char **owned)
{
    *tok = NULL;
    *owned = NULL;
    if (may_use_item && o->use_first_pass) {
        *tok = item_string(pamh, item);
        return *tok != NULL ? PAM_SUCCESS : PAM_AUTHTOK_RECOVERY_ERR;
    }
    int rc = converse(pamh, PAM_PROMPT_ECHO_OFF, prompt, owned);
    if (rc != PAM_SUCCESS) {
        return rc;
    }
    *tok = *owned;
    if (o->forward_pass) {
        rc = pam_set_item(pamh, item, *owned);
    }
    return rc;
}

/* ------------------------------------------------------------ expired password */

/* An authenticate whose password was right but has expired (the responder
 * answers NEW_AUTHTOK_REQD) succeeds and leaves this mark on the handle;
 * acct_mgmt of the same handle then returns PAM_NEW_AUTHTOK_REQD, which is
 * where applications act on it (doc/protocol.md).  The mark holds the
 * user's name: a handle whose PAM_USER changed since does not inherit it. */
#define PASSWORD_EXPIRED_DATA "vigil_password_expired"

static void cleanup_mark(pam_handle_t *pamh, void *data, int error_status)
{
    (void)pamh;
    (void)error_status;
    free(data);
}

static int set_password_expired(pam_handle_t *pamh, const char *user)
{
    char *copy = strdup(user);
    if (copy == NULL) {
        return PAM_BUF_ERR;
    }
    int rc = pam_set_data(pamh, PASSWORD_EXPIRED_DATA, copy, cleanup_mark);
    if (rc != PAM_SUCCESS) {
        free(copy);
    }
    return rc;
}

static void clear_password_expired(pam_handle_t *pamh)
{
    const void *data = NULL;
    if (pam_get_data(pamh, PASSWORD_EXPIRED_DATA, &data) == PAM_SUCCESS && data != NULL) {
        (void)pam_set_data(pamh, PASSWORD_EXPIRED_DATA, NULL, NULL);
    }
}

static int password_expired(pam_handle_t *pamh, const char *user)
{
    const void *data = NULL;
    return pam_get_data(pamh, PASSWORD_EXPIRED_DATA, &data) == PAM_SUCCESS && data != NULL
           && strcmp(data, user) == 0;
}

/* ------------------------------------------------------------ entry points */

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct options o;
    int rc;
    parse_options(pamh, argc, argv, &o);
    const char *user = get_user(pamh, &rc);
    if (user == NULL) {
        return finish(pamh, &o, NULL, rc);
    }
    for (int attempt = 0; attempt <= o.retry; attempt++) {
        const char *tok;
        char *owned;
        rc = get_token(pamh, &o, PAM_AUTHTOK, "Password: ", 1, &tok, &owned);
        if (rc == PAM_AUTHTOK_RECOVERY_ERR) {
            rc = PAM_AUTH_ERR;      /* use_first_pass and no password on the stack */
        }
        if (rc == PAM_SUCCESS) {
            rc = request(pamh, flags, &o, VIGIL_CMD_PAM_AUTHENTICATE, user, tok, NULL);
        }
        wipe_free(owned);
        /* Only a wrong password that we prompted for is worth asking again. */
        if (rc != PAM_AUTH_ERR || o.use_first_pass) {
            break;
        }
    }
    /* The latest authenticate decides whether the handle carries the mark;
     * without the mark, an expired password does not authenticate. */
    if (rc == PAM_NEW_AUTHTOK_REQD) {
        rc = set_password_expired(pamh, user);
        if (o.debug) {
            pam_syslog(pamh, LOG_DEBUG, "the password of %s has expired: acct_mgmt will say so", user);
        }
    } else if (rc == PAM_SUCCESS) {
        clear_password_expired(pamh);
    }
    return finish(pamh, &o, user, rc);
}

/* The steps that carry no token: one request each. */
static int simple_step(pam_handle_t *pamh, int flags, int argc, const char **argv,
                       uint32_t command)
{
    struct options o;
    int rc;
    parse_options(pamh, argc, argv, &o);
    const char *user = get_user(pamh, &rc);
    if (user == NULL) {
        return finish(pamh, &o, NULL, rc);
    }
    return finish(pamh, &o, user, request(pamh, flags, &o, command, user, NULL, NULL));
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return simple_step(pamh, flags, argc, argv, VIGIL_CMD_PAM_SETCRED);
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct options o;
    int rc;
    parse_options(pamh, argc, argv, &o);
    const char *user = get_user(pamh, &rc);
    if (user == NULL) {
        return finish(pamh, &o, NULL, rc);
    }
    rc = request(pamh, flags, &o, VIGIL_CMD_PAM_ACCT_MGMT, user, NULL, NULL);
    /* Access is decided first: a refused account stays refused, and one
     * that could not be checked is not waved on to a password change. */
    if (rc == PAM_SUCCESS && password_expired(pamh, user)) {
        if (!(flags & PAM_SILENT)) {
            (void)converse(pamh, PAM_ERROR_MSG, "Your password has expired: change it now.", NULL);
        }
        rc = PAM_NEW_AUTHTOK_REQD;
    }
    return finish(pamh, &o, user, rc);
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return simple_step(pamh, flags, argc, argv, VIGIL_CMD_PAM_OPEN_SESSION);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return simple_step(pamh, flags, argc, argv, VIGIL_CMD_PAM_CLOSE_SESSION);
}

/* The new token: from the stack with use_authtok, else asked twice (and
 * again, up to retry times, when the two answers differ). */
static int get_new_token(pam_handle_t *pamh, int flags, const struct options *o,
                         const char **tok, char **owned)
{
    *tok = NULL;
    *owned = NULL;
    if (o->use_authtok) {
        *tok = item_string(pamh, PAM_AUTHTOK);
        return *tok != NULL ? PAM_SUCCESS : PAM_AUTHTOK_ERR;
    }
    for (int attempt = 0; attempt <= o->retry; attempt++) {
        char *first = NULL, *second = NULL;
        int rc = converse(pamh, PAM_PROMPT_ECHO_OFF, "New Password: ", &first);
        if (rc == PAM_SUCCESS) {
            rc = converse(pamh, PAM_PROMPT_ECHO_OFF, "Retype New Password: ", &second);
        }
        if (rc != PAM_SUCCESS) {
            wipe_free(first);
            wipe_free(second);
            return rc;
        }
        int same = strcmp(first, second) == 0;
        wipe_free(second);
        if (same) {
            *owned = first;
            *tok = first;
            return PAM_SUCCESS;
        }
        wipe_free(first);
        if (!(flags & PAM_SILENT)) {
            (void)converse(pamh, PAM_ERROR_MSG, "Passwords do not match", NULL);
        }
    }
    return PAM_AUTHTOK_ERR;
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct options o;
    int rc;
    parse_options(pamh, argc, argv, &o);
    const char *user = get_user(pamh, &rc);
    if (user == NULL) {
        return finish(pamh, &o, NULL, rc);
    }
    const char *old;
    char *old_owned = NULL;
    if (flags & PAM_PRELIM_CHECK) {
        /* Check the current password now, so that the user is not asked
         * for a new one in vain. */
        rc = get_token(pamh, &o, PAM_OLDAUTHTOK, "Current Password: ", 1, &old, &old_owned);
        if (rc == PAM_SUCCESS) {
            rc = request(pamh, flags, &o, VIGIL_CMD_PAM_CHAUTHTOK_PRELIM, user, old, NULL);
        }
        if (rc == PAM_SUCCESS && old_owned != NULL) {
            rc = pam_set_item(pamh, PAM_OLDAUTHTOK, old_owned);
        }
        wipe_free(old_owned);
        return finish(pamh, &o, user, rc);
    }
    if (!(flags & PAM_UPDATE_AUTHTOK)) {
        return PAM_SYSTEM_ERR;
    }
    old = item_string(pamh, PAM_OLDAUTHTOK);
    if (old == NULL) {
        rc = get_token(pamh, &o, PAM_OLDAUTHTOK, "Current Password: ", 1, &old, &old_owned);
        if (rc != PAM_SUCCESS) {
            return finish(pamh, &o, user, rc);
        }
    }
    const char *new_tok;
    char *new_owned;
    rc = get_new_token(pamh, flags, &o, &new_tok, &new_owned);
    if (rc == PAM_SUCCESS) {
        rc = request(pamh, flags, &o, VIGIL_CMD_PAM_CHAUTHTOK, user, old, new_tok);
    }
    if (rc == PAM_SUCCESS) {
        clear_password_expired(pamh);
    }
    if (rc == PAM_SUCCESS && new_owned != NULL) {
        rc = pam_set_item(pamh, PAM_AUTHTOK, new_owned);
    }
    wipe_free(old_owned);
    wipe_free(new_owned);
    return finish(pamh, &o, user, rc);
}
