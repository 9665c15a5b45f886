/* umshim-info: what umshim sees on this machine (or in an hwloc XML topology).
 *
 *   umshim-info [--json] [--cpus LIST]
 *   umshim-info [--json] [--cpus LIST] --topology FILE.xml
 *   umshim-info --help
 *
 * Without --topology: the runtime (configured from the UMS_* environment) with
 * its fault mode and the kernel features it detected, its locations (host
 * nodes with CPUs, capacity and HMAT bandwidth/latency where known; devices
 * with backend, PCI address, driver and nearest node), the DRM devices matched
 * to them, the placement each policy would choose, and the counters.
 * With --topology: the file's NUMA nodes and PCI devices and the placement each
 * policy would choose there (near-device for every PCI device in it).
 * Exit status: 0, 1 when the runtime cannot start, 2 on bad usage or a
 * topology file that cannot be read. */
#include <errno.h>
#include <hwloc.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <umshim.h>

static const char usage_text[] =
    "usage: umshim-info [--json] [--cpus LIST] [--topology FILE.xml]\n"
    "       umshim-info --help\n"
    "\n"
    "Show what umshim sees: the runtime's fault mode and the kernel features it\n"
    "detected (userfaultfd write-protect, UFFDIO_MOVE), its locations (host NUMA\n"
    "nodes with CPUs, capacity, bandwidth and latency where the platform reports\n"
    "them; devices with backend, driver, PCI address and nearest node), the DRM\n"
    "devices, the placement each policy would choose, and the counters.\n"
    "\n"
    "  --json           one JSON object instead of text\n"
    "  --cpus LIST      decide placements for these CPUs (\"0-3,8\"); default: the\n"
    "                   calling thread's CPUs, or every CPU of a --topology file\n"
    "  --topology FILE  read an hwloc XML topology (lstopo FILE.xml) instead of this\n"
    "                   machine's, and print the placement each policy chooses there\n"
    "  --help           this text\n"
    "\n"
    "The runtime is configured from the UMS_* environment variables (see README.md).\n"
    "Exit status: 0; 1 when the runtime cannot start; 2 on bad usage or an unreadable\n"
    "topology file.\n";

/* ------------------------------------------------------------------------ */
/* Output: text, or JSON built with a small emitter                          */

static bool g_json;
static int g_depth;
static bool g_first[32];

static void j_sep(void) {
    if (!g_first[g_depth]) putchar(',');
    g_first[g_depth] = false;
}

static void j_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void j_key(const char *key) {
    j_sep();
    if (key) {
        j_string(key);
        putchar(':');
    }
}

static void j_open(const char *key, char c) {
    j_key(key);
    putchar(c);
    g_first[++g_depth] = true;
}
static void j_close(char c) {
    putchar(c);
    g_depth--;
}
static void j_str(const char *key, const char *v) {
    j_key(key);
    j_string(v);
}
static void j_u64(const char *key, uint64_t v) {
    j_key(key);
    printf("%" PRIu64, v);
}
static void j_int(const char *key, long long v) {
    j_key(key);
    printf("%lld", v);
}
static void j_bool(const char *key, bool v) {
    j_key(key);
    fputs(v ? "true" : "false", stdout);
}
static void j_null(const char *key) {
    j_key(key);
    fputs("null", stdout);
}

/* "1.5 GiB", "512 MiB" */
static const char *size_str(char *buf, size_t n, uint64_t bytes) {
    if (bytes == 0) snprintf(buf, n, "-");
    else if (bytes >= (1ull << 30)) snprintf(buf, n, "%.1f GiB", (double)bytes / (1ull << 30));
    else if (bytes >= (1ull << 20)) snprintf(buf, n, "%.0f MiB", (double)bytes / (1ull << 20));
    else snprintf(buf, n, "%" PRIu64 " B", bytes);
    return buf;
}

static int fail_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("umshim-info: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(umshim-info --help for usage)\n", stderr);
    va_end(ap);
    return 2;
}

/* ------------------------------------------------------------------------ */
/* Decisions                                                                 */

typedef struct req_cpus {
    unsigned *cpus;
    size_t count;
    char text[64];
} req_cpus;

