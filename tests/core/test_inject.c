/* Failure injection at every system call the core makes and every backend
 * operation it calls (every name ums_test_inject_names() lists).
 *
 * For each name, and for nth = 1, 2, 3, ... until an iteration shows that the
 * nth call never happens, one failure is injected into a full scenario run in
 * a fresh runtime (two sim devices):
 *   create runtime, allocate 4 blocks (+1 extra allocation), write a pattern,
 *   migrate to sim0, migrate sim0 -> sim1 while a second thread reads a block
 *   that is migrating, read everything back (faults fetch), move half to sim1
 *   again and prefetch all to the host, advise READ_MOSTLY and prefetch to sim0
 *   (replication; one read-mostly block is read back from a device first, a
 *   read-only fetch), write two blocks (invalidation), move everything through
 *   a device of an in-test backend whose copies complete through fences and on
 *   to sim0 (the core's bounce-buffer copy between backends), migrate back to
 *   the host, free the extra allocation; then clear the injection, check the data,
 *   migrate there and back once more, free, destroy.
 * Every public call must succeed or return a known error code with a filled
 * last-error record (same code, a message, the public function's name, and
 * the injected call named); migration reports must count the failed blocks;
 * the CPU must always read exactly the pattern last written (faults on the
 * CPU-access path cannot fail, they retry); ums_free and ums_runtime_destroy
 * must succeed; a failed ums_runtime_create must leave no thread, descriptor
 * or signal handler behind (LeakSanitizer checks memory at each child's exit).
 *
 * Each name runs in a forked child (the parent never starts a runtime), so a
 * hang (caught by a watchdog timer) or a crash is reported with the name, nth
 * and step, and the remaining nth values still run in a new child.
 * Checks are soft: violations are printed once each and fail the test at the end. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "process_state.h"
#include "test.h"

#define BLOCK_SIZE ((size_t)64 << 10)
#define NBLK 4
/* A small per-transfer latency keeps a block in MIGRATING long enough for the
 * concurrent reader to fault on it. */
#define SIM_CONFIG "count=2,capacity=64M,latency=200us"
#define HANG_SECONDS 30 /* a loaded 2-core CI machine can stall a healthy iteration for seconds */
#define MAX_NTH 5000

/* ------------------------------------------------------------------------ */
/* what one iteration found, sent from the child to the parent              */

typedef struct iter_rec {
    unsigned nth;
    unsigned fired;        /* injected failures that fired */
    unsigned calls;        /* public calls checked */
    unsigned errors;       /* public calls that returned an error */
    unsigned violations;   /* contract violations seen */
    unsigned create_failed;
    unsigned mode;         /* fault mode the runtime ran in, 0 if it did not start */
    unsigned reader_ran, reader_saw_migrating;
} iter_rec;

/* ------------------------------------------------------------------------ */
/* child state                                                              */

static struct {
    const char *name;
    unsigned nth;
    const char *volatile step;
    iter_rec rec;
    char seen[200][800]; /* violations already printed (once per name and message) */
    unsigned nseen;
} cur;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cur.rec.violations++;
    char key[800];
    snprintf(key, sizeof key, "%s|%s", cur.name, msg); /* printed once per name, with the first step */
    for (unsigned i = 0; i < cur.nseen; i++)
        if (strcmp(cur.seen[i], key) == 0) return;
    if (cur.nseen < sizeof cur.seen / sizeof cur.seen[0]) snprintf(cur.seen[cur.nseen++], sizeof cur.seen[0], "%s", key);
    fprintf(stderr, "VIOLATION [%s nth=%u] %s: %s\n", cur.name, cur.nth, cur.step ? cur.step : "", msg);
}

static void step(const char *s) { cur.step = s; }

