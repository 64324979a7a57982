/*
 * krb5_floor - the raw Kerberos password login under the PAM figures of
 * bench/run-pam-bench.sh --krb5: what a login costs without vigil or SSSD
 * around it, from the whole process down to the AS exchange alone.
 *
 *   as        one libkrb5 context for the whole run; per call the
 *             principal and krb5_get_init_creds_password (the AS exchange
 *             with the KDC, preauthentication included), creds freed: the
 *             floor no helper process can beat.
 *   ccache    as `as`, then the TGT written to a FILE ccache as the
 *             provider's child does (a new file beside the old one, renamed
 *             over it).
 *   fresh     per call a new context (the profile read), principal,
 *             options, AS exchange and ccache, context freed: what a fresh
 *             process does in libkrb5, without exec and the dynamic linker.
 *   kinit     kinit as a whole process (posix_spawn, the password on its
 *             stdin, waited for): BENCHMARKS.md's "kinit whole process".
 *   child     vigil_krb5_child (ARG: its path) as vigil_be runs it: an
 *             environment of _VIGIL_LOOPS=NO only, one authenticate request
 *             on stdin (the ccache FILE:CCDIR/krb5cc_UID, the uid and gid of
 *             -u and -g plus the user's index), its answer read and checked.
 *   spare     as `child`, but started with --warm KRB5_CONFIG and given
 *             50 ms (not timed) before the request: vigil_be's spare child,
 *             timed from the request to its exit.
 *
 * KRB5_CONFIG (the environment) names the realm's profile; the child gets it
 * in its request.  The user of call i is PREFIX followed by i % COUNT as four
 * digits, its principal USER@REALM, its password "Pw-" followed by the user
 * name.  Every call must succeed: a refusal ends the program with status 1
 * saying which.  Prints "TEST v1 v2 ...": ms per call, the mean of each run.
 *
 * Usage: krb5_floor [-r RUNS] [-n CALLS] [-f FIRST] [-u UIDBASE] [-g GID]
 *                   TEST REALM PREFIX COUNT CCDIR [ARG]
 */
#define _GNU_SOURCE

#include <krb5.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct login {
    char user[128];
    char password[160];
};