static void print_decision(const char *label, const char *pci, ums_result r, const ums_placement_decision *d) {
    if (g_json) {
        j_open(NULL, '{');
        j_str("policy", label);
        if (pci) j_str("pci_bus_id", pci);
        if (r != UMS_OK) {
            j_str("error", ums_result_name(r));
            j_str("reason", ums_last_error()->message);
        } else {
            j_open("nodes", '[');
            for (unsigned i = 0; i < d->node_count; i++) j_u64(NULL, d->nodes[i]);
            j_close(']');
            j_str("basis", ums_placement_basis_name(d->basis));
            j_bool("fallback", d->fallback != 0);
            j_u64("value", d->value);
            j_str("reason", d->reason);
        }
        j_close('}');
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "%s%s%s", label, pci ? " " : "", pci ? pci : "");
    if (r != UMS_OK) {
        printf("  %-32s error %s: %s\n", name, ums_result_name(r), ums_last_error()->message);
        return;
    }
    char nodes[96], basis[48];
    size_t len = (size_t)snprintf(nodes, sizeof nodes, "node%s ", d->node_count > 1 ? "s" : "");
    for (unsigned i = 0; i < d->node_count && len + 8 < sizeof nodes; i++)
        len += (size_t)snprintf(nodes + len, sizeof nodes - len, "%s%u", i ? "," : "", d->nodes[i]);
    snprintf(basis, sizeof basis, "%s%s", ums_placement_basis_name(d->basis), d->fallback ? ", fallback" : "");
    printf("  %-30s %-12s %-23s %s\n", name, nodes, basis, d->reason);
}

/* The policies worth showing, with every node of `nodes` for BIND/INTERLEAVE. */
static void decide_all(ums_runtime_t *rt, const char *xml, const req_cpus *rc, const unsigned *nodes, size_t nnodes,
                       char pci_ids[][32], size_t npci) {
    static const ums_placement_policy pols[] = {UMS_PLACE_LOCAL,
                                                UMS_PLACE_HIGHEST_BANDWIDTH,
                                                UMS_PLACE_LOWEST_LATENCY,
                                                UMS_PLACE_LARGEST_CAPACITY,
                                                UMS_PLACE_INTERLEAVE,
                                                UMS_PLACE_BIND};
    if (g_json) {
        j_str("placement_cpus", rc->text);
        j_open("placement", '[');
    } else {
        printf("\nplacement for CPUs %s:\n", rc->text);
    }
    for (size_t i = 0; i < sizeof pols / sizeof pols[0]; i++) {
        ums_placement p;
        ums_placement_init(&p, pols[i]);
        p.cpus = rc->cpus;
        p.cpu_count = rc->count;
        if (pols[i] == UMS_PLACE_INTERLEAVE || pols[i] == UMS_PLACE_BIND) {
            p.nodes = nodes;
            p.node_count = nnodes;
        }
        ums_placement_decision d;
        ums_result r = xml ? ums_placement_decide_xml(xml, &p, &d) : ums_placement_decide(rt, &p, &d);
        print_decision(ums_placement_policy_name(pols[i]), NULL, r, &d);
    }
    for (size_t i = 0; i < npci; i++) {
        ums_placement p;
        ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE);
        p.pci_bus_id = pci_ids[i];
        ums_placement_decision d;
        ums_result r = xml ? ums_placement_decide_xml(xml, &p, &d) : ums_placement_decide(rt, &p, &d);
        print_decision("near-device", pci_ids[i], r, &d);
    }
    if (g_json) j_close(']');
}

/* ------------------------------------------------------------------------ */
/* NUMA nodes of an hwloc topology                                           */

static void node_attrs(hwloc_topology_t t, hwloc_obj_t node, uint64_t *bw, uint64_t *lat) {
    *bw = *lat = 0;
    if (!node->cpuset || hwloc_bitmap_iszero(node->cpuset)) return;
    struct hwloc_location init = {.type = HWLOC_LOCATION_TYPE_CPUSET, .location.cpuset = node->cpuset};
    hwloc_uint64_t v;
    if (hwloc_memattr_get_value(t, HWLOC_MEMATTR_ID_BANDWIDTH, node, &init, 0, &v) == 0) *bw = v;
    if (hwloc_memattr_get_value(t, HWLOC_MEMATTR_ID_LATENCY, node, &init, 0, &v) == 0) *lat = v;
}

