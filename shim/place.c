/* Placement in a runtime: decisions in this machine's topology
 * (ums_placement_decide), placing existing ranges (ums_place) and placed
 * allocations (ums_alloc_placed). The decisions themselves are placement.c's.
 *
 * Data moves with the per-block migration of migrate.c, so a placement keeps
 * the runtime's protocol (readable: readers never wait). Besides the moves, the
 * managed range gets a memory policy (mbind), for two reasons:
 * - pages touched for the first time later land by the same decision. In uffd
 *   mode a first touch maps zero pages (UFFDIO_ZEROPAGE) and the write's
 *   copy-on-write allocates the page by the VMA's policy; in signal mode the
 *   kernel's own first-touch fault does;
 * - on kernels without UFFDIO_MOVE (before 6.8) a migrated block is installed
 *   with UFFDIO_COPY, which allocates the destination pages by the VMA's policy
 *   (the staging pages' node does not carry over). While a block moves, its
 *   range is bound to exactly its target node; the final policy follows.
 * A call that fails after changing policies restores the ones it found. */
#include <errno.h>
#include <hwloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "placement_internal.h"

/* Linux memory policy modes and flags (linux/mempolicy.h), spelled out so the
 * file does not depend on the kernel headers' enum. */
#define PLACE_MPOL_DEFAULT 0
#define PLACE_MPOL_PREFERRED 1
#define PLACE_MPOL_BIND 2
#define PLACE_MPOL_LOCAL 4
#define PLACE_MPOL_F_ADDR (1 << 1)

/* Node masks handed to the kernel: 1024 nodes, the most a Linux build has. */
#define MASK_WORDS 16
#define MASK_BITS (MASK_WORDS * 64)

typedef struct nodemask {
    unsigned long w[MASK_WORDS];
} nodemask;

/* ------------------------------------------------------------------------ */
/* The runtime's topology                                                   */

/* Loaded on first use without a lock: concurrent first users may both load,
 * and the loser frees its copy. A loaded topology is read-only afterwards. */
static ums_result runtime_topology(ums_runtime_t *rt, hwloc_topology_t *out) {
    void *t = atomic_load_explicit(&rt->place_topo, memory_order_acquire);
    if (!t) {
        hwloc_topology_t topo = NULL;
        ums_result r = ums__topology_load_system(&topo);
        if (r != UMS_OK) return r;
        void *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&rt->place_topo, &expected, (void *)topo, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            t = topo;
        } else {
            hwloc_topology_destroy(topo);
            t = expected;
        }
    }
    *out = t;
    return UMS_OK;
}

void ums__place_fini(ums_runtime_t *rt) {
    void *t = atomic_exchange(&rt->place_topo, NULL);
    if (t) hwloc_topology_destroy((hwloc_topology_t)t);
}

/* ------------------------------------------------------------------------ */
/* Decisions                                                                */

/* Decide `p` in rt's topology into `d`; failures are recorded for `fn`. */
static ums_result decide_in(ums_runtime_t *rt, const char *fn, const ums_placement *p, ums_placement_decision *d,
                            hwloc_topology_t *topo_out) {
    const char *bus = NULL;
    int hint = -1;
    /* Fields are read only once struct_size says they exist; the engine then
     * reports the short struct itself. */
    if (p->struct_size >= sizeof(ums_placement) && p->device != UMS_LOCATION_NONE) {
        if (p->device >= rt->nlocs)
            return ums__fail(fn, "core", UMS_ERR_UNKNOWN_LOCATION, 0, "device location %u: the runtime has %u",
                             p->device, rt->nlocs);
        const ums__location *L = &rt->locs[p->device];
        if (p->policy == UMS_PLACE_NEAR_DEVICE && !(p->pci_bus_id && p->pci_bus_id[0])) {
            if (L->info.kind == UMS_LOCATION_HOST_NODE)
                return ums__fail(fn, "core", UMS_ERR_INVALID_ARG, 0,
                                 "location %u (%s) is a host node; near-device needs a device location or a PCI "
                                 "address",
                                 p->device, L->name);
            bus = L->pci_bus_id[0] ? L->pci_bus_id : NULL;
            hint = L->info.numa_node;
        }
    }
    hwloc_topology_t topo = NULL;
    ums_result r = runtime_topology(rt, &topo);
    if (r != UMS_OK)
        return ums__fail(fn, "core", r, errno, "cannot load this machine's topology for placement (%s)",
                         ums_result_string(r));
    r = ums__placement_decide(topo, p, bus, hint, d);
    if (r != UMS_OK) return ums__fail(fn, "core", r, 0, "%s", d->reason);
    if (topo_out) *topo_out = topo;
    return UMS_OK;
}

