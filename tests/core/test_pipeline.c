/* Range migrations with several blocks in flight, and fetches that take the
 * following blocks along, on an in-test backend whose copies really are
 * asynchronous: a copy is only recorded when it is issued and done when its
 * fence is waited for (so the core must keep both sides valid until then, and
 * must wait for every fence it gets).
 *  - a range migration to the device and back keeps several fences pending at
 *    once (never more than 8) and moves every block, data intact;
 *  - a copy that fails when it is issued, or whose fence fails, mid-pipeline,
 *    leaves that block at its source (valid and writable) and the others moved,
 *    reported per block; nothing leaks;
 *  - CPU writes during a pipelined migration are never lost;
 *  - to a backend that copies several blocks at once (copy_to_many), host blocks
 *    go in windows (8 blocks here); each stretch of consecutive blocks in a
 *    window is a run of one write protection and one copy; the window's last
 *    copy is waited for first and its blocks are committed only after all its
 *    copies; a failure of a run's protection, copy or fence leaves the blocks of
 *    that run at their source and moves the others; a block already there splits
 *    a run; no write is lost;
 *  - a CPU read of a device-resident block at the start of a sequential scan
 *    fetches the next blocks too (and, with userfaultfd, the run after them),
 *    READ_MOSTLY blocks keeping their device copy; an isolated access fetches
 *    its block only; a block that is migrating stops the run.
 * Runs in whichever fault mode the environment selects. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "test.h"
#include "umshim/testing.h"

#define NBLK 12

/* ---- a backend whose copies complete when their fence is waited for ---- */

#define TB_NAME "async0"
#define TB_CAPACITY (64u << 20)
#define TB_FILL 0xEE /* not what any test writes */
#include "test_backend.h"

struct ums_fence {
    size_t n; /* blocks: dst[k] receives src[k], len bytes each */
    void *dst[UMS_BACKEND_MANY_MAX];
    const void *src[UMS_BACKEND_MANY_MAX];
    size_t len;
};
static atomic_int fences_live, fences_max;  /* pending fences, and the most seen at once */
static atomic_int fail_wait_at;             /* the nth fence wait from now fails in the backend (0: none) */
static atomic_int waits;                    /* fence waits since the last reset */
static pthread_t slow_thread;               /* fence waits of this thread take 150 ms */
static atomic_bool slow_on;
/* While `watch` is set, every fence wait records its fence's blocks and how many
 * blocks of `watch` are DEVICE at that moment (committed there). */
static unsigned char *_Atomic watch;
static int watch_n[16], watch_committed[16];
static atomic_int watch_waits;
static int count_device(const unsigned char *p);

static ums_result ab_issue(void *dst, const void *src, size_t len, ums_fence **f) {
    if (!f) {
        memcpy(dst, src, len);
        return UMS_OK;
    }
    *f = malloc(sizeof **f);
    if (!*f) return UMS_ERR_NO_MEMORY;
    **f = (struct ums_fence){.n = 1, .dst = {dst}, .src = {src}, .len = len};
    int live = atomic_fetch_add(&fences_live, 1) + 1;
    int max = atomic_load(&fences_max);
    while (live > max && !atomic_compare_exchange_weak(&fences_max, &max, live)) {
    }
    return UMS_OK;
}
static ums_result ab_copy_to(void *b, ums_devmem *dst, size_t off, const void *src, size_t len, ums_fence **f) {
    (void)b;
    return ab_issue(dst->p + off, src, len, f);
}
static ums_result ab_copy_from(void *b, void *dst, ums_devmem *src, size_t off, size_t len, ums_fence **f) {
    (void)b;
    return ab_issue(dst, src->p + off, len, f);
}
static ums_result ab_fence_wait(void *b, ums_fence *f) {
    (void)b;
    if (atomic_load(&slow_on) && pthread_equal(pthread_self(), slow_thread)) {
        struct timespec ts = {0, 150 * 1000000L};
        nanosleep(&ts, NULL);
    }
    unsigned char *wp = atomic_load(&watch);
    if (wp) {
        int w = atomic_fetch_add(&watch_waits, 1);
        if (w < 16) {
            watch_n[w] = (int)f->n;
            watch_committed[w] = count_device(wp);
        }
    }
    for (size_t k = 0; k < f->n; k++) /* the copy happens now */
        memcpy(f->dst[k], f->src[k], f->len);
    free(f);
    atomic_fetch_sub(&fences_live, 1);
    int n = atomic_fetch_add(&waits, 1) + 1;
    if (n == atomic_load(&fail_wait_at)) return UMS_ERR_BACKEND;
    return UMS_OK;
}
static const ums_backend_ops ab_ops = {
    TB_OPS_COMMON,
    .name = "asyncbe",
    .copy_to = ab_copy_to,
    .copy_from = ab_copy_from,
    .fence_wait = ab_fence_wait,
};

