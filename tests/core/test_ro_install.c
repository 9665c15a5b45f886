/* Read-only installs (a fetch of a READ_MOSTLY block keeps the device copy):
 *  - the host copy is installed read-only and the device copy stays valid;
 *  - a CPU write invalidates the device copy, also when the write comes while
 *    the block is being put in place: in userfaultfd mode with
 *    UMS_RO_INSTALL=move the staged pages are moved in and the block is a
 *    read-only mapping for a moment, during which a writer waits in the
 *    library's SIGSEGV handler. That moment is widened here by failing the
 *    re-registration a few times (each failure is retried after a pause), and a
 *    writer thread writes as soon as the block's pages are there;
 *  - whatever the order, the device copy never misses a write: the block is
 *    moved back to the device and fetched again, and the written word is there. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <umshim/testing.h>

#include "test.h"

static ums_runtime_t *rt;
static size_t bs;
static ums_location_t host, dev;

struct writer {
    uint64_t *word;
    uint64_t value;
    atomic_int start;
    double waited_ms;
};

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Write the word as soon as its page is present (mincore never faults). */
static void *writer_main(void *arg) {
    struct writer *w = arg;
    while (!atomic_load(&w->start)) {}
    char *page = (char *)((uintptr_t)w->word & ~(uintptr_t)4095);
    unsigned char v = 0;
    while (mincore(page, 4096, &v) != 0 || !(v & 1)) {}
    double t0 = now_ms();
    __atomic_store_n(w->word, w->value, __ATOMIC_RELAXED);
    w->waited_ms = now_ms() - t0;
    return NULL;
}

static void expect_block(const void *p, ums_block_state st, uint64_t valid) {
    ums_block_info info;
    size_t n;
    ASSERT_OK(ums_query(p, 1, &info, 1, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(info.state, st);
    ASSERT_EQ(info.valid, valid);
}

int main(void) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.sim = "count=1,capacity=64M";
    cfg.opencl = 0;
    cfg.block_size = 0; /* 2 MiB: the move path needs whole huge-page blocks */
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    bs = ums_runtime_block_size(rt);
    ASSERT_OK(ums_location_find(rt, "node0", &host));
    ASSERT_OK(ums_location_find(rt, "sim0", &dev));
    ums_runtime_features f;
    ASSERT_OK(ums_runtime_features_get(rt, &f));
    bool uffd = ums_runtime_fault_mode(rt) == UMS_FAULT_UFFD;
    const uint64_t both = (1ull << host) | (1ull << dev);

    uint64_t *p;
    ASSERT_OK(ums_runtime_alloc(rt, 2 * bs, UMS_ALLOC_READ_MOSTLY, (void **)&p));
    size_t words = 2 * bs / 8;
    for (size_t i = 0; i < words; i++) p[i] = i;

    /* 1. a read fetches read-only and keeps the device copy; a write drops it */
    ASSERT_OK(ums_migrate(p, 2 * bs, dev));
    expect_block(p, UMS_BLOCK_DEVICE, 1ull << dev);
    ASSERT_EQ(p[5], 5);
    expect_block(p, UMS_BLOCK_SHARED, both);
    p[6] = 66;
    expect_block(p, UMS_BLOCK_HOST, 1ull << host);
    printf("read-only install (%s): the device copy stays, a write drops it\n",
           f.read_only_move ? "moved in" : "copied in");

    /* 2. a writer racing the install, many times; in uffd move mode with the
     * window widened by failed re-registrations */
    bool widen = uffd && f.read_only_move;
    unsigned rounds = 40, widened = 0;
    double longest = 0;
    for (unsigned r = 0; r < rounds; r++) {
        ASSERT_OK(ums_migrate(p, 2 * bs, dev));
        struct writer w = {.word = &p[bs / 8 + 100 + r], .value = 1000 + r};
        pthread_t t;
        pthread_create(&t, NULL, writer_main, &w);
        ums_test_inject_clear();
        if (widen && r % 2 == 0) ASSERT_OK(ums_test_inject("uffd_register", 1, 4, ENOMEM));
        atomic_store(&w.start, 1);
        ASSERT_EQ(p[bs / 8 + 7], bs / 8 + 7); /* faults, fetches both blocks read-only */
        pthread_join(t, NULL);
        widened += ums_test_injected_count() > 0;
        ums_test_inject_clear();
        if (w.waited_ms > longest) longest = w.waited_ms;
        /* the write landed and the device copy of its block is gone */
        ASSERT_EQ(p[bs / 8 + 100 + r], 1000 + r);
        expect_block(p + bs / 8, UMS_BLOCK_HOST, 1ull << host);
        /* and the device never misses it: move there, fetch back */
        ASSERT_OK(ums_migrate(p, 2 * bs, dev));
        ASSERT_EQ(p[bs / 8 + 100 + r], 1000 + r);
        for (size_t i = 0; i < words; i++) {
            uint64_t want = i;
            if (i == 6) want = 66;
            else if (i >= bs / 8 + 100 && i <= bs / 8 + 100 + r) want = 1000 + (i - bs / 8 - 100);
            if (p[i] != want) FAIL_("round %u: word %zu is %llu, not %llu", r, i, (unsigned long long)p[i],
                                    (unsigned long long)want);
        }
    }
    if (widen) ASSERT_GT(widened, 0);
    printf("a writer racing %u read-only installs: every write kept, the device copy dropped each time "
           "(%u installs held open by failed registrations; longest write %.2f ms)\n",
           rounds, widened, longest);
    if (!widen) printf("SKIP: the install window exists only in userfaultfd mode with UMS_RO_INSTALL=move\n");

    ASSERT_OK(ums_free(p));
    ASSERT_OK(ums_runtime_destroy(rt));
    return 0;
}
