/* The flagship sample: CPU threads share one managed buffer while the main
 * thread moves it between locations (host, devices), and the program prints
 * what moved and where each block lives after every step.
 *
 * Devices: every OpenCL device the runtime finds, plus two simulated devices
 * when UMS_SIM is not set. Exits non-zero if any thread ever reads a wrong value. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umshim.h"

#define NBLOCKS 8
#define THREADS 2

static uint64_t *buf;
static size_t nwords;
static _Atomic int stop, bad;
static _Atomic uint64_t ops[THREADS];

static void die(const char *what, ums_result r) {
    fprintf(stderr, "%s: %s: %s\n", what, ums_result_name(r), ums_last_error()->message);
    exit(1);
}
#define CHECK(call)                          \
    do {                                     \
        ums_result r_ = (call);              \
        if (r_ != UMS_OK) die(#call, r_);    \
    } while (0)

/* Each thread owns every THREADS-th word: it increments it and checks that it
 * reads back what it wrote last, while the data moves underneath. */
static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    uint64_t seed = (uint64_t)id * 7919 + 1;
    while (!atomic_load(&stop)) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t w = (size_t)(seed >> 17) % (nwords / THREADS) * THREADS + (size_t)id;
        uint64_t v = __atomic_load_n(&buf[w], __ATOMIC_RELAXED);
        if (v != (w << 20) + (v & 0xfffff)) atomic_store(&bad, 1);
        __atomic_store_n(&buf[w], v + 1, __ATOMIC_RELAXED);
        if (__atomic_load_n(&buf[w], __ATOMIC_RELAXED) != v + 1) atomic_store(&bad, 1);
        atomic_fetch_add(&ops[id], 1);
    }
    return NULL;
}

static void show(ums_runtime_t *rt, const char *step, const ums_counters *before) {
    ums_block_info info[NBLOCKS];
    size_t n;
    CHECK(ums_query(buf, nwords * 8, info, NBLOCKS, &n));
    ums_counters c;
    CHECK(ums_counters_get(rt, &c));
    printf("%-34s |", step);
    for (size_t i = 0; i < n; i++) {
        ums_location_info L;
        CHECK(ums_location_get(rt, info[i].home, &L));
        char cell[16];
        if (info[i].state == UMS_BLOCK_SHARED) snprintf(cell, sizeof cell, "shared");
        else snprintf(cell, sizeof cell, "%s", L.name);
        printf(" %-7.7s", cell);
    }
    printf("| moved %3llu MiB, %3llu CPU faults, %3llu fetches\n",
           (unsigned long long)((c.bytes_host_to_host + c.bytes_host_to_device + c.bytes_device_to_host +
                                 c.bytes_device_to_device - before->bytes_host_to_host - before->bytes_host_to_device -
                                 before->bytes_device_to_host - before->bytes_device_to_device) >> 20),
           (unsigned long long)(c.faults - before->faults), (unsigned long long)(c.fetches - before->fetches));
}

