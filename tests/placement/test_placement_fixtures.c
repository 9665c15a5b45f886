/* ums_placement_decide_xml() on the XML fixtures in fixtures/ (see its README):
 * PCI locality of GPUs on different packages, and memory tiers (HBM-like and
 * CXL-like nodes) with HMAT-style bandwidth and latency attributes.
 * Usage: test_placement_fixtures FIXTURE_DIR */
#include "placement_test_util.h"

static char two_gpus[4096];
static char hbm_cxl[4096];

static void decide_xml(const char *path, ums_placement_decision *d, ums_placement_policy policy, const unsigned *cpus,
                       size_t ncpus) {
    ums_placement p = request_(policy, cpus, ncpus);
    ASSERT_OK(ums_placement_decide_xml(path, &p, d));
}
#define XML(path, d, policy, ...)                                        \
    do {                                                                 \
        const unsigned c_[] = {__VA_ARGS__};                             \
        decide_xml((path), (d), (policy), c_, sizeof c_ / sizeof c_[0]); \
    } while (0)

static void near(const char *path, const char *bus_id, ums_placement_decision *d) {
    ums_placement p;
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE));
    p.pci_bus_id = bus_id;
    ASSERT_OK(ums_placement_decide_xml(path, &p, d));
}

static void test_two_gpus(void) {
    ums_placement_decision d;

    near(two_gpus, "0000:03:00.0", &d);
    CHECK_NODES(&d, 0);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_PCI_LOCALITY);
    ASSERT_EQ(d.fallback, 0);
    ASSERT_CONTAINS(d.reason, "local to PCI device 0000:03:00.0 (attached to Package P#0)");

    near(two_gpus, "81:00.0", &d); /* short form, domain 0 */
    CHECK_NODES(&d, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_PCI_LOCALITY);
    ASSERT_CONTAINS(d.reason, "Package P#1");

    near(two_gpus, "0000:81:00.0", &d);
    CHECK_NODES(&d, 1);

    /* A NIC whose locality is the whole machine: both nodes are as near. */
    near(two_gpus, "0000:c1:00.0", &d);
    CHECK_NODES(&d, 0, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_PCI_LOCALITY);
    ASSERT_CONTAINS(d.reason, "equally local");

    /* An address the machine does not have: every node, as a fallback. */
    near(two_gpus, "0000:05:00.0", &d);
    CHECK_NODES(&d, 0, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_NONE);
    ASSERT_EQ(d.fallback, 1);
    ASSERT_CONTAINS(d.reason, "not in the topology");

    /* No memory attributes in this file: SLIT distances decide. */
    XML(two_gpus, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 2, 3);
    CHECK_NODES(&d, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_DISTANCE);
    ASSERT_EQ(d.fallback, 1);
    ASSERT_CONTAINS(d.reason, "no Bandwidth attribute");
    ASSERT_CONTAINS(d.reason, "NUMA distance 10");
    XML(two_gpus, &d, UMS_PLACE_LOWEST_LATENCY, 0);
    CHECK_NODES(&d, 0);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_DISTANCE);

    /* The default cpuset of another machine's topology is that whole machine. */
    ums_placement p;
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_LOCAL));
    ASSERT_OK(ums_placement_decide_xml(two_gpus, &p, &d));
    CHECK_NODES(&d, 0, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_FIRST_TOUCH);

    XML(two_gpus, &d, UMS_PLACE_LARGEST_CAPACITY, 2);
    CHECK_NODES(&d, 1); /* equal capacity: the nearer node */
    ASSERT_CONTAINS(d.reason, "tie broken by NUMA distance");
}

