/*
 * client_hygiene - process-hygiene checks of libnss_vigil.so.2 that need a
 * real process around the module: fork from a threaded caller, an fd number
 * reused by the application, a responder restarted between two calls.
 *
 * Usage: client_hygiene MODULE MODE NAME
 *   fork     4 threads look NAME up in a loop while the main thread forks
 *            20 times; each child looks NAME up once and must succeed.
 *   fdreuse  look up, close every fd >= 3, open a scratch file (which gets
 *            the socket's old number), look up again: the lookup succeeds
 *            and the file is untouched and still open.
 *   fdreuse-socket  the same with a socketpair on the old number.
 *   restart  look up, print "first STATUS", wait for a line on stdin (the
 *            test restarts the responder meanwhile), look up again, print
 *            "second STATUS".  SIGPIPE keeps its default action: a send
 *            without MSG_NOSIGNAL would kill us.
 *   fdflags  look up; every socket fd is >= 3 and close-on-exec.
 *   nostdio  close fds 0-2, look up: the lookup succeeds and 0-2 stay
 *            closed (the module must not take them: a later open() by the
 *            application would become its stdin).
 * Prints "OK ..." and exits 0 on success; "FAIL reason" and exits 1.
 * Every wait is bounded (alarm).
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef enum nss_status (*pwnam_fn)(const char *, struct passwd *, char *, size_t, int *);

#define FORKS 20
#define THREADS 4
#define THREAD_LOOKUPS 50

static pwnam_fn getpwnam_fn;
static const char *name;

static int fail(const char *why)
{
    printf("FAIL %s\n", why);
    return 1;
}

static enum nss_status lookup(void)
{
    struct passwd pw;
    char buf[1024];
    int err = 0;
    enum nss_status s = getpwnam_fn(name, &pw, buf, sizeof(buf), &err);
    if (s == NSS_STATUS_SUCCESS && strcmp(pw.pw_name, name) != 0) {
        return NSS_STATUS_UNAVAIL;
    }
    return s;
}

static void *thread_main(void *arg)
{
    int *failures = arg;
    for (int i = 0; i < THREAD_LOOKUPS; i++) {
        if (lookup() != NSS_STATUS_SUCCESS) {
            (*failures)++;
        }
    }
    return NULL;
}

static int run_fork(void)
{
    pthread_t threads[THREADS];
    int failures[THREADS] = { 0 };
    for (int i = 0; i < THREADS; i++) {
        if (pthread_create(&threads[i], NULL, thread_main, &failures[i]) != 0) {
            return fail("pthread_create");
        }
    }
    int bad_children = 0;
    for (int i = 0; i < FORKS; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            return fail("fork");
        }
        if (pid == 0) {
            alarm(10);
            _exit(lookup() == NSS_STATUS_SUCCESS ? 0 : 1);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0) {
            bad_children++;
        }
    }
    int bad_lookups = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        bad_lookups += failures[i];
    }
    if (bad_children || bad_lookups) {
        printf("FAIL children=%d thread_lookups=%d\n", bad_children, bad_lookups);
        return 1;
    }
    printf("OK forks=%d thread_lookups=%d\n", FORKS, THREADS * THREAD_LOOKUPS);
    return 0;
}

/* The lowest fd >= 3 that is a socket, or -1. */
static int find_socket_fd(void)
{
    DIR *dir = opendir("/proc/self/fd");
    int found = -1;
    if (dir == NULL) {
        return -1;
    }
    for (struct dirent *d; (d = readdir(dir)) != NULL;) {
        int fd = atoi(d->d_name);
        struct stat st;
        if (fd >= 3 && fd != dirfd(dir) && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)
            && (found < 0 || fd < found)) {
            found = fd;
        }
    }
    closedir(dir);
    return found;
}

static int run_fdreuse(void)
{
    if (lookup() != NSS_STATUS_SUCCESS) {
        return fail("first lookup");
    }
    int sock = find_socket_fd();
    if (sock < 0) {
        return fail("no socket fd after the first lookup");
    }
    for (int fd = 3; fd < 4096; fd++) {
        close(fd);
    }
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/client_hygiene.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int file = mkstemp(path);
    if (file < 0) {
        return fail("mkstemp");
    }
    unlink(path);
    if (lookup() != NSS_STATUS_SUCCESS) {
        return fail("second lookup");
    }
    struct stat st;
    if (fcntl(file, F_GETFD) < 0 || fstat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
        return fail("the module closed or replaced the application's file");
    }
    if (st.st_size != 0) {
        return fail("the module wrote to the application's file");
    }
    if (write(file, "x", 1) != 1) {
        return fail("the application's file is no longer writable");
    }
    printf("OK socket_fd=%d file_fd=%d reused=%d\n", sock, file, sock == file);
    return 0;
}

/* The worst case of fd reuse: the old number now holds another socket (a
 * socketpair of the application's).  The module must notice (st_ino) and
 * neither write to it nor close it. */
