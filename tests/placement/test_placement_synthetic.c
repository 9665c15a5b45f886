/* Placement decisions on hwloc synthetic topologies, with memory attributes and
 * NUMA distances added through hwloc's API: each policy's choice for different
 * cpusets, with and without the attribute (the fallback chain), and the
 * explanation naming what decided. */
#include "placement_test_util.h"

/* Set `attr` of node `node` as seen from the CPUs `cpus` (an hwloc list string). */
static void set_attr(hwloc_topology_t t, hwloc_memattr_id_t attr, unsigned node, const char *cpus, uint64_t value) {
    hwloc_obj_t n = hwloc_get_numanode_obj_by_os_index(t, node);
    ASSERT(n != NULL);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    ASSERT(set != NULL);
    ASSERT_EQ(hwloc_bitmap_list_sscanf(set, cpus), 0);
    struct hwloc_location loc;
    loc.type = HWLOC_LOCATION_TYPE_CPUSET;
    loc.location.cpuset = set;
    ASSERT_EQ(hwloc_memattr_set_value(t, attr, n, &loc, 0, value), 0);
    hwloc_bitmap_free(set);
}

/* Add a NUMA latency matrix over nodes 0..n-1 (row-major values). */
static void set_distances(hwloc_topology_t t, unsigned n, const uint64_t *values) {
    hwloc_obj_t objs[8];
    hwloc_uint64_t v[64];
    ASSERT(n <= 8);
    for (unsigned i = 0; i < n; i++) {
        objs[i] = hwloc_get_numanode_obj_by_os_index(t, i);
        ASSERT(objs[i] != NULL);
    }
    for (unsigned i = 0; i < n * n; i++) v[i] = values[i];
    hwloc_distances_add_handle_t h = hwloc_distances_add_create(
        t, "NUMALatency", HWLOC_DISTANCES_KIND_FROM_OS | HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0);
    ASSERT(h != NULL);
    ASSERT_EQ(hwloc_distances_add_values(t, h, n, objs, v, 0), 0);
    ASSERT_EQ(hwloc_distances_add_commit(t, h, 0), 0);
    ASSERT_EQ(hwloc_topology_refresh(t), 0);
}

/* Two packages, one node each, nothing but the structure: every attribute
 * policy falls back to the cpuset's local node. */
static void test_structure_only(void) {
    hwloc_topology_t t = synthetic_("pack:2 [numa(memory=64GB)] core:2 pu:1");
    ums_placement_decision d;

    DECIDE(t, &d, UMS_PLACE_LOCAL, 0);
    CHECK_NODES(&d, 0);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_FIRST_TOUCH);
    ASSERT_EQ(d.fallback, 0);
    ASSERT_CONTAINS(d.reason, "first touch");

    DECIDE(t, &d, UMS_PLACE_LOCAL, 2, 3);
    CHECK_NODES(&d, 1);

    DECIDE(t, &d, UMS_PLACE_LOCAL, 1, 2);
    CHECK_NODES(&d, 0, 1);
    ASSERT_CONTAINS(d.reason, "cpuset 1-2");

    /* Not this machine: the default cpuset is the whole synthetic machine. */
    DECIDE_DEFAULT(t, &d, UMS_PLACE_LOCAL);
    CHECK_NODES(&d, 0, 1);
    ASSERT_CONTAINS(d.reason, "cpuset 0-3");

    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 2);
    CHECK_NODES(&d, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_FIRST_TOUCH);
    ASSERT_EQ(d.fallback, 1);
    ASSERT_CONTAINS(d.reason, "no Bandwidth attribute");
    ASSERT_CONTAINS(d.reason, "no NUMA distances");

    DECIDE(t, &d, UMS_PLACE_LOWEST_LATENCY, 0, 1);
    CHECK_NODES(&d, 0);
    ASSERT_EQ(d.fallback, 1);
    ASSERT_CONTAINS(d.reason, "no Latency attribute");

    /* Spanning both packages: the lowest of the local nodes, and the reason says so. */
    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 1, 2);
    CHECK_NODES(&d, 0);
    ASSERT_CONTAINS(d.reason, "lowest of 0-1");

    /* Equal capacities: the tie goes to the node local to the cpuset. */
    DECIDE(t, &d, UMS_PLACE_LARGEST_CAPACITY, 3);
    CHECK_NODES(&d, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_CAPACITY);
    ASSERT_EQ(d.value, 64000000000ull);
    ASSERT_CONTAINS(d.reason, "tie broken by locality");
    DECIDE(t, &d, UMS_PLACE_LARGEST_CAPACITY, 0);
    CHECK_NODES(&d, 0);

    hwloc_topology_destroy(t);
}

