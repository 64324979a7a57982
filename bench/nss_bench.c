/*
 * nss_bench - times an NSS module's _nss_PREFIX_getpwnam_r, _getgrnam_r
 * and _initgroups_dyn, dlopened by path (no glibc dispatch, no nss_files),
 * and the bare UNIX-socket round trip (64-byte request, 256-byte reply)
 * against a minimal echo responder of its own: the floor under any socket
 * path.  Works the same for PREFIX vigil and sss; the environment selects
 * the daemon (VIGIL_PIPES_DIR, SSS_NSS_USE_MEMCACHE=NO, ...).  MODULE
 * "glibc" makes the same lookups through glibc (getpwnam_r, getgrnam_r,
 * getgrouplist), so through nsswitch.conf, as a program sees them.
 *
 * Prints one line per figure: TEST, then one value a run (µs per call, or
 * calls per second for TEST_rate); the caller takes medians.  Then "calls
 * N": every call made, untimed ones too, to divide a daemon's CPU time by.
 * Every answer is checked (the name, the member count, the group count): a
 * wrong or failed answer ends the program with status 1, saying what was
 * wrong.
 *
 * Usage: nss_bench [-r RUNS] [-n CALLS] [-p PROCS] [-w] [-l] TEST ARGS...
 *   pwnam MODULE PREFIX FORMAT COUNT   getpwnam of COUNT names (FORMAT, e.g.
 *                                      user%06d, with 0..COUNT-1), cycled
 *   miss MODULE PREFIX FORMAT COUNT    the same for names that must not resolve
 *                                      (no server, or no such user): any answer
 *                                      but SUCCESS counts; prints miss_STATUS N
 *   grnam MODULE PREFIX NAME MEMBERS   getgrnam of one group of MEMBERS members
 *   initgr MODULE PREFIX NAME GID N    initgroups_dyn of a user in N groups
 *                                      (besides GID, which the caller adds)
 *   bare CPU                           the bare round trip; the echo responder
 *                                      is pinned to CPU (any: not pinned)
 * -r RUNS (default 5); -n CALLS a run (default 1000); -w: an untimed pass
 * first, over every name or a tenth of a run (a hot figure); -p PROCS: that
 * many client processes at once, each making CALLS calls a run: prints µs
 * per call (their mean) and TEST_rate, the calls per second of them all.
 * -l (one process): also TEST_p50, TEST_p99 and TEST_max, µs, over every
 * timed call of every run.
 * Before timing, one getpwnam of "root" (which both daemons filter, so it
 * never reaches a directory) opens the module's connection untimed.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef enum nss_status (*pwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*grnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*initgr_fn)(const char *, gid_t, long int *, long int *, gid_t **,
                                     long int, int *);

#define MAX_RUNS 101
#define MAX_PROCS 16
#define MAX_NAMES 100000
#define NAME_LEN 64
#define BARE_REQUEST 64
#define BARE_REPLY 256
/* A 10,000-member group is ~200 KB as a struct group: room to spare. */
#define GROUP_BUF (8u * 1024u * 1024u)

struct bench {
    const char *test;
    int runs;
    long calls;
    int procs;
    int warm;
    int latencies; /* -l: keep every timed call's latency */
    /* the module's entry points */
    pwnam_fn getpwnam;
    grnam_fn getgrnam;
    initgr_fn initgroups;
    /* pwnam */
    char (*names)[NAME_LEN];
    long count;
    /* grnam, initgr */
    const char *name;
    long expected;
    gid_t gid;
    /* bare */
    int echo_cpu;
    char echo_path[108];
    pid_t echo_pid;
    int bare_fd;
};

static char *group_buf;
/* -l: the latency of every timed call, µs, in call order. */
static double *latency;
static long latency_count;
/* Every call this process made, untimed ones included (the caller divides
 * a daemon's CPU time by it). */
static long calls_made;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void fail(const char *message)
{
    fprintf(stderr, "nss_bench: %s\n", message);
    exit(1);
}

