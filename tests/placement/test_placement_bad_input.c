/* Bad input at every placement function: a specific result code and a reason,
 * never a crash. Usage: test_placement_bad_input FIXTURE_DIR */
#include <errno.h>
#include <limits.h>

#include "placement_test_util.h"

static char good_xml[4096];
static char fixture_dir[4096];

/* A decision that failed: no nodes and a reason that mentions `what`. */
#define ASSERT_FAILED(d, what)              \
    do {                                    \
        ASSERT_EQ((d)->node_count, 0);      \
        ASSERT_CONTAINS((d)->reason, what); \
    } while (0)

static void test_names(void) {
    ASSERT_STR_EQ(ums_placement_policy_name(UMS_PLACE_LOCAL), "local");
    ASSERT_STR_EQ(ums_placement_policy_name(UMS_PLACE_NEAR_DEVICE), "near-device");
    ASSERT_STR_EQ(ums_placement_policy_name(UMS_PLACE_LARGEST_CAPACITY), "largest-capacity");
    ASSERT_STR_EQ(ums_placement_policy_name((ums_placement_policy)7), "unknown");
    ASSERT_STR_EQ(ums_placement_policy_name((ums_placement_policy)-1), "unknown");
    ASSERT_STR_EQ(ums_placement_basis_name(UMS_PLACE_BASIS_PCI_LOCALITY), "pci-locality");
    ASSERT_STR_EQ(ums_placement_basis_name(UMS_PLACE_BASIS_FIRST_TOUCH), "first-touch");
    ASSERT_STR_EQ(ums_placement_basis_name((ums_placement_basis)9), "unknown");
    ASSERT_STR_EQ(ums_placement_basis_name((ums_placement_basis)-3), "unknown");

    /* Every name parses back to its policy. */
    for (int i = 0; i <= (int)UMS_PLACE_LARGEST_CAPACITY; i++) {
        ums_placement_policy p = (ums_placement_policy)99;
        ASSERT_OK(ums_placement_policy_parse(ums_placement_policy_name((ums_placement_policy)i), &p));
        ASSERT_EQ(p, i);
    }
    ums_placement_policy p = UMS_PLACE_LOCAL;
    ASSERT_OK(ums_placement_policy_parse("Highest_Bandwidth", &p));
    ASSERT_EQ(p, UMS_PLACE_HIGHEST_BANDWIDTH);
    ASSERT_OK(ums_placement_policy_parse("NEAR-DEVICE", &p));
    ASSERT_EQ(p, UMS_PLACE_NEAR_DEVICE);

    p = UMS_PLACE_BIND;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_policy_parse("", &p));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_policy_parse("fastest", &p));
    ASSERT_CONTAINS(ums_last_error()->message, "unknown placement policy \"fastest\"");
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_policy_parse("local ", &p));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_policy_parse("loca", &p));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_policy_parse("locall", &p));
    ASSERT_EQ(p, UMS_PLACE_BIND); /* untouched on failure */
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums_placement_policy_parse(NULL, &p));
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums_placement_policy_parse("local", NULL));
}

static void test_init(void) {
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums_placement_init(NULL, UMS_PLACE_LOCAL));
    ASSERT_STR_EQ(ums_last_error()->function, "ums_placement_init");
    ums_placement p;
    memset(&p, 0xa5, sizeof p);
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_INTERLEAVE));
    ASSERT_EQ(p.struct_size, sizeof p);
    ASSERT_EQ(p.policy, UMS_PLACE_INTERLEAVE);
    ASSERT_EQ(p.device, UMS_LOCATION_NONE);
    ASSERT(p.pci_bus_id == NULL && p.nodes == NULL && p.cpus == NULL);
    ASSERT_EQ(p.node_count, 0);
    ASSERT_EQ(p.cpu_count, 0);
    ASSERT_EQ(p.flags, 0);
}

