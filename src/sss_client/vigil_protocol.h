/*
 * vigil_protocol.h - the client wire protocol, shared by libnss_vigil.so.2,
 * pam_vigil.so and the responders (src/responder includes it from C++).
 * The prose, with every body layout, is doc/protocol.md; this file is its
 * machine-readable half.  C11 and C++20 clean, system headers only.
 *
 * A message is a 16-byte header and a body.  Every integer is little-endian
 * and fixed-width, read and written with the helpers below (never by
 * casting a buffer to a struct).
 */
#ifndef VIGIL_PROTOCOL_H
#define VIGIL_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

/* The versions this header describes.  A connection starts with HELLO,
 * which picks one version both ends speak; the header layout and HELLO
 * itself never change, so any two versions can at least say no. */
#define VIGIL_PROTOCOL_VERSION_MIN 1u
#define VIGIL_PROTOCOL_VERSION_MAX 1u

/* Header: u32 total length (header included), u32 command, u32 status
 * (0 in requests), u32 protocol version. */
#define VIGIL_HEADER_LEN 16u
#define VIGIL_HDR_LEN_OFF 0u
#define VIGIL_HDR_CMD_OFF 4u
#define VIGIL_HDR_STATUS_OFF 8u
#define VIGIL_HDR_VERSION_OFF 12u

/* Maximum sizes (doc/protocol.md, "Limits").  A peer that announces more
 * is broken: the receiver drops the connection without reading further. */
#define VIGIL_MAX_REQUEST_LEN (64u * 1024u)            /* header included */
#define VIGIL_MAX_NSS_REPLY_LEN (16u * 1024u * 1024u)  /* a very large group */
#define VIGIL_MAX_PAM_REPLY_LEN (64u * 1024u)
#define VIGIL_MAX_HELLO_REPLY_LEN (VIGIL_HEADER_LEN + 8u)
#define VIGIL_MAX_NAME_LEN 255u           /* user or group name, bytes, no NUL */
#define VIGIL_MAX_FIELD_LEN 4096u         /* passwd, gecos, dir, shell */
#define VIGIL_MAX_GROUP_MEMBERS 65536u
#define VIGIL_MAX_INITGROUPS 65536u       /* Linux NGROUPS_MAX */
#define VIGIL_MAX_AUTHTOK_LEN 4096u
#define VIGIL_MAX_PAM_ITEM_LEN 4096u      /* service, tty, rhost, ... */
#define VIGIL_MAX_PAM_MESSAGE_LEN 1024u
#define VIGIL_MAX_PAM_MESSAGES 32u
#define VIGIL_MAX_PAM_ENV 64u
#define VIGIL_MAX_PAM_DATA 16u

/* Socket names inside the pipes directory. */
#define VIGIL_NSS_SOCKET_NAME "nss"
#define VIGIL_PAM_SOCKET_NAME "pam"
#define VIGIL_PAM_PRIVATE_SOCKET_NAME "private/pam"   /* root only: dir 0700 root */

enum vigil_command {
    VIGIL_CMD_HELLO = 0x0001,         /* req: u32 min, u32 max   reply: u32 version */
    VIGIL_CMD_GETPWNAM = 0x0101,      /* req: str name           reply: passwd */
    VIGIL_CMD_GETPWUID = 0x0102,      /* req: u32 uid            reply: passwd */
    VIGIL_CMD_GETPWENT = 0x0103,      /* req: u64 cursor         reply: u64 next, passwd */
    VIGIL_CMD_GETGRNAM = 0x0201,      /* req: str name           reply: group */
    VIGIL_CMD_GETGRGID = 0x0202,      /* req: u32 gid            reply: group */
    VIGIL_CMD_GETGRENT = 0x0203,      /* req: u64 cursor         reply: u64 next, group */
    VIGIL_CMD_INITGROUPS = 0x0301,    /* req: str name           reply: u32 n, n x u32 gid */

    VIGIL_CMD_PAM_AUTHENTICATE = 0x1001,   /* req: pam request   reply: pam reply */
    VIGIL_CMD_PAM_SETCRED = 0x1002,
    VIGIL_CMD_PAM_ACCT_MGMT = 0x1003,
    VIGIL_CMD_PAM_OPEN_SESSION = 0x1004,
    VIGIL_CMD_PAM_CLOSE_SESSION = 0x1005,
    VIGIL_CMD_PAM_CHAUTHTOK_PRELIM = 0x1006,
    VIGIL_CMD_PAM_CHAUTHTOK = 0x1007
};

/* Reply header status.  Only VIGIL_STATUS_OK carries a body, except
 * VIGIL_STATUS_BAD_VERSION: u32 oldest, u32 newest version the server speaks. */
