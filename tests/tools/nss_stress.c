/*
 * nss_stress - many concurrent lookups through an NSS module, every answer
 * checked against what the directory holds.
 *
 * Why: nss_call makes one call; the fault and concurrency tests need
 * thousands, from several threads (one connection per process, shared under
 * the module's lock) and several processes (several connections, so that the
 * responder and the provider see concurrent requests), with each answer
 * compared to the expected one, and a count of every outcome, so that a test
 * can assert "no wrong answer" and still allow "unavailable" while a daemon
 * is down.
 *
 * Usage:
 *   nss_stress [--threads N] [--lookups N] [--procs N] [--seconds S]
 *              [--seed N] [--verbose] [--max-wrong N]
 *              MODULE PREFIX EXPECT [QUERY...]
 *
 * EXPECT holds one expectation a line, fields separated by a TAB:
 *   passwd      LINE          getpwnam(name) and getpwuid(uid) answer LINE
 *                             (name:passwd:uid:gid:gecos:home:shell)
 *   group       LINE          getgrnam(name) and getgrgid(gid) answer LINE
 *                             (name:passwd:gid:members, members sorted
 *                             bytewise; the answer's are sorted too)
 *   initgroups  NAME GID GIDS initgroups_dyn(NAME, GID) gives GIDS (space-
 *                             separated, GID first), from a 16-entry array
 *   missing-user NAME, missing-uid UID, missing-group NAME, missing-gid GID,
 *   missing-initgroups NAME GID: the answer is NOTFOUND
 * Several expectations for one lookup (say, a group before and after a
 * change) are each a right answer.
 * Each thread makes --lookups lookups (default 10000), picking at random
 * among all of these, or, when QUERY arguments (OP=KEY, e.g. getpwnam=carol,
 * initgroups=alice) are given, those in order, round and round; each must be
 * in EXPECT.  --seconds S stops every thread after S seconds instead (or
 * after --lookups, whichever comes first); so does SIGTERM (to the first
 * process: it passes it on), after the lookups under way, and the summary
 * is printed all the same.  All threads of all processes
 * start together: with a cold cache, their first lookups reach the directory
 * at the same time.
 *
 * Each answer is one of:
 *   right    SUCCESS with exactly the expected entry, or NOTFOUND for a
 *            missing one
 *   wrong    any other SUCCESS (other data, pointers outside the caller's
 *            buffer, an entry for a missing key) or NOTFOUND for an entry
 *            that exists: a lie to the caller
 *   unavail  UNAVAIL ("this source cannot answer now")
 *   tryagain TRYAGAIN other than ERANGE (ERANGE: the buffer is doubled and
 *            the call repeated, as glibc does)
 *   other    any other status
 * Output: a summary line, one line per operation, then up to --max-wrong
 * (default 20) "wrong:" lines with the answer and the expectation; with
 * --verbose also a "lookup OP KEY STATUS ERRNO MS ANSWER" line per lookup,
 * ANSWER the number of the expectation it matched (0 the first of that
 * lookup's, in EXPECT's order), -1 for none.
 *   total lookups=N right=N wrong=N unavail=N tryagain=N other=N max_ms=N elapsed_ms=N
 *   op=getpwnam lookups=N right=N ...
 * Exit status: 0 no wrong answer, 1 wrong answers, 2 usage, 3 setup failed.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_BUFSIZE ((size_t)1 << 26)
#define INITGROUPS_START 16   /* glibc's initgroups() starts with 16 */

enum op { GETPWNAM, GETPWUID, GETGRNAM, GETGRGID, INITGROUPS, N_OPS };
static const char *const op_names[N_OPS] = { "getpwnam", "getpwuid", "getgrnam", "getgrgid",
                                             "initgroups" };

enum outcome { RIGHT, WRONG, UNAVAIL, TRYAGAIN, OTHER, N_OUTCOMES };
static const char *const outcome_names[N_OUTCOMES] = { "right", "wrong", "unavail", "tryagain",
                                                       "other" };

#define MAX_ANSWERS 4

struct query {
    enum op op;
    char *key;          /* name, or the id in decimal */
    gid_t gid;          /* initgroups: the primary gid passed in */
    /* The right answers: a formatted entry each, NULL for NOTFOUND. */
    char *expected[MAX_ANSWERS];
    int n_expected;
};

/* Counters live in shared memory: --procs children add to them too. */
struct counters {
    _Atomic long n[N_OPS][N_OUTCOMES];
    _Atomic long max_us;
    _Atomic long wrong_printed;
};