/* The same backend, plus copy_to_many: one fence for all the blocks of a call,
 * whose sizes are recorded. Its location is "asyncm0". */
static atomic_int many_calls;
static int many_n[64];
static ums_result am_describe(void *b, uint32_t index, ums_backend_location *d) {
    ums_result r = tb_describe(b, index, d);
    snprintf(d->name, sizeof d->name, "asyncm0");
    return r;
}
static ums_result am_copy_to_many(void *b, ums_devmem *const *dst, size_t n, const void *src, size_t len,
                                  ums_fence **f) {
    (void)b;
    if (n > 8 || !f) return UMS_ERR_NOT_SUPPORTED;
    for (size_t k = 0; k < n; k++)
        if (dst[k]->len != len) return UMS_ERR_INVALID_ARG;
    ums_result r = ab_issue(dst[0]->p, src, len, f);
    if (r != UMS_OK) return r;
    (*f)->n = n;
    for (size_t k = 0; k < n; k++) {
        (*f)->dst[k] = dst[k]->p;
        (*f)->src[k] = (const unsigned char *)src + k * len;
    }
    int c = atomic_fetch_add(&many_calls, 1);
    if (c < 64) many_n[c] = (int)n;
    return UMS_OK;
}
/* ... and copy_from_many: one fence for the blocks of a call into consecutive
 * host memory, whose sizes are recorded too. */
static atomic_int from_calls;
static int from_n[64];
static ums_result am_copy_from_many(void *b, void *dst, ums_devmem *const *src, size_t n, size_t len,
                                    ums_fence **f) {
    (void)b;
    if (n > 8 || !f) return UMS_ERR_NOT_SUPPORTED;
    for (size_t k = 0; k < n; k++)
        if (src[k]->len != len) return UMS_ERR_INVALID_ARG;
    ums_result r = ab_issue(dst, src[0]->p, len, f);
    if (r != UMS_OK) return r;
    (*f)->n = n;
    for (size_t k = 0; k < n; k++) {
        (*f)->dst[k] = (unsigned char *)dst + k * len;
        (*f)->src[k] = src[k]->p;
    }
    int c = atomic_fetch_add(&from_calls, 1);
    if (c < 64) from_n[c] = (int)n;
    return UMS_OK;
}
static ums_backend_ops am_ops; /* ab_ops with the two above, filled in setup() */

/* ---- helpers ---- */

static ums_runtime_t *rt;
static size_t bs;
static ums_location_t host, dev, mdev;

static void reset_backend(void) {
    atomic_store(&many_calls, 0);
    atomic_store(&from_calls, 0);
    atomic_store(&fences_max, 0);
    atomic_store(&fail_wait_at, 0);
    atomic_store(&waits, 0);
    ums_test_inject_clear();
}

static unsigned char pat(size_t blk, size_t off, unsigned gen) { return (unsigned char)(blk * 31 + off * 7 + gen); }

static void fill(unsigned char *p, unsigned gen) {
    for (size_t k = 0; k < NBLK; k++)
        for (size_t o = 0; o < bs; o += 512) p[k * bs + o] = pat(k, o, gen);
}
static void check(const unsigned char *p, unsigned gen, const char *when) {
    for (size_t k = 0; k < NBLK; k++)
        for (size_t o = 0; o < bs; o += 512)
            if (p[k * bs + o] != pat(k, o, gen))
                FAIL_("%s: block %zu offset %zu holds %u, expected %u", when, k, o, p[k * bs + o], pat(k, o, gen));
}

