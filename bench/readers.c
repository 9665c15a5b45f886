/* ums_bench_readers: what a reader sees while the range it reads migrates.
 *
 * One reader thread times every access it makes; one writer thread writes a
 * word every ~80 us; the main thread migrates the whole range block by block,
 * host -> host (node0 -> simnode0), host -> device, device -> host, and
 * publishes which blocks the reader may read. The same passes run under the
 * readable and the blocking protocol (one runtime each, same process), and an
 * idle window of the same length is measured the same way.
 *
 * A reader "wait" is an access over 50 us during which the reader thread
 * slept (its voluntary context-switch count moved: a page fault put it to
 * sleep); an access over 50 us without a sleep is the machine's noise
 * (preemption, a stalled virtual CPU) and is counted apart. The idle window's
 * count of each kind is subtracted. Then a diagnosis: how long pages of a
 * migrating block are absent (mincore, which never faults), what each
 * step of a host -> host block move costs on this machine, and the floor: how
 * often the kernel's own hole-free switch of a huge page (one mremap, no
 * library) stalls a reader chasing the block being switched. Throughput is
 * compared with memcpy and with the library's own bulk copy (ums__copy_bulk).
 * Method and figures: docs/PERFORMANCE.md.
 *
 * Usage: ums_bench_readers [--size-mib N] [--reps R] [--svg FILE] [--no-pin]
 * The last line of output is one JSON object. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <umshim.h>

#include "bench_common.h"
#include "bench_uffd.h"
#include "sys.h" /* ums__copy_bulk: the library's own bulk copy, compiled in as a second baseline */

/* ---------------------------------------------------------------- model */

enum { PH_H2H, PH_H2S, PH_S2H, PH_IDLE, PH_MEMCPY, PH_BULK, PH_COUNT, PH_PAUSE = 14, PH_STOP = 15 };
enum { PAT_RANDOM, PAT_CHASE, PAT_COUNT };
#define PAT_PROBE 2u /* diagnosis: mincore() of the migrating block, no access */
enum { PR_READABLE, PR_BLOCKING, PR_COUNT };
#define NMIG 3 /* migration phases of a pass: h2h, h2s, s2h */

static const char *const ph_name[PH_COUNT] = {"host->host", "host->sim", "sim->host", "idle", "memcpy", "bulk copy"};
static const char *const pat_name[PAT_COUNT] = {"random", "chasing"};
static const char *const pr_name[PR_COUNT] = {"readable", "blocking"};

#define SLOW_US 50.0        /* an access slower than this is a "wait" */
#define NONE 0xFFFFFu       /* no block */
#define TS_CAP 30000u       /* time series: 1 ms buckets, at most 30 s per phase */
#define EV_CAP 16384u       /* slow accesses kept individually per phase (for the picture) */
#define WRITER_PERIOD_NS 80000L

/* What the reader and the writer may touch now, in one word so that a change
 * is seen at once: phase (4 bits), pattern (2), the window [lo, hi) of blocks
 * whose host copy is valid (19 + 19), the block migrating now (20). */
static inline uint64_t win_make(unsigned ph, unsigned pat, uint32_t lo, uint32_t hi, uint32_t cur) {
    return (uint64_t)ph << 60 | (uint64_t)pat << 58 | (uint64_t)lo << 39 | (uint64_t)hi << 20 | cur;
}
static inline unsigned win_ph(uint64_t w) { return (unsigned)(w >> 60); }
static inline unsigned win_pat(uint64_t w) { return (unsigned)(w >> 58) & 3u; }
static inline uint32_t win_lo(uint64_t w) { return (uint32_t)(w >> 39) & 0x7FFFFu; }
static inline uint32_t win_hi(uint64_t w) { return (uint32_t)(w >> 20) & 0x7FFFFu; }
static inline uint32_t win_cur(uint64_t w) { return (uint32_t)w & 0xFFFFFu; }

typedef struct phase_stats {
    char *base;            /* allocation read in this phase */
    uint64_t t0, t1;       /* ticks: phase start, end */
    bench_hist h;          /* reader access latency */
    uint64_t slow;         /* reader accesses > SLOW_US */
    uint64_t slept;        /* ... during which the reader slept (voluntary context switch): a fault wait */
    uint64_t preempted;    /* ... during which it was preempted and did not sleep: the machine's noise */
    uint64_t slept_max;    /* longest access during which the reader slept */
    uint64_t slept_sum;    /* total time of those accesses (ticks) */
    uint64_t *ts_sum;      /* per 1 ms: sum of the latencies (ticks) of accesses <= SLOW_US */
    uint32_t *ts_cnt;      /* ... and their number */
    struct slow_ev {       /* every access > SLOW_US, up to EV_CAP */
        uint32_t t_us;     /* completion, microseconds since the phase started */
        uint32_t dt;       /* latency, ticks (saturated) */
        uint32_t cls;      /* CLS_* */
    } *ev;
    uint32_t nev;
    bench_hist wh;         /* writer access latency */
    uint64_t wslow;
    ums_counters c0, c1;   /* runtime counters at start and end */
    size_t moved, already, failed;
    unsigned hook_timeouts;
} phase_stats;

typedef struct bench_rt {
    ums_runtime_t *rt;
    char *base;
    ums_location_t node0, simnode0, dev;
} bench_rt;

/* ---------------------------------------------------------------- shared state */

static _Atomic uint64_t g_win;
static _Atomic(phase_stats *) g_target[PH_COUNT];
static _Atomic uint32_t g_reader_at = NONE; /* block the reader is about to read / reading */
static _Atomic uint64_t g_reader_seen, g_writer_seen;
static _Atomic int g_hook_armed;
static size_t g_bs, g_lines;
static uint32_t g_n;
static uint64_t g_slow_ticks, g_ticks_per_ms, g_check_ticks;

/* Diagnosis: when, during the migration of a block, were pages of it absent
 * (a read there would fault)? Found with mincore(), which never faults. */
typedef struct probe_rec {
    uint64_t first, last; /* ticks of the first and last sample that saw absent pages */
    unsigned max_absent;  /* most pages absent in one sample */
    unsigned samples;
} probe_rec;
static probe_rec *g_probe;
static unsigned char *g_vec;
static size_t g_pages;

static inline void cpu_relax(void) {
#ifdef BENCH_HAVE_TSC
    _mm_pause();
#endif
}

static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void publish(uint64_t w) { atomic_store(&g_win, w); }

/* Wait until reader and writer have seen the pause: from then on they touch no stats. */
static void pause_and_sync(void) {
    uint64_t w = win_make(PH_PAUSE, 0, 0, 0, NONE);
    publish(w);
    while (atomic_load(&g_reader_seen) != w || atomic_load(&g_writer_seen) != w) sleep_ns(20000);
}

/* ---------------------------------------------------------------- reader */

/* What happened to the reader during an access, from its context-switch counts. */
enum { CLS_FAST, CLS_SLEPT, CLS_PREEMPTED, CLS_OTHER };

static inline void thread_switches(long *nv, long *niv) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    *nv = ru.ru_nvcsw;
    *niv = ru.ru_nivcsw;
}

static inline void record(phase_stats *st, uint64_t dt, uint64_t t1, int cls) {
    bh_add(&st->h, dt);
    if (dt > g_slow_ticks) {
        st->slow++;
        if (cls == CLS_SLEPT) {
            st->slept++;
            st->slept_sum += dt;
            if (dt > st->slept_max) st->slept_max = dt;
        } else if (cls == CLS_PREEMPTED) {
            st->preempted++;
        }
    }
    uint64_t since = t1 > st->t0 ? t1 - st->t0 : 0;
    if (dt <= g_slow_ticks) {
        uint64_t ms = since / g_ticks_per_ms;
        if (ms < TS_CAP) {
            st->ts_sum[ms] += dt;
            st->ts_cnt[ms]++;
        }
    } else if (st->nev < EV_CAP) {
        struct slow_ev *e = &st->ev[st->nev++];
        e->t_us = (uint32_t)(since * 1000 / g_ticks_per_ms);
        e->dt = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
        e->cls = (uint32_t)cls;
    }
}

static volatile uint64_t g_sink;

static void *reader_main(void *arg) {
    (void)arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull, sink = 0, last = ~0ull;
    phase_stats *st = NULL;
    unsigned pat = 0;
    uint32_t lo = 0, hi = 0, cur = NONE;
    long nv_base = 0, niv_base = 0;
    for (;;) {
        uint64_t w = atomic_load(&g_win);
        if (w != last) {
            last = w;
            unsigned ph = win_ph(w);
            pat = win_pat(w);
            lo = win_lo(w);
            hi = win_hi(w);
            cur = win_cur(w);
            st = ph < PH_COUNT ? atomic_load(&g_target[ph]) : NULL;
            thread_switches(&nv_base, &niv_base);
            atomic_store(&g_reader_seen, w);
            if (ph == PH_STOP) break;
        }
        if (!st) {
            sleep_ns(50000);
            continue;
        }
        if (pat == PAT_PROBE) {
            if (cur == NONE) {
                cpu_relax();
                continue;
            }
            uint64_t t = bench_ticks();
            if (mincore(st->base + (size_t)cur * g_bs, g_bs, g_vec) == 0) {
                unsigned absent = 0;
                for (size_t k = 0; k < g_pages; k++) absent += !(g_vec[k] & 1);
                probe_rec *p = &g_probe[cur];
                p->samples++;
                if (absent) {
                    if (!p->first) p->first = t;
                    p->last = t;
                    if (absent > p->max_absent) p->max_absent = absent;
                }
            }
            continue;
        }
        uint32_t b;
        if (pat == PAT_CHASE) {
            if (cur == NONE) {
                cpu_relax();
                continue;
            }
            b = cur;
        } else {
            if (hi <= lo) {
                cpu_relax();
                continue;
            }
            b = lo + (uint32_t)(bench_rand(&rng) % (hi - lo));
        }
        size_t off = (size_t)b * g_bs + (size_t)(bench_rand(&rng) % g_lines) * 64;
        /* Announce the block, then check the window again: a migration that
         * retracts a block (before dropping its host copy) stores the window
         * first and then waits while the reader is announced there. */
        atomic_store(&g_reader_at, b);
        if (atomic_load(&g_win) != w) {
            atomic_store_explicit(&g_reader_at, NONE, memory_order_release);
            continue;
        }
        uint64_t t0 = bench_ticks();
        sink += *(volatile uint64_t *)(st->base + off);
        uint64_t t1 = bench_ticks();
        atomic_store_explicit(&g_reader_at, NONE, memory_order_release);
        /* Any sleep or preemption makes the access take more than a few
         * microseconds, so the counters are read only after such accesses. */
        int cls = CLS_FAST;
        if (t1 - t0 > g_check_ticks) {
            long nv, niv;
            thread_switches(&nv, &niv);
            cls = nv != nv_base ? CLS_SLEPT : niv != niv_base ? CLS_PREEMPTED : CLS_OTHER;
            nv_base = nv;
            niv_base = niv;
        }
        record(st, t1 - t0, t1, cls);
    }
    g_sink = sink;
    return NULL;
}