/* The distance fallback, then memory attributes winning over distance. */
static void test_distance_then_attributes(void) {
    hwloc_topology_t t = synthetic_("pack:2 [numa(memory=64GB)] core:2 pu:1");
    ums_placement_decision d;
    static const uint64_t dist[] = {10, 21, 21, 10};
    set_distances(t, 2, dist);

    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 2, 3);
    CHECK_NODES(&d, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_DISTANCE);
    ASSERT_EQ(d.fallback, 1);
    ASSERT_EQ(d.value, 10);
    ASSERT_CONTAINS(d.reason, "no Bandwidth attribute for cpuset 2-3; fell back to NUMA distance 10");

    /* Both packages: equal mean distance, lowest index. */
    DECIDE(t, &d, UMS_PLACE_LOWEST_LATENCY, 0, 3);
    CHECK_NODES(&d, 0);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_DISTANCE);
    ASSERT_CONTAINS(d.reason, "mean from local nodes 0-1");

    /* Attributes that contradict locality: the attribute decides. */
    set_attr(t, HWLOC_MEMATTR_ID_BANDWIDTH, 0, "2-3", 80000);
    set_attr(t, HWLOC_MEMATTR_ID_BANDWIDTH, 1, "2-3", 60000);
    set_attr(t, HWLOC_MEMATTR_ID_BANDWIDTH, 0, "0-1", 90000);
    set_attr(t, HWLOC_MEMATTR_ID_BANDWIDTH, 1, "0-1", 30000);
    ASSERT_EQ(hwloc_topology_refresh(t), 0);

    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 2, 3);
    CHECK_NODES(&d, 0);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_BANDWIDTH);
    ASSERT_EQ(d.fallback, 0);
    ASSERT_EQ(d.value, 80000);
    ASSERT_CONTAINS(d.reason, "node 0: highest Bandwidth (80000 MiB/s) from initiator cpuset 2-3");

    /* A cpuset inside a reported initiator gets that initiator's values. */
    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 3);
    CHECK_NODES(&d, 0);
    ASSERT_EQ(d.value, 80000);

    /* Spanning both initiators: the worst case over them (node 0: min 80000/90000). */
    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 0, 1, 2, 3);
    CHECK_NODES(&d, 0);
    ASSERT_EQ(d.value, 80000);
    ASSERT_CONTAINS(d.reason, "worst-case Bandwidth");
    ASSERT_CONTAINS(d.reason, "2 locality groups");

    /* No latency attribute yet: still the distance fallback. */
    DECIDE(t, &d, UMS_PLACE_LOWEST_LATENCY, 2);
    CHECK_NODES(&d, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_DISTANCE);

    /* Equal bandwidth from package 1: distance breaks the tie toward node 1. */
    set_attr(t, HWLOC_MEMATTR_ID_BANDWIDTH, 1, "2-3", 80000);
    ASSERT_EQ(hwloc_topology_refresh(t), 0);
    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 2, 3);
    CHECK_NODES(&d, 1);
    ASSERT_CONTAINS(d.reason, "tie broken by NUMA distance");

    hwloc_topology_destroy(t);
}

