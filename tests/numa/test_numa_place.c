/* Placement on a real multi-node kernel (the tests/vm guest: 2 or 4 CPU nodes,
 * optionally a memory-only node, HMAT bandwidth/latency).
 *
 * For each fault mode (userfaultfd, signal) and each policy, from a given CPU:
 *  A. ums_alloc_placed, then touch every page: each block's pages are on the
 *     intended node (move_pages(nodes=NULL), and get_mempolicy(MPOL_F_NODE) for
 *     the first page), the block's policy is the documented one
 *     (get_mempolicy(MPOL_F_ADDR)) and ums_query reports it as the block's home;
 *  B. existing data first touched on another node, then ums_place: the touched
 *     blocks move there with their contents; blocks never touched before are
 *     touched afterwards and land by the range's policy (in uffd mode the first
 *     touch maps zero pages and the write's copy-on-write allocates by the VMA
 *     policy: this checks it);
 * and HIGHEST_BANDWIDTH / LOWEST_LATENCY decide from the HMAT values the guest
 * was given (UMS_VM_HMAT), not from a fallback. NEAR_DEVICE is checked for
 * every PCI device hwloc reports, against the device's sysfs numa_node; with a
 * virtio-gpu (vm.sh --gpu --gpu-node N) libdrm discovery must find it near node N
 * and data placed near it must land there. --devices-only skips the policy cases.
 * Skips (77) outside the guest. */
#include <hwloc.h>

#include "numa_util.h"

#define NBLOCKS 6

static size_t g_bs;
static int g_nodes, g_cpu_nodes, g_cpn, g_memonly = -1;
static nu_hmat g_hmat[NU_MAX_NODES];

static unsigned cpu_of(unsigned node) { return node * (unsigned)g_cpn; }

/* The node with the best HMAT value seen from `initiator`'s CPUs: Linux
 * exposes only each target's local initiator, so the candidates are the
 * initiator's own node and a memory-only node attached to it. */
static unsigned hmat_best(unsigned initiator, int latency) {
    unsigned best = initiator;
    if (g_memonly >= 0 && initiator == (unsigned)nu_env_int("UMS_VM_MEMONLY_INITIATOR", 0)) {
        const nu_hmat *a = &g_hmat[initiator], *m = &g_hmat[g_memonly];
        if (latency ? m->latency < a->latency : m->bandwidth > a->bandwidth) best = (unsigned)g_memonly;
    }
    return best;
}

typedef struct pcase {
    char name[64];
    ums_placement_policy policy;
    unsigned req[8];
    size_t nreq;
    unsigned from;         /* node whose first CPU asks */
    unsigned src;          /* node where existing data is first touched (B) */
    unsigned placed[NBLOCKS];   /* A: node of each block */
    unsigned existing[NBLOCKS]; /* B: node of each touched block after ums_place */
    unsigned later_mask;        /* B: nodes allowed for blocks touched after ums_place */
    int mode;                   /* expected policy mode; PREFERRED per block for interleave */
    unsigned long mask;         /* expected node mask (interleave: per block, computed) */
    ums_placement_basis basis;  /* expected basis, or -1 */
} pcase;

static ums_placement request(const pcase *c) {
    ums_placement p;
    ASSERT_OK(ums_placement_init(&p, c->policy));
    p.nodes = c->nreq ? c->req : NULL;
    p.node_count = c->nreq;
    return p;
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < n; i += ps) memset(p + i, (int)((seed + i / ps) & 0xff), 64);
}
static void check(const unsigned char *p, size_t n, unsigned seed, const char *what) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < n; i += ps)
        for (size_t k = 0; k < 64; k++)
            if (p[i + k] != ((seed + i / ps) & 0xff)) FAIL_("%s: byte %zu changed", what, i + k);
}

static void expect_block(ums_runtime_t *rt, const char *what, unsigned char *blk, unsigned node) {
    nu_expect_all_on(what, blk, g_bs, node);
    int via_policy = nu_page_node(blk);
    if (via_policy != (int)node) FAIL_("%s: get_mempolicy(MPOL_F_NODE) says node %d, expected %u", what, via_policy, node);
    ums_block_info info;
    size_t count;
    ASSERT_OK(ums_query(blk, 1, &info, 1, &count));
    if (info.state != UMS_BLOCK_HOST || info.home != nu_node_loc(rt, node))
        FAIL_("%s: ums_query says %s at location %u, expected host at node%u", what, ums_block_state_name(info.state),
              info.home, node);
}

