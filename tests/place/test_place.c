/* Placement in a runtime on this machine: ums_placement_decide resolves every
 * policy to one of this machine's nodes (node 0 on a one-node machine) or
 * fails clearly; ums_alloc_placed and ums_place record the chosen node as each
 * block's home, keep the data, bring device-resident blocks back, and leave the
 * memory policy the header documents on the range (get_mempolicy).
 * Runs in the fault mode of the environment (UMS_FAULT). */
#include <errno.h>
#include <hwloc.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test.h"

#define MPOL_DEFAULT_ 0
#define MPOL_PREFERRED_ 1
#define MPOL_BIND_ 2
#define MPOL_LOCAL_ 4
#define MPOL_F_ADDR_ (1 << 1)

static size_t g_bs;
static ums_location_t g_node0;

/* The memory policy at addr: its mode and the first word of its node mask. */
static int policy_at(void *addr, unsigned long *mask0) {
    int mode = -1;
    unsigned long mask[16] = {0};
    if (syscall(SYS_get_mempolicy, &mode, mask, 16 * 64 + 1, addr, MPOL_F_ADDR_) != 0) {
        if (errno == ENOSYS || errno == EPERM) return -2;
        FAIL_("get_mempolicy: %s", strerror(errno));
    }
    *mask0 = mask[0];
    return mode & 0xff;
}

/* Expect the policy at addr (skipped where the kernel refuses to say). */
static void expect_policy(void *addr, int mode, unsigned long mask0) {
    unsigned long m = 0;
    int got = policy_at(addr, &m);
    if (got == -2) return;
    if (got != mode || (mode != MPOL_LOCAL_ && mode != MPOL_DEFAULT_ && m != mask0))
        FAIL_("policy at %p: mode %d mask %#lx, expected mode %d mask %#lx", addr, got, m, mode, mask0);
}

static void fill(char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i += 512) p[i] = (char)(seed + i / 512);
}
static void check(const char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i += 512)
        if (p[i] != (char)(seed + i / 512)) FAIL_("byte %zu: %d, expected %d", i, p[i], (char)(seed + i / 512));
}

static void expect_home(void *p, size_t n, ums_location_t loc) {
    ums_block_info info[16];
    size_t count = 0;
    ASSERT_OK(ums_query(p, n, info, 16, &count));
    for (size_t i = 0; i < count; i++) {
        if (info[i].state != UMS_BLOCK_HOST || info[i].home != loc)
            FAIL_("block %zu: state %s home %u, expected host at %u", i, ums_block_state_name(info[i].state),
                  info[i].home, loc);
    }
}

static ums_placement request(ums_placement_policy policy) {
    ums_placement p;
    ASSERT_OK(ums_placement_init(&p, policy));
    return p;
}