/* The watchdog: a step that does not finish in time is a hang. */
static void put_str(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w, n -= (size_t)w;
    }
}
static void on_alarm(int sig) {
    (void)sig;
    char num[16];
    unsigned v = cur.nth;
    int i = (int)sizeof num - 1;
    num[i] = '\0';
    do num[--i] = (char)('0' + v % 10), v /= 10;
    while (v && i > 0);
    put_str("HANG [");
    put_str(cur.name ? cur.name : "?");
    put_str(" nth=");
    put_str(num + i);
    put_str("] no progress in ");
    put_str(cur.step ? cur.step : "?");
    put_str("\n");
    _exit(3);
}
static void watchdog(unsigned seconds) {
    struct itimerval it = {{0, 0}, {(time_t)seconds, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* ------------------------------------------------------------------------ */
/* process state                                                            */

/* count_dir, count_fds, count_threads, count_threads_settled: process_state.h */

static void *nothing(void *arg) { return arg; }
/* A sanitizer runtime may start a helper thread of its own at a process's first
 * pthread_create (ThreadSanitizer does). Start it before any thread count is
 * taken, so it is not mistaken for a thread the library left behind. The
 * joined thread itself can linger in /proc/self/task for a moment, so wait
 * until the count has held still for 20 ms (at most 200 ms) before returning. */
static void settle_runtime_threads(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, nothing, NULL) == 0) pthread_join(t, NULL);
    int n = count_threads(), still = 0;
    for (int i = 0; i < 200 && still < 20; i++) {
        usleep(1000);
        int m = count_threads();
        still = m == n ? still + 1 : 0;
        n = m;
    }
}

typedef struct proc_state {
    int fds, threads;
    struct sigaction segv, bus;
} proc_state;

static proc_state proc_now(void) {
    proc_state s;
    s.fds = count_fds();
    s.threads = count_threads();
    sigaction(SIGSEGV, NULL, &s.segv);
    sigaction(SIGBUS, NULL, &s.bus);
    return s;
}

static void check_clean(const proc_state *before, const char *after_what) {
    int fds = count_fds(), threads = count_threads_settled(before->threads);
    if (fds != before->fds) violation("%d descriptors before, %d after %s", before->fds, fds, after_what);
    if (threads != before->threads) violation("%d threads before, %d after %s", before->threads, threads, after_what);
    struct sigaction segv, bus;
    sigaction(SIGSEGV, NULL, &segv);
    sigaction(SIGBUS, NULL, &bus);
    if (segv.sa_sigaction != before->segv.sa_sigaction || bus.sa_sigaction != before->bus.sa_sigaction)
        violation("the SIGSEGV/SIGBUS handler was not restored after %s", after_what);
}

/* ------------------------------------------------------------------------ */
/* checking public calls                                                    */

/* What the last-error record should mention for each injection point. */
static const char *fragment_for(const char *name) {
    static const struct {
        const char *name, *frag;
    } t[] = {
        {"mmap", "mmap"},
        {"munmap", "munmap"},
        {"mprotect", "mprotect"},
        {"madvise", "madvise"},
        {"mremap", "mremap"},
        {"mbind", "mbind"},
        {"userfaultfd", "userfaultfd"},
        {"uffd_api", "UFFDIO_API"},
        {"uffd_register", "UFFDIO_REGISTER"},
        {"uffd_unregister", "UFFDIO_UNREGISTER"},
        {"uffd_copy", "UFFDIO_COPY"},
        {"uffd_zeropage", "UFFDIO_ZEROPAGE"},
        {"uffd_move", "UFFDIO_MOVE"},
        {"uffd_wp", "UFFDIO_WRITEPROTECT"},
        {"uffd_wake", "UFFDIO_WAKE"},
        {"pipe", "pipe"},
        {"thread_create", "thread|worker"},
        {"calloc", "memory"},
    };
    if (strncmp(name, "op:", 3) == 0) return name + 3;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].name, name) == 0) return t[i].frag;
    return name;
}

static int names_injected_call(const ums_error_info *e) {
    char alts[64];
    snprintf(alts, sizeof alts, "%s", fragment_for(cur.name));
    char *save = NULL;
    for (char *f = strtok_r(alts, "|", &save); f; f = strtok_r(NULL, "|", &save))
        if (strcasestr(e->message, f) || (e->function && strcasestr(e->function, f))) return 1;
    return 0;
}

/* `expected` lists the acceptable function names separated by '|'; the _ex
 * variants and ums_runtime_alloc record their base function's name. */
