/* Moving data between nodes on a real multi-node kernel (the tests/vm guest,
 * 2 nodes of 2 CPUs: node 0 = CPUs 0-1, node 1 = CPUs 2-3).
 *
 * Part 1, for each fault mode (userfaultfd, signal): a reader thread (CPU 0)
 * and a writer thread (CPU 1) run while the range moves from node 0 to node 1
 * with ums_place(BIND {1}), then back with ums_migrate(node0). Checks: the
 * reader made accesses during each move and never read a wrong value, under
 * the readable protocol no read waited (the runtime's reader_waits), every
 * write landed, and every page is on the target node afterwards
 * (move_pages(nodes=NULL)). On kernels before 6.8 (the guest's 6.1) the
 * runtime must report no UFFDIO_MOVE, so the copy install path runs.
 *
 * Part 2, the comparison: the same reader and writer while 32 MiB (--size-mib) move from
 * node 0 to node 1 by umshim's readable protocol, umshim's blocking protocol,
 * move_pages(2) and mbind(MPOL_MF_MOVE), plus a baseline where nothing moves.
 * For each: accesses completed during the move, accesses that took longer
 * than 50 us and the longest, for the reader and for the writer, and the
 * runtime's own wait counters. Guest timings are emulation timings: the
 * figures that matter are who waited (counts), not durations. A table and one
 * JSON line are printed (docs/PLACEMENT.md shows them).
 *
 * Usage: numa_migrate [--size-mib N] [--part1-only|--compare-only]
 * Skips (77) outside the guest. */
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "numa_util.h"

#define STALL_NS 50000ull


typedef struct worker {
    pthread_t th;
    unsigned cpu;
    bool write;
    volatile uint64_t *words; /* the range as 64-bit words */
    size_t pages;             /* 512 words each */
    uint64_t seed;
    _Atomic int *stop;
    _Atomic int *moving;
    _Atomic int started;
    /* results */
    uint64_t accesses, during, stalls, longest_ns, stalled_ns, wrong, pass;
    size_t stop_page;
    /* times the thread slept during the move (voluntary context switches:
     * blocked in the kernel on a fault, a page lock or mmap_lock) */
    long sleeps;
    long nvcsw0;
    int window; /* 0 before the move, 1 during, 2 after */
} worker;

static long thread_nvcsw(void) {
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nvcsw : 0;
}

/* Follow the move window as this thread sees it. */
static void track_window(worker *w, int moving) {
    if (w->window == 0 && moving) {
        w->nvcsw0 = thread_nvcsw();
        w->window = 1;
    } else if (w->window == 1 && !moving) {
        w->sleeps = thread_nvcsw() - w->nvcsw0;
        w->window = 2;
    }
}

static uint64_t pattern(uint64_t seed, size_t word) { return (word * 0x9e3779b97f4a7c15ull) ^ seed; }

static void *work(void *arg) {
    worker *w = arg;
    nu_pin(w->cpu);
    atomic_store(&w->started, 1);
    for (w->pass = 1;; w->pass++) {
        for (size_t pg = 0; pg < w->pages; pg++) {
            if (atomic_load_explicit(w->stop, memory_order_relaxed)) {
                track_window(w, 0);
                w->stop_page = pg;
                return NULL;
            }
            int moving = atomic_load_explicit(w->moving, memory_order_relaxed);
            if ((moving != 0) != (w->window == 1)) track_window(w, moving);
            size_t word = pg * 512;
            uint64_t t0 = nu_now_ns();
            if (w->write) {
                w->words[word + 1] = w->pass;
            } else {
                uint64_t v = w->words[word], v2 = w->words[word + 2];
                if (v != pattern(w->seed, word) || v2 != pattern(w->seed, word + 2)) w->wrong++;
            }
            uint64_t dt = nu_now_ns() - t0;
            w->accesses++;
            if (moving) {
                w->during++;
                if (dt > STALL_NS) {
                    w->stalls++;
                    w->stalled_ns += dt;
                }
                if (dt > w->longest_ns) w->longest_ns = dt;
            }
        }
    }
}

