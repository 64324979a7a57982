/*
 * nss_call - call an NSS module's entry points directly, for tests and
 * benchmarks.
 *
 * Why: nss_wrapper and getent cannot choose the buffer size a module gets, and
 * nss_wrapper's getgrouplist() does not reach _nss_*_initgroups_dyn.  This
 * tool dlopens the module, calls _nss_PREFIX_* with exactly the buffer the test
 * asks for, and prints the raw result so a test can check ERANGE handling,
 * errno, and that every returned pointer lies inside the caller's buffer.
 *
 * Usage:
 *   nss_call [--bufsize N] [--grow] [--repeat N] MODULE PREFIX OP [ARGS]
 *   OP: getpwnam NAME | getpwuid UID | getgrnam NAME | getgrgid GID |
 *       initgroups USER GROUP_GID [LIMIT] | getpwent | getgrent
 *
 * Output, first line:  STATUS ERRNO [key=value ...]
 *   STATUS is SUCCESS, NOTFOUND, UNAVAIL, TRYAGAIN or RETURN; ERRNO is the
 *   name of the value the module stored in *errnop (0 if none).  Extra keys:
 *   retries=N bufsize=N (growing mode), count=N (enumeration), start=N
 *   (initgroups), repeat=N elapsed_ns=N (--repeat), strays=N (string
 *   pointers NULL or outside the buffer), overrun=1 (the module wrote past
 *   the buffer), errno_after=NAME (the module changed errno).
 * Then the entry in /etc/passwd or /etc/group format (one line per entry
 * for getpwent/getgrent), or for initgroups one line of gids separated by
 * spaces (the primary GROUP_GID first, as glibc does).
 *
 * Buffers: --bufsize N alone passes exactly N bytes (no retry, so a small N
 * gives TRYAGAIN ERANGE).  Without options the buffer starts at 1024 and
 * doubles on ERANGE, as glibc's getpwnam() does; --grow starts at 1 byte (or
 * at --bufsize).  With --repeat the grown buffer is kept between calls and
 * only the last call's entries are printed.
 * initgroups: --bufsize N is the gid array's initial size (default 16, as
 * glibc's initgroups()); the module must realloc it to add more; the extras
 * start=N size=N are the final *start and *size.
 * Exit status: 0 SUCCESS, 1 another status, 2 usage, 3 module or symbol not
 * loadable, 4 buffer overrun.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#define CANARY_LEN 32
#define CANARY_BYTE 0xA5
#define MAX_BUFSIZE ((size_t)1 << 30)
#define MAX_ENTRIES 10000000L
#define ERRNO_SENTINEL EDOM

typedef enum nss_status (*pwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*pwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);
typedef enum nss_status (*grnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*grgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef enum nss_status (*pwent_fn)(struct passwd *, char *, size_t, int *);
typedef enum nss_status (*grent_fn)(struct group *, char *, size_t, int *);
typedef enum nss_status (*setent_fn)(void);
typedef enum nss_status (*initgr_fn)(const char *, gid_t, long int *, long int *,
                                     gid_t **, long int, int *);

struct opts {
    size_t bufsize;
    int grow;
    long repeat;
};

struct buf {
    char *data;
    size_t size;
};

static void *module;
static const char *prefix;
static FILE *out;        /* entries are collected here, printed after line 1 */
static char *out_text;
static size_t out_len;
static long strays;
static int overrun;
static long retries;

static const char *status_name(enum nss_status s)
{
    switch ((int)s) {       /* int: a module may return anything */
    case NSS_STATUS_SUCCESS: return "SUCCESS";
    case NSS_STATUS_NOTFOUND: return "NOTFOUND";
    case NSS_STATUS_UNAVAIL: return "UNAVAIL";
    case NSS_STATUS_TRYAGAIN: return "TRYAGAIN";
    case NSS_STATUS_RETURN: return "RETURN";
    default: return "UNKNOWN";
    }
}

