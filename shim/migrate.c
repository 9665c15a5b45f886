/* Migration as a transaction per block: prepare (allocate the destination) →
 * copy → commit (atomic switch, wake waiters) or abort (destination freed,
 * source untouched, waiters woken). Two protocols share every step:
 *  - readable: the source is write-protected and stays readable during the copy;
 *  - blocking: the source is saved and dropped first, so every access waits for
 *    the whole copy, as under the kernel's own page migration (the baseline).
 * The device fetch and SHARED invalidation used by the fault path live here too. */
#include <errno.h>
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

/* Account the time of threads that slept on the block (uffd mode), then wake them. */
static void wake_waiters(ums_runtime_t *rt, ums__block *b, char *addr) {
    uint64_t now = ums__now_ns();
    if (b->rwait_since_ns) UMS_CTR_ADD(rt, reader_wait_ns, now - b->rwait_since_ns);
    if (b->wwait_since_ns) UMS_CTR_ADD(rt, writer_wait_ns, now - b->wwait_since_ns);
    b->rwait_since_ns = b->wwait_since_ns = 0;
    rt->fops->wake(rt, b, addr, rt->block_size);
    pthread_cond_broadcast(&b->cond);
}

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

/* Move a block's host pages into an empty staging block (UFFDIO_MOVE), which
 * refills the staging pool on the node they live on: the next migration there
 * needs no zero-filled pages. Best effort: false when it could not. */
static bool recycle_host_pages(ums_runtime_t *rt, ums__block *b, char *addr) {
    ums__stage *spare = ums__stage_take_empty(rt);
    if (!spare) return false;
    if (rt->fops->evict(rt, addr, ums__stage_ptr(spare), rt->block_size) == UMS_OK) {
        ums__stage_put_full(rt, spare, b->host_loc);
        return true;
    }
    ums__stage_discard(rt, spare); /* may hold part of the pages: not reusable */
    return false;
}

/* Drop a block's host pages, recycling them where possible. */
static ums_result release_host_pages(ums_runtime_t *rt, ums__block *b, char *addr) {
    if (recycle_host_pages(rt, b, addr)) return UMS_OK;
    return rt->fops->zap(rt, addr, rt->block_size);
}

/* After an install: a staging block whose pages were moved in is empty now. */
static void stage_after_install(ums_runtime_t *rt, ums__stage *st, bool consumed, ums_location_t node) {
    if (consumed) ums__stage_put_empty(rt, st);
    else ums__stage_put_full(rt, st, node);
}

ums_result ums__fetch_block_locked(ums__alloc *a, size_t i, bool keep_device, ums__devcopy *dropped,
                                   unsigned *nd) {
    ums_runtime_t *rt = a->rt;
    ums__block *b = &a->blocks[i];
    size_t bs = rt->block_size;
    *nd = 0;
    if (b->ndev == 0) return UMS_OK;
    ums_location_t src = b->dev[0].loc, dst = ums__fetch_target(rt, b);
    ums__stage *st;
    ums_result r = ums__stage_get(rt, dst, &st);
    if (r != UMS_OK) return r;
    void *stage = ums__stage_ptr(st);
    r = ums__be_copy_from(rt, src, stage, b->dev[0].mem, bs);
    bool consumed = false;
    if (r == UMS_OK) {
        bind_block_to(rt, ums__block_addr(a, i), dst);
        r = rt->fops->install(rt, ums__block_addr(a, i), stage, bs, keep_device, &consumed);
    }
    if (r == UMS_OK) {
        r = apply(b,
                  (ums__transition){.ev = keep_device ? UMS_EV_FETCH_SHARED : UMS_EV_FETCH,
                                    .src = src,
                                    .dst = dst,
                                    .dst_is_host = true},
                  dropped, nd);
        b->populated = true;
        UMS_CTR_ADD(rt, fetches, 1);
        count_bytes(rt, src, dst, bs);
    }
    stage_after_install(rt, st, consumed, dst);
    return r; /* the caller wakes the faulting threads, then frees `dropped` */
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
    if (b->host_valid) r = release_host_pages(rt, b, ums__block_addr(a, i));
    if (r != UMS_OK) return r;
    ums__devcopy dropped[UMS_BLOCK_MAX_DEVCOPIES];
    unsigned nd = 0;
    r = apply(b, (ums__transition){.ev = UMS_EV_DEVICE_WRITE, .dst = dst}, dropped, &nd);
    ums__free_dropped(rt, dropped, nd);
    return r;
}