static void expect_block_policy(const pcase *c, const char *what, unsigned char *blk, unsigned k) {
    unsigned long mask = c->mask;
    if (c->policy == UMS_PLACE_INTERLEAVE) mask = 1ul << c->placed[k];
    nu_expect_policy(what, blk, c->mode, mask);
}

static void run_case(ums_runtime_t *rt, const pcase *c) {
    const char *mode = ums_fault_mode_name(ums_runtime_fault_mode(rt));
    char what[160];
    ums_placement p = request(c);
    ums_placement_decision d;
    size_t n = NBLOCKS * g_bs;

    /* A. placed allocation, touched from the asking CPU */
    nu_pin(cpu_of(c->from));
    unsigned char *a = NULL;
    ASSERT_OK(ums_alloc_placed(rt, n, 0, &p, &d, (void **)&a));
    printf("  [%s] %s from CPU %u: nodes", mode, c->name, cpu_of(c->from));
    for (unsigned i = 0; i < d.node_count; i++) printf(" %u", d.nodes[i]);
    printf(" (%s%s) %s\n", ums_placement_basis_name(d.basis), d.fallback ? ", fallback" : "", d.reason);
    if ((int)c->basis >= 0 && d.basis != c->basis)
        FAIL_("%s: basis %s, expected %s", c->name, ums_placement_basis_name(d.basis), ums_placement_basis_name(c->basis));
    fill(a, n, 11);
    for (unsigned k = 0; k < NBLOCKS; k++) {
        snprintf(what, sizeof what, "[%.16s] %.60s placed block %u", mode, c->name, k);
        expect_block(rt, what, a + k * g_bs, c->placed[k]);
        expect_block_policy(c, what, a + k * g_bs, k);
    }
    check(a, n, 11, c->name);
    ASSERT_OK(ums_free(a));

    /* B. existing data: blocks 0..3 first touched on `src`, 4..5 never */
    unsigned char *b = NULL;
    ASSERT_OK(ums_runtime_alloc(rt, n, 0, (void **)&b));
    nu_pin(cpu_of(c->src));
    fill(b, 4 * g_bs, 23);
    snprintf(what, sizeof what, "[%.16s] %.60s first touch", mode, c->name);
    nu_expect_all_on(what, b, 4 * g_bs, c->src);
    nu_pin(cpu_of(c->from));
    ums_counters before, after;
    ASSERT_OK(ums_counters_get(rt, &before));
    ASSERT_OK(ums_place(b, n, &p, &d));
    ASSERT_OK(ums_counters_get(rt, &after));
    check(b, 4 * g_bs, 23, c->name);
    unsigned moved = 0;
    for (unsigned k = 0; k < 4; k++) {
        snprintf(what, sizeof what, "[%.16s] %.60s existing block %u", mode, c->name, k);
        expect_block(rt, what, b + k * g_bs, c->existing[k]);
        expect_block_policy(c, what, b + k * g_bs, k);
        moved += c->existing[k] != c->src;
    }
    if (after.migrations - before.migrations != moved)
        FAIL_("[%s] %s: %llu blocks migrated, expected %u", mode, c->name,
              (unsigned long long)(after.migrations - before.migrations), moved);
    /* blocks never touched: their first touch now follows the range's policy */
    for (unsigned k = 4; k < NBLOCKS; k++) {
        unsigned char *blk = b + k * g_bs;
        for (size_t i = 0; i < g_bs; i += 4096) ASSERT_EQ(blk[i], 0);
        memset(blk, 0x5a, g_bs);
        unsigned counts[NU_MAX_NODES], absent;
        nu_page_nodes(blk, g_bs, counts, &absent);
        unsigned on = 0;
        for (unsigned node = 0; node < NU_MAX_NODES; node++)
            if (c->later_mask & (1u << node)) on += counts[node];
        if (on != g_bs / 4096 || absent)
            FAIL_("[%s] %s: block %u touched after ums_place: %u of %zu pages on nodes %#x (absent %u)", mode,
                  c->name, k, on, g_bs / 4096, c->later_mask, absent);
        if (c->policy == UMS_PLACE_INTERLEAVE) {
            snprintf(what, sizeof what, "[%.16s] %.60s later block %u", mode, c->name, k);
            nu_expect_all_on(what, blk, g_bs, c->placed[k]);
        }
    }
    ASSERT_OK(ums_free(b));
}

