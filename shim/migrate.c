/* Migration as a transaction per block: prepare (allocate the destination) →
 * copy → commit (atomic switch, wake waiters) or abort (destination freed,
 * source untouched, waiters woken). Two protocols share every step:
 *  - readable: the source is write-protected and stays readable during the copy;
 *  - blocking: the source is saved and dropped first, so every access waits for
 *    the whole copy, as under the kernel's own page migration (the baseline).
 * The device fetch and SHARED invalidation used by the fault path live here too. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

void ums__block_wait_stable(ums__block *b) {
    while (atomic_load(&b->state) == UMS_BLOCK_MIGRATING) pthread_cond_wait(&b->cond, &b->lock);
}

/* Pages that UFFDIO_COPY installs are allocated by the range's memory policy, not
 * where the staged pages live; bind the block to its new node first. (UFFDIO_MOVE
 * and mremap carry the staged pages themselves; binding is harmless there.) */
static void bind_block_to(ums_runtime_t *rt, char *addr, ums_location_t node) {
    if (rt->fault_mode != UMS_FAULT_UFFD || rt->numa_nodes < 2) return;
    int os = rt->locs[node].info.numa_node;
    if (os < 0 || os >= 1024) return;
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    mask[(unsigned)os / (8 * sizeof(unsigned long))] = 1ul << ((unsigned)os % (8 * sizeof(unsigned long)));
    if (ums__sys_mbind(addr, rt->block_size, 2 /* MPOL_BIND */, mask, 1025, 0) != 0)
        ums__log(rt, UMS_LOG_WARN, "binding block %p to node %d: %s (its pages may land elsewhere)", (void *)addr,
                 os, strerror(errno));
}

void ums__free_dropped(ums_runtime_t *rt, ums__devcopy *dropped, unsigned n) {
    for (unsigned k = 0; k < n; k++) ums__be_mem_free(rt, dropped[k].loc, dropped[k].mem, rt->block_size);
}

static void count_bytes(ums_runtime_t *rt, ums_location_t src, ums_location_t dst, size_t n) {
    bool sh = ums__loc_is_host(rt, src), dh = ums__loc_is_host(rt, dst);
    if (sh && dh) UMS_CTR_ADD(rt, bytes_h2h, n);
    else if (sh) UMS_CTR_ADD(rt, bytes_h2d, n);
    else if (dh) UMS_CTR_ADD(rt, bytes_d2h, n);
    else UMS_CTR_ADD(rt, bytes_d2d, n);
}

void ums__block_wake(ums_runtime_t *rt, ums__block *b, char *addr, bool always) {
    uint64_t now = ums__now_ns();
    /* In userfaultfd mode a thread sleeps in the kernel on a migrating block
     * only once the fault service has seen its fault and left it asleep, which
     * it records here under b->lock; a fault not yet seen is resolved (and its
     * thread woken) by the service when it gets to it. So without a record
     * there is nobody to wake, and the UFFDIO_WAKE (a system call per block) is
     * skipped. */
    bool parked = b->rwait_since_ns || b->wwait_since_ns;
    if (b->rwait_since_ns) UMS_CTR_ADD(rt, reader_wait_ns, now - b->rwait_since_ns);
    if (b->wwait_since_ns) UMS_CTR_ADD(rt, writer_wait_ns, now - b->wwait_since_ns);
    b->rwait_since_ns = b->wwait_since_ns = 0;
    if (always || parked || rt->fault_mode != UMS_FAULT_UFFD) rt->fops->wake(rt, b, addr, rt->block_size);
    pthread_cond_broadcast(&b->cond);
}

/* After a fetch: threads that faulted on the block, whether or not the fault
 * service has seen their faults yet (those of a fetch run's blocks ahead are
 * still queued behind the fetch), go on at once. */
static void wake_waiters(ums_runtime_t *rt, ums__block *b, char *addr) { ums__block_wake(rt, b, addr, true); }

static ums_result apply(ums__block *b, ums__transition t, ums__devcopy *dropped, unsigned *nd) {
    ums_result r = ums__block_apply(b, &t, dropped, nd);
    if (r != UMS_OK)
        return ums__fail("migrate", "core", r, 0, "illegal transition %s from state %s", ums__event_name(t.ev),
                         ums_block_state_name((ums_block_state)atomic_load(&b->state)));
    return UMS_OK;
}

ums_result ums__invalidate_devices_locked(ums__alloc *a, size_t i, ums__devcopy *dropped, unsigned *nd) {
    ums_runtime_t *rt = a->rt;
    ums__block *b = &a->blocks[i];
    *nd = 0;
    ums_result r = apply(b, (ums__transition){.ev = UMS_EV_HOST_WRITE}, dropped, nd);
    if (r != UMS_OK) return r;
    /* The device copies are invalid before the host copy becomes writable; their
     * memory is freed by the caller once the writer is on its way. If lifting the
     * protection fails the writer faults again, and the retry (state HOST) only
     * needs the protection lifted. */
    UMS_CTR_ADD(rt, invalidations, *nd);
    return rt->fops->unprotect(rt, ums__block_addr(a, i), rt->block_size);
}

/* Move a block's host pages into an empty staging block (UFFDIO_MOVE) —
 * `spare` if given (consumed), else one from the pool — which refills the
 * staging pool on the node they live on: the next migration there needs no
 * zero-filled pages. Best effort: false when it could not. */
static bool recycle_host_pages(ums_runtime_t *rt, ums__block *b, char *addr, ums__stage *spare) {
    if (!spare) spare = ums__stage_take_empty(rt);
    if (!spare) return false;
    if (rt->fops->evict(rt, addr, ums__stage_ptr(spare), rt->block_size) == UMS_OK) {
        ums__stage_put_full(rt, spare, b->host_loc);
        return true;
    }
    ums__stage_discard(rt, spare); /* may hold part of the pages: not reusable */
    return false;
}