static void test_pci_bus_id(void) {
    unsigned d = 1, b = 1, v = 1, f = 1;
    ASSERT_EQ(ums__pci_bus_id_parse("0000:03:00.0", &d, &b, &v, &f), 0);
    ASSERT(d == 0 && b == 3 && v == 0 && f == 0);
    ASSERT_EQ(ums__pci_bus_id_parse("10000:E1:1f.7", &d, &b, &v, &f), 0);
    ASSERT(d == 0x10000 && b == 0xe1 && v == 0x1f && f == 7);
    ASSERT_EQ(ums__pci_bus_id_parse("81:00.1", &d, &b, &v, &f), 0);
    ASSERT(d == 0 && b == 0x81 && v == 0 && f == 1);

    static const char *const bad[] = {
        "",
        ":",
        "0000:03:00",
        "0000:03:00.",
        "0000:03:00.8",
        "0000:03:20.0",
        "0000:103:00.0",
        "0000:03:00.0 ",
        " 0000:03:00.0",
        "0000:03:00.0x",
        "000g:03:00.0",
        "123456789:03:00.0",
        "100:00.0",
        "0000-03-00.0",
        "0000:03:00:0",
        "0000:03:00.00",
        "+1:00.0",
        "0000:03:000.0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ums__pci_bus_id_parse(bad[i], &d, &b, &v, &f) != -1) FAIL_("\"%s\" parsed as a PCI address", bad[i]);
    }
    ASSERT_EQ(ums__pci_bus_id_parse(NULL, &d, &b, &v, &f), -1);
    ASSERT_EQ(ums__pci_bus_id_parse("0000:03:00.0", NULL, &b, &v, &f), -1);
    ASSERT_EQ(ums__pci_bus_id_parse("0000:03:00.0", &d, NULL, &v, &f), -1);
    ASSERT_EQ(ums__pci_bus_id_parse("0000:03:00.0", &d, &b, NULL, &f), -1);
    ASSERT_EQ(ums__pci_bus_id_parse("0000:03:00.0", &d, &b, &v, NULL), -1);

    char buf[16];
    ASSERT_EQ(ums__pci_bus_id_format(buf, sizeof buf, 0, 0xc1, 3, 1), 0);
    ASSERT_STR_EQ(buf, "0000:c1:03.1");
    ASSERT_EQ(ums__pci_bus_id_format(buf, 12, 0, 0xc1, 3, 1), -1);
    ASSERT_STR_EQ(buf, "");
    ASSERT_EQ(ums__pci_bus_id_format(NULL, 16, 0, 0, 0, 0), -1);
    ASSERT_EQ(ums__pci_bus_id_format(buf, 0, 0, 0, 0, 0), -1);
    ASSERT(ums__placement_find_pcidev(NULL, "0000:03:00.0") == NULL);
}

static void test_decide_internal(void) {
    hwloc_topology_t t = synthetic_("pack:2 [numa] core:2 pu:1");
    ums_placement p;
    ums_placement_decision d;
    static const unsigned one_node[] = {1}, bad_node[] = {0, 7}, huge_node[] = {UINT_MAX};
    static const unsigned bad_cpu[] = {1, 99}, huge_cpu[] = {UINT_MAX};

    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__placement_decide(t, &p, NULL, -1, NULL));
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__placement_decide(t, NULL, NULL, -1, &d));
    ASSERT_FAILED(&d, "request is NULL");
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_LOCAL));
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__placement_decide(NULL, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "topology");

    p.struct_size = 0;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "struct_size");
    p.struct_size = sizeof p - 1;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));

    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_LOCAL));
    p.flags = 4;
    ASSERT_RESULT(UMS_ERR_UNKNOWN_FLAG, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "flags");

    ASSERT_OK(ums_placement_init(&p, (ums_placement_policy)7));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "unknown placement policy 7");
    ASSERT_OK(ums_placement_init(&p, (ums_placement_policy)-1));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));

    /* Node sets. */
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_BIND));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "non-empty node set");
    p.policy = UMS_PLACE_INTERLEAVE;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    p.node_count = 2;
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "nodes is NULL");
    p.nodes = bad_node;
    ASSERT_RESULT(UMS_ERR_UNKNOWN_LOCATION, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "NUMA node 7 (nodes[1])");
    p.nodes = huge_node;
    p.node_count = 1;
    ASSERT_RESULT(UMS_ERR_UNKNOWN_LOCATION, ums__placement_decide(t, &p, NULL, -1, &d));
    p.nodes = one_node;
    p.node_count = (size_t)UMS_PLACEMENT_MAX_INPUT + 1;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    /* A bad node set is an error even for a policy that does not use it. */
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_LOCAL));
    p.nodes = bad_node;
    p.node_count = 2;
    ASSERT_RESULT(UMS_ERR_UNKNOWN_LOCATION, ums__placement_decide(t, &p, NULL, -1, &d));

    /* Cpusets. */
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_HIGHEST_BANDWIDTH));
    p.cpu_count = 1;
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "cpus is NULL");
    p.cpus = bad_cpu;
    p.cpu_count = 2;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "CPU 99 (cpus[1])");
    p.cpus = huge_cpu;
    p.cpu_count = 1;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    p.cpu_count = (size_t)UMS_PLACEMENT_MAX_INPUT + 1;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    p.policy = UMS_PLACE_BIND;
    p.nodes = one_node;
    p.node_count = 1;
    p.cpus = bad_cpu;
    p.cpu_count = 2;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));

    /* Devices. */
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "needs a device or a PCI address");
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, "", -1, &d));
    p.pci_bus_id = "";
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    p.pci_bus_id = "gpu0";
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));
    ASSERT_FAILED(&d, "malformed PCI address \"gpu0\"");
    p.pci_bus_id = "0000:03:00.0";
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, "03:00", 0, &d));
    ASSERT_FAILED(&d, "malformed device PCI address");
    /* A malformed address is an error even when the policy ignores it. */
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_LOCAL));
    p.pci_bus_id = "0000:03:00.9";
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__placement_decide(t, &p, NULL, -1, &d));

    unsigned node = 5;
    ASSERT_EQ(ums__placement_pci_nearest_node(NULL, "0000:03:00.0", &node), -1);
    ASSERT_EQ(ums__placement_pci_nearest_node(t, NULL, &node), -1);
    ASSERT_EQ(ums__placement_pci_nearest_node(t, "", &node), -1);
    ASSERT_EQ(ums__placement_pci_nearest_node(t, "0000:03:00.0", NULL), -1);
    ASSERT_EQ(ums__placement_pci_nearest_node(t, "nonsense", &node), -1);
    ASSERT_EQ(node, 5);

    hwloc_topology_destroy(t);
}