static int io_all(int fd, void *buf, size_t len, int sending)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = sending ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL)
                            : recv(fd, (char *)buf + done, len - done, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static const char *status_name(enum nss_status st)
{
    switch (st) {
    case NSS_STATUS_SUCCESS: return "SUCCESS";
    case NSS_STATUS_NOTFOUND: return "NOTFOUND";
    case NSS_STATUS_UNAVAIL: return "UNAVAIL";
    case NSS_STATUS_TRYAGAIN: return "TRYAGAIN";
    default: return "other";
    }
}

/* --- one call of each kind, checked ----------------------------------------------- */

static void one_pwnam(struct bench *b, long i)
{
    const char *name = b->names[i % b->count];
    struct passwd pwd;
    char buf[4096];
    int err = 0;
    enum nss_status st = b->getpwnam(name, &pwd, buf, sizeof(buf), &err);
    if (st != NSS_STATUS_SUCCESS) {
        fprintf(stderr, "nss_bench: getpwnam(%s): %s, errno %d\n", name, status_name(st), err);
        exit(1);
    }
    if (strcmp(pwd.pw_name, name) != 0) {
        fprintf(stderr, "nss_bench: getpwnam(%s) answered %s\n", name, pwd.pw_name);
        exit(1);
    }
}

/* miss: how often each status came back. */
static long miss_counts[4];

static void one_miss(struct bench *b, long i)
{
    const char *name = b->names[i % b->count];
    struct passwd pwd;
    char buf[4096];
    int err = 0;
    enum nss_status st = b->getpwnam(name, &pwd, buf, sizeof(buf), &err);
    switch (st) {
    case NSS_STATUS_SUCCESS:
        fprintf(stderr, "nss_bench: getpwnam(%s) resolved, but it must not\n", name);
        exit(1);
    case NSS_STATUS_NOTFOUND: miss_counts[0]++; break;
    case NSS_STATUS_UNAVAIL: miss_counts[1]++; break;
    case NSS_STATUS_TRYAGAIN: miss_counts[2]++; break;
    default: miss_counts[3]++; break;
    }
}

static void one_grnam(struct bench *b)
{
    struct group grp;
    int err = 0;
    enum nss_status st = b->getgrnam(b->name, &grp, group_buf, GROUP_BUF, &err);
    if (st != NSS_STATUS_SUCCESS) {
        fprintf(stderr, "nss_bench: getgrnam(%s): %s, errno %d\n", b->name, status_name(st), err);
        exit(1);
    }
    long members = 0;
    while (grp.gr_mem[members] != NULL) {
        members++;
    }
    if (strcmp(grp.gr_name, b->name) != 0 || members != b->expected) {
        fprintf(stderr, "nss_bench: getgrnam(%s) answered %s with %ld members, not %ld\n", b->name,
                grp.gr_name, members, b->expected);
        exit(1);
    }
}

static void one_initgr(struct bench *b)
{
    /* As glibc does: a small array that the module grows. */
    long start = 1, size = 16;
    gid_t *groups = malloc((size_t)size * sizeof(gid_t));
    int err = 0;
    if (groups == NULL) {
        fail("out of memory");
    }
    groups[0] = b->gid;
    enum nss_status st = b->initgroups(b->name, b->gid, &start, &size, &groups, -1, &err);
    if (st != NSS_STATUS_SUCCESS || start != b->expected + 1) {
        fprintf(stderr, "nss_bench: initgroups(%s): %s, errno %d, %ld groups, not %ld\n", b->name,
                status_name(st), err, start - 1, b->expected);
        exit(1);
    }
    free(groups);
}

static void bare_connect(struct bench *b)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", b->echo_path);
    b->bare_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (b->bare_fd < 0 || connect(b->bare_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        perror("nss_bench: connect to the echo responder");
        exit(1);
    }
}

static void one_bare(struct bench *b)
{
    uint8_t req[BARE_REQUEST] = { 1 }, reply[BARE_REPLY];
    if (io_all(b->bare_fd, req, sizeof(req), 1) != 0 || io_all(b->bare_fd, reply, sizeof(reply), 0) != 0) {
        fail("bare round trip failed");
    }
}

static void one_call(struct bench *b, long i)
{
    calls_made++;
    switch (b->test[0]) {
    case 'p': one_pwnam(b, i); break;
    case 'm': one_miss(b, i); break;
    case 'g': one_grnam(b); break;
    case 'i': one_initgr(b); break;
    default: one_bare(b); break;
    }
}

/* Opens the connection untimed: a module connects on its first call. */
static void prime(struct bench *b)
{
    if (b->test[0] == 'b') {
        bare_connect(b);
        return;
    }
    struct passwd pwd;
    char buf[1024];
    int err;
    calls_made++;
    (void)b->getpwnam("root", &pwd, buf, sizeof(buf), &err);
}

/* -w: every name once (pwnam), or a tenth of a run, untimed. */
static void warm_up(struct bench *b)
{
    if (b->warm) {
        long pass = b->names != NULL ? b->count : b->calls / 10 + 1;
        for (long i = 0; i < pass; i++) {
            one_call(b, i);
        }
    }
}

/* µs per call over one run of CALLS calls (after warm_up). */
static double timed_run(struct bench *b)
{
    warm_up(b);
    double t0 = now_us();
    if (b->latencies) {
        double before = t0;
        for (long i = 0; i < b->calls; i++) {
            one_call(b, i);
            double after = now_us();
            latency[latency_count++] = after - before;
            before = after;
        }
    } else {
        for (long i = 0; i < b->calls; i++) {
            one_call(b, i);
        }
    }
    return (now_us() - t0) / (double)b->calls;
}

/* --- the echo responder for the bare round trip ------------------------------------ */

static void echo_serve(int listener)
{
    struct pollfd fds[1 + MAX_PROCS];
    nfds_t n = 1;
    fds[0] = (struct pollfd){ .fd = listener, .events = POLLIN };
    uint8_t req[BARE_REQUEST], reply[BARE_REPLY];
    memset(reply, 0x5a, sizeof(reply));
    for (;;) {
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(1);
        }
        for (nfds_t i = n; i-- > 1;) {
            if (fds[i].revents == 0) {
                continue;
            }
            if (io_all(fds[i].fd, req, sizeof(req), 0) != 0 ||
                io_all(fds[i].fd, reply, sizeof(reply), 1) != 0) {
                close(fds[i].fd);
                fds[i] = fds[--n];
            }
        }
        if ((fds[0].revents & POLLIN) && n < 1 + MAX_PROCS) {
            int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
            }
        }
    }
}

