/*
 * The port-map benchmark behind bench/net.sh: what adding and deleting one
 * port map in table inet hearth costs (net_nft_add, net_nft_del through
 * libnftables), and whether adding one costs the same with 1,000 maps
 * present as with one. Runs in a network namespace of its own
 * (unshare(CLONE_NEWNET), so as root), never in the host's.
 *
 *   net_nft [COUNT] [FILL]   COUNT timed pairs (100), FILL maps for the second
 *                            figure (1000)
 *
 * Prints one line per figure (median and 90th percentile, milliseconds of
 * CLOCK_MONOTONIC), then "RESULT key=value ...".
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/net.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p) {
    qsort(v, n, sizeof(*v), cmp);
    return v[(size_t)(p * (double)(n - 1))];
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static struct net_portmap map_of(unsigned i) {
    return (struct net_portmap){
        .host_port = (uint16_t)(10000 + i), .vm_ip = 0x0a3d0000u + 2 + i, .vm_port = 80};
}

static int die(const char *what, const struct error *err) {
    fprintf(stderr, "net_nft: %s: %s\n", what, err->msg);
    return 1;
}

/* count timed add (+del) of one more map beside those present; add times in add, pairs in pair. */
static int measure(size_t count, unsigned probe, double *add, double *pair) {
    struct error err;
    struct net_portmap m = map_of(probe);
    for (size_t i = 0; i < count; i++) {
        double t0 = now_ms();
        if (net_nft_add(&m, 1, &err) < 0)
            return die("add", &err);
        double t1 = now_ms();
        if (net_nft_del(&m, 1, &err) < 0)
            return die("del", &err);
        add[i] = t1 - t0;
        pair[i] = now_ms() - t0;
    }
    return 0;
}

int main(int argc, char **argv) {
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
    unsigned fill = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1000;
    if (count == 0 || fill < 2 || fill > 50000) {
        fprintf(stderr, "usage: net_nft [COUNT] [FILL (2-50000)]\n");
        return 2;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        perror("net_nft: unshare(CLONE_NEWNET) (run as root)");
        return 1;
    }
    struct error err;
    struct net_subnet s = {.addr = 0x0a3d0000u, .prefix = 16};
    double t0 = now_ms();
    if (net_nft_ensure("hearth0", &s, &err) < 0)
        return die("ensure", &err);
    double first_ms = now_ms() - t0;
    t0 = now_ms();
    if (net_nft_ensure("hearth0", &s, &err) < 0)
        return die("ensure", &err);
    double ensure = now_ms() - t0;

    double *add1 = calloc(count, sizeof(double)), *pair1 = calloc(count, sizeof(double));
    double *addn = calloc(count, sizeof(double)), *pairn = calloc(count, sizeof(double));
    if (!add1 || !pair1 || !addn || !pairn)
        return 1;
    struct net_portmap first = map_of(0);
    if (net_nft_add(&first, 1, &err) < 0)
        return die("add", &err);
    if (measure(count, fill, add1, pair1))
        return 1;
    for (unsigned i = 1; i < fill; i += 100) { /* fill present, 100 per batch */
        struct net_portmap batch[100];
        size_t n = 0;
        for (unsigned j = i; j < fill && n < 100; j++)
            batch[n++] = map_of(j);
        if (net_nft_add(batch, n, &err) < 0)
            return die("fill", &err);
    }
    struct net_portmap *v;
    size_t have;
    if (net_nft_list(&v, &have, &err) < 0)
        return die("list", &err);
    free(v);
    if (measure(count, fill, addn, pairn))
        return 1;
    if (net_nft_delete(&err) < 0)
        return die("delete", &err);

    printf("first ensure (loads libnftables, makes the table): %.2f ms\n", first_ms);
    printf("ensure (table present): %.2f ms\n", ensure);
    double p1 = pct(pair1, count, 0.5), p1_90 = pct(pair1, count, 0.9);
    double a1 = pct(add1, count, 0.5), an = pct(addn, count, 0.5);
    double pn = pct(pairn, count, 0.5);
    printf("add+del of one map, 1 present:      median %.2f ms, p90 %.2f ms (%zu pairs)\n", p1,
           p1_90, count);
    printf("add of one map, 1 present:          median %.2f ms\n", a1);
    printf("add of one map, %zu present:       median %.2f ms (ratio %.2f)\n", have, an, an / a1);
    printf("add+del of one map, %zu present:   median %.2f ms\n", have, pn);
    printf("RESULT pair_ms=%.3f add1_ms=%.3f add%zu_ms=%.3f ensure_ms=%.3f\n", p1, a1, have, an,
           ensure);
    free(add1);
    free(pair1);
    free(addn);
    free(pairn);
    return 0;
}