int main(void) {
    ums_runtime_config cfg;
    CHECK(ums_runtime_config_from_env(&cfg));
    if (!cfg.sim) cfg.sim = "count=2,capacity=256M";
    ums_runtime_t *rt;
    CHECK(ums_runtime_create(&cfg, &rt));
    ums_runtime_features f;
    CHECK(ums_runtime_features_get(rt, &f));
    printf("umshim %s: fault mode %s (%s), protocol %s, block %zu KiB\n", ums_version(),
           ums_fault_mode_name(ums_runtime_fault_mode(rt)), f.fault_mode_reason,
           ums_protocol_name(ums_runtime_protocol(rt)), ums_runtime_block_size(rt) >> 10);
    uint32_t nloc;
    CHECK(ums_location_count(rt, &nloc));
    ums_location_t host = 0, dev[8];
    unsigned ndev = 0;
    for (ums_location_t i = 0; i < nloc; i++) {
        ums_location_info L;
        CHECK(ums_location_get(rt, i, &L));
        printf("  location %u: %-10s %-6s backend %-6s capacity %llu MiB\n", i, L.name,
               L.kind == UMS_LOCATION_HOST_NODE ? "host" : "device", L.backend,
               (unsigned long long)(L.capacity >> 20));
        if (L.kind == UMS_LOCATION_DEVICE && ndev < 8) dev[ndev++] = i;
    }
    if (ndev < 2) {
        fprintf(stderr, "the flagship needs two device locations (set UMS_SIM=count=2)\n");
        return 1;
    }
    size_t bs = ums_runtime_block_size(rt);
    size_t bytes = NBLOCKS * bs;
    nwords = bytes / 8;
    CHECK(ums_runtime_alloc(rt, bytes, 0, (void **)&buf));
    for (size_t w = 0; w < nwords; w++) buf[w] = w << 20;

    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);

    ums_counters c0;
    CHECK(ums_counters_get(rt, &c0));
    show(rt, "start (CPU threads running)", &c0);
    char step[64];
    ums_counters before;

    CHECK(ums_counters_get(rt, &before));
    CHECK(ums_migrate(buf, bytes / 2, dev[0]));
    snprintf(step, sizeof step, "migrate first half -> %u", dev[0]);
    show(rt, step, &before);

    CHECK(ums_counters_get(rt, &before));
    CHECK(ums_migrate((char *)buf + bytes / 2, bytes / 2, dev[1]));
    snprintf(step, sizeof step, "migrate second half -> %u", dev[1]);
    show(rt, step, &before);

    CHECK(ums_counters_get(rt, &before));
    CHECK(ums_migrate(buf, bytes, dev[1]));
    snprintf(step, sizeof step, "migrate all -> %u (device to device)", dev[1]);
    show(rt, step, &before);

    CHECK(ums_counters_get(rt, &before));
    ums_event_t *ev;
    CHECK(ums_prefetch(buf, bytes, host, &ev));
    CHECK(ums_event_wait(ev, UINT64_MAX));
    CHECK(ums_event_release(ev));
    show(rt, "prefetch all -> host", &before);

    CHECK(ums_counters_get(rt, &before));
    ums_advice_outcome out;
    CHECK(ums_advise_ex(buf, bytes, UMS_ADVISE_READ_MOSTLY, UMS_LOCATION_NONE, &out));
    atomic_store(&stop, 1); /* readers only from here: replicas stay shared */
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(ums_prefetch(buf, bytes, dev[0], &ev));
    CHECK(ums_event_wait(ev, UINT64_MAX));
    CHECK(ums_event_release(ev));
    show(rt, "read-mostly: replicate to device", &before);

    CHECK(ums_counters_get(rt, &before));
    ((volatile uint64_t *)buf)[0] = buf[0]; /* one CPU write invalidates block 0's device replica */
    show(rt, "one CPU write to block 0", &before);

    uint64_t total = 0;
    for (int i = 0; i < THREADS; i++) total += ops[i];
    for (size_t w = 0; w < nwords; w++)
        if (buf[w] >> 20 != w) atomic_store(&bad, 1);
    ums_counters c;
    CHECK(ums_counters_get(rt, &c));
    printf("%llu CPU read-modify-writes while the data moved; readers waited %llu times (%.3f ms), "
           "writers %llu times (%.3f ms)\n",
           (unsigned long long)total, (unsigned long long)c.reader_waits, (double)c.reader_wait_ns / 1e6,
           (unsigned long long)c.writer_waits, (double)c.writer_wait_ns / 1e6);
    CHECK(ums_free(buf));
    CHECK(ums_runtime_destroy(rt));
    if (atomic_load(&bad)) {
        printf("FAILED: a thread read a wrong value\n");
        return 1;
    }
    printf("every value read was the last one written\n");
    return 0;
}