/* Drop a block's host pages, recycling them where possible: into *spare (an
 * empty staging block taken for it, consumed) if given. */
static ums_result release_host_pages(ums_runtime_t *rt, ums__block *b, char *addr, ums__stage **spare) {
    ums__stage *sp = spare ? *spare : NULL;
    if (spare) *spare = NULL;
    if (recycle_host_pages(rt, b, addr, sp)) return UMS_OK;
    return rt->fops->zap(rt, addr, rt->block_size);
}

/* After an install: a staging block whose pages were moved in is empty now. */
static void stage_after_install(ums_runtime_t *rt, ums__stage *st, bool consumed, ums_location_t node) {
    if (consumed) ums__stage_put_empty(rt, st);
    else ums__stage_put_full(rt, st, node);
}

/* One block of a fetch run. */
typedef struct fetch_item {
    size_t i;
    bool keep;       /* FETCH_SHARED: the device copy stays */
    ums__stage *st;
    ums_fence *fence;
} fetch_item;

/* Whether block j (locked) can join a fetch run from `src` to `dst`: device-only
 * there, not migrating (nor held by a kernel launch, which looks the same). */
static bool fetch_joinable(ums_runtime_t *rt, ums__block *bj, ums_location_t src, ums_location_t dst, bool *keep) {
    ums_block_state st = (ums_block_state)atomic_load(&bj->state);
    if (st != UMS_BLOCK_DEVICE && st != UMS_BLOCK_SHARED) return false;
    if (bj->host_valid || bj->ndev == 0 || bj->dev[0].loc != src || ums__fetch_target(rt, bj) != dst) return false;
    /* Fetched ahead as by a read: READ_MOSTLY keeps the device copy. */
    *keep = st == UMS_BLOCK_SHARED || (bj->advice & UMS_BLOCK_ADVICE_READ_MOSTLY);
    return ums__transition_target(st, *keep ? UMS_EV_FETCH_SHARED : UMS_EV_FETCH) >= 0;
}

ums_result ums__fetch_run_locked(ums__alloc *a, size_t i, bool keep_device, unsigned ahead, bool wake_early,
                                 ums__devcopy *dropped, unsigned *nd) {
    ums_runtime_t *rt = a->rt;
    ums__block *b = &a->blocks[i];
    size_t bs = rt->block_size;
    *nd = 0;
    if (b->ndev == 0) return UMS_OK;
    if (ahead > UMS_FETCH_AHEAD_MAX) ahead = UMS_FETCH_AHEAD_MAX;
    ums_location_t src = b->dev[0].loc, dst = ums__fetch_target(rt, b);
    fetch_item it[1 + UMS_FETCH_AHEAD_MAX];
    unsigned n = 0;
    it[n++] = (fetch_item){.i = i, .keep = keep_device};
    /* The blocks ahead: locked in address order, and only if free right now (the
     * fault service thread never waits for another block's lock). */
    for (unsigned k = 1; k <= ahead && i + k < a->nblocks; k++) {
        ums__block *bj = &a->blocks[i + k];
        if (pthread_mutex_trylock(&bj->lock) != 0) break;
        bool keep = false;
        if (!fetch_joinable(rt, bj, src, dst, &keep)) {
            pthread_mutex_unlock(&bj->lock);
            break;
        }
        it[n++] = (fetch_item){.i = i + k, .keep = keep};
    }
    /* Issue every copy, then wait for them together. */
    ums_result r = UMS_OK;
    unsigned issued = 0;
    for (; issued < n; issued++) {
        fetch_item *f = &it[issued];
        ums__block *bj = &a->blocks[f->i];
        ums_result rr = ums__stage_get(rt, dst, &f->st);
        if (rr == UMS_OK) {
            rr = ums__be_copy_from_async(rt, src, ums__stage_ptr(f->st), bj->dev[0].mem, bs, &f->fence);
            if (rr != UMS_OK) ums__stage_put_full(rt, f->st, dst);
        }
        if (rr != UMS_OK) {
            if (issued == 0) r = rr; /* the faulting block itself: report it */
            break;
        }
    }
    /* Blocks ahead that were not issued stay as they are. */
    for (unsigned k = issued > 0 ? issued : 1; k < n; k++) pthread_mutex_unlock(&a->blocks[it[k].i].lock);
    n = issued;
    /* Each block is installed as soon as its copy is done, while the later copies
     * still run. */
    ums_error_info err = *ums_last_error();
    for (unsigned k = 0; k < n; k++) {
        fetch_item *f = &it[k];
        ums__block *bj = &a->blocks[f->i];
        char *addr = ums__block_addr(a, f->i);
        bool consumed = false, installing = false;
        ums_result rr = ums__be_fence_wait(rt, src, f->fence);
        if (rr == UMS_OK) {
            bind_block_to(rt, addr, dst);
            installing = true;
            rr = rt->fops->install(rt, addr, ums__stage_ptr(f->st), bs, f->keep, &consumed);
        }
        if (rr == UMS_OK) {
            unsigned ndj = 0;
            rr = apply(bj,
                       (ums__transition){.ev = f->keep ? UMS_EV_FETCH_SHARED : UMS_EV_FETCH,
                                         .src = src,
                                         .dst = dst,
                                         .dst_is_host = true},
                       dropped + *nd, &ndj);
            *nd += ndj;
        }
        if (rr == UMS_OK) {
            bj->populated = true;
            UMS_CTR_ADD(rt, fetches, 1);
            count_bytes(rt, src, dst, bs);
        }
        if (k == 0 && rr != UMS_OK) {
            r = rr;
            err = *ums_last_error();
        }
        /* A block ahead whose install failed stays device-only: drop whatever part
         * of it was put in place (nobody retries it, and the device copy may
         * change). Best effort; a fault on it fetches it again. */
        if (k > 0 && rr != UMS_OK && installing) (void)rt->fops->zap(rt, addr, bs);
        /* Threads that faulted on the block go on at once, while the next blocks
         * are installed (those that faulted on a block ahead queued a fault for
         * this thread, which later finds the block fetched). */
        if (k > 0 || (rr == UMS_OK && wake_early)) wake_waiters(rt, bj, addr);
        if (k > 0) pthread_mutex_unlock(&bj->lock);
        stage_after_install(rt, f->st, consumed, dst);
    }
    if (r != UMS_OK) *(ums_error_info *)ums_last_error() = err;
    return r; /* the caller wakes the faulting threads (again), then frees `dropped` */
}