/* NEAR_DEVICE for every PCI device hwloc knows: the node its sysfs numa_node
 * names when it has one, else the CPU nodes (machine-wide locality). */
static void near_device_checks(ums_runtime_t *rt) {
    hwloc_topology_t t;
    ASSERT_EQ(hwloc_topology_init(&t), 0);
    ASSERT_EQ(hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT), 0);
    ASSERT_EQ(hwloc_topology_load(t), 0);
    hwloc_obj_t dev = NULL;
    unsigned ndev = 0;
    while ((dev = hwloc_get_next_pcidev(t, dev)) != NULL) {
        char id[16], path[96], buf[16] = "";
        snprintf(id, sizeof id, "%04x:%02x:%02x.%x", dev->attr->pcidev.domain, dev->attr->pcidev.bus,
                 dev->attr->pcidev.dev, dev->attr->pcidev.func);
        snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/numa_node", id);
        FILE *f = fopen(path, "r");
        int sysnode = -1;
        if (f) {
            if (fgets(buf, sizeof buf, f)) sysnode = atoi(buf);
            fclose(f);
        }
        ums_placement p;
        ASSERT_OK(ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE));
        p.pci_bus_id = id;
        ums_placement_decision d;
        ASSERT_OK(ums_placement_decide(rt, &p, &d));
        printf("  near-device %s (sysfs numa_node %d): %s\n", id, sysnode, d.reason);
        ASSERT_EQ(d.basis, UMS_PLACE_BASIS_PCI_LOCALITY);
        unsigned expect = d.nodes[0];
        if (sysnode >= 0) {
            ASSERT_EQ(d.node_count, 1);
            ASSERT_EQ(d.nodes[0], sysnode);
        } else {
            /* machine-wide locality: several nodes, the asking thread's (node 0) among them */
            ASSERT_GE(d.node_count, 1);
            for (unsigned i = 0; i < d.node_count; i++)
                if (d.nodes[i] == 0) expect = 0;
        }
        /* data placed near it lands on the decision's node nearest this thread */
        nu_pin(cpu_of(0));
        unsigned char *m;
        ASSERT_OK(ums_alloc_placed(rt, g_bs, 0, &p, &d, (void **)&m));
        memset(m, 1, g_bs);
        nu_expect_all_on("near-device allocation", m, g_bs, expect);
        ASSERT_OK(ums_free(m));
        ndev++;
    }
    printf("  near-device: %u PCI device(s) checked\n", ndev);
    hwloc_topology_destroy(t);
}

/* With a virtio-gpu in the guest (vm.sh --gpu [--gpu-node N]): libdrm
 * discovery finds it, hwloc knows its PCI object, its nearest node is N, and
 * NEAR_DEVICE on its PCI address places data there. */