static int run_fdreuse_socket(void)
{
    if (lookup() != NSS_STATUS_SUCCESS) {
        return fail("first lookup");
    }
    int sock = find_socket_fd();
    if (sock < 0) {
        return fail("no socket fd after the first lookup");
    }
    for (int fd = 3; fd < 4096; fd++) {
        close(fd);
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
        return fail("socketpair");
    }
    if (lookup() != NSS_STATUS_SUCCESS) {
        return fail("second lookup");
    }
    char byte;
    ssize_t n = recv(pair[1], &byte, 1, MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        return fail("the module wrote to (or closed) the application's socket");
    }
    if (send(pair[0], "x", 1, MSG_NOSIGNAL) != 1 || recv(pair[1], &byte, 1, 0) != 1) {
        return fail("the application's socket no longer works");
    }
    printf("OK socket_fd=%d pair_fd=%d reused=%d\n", sock, pair[0], sock == pair[0]);
    return 0;
}

/* Every socket fd: 1 when all are >= 3 and close-on-exec, and at least
 * one exists. */
static int sockets_hygienic(int *count)
{
    DIR *dir = opendir("/proc/self/fd");
    int ok = 1;
    *count = 0;
    if (dir == NULL) {
        return 0;
    }
    for (struct dirent *d; (d = readdir(dir)) != NULL;) {
        if (d->d_name[0] < '0' || d->d_name[0] > '9') {
            continue;
        }
        int fd = atoi(d->d_name);
        struct stat st;
        if (fd == dirfd(dir) || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            continue;
        }
        (*count)++;
        int flags = fcntl(fd, F_GETFD);
        if (fd < 3 || flags < 0 || !(flags & FD_CLOEXEC)) {
            ok = 0;
        }
    }
    closedir(dir);
    return ok && *count > 0;
}

static int run_fdflags(void)
{
    int count;
    if (lookup() != NSS_STATUS_SUCCESS) {
        return fail("lookup");
    }
    if (!sockets_hygienic(&count)) {
        printf("FAIL sockets=%d: one is below 3 or lacks FD_CLOEXEC\n", count);
        return 1;
    }
    printf("OK sockets=%d\n", count);
    return 0;
}

static int run_nostdio(void)
{
    int out = dup(1);
    if (out < 3) {
        return fail("dup");
    }
    close(0);
    close(1);
    close(2);
    enum nss_status s = lookup();
    int taken = 0, count = 0;
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0) {
            taken++;
        }
    }
    int hygienic = sockets_hygienic(&count);
    if (s != NSS_STATUS_SUCCESS || taken || !hygienic) {
        dprintf(out, "FAIL status=%d stdio_fds_taken=%d sockets=%d\n", (int)s, taken, count);
        return 1;
    }
    dprintf(out, "OK sockets=%d\n", count);
    return 0;
}

static const char *status_name(enum nss_status s)
{
    switch (s) {
    case NSS_STATUS_SUCCESS: return "SUCCESS";
    case NSS_STATUS_NOTFOUND: return "NOTFOUND";
    case NSS_STATUS_UNAVAIL: return "UNAVAIL";
    case NSS_STATUS_TRYAGAIN: return "TRYAGAIN";
    default: return "OTHER";
    }
}

static int run_restart(void)
{
    enum nss_status first = lookup();
    printf("first %s\n", status_name(first));
    fflush(stdout);
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL) {
        return fail("no go-ahead on stdin");
    }
    enum nss_status second = lookup();
    printf("second %s\n", status_name(second));
    if (first != NSS_STATUS_SUCCESS || second != NSS_STATUS_SUCCESS) {
        return fail("a lookup failed");
    }
    printf("OK\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: client_hygiene MODULE fork|fdreuse|fdreuse-socket|restart|fdflags|nostdio NAME\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(60);
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        fprintf(stderr, "client_hygiene: %s\n", dlerror());
        return 3;
    }
    void *sym = dlsym(module, "_nss_vigil_getpwnam_r");
    if (sym == NULL) {
        fprintf(stderr, "client_hygiene: %s\n", dlerror());
        return 3;
    }
    memcpy(&getpwnam_fn, &sym, sizeof(getpwnam_fn));
    name = argv[3];
    if (strcmp(argv[2], "fork") == 0) {
        return run_fork();
    }
    if (strcmp(argv[2], "fdreuse") == 0) {
        return run_fdreuse();
    }
    if (strcmp(argv[2], "fdreuse-socket") == 0) {
        return run_fdreuse_socket();
    }
    if (strcmp(argv[2], "restart") == 0) {
        return run_restart();
    }
    if (strcmp(argv[2], "fdflags") == 0) {
        return run_fdflags();
    }
    if (strcmp(argv[2], "nostdio") == 0) {
        return run_nostdio();
    }
    fprintf(stderr, "client_hygiene: unknown mode %s\n", argv[2]);
    return 2;
}