typedef enum nss_status (*pwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*pwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*grnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*grgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef enum nss_status (*initgr_fn)(const char *, gid_t, long int *, long int *, gid_t **,
                                     long int, int *);

static struct {
    pwnam_fn pwnam;
    pwuid_fn pwuid;
    grnam_fn grnam;
    grgid_fn grgid;
    initgr_fn initgr;
} fns;

static struct query *queries;
static size_t n_queries;
static struct query **sequence;     /* the QUERY arguments, in order */
static size_t n_sequence;
static long threads = 8, lookups = 10000, nprocs = 1, max_wrong = 20;
static double seconds;
static unsigned long seed = 1;
static int verbose;
static struct counters *counters;
static pthread_barrier_t start_barrier;
static volatile sig_atomic_t stop_requested;
static pid_t *children;         /* --procs: the worker processes */
static long n_children;

static void on_sigterm(int sig)
{
    (void)sig;
    stop_requested = 1;
    for (long k = 0; k < n_children; k++) {
        if (children[k] > 0) {
            kill(children[k], SIGTERM);
        }
    }
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A growable string, for formatting answers. */
struct str {
    char *p;
    size_t len, cap;
};

static void str_add(struct str *s, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = s->cap - s->len;
        int n = vsnprintf(s->p ? s->p + s->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            abort();
        }
        if ((size_t)n < room) {
            s->len += (size_t)n;
            return;
        }
        s->cap = (s->cap + (size_t)n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        if (s->p == NULL) {
            abort();
        }
    }
}

static const char *status_name(enum nss_status s)
{
    switch ((int)s) {
    case NSS_STATUS_SUCCESS: return "SUCCESS";
    case NSS_STATUS_NOTFOUND: return "NOTFOUND";
    case NSS_STATUS_UNAVAIL: return "UNAVAIL";
    case NSS_STATUS_TRYAGAIN: return "TRYAGAIN";
    case NSS_STATUS_RETURN: return "RETURN";
    default: return "UNKNOWN";
    }
}

/* A pointer the module handed back must lie inside the caller's buffer. */
static int in_buf(const char *buf, size_t size, const void *p)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)buf;
    return p != NULL && a >= lo && a < lo + size;
}

static int field(struct str *out, const char *buf, size_t size, const char *s, const char *sep)
{
    if (!in_buf(buf, size, s)) {
        str_add(out, "<stray>%s", sep);
        return 0;
    }
    str_add(out, "%s%s", s, sep);
    return 1;
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int format_pw(struct str *out, const struct passwd *pw, const char *buf, size_t size)
{
    int ok = field(out, buf, size, pw->pw_name, ":") & field(out, buf, size, pw->pw_passwd, ":");
    str_add(out, "%lu:%lu:", (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid);
    ok &= field(out, buf, size, pw->pw_gecos, ":") & field(out, buf, size, pw->pw_dir, ":");
    ok &= field(out, buf, size, pw->pw_shell, "");
    return ok;
}

static int format_gr(struct str *out, const struct group *gr, const char *buf, size_t size)
{
    int ok = field(out, buf, size, gr->gr_name, ":") & field(out, buf, size, gr->gr_passwd, ":");
    str_add(out, "%lu:", (unsigned long)gr->gr_gid);
    if (!in_buf(buf, size, gr->gr_mem)) {
        str_add(out, "<stray member list>");
        return 0;
    }
    size_t n = 0;
    while (gr->gr_mem[n] != NULL) {
        if (!in_buf(buf, size, gr->gr_mem[n])) {
            str_add(out, "<stray member>");
            return 0;
        }
        n++;
    }
    char **sorted = malloc((n + 1) * sizeof(char *));
    if (sorted == NULL) {
        abort();
    }
    memcpy(sorted, gr->gr_mem, n * sizeof(char *));
    qsort(sorted, n, sizeof(char *), compare_str);
    for (size_t i = 0; i < n; i++) {
        str_add(out, "%s%s", i ? "," : "", sorted[i]);
    }
    free(sorted);
    return ok;
}

/* One lookup, with glibc's buffer policy (start at 1024, double on
 * ERANGE).  *out gets the formatted entry on SUCCESS. */
static enum nss_status call(const struct query *q, char **buf, size_t *size, struct str *out,
                            int *err)
{
    for (;;) {
        struct passwd pw;
        struct group gr;
        enum nss_status s;
        unsigned long id = strtoul(q->key, NULL, 10);
        *err = 0;
        out->len = 0;
        if (out->p) {
            out->p[0] = '\0';
        }
        switch (q->op) {
        case GETPWNAM: s = fns.pwnam(q->key, &pw, *buf, *size, err); break;
        case GETPWUID: s = fns.pwuid((uid_t)id, &pw, *buf, *size, err); break;
        case GETGRNAM: s = fns.grnam(q->key, &gr, *buf, *size, err); break;
        case GETGRGID: s = fns.grgid((gid_t)id, &gr, *buf, *size, err); break;
        case INITGROUPS: {
            long start = 1, gsize = INITGROUPS_START;
            gid_t *groups = malloc((size_t)gsize * sizeof(gid_t));
            if (groups == NULL) {
                abort();
            }
            groups[0] = q->gid;
            s = fns.initgr(q->key, q->gid, &start, &gsize, &groups, -1, err);
            if (s == NSS_STATUS_SUCCESS) {
                for (long i = 0; i < start && i < gsize; i++) {
                    str_add(out, "%s%lu", i ? " " : "", (unsigned long)groups[i]);
                }
                if (start > gsize) {
                    str_add(out, " <start %ld past size %ld>", start, gsize);
                }
            }
            free(groups);
            return s;
        }
        default: abort();
        }
        if (s == NSS_STATUS_TRYAGAIN && *err == ERANGE && *size < MAX_BUFSIZE) {
            free(*buf);
            *size *= 2;
            *buf = malloc(*size);
            if (*buf == NULL) {
                abort();
            }
            continue;
        }
        if (s == NSS_STATUS_SUCCESS) {
            int clean = q->op == GETPWNAM || q->op == GETPWUID ? format_pw(out, &pw, *buf, *size)
                                                              : format_gr(out, &gr, *buf, *size);
            if (!clean) {
                str_add(out, " <pointers outside the buffer>");
            }
        }
        return s;
    }
}

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "0";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EBADMSG: return "EBADMSG";
    case ERANGE: return "ERANGE";
    case EINVAL: return "EINVAL";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    default: return "E?";
    }
}

