/* The readable protocol, step by step:
 *  - readers of a block that is being copied never fault and keep reading;
 *  - a writer waits for that block only, then lands in the new copy;
 *  - a commit wakes only the threads left asleep on its block (userfaultfd mode);
 *  - UMS_MIGRATE_WRITE=abort: a write cancels the block's move, reported per block;
 *  - a failure injected at each step of the transaction (prepare, begin, copy,
 *    commit) aborts it: the source stays valid and writable, nothing leaks;
 *  - the blocking protocol, by contrast, makes readers wait.
 * The sim backend's emulated latency makes each copy take long enough to watch. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <time.h>

#include "test.h"

#define COPY_MS 60 /* emulated latency of every sim transfer */

static ums_runtime_t *rt;
static size_t bs;
static ums_location_t host, hnode2, dev0, dev1;

static ums_runtime_t *make_rt(ums_protocol proto, ums_migrate_write mw) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.sim = "count=2,capacity=64M,latency=60ms,host_nodes=1";
    cfg.opencl = 0;
    cfg.protocol = proto;
    cfg.migrate_write = mw;
    cfg.block_size = 256 << 10;
    ums_runtime_t *r;
    ASSERT_OK(ums_runtime_create(&cfg, &r));
    bs = ums_runtime_block_size(r);
    ASSERT_OK(ums_location_find(r, "node0", &host));
    ASSERT_OK(ums_location_find(r, "simnode0", &hnode2));
    ASSERT_OK(ums_location_find(r, "sim0", &dev0));
    ASSERT_OK(ums_location_find(r, "sim1", &dev1));
    return r;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}
static void sleep_ms(int ms) {
    struct timespec t = {0, (long)ms * 1000000L};
    nanosleep(&t, NULL);
}

struct mig {
    void *p;
    size_t len;
    ums_location_t dst;
    ums_result r;
    ums_migrate_report rep;
    char msg[256]; /* the migrating thread's last-error message */
};
static void *mig_thread(void *arg) {
    struct mig *m = arg;
    m->r = ums_migrate_ex(m->p, m->len, m->dst, &m->rep);
    snprintf(m->msg, sizeof m->msg, "%s", ums_last_error()->message);
    return NULL;
}

static unsigned block_state(void *p, ums_location_t *home);
/* Wait until the migration thread has begun the block's transaction: the
 * state is published under the block's lock together with the write
 * protection, so once it reads MIGRATING, writers are held. */
static void wait_migrating(void *p) {
    double t0 = now_ms();
    while (block_state(p, NULL) != UMS_BLOCK_MIGRATING) {
        if (now_ms() - t0 > 5000) FAIL_("the block never started migrating");
        sleep_ms(1);
    }
}

static unsigned block_state(void *p, ums_location_t *home) {
    ums_block_info bi;
    size_t n;
    ASSERT_OK(ums_query(p, 1, &bi, 1, &n));
    if (home) *home = bi.home;
    return bi.state;
}

/* Readers during the copy: no fault, and they make progress the whole time. */
static void readers_do_not_wait(ums_location_t src, ums_location_t dst, const char *what) {
    uint64_t *p;
    ASSERT_OK(ums_runtime_alloc(rt, bs, 0, (void **)&p));
    for (size_t i = 0; i < bs / 8; i++) p[i] = i;
    if (src != host) ASSERT_OK(ums_migrate(p, bs, src));
    for (size_t i = 0; i < bs / 8; i++) ASSERT_EQ(p[i], i); /* host copy valid (fetched if needed) */
    ums_counters c0, c1;
    ASSERT_OK(ums_counters_get(rt, &c0));
    struct mig m = {.p = p, .len = bs, .dst = dst};
    pthread_t t;
    double t0 = now_ms();
    pthread_create(&t, NULL, mig_thread, &m);
    wait_migrating(p); /* the migration is now copying (it takes COPY_MS) */
    t0 = now_ms();
    uint64_t reads = 0, sum = 0;
    double longest = 0;
    while (now_ms() - t0 < COPY_MS - 20) {
        double a = now_ms();
        sum += __atomic_load_n(&p[(reads * 4099) % (bs / 8)], __ATOMIC_RELAXED);
        double d = now_ms() - a;
        if (d > longest) longest = d;
        reads++;
    }
    ASSERT_OK(ums_counters_get(rt, &c1));
    pthread_join(t, NULL);
    ASSERT_OK(m.r);
    printf("%-22s %8llu reads during the copy, longest %.3f ms, %llu read faults\n", what,
           (unsigned long long)reads, longest, (unsigned long long)(c1.read_faults - c0.read_faults));
    ASSERT_EQ(c1.read_faults - c0.read_faults, 0);
    ASSERT_GT(reads, 1000);
    /* Never blocked for the copy: a reader that waited would stall for the rest of
     * it (over 40 ms); scheduling noise on a loaded 2-core machine stays well below. */
    ASSERT_LT(longest, 40.0);
    (void)sum;
    for (size_t i = 0; i < bs / 8; i++) ASSERT_EQ(p[i], i);
    ASSERT_OK(ums_free(p));
}