static int function_ok(const char *recorded, const char *expected) {
    if (!recorded) return 0;
    char alts[128];
    snprintf(alts, sizeof alts, "%s", expected);
    char *save = NULL;
    for (char *f = strtok_r(alts, "|", &save); f; f = strtok_r(NULL, "|", &save)) {
        if (strcmp(recorded, f) == 0) return 1;
        size_t n = strlen(recorded);
        if (strncmp(recorded, f, n) == 0 && strcmp(f + n, "_ex") == 0) return 1;
        if (strcmp(f, "ums_runtime_alloc") == 0 && strcmp(recorded, "ums_alloc") == 0) return 1;
    }
    return 0;
}

/* A known error in the record before each call: a call that succeeds must
 * leave it untouched. */
static void sentinel(void) { (void)ums_free(NULL); }
static int sentinel_intact(void) {
    const ums_error_info *e = ums_last_error();
    return e->code == UMS_ERR_NULL_POINTER && e->function && strcmp(e->function, "ums_free") == 0;
}

static unsigned fired(void) { return ums_test_injected_count(); }

static void check_call(const char *fn, ums_result r, unsigned fired_before) {
    cur.rec.calls++;
    const ums_error_info *e = ums_last_error();
    if (r == UMS_OK) {
        if (!sentinel_intact())
            violation("%s succeeded but changed the last-error record to %s (function \"%s\", \"%s\")", fn,
                      ums_result_name(e->code), e->function ? e->function : "(null)", e->message);
        return;
    }
    cur.rec.errors++;
    if ((int)r > 0 || strcmp(ums_result_name(r), "UMS_ERR_UNKNOWN_RESULT") == 0)
        violation("%s returned %d, which is not a ums_result error", fn, (int)r);
    if (e->code != r) violation("%s returned %s but the last error says %s", fn, ums_result_name(r), ums_result_name(e->code));
    if (!e->message[0]) violation("%s returned %s with an empty message", fn, ums_result_name(r));
    if (!function_ok(e->function, fn))
        violation("%s returned %s but the last error names function \"%s\"", fn, ums_result_name(r),
                  e->function ? e->function : "(null)");
    if (fired() == fired_before)
        violation("%s returned %s (\"%s\") although no injected failure fired during the call", fn,
                  ums_result_name(r), e->message);
    else if (!names_injected_call(e))
        violation("%s returned %s: the last error (function \"%s\", \"%s\") does not name the failed call", fn,
                  ums_result_name(r), e->function ? e->function : "(null)", e->message);
}

static void check_report(const char *fn, ums_result r, const ums_migrate_report *rep, size_t nblocks) {
    if (rep->blocks_total != nblocks)
        violation("%s report: blocks_total %zu, the range has %zu", fn, rep->blocks_total, nblocks);
    if (rep->blocks_moved + rep->blocks_already + rep->blocks_failed != rep->blocks_total)
        violation("%s report (%s): moved %zu + already %zu + failed %zu != total %zu", fn, ums_result_name(r),
                  rep->blocks_moved, rep->blocks_already, rep->blocks_failed, rep->blocks_total);
    if (r == UMS_OK) {
        if (rep->blocks_failed || rep->first_error != UMS_OK)
            violation("%s succeeded but its report has %zu failed blocks, first error %s", fn, rep->blocks_failed,
                      ums_result_name(rep->first_error));
    } else {
        if (rep->blocks_failed == 0) violation("%s returned %s but its report counts no failed block", fn, ums_result_name(r));
        if (rep->first_error != r)
            violation("%s returned %s but its report's first_error is %s", fn, ums_result_name(r),
                      ums_result_name(rep->first_error));
    }
}

/* ------------------------------------------------------------------------ */
/* data                                                                     */

static unsigned char pattern(size_t i, unsigned gen) { return (unsigned char)(i * 31u + gen * 101u + (i >> 11) + 1u); }

static void write_range(unsigned char *p, unsigned char *model, size_t from, size_t to, unsigned gen) {
    for (size_t i = from; i < to; i++) {
        unsigned char v = pattern(i, gen);
        p[i] = v;
        model[i] = v;
    }
}