/* Whole lines with one write(2): lines of several processes do not mix. */
static void emit(const char *fmt, ...)
{
    struct str s = { NULL, 0, 0 };
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0) {
        abort();
    }
    va_end(ap);
    str_add(&s, "%s\n", text);
    free(text);
    fflush(stdout);
    if (write(STDOUT_FILENO, s.p, s.len) < 0) {
        /* nothing to be done: the test sees the missing line */
    }
    free(s.p);
}

static void record(const struct query *q, enum nss_status s, int err, const struct str *got,
                   int64_t us)
{
    enum outcome o;
    int matched = -1;           /* which expectation the answer is */
    switch ((int)s) {
    case NSS_STATUS_SUCCESS:
    case NSS_STATUS_NOTFOUND:
        o = WRONG;
        for (int i = 0; i < q->n_expected && matched < 0; i++) {
            if (s == NSS_STATUS_SUCCESS ? q->expected[i] != NULL
                                              && strcmp(got->p ? got->p : "", q->expected[i]) == 0
                                        : q->expected[i] == NULL) {
                o = RIGHT;
                matched = i;
            }
        }
        break;
    case NSS_STATUS_UNAVAIL: o = UNAVAIL; break;
    case NSS_STATUS_TRYAGAIN: o = TRYAGAIN; break;
    default: o = OTHER; break;
    }
    atomic_fetch_add(&counters->n[q->op][o], 1);
    long prev = atomic_load(&counters->max_us);
    while (us > prev && !atomic_compare_exchange_weak(&counters->max_us, &prev, (long)us)) {
    }
    if (verbose) {
        emit("lookup %s %s %s %s %ld %d", op_names[q->op], q->key, status_name(s), errno_name(err),
             (long)(us / 1000), matched);
    }
    if (o == WRONG && atomic_fetch_add(&counters->wrong_printed, 1) < max_wrong) {
        struct str want = { NULL, 0, 0 };
        for (int i = 0; i < q->n_expected; i++) {
            const char *e = q->expected[i];
            str_add(&want, "%s%s%s%s", i ? " or " : "", e ? "SUCCESS '" : "NOTFOUND", e ? e : "",
                    e ? "'" : "");
        }
        emit("wrong: %s %s: %s '%s', expected %s", op_names[q->op], q->key, status_name(s),
             s == NSS_STATUS_SUCCESS && got->p ? got->p : "", want.p);
        free(want.p);
    }
}

