/*
 * client_common.c - one connection per process to a vigil responder.
 *
 * This code runs inside sshd, login, cron and every program that resolves a
 * user.  So: the connection is re-opened after fork (pid check) and when the
 * application closed our fd and reused its number (st_dev/st_ino check), the
 * fd is >= 3 and close-on-exec, send never raises SIGPIPE, every wait is a
 * poll bounded by the per-call deadline, and the listener must run as root
 * (or, in tests, as ourselves: see peer_uid_allowed).  Each new connection
 * starts with the HELLO handshake that picks the protocol version.
 */
#define _GNU_SOURCE

#include "client_common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct connection {
    const char *socket_name;
    /* NSS requests are idempotent: resend once on a fresh connection when a
     * kept-alive one turns out dead.  PAM requests are not. */
    int resend_on_stale;
    /* pam_vigil.so is dlclosed at pam_end, and a static fd would leak with
     * it: PAM connections are closed after every request. */
    int keep_open;
    pthread_mutex_t lock;
    int fd;
    pid_t pid;
    dev_t dev;
    ino_t ino;
    uint32_t version;           /* agreed in HELLO */
};

static struct connection connections[] = {
    [VIGIL_SOCKET_NSS] = { VIGIL_NSS_SOCKET_NAME, 1, 1, PTHREAD_MUTEX_INITIALIZER, -1, 0,
                           0, 0, 0 },
    [VIGIL_SOCKET_PAM] = { VIGIL_PAM_SOCKET_NAME, 0, 0, PTHREAD_MUTEX_INITIALIZER, -1, 0,
                           0, 0, 0 },
    [VIGIL_SOCKET_PAM_PRIVATE] = { VIGIL_PAM_PRIVATE_SOCKET_NAME, 0, 0,
                                   PTHREAD_MUTEX_INITIALIZER, -1, 0, 0, 0, 0 },
};
#define N_CONNECTIONS (sizeof(connections) / sizeof(connections[0]))

/* fork() while another thread holds a connection lock would leave the
 * child's copy locked forever: the atfork handlers take every lock around
 * fork.  glibc unregisters them when the module is dlclosed. */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
    for (size_t i = 0; i < N_CONNECTIONS; i++) {
        pthread_mutex_lock(&connections[i].lock);
    }
}

static void atfork_release(void)
{
    for (size_t i = N_CONNECTIONS; i > 0; i--) {
        pthread_mutex_unlock(&connections[i - 1].lock);
    }
}

static void atfork_register(void)
{
    (void)pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

int vigil_client_loops_disabled(void)
{
    const char *loops = getenv("_VIGIL_LOOPS");
    return loops != NULL && strcmp(loops, "NO") == 0;
}

const char *vigil_client_rc_name(enum vigil_client_rc rc)
{
    switch (rc) {
    case VIGIL_CLIENT_OK: return "ok";
    case VIGIL_CLIENT_NO_DAEMON: return "no daemon listening";
    case VIGIL_CLIENT_TIMEOUT: return "timed out";
    case VIGIL_CLIENT_BAD_PEER: return "listener runs as an untrusted uid";
    case VIGIL_CLIENT_BAD_REPLY: return "malformed reply";
    case VIGIL_CLIENT_BAD_VERSION: return "protocol version refused";
    case VIGIL_CLIENT_NO_MEMORY: return "out of memory";
    case VIGIL_CLIENT_IO_ERROR: return "connection broken";
    case VIGIL_CLIENT_BAD_REQUEST: return "request not sendable";
    }
    return "unknown";
}

/* ------------------------------------------------------------ deadlines */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t call_timeout_ms(void)
{
    int64_t timeout = VIGIL_CLIENT_TIMEOUT_MS;
    const char *env = secure_getenv("VIGIL_CLIENT_TIMEOUT_MS");
    if (env != NULL && *env != '\0') {
        char *end;
        long long v = strtoll(env, &end, 10);
        if (*end == '\0' && v > 0 && v < timeout) {
            timeout = v;
        }
    }
    return timeout;
}

/* poll one fd until `events` or the deadline.  0: ready, else an rc. */
static enum vigil_client_rc wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            return VIGIL_CLIENT_TIMEOUT;
        }
        struct pollfd pfd = { .fd = fd, .events = events, .revents = 0 };
        int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return VIGIL_CLIENT_IO_ERROR;
        }
        if (n == 0) {
            continue;           /* the loop re-checks the deadline */
        }
        if (pfd.revents & events) {
            return VIGIL_CLIENT_OK;
        }
        if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
            return VIGIL_CLIENT_IO_ERROR;
        }
    }
}