static int verify(const unsigned char *p, const unsigned char *model, size_t n, const char *when) {
    if (memcmp(p, model, n) == 0) return 1;
    for (size_t i = 0; i < n; i++)
        if (p[i] != model[i]) {
            violation("data lost %s: byte %zu (block %zu) is %u, expected %u", when, i, i / BLOCK_SIZE, p[i], model[i]);
            break;
        }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* a backend whose copies complete through fences (the sim backend never
 * returns one), so that "op:fence_wait" and the core's default copy between
 * two backends (a host bounce buffer) are exercised too                     */

#define TB_NAME "fence0"
#define TB_CAPACITY (16u << 20)
#include "test_backend.h"

struct ums_fence {
    int pending;
};
static atomic_int fb_fences_live; /* fences handed out and not yet released */

static ums_result fb_fence(ums_fence **f) {
    if (!f) return UMS_OK;
    *f = malloc(sizeof **f);
    if (!*f) return UMS_ERR_NO_MEMORY;
    (*f)->pending = 1;
    atomic_fetch_add(&fb_fences_live, 1);
    return UMS_OK;
}
static ums_result fb_copy_to(void *b, ums_devmem *dst, size_t off, const void *src, size_t len, ums_fence **f) {
    (void)b;
    memcpy((char *)dst->p + off, src, len);
    return fb_fence(f);
}
static ums_result fb_copy_from(void *b, void *dst, ums_devmem *src, size_t off, size_t len, ums_fence **f) {
    (void)b;
    memcpy(dst, (char *)src->p + off, len);
    return fb_fence(f);
}
static ums_result fb_fence_wait(void *b, ums_fence *f) {
    (void)b;
    f->pending = 0;
    free(f);
    atomic_fetch_sub(&fb_fences_live, 1);
    return UMS_OK;
}
static const ums_backend_ops fb_ops = {
    TB_OPS_COMMON,
    .name = "fencebe",
    .copy_to = fb_copy_to,
    .copy_from = fb_copy_from,
    .fence_wait = fb_fence_wait,
};

/* ------------------------------------------------------------------------ */
/* the scenario                                                             */

static void migrate_checked(unsigned char *ptr, size_t len, ums_location_t loc) {
    ums_migrate_report rep;
    memset(&rep, 0x5a, sizeof rep);
    sentinel();
    unsigned f0 = fired();
    ums_result r = ums_migrate_ex(ptr, len, loc, &rep);
    check_call("ums_migrate_ex", r, f0);
    check_report("ums_migrate_ex", r, &rep, (len + BLOCK_SIZE - 1) / BLOCK_SIZE);
}

static void prefetch_checked(unsigned char *ptr, size_t len, ums_location_t loc) {
    ums_event_t *ev = NULL;
    sentinel();
    unsigned f0 = fired();
    ums_result r = ums_prefetch(ptr, len, loc, &ev);
    check_call("ums_prefetch", r, f0);
    if (r != UMS_OK) return;
    sentinel();
    r = ums_event_wait(ev, UINT64_MAX);
    check_call("ums_prefetch|ums_event_wait", r, f0);
    ums_migrate_report rep;
    memset(&rep, 0x5a, sizeof rep);
    ums_result q = ums_event_query(ev, &rep);
    if (q != r) violation("ums_event_query returned %s, ums_event_wait %s", ums_result_name(q), ums_result_name(r));
    check_report("ums_prefetch", r, &rep, (len + BLOCK_SIZE - 1) / BLOCK_SIZE);
    sentinel();
    r = ums_event_release(ev);
    check_call("ums_event_release", r, fired());
    if (r != UMS_OK) violation("ums_event_release failed: %s", ums_result_name(r));
}

typedef struct reader_arg {
    const unsigned char *blk;
    const unsigned char *model;
    size_t len;
    atomic_int ready, stop;
    int saw_migrating;
    int ok;
} reader_arg;

/* Wait until the block is migrating, then read it: the read must wait for the
 * migration (or fetch afterwards) and see the right bytes. */
static void *reader_fn(void *v) {
    reader_arg *a = v;
    atomic_store(&a->ready, 1);
    while (!atomic_load(&a->stop)) {
        ums_block_info bi;
        size_t cnt;
        if (ums_query(a->blk, 1, &bi, 1, &cnt) == UMS_OK && bi.state == UMS_BLOCK_MIGRATING) {
            a->saw_migrating = 1;
            break;
        }
    }
    a->ok = memcmp(a->blk, a->model, a->len) == 0;
    return NULL;
}

static void check_residency(unsigned char *p, size_t n) {
    ums_block_info bi[NBLK];
    size_t cnt = 0;
    ums_result r = ums_query(p, n, bi, NBLK, &cnt);
    if (r != UMS_OK) {
        violation("ums_query failed after clearing the injection: %s", ums_result_name(r));
        return;
    }
    for (size_t i = 0; i < cnt; i++) {
        if (bi[i].state == UMS_BLOCK_MIGRATING) violation("block %zu is still MIGRATING", i);
        if (bi[i].valid == 0) violation("block %zu has no valid copy", i);
    }
}

static void run_iteration(unsigned nth, int err) {
    memset(&cur.rec, 0, sizeof cur.rec);
    cur.nth = cur.rec.nth = nth;
    watchdog(HANG_SECONDS);
    step("setup");
    proc_state before = proc_now();
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.sim = SIM_CONFIG;
    cfg.opencl = 0;
    cfg.block_size = BLOCK_SIZE;
    const size_t n = 3 * BLOCK_SIZE + BLOCK_SIZE / 2; /* 4 blocks, the last one partial */
    unsigned char *model = calloc(1, n);
    ASSERT(model);

    ums_test_inject_clear();
    ASSERT_OK(ums_test_inject(cur.name, nth, 1, err));

    step("ums_runtime_create");
    ums_runtime_t *rt = NULL;
    sentinel();
    unsigned f0 = fired();
    ums_result r = ums_runtime_create(&cfg, &rt);
    check_call("ums_runtime_create", r, f0);
    if (r != UMS_OK) {
        cur.rec.create_failed = 1;
        cur.rec.fired = fired();
        ums_test_inject_clear();
        free(model);
        step("after a failed ums_runtime_create");
        check_clean(&before, "a failed ums_runtime_create");
        watchdog(0);
        return;
    }
    cur.rec.mode = (unsigned)ums_runtime_fault_mode(rt);
    ums_location_t host, sim0, sim1;
    ASSERT_OK(ums_location_find(rt, "node0", &host));
    ASSERT_OK(ums_location_find(rt, "sim0", &sim0));
    ASSERT_OK(ums_location_find(rt, "sim1", &sim1));
    step("ums_backend_add (fence backend)");
    ums_location_t fdev = UMS_LOCATION_NONE;
    sentinel();
    f0 = fired();
    r = ums_backend_add(rt, &fb_ops, NULL);
    check_call("ums_backend_add", r, f0);
    if (r == UMS_OK) ASSERT_OK(ums_location_find(rt, "fence0", &fdev));

    step("ums_alloc");
    unsigned char *p = NULL, *q = NULL;
    sentinel();
    f0 = fired();
    r = ums_runtime_alloc(rt, n, 0, (void **)&p);
    check_call("ums_runtime_alloc", r, f0);
    if (r != UMS_OK) p = NULL;
    step("ums_alloc (extra)");
    sentinel();
    f0 = fired();
    r = ums_runtime_alloc(rt, BLOCK_SIZE, 0, (void **)&q);
    check_call("ums_runtime_alloc", r, f0);
    if (r != UMS_OK) q = NULL;

    if (p) {
        step("write the pattern");
        write_range(p, model, 0, n, 1);
        step("migrate to sim0");
        migrate_checked(p, n, sim0);

        step("migrate sim0 -> sim1 with a concurrent reader");
        reader_arg ra = {.blk = p + BLOCK_SIZE, .model = model + BLOCK_SIZE, .len = BLOCK_SIZE};
        atomic_init(&ra.ready, 0);
        atomic_init(&ra.stop, 0);
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, reader_fn, &ra), 0);
        while (!atomic_load(&ra.ready)) sched_yield();
        migrate_checked(p, n, sim1);
        atomic_store(&ra.stop, 1);
        step("join the concurrent reader");
        pthread_join(th, NULL);
        cur.rec.reader_ran = 1;
        cur.rec.reader_saw_migrating = (unsigned)ra.saw_migrating;
        if (!ra.ok) violation("the concurrent reader saw wrong data in block 1");

        step("read everything back");
        verify(p, model, n, "reading back from the devices");
        step("migrate blocks 2-3 to sim1");
        migrate_checked(p + 2 * BLOCK_SIZE, n - 2 * BLOCK_SIZE, sim1);
        step("prefetch to the host");
        prefetch_checked(p, n, host);
        step("read after the prefetch");
        verify(p, model, n, "after the prefetch to the host");

        step("advise READ_MOSTLY");
        sentinel();
        f0 = fired();
        r = ums_advise(p, n, UMS_ADVISE_READ_MOSTLY, UMS_LOCATION_NONE);
        check_call("ums_advise", r, f0);
        step("migrate block 3 to sim1");
        migrate_checked(p + 3 * BLOCK_SIZE, n - 3 * BLOCK_SIZE, sim1);
        step("read block 3 (fetch of a read-mostly block: read-only copy)");
        verify(p, model, n, "after reading a read-mostly device block");
        step("prefetch to sim0 (replicate)");
        prefetch_checked(p, n, sim0);
        step("read the replicated blocks");
        verify(p, model, n, "after replication");
        step("write blocks 0 and 2 (invalidate)");
        write_range(p, model, 0, BLOCK_SIZE, 2);
        write_range(p, model, 2 * BLOCK_SIZE, 3 * BLOCK_SIZE, 2);
        step("read after the writes");
        verify(p, model, n, "after the invalidating writes");
        if (fdev != UMS_LOCATION_NONE) {
            step("migrate to the fence device");
            migrate_checked(p, n, fdev);
            step("migrate blocks 0-1 from the fence device to sim0 (bounce buffer)");
            migrate_checked(p, 2 * BLOCK_SIZE, sim0);
            step("read back from the fence device and sim0");
            verify(p, model, n, "after reading back from the fence device");
        }
        step("migrate back to the host");
        migrate_checked(p, n, host);
        step("read after the migration to the host");
        verify(p, model, n, "after the migration to the host");
    }
    if (q) {
        step("extra allocation: write, migrate to sim0");
        memset(q, 0x42, BLOCK_SIZE);
        migrate_checked(q, BLOCK_SIZE, sim0);
        step("ums_free (extra, injection armed)");
        sentinel();
        f0 = fired();
        r = ums_free(q);
        check_call("ums_free", r, f0);
        if (r != UMS_OK) violation("ums_free failed under injection: %s (%s)", ums_result_name(r), ums_last_error()->message);
    }

    cur.rec.fired = fired();
    ums_test_inject_clear();

    if (p) {
        step("read after clearing the injection");
        verify(p, model, n, "after clearing the injection");
        check_residency(p, n);
        step("migrate to sim0 after clearing the injection");
        r = ums_migrate(p, n, sim0);
        if (r != UMS_OK) violation("ums_migrate to sim0 failed after clearing the injection: %s (%s)", ums_result_name(r), ums_last_error()->message);
        step("migrate to the host after clearing the injection");
        r = ums_migrate(p, n, host);
        if (r != UMS_OK) violation("ums_migrate to the host failed after clearing the injection: %s (%s)", ums_result_name(r), ums_last_error()->message);
        step("final read");
        verify(p, model, n, "after a round trip with no injection");
        step("ums_free");
        r = ums_free(p);
        if (r != UMS_OK) violation("ums_free failed after clearing the injection: %s (%s)", ums_result_name(r), ums_last_error()->message);
    }
    step("ums_runtime_destroy");
    r = ums_runtime_destroy(rt);
    if (r != UMS_OK) violation("ums_runtime_destroy failed: %s (%s)", ums_result_name(r), ums_last_error()->message);
    free(model);
    step("after ums_runtime_destroy");
    check_clean(&before, "ums_runtime_destroy");
    int live = atomic_exchange(&fb_fences_live, 0);
    if (live) violation("%d fences returned by the backend were never waited for or released", live);
    watchdog(0);
}