static void fill(uint64_t *words, size_t pages, uint64_t seed) {
    for (size_t i = 0; i < pages * 512; i++) words[i] = i % 512 == 1 ? 0 : pattern(seed, i);
}

/* The writer stopped at (pass, stop_page): pages before hold pass, the rest pass - 1. */
static void check_writes(const uint64_t *words, size_t pages, const worker *w, const char *what) {
    for (size_t pg = 0; pg < pages; pg++) {
        uint64_t want = pg < w->stop_page ? w->pass : w->pass - 1;
        if (words[pg * 512 + 1] != want)
            FAIL_("%s: page %zu holds write %llu, expected %llu", what, pg, (unsigned long long)words[pg * 512 + 1],
                  (unsigned long long)want);
    }
}

typedef struct run {
    _Atomic int stop, moving;
    worker r, w;
} run;

static void run_start(run *x, void *p, size_t pages, uint64_t seed) {
    memset(x, 0, sizeof *x);
    worker *ws[2] = {&x->r, &x->w};
    for (int i = 0; i < 2; i++) {
        worker *w = ws[i];
        w->cpu = (unsigned)i; /* reader on CPU 0, writer on CPU 1: node 0 */
        w->write = i == 1;
        w->words = p;
        w->pages = pages;
        w->seed = seed;
        w->stop = &x->stop;
        w->moving = &x->moving;
        if (pthread_create(&w->th, NULL, work, w) != 0) FAIL_("pthread_create");
    }
    while (!atomic_load(&x->r.started) || !atomic_load(&x->w.started)) sched_yield();
    /* let both do a few passes before anything moves */
    while (x->r.pass < 2 || x->w.pass < 2) sched_yield();
}

static void run_stop(run *x) {
    atomic_store(&x->stop, 1);
    pthread_join(x->r.th, NULL);
    pthread_join(x->w.th, NULL);
}

/* ------------------------------------------------------------------------ */
/* Part 1                                                                   */