static void test_loaders(void) {
    hwloc_topology_t t = (hwloc_topology_t)&t;
    int err = 0;
    char path[4200];
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__topology_load_system(NULL));
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__topology_load_xml(good_xml, NULL, &err));
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__topology_load_xml(NULL, &t, &err));
    ASSERT(t == NULL);
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__topology_load_xml("", &t, &err));
    ASSERT_RESULT(UMS_ERR_SYSTEM, ums__topology_load_xml("/nonexistent/topology.xml", &t, &err));
    ASSERT_EQ(err, ENOENT);
    ASSERT_RESULT(UMS_ERR_SYSTEM, ums__topology_load_xml(fixture_dir, &t, &err));
    ASSERT_EQ(err, EISDIR);
    snprintf(path, sizeof path, "%s/truncated.xml", fixture_dir);
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__topology_load_xml(path, &t, &err));
    ASSERT(t == NULL);
    snprintf(path, sizeof path, "%s/not-xml.xml", fixture_dir);
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__topology_load_xml(path, &t, NULL));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums__topology_load_xml("/dev/null", &t, NULL));
}

/* A public call that failed: it recorded `what` in the last-error record and
 * left the decision as it was. */
#define ASSERT_REJECTED(d, what)                                               \
    do {                                                                       \
        ASSERT_EQ((d)->node_count, 77);                                        \
        ASSERT_STR_EQ((d)->reason, "untouched");                               \
        ASSERT_CONTAINS(ums_last_error()->message, what);                      \
        ASSERT_STR_EQ(ums_last_error()->function, "ums_placement_decide_xml"); \
    } while (0)

static void test_decide_xml(void) {
    ums_placement p;
    ums_placement_decision d;
    char path[4200];
    memset(&d, 0, sizeof d);
    d.node_count = 77;
    snprintf(d.reason, sizeof d.reason, "untouched");
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_LOCAL));

    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums_placement_decide_xml(good_xml, &p, NULL));
    ASSERT_CONTAINS(ums_last_error()->message, "out is NULL");
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums_placement_decide_xml(NULL, &p, &d));
    ASSERT_REJECTED(&d, "xml_path is NULL");
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums_placement_decide_xml(good_xml, NULL, &d));
    ASSERT_REJECTED(&d, "request is NULL");
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_decide_xml("", &p, &d));
    ASSERT_REJECTED(&d, "not an hwloc XML topology");
    ASSERT_RESULT(UMS_ERR_SYSTEM, ums_placement_decide_xml("/nonexistent/topology.xml", &p, &d));
    ASSERT_REJECTED(&d, "No such file");
    ASSERT_EQ(ums_last_error()->native, ENOENT);
    snprintf(path, sizeof path, "%s/truncated.xml", fixture_dir);
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_decide_xml(path, &p, &d));
    ASSERT_REJECTED(&d, "not an hwloc XML topology");

    /* The request is validated against the file's topology. */
    static const unsigned cpu9[] = {9};
    p.cpus = cpu9;
    p.cpu_count = 1;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_decide_xml(good_xml, &p, &d));
    ASSERT_REJECTED(&d, "CPU 9");
    p.struct_size = 3;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_decide_xml(good_xml, &p, &d));
    ASSERT_REJECTED(&d, "struct_size 3");

    /* Near-device needs an address: there is no runtime to resolve `device`. */
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE));
    p.device = 0;
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_decide_xml(good_xml, &p, &d));
    ASSERT_REJECTED(&d, "needs pci_bus_id");
    p.pci_bus_id = "3:0.0.0";
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_placement_decide_xml(good_xml, &p, &d));
    ASSERT_REJECTED(&d, "malformed");

    /* A success after failures writes the decision. */
    p.pci_bus_id = "0000:81:00.0";
    ASSERT_OK(ums_placement_decide_xml(good_xml, &p, &d));
    ASSERT_EQ(d.node_count, 1);
    ASSERT_EQ(d.nodes[0], 1);
}

int main(int argc, char **argv) {
    if (argc < 2) FAIL_("usage: %s FIXTURE_DIR", argv[0]);
    snprintf(fixture_dir, sizeof fixture_dir, "%s", argv[1]);
    snprintf(good_xml, sizeof good_xml, "%s/two-gpus.xml", argv[1]);
    test_names();
    test_init();
    test_pci_bus_id();
    test_decide_internal();
    test_loaders();
    test_decide_xml();
    printf("placement bad input: ok\n");
    return 0;
}