ums_result ums__fetch_block_locked(ums__alloc *a, size_t i, bool keep_device, ums__devcopy *dropped,
                                   unsigned *nd) {
    return ums__fetch_run_locked(a, i, keep_device, 0, false, dropped, nd);
}

/* Make the block's copy at `dst` (already valid) the only one. b locked, not MIGRATING. */
static ums_result make_exclusive_locked(ums__alloc *a, size_t i, ums_location_t dst) {
    ums_runtime_t *rt = a->rt;
    ums__block *b = &a->blocks[i];
    if (ums__loc_is_host(rt, dst)) {
        ums__devcopy dropped[UMS_BLOCK_MAX_DEVCOPIES];
        unsigned nd;
        ums_result r = ums__invalidate_devices_locked(a, i, dropped, &nd);
        ums__free_dropped(rt, dropped, nd);
        return r;
    }
    ums_result r = UMS_OK;
    if (b->host_valid) r = release_host_pages(rt, b, ums__block_addr(a, i), NULL);
    if (r != UMS_OK) return r;
    ums__devcopy dropped[UMS_BLOCK_MAX_DEVCOPIES];
    unsigned nd = 0;
    r = apply(b, (ums__transition){.ev = UMS_EV_DEVICE_WRITE, .dst = dst}, dropped, &nd);
    ums__free_dropped(rt, dropped, nd);
    return r;
}

/* One block's migration transaction, in three steps so that a range can keep
 * several blocks' copies in flight: begin (prepare, MIGRATE_BEGIN, write-protect
 * a host source), issue (start the copy; the fence, if any, is kept), finish
 * (wait for the copy, then commit or abort, wake the waiters). Each block stays
 * its own transaction: readers of its source never wait, writers wait for this
 * block only, an abort leaves its source valid. */
typedef struct mig_txn {
    size_t i;
    ums_location_t src, dst, tmp_node, fence_loc;
    bool src_host, dst_host, replicate, zapped;
    bool deferred;       /* begun with a host source's protection and a host destination's staging left to the issue */
    bool evicted;        /* the commit's host pages are already in the staging pool (run_evict): it commits */
    bool installed;      /* the staged pages are already in the block (run_install) ... */
    bool install_moved;  /* ... moved there, not copied: the staging block is empty */
    ums_devmem *dst_mem;
    ums__stage *dst_stage, *tmp_stage;
    ums__stage *spare;   /* an empty staging block for the host pages the commit drops (a window's run) */
    void *stage, *tmp;
    ums_fence *fence;    /* the copy's, until finish waits for it */
    size_t run_n;        /* the fence is a run's: it covers this block and the run_n - 1 after it */
    ums_result r;        /* the transaction's first failure */
    ums_error_info err;  /* ... and its last-error record */
} mig_txn;

/* Record a failure of the transaction (the first one wins). */
static void txn_fail(mig_txn *t, ums_result r) {
    if (r == UMS_OK || t->r != UMS_OK) return;
    t->r = r;
    t->err = *ums_last_error();
}

static void rep_failed(ums_migrate_report *rep, ums_result r) {
    rep->blocks_failed++;
    if (rep->first_error == UMS_OK) rep->first_error = r;
}

typedef enum txn_start {
    TXN_STARTED, /* MIGRATING: issue, then finish */
    TXN_DONE,    /* nothing to copy, or it failed before anything changed: *done says */
    TXN_BUSY     /* the block is migrating and the caller may not wait for it */
} txn_start;

/* defer: a host source is not write-protected here, and a host destination gets
 * no staging block yet; the run the block joins does both for all its blocks
 * (run_issue), or txn_undefer for the block alone, before the copy is issued. */