/* ---------------------------------------------------------------- writer */

static void *writer_main(void *arg) {
    (void)arg;
    prctl(PR_SET_TIMERSLACK, 1000UL); /* 1 us: keep the period near WRITER_PERIOD_NS */
    uint64_t rng = 0xD1B54A32D192ED03ull, last = ~0ull, v = 0;
    phase_stats *st = NULL;
    unsigned ph = PH_PAUSE, pat = 0;
    uint32_t lo = 0, hi = 0, cur = NONE;
    for (;;) {
        uint64_t w = atomic_load(&g_win);
        if (w != last) {
            last = w;
            ph = win_ph(w);
            pat = win_pat(w);
            lo = win_lo(w);
            hi = win_hi(w);
            cur = win_cur(w);
            st = ph < PH_COUNT ? atomic_load(&g_target[ph]) : NULL;
            atomic_store(&g_writer_seen, w);
            if (ph == PH_STOP) break;
        }
        if (!st) {
            sleep_ns(50000);
            continue;
        }
        /* Where a write is harmless to the phase: never a block on the device
         * (it would fetch it back), never the block about to go there. */
        uint32_t b = NONE;
        if (ph == PH_H2S) {
            if (hi > lo + 2) b = lo + 2 + (uint32_t)(bench_rand(&rng) % (hi - lo - 2));
        } else if (pat == PAT_CHASE && cur != NONE && (ph == PH_H2H || ph == PH_S2H)) {
            b = cur; /* the writer of the migrating block waits for its commit */
        } else if (hi > lo) {
            b = lo + (uint32_t)(bench_rand(&rng) % (hi - lo));
        }
        if (b != NONE) {
            size_t off = (size_t)b * g_bs + (size_t)(bench_rand(&rng) % g_lines) * 64 + 8;
            uint64_t t0 = bench_ticks();
            *(volatile uint64_t *)(st->base + off) = ++v;
            uint64_t t1 = bench_ticks();
            bh_add(&st->wh, t1 - t0);
            if (t1 - t0 > g_slow_ticks) st->wslow++;
        }
        sleep_ns(WRITER_PERIOD_NS);
    }
    return NULL;
}

/* ---------------------------------------------------------------- device with a retract hook
 * A simulated device exactly like the library's sim backend (memory mapped and
 * populated at allocation, memcpy transfers), plus one thing: when a host ->
 * device copy of a block is done, and before the core commits it (drops the
 * host copy), the benchmark retracts that block from what the reader may read
 * and, under the readable protocol, waits until the reader is not on it. A
 * reader of a block whose host copy is gone would fetch it back: correct, but
 * not a migration wait. Under the blocking protocol a reader on the block is
 * already asleep in the fault (every access waits), so nothing is awaited. */

struct ums_devmem {
    void *p;
    size_t len;
};

typedef struct hook_state {
    const ums_backend_services *svc;
    int wait_reader;
    uint64_t capacity;
} hook_state;

static uint64_t g_hook_capacity;
static _Atomic unsigned g_hook_timeouts;

static ums_result hook_init(const ums_backend_services *svc, const char *config, void **out) {
    hook_state *s = calloc(1, sizeof *s);
    if (!s) return UMS_ERR_NO_MEMORY;
    s->svc = svc;
    s->wait_reader = config && strcmp(config, "readable") == 0;
    s->capacity = g_hook_capacity;
    *out = s;
    return UMS_OK;
}
static void hook_fini(void *be) { free(be); }
static ums_result hook_count(void *be, uint32_t *count) {
    (void)be;
    *count = 1;
    return UMS_OK;
}
static ums_result hook_describe(void *be, uint32_t index, ums_backend_location *d) {
    hook_state *s = be;
    if (index != 0) return UMS_ERR_UNKNOWN_LOCATION;
    d->kind = UMS_LOCATION_DEVICE;
    snprintf(d->name, sizeof d->name, "bsim0");
    d->capacity = s->capacity;
    d->flags = UMS_LOCATION_FLAG_CONFIGURED;
    d->numa_node = -1;
    return UMS_OK;
}
static ums_result hook_mem_alloc(void *be, uint32_t index, size_t size, ums_devmem **out) {
    hook_state *s = be;
    (void)index;
    ums_devmem *m = calloc(1, sizeof *m);
    if (!m) return UMS_ERR_NO_MEMORY;
    m->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m->p == MAP_FAILED) {
        free(m);
        s->svc->set_error(s->svc->core, UMS_ERR_NO_DEVICE_MEMORY, errno, "bsim memory: %s", strerror(errno));
        return UMS_ERR_NO_DEVICE_MEMORY;
    }
    m->len = size;
    *out = m;
    return UMS_OK;
}
static void hook_mem_free(void *be, ums_devmem *m) {
    (void)be;
    munmap(m->p, m->len);
    free(m);
}

static void retract_migrating_block(hook_state *s) {
    if (!atomic_load(&g_hook_armed)) return;
    uint64_t w = atomic_load(&g_win);
    uint32_t cur = win_cur(w);
    if (win_ph(w) != PH_H2S || cur == NONE) return;
    atomic_store(&g_win, win_make(PH_H2S, win_pat(w), cur + 1, win_hi(w), NONE));
    if (!s->wait_reader) return;
    uint64_t t0 = bench_mono_ns();
    for (unsigned spins = 0; atomic_load(&g_reader_at) == cur; spins++) {
        if (spins < 2000) cpu_relax();
        else sched_yield();
        if ((spins & 255) == 0 && bench_mono_ns() - t0 > 200000000ull) {
            atomic_fetch_add(&g_hook_timeouts, 1);
            break;
        }
    }
}

static ums_result hook_copy_to(void *be, ums_devmem *dst, size_t off, const void *src, size_t len, ums_fence **f) {
    if (off > dst->len || len > dst->len - off) return UMS_ERR_OUT_OF_RANGE;
    memcpy((char *)dst->p + off, src, len);
    retract_migrating_block(be);
    if (f) *f = NULL;
    return UMS_OK;
}
static ums_result hook_copy_from(void *be, void *dst, ums_devmem *src, size_t off, size_t len, ums_fence **f) {
    (void)be;
    if (off > src->len || len > src->len - off) return UMS_ERR_OUT_OF_RANGE;
    memcpy(dst, (char *)src->p + off, len);
    if (f) *f = NULL;
    return UMS_OK;
}

static const ums_backend_ops hook_ops = {
    .abi_version = UMS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(ums_backend_ops),
    .name = "bsim",
    .init = hook_init,
    .fini = hook_fini,
    .location_count = hook_count,
    .location_describe = hook_describe,
    .mem_alloc = hook_mem_alloc,
    .mem_free = hook_mem_free,
    .copy_to = hook_copy_to,
    .copy_from = hook_copy_from,
};

/* ---------------------------------------------------------------- setup */

static void die(const char *what, ums_result r) {
    fprintf(stderr, "ums_bench_readers: %s: %s (%s)\n", what, ums_result_name(r), ums_last_error()->message);
    exit(1);
}

static void rt_open(bench_rt *b, ums_protocol proto, size_t size, const char *sim) {
    ums_runtime_config cfg;
    ums_result r = ums_runtime_config_from_env(&cfg);
    if (r != UMS_OK) fprintf(stderr, "warning: %s (using defaults for it)\n", ums_last_error()->message);
    cfg.protocol = proto;
    cfg.sim = sim;
    cfg.opencl = 0;
    if ((r = ums_runtime_create(&cfg, &b->rt)) != UMS_OK) die("ums_runtime_create", r);
    if ((r = ums_backend_add(b->rt, &hook_ops, proto == UMS_PROTOCOL_BLOCKING ? "blocking" : "readable")) != UMS_OK)
        die("ums_backend_add", r);
    b->node0 = UMS_LOCATION_NONE;
    uint32_t n = 0;
    ums_location_count(b->rt, &n);
    for (uint32_t i = 0; i < n; i++) {
        ums_location_info li;
        if (ums_location_get(b->rt, i, &li) == UMS_OK && li.kind == UMS_LOCATION_HOST_NODE &&
            strcmp(li.backend, "host") == 0) {
            b->node0 = i;
            break;
        }
    }
    if (b->node0 == UMS_LOCATION_NONE) die("no host node", UMS_ERR_UNKNOWN_LOCATION);
    if ((r = ums_location_find(b->rt, "simnode0", &b->simnode0)) != UMS_OK) die("simnode0", r);
    if ((r = ums_location_find(b->rt, "bsim0", &b->dev)) != UMS_OK) die("bsim0", r);
    if ((r = ums_runtime_alloc(b->rt, size, 0, (void **)&b->base)) != UMS_OK) die("ums_runtime_alloc", r);
    memset(b->base, 0x5a, size); /* every page present, on node0 */
}