static ums_block_state state_of(const unsigned char *p, size_t k) {
    ums_block_info bi;
    size_t n;
    ASSERT_OK(ums_query(p + k * bs, 1, &bi, 1, &n));
    return bi.state;
}
static int count_device(const unsigned char *p) {
    int c = 0;
    for (size_t k = 0; k < NBLK; k++) c += state_of(p, k) == UMS_BLOCK_DEVICE;
    return c;
}
static uint64_t valid_of(const unsigned char *p, size_t k) {
    ums_block_info bi;
    size_t n;
    ASSERT_OK(ums_query(p + k * bs, 1, &bi, 1, &n));
    return bi.valid;
}
static void expect_state(const unsigned char *p, size_t k, ums_block_state want, const char *when) {
    ums_block_state s = state_of(p, k);
    if (s != want)
        FAIL_("%s: block %zu is %s, expected %s", when, k, ums_block_state_name(s), ums_block_state_name(want));
}

static void all_to(unsigned char *p, ums_location_t loc) {
    reset_backend();
    ums_migrate_report rep;
    ASSERT_OK(ums_migrate_ex(p, NBLK * bs, loc, &rep));
    ASSERT_EQ(rep.blocks_failed, 0);
}

/* ---- tests ---- */

static void test_pipelined_round_trip(unsigned char *p) {
    fill(p, 1);
    reset_backend();
    ums_migrate_report rep;
    ASSERT_OK(ums_migrate_ex(p, NBLK * bs, dev, &rep));
    ASSERT_EQ(rep.blocks_moved, NBLK);
    ASSERT_EQ(rep.blocks_failed, 0);
    ASSERT_GE(atomic_load(&fences_max), 2); /* several copies in flight */
    ASSERT_LE(atomic_load(&fences_max), 8);
    ASSERT_EQ(atomic_load(&fences_live), 0);
    for (size_t k = 0; k < NBLK; k++) expect_state(p, k, UMS_BLOCK_DEVICE, "after the move to the device");

    reset_backend();
    ASSERT_OK(ums_migrate_ex(p, NBLK * bs, host, &rep));
    ASSERT_EQ(rep.blocks_moved, NBLK);
    ASSERT_GE(atomic_load(&fences_max), 2);
    ASSERT_LE(atomic_load(&fences_max), 8);
    ASSERT_EQ(atomic_load(&fences_live), 0);
    for (size_t k = 0; k < NBLK; k++) expect_state(p, k, UMS_BLOCK_HOST, "after the move back");
    check(p, 1, "after the round trip");
    printf("pipelined round trip: up to %d copies in flight\n", atomic_load(&fences_max));
}

/* One block's copy fails mid-pipeline (at issue, or at its fence, injected in
 * the core or returned by the backend): that block stays at its source. */
