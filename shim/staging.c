/* Staging blocks: host memory a migration copies into before the pages are put
 * in place, kept in a pool so a migration does not pay for fresh zero-filled
 * pages (several times the cost of the copy itself).
 *
 * A staging block is "full" (its pages exist, on a known node) or "empty" (a
 * mapped range with no pages). A block is registered with userfaultfd, in
 * write-protect mode only, when it is first taken as an empty one, so UFFDIO_MOVE
 * can move a block's old pages into it; it stays registered while it is full
 * or empty again (one system call per staging block, not two per migration). With UFFDIO_MOVE the pool
 * recycles pages: moving staged pages into a block (or mremap-ing them over it)
 * empties the staging block, and moving a block's pages out into an empty one
 * fills it again, on the node those pages live on. Without UFFDIO_MOVE (older
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

bool ums__stage_get_run(ums_runtime_t *rt, ums_location_t node, size_t n, ums__stage **out) {
    if (n < 2 || n > UMS_BACKEND_MANY_MAX) return false;
    size_t bs = rt->block_size;
    ums__stage *got[UMS_BACKEND_MANY_MAX];
    size_t k = 0;
    pthread_mutex_lock(&rt->stage_lock);
    /* The pool is a stack: a window's blocks come back one after the other, in
     * address order or its reverse, so a run is found at its top. */
    for (; k < n && rt->stage_full[node]; k++) {
        got[k] = rt->stage_full[node];
        rt->stage_full[node] = got[k]->next;
    }
    bool ok = k == n;
    uintptr_t base = UINTPTR_MAX;
    for (size_t j = 0; j < k; j++)
        if ((uintptr_t)got[j]->p < base) base = (uintptr_t)got[j]->p;
    uint64_t seen = 0;
    for (size_t j = 0; ok && j < k; j++) {
        uintptr_t off = (uintptr_t)got[j]->p - base;
        size_t at = off / bs;
        if (off % bs || at >= n || (seen >> at & 1)) ok = false;
        else {
            seen |= 1ull << at;
            out[at] = got[j];
        }
    }
    if (ok) {
        rt->stage_nfull[node] -= (unsigned)n;
    } else {
        for (size_t j = k; j-- > 0;) { /* back as they were */
            got[j]->next = rt->stage_full[node];
            rt->stage_full[node] = got[j];
        }
    }
    pthread_mutex_unlock(&rt->stage_lock);
    if (!ok) return false;
    for (size_t j = 0; j < n; j++) {
        out[j]->node = node;
        out[j]->next = NULL;
    }
    return true;
}

/* New empty blocks when the pool has none: one mapping of up to
 * UMS_BACKEND_MANY_MAX blocks, registered at once, cut into blocks. The first is
 * returned; the others go to the pool so that the next takes return the blocks
 * after it, in order: the pages of a window's blocks then land in consecutive
 * staging blocks, which a transfer back can fill at once (ums__stage_get_run). */
static ums__stage *new_empties(ums_runtime_t *rt) {
    size_t bs = rt->block_size;
    size_t n = empty_cap(rt);
    if (n > UMS_BACKEND_MANY_MAX) n = UMS_BACKEND_MANY_MAX;
    char *p = ums__map_staging(n * bs);
    if (!p) return NULL;
    if (!rt->fops->register_spare || rt->fops->register_spare(rt, p, n * bs) != UMS_OK) {
        munmap(p, n * bs);
        return NULL;
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
    if (made == 0) return NULL;
    for (size_t k = made; k-- > 1;) ums__stage_put_empty(rt, st[k]);
    return st[0];
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
    if (!st) return new_empties(rt);
    if (!st->registered) {
        /* a backend's block that held pages: registered on first use as a
         * UFFDIO_MOVE destination, for its life */
        if (!rt->fops->register_spare || rt->fops->register_spare(rt, st->p, rt->block_size) != UMS_OK) {
            stage_free(rt, st); /* unmaps a range of its own, frees a backend's */
            return NULL;
        }
        st->registered = true;
    }
    return st;
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