static const char *errno_name(int e, char *scratch, size_t len)
{
    static const struct { int e; const char *n; } names[] = {
        { 0, "0" }, { EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { ESRCH, "ESRCH" },
        { EINTR, "EINTR" }, { EIO, "EIO" }, { EBADF, "EBADF" },
        { EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" }, { EACCES, "EACCES" },
        { EFAULT, "EFAULT" }, { EBUSY, "EBUSY" }, { EEXIST, "EEXIST" },
        { EINVAL, "EINVAL" }, { ENFILE, "ENFILE" }, { EMFILE, "EMFILE" },
        { ENOSPC, "ENOSPC" }, { EPIPE, "EPIPE" }, { EDOM, "EDOM" },
        { ERANGE, "ERANGE" }, { ENOSYS, "ENOSYS" }, { ENOTCONN, "ENOTCONN" },
        { ECONNREFUSED, "ECONNREFUSED" }, { ECONNRESET, "ECONNRESET" },
        { ETIMEDOUT, "ETIMEDOUT" }, { EPROTO, "EPROTO" },
        { EOVERFLOW, "EOVERFLOW" }, { ENOTSUP, "ENOTSUP" },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].e == e) {
            return names[i].n;
        }
    }
    snprintf(scratch, len, "E%d", e);
    return scratch;
}

/* dlsym() returns an object pointer; ISO C converts it to a function
 * pointer only through memcpy. */
typedef void (*any_fn)(void);

static any_fn sym(const char *what)
{
    char name[256];
    snprintf(name, sizeof(name), "_nss_%s_%s", prefix, what);
    void *p = dlsym(module, name);
    if (p == NULL) {
        fprintf(stderr, "nss_call: %s: %s\n", name, dlerror());
        exit(3);
    }
    any_fn fn;
    memcpy(&fn, &p, sizeof(fn));
    return fn;
}

/* The buffer is followed by a canary that the module must not touch. */
static void buf_resize(struct buf *b, size_t size)
{
    free(b->data);
    b->size = size;
    b->data = malloc(size + CANARY_LEN);
    if (b->data == NULL) {
        fprintf(stderr, "nss_call: out of memory for %zu bytes\n", size);
        exit(3);
    }
    memset(b->data, 0, size);
    memset(b->data + size, CANARY_BYTE, CANARY_LEN);
}

static void buf_check(const struct buf *b)
{
    for (size_t i = 0; i < CANARY_LEN; i++) {
        if ((unsigned char)b->data[b->size + i] != CANARY_BYTE) {
            overrun = 1;
            return;
        }
    }
}

static int in_buf(const struct buf *b, const void *p)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)b->data;
    return p != NULL && a >= lo && a < lo + b->size;
}

static const char *field(const struct buf *b, const char *s)
{
    if (!in_buf(b, s)) {
        strays++;
    }
    return s ? s : "";
}