static void one_failure(unsigned char *p, ums_location_t from, ums_location_t to, const char *how, size_t bad,
                        unsigned gen) {
    ums_block_state src_state = from == host ? UMS_BLOCK_HOST : UMS_BLOCK_DEVICE;
    ums_block_state dst_state = to == host ? UMS_BLOCK_HOST : UMS_BLOCK_DEVICE;
    all_to(p, from);
    reset_backend();
    if (strcmp(how, "issue") == 0)
        ASSERT_OK(ums_test_inject(to == host ? "op:copy_from" : "op:copy_to", (unsigned)bad + 1, 1, UMS_ERR_BACKEND));
    else if (strcmp(how, "fence") == 0)
        ASSERT_OK(ums_test_inject("op:fence_wait", (unsigned)bad + 1, 1, UMS_ERR_BACKEND));
    else
        atomic_store(&fail_wait_at, (int)bad + 1); /* the backend's own fence fails */
    ums_migrate_report rep;
    ums_result r = ums_migrate_ex(p, NBLK * bs, to, &rep);
    ums_test_inject_clear();
    if (r != UMS_ERR_BACKEND)
        FAIL_("%s failure at block %zu: ums_migrate_ex returned %s (%s)", how, bad, ums_result_name(r),
              ums_last_error()->message);
    ASSERT_EQ(ums_last_error()->code, UMS_ERR_BACKEND);
    ASSERT_STR_EQ(ums_last_error()->function, "ums_migrate");
    ASSERT_EQ(rep.blocks_failed, 1);
    ASSERT_EQ(rep.blocks_moved, NBLK - 1);
    ASSERT_EQ(rep.first_error, UMS_ERR_BACKEND);
    ASSERT_EQ(atomic_load(&fences_live), 0);
    for (size_t k = 0; k < NBLK; k++) expect_state(p, k, k == bad ? src_state : dst_state, how);
    ASSERT_EQ(valid_of(p, bad), 1ull << from);
    /* the data is intact everywhere (reads fetch what is on the device) */
    check(p, gen, how);
    if (from == host) {
        /* the block left behind is writable at once */
        p[bad * bs] = pat(bad, 0, gen);
        expect_state(p, bad, UMS_BLOCK_HOST, "after writing the block left behind");
    }
}

static void test_failures_mid_pipeline(unsigned char *p) {
    fill(p, 2);
    const char *hows[] = {"issue", "fence", "backend fence"};
    for (int h = 0; h < 3; h++) {
        one_failure(p, host, dev, hows[h], 4, 2);
        one_failure(p, dev, host, hows[h], 5, 2);
    }
    /* the first and the last block of a range too */
    one_failure(p, host, dev, "fence", 0, 2);
    one_failure(p, host, dev, "issue", NBLK - 1, 2);
    printf("a failure mid-pipeline leaves its block at the source, the others moved\n");
}

/* A writer keeps writing every block while the range moves back and forth. */
static struct {
    unsigned char *p;
    atomic_bool stop;
    unsigned last[NBLK];
} wr;
static void *writer(void *arg) {
    (void)arg;
    unsigned v = 0;
    while (!atomic_load(&wr.stop)) {
        v++;
        for (size_t k = 0; k < NBLK; k++) {
            wr.p[k * bs + 8] = (unsigned char)(v + k);
            wr.last[k] = (unsigned char)(v + k);
        }
    }
    return NULL;
}
static void test_writes_during_pipeline(unsigned char *p, ums_location_t to) {
    all_to(p, host);
    wr.p = p;
    atomic_store(&wr.stop, false);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, writer, NULL), 0);
    for (int round = 0; round < 6; round++) {
        ums_migrate_report rep;
        ums_result r = ums_migrate_ex(p, NBLK * bs, round % 2 ? host : to, &rep);
        if (r != UMS_OK && r != UMS_ERR_ABORTED)
            FAIL_("migrate during writes: %s (%s)", ums_result_name(r), ums_last_error()->message);
    }
    atomic_store(&wr.stop, true);
    pthread_join(t, NULL);
    for (size_t k = 0; k < NBLK; k++)
        if (p[k * bs + 8] != (unsigned char)wr.last[k])
            FAIL_("block %zu: the last write (%u) was lost, the block holds %u", k, wr.last[k], p[k * bs + 8]);
    ASSERT_EQ(atomic_load(&fences_live), 0);
    printf("no write lost during pipelined migrations\n");
}

static size_t count_state(const unsigned char *p, size_t from, size_t to, ums_block_state s) {
    size_t n = 0;
    for (size_t k = from; k < to; k++) n += state_of(p, k) == s;
    return n;
}

static volatile unsigned sink;