UMS_API ums_result ums_placement_decide(ums_runtime_t *rt, const ums_placement *p, ums_placement_decision *out) {
    static const char fn[] = "ums_placement_decide";
    if (!p) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "the placement request is NULL");
    if (!out) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "out is NULL");
    ums_result r = ums__runtime_resolve(&rt, fn);
    if (r != UMS_OK) return r;
    ums_placement_decision d;
    r = decide_in(rt, fn, p, &d, NULL);
    if (r == UMS_OK) *out = d;
    return r;
}

/* ------------------------------------------------------------------------ */
/* Plans: which node each block goes to, which policy the range keeps       */

typedef enum final_kind {
    FINAL_PREFERRED, /* MPOL_PREFERRED on the chosen node */
    FINAL_BIND,      /* MPOL_BIND over the decision's nodes */
    FINAL_LOCAL,     /* MPOL_LOCAL */
    FINAL_PER_BLOCK  /* MPOL_PREFERRED on each block's own node (interleave) */
} final_kind;

typedef struct plan {
    ums_placement_decision d;
    ums_location_t locs[UMS_PLACEMENT_MAX_NODES]; /* location of each decided node */
    uint64_t set_mask;                            /* those locations, as a mask */
    unsigned chosen;                              /* index in d.nodes of the single target */
    bool interleave;                              /* blocks round-robin over d.nodes */
    bool keep_in_set;                             /* blocks already on a decided node stay there */
    final_kind final;
    bool multi_node; /* the machine has several nodes: page locations are checked */
} plan;

/* The host-node location of an OS node index, or UMS_LOCATION_NONE. */
static ums_location_t node_location(ums_runtime_t *rt, unsigned node) {
    for (unsigned i = 0; i < rt->nlocs; i++)
        if (rt->locs[i].info.kind == UMS_LOCATION_HOST_NODE && rt->locs[i].info.numa_node == (int)node) return i;
    return UMS_LOCATION_NONE;
}

/* The node the calling thread runs on, as the kernel sees it (its first-touch node). */
static int current_node(void) {
    unsigned cpu = 0, node = 0;
    if (syscall(SYS_getcpu, &cpu, &node, NULL) != 0) return -1;
    return (int)node;
}

static ums_result plan_make(ums_runtime_t *rt, const char *fn, hwloc_topology_t topo, plan *pl) {
    const ums_placement_decision *d = &pl->d;
    pl->set_mask = 0;
    for (unsigned i = 0; i < d->node_count; i++) {
        ums_location_t loc = node_location(rt, d->nodes[i]);
        if (loc == UMS_LOCATION_NONE)
            return ums__fail(fn, "core", UMS_ERR_UNKNOWN_LOCATION, 0,
                             "node %u was chosen (%s) but the runtime has no location for it", d->nodes[i],
                             d->reason);
        if (d->nodes[i] >= MASK_BITS)
            return ums__fail(fn, "core", UMS_ERR_NOT_SUPPORTED, 0, "node %u: memory policies reach node %u at most",
                             d->nodes[i], MASK_BITS - 1);
        pl->locs[i] = loc;
        pl->set_mask |= 1ull << loc;
    }
    pl->interleave = d->policy == UMS_PLACE_INTERLEAVE;
    /* LOCAL means the calling thread's node, not any node of its cpuset. */
    pl->keep_in_set = !pl->interleave && d->policy != UMS_PLACE_LOCAL && d->node_count > 1;
    pl->chosen = 0;
    if (!pl->interleave && d->node_count > 1) {
        int here = current_node();
        for (unsigned i = 0; i < d->node_count; i++)
            if (here >= 0 && d->nodes[i] == (unsigned)here) pl->chosen = i;
    }
    pl->final = pl->interleave                      ? FINAL_PER_BLOCK
                : d->policy == UMS_PLACE_BIND       ? FINAL_BIND
                : d->policy == UMS_PLACE_LOCAL      ? FINAL_LOCAL
                                                    : FINAL_PREFERRED;
    pl->multi_node = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) > 1;
    return UMS_OK;
}

