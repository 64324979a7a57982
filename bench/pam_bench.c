/*
 * pam_bench - times pam_authenticate, and the raw LDAP bind under it.
 *
 *   pam CONFDIR SERVICE PREFIX COUNT   pam_start_confdir(SERVICE) reads
 *       CONFDIR/SERVICE (no pam_wrapper: it would add ~20 ms a pam_start,
 *       and no file in /etc/pam.d); then pam_authenticate alone is timed,
 *       pam_start and pam_end (the module's dlopen and dlclose) are not.
 *   bind URI BASE PREFIX COUNT         a new connection, a simple bind as
 *       uid=USER,ou=People,BASE and an unbind: what a password login costs
 *       the directory at least (the floor under the online figure).
 *
 * The user of call i is PREFIX followed by i % COUNT as four digits (COUNT 1:
 * always PREFIX0000), the password "Pw-" followed by the user name; the
 * conversation answers every hidden prompt with it.  Every call must succeed:
 * a refusal or an error ends the program with status 1 saying which (a
 * failed login is not a fast login).
 *
 * Prints "TEST v1 v2 ...": ms per call, the mean of each run; the caller
 * takes medians.  Usage: pam_bench [-r RUNS] [-n CALLS] [-f FIRST] TEST ARGS
 * (RUNS default 5, CALLS a run default 100; FIRST: the index of the first
 * user, so that consecutive invocations can go on through the names).
 */
#define _GNU_SOURCE

#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

struct login {
    char user[128];
    char password[160];
};

static void name_login(struct login *l, const char *prefix, long i)
{
    snprintf(l->user, sizeof(l->user), "%s%04ld", prefix, i);
    snprintf(l->password, sizeof(l->password), "Pw-%s", l->user);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int answer_password(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    if (n <= 0 || n > PAM_MAX_NUM_MSG) {
        return PAM_CONV_ERR;
    }
    struct pam_response *out = calloc((size_t)n, sizeof(*out));
    if (out == NULL) {
        return PAM_BUF_ERR;
    }
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF && (out[i].resp = strdup(data)) == NULL) {
            for (int j = 0; j < i; j++) {
                free(out[j].resp);
            }
            free(out);
            return PAM_BUF_ERR;
        }
    }
    *resp = out;
    return PAM_SUCCESS;
}

/* One login; its pam_authenticate time in ms, or < 0 after saying why. */
static double pam_once(const char *confdir, const char *service, struct login *l)
{
    struct pam_conv conv = { answer_password, l->password };
    pam_handle_t *pamh = NULL;
    int rc = pam_start_confdir(service, l->user, &conv, confdir, &pamh);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "pam_bench: pam_start_confdir(%s): %d\n", service, rc);
        return -1;
    }
    double start = now_ms();
    rc = pam_authenticate(pamh, 0);
    double spent = now_ms() - start;
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "pam_bench: pam_authenticate(%s) for %s: %s\n", service, l->user,
                pam_strerror(pamh, rc));
        spent = -1;
    }
    pam_end(pamh, rc);
    return spent;
}

static double bind_once(const char *uri, const char *base, struct login *l)
{
    char dn[512];
    snprintf(dn, sizeof(dn), "uid=%s,ou=People,%s", l->user, base);
    double start = now_ms();
    LDAP *ld = NULL;
    int rc = ldap_initialize(&ld, uri);
    if (rc == LDAP_SUCCESS) {
        int version = LDAP_VERSION3;
        ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
        struct berval cred = { .bv_len = strlen(l->password), .bv_val = l->password };
        rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    }
    if (ld != NULL) {
        ldap_unbind_ext_s(ld, NULL, NULL);
    }
    double spent = now_ms() - start;
    if (rc != LDAP_SUCCESS) {
        fprintf(stderr, "pam_bench: bind as %s: %s\n", dn, ldap_err2string(rc));
        return -1;
    }
    return spent;
}

int main(int argc, char **argv)
{
    long runs = 5, calls = 100, first = 0;
    int opt;
    while ((opt = getopt(argc, argv, "r:n:f:")) != -1) {
        switch (opt) {
        case 'r': runs = strtol(optarg, NULL, 10); break;
        case 'n': calls = strtol(optarg, NULL, 10); break;
        case 'f': first = strtol(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    argv += optind;
    argc -= optind;
    if (argc != 5 || runs < 1 || calls < 1 || first < 0
        || (strcmp(argv[0], "pam") != 0 && strcmp(argv[0], "bind") != 0)) {
        fprintf(stderr, "usage: pam_bench [-r RUNS] [-n CALLS] [-f FIRST] pam CONFDIR SERVICE PREFIX COUNT\n"
                        "       pam_bench [-r RUNS] [-n CALLS] [-f FIRST] bind URI BASE PREFIX COUNT\n");
        return 2;
    }
    long count = strtol(argv[4], NULL, 10);
    if (count < 1) {
        fprintf(stderr, "pam_bench: COUNT must be at least 1\n");
        return 2;
    }
    int pam = strcmp(argv[0], "pam") == 0;
    printf("%s", argv[0]);
    long i = first;
    for (long r = 0; r < runs; r++) {
        double total = 0;
        for (long c = 0; c < calls; c++, i++) {
            struct login l;
            name_login(&l, argv[3], i % count);
            double spent = pam ? pam_once(argv[1], argv[2], &l) : bind_once(argv[1], argv[2], &l);
            if (spent < 0) {
                return 1;
            }
            total += spent;
        }
        printf(" %.3f", total / (double)calls);
    }
    printf("\n");
    return 0;
}