static txn_start txn_begin(ums__alloc *a, size_t i, ums_location_t dst, bool replicate, bool may_wait,
                           bool defer, ums_migrate_report *rep, mig_txn *t, ums_result *done) {
    ums_runtime_t *rt = a->rt;
    ums__block *b = &a->blocks[i];
    char *addr = ums__block_addr(a, i);
    size_t bs = rt->block_size;
    bool dst_host = ums__loc_is_host(rt, dst);
    bool blocking = rt->cfg.protocol == UMS_PROTOCOL_BLOCKING;
    ums_result r = UMS_OK;
    *done = UMS_OK;

    pthread_mutex_lock(&b->lock);
    if (!may_wait && atomic_load(&b->state) == UMS_BLOCK_MIGRATING) {
        pthread_mutex_unlock(&b->lock);
        return TXN_BUSY;
    }
    ums__block_wait_stable(b);
    uint64_t valid = ums__block_valid_mask(b);
    if (valid & (1ull << dst)) {
        /* Already there: done if it is the only copy (or replication was asked). */
        if (!replicate && valid != (1ull << dst)) r = make_exclusive_locked(a, i, dst);
        pthread_mutex_unlock(&b->lock);
        if (r == UMS_OK) rep->blocks_already++;
        else rep_failed(rep, r);
        *done = r;
        return TXN_DONE;
    }
    /* A host copy lives in the managed pages, so a host destination replaces it. */
    if (replicate && dst_host && b->host_valid) replicate = false;
    memset(t, 0, sizeof *t);
    t->i = i;
    t->dst = dst;
    t->dst_host = dst_host;
    t->replicate = replicate;
    t->src = b->host_valid ? b->host_loc : b->dev[0].loc;
    t->src_host = b->host_valid;
    t->tmp_node = b->host_loc;
    t->fence_loc = UMS_LOCATION_NONE;
    if (t->src_host && !b->populated) {
        /* Map every page first so write protection covers all of them. */
        r = rt->fops->populate(rt, addr, bs);
        if (r != UMS_OK) goto out_err;
        b->populated = true;
    }

    /* prepare: the destination exists before anything else changes */
    t->deferred = defer;
    if (!dst_host) r = ums__be_block_alloc(rt, dst, a, i, &t->dst_mem);
    else if (!defer) r = ums__stage_get(rt, dst, &t->dst_stage);
    if (r != UMS_OK) goto out_err;
    if (t->dst_stage) t->stage = ums__stage_ptr(t->dst_stage);
    if (blocking && t->src_host) {
        r = ums__stage_get(rt, t->tmp_node, &t->tmp_stage);
        if (r != UMS_OK) goto out_free;
        t->tmp = ums__stage_ptr(t->tmp_stage);
    }
    ums__devcopy dropped[UMS_BLOCK_MAX_DEVCOPIES];
    unsigned nd = 0;
    r = apply(b, (ums__transition){.ev = UMS_EV_MIGRATE_BEGIN, .src = t->src, .dst = dst, .dst_is_host = dst_host},
              dropped, &nd);
    if (r != UMS_OK) {
        pthread_mutex_unlock(&b->lock);
        if (t->dst_mem) ums__be_mem_free(rt, dst, t->dst_mem, bs);
        ums__stage_put_full(rt, t->dst_stage, dst);
        ums__stage_put_full(rt, t->tmp_stage, t->tmp_node);
        *done = r;
        return TXN_DONE; /* as before: an illegal begin is not counted as a failed block */
    }
    atomic_store(&b->write_abort, 0);
    /* writers wait from the write protection on; a write before it is in the copy */
    if (t->src_host && !defer) txn_fail(t, rt->fops->protect_read(rt, addr, bs));
    pthread_mutex_unlock(&b->lock);
    return TXN_STARTED;

out_free:
    if (t->dst_mem) ums__be_mem_free(rt, dst, t->dst_mem, bs);
    ums__stage_put_full(rt, t->dst_stage, dst);
out_err:
    pthread_mutex_unlock(&b->lock);
    rep_failed(rep, r);
    *done = r;
    return TXN_DONE;
}

/* What txn_begin left to the run, for a block issued on its own. */
static void txn_undefer(ums__alloc *a, mig_txn *t) {
    ums_runtime_t *rt = a->rt;
    if (!t->deferred || t->r != UMS_OK) return;
    t->deferred = false;
    if (t->src_host) txn_fail(t, rt->fops->protect_read(rt, ums__block_addr(a, t->i), rt->block_size));
    if (t->r == UMS_OK && t->dst_host && !t->dst_stage) {
        ums_result r = ums__stage_get(rt, t->dst, &t->dst_stage);
        if (r == UMS_OK) t->stage = ums__stage_ptr(t->dst_stage);
        txn_fail(t, r);
    }
}

/* Start the copy (unlocked: faults on the block are served meanwhile). */
static void txn_issue(ums__alloc *a, mig_txn *t) {
    ums_runtime_t *rt = a->rt;
    ums__block *b = &a->blocks[t->i];
    char *addr = ums__block_addr(a, t->i);
    size_t bs = rt->block_size;
    if (t->r != UMS_OK) return;
    if (t->tmp) {
        /* blocking protocol: save the block, then drop it: every access waits */
        UMS_MANAGED_READ_BEGIN();
        ums__copy_bulk(t->tmp, addr, bs);
        UMS_MANAGED_READ_END();
        pthread_mutex_lock(&b->lock);
        ums_result r = release_host_pages(rt, b, addr, NULL);
        t->zapped = r == UMS_OK;
        pthread_mutex_unlock(&b->lock);
        txn_fail(t, r);
        if (r != UMS_OK) return;
    }
    const void *from = t->tmp ? t->tmp : addr;
    ums_devmem *src_mem = t->src_host ? NULL : ums__block_devmem(b, t->src);
    ums_result r;
    if (t->src_host) UMS_MANAGED_READ_BEGIN();
    if (t->src_host && t->dst_host) {
        r = ums__stage_copy_to(rt, t->dst_stage, from, bs);
    } else if (t->src_host) {
        r = ums__be_copy_to_async(rt, t->dst, t->dst_mem, from, bs, &t->fence);
        t->fence_loc = t->dst;
    } else if (t->dst_host) {
        r = ums__be_copy_from_async(rt, t->src, t->stage, src_mem, bs, &t->fence);
        t->fence_loc = t->src;
    } else {
        r = ums__be_copy_peer_async(rt, t->dst, t->dst_mem, t->src, src_mem, bs, &t->fence);
        t->fence_loc = t->dst;
    }
    if (t->src_host) UMS_MANAGED_READ_END();
    txn_fail(t, r);
}

