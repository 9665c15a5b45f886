/* Resolving a CPU fault on managed memory, the same for both fault modes.
 * Called on the fault service thread; never touches managed memory. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Which host node a fetched block returns to: its preferred location when that
 * is a host node, else the node it last lived on. */
ums_location_t ums__fetch_target(ums_runtime_t *rt, const ums__block *b) {
    if (b->preferred != UMS_LOCATION_NONE && ums__loc_is_host(rt, b->preferred)) return b->preferred;
    return ums__loc_is_host(rt, b->host_loc) ? b->host_loc : rt->host_default;
}

/* How many blocks a fetch of block i takes along: a CPU scanning device-resident
 * data in address order (block i is the first, or the one before it is on the
 * host already) gets the next blocks in the same batch of copies, up to 32 MiB
 * in all; an isolated access fetches its block only. The faulting thread goes
 * on as soon as its block is in, while the rest of the batch is installed. */
#define FETCH_RUN_BYTES ((size_t)32 << 20)
static unsigned fetch_ahead(const ums__alloc *a, size_t i) {
    size_t bs = a->rt->block_size;
    if (bs >= FETCH_RUN_BYTES || i + 1 >= a->nblocks) return 0;
    if (i > 0) {
        ums_block_state prev = (ums_block_state)atomic_load(&a->blocks[i - 1].state);
        if (prev != UMS_BLOCK_HOST && prev != UMS_BLOCK_SHARED) return 0;
    }
    size_t n = FETCH_RUN_BYTES / bs - 1;
    return n > UMS_FETCH_AHEAD_MAX ? UMS_FETCH_AHEAD_MAX : (unsigned)n;
}

bool ums__fault_resolve(ums_runtime_t *rt, void *addr, bool is_write, bool is_wp) {
    ums__alloc *a = ums__registry_lookup(addr);
    if (!a || a->rt != rt) {
        /* Not a managed block (any more): let the access proceed. A registered
         * range that is no allocation (an empty staging block, which nothing
         * should touch) gets a zero page rather than a thread stuck forever. */
        if (rt->fault_mode == UMS_FAULT_UFFD) {
            char *page = (char *)((uintptr_t)addr & ~(uintptr_t)(rt->page_size - 1));
            if (rt->fops->populate(rt, page, rt->page_size) != UMS_OK)
                ums__log(rt, UMS_LOG_ERROR, "fault at %p outside managed memory: %s", addr, ums_last_error()->message);
            rt->fops->wake(rt, NULL, page, rt->page_size);
        }
        return true;
    }
    size_t i = ums__block_index(a, addr);
    ums__block *b = &a->blocks[i];
    char *baddr = ums__block_addr(a, i);
    /* A reference: with it, a fetch lets the faulting thread go as soon as its
     * block is in place and goes on installing the blocks after it (the thread
     * may free the allocation meanwhile). Without (being freed), the plain fetch. */
    ums__alloc *ref = NULL;
    if (ums__alloc_get(baddr, 1, "fault", &ref) == UMS_OK && ref != a) {
        ums__alloc_put(ref);
        ref = NULL;
    }
    size_t bs = rt->block_size;
    bool uffd = rt->fault_mode == UMS_FAULT_UFFD;
    if (uffd) {
        UMS_CTR_ADD(rt, faults, 1);
        UMS_CTR_ADD(rt, read_faults, is_write ? 0 : 1);
        UMS_CTR_ADD(rt, write_faults, is_write ? 1 : 0);
    }
    bool wake = true;
    uint64_t t0 = ums__now_ns();
    bool counted_wait = false;
    ums__devcopy dropped[(1 + UMS_FETCH_AHEAD_MAX) * UMS_BLOCK_MAX_DEVCOPIES];
    unsigned nd = 0;
    pthread_mutex_lock(&b->lock);
    ums_block_state st = (ums_block_state)atomic_load(&b->state);
    ums_result r = UMS_OK;
    switch (st) {
    case UMS_BLOCK_HOST:
        if (!b->populated && uffd) {
            r = rt->fops->populate(rt, baddr, bs);
            if (r == UMS_OK) {
                b->populated = true;
                UMS_CTR_ADD(rt, first_touch_faults, 1);
            }
        } else if (is_wp || !uffd) {
            /* a fault raced with the block's return to HOST, or a stale protection */
            r = rt->fops->unprotect(rt, baddr, bs);
        } else {
            char *page = (char *)((uintptr_t)addr & ~(uintptr_t)(rt->page_size - 1));
            r = rt->fops->populate(rt, page, rt->page_size);
        }
        break;
    case UMS_BLOCK_SHARED:
        if (!b->host_valid) {
            /* copies on several devices, none on the host: a read fetches one and
             * keeps them all; a write fetches one and drops them */
            r = ums__fetch_run_locked(a, i, !is_write, ref ? fetch_ahead(a, i) : 0, ref != NULL, dropped, &nd);
            counted_wait = true;
        } else if (is_write) {
            r = ums__invalidate_devices_locked(a, i, dropped, &nd);
            counted_wait = true;
        } else {
            /* readers of a SHARED host copy do not fault: a stale protection does */
            r = rt->fops->protect_read(rt, baddr, bs);
        }
        break;
    case UMS_BLOCK_DEVICE:
        r = ums__fetch_run_locked(a, i, !is_write && (b->advice & UMS_BLOCK_ADVICE_READ_MOSTLY),
                                  ref ? fetch_ahead(a, i) : 0, ref != NULL, dropped, &nd);
        counted_wait = true;
        break;
    case UMS_BLOCK_MIGRATING:
        /* The migration wakes the thread when the block commits or aborts. */
        if (is_write && rt->cfg.migrate_write == UMS_MIGRATE_WRITE_ABORT) atomic_store(&b->write_abort, 1);
        if (uffd) {
            uint64_t *since = is_write ? &b->wwait_since_ns : &b->rwait_since_ns;
            if (*since == 0) *since = t0;
            if (is_write) UMS_CTR_ADD(rt, writer_waits, 1);
            else UMS_CTR_ADD(rt, reader_waits, 1);
        }
        wake = false;
        break;
    }
    pthread_mutex_unlock(&b->lock);
    if (r != UMS_OK) {
        /* The faulting thread cannot be given an error: the data stays where it
         * is valid, the failure is logged, and the access retries after a pause. */
        ums__log(rt, UMS_LOG_ERROR, "resolving a %s fault at %p: %s", is_write ? "write" : "read", addr,
                 ums_last_error()->message);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (counted_wait && uffd) ums__count_wait(rt, is_write, ums__now_ns() - t0);
    /* Wake first: the thread goes on while device memory the fault invalidated
     * is freed (that can take as long as the rest of the fault). */
    if (wake) rt->fops->wake(rt, b, baddr, bs);
    ums__free_dropped(rt, dropped, nd);
    if (ref) ums__alloc_put(ref);
    return wake;
}
