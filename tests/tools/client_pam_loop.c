/*
 * client_pam_loop - pam_start / pam_authenticate / pam_end in a loop, with
 * a service file that stacks pam_vigil.so: libpam dlopens the module at
 * every pam_start and dlcloses it at pam_end, so whatever the module leaks
 * per load (memory, fds, atfork handlers, threads) adds up here.
 *
 * Usage: client_pam_loop CONFDIR SERVICE USER PASSWORD CYCLES [AUTH_EVERY]
 * pam_start loads the stack (dlopen) and pam_end unloads it every cycle;
 * pam_authenticate, a request to the responder, runs every AUTH_EVERY-th
 * cycle (default 1), so that a test can afford many cycles.
 * The conversation answers every prompt with PASSWORD (an application may
 * not set PAM_AUTHTOK itself).  pam_start_confdir (Linux-PAM >= 1.4) reads
 * CONFDIR/SERVICE: no pam_wrapper, which would add ~20 ms a cycle.
 * Prints "OK cycles=N success=N fds_before=N fds_after=N last_rc=N" (the
 * last pam_authenticate's return code, for tests that expect a refusal);
 * exits 1 if the fd count grew or a cycle failed to start.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

static int count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    int n = 0;
    if (dir == NULL) {
        return -1;
    }
    while (readdir(dir) != NULL) {
        n++;
    }
    closedir(dir);
    return n;
}

static int answer_password(int n, const struct pam_message **msg,
                           struct pam_response **resp, void *data)
{
    if (n <= 0 || n > PAM_MAX_NUM_MSG) {
        return PAM_CONV_ERR;
    }
    struct pam_response *out = calloc((size_t)n, sizeof(*out));
    if (out == NULL) {
        return PAM_BUF_ERR;
    }
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF
            && (out[i].resp = strdup(data)) == NULL) {
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

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr,
                "usage: client_pam_loop CONFDIR SERVICE USER PASSWORD CYCLES [AUTH_EVERY]\n");
        return 2;
    }
    long cycles = strtol(argv[5], NULL, 10);
    long every = argc == 7 ? strtol(argv[6], NULL, 10) : 1;
    if (every < 1) {
        every = 1;
    }
    struct pam_conv conv = { answer_password, argv[4] };
    int before = count_fds(), success = 0, last_rc = -1;
    for (long i = 0; i < cycles; i++) {
        pam_handle_t *pamh = NULL;
        int rc = pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
        if (rc != PAM_SUCCESS) {
            printf("FAIL pam_start_confdir: %d at cycle %ld\n", rc, i);
            return 1;
        }
        if (i % every == 0) {
            rc = pam_authenticate(pamh, 0);
            last_rc = rc;
            if (rc == PAM_SUCCESS) {
                success++;
            }
        }
        pam_end(pamh, rc);
    }
    int after = count_fds();
    printf("%s cycles=%ld success=%d fds_before=%d fds_after=%d last_rc=%d\n",
           after == before ? "OK" : "FAIL", cycles, success, before, after, last_rc);
    return after == before ? 0 : 1;
}
