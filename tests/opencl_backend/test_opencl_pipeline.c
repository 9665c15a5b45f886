/* The core's pipelined range migrations and fetch runs on a real OpenCL device
 * (its copies complete through event fences):
 *  - a range moves to the device and back with every block intact;
 *  - host -> device goes in windows (here 8 blocks, 2 MiB: one write per window);
 *    a run's fence that fails leaves that run's blocks at the source, the
 *    others moved; device -> host goes in windows as well (one read per run
 *    into consecutive staging blocks, where pages can move; else block by
 *    block), and a failed fence or read there leaves its run on the device;
 *    the data stays intact;
 *  - a CPU scan of device-resident data fetches runs of blocks (states and
 *    data), READ_MOSTLY blocks keeping their device copy;
 *  - a scan right after a kernel launch, without waiting for the kernel, reads
 *    what the kernel wrote in every block, those fetched ahead included. */
#include <stdbool.h>
#include <stdlib.h>

#include "opencl/cl_test.h"
#include "umshim/testing.h"

#define NBLK 20

static cl_env E;
static size_t bs, n; /* block size, uint32 elements */

static void fill(uint32_t *p, uint32_t gen) {
    for (size_t i = 0; i < n; i++) p[i] = (uint32_t)i * 2654435761u + gen;
}
static void check(const uint32_t *p, uint32_t gen, const char *when) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint32_t)i * 2654435761u + gen)
            FAIL_("%s: element %zu (block %zu) holds %u, expected %u", when, i, i * 4 / bs, p[i],
                  (uint32_t)i * 2654435761u + gen);
}
static ums_block_state state_of(const uint32_t *p, size_t k) { return cl_block((const char *)p + k * bs).state; }
static size_t count_state(const uint32_t *p, ums_block_state s) {
    size_t c = 0;
    for (size_t k = 0; k < NBLK; k++) c += state_of(p, k) == s;
    return c;
}
static void all_to(uint32_t *p, ums_location_t loc) {
    ums_migrate_report rep;
    ASSERT_OK(ums_migrate_ex(p, NBLK * bs, loc, &rep));
    ASSERT_EQ(rep.blocks_failed, 0);
    for (size_t k = 0; k < NBLK; k++) ASSERT_EQ(state_of(p, k), loc == E.host ? UMS_BLOCK_HOST : UMS_BLOCK_DEVICE);
}

static void test_round_trip_and_failure(uint32_t *p, const cl_dev *d) {
    fill(p, 1);
    all_to(p, d->loc);
    all_to(p, E.host);
    check(p, 1, "after a round trip");

    /* 256 KiB blocks go to the device in windows of 8: blocks 0-7, 8-15, 16-19. The
     * 2nd fence of the move fails: blocks 8-15 stay on the host. */
    ASSERT_OK(ums_test_inject("op:fence_wait", 2, 1, UMS_ERR_BACKEND));
    ums_migrate_report rep;
    ASSERT_RESULT(UMS_ERR_BACKEND, ums_migrate_ex(p, NBLK * bs, d->loc, &rep));
    ASSERT_EQ(ums_test_injected_count(), 1);
    ums_test_inject_clear();
    ASSERT_EQ(rep.blocks_failed, 8);
    ASSERT_EQ(rep.blocks_moved, NBLK - 8);
    for (size_t k = 0; k < NBLK; k++)
        ASSERT_EQ(state_of(p, k), k >= 8 && k < 16 ? UMS_BLOCK_HOST : UMS_BLOCK_DEVICE);
    /* (no check here: reading the blocks would fetch them back) */
    ums_runtime_features f;
    ASSERT_OK(ums_runtime_features_get(E.rt, &f));
    if (!f.uffd_move) {
        /* no page moves (signal mode): the staging blocks are not consecutive,
         * the move back goes block by block; the first fence waited for fails
         * and only its block stays on the device */
        ASSERT_OK(ums_test_inject("op:fence_wait", 1, 1, UMS_ERR_BACKEND));
        ASSERT_RESULT(UMS_ERR_BACKEND, ums_migrate_ex(p, NBLK * bs, E.host, &rep));
        ums_test_inject_clear();
        ASSERT_EQ(rep.blocks_failed, 1);
        ASSERT_EQ(count_state(p, UMS_BLOCK_DEVICE), 1);
        ASSERT_EQ(count_state(p, UMS_BLOCK_HOST), NBLK - 1);
        ASSERT_OK(ums_migrate_ex(p, NBLK * bs, E.host, &rep));
        check(p, 1, "after the failures");
        printf("round trips, with a failed run to the device and a failed fence on the way back (block by block)\n");
        return;
    }
    /* the move back in windows too (blocks 8-15 need no copy): blocks 0-7 in one
     * read into consecutive staging blocks, then 16-19. The first fence fails:
     * blocks 0-7 stay on the device. */
    ASSERT_OK(ums_test_inject("op:fence_wait", 1, 1, UMS_ERR_BACKEND));
    ASSERT_RESULT(UMS_ERR_BACKEND, ums_migrate_ex(p, NBLK * bs, E.host, &rep));
    ASSERT_EQ(ums_test_injected_count(), 1);
    ums_test_inject_clear();
    ASSERT_EQ(rep.blocks_failed, 8);
    ASSERT_EQ(rep.blocks_moved, 4);
    ASSERT_EQ(rep.blocks_already, 8);
    for (size_t k = 0; k < NBLK; k++) ASSERT_EQ(state_of(p, k), (k < 8 ? UMS_BLOCK_DEVICE : UMS_BLOCK_HOST));
    /* blocks 0-7 come back with one read: its failure leaves them on the device */
    ASSERT_OK(ums_test_inject("op:copy_from_many", 1, 1, UMS_ERR_BACKEND));
    ASSERT_RESULT(UMS_ERR_BACKEND, ums_migrate_ex(p, NBLK * bs, E.host, &rep));
    ASSERT_EQ(ums_test_injected_count(), 1);
    ums_test_inject_clear();
    ASSERT_EQ(rep.blocks_failed, 8);
    for (size_t k = 0; k < NBLK; k++) ASSERT_EQ(state_of(p, k), (k < 8 ? UMS_BLOCK_DEVICE : UMS_BLOCK_HOST));
    ASSERT_OK(ums_migrate_ex(p, NBLK * bs, E.host, &rep));
    ASSERT_EQ(rep.blocks_moved, 8);
    check(p, 1, "after the failures");
    printf("round trips in windows, with a failed run to the device, a failed fence and a failed read on the way back\n");
}