/* xorshift64*: each thread its own sequence, reproducible from --seed. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

struct worker {
    long index;
    pthread_t thread;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t state = (seed + 1) * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)w->index << 32) ^ (uint64_t)getpid();
    if (state == 0) {
        state = 1;
    }
    size_t size = 1024;
    char *buf = malloc(size);
    struct str got = { NULL, 0, 0 };
    if (buf == NULL) {
        abort();
    }
    pthread_barrier_wait(&start_barrier);
    int64_t deadline = seconds > 0 ? now_us() + (int64_t)(seconds * 1e6) : INT64_MAX;
    for (long i = 0; i < lookups && now_us() < deadline && !stop_requested; i++) {
        const struct query *q = n_sequence > 0 ? sequence[(size_t)i % n_sequence]
                                               : &queries[next_random(&state) % n_queries];
        int err = 0;
        int64_t t0 = now_us();
        enum nss_status s = call(q, &buf, &size, &got, &err);
        record(q, s, err, &got, now_us() - t0);
    }
    free(buf);
    free(got.p);
    return NULL;
}

/* One process's threads, started together. */
static void run_threads(void)
{
    struct worker *ws = calloc((size_t)threads, sizeof(*ws));
    if (ws == NULL || pthread_barrier_init(&start_barrier, NULL, (unsigned)threads) != 0) {
        abort();
    }
    for (long t = 0; t < threads; t++) {
        ws[t].index = t;
        if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]) != 0) {
            fprintf(stderr, "nss_stress: cannot start thread %ld\n", t);
            exit(3);
        }
    }
    for (long t = 0; t < threads; t++) {
        pthread_join(ws[t].thread, NULL);
    }
    pthread_barrier_destroy(&start_barrier);
    free(ws);
}

/* ------------------------------------------------------------ expectations */

/* A second expectation for the same lookup is another right answer. */
static int add_query(enum op op, const char *key, gid_t gid, const char *expected)
{
    struct query *q = NULL;
    for (size_t i = 0; i < n_queries && q == NULL; i++) {
        if (queries[i].op == op && strcmp(queries[i].key, key) == 0 && queries[i].gid == gid) {
            q = &queries[i];
        }
    }
    if (q == NULL) {
        queries = realloc(queries, (n_queries + 1) * sizeof(*queries));
        if (queries == NULL) {
            abort();
        }
        q = &queries[n_queries++];
        memset(q, 0, sizeof(*q));
        q->op = op;
        q->key = strdup(key);
        q->gid = gid;
        if (q->key == NULL) {
            abort();
        }
    }
    if (q->n_expected == MAX_ANSWERS) {
        fprintf(stderr, "nss_stress: more than %d answers for %s %s\n", MAX_ANSWERS,
                op_names[op], key);
        return 0;
    }
    q->expected[q->n_expected] = expected ? strdup(expected) : NULL;
    if (expected && q->expected[q->n_expected] == NULL) {
        abort();
    }
    q->n_expected++;
    return 1;
}

/* The n-th ':'-separated field of an entry line (0-based), into out. */
static int nth_field(const char *line, int n, char *out, size_t len)
{
    const char *p = line;
    for (int i = 0; i < n; i++) {
        p = strchr(p, ':');
        if (p == NULL) {
            return 0;
        }
        p++;
    }
    size_t flen = strcspn(p, ":");
    if (flen == 0 || flen >= len) {
        return 0;
    }
    memcpy(out, p, flen);
    out[flen] = '\0';
    return 1;
}

static int parse_gid(const char *s, gid_t *gid)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v > UINT32_MAX) {
        return 0;
    }
    *gid = (gid_t)v;
    return 1;
}