static void print_pw(const struct buf *b, const struct passwd *pw)
{
    fprintf(out, "%s:", field(b, pw->pw_name));
    fprintf(out, "%s:", field(b, pw->pw_passwd));
    fprintf(out, "%lu:%lu:", (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid);
    fprintf(out, "%s:", field(b, pw->pw_gecos));
    fprintf(out, "%s:", field(b, pw->pw_dir));
    fprintf(out, "%s\n", field(b, pw->pw_shell));
}

static void print_gr(const struct buf *b, const struct group *gr)
{
    fprintf(out, "%s:", field(b, gr->gr_name));
    fprintf(out, "%s:%lu:", field(b, gr->gr_passwd), (unsigned long)gr->gr_gid);
    if (gr->gr_mem == NULL || !in_buf(b, gr->gr_mem)) {
        strays++;
    }
    for (size_t i = 0; gr->gr_mem != NULL && gr->gr_mem[i] != NULL; i++) {
        fprintf(out, "%s%s", i ? "," : "", field(b, gr->gr_mem[i]));
    }
    fputc('\n', out);
}

/* Each module call runs with errno set to a sentinel; a change is reported. */
static int errno_after = ERRNO_SENTINEL;

static void errno_before(void)
{
    errno = ERRNO_SENTINEL;
}

static void errno_check(void)
{
    if (errno != ERRNO_SENTINEL) {
        errno_after = errno;
    }
}

enum op { GETPWNAM, GETPWUID, GETGRNAM, GETGRGID, GETPWENT, GETGRENT, INITGROUPS };

/* One lookup: calls the module until it does not ask for a bigger buffer
 * (growing mode), and prints the entry on success if asked to. */
static enum nss_status call_once(enum op op, any_fn fn, const char *key,
                                 struct buf *b, const struct opts *o,
                                 int *err, int print)
{
    struct passwd pw;
    struct group gr;
    enum nss_status s = NSS_STATUS_UNAVAIL;
    unsigned long id = key ? strtoul(key, NULL, 10) : 0;

    for (;;) {
        *err = 0;
        memset(&pw, 0, sizeof(pw));
        memset(&gr, 0, sizeof(gr));
        errno_before();
        switch (op) {
        case GETPWNAM: s = ((pwnam_fn)fn)(key, &pw, b->data, b->size, err); break;
        case GETPWUID: s = ((pwuid_fn)fn)((uid_t)id, &pw, b->data, b->size, err); break;
        case GETGRNAM: s = ((grnam_fn)fn)(key, &gr, b->data, b->size, err); break;
        case GETGRGID: s = ((grgid_fn)fn)((gid_t)id, &gr, b->data, b->size, err); break;
        case GETPWENT: s = ((pwent_fn)fn)(&pw, b->data, b->size, err); break;
        case GETGRENT: s = ((grent_fn)fn)(&gr, b->data, b->size, err); break;
        case INITGROUPS: abort();
        }
        errno_check();
        buf_check(b);
        if (overrun || !o->grow || s != NSS_STATUS_TRYAGAIN || *err != ERANGE
            || b->size >= MAX_BUFSIZE) {
            break;
        }
        retries++;
        buf_resize(b, b->size ? b->size * 2 : 1);
    }
    if (s == NSS_STATUS_SUCCESS && print) {
        if (op == GETPWNAM || op == GETPWUID || op == GETPWENT) {
            print_pw(b, &pw);
        } else {
            print_gr(b, &gr);
        }
    }
    return s;
}

/* set*ent, get*ent_r until it stops, end*ent.  A module must not advance
 * on ERANGE: in growing mode the same entry is asked for again. */
static long enumerate(enum op op, struct buf *b, const struct opts *o,
                      enum nss_status *s, int *err, int print)
{
    const char *db = op == GETPWENT ? "pw" : "gr";
    char name[32];
    long count = 0;

    snprintf(name, sizeof(name), "set%sent", db);
    setent_fn set = (setent_fn)sym(name);
    snprintf(name, sizeof(name), "get%sent_r", db);
    any_fn get = sym(name);
    snprintf(name, sizeof(name), "end%sent", db);
    setent_fn end = (setent_fn)sym(name);

    *err = 0;
    errno_before();
    *s = set();
    errno_check();
    if (*s == NSS_STATUS_SUCCESS) {
        while (count < MAX_ENTRIES) {
            *s = call_once(op, get, NULL, b, o, err, print);
            if (*s != NSS_STATUS_SUCCESS || overrun) {
                break;
            }
            count++;
        }
    }
    errno_before();
    end();
    errno_check();
    return count;
}

/* glibc's way: groups[0] is the primary gid, *start is 1, and the module
 * appends the others (skipping `group`), growing the array with realloc
 * while *size allows and `limit` (if > 0) permits. */
static enum nss_status initgroups(const char *user, gid_t group, long limit,
                                  long initial, int *err, long *startp,
                                  long *sizep, int print)
{
    initgr_fn fn = (initgr_fn)sym("initgroups_dyn");
    long size = initial, start = 1;
    gid_t *groups = malloc((size_t)size * sizeof(gid_t));
    if (groups == NULL) {
        exit(3);
    }
    groups[0] = group;
    *err = 0;
    errno_before();
    enum nss_status s = fn(user, group, &start, &size, &groups, limit, err);
    errno_check();
    *startp = start;
    *sizep = size;
    if (s == NSS_STATUS_SUCCESS && print) {
        for (long i = 0; i < start && i < size; i++) {
            fprintf(out, "%s%lu", i ? " " : "", (unsigned long)groups[i]);
        }
        fputc('\n', out);
    }
    free(groups);
    return s;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: nss_call [--bufsize N] [--grow] [--repeat N] MODULE PREFIX OP [ARGS]\n"
            "OP: getpwnam NAME | getpwuid UID | getgrnam NAME | getgrgid GID |\n"
            "    initgroups USER GROUP_GID [LIMIT] | getpwent | getgrent\n");
    return 2;
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *v)
{
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno == 0 && *s != '\0' && *s != '-' && *end == '\0' && *v <= max;
}

static const struct { const char *name; enum op op; int nargs; } ops[] = {
    { "getpwnam", GETPWNAM, 1 }, { "getpwuid", GETPWUID, 1 },
    { "getgrnam", GETGRNAM, 1 }, { "getgrgid", GETGRGID, 1 },
    { "getpwent", GETPWENT, 0 }, { "getgrent", GETGRENT, 0 },
    { "initgroups", INITGROUPS, 2 },
};