static void drm_checks(ums_runtime_t *rt) {
    int gpu_node = nu_env_int("UMS_VM_GPU_NODE", -1);
    ums_drm_device_info devs[8];
    size_t count = 0;
    ASSERT_OK(ums_drm_devices(devs, 8, &count));
    printf("  drm: %zu device(s)\n", count);
    size_t i;
    for (i = 0; i < count && strcmp(devs[i].driver, "virtio_gpu") != 0; i++) {
    }
    if (i == count) FAIL_("no virtio_gpu DRM device among %zu", count);
    const ums_drm_device_info *d = &devs[i];
    printf("  drm: %s %04x:%04x driver %s %s %s nearest node %d hwloc %d\n", d->pci_bus_id, d->vendor_id, d->device_id,
           d->driver, d->primary_node, d->render_node, d->numa_node, d->hwloc_matched);
    ASSERT_STR_EQ(d->bus, "pci");
    ASSERT_EQ(d->vendor_id, 0x1af4);
    ASSERT_EQ(d->hwloc_matched, 1);
    ASSERT(d->render_node[0] != '\0');
    if (gpu_node < 0) return;
    ASSERT_EQ(d->numa_node, gpu_node);
    ums_placement p;
    ASSERT_OK(ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE));
    p.pci_bus_id = d->pci_bus_id;
    ums_placement_decision dec;
    nu_pin(cpu_of(0));
    unsigned char *m;
    ASSERT_OK(ums_alloc_placed(rt, g_bs, 0, &p, &dec, (void **)&m));
    printf("  near-device %s: %s\n", d->pci_bus_id, dec.reason);
    ASSERT_EQ(dec.node_count, 1);
    ASSERT_EQ(dec.nodes[0], gpu_node);
    ASSERT_EQ(dec.basis, UMS_PLACE_BASIS_PCI_LOCALITY);
    memset(m, 2, g_bs);
    nu_expect_all_on("allocation near the GPU", m, g_bs, (unsigned)gpu_node);
    /* and existing data moves there */
    unsigned char *e;
    ASSERT_OK(ums_runtime_alloc(rt, 2 * g_bs, 0, (void **)&e));
    memset(e, 3, 2 * g_bs);
    ASSERT_OK(ums_place(e, 2 * g_bs, &p, NULL));
    nu_expect_all_on("data placed near the GPU", e, 2 * g_bs, (unsigned)gpu_node);
    for (size_t k = 0; k < 2 * g_bs; k += 4096) ASSERT_EQ(e[k], 3);
    ASSERT_OK(ums_free(e));
    ASSERT_OK(ums_free(m));
}

/* LARGEST_CAPACITY: the node hwloc reports the most memory for. */
static unsigned largest_node(void) {
    hwloc_topology_t t;
    ASSERT_EQ(hwloc_topology_init(&t), 0);
    ASSERT_EQ(hwloc_topology_load(t), 0);
    hwloc_obj_t o = NULL, best = NULL;
    while ((o = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, o)) != NULL)
        if (!best || o->attr->numanode.local_memory > best->attr->numanode.local_memory) best = o;
    unsigned r = best->os_index;
    uint64_t cap = best->attr->numanode.local_memory;
    /* ties: the engine breaks them by distance from the asking CPUs; only a clear winner is asserted */
    unsigned ties = 0;
    while ((o = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, o)) != NULL) ties += o->attr->numanode.local_memory == cap;
    hwloc_topology_destroy(t);
    return ties == 1 ? r : UINT32_MAX;
}

static void set_all(unsigned *v, unsigned node) {
    for (unsigned k = 0; k < NBLOCKS; k++) v[k] = node;
}

int main(int argc, char **argv) {
    bool devices_only = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--devices-only")) {
            devices_only = true;
        } else {
            fprintf(stderr, "usage: numa_place [--devices-only]\n");
            return 2;
        }
    }
    g_nodes = nu_require_guest();
    g_cpu_nodes = nu_env_int("UMS_VM_CPU_NODES", g_nodes);
    g_cpn = nu_env_int("UMS_VM_CPUS_PER_NODE", 1);
    if (getenv("UMS_VM_MEMONLY_NODE")) g_memonly = nu_env_int("UMS_VM_MEMONLY_NODE", -1);
    if (nu_hmat_parse(g_hmat) != 0) FAIL_("UMS_VM_HMAT is missing or malformed");
    unsigned big = largest_node();

    pcase cases[16];
    size_t nc = 0;
    pcase *c;
#define NEW(nm, pol, fromnode)                  \
    c = &cases[nc++];                           \
    memset(c, 0, sizeof *c);                    \
    snprintf(c->name, sizeof c->name, "%s", nm); \
    c->policy = (pol);                          \
    c->from = (fromnode);                       \
    c->basis = (ums_placement_basis)-1
