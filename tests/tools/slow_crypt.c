/*
 * slow_crypt - an LD_PRELOAD shim for tests: crypt_rn (what vigil's password
 * hashing calls) does its work, then sleeps VIGIL_TEST_CRYPT_DELAY_MS
 * milliseconds (default 300).  A hash then costs as much as a slow one
 * configured on a big server, so a test can see whether hashing holds up
 * anything else: it must run in a worker thread, never on an event loop.
 */
#define _GNU_SOURCE

#include <crypt.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

typedef char *(*crypt_rn_fn)(const char *, const char *, void *, int);

char *crypt_rn(const char *phrase, const char *setting, void *data, int size)
{
    static crypt_rn_fn real;    /* set once; every thread finds the same */
    crypt_rn_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        fn = (crypt_rn_fn)dlsym(RTLD_NEXT, "crypt_rn");
        if (fn == NULL) {
            errno = ENOSYS;
            return NULL;
        }
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    char *out = fn(phrase, setting, data, size);
    int saved = errno;
    const char *env = getenv("VIGIL_TEST_CRYPT_DELAY_MS");
    long ms = env != NULL ? strtol(env, NULL, 10) : 300;
    if (ms > 0 && ms <= 60000) {
        struct timespec delay = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
        }
    }
    errno = saved;
    return out;
}