/* ------------------------------------------------------------ the socket */

static const char *pipes_dir(void)
{
    const char *env = secure_getenv("VIGIL_PIPES_DIR");
    return env != NULL && *env != '\0' ? env : VIGIL_PIPES_DIR;
}

/* The listener must be root.  Tests run the responder as themselves: the
 * environment variable VIGIL_PEER_UID (secure_getenv, so never in setuid
 * programs) names one more uid to trust, and is honoured only when it is the
 * caller's own real and effective uid, so it trusts nobody the caller could
 * not already be. */
static int peer_uid_allowed(uid_t peer)
{
    if (peer == 0) {
        return 1;
    }
    const char *env = secure_getenv("VIGIL_PEER_UID");
    if (env == NULL || *env < '0' || *env > '9') {
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(env, &end, 10);
    return errno == 0 && *end == '\0' && v == (unsigned long long)peer
           && peer == getuid() && peer == geteuid();
}

static void drop(struct connection *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
}

/* Is c->fd still the socket we opened, in this process? */
static int still_ours(struct connection *c)
{
    if (c->fd < 0) {
        return 0;
    }
    struct stat st;
    int same = fstat(c->fd, &st) == 0 && S_ISSOCK(st.st_mode)
               && st.st_dev == c->dev && st.st_ino == c->ino;
    if (!same) {
        /* The application closed it and may have reused the number: the fd
         * is not ours to close or write to any more. */
        c->fd = -1;
        return 0;
    }
    if (c->pid != getpid()) {
        /* Inherited across fork: share nothing with the parent. */
        drop(c);
        return 0;
    }
    return 1;
}

/* A kept-alive connection that polls readable or hung up before we sent
 * anything was closed by the server (restart) or holds junk: not usable. */
static int idle_connection_dead(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
    int n;
    do {
        n = poll(&pfd, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n != 0;
}

static int move_above_stdio(int fd)
{
    if (fd >= 3) {
        return fd;
    }
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

static enum vigil_client_rc hello(int fd, uint32_t *version, int64_t deadline);

static enum vigil_client_rc connect_socket(struct connection *c, int64_t deadline)
{
    const char *dir = pipes_dir();
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", dir, c->socket_name);
    if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
        return VIGIL_CLIENT_NO_DAEMON;
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || (fd = move_above_stdio(fd)) < 0) {
        return VIGIL_CLIENT_IO_ERROR;
    }
    /* O_NONBLOCK belongs to the open file description, which the dup
     * shares; set it again so that nothing depends on that. */
    if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
        close(fd);
        return VIGIL_CLIENT_IO_ERROR;
    }

    enum vigil_client_rc rc = VIGIL_CLIENT_OK;
    while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (errno == EINPROGRESS || errno == EINTR) {
            int err = 0;
            socklen_t len = sizeof(err);
            rc = wait_fd(fd, POLLOUT, deadline);
            if (rc == VIGIL_CLIENT_OK
                && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)) {
                rc = VIGIL_CLIENT_NO_DAEMON;
            }
            break;
        }
        if (errno == EAGAIN) {
            /* The listen backlog is full: the daemon is busy; retry. */
            if (now_ms() + 10 >= deadline) {
                rc = VIGIL_CLIENT_TIMEOUT;
                break;
            }
            poll(NULL, 0, 10);
            continue;
        }
        rc = VIGIL_CLIENT_NO_DAEMON;
        break;
    }

    struct ucred cred;
    socklen_t cred_len = sizeof(cred);
    if (rc == VIGIL_CLIENT_OK
        && (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0
            || cred_len != sizeof(cred) || !peer_uid_allowed(cred.uid))) {
        rc = VIGIL_CLIENT_BAD_PEER;
    }
    uint32_t version = 0;
    if (rc == VIGIL_CLIENT_OK) {
        rc = hello(fd, &version, deadline);
    }
    struct stat st;
    if (rc == VIGIL_CLIENT_OK && fstat(fd, &st) != 0) {
        rc = VIGIL_CLIENT_IO_ERROR;
    }
    if (rc != VIGIL_CLIENT_OK) {
        close(fd);
        return rc;
    }
    c->fd = fd;
    c->pid = getpid();
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->version = version;
    return VIGIL_CLIENT_OK;
}

/* ------------------------------------------------------------ I/O */