/* A writer during the copy waits for this block's commit, then writes the new copy;
 * another block of the same allocation is not held up. */
static void writer_waits_for_its_block(void) {
    uint64_t *p;
    ASSERT_OK(ums_runtime_alloc(rt, 2 * bs, 0, (void **)&p));
    for (size_t i = 0; i < 2 * bs / 8; i++) p[i] = i;
    struct mig m = {.p = p, .len = bs, .dst = hnode2}; /* first block only, host -> host */
    pthread_t t;
    pthread_create(&t, NULL, mig_thread, &m);
    wait_migrating(p);
    double a = now_ms();
    p[bs / 8 + 1] = 777; /* the other block: no wait */
    double other = now_ms() - a;
    a = now_ms();
    p[3] = 4242; /* the migrating block: waits for its commit */
    double waited = now_ms() - a;
    /* the write completed only once the block had committed: right after it the
     * block is no longer migrating and is at its new home already */
    ums_location_t home;
    ASSERT_EQ(block_state(p, &home), UMS_BLOCK_HOST);
    ASSERT_EQ(home, hnode2);
    pthread_join(t, NULL);
    ASSERT_OK(m.r);
    ASSERT_EQ(block_state(p, &home), UMS_BLOCK_HOST);
    ASSERT_EQ(home, hnode2);
    ASSERT_EQ(p[3], 4242);
    ASSERT_EQ(p[4], 4);
    ASSERT_EQ(p[bs / 8 + 1], 777);
    printf("writer: waited %.1f ms for its block, %.3f ms for the other\n", waited, other);
    ASSERT_GT(waited, 20.0);
    ASSERT_LT(other, 40.0); /* the other block never waits for this one's copy */
    ASSERT_OK(ums_free(p));
}

/* In userfaultfd mode a commit wakes the threads the fault service left asleep
 * on the block, and makes no UFFDIO_WAKE call when there are none: a round trip
 * with nobody touching the range wakes nothing. A writer left asleep during a
 * copy is still woken, even when the first wake fails. */
static void wakes_only_parked(void) {
    if (ums_runtime_fault_mode(rt) != UMS_FAULT_UFFD) {
        printf("skipped wakes_only_parked: waking a block's sleepers is a system call only in userfaultfd mode\n");
        return;
    }
    uint64_t *p;
    ASSERT_OK(ums_runtime_alloc(rt, 4 * bs, 0, (void **)&p));
    for (size_t i = 0; i < 4 * bs / 8; i++) p[i] = i;
    ums_test_inject_clear();
    ASSERT_OK(ums_test_inject("uffd_wake", 1, 1, EAGAIN));
    ASSERT_OK(ums_migrate(p, 4 * bs, dev0));
    ASSERT_OK(ums_migrate(p, 4 * bs, hnode2));
    ASSERT_OK(ums_migrate(p, 4 * bs, host));
    ASSERT_EQ(ums_test_injected_count(), 0); /* no wake was tried */

    for (size_t i = 0; i < 4 * bs / 8; i++)
        if (p[i] != i) FAIL_("p[%zu] = %llu after the round trips", i, (unsigned long long)p[i]);
    ASSERT_OK(ums_free(p));

    /* a copy to a simulated device takes the emulated latency: time to fall asleep */
    ASSERT_OK(ums_runtime_alloc(rt, bs, 0, (void **)&p));
    for (size_t i = 0; i < bs / 8; i++) p[i] = i;
    struct mig m = {.p = p, .len = bs, .dst = dev1};
    pthread_t t;
    pthread_create(&t, NULL, mig_thread, &m);
    wait_migrating(p);
    p[5] = 5555; /* left asleep until the commit, whose first wake fails and is retried;
                  * then it faults the block back from the device */
    pthread_join(t, NULL);
    ASSERT_OK(m.r);
    ASSERT_EQ(ums_test_injected_count(), 1);
    ums_test_inject_clear();
    ASSERT_EQ(block_state(p, NULL), UMS_BLOCK_HOST);
    ASSERT_EQ(p[5], 5555);
    ASSERT_EQ(p[6], 6);
    printf("wakes: none for round trips nobody touched; a sleeping writer woken\n");
    ASSERT_OK(ums_free(p));
}