static void migrate_block(bench_rt *b, uint32_t i, ums_location_t to, phase_stats *S) {
    ums_migrate_report rep;
    ums_result r = ums_migrate_ex(b->base + (size_t)i * g_bs, g_bs, to, &rep);
    S->moved += rep.blocks_moved;
    S->already += rep.blocks_already;
    S->failed += rep.blocks_failed;
    if (r != UMS_OK && S->failed == 1)
        fprintf(stderr, "warning: ums_migrate of block %u: %s (%s)\n", i, ums_result_name(r), ums_last_error()->message);
}

static void phase_begin(phase_stats *S, unsigned ph, char *base, ums_runtime_t *rt) {
    S->base = base;
    if (rt) ums_counters_get(rt, &S->c0);
    S->t0 = bench_ticks();
    atomic_store(&g_target[ph], S);
}

static void phase_end(phase_stats *S, ums_runtime_t *rt) {
    S->t1 = bench_ticks();
    if (rt) ums_counters_get(rt, &S->c1);
}

static void stats_alloc(phase_stats *S) {
    S->ts_sum = calloc(TS_CAP, sizeof *S->ts_sum);
    S->ts_cnt = calloc(TS_CAP, sizeof *S->ts_cnt);
    S->ev = calloc(EV_CAP, sizeof *S->ev);
    if (!S->ts_sum || !S->ts_cnt || !S->ev) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
}

static void stats_free(phase_stats *S) {
    free(S->ts_sum);
    free(S->ts_cnt);
    free(S->ev);
}

static double phase_s(const phase_stats *S) { return bench_ticks_to_ns(S->t1 - S->t0) / 1e9; }

/* One pass: the whole range node0 -> simnode0 -> device -> node0, block by block. */
static void run_pass(bench_rt *b, unsigned pat, phase_stats *S) {
    uint32_t n = g_n;
    phase_begin(&S[PH_H2H], PH_H2H, b->base, b->rt);
    for (uint32_t i = 0; i < n; i++) {
        publish(win_make(PH_H2H, pat, 0, n, i));
        migrate_block(b, i, b->simnode0, &S[PH_H2H]);
    }
    phase_end(&S[PH_H2H], b->rt);

    unsigned t0 = atomic_load(&g_hook_timeouts);
    phase_begin(&S[PH_H2S], PH_H2S, b->base, b->rt);
    atomic_store(&g_hook_armed, 1);
    for (uint32_t i = 0; i < n; i++) {
        publish(win_make(PH_H2S, pat, i, n, i));
        migrate_block(b, i, b->dev, &S[PH_H2S]);
    }
    atomic_store(&g_hook_armed, 0);
    phase_end(&S[PH_H2S], b->rt);
    S[PH_H2S].hook_timeouts = atomic_load(&g_hook_timeouts) - t0;

    phase_begin(&S[PH_S2H], PH_S2H, b->base, b->rt);
    for (uint32_t i = 0; i < n; i++) {
        publish(win_make(PH_S2H, pat, 0, i, i));
        migrate_block(b, i, b->node0, &S[PH_S2H]);
    }
    phase_end(&S[PH_S2H], b->rt);
    pause_and_sync();
    for (unsigned ph = 0; ph < NMIG; ph++) atomic_store(&g_target[ph], NULL);
}

/* Idle: the same reader and writer, the same publication pace, no migration. */
static void run_idle(bench_rt *b, unsigned pat, double dur_s, phase_stats *S) {
    uint32_t n = g_n;
    unsigned steps = 2 * n;
    uint64_t step_ns = (uint64_t)(dur_s * 1e9 / steps);
    phase_begin(S, PH_IDLE, b->base, b->rt);
    uint64_t start = bench_mono_ns();
    for (unsigned k = 0; k < steps; k++) {
        publish(win_make(PH_IDLE, pat, 0, n, k % n));
        uint64_t until = start + (k + 1) * step_ns, now = bench_mono_ns();
        if (until > now) sleep_ns((long)(until - now));
    }
    phase_end(S, b->rt);
    pause_and_sync();
    atomic_store(&g_target[PH_IDLE], NULL);
}

/* A copy of the same bytes, block by block, into pre-faulted memory, with the
 * random reader and the writer running as during the migration: memcpy (the
 * issue's baseline), or the library's streaming bulk copy (ums__copy_bulk),
 * which shows what the protocol itself costs beside the copy it makes. */
static void memcpy_fn(void *dst, const void *src, size_t len) { memcpy(dst, src, len); }

static void run_copy(bench_rt *b, char *dst, phase_stats *S, void (*copy)(void *, const void *, size_t)) {
    unsigned ph = copy == ums__copy_bulk ? PH_BULK : PH_MEMCPY;
    phase_begin(S, ph, b->base, NULL);
    publish(win_make(ph, PAT_RANDOM, 0, g_n, NONE));
    uint64_t t0 = bench_ticks();
    for (uint32_t i = 0; i < g_n; i++) copy(dst + (size_t)i * g_bs, b->base + (size_t)i * g_bs, g_bs);
    uint64_t t1 = bench_ticks();
    phase_end(S, NULL);
    S->t0 = t0;
    S->t1 = t1;
    pause_and_sync();
    atomic_store(&g_target[ph], NULL);
}

/* Diagnosis 1: migrate `np` blocks node0 -> simnode0 and back while the
 * reader, instead of reading, samples with mincore() which pages of the
 * migrating block are absent. Per migration: how long pages were seen absent
 * (0 when never), the most absent at once, the migration's own duration. */
typedef struct probe_result {
    double hole_us, hole_max_us, absent_max, migrate_us, samples;
    unsigned with_hole, total;
} probe_result;

static probe_result run_probe(bench_rt *b, uint32_t np) {
    probe_result out;
    memset(&out, 0, sizeof out);
    double *hole = calloc(2 * (size_t)np, sizeof *hole), *mig = calloc(2 * (size_t)np, sizeof *mig);
    double *smp = calloc(2 * (size_t)np, sizeof *smp);
    phase_stats *S = calloc(1, sizeof *S);
    if (!hole || !mig || !smp || !S) exit(1);
    stats_alloc(S);
    unsigned k = 0;
    for (int dir = 0; dir < 2; dir++) {
        memset(g_probe, 0, (size_t)g_n * sizeof *g_probe);
        phase_begin(S, PH_H2H, b->base, b->rt);
        for (uint32_t i = 0; i < np; i++) {
            publish(win_make(PH_H2H, PAT_PROBE, 0, g_n, i));
            sleep_ns(200000); /* let the probe see the block before the migration starts */
            uint64_t t0 = bench_ticks();
            migrate_block(b, i, dir == 0 ? b->simnode0 : b->node0, S);
            mig[k + i] = bench_ticks_to_us(bench_ticks() - t0);
        }
        phase_end(S, b->rt);
        pause_and_sync();
        atomic_store(&g_target[PH_H2H], NULL);
        for (uint32_t i = 0; i < np; i++, k++) {
            const probe_rec *p = &g_probe[i];
            hole[k] = p->first ? bench_ticks_to_us(p->last - p->first) : 0;
            smp[k] = p->samples;
            if (p->first) out.with_hole++;
            if (p->max_absent > out.absent_max) out.absent_max = p->max_absent;
            if (hole[k] > out.hole_max_us) out.hole_max_us = hole[k];
        }
    }
    out.total = k;
    out.hole_us = bench_median(hole, k);
    out.migrate_us = bench_median(mig, k);
    out.samples = bench_median(smp, k);
    free(hole), free(mig), free(smp), stats_free(S), free(S);
    return out;
}

/* Diagnosis 2: the system operations a host -> host migration of one block
 * performs (shim/migrate.c, shim/fault_uffd.c, the sim backend's mem_alloc),
 * timed one by one on a userfaultfd region of our own. */
enum { BD_ALLOC, BD_WP, BD_COPY, BD_ZAP, BD_INSTALL, BD_FREE, BD_COUNT };
static const char *const bd_name[BD_COUNT] = {"staging mmap+populate", "write-protect", "memcpy", "zap (MADV_DONTNEED)",
                                              "install", "staging munmap"};
typedef struct breakdown {
    double us[BD_COUNT];
    int move; /* install was UFFDIO_MOVE (else UFFDIO_COPY) */
    int ok;
    double alt_fill_us; /* staging filled by UFFDIO_COPY into a registered mapping instead */
} breakdown;

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* AnonHugePages of this process, in KiB. */
static long anon_huge_kib(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %ld kB", &v) == 1) break;
    fclose(f);
    return v;
}

/* Anonymous memory aligned to 2 MiB, transparent huge pages asked for if thp. */
static char *map_2m(size_t len, bool thp, char **unmap_base, size_t *unmap_len) {
    size_t align = (size_t)2 << 20;
    char *m = mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    char *a = (char *)(((uintptr_t)m + align - 1) / align * align);
    if (thp) madvise(a, len, MADV_HUGEPAGE);
    *unmap_base = m;
    *unmap_len = len + align;
    return a;
}

/* Time the steps on nb blocks of a region of our own. thp: huge pages for the
 * region and the staging. recycle: instead of zapping the old pages and
 * allocating fresh staging for every block, move the old pages out (into a
 * registered spare slot) and reuse them as the next block's staging. */
