/* Staging blocks: host memory a migration copies into before the pages are put
 * in place, kept in a pool so a migration does not pay for fresh zero-filled
 * pages (several times the cost of the copy itself).
 *
 * A staging block is "full" (its pages exist, on a known node) or "empty" (a
 * mapped range with no pages). A block is registered with userfaultfd, in
 * write-protect mode only, when it is first taken as an empty one, so UFFDIO_MOVE
 * can move a block's old pages into it; it stays registered while it is full
 * or empty again (one system call per staging block, not two per migration).
 * With UFFDIO_MOVE the pool recycles pages: moving staged pages into a block (or
 * mremap-ing them over it) empties the staging block, and moving a block's pages
 * out into an empty one fills it again, on the node those pages live on. Without UFFDIO_MOVE (older
 * kernels, signal mode) full blocks are only reused when an install copied
 * rather than moved them. How many are kept: pool_cap, empty_cap. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* How many full blocks a host node's pool keeps: the configured budget, else
 * 1/16 of the node's memory, at most 1 GiB (64 MiB when the size is unknown). */
static unsigned pool_cap(const ums_runtime_t *rt, ums_location_t node) {
    size_t budget = rt->cfg.staging_pool;
    if (!budget) {
        uint64_t cap = node < rt->nlocs ? rt->locs[node].info.capacity : 0;
        budget = cap ? (size_t)(cap / 16) : (size_t)64 << 20;
        if (budget > ((size_t)1 << 30)) budget = (size_t)1 << 30;
    }
    size_t n = budget / rt->block_size;
    return n > 65536 ? 65536 : (unsigned)n;
}

/* Empty blocks cost address space only; as many as the largest node keeps full. */
static unsigned empty_cap(const ums_runtime_t *rt) {
    unsigned m = 16;
    for (ums_location_t i = 0; i < rt->nlocs; i++)
        if (ums__loc_is_host((ums_runtime_t *)rt, i) && pool_cap(rt, i) > m) m = pool_cap(rt, i);
    return m;
}

struct ums__stage {
    struct ums__stage *next;
    void *p;
    ums_devmem *mem;      /* the backend allocation that owns the address range (NULL: our own mapping) */
    ums_location_t owner; /* ... and its location, to free it */
    ums_location_t node;  /* where its pages are, when full */
    bool registered;      /* registered with userfaultfd (a UFFDIO_MOVE destination) */
};

static void stage_free(ums_runtime_t *rt, ums__stage *st) {
    if (st->registered) rt->fops->unregister_range(rt, st->p, rt->block_size);
    if (st->mem) ums__be_mem_free(rt, st->owner, st->mem, rt->block_size);
    else munmap(st->p, rt->block_size);
    free(st);
}

ums_result ums__stage_get(ums_runtime_t *rt, ums_location_t node, ums__stage **out) {
    pthread_mutex_lock(&rt->stage_lock);
    ums__stage *st = rt->stage_full[node];
    if (st) {
        rt->stage_full[node] = st->next;
        rt->stage_nfull[node]--;
    }
    pthread_mutex_unlock(&rt->stage_lock);
    if (!st) {
        st = ums__calloc(1, sizeof *st);
        if (!st) return ums__fail("staging", "core", UMS_ERR_NO_MEMORY, ENOMEM, "out of memory");
        ums_result r = ums__be_mem_alloc(rt, node, rt->block_size, &st->mem);
        if (r != UMS_OK) {
            free(st);
            return r;
        }
        st->p = ums__be_host_ptr(rt, node, st->mem);
        st->owner = node;
    }
    st->node = node;
    st->next = NULL;
    *out = st;
    return UMS_OK;
}

void *ums__stage_ptr(const ums__stage *st) { return st->p; }

void ums__stage_discard(ums_runtime_t *rt, ums__stage *st) {
    if (st) stage_free(rt, st);
}

ums_result ums__stage_copy_to(ums_runtime_t *rt, ums__stage *st, const void *src, size_t len) {
    if (!st->mem) { /* our own mapping */
        ums__copy_bulk(st->p, src, len);
        return UMS_OK;
    }
    return ums__be_copy_to(rt, st->owner, st->mem, src, len);
}

