/* Model-checked concurrency: CPU threads read and write managed memory while
 * other threads migrate, prefetch and advise it between the host and two sim
 * devices. Every word has one writer; its value only grows. A reader checks
 * each value against the model: never older than the last write it knows
 * completed (no stale read, no lost write), never newer than the last write
 * started. At the end every word equals the model exactly. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "test.h"

#define WRITERS 2
#define WORDS_PER_BLOCK 64

static size_t nwords, nbytes, bs;
static uint64_t *mem;                 /* managed */
static _Atomic uint64_t *started;     /* model: value being written, per word */
static _Atomic uint64_t *completed;   /* model: value known written, per word */
#define NLOCS 4 /* node0, simnode0 (a second host node), sim0, sim1 */
static ums_location_t locs[NLOCS];
static _Atomic uint64_t pairs_done;
static _Atomic int stop;
static _Atomic uint64_t reads, writes, migrations, prefetches, advices;
static double seconds = 3.0;
static int abort_mode;

static uint64_t rng(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Words touched: a sample of each block, so accesses spread over every block. */
static size_t word_at(uint64_t r) {
    size_t block = (size_t)(r % (nbytes / bs));
    size_t k = (size_t)((r >> 20) % WORDS_PER_BLOCK);
    return block * (bs / 8) + k * (bs / 8 / WORDS_PER_BLOCK);
}

static void check(size_t w, uint64_t v, uint64_t lo) {
    uint64_t hi = atomic_load(&started[w]);
    if (v < lo || v > hi) FAIL_("word %zu read %llu, model allows [%llu, %llu]", w, (unsigned long long)v,
                                (unsigned long long)lo, (unsigned long long)hi);
}

static void *cpu_thread(void *arg) {
    int id = (int)(intptr_t)arg;
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    while (!atomic_load(&stop)) {
        uint64_t r = rng(&s);
        size_t w = word_at(r);
        if ((w / (bs / 8 / WORDS_PER_BLOCK)) % WRITERS == (size_t)id && (r & 3) == 0) {
            /* this thread owns the word: write the next value */
            uint64_t v = atomic_load(&completed[w]) + 1;
            atomic_store(&started[w], v);
            __atomic_store_n(&mem[w], v, __ATOMIC_RELAXED);
            atomic_store(&completed[w], v);
            uint64_t back = __atomic_load_n(&mem[w], __ATOMIC_RELAXED);
            if (back != v) FAIL_("word %zu: wrote %llu, read back %llu", w, (unsigned long long)v, (unsigned long long)back);
            atomic_fetch_add(&writes, 1);
        } else {
            uint64_t lo = atomic_load(&completed[w]);
            uint64_t v = __atomic_load_n(&mem[w], __ATOMIC_RELAXED);
            check(w, v, lo);
            atomic_fetch_add(&reads, 1);
        }
    }
    return NULL;
}

static void range(uint64_t r, char **p, size_t *len) {
    size_t nb = nbytes / bs;
    size_t first = (size_t)(r % nb), cnt = 1 + (size_t)((r >> 16) % 3);
    if (first + cnt > nb) cnt = nb - first;
    *p = (char *)mem + first * bs + (size_t)((r >> 8) % 64) * 8; /* interior start */
    *len = cnt * bs - (size_t)((r >> 8) % 64) * 8;
}

/* Walks every ordered pair of locations over and over, moving the whole range. */
static void *pair_walker(void *arg) {
    (void)arg;
    for (unsigned k = 0; !atomic_load(&stop); k = (k + 1) % (NLOCS * NLOCS)) {
        unsigned from = k / NLOCS, to = k % NLOCS;
        if (from == to) continue;
        ums_result res = ums_migrate(mem, nbytes, locs[from]);
        if (res == UMS_OK) res = ums_migrate(mem, nbytes, locs[to]);
        if (res == UMS_ERR_ABORTED && abort_mode) res = UMS_OK;
        if (res != UMS_OK) FAIL_("%u -> %u: %s (%s)", from, to, ums_result_name(res), ums_last_error()->message);
        atomic_fetch_add(&pairs_done, 1);
    }
    return NULL;
}

static void *migrator(void *arg) {
    uint64_t s = 12345 + (uint64_t)(intptr_t)arg;
    while (!atomic_load(&stop)) {
        uint64_t r = rng(&s);
        char *p;
        size_t len;
        range(r, &p, &len);
        ums_result res = ums_migrate(p, len, locs[(r >> 40) % NLOCS]);
        /* with UMS_MIGRATE_WRITE=abort a concurrent write may cancel a block's move */
        if (res == UMS_ERR_ABORTED && abort_mode) res = UMS_OK;
        if (res != UMS_OK) FAIL_("ums_migrate: %s (%s)", ums_result_name(res), ums_last_error()->message);
        atomic_fetch_add(&migrations, 1);
    }
    return NULL;
}

static void *adviser(void *arg) {
    (void)arg;
    uint64_t s = 999;
    while (!atomic_load(&stop)) {
        uint64_t r = rng(&s);
        char *p;
        size_t len;
        range(r, &p, &len);
        switch ((r >> 40) % 4) {
        case 0: {
            ums_event_t *ev;
            ASSERT_OK(ums_prefetch(p, len, locs[(r >> 44) % NLOCS], &ev));
            ums_result res = ums_event_wait(ev, UINT64_MAX);
            if (res != UMS_OK && !(res == UMS_ERR_ABORTED && abort_mode))
                FAIL_("prefetch: %s (%s)", ums_result_name(res), ums_last_error()->message);
            ASSERT_OK(ums_event_release(ev));
            atomic_fetch_add(&prefetches, 1);
            break;
        }
        case 1: ASSERT_OK(ums_advise(p, len, (r >> 44) & 1 ? UMS_ADVISE_READ_MOSTLY : UMS_ADVISE_UNSET_READ_MOSTLY,
                                     UMS_LOCATION_NONE));
            atomic_fetch_add(&advices, 1);
            break;
        case 2: ASSERT_OK(ums_advise(p, len, UMS_ADVISE_PREFERRED_LOCATION, locs[(r >> 44) % NLOCS]));
            atomic_fetch_add(&advices, 1);
            break;
        default: {
            ums_block_info info[4];
            size_t n;
            ASSERT_OK(ums_query(p, len, info, 4, &n));
            for (size_t i = 0; i < n; i++) ASSERT_NE(info[i].valid, 0);
        }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) seconds = atof(argv[1]);
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.sim = "count=2,capacity=256M,host_nodes=1";
    cfg.opencl = 0;
    if (!getenv("UMS_BLOCK_SIZE")) cfg.block_size = 64 << 10;
    abort_mode = cfg.migrate_write == UMS_MIGRATE_WRITE_ABORT;
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    bs = ums_runtime_block_size(rt);
    ASSERT_OK(ums_location_find(rt, "node0", &locs[0]));
    ASSERT_OK(ums_location_find(rt, "simnode0", &locs[1]));
    ASSERT_OK(ums_location_find(rt, "sim0", &locs[2]));
    ASSERT_OK(ums_location_find(rt, "sim1", &locs[3]));
    nbytes = 24 * bs;
    nwords = nbytes / 8;
    ASSERT_OK(ums_runtime_alloc(rt, nbytes, 0, (void **)&mem));
    started = calloc(nwords, sizeof *started);
    completed = calloc(nwords, sizeof *completed);
    ASSERT(started && completed);

    pthread_t t[WRITERS + 3];
    for (int i = 0; i < WRITERS; i++) pthread_create(&t[i], NULL, cpu_thread, (void *)(intptr_t)i);
    pthread_create(&t[WRITERS], NULL, migrator, (void *)0);
    pthread_create(&t[WRITERS + 1], NULL, pair_walker, NULL);
    pthread_create(&t[WRITERS + 2], NULL, adviser, NULL);
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < WRITERS + 3; i++) pthread_join(t[i], NULL);

    /* final state: every word equals the model, wherever the data ended up */
    ASSERT_OK(ums_migrate(mem, nbytes, locs[1 + (size_t)(reads % 3)])); /* no writer left to abort it */
    for (size_t w = 0; w < nwords; w++)
        if (mem[w] != atomic_load(&completed[w]))
            FAIL_("word %zu: %llu, model %llu", w, (unsigned long long)mem[w], (unsigned long long)completed[w]);
    ums_counters c;
    ASSERT_OK(ums_counters_get(rt, &c));
    printf("mode %s protocol %s: %llu reads, %llu writes, %llu migrate calls, %llu prefetches, %llu advice; "
           "%llu faults, %llu fetches, %llu block migrations, %llu invalidations, %llu aborted\n",
           ums_fault_mode_name(ums_runtime_fault_mode(rt)), ums_protocol_name(ums_runtime_protocol(rt)),
           (unsigned long long)reads, (unsigned long long)writes, (unsigned long long)migrations,
           (unsigned long long)prefetches, (unsigned long long)advices, (unsigned long long)c.faults,
           (unsigned long long)c.fetches, (unsigned long long)c.migrations, (unsigned long long)c.invalidations,
           (unsigned long long)c.migrations_aborted);
    ASSERT_GT(writes, 100);
    ASSERT_GT(c.migrations, 100);
    ASSERT_GT(c.fetches, 10);
    ASSERT_GT(c.bytes_host_to_host, 0);
    ASSERT_GT(c.bytes_device_to_device, 0);
    printf("%llu ordered location pairs walked\n", (unsigned long long)pairs_done);
    ASSERT_GE(pairs_done, NLOCS * (NLOCS - 1)); /* every ordered pair at least once */
    ASSERT_OK(ums_free(mem));
    ASSERT_OK(ums_runtime_destroy(rt));
    free(started);
    free(completed);
    return 0;
}