/* The CPUs a node is local to (hwloc gives a memory-only node the CPUs of
 * where it attaches; node_has_own_cpus() tells them apart on this machine). */
static void node_cpus(hwloc_obj_t node, char *buf, size_t n, bool *memory_only) {
    *memory_only = false;
    if (!node->cpuset || hwloc_bitmap_iszero(node->cpuset)) {
        snprintf(buf, n, "none");
        *memory_only = true;
        return;
    }
    hwloc_bitmap_list_snprintf(buf, n, node->cpuset);
}

static bool node_has_own_cpus(unsigned os_index) {
    char path[96], buf[256] = "";
    snprintf(path, sizeof path, "/sys/devices/system/node/node%u/cpulist", os_index);
    FILE *f = fopen(path, "r");
    if (!f) return true; /* unknown: assume it has */
    bool has = fgets(buf, sizeof buf, f) && buf[0] >= '0' && buf[0] <= '9';
    fclose(f);
    return has;
}

static void print_topology_nodes(hwloc_topology_t t, bool this_machine) {
    if (g_json) j_open("nodes", '[');
    else printf("\nNUMA nodes:\n");
    hwloc_obj_t node = NULL;
    while ((node = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, node)) != NULL) {
        char cpus[64], cap[32];
        bool memonly;
        node_cpus(node, cpus, sizeof cpus, &memonly);
        if (this_machine && !node_has_own_cpus(node->os_index)) memonly = true;
        uint64_t bw, lat;
        node_attrs(t, node, &bw, &lat);
        uint64_t mem = node->attr ? node->attr->numanode.local_memory : 0;
        if (g_json) {
            j_open(NULL, '{');
            j_u64("node", node->os_index);
            j_str("cpus", cpus);
            j_bool("memory_only", memonly);
            j_u64("capacity", mem);
            j_str("subtype", node->subtype ? node->subtype : "");
            if (bw) j_u64("bandwidth_mibps", bw);
            else j_null("bandwidth_mibps");
            if (lat) j_u64("latency_ns", lat);
            else j_null("latency_ns");
            j_close('}');
        } else {
            char bws[32] = "-", lats[32] = "-";
            if (bw) snprintf(bws, sizeof bws, "%" PRIu64 " MiB/s", bw);
            if (lat) snprintf(lats, sizeof lats, "%" PRIu64 " ns", lat);
            printf("  node %-3u cpus %-12s%s capacity %-9s %-9s bandwidth %-13s latency %s\n", node->os_index, cpus,
                   memonly ? " (memory-only)" : "", size_str(cap, sizeof cap, mem),
                   node->subtype ? node->subtype : "", bws, lats);
        }
    }
    if (g_json) j_close(']');
    else printf("  (bandwidth and latency: hwloc memory attributes from the node's local CPUs; - when not reported)\n");
}