/* Wait for the copy (if it has a fence still). */
static void txn_wait(ums__alloc *a, mig_txn *t) {
    if (!t->fence) return;
    /* A backend may still read the source until its fence completes. */
    if (t->src_host) UMS_MANAGED_READ_BEGIN();
    txn_fail(t, ums__be_fence_wait(a->rt, t->fence_loc, t->fence));
    if (t->src_host) UMS_MANAGED_READ_END();
    t->fence = NULL;
}

/* Wait for the copy, then commit or abort; the block's waiters are woken. */
static ums_result txn_finish(ums__alloc *a, mig_txn *t, ums_migrate_report *rep) {
    ums_runtime_t *rt = a->rt;
    size_t i = t->i;
    ums__block *b = &a->blocks[i];
    char *addr = ums__block_addr(a, i);
    size_t bs = rt->block_size;
    ums_location_t src = t->src, dst = t->dst;
    bool src_host = t->src_host, dst_host = t->dst_host;
    txn_wait(a, t);
    if (t->r == UMS_OK && !t->evicted && atomic_load(&b->write_abort))
        txn_fail(t, ums__fail("ums_migrate", "core", UMS_ERR_ABORTED, 0,
                              "a CPU write to block %zu cancelled its migration", i));

    ums__devcopy dropped[UMS_BLOCK_MAX_DEVCOPIES];
    unsigned nd = 0;
    pthread_mutex_lock(&b->lock);
    bool consumed = false, tmp_consumed = false;
    if (t->r == UMS_OK) {
        /* commit */
        bool keep = t->replicate;
        ums_result r = UMS_OK;
        if (dst_host) {
            /* Host to host: the new pages take the old ones' place with no moment
             * when the block has none, where the fault mode can (fops->replace). */
            bool replaced = false;
            if (src_host && !t->zapped && !keep && rt->fops->replace) {
                ums_result rr = rt->fops->replace(rt, addr, t->stage, bs, &consumed);
                replaced = rr == UMS_OK || consumed;
                if (replaced) r = rr;
            }
            if (!t->installed) bind_block_to(rt, addr, dst);
            /* Otherwise the old pages go to the pool if they can move, and the
             * install puts the new ones in (never drop them here: if the install
             * then failed, the source would be gone). */
            if (!replaced && src_host && !t->zapped) recycle_host_pages(rt, b, addr, NULL);
            if (t->installed) consumed = t->install_moved;
            else if (!replaced) r = rt->fops->install(rt, addr, t->stage, bs, keep, &consumed);
            /* from a device, a failed install leaves the block device-only: drop
             * whatever part of it was put in place (best effort) */
            if (r != UMS_OK && !src_host && !t->installed) (void)rt->fops->zap(rt, addr, bs);
        } else if (!keep && src_host && !t->zapped && !t->evicted) {
            r = release_host_pages(rt, b, addr, &t->spare);
        }
        if (r == UMS_OK) {
            r = apply(b,
                      (ums__transition){.ev = keep ? UMS_EV_MIGRATE_REPLICATE : UMS_EV_MIGRATE_COMMIT,
                                        .src = src,
                                        .dst = dst,
                                        .dst_is_host = dst_host,
                                        .dst_mem = dst_host ? NULL : t->dst_mem},
                      dropped, &nd);
            if (r == UMS_OK && keep && src_host && t->zapped) {
                /* blocking + replicate: the host copy was dropped; put it back read-only */
                r = rt->fops->install(rt, addr, t->tmp, bs, true, &tmp_consumed);
            }
        }
        txn_fail(t, r);
        if (r == UMS_OK) {
            if (!dst_host) t->dst_mem = NULL; /* now owned by the block */
            UMS_CTR_ADD(rt, migrations, 1);
            count_bytes(rt, src, dst, bs);
            rep->blocks_moved++;
            rep->bytes_moved += bs;
        }
    }
    if (t->r != UMS_OK && atomic_load(&b->state) == UMS_BLOCK_MIGRATING) {
        /* abort: the source is untouched (or restored), the destination is freed */
        ums_result rr = UMS_OK;
        /* A SHARED block goes back to read-only: its device replicas are still valid. */
        bool was_shared = b->prev_state == UMS_BLOCK_SHARED;
        if (src_host && t->zapped) rr = rt->fops->install(rt, addr, t->tmp, bs, was_shared, &tmp_consumed);
        /* re-apply the source's protection explicitly: a failed commit step may have
         * changed it (signal mode's zap sets PROT_NONE before it drops the pages) */
        if (src_host && rr == UMS_OK)
            rr = was_shared ? rt->fops->protect_read(rt, addr, bs) : rt->fops->unprotect(rt, addr, bs);
        unsigned nd2 = 0;
        ums__block_apply(b, &(ums__transition){.ev = UMS_EV_MIGRATE_ABORT}, dropped, &nd2);
        UMS_CTR_ADD(rt, migrations_aborted, 1);
        if (rr != UMS_OK)
            ums__log(rt, UMS_LOG_ERROR, "restoring block %zu after an aborted migration: %s", i, ums_last_error()->message);
    }
    ums__block_wake(rt, b, addr, false);
    pthread_mutex_unlock(&b->lock);

    ums__free_dropped(rt, dropped, nd);
    if (t->dst_mem) ums__be_mem_free(rt, dst, t->dst_mem, bs);
    if (t->dst_stage) stage_after_install(rt, t->dst_stage, consumed, dst);
    if (t->tmp_stage) stage_after_install(rt, t->tmp_stage, tmp_consumed, t->tmp_node);
    ums__stage_put_empty(rt, t->spare); /* not needed: aborted, or the host copy stays */
    if (t->r != UMS_OK) {
        rep_failed(rep, t->r);
        *(ums_error_info *)ums_last_error() = t->err;
    }
    return t->r;
}