static enum vigil_client_rc send_all(int fd, struct iovec *iov, int iovcnt, int64_t deadline)
{
    while (iovcnt > 0) {
        struct msghdr msg;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)iovcnt;
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                enum vigil_client_rc rc = wait_fd(fd, POLLOUT, deadline);
                if (rc != VIGIL_CLIENT_OK) {
                    return rc;
                }
                continue;
            }
            return VIGIL_CLIENT_IO_ERROR;
        }
        size_t done = (size_t)n;
        while (iovcnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return VIGIL_CLIENT_OK;
}

/* Reads exactly len bytes.  *got counts what arrived (0 tells a clean
 * close before any reply from a broken one). */
static enum vigil_client_rc recv_all(int fd, void *buf, size_t len, int64_t deadline,
                                     size_t *got)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
            *got += (size_t)n;
            continue;
        }
        if (n == 0) {
            return VIGIL_CLIENT_IO_ERROR;   /* closed by the server */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return VIGIL_CLIENT_IO_ERROR;
        }
        enum vigil_client_rc rc = wait_fd(fd, POLLIN, deadline);
        if (rc != VIGIL_CLIENT_OK) {
            return rc;
        }
    }
    return VIGIL_CLIENT_OK;
}

/* Sends one request and reads its reply.  Only a well-framed reply to
 * this command, in the agreed version and within the command's size limit,
 * is returned; anything else leaves the stream unusable. */
static enum vigil_client_rc exchange(int fd, uint32_t version,
                                     const struct vigil_command_info *info,
                                     const void *body, size_t body_len,
                                     struct vigil_reply *reply, int64_t deadline,
                                     size_t *got)
{
    uint8_t header[VIGIL_HEADER_LEN];
    vigil_put_u32(header + VIGIL_HDR_LEN_OFF, (uint32_t)(VIGIL_HEADER_LEN + body_len));
    vigil_put_u32(header + VIGIL_HDR_CMD_OFF, info->command);
    vigil_put_u32(header + VIGIL_HDR_STATUS_OFF, 0);
    vigil_put_u32(header + VIGIL_HDR_VERSION_OFF, version);
    struct iovec iov[2] = {
        { .iov_base = header, .iov_len = sizeof(header) },
        { .iov_base = (void *)(uintptr_t)body, .iov_len = body_len },
    };
    enum vigil_client_rc rc = send_all(fd, iov, body_len ? 2 : 1, deadline);
    if (rc != VIGIL_CLIENT_OK) {
        return rc;
    }

    uint8_t in[VIGIL_HEADER_LEN];
    rc = recv_all(fd, in, sizeof(in), deadline, got);
    if (rc != VIGIL_CLIENT_OK) {
        return rc;
    }
    uint32_t len = vigil_get_u32(in + VIGIL_HDR_LEN_OFF);
    uint32_t status = vigil_get_u32(in + VIGIL_HDR_STATUS_OFF);
    if (len < VIGIL_HEADER_LEN || len > info->max_reply_len
        || vigil_get_u32(in + VIGIL_HDR_CMD_OFF) != info->command) {
        return VIGIL_CLIENT_BAD_REPLY;
    }
    if (status == VIGIL_STATUS_BAD_VERSION) {
        return VIGIL_CLIENT_BAD_VERSION;
    }
    if (vigil_get_u32(in + VIGIL_HDR_VERSION_OFF) != version) {
        return VIGIL_CLIENT_BAD_REPLY;
    }
    if (status != VIGIL_STATUS_OK && len != VIGIL_HEADER_LEN) {
        return VIGIL_CLIENT_BAD_REPLY;   /* only OK replies carry a body */
    }

    uint32_t body_in = len - VIGIL_HEADER_LEN;
    uint8_t *data = NULL;
    if (body_in > 0) {
        data = malloc(body_in);
        if (data == NULL) {
            return VIGIL_CLIENT_NO_MEMORY;
        }
        rc = recv_all(fd, data, body_in, deadline, got);
        if (rc != VIGIL_CLIENT_OK) {
            free(data);
            return rc;
        }
    }
    reply->status = status;
    reply->body = data;
    reply->body_len = body_in;
    return VIGIL_CLIENT_OK;
}

/* HELLO: offer [MIN, MAX] in a version-0 header; the server answers with
 * the version it picked, or BAD_VERSION (no common version): the module
 * then reports "unavailable", never misreads a newer format. */