static void write_aborts_migration(void) {
    ums_runtime_t *r = make_rt(UMS_PROTOCOL_READABLE, UMS_MIGRATE_WRITE_ABORT);
    uint64_t *p;
    ASSERT_OK(ums_runtime_alloc(r, 2 * bs, 0, (void **)&p));
    for (size_t i = 0; i < 2 * bs / 8; i++) p[i] = i;
    struct mig m = {.p = p, .len = 2 * bs, .dst = dev0};
    pthread_t t;
    pthread_create(&t, NULL, mig_thread, &m);
    wait_migrating(p); /* block 0 is copying */
    p[7] = 70707;
    pthread_join(t, NULL);
    ASSERT_EQ(m.r, UMS_ERR_ABORTED);
    ASSERT_EQ(m.rep.blocks_failed, 1);
    ASSERT_EQ(m.rep.blocks_moved, 1);
    ASSERT_EQ(m.rep.first_error, UMS_ERR_ABORTED);
    if (!strstr(m.msg, "block 0")) FAIL_("message: %s", m.msg);
    ums_location_t home;
    ASSERT_EQ(block_state(p, &home), UMS_BLOCK_HOST); /* block 0 stayed at its source */
    ASSERT_EQ(home, host);
    ASSERT_EQ(block_state((char *)p + bs, &home), UMS_BLOCK_DEVICE);
    ASSERT_EQ(p[7], 70707);
    ASSERT_EQ(p[8], 8);
    ASSERT_EQ(p[bs / 8 + 8], bs / 8 + 8);
    ums_counters c;
    ASSERT_OK(ums_counters_get(r, &c));
    ASSERT_EQ(c.migrations_aborted, 1);
    printf("abort mode: the write cancelled block 0's move (%s)\n", m.msg);
    ASSERT_OK(ums_free(p));
    ASSERT_OK(ums_runtime_destroy(r));
}