static void test_hbm_cxl(void) {
    ums_placement_decision d;

    /* Package 0 reaches the HBM node fastest. */
    XML(hbm_cxl, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 0, 1);
    CHECK_NODES(&d, 2);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_BANDWIDTH);
    ASSERT_EQ(d.fallback, 0);
    ASSERT_EQ(d.value, 409600);
    ASSERT_CONTAINS(d.reason, "node 2: highest Bandwidth (409600 MiB/s) from initiator cpuset 0-1");
    XML(hbm_cxl, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 1);
    CHECK_NODES(&d, 2);

    /* Package 1 is far from that HBM: its own DDR. */
    XML(hbm_cxl, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 2, 3);
    CHECK_NODES(&d, 1);
    ASSERT_EQ(d.value, 102400);

    /* Both packages: worst case 51200 for both DDR nodes, the tie is even by distance. */
    XML(hbm_cxl, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 0, 1, 2, 3);
    CHECK_NODES(&d, 0);
    ASSERT_EQ(d.value, 51200);
    ASSERT_CONTAINS(d.reason, "worst-case Bandwidth");
    ASSERT_CONTAINS(d.reason, "tie broken by lowest index");

    XML(hbm_cxl, &d, UMS_PLACE_LOWEST_LATENCY, 0, 1);
    CHECK_NODES(&d, 0);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_LATENCY);
    ASSERT_EQ(d.value, 90);
    ASSERT_CONTAINS(d.reason, "lowest Latency (90 ns)");
    XML(hbm_cxl, &d, UMS_PLACE_LOWEST_LATENCY, 3);
    CHECK_NODES(&d, 1);

    /* The CXL expander has the capacity. */
    XML(hbm_cxl, &d, UMS_PLACE_LARGEST_CAPACITY, 0);
    CHECK_NODES(&d, 3);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_CAPACITY);
    ASSERT_EQ(d.value, 549755813888ull);
    ASSERT_CONTAINS(d.reason, "524288 MiB");

    /* First touch: the DDR node, never the HBM one attached to the same package. */
    XML(hbm_cxl, &d, UMS_PLACE_LOCAL, 0, 1);
    CHECK_NODES(&d, 0);
    XML(hbm_cxl, &d, UMS_PLACE_LOCAL, 1, 2);
    CHECK_NODES(&d, 0, 1);

    /* A GPU on package 0: its DDR, not the HBM, though both are local. */
    near(hbm_cxl, "0000:17:00.0", &d);
    CHECK_NODES(&d, 0);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_PCI_LOCALITY);
    near(hbm_cxl, "0000:b1:00.0", &d);
    CHECK_NODES(&d, 1);
}

/* The same fixtures through the internal entry points the core uses. */
static void test_internal_helpers(void) {
    hwloc_topology_t t = NULL;
    int err = -1;
    ASSERT_OK(ums__topology_load_xml(two_gpus, &t, &err));
    ASSERT_EQ(err, 0);
    unsigned node = 99;
    ASSERT_EQ(ums__placement_pci_nearest_node(t, "0000:81:00.0", &node), 1);
    ASSERT_EQ(node, 1);
    ASSERT_EQ(ums__placement_pci_nearest_node(t, "03:00.0", &node), 1);
    ASSERT_EQ(node, 0);
    node = 99;
    ASSERT_EQ(ums__placement_pci_nearest_node(t, "0000:c1:00.0", &node), 0); /* ambiguous */
    ASSERT_EQ(ums__placement_pci_nearest_node(t, "0000:05:00.0", &node), 0); /* absent */
    ASSERT_EQ(node, 99);
    ASSERT(ums__placement_find_pcidev(t, "0000:03:00.0") != NULL);
    ASSERT(ums__placement_find_pcidev(t, "0000:03:00.1") == NULL);

    /* The core passes the device's address and hint it resolved itself. */
    ums_placement p;
    ums_placement_decision d;
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE));
    p.device = 2;
    ASSERT_OK(ums__placement_decide(t, &p, "0000:81:00.0", 0, &d));
    CHECK_NODES(&d, 1); /* locality beats the hint */
    ASSERT_OK(ums__placement_decide(t, &p, "0000:c1:00.0", 1, &d));
    CHECK_NODES(&d, 1); /* the hint picks among equally local nodes */
    CHECK_BASIS(&d, UMS_PLACE_BASIS_DEVICE_HINT);
    ASSERT_EQ(d.fallback, 0);
    hwloc_topology_destroy(t);
}

int main(int argc, char **argv) {
    if (argc < 2) FAIL_("usage: %s FIXTURE_DIR", argv[0]);
    snprintf(two_gpus, sizeof two_gpus, "%s/two-gpus.xml", argv[1]);
    snprintf(hbm_cxl, sizeof hbm_cxl, "%s/hbm-cxl.xml", argv[1]);
    test_two_gpus();
    test_hbm_cxl();
    test_internal_helpers();
    printf("placement fixtures: ok\n");
    return 0;
}