#define SINGLE(node, m)                                          \
    do {                                                         \
        set_all(c->placed, node);                                \
        set_all(c->existing, node);                              \
        c->later_mask = 1u << (node);                            \
        c->mode = (m);                                           \
        c->mask = 1ul << (node);                                 \
        c->src = (node) == 0 ? 1u : 0u;                          \
    } while (0)

    unsigned last = (unsigned)g_cpu_nodes - 1;
    NEW("local", UMS_PLACE_LOCAL, 0);
    SINGLE(0, NU_MPOL_LOCAL);
    c->basis = UMS_PLACE_BASIS_FIRST_TOUCH;
    NEW("local", UMS_PLACE_LOCAL, last);
    SINGLE(last, NU_MPOL_LOCAL);
    NEW("bind one", UMS_PLACE_BIND, 0);
    c->req[c->nreq++] = last;
    SINGLE(last, NU_MPOL_BIND);
    c->basis = UMS_PLACE_BASIS_EXPLICIT;
    if (g_cpu_nodes >= 4) {
        /* from node 0, not in the set: data goes to the lowest (1); the kernel's
         * own choice for later touches is the nearest in the set: 1 (21) before 3 (31) */
        NEW("bind {1,3}", UMS_PLACE_BIND, 0);
        c->req[c->nreq++] = 1;
        c->req[c->nreq++] = 3;
        SINGLE(1, NU_MPOL_BIND);
        c->mask = (1ul << 1) | (1ul << 3);
        c->later_mask = (1u << 1) | (1u << 3);
        c->src = 2; /* outside the set: moves to 1 */
    }
    /* from node 1, in the set {0,1}: new data there; data already on 0 stays */
    NEW("bind {0,1}", UMS_PLACE_BIND, 1);
    c->req[c->nreq++] = 0;
    c->req[c->nreq++] = 1;
    SINGLE(1, NU_MPOL_BIND);
    c->mask = 3;
    c->later_mask = 2; /* touched from node 1, which is in the set */
    c->src = 0;
    set_all(c->existing, 0);
    NEW("interleave all", UMS_PLACE_INTERLEAVE, 0);
    for (unsigned i = 0; i < (unsigned)g_nodes; i++) c->req[c->nreq++] = i;
    for (unsigned k = 0; k < NBLOCKS; k++) c->placed[k] = c->existing[k] = k % (unsigned)g_nodes;
    c->mode = NU_MPOL_PREFERRED;
    c->later_mask = (1u << g_nodes) - 1;
    c->src = last;
    for (unsigned from = 0; from <= last; from++) {
        unsigned bw = hmat_best(from, 0), lat = hmat_best(from, 1);
        NEW("highest-bandwidth", UMS_PLACE_HIGHEST_BANDWIDTH, from);
        SINGLE(bw, NU_MPOL_PREFERRED);
        c->basis = UMS_PLACE_BASIS_BANDWIDTH;
        NEW("lowest-latency", UMS_PLACE_LOWEST_LATENCY, from);
        SINGLE(lat, NU_MPOL_PREFERRED);
        c->basis = UMS_PLACE_BASIS_LATENCY;
        if (from == 0) printf("expected from node 0's CPUs: bandwidth -> node %u, latency -> node %u\n", bw, lat);
    }
    if (big != UINT32_MAX) {
        NEW("largest-capacity", UMS_PLACE_LARGEST_CAPACITY, 0);
        SINGLE(big, NU_MPOL_PREFERRED);
        c->basis = UMS_PLACE_BASIS_CAPACITY;
    }

    static const ums_fault_mode modes[] = {UMS_FAULT_UFFD, UMS_FAULT_SIGNAL};
    for (size_t m = 0; m < 2; m++) {
        ums_runtime_t *rt = nu_runtime(modes[m], UMS_PROTOCOL_READABLE);
        g_bs = ums_runtime_block_size(rt);
        ums_runtime_features f;
        ASSERT_OK(ums_runtime_features_get(rt, &f));
        printf("%s mode: %d NUMA nodes, uffd_move %d (%s)\n", ums_fault_mode_name(modes[m]), f.numa_nodes,
               f.uffd_move, f.fault_mode_reason);
        ASSERT_EQ(f.numa_nodes, g_nodes);
        if (modes[m] == UMS_FAULT_UFFD && !nu_kernel_at_least(6, 8)) ASSERT_EQ(f.uffd_move, 0);
        if (!devices_only)
            for (size_t i = 0; i < nc; i++) run_case(rt, &cases[i]);
        near_device_checks(rt);
        if (nu_env_int("UMS_VM_GPU", 0)) drm_checks(rt);
        ASSERT_OK(ums_runtime_destroy(rt));
    }
    printf("numa place: %zu cases x 2 fault modes on %d nodes: ok\n", devices_only ? 0 : nc, g_nodes);
    return 0;
}