static int load_expectations(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "nss_stress: %s: %s\n", path, strerror(errno));
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, ok = 1;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        }
        if (len == 0 || line[0] == '#') {
            continue;
        }
        char *fields[4] = { NULL, NULL, NULL, NULL };
        char *save = NULL;
        int nf = 0;
        for (char *tok = strtok_r(line, "\t", &save); tok && nf < 4; tok = strtok_r(NULL, "\t", &save)) {
            fields[nf++] = tok;
        }
        char name[1024], id[32];
        gid_t gid = 0;
        int known = 1;
        if (nf == 2 && strcmp(fields[0], "passwd") == 0 && nth_field(fields[1], 0, name, sizeof(name))
            && nth_field(fields[1], 2, id, sizeof(id))) {
            ok = add_query(GETPWNAM, name, 0, fields[1]) && add_query(GETPWUID, id, 0, fields[1]);
        } else if (nf == 2 && strcmp(fields[0], "group") == 0
                   && nth_field(fields[1], 0, name, sizeof(name))
                   && nth_field(fields[1], 2, id, sizeof(id))) {
            ok = add_query(GETGRNAM, name, 0, fields[1]) && add_query(GETGRGID, id, 0, fields[1]);
        } else if (nf == 4 && strcmp(fields[0], "initgroups") == 0 && parse_gid(fields[2], &gid)) {
            ok = add_query(INITGROUPS, fields[1], gid, fields[3]);
        } else if (nf == 2 && strcmp(fields[0], "missing-user") == 0) {
            ok = add_query(GETPWNAM, fields[1], 0, NULL);
        } else if (nf == 2 && strcmp(fields[0], "missing-uid") == 0 && parse_gid(fields[1], &gid)) {
            ok = add_query(GETPWUID, fields[1], 0, NULL);
        } else if (nf == 2 && strcmp(fields[0], "missing-group") == 0) {
            ok = add_query(GETGRNAM, fields[1], 0, NULL);
        } else if (nf == 2 && strcmp(fields[0], "missing-gid") == 0 && parse_gid(fields[1], &gid)) {
            ok = add_query(GETGRGID, fields[1], 0, NULL);
        } else if (nf == 3 && strcmp(fields[0], "missing-initgroups") == 0
                   && parse_gid(fields[2], &gid)) {
            ok = add_query(INITGROUPS, fields[1], gid, NULL);
        } else {
            known = 0;
        }
        if (!known || !ok) {
            fprintf(stderr, "nss_stress: %s:%d: not an expectation\n", path, lineno);
            ok = 0;
        }
    }
    free(line);
    fclose(f);
    if (ok && n_queries == 0) {
        fprintf(stderr, "nss_stress: %s holds no expectation\n", path);
        ok = 0;
    }
    return ok;
}

/* OP=KEY arguments: each must name a query of the expectations. */
static int load_sequence(char **args, int n)
{
    sequence = calloc((size_t)n, sizeof(*sequence));
    if (sequence == NULL) {
        abort();
    }
    for (int i = 0; i < n; i++) {
        char *eq = strchr(args[i], '=');
        struct query *found = NULL;
        for (size_t k = 0; eq && k < n_queries && !found; k++) {
            size_t oplen = strlen(op_names[queries[k].op]);
            if ((size_t)(eq - args[i]) == oplen && strncmp(args[i], op_names[queries[k].op], oplen) == 0
                && strcmp(eq + 1, queries[k].key) == 0) {
                found = &queries[k];
            }
        }
        if (found == NULL) {
            fprintf(stderr, "nss_stress: %s: not OP=KEY of an expectation\n", args[i]);
            return 0;
        }
        sequence[n_sequence++] = found;
    }
    return 1;
}

/* ------------------------------------------------------------ main */

static int usage(void)
{
    fprintf(stderr, "usage: nss_stress [--threads N] [--lookups N] [--procs N] [--seconds S]\n"
                    "                  [--seed N] [--verbose] [--max-wrong N]\n"
                    "                  MODULE PREFIX EXPECT [OP=KEY...]\n");
    return 2;
}

static int number(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
        return 0;
    }
    *out = v;
    return 1;
}

static void *symbol(void *module, const char *prefix, const char *what)
{
    char name[128];
    snprintf(name, sizeof(name), "_nss_%s_%s", prefix, what);
    void *p = dlsym(module, name);
    if (p == NULL) {
        fprintf(stderr, "nss_stress: %s: %s\n", name, dlerror());
        exit(3);
    }
    return p;
}