static int inject_error_for(const char *name) {
    if (strcmp(name, "op:mem_alloc") == 0) return UMS_ERR_NO_DEVICE_MEMORY;
    if (strncmp(name, "op:", 3) == 0) return UMS_ERR_BACKEND;
    if (strcmp(name, "mmap") == 0 || strcmp(name, "calloc") == 0) return ENOMEM;
    if (strcmp(name, "thread_create") == 0) return EAGAIN;
    return EIO;
}

/* The child: nth = start, start+1, ... until the nth call never happens. */
static void child_main(const char *name, unsigned start, int out_fd) {
    cur.name = name;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    int err = inject_error_for(name);
    for (unsigned nth = start; nth <= MAX_NTH; nth++) {
        run_iteration(nth, err);
        if (write(out_fd, &cur.rec, sizeof cur.rec) != (ssize_t)sizeof cur.rec) _exit(4);
        if (cur.rec.fired == 0) break;
    }
    close(out_fd);
}

/* ------------------------------------------------------------------------ */
/* the parent                                                               */

typedef struct name_total {
    unsigned iterations, fired, calls, errors, violations, create_failed, fallback, reader_ran, reader;
    unsigned hangs, crashes, exit_failures;
    unsigned last_nth;
    char notes[400];
} name_total;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The fault mode a runtime starts in without injection. */
static unsigned baseline_mode(void) {
    int pfd[2];
    ASSERT_EQ(pipe(pfd), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        settle_runtime_threads();
        ums_runtime_config cfg;
        ASSERT_OK(ums_runtime_config_from_env(&cfg));
        cfg.sim = SIM_CONFIG;
        cfg.opencl = 0;
        cfg.block_size = BLOCK_SIZE;
        ums_runtime_t *rt;
        ASSERT_OK(ums_runtime_create(&cfg, &rt));
        unsigned m = (unsigned)ums_runtime_fault_mode(rt);
        ASSERT_OK(ums_runtime_destroy(rt));
        if (write(pfd[1], &m, sizeof m) != (ssize_t)sizeof m) _exit(4);
        exit(0);
    }
    close(pfd[1]);
    unsigned m = 0;
    ssize_t got = read(pfd[0], &m, sizeof m);
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (got != (ssize_t)sizeof m || !WIFEXITED(st) || WEXITSTATUS(st) != 0) FAIL_("a runtime does not start without injection");
    return m;
}