static void echo_start(struct bench *b)
{
    char dir[] = "/tmp/nss-bench.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        fail("echo responder: mkdtemp failed");
    }
    snprintf(b->echo_path, sizeof(b->echo_path), "%s/echo", dir);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", b->echo_path);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(listener, MAX_PROCS) != 0) {
        perror("nss_bench: echo responder");
        exit(1);
    }
    pid_t parent = getpid();
    b->echo_pid = fork();
    if (b->echo_pid < 0) {
        perror("nss_bench: fork");
        exit(1);
    }
    if (b->echo_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(0);
        }
        if (b->echo_cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(b->echo_cpu, &set);
            if (sched_setaffinity(0, sizeof(set), &set) != 0) {
                perror("nss_bench: echo responder: sched_setaffinity");
                _exit(1);
            }
        }
        echo_serve(listener);
    }
    close(listener);
}

static void echo_stop(struct bench *b)
{
    if (b->echo_pid > 0) {
        kill(b->echo_pid, SIGKILL);
        waitpid(b->echo_pid, NULL, 0);
        unlink(b->echo_path);
        *strrchr(b->echo_path, '/') = '\0';
        rmdir(b->echo_path);
    }
}

/* --- PROCS clients at once ------------------------------------------------------------ */

/* One run with b->procs child processes released together: returns µs per
 * call (mean over the children) and sets *rate to calls per second of all. */
