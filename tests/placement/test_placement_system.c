/* Placement on this machine's own topology: the default cpuset is the calling
 * thread's binding, and every policy gives a node of this machine. */
#include <sched.h>

#include "placement_test_util.h"

static int node_in_topology(hwloc_topology_t t, unsigned node) {
    return hwloc_get_numanode_obj_by_os_index(t, node) != NULL;
}

int main(void) {
    hwloc_topology_t t = NULL;
    ASSERT_OK(ums__topology_load_system(&t));
    ASSERT(t != NULL);
    ASSERT(hwloc_topology_is_thissystem(t));
    ums_placement_decision d;

    static const ums_placement_policy policies[] = {UMS_PLACE_LOCAL, UMS_PLACE_HIGHEST_BANDWIDTH,
                                                    UMS_PLACE_LOWEST_LATENCY, UMS_PLACE_LARGEST_CAPACITY};
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        DECIDE_DEFAULT(t, &d, policies[i]);
        ASSERT_GE(d.node_count, 1);
        for (unsigned k = 0; k < d.node_count; k++) ASSERT(node_in_topology(t, d.nodes[k]));
        ASSERT(d.reason[0] != '\0');
    }

    /* Bind this thread to its first allowed CPU: the default cpuset follows. */
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    ASSERT(set != NULL);
    ASSERT_EQ(hwloc_get_cpubind(t, set, HWLOC_CPUBIND_THREAD), 0);
    int cpu = hwloc_bitmap_first(set);
    ASSERT_GE(cpu, 0);
    cpu_set_t mask;
    CPU_ZERO(&mask);
    CPU_SET(cpu, &mask);
    if (sched_setaffinity(0, sizeof mask, &mask) == 0) {
        char expect[32];
        snprintf(expect, sizeof expect, "cpuset %d ", cpu);
        DECIDE_DEFAULT(t, &d, UMS_PLACE_LOCAL);
        ASSERT_EQ(d.node_count, 1);
        ASSERT_CONTAINS(d.reason, expect);
        hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(t, (unsigned)cpu);
        ASSERT(pu != NULL);
        ASSERT(hwloc_bitmap_isset(pu->nodeset, d.nodes[0]));
    }
    hwloc_bitmap_free(set);

    /* Every important PCI device of this machine has a locality. */
    hwloc_obj_t dev = NULL;
    while ((dev = hwloc_get_next_pcidev(t, dev)) != NULL) {
        char id[32];
        ASSERT_EQ(ums__pci_bus_id_format(id, sizeof id, dev->attr->pcidev.domain, dev->attr->pcidev.bus,
                                         dev->attr->pcidev.dev, dev->attr->pcidev.func),
                  0);
        ums_placement p;
        ASSERT_OK(ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE));
        p.pci_bus_id = id;
        ASSERT_OK(ums__placement_decide(t, &p, NULL, -1, &d));
        ASSERT_GE(d.node_count, 1);
        ASSERT_EQ(d.fallback, 0);
        ASSERT(ums__placement_find_pcidev(t, id) == dev);
    }
    hwloc_topology_destroy(t);
    printf("placement system: ok\n");
    return 0;
}
