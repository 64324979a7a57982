/*
 * client_pam_probe - a PAM module for tests, stacked after pam_vigil.so:
 * it reports through the conversation what pam_vigil left on the handle,
 * so that a test can see pam_set_data, pam_putenv and forward_pass at
 * work through libpam itself.
 *
 * Options: data=NAME, env=NAME, authtok, oldauthtok.  For each, one
 * PAM_TEXT_INFO message "probe KEY=VALUE" or "probe KEY unset".  Every
 * entry point returns PAM_SUCCESS.
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <string.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

static void report(pam_handle_t *pamh, const char *key, const char *value)
{
    if (value != NULL) {
        pam_info(pamh, "probe %s=%s", key, value);
    } else {
        pam_info(pamh, "probe %s unset", key);
    }
}

static int probe(pam_handle_t *pamh, int argc, const char **argv)
{
    for (int i = 0; i < argc; i++) {
        const void *item = NULL;
        if (strncmp(argv[i], "data=", 5) == 0) {
            if (pam_get_data(pamh, argv[i] + 5, &item) != PAM_SUCCESS) {
                item = NULL;
            }
            report(pamh, argv[i], item);
        } else if (strncmp(argv[i], "env=", 4) == 0) {
            report(pamh, argv[i], pam_getenv(pamh, argv[i] + 4));
        } else if (strcmp(argv[i], "authtok") == 0 || strcmp(argv[i], "oldauthtok") == 0) {
            int type = argv[i][0] == 'a' ? PAM_AUTHTOK : PAM_OLDAUTHTOK;
            if (pam_get_item(pamh, type, &item) != PAM_SUCCESS) {
                item = NULL;
            }
            report(pamh, argv[i], item);
        }
    }
    return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return probe(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return probe(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return probe(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return probe(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return probe(pamh, argc, argv);
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return probe(pamh, argc, argv);
}