/* PCI devices of a topology, as canonical addresses. */
static size_t pci_devices(hwloc_topology_t t, char ids[][32], size_t cap, hwloc_obj_t *objs) {
    size_t n = 0;
    hwloc_obj_t dev = NULL;
    while ((dev = hwloc_get_next_pcidev(t, dev)) != NULL && n < cap) {
        snprintf(ids[n], 32, "%04x:%02x:%02x.%x", dev->attr->pcidev.domain & 0xffffu, dev->attr->pcidev.bus,
                 dev->attr->pcidev.dev, dev->attr->pcidev.func);
        if (objs) objs[n] = dev;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* --topology                                                                */

static int show_xml(const char *path, req_cpus *rc) {
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0) return fail_usage("out of memory");
    hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_ALL);
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        hwloc_topology_destroy(t);
        return fail_usage("--topology %s: %s", path, strerror(e));
    }
    fclose(f);
    if (hwloc_topology_set_xml(t, path) != 0 || hwloc_topology_load(t) != 0) {
        hwloc_topology_destroy(t);
        return fail_usage("--topology %s: not an hwloc XML topology", path);
    }
    /* node sets for BIND/INTERLEAVE: every node */
    unsigned nodes[256];
    size_t nn = 0;
    hwloc_obj_t o = NULL;
    while ((o = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, o)) != NULL && nn < 256) nodes[nn++] = o->os_index;
    char ids[64][32];
    hwloc_obj_t objs[64];
    size_t npci = pci_devices(t, ids, 64, objs);
    /* validate --cpus against the file */
    for (size_t i = 0; i < rc->count; i++)
        if (!hwloc_bitmap_isset(hwloc_topology_get_topology_cpuset(t), rc->cpus[i])) {
            hwloc_topology_destroy(t);
            return fail_usage("--cpus: CPU %u is not in %s", rc->cpus[i], path);
        }
    if (!rc->count) {
        hwloc_bitmap_list_snprintf(rc->text, sizeof rc->text, hwloc_topology_get_topology_cpuset(t));
        strncat(rc->text, " (all)", sizeof rc->text - strlen(rc->text) - 1);
    }
    const char *desc = hwloc_obj_get_info_by_name(hwloc_get_root_obj(t), "FixtureDescription");
    if (g_json) {
        j_open(NULL, '{');
        j_str("topology", path);
        j_str("version", ums_version());
    } else {
        printf("topology %s: %zu NUMA node(s), %zu PCI device(s)\n", path, nn, npci);
        if (desc) printf("  %s\n", desc);
    }
    print_topology_nodes(t, false);
    if (g_json) j_open("pci_devices", '[');
    else if (npci) printf("\nPCI devices:\n");
    for (size_t i = 0; i < npci; i++) {
        hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(t, objs[i]);
        char where[48] = "?";
        if (anc) snprintf(where, sizeof where, "%s L#%u", hwloc_obj_type_string(anc->type), anc->logical_index);
        if (g_json) {
            j_open(NULL, '{');
            j_str("pci_bus_id", ids[i]);
            j_int("class_id", objs[i]->attr->pcidev.class_id);
            j_int("vendor_id", objs[i]->attr->pcidev.vendor_id);
            j_int("device_id", objs[i]->attr->pcidev.device_id);
            j_str("name", objs[i]->name ? objs[i]->name : "");
            j_str("attached_to", where);
            j_close('}');
        } else {
            printf("  %s  class %04x  %04x:%04x  attached to %-12s %s\n", ids[i], objs[i]->attr->pcidev.class_id,
                   objs[i]->attr->pcidev.vendor_id, objs[i]->attr->pcidev.device_id, where,
                   objs[i]->name ? objs[i]->name : "");
        }
    }
    if (g_json) j_close(']');
    hwloc_topology_destroy(t);
    decide_all(NULL, path, rc, nodes, nn, ids, npci);
    if (g_json) {
        j_close('}');
        putchar('\n');
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* This machine                                                              */

static const char *yes(int v) { return v ? "yes" : "no"; }

static int show_machine(req_cpus *rc) {
    ums_runtime_t *rt;
    ums_result r = ums_default_runtime(&rt);
    if (r != UMS_OK) {
        fprintf(stderr, "umshim-info: the runtime cannot start: %s (%s)\n", ums_last_error()->message,
                ums_result_name(r));
        return 1;
    }
    ums_runtime_features f;
    ums_runtime_features_get(rt, &f);
    hwloc_topology_t t = NULL;
    if (hwloc_topology_init(&t) != 0 || hwloc_topology_load(t) != 0) {
        if (t) hwloc_topology_destroy(t);
        t = NULL;
    }
    if (t)
        for (size_t i = 0; i < rc->count; i++)
            if (!hwloc_bitmap_isset(hwloc_topology_get_topology_cpuset(t), rc->cpus[i])) {
                hwloc_topology_destroy(t);
                ums_shutdown();
                return fail_usage("--cpus: CPU %u is not on this machine", rc->cpus[i]);
            }
    if (!rc->count) snprintf(rc->text, sizeof rc->text, "of the calling thread");

    /* DRM devices */
    size_t ndrm = 0;
    ums_drm_device_info drm[16];
    ums_result drm_r = ums_drm_devices(drm, 16, &ndrm);
    char drm_err[256] = "";
    if (drm_r == UMS_ERR_BUFFER_TOO_SMALL) drm_r = UMS_OK;
    if (drm_r != UMS_OK) snprintf(drm_err, sizeof drm_err, "%s", ums_last_error()->message);
    if (ndrm > 16) ndrm = 16;

    uint32_t nloc = 0;
    ums_location_count(rt, &nloc);
    char bsz[32];
    if (g_json) {
        j_open(NULL, '{');
        j_str("version", ums_version());
        j_open("runtime", '{');
        j_str("fault_mode", ums_fault_mode_name(ums_runtime_fault_mode(rt)));
        j_str("fault_mode_reason", f.fault_mode_reason);
        j_str("protocol", ums_protocol_name(ums_runtime_protocol(rt)));
        j_u64("block_size", ums_runtime_block_size(rt));
        j_close('}');
        j_open("kernel_features", '{');
        j_bool("userfaultfd", f.uffd);
        j_bool("uffd_wp", f.uffd_wp);
        j_bool("uffd_move", f.uffd_move);
        j_bool("hole_free_replace", f.hole_free_replace);
        j_bool("huge_pages", f.huge_pages);
        j_bool("read_only_move", f.read_only_move);
        j_int("numa_nodes", f.numa_nodes);
        j_close('}');
    } else {
        printf("umshim %s\n", ums_version());
        printf("fault mode: %s (%s); protocol %s; block %s\n", ums_fault_mode_name(ums_runtime_fault_mode(rt)),
               f.fault_mode_reason, ums_protocol_name(ums_runtime_protocol(rt)),
               size_str(bsz, sizeof bsz, ums_runtime_block_size(rt)));
        printf("kernel features: userfaultfd %s, write-protect %s, UFFDIO_MOVE %s; %d NUMA node%s\n", yes(f.uffd),
               yes(f.uffd_wp), yes(f.uffd_move), f.numa_nodes, f.numa_nodes == 1 ? "" : "s");
        printf("commits: hole-free host-to-host %s, huge-page blocks %s, read-only installs without a copy %s\n",
               yes(f.hole_free_replace), yes(f.huge_pages), yes(f.read_only_move));
    }

    /* locations */
    unsigned host_nodes[64];
    size_t nhost = 0;
    char dev_pci[64][32];
    size_t ndevpci = 0;
    if (g_json) j_open("locations", '[');
    else printf("\nlocations (%u):\n", nloc);
    for (uint32_t id = 0; id < nloc; id++) {
        ums_location_info li;
        if (ums_location_get(rt, id, &li) != UMS_OK) continue;
        bool host = li.kind == UMS_LOCATION_HOST_NODE;
        char cpus[64] = "", cap[32], extra[160] = "";
        bool memonly = false;
        hwloc_obj_t node = host && t && li.numa_node >= 0 ? hwloc_get_numanode_obj_by_os_index(t, (unsigned)li.numa_node)
                                                          : NULL;
        if (node) {
            node_cpus(node, cpus, sizeof cpus, &memonly);
            if (!node_has_own_cpus(node->os_index)) memonly = true;
        }
        if (host && li.numa_node >= 0 && nhost < 64) host_nodes[nhost++] = (unsigned)li.numa_node;
        /* devices: nearest node and DRM match */
        ums_placement_decision near;
        ums_result near_r = UMS_ERR_NOT_SUPPORTED;
        const ums_drm_device_info *match = NULL;
        if (!host) {
            ums_placement p;
            ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE);
            p.device = id;
            near_r = ums_placement_decide(rt, &p, &near);
            if (li.pci_bus_id && li.pci_bus_id[0]) {
                for (size_t k = 0; k < ndrm; k++)
                    if (strcasecmp(drm[k].pci_bus_id, li.pci_bus_id) == 0) match = &drm[k];
                if (ndevpci < 64) snprintf(dev_pci[ndevpci++], 32, "%s", li.pci_bus_id);
            }
        }
        if (g_json) {
            j_open(NULL, '{');
            j_u64("id", id);
            j_str("name", li.name);
            j_str("kind", host ? "host-node" : "device");
            j_str("backend", li.backend);
            j_u64("capacity", li.capacity);
            if (li.bandwidth_mbps) j_u64("bandwidth_mbps", li.bandwidth_mbps);
            else j_null("bandwidth_mbps");
            if (li.latency_ns) j_u64("latency_ns", li.latency_ns);
            else j_null("latency_ns");
            j_int("numa_node", li.numa_node);
            if (host) {
                j_str("cpus", cpus);
                j_bool("memory_only", memonly);
            } else {
                j_str("pci_bus_id", li.pci_bus_id ? li.pci_bus_id : "");
                j_str("driver", match ? match->driver : "");
                if (near_r == UMS_OK) {
                    j_open("nearest_nodes", '[');
                    for (unsigned k = 0; k < near.node_count; k++) j_u64(NULL, near.nodes[k]);
                    j_close(']');
                    j_str("nearest_basis", ums_placement_basis_name(near.basis));
                    j_str("nearest_reason", near.reason);
                } else {
                    j_null("nearest_nodes");
                }
            }
            j_bool("host_access", (li.flags & UMS_LOCATION_FLAG_HOST_ACCESS) != 0);
            j_bool("capacity_configured", (li.flags & UMS_LOCATION_FLAG_CONFIGURED) != 0);
            j_close('}');
            continue;
        }
        char bws[32] = "-", lats[32] = "-";
        if (li.bandwidth_mbps) snprintf(bws, sizeof bws, "%" PRIu64 " MB/s", li.bandwidth_mbps);
        if (li.latency_ns) snprintf(lats, sizeof lats, "%" PRIu64 " ns", li.latency_ns);
        if (host) {
            snprintf(extra, sizeof extra, "cpus %s%s", cpus[0] ? cpus : "?", memonly ? " (memory-only)" : "");
        } else {
            char nn[48] = "unknown";
            if (near_r == UMS_OK) {
                size_t len = 0;
                for (unsigned k = 0; k < near.node_count && len + 6 < sizeof nn; k++)
                    len += (size_t)snprintf(nn + len, sizeof nn - len, "%s%u", k ? "," : "", near.nodes[k]);
                snprintf(nn + len, sizeof nn - len, " (%s)", ums_placement_basis_name(near.basis));
            }
            snprintf(extra, sizeof extra, "pci %s, driver %s, nearest node %s",
                     li.pci_bus_id && li.pci_bus_id[0] ? li.pci_bus_id : "-", match && match->driver[0] ? match->driver : "-",
                     nn);
        }
        printf("  %-3u %-22s %-9s %-7s capacity %-9s bandwidth %-11s latency %-8s %s\n", id, li.name,
               host ? "host-node" : "device", li.backend, size_str(cap, sizeof cap, li.capacity), bws, lats, extra);
    }
    if (g_json) j_close(']');

    /* DRM devices and the OpenCL locations at the same PCI address */
    if (g_json) {
        j_open("drm_devices", '[');
    } else {
        printf("\nDRM devices (%zu)%s%s\n", ndrm, drm_err[0] ? ": " : (ndrm ? ":" : ""),
               drm_err[0] ? drm_err : (ndrm ? "" : ": none"));
    }
    for (size_t k = 0; k < ndrm; k++) {
        const ums_drm_device_info *d = &drm[k];
        char locs[128] = "";
        size_t len = 0;
        for (uint32_t id = 0; id < nloc && d->pci_bus_id[0]; id++) {
            ums_location_info li;
            if (ums_location_get(rt, id, &li) == UMS_OK && li.pci_bus_id && strcasecmp(li.pci_bus_id, d->pci_bus_id) == 0 &&
                len + 24 < sizeof locs)
                len += (size_t)snprintf(locs + len, sizeof locs - len, "%s%s", len ? "," : "", li.name);
        }
        if (g_json) {
            j_open(NULL, '{');
            j_str("bus", d->bus);
            j_str("pci_bus_id", d->pci_bus_id);
            j_int("vendor_id", d->vendor_id);
            j_int("device_id", d->device_id);
            j_str("primary_node", d->primary_node);
            j_str("render_node", d->render_node);
            j_str("driver", d->driver);
            j_u64("vram_total", d->vram_total);
            j_u64("vram_visible", d->vram_visible);
            j_u64("gtt_total", d->gtt_total);
            j_int("numa_node", d->numa_node);
            j_bool("hwloc_matched", d->hwloc_matched != 0);
            j_str("locations", locs);
            j_close('}');
        } else {
            char vram[32];
            printf("  %-4s %-13s %04x:%04x driver %-10s %s %s vram %s nearest node %d%s%s%s\n", d->bus,
                   d->pci_bus_id[0] ? d->pci_bus_id : "-", d->vendor_id, d->device_id, d->driver[0] ? d->driver : "?",
                   d->primary_node[0] ? d->primary_node : "-", d->render_node[0] ? d->render_node : "-",
                   size_str(vram, sizeof vram, d->vram_total), d->numa_node, d->hwloc_matched ? " (hwloc)" : "",
                   locs[0] ? ", location " : "", locs);
        }
    }
    if (g_json) {
        j_close(']');
        if (drm_err[0]) j_str("drm_error", drm_err);
    }

    /* placement */
    char pci_ids[64][32];
    size_t npci = 0;
    for (size_t k = 0; k < ndevpci; k++) memcpy(pci_ids[npci++], dev_pci[k], 32);
    for (size_t k = 0; k < ndrm && npci < 64; k++) {
        bool dup = !drm[k].pci_bus_id[0];
        for (size_t m = 0; m < npci && !dup; m++) dup = strcasecmp(pci_ids[m], drm[k].pci_bus_id) == 0;
        if (!dup) snprintf(pci_ids[npci++], 32, "%s", drm[k].pci_bus_id);
    }
    decide_all(rt, NULL, rc, host_nodes, nhost, pci_ids, npci);

    /* counters */
    ums_counters c;
    ums_counters_get(rt, &c);
    static const struct {
        const char *name;
        size_t off;
    } ctr[] = {
#define C_(f) {#f, offsetof(ums_counters, f)}
        C_(faults),          C_(read_faults),         C_(write_faults),          C_(first_touch_faults),
        C_(fetches),         C_(invalidations),       C_(migrations),            C_(migrations_aborted),
        C_(bytes_host_to_host), C_(bytes_host_to_device), C_(bytes_device_to_host), C_(bytes_device_to_device),
        C_(reader_waits),    C_(writer_waits),        C_(reader_wait_ns),        C_(writer_wait_ns),
        C_(prefetches),
#undef C_
    };
    if (g_json) j_open("counters", '{');
    else printf("\ncounters (this process):");
    for (size_t i = 0; i < sizeof ctr / sizeof ctr[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&c + ctr[i].off, sizeof v);
        if (g_json) j_u64(ctr[i].name, v);
        else printf("%s %s %" PRIu64, i % 4 ? "," : "\n ", ctr[i].name, v);
    }
    if (g_json) {
        j_close('}');
        j_close('}');
    }
    putchar('\n');
    if (t) hwloc_topology_destroy(t);
    ums_shutdown();
    return 0;
}

