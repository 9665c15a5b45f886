/* Helpers for the tests that run in the multi-NUMA guest (tests/vm): the NUMA
 * system calls (raw, no libnuma), thread pinning, where a range's pages are,
 * the guest's expected HMAT values, and runtimes in a given fault mode. */
#ifndef UMS_NUMA_UTIL_H
#define UMS_NUMA_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define NU_MAX_NODES 64
#define NU_MPOL_DEFAULT 0
#define NU_MPOL_PREFERRED 1
#define NU_MPOL_BIND 2
#define NU_MPOL_INTERLEAVE 3
#define NU_MPOL_LOCAL 4
#define NU_MPOL_F_NODE (1 << 0)
#define NU_MPOL_F_ADDR (1 << 1)
#define NU_MPOL_MF_MOVE (1 << 1)

static inline long nu_mbind(void *addr, size_t len, int mode, const unsigned long *mask, unsigned long maxnode,
                            unsigned flags) {
    return syscall(SYS_mbind, addr, len, mode, mask, maxnode, flags);
}
static inline long nu_move_pages(unsigned long count, void **pages, const int *nodes, int *status, int flags) {
    return syscall(SYS_move_pages, 0, count, pages, nodes, status, flags);
}
static inline long nu_get_mempolicy(int *mode, unsigned long *mask, unsigned long maxnode, void *addr,
                                    unsigned long flags) {
    return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

static inline uint64_t nu_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Pin the calling thread to one CPU. */
static inline void nu_pin(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) FAIL_("pinning to CPU %u: %s", cpu, strerror(errno));
}

static inline int nu_env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

/* The node each page of [p, p+len) is on (negative: not present, or the zero
 * page); counts[n] gets the number of pages on node n, *absent the others. */
static inline void nu_page_nodes(void *p, size_t len, unsigned counts[NU_MAX_NODES], unsigned *absent) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), n = len / ps;
    void **pages = calloc(n, sizeof *pages);
    int *status = calloc(n, sizeof *status);
    if (!pages || !status) FAIL_("out of memory");
    for (size_t i = 0; i < n; i++) pages[i] = (char *)p + i * ps;
    if (nu_move_pages(n, pages, NULL, status, 0) != 0) FAIL_("move_pages query: %s", strerror(errno));
    memset(counts, 0, NU_MAX_NODES * sizeof counts[0]);
    *absent = 0;
    for (size_t i = 0; i < n; i++) {
        if (status[i] >= 0 && status[i] < NU_MAX_NODES) counts[status[i]]++;
        else (*absent)++;
    }
    free(pages);
    free(status);
}

/* Every page of the range is present and on `node`; prints and fails otherwise. */
static inline void nu_expect_all_on(const char *what, void *p, size_t len, unsigned node) {
    unsigned counts[NU_MAX_NODES], absent;
    nu_page_nodes(p, len, counts, &absent);
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    if (counts[node] != len / ps) {
        fprintf(stderr, "%s: expected all %zu pages on node %u; got", what, len / ps, node);
        for (unsigned n = 0; n < NU_MAX_NODES; n++)
            if (counts[n]) fprintf(stderr, " node%u=%u", n, counts[n]);
        fprintf(stderr, " absent=%u\n", absent);
        exit(1);
    }
}

/* The memory policy at addr: mode (without flags) and node mask (first word). */
static inline int nu_policy(void *addr, unsigned long *mask0) {
    int mode = -1;
    unsigned long mask[16] = {0};
    if (nu_get_mempolicy(&mode, mask, 16 * 64 + 1, addr, NU_MPOL_F_ADDR) != 0)
        FAIL_("get_mempolicy(MPOL_F_ADDR): %s", strerror(errno));
    *mask0 = mask[0];
    return mode & 0xff;
}

/* The node get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) reports for the page at addr. */
static inline int nu_page_node(void *addr) {
    int node = -1;
    if (nu_get_mempolicy(&node, NULL, 0, addr, NU_MPOL_F_NODE | NU_MPOL_F_ADDR) != 0)
        FAIL_("get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR): %s", strerror(errno));
    return node;
}

static inline void nu_expect_policy(const char *what, void *addr, int mode, unsigned long mask0) {
    unsigned long m = 0;
    int got = nu_policy(addr, &m);
    bool has_mask = mode != NU_MPOL_DEFAULT && mode != NU_MPOL_LOCAL;
    if (got != mode || (has_mask && m != mask0))
        FAIL_("%s: policy mode %d mask %#lx, expected mode %d mask %#lx", what, got, m, mode, has_mask ? mask0 : 0ul);
}

/* The expected HMAT values (UMS_VM_HMAT "node:latency:bandwidth,..."). */
typedef struct nu_hmat {
    int known;
    uint64_t latency, bandwidth;
} nu_hmat;

static inline int nu_hmat_parse(nu_hmat out[NU_MAX_NODES]) {
    memset(out, 0, NU_MAX_NODES * sizeof out[0]);
    const char *p = getenv("UMS_VM_HMAT");
    if (!p || !*p) return -1;
    while (*p) {
        char *end;
        unsigned long node = strtoul(p, &end, 10);
        if (end == p || *end != ':' || node >= NU_MAX_NODES) return -1;
        out[node].latency = strtoull(end + 1, &end, 10);
        if (*end != ':') return -1;
        out[node].bandwidth = strtoull(end + 1, &end, 10);
        out[node].known = 1;
        if (*end != ',' && *end != '\0') return -1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* Kernel release at least major.minor? */
static inline int nu_kernel_at_least(int major, int minor) {
    struct utsname u;
    int a = 0, b = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &a, &b) != 2) return 0;
    return a > major || (a == major && b >= minor);
}

/* A runtime in the given fault mode (no OpenCL: the guest has none). */
static inline ums_runtime_t *nu_runtime(ums_fault_mode mode, ums_protocol protocol) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.fault_mode = mode;
    cfg.protocol = protocol;
    cfg.opencl = 0;
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    if (ums_runtime_fault_mode(rt) != mode) FAIL_("asked for fault mode %s, got %s", ums_fault_mode_name(mode),
                                                  ums_fault_mode_name(ums_runtime_fault_mode(rt)));
    return rt;
}

static inline ums_location_t nu_node_loc(ums_runtime_t *rt, unsigned node) {
    char name[32];
    snprintf(name, sizeof name, "node%u", node);
    ums_location_t loc;
    ASSERT_OK(ums_location_find(rt, name, &loc));
    return loc;
}

/* Skip unless this is the multi-node guest. Returns the node count. */
static inline int nu_require_guest(void) {
    if (!getenv("UMS_VM")) SKIP("runs in the multi-NUMA guest (tests/vm/vm.sh); UMS_VM is not set");
    int nodes = nu_env_int("UMS_VM_NODES", 0);
    if (nodes < 2) SKIP("UMS_VM_NODES=%d: needs at least 2 NUMA nodes", nodes);
    return nodes;
}

#endif