/* A failure at each step of the transaction leaves the source valid and writable. */
static void abort_at_each_step(void) {
    ums_runtime_t *r = make_rt(UMS_PROTOCOL_READABLE, UMS_MIGRATE_WRITE_WAIT);
    bool uffd = ums_runtime_fault_mode(r) == UMS_FAULT_UFFD;
    ums_runtime_features f;
    ASSERT_OK(ums_runtime_features_get(r, &f));
    /* `recovers`: the step retries or falls back, so the migration still succeeds
     * (a failed UFFDIO_MOVE falls back to UFFDIO_COPY; a failed UFFDIO_COPY after the
     * block's pages were dropped is retried from the identical staged copy). */
    /* name2: a second point failed at the same time. Dropping the source's host
     * pages at commit first tries to move them into the staging pool (UFFDIO_MOVE)
     * and falls back to MADV_DONTNEED, so both must fail for that step to fail. */
    struct {
        const char *step, *name, *name2;
        int err, err2;
        bool host_target, recovers;
    } steps[] = {
        /* first, while the runtime has no spare staging block: registering the
         * new one fails (uffd; it stays registered afterwards), the old pages are
         * dropped instead */
        {"commit", uffd ? "uffd_register" : "mremap", NULL, ENOMEM, 0, true, uffd},
        {"prepare", "op:mem_alloc", NULL, UMS_ERR_NO_DEVICE_MEMORY, 0, false, false},
        {"begin", uffd ? "uffd_wp" : "mprotect", NULL, EIO, 0, false, false},
        {"copy", "op:copy_to", NULL, UMS_ERR_BACKEND, 0, false, false},
        {"copy", "op:copy_to", NULL, UMS_ERR_BACKEND, 0, true, false},
        {"commit", "madvise", uffd && f.uffd_move ? "uffd_move" : NULL, EIO, EBUSY, false, false},
        {"commit", uffd ? "uffd_move" : "madvise", NULL, uffd ? EBUSY : EIO, 0, false, uffd},
        {"commit", uffd ? "uffd_copy" : "mremap", NULL, uffd ? ENOMEM : EIO, 0, true, uffd},
        {"commit", uffd ? "uffd_move" : "mremap", NULL, EBUSY, 0, true, uffd},
        /* uffd mode: a failed hole-free replace falls back to evict and install */
        {"commit", "mremap", NULL, ENOMEM, 0, true, uffd},
    };
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        uint64_t *p;
        ASSERT_OK(ums_runtime_alloc(r, bs, 0, (void **)&p));
        for (size_t i = 0; i < bs / 8; i++) p[i] = i * 3;
        ums_counters c0, c1;
        ASSERT_OK(ums_counters_get(r, &c0));
        ASSERT_OK(ums_test_inject(steps[k].name, 1, 1, steps[k].err));
        if (steps[k].name2) ASSERT_OK(ums_test_inject(steps[k].name2, 1, 1, steps[k].err2));
        ums_migrate_report rep;
        ums_result res = ums_migrate_ex(p, bs, steps[k].host_target ? hnode2 : dev0, &rep);
        unsigned fired = ums_test_injected_count();
        ums_test_inject_clear();
        /* with UFFDIO_MOVE the copy path is not taken; without it, no move happens */
        bool fires = !(uffd && ((!f.uffd_move && strcmp(steps[k].name, "uffd_move") == 0) ||
                                (f.uffd_move && strcmp(steps[k].name, "uffd_copy") == 0) ||
                                (!f.hole_free_replace && strcmp(steps[k].name, "mremap") == 0)));
        if (fires) ASSERT_GE(fired, 1); /* name2's path is taken only when the pool has a spare */
        else ASSERT_EQ(fired, 0);
        ums_location_t home;
        unsigned state = block_state(p, &home);
        if (steps[k].recovers || !fires) {
            ASSERT_OK(res);
            ASSERT_EQ(state, steps[k].host_target ? UMS_BLOCK_HOST : UMS_BLOCK_DEVICE);
            ASSERT_EQ(home, steps[k].host_target ? hnode2 : dev0);
        } else {
            ASSERT_NE(res, UMS_OK);
            ASSERT_EQ(state, UMS_BLOCK_HOST);
            ASSERT_EQ(rep.blocks_failed, 1);
            ASSERT_EQ(home, host);
            ASSERT_OK(ums_counters_get(r, &c1));
            /* a failed prepare never began the transaction: nothing to abort */
            ASSERT_EQ(c1.migrations_aborted - c0.migrations_aborted, strcmp(steps[k].step, "prepare") ? 1 : 0);
        }
        for (size_t i = 0; i < bs / 8; i++)
            if (p[i] != i * 3) FAIL_("%s (%s): word %zu lost", steps[k].step, steps[k].name, i);
        p[5] = 55; /* still writable */
        ASSERT_EQ(p[5], 55);
        printf("fail at %-7s (%-12s -> %s): %s; data intact and writable\n", steps[k].step, steps[k].name,
               steps[k].host_target ? "host" : "device", ums_result_name(res));
        /* the block can still move afterwards */
        ASSERT_OK(ums_migrate(p, bs, dev1));
        ASSERT_EQ(p[5], 55);
        ASSERT_EQ(p[6], 18);
        ASSERT_OK(ums_free(p));
    }
    ASSERT_OK(ums_runtime_destroy(r));
}

