/*
 * client_bench - times libnss_vigil.so.2's round trip against
 * client_fake_nss: µs per getpwnam (1,000 distinct names, cycled), per
 * initgroups of a user in 500 groups, and the bare UNIX-socket round trip
 * (64-byte request, 256-byte reply) on the same kind of connection, which
 * is the floor under both.  Prints the median of RUNS runs of each; asserts
 * nothing.
 *
 * Usage: client_bench MODULE PIPES_DIR RUNS CALLS
 * (VIGIL_PIPES_DIR and VIGIL_PEER_UID are set here for the module.)
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vigil_protocol.h"

typedef enum nss_status (*pwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*initgr_fn)(const char *, gid_t, long int *, long int *, gid_t **,
                                     long int, int *);

#define MAX_RUNS 101
#define NAMES 1000

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int recv_all(int fd, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = recv(fd, buf + done, len - done, 0);
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* One bare request/reply on a raw connection (after HELLO), µs per call. */
static double bare_run(const char *dir, long calls)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/nss", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        perror("client_bench: connect");
        exit(1);
    }
    uint8_t req[64] = { 0 }, reply[256];
    vigil_put_u32(req, 24);
    vigil_put_u32(req + 4, VIGIL_CMD_HELLO);
    vigil_put_u32(req + 16, 1);
    vigil_put_u32(req + 20, 1);
    if (send(fd, req, 24, MSG_NOSIGNAL) != 24 || recv_all(fd, reply, 20) != 0) {
        fprintf(stderr, "client_bench: hello failed\n");
        exit(1);
    }
    vigil_put_u32(req, 64);
    vigil_put_u32(req + 4, 0x7FFF0000u);
    vigil_put_u32(req + 12, 1);
    double t0 = now_us();
    for (long i = 0; i < calls; i++) {
        if (send(fd, req, 64, MSG_NOSIGNAL) != 64 || recv_all(fd, reply, 256) != 0) {
            fprintf(stderr, "client_bench: bare round trip failed\n");
            exit(1);
        }
    }
    double per = (now_us() - t0) / (double)calls;
    close(fd);
    return per;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: client_bench MODULE PIPES_DIR RUNS CALLS\n");
        return 2;
    }
    int runs = atoi(argv[3]);
    long calls = atol(argv[4]);
    if (runs < 1 || runs > MAX_RUNS || calls < 10) {
        fprintf(stderr, "client_bench: 1 <= RUNS <= %d, CALLS >= 10\n", MAX_RUNS);
        return 2;
    }
    char uid[32];
    snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
    setenv("VIGIL_PIPES_DIR", argv[2], 1);
    setenv("VIGIL_PEER_UID", uid, 1);
    unsetenv("_VIGIL_LOOPS");
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        fprintf(stderr, "client_bench: %s\n", dlerror());
        return 3;
    }
    pwnam_fn getpwnam;
    initgr_fn initgroups;
    void *p = dlsym(module, "_nss_vigil_getpwnam_r");
    memcpy(&getpwnam, &p, sizeof(p));
    p = dlsym(module, "_nss_vigil_initgroups_dyn");
    memcpy(&initgroups, &p, sizeof(p));
    if (getpwnam == NULL || initgroups == NULL) {
        fprintf(stderr, "client_bench: entry points missing\n");
        return 3;
    }
    static char names[NAMES][16];
    for (int i = 0; i < NAMES; i++) {
        snprintf(names[i], sizeof(names[i]), "user%04d", i);
    }

    double bare[MAX_RUNS], pw[MAX_RUNS], ig[MAX_RUNS];
    char buf[1024];
    long ig_calls = calls / 10 > 10 ? calls / 10 : 10;
    for (int r = 0; r < runs; r++) {
        bare[r] = bare_run(argv[2], calls);
        double t0 = now_us();
        for (long i = 0; i < calls; i++) {
            struct passwd pwd;
            int err;
            if (getpwnam(names[i % NAMES], &pwd, buf, sizeof(buf), &err) != NSS_STATUS_SUCCESS) {
                fprintf(stderr, "client_bench: getpwnam failed (errno %d)\n", err);
                return 1;
            }
        }
        pw[r] = (now_us() - t0) / (double)calls;
        t0 = now_us();
        for (long i = 0; i < ig_calls; i++) {
            long start = 1, size = 16;
            gid_t *groups = malloc((size_t)size * sizeof(gid_t));
            int err;
            if (groups == NULL) {
                return 1;
            }
            groups[0] = 10001;
            if (initgroups(names[i % NAMES], 10001, &start, &size, &groups, -1, &err)
                    != NSS_STATUS_SUCCESS || start != 501) {
                fprintf(stderr, "client_bench: initgroups failed (start %ld)\n", start);
                return 1;
            }
            free(groups);
        }
        ig[r] = (now_us() - t0) / (double)ig_calls;
    }
    double b = median(bare, runs), g = median(pw, runs), i = median(ig, runs);
    printf("bare round trip (64 B -> 256 B)   %8.1f us\n", b);
    printf("getpwnam (1,000 names cycled)     %8.1f us   (%+.1f us over bare)\n", g, g - b);
    printf("initgroups, 500 groups            %8.1f us   (%+.1f us over bare)\n", i, i - b);
    printf("(medians of %d runs; %ld getpwnam and %ld initgroups calls a run)\n", runs, calls,
           ig_calls);
    return 0;
}