ums_result ums__migrate_block(ums__alloc *a, size_t i, ums_location_t dst, bool replicate, ums_migrate_report *rep) {
    ums_runtime_t *rt = a->rt;
    ums__block *b = &a->blocks[i];
    char *addr = ums__block_addr(a, i);
    size_t bs = rt->block_size;
    bool dst_host = ums__loc_is_host(rt, dst);
    bool blocking = rt->cfg.protocol == UMS_PROTOCOL_BLOCKING;
    ums_result r = UMS_OK;

    pthread_mutex_lock(&b->lock);
    ums__block_wait_stable(b);
    uint64_t valid = ums__block_valid_mask(b);
    if (valid & (1ull << dst)) {
        /* Already there: done if it is the only copy (or replication was asked). */
        if (!replicate && valid != (1ull << dst)) r = make_exclusive_locked(a, i, dst);
        pthread_mutex_unlock(&b->lock);
        if (r == UMS_OK) {
            rep->blocks_already++;
        } else {
            rep->blocks_failed++;
            if (rep->first_error == UMS_OK) rep->first_error = r;
        }
        return r;
    }
    /* A host copy lives in the managed pages, so a host destination replaces it. */
    if (replicate && dst_host && b->host_valid) replicate = false;
    ums_location_t src = b->host_valid ? b->host_loc : b->dev[0].loc;
    bool src_host = b->host_valid;
    if (src_host && !b->populated) {
        /* Map every page first so write protection covers all of them. */
        r = rt->fops->populate(rt, addr, bs);
        if (r != UMS_OK) goto out_unlocked_err;
        b->populated = true;
    }

    /* prepare: the destination exists before anything else changes */
    ums_devmem *dst_mem = NULL;
    ums__stage *dst_stage = NULL, *tmp_stage = NULL;
    void *stage = NULL, *tmp = NULL;
    ums_location_t tmp_node = b->host_loc;
    r = dst_host ? ums__stage_get(rt, dst, &dst_stage) : ums__be_block_alloc(rt, dst, a, i, &dst_mem);
    if (r != UMS_OK) goto out_unlocked_err;
    if (dst_host) stage = ums__stage_ptr(dst_stage);
    if (blocking && src_host) {
        r = ums__stage_get(rt, tmp_node, &tmp_stage);
        if (r != UMS_OK) {
            if (dst_mem) ums__be_mem_free(rt, dst, dst_mem, bs);
            ums__stage_put_full(rt, dst_stage, dst);
            goto out_unlocked_err;
        }
        tmp = ums__stage_ptr(tmp_stage);
    }
    ums__devcopy dropped[UMS_BLOCK_MAX_DEVCOPIES];
    unsigned nd = 0;
    r = apply(b, (ums__transition){.ev = UMS_EV_MIGRATE_BEGIN, .src = src, .dst = dst, .dst_is_host = dst_host},
              dropped, &nd);
    if (r != UMS_OK) {
        pthread_mutex_unlock(&b->lock);
        if (dst_mem) ums__be_mem_free(rt, dst, dst_mem, bs);
        ums__stage_put_full(rt, dst_stage, dst);
        ums__stage_put_full(rt, tmp_stage, tmp_node);
        return r;
    }
    atomic_store(&b->write_abort, 0);
    bool zapped = false;
    if (src_host) r = rt->fops->protect_read(rt, addr, bs); /* writers now wait */
    pthread_mutex_unlock(&b->lock);

    /* copy (unlocked: faults on the block are served meanwhile) */
    if (r == UMS_OK && blocking && src_host) {
        UMS_MANAGED_READ_BEGIN();
        memcpy(tmp, addr, bs);
        UMS_MANAGED_READ_END();
        pthread_mutex_lock(&b->lock);
        r = release_host_pages(rt, b, addr); /* from here on every access waits */
        zapped = r == UMS_OK;
        pthread_mutex_unlock(&b->lock);
    }
    if (r == UMS_OK) {
        const void *from = tmp ? tmp : addr;
        ums_devmem *src_mem = src_host ? NULL : ums__block_devmem(b, src);
        if (src_host) UMS_MANAGED_READ_BEGIN();
        if (src_host && dst_host) r = ums__stage_copy_to(rt, dst_stage, from, bs);
        else if (src_host) r = ums__be_copy_to(rt, dst, dst_mem, from, bs);
        else if (dst_host) r = ums__be_copy_from(rt, src, stage, src_mem, bs);
        else r = ums__be_copy_peer(rt, dst, dst_mem, src, src_mem, bs);
        if (src_host) UMS_MANAGED_READ_END();
    }
    if (r == UMS_OK && atomic_load(&b->write_abort))
        r = ums__fail("ums_migrate", "core", UMS_ERR_ABORTED, 0, "a CPU write to block %zu cancelled its migration", i);

    pthread_mutex_lock(&b->lock);
    bool consumed = false, tmp_consumed = false;
    if (r == UMS_OK) {
        /* commit */
        bool keep = replicate;
        if (dst_host) {
            /* Host to host: the new pages take the old ones' place with no moment
             * when the block has none, where the fault mode can (fops->replace). */
            bool replaced = false;
            if (src_host && !zapped && !keep && rt->fops->replace) {
                ums_result rr = rt->fops->replace(rt, addr, stage, bs, &consumed);
                replaced = rr == UMS_OK || consumed;
                if (replaced) r = rr;
            }
            bind_block_to(rt, addr, dst);
            /* Otherwise the old pages go to the pool if they can move, and the
             * install puts the new ones in (never drop them here: if the install
             * then failed, the source would be gone). */
            if (!replaced && src_host && !zapped) recycle_host_pages(rt, b, addr);
            if (!replaced) r = rt->fops->install(rt, addr, stage, bs, keep, &consumed);
        } else if (!keep && src_host && !zapped) {
            r = release_host_pages(rt, b, addr);
        }
        if (r == UMS_OK) {
            r = apply(b,
                      (ums__transition){.ev = keep ? UMS_EV_MIGRATE_REPLICATE : UMS_EV_MIGRATE_COMMIT,
                                        .src = src,
                                        .dst = dst,
                                        .dst_is_host = dst_host,
                                        .dst_mem = dst_host ? NULL : dst_mem},
                      dropped, &nd);
            if (r == UMS_OK && keep && src_host && zapped) {
                /* blocking + replicate: the host copy was dropped; put it back read-only */
                r = rt->fops->install(rt, addr, tmp, bs, true, &tmp_consumed);
            }
        }
        if (r == UMS_OK) {
            if (!dst_host) dst_mem = NULL; /* now owned by the block */
            UMS_CTR_ADD(rt, migrations, 1);
            count_bytes(rt, src, dst, bs);
            rep->blocks_moved++;
            rep->bytes_moved += bs;
        }
    }
    if (r != UMS_OK && atomic_load(&b->state) == UMS_BLOCK_MIGRATING) {
        /* abort: the source is untouched (or restored), the destination is freed */
        ums_error_info saved = *ums_last_error();
        ums_result rr = UMS_OK;
        /* A SHARED block goes back to read-only: its device replicas are still valid. */
        bool was_shared = b->prev_state == UMS_BLOCK_SHARED;
        if (src_host && zapped) rr = rt->fops->install(rt, addr, tmp, bs, was_shared, &tmp_consumed);
        /* re-apply the source's protection explicitly: a failed commit step may have
         * changed it (signal mode's zap sets PROT_NONE before it drops the pages) */
        if (src_host && rr == UMS_OK)
            rr = was_shared ? rt->fops->protect_read(rt, addr, bs) : rt->fops->unprotect(rt, addr, bs);
        unsigned nd2 = 0;
        ums__block_apply(b, &(ums__transition){.ev = UMS_EV_MIGRATE_ABORT}, dropped, &nd2);
        UMS_CTR_ADD(rt, migrations_aborted, 1);
        if (rr != UMS_OK)
            ums__log(rt, UMS_LOG_ERROR, "restoring block %zu after an aborted migration: %s", i, ums_last_error()->message);
        *(ums_error_info *)ums_last_error() = saved;
    }
    wake_waiters(rt, b, addr);
    pthread_mutex_unlock(&b->lock);

    ums__free_dropped(rt, dropped, nd);
    if (dst_mem) ums__be_mem_free(rt, dst, dst_mem, bs);
    if (dst_stage) stage_after_install(rt, dst_stage, consumed, dst);
    if (tmp_stage) stage_after_install(rt, tmp_stage, tmp_consumed, tmp_node);
    if (r != UMS_OK) {
        rep->blocks_failed++;
        if (rep->first_error == UMS_OK) rep->first_error = r;
    }
    return r;

out_unlocked_err:
    pthread_mutex_unlock(&b->lock);
    rep->blocks_failed++;
    if (rep->first_error == UMS_OK) rep->first_error = r;
    return r;
}

ums_result ums__migrate_range(ums__alloc *a, size_t first, size_t last, ums_location_t dst, ums__move_mode mode,
                              ums_migrate_report *rep) {
    ums_result first_err = UMS_OK;
    ums_error_info err;
    memset(&err, 0, sizeof err);
    for (size_t i = first; i <= last; i++) {
        ums__block *b = &a->blocks[i];
        pthread_mutex_lock(&b->lock);
        bool replicate = mode == UMS_MOVE_REPLICATE ||
                         (mode == UMS_MOVE_REPLICATE_RM && (b->advice & UMS_BLOCK_ADVICE_READ_MOSTLY));
        pthread_mutex_unlock(&b->lock);
        ums_result r = ums__migrate_block(a, i, dst, replicate, rep);
        if (r != UMS_OK && first_err == UMS_OK) {
            first_err = r;
            err = *ums_last_error();
        }
    }
    rep->blocks_total += last - first + 1;
    if (first_err != UMS_OK) *(ums_error_info *)ums_last_error() = err;
    return first_err;
}
