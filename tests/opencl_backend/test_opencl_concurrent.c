/* Concurrency through the ops table:
 * 1. CPU threads keep reading an upload's source while it uploads (the core's
 *    readable-during-migration protocol) and always see the unchanged data; the
 *    source is mapped read-only meanwhile, so any write to it would crash.
 * 2. Several threads allocate, transfer and free on the same devices at once. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fake_core.h"
#include "opencl_backend.h"

#define SRC_SIZE (32u << 20)
#define BLOCK (2u << 20)
#define SEED 11u

static const ums_backend_ops *ops;
static void *backend;
static uint32_t nloc;

static const unsigned char *source;
static atomic_int stop_readers;
static atomic_ulong reader_passes;
static atomic_ulong reader_mismatches;

static void *reader(void *arg) {
    size_t start = (size_t)(uintptr_t)arg * (SRC_SIZE / 4);
    while (!atomic_load(&stop_readers)) {
        /* Read the whole source, starting at a different place in each thread. */
        for (size_t k = 0; k < SRC_SIZE; k += BLOCK) {
            size_t off = (start + k) % SRC_SIZE;
            if (fake_check(source + off, BLOCK, SEED) != SIZE_MAX)
                atomic_fetch_add(&reader_mismatches, 1);
        }
        atomic_fetch_add(&reader_passes, 1);
    }
    return NULL;
}

static void test_readers_during_upload(void) {
    unsigned char *src = mmap(NULL, SRC_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(src != MAP_FAILED);
    /* Every 2 MiB block carries the same pattern, so a reader can check any block alone. */
    for (size_t off = 0; off < SRC_SIZE; off += BLOCK)
        fake_fill(src + off, BLOCK, SEED);
    ASSERT_EQ(mprotect(src, SRC_SIZE, PROT_READ), 0);
    source = src;

    enum { NREADERS = 2, NBLOCKS = SRC_SIZE / BLOCK, ROUNDS = 6 };
    pthread_t readers[NREADERS];
    for (uintptr_t i = 0; i < NREADERS; i++)
        ASSERT_EQ(pthread_create(&readers[i], NULL, reader, (void *)i), 0);

    ums_devmem *blocks[NBLOCKS];
    for (size_t i = 0; i < NBLOCKS; i++)
        EXPECT_OK(ops->mem_alloc(backend, (uint32_t)(i % nloc), BLOCK, &blocks[i]));
    unsigned char *dst = malloc(BLOCK);
    ASSERT(dst);

    unsigned long passes_before = atomic_load(&reader_passes);
    for (int round = 0; round < ROUNDS; round++) {
        /* Like a migration of the whole range: every block's upload in flight at once. */
        ums_fence *fences[NBLOCKS];
        for (size_t i = 0; i < NBLOCKS; i++) {
            fences[i] = NULL;
            EXPECT_OK(ops->copy_to(backend, blocks[i], 0, src + i * BLOCK, BLOCK, round % 2 ? &fences[i] : NULL));
        }
        for (size_t i = 0; i < NBLOCKS; i++)
            EXPECT_OK(ops->fence_wait(backend, fences[i]));
        for (size_t i = 0; i < NBLOCKS; i++) {
            memset(dst, 0, BLOCK);
            EXPECT_OK(ops->copy_from(backend, dst, blocks[i], 0, BLOCK, NULL));
            EXPECT_PATTERN(dst, BLOCK, SEED);
        }
    }
    unsigned long passes_during = atomic_load(&reader_passes) - passes_before;

    atomic_store(&stop_readers, 1);
    for (int i = 0; i < NREADERS; i++)
        ASSERT_EQ(pthread_join(readers[i], NULL), 0);
    ASSERT_EQ(atomic_load(&reader_mismatches), 0);
    /* The readers were never held up: they kept completing passes during the uploads. */
    ASSERT_GT(passes_during, 0);
    for (size_t i = 0; i < NBLOCKS; i++)
        ops->mem_free(backend, blocks[i]);
    printf("readers: %lu passes over the source during %d rounds of uploads, no mismatch\n", passes_during,
           (int)ROUNDS);
    free(dst);
    munmap(src, SRC_SIZE);
}

/* ---- several threads using the backend at once ----------------------- */

static atomic_int worker_failures;

static void *worker(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    const size_t size = BLOCK + id; /* distinct sizes: pool hits and misses */
    unsigned char *buf = malloc(size), *back = malloc(size);
    if (!buf || !back) {
        atomic_fetch_add(&worker_failures, 1);
        free(buf);
        free(back);
        return NULL;
    }
    for (int it = 0; it < 40; it++) {
        unsigned seed = id * 1000 + (unsigned)it;
        fake_fill(buf, size, seed);
        uint32_t a = (uint32_t)(it % nloc), c = (uint32_t)((it + 1) % nloc);
        ums_devmem *m = NULL, *p = NULL;
        ums_fence *f = NULL;
        int ok = ops->mem_alloc(backend, a, size, &m) == UMS_OK && ops->mem_alloc(backend, c, size, &p) == UMS_OK &&
                 ops->copy_to(backend, m, 0, buf, size, &f) == UMS_OK &&
                 ops->copy_peer(backend, p, 0, m, 0, size, NULL) == UMS_OK && ops->fence_wait(backend, f) == UMS_OK &&
                 ops->copy_from(backend, back, p, 0, size, NULL) == UMS_OK && fake_check(back, size, seed) == SIZE_MAX;
        if (!ok) {
            fprintf(stderr, "worker %u iteration %d failed: %s\n", id, it, fake.message);
            atomic_fetch_add(&worker_failures, 1);
        }
        if (m)
            ops->mem_free(backend, m);
        if (p)
            ops->mem_free(backend, p);
    }
    free(buf);
    free(back);
    return NULL;
}

static void test_concurrent_users(void) {
    enum { NWORKERS = 4 };
    pthread_t t[NWORKERS];
    for (uintptr_t i = 0; i < NWORKERS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, worker, (void *)(i % 2)), 0);
    for (int i = 0; i < NWORKERS; i++)
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
    ASSERT_EQ(atomic_load(&worker_failures), 0);
    for (uint32_t i = 0; i < nloc; i++) {
        uint64_t used, total;
        EXPECT_OK(ops->capacity(backend, i, &used, &total));
        ASSERT_EQ(used, 0);
    }
}

int main(void) {
    ops = ums__opencl_backend_entry();
    fake_check_table(ops);
    EXPECT_OK(ops->init(fake_services(), NULL, &backend));
    EXPECT_OK(ops->location_count(backend, &nloc));
    if (nloc == 0) {
        ops->fini(backend);
        SKIP("no OpenCL device");
    }
    test_readers_during_upload();
    test_concurrent_users();
    ops->fini(backend);

    ums__opencl_objects o;
    ums__opencl_live_objects(&o);
    ASSERT(o.contexts == 0 && o.queues == 0 && o.buffers == 0 && o.events == 0);
    printf("opencl concurrent: all checks passed\n");
    return 0;
}