enum vigil_status {
    VIGIL_STATUS_OK = 0,
    VIGIL_STATUS_NOTFOUND = 1,     /* the directory says: no such entry (or end of enumeration) */
    VIGIL_STATUS_UNAVAIL = 2,      /* no answer possible (offline, nothing cached) */
    VIGIL_STATUS_TRYAGAIN = 3,     /* busy: a later identical request may succeed */
    VIGIL_STATUS_BAD_REQUEST = 4,  /* the request did not follow this protocol */
    VIGIL_STATUS_BAD_VERSION = 5,  /* no common version, or a header version not agreed */
    VIGIL_STATUS_DENIED = 6        /* not allowed for this peer uid */
};

/* Which socket serves a command.  PAM commands go to the public socket,
 * or to the private one when the caller is root. */
enum vigil_socket_kind {
    VIGIL_SOCKET_NSS = 0,
    VIGIL_SOCKET_PAM = 1,
    VIGIL_SOCKET_PAM_PRIVATE = 2,
    VIGIL_SOCKET_ANY = 3
};

/* The command table: which socket, and the largest reply a client accepts. */
struct vigil_command_info {
    uint32_t command;
    const char *name;
    uint32_t socket;            /* enum vigil_socket_kind */
    uint32_t max_reply_len;     /* header included */
};

static const struct vigil_command_info vigil_command_table[] = {
    { VIGIL_CMD_HELLO, "hello", VIGIL_SOCKET_ANY, VIGIL_MAX_HELLO_REPLY_LEN },
    { VIGIL_CMD_GETPWNAM, "getpwnam", VIGIL_SOCKET_NSS, VIGIL_MAX_NSS_REPLY_LEN },
    { VIGIL_CMD_GETPWUID, "getpwuid", VIGIL_SOCKET_NSS, VIGIL_MAX_NSS_REPLY_LEN },
    { VIGIL_CMD_GETPWENT, "getpwent", VIGIL_SOCKET_NSS, VIGIL_MAX_NSS_REPLY_LEN },
    { VIGIL_CMD_GETGRNAM, "getgrnam", VIGIL_SOCKET_NSS, VIGIL_MAX_NSS_REPLY_LEN },
    { VIGIL_CMD_GETGRGID, "getgrgid", VIGIL_SOCKET_NSS, VIGIL_MAX_NSS_REPLY_LEN },
    { VIGIL_CMD_GETGRENT, "getgrent", VIGIL_SOCKET_NSS, VIGIL_MAX_NSS_REPLY_LEN },
    { VIGIL_CMD_INITGROUPS, "initgroups", VIGIL_SOCKET_NSS, VIGIL_MAX_NSS_REPLY_LEN },
    { VIGIL_CMD_PAM_AUTHENTICATE, "pam_authenticate", VIGIL_SOCKET_PAM, VIGIL_MAX_PAM_REPLY_LEN },
    { VIGIL_CMD_PAM_SETCRED, "pam_setcred", VIGIL_SOCKET_PAM, VIGIL_MAX_PAM_REPLY_LEN },
    { VIGIL_CMD_PAM_ACCT_MGMT, "pam_acct_mgmt", VIGIL_SOCKET_PAM, VIGIL_MAX_PAM_REPLY_LEN },
    { VIGIL_CMD_PAM_OPEN_SESSION, "pam_open_session", VIGIL_SOCKET_PAM, VIGIL_MAX_PAM_REPLY_LEN },
    { VIGIL_CMD_PAM_CLOSE_SESSION, "pam_close_session", VIGIL_SOCKET_PAM, VIGIL_MAX_PAM_REPLY_LEN },
    { VIGIL_CMD_PAM_CHAUTHTOK_PRELIM, "pam_chauthtok_prelim", VIGIL_SOCKET_PAM,
      VIGIL_MAX_PAM_REPLY_LEN },
    { VIGIL_CMD_PAM_CHAUTHTOK, "pam_chauthtok", VIGIL_SOCKET_PAM, VIGIL_MAX_PAM_REPLY_LEN },
};

/* The table row of a command, or NULL for a command this version lacks. */
static inline const struct vigil_command_info *vigil_command_lookup(uint32_t command)
{
    for (size_t i = 0; i < sizeof(vigil_command_table) / sizeof(vigil_command_table[0]); i++) {
        if (vigil_command_table[i].command == command) {
            return &vigil_command_table[i];
        }
    }
    return NULL;
}

/*
 * Body encodings (doc/protocol.md has each command):
 *   u32, u64   little-endian, no alignment inside a body
 *   str        u32 length, then that many bytes; no NUL inside, none after
 *   passwd     u32 uid, u32 gid, str name, str passwd, str gecos, str dir, str shell
 *   group      u32 gid, str name, str passwd, u32 n, n x str member
 * A body is consumed exactly: trailing bytes make it malformed.
 */

/* PAM request body: items, each u32 type, u32 length, that many bytes.
 * Each type at most once; unknown types are a BAD_REQUEST. */
