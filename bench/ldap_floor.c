/*
 * ldap_floor - the raw LDAP cost of one lookup, for the identity bench:
 * the searches a lookup needs (each FILTER, in turn, under BASE, all
 * attributes, with the simple paged results control as the daemons use it)
 * on one anonymous connection that is already open, every value read.
 * This is the floor that a cold lookup through a daemon adds its own work
 * to (its cache, its responder, its extra searches).
 *
 * Prints "floor" and one value a run: µs for one pass over the FILTERs
 * (the mean of REPEATS passes); then "entries N", the entries of one pass.
 * Exits 1 when a search fails.
 *
 * Usage: ldap_floor [-r RUNS] [-n REPEATS] [-P PAGE_SIZE] URI BASE FILTER...
 * (defaults: 5 runs, 20 repeats, page size 1000)
 */
#define _GNU_SOURCE

#include <lber.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 101

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Reads every value of every entry, as a client that stores them must. */
static long read_entries(LDAP *ld, LDAPMessage *res)
{
    long entries = 0;
    for (LDAPMessage *e = ldap_first_entry(ld, res); e != NULL; e = ldap_next_entry(ld, e)) {
        BerElement *ber = NULL;
        for (char *attr = ldap_first_attribute(ld, e, &ber); attr != NULL;
             attr = ldap_next_attribute(ld, e, ber)) {
            struct berval **values = ldap_get_values_len(ld, e, attr);
            ldap_value_free_len(values);
            ldap_memfree(attr);
        }
        ber_free(ber, 0);
        entries++;
    }
    return entries;
}

/* One search, every page; returns the entries or -1. */
static long paged_search(LDAP *ld, const char *base, const char *filter, int page_size)
{
    struct berval cookie = { 0, NULL };
    long entries = 0;
    for (;;) {
        LDAPControl *page = NULL;
        if (ldap_create_page_control(ld, (ber_int_t)page_size, &cookie, 0, &page) != LDAP_SUCCESS) {
            fprintf(stderr, "ldap_floor: cannot make the paged results control\n");
            return -1;
        }
        LDAPControl *controls[] = { page, NULL };
        struct timeval timeout = { 30, 0 };
        LDAPMessage *res = NULL;
        int rc = ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, filter, NULL, 0, controls, NULL,
                                   &timeout, LDAP_NO_LIMIT, &res);
        ldap_control_free(page);
        ber_memfree(cookie.bv_val);
        cookie = (struct berval){ 0, NULL };
        if (rc != LDAP_SUCCESS) {
            fprintf(stderr, "ldap_floor: search %s: %s\n", filter, ldap_err2string(rc));
            ldap_msgfree(res);
            return -1;
        }
        entries += read_entries(ld, res);
        LDAPControl **returned = NULL;
        int err = 0;
        rc = ldap_parse_result(ld, res, &err, NULL, NULL, NULL, &returned, 1);
        if (rc != LDAP_SUCCESS || err != LDAP_SUCCESS) {
            fprintf(stderr, "ldap_floor: search %s: %s\n", filter,
                    ldap_err2string(rc != LDAP_SUCCESS ? rc : err));
            ldap_controls_free(returned);
            return -1;
        }
        LDAPControl *response = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, returned, NULL);
        ber_int_t estimate = 0;
        if (response != NULL) {
            ldap_parse_pageresponse_control(ld, response, &estimate, &cookie);
        }
        ldap_controls_free(returned);
        if (cookie.bv_len == 0) {
            ber_memfree(cookie.bv_val);
            return entries;
        }
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: ldap_floor [-r RUNS] [-n REPEATS] [-P PAGE_SIZE] URI BASE FILTER...\n");
    return 2;
}

int main(int argc, char **argv)
{
    int runs = 5, repeats = 20, page_size = 1000, opt;
    while ((opt = getopt(argc, argv, "r:n:P:")) != -1) {
        switch (opt) {
        case 'r': runs = atoi(optarg); break;
        case 'n': repeats = atoi(optarg); break;
        case 'P': page_size = atoi(optarg); break;
        default: return usage();
        }
    }
    if (argc - optind < 3 || runs < 1 || runs > MAX_RUNS || repeats < 1 || page_size < 1) {
        return usage();
    }
    const char *uri = argv[optind], *base = argv[optind + 1];
    char **filters = argv + optind + 2;
    int nfilters = argc - optind - 2;

    LDAP *ld = NULL;
    int version = LDAP_VERSION3;
    struct berval anonymous = { 0, NULL };
    struct timeval net_timeout = { 5, 0 };
    if (ldap_initialize(&ld, uri) != LDAP_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net_timeout) != LDAP_SUCCESS ||
        ldap_sasl_bind_s(ld, "", LDAP_SASL_SIMPLE, &anonymous, NULL, NULL, NULL) != LDAP_SUCCESS) {
        fprintf(stderr, "ldap_floor: cannot bind anonymously to %s\n", uri);
        return 1;
    }
    long entries = 0;
    for (int f = 0; f < nfilters; f++) { /* untimed: the connection and slapd's caches warm */
        long n = paged_search(ld, base, filters[f], page_size);
        if (n < 0) {
            return 1;
        }
        entries += n;
    }
    double values[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        double t0 = now_us();
        for (int i = 0; i < repeats; i++) {
            for (int f = 0; f < nfilters; f++) {
                if (paged_search(ld, base, filters[f], page_size) < 0) {
                    return 1;
                }
            }
        }
        values[r] = (now_us() - t0) / repeats;
    }
    ldap_unbind_ext_s(ld, NULL, NULL);
    printf("floor");
    for (int r = 0; r < runs; r++) {
        printf(" %.2f", values[r]);
    }
    printf("\nentries %ld\n", entries);
    return 0;
}