int main(void) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.opencl = 0;
    cfg.sim = "count=1";
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    g_bs = ums_runtime_block_size(rt);
    ASSERT_OK(ums_location_find(rt, "node0", &g_node0));
    ums_location_t sim;
    ASSERT_OK(ums_location_find(rt, "sim0", &sim));
    ums_runtime_features feat;
    ASSERT_OK(ums_runtime_features_get(rt, &feat));
    if (feat.numa_nodes != 1) SKIP("this test expects a one-node machine (found %d nodes); see tests/numa", feat.numa_nodes);

    static const unsigned zero[] = {0};
    static const ums_placement_policy all[] = {UMS_PLACE_LOCAL,
                                               UMS_PLACE_BIND,
                                               UMS_PLACE_INTERLEAVE,
                                               UMS_PLACE_HIGHEST_BANDWIDTH,
                                               UMS_PLACE_LOWEST_LATENCY,
                                               UMS_PLACE_LARGEST_CAPACITY};
    const size_t npol = sizeof all / sizeof all[0];

    /* 1. decisions: every policy names node 0 and says why */
    for (size_t i = 0; i < npol; i++) {
        ums_placement p = request(all[i]);
        p.nodes = zero;
        p.node_count = 1;
        ums_placement_decision d;
        ASSERT_OK(ums_placement_decide(rt, &p, &d));
        printf("%-18s -> node %u (%s%s): %s\n", ums_placement_policy_name(all[i]), d.nodes[0],
               ums_placement_basis_name(d.basis), d.fallback ? ", fallback" : "", d.reason);
        ASSERT_EQ(d.node_count, 1);
        ASSERT_EQ(d.nodes[0], 0);
        ASSERT_EQ(d.policy, all[i]);
        ASSERT(d.reason[0] != '\0');
    }
    /* NEAR_DEVICE: a device without PCI address or node (sim) is equally near every node */
    {
        ums_placement p = request(UMS_PLACE_NEAR_DEVICE);
        p.device = sim;
        ums_placement_decision d;
        ASSERT_OK(ums_placement_decide(rt, &p, &d));
        printf("near-device(sim0)  -> node %u (%s): %s\n", d.nodes[0], ums_placement_basis_name(d.basis), d.reason);
        ASSERT_EQ(d.node_count, 1);
        ASSERT_EQ(d.nodes[0], 0);
        ASSERT_EQ(d.fallback, 1);
        /* a PCI address this machine does not have */
        p.device = UMS_LOCATION_NONE;
        p.pci_bus_id = "0000:fe:1f.7";
        ASSERT_OK(ums_placement_decide(rt, &p, &d));
        ASSERT_EQ(d.nodes[0], 0);
        ASSERT(strstr(d.reason, "not in the topology") != NULL);
    }
    /* the default runtime works too */
    {
        ums_placement p = request(UMS_PLACE_LOWEST_LATENCY);
        ums_placement_decision d;
        ASSERT_OK(ums_placement_decide(NULL, &p, &d));
        ASSERT_EQ(d.nodes[0], 0);
        ums_shutdown();
    }

    /* 2. placed allocations: home recorded, data works, policy set */
    for (size_t i = 0; i < npol; i++) {
        for (int populate = 0; populate < 2; populate++) {
            ums_placement p = request(all[i]);
            p.nodes = zero;
            p.node_count = 1;
            ums_placement_decision d;
            void *ptr = NULL;
            size_t n = 3 * g_bs;
            ASSERT_OK(ums_alloc_placed(rt, n, populate ? UMS_ALLOC_POPULATE : 0, &p, &d, &ptr));
            ASSERT(ptr != NULL);
            ASSERT_EQ(d.nodes[0], 0);
            expect_home(ptr, n, g_node0);
            int mode = all[i] == UMS_PLACE_BIND    ? MPOL_BIND_
                       : all[i] == UMS_PLACE_LOCAL ? MPOL_LOCAL_
                                                   : MPOL_PREFERRED_;
            for (size_t b = 0; b < 3; b++) expect_policy((char *)ptr + b * g_bs, mode, 1ul);
            fill(ptr, n, (unsigned)i);
            check(ptr, n, (unsigned)i);
            ASSERT_OK(ums_free(ptr));
        }
    }

    /* 3. existing data: ums_place keeps it and records node 0 */
    {
        size_t n = 4 * g_bs;
        void *ptr;
        ASSERT_OK(ums_runtime_alloc(rt, n, 0, &ptr));
        fill(ptr, n / 2, 7); /* half touched, half never */
        for (size_t i = 0; i < npol; i++) {
            ums_placement p = request(all[i]);
            p.nodes = zero;
            p.node_count = 1;
            ums_placement_decision d;
            memset(&d, 0xee, sizeof d);
            ASSERT_OK(ums_place(ptr, n, &p, &d));
            ASSERT_EQ(d.nodes[0], 0);
            ASSERT_EQ(d.node_count, 1);
            ASSERT_OK(ums_place(ptr, n, &p, NULL)); /* out may be NULL */
            expect_home(ptr, n, g_node0);
            check(ptr, n / 2, 7);
        }
        /* the untouched half still reads zero, then takes writes */
        for (size_t i = n / 2; i < n; i += 4096) ASSERT_EQ(((char *)ptr)[i], 0);
        fill((char *)ptr + n / 2, n / 2, 9);
        check((char *)ptr + n / 2, n / 2, 9);

        /* device-resident blocks come back to the node */
        ASSERT_OK(ums_migrate((char *)ptr + g_bs, 2 * g_bs, sim));
        ums_block_info info[4];
        size_t count;
        ASSERT_OK(ums_query(ptr, n, info, 4, &count));
        ASSERT_EQ(info[1].state, UMS_BLOCK_DEVICE);
        ums_counters before, after;
        ASSERT_OK(ums_counters_get(rt, &before));
        ums_placement p = request(UMS_PLACE_LARGEST_CAPACITY);
        ASSERT_OK(ums_place(ptr, n, &p, NULL));
        ASSERT_OK(ums_counters_get(rt, &after));
        ASSERT_EQ(after.bytes_device_to_host - before.bytes_device_to_host, 2 * g_bs);
        expect_home(ptr, n, g_node0);
        check(ptr, n / 2, 7);
        check((char *)ptr + n / 2, n / 2, 9);
        expect_policy(ptr, MPOL_PREFERRED_, 1ul);

        /* an interior sub-range: only its blocks change policy */
        p = request(UMS_PLACE_BIND);
        p.nodes = zero;
        p.node_count = 1;
        ASSERT_OK(ums_place((char *)ptr + g_bs + 100, 10, &p, NULL));
        expect_policy(ptr, MPOL_PREFERRED_, 1ul);
        expect_policy((char *)ptr + g_bs, MPOL_BIND_, 1ul);
        expect_policy((char *)ptr + 2 * g_bs, MPOL_PREFERRED_, 1ul);

        /* 4. a failed policy change is undone and moves nothing */
        ASSERT_OK(ums_migrate((char *)ptr + 3 * g_bs, g_bs, sim));
        p = request(UMS_PLACE_INTERLEAVE);
        p.nodes = zero;
        p.node_count = 1;
        ASSERT_OK(ums_test_inject("mbind", 1, 1, ENOMEM));
        ASSERT_RESULT(UMS_ERR_SYSTEM, ums_place(ptr, n, &p, NULL));
        ums_test_inject_clear();
        ASSERT_STR_EQ(ums_last_error()->function, "ums_place");
        ASSERT_EQ(ums_last_error()->native, ENOMEM);
        ASSERT_OK(ums_query(ptr, n, info, 4, &count));
        ASSERT_EQ(info[3].state, UMS_BLOCK_DEVICE);
        expect_policy(ptr, MPOL_PREFERRED_, 1ul);
        expect_policy((char *)ptr + g_bs, MPOL_BIND_, 1ul);
        /* fails at the end (final policy): blocks moved stay moved, policies restored */
        ASSERT_OK(ums_test_inject("mbind", 5, 1, ENOMEM));
        ASSERT_RESULT(UMS_ERR_SYSTEM, ums_place(ptr, n, &p, NULL));
        ums_test_inject_clear();
        expect_home(ptr, n, g_node0);
        expect_policy(ptr, MPOL_PREFERRED_, 1ul);
        expect_policy((char *)ptr + g_bs, MPOL_BIND_, 1ul);
        check(ptr, n / 2, 7);
        check((char *)ptr + n / 2, n / 2, 9);
        ASSERT_OK(ums_free(ptr));
    }

    /* 5. a placed allocation whose policy cannot be set is not created */
    {
        ums_placement p = request(UMS_PLACE_BIND);
        p.nodes = zero;
        p.node_count = 1;
        void *ptr = (void *)0x1234;
        ASSERT_OK(ums_test_inject("mbind", 1, 1, EIO));
        ASSERT_RESULT(UMS_ERR_SYSTEM, ums_alloc_placed(rt, g_bs, 0, &p, NULL, &ptr));
        ums_test_inject_clear();
        ASSERT(ptr == (void *)0x1234);
        ASSERT_STR_EQ(ums_last_error()->function, "ums_alloc_placed");
        ASSERT_OK(ums_test_inject("mmap", 1, 1, ENOMEM));
        ASSERT_RESULT(UMS_ERR_NO_MEMORY, ums_alloc_placed(rt, g_bs, 0, &p, NULL, &ptr));
        ums_test_inject_clear();
        ASSERT(ptr == (void *)0x1234);
        ASSERT_STR_EQ(ums_last_error()->function, "ums_alloc_placed");
    }

    const char *mode = ums_fault_mode_name(ums_runtime_fault_mode(rt));
    ASSERT_OK(ums_runtime_destroy(rt));
    printf("place (%s mode): ok\n", mode);
    return 0;
}