ums_result ums__migrate_block(ums__alloc *a, size_t i, ums_location_t dst, bool replicate, ums_migrate_report *rep) {
    mig_txn t;
    ums_result r;
    if (txn_begin(a, i, dst, replicate, true, false, rep, &t, &r) != TXN_STARTED) return r;
    txn_issue(a, &t);
    return txn_finish(a, &t, rep);
}

/* A range migration keeps several blocks in flight, in one of two ways:
 * - a pipeline (the default): up to PIPE_DEPTH blocks and PIPE_BYTES, each block
 *   its own copy, finished in order as the copies complete;
 * - windows: host blocks going to a backend that copies several at once
 *   (copy_to_many). A window holds up to the transfer window's bytes
 *   (`UMS_TRANSFER_WINDOW`, default 128 MiB) and ::UMS_BACKEND_MANY_MAX blocks.
 *   Each stretch of consecutive host blocks in it is a run: one write protection
 *   and one transfer. The window's blocks are committed together once its last
 *   copy is done. Why, as measured on POCL: every command costs the device tens
 *   of microseconds between commands, and every page-table change made while a
 *   copy runs (a commit moves a block's old pages away) stops the CPU doing the
 *   copy for a TLB shootdown. Committing after the copies keeps both off the
 *   transfer (docs/PERFORMANCE.md).
 * Either way each block stays its own transaction. */
#define QUEUE_STACK 16
#define PIPE_DEPTH 8
#define PIPE_BYTES ((size_t)16 << 20)
#define WINDOW_DEFAULT ((size_t)128 << 20)

/* The transactions in flight: a ring of `cap`, on the stack or the heap. */
typedef struct mig_queue {
    mig_txn *t;
    size_t cap;
} mig_queue;
#define QAT(q, k) (&(q)->t[(k) % (q)->cap])

/* Issue the run: the *run txns that end before queue position `end`, begun
 * deferred, consecutive blocks with one source and one destination (run_joins).
 * Host → device: one write protection covers them all (one page-table change,
 * one TLB shootdown, instead of one per block) and one transfer copies them
 * where the backend can (copy_to_many). Device → host: consecutive staging
 * blocks, where the pool has them, receive them in one transfer
 * (copy_from_many). The fence is the first block's; the others finish after it,
 * in order. Each block stays its own transaction: if the shared protection or
 * copy fails, every block of the run aborts and stays at its source. Where the
 * backend or the pool cannot, the blocks are issued one by one. */
static void run_issue(ums__alloc *a, mig_queue *q, size_t end, size_t *run) {
    ums_runtime_t *rt = a->rt;
    size_t n = *run, start = end - n;
    *run = 0;
    if (n == 0) return;
    mig_txn *t0 = QAT(q, start);
    size_t bs = rt->block_size;
    char *addr = ums__block_addr(a, t0->i);
    ums_devmem *mem[UMS_BACKEND_MANY_MAX];
    ums_fence *f = NULL;
    ums_result r = UMS_ERR_NOT_SUPPORTED;
    if (t0->src_host) {
        r = rt->fops->protect_read(rt, addr, n * bs);
        for (size_t k = 0; k < n; k++) {
            txn_fail(QAT(q, start + k), r);
            QAT(q, start + k)->deferred = false;
        }
        if (r != UMS_OK) return;
        r = UMS_ERR_NOT_SUPPORTED;
        if (n > 1) {
            for (size_t k = 0; k < n; k++) mem[k] = QAT(q, start + k)->dst_mem;
            UMS_MANAGED_READ_BEGIN();
            r = ums__be_copy_to_many_async(rt, t0->dst, mem, n, addr, bs, &f);
            UMS_MANAGED_READ_END();
        }
    } else if (n > 1) {
        ums__stage *st[UMS_BACKEND_MANY_MAX];
        if (ums__stage_get_run(rt, t0->dst, n, st)) {
            for (size_t k = 0; k < n; k++) {
                mig_txn *t = QAT(q, start + k);
                t->dst_stage = st[k];
                t->stage = ums__stage_ptr(st[k]);
                t->deferred = false;
                mem[k] = ums__block_devmem(&a->blocks[t->i], t->src);
            }
            r = ums__be_copy_from_many_async(rt, t0->src, t0->stage, mem, n, bs, &f);
        }
    }
    if (r != UMS_ERR_NOT_SUPPORTED) {
        for (size_t k = 0; k < n; k++) txn_fail(QAT(q, start + k), r);
        if (r == UMS_OK) {
            t0->fence = f;
            t0->fence_loc = t0->src_host ? t0->dst : t0->src;
            t0->run_n = n;
        }
        return;
    }
    for (size_t k = 0; k < n; k++) {
        txn_undefer(a, QAT(q, start + k));
        txn_issue(a, QAT(q, start + k));
    }
}

/* Whether t may join a run (window mode): host → device (the range's backend
 * copies several at once), or device → host from a backend that copies several
 * back at once. */
static bool run_joins(ums_runtime_t *rt, const mig_txn *t) {
    if (t->src_host) return !t->dst_host;
    return t->dst_host && ums__be_can_copy_from_many(rt, t->src);
}

/* Whether t continues the run that ends with `prev`. */
static bool run_next(const mig_txn *prev, const mig_txn *t) {
    return prev->i + 1 == t->i && prev->src == t->src && prev->src_host == t->src_host && prev->dst == t->dst;
}