static double parallel_run(struct bench *b, double *rate)
{
    int ready[2], go[2], results[2];
    pid_t kids[MAX_PROCS];
    if (pipe(ready) != 0 || pipe(go) != 0 || pipe(results) != 0) {
        fail("pipe failed");
    }
    for (int k = 0; k < b->procs; k++) {
        kids[k] = fork();
        if (kids[k] < 0) {
            fail("fork failed");
        }
        if (kids[k] == 0) {
            close(ready[0]);
            close(go[1]);
            close(results[0]);
            prime(b);
            warm_up(b);
            char c = 'r', d;
            if (write(ready[1], &c, 1) != 1 || read(go[0], &d, 1) != 0) {
                _exit(1);
            }
            double t0 = now_us();
            for (long i = 0; i < b->calls; i++) {
                one_call(b, i + k * 7919L);
            }
            double report[2] = { now_us() - t0, (double)calls_made };
            _exit(write(results[1], report, sizeof(report)) == sizeof(report) ? 0 : 1);
        }
    }
    close(ready[1]);
    close(results[1]);
    close(go[0]);
    for (int k = 0; k < b->procs; k++) {
        char c;
        if (read(ready[0], &c, 1) != 1) {
            fail("a client process failed before the start (see above)");
        }
    }
    double t0 = now_us();
    close(go[1]); /* every child's read() returns 0 now */
    double sum = 0;
    for (int k = 0; k < b->procs; k++) {
        double report[2];
        if (read(results[0], report, sizeof(report)) != sizeof(report)) {
            fail("a client process failed (see above)");
        }
        sum += report[0];
        calls_made += (long)report[1];
    }
    double wall = now_us() - t0;
    int failed = 0;
    for (int k = 0; k < b->procs; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    close(ready[0]);
    close(results[0]);
    if (failed) {
        fail("a client process failed (see above)");
    }
    *rate = (double)b->calls * b->procs / (wall / 1e6);
    return sum / b->procs / (double)b->calls;
}

/* --- set-up ------------------------------------------------------------------------------- */

static void *entry_point(void *module, const char *prefix, const char *what)
{
    char symbol[128];
    snprintf(symbol, sizeof(symbol), "_nss_%s_%s", prefix, what);
    void *p = dlsym(module, symbol);
    if (p == NULL) {
        fprintf(stderr, "nss_bench: %s missing from the module\n", symbol);
        exit(3);
    }
    return p;
}

/* MODULE "glibc": the same three lookups through glibc's own functions, so
 * through /etc/nsswitch.conf (nss_files first), as a program sees them. */
static enum nss_status glibc_getpwnam(const char *name, struct passwd *pwd, char *buf, size_t len, int *err)
{
    struct passwd *found = NULL;
    *err = getpwnam_r(name, pwd, buf, len, &found);
    return found != NULL ? NSS_STATUS_SUCCESS : *err == 0 ? NSS_STATUS_NOTFOUND : NSS_STATUS_UNAVAIL;
}

static enum nss_status glibc_getgrnam(const char *name, struct group *grp, char *buf, size_t len, int *err)
{
    struct group *found = NULL;
    *err = getgrnam_r(name, grp, buf, len, &found);
    return found != NULL ? NSS_STATUS_SUCCESS : *err == 0 ? NSS_STATUS_NOTFOUND : NSS_STATUS_UNAVAIL;
}

static enum nss_status glibc_initgroups(const char *name, gid_t gid, long int *start, long int *size,
                                        gid_t **groups, long int limit, int *err)
{
    (void)limit;
    int n = (int)*size;
    while (getgrouplist(name, gid, *groups, &n) < 0) {
        gid_t *bigger = realloc(*groups, (size_t)n * sizeof(gid_t));
        if (bigger == NULL) {
            *err = ENOMEM;
            return NSS_STATUS_TRYAGAIN;
        }
        *groups = bigger;
        *size = n;
    }
    *start = n;
    return NSS_STATUS_SUCCESS;
}

static void load_module(struct bench *b, const char *path, const char *prefix)
{
    if (strcmp(path, "glibc") == 0) {
        b->getpwnam = glibc_getpwnam;
        b->getgrnam = glibc_getgrnam;
        b->initgroups = glibc_initgroups;
        return;
    }
    void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        fprintf(stderr, "nss_bench: %s\n", dlerror());
        exit(3);
    }
    void *p = entry_point(module, prefix, "getpwnam_r");
    memcpy(&b->getpwnam, &p, sizeof(p));
    p = entry_point(module, prefix, "getgrnam_r");
    memcpy(&b->getgrnam, &p, sizeof(p));
    p = entry_point(module, prefix, "initgroups_dyn");
    memcpy(&b->initgroups, &p, sizeof(p));
}

static int usage(void)
{
    fprintf(stderr, "usage: nss_bench [-r RUNS] [-n CALLS] [-p PROCS] [-w] TEST ARGS (see the source)\n");
    return 2;
}