static void test_fetch_ahead(unsigned char *p) {
    fill(p, 3);
    /* a sequential scan: the first read brings the following blocks in one batch
     * (up to 32 MiB: all 12 here) */
    all_to(p, dev);
    atomic_store(&fences_max, 0);
    ums_counters c0, c1;
    ASSERT_OK(ums_counters_get(rt, &c0));
    sink += p[0];
    for (size_t k = 0; k < NBLK; k++) expect_state(p, k, UMS_BLOCK_HOST, "after reading block 0");
    ASSERT_EQ(atomic_load(&fences_max), NBLK); /* every copy issued before the first wait */
    check(p, 3, "after the scan");
    ASSERT_OK(ums_counters_get(rt, &c1));
    ASSERT_EQ(c1.fetches - c0.fetches, NBLK);
    if (ums_runtime_fault_mode(rt) == UMS_FAULT_UFFD) ASSERT_EQ(c1.faults - c0.faults, 1);

    /* a scan that starts further in: blocks 4.. come along with block 4 */
    all_to(p, dev);
    ASSERT_OK(ums_migrate(p, 4 * bs, host));
    sink += p[4 * bs];
    for (size_t k = 0; k < NBLK; k++) expect_state(p, k, UMS_BLOCK_HOST, "after reading block 4");

    /* an isolated access (the block before is on the device) fetches its block only */
    all_to(p, dev);
    sink += p[5 * bs];
    expect_state(p, 5, UMS_BLOCK_HOST, "after reading block 5");
    ASSERT_EQ(count_state(p, 0, NBLK, UMS_BLOCK_DEVICE), NBLK - 1);

    /* a write fault at the start of a scan fetches ahead too */
    all_to(p, dev);
    p[0] = pat(0, 0, 3);
    for (size_t k = 0; k < NBLK; k++) expect_state(p, k, UMS_BLOCK_HOST, "after writing block 0");
    check(p, 3, "after the write scan");

    /* READ_MOSTLY: the blocks fetched ahead keep their device copy (SHARED) */
    all_to(p, dev);
    ASSERT_OK(ums_advise(p, NBLK * bs, UMS_ADVISE_READ_MOSTLY, UMS_LOCATION_NONE));
    sink += p[0];
    for (size_t k = 0; k < NBLK; k++) {
        expect_state(p, k, UMS_BLOCK_SHARED, "after reading READ_MOSTLY block 0");
        ASSERT_EQ(valid_of(p, k), (1ull << host) | (1ull << dev));
    }
    check(p, 3, "after the READ_MOSTLY scan");
    p[bs] = pat(1, 0, 3); /* a write invalidates the device copy of its block only */
    expect_state(p, 1, UMS_BLOCK_HOST, "after writing block 1");
    expect_state(p, 2, UMS_BLOCK_SHARED, "after writing block 1");
    ASSERT_OK(ums_advise(p, NBLK * bs, UMS_ADVISE_UNSET_READ_MOSTLY, UMS_LOCATION_NONE));
    printf("fetch ahead: a run per fault\n");
}

/* A block that is migrating stops the run: it is neither waited for nor fetched. */
static struct {
    unsigned char *p;
    atomic_bool started;
    ums_result r;
} mg;
static void *slow_migration(void *arg) {
    (void)arg;
    slow_thread = pthread_self();
    atomic_store(&slow_on, true);
    atomic_store(&mg.started, true);
    mg.r = ums_migrate(mg.p + 3 * bs, bs, host); /* block 3, its fence takes 150 ms */
    atomic_store(&slow_on, false);
    return NULL;
}
static void test_fetch_stops_at_migrating(unsigned char *p) {
    fill(p, 4);
    all_to(p, dev);
    mg.p = p;
    atomic_store(&mg.started, false);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, slow_migration, NULL), 0);
    while (!atomic_load(&mg.started) || state_of(p, 3) != UMS_BLOCK_MIGRATING) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
        if (state_of(p, 3) == UMS_BLOCK_HOST) FAIL_("block 3 moved before it could be seen migrating");
    }
    sink += p[0];
    for (size_t k = 0; k < 3; k++) expect_state(p, k, UMS_BLOCK_HOST, "reading block 0 while block 3 migrates");
    /* block 3 is the migration's; the blocks after it were not fetched */
    for (size_t k = 4; k < NBLK; k++) expect_state(p, k, UMS_BLOCK_DEVICE, "reading block 0 while block 3 migrates");
    pthread_join(t, NULL);
    ASSERT_OK(mg.r);
    expect_state(p, 3, UMS_BLOCK_HOST, "after block 3's migration");
    check(p, 4, "after the scan past a migrating block");
    printf("a migrating block stops the fetch run\n");
}