/* Finish the oldest txn of the queue. A run's fence is the first block's: when
 * it fails, every block it covered fails the same way. */
static ums_result finish_head(ums__alloc *a, mig_queue *q, size_t head, ums_migrate_report *rep) {
    mig_txn *t = QAT(q, head);
    if (t->run_n > 1) {
        txn_wait(a, t);
        for (size_t k = 1; k < t->run_n && t->r != UMS_OK; k++) {
            mig_txn *f = QAT(q, head + k);
            if (f->r == UMS_OK) {
                f->r = t->r;
                f->err = t->err;
            }
        }
    }
    return txn_finish(a, t, rep);
}

/* The first failure of a range, with its last-error record. */
typedef struct first_error {
    ums_result r;
    ums_error_info err;
} first_error;

static void note(first_error *fe, ums_result r) {
    if (r != UMS_OK && fe->r == UMS_OK) {
        fe->r = r;
        fe->err = *ums_last_error();
    }
}

/* Lock (in address order) or unlock the blocks of the run of k txns at `at`. */
static void run_lock(ums__alloc *a, mig_queue *q, size_t at, size_t k, bool lock) {
    for (size_t j = 0; j < k; j++) {
        pthread_mutex_t *m = &a->blocks[QAT(q, at + (lock ? j : k - 1 - j))->i].lock;
        if (lock) pthread_mutex_lock(m);
        else pthread_mutex_unlock(m);
    }
}

/* Move the host pages of a run's k blocks (copied to a device, about to commit)
 * into their consecutive spare staging blocks with one UFFDIO_MOVE, instead of
 * one per block. Only when every block of the run commits (no failure, no
 * write that asked for an abort; checked under the blocks' locks, taken in
 * address order); the blocks are then committed whatever a writer asks
 * meanwhile. If the move fails part way, each block's commit moves what is
 * left into its own spare, as without a run. */
static void run_evict(ums__alloc *a, mig_queue *q, size_t at, size_t k) {
    ums_runtime_t *rt = a->rt;
    size_t bs = rt->block_size;
    mig_txn *t0 = QAT(q, at);
    for (size_t j = 0; j < k; j++) {
        mig_txn *t = QAT(q, at + j);
        if (t->r != UMS_OK || t->zapped || t->replicate) return;
    }
    /* Each block's spare is its own from here: if the run's move does not
     * happen, its commit still moves its pages next to the others'. */
    ums__stage *sp[UMS_BACKEND_MANY_MAX];
    if (!ums__stage_take_empty_run(rt, k, sp)) return;
    for (size_t j = 0; j < k; j++) QAT(q, at + j)->spare = sp[j];
    run_lock(a, q, at, k, true);
    bool ok = true;
    for (size_t j = 0; j < k && ok; j++) ok = !atomic_load(&a->blocks[QAT(q, at + j)->i].write_abort);
    if (ok) {
        ums_error_info saved = *ums_last_error(); /* a failure here is not the caller's */
        ok = rt->fops->evict(rt, ums__block_addr(a, t0->i), ums__stage_ptr(t0->spare), k * bs) == UMS_OK;
        if (!ok) *(ums_error_info *)ums_last_error() = saved;
    }
    for (size_t j = 0; j < k && ok; j++) {
        mig_txn *t = QAT(q, at + j);
        t->evicted = true;
        ums__stage_put_full(rt, t->spare, a->blocks[t->i].host_loc);
        t->spare = NULL;
    }
    run_lock(a, q, at, k, false);
}

/* Put the staged pages of a run's k blocks back from a device in place with one
 * install (one UFFDIO_MOVE from the consecutive staging blocks), instead of one
 * per block. Only when every block of the run commits (no failure) and none is
 * a read-only install (those keep their own path). If the install fails, the
 * run stays on the device: whatever part was put in place is dropped, the
 * device copies are untouched. Under the blocks' locks, in address order. */
static void run_install(ums__alloc *a, mig_queue *q, size_t at, size_t k) {
    ums_runtime_t *rt = a->rt;
    size_t bs = rt->block_size;
    mig_txn *t0 = QAT(q, at);
    for (size_t j = 0; j < k; j++) {
        mig_txn *t = QAT(q, at + j);
        if (t->r != UMS_OK || t->replicate || t->src_host || !t->dst_host || !t->dst_stage ||
            (char *)t->stage != (char *)t0->stage + j * bs)
            return;
    }
    run_lock(a, q, at, k, true);
    char *addr = ums__block_addr(a, t0->i);
    for (size_t j = 0; j < k; j++) bind_block_to(rt, addr + j * bs, t0->dst);
    bool consumed = false;
    ums_result r = rt->fops->install(rt, addr, t0->stage, k * bs, false, &consumed);
    if (r != UMS_OK) (void)rt->fops->zap(rt, addr, k * bs);
    for (size_t j = 0; j < k; j++) {
        mig_txn *t = QAT(q, at + j);
        if (r == UMS_OK) {
            t->installed = true;
            /* (after a move that failed part way, the rest was copied: those staging
             * blocks still hold pages; the first move into one fails and drops it) */
            t->install_moved = consumed;
        }
        else txn_fail(t, r); /* its staging block goes back as a full one: a later copy overwrites it */
    }
    run_lock(a, q, at, k, false);
}

/* Issue the pending run, then finish every txn in the queue, oldest first. With
 * `last_first` the newest copy is waited for before anything is committed, so no
 * commit changes page tables while an earlier copy of the window still runs. */