static void test_scan(uint32_t *p, const cl_dev *d) {
    fill(p, 2);
    all_to(p, d->loc);
    volatile uint32_t s = p[0];
    (void)s;
    /* 256 KiB blocks: the run is capped at 16 blocks */
    for (size_t k = 0; k < NBLK; k++) ASSERT_EQ(state_of(p, k), k < 16 ? UMS_BLOCK_HOST : UMS_BLOCK_DEVICE);
    check(p, 2, "after a scan");
    ASSERT_EQ(count_state(p, UMS_BLOCK_HOST), NBLK);

    ASSERT_OK(ums_advise(p, NBLK * bs, UMS_ADVISE_READ_MOSTLY, UMS_LOCATION_NONE));
    all_to(p, d->loc);
    check(p, 2, "after a READ_MOSTLY scan");
    for (size_t k = 0; k < NBLK; k++) {
        ums_block_info bi = cl_block((char *)p + k * bs);
        ASSERT_EQ(bi.state, UMS_BLOCK_SHARED);
        ASSERT(bi.valid & (1ull << d->loc));
    }
    ASSERT_OK(ums_advise(p, NBLK * bs, UMS_ADVISE_UNSET_READ_MOSTLY, UMS_LOCATION_NONE));
    printf("scans fetch runs of blocks\n");
}

static void test_scan_after_kernel(uint32_t *p, const cl_dev *d, bool read_mostly) {
    static const char *src =
        "kernel void lcg(global uint *p, uint n, uint spin) {\n"
        "    size_t i = get_global_id(0); if (i >= n) return;\n"
        "    uint v = p[i]; for (uint k = 0; k < spin; k++) v = v * 1103515245u + 12345u; p[i] = v; }\n";
    const uint32_t spin = 64;
    fill(p, 3);
    if (read_mostly) ASSERT_OK(ums_advise(p, NBLK * bs, UMS_ADVISE_READ_MOSTLY, UMS_LOCATION_NONE));
    cl_program prog;
    cl_kernel k = cl_build(d->ctx, src, "lcg", &prog);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, p, UMS_CL_ACCESS_READ_WRITE));
    cl_uint un = (cl_uint)n, us = spin;
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));
    CHECK_CL(clSetKernelArg(k, 2, sizeof us, &us));
    for (int round = 0; round < 3; round++) {
        cl_event ev;
        ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, &ev));
        /* no wait: the fetches wait for the kernel */
        for (size_t i = 0; i < n; i++) {
            uint32_t v = (uint32_t)i * 2654435761u + 3;
            for (int r = 0; r <= round; r++)
                for (uint32_t s = 0; s < spin; s++) v = v * 1103515245u + 12345u;
            if (p[i] != v)
                FAIL_("round %d%s: element %zu (block %zu) holds %u, the kernel wrote %u", round,
                      read_mostly ? " (READ_MOSTLY)" : "", i, i * 4 / bs, p[i], v);
        }
        CHECK_CL(clWaitForEvents(1, &ev));
        CHECK_CL(clReleaseEvent(ev));
        ASSERT_EQ(count_state(p, read_mostly ? UMS_BLOCK_SHARED : UMS_BLOCK_HOST), NBLK);
    }
    cl_kernel_done(k, prog);
    if (read_mostly) ASSERT_OK(ums_advise(p, NBLK * bs, UMS_ADVISE_UNSET_READ_MOSTLY, UMS_LOCATION_NONE));
    printf("scans right after a launch read the kernel's results%s\n", read_mostly ? " (READ_MOSTLY)" : "");
}

int main(void) {
    setenv("UMS_TRANSFER_WINDOW", "2M", 1); /* windows of 8 blocks of 256 KiB */
    cl_env_open(&E, 1);
    bs = E.bs;
    n = NBLK * bs / 4;
    const cl_dev *d = &E.dev[0];
    uint32_t *p;
    ASSERT_OK(ums_runtime_alloc(E.rt, NBLK * bs, 0, (void **)&p));
    test_round_trip_and_failure(p, d);
    test_scan(p, d);
    test_scan_after_kernel(p, d, false);
    test_scan_after_kernel(p, d, true);
    ASSERT_OK(ums_free(p));
    cl_env_close(&E);
    printf("ok\n");
    return 0;
}