int main(int argc, char **argv)
{
    struct opts o = { 0, 0, 1 };
    int fixed = 0, repeat_given = 0, i = 1;
    unsigned long long v;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--grow") == 0) {
            o.grow = 1;
        } else if (strcmp(argv[i], "--bufsize") == 0 && i + 1 < argc
                   && parse_num(argv[i + 1], MAX_BUFSIZE, &v) && v > 0) {
            o.bufsize = (size_t)v;
            fixed = 1;
            i++;
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc
                   && parse_num(argv[i + 1], 1000000000ULL, &v) && v > 0) {
            o.repeat = (long)v;
            repeat_given = 1;
            i++;
        } else {
            return usage();
        }
    }
    if (argc - i < 3) {
        return usage();
    }
    const char *path = argv[i], *opname = argv[i + 2];
    char **args = argv + i + 3;
    int nargs = argc - i - 3;
    prefix = argv[i + 1];

    size_t k = 0, nops = sizeof(ops) / sizeof(ops[0]);
    while (k < nops && strcmp(ops[k].name, opname) != 0) {
        k++;
    }
    if (k == nops) {
        return usage();
    }
    enum op op = ops[k].op;
    if (nargs != ops[k].nargs && !(op == INITGROUPS && nargs == 3)) {
        return usage();
    }
    if ((op == GETPWUID || op == GETGRGID) && !parse_num(args[0], UINT32_MAX, &v)) {
        return usage();
    }
    unsigned long long gid = 0;
    if (op == INITGROUPS && !parse_num(args[1], UINT32_MAX, &gid)) {
        return usage();
    }
    long limit = op == INITGROUPS && nargs == 3 ? strtol(args[2], NULL, 10) : -1;
    long initial_gids = fixed ? (long)o.bufsize : 16;   /* glibc initgroups: 16 */
    if (!fixed && !o.grow) {          /* the glibc way: start at 1024, double */
        o.bufsize = 1024;
        o.grow = 1;
    } else if (o.grow && !fixed) {
        o.bufsize = 1;
    }

    module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        fprintf(stderr, "nss_call: %s\n", dlerror());
        return 3;
    }
    out = open_memstream(&out_text, &out_len);
    if (out == NULL) {
        return 3;
    }

    static const char *const names[] = { "getpwnam_r", "getpwuid_r", "getgrnam_r",
                                         "getgrgid_r" };
    any_fn fn = op <= GETGRGID ? sym(names[op]) : NULL;
    struct buf b = { NULL, 0 };
    buf_resize(&b, o.bufsize);
    enum nss_status s = NSS_STATUS_UNAVAIL;
    int err = 0;
    long count = -1, start = -1, size = -1;
    struct timespec t0, t1;

    /* With --repeat, the buffer keeps its grown size between calls (like
     * glibc's static getpwnam buffer); only the last call is printed. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < o.repeat && !overrun; r++) {
        int print = r == o.repeat - 1;
        if (op == INITGROUPS) {
            s = initgroups(args[0], (gid_t)gid, limit, initial_gids, &err,
                           &start, &size, print);
        } else if (op == GETPWENT || op == GETGRENT) {
            count = enumerate(op, &b, &o, &s, &err, print);
        } else {
            s = call_once(op, fn, args[0], &b, &o, &err, print);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fflush(out);

    char e1[16], e2[16];
    printf("%s %s", status_name(s), errno_name(err, e1, sizeof(e1)));
    if (o.grow && op != INITGROUPS) {
        printf(" retries=%ld bufsize=%zu", retries, b.size);
    }
    if (count >= 0) {
        printf(" count=%ld", count);
    }
    if (start >= 0) {
        printf(" start=%ld size=%ld", start, size);
    }
    if (repeat_given) {
        long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL
                       + (t1.tv_nsec - t0.tv_nsec);
        printf(" repeat=%ld elapsed_ns=%lld", o.repeat, ns);
    }
    if (strays) {
        printf(" strays=%ld", strays);
    }
    if (overrun) {
        printf(" overrun=1");
    }
    if (errno_after != ERRNO_SENTINEL) {
        printf(" errno_after=%s", errno_name(errno_after, e2, sizeof(e2)));
    }
    printf("\n");
    fwrite(out_text, 1, out_len, stdout);
    fclose(out);
    free(out_text);
    free(b.data);
    if (fflush(stdout) != 0) {
        return 3;
    }
    return overrun ? 4 : s == NSS_STATUS_SUCCESS ? 0 : 1;
}