/* Windows: 256 KiB blocks go to asyncm0 in windows of 8 (12 blocks: 8 + 4). */
static void expect_runs(const int *want, int n, const char *when) {
    if (atomic_load(&many_calls) != n) FAIL_("%s: %d runs copied, expected %d", when, atomic_load(&many_calls), n);
    for (int k = 0; k < n; k++)
        if (many_n[k] != want[k]) FAIL_("%s: run %d copied %d blocks, expected %d", when, k, many_n[k], want[k]);
}
/* A range moved from `from` to `to` with one injected failure (name, nth): blocks
 * first..first+count-1 fail and stay at `from` (in state `left`), the others
 * move; nothing is left pending. */
static void range_failure(unsigned char *p, ums_location_t from, ums_location_t to, ums_block_state left,
                          const char *name, unsigned nth, size_t first, size_t count) {
    all_to(p, from);
    reset_backend();
    ASSERT_OK(ums_test_inject(name, nth, 1, strncmp(name, "op:", 3) == 0 ? UMS_ERR_BACKEND : EIO));
    ums_migrate_report rep;
    ums_result r = ums_migrate_ex(p, NBLK * bs, to, &rep);
    unsigned fired = ums_test_injected_count();
    ums_test_inject_clear();
    if (fired != 1) FAIL_("%s #%u never fired", name, nth);
    if (r == UMS_OK) FAIL_("%s #%u: ums_migrate_ex succeeded", name, nth);
    ASSERT_EQ(rep.blocks_failed, count);
    ASSERT_EQ(rep.blocks_moved, NBLK - count);
    ASSERT_EQ(atomic_load(&fences_live), 0);
    ums_block_state moved = left == UMS_BLOCK_HOST ? UMS_BLOCK_DEVICE : UMS_BLOCK_HOST;
    for (size_t k = 0; k < NBLK; k++) expect_state(p, k, k >= first && k < first + count ? left : moved, name);
}
/* A range moved from `from` to `to` while one page move fails (name "uffd_move",
 * the first): the run's step falls back block by block, and every block moves. */