/* The node index (in d.nodes) block k of the range goes to, unless it stays. */
static unsigned plan_target(const plan *pl, size_t k) {
    return pl->interleave ? (unsigned)(k % pl->d.node_count) : pl->chosen;
}

/* ------------------------------------------------------------------------ */
/* Memory policies                                                          */

static void mask_set(nodemask *m, unsigned node) { m->w[node / 64] |= 1ul << (node % 64); }

/* mbind without moving pages: only future allocations follow. */
static int set_policy(char *addr, size_t len, int mode, const nodemask *m) {
    bool empty = mode == PLACE_MPOL_DEFAULT || mode == PLACE_MPOL_LOCAL;
    return ums__sys_mbind(addr, len, mode, empty ? NULL : m->w, empty ? 0 : MASK_BITS + 1, 0) == 0 ? 0 : -1;
}

static int bind_one(char *addr, size_t len, int mode, unsigned node) {
    nodemask m;
    memset(&m, 0, sizeof m);
    mask_set(&m, node);
    return set_policy(addr, len, mode, &m);
}

/* The policy a range had before this call, per block, to restore on failure. */
typedef struct saved_policy {
    int mode; /* with its MPOL_F_* mode flags */
    nodemask mask;
} saved_policy;

static saved_policy *policies_save(ums__alloc *a, size_t first, size_t last) {
    size_t n = last - first + 1;
    saved_policy *s = ums__calloc(n, sizeof *s);
    if (!s) return NULL;
    for (size_t k = 0; k < n; k++) {
        if (syscall(SYS_get_mempolicy, &s[k].mode, s[k].mask.w, (unsigned long)MASK_BITS + 1,
                    ums__block_addr(a, first + k), (unsigned long)PLACE_MPOL_F_ADDR) != 0) {
            s[k].mode = PLACE_MPOL_DEFAULT; /* cannot be read: the default is the best guess */
            memset(&s[k].mask, 0, sizeof s[k].mask);
        }
    }
    return s;
}

/* Put the saved policies back, one mbind per run of equal ones. */
static void policies_restore(ums__alloc *a, size_t first, size_t last, const saved_policy *s) {
    size_t bs = a->rt->block_size, n = last - first + 1;
    for (size_t k = 0; k < n;) {
        size_t e = k + 1;
        while (e < n && s[e].mode == s[k].mode && memcmp(&s[e].mask, &s[k].mask, sizeof s[k].mask) == 0) e++;
        int base_mode = s[k].mode & 0xff;
        bool empty = base_mode == PLACE_MPOL_DEFAULT || base_mode == PLACE_MPOL_LOCAL;
        if (ums__sys_mbind(ums__block_addr(a, first + k), (e - k) * bs, s[k].mode, empty ? NULL : s[k].mask.w,
                           empty ? 0 : MASK_BITS + 1, 0) != 0)
            ums__log(a->rt, UMS_LOG_ERROR, "restoring the memory policy of blocks %zu-%zu: %s", first + k,
                     first + e - 1, strerror(errno));
        k = e;
    }
}

/* The policy later first touches follow, over blocks first..last. */
static int policy_final(ums__alloc *a, size_t first, size_t last, const plan *pl) {
    size_t bs = a->rt->block_size;
    char *addr = ums__block_addr(a, first);
    size_t len = (last - first + 1) * bs;
    switch (pl->final) {
    case FINAL_PER_BLOCK:
        for (size_t i = first; i <= last; i++)
            if (bind_one(ums__block_addr(a, i), bs, PLACE_MPOL_PREFERRED, pl->d.nodes[plan_target(pl, i - first)]) != 0)
                return -1;
        return 0;
    case FINAL_BIND: {
        nodemask m;
        memset(&m, 0, sizeof m);
        for (unsigned i = 0; i < pl->d.node_count; i++) mask_set(&m, pl->d.nodes[i]);
        return set_policy(addr, len, PLACE_MPOL_BIND, &m);
    }
    case FINAL_LOCAL:
        return set_policy(addr, len, PLACE_MPOL_LOCAL, NULL);
    case FINAL_PREFERRED:
        return bind_one(addr, len, PLACE_MPOL_PREFERRED, pl->d.nodes[pl->chosen]);
    }
    return -1;
}