/* Under the blocking protocol a reader of the migrating block waits for the copy. */
static void blocking_readers_wait(void) {
    ums_runtime_t *r = make_rt(UMS_PROTOCOL_BLOCKING, UMS_MIGRATE_WRITE_WAIT);
    uint64_t *p;
    ASSERT_OK(ums_runtime_alloc(r, bs, 0, (void **)&p));
    for (size_t i = 0; i < bs / 8; i++) p[i] = i;
    struct mig m = {.p = p, .len = bs, .dst = dev0};
    pthread_t t;
    pthread_create(&t, NULL, mig_thread, &m);
    wait_migrating(p);
    sleep_ms(10); /* the blocking protocol drops the source pages right after saving them */
    double a = now_ms();
    uint64_t v = __atomic_load_n(&p[9], __ATOMIC_RELAXED);
    double waited = now_ms() - a;
    pthread_join(t, NULL);
    ASSERT_OK(m.r);
    ASSERT_EQ(v, 9);
    printf("blocking protocol: a reader waited %.1f ms\n", waited);
    ASSERT_GT(waited, 20.0);
    ASSERT_OK(ums_free(p));
    ASSERT_OK(ums_runtime_destroy(r));
}

/* The commit of a host -> host move: with a hole-free replace, a reader that
 * keeps reading the block while it commits, again and again, never faults, and
 * every word it reads is the block's. Default 2 MiB blocks, no emulated latency. */
struct commit_reader {
    const uint64_t *p;
    size_t words;
    atomic_int stop;
    uint64_t reads, bad;
};
static void *commit_reader_main(void *arg) {
    struct commit_reader *c = arg;
    uint64_t i = 0;
    while (!atomic_load(&c->stop)) {
        size_t w = (size_t)((i * 4099) % c->words);
        if (__atomic_load_n(&c->p[w], __ATOMIC_RELAXED) != w * 7) c->bad++;
        i++;
    }
    c->reads = i;
    return NULL;
}
static void commits_leave_no_hole(void) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.sim = "count=1,capacity=64M,host_nodes=1";
    cfg.opencl = 0;
    ums_runtime_t *r;
    ASSERT_OK(ums_runtime_create(&cfg, &r));
    ums_runtime_features f;
    ASSERT_OK(ums_runtime_features_get(r, &f));
    ums_location_t n0, n1;
    ASSERT_OK(ums_location_find(r, "node0", &n0));
    ASSERT_OK(ums_location_find(r, "simnode0", &n1));
    size_t len = 2 * ums_runtime_block_size(r);
    uint64_t *p;
    ASSERT_OK(ums_runtime_alloc(r, len, 0, (void **)&p));
    for (size_t i = 0; i < len / 8; i++) p[i] = i * 7;
    struct commit_reader c = {.p = p, .words = len / 8};
    ums_counters c0, c1;
    ASSERT_OK(ums_counters_get(r, &c0));
    pthread_t t;
    pthread_create(&t, NULL, commit_reader_main, &c);
    const int moves = 40;
    for (int k = 0; k < moves; k++) ASSERT_OK(ums_migrate(p, len, k % 2 ? n0 : n1));
    atomic_store(&c.stop, 1);
    pthread_join(t, NULL);
    ASSERT_OK(ums_counters_get(r, &c1));
    ASSERT_EQ(c1.migrations - c0.migrations, (uint64_t)moves * 2);
    uint64_t faults = c1.read_faults - c0.read_faults;
    printf("host <-> host commits   %d moves of 2 blocks, %llu reads, %llu read faults (%s, %s)\n", moves,
           (unsigned long long)c.reads, (unsigned long long)faults,
           f.hole_free_replace ? "hole-free replace" : "no hole-free replace here: faults allowed",
           f.huge_pages ? "huge pages" : "4 KiB pages");
    ASSERT_EQ(c.bad, 0);
    ASSERT_GT(c.reads, 1000);
    if (f.hole_free_replace) ASSERT_EQ(faults, 0);
    for (size_t i = 0; i < len / 8; i++) ASSERT_EQ(p[i], i * 7);
    p[3] = 1; /* writable after the last commit */
    ASSERT_OK(ums_free(p));
    ASSERT_OK(ums_runtime_destroy(r));
}

int main(void) {
    rt = make_rt(UMS_PROTOCOL_READABLE, UMS_MIGRATE_WRITE_WAIT);
    printf("fault mode %s\n", ums_fault_mode_name(ums_runtime_fault_mode(rt)));
    readers_do_not_wait(host, dev0, "host -> device");
    readers_do_not_wait(host, hnode2, "host -> host");
    writer_waits_for_its_block();
    wakes_only_parked();
    ASSERT_OK(ums_runtime_destroy(rt));
    commits_leave_no_hole();
    write_aborts_migration();
    abort_at_each_step();
    blocking_readers_wait();
    return 0;
}