int main(int argc, char **argv)
{
    int i = 1;
    long v;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--threads") == 0 && has && number(argv[i + 1], 1, 1024, &threads)) {
            i++;
        } else if (strcmp(a, "--lookups") == 0 && has && number(argv[i + 1], 1, 1000000000L, &lookups)) {
            i++;
        } else if (strcmp(a, "--procs") == 0 && has && number(argv[i + 1], 1, 256, &nprocs)) {
            i++;
        } else if (strcmp(a, "--seconds") == 0 && has && number(argv[i + 1], 1, 3600, &v)) {
            seconds = (double)v;
            i++;
        } else if (strcmp(a, "--seed") == 0 && has && number(argv[i + 1], 0, 1L << 30, &v)) {
            seed = (unsigned long)v;
            i++;
        } else if (strcmp(a, "--max-wrong") == 0 && has && number(argv[i + 1], 0, 1000000, &max_wrong)) {
            i++;
        } else if (strcmp(a, "--verbose") == 0) {
            verbose = 1;
        } else {
            return usage();
        }
    }
    if (argc - i < 3) {
        return usage();
    }
    const char *module_path = argv[i], *prefix = argv[i + 1];
    if (!load_expectations(argv[i + 2]) || !load_sequence(argv + i + 3, argc - i - 3)) {
        return 2;
    }

    void *module = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        fprintf(stderr, "nss_stress: %s\n", dlerror());
        return 3;
    }
    /* ISO C converts an object pointer to a function pointer only by memcpy. */
    void *p;
    p = symbol(module, prefix, "getpwnam_r");
    memcpy(&fns.pwnam, &p, sizeof(p));
    p = symbol(module, prefix, "getpwuid_r");
    memcpy(&fns.pwuid, &p, sizeof(p));
    p = symbol(module, prefix, "getgrnam_r");
    memcpy(&fns.grnam, &p, sizeof(p));
    p = symbol(module, prefix, "getgrgid_r");
    memcpy(&fns.grgid, &p, sizeof(p));
    p = symbol(module, prefix, "initgroups_dyn");
    memcpy(&fns.initgr, &p, sizeof(p));

    counters = mmap(NULL, sizeof(*counters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                    -1, 0);
    if (counters == MAP_FAILED) {
        return 3;
    }
    memset(counters, 0, sizeof(*counters));

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);

    int64_t t0 = now_us();
    if (nprocs == 1) {
        run_threads();
    } else {
        /* The children wait on a pipe that the parent closes once all of
         * them exist: they start together. */
        int gate[2];
        if (pipe(gate) != 0) {
            return 3;
        }
        fflush(stdout);
        pid_t *pids = calloc((size_t)nprocs, sizeof(pid_t));
        if (pids == NULL) {
            return 3;
        }
        /* SIGTERM is held while children are forked: the handler then sees
         * every one of them. */
        sigset_t term, old;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        sigprocmask(SIG_BLOCK, &term, &old);
        for (long k = 0; k < nprocs; k++) {
            pids[k] = fork();
            if (pids[k] < 0) {
                fprintf(stderr, "nss_stress: fork: %s\n", strerror(errno));
                return 3;
            }
            if (pids[k] == 0) {
                char c;
                sigprocmask(SIG_SETMASK, &old, NULL);
                close(gate[1]);
                while (read(gate[0], &c, 1) < 0 && errno == EINTR) {
                }
                close(gate[0]);
                seed += (unsigned long)k * 7919;
                run_threads();
                _exit(0);
            }
        }
        children = pids;
        n_children = nprocs;
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(gate[0]);
        close(gate[1]);
        int failed = 0;
        for (long k = 0; k < nprocs; k++) {
            int st;
            while (waitpid(pids[k], &st, 0) < 0 && errno == EINTR) {
            }
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "nss_stress: worker process %ld ended with status %d\n", k, st);
                failed = 1;
            }
        }
        n_children = 0;
        free(pids);
        if (failed) {
            return 3;
        }
    }
    int64_t elapsed = now_us() - t0;

    long total[N_OUTCOMES] = { 0 }, all = 0;
    for (int op = 0; op < N_OPS; op++) {
        for (int o = 0; o < N_OUTCOMES; o++) {
            total[o] += atomic_load(&counters->n[op][o]);
        }
    }
    for (int o = 0; o < N_OUTCOMES; o++) {
        all += total[o];
    }
    struct str line = { NULL, 0, 0 };
    str_add(&line, "total lookups=%ld", all);
    for (int o = 0; o < N_OUTCOMES; o++) {
        str_add(&line, " %s=%ld", outcome_names[o], total[o]);
    }
    str_add(&line, " max_ms=%ld elapsed_ms=%ld", atomic_load(&counters->max_us) / 1000,
            (long)(elapsed / 1000));
    emit("%s", line.p);
    for (int op = 0; op < N_OPS; op++) {
        long n = 0;
        line.len = 0;
        for (int o = 0; o < N_OUTCOMES; o++) {
            n += atomic_load(&counters->n[op][o]);
        }
        str_add(&line, "op=%s lookups=%ld", op_names[op], n);
        for (int o = 0; o < N_OUTCOMES; o++) {
            str_add(&line, " %s=%ld", outcome_names[o], atomic_load(&counters->n[op][o]));
        }
        emit("%s", line.p);
    }
    free(line.p);
    return total[WRONG] == 0 ? 0 : 1;
}