static breakdown run_breakdown(size_t bs, unsigned nb, bool thp, bool recycle, long *thp_kib) {
    breakdown out;
    memset(&out, 0, sizeof out);
    uint64_t have = 0;
    int fd = bench_uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_MOVE, &have);
    if (fd < 0 || !(have & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) return out;
    out.move = (have & UFFD_FEATURE_MOVE) != 0;
    if (recycle && !out.move) {
        close(fd);
        return out;
    }
    size_t len = bs * nb, mlen;
    char *m;
    /* the region, then two staging slots (recycle only): slot 0 populated, slot 1 empty */
    size_t total = len + (recycle ? 2 * bs : 0);
    char *reg = map_2m(total, thp, &m, &mlen);
    if (!reg) return out;
    long h0 = anon_huge_kib();
    memset(reg, 0x77, len + (recycle ? bs : 0)); /* present before registration: nobody serves faults here */
    *thp_kib = anon_huge_kib() - h0;
    struct uffdio_register rg = {.range = {(uint64_t)(uintptr_t)reg, total},
                                 .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP};
    if (ioctl(fd, UFFDIO_REGISTER, &rg) != 0) {
        close(fd);
        munmap(m, mlen);
        return out;
    }
    char *slot[2] = {reg + len, reg + len + bs};
    double *v[BD_COUNT], *alt = calloc(nb, sizeof(double));
    for (int k = 0; k < BD_COUNT; k++) v[k] = calloc(nb, sizeof(double));
    for (unsigned j = 0; j < nb; j++) {
        char *blk = reg + (size_t)j * bs;
        uint64_t t[BD_COUNT + 1];
        char *sm = NULL;
        size_t sml = 0;
        int e = 0;
        t[0] = bench_ticks();
        char *stage;
        if (recycle) {
            stage = slot[0];
        } else if (thp) {
            stage = map_2m(bs, true, &sm, &sml);
            if (stage && madvise(stage, bs, MADV_POPULATE_WRITE) != 0) memset(stage, 0, bs);
        } else {
            stage = sm = mmap(NULL, bs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            sml = bs;
            if (stage == MAP_FAILED) stage = NULL;
        }
        if (!stage) goto done;
        t[1] = bench_ticks();
        struct uffdio_writeprotect w = {.range = {(uint64_t)(uintptr_t)blk, bs}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
        e |= ioctl(fd, UFFDIO_WRITEPROTECT, &w);
        t[2] = bench_ticks();
        memcpy(stage, blk, bs);
        t[3] = bench_ticks();
        if (recycle) e |= bench_uffd_move(fd, slot[1], blk, bs, 1); /* the old pages out, kept */
        else e |= madvise(blk, bs, MADV_DONTNEED);
        t[4] = bench_ticks();
        if (out.move) {
            e |= bench_uffd_move(fd, blk, stage, bs, 1);
        } else {
            struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)blk, .src = (uint64_t)(uintptr_t)stage, .len = bs,
                                    .mode = UFFDIO_COPY_MODE_DONTWAKE};
            e |= ioctl(fd, UFFDIO_COPY, &c);
        }
        t[5] = bench_ticks();
        if (recycle) {
            char *x = slot[0]; /* now empty; the old pages in slot 1 are the next staging */
            slot[0] = slot[1];
            slot[1] = x;
        } else {
            munmap(sm, sml);
        }
        t[6] = bench_ticks();
        if (e) goto done;
        for (int k = 0; k < BD_COUNT; k++) v[k][j] = bench_ticks_to_us(t[k + 1] - t[k]);
        if (recycle || thp) continue;
        /* the alternative fill: the kernel allocates and copies, nothing is zeroed first */
        uint64_t a0 = bench_ticks();
        char *st2 = mmap(NULL, bs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        struct uffdio_register r2 = {.range = {(uint64_t)(uintptr_t)st2, bs}, .mode = UFFDIO_REGISTER_MODE_MISSING};
        struct uffdio_copy c2 = {.dst = (uint64_t)(uintptr_t)st2, .src = (uint64_t)(uintptr_t)blk, .len = bs,
                                 .mode = UFFDIO_COPY_MODE_DONTWAKE};
        int e2 = st2 == MAP_FAILED || ioctl(fd, UFFDIO_REGISTER, &r2) != 0 || ioctl(fd, UFFDIO_COPY, &c2) != 0;
        uint64_t a1 = bench_ticks();
        if (st2 != MAP_FAILED) munmap(st2, bs);
        alt[j] = e2 ? 0 : bench_ticks_to_us(a1 - a0);
    }
    for (int k = 0; k < BD_COUNT; k++) out.us[k] = bench_median(v[k], nb);
    out.alt_fill_us = bench_median(alt, nb);
    out.ok = 1;
done:
    free(alt);
    for (int k = 0; k < BD_COUNT; k++) free(v[k]);
    close(fd);
    munmap(m, mlen);
    return out;
}

/* Diagnosis 3, the floor: the cheapest hole-free switch the kernel offers,
 * done by hand on a huge-page region of our own, with the chasing reader on
 * the block being switched and no library involved. Each block gets a staging
 * huge page, filled beforehand; then one mremap(MREMAP_FIXED|MREMAP_DONTUNMAP)
 * puts it over the block, which is what the library's host -> host commit
 * does (it then registers the block with userfaultfd again). The reader's
 * waits here are what the switch itself costs a reader on this machine. */
typedef struct floor_result {
    unsigned switches, waits, slow;
    double switch_us, wait_max_us;
    int ok;
} floor_result;

static floor_result run_kernel_floor(unsigned nb) {
    floor_result out;
    memset(&out, 0, sizeof out);
    size_t bs = g_bs, mlen = 0, smlen = 0; /* 2 MiB: one huge page (the caller checks) */
    char *m = NULL, *sm = NULL;
    char *reg = map_2m(bs * nb, true, &m, &mlen);
    char *stage = map_2m(bs, true, &sm, &smlen);
    double *sw = calloc(nb, sizeof *sw);
    phase_stats *S = calloc(1, sizeof *S);
    if (!reg || !stage || !sw || !S) exit(1);
    stats_alloc(S);
    memset(reg, 0x5A, bs * nb);
    phase_begin(S, PH_H2H, reg, NULL);
    unsigned k = 0;
    for (unsigned j = 0; j < nb; j++) {
        char *blk = reg + (size_t)j * bs;
        if (madvise(stage, bs, MADV_POPULATE_WRITE) != 0) break;
        memcpy(stage, blk, bs);
        publish(win_make(PH_H2H, PAT_CHASE, 0, nb, j));
        sleep_ns(200000); /* the reader is on this block before the switch */
        uint64_t t0 = bench_ticks();
        void *p = mremap(stage, bs, bs, MREMAP_MAYMOVE | MREMAP_FIXED | 4 /* MREMAP_DONTUNMAP */, blk);
        uint64_t t1 = bench_ticks();
        if (p == MAP_FAILED) break;
        sw[k++] = bench_ticks_to_us(t1 - t0);
    }
    phase_end(S, NULL);
    pause_and_sync();
    atomic_store(&g_target[PH_H2H], NULL);
    out.switches = k;
    out.waits = (unsigned)S->slept;
    out.slow = (unsigned)S->slow;
    out.wait_max_us = bench_ticks_to_us(S->slept_max);
    out.switch_us = k ? bench_median(sw, k) : 0;
    out.ok = k == nb;
    stats_free(S);
    free(S), free(sw);
    munmap(m, mlen);
    munmap(sm, smlen);
    return out;
}

/* ---------------------------------------------------------------- report */

typedef struct rep_result {
    /* waits = accesses > 50 us during which the reader slept, minus the idle window's count */
    double readable_waits, blocking_waits, idle_slow, wait_ratio, readable_faults;
    /* the same with every access > 50 us counted (the literal definition) */
    double readable_waits_lit, blocking_waits_lit, idle_slow_lit, wait_ratio_lit;
    double readable_wait_max, blocking_wait_max, readable_preempted, idle_preempted;
    double readable_p999, idle_p999, blocking_p999, readable_max, blocking_max;
    double gbps, memcpy_gbps, tput_ratio, bulk_gbps, tput_ratio_bulk;
    double s2h_readable_waits, s2h_blocking_waits, s2h_readable_faults;
    double readable_raw, blocking_raw;
    /* total time the reader spent in waits (ms, before noise removal) and its ratio */
    double readable_wait_ms, blocking_wait_ms, wait_time_ratio;
} rep_result;

/* Median over the repetitions of one field of rep_result. */
static double med_field(const rep_result *res, int reps, double *tmp, size_t off) {
    for (int r = 0; r < reps; r++) memcpy(&tmp[r], (const char *)&res[r] + off, sizeof(double));
    return bench_median(tmp, (size_t)reps);
}

static uint64_t ctr_d(const phase_stats *S, size_t off) {
    uint64_t a, b;
    memcpy(&a, (const char *)&S->c0 + off, sizeof a);
    memcpy(&b, (const char *)&S->c1 + off, sizeof b);
    return b - a;
}
#define CTR(S, f) ctr_d((S), offsetof(ums_counters, f))

static void print_phase(int rep, const char *proto, const char *pat, unsigned ph, const phase_stats *S, size_t bytes) {
    const bench_hist *h = &S->h;
    double s = phase_s(S);
    printf("rep %d %-8s %-7s %-10s %6.3f s", rep, proto, pat, ph_name[ph], s);
    if (ph < NMIG || ph == PH_MEMCPY || ph == PH_BULK) printf(" %5.2f GB/s", (double)bytes / s / 1e9);
    printf(" | reads %8llu p50 %5.2f p99 %5.2f p99.9 %7.2f max %9.1f us | >50us %5llu: slept %5llu (max %.1f us) "
           "preempted %5llu",
           (unsigned long long)h->n, bh_quantile_us(h, 0.5), bh_quantile_us(h, 0.99), bh_quantile_us(h, 0.999),
           bench_ticks_to_us(h->max), (unsigned long long)S->slow, (unsigned long long)S->slept,
           bench_ticks_to_us(S->slept_max), (unsigned long long)S->preempted);
    if (ph != PH_MEMCPY && ph != PH_BULK)
        printf(" | read faults %llu (waited %llu) fetches %llu", (unsigned long long)CTR(S, read_faults),
               (unsigned long long)CTR(S, reader_waits), (unsigned long long)CTR(S, fetches));
    printf(" | writes %llu max %.1f us >50us %llu", (unsigned long long)S->wh.n, bench_ticks_to_us(S->wh.max),
           (unsigned long long)S->wslow);
    if (ph < NMIG) printf(" | moved %zu already %zu failed %zu", S->moved, S->already, S->failed);
    if (S->hook_timeouts) printf(" hook-timeouts %u", S->hook_timeouts);
    printf("\n");
}

/* ---------------------------------------------------------------- SVG */

#define SVG_W 960
#define SVG_PANEL_H 300
#define SVG_L 70
#define SVG_R 20
#define SVG_T 62
#define SVG_GAP 80

static double svg_y(double us, double ymin, double ymax, double top, double h) {
    if (us < ymin) us = ymin;
    if (us > ymax) us = ymax;
    return top + h - (log10(us) - log10(ymin)) / (log10(ymax) - log10(ymin)) * h;
}

/* One protocol's phases laid end to end in time (their start offsets from the
 * pass start): a thin line, the mean latency of ordinary accesses (<= 50 us)
 * per pixel column, and a dot per wait (an access > 50 us during which the
 * reader slept). */
static void svg_series(FILE *f, const phase_stats *const *ph, unsigned nph, uint64_t pass_t0, double ms_per_px,
                       double plot_w, double top, double h, double ymin, double ymax, const char *colour) {
    size_t ncol = (size_t)plot_w + 2;
    double *sum = calloc(ncol, sizeof *sum), *cnt = calloc(ncol, sizeof *cnt);
    if (!sum || !cnt) return;
    for (unsigned k = 0; k < nph; k++) {
        const phase_stats *S = ph[k];
        double off_ms = bench_ticks_to_ns(S->t0 - pass_t0) / 1e6;
        for (unsigned ms = 0; ms < TS_CAP; ms++) {
            if (!S->ts_cnt[ms]) continue;
            double x = (off_ms + ms) / ms_per_px;
            if (x < 0 || x > plot_w) continue;
            sum[(size_t)x] += (double)S->ts_sum[ms];
            cnt[(size_t)x] += S->ts_cnt[ms];
        }
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1\" stroke-opacity=\"0.8\" points=\"", colour);
    for (size_t c = 0; c < ncol; c++)
        if (cnt[c] > 0)
            fprintf(f, "%.0f,%.1f ", SVG_L + (double)c, svg_y(bench_ticks_to_us((uint64_t)(sum[c] / cnt[c])), ymin, ymax, top, h));
    fprintf(f, "\"/>\n");
    free(sum);
    free(cnt);
    /* dots, one per pixel at most: zero-length segments with round caps, one path */
    unsigned char *seen = calloc(ncol * ((size_t)h + 2), 1);
    fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"4\" stroke-linecap=\"round\" stroke-opacity=\"0.75\" d=\"",
            colour);
    for (unsigned k = 0; k < nph; k++) {
        const phase_stats *S = ph[k];
        double off_ms = bench_ticks_to_ns(S->t0 - pass_t0) / 1e6;
        for (uint32_t j = 0; j < S->nev; j++) {
            const struct slow_ev *e = &S->ev[j];
            if (e->cls != CLS_SLEPT) continue;
            double x = (off_ms + e->t_us / 1000.0) / ms_per_px;
            if (x < 0 || x > plot_w) continue;
            double y = svg_y(bench_ticks_to_us(e->dt), ymin, ymax, top, h);
            size_t cell = (size_t)x * ((size_t)h + 2) + (size_t)(y - top);
            if (seen && seen[cell]) continue;
            if (seen) seen[cell] = 1;
            fprintf(f, "M%.0f %.0fh0", SVG_L + x, y);
        }
    }
    fprintf(f, "\"/>\n");
    free(seen);
}