static void range_recovers(unsigned char *p, ums_location_t from, ums_location_t to, ums_block_state moved) {
    all_to(p, from);
    reset_backend();
    ASSERT_OK(ums_test_inject("uffd_move", 1, 1, EBUSY));
    ums_migrate_report rep;
    ASSERT_OK(ums_migrate_ex(p, NBLK * bs, to, &rep));
    ASSERT_EQ(ums_test_injected_count(), 1);
    ums_test_inject_clear();
    ASSERT_EQ(rep.blocks_moved, NBLK);
    for (size_t k = 0; k < NBLK; k++) expect_state(p, k, moved, "after a failed run move");
}
static void run_failure(unsigned char *p, const char *name, unsigned nth, size_t first, size_t count, unsigned gen) {
    range_failure(p, host, mdev, UMS_BLOCK_HOST, name, nth, first, count);
    check(p, gen, name);
    for (size_t k = first; k < first + count; k++) { /* left behind, and writable at once */
        p[k * bs] = pat(k, 0, gen);
        expect_state(p, k, UMS_BLOCK_HOST, "after writing a block left behind");
    }
}
static void test_runs(unsigned char *p) {
    fill(p, 6);
    all_to(p, host);
    reset_backend();
    ums_migrate_report rep;
    ASSERT_OK(ums_migrate_ex(p, NBLK * bs, mdev, &rep));
    ASSERT_EQ(rep.blocks_moved, NBLK);
    expect_runs((const int[]){8, 4}, 2, "to the device");
    ASSERT_LE(atomic_load(&fences_max), 2); /* one fence per run */
    for (size_t k = 0; k < NBLK; k++) expect_state(p, k, UMS_BLOCK_DEVICE, "after the runs");
    all_to(p, host); /* device -> host: in windows too, where pages can move (below) */
    ASSERT_EQ(atomic_load(&many_calls), 0);
    check(p, 6, "after a round trip in runs");

    /* a block already there splits the run: the first window is blocks 0-4 and
     * 6-8 (8 transactions), the second 9-11. The window's last copy is waited for
     * first, and no block of a window is committed before all its copies are done. */
    ASSERT_OK(ums_migrate(p + 5 * bs, bs, mdev));
    reset_backend();
    atomic_store(&watch_waits, 0);
    atomic_store(&watch, p);
    ASSERT_OK(ums_migrate_ex(p, NBLK * bs, mdev, &rep));
    atomic_store(&watch, NULL);
    ASSERT_EQ(rep.blocks_moved, NBLK - 1);
    ASSERT_EQ(rep.blocks_already, 1);
    expect_runs((const int[]){5, 3, 3}, 3, "around a block already there");
    ASSERT_EQ(atomic_load(&watch_waits), 3);
    static const int order[3] = {3, 5, 3}, committed[3] = {1, 1, 9}; /* block 5 counts from the start */
    for (int w = 0; w < 3; w++) {
        if (watch_n[w] != order[w]) FAIL_("fence wait %d was for %d blocks, expected %d", w, watch_n[w], order[w]);
        if (watch_committed[w] != committed[w])
            FAIL_("fence wait %d saw %d blocks on the device, expected %d", w, watch_committed[w], committed[w]);
    }
    all_to(p, host);
    check(p, 6, "after the split runs");

    /* the one page move of a run's old host pages fails: each block's commit
     * moves its own pages, and the migration still succeeds */
    ums_runtime_features f;
    ASSERT_OK(ums_runtime_features_get(rt, &f));
    if (f.uffd_move) {
        range_recovers(p, host, mdev, UMS_BLOCK_DEVICE);
        all_to(p, host);
        check(p, 6, "after a failed run move");
    }

    /* failures: the run's copy, its fence, its write protection */
    run_failure(p, "op:copy_to_many", 2, 8, 4, 6);
    run_failure(p, "op:fence_wait", 1, 0, 8, 6);
    run_failure(p, ums_runtime_fault_mode(rt) == UMS_FAULT_UFFD ? "uffd_wp" : "mprotect", 1, 0, 8, 6);
    all_to(p, host);
    check(p, 6, "after the run failures");
    printf("windows of 8 blocks: one copy per run, a block already there splits a run, commits after the window's "
           "last copy, a failed run stays at its source\n");
}

/* Device -> host windows: with page moves, the pages of a window's blocks come
 * back into consecutive staging blocks, which one copy_from_many fills per run
 * (8 + 4); a failure of that copy or of its fence leaves the run on the device,
 * the others moved; a block already there splits a run. Without page moves the
 * blocks come back one by one. */