static void run_name(const char *name, unsigned start, unsigned base_mode, name_total *t) {
    memset(t, 0, sizeof *t);
    size_t nw = 0;
    for (int attempt = 0; attempt < 8; attempt++) {
        int pfd[2];
        ASSERT_EQ(pipe(pfd), 0);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            settle_runtime_threads();
            child_main(name, start, pfd[1]);
            exit(0); /* through exit(): LeakSanitizer checks the child */
        }
        close(pfd[1]);
        iter_rec rec;
        unsigned last = start - 1;
        int finished = 0;
        while (read(pfd[0], &rec, sizeof rec) == (ssize_t)sizeof rec) {
            t->iterations++;
            t->fired += rec.fired;
            t->calls += rec.calls;
            t->errors += rec.errors;
            t->violations += rec.violations;
            t->create_failed += rec.create_failed;
            t->fallback += rec.mode && rec.mode != base_mode;
            t->reader_ran += rec.reader_ran;
            t->reader += rec.reader_saw_migrating;
            last = rec.nth;
            if (rec.fired == 0) finished = 1;
        }
        close(pfd[0]);
        int st;
        waitpid(pid, &st, 0);
        t->last_nth = last;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            if (!finished) {
                t->exit_failures++;
                nw += (size_t)snprintf(t->notes + nw, nw < sizeof t->notes ? sizeof t->notes - nw : 0,
                                       " [stopped at nth %u without reaching the end]", last);
            }
            return;
        }
        if (finished) { /* every iteration ran; the child failed at exit (e.g. a leak report) */
            t->exit_failures++;
            nw += (size_t)snprintf(t->notes + nw, nw < sizeof t->notes ? sizeof t->notes - nw : 0,
                                   " [child failed at exit: %s %d]", WIFEXITED(st) ? "status" : "signal",
                                   WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            return;
        }
        unsigned bad = last + 1;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
            t->hangs++;
            nw += (size_t)snprintf(t->notes + nw, nw < sizeof t->notes ? sizeof t->notes - nw : 0, " [HANG at nth %u]", bad);
        } else {
            t->crashes++;
            nw += (size_t)snprintf(t->notes + nw, nw < sizeof t->notes ? sizeof t->notes - nw : 0,
                                   " [CRASH at nth %u: %s %d]", bad, WIFEXITED(st) ? "status" : "signal",
                                   WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        }
        t->iterations++;
        start = bad + 1;
    }
    nw += (size_t)snprintf(t->notes + nw, nw < sizeof t->notes ? sizeof t->notes - nw : 0, " [gave up after 8 children]");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    setvbuf(stderr, NULL, _IOLBF, 0);
    double t0 = now_s();
    const char *const *names = ums_test_inject_names();
    ASSERT(names && names[0]);
    /* every listed name is accepted */
    for (size_t i = 0; names[i]; i++) {
        ASSERT_OK(ums_test_inject(names[i], 1, 1, inject_error_for(names[i])));
        /* an error of the wrong kind for the point is refused */
        int wrong = strncmp(names[i], "op:", 3) == 0 ? EIO : UMS_ERR_BACKEND;
        ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_test_inject(names[i], 1, 1, wrong));
        ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_test_inject(names[i], 1, 1, 0));
    }
    ums_test_inject_clear();
    ASSERT_EQ(ums_test_injected_count(), 0);

    /* UMS_TEST_INJECT=name[:nth] replays one injection point (from nth on) */
    const char *only = getenv("UMS_TEST_INJECT");
    char only_name[64] = "";
    unsigned only_nth = 1;
    if (only && *only) {
        snprintf(only_name, sizeof only_name, "%s", only);
        char *colon = strrchr(only_name, ':');
        if (colon && colon[1] >= '0' && colon[1] <= '9') {
            *colon = '\0';
            only_nth = (unsigned)strtoul(colon + 1, NULL, 10);
            if (only_nth == 0) only_nth = 1;
        }
    }
    unsigned base = baseline_mode();
    printf("fault mode without injection: %s; block %zu KiB, sim \"%s\"\n", ums_fault_mode_name((ums_fault_mode)base),
           BLOCK_SIZE >> 10, SIM_CONFIG);
    unsigned nnames = 0;
    while (names[nnames]) nnames++;
    unsigned total_viol = 0, total_hangs = 0, total_crashes = 0, total_exit = 0, never_fired = 0;
    unsigned reader_ran = 0, reader_caught = 0;
    for (size_t i = 0; names[i]; i++) {
        if (only_name[0] && strcmp(only_name, names[i]) != 0) continue;
        name_total t;
        double ts = now_s();
        run_name(names[i], only_name[0] ? only_nth : 1, base, &t);
        printf("%-22s nth 1..%-3u fired %3u  public calls %4u, errors %3u  create failed %2u  violations %3u%s%s  "
               "(%.1fs)%s\n",
               names[i], t.last_nth, t.fired, t.calls, t.errors, t.create_failed, t.violations,
               t.fallback ? "  fell back to signal mode" : "", t.fired == 0 ? "  never called here" : "",
               now_s() - ts, t.notes);
        total_viol += t.violations;
        total_hangs += t.hangs;
        total_crashes += t.crashes;
        total_exit += t.exit_failures;
        never_fired += t.fired == 0;
        reader_ran += t.reader_ran;
        reader_caught += t.reader;
    }
    printf("%u names (%u never called in this mode): %u violations, %u hangs, %u crashes, %u children failed at "
           "exit; %.1fs\n",
           nnames, never_fired,
           total_viol, total_hangs, total_crashes, total_exit, now_s() - t0);
    printf("the concurrent reader found its block migrating in %u of %u scenarios\n", reader_caught, reader_ran);
    if (total_viol || total_hangs || total_crashes || total_exit) return 1;
    printf("ok\n");
    return 0;
}