/* A machine with one node and a kernel (or sandbox) refusing memory policies
 * has nothing to place: that is not worth failing for. */
static bool policy_refusal_harmless(const plan *pl, int e) {
    return !pl->multi_node && (e == ENOSYS || e == EPERM);
}

/* ------------------------------------------------------------------------ */
/* Where a block's pages really are                                         */

typedef struct page_query {
    size_t npages;
    void **pages;
    int *status;
} page_query;

static int page_query_init(page_query *q, ums_runtime_t *rt) {
    q->npages = rt->block_size / rt->page_size;
    q->pages = ums__calloc(q->npages, sizeof *q->pages);
    q->status = ums__calloc(q->npages, sizeof *q->status);
    return q->pages && q->status ? 0 : -1;
}

static void page_query_fini(page_query *q) {
    free(q->pages);
    free(q->status);
}

/* Where block i's pages are: the node they are all on (>= 0); -1 when they
 * are on several nodes (*stray: one of them that is not `target`); -2 when no
 * page has a node (none mapped, or only the shared zero page); -3 when the
 * kernel cannot say. */
static int block_pages_node(ums__alloc *a, size_t i, page_query *q, unsigned target, int *stray) {
    char *base = ums__block_addr(a, i);
    for (size_t k = 0; k < q->npages; k++) q->pages[k] = base + k * a->rt->page_size;
    if (syscall(SYS_move_pages, 0, (unsigned long)q->npages, q->pages, NULL, q->status, 0) != 0) return -3;
    int one = -2;
    *stray = -1;
    for (size_t k = 0; k < q->npages; k++) {
        int s = q->status[k];
        if (s < 0) continue;
        if ((unsigned)s != target && *stray < 0) *stray = s;
        if (one == -2) one = s;
        else if (one != s) one = -1;
    }
    return one;
}

/* Before moving block i to `*loc` (node `*node`): make the block's recorded
 * host node true (first touch, or an older kernel's UFFDIO_COPY, may have put
 * the pages elsewhere than the block's bookkeeping says), so the migration
 * moves what needs moving; a block already on a decided node may stay there
 * (keep_in_set: *loc and *node change). Returns true when the block needs no
 * move at all: its host copy has no page yet, so recording the node (the
 * caller's job, once the policies are in place) is the whole move; first touch
 * will follow the range's policy. */
static bool block_prepare(ums__alloc *a, size_t i, const plan *pl, page_query *q, ums_location_t *loc,
                          unsigned *node) {
    ums_runtime_t *rt = a->rt;
    ums__block *b = &a->blocks[i];
    bool done = false, mixed = false;
    pthread_mutex_lock(&b->lock);
    ums__block_wait_stable(b);
    bool host_only = atomic_load(&b->state) == UMS_BLOCK_HOST && b->host_valid;
    if (host_only && rt->fault_mode == UMS_FAULT_UFFD && !b->populated) {
        done = true;
    } else if (host_only && pl->multi_node) {
        int stray = -1;
        int where = block_pages_node(a, i, q, *node, &stray);
        ums_location_t wloc = where >= 0 ? node_location(rt, (unsigned)where) : UMS_LOCATION_NONE;
        if (where == -2) {
            done = true;
        } else if (wloc != UMS_LOCATION_NONE) {
            b->host_loc = wloc;
        } else if (where == -1 && stray >= 0) {
            mixed = true;
            ums_location_t sloc = node_location(rt, (unsigned)stray);
            if (sloc != UMS_LOCATION_NONE && b->host_loc == *loc) b->host_loc = sloc;
        }
    }
    if (host_only && !done && !mixed && pl->keep_in_set && (pl->set_mask & (1ull << b->host_loc))) {
        /* already on one of the decided nodes: it stays */
        *loc = b->host_loc;
        *node = (unsigned)rt->locs[b->host_loc].info.numa_node;
    }
    pthread_mutex_unlock(&b->lock);
    return done;
}

