/*
 * nss_vigil_passwd.c - the passwd map of libnss_vigil.so.2: getpwnam_r,
 * getpwuid_r and enumeration.  Reply body: see doc/protocol.md ("passwd").
 */
#define _GNU_SOURCE

#include "nss_vigil.h"

#include <errno.h>
#include <pwd.h>
#include <string.h>

enum nss_status _nss_vigil_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                      size_t buflen, int *errnop);
enum nss_status _nss_vigil_getpwuid_r(uid_t uid, struct passwd *pw, char *buf,
                                      size_t buflen, int *errnop);
enum nss_status _nss_vigil_setpwent(void);
enum nss_status _nss_vigil_getpwent_r(struct passwd *pw, char *buf, size_t buflen,
                                      int *errnop);
enum nss_status _nss_vigil_endpwent(void);

int vigil_nss_fill_passwd(struct vigil_reader *r, void *entry, char *buf, size_t buflen)
{
    struct passwd *pw = entry;
    static const uint32_t max_len[5] = { VIGIL_MAX_NAME_LEN, VIGIL_MAX_FIELD_LEN,
                                         VIGIL_MAX_FIELD_LEN, VIGIL_MAX_FIELD_LEN,
                                         VIGIL_MAX_FIELD_LEN };
    uint32_t uid, gid, len[5];
    const char *str[5];
    char *out[5];

    if (!vigil_read_u32(r, &uid) || !vigil_read_u32(r, &gid)) {
        return EBADMSG;
    }
    for (int i = 0; i < 5; i++) {
        if (!vigil_read_str(r, max_len[i], &str[i], &len[i])) {
            return EBADMSG;
        }
    }
    if (!vigil_reader_done(r) || len[0] == 0) {
        return EBADMSG;
    }
    if (uid == 0 || gid == 0) {
        return ENOENT;
    }
    struct vigil_nss_buf b = { buf, buflen, 0 };
    for (int i = 0; i < 5; i++) {
        if ((out[i] = vigil_nss_buf_str(&b, str[i], len[i])) == NULL) {
            return ERANGE;
        }
    }
    pw->pw_name = out[0];
    pw->pw_passwd = out[1];
    pw->pw_gecos = out[2];
    pw->pw_dir = out[3];
    pw->pw_shell = out[4];
    pw->pw_uid = uid;
    pw->pw_gid = gid;
    return 0;
}

static enum nss_status answer(enum nss_status status, struct vigil_reply *reply,
                              struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
    if (status == NSS_STATUS_SUCCESS) {
        struct vigil_reader r;
        vigil_reader_init(&r, reply->body, reply->body_len);
        status = vigil_nss_fill_status(vigil_nss_fill_passwd(&r, pw, buf, buflen), errnop);
    }
    vigil_reply_free(reply, 0);
    return status;
}

enum nss_status _nss_vigil_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                      size_t buflen, int *errnop)
{
    VIGIL_ERRNO_SAVE;
    if (vigil_nss_skip_name(name)) {
        *errnop = ENOENT;
        VIGIL_ERRNO_RETURN(NSS_STATUS_NOTFOUND);
    }
    struct vigil_reply reply;
    enum nss_status status = vigil_nss_by_name(VIGIL_CMD_GETPWNAM, name, &reply, errnop);
    VIGIL_ERRNO_RETURN(answer(status, &reply, pw, buf, buflen, errnop));
}

enum nss_status _nss_vigil_getpwuid_r(uid_t uid, struct passwd *pw, char *buf,
                                      size_t buflen, int *errnop)
{
    VIGIL_ERRNO_SAVE;
    if (vigil_nss_skip_id(uid)) {
        *errnop = ENOENT;
        VIGIL_ERRNO_RETURN(NSS_STATUS_NOTFOUND);
    }
    struct vigil_reply reply;
    enum nss_status status = vigil_nss_by_id(VIGIL_CMD_GETPWUID, uid, &reply, errnop);
    status = answer(status, &reply, pw, buf, buflen, errnop);
    if (status == NSS_STATUS_SUCCESS && pw->pw_uid != uid) {
        status = vigil_nss_malformed(errnop);     /* an answer to another question */
    }
    VIGIL_ERRNO_RETURN(status);
}

static _Atomic uint64_t pw_cursor;

enum nss_status _nss_vigil_setpwent(void)
{
    atomic_store(&pw_cursor, 0);
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_vigil_endpwent(void)
{
    atomic_store(&pw_cursor, 0);
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_vigil_getpwent_r(struct passwd *pw, char *buf, size_t buflen,
                                      int *errnop)
{
    VIGIL_ERRNO_SAVE;
    VIGIL_ERRNO_RETURN(vigil_nss_getent(&pw_cursor, VIGIL_CMD_GETPWENT, vigil_nss_fill_passwd,
                                        pw, buf, buflen, errnop));
}
