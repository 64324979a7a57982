/*
 * client_fake_nss - a minimal, single-threaded C responder on PIPES_DIR/nss
 * for the client benchmark: the Python fake of the tests costs more per
 * request than the module does, so it would hide what we want to measure.
 *
 * It answers HELLO (version 1), GETPWNAM for any name (uid 10001), and
 * INITGROUPS for any name (500 gids), from replies built once; and a
 * bench-only command 0x7FFF0000 with a fixed 256-byte reply, for the bare
 * round trip.  A child process per connection (the module keeps its
 * connection open while the bench opens a raw one).  Usage: client_fake_nss PIPES_DIR
 * (writes PIPES_DIR/ready when listening; stop it with SIGTERM).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vigil_protocol.h"

#define BENCH_ECHO 0x7FFF0000u
#define MAX_REQ 4096

static int read_all(int fd, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int send_reply(int fd, uint32_t cmd, uint32_t version, const uint8_t *body, size_t len)
{
    uint8_t out[16 + 8192];
    if (len > sizeof(out) - 16) {
        return -1;
    }
    vigil_put_u32(out, (uint32_t)(16 + len));
    vigil_put_u32(out + 4, cmd);
    vigil_put_u32(out + 8, VIGIL_STATUS_OK);
    vigil_put_u32(out + 12, version);
    memcpy(out + 16, body, len);
    return send(fd, out, 16 + len, MSG_NOSIGNAL) == (ssize_t)(16 + len) ? 0 : -1;
}

static size_t put_str(uint8_t *p, const char *s, size_t len)
{
    vigil_put_u32(p, (uint32_t)len);
    memcpy(p + 4, s, len);
    return 4 + len;
}

static void serve(int fd)
{
    uint8_t req[MAX_REQ], body[8192], groups[4 + 500 * 4], echo[240];
    memset(echo, 'e', sizeof(echo));
    vigil_put_u32(groups, 500);
    for (uint32_t i = 0; i < 500; i++) {
        vigil_put_u32(groups + 4 + i * 4, 30000 + i);
    }
    for (;;) {
        if (read_all(fd, req, 16) != 0) {
            return;
        }
        uint32_t len = vigil_get_u32(req), cmd = vigil_get_u32(req + 4);
        uint32_t version = vigil_get_u32(req + 12);
        if (len < 16 || len > MAX_REQ || read_all(fd, req + 16, len - 16) != 0) {
            return;
        }
        int rc = -1;
        if (cmd == VIGIL_CMD_HELLO) {
            uint8_t v[4];
            vigil_put_u32(v, 1);
            rc = send_reply(fd, cmd, 0, v, 4);
        } else if (cmd == VIGIL_CMD_GETPWNAM && len >= 20) {
            uint32_t n = vigil_get_u32(req + 16);
            if (n > len - 20 || n > VIGIL_MAX_NAME_LEN) {
                return;
            }
            size_t off = 0;
            vigil_put_u32(body, 10001);
            vigil_put_u32(body + 4, 10001);
            off = 8 + put_str(body + 8, (const char *)req + 20, n);
            off += put_str(body + off, "x", 1);
            off += put_str(body + off, "Bench User", 10);
            off += put_str(body + off, "/home/bench", 11);
            off += put_str(body + off, "/bin/sh", 7);
            rc = send_reply(fd, cmd, version, body, off);
        } else if (cmd == VIGIL_CMD_INITGROUPS) {
            rc = send_reply(fd, cmd, version, groups, sizeof(groups));
        } else if (cmd == BENCH_ECHO) {
            rc = send_reply(fd, cmd, version, echo, sizeof(echo));
        }
        if (rc != 0) {
            return;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: client_fake_nss PIPES_DIR\n");
        return 2;
    }
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    char ready[4096];
    if ((size_t)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/nss", argv[1])
            >= sizeof(addr.sun_path)
        || (size_t)snprintf(ready, sizeof(ready), "%s/ready", argv[1]) >= sizeof(ready)) {
        fprintf(stderr, "client_fake_nss: path too long\n");
        return 1;
    }
    unlink(addr.sun_path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(lfd, 16) != 0) {
        perror("client_fake_nss: listen");
        return 1;
    }
    FILE *f = fopen(ready, "w");
    if (f == NULL || fclose(f) != 0) {
        perror("client_fake_nss: ready file");
        return 1;
    }
    signal(SIGCHLD, SIG_IGN);       /* children are reaped by the kernel */
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            close(lfd);
            serve(fd);
            _exit(0);
        }
        close(fd);
    }
}