struct run {
    const char *test, *realm, *prefix, *ccdir;
    char *arg; /* kinit, child, spare: the program */
    double timed_from; /* spare: set when the request goes in */
    long count;
    long uid_base, gid;
    krb5_context ctx; /* as, ccache: one for the whole run */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void say_krb5(krb5_context ctx, const char *what, const char *user, krb5_error_code rc)
{
    const char *text = krb5_get_error_message(ctx, rc);
    fprintf(stderr, "krb5_floor: %s for %s: %s\n", what, user, text);
    krb5_free_error_message(ctx, text);
}

/* The TGT to CCDIR/floor_INDEX: a temp file renamed over the old one. */
static int store(krb5_context ctx, const struct run *r, krb5_principal client, krb5_creds *creds, long index,
                 const char *user)
{
    char path[512], temp[540], name[560];
    snprintf(path, sizeof(path), "%s/floor_%04ld", r->ccdir, index);
    snprintf(temp, sizeof(temp), "%s.XXXXXX", path);
    int fd = mkstemp(temp);
    if (fd < 0) {
        fprintf(stderr, "krb5_floor: mkstemp %s: %s\n", temp, strerror(errno));
        return -1;
    }
    close(fd);
    snprintf(name, sizeof(name), "FILE:%s", temp);
    krb5_ccache cc = NULL;
    krb5_error_code rc = krb5_cc_resolve(ctx, name, &cc);
    if (rc == 0) rc = krb5_cc_initialize(ctx, cc, client);
    if (rc == 0) rc = krb5_cc_store_cred(ctx, cc, creds);
    if (cc != NULL) krb5_cc_close(ctx, cc);
    if (rc != 0) {
        say_krb5(ctx, "the ccache", user, rc);
        unlink(temp);
        return -1;
    }
    if (rename(temp, path) != 0) {
        fprintf(stderr, "krb5_floor: rename %s: %s\n", temp, strerror(errno));
        unlink(temp);
        return -1;
    }
    return 0;
}

/* as, ccache, fresh: libkrb5 in this process. */
static int in_process(struct run *r, const struct login *l, long index)
{
    krb5_context ctx = r->ctx;
    const int fresh = strcmp(r->test, "fresh") == 0;
    krb5_error_code rc = 0;
    if (fresh && (rc = krb5_init_context(&ctx)) != 0) {
        fprintf(stderr, "krb5_floor: krb5_init_context: error %d\n", (int)rc);
        return -1;
    }
    krb5_principal client = NULL;
    krb5_get_init_creds_opt *options = NULL;
    krb5_creds creds;
    memset(&creds, 0, sizeof(creds));
    int ok = -1;
    rc = krb5_build_principal_ext(ctx, &client, (unsigned)strlen(r->realm), r->realm, (unsigned)strlen(l->user),
                                  l->user, 0);
    if (rc == 0) rc = krb5_get_init_creds_opt_alloc(ctx, &options);
    if (rc != 0) {
        say_krb5(ctx, "the principal", l->user, rc);
        goto out;
    }
    krb5_get_init_creds_opt_set_change_password_prompt(options, 0);
    rc = krb5_get_init_creds_password(ctx, &creds, client, l->password, NULL, NULL, 0, NULL, options);
    if (rc != 0) {
        say_krb5(ctx, "krb5_get_init_creds_password", l->user, rc);
        goto out;
    }
    ok = strcmp(r->test, "as") == 0 ? 0 : store(ctx, r, client, &creds, index, l->user);
    krb5_free_cred_contents(ctx, &creds);
out:
    if (options != NULL) krb5_get_init_creds_opt_free(ctx, options);
    if (client != NULL) krb5_free_principal(ctx, client);
    if (fresh) krb5_free_context(ctx);
    return ok;
}

/* Runs argv with `input` on its stdin (and its stdout read into `out`,
 * NUL-terminated, when out != NULL); its exit status, or -1. */
static int spawn_with_input(struct run *r, char *const argv[], char *const envp[], const char *input,
                            size_t input_len, char *out, size_t out_size, size_t *out_len)
{
    int in[2], outp[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || (out != NULL && pipe2(outp, O_CLOEXEC) != 0)) {
        fprintf(stderr, "krb5_floor: pipe: %s\n", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    if (out != NULL) {
        posix_spawn_file_actions_adddup2(&actions, outp[1], 1);
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &actions, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    if (outp[1] >= 0) close(outp[1]);
    if (rc != 0) {
        fprintf(stderr, "krb5_floor: cannot run %s: %s\n", argv[0], strerror(rc));
        close(in[1]);
        if (outp[0] >= 0) close(outp[0]);
        return -1;
    }
    if (strcmp(r->test, "spare") == 0) {
        /* Ready and waiting, as a spare is when a login comes. */
        struct timespec settle = {0, 50 * 1000 * 1000};
        nanosleep(&settle, NULL);
        r->timed_from = now_ms();
    }
    /* Small enough for a pipe buffer: one write, then EOF. */
    if (write(in[1], input, input_len) != (ssize_t)input_len) {
        fprintf(stderr, "krb5_floor: writing to %s: %s\n", argv[0], strerror(errno));
    }
    close(in[1]);
    size_t got = 0;
    if (out != NULL) {
        ssize_t n;
        while (got + 1 < out_size && (n = read(outp[0], out + got, out_size - 1 - got)) != 0) {
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) break;
            got += (size_t)n;
        }
        out[got] = '\0';
        close(outp[0]);
        *out_len = got;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_kinit(struct run *r, const struct login *l, long index)
{
    char principal[300], cc[560], input[170];
    snprintf(principal, sizeof(principal), "%s@%s", l->user, r->realm);
    snprintf(cc, sizeof(cc), "FILE:%s/kinit_%04ld", r->ccdir, index);
    int len = snprintf(input, sizeof(input), "%s\n", l->password);
    char *argv[] = {r->arg, "-c", cc, principal, NULL};
    int status = spawn_with_input(r, argv, environ, input, (size_t)len, NULL, 0, NULL);
    if (status != 0) {
        fprintf(stderr, "krb5_floor: %s for %s: exit status %d\n", r->arg, principal, status);
        return -1;
    }
    return 0;
}

/* The child's protocol (src/providers/krb5/krb5_child_protocol.hpp). */
static size_t put_field(char *buf, size_t at, uint16_t tag, const void *data, uint32_t size)
{
    memcpy(buf + at, &tag, 2);
    memcpy(buf + at + 2, &size, 4);
    memcpy(buf + at + 6, data, size);
    return at + 6 + size;
}

static size_t put_text(char *buf, size_t at, uint16_t tag, const char *text)
{
    return put_field(buf, at, tag, text, (uint32_t)strlen(text));
}

static size_t put_u32(char *buf, size_t at, uint16_t tag, uint32_t value)
{
    return put_field(buf, at, tag, &value, 4);
}

static int run_child(struct run *r, const struct login *l, long index)
{
    const char *config = getenv("KRB5_CONFIG");
    if (config == NULL) {
        fprintf(stderr, "krb5_floor: child: KRB5_CONFIG is not set\n");
        return -1;
    }
    const uint32_t uid = (uint32_t)(r->uid_base + index);
    char ccname[560];
    snprintf(ccname, sizeof(ccname), "FILE:%s/krb5cc_%u", r->ccdir, uid);
    char request[4096];
    size_t at = 12;
    at = put_u32(request, at, 1, 1); /* command: authenticate */
    at = put_text(request, at, 2, l->user);
    at = put_text(request, at, 3, r->realm);
    at = put_text(request, at, 4, l->password);
    at = put_u32(request, at, 5, uid);
    at = put_u32(request, at, 6, (uint32_t)r->gid);
    at = put_text(request, at, 7, ccname);
    at = put_text(request, at, 8, config);
    const uint32_t version = 1, length = (uint32_t)(at - 12);
    memcpy(request, "VK5Q", 4);
    memcpy(request + 4, &version, 4);
    memcpy(request + 8, &length, 4);
    char warm_config[2048];
    snprintf(warm_config, sizeof(warm_config), "%s", config);
    char *argv[] = {r->arg, "--warm", warm_config, NULL};
    if (strcmp(r->test, "spare") != 0) argv[1] = NULL;
    char *envp[] = {"_VIGIL_LOOPS=NO", NULL};
    char answer[4096];
    size_t got = 0;
    int status = spawn_with_input(r, argv, envp, request, at, answer, sizeof(answer), &got);
    explicit_bzero(request, sizeof(request));
    /* The answer's first field is the result (tag 32, u32): 0 is ok. */
    uint16_t tag = 0;
    uint32_t size = 0, result = 1;
    if (got >= 22 && memcmp(answer, "VK5A", 4) == 0) {
        memcpy(&tag, answer + 12, 2);
        memcpy(&size, answer + 14, 4);
        if (tag == 32 && size == 4) memcpy(&result, answer + 18, 4);
    }
    if (status != 0 || result != 0) {
        fprintf(stderr, "krb5_floor: %s for %s: exit status %d, result %u\n", r->arg, l->user, status,
                (unsigned)result);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long runs = 5, calls = 100, first = 0;
    struct run r = {.uid_base = 300000, .gid = 300000};
    int opt;
    while ((opt = getopt(argc, argv, "r:n:f:u:g:")) != -1) {
        switch (opt) {
        case 'r': runs = strtol(optarg, NULL, 10); break;
        case 'n': calls = strtol(optarg, NULL, 10); break;
        case 'f': first = strtol(optarg, NULL, 10); break;
        case 'u': r.uid_base = strtol(optarg, NULL, 10); break;
        case 'g': r.gid = strtol(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    argv += optind;
    argc -= optind;
    static const char *const tests[] = {"as", "ccache", "fresh", "kinit", "child", "spare"};
    int known = 0;
    for (size_t i = 0; argc >= 5 && i < sizeof(tests) / sizeof(tests[0]); i++) {
        known |= strcmp(argv[0], tests[i]) == 0;
    }
    const int needs_arg = argc >= 1 && (strcmp(argv[0], "kinit") == 0 || strcmp(argv[0], "child") == 0 ||
                                        strcmp(argv[0], "spare") == 0);
    if (!known || argc != 5 + needs_arg || runs < 1 || calls < 1 || first < 0) {
        fprintf(stderr, "usage: krb5_floor [-r RUNS] [-n CALLS] [-f FIRST] [-u UIDBASE] [-g GID]\n"
                        "                  as|ccache|fresh REALM PREFIX COUNT CCDIR\n"
                        "                  kinit REALM PREFIX COUNT CCDIR KINIT\n"
                        "                  child|spare REALM PREFIX COUNT CCDIR VIGIL_KRB5_CHILD\n");
        return 2;
    }
    r.test = argv[0];
    r.realm = argv[1];
    r.prefix = argv[2];
    r.count = strtol(argv[3], NULL, 10);
    r.ccdir = argv[4];
    r.arg = needs_arg ? argv[5] : NULL;
    if (r.count < 1) {
        fprintf(stderr, "krb5_floor: COUNT must be at least 1\n");
        return 2;
    }
    if ((strcmp(r.test, "as") == 0 || strcmp(r.test, "ccache") == 0)) {
        krb5_error_code rc = krb5_init_context(&r.ctx);
        if (rc != 0) {
            fprintf(stderr, "krb5_floor: krb5_init_context: error %d\n", (int)rc);
            return 1;
        }
    }
    printf("%s", r.test);
    long i = first;
    int status = 0;
    for (long run = 0; run < runs && status == 0; run++) {
        double total = 0;
        for (long c = 0; c < calls; c++, i++) {
            struct login l;
            const long index = i % r.count;
            snprintf(l.user, sizeof(l.user), "%s%04ld", r.prefix, index);
            snprintf(l.password, sizeof(l.password), "Pw-%s", l.user);
            double start = now_ms();
            r.timed_from = 0;
            const int rc = strcmp(r.test, "kinit") == 0 ? run_kinit(&r, &l, index)
                           : r.arg != NULL              ? run_child(&r, &l, index)
                                                        : in_process(&r, &l, index);
            if (r.timed_from > start) start = r.timed_from;
            total += now_ms() - start;
            explicit_bzero(l.password, sizeof(l.password));
            if (rc != 0) {
                status = 1;
                break;
            }
        }
        if (status == 0) printf(" %.3f", total / (double)calls);
    }
    printf("\n");
    if (r.ctx != NULL) krb5_free_context(r.ctx);
    return status;
}