static void write_svg(const char *path, phase_stats (*S)[PAT_COUNT][PH_COUNT], phase_stats *idle, int rep,
                      size_t size_mib) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    const char *col_r = "#1f77b4", *col_b = "#d62728", *col_i = "#999999";
    double plot_w = SVG_W - SVG_L - SVG_R, ph_h = SVG_PANEL_H;
    int H = SVG_T + 2 * SVG_PANEL_H + SVG_GAP + 106;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n",
            SVG_W, H, SVG_W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f,
            "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Reader access latency while %zu MiB "
            "migrate: node0 &#8594; simnode0 &#8594; device &#8594; node0</text>\n",
            SVG_L, size_mib);
    fprintf(f,
            "<text x=\"%d\" y=\"38\" fill=\"#444\">dots: reader waits (an access &gt; 50 us during which the reader "
            "slept); lines: mean latency of the other accesses per pixel column</text>\n"
            "<text x=\"%d\" y=\"52\" fill=\"#444\">repetition %d; dashed: start of host&#8594;sim and "
            "sim&#8594;host in each run; one reader alone on its CPU, one writer</text>\n",
            SVG_L, SVG_L, rep + 1);
    double ymin = 0.05, ymax = 1e5;
    for (unsigned pat = 0; pat < PAT_COUNT; pat++) {
        double top = SVG_T + pat * (SVG_PANEL_H + SVG_GAP) + 10;
        uint64_t t0r = S[PR_READABLE][pat][PH_H2H].t0, t0b = S[PR_BLOCKING][pat][PH_H2H].t0;
        double len_r = bench_ticks_to_ns(S[PR_READABLE][pat][PH_S2H].t1 - t0r) / 1e6;
        double len_b = bench_ticks_to_ns(S[PR_BLOCKING][pat][PH_S2H].t1 - t0b) / 1e6;
        double xmax = len_r > len_b ? len_r : len_b;
        double step = 100;
        while (xmax / step > 10) step *= 2;
        xmax = ceil(xmax / step) * step;
        double ms_per_px = xmax / plot_w;
        /* frame, grid, axes */
        fprintf(f, "<rect x=\"%d\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#333\"/>\n", SVG_L,
                top, plot_w, ph_h);
        static const double dec[] = {0.1, 1, 10, 100, 1e3, 1e4, 1e5};
        static const char *const dec_lab[] = {"0.1 us", "1 us", "10 us", "100 us", "1 ms", "10 ms", "100 ms"};
        for (unsigned k = 0; k < sizeof dec / sizeof dec[0]; k++) {
            double y = svg_y(dec[k], ymin, ymax, top, ph_h);
            fprintf(f, "<line x1=\"%d\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", SVG_L,
                    SVG_L + plot_w, y, y);
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", SVG_L - 6, y + 4, dec_lab[k]);
        }
        double y50 = svg_y(SLOW_US, ymin, ymax, top, ph_h);
        fprintf(f,
                "<line x1=\"%d\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"2,3\"/>"
                "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">wait threshold 50 us</text>\n",
                SVG_L, SVG_L + plot_w, y50, y50, SVG_L + plot_w - 4, y50 - 4);
        for (double x = 0; x <= xmax + 1e-9; x += step) {
            double px = SVG_L + x / ms_per_px;
            fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>", px, px, top + ph_h,
                    top + ph_h + 5);
            fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", px, top + ph_h + 18, x);
        }
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">time since the pass started (ms)</text>\n",
                SVG_L + plot_w / 2, top + ph_h + 34);
        fprintf(f,
                "<text transform=\"translate(16,%.0f) rotate(-90)\" text-anchor=\"middle\">access latency "
                "(log)</text>\n",
                top + ph_h / 2);
        fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-weight=\"bold\">%s reader%s</text>\n", SVG_L + 8, top + 16,
                pat == PAT_RANDOM ? "random" : "chasing",
                pat == PAT_RANDOM ? ": cache lines of the blocks whose host copy is valid"
                                  : ": the block migrating now");
        /* phase starts */
        for (unsigned pr = 0; pr < PR_COUNT; pr++) {
            uint64_t t0 = pr == PR_READABLE ? t0r : t0b;
            for (unsigned ph = PH_H2S; ph <= PH_S2H; ph++) {
                double px = SVG_L + bench_ticks_to_ns(S[pr][pat][ph].t0 - t0) / 1e6 / ms_per_px;
                fprintf(f,
                        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-dasharray=\"5,4\" "
                        "stroke-width=\"1\"/>",
                        px, px, top, top + ph_h, pr == PR_READABLE ? col_r : col_b);
                fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" fill=\"%s\" font-size=\"10\">%s</text>\n", px + 3,
                        top + 30 + 12 * pr, pr == PR_READABLE ? col_r : col_b,
                        ph == PH_H2S ? "h&#8594;s" : "s&#8594;h");
            }
        }
        /* series: idle (its own start), blocking, readable on top */
        const phase_stats *pi[1] = {&idle[pat]};
        svg_series(f, pi, 1, idle[pat].t0, ms_per_px, plot_w, top, ph_h, ymin, ymax, col_i);
        const phase_stats *pb[NMIG] = {&S[PR_BLOCKING][pat][0], &S[PR_BLOCKING][pat][1], &S[PR_BLOCKING][pat][2]};
        svg_series(f, pb, NMIG, t0b, ms_per_px, plot_w, top, ph_h, ymin, ymax, col_b);
        const phase_stats *pr_[NMIG] = {&S[PR_READABLE][pat][0], &S[PR_READABLE][pat][1], &S[PR_READABLE][pat][2]};
        svg_series(f, pr_, NMIG, t0r, ms_per_px, plot_w, top, ph_h, ymin, ymax, col_r);
        /* what is not drawn: slow accesses without a sleep */
        uint64_t nr = 0, nb = 0, ni = idle[pat].slow - idle[pat].slept;
        for (unsigned ph = 0; ph < NMIG; ph++) {
            nr += S[PR_READABLE][pat][ph].slow - S[PR_READABLE][pat][ph].slept;
            nb += S[PR_BLOCKING][pat][ph].slow - S[PR_BLOCKING][pat][ph].slept;
        }
        fprintf(f,
                "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" fill=\"#666\" font-size=\"10\">not drawn: accesses "
                "&gt; 50 us without a sleep (preemption, virtual CPU stalls): readable %llu, blocking %llu, idle "
                "%llu</text>\n",
                SVG_L + plot_w, top + ph_h + 50, (unsigned long long)nr, (unsigned long long)nb,
                (unsigned long long)ni);
    }
    /* legend */
    double ly = SVG_T + 2 * SVG_PANEL_H + SVG_GAP + 92;
    const char *names[3] = {"readable protocol", "blocking protocol (baseline)", "idle: no migration, same length"};
    const char *cols[3] = {col_r, col_b, col_i};
    for (int k = 0; k < 3; k++) {
        double lx = SVG_L + k * 250;
        fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"1.5\"/>", lx,
                lx + 24, ly, ly, cols[k]);
        fprintf(f, "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"2.5\" fill=\"%s\"/>", lx + 12, ly, cols[k]);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n", lx + 30, ly + 4, names[k]);
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