/* ------------------------------------------------------------------------ */
/* ums_place                                                                */

UMS_API ums_result ums_place(void *ptr, size_t len, const ums_placement *p, ums_placement_decision *out) {
    static const char fn[] = "ums_place";
    if (!p) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "the placement request is NULL");
    ums__alloc *a;
    ums_result r = ums__alloc_get(ptr, len, fn, &a);
    if (r != UMS_OK) return r;
    ums_runtime_t *rt = a->rt;
    size_t first = ums__block_index(a, ptr), last = ums__block_index(a, (const char *)ptr + len - 1);
    size_t bs = rt->block_size;

    plan pl;
    memset(&pl, 0, sizeof pl);
    hwloc_topology_t topo = NULL;
    r = decide_in(rt, fn, p, &pl.d, &topo);
    if (r == UMS_OK) r = plan_make(rt, fn, topo, &pl);
    if (r != UMS_OK) {
        ums__alloc_put(a);
        return r;
    }

    page_query q;
    memset(&q, 0, sizeof q);
    saved_policy *saved = policies_save(a, first, last);
    if (!saved || (pl.multi_node && page_query_init(&q, rt) != 0)) {
        free(saved);
        page_query_fini(&q);
        ums__alloc_put(a);
        return ums__fail(fn, "core", UMS_ERR_NO_MEMORY, ENOMEM, "out of memory for %zu blocks", last - first + 1);
    }

    /* Pass 1: where each block goes, and bind it there while it moves (see
     * the top of the file); a policy failure here leaves every block where it
     * was. Pass 2: the moves. */
    size_t nb = last - first + 1;
    typedef struct block_plan {
        ums_location_t loc;
        unsigned node;
        bool done;
    } block_plan;
    block_plan *bp = ums__calloc(nb, sizeof *bp);
    if (!bp) r = ums__fail(fn, "core", UMS_ERR_NO_MEMORY, ENOMEM, "out of memory for %zu blocks", nb);
    bool policies = true; /* false once the kernel refused them harmlessly */
    for (size_t k = 0; k < nb && r == UMS_OK; k++) {
        unsigned t = plan_target(&pl, k);
        bp[k].loc = pl.locs[t];
        bp[k].node = pl.d.nodes[t];
        bp[k].done = block_prepare(a, first + k, &pl, &q, &bp[k].loc, &bp[k].node);
    }
    for (size_t k = 0; k < nb && r == UMS_OK && policies;) {
        size_t e = k + 1; /* one mbind per run of blocks bound to the same node */
        while (e < nb && bp[e].node == bp[k].node) e++;
        if (bind_one(ums__block_addr(a, first + k), (e - k) * bs, PLACE_MPOL_BIND, bp[k].node) != 0) {
            int err_no = errno;
            if (policy_refusal_harmless(&pl, err_no))
                policies = false;
            else
                r = ums__fail(fn, "core", UMS_ERR_SYSTEM, err_no, "mbind of blocks %zu-%zu to node %u: %s", first + k,
                              first + e - 1, bp[k].node, strerror(err_no));
        }
        k = e;
    }
    ums_migrate_report rep;
    memset(&rep, 0, sizeof rep);
    ums_error_info err;
    memset(&err, 0, sizeof err);
    for (size_t k = 0; k < nb && r == UMS_OK; k++) {
        size_t i = first + k;
        if (bp[k].done) {
            /* no page yet: recording the node is the whole move */
            ums__block *b = &a->blocks[i];
            pthread_mutex_lock(&b->lock);
            ums__block_wait_stable(b);
            if (atomic_load(&b->state) == UMS_BLOCK_HOST && b->host_valid) b->host_loc = bp[k].loc;
            pthread_mutex_unlock(&b->lock);
            rep.blocks_already++;
            rep.blocks_total++;
            continue;
        }
        ums_result rr = ums__migrate_range(a, i, i, bp[k].loc, UMS_MOVE_EXCLUSIVE, &rep);
        if (rr != UMS_OK && err.code == UMS_OK) err = *ums_last_error();
    }
    free(bp);
    if (r == UMS_OK && err.code != UMS_OK) {
        r = err.code;
        ums__fail(fn, err.backend ? err.backend : "core", r, err.native,
                  "%zu of %zu blocks could not move to node(s) chosen by %s: %s", rep.blocks_failed,
                  last - first + 1, ums_placement_policy_name(pl.d.policy), err.message);
    }
    if (r == UMS_OK && policies && policy_final(a, first, last, &pl) != 0) {
        int e = errno;
        r = ums__fail(fn, "core", UMS_ERR_SYSTEM, e, "setting the %s memory policy of the range: %s",
                      ums_placement_policy_name(pl.d.policy), strerror(e));
    }
    if (r != UMS_OK && policies) {
        ums_error_info keep = *ums_last_error();
        policies_restore(a, first, last, saved);
        *(ums_error_info *)ums_last_error() = keep;
    }
    free(saved);
    page_query_fini(&q);
    ums__alloc_put(a);
    if (r == UMS_OK && out) *out = pl.d;
    return r;
}