static int parse_args(struct bench *b, int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "r:n:p:wl")) != -1) {
        switch (opt) {
        case 'l': b->latencies = 1; break;
        case 'r': b->runs = atoi(optarg); break;
        case 'n': b->calls = atol(optarg); break;
        case 'p': b->procs = atoi(optarg); break;
        case 'w': b->warm = 1; break;
        default: return usage();
        }
    }
    if (b->runs < 1 || b->runs > MAX_RUNS || b->calls < 1 || b->procs < 0 || b->procs > MAX_PROCS) {
        fprintf(stderr, "nss_bench: 1 <= RUNS <= %d, CALLS >= 1, 0 <= PROCS <= %d\n", MAX_RUNS, MAX_PROCS);
        return 2;
    }
    char **a = argv + optind;
    int n = argc - optind;
    if (n < 1) {
        return usage();
    }
    b->test = a[0];
    if (strcmp(b->test, "bare") == 0 && n == 2) {
        b->echo_cpu = strcmp(a[1], "any") == 0 ? -1 : atoi(a[1]);
        return 0;
    }
    if (n < 4) {
        return usage();
    }
    load_module(b, a[1], a[2]);
    if ((strcmp(b->test, "pwnam") == 0 || strcmp(b->test, "miss") == 0) && n == 5) {
        b->count = atol(a[4]);
        if (b->count < 1 || b->count > MAX_NAMES) {
            return usage();
        }
        b->names = calloc((size_t)b->count, NAME_LEN);
        if (b->names == NULL) {
            return 1;
        }
        const char *pct = strchr(a[3], '%');
        if (pct == NULL || strchr(pct + 1, '%') != NULL || pct[strspn(pct + 1, "0123456789") + 1] != 'd') {
            fprintf(stderr, "nss_bench: FORMAT needs exactly one %%d (e.g. user%%06d)\n");
            return 2;
        }
        for (long i = 0; i < b->count; i++) {
            /* FORMAT is the caller's, checked above: one %d, nothing else. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            snprintf(b->names[i], NAME_LEN, a[3], (int)i);
#pragma GCC diagnostic pop
        }
        return 0;
    }
    if (strcmp(b->test, "grnam") == 0 && n == 5) {
        b->name = a[3];
        b->expected = atol(a[4]);
        group_buf = malloc(GROUP_BUF);
        return group_buf == NULL ? 1 : 0;
    }
    if (strcmp(b->test, "initgr") == 0 && n == 6) {
        b->name = a[3];
        b->gid = (gid_t)strtoul(a[4], NULL, 10);
        b->expected = atol(a[5]);
        return 0;
    }
    return usage();
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* -l: the median and the 99th percentile of every timed call of every run. */
static void print_percentiles(const char *name)
{
    if (latency_count == 0) {
        return;
    }
    qsort(latency, (size_t)latency_count, sizeof(double), by_value);
    printf("%s_p50 %.2f\n", name, latency[latency_count / 2]);
    printf("%s_p99 %.2f\n", name, latency[(latency_count * 99) / 100]);
    printf("%s_max %.2f\n", name, latency[latency_count - 1]);
}

static void print_values(const char *name, const char *suffix, const double *v, int n)
{
    printf("%s%s", name, suffix);
    for (int i = 0; i < n; i++) {
        printf(" %.2f", v[i]);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    struct bench b = { .runs = 5, .calls = 1000, .echo_cpu = -1, .bare_fd = -1 };
    int rc = parse_args(&b, argc, argv);
    if (rc != 0) {
        return rc;
    }
    if (b.test[0] == 'b') {
        echo_start(&b);
    }
    double per_call[MAX_RUNS], rate[MAX_RUNS];
    if (b.procs > 0) {
        for (int r = 0; r < b.runs; r++) {
            per_call[r] = parallel_run(&b, &rate[r]);
        }
    } else {
        if (b.latencies) {
            latency = malloc(sizeof(double) * (size_t)b.calls * (size_t)b.runs);
            if (latency == NULL) {
                fail("out of memory for -l");
            }
        }
        prime(&b);
        for (int r = 0; r < b.runs; r++) {
            per_call[r] = timed_run(&b);
        }
    }
    echo_stop(&b);
    print_values(b.test, "", per_call, b.runs);
    if (b.procs > 0) {
        print_values(b.test, "_rate", rate, b.runs);
    }
    print_percentiles(b.test);
    if (b.test[0] == 'm') {
        printf("miss_notfound %ld\nmiss_unavail %ld\nmiss_tryagain %ld\nmiss_other %ld\n", miss_counts[0],
               miss_counts[1], miss_counts[2], miss_counts[3]);
    }
    free(latency);
    printf("calls %ld\n", calls_made);
    return 0;
}