enum vigil_pam_item {
    VIGIL_PAM_ITEM_SERVICE = 1,         /* bytes */
    VIGIL_PAM_ITEM_USER = 2,
    VIGIL_PAM_ITEM_TTY = 3,
    VIGIL_PAM_ITEM_RUSER = 4,
    VIGIL_PAM_ITEM_RHOST = 5,
    VIGIL_PAM_ITEM_AUTHTOK = 6,         /* u32 authtok type, then the token */
    VIGIL_PAM_ITEM_NEWAUTHTOK = 7,      /* u32 authtok type, then the token */
    VIGIL_PAM_ITEM_FLAGS = 8,           /* u32: VIGIL_PAM_FLAG_* */
    VIGIL_PAM_ITEM_REQUESTING_PID = 9   /* u32 pid of the PAM application */
};

enum vigil_authtok_type {
    VIGIL_AUTHTOK_EMPTY = 0,
    VIGIL_AUTHTOK_PASSWORD = 1
};

/* Request flags: the PAM call's flags, in our own numbering. */
#define VIGIL_PAM_FLAG_SILENT 0x1u
#define VIGIL_PAM_FLAG_DISALLOW_NULL_AUTHTOK 0x2u
#define VIGIL_PAM_FLAG_ESTABLISH_CRED 0x4u
#define VIGIL_PAM_FLAG_DELETE_CRED 0x8u
#define VIGIL_PAM_FLAG_REINITIALIZE_CRED 0x10u
#define VIGIL_PAM_FLAG_REFRESH_CRED 0x20u
#define VIGIL_PAM_FLAG_CHANGE_EXPIRED_AUTHTOK 0x40u

/* The verdict in a PAM reply, in our own numbering (the module maps it to
 * Linux-PAM's; responders need no PAM headers). */
enum vigil_pam_result {
    VIGIL_PAM_SUCCESS = 0,
    VIGIL_PAM_AUTH_ERR = 1,             /* wrong password */
    VIGIL_PAM_USER_UNKNOWN = 2,
    VIGIL_PAM_AUTHINFO_UNAVAIL = 3,     /* cannot decide: offline, no cached credential */
    VIGIL_PAM_CRED_INSUFFICIENT = 4,
    VIGIL_PAM_MAXTRIES = 5,             /* locked out */
    VIGIL_PAM_ACCT_EXPIRED = 6,
    VIGIL_PAM_NEW_AUTHTOK_REQD = 7,     /* password expired: chauthtok first */
    VIGIL_PAM_PERM_DENIED = 8,          /* access control said no */
    VIGIL_PAM_AUTHTOK_ERR = 9,          /* new password refused */
    VIGIL_PAM_AUTHTOK_RECOVERY_ERR = 10, /* old password wrong in chauthtok */
    VIGIL_PAM_SESSION_ERR = 11,
    VIGIL_PAM_CRED_ERR = 12,
    VIGIL_PAM_SYSTEM_ERR = 13,
    VIGIL_PAM_IGNORE = 14
};
#define VIGIL_PAM_RESULT_MAX 14u

/* PAM reply body: u32 vigil_pam_result, then items, each u32 type, u32
 * length, that many bytes. */
enum vigil_pam_reply_item {
    VIGIL_PAM_REPLY_MESSAGE = 0x101,    /* u32 VIGIL_PAM_MSG_*, then the text (no NUL) */
    VIGIL_PAM_REPLY_ENV = 0x102,        /* "NAME=value" for pam_putenv */
    VIGIL_PAM_REPLY_DATA = 0x103        /* str name, then the data bytes, for pam_set_data */
};

enum vigil_pam_msg_style {
    VIGIL_PAM_MSG_INFO = 1,
    VIGIL_PAM_MSG_ERROR = 2
};

/* The responders build with C++ warnings about C casts. */
#ifdef __cplusplus
#define VIGIL_CAST(type, value) static_cast<type>(value)
#else
#define VIGIL_CAST(type, value) ((type)(value))
#endif

/* Little-endian access to a byte buffer; the caller checked the length. */
static inline void vigil_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = VIGIL_CAST(uint8_t, v);
    p[1] = VIGIL_CAST(uint8_t, v >> 8);
    p[2] = VIGIL_CAST(uint8_t, v >> 16);
    p[3] = VIGIL_CAST(uint8_t, v >> 24);
}

static inline uint32_t vigil_get_u32(const uint8_t *p)
{
    return VIGIL_CAST(uint32_t, p[0]) | VIGIL_CAST(uint32_t, p[1]) << 8
           | VIGIL_CAST(uint32_t, p[2]) << 16 | VIGIL_CAST(uint32_t, p[3]) << 24;
}

static inline void vigil_put_u64(uint8_t *p, uint64_t v)
{
    vigil_put_u32(p, VIGIL_CAST(uint32_t, v));
    vigil_put_u32(p + 4, VIGIL_CAST(uint32_t, v >> 32));
}

static inline uint64_t vigil_get_u64(const uint8_t *p)
{
    return VIGIL_CAST(uint64_t, vigil_get_u32(p)) | VIGIL_CAST(uint64_t, vigil_get_u32(p + 4)) << 32;
}

#endif /* VIGIL_PROTOCOL_H */