/* Memory-only nodes: an HBM-like node per package, a big far node for the
 * machine. Attributes say HBM has the bandwidth, DDR the latency, the far node
 * the capacity. */
static void test_memory_tiers(void) {
    /* Nodes: 0 DDR and 1 HBM on package 0, 2 DDR and 3 HBM on package 1, 4 far. */
    hwloc_topology_t t = synthetic_("[numa(memory=512GB)] pack:2 [numa(memory=64GB)] [numa(memory=16GB)] core:2 pu:1");
    ums_placement_decision d;
    static const struct {
        unsigned node;
        const char *from;
        uint64_t bw, lat;
    } attrs[] = {
        {0, "0-1", 100000, 90},  {1, "0-1", 400000, 110}, {2, "0-1", 50000, 150}, {3, "0-1", 40000, 210},
        {4, "0-1", 20000, 400},  {0, "2-3", 50000, 150},  {1, "2-3", 40000, 210}, {2, "2-3", 100000, 90},
        {3, "2-3", 400000, 110}, {4, "2-3", 20000, 400},
    };
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        set_attr(t, HWLOC_MEMATTR_ID_BANDWIDTH, attrs[i].node, attrs[i].from, attrs[i].bw);
        set_attr(t, HWLOC_MEMATTR_ID_LATENCY, attrs[i].node, attrs[i].from, attrs[i].lat);
    }
    ASSERT_EQ(hwloc_topology_refresh(t), 0);

    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 0, 1);
    CHECK_NODES(&d, 1);
    ASSERT_EQ(d.value, 400000);
    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 2);
    CHECK_NODES(&d, 3);
    DECIDE(t, &d, UMS_PLACE_LOWEST_LATENCY, 0);
    CHECK_NODES(&d, 0);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_LATENCY);
    ASSERT_EQ(d.value, 90);
    ASSERT_CONTAINS(d.reason, "lowest Latency (90 ns)");
    DECIDE(t, &d, UMS_PLACE_LOWEST_LATENCY, 2, 3);
    CHECK_NODES(&d, 2);

    /* Whole machine: HBM's worst case is 40000, DDR's 50000: DDR 0 (tie with 2, lowest index). */
    DECIDE(t, &d, UMS_PLACE_HIGHEST_BANDWIDTH, 0, 1, 2, 3);
    CHECK_NODES(&d, 0);
    ASSERT_EQ(d.value, 50000);
    ASSERT_CONTAINS(d.reason, "worst-case");

    DECIDE(t, &d, UMS_PLACE_LARGEST_CAPACITY, 0);
    CHECK_NODES(&d, 4);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_CAPACITY);
    ASSERT_EQ(d.value, 512000000000ull);
    ASSERT_CONTAINS(d.reason, "largest capacity");

    /* First touch lands on DDR, never on the memory-only nodes. */
    DECIDE(t, &d, UMS_PLACE_LOCAL, 0, 1);
    CHECK_NODES(&d, 0);
    DECIDE(t, &d, UMS_PLACE_LOCAL, 1, 3);
    CHECK_NODES(&d, 0, 2);

    hwloc_topology_destroy(t);
}

/* NEAR_DEVICE without I/O objects (synthetic topologies have none): the
 * device's reported node, else every node; both are fallbacks. */
