/* Bad input to ums_placement_decide, ums_place and ums_alloc_placed: each call
 * returns the documented code, names itself in the last-error record with a
 * message, and changes nothing (outputs untouched, blocks where they were,
 * the range's memory policy and data as they were). */
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test.h"

#define MPOL_F_ADDR_ (1 << 1)

static int policy_mode(void *addr) {
    int mode = -1;
    unsigned long mask[16] = {0};
    if (syscall(SYS_get_mempolicy, &mode, mask, 16 * 64 + 1, addr, MPOL_F_ADDR_) != 0) return -2;
    return mode;
}

#define EXPECT_FAIL(want, fname, call)                                                                        \
    do {                                                                                                      \
        ums_clear_error();                                                                                    \
        ASSERT_RESULT(want, call);                                                                            \
        ASSERT_EQ(ums_last_error()->code, want);                                                              \
        ASSERT_STR_EQ(ums_last_error()->function, fname);                                                     \
        if (ums_last_error()->message[0] == '\0') FAIL_("%s: empty message", #call);                          \
        printf("%-20s %-26s %s\n", fname, ums_result_name(want), ums_last_error()->message);                  \
    } while (0)

typedef struct bad {
    const char *what;
    ums_result code;
    ums_placement p;
} bad;

int main(void) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.opencl = 0;
    cfg.sim = "count=1";
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    size_t bs = ums_runtime_block_size(rt);
    ums_location_t node0, sim;
    ASSERT_OK(ums_location_find(rt, "node0", &node0));
    ASSERT_OK(ums_location_find(rt, "sim0", &sim));

    static const unsigned far_node[] = {4000};
    static const unsigned far_cpu[] = {100000};
    static const unsigned zero[] = {0};
    bad bads[16];
    size_t nb = 0;
#define BAD(w, c, ...)                                  \
    do {                                                \
        bads[nb].what = (w);                            \
        bads[nb].code = (c);                            \
        ASSERT_OK(ums_placement_init(&bads[nb].p, UMS_PLACE_LOCAL)); \
        ums_placement *q_ = &bads[nb].p;                \
        __VA_ARGS__;                                    \
        nb++;                                           \
    } while (0)
    BAD("struct_size too small", UMS_ERR_INVALID_ARG, q_->struct_size = 8);
    BAD("unknown policy", UMS_ERR_INVALID_ARG, q_->policy = (ums_placement_policy)42);
    BAD("reserved flags", UMS_ERR_UNKNOWN_FLAG, q_->flags = 4);
    BAD("bind without nodes", UMS_ERR_INVALID_ARG, q_->policy = UMS_PLACE_BIND);
    BAD("interleave without nodes", UMS_ERR_INVALID_ARG, q_->policy = UMS_PLACE_INTERLEAVE);
    BAD("unknown node", UMS_ERR_UNKNOWN_LOCATION, q_->policy = UMS_PLACE_BIND; q_->nodes = far_node; q_->node_count = 1);
    BAD("nodes NULL with a count", UMS_ERR_NULL_POINTER, q_->policy = UMS_PLACE_BIND; q_->node_count = 2);
    BAD("cpus NULL with a count", UMS_ERR_NULL_POINTER, q_->cpu_count = 1);
    BAD("unknown CPU", UMS_ERR_INVALID_ARG, q_->policy = UMS_PLACE_HIGHEST_BANDWIDTH; q_->cpus = far_cpu; q_->cpu_count = 1);
    BAD("huge node count", UMS_ERR_INVALID_ARG, q_->policy = UMS_PLACE_BIND; q_->nodes = zero; q_->node_count = (size_t)1 << 40);
    BAD("malformed PCI address", UMS_ERR_INVALID_ARG, q_->policy = UMS_PLACE_NEAR_DEVICE; q_->pci_bus_id = "00:1z.0");
    BAD("near-device, no device", UMS_ERR_INVALID_ARG, q_->policy = UMS_PLACE_NEAR_DEVICE);
    BAD("near-device, host node", UMS_ERR_INVALID_ARG, q_->policy = UMS_PLACE_NEAR_DEVICE; q_->device = node0);
    BAD("unknown device location", UMS_ERR_UNKNOWN_LOCATION, q_->policy = UMS_PLACE_NEAR_DEVICE; q_->device = 63);
    BAD("unknown device, other policy", UMS_ERR_UNKNOWN_LOCATION, q_->device = 40);

    ums_placement good;
    ASSERT_OK(ums_placement_init(&good, UMS_PLACE_LOCAL));
    ums_placement_decision d, pattern;
    memset(&pattern, 0xa5, sizeof pattern);

    /* ums_placement_decide */
    d = pattern;
    EXPECT_FAIL(UMS_ERR_NULL_POINTER, "ums_placement_decide", ums_placement_decide(rt, NULL, &d));
    EXPECT_FAIL(UMS_ERR_NULL_POINTER, "ums_placement_decide", ums_placement_decide(rt, &good, NULL));
    for (size_t i = 0; i < nb; i++) {
        printf("[%s] ", bads[i].what);
        EXPECT_FAIL(bads[i].code, "ums_placement_decide", ums_placement_decide(rt, &bads[i].p, &d));
        ASSERT(memcmp(&d, &pattern, sizeof d) == 0);
    }

    /* ums_place: a range with a block on the device, a block never touched */
    size_t n = 3 * bs;
    char *ptr;
    ASSERT_OK(ums_runtime_alloc(rt, n, 0, (void **)&ptr));
    memset(ptr, 0x3c, 2 * bs);
    ASSERT_OK(ums_migrate(ptr + bs, bs, sim));
    int mode_before = policy_mode(ptr);
    ums_block_info before[3], after[3];
    size_t count;
    ASSERT_OK(ums_query(ptr, n, before, 3, &count));
    char stack[64];
    EXPECT_FAIL(UMS_ERR_NULL_POINTER, "ums_place", ums_place(ptr, n, NULL, &d));
    EXPECT_FAIL(UMS_ERR_NULL_POINTER, "ums_place", ums_place(NULL, n, &good, &d));
    EXPECT_FAIL(UMS_ERR_BAD_SIZE, "ums_place", ums_place(ptr, 0, &good, &d));
    EXPECT_FAIL(UMS_ERR_NOT_MANAGED, "ums_place", ums_place(stack, sizeof stack, &good, &d));
    EXPECT_FAIL(UMS_ERR_OUT_OF_RANGE, "ums_place", ums_place(ptr, n + 1, &good, &d));
    for (size_t i = 0; i < nb; i++) {
        printf("[%s] ", bads[i].what);
        EXPECT_FAIL(bads[i].code, "ums_place", ums_place(ptr, n, &bads[i].p, &d));
    }
    ASSERT(memcmp(&d, &pattern, sizeof d) == 0);
    ASSERT_OK(ums_query(ptr, n, after, 3, &count));
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ(after[i].state, before[i].state);
        ASSERT_EQ(after[i].home, before[i].home);
        ASSERT_EQ(after[i].valid, before[i].valid);
    }
    ASSERT_EQ(policy_mode(ptr), mode_before);
    for (size_t i = 0; i < 2 * bs; i += 999) ASSERT_EQ(ptr[i], 0x3c);
    ASSERT_OK(ums_free(ptr));
    EXPECT_FAIL(UMS_ERR_NOT_MANAGED, "ums_place", ums_place(ptr, n, &good, &d)); /* freed */

    /* ums_alloc_placed */
    void *out = (void *)0x77;
    EXPECT_FAIL(UMS_ERR_NULL_POINTER, "ums_alloc_placed", ums_alloc_placed(rt, bs, 0, &good, &d, NULL));
    EXPECT_FAIL(UMS_ERR_NULL_POINTER, "ums_alloc_placed", ums_alloc_placed(rt, bs, 0, NULL, &d, &out));
    EXPECT_FAIL(UMS_ERR_BAD_SIZE, "ums_alloc_placed", ums_alloc_placed(rt, 0, 0, &good, &d, &out));
    EXPECT_FAIL(UMS_ERR_BAD_SIZE, "ums_alloc_placed", ums_alloc_placed(rt, (size_t)1 << 60, 0, &good, &d, &out));
    EXPECT_FAIL(UMS_ERR_UNKNOWN_FLAG, "ums_alloc_placed", ums_alloc_placed(rt, bs, 1u << 20, &good, &d, &out));
    for (size_t i = 0; i < nb; i++) {
        printf("[%s] ", bads[i].what);
        EXPECT_FAIL(bads[i].code, "ums_alloc_placed", ums_alloc_placed(rt, bs, 0, &bads[i].p, &d, &out));
    }
    ASSERT(out == (void *)0x77);
    ASSERT(memcmp(&d, &pattern, sizeof d) == 0);
    /* out may be NULL on success */
    ASSERT_OK(ums_alloc_placed(rt, bs, 0, &good, NULL, &out));
    ASSERT_OK(ums_free(out));

    ASSERT_OK(ums_runtime_destroy(rt));
    printf("place bad input: ok\n");
    return 0;
}
