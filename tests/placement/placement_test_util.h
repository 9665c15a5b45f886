/* Helpers shared by the placement tests: build requests, decide on a topology,
 * check the chosen nodes and the explanation. */
#ifndef UMS_PLACEMENT_TEST_UTIL_H
#define UMS_PLACEMENT_TEST_UTIL_H

#include <hwloc.h>

#include "placement_internal.h"
#include "test.h"

#define ASSERT_CONTAINS(hay, needle)                                                                    \
    do {                                                                                                \
        const char *h_ = (hay), *n_ = (needle);                                                         \
        if (!h_ || !strstr(h_, n_)) FAIL_("expected \"%s\" to contain \"%s\"", h_ ? h_ : "(null)", n_); \
    } while (0)

/* The decision must name exactly `n` nodes, equal to `expected`. */
static inline void check_nodes_(const char *file, int line, const ums_placement_decision *d, const unsigned *expected,
                                unsigned n) {
    int ok = d->node_count == n;
    for (unsigned i = 0; ok && i < n; i++) ok = d->nodes[i] == expected[i];
    if (!ok) {
        fprintf(stderr, "%s:%d: expected %u node(s) {", file, line, n);
        for (unsigned i = 0; i < n; i++) fprintf(stderr, "%s%u", i ? "," : "", expected[i]);
        fprintf(stderr, "}, got %u {", d->node_count);
        for (unsigned i = 0; i < d->node_count && i < UMS_PLACEMENT_MAX_NODES; i++)
            fprintf(stderr, "%s%u", i ? "," : "", d->nodes[i]);
        fprintf(stderr, "} (basis %s, reason: %s)\n", ums_placement_basis_name(d->basis), d->reason);
        exit(1);
    }
}
#define CHECK_NODES(d, ...)                                                                    \
    do {                                                                                       \
        const unsigned exp_[] = {__VA_ARGS__};                                                 \
        check_nodes_(__FILE__, __LINE__, (d), exp_, (unsigned)(sizeof exp_ / sizeof exp_[0])); \
    } while (0)

#define CHECK_BASIS(d, b)                                                                \
    do {                                                                                 \
        if ((d)->basis != (b))                                                           \
            FAIL_("expected basis %s, got %s (reason: %s)", ums_placement_basis_name(b), \
                  ums_placement_basis_name((d)->basis), (d)->reason);                    \
    } while (0)

/* A request for `policy` from the CPUs listed (OS indexes); none = default cpuset. */
static inline ums_placement request_(ums_placement_policy policy, const unsigned *cpus, size_t ncpus) {
    ums_placement p;
    if (ums_placement_init(&p, policy) != UMS_OK) FAIL_("ums_placement_init failed");
    p.cpus = ncpus ? cpus : NULL;
    p.cpu_count = ncpus;
    return p;
}

/* Decide `policy` from the listed CPUs on `topo`; the call must succeed. */
#define DECIDE(topo, d, policy, ...)                                                  \
    do {                                                                              \
        const unsigned cpus_[] = {__VA_ARGS__};                                       \
        ums_placement p_ = request_((policy), cpus_, sizeof cpus_ / sizeof cpus_[0]); \
        ASSERT_OK(ums__placement_decide((topo), &p_, NULL, -1, (d)));                 \
    } while (0)

/* Decide `policy` with the default cpuset. */
#define DECIDE_DEFAULT(topo, d, policy)                               \
    do {                                                              \
        ums_placement p_ = request_((policy), NULL, 0);               \
        ASSERT_OK(ums__placement_decide((topo), &p_, NULL, -1, (d))); \
    } while (0)

/* Load a synthetic topology; exits with a message on failure. */
static inline hwloc_topology_t synthetic_(const char *desc) {
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0) FAIL_("hwloc_topology_init failed");
    if (hwloc_topology_set_synthetic(t, desc) != 0) FAIL_("bad synthetic description \"%s\"", desc);
    if (hwloc_topology_load(t) != 0) FAIL_("cannot load synthetic \"%s\"", desc);
    return t;
}

#endif