static void drain(ums__alloc *a, mig_queue *q, size_t *head, size_t *n, size_t *run, bool last_first,
                  ums_migrate_report *rep, first_error *fe) {
    run_issue(a, q, *head + *n, run);
    if (last_first)
        for (size_t k = *n; k-- > 0;) {
            mig_txn *t = QAT(q, *head + k);
            if (t->fence) {
                txn_wait(a, t);
                break;
            }
        }
    /* A run back from a device is put in place with one install; the pages the
     * commits of a run to a device drop go to consecutive staging blocks (so
     * that the run can come back with one transfer), with one move. */
    for (size_t k = 0; k < *n; k++) {
        mig_txn *t = QAT(q, *head + k);
        if (t->run_n < 2) continue;
        txn_wait(a, t); /* the copy uses the run's host side until its fence completes */
        if (t->dst_host) run_install(a, q, *head + k, t->run_n);
        else run_evict(a, q, *head + k, t->run_n);
        k += t->run_n - 1;
    }
    for (; *n > 0; (*n)--, *head = (*head + 1) % q->cap) note(fe, finish_head(a, q, *head, rep));
}

/* Window mode for a range to the host: when the first block that needs a copy
 * comes from a device whose backend copies several blocks back at once. */
static bool back_in_windows(ums__alloc *a, size_t first, size_t last) {
    ums_runtime_t *rt = a->rt;
    for (size_t i = first; i <= last; i++) {
        ums__block *b = &a->blocks[i];
        pthread_mutex_lock(&b->lock);
        bool host = b->host_valid || b->ndev == 0;
        ums_location_t src = host ? UMS_LOCATION_NONE : b->dev[0].loc;
        pthread_mutex_unlock(&b->lock);
        if (!host) return ums__be_can_copy_from_many(rt, src);
    }
    return false;
}

ums_result ums__migrate_range(ums__alloc *a, size_t first, size_t last, ums_location_t dst, ums__move_mode mode,
                              ums_migrate_report *rep) {
    ums_runtime_t *rt = a->rt;
    size_t bs = rt->block_size;
    first_error fe;
    memset(&fe, 0, sizeof fe);
    /* The blocking protocol moves one block at a time: every access waits anyway. */
    bool blocking = rt->cfg.protocol == UMS_PROTOCOL_BLOCKING;
    bool window = !blocking && (ums__loc_is_host(rt, dst) ? back_in_windows(a, first, last)
                                                          : ums__be_can_copy_many(rt, dst));
    mig_txn local[QUEUE_STACK];
    mig_queue q = {local, QUEUE_STACK};
    size_t depth;
    if (window) {
        size_t w = rt->cfg.transfer_window ? rt->cfg.transfer_window : WINDOW_DEFAULT;
        depth = w / bs;
        if (depth > UMS_BACKEND_MANY_MAX) depth = UMS_BACKEND_MANY_MAX;
        if (depth > last - first + 1) depth = last - first + 1;
        if (depth < 1) depth = 1;
        if (depth > QUEUE_STACK) {
            mig_txn *heap = ums__calloc(depth, sizeof *heap);
            if (heap) q = (mig_queue){heap, depth};
            else depth = QUEUE_STACK; /* smaller windows, same result */
        }
    } else {
        depth = blocking ? 1 : PIPE_BYTES / bs;
        if (depth < 1) depth = 1;
        if (depth > PIPE_DEPTH) depth = PIPE_DEPTH;
    }
    bool runs = window && depth > 1;
    size_t head = 0, n = 0, run = 0; /* run: the last `run` txns, begun but not yet issued */
    for (size_t i = first; i <= last;) {
        ums__block *b = &a->blocks[i];
        pthread_mutex_lock(&b->lock);
        bool replicate = mode == UMS_MOVE_REPLICATE ||
                         (mode == UMS_MOVE_REPLICATE_RM && (b->advice & UMS_BLOCK_ADVICE_READ_MOSTLY));
        pthread_mutex_unlock(&b->lock);
        ums_result dr;
        mig_txn *t = QAT(&q, head + n);
        /* Never wait for another migration while holding blocks in flight. */
        txn_start s = txn_begin(a, i, dst, replicate, n == 0, runs, rep, t, &dr);
        if (s == TXN_BUSY) {
            drain(a, &q, &head, &n, &run, window, rep, &fe);
            continue; /* again, now allowed to wait */
        }
        i++;
        if (s == TXN_DONE) {
            run_issue(a, &q, head + n, &run); /* the run ends at a block that needs no copy */
            note(&fe, dr);
            continue;
        }
        n++;
        bool joins = runs && run_joins(rt, t);
        /* the run so far ends before t if t cannot join it (or does not continue it) */
        if (!joins || (run > 0 && !run_next(QAT(&q, head + n - 2), t))) run_issue(a, &q, head + n - 1, &run);
        if (joins) {
            run++;
        } else {
            txn_undefer(a, t);
            txn_issue(a, t);
        }
        /* A full window (its pending run is issued first): its copies all run,
         * then its blocks are committed. */
        if (window && n >= depth) drain(a, &q, &head, &n, &run, true, rep, &fe);
        /* Finish in order whatever is complete already (no fence: a synchronous
         * backend gains nothing from waiting), and, in a pipeline, the oldest when
         * it is full. */
        while (n > run && (!QAT(&q, head)->fence || (!window && n >= depth))) {
            note(&fe, finish_head(a, &q, head, rep));
            head = (head + 1) % q.cap;
            n--;
        }
    }
    drain(a, &q, &head, &n, &run, window, rep, &fe);
    if (q.t != local) free(q.t);
    rep->blocks_total += last - first + 1;
    if (fe.r != UMS_OK) *(ums_error_info *)ums_last_error() = fe.err;
    return fe.r;
}