/* ---------------------------------------------------------------- main */

/* Restrict the calling thread to CPUs [first, last]. Threads it creates later
 * (the runtimes' fault and worker threads, the writer) inherit the set. */
static int pin_self(int first, int last) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = first; c <= last; c++) CPU_SET(c, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *reader_start(void *arg) {
    int cpu = *(int *)arg;
    if (cpu >= 0) pin_self(cpu, cpu);
    return reader_main(NULL);
}

int main(int argc, char **argv) {
    size_t size_mib = 1024;
    int reps = 5;
    const char *svg = NULL;
    int pin = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size-mib") && i + 1 < argc) size_mib = (size_t)bench_parse_long(argv[i], argv[i + 1], 2, 1 << 20), i++;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = (int)bench_parse_long(argv[i], argv[i + 1], 1, 1000), i++;
        else if (!strcmp(argv[i], "--svg") && i + 1 < argc) svg = argv[++i];
        else if (!strcmp(argv[i], "--no-pin")) pin = 0;
        else {
            fprintf(stderr, "usage: %s [--size-mib N] [--reps R] [--svg FILE] [--no-pin]\n", argv[0]);
            return 2;
        }
    }
    bench_clock_calibrate();
    size_t size = size_mib << 20;
    g_hook_capacity = size + ((size_t)64 << 20);

    /* The reader gets the last CPU to itself; everything else (this thread,
     * which migrates, the writer, the runtimes' threads) shares the others. */
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN), reader_cpu = -1;
    if (pin && ncpu >= 2 && pin_self(0, ncpu - 2) == 0) reader_cpu = ncpu - 1;
    bench_rt R[PR_COUNT];
    rt_open(&R[PR_READABLE], UMS_PROTOCOL_READABLE, size, "count=0,host_nodes=1");
    rt_open(&R[PR_BLOCKING], UMS_PROTOCOL_BLOCKING, size, "count=0,host_nodes=1");
    g_bs = ums_runtime_block_size(R[PR_READABLE].rt);
    g_lines = g_bs / 64;
    if (size % g_bs || size / g_bs >= 0x7FFFF) {
        fprintf(stderr, "--size-mib must be a multiple of the block size (%zu bytes) and below 2^19 blocks\n", g_bs);
        return 2;
    }
    g_n = (uint32_t)(size / g_bs);
    g_slow_ticks = bench_us_to_ticks(SLOW_US);
    g_check_ticks = bench_us_to_ticks(2.0);
    g_ticks_per_ms = bench_us_to_ticks(1000.0);
    char *mdst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mdst == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset(mdst, 1, size);

    ums_runtime_features feat;
    ums_runtime_features_get(R[PR_READABLE].rt, &feat);
    printf("ums_bench_readers: %zu MiB, %u blocks of %zu KiB, %d repetitions, fault mode %s (%s), clock %.3f "
           "ticks/ns, %d CPUs, reader %s\n",
           size_mib, g_n, g_bs >> 10, reps, ums_fault_mode_name(ums_runtime_fault_mode(R[PR_READABLE].rt)),
           feat.fault_mode_reason, bench_tpns, ncpu, reader_cpu >= 0 ? "alone on the last CPU" : "not pinned");
    g_pages = g_bs / (size_t)sysconf(_SC_PAGESIZE);
    g_vec = calloc(g_pages, 1);
    g_probe = calloc(g_n, sizeof *g_probe);
    if (!g_vec || !g_probe) return 1;

    /* stats[rep][proto][pattern][phase], idle[rep][pattern], memcpy[rep] */
    phase_stats(*S)[PR_COUNT][PAT_COUNT][PH_COUNT] = calloc((size_t)reps, sizeof *S);
    phase_stats(*I)[PAT_COUNT] = calloc((size_t)reps, sizeof *I);
    /* memcpy right before and right after, then the bulk copy right before and right after */
    phase_stats(*M)[4] = calloc((size_t)reps, sizeof *M);
    if (!S || !I || !M) return 1;
    for (int r = 0; r < reps; r++) {
        for (unsigned pr = 0; pr < PR_COUNT; pr++)
            for (unsigned pat = 0; pat < PAT_COUNT; pat++)
                for (unsigned ph = 0; ph < NMIG; ph++) stats_alloc(&S[r][pr][pat][ph]);
        for (unsigned pat = 0; pat < PAT_COUNT; pat++) stats_alloc(&I[r][pat]);
        for (unsigned k = 0; k < 4; k++) stats_alloc(&M[r][k]);
    }

    publish(win_make(PH_PAUSE, 0, 0, 0, NONE));
    pthread_t rd, wr;
    pthread_create(&rd, NULL, reader_start, &reader_cpu);
    pthread_create(&wr, NULL, writer_main, NULL);
    pause_and_sync();

    rep_result *res = calloc((size_t)reps, sizeof *res);
    for (int r = 0; r < reps; r++) {
        for (unsigned pat = 0; pat < PAT_COUNT; pat++) {
            /* alternate which protocol goes first, so drift in the machine's load hits both */
            unsigned first = (unsigned)(r + (int)pat) % 2;
            for (unsigned k = 0; k < PR_COUNT; k++) {
                unsigned pr = (first + k) % PR_COUNT;
                /* the memcpy baseline right before and right after the timed host->host pass */
                bool timed = pr == PR_READABLE && pat == PAT_RANDOM;
                if (timed) run_copy(&R[pr], mdst, &M[r][0], memcpy_fn);
                if (timed) run_copy(&R[pr], mdst, &M[r][2], ums__copy_bulk);
                run_pass(&R[pr], pat, S[r][pr][pat]);
                if (timed) run_copy(&R[pr], mdst, &M[r][3], ums__copy_bulk);
                if (timed) run_copy(&R[pr], mdst, &M[r][1], memcpy_fn);
            }
            run_idle(&R[PR_READABLE], pat, phase_s(&S[r][PR_READABLE][pat][PH_H2H]) + phase_s(&S[r][PR_READABLE][pat][PH_H2S]),
                     &I[r][pat]);
        }

        /* per-phase detail */
        for (unsigned pr = 0; pr < PR_COUNT; pr++)
            for (unsigned pat = 0; pat < PAT_COUNT; pat++)
                for (unsigned ph = 0; ph < NMIG; ph++) print_phase(r + 1, pr_name[pr], pat_name[pat], ph, &S[r][pr][pat][ph], size);
        for (unsigned pat = 0; pat < PAT_COUNT; pat++) print_phase(r + 1, "-", pat_name[pat], PH_IDLE, &I[r][pat], size);
        print_phase(r + 1, "-", "random", PH_MEMCPY, &M[r][0], size);
        print_phase(r + 1, "-", "random", PH_MEMCPY, &M[r][1], size);
        print_phase(r + 1, "-", "random", PH_BULK, &M[r][2], size);
        print_phase(r + 1, "-", "random", PH_BULK, &M[r][3], size);

        /* this repetition's headline: host->host and host->sim, both patterns */
        rep_result *x = &res[r];
        bench_hist hr, hb, hi;
        memset(&hr, 0, sizeof hr);
        memset(&hb, 0, sizeof hb);
        memset(&hi, 0, sizeof hi);
        double len_r = 0, len_b = 0, len_i = 0;
        double r_slept = 0, b_slept = 0, i_slept = 0, r_slow = 0, b_slow = 0, i_slow = 0;
        for (unsigned pat = 0; pat < PAT_COUNT; pat++) {
            for (unsigned ph = PH_H2H; ph <= PH_H2S; ph++) {
                const phase_stats *a = &S[r][PR_READABLE][pat][ph], *b = &S[r][PR_BLOCKING][pat][ph];
                r_slept += (double)a->slept;
                b_slept += (double)b->slept;
                x->readable_wait_ms += bench_ticks_to_us(a->slept_sum) / 1e3;
                x->blocking_wait_ms += bench_ticks_to_us(b->slept_sum) / 1e3;
                r_slow += (double)a->slow;
                b_slow += (double)b->slow;
                x->readable_preempted += (double)a->preempted;
                x->readable_faults += (double)CTR(a, read_faults);
                if (bench_ticks_to_us(a->slept_max) > x->readable_wait_max) x->readable_wait_max = bench_ticks_to_us(a->slept_max);
                if (bench_ticks_to_us(b->slept_max) > x->blocking_wait_max) x->blocking_wait_max = bench_ticks_to_us(b->slept_max);
                bh_merge(&hr, &a->h);
                bh_merge(&hb, &b->h);
                len_r += phase_s(a);
                len_b += phase_s(b);
            }
            const phase_stats *a = &S[r][PR_READABLE][pat][PH_S2H], *b = &S[r][PR_BLOCKING][pat][PH_S2H];
            x->s2h_readable_waits += (double)a->slept;
            x->s2h_blocking_waits += (double)b->slept;
            x->s2h_readable_faults += (double)CTR(a, read_faults);
            i_slept += (double)I[r][pat].slept;
            i_slow += (double)I[r][pat].slow;
            x->idle_preempted += (double)I[r][pat].preempted;
            bh_merge(&hi, &I[r][pat].h);
            len_i += phase_s(&I[r][pat]);
        }
        /* noise: the idle window's count, scaled to each window's length (the
         * readable window has the idle window's length by construction) */
        double kr = len_i > 0 ? len_r / len_i : 0, kb = len_i > 0 ? len_b / len_i : 0;
        x->readable_raw = r_slept;
        x->blocking_raw = b_slept;
        x->idle_slow = i_slept;
        x->readable_waits = floor(fmax(0, r_slept - i_slept * kr) + 0.5);
        x->blocking_waits = floor(fmax(0, b_slept - i_slept * kb) + 0.5);
        x->wait_ratio = x->blocking_waits / fmax(x->readable_waits, 1);
        x->wait_time_ratio = x->blocking_wait_ms / fmax(x->readable_wait_ms, 0.001);
        x->idle_slow_lit = i_slow;
        x->readable_waits_lit = floor(fmax(0, r_slow - i_slow * kr) + 0.5);
        x->blocking_waits_lit = floor(fmax(0, b_slow - i_slow * kb) + 0.5);
        x->wait_ratio_lit = x->blocking_waits_lit / fmax(x->readable_waits_lit, 1);
        x->readable_p999 = bh_quantile_us(&hr, 0.999);
        x->blocking_p999 = bh_quantile_us(&hb, 0.999);
        x->idle_p999 = bh_quantile_us(&hi, 0.999);
        x->readable_max = bench_ticks_to_us(hr.max);
        x->blocking_max = bench_ticks_to_us(hb.max);
        x->gbps = (double)size / phase_s(&S[r][PR_READABLE][PAT_RANDOM][PH_H2H]) / 1e9;
        x->memcpy_gbps = (double)size / ((phase_s(&M[r][0]) + phase_s(&M[r][1])) / 2) / 1e9;
        x->tput_ratio = x->gbps / x->memcpy_gbps;
        x->bulk_gbps = (double)size / ((phase_s(&M[r][2]) + phase_s(&M[r][3])) / 2) / 1e9;
        x->tput_ratio_bulk = x->gbps / x->bulk_gbps;
        printf("rep %d headline: reader waits (slept, >50us) readable %.0f (before noise %.0f) blocking %.0f (%.0f) "
               "idle %.0f -> ratio %.1f | every access >50us: readable %.0f blocking %.0f idle %.0f -> ratio %.1f | "
               "readable read faults %.0f | p99.9 readable %.2f blocking %.2f idle %.2f us | max readable %.1f "
               "blocking %.1f us (longest wait %.1f / %.1f us) | h2h %.2f GB/s memcpy %.2f GB/s ratio %.2f | "
               "sim->host waits readable %.0f blocking %.0f | time in waits readable %.2f ms blocking %.2f ms -> "
               "ratio %.1f\n",
               r + 1, x->readable_waits, x->readable_raw, x->blocking_waits, x->blocking_raw, x->idle_slow,
               x->wait_ratio, x->readable_waits_lit, x->blocking_waits_lit, x->idle_slow_lit, x->wait_ratio_lit,
               x->readable_faults, x->readable_p999, x->blocking_p999, x->idle_p999, x->readable_max, x->blocking_max,
               x->readable_wait_max, x->blocking_wait_max, x->gbps, x->memcpy_gbps, x->tput_ratio,
               x->s2h_readable_waits, x->s2h_blocking_waits, x->readable_wait_ms, x->blocking_wait_ms,
               x->wait_time_ratio);
        fflush(stdout);
    }

    /* diagnosis: absent-page windows per protocol, and the host->host steps */
    uint32_t np = g_n < 32 ? g_n : 32;
    probe_result pr_r = run_probe(&R[PR_READABLE], np), pr_b = run_probe(&R[PR_BLOCKING], np);
    for (unsigned pr = 0; pr < PR_COUNT; pr++) {
        const probe_result *q = pr == PR_READABLE ? &pr_r : &pr_b;
        printf("diagnosis %s: %u host->host migrations of one block, probed with mincore() (~%.0f samples each): "
               "pages absent in %u of them, for %.1f us (median; max %.1f us; up to %.0f of %zu pages at once); "
               "the migration itself took %.1f us (median)\n",
               pr_name[pr], q->total, q->samples, q->with_hole, q->hole_us, q->hole_max_us, q->absent_max, g_pages,
               q->migrate_us);
    }
    phase_stats *bdS = calloc(1, sizeof *bdS);
    if (!bdS) return 1;
    stats_alloc(bdS);
    phase_begin(bdS, PH_IDLE, R[PR_READABLE].base, NULL);
    publish(win_make(PH_IDLE, PAT_RANDOM, 0, g_n, NONE));
    /* variants: 4 KiB pages as the library maps them; huge pages; huge pages
     * with the old pages recycled as staging; 4 KiB pages recycled */
    enum { BV_LIB, BV_THP, BV_THP_RECYCLE, BV_RECYCLE, BV_COUNT };
    static const char *const bv_name[BV_COUNT] = {"4 KiB pages, fresh staging, drop and install", "transparent huge pages",
                                                  "huge pages, old pages moved out and reused as staging",
                                                  "4 KiB pages, old pages moved out and reused as staging"};
    breakdown bd[BV_COUNT];
    double bd_sum[BV_COUNT];
    long thp_kib[BV_COUNT];
    memset(bd, 0, sizeof bd);
    memset(bd_sum, 0, sizeof bd_sum);
    memset(thp_kib, 0, sizeof thp_kib);
    bool aligned2m = g_bs % ((size_t)2 << 20) == 0;
    for (int k = 0; k < BV_COUNT; k++) {
        bool thp = k == BV_THP || k == BV_THP_RECYCLE, rec = k == BV_THP_RECYCLE || k == BV_RECYCLE;
        if (thp && !aligned2m) continue;
        bd[k] = run_breakdown(g_bs, np, thp, rec, &thp_kib[k]);
    }
    pause_and_sync();
    atomic_store(&g_target[PH_IDLE], NULL);
    for (int variant = 0; variant < BV_COUNT; variant++) {
        const breakdown *q = &bd[variant];
        if (!q->ok) continue;
        bool rec = variant == BV_THP_RECYCLE || variant == BV_RECYCLE;
        printf("diagnosis host->host steps per %zu KiB block outside the library, %s (medians of %u, reader "
               "running):",
               g_bs >> 10, bv_name[variant], np);
        double sum = 0;
        for (int k = 0; k < BD_COUNT; k++) {
            if (rec && (k == BD_ALLOC || k == BD_FREE)) continue;
            printf(" %s%s %.1f us;", rec && k == BD_ZAP ? "move old pages out" : bd_name[k],
                   k == BD_INSTALL ? (q->move ? " (UFFDIO_MOVE)" : " (UFFDIO_COPY)") : "", q->us[k]);
            sum += q->us[k];
        }
        bd_sum[variant] = sum;
        printf(" sum %.1f us = %.2f x memcpy", sum, sum / q->us[BD_COPY]);
        if (variant == BV_THP || variant == BV_THP_RECYCLE)
            printf(" (%ld KiB of the %u MiB test range were huge pages)", thp_kib[variant],
                   np * (unsigned)(g_bs >> 20));
        if (variant == BV_LIB)
            printf("; filling the staging with UFFDIO_COPY into a registered mapping instead of mmap+populate+memcpy: "
                   "%.1f us against %.1f us",
                   q->alt_fill_us, q->us[BD_ALLOC] + q->us[BD_COPY]);
        printf("\n");
    }

    floor_result fl = {0};
    if (g_bs == (size_t)2 << 20) {
        fl = run_kernel_floor(g_n < 512 ? g_n : 512);
        printf("diagnosis the kernel's own switch, outside the library: %u huge-page blocks each replaced by one "
               "mremap(MREMAP_FIXED|MREMAP_DONTUNMAP) of a filled staging page, the chasing reader on that block: "
               "reader waits %u (accesses > 50 us: %u; longest wait %.1f us), switch %.1f us (median)%s\n",
               fl.switches, fl.waits, fl.slow, fl.wait_max_us, fl.switch_us, fl.ok ? "" : " (stopped early)");
    }

    publish(win_make(PH_STOP, 0, 0, 0, NONE));
    pthread_join(rd, NULL);
    pthread_join(wr, NULL);

    /* medians over the repetitions */
    double *v = calloc((size_t)reps, sizeof *v);