void ums__stage_put_full(ums_runtime_t *rt, ums__stage *st, ums_location_t node) {
    if (!st) return;
    /* A registered block stays registered: it is a move destination only
     * (register_spare), so copies may touch it, even on the fault thread. */
    pthread_mutex_lock(&rt->stage_lock);
    bool keep = rt->stage_nfull[node] < pool_cap(rt, node) && !rt->stage_closed;
    if (keep) {
        st->node = node;
        st->next = rt->stage_full[node];
        rt->stage_full[node] = st;
        rt->stage_nfull[node]++;
    }
    pthread_mutex_unlock(&rt->stage_lock);
    if (!keep) stage_free(rt, st);
}

void ums__stage_put_empty(ums_runtime_t *rt, ums__stage *st) {
    if (!st) return;
    bool keep = rt->fault_mode == UMS_FAULT_UFFD && rt->uffd_move;
    pthread_mutex_lock(&rt->stage_lock);
    keep = keep && rt->stage_nempty < empty_cap(rt) && !rt->stage_closed;
    if (keep) {
        st->next = rt->stage_empty;
        rt->stage_empty = st;
        rt->stage_nempty++;
    }
    pthread_mutex_unlock(&rt->stage_lock);
    if (!keep) stage_free(rt, st);
}

/* Whether an empty block is a UFFDIO_MOVE destination: a backend's block that
 * held pages is registered on its first use as one, for its life. */
static bool registered_spare(ums_runtime_t *rt, ums__stage *st) {
    if (!st->registered)
        st->registered = rt->fops->register_spare && rt->fops->register_spare(rt, st->p, rt->block_size) == UMS_OK;
    return st->registered;
}

/* How far down a pool a run of consecutive blocks is looked for. */
#define RUN_SEARCH (4 * UMS_BACKEND_MANY_MAX)

static int by_address(const void *x, const void *y) {
    uintptr_t a = (uintptr_t)(*(ums__stage *const *)x)->p, b = (uintptr_t)(*(ums__stage *const *)y)->p;
    return a < b ? -1 : a > b;
}

/* Take n stages at consecutive addresses (bs apart) off the top RUN_SEARCH of a
 * pool list, into out[0..n) in address order; the others keep their order.
 * Caller holds stage_lock. */
static bool take_run(ums__stage **list, size_t n, size_t bs, ums__stage **out) {
    ums__stage *top[RUN_SEARCH], *sorted[RUN_SEARCH];
    size_t m = 0;
    for (ums__stage *st = *list; st && m < RUN_SEARCH; st = st->next) top[m++] = st;
    if (m < n) return false;
    memcpy(sorted, top, m * sizeof *top);
    qsort(sorted, m, sizeof *sorted, by_address);
    size_t at = m;
    for (size_t j = 0; j + n <= m && at == m; j++)
        if ((uintptr_t)sorted[j + n - 1]->p - (uintptr_t)sorted[j]->p == (n - 1) * bs) at = j;
    if (at == m) return false; /* (distinct addresses: the span is exactly n blocks) */
    uintptr_t lo = (uintptr_t)sorted[at]->p, hi = (uintptr_t)sorted[at + n - 1]->p;
    ums__stage *rest = top[m - 1]->next, **link = list;
    for (size_t j = 0; j < m; j++) {
        uintptr_t p = (uintptr_t)top[j]->p;
        if (p >= lo && p <= hi) continue;
        *link = top[j];
        link = &top[j]->next;
    }
    *link = rest;
    for (size_t j = 0; j < n; j++) {
        out[j] = sorted[at + j];
        out[j]->next = NULL;
    }
    return true;
}

bool ums__stage_get_run(ums_runtime_t *rt, ums_location_t node, size_t n, ums__stage **out) {
    if (n < 2 || n > UMS_BACKEND_MANY_MAX) return false;
    pthread_mutex_lock(&rt->stage_lock);
    bool ok = take_run(&rt->stage_full[node], n, rt->block_size, out);
    if (ok) rt->stage_nfull[node] -= (unsigned)n;
    pthread_mutex_unlock(&rt->stage_lock);
    for (size_t j = 0; ok && j < n; j++) out[j]->node = node;
    return ok;
}

/* New empty blocks: one mapping of `n` blocks, registered at once, cut into
 * blocks, the first `want` of which go to out[] (the others to the pool). */