int main(int argc, char **argv) {
    const char *xml = NULL;
    const char *cpus_arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            g_json = true;
        } else if (!strcmp(a, "--topology") || !strcmp(a, "--cpus")) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') return fail_usage("%s needs a value", a);
            if (a[2] == 't') xml = argv[++i];
            else cpus_arg = argv[++i];
        } else if (!strncmp(a, "--topology=", 11)) {
            xml = a + 11;
        } else if (!strncmp(a, "--cpus=", 7)) {
            cpus_arg = a + 7;
        } else {
            return fail_usage("unknown argument '%s'", a);
        }
    }
    if (xml && !xml[0]) return fail_usage("--topology needs a file");
    req_cpus rc = {0};
    hwloc_bitmap_t set = NULL;
    if (cpus_arg) {
        set = hwloc_bitmap_alloc();
        int w = -1;
        if (!set || hwloc_bitmap_list_sscanf(set, cpus_arg) != 0 || (w = hwloc_bitmap_weight(set)) <= 0 ||
            w > 4096) {
            hwloc_bitmap_free(set);
            return fail_usage("--cpus '%s': expected a list of CPU numbers such as 0-3,8", cpus_arg);
        }
        rc.cpus = calloc((size_t)w, sizeof *rc.cpus);
        if (!rc.cpus) {
            hwloc_bitmap_free(set);
            return fail_usage("out of memory");
        }
        int id;
        hwloc_bitmap_foreach_begin(id, set)
            rc.cpus[rc.count++] = (unsigned)id;
        hwloc_bitmap_foreach_end();
        hwloc_bitmap_list_snprintf(rc.text, sizeof rc.text, set);
        hwloc_bitmap_free(set);
    }
    g_first[0] = true;
    int rcode = xml ? show_xml(xml, &rc) : show_machine(&rc);
    free(rc.cpus);
    return rcode;
}