static void test_near_device_without_pci(void) {
    hwloc_topology_t t = synthetic_("pack:2 [numa] core:2 pu:1");
    ums_placement_decision d;
    ums_placement p;
    ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE);

    p.pci_bus_id = "0000:03:00.0";
    ASSERT_OK(ums__placement_decide(t, &p, NULL, 1, &d));
    CHECK_NODES(&d, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_DEVICE_HINT);
    ASSERT_EQ(d.fallback, 1);
    ASSERT_CONTAINS(d.reason, "PCI device 0000:03:00.0 is not in the topology");

    ASSERT_OK(ums__placement_decide(t, &p, NULL, -1, &d));
    CHECK_NODES(&d, 0, 1);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_NONE);
    ASSERT_EQ(d.fallback, 1);
    ASSERT_CONTAINS(d.reason, "no nearest node is known");

    /* A hint that is not a node of this topology is not trusted. */
    ASSERT_OK(ums__placement_decide(t, &p, NULL, 7, &d));
    CHECK_NODES(&d, 0, 1);
    ASSERT_CONTAINS(d.reason, "reported node 7");

    /* A runtime device with neither PCI address nor hint. */
    p.pci_bus_id = NULL;
    p.device = 3;
    ASSERT_OK(ums__placement_decide(t, &p, "", -1, &d));
    CHECK_NODES(&d, 0, 1);
    ASSERT_CONTAINS(d.reason, "no PCI address");
    ASSERT_OK(ums__placement_decide(t, &p, NULL, 0, &d));
    CHECK_NODES(&d, 0);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_DEVICE_HINT);

    /* The address the core resolved is used when the request has none. */
    ASSERT_OK(ums__placement_decide(t, &p, "0000:81:00.0", 1, &d));
    ASSERT_CONTAINS(d.reason, "0000:81:00.0");
    /* ... and the request's own address wins over it. */
    p.pci_bus_id = "0000:05:00.0";
    ASSERT_OK(ums__placement_decide(t, &p, "0000:81:00.0", 1, &d));
    ASSERT_CONTAINS(d.reason, "0000:05:00.0");

    ASSERT_EQ(ums__placement_pci_nearest_node(t, "0000:03:00.0", &(unsigned){0}), 0);
    hwloc_topology_destroy(t);
}

static void test_bind_interleave(void) {
    hwloc_topology_t t = synthetic_("pack:4 [numa] core:1 pu:1");
    ums_placement_decision d;
    ums_placement p;
    static const unsigned set[] = {3, 1, 3};

    ums_placement_init(&p, UMS_PLACE_BIND);
    p.nodes = set;
    p.node_count = 3;
    ASSERT_OK(ums__placement_decide(t, &p, NULL, -1, &d));
    CHECK_NODES(&d, 1, 3);
    CHECK_BASIS(&d, UMS_PLACE_BASIS_EXPLICIT);
    ASSERT_EQ(d.policy, UMS_PLACE_BIND);
    ASSERT_CONTAINS(d.reason, "nodes 1,3: bound as requested");

    p.policy = UMS_PLACE_INTERLEAVE;
    p.node_count = 1;
    ASSERT_OK(ums__placement_decide(t, &p, NULL, -1, &d));
    CHECK_NODES(&d, 3);
    ASSERT_CONTAINS(d.reason, "node 3: interleaved as requested");
    hwloc_topology_destroy(t);
}

/* More nodes than a decision holds: an explicit error, not a silent cut. */
static void test_too_many_nodes(void) {
    hwloc_topology_t t = synthetic_("pack:80 [numa] pu:1");
    ums_placement_decision d;
    ums_placement p;
    ums_placement_init(&p, UMS_PLACE_LOCAL);
    ASSERT_RESULT(UMS_ERR_BUFFER_TOO_SMALL, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_EQ(d.node_count, 0);
    ASSERT_CONTAINS(d.reason, "80 nodes");
    static const unsigned cpus[] = {70, 79};
    p.cpus = cpus;
    p.cpu_count = 2;
    ASSERT_OK(ums__placement_decide(t, &p, NULL, -1, &d));
    CHECK_NODES(&d, 70, 79);
    hwloc_topology_destroy(t);
}

int main(void) {
    test_structure_only();
    test_distance_then_attributes();
    test_memory_tiers();
    test_near_device_without_pci();
    test_bind_interleave();
    test_too_many_nodes();
    printf("placement synthetic: ok\n");
    return 0;
}