static size_t new_empties(ums_runtime_t *rt, size_t n, size_t want, ums__stage **out) {
    size_t bs = rt->block_size;
    char *p = ums__map_staging(n * bs);
    if (!p) return 0;
    if (!rt->fops->register_spare || rt->fops->register_spare(rt, p, n * bs) != UMS_OK) {
        munmap(p, n * bs);
        return 0;
    }
    ums__stage *st[UMS_BACKEND_MANY_MAX];
    size_t made = 0;
    for (; made < n; made++) {
        st[made] = ums__calloc(1, sizeof **st);
        if (!st[made]) break;
        *st[made] = (ums__stage){.p = p + made * bs, .owner = UMS_LOCATION_NONE, .registered = true};
    }
    if (made < n) { /* the blocks without a record go */
        rt->fops->unregister_range(rt, p + made * bs, (n - made) * bs);
        munmap(p + made * bs, (n - made) * bs);
    }
    size_t given = made < want ? made : want;
    for (size_t k = 0; k < given; k++) out[k] = st[k];
    for (size_t k = made; k-- > given;) ums__stage_put_empty(rt, st[k]);
    return given;
}

/* Blocks a new mapping of empty ones holds: a window's worth, so that the next
 * windows' pages land in consecutive blocks too. */
static size_t empties_per_map(const ums_runtime_t *rt, size_t want) {
    size_t n = empty_cap(rt);
    if (n > UMS_BACKEND_MANY_MAX) n = UMS_BACKEND_MANY_MAX;
    return n < want ? want : n;
}

bool ums__stage_take_empty_run(ums_runtime_t *rt, size_t n, ums__stage **out) {
    if (rt->fault_mode != UMS_FAULT_UFFD || !rt->uffd_move || n < 2 || n > UMS_BACKEND_MANY_MAX) return false;
    pthread_mutex_lock(&rt->stage_lock);
    bool ok = take_run(&rt->stage_empty, n, rt->block_size, out);
    if (ok) rt->stage_nempty -= (unsigned)n;
    pthread_mutex_unlock(&rt->stage_lock);
    if (!ok) {
        size_t got = new_empties(rt, empties_per_map(rt, n), n, out);
        if (got == n) return true;
        for (size_t k = 0; k < got; k++) ums__stage_put_empty(rt, out[k]);
        return false;
    }
    for (size_t j = 0; j < n; j++) {
        if (registered_spare(rt, out[j])) continue;
        for (size_t k = 0; k < n; k++) {
            if (k == j) stage_free(rt, out[k]);
            else ums__stage_put_empty(rt, out[k]);
        }
        return false;
    }
    return true;
}

ums__stage *ums__stage_take_empty(ums_runtime_t *rt) {
    if (rt->fault_mode != UMS_FAULT_UFFD || !rt->uffd_move) return NULL;
    pthread_mutex_lock(&rt->stage_lock);
    ums__stage *st = rt->stage_empty;
    if (st) {
        rt->stage_empty = st->next;
        rt->stage_nempty--;
    }
    pthread_mutex_unlock(&rt->stage_lock);
    if (!st) return new_empties(rt, empties_per_map(rt, 1), 1, &st) ? st : NULL;
    if (registered_spare(rt, st)) return st;
    stage_free(rt, st); /* unmaps a range of its own, frees a backend's */
    return NULL;
}

void ums__stage_pool_fini(ums_runtime_t *rt) {
    pthread_mutex_lock(&rt->stage_lock);
    rt->stage_closed = true;
    ums__stage *lists[UMS_MAX_LOCATIONS + 1];
    unsigned n = 0;
    for (unsigned i = 0; i < UMS_MAX_LOCATIONS; i++) {
        if (rt->stage_full[i]) lists[n++] = rt->stage_full[i];
        rt->stage_full[i] = NULL;
        rt->stage_nfull[i] = 0;
    }
    if (rt->stage_empty) lists[n++] = rt->stage_empty;
    rt->stage_empty = NULL;
    rt->stage_nempty = 0;
    pthread_mutex_unlock(&rt->stage_lock);
    for (unsigned k = 0; k < n; k++)
        for (ums__stage *st = lists[k], *next; st; st = next) {
            next = st->next;
            stage_free(rt, st);
        }
}