static void back_failure(unsigned char *p, const char *name, unsigned nth, size_t first, size_t count) {
    range_failure(p, mdev, host, UMS_BLOCK_DEVICE, name, nth, first, count);
    all_to(p, host);
}
static void test_runs_back(unsigned char *p) {
    ums_runtime_features f;
    ASSERT_OK(ums_runtime_features_get(rt, &f));
    fill(p, 7);
    all_to(p, mdev);
    all_to(p, host);
    if (!f.uffd_move) {
        ASSERT_EQ(atomic_load(&from_calls), 0);
        check(p, 7, "after a round trip");
        printf("device -> host without page moves: block by block\n");
        return;
    }
    expect_runs((const int[]){8, 4}, 0, "back (no copy_to_many)");
    ASSERT_EQ(atomic_load(&from_calls), 2);
    ASSERT_EQ(from_n[0], 8);
    ASSERT_EQ(from_n[1], 4);
    ASSERT_LE(atomic_load(&fences_max), 2); /* one fence per run */
    check(p, 7, "after a round trip in windows");

    /* a block already on the host splits the run: 0-4, then 6-8 (the window's
     * 8 transactions), then 9-11 */
    all_to(p, mdev);
    ASSERT_OK(ums_migrate(p + 5 * bs, bs, host));
    reset_backend();
    ums_migrate_report rep;
    ASSERT_OK(ums_migrate_ex(p, NBLK * bs, host, &rep));
    ASSERT_EQ(rep.blocks_already, 1);
    ASSERT_EQ(atomic_load(&from_calls), 3);
    ASSERT_EQ(from_n[0], 5);
    ASSERT_EQ(from_n[1], 3);
    ASSERT_EQ(from_n[2], 3);
    check(p, 7, "after the split windows back");

    /* a run is put in place with one page move; when it fails the rest is
     * copied in, and the migration still succeeds */
    range_recovers(p, mdev, host, UMS_BLOCK_HOST);
    check(p, 7, "after a failed run install move");
    /* ... and when the copy fails too, the run stays on the device */
    all_to(p, mdev);
    reset_backend();
    ASSERT_OK(ums_test_inject("uffd_move", 1, 1, EBUSY));
    ASSERT_OK(ums_test_inject("uffd_copy", 1, 1000, ENOMEM));
    ASSERT_NE(ums_migrate_ex(p, NBLK * bs, host, &rep), UMS_OK);
    ums_test_inject_clear();
    ASSERT_EQ(rep.blocks_failed, 8);
    ASSERT_EQ(rep.blocks_moved, 4);
    for (size_t k = 0; k < NBLK; k++)
        expect_state(p, k, k < 8 ? UMS_BLOCK_DEVICE : UMS_BLOCK_HOST, "after a failed run install");
    all_to(p, host);
    check(p, 7, "after a failed run install");

    back_failure(p, "op:copy_from_many", 2, 8, 4);
    back_failure(p, "op:fence_wait", 1, 0, 8);
    check(p, 7, "after the failures on the way back");
    printf("device -> host windows: one copy per run into consecutive staging blocks, a failed run stays on the "
           "device\n");
}

static unsigned char *setup(ums_protocol proto) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.sim = NULL;
    cfg.opencl = 0;
    cfg.block_size = 256 << 10;
    cfg.transfer_window = 8 * (256 << 10); /* windows of 8 blocks */
    cfg.protocol = proto;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    bs = ums_runtime_block_size(rt);
    ASSERT_OK(ums_backend_add(rt, &ab_ops, NULL));
    am_ops = ab_ops;
    am_ops.name = "asyncmany";
    am_ops.location_describe = am_describe;
    am_ops.copy_to_many = am_copy_to_many;
    am_ops.copy_from_many = am_copy_from_many;
    ASSERT_OK(ums_backend_add(rt, &am_ops, NULL));
    ASSERT_OK(ums_location_find(rt, "node0", &host));
    ASSERT_OK(ums_location_find(rt, "async0", &dev));
    ASSERT_OK(ums_location_find(rt, "asyncm0", &mdev));
    unsigned char *p;
    ASSERT_OK(ums_runtime_alloc(rt, NBLK * bs, 0, (void **)&p));
    return p;
}
static void teardown(unsigned char *p) {
    ASSERT_OK(ums_free(p));
    ums_runtime_destroy(rt);
    ASSERT_EQ(atomic_load(&fences_live), 0);
}

/* The blocking protocol keeps one block at a time. */
static void test_blocking_one_at_a_time(unsigned char *p) {
    fill(p, 5);
    all_to(p, dev);
    ASSERT_EQ(atomic_load(&fences_max), 1);
    all_to(p, host);
    ASSERT_EQ(atomic_load(&fences_max), 1);
    check(p, 5, "after a blocking round trip");
    one_failure(p, host, dev, "fence", 4, 5);
    printf("blocking protocol: one block in flight\n");
}

int main(void) {
    unsigned char *p = setup(UMS_PROTOCOL_READABLE);
    test_pipelined_round_trip(p);
    test_failures_mid_pipeline(p);
    test_writes_during_pipeline(p, dev);
    test_runs(p);
    test_runs_back(p);
    test_writes_during_pipeline(p, mdev);
    test_fetch_ahead(p);
    test_fetch_stops_at_migrating(p);
    teardown(p);

    p = setup(UMS_PROTOCOL_BLOCKING);
    test_blocking_one_at_a_time(p);
    teardown(p);
    printf("ok\n");
    return 0;
}