static enum vigil_client_rc hello(int fd, uint32_t *version, int64_t deadline)
{
    uint8_t body[8];
    vigil_put_u32(body, VIGIL_PROTOCOL_VERSION_MIN);
    vigil_put_u32(body + 4, VIGIL_PROTOCOL_VERSION_MAX);
    struct vigil_reply reply = { VIGIL_STATUS_UNAVAIL, NULL, 0 };
    size_t got = 0;
    enum vigil_client_rc rc = exchange(fd, 0, vigil_command_lookup(VIGIL_CMD_HELLO), body,
                                       sizeof(body), &reply, deadline, &got);
    if (rc != VIGIL_CLIENT_OK) {
        return rc;
    }
    if (reply.status != VIGIL_STATUS_OK || reply.body_len != 4) {
        rc = VIGIL_CLIENT_BAD_REPLY;
    } else {
        *version = vigil_get_u32(reply.body);
        if (*version < VIGIL_PROTOCOL_VERSION_MIN || *version > VIGIL_PROTOCOL_VERSION_MAX) {
            rc = VIGIL_CLIENT_BAD_VERSION;
        }
    }
    vigil_reply_free(&reply, 0);
    return rc;
}

enum vigil_client_rc vigil_client_request(uint32_t command,
                                          const void *body, size_t body_len,
                                          struct vigil_reply *reply)
{
    const struct vigil_command_info *info = vigil_command_lookup(command);
    return vigil_client_request_on(info != NULL ? info->socket : VIGIL_SOCKET_ANY, command,
                                   body, body_len, reply);
}

enum vigil_client_rc vigil_client_request_on(uint32_t socket_kind, uint32_t command,
                                             const void *body, size_t body_len,
                                             struct vigil_reply *reply)
{
    const struct vigil_command_info *info = vigil_command_lookup(command);
    reply->status = VIGIL_STATUS_UNAVAIL;
    reply->body = NULL;
    reply->body_len = 0;
    /* A caller bug, not a peer's: refuse before any I/O. */
    int socket_ok = info != NULL
                    && (socket_kind == info->socket
                        || (socket_kind == VIGIL_SOCKET_PAM_PRIVATE
                            && info->socket == VIGIL_SOCKET_PAM));
    if (!socket_ok || socket_kind >= N_CONNECTIONS
        || body_len > VIGIL_MAX_REQUEST_LEN - VIGIL_HEADER_LEN) {
        return VIGIL_CLIENT_BAD_REQUEST;
    }
    struct connection *c = &connections[socket_kind];
    int64_t deadline = now_ms() + call_timeout_ms();

    pthread_once(&atfork_once, atfork_register);
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    /* Every wait is bounded, this one too (in practice the holder's own
     * deadline, which came first, frees the lock before ours passes). */
    struct timespec until = { .tv_sec = (time_t)(deadline / 1000),
                              .tv_nsec = (long)(deadline % 1000) * 1000000L };
    if (pthread_mutex_clocklock(&c->lock, CLOCK_MONOTONIC, &until) != 0) {
        pthread_setcancelstate(cancel_state, NULL);
        return VIGIL_CLIENT_TIMEOUT;
    }

    enum vigil_client_rc rc = VIGIL_CLIENT_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = still_ours(c);
        if (reused && idle_connection_dead(c->fd)) {
            drop(c);
            reused = 0;
        }
        if (!reused) {
            rc = connect_socket(c, deadline);
            if (rc != VIGIL_CLIENT_OK) {
                break;
            }
        }
        size_t got = 0;
        rc = exchange(c->fd, c->version, info, body, body_len, reply, deadline, &got);
        if (rc == VIGIL_CLIENT_OK) {
            if (!c->keep_open) {
                drop(c);
            }
            break;
        }
        /* After any failure the stream position is unknown. */
        drop(c);
        if (!(rc == VIGIL_CLIENT_IO_ERROR && reused && got == 0 && c->resend_on_stale)) {
            break;
        }
    }

    pthread_mutex_unlock(&c->lock);
    pthread_setcancelstate(cancel_state, NULL);
    return rc;
}

void vigil_client_reset(uint32_t socket_kind)
{
    if (socket_kind >= N_CONNECTIONS) {
        return;
    }
    struct connection *c = &connections[socket_kind];
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&c->lock);
    if (still_ours(c)) {
        drop(c);
    }
    pthread_mutex_unlock(&c->lock);
    pthread_setcancelstate(cancel_state, NULL);
}

void vigil_reply_free(struct vigil_reply *reply, int wipe)
{
    if (reply->body != NULL && wipe) {
        explicit_bzero(reply->body, reply->body_len);
    }
    free(reply->body);
    reply->body = NULL;
    reply->body_len = 0;
}