static void part1(ums_fault_mode mode, size_t size) {
    ums_runtime_t *rt = nu_runtime(mode, UMS_PROTOCOL_READABLE);
    const char *mname = ums_fault_mode_name(mode);
    ums_runtime_features f;
    ASSERT_OK(ums_runtime_features_get(rt, &f));
    printf("[%s] %s; uffd_move=%d\n", mname, f.fault_mode_reason, f.uffd_move);
    if (mode == UMS_FAULT_UFFD && !nu_kernel_at_least(6, 8)) ASSERT_EQ(f.uffd_move, 0);

    nu_pin(2); /* the mover runs on node 1 */
    uint64_t *p;
    ASSERT_OK(ums_runtime_alloc(rt, size, 0, (void **)&p));
    size_t pages = size / 4096;
    nu_pin(0);
    fill(p, pages, 0xabcdef);
    nu_expect_all_on("first touch", p, size, 0);
    nu_pin(2);

    static const unsigned one[] = {1};
    ums_placement pl;
    ASSERT_OK(ums_placement_init(&pl, UMS_PLACE_BIND));
    pl.nodes = one;
    pl.node_count = 1;
    for (int step = 0; step < 2; step++) {
        unsigned target = step == 0 ? 1 : 0;
        const char *how = step == 0 ? "ums_place(bind {1})" : "ums_migrate(node0)";
        run x;
        ums_counters c0, c1;
        ASSERT_OK(ums_counters_get(rt, &c0));
        run_start(&x, p, pages, 0xabcdef);
        atomic_store(&x.moving, 1);
        uint64_t t0 = nu_now_ns();
        if (step == 0) ASSERT_OK(ums_place(p, size, &pl, NULL));
        else ASSERT_OK(ums_migrate(p, size, nu_node_loc(rt, 0)));
        uint64_t dt = nu_now_ns() - t0;
        atomic_store(&x.moving, 0);
        run_stop(&x);
        ASSERT_OK(ums_counters_get(rt, &c1));
        printf("[%s] %s: %zu MiB in %.1f ms; reader: %llu accesses during, slept %ld times, %llu > 50us "
               "(longest %.0f us); writer: %llu during, slept %ld times, %llu > 50us (longest %.0f us); "
               "reader_waits %llu, writer_waits %llu\n",
               mname, how, size >> 20, dt / 1e6, (unsigned long long)x.r.during, x.r.sleeps,
               (unsigned long long)x.r.stalls, x.r.longest_ns / 1e3, (unsigned long long)x.w.during, x.w.sleeps,
               (unsigned long long)x.w.stalls, x.w.longest_ns / 1e3,
               (unsigned long long)(c1.reader_waits - c0.reader_waits),
               (unsigned long long)(c1.writer_waits - c0.writer_waits));
        if (x.r.wrong) FAIL_("[%s] %s: the reader saw %llu wrong values", mname, how, (unsigned long long)x.r.wrong);
        if (x.r.during == 0) FAIL_("[%s] %s: the reader made no access during the move", mname, how);
        ASSERT_EQ(c1.reader_waits - c0.reader_waits, 0);
        ASSERT_EQ(c1.migrations - c0.migrations, size / ums_runtime_block_size(rt));
        check_writes(p, pages, &x.w, how);
        ums_block_info info;
        size_t count;
        ASSERT_OK(ums_query(p, 1, &info, 1, &count));
        ASSERT_EQ(info.home, nu_node_loc(rt, target));
        unsigned counts[NU_MAX_NODES], absent;
        nu_page_nodes(p, size, counts, &absent);
        printf("[%s] after %s: %u of %zu pages on node %u\n", mname, how, counts[target], pages, target);
        /* Every page must be on the target, whichever install path the kernel
         * offers (UFFDIO_MOVE carries the staged pages; UFFDIO_COPY allocates by
         * the block's policy, which the migration binds to the target first). */
        if (counts[target] != pages)
            FAIL_("[%s] after %s: %u of %zu pages on node %u", mname, how, counts[target], pages, target);
    }
    ASSERT_OK(ums_free(p));
    ASSERT_OK(ums_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* Part 2: the comparison                                                   */

typedef enum method { M_NONE, M_READABLE, M_READABLE_SIGNAL, M_BLOCKING, M_MOVE_PAGES, M_MBIND, M_COUNT } method;
static const char *const method_names[M_COUNT] = {"nothing moves (baseline)", "umshim readable (uffd)",
                                                  "umshim readable (signal)", "umshim blocking (uffd)",
                                                  "move_pages(2)", "mbind(MPOL_MF_MOVE)"};
static const char *const method_keys[M_COUNT] = {"baseline", "umshim_readable", "umshim_readable_signal",
                                                 "umshim_blocking", "move_pages", "mbind_mf_move"};

typedef struct result {
    double move_ms;
    uint64_t r_during, r_stalls, r_longest_ns, w_during, w_stalls, w_longest_ns;
    long r_sleeps, w_sleeps;
    double r_stalled_ms, w_stalled_ms;
    long long reader_waits, writer_waits; /* -1: not umshim */
    unsigned pages_on_target, pages;
} result;

static result compare_one(method m, size_t size, double baseline_ms) {
    result res;
    memset(&res, 0, sizeof res);
    res.reader_waits = res.writer_waits = -1;
    size_t pages = size / 4096;
    ums_runtime_t *rt = NULL;
    uint64_t *p = NULL;
    nu_pin(2);
    if (m == M_READABLE || m == M_READABLE_SIGNAL || m == M_BLOCKING) {
        rt = nu_runtime(m == M_READABLE_SIGNAL ? UMS_FAULT_SIGNAL : UMS_FAULT_UFFD,
                        m == M_BLOCKING ? UMS_PROTOCOL_BLOCKING : UMS_PROTOCOL_READABLE);
        ASSERT_OK(ums_runtime_alloc(rt, size, 0, (void **)&p));
    } else {
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) FAIL_("mmap: %s", strerror(errno));
        madvise(p, size, MADV_NOHUGEPAGE);
    }
    nu_pin(0);
    fill(p, pages, 0x1234);
    nu_expect_all_on("comparison first touch", p, size, 0);
    nu_pin(2);

    run x;
    ums_counters c0, c1;
    if (rt) ASSERT_OK(ums_counters_get(rt, &c0));
    run_start(&x, p, pages, 0x1234);
    atomic_store(&x.moving, 1);
    uint64_t t0 = nu_now_ns();
    unsigned long mask = 1ul << 1;
    switch (m) {
    case M_NONE: {
        while (nu_now_ns() - t0 < (uint64_t)(baseline_ms * 1e6)) sched_yield();
        break;
    }
    case M_READABLE:
    case M_READABLE_SIGNAL:
    case M_BLOCKING: {
        static const unsigned one[] = {1};
        ums_placement pl;
        ASSERT_OK(ums_placement_init(&pl, UMS_PLACE_BIND));
        pl.nodes = one;
        pl.node_count = 1;
        ASSERT_OK(ums_place(p, size, &pl, NULL));
        break;
    }
    case M_MOVE_PAGES: {
        void **addrs = calloc(pages, sizeof *addrs);
        int *nodes = calloc(pages, sizeof *nodes), *status = calloc(pages, sizeof *status);
        if (!addrs || !nodes || !status) FAIL_("out of memory");
        for (size_t i = 0; i < pages; i++) {
            addrs[i] = (char *)p + i * 4096;
            nodes[i] = 1;
        }
        if (nu_move_pages(pages, addrs, nodes, status, NU_MPOL_MF_MOVE) < 0) FAIL_("move_pages: %s", strerror(errno));
        free(addrs);
        free(nodes);
        free(status);
        break;
    }
    case M_MBIND:
        if (nu_mbind(p, size, NU_MPOL_BIND, &mask, 65, NU_MPOL_MF_MOVE) != 0) FAIL_("mbind: %s", strerror(errno));
        break;
    case M_COUNT:
        break;
    }
    res.move_ms = (nu_now_ns() - t0) / 1e6;
    atomic_store(&x.moving, 0);
    run_stop(&x);
    if (rt) {
        ASSERT_OK(ums_counters_get(rt, &c1));
        res.reader_waits = (long long)(c1.reader_waits - c0.reader_waits);
        res.writer_waits = (long long)(c1.writer_waits - c0.writer_waits);
    }
    if (x.r.wrong) FAIL_("%s: the reader saw %llu wrong values", method_names[m], (unsigned long long)x.r.wrong);
    check_writes(p, pages, &x.w, method_names[m]);
    unsigned counts[NU_MAX_NODES], absent;
    nu_page_nodes(p, size, counts, &absent);
    res.pages = (unsigned)pages;
    res.pages_on_target = m == M_NONE ? counts[0] : counts[1];
    res.r_during = x.r.during;
    res.r_stalls = x.r.stalls;
    res.r_longest_ns = x.r.longest_ns;
    res.w_during = x.w.during;
    res.w_stalls = x.w.stalls;
    res.w_longest_ns = x.w.longest_ns;
    res.r_sleeps = x.r.sleeps;
    res.r_stalled_ms = x.r.stalled_ns / 1e6;
    res.w_stalled_ms = x.w.stalled_ns / 1e6;
    res.w_sleeps = x.w.sleeps;
    if (rt) {
        ASSERT_OK(ums_free(p));
        ASSERT_OK(ums_runtime_destroy(rt));
    } else {
        munmap(p, size);
    }
    return res;
}

static void part2(size_t size) {
    result res[M_COUNT];
    /* the readable move first: the baseline lasts as long */
    res[M_READABLE] = compare_one(M_READABLE, size, 0);
    res[M_NONE] = compare_one(M_NONE, size, res[M_READABLE].move_ms);
    for (int m = M_READABLE_SIGNAL; m < M_COUNT; m++) res[m] = compare_one((method)m, size, 0);

    printf("\nreaders and writers while %zu MiB move from node 0 to node 1 (guest timings are emulated: read the "
           "counts)\n",
           size >> 20);
    printf("| how | move ms | reader accesses during | reader sleeps | reader > 50 us: count, total ms, longest ms | "
           "writer accesses during | writer sleeps | writer > 50 us: count, total ms, longest ms | umshim reader_waits | "
           "umshim writer_waits | pages on target |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int m = 0; m < M_COUNT; m++) {
        const result *r = &res[m];
        char rw[24], ww[24];
        if (r->reader_waits < 0) snprintf(rw, sizeof rw, "-");
        else snprintf(rw, sizeof rw, "%lld", r->reader_waits);
        if (r->writer_waits < 0) snprintf(ww, sizeof ww, "-");
        else snprintf(ww, sizeof ww, "%lld", r->writer_waits);
        printf("| %s | %.0f | %llu | %ld | %llu, %.0f, %.1f | %llu | %ld | %llu, %.0f, %.1f | %s | %s | %u/%u |\n",
               method_names[m], r->move_ms, (unsigned long long)r->r_during, r->r_sleeps,
               (unsigned long long)r->r_stalls, r->r_stalled_ms, r->r_longest_ns / 1e6, (unsigned long long)r->w_during,
               r->w_sleeps, (unsigned long long)r->w_stalls, r->w_stalled_ms, r->w_longest_ns / 1e6, rw, ww,
               r->pages_on_target, r->pages);
    }
    printf("{\"bench\":\"numa_readers\",\"size_mib\":%zu,\"stall_us\":%llu,\"kernel_uffd_move\":%d,\"methods\":[",
           size >> 20, STALL_NS / 1000, nu_kernel_at_least(6, 8));
    for (int m = 0; m < M_COUNT; m++) {
        const result *r = &res[m];
        printf("%s{\"how\":\"%s\",\"move_ms\":%.1f,\"reader_during\":%llu,\"reader_sleeps\":%ld,"
               "\"reader_stalls\":%llu,\"reader_stalled_ms\":%.1f,\"reader_longest_us\":%.0f,\"writer_during\":%llu,\"writer_sleeps\":%ld,"
               "\"writer_stalls\":%llu,\"writer_stalled_ms\":%.1f,\"writer_longest_us\":%.0f,\"umshim_reader_waits\":%lld,"
               "\"umshim_writer_waits\":%lld,\"pages_on_target\":%u,\"pages\":%u}",
               m ? "," : "", method_keys[m], r->move_ms, (unsigned long long)r->r_during, r->r_sleeps,
               (unsigned long long)r->r_stalls, r->r_stalled_ms, r->r_longest_ns / 1e3, (unsigned long long)r->w_during,
               r->w_sleeps, (unsigned long long)r->w_stalls, r->w_stalled_ms, r->w_longest_ns / 1e3, r->reader_waits,
               r->writer_waits,
               r->pages_on_target, r->pages);
    }
    printf("]}\n");

    /* Who waits: umshim's readable protocol never makes a read wait; its
     * blocking protocol does, like the kernel's migration. */
    ASSERT_EQ(res[M_READABLE].reader_waits, 0);
    ASSERT_EQ(res[M_READABLE_SIGNAL].reader_waits, 0);
    ASSERT_GT(res[M_BLOCKING].reader_waits, 0);
    for (int m = M_READABLE; m < M_COUNT; m++)
        if (res[m].pages_on_target != res[m].pages)
            FAIL_("%s: %u of %u pages reached node 1", method_names[m], res[m].pages_on_target, res[m].pages);
}

int main(int argc, char **argv) {
    size_t mib = 32;
    int do1 = 1, do2 = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size-mib") && i + 1 < argc) mib = (size_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--part1-only")) do2 = 0;
        else if (!strcmp(argv[i], "--compare-only")) do1 = 0;
        else {
            fprintf(stderr, "usage: numa_migrate [--size-mib N] [--part1-only|--compare-only]\n");
            return 2;
        }
    }
    nu_require_guest();
    if (sysconf(_SC_NPROCESSORS_ONLN) < 4) SKIP("needs 4 CPUs (2 per node: vm.sh --cpus-per-node 2)");
    if (do1) {
        part1(UMS_FAULT_UFFD, 16u << 20);
        part1(UMS_FAULT_SIGNAL, 16u << 20);
    }
    if (do2) part2(mib << 20);
    printf("numa migrate: ok\n");
    return 0;
}