#define MED(field) med_field(res, reps, v, offsetof(rep_result, field))
    rep_result m;
    memset(&m, 0, sizeof m);
    m.readable_waits = MED(readable_waits);
    m.blocking_waits = MED(blocking_waits);
    m.idle_slow = MED(idle_slow);
    m.wait_ratio = MED(wait_ratio);
    m.readable_faults = MED(readable_faults);
    m.readable_p999 = MED(readable_p999);
    m.blocking_p999 = MED(blocking_p999);
    m.idle_p999 = MED(idle_p999);
    m.readable_max = MED(readable_max);
    m.blocking_max = MED(blocking_max);
    m.gbps = MED(gbps);
    m.memcpy_gbps = MED(memcpy_gbps);
    m.tput_ratio = MED(tput_ratio);
    m.bulk_gbps = MED(bulk_gbps);
    m.tput_ratio_bulk = MED(tput_ratio_bulk);
    m.s2h_readable_waits = MED(s2h_readable_waits);
    m.s2h_blocking_waits = MED(s2h_blocking_waits);
    m.s2h_readable_faults = MED(s2h_readable_faults);
    m.readable_waits_lit = MED(readable_waits_lit);
    m.blocking_waits_lit = MED(blocking_waits_lit);
    m.idle_slow_lit = MED(idle_slow_lit);
    m.wait_ratio_lit = MED(wait_ratio_lit);
    m.readable_wait_max = MED(readable_wait_max);
    m.blocking_wait_max = MED(blocking_wait_max);
    m.readable_preempted = MED(readable_preempted);
    m.idle_preempted = MED(idle_preempted);
    m.readable_wait_ms = MED(readable_wait_ms);
    m.blocking_wait_ms = MED(blocking_wait_ms);
    m.wait_time_ratio = MED(wait_time_ratio);

    /* per phase and pattern, medians over repetitions */
    printf("medians over %d repetitions, per protocol, pattern and phase (waits: accesses > 50 us during which the "
           "reader slept, before noise removal; all: every access > 50 us):\n",
           reps);
    for (unsigned pr = 0; pr < PR_COUNT; pr++)
        for (unsigned pat = 0; pat < PAT_COUNT; pat++)
            for (unsigned ph = 0; ph < NMIG; ph++) {
                double a[8];
                double *t = calloc((size_t)reps, sizeof *t);
                for (int k = 0; k < 8; k++) {
                    for (int r = 0; r < reps; r++) {
                        const phase_stats *p = &S[r][pr][pat][ph];
                        t[r] = k == 0 ? (double)p->slept
                               : k == 1 ? (double)p->slow
                               : k == 2 ? bh_quantile_us(&p->h, 0.5)
                               : k == 3 ? bh_quantile_us(&p->h, 0.999)
                               : k == 4 ? bench_ticks_to_us(p->slept_max)
                               : k == 5 ? bench_ticks_to_us(p->h.max)
                               : k == 6 ? (double)CTR(p, read_faults)
                                        : (double)size / phase_s(p) / 1e9;
                    }
                    a[k] = bench_median(t, (size_t)reps);
                }
                free(t);
                printf("  %-8s %-7s %-10s waits %5.0f (all %5.0f)  p50 %5.2f  p99.9 %8.2f us  longest wait %8.1f us  "
                       "max %9.1f us  read faults %4.0f  %5.2f GB/s\n",
                       pr_name[pr], pat_name[pat], ph_name[ph], a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
            }
    {
        double a[4];
        double *t = calloc((size_t)reps, sizeof *t);
        for (unsigned pat = 0; pat < PAT_COUNT; pat++) {
            for (int k = 0; k < 4; k++) {
                for (int r = 0; r < reps; r++) {
                    const phase_stats *p = &I[r][pat];
                    t[r] = k == 0 ? (double)p->slept
                           : k == 1 ? (double)p->slow
                           : k == 2 ? bh_quantile_us(&p->h, 0.999)
                                    : bench_ticks_to_us(p->h.max);
                }
                a[k] = bench_median(t, (size_t)reps);
            }
            printf("  idle     %-7s            waits %5.0f (all %5.0f)  p99.9 %8.2f us  max %9.1f us\n", pat_name[pat],
                   a[0], a[1], a[2], a[3]);
        }
        free(t);
    }
    printf("goals: wait_ratio %.1f >= 100: %s (the kernel's own switch, without the library, stalled the chasing "
           "reader in %u of %u switches); readable_reader_faults %.0f = 0: %s; readable_p999_us %.2f <= 2 x "
           "idle_p999_us %.2f: %s; throughput_ratio %.2f >= 0.9: %s\n",
           m.wait_ratio, m.wait_ratio >= 100 ? "met" : "NOT met", fl.waits, fl.switches, m.readable_faults,
           m.readable_faults == 0 ? "met" : "NOT met", m.readable_p999, m.idle_p999,
           m.readable_p999 <= 2 * m.idle_p999 ? "met" : "NOT met", m.tput_ratio, m.tput_ratio >= 0.9 ? "met" : "NOT met");

    if (svg) {
        /* the repetition whose wait ratio is the median one */
        for (int r = 0; r < reps; r++) v[r] = res[r].wait_ratio;
        double med = bench_median(v, (size_t)reps);
        int pick = 0;
        for (int r = 0; r < reps; r++)
            if (fabs(res[r].wait_ratio - med) < fabs(res[pick].wait_ratio - med)) pick = r;
        phase_stats(*Sp)[PAT_COUNT][PH_COUNT] = S[pick];
        write_svg(svg, Sp, I[pick], pick, size_mib);
        printf("svg: %s (repetition %d)\n", svg, pick + 1);
    }

    double *blk = calloc((size_t)reps, sizeof *blk);
    for (int r = 0; r < reps; r++) blk[r] = phase_s(&S[r][PR_READABLE][PAT_RANDOM][PH_H2H]) * 1e6 / g_n;
    double block_us = bench_median(blk, (size_t)reps);
    free(blk);
    printf("host->host per block in the measured passes (readable, random reader): %.1f us (median over "
           "repetitions); memcpy of a block in the memcpy window: %.1f us; the library's bulk copy of a block: "
           "%.1f us (throughput against it: %.2f)\n",
           block_us, (double)g_bs / (m.memcpy_gbps * 1e9) * 1e6, (double)g_bs / (m.bulk_gbps * 1e9) * 1e6,
           m.tput_ratio_bulk);
    printf("{\"bench\":\"readers\",\"size_mib\":%zu,\"reps\":%d,\"block_kib\":%zu,\"fault_mode\":\"%s\","
           "\"readable_reader_waits\":%.0f,\"blocking_reader_waits\":%.0f,\"idle_slow_accesses\":%.0f,"
           "\"wait_ratio\":%.1f,\"readable_reader_faults\":%.0f,\"readable_p999_us\":%.2f,\"idle_p999_us\":%.2f,"
           "\"blocking_p999_us\":%.2f,\"readable_stall_max_us\":%.1f,\"blocking_stall_max_us\":%.1f,"
           "\"throughput_gbps\":%.2f,\"memcpy_gbps\":%.2f,\"throughput_ratio\":%.2f,"
           "\"bulk_copy_gbps\":%.2f,\"throughput_ratio_vs_bulk_copy\":%.2f,"
           "\"s2h_readable_reader_waits\":%.0f,\"s2h_blocking_reader_waits\":%.0f,\"s2h_readable_reader_faults\":%.0f,"
           "\"readable_wait_max_us\":%.1f,\"blocking_wait_max_us\":%.1f,"
           "\"readable_slow_accesses\":%.0f,\"blocking_slow_accesses\":%.0f,\"idle_slow_accesses_all\":%.0f,"
           "\"wait_ratio_all_slow\":%.1f,\"readable_preempted\":%.0f,\"idle_preempted\":%.0f,"
           "\"h2h_block_us\":%.1f,\"readable_absent_window_us\":%.1f,\"readable_absent_migrations\":%u,"
           "\"blocking_absent_window_us\":%.1f,\"probed_migrations\":%u,"
           "\"step_alloc_us\":%.1f,\"step_wp_us\":%.1f,\"step_memcpy_us\":%.1f,\"step_zap_us\":%.1f,"
           "\"step_install_us\":%.1f,\"step_free_us\":%.1f,\"steps_sum_us\":%.1f,\"alt_uffdio_copy_fill_us\":%.1f,"
           "\"thp_steps_sum_us\":%.1f,\"thp_step_alloc_us\":%.1f,\"thp_recycle_steps_sum_us\":%.1f,"
           "\"thp_recycle_hole_us\":%.1f,\"recycle_steps_sum_us\":%.1f,"
           "\"readable_wait_total_ms\":%.2f,\"blocking_wait_total_ms\":%.2f,\"wait_time_ratio\":%.1f,"
           "\"kernel_switches\":%u,\"kernel_switch_reader_waits\":%u,\"kernel_switch_us\":%.1f}\n",
           size_mib, reps, g_bs >> 10, ums_fault_mode_name(ums_runtime_fault_mode(R[PR_READABLE].rt)),
           m.readable_waits, m.blocking_waits, m.idle_slow, m.wait_ratio, m.readable_faults, m.readable_p999,
           m.idle_p999, m.blocking_p999, m.readable_max, m.blocking_max, m.gbps, m.memcpy_gbps, m.tput_ratio,
           m.bulk_gbps, m.tput_ratio_bulk, m.s2h_readable_waits, m.s2h_blocking_waits, m.s2h_readable_faults, m.readable_wait_max, m.blocking_wait_max,
           m.readable_waits_lit, m.blocking_waits_lit, m.idle_slow_lit, m.wait_ratio_lit, m.readable_preempted,
           m.idle_preempted, block_us, pr_r.hole_us, pr_r.with_hole,
           pr_b.hole_us, pr_r.total, bd[BV_LIB].us[BD_ALLOC], bd[BV_LIB].us[BD_WP], bd[BV_LIB].us[BD_COPY], bd[BV_LIB].us[BD_ZAP],
           bd[BV_LIB].us[BD_INSTALL],
           bd[BV_LIB].us[BD_FREE], bd_sum[BV_LIB], bd[BV_LIB].alt_fill_us, bd_sum[BV_THP], bd[BV_THP].us[BD_ALLOC],
           bd_sum[BV_THP_RECYCLE], bd[BV_THP_RECYCLE].us[BD_ZAP] + bd[BV_THP_RECYCLE].us[BD_INSTALL],
           bd_sum[BV_RECYCLE], m.readable_wait_ms, m.blocking_wait_ms, m.wait_time_ratio, fl.switches, fl.waits,
           fl.switch_us);
    ums_runtime_destroy(R[PR_READABLE].rt);
    ums_runtime_destroy(R[PR_BLOCKING].rt);
    for (int r = 0; r < reps; r++) {
        for (unsigned pr = 0; pr < PR_COUNT; pr++)
            for (unsigned pat = 0; pat < PAT_COUNT; pat++)
                for (unsigned ph = 0; ph < NMIG; ph++) stats_free(&S[r][pr][pat][ph]);
        for (unsigned pat = 0; pat < PAT_COUNT; pat++) stats_free(&I[r][pat]);
        for (unsigned k = 0; k < 4; k++) stats_free(&M[r][k]);
    }
    stats_free(bdS);
    free(bdS), free(S), free(I), free(M), free(res), free(v), free(g_vec), free(g_probe);
    munmap(mdst, size);
    return 0;
}