/* ------------------------------------------------------------------------ */
/* ums_alloc_placed                                                         */

UMS_API ums_result ums_alloc_placed(ums_runtime_t *rt, size_t size, unsigned flags, const ums_placement *p,
                                    ums_placement_decision *out, void **ptr) {
    static const char fn[] = "ums_alloc_placed";
    if (!ptr) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "ptr is NULL");
    if (!p) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "the placement request is NULL");
    if (size == 0) return ums__fail(fn, "core", UMS_ERR_BAD_SIZE, 0, "size is 0");
    if (flags & ~(unsigned)UMS_ALLOC_FLAGS_ALL)
        return ums__fail(fn, "core", UMS_ERR_UNKNOWN_FLAG, 0, "unknown flag bits 0x%x",
                         flags & ~(unsigned)UMS_ALLOC_FLAGS_ALL);
    ums_result r = ums__runtime_resolve(&rt, fn);
    if (r != UMS_OK) return r;

    plan pl;
    memset(&pl, 0, sizeof pl);
    hwloc_topology_t topo = NULL;
    r = decide_in(rt, fn, p, &pl.d, &topo);
    if (r == UMS_OK) r = plan_make(rt, fn, topo, &pl);
    if (r != UMS_OK) return r;

    /* Populating waits until the policy is in place. */
    void *base = NULL;
    r = ums_runtime_alloc(rt, size, flags & ~(unsigned)UMS_ALLOC_POPULATE, &base);
    if (r != UMS_OK) {
        ((ums_error_info *)ums_last_error())->function = fn;
        return r;
    }
    ums__alloc *a;
    r = ums__alloc_get(base, size, fn, &a);
    if (r != UMS_OK) { /* cannot happen: the allocation is ours alone */
        ums_error_info keep = *ums_last_error();
        ums_free(base);
        *(ums_error_info *)ums_last_error() = keep;
        return r;
    }
    if (policy_final(a, 0, a->nblocks - 1, &pl) != 0) {
        int e = errno;
        if (!policy_refusal_harmless(&pl, e))
            r = ums__fail(fn, "core", UMS_ERR_SYSTEM, e, "setting the %s memory policy of %zu bytes: %s",
                          ums_placement_policy_name(pl.d.policy), a->map_size, strerror(e));
    }
    for (size_t i = 0; i < a->nblocks && r == UMS_OK; i++) {
        ums__block *b = &a->blocks[i];
        pthread_mutex_lock(&b->lock);
        b->host_loc = pl.locs[plan_target(&pl, i)];
        if (flags & UMS_ALLOC_POPULATE) {
            r = rt->fops->populate(rt, ums__block_addr(a, i), rt->block_size);
            b->populated = r == UMS_OK;
        }
        pthread_mutex_unlock(&b->lock);
        if (r != UMS_OK) ((ums_error_info *)ums_last_error())->function = fn;
    }
    ums__alloc_put(a);
    if (r != UMS_OK) {
        ums_error_info keep = *ums_last_error();
        ums_free(base);
        *(ums_error_info *)ums_last_error() = keep;
        return r;
    }
    if (out) *out = pl.d;
    *ptr = base;
    return UMS_OK;
}
