/* Placement decisions from an hwloc topology.
 *
 * Pure functions of (topology, request): no global state, nothing printed,
 * every hwloc bitmap and distance matrix released on every path. The core calls
 * ums__placement_decide() with its runtime's topology; ums_placement_decide_xml()
 * calls it with a topology loaded from a file.
 *
 * Vocabulary used below:
 * - a node's "locality" is the non-memory object it is attached to (its cpuset
 *   is the CPUs the node is local to);
 * - a PU's "locality object" is its nearest ancestor with NUMA nodes attached;
 * - "ordinary" memory is a node without an hwloc subtype (or subtype "DRAM"):
 *   HBM, NVM, CXL and similar tiers carry a subtype. First touch lands on
 *   ordinary memory, so that is what LOCAL and NEAR_DEVICE prefer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "placement_internal.h"

/* ------------------------------------------------------------------------ */
/* Names                                                                    */

static const char *const policy_names[] = {
    [UMS_PLACE_LOCAL] = "local",
    [UMS_PLACE_BIND] = "bind",
    [UMS_PLACE_INTERLEAVE] = "interleave",
    [UMS_PLACE_NEAR_DEVICE] = "near-device",
    [UMS_PLACE_HIGHEST_BANDWIDTH] = "highest-bandwidth",
    [UMS_PLACE_LOWEST_LATENCY] = "lowest-latency",
    [UMS_PLACE_LARGEST_CAPACITY] = "largest-capacity",
};
#define POLICY_COUNT (sizeof policy_names / sizeof policy_names[0])

static const char *const basis_names[] = {
    [UMS_PLACE_BASIS_NONE] = "none",
    [UMS_PLACE_BASIS_BANDWIDTH] = "bandwidth",
    [UMS_PLACE_BASIS_LATENCY] = "latency",
    [UMS_PLACE_BASIS_CAPACITY] = "capacity",
    [UMS_PLACE_BASIS_DISTANCE] = "distance",
    [UMS_PLACE_BASIS_PCI_LOCALITY] = "pci-locality",
    [UMS_PLACE_BASIS_DEVICE_HINT] = "device-hint",
    [UMS_PLACE_BASIS_EXPLICIT] = "explicit",
    [UMS_PLACE_BASIS_FIRST_TOUCH] = "first-touch",
};
#define BASIS_COUNT (sizeof basis_names / sizeof basis_names[0])

UMS_API const char *ums_placement_policy_name(ums_placement_policy policy) {
    unsigned i = (unsigned)policy;
    return i < POLICY_COUNT ? policy_names[i] : "unknown";
}

UMS_API const char *ums_placement_basis_name(ums_placement_basis basis) {
    unsigned i = (unsigned)basis;
    return i < BASIS_COUNT ? basis_names[i] : "unknown";
}

/* Case-insensitive comparison where '_' matches '-'. */
static int name_matches(const char *name, const char *canonical) {
    for (;; name++, canonical++) {
        char a = *name, b = *canonical;
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a == '_') a = '-';
        if (a != b) return 0;
        if (a == '\0') return 1;
    }
}

UMS_API ums_result ums_placement_policy_parse(const char *name, ums_placement_policy *out) {
    static const char fn[] = "ums_placement_policy_parse";
    if (!name) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "name is NULL");
    if (!out) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "out is NULL");
    for (unsigned i = 0; i < POLICY_COUNT; i++) {
        if (name_matches(name, policy_names[i])) {
            *out = (ums_placement_policy)i;
            return UMS_OK;
        }
    }
    return ums__fail(fn, "core", UMS_ERR_INVALID_ARG, 0,
                     "unknown placement policy \"%.64s\" (local, bind, interleave, near-device, highest-bandwidth, "
                     "lowest-latency, largest-capacity)",
                     name);
}

UMS_API ums_result ums_placement_init(ums_placement *p, ums_placement_policy policy) {
    if (!p) return ums__fail("ums_placement_init", "core", UMS_ERR_NULL_POINTER, 0, "p is NULL");
    memset(p, 0, sizeof *p);
    p->struct_size = (uint32_t)sizeof *p;
    p->policy = policy;
    p->device = UMS_LOCATION_NONE;
    return UMS_OK;
}

/* ------------------------------------------------------------------------ */
/* PCI addresses                                                            */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Read 1..maxdigits hex digits at *s; advance *s. Returns 0 or -1. */
static int read_hex(const char **s, unsigned maxdigits, unsigned *out) {
    unsigned v = 0, n = 0;
    int d;
    while (n < maxdigits && (d = hex_value((*s)[0])) >= 0) {
        v = v * 16u + (unsigned)d;
        (*s)++;
        n++;
    }
    if (n == 0 || hex_value((*s)[0]) >= 0) return -1; /* none, or too many digits */
    *out = v;
    return 0;
}

int ums__pci_bus_id_parse(const char *s, unsigned *domain, unsigned *bus, unsigned *dev, unsigned *func) {
    unsigned a, b, c, f, dom = 0;
    if (!s || !domain || !bus || !dev || !func) return -1;
    /* Domains above 0xffff exist (Intel VMD uses 10000 and up). */
    if (read_hex(&s, 8, &a) != 0 || *s++ != ':') return -1;
    if (read_hex(&s, 2, &b) != 0) return -1;
    if (*s == ':') { /* dddd:bb:dd.f */
        s++;
        dom = a;
        a = b;
        if (read_hex(&s, 2, &b) != 0) return -1;
    } else if (a > 0xff) { /* bb:dd.f with a bus that does not fit */
        return -1;
    }
    if (*s++ != '.') return -1;
    if (read_hex(&s, 1, &c) != 0 || *s != '\0') return -1;
    f = c;
    if (b > 0x1f || f > 7) return -1;
    *domain = dom;
    *bus = a;
    *dev = b;
    *func = f;
    return 0;
}

int ums__pci_bus_id_format(char *buf, size_t size, unsigned domain, unsigned bus, unsigned dev, unsigned func) {
    if (!buf || size == 0) return -1;
    int n = snprintf(buf, size, "%04x:%02x:%02x.%x", domain, bus & 0xffu, dev & 0x1fu, func & 7u);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

hwloc_obj_t ums__placement_find_pcidev(hwloc_topology_t topo, const char *pci_bus_id) {
    unsigned d, b, v, f;
    if (!topo || ums__pci_bus_id_parse(pci_bus_id, &d, &b, &v, &f) != 0) return NULL;
    return hwloc_get_pcidev_by_busid(topo, d, b, v, f);
}

/* ------------------------------------------------------------------------ */
/* Output helpers                                                           */

static void out_vreason(ums_placement_decision *out, const char *fmt, va_list ap) {
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
}

static void out_reason(ums_placement_decision *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_reason(ums_placement_decision *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    out_vreason(out, fmt, ap);
    va_end(ap);
}

/* Fail a decision: no nodes, a reason that says what was wrong. */
static ums_result fail(ums_placement_decision *out, ums_result code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ums_result fail(ums_placement_decision *out, ums_result code, const char *fmt, ...) {
    out->node_count = 0;
    out->basis = UMS_PLACE_BASIS_NONE;
    out->fallback = 0;
    out->value = 0;
    va_list ap;
    va_start(ap, fmt);
    out_vreason(out, fmt, ap);
    va_end(ap);
    return code;
}

static ums_result fail_nomem(ums_placement_decision *out) {
    return fail(out, UMS_ERR_NO_MEMORY, "out of memory while deciding the placement");
}

/* A bitmap as an hwloc list ("0-3,8"), shortened with "..." when it does not fit. */
static const char *set_str(char *buf, size_t size, hwloc_const_bitmap_t set) {
    int n = hwloc_bitmap_list_snprintf(buf, size, set);
    if (n < 0) {
        snprintf(buf, size, "?");
    } else if ((size_t)n >= size && size > 4) {
        memcpy(buf + size - 4, "...", 4);
    }
    return buf;
}

/* Store `set` as the decision's nodes (ascending OS indexes). */
static ums_result out_set_nodes(ums_placement_decision *out, hwloc_const_nodeset_t set) {
    int w = hwloc_bitmap_weight(set);
    if (w == 0) return fail(out, UMS_ERR_INVALID_ARG, "no NUMA node to choose from");
    if (w < 0 || (unsigned)w > UMS_PLACEMENT_MAX_NODES) {
        return fail(out, UMS_ERR_BUFFER_TOO_SMALL, "the decision names %d nodes, more than the %u a decision can hold",
                    w, UMS_PLACEMENT_MAX_NODES);
    }
    unsigned n = 0;
    int id;
    hwloc_bitmap_foreach_begin(id, set)
        out->nodes[n++] = (unsigned)id;
    hwloc_bitmap_foreach_end();
    out->node_count = n;
    return UMS_OK;
}

static void out_one(ums_placement_decision *out, unsigned node) {
    out->nodes[0] = node;
    out->node_count = 1;
}

/* "Package P#1", "Machine P#0", "Group L#2": where something is attached. */
static void obj_str(char *buf, size_t size, hwloc_obj_t obj) {
    if (!obj) {
        snprintf(buf, size, "nothing");
    } else if (obj->os_index != HWLOC_UNKNOWN_INDEX) {
        snprintf(buf, size, "%s P#%u", hwloc_obj_type_string(obj->type), obj->os_index);
    } else {
        snprintf(buf, size, "%s L#%u", hwloc_obj_type_string(obj->type), obj->logical_index);
    }
}

/* ------------------------------------------------------------------------ */
/* Topology helpers                                                         */

static unsigned node_count_of(hwloc_topology_t topo) {
    int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    return n > 0 ? (unsigned)n : 0;
}

static int is_ordinary(hwloc_obj_t node) {
    return !node->subtype || strcasecmp(node->subtype, "DRAM") == 0;
}

/* Is `a` a better first-touch node than `b`? Ordinary first, then lower OS index. */
static int first_touch_better(hwloc_obj_t a, hwloc_obj_t b) {
    if (!b) return 1;
    if (is_ordinary(a) != is_ordinary(b)) return is_ordinary(a);
    return a->os_index < b->os_index;
}

/* NUMA nodes attached to `parent`, through memory-side caches: *count of them,
 * and the best first-touch one in *best. */
static void scan_attached(hwloc_obj_t parent, unsigned *count, hwloc_obj_t *best) {
    for (hwloc_obj_t c = parent->memory_first_child; c; c = c->next_sibling) {
        if (c->type == HWLOC_OBJ_NUMANODE) {
            (*count)++;
            if (first_touch_better(c, *best)) *best = c;
        } else {
            scan_attached(c, count, best);
        }
    }
}

/* The nearest ancestor of `obj` (itself included) with NUMA nodes attached,
 * and its first-touch node; NULL when there is none. */
static hwloc_obj_t locality_of(hwloc_obj_t obj, hwloc_obj_t *first_touch) {
    for (; obj; obj = obj->parent) {
        unsigned count = 0;
        hwloc_obj_t best = NULL;
        scan_attached(obj, &count, &best);
        if (count > 0) {
            *first_touch = best;
            return obj;
        }
    }
    *first_touch = NULL;
    return NULL;
}

/* The cpuset split by memory locality: one piece per locality object of its
 * PUs (memory attributes are reported per initiator locality, and hwloc only
 * answers for an initiator cpuset included in a reported one). */
typedef struct cpu_groups {
    unsigned count;
    hwloc_obj_t *objs;    /* locality objects, count entries */
    hwloc_bitmap_t *sets; /* piece of the cpuset for each */
} cpu_groups;

static void groups_free(cpu_groups *g) {
    if (g->sets) {
        for (unsigned i = 0; i < g->count; i++) hwloc_bitmap_free(g->sets[i]);
    }
    free(g->sets);
    free(g->objs);
    g->sets = NULL;
    g->objs = NULL;
    g->count = 0;
}

static int group_index(const cpu_groups *g, hwloc_obj_t loc) {
    for (unsigned i = 0; i < g->count; i++) {
        if (g->objs[i] == loc) return (int)i;
    }
    return -1;
}

/* Split `cpuset` into locality groups and add each PU's first-touch node to
 * `local` (when not NULL). Returns 0, or -1 when out of memory. */
static int split_by_locality(hwloc_topology_t topo, hwloc_const_cpuset_t cpuset, cpu_groups *g, hwloc_nodeset_t local) {
    memset(g, 0, sizeof *g);
    /* Every locality object has a node of its own, plus one slot for the root
     * standing in for PUs with no memory above them. */
    unsigned cap = node_count_of(topo) + 1;
    g->objs = calloc(cap, sizeof *g->objs);
    g->sets = calloc(cap, sizeof *g->sets);
    if (!g->objs || !g->sets) goto nomem;

    hwloc_obj_t root = hwloc_get_root_obj(topo);
    hwloc_obj_t pu = NULL;
    while ((pu = hwloc_get_next_obj_inside_cpuset_by_type(topo, cpuset, HWLOC_OBJ_PU, pu)) != NULL) {
        hwloc_obj_t ft = NULL;
        hwloc_obj_t loc = locality_of(pu, &ft);
        if (local) {
            if (ft) {
                if (hwloc_bitmap_set(local, ft->os_index) != 0) goto nomem;
            } else if (pu->nodeset && hwloc_bitmap_or(local, local, pu->nodeset) != 0) {
                goto nomem;
            }
        }
        if (!loc) loc = root;
        if (group_index(g, loc) >= 0) continue;
        if (g->count == cap) continue; /* cannot happen: one node per locality */
        hwloc_bitmap_t piece = hwloc_bitmap_alloc();
        if (!piece) goto nomem;
        if (hwloc_bitmap_and(piece, loc->cpuset, cpuset) != 0) {
            hwloc_bitmap_free(piece);
            goto nomem;
        }
        g->objs[g->count] = loc;
        g->sets[g->count] = piece;
        g->count++;
    }
    return 0;
nomem:
    groups_free(g);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Decision context                                                         */

typedef struct decide_ctx {
    hwloc_topology_t topo;
    ums_placement_decision *out;
    hwloc_bitmap_t cpuset; /* the initiator CPUs */
    char cpuset_str[48];
    cpu_groups groups;          /* cpuset split by locality */
    hwloc_bitmap_t local_nodes; /* first-touch nodes of the cpuset */
    char local_str[48];
    struct hwloc_distances_s *dist; /* NUMA latency matrix, or NULL */
    const char *source;             /* where memory attributes come from */
} decide_ctx;

static void ctx_free(decide_ctx *c) {
    groups_free(&c->groups);
    if (c->dist) hwloc_distances_release(c->topo, c->dist);
    hwloc_bitmap_free(c->cpuset);
    hwloc_bitmap_free(c->local_nodes);
}

/* "HMAT" when the topology was discovered by Linux (its memory attributes
 * come from the ACPI HMAT through sysfs); otherwise wherever they were set. */
static const char *attr_source(hwloc_topology_t topo) {
    const char *backend = hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo), "Backend");
    if (backend && strcmp(backend, "Linux") == 0) return "HMAT";
    return "topology attributes";
}

/* Fill the context's cpuset-derived parts. `cpuset` is taken over. */
static ums_result ctx_init(decide_ctx *c, hwloc_topology_t topo, hwloc_bitmap_t cpuset, ums_placement_decision *out) {
    memset(c, 0, sizeof *c);
    c->topo = topo;
    c->out = out;
    c->cpuset = cpuset;
    c->source = attr_source(topo);
    set_str(c->cpuset_str, sizeof c->cpuset_str, cpuset);
    c->local_nodes = hwloc_bitmap_alloc();
    if (!c->local_nodes || split_by_locality(topo, cpuset, &c->groups, c->local_nodes) != 0) return UMS_ERR_NO_MEMORY;
    set_str(c->local_str, sizeof c->local_str, c->local_nodes);

    /* The first latency-like NUMA matrix, preferring the one the OS reported. */
    unsigned nr = 1;
    struct hwloc_distances_s *d = NULL;
    if (hwloc_distances_get_by_type(topo, HWLOC_OBJ_NUMANODE, &nr, &d,
                                    HWLOC_DISTANCES_KIND_FROM_OS | HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) == 0 &&
        nr >= 1 && d) {
        c->dist = d;
    } else {
        nr = 1;
        d = NULL;
        if (hwloc_distances_get_by_type(topo, HWLOC_OBJ_NUMANODE, &nr, &d, HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) ==
                0 &&
            nr >= 1 && d)
            c->dist = d;
    }
    return UMS_OK;
}

/* Sum of the NUMA distances from the cpuset's local nodes to `target`, and how
 * many local nodes were counted; UINT64_MAX when unknown. Without a distance
 * matrix, a locality proxy: 0 for the cpuset's own nodes, 1 for the others. */
static uint64_t dist_from_local(const decide_ctx *c, hwloc_obj_t target, unsigned *counted) {
    *counted = 0;
    if (!c->dist) return hwloc_bitmap_isset(c->local_nodes, target->os_index) ? 0 : 1;
    struct hwloc_distances_s *d = c->dist;
    int t = hwloc_distances_obj_index(d, target);
    if (t < 0) return UINT64_MAX;
    uint64_t sum = 0;
    unsigned n = 0;
    int id;
    hwloc_bitmap_foreach_begin(id, c->local_nodes)
        hwloc_obj_t src = hwloc_get_numanode_obj_by_os_index(c->topo, (unsigned)id);
        int s = src ? hwloc_distances_obj_index(d, src) : -1;
        if (s >= 0) {
            sum += d->values[(size_t)s * d->nbobjs + (size_t)t];
            n++;
        }
    hwloc_bitmap_foreach_end();
    if (n == 0) return UINT64_MAX;
    *counted = n;
    return sum;
}

/* A candidate node with its deciding value and its distance from the cpuset. */
typedef struct cand {
    hwloc_obj_t node;
    uint64_t value;
    uint64_t dist;
} cand;

/* Order: better value first, then smaller distance, then lower OS index. */
static int cand_better(const cand *a, const cand *b, int lower_first) {
    if (a->value != b->value) return lower_first ? a->value < b->value : a->value > b->value;
    if (a->dist != b->dist) return a->dist < b->dist;
    return a->node->os_index < b->node->os_index;
}

/* Pick the best of `n` candidates; report whether the value tied and how it
 * was broken (`dist_is_matrix`: `dist` holds NUMA distances, else locality). */
static const cand *cand_pick(const cand *cs, unsigned n, int lower_first, int dist_is_matrix, const char **tie_note) {
    const cand *best = NULL;
    for (unsigned i = 0; i < n; i++) {
        if (!best || cand_better(&cs[i], best, lower_first)) best = &cs[i];
    }
    *tie_note = "";
    if (!best) return NULL;
    int tied = 0, tied_dist = 0;
    for (unsigned i = 0; i < n; i++) {
        if (&cs[i] == best || cs[i].value != best->value) continue;
        tied = 1;
        if (cs[i].dist == best->dist) tied_dist = 1;
    }
    if (tied) {
        *tie_note = tied_dist        ? "; tie broken by lowest index"
                    : dist_is_matrix ? "; tie broken by NUMA distance"
                                     : "; tie broken by locality to the cpuset";
    }
    return best;
}

/* Value of a memory attribute for `node` seen from the CPUs in `cpuset`
 * (split into `groups`): exact when hwloc has a value for the whole cpuset,
 * otherwise the worst value over the groups (the slowest CPUs decide).
 * Returns 0 (value found; *aggregated set when from groups) or -1. */
static int memattr_value(hwloc_topology_t topo, hwloc_memattr_id_t attr, int lower_first, hwloc_obj_t node,
                         hwloc_bitmap_t cpuset, const cpu_groups *groups, uint64_t *value, int *aggregated) {
    struct hwloc_location loc;
    hwloc_uint64_t v = 0;
    loc.type = HWLOC_LOCATION_TYPE_CPUSET;
    loc.location.cpuset = cpuset;
    *aggregated = 0;
    if (hwloc_memattr_get_value(topo, attr, node, &loc, 0, &v) == 0) {
        *value = v;
        return 0;
    }
    if (!groups || groups->count <= 1) return -1;
    uint64_t worst = lower_first ? 0 : UINT64_MAX;
    for (unsigned i = 0; i < groups->count; i++) {
        loc.location.cpuset = groups->sets[i];
        if (hwloc_memattr_get_value(topo, attr, node, &loc, 0, &v) != 0) return -1;
        if (lower_first ? v > worst : v < worst) worst = v;
    }
    *value = worst;
    *aggregated = 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Policies                                                                 */

/* Last resort: the cpuset's first-touch node with the lowest OS index. */
static ums_result decide_local_one(decide_ctx *c, const char *why) {
    int first = hwloc_bitmap_first(c->local_nodes);
    if (first < 0) return fail(c->out, UMS_ERR_INVALID_ARG, "cpuset %s has no local NUMA node", c->cpuset_str);
    out_one(c->out, (unsigned)first);
    c->out->basis = UMS_PLACE_BASIS_FIRST_TOUCH;
    c->out->fallback = 1;
    if (hwloc_bitmap_weight(c->local_nodes) > 1) {
        out_reason(c->out, "node %d: %s for cpuset %s; fell back to the cpuset's local node (lowest of %s)", first, why,
                   c->cpuset_str, c->local_str);
    } else {
        out_reason(c->out, "node %d: %s for cpuset %s; fell back to the cpuset's local node", first, why,
                   c->cpuset_str);
    }
    return UMS_OK;
}

/* Fallback from a missing memory attribute: the node nearest to the cpuset's
 * local nodes in the NUMA distance matrix, else the local node itself. */
static ums_result decide_by_distance(decide_ctx *c, const char *missing) {
    if (!c->dist) {
        char why[128];
        snprintf(why, sizeof why, "%s and no NUMA distances", missing);
        return decide_local_one(c, why);
    }
    cand *cs = calloc(c->dist->nbobjs ? c->dist->nbobjs : 1, sizeof *cs);
    if (!cs) return fail_nomem(c->out);
    unsigned k = 0, best_counted = 0;
    for (unsigned i = 0; i < c->dist->nbobjs; i++) {
        hwloc_obj_t node = c->dist->objs[i];
        unsigned counted = 0;
        if (!node || node->type != HWLOC_OBJ_NUMANODE) continue;
        cs[k].node = node;
        cs[k].dist = 0;
        cs[k].value = dist_from_local(c, node, &counted);
        if (cs[k].value == UINT64_MAX) continue;
        if (counted > best_counted) best_counted = counted;
        k++;
    }
    const char *tie;
    const cand *bestp = cand_pick(cs, k, 1, 0, &tie);
    if (!bestp) {
        free(cs);
        char why[128];
        snprintf(why, sizeof why, "%s and no NUMA distance from the cpuset's nodes", missing);
        return decide_local_one(c, why);
    }
    cand best_copy = *bestp;
    const cand *best = &best_copy;
    free(cs);
    uint64_t mean = best->value / (best_counted ? best_counted : 1);
    out_one(c->out, best->node->os_index);
    c->out->basis = UMS_PLACE_BASIS_DISTANCE;
    c->out->fallback = 1;
    c->out->value = mean;
    if (best_counted > 1) {
        out_reason(c->out, "node %u: %s for cpuset %s; fell back to NUMA distance %llu (mean from local nodes %s)%s",
                   best->node->os_index, missing, c->cpuset_str, (unsigned long long)mean, c->local_str, tie);
    } else {
        out_reason(c->out, "node %u: %s for cpuset %s; fell back to NUMA distance %llu from local node %s%s",
                   best->node->os_index, missing, c->cpuset_str, (unsigned long long)mean, c->local_str, tie);
    }
    return UMS_OK;
}

/* HIGHEST_BANDWIDTH and LOWEST_LATENCY. Every node's value is read rather
 * than asking hwloc_memattr_get_best_target(), which returns one of several
 * equal targets without saying which: ties must be broken deterministically
 * (distance, then index) and reported. */
static ums_result decide_attribute(decide_ctx *c, ums_placement_policy policy) {
    int latency = policy == UMS_PLACE_LOWEST_LATENCY;
    hwloc_memattr_id_t attr = latency ? HWLOC_MEMATTR_ID_LATENCY : HWLOC_MEMATTR_ID_BANDWIDTH;
    const char *aname = latency ? "Latency" : "Bandwidth";
    const char *unit = latency ? "ns" : "MiB/s";

    unsigned n = node_count_of(c->topo);
    cand *cs = calloc(n ? n : 1, sizeof *cs);
    if (!cs) return fail_nomem(c->out);
    unsigned k = 0;
    int any_aggregated = 0;
    hwloc_obj_t node = NULL;
    while ((node = hwloc_get_next_obj_by_type(c->topo, HWLOC_OBJ_NUMANODE, node)) != NULL && k < n) {
        uint64_t v;
        int agg;
        if (memattr_value(c->topo, attr, latency, node, c->cpuset, &c->groups, &v, &agg) != 0) continue;
        unsigned counted;
        cs[k].node = node;
        cs[k].value = v;
        cs[k].dist = dist_from_local(c, node, &counted);
        any_aggregated |= agg;
        k++;
    }
    const char *tie;
    const cand *best = cand_pick(cs, k, latency, c->dist != NULL, &tie);
    if (!best) {
        free(cs);
        char missing[64];
        snprintf(missing, sizeof missing, "no %s attribute", aname);
        return decide_by_distance(c, missing);
    }
    out_one(c->out, best->node->os_index);
    c->out->basis = latency ? UMS_PLACE_BASIS_LATENCY : UMS_PLACE_BASIS_BANDWIDTH;
    c->out->value = best->value;
    if (any_aggregated) {
        out_reason(c->out, "node %u: %s worst-case %s (%llu %s) over the %u locality groups of cpuset %s (%s)%s",
                   best->node->os_index, latency ? "lowest" : "highest", aname, (unsigned long long)best->value, unit,
                   c->groups.count, c->cpuset_str, c->source, tie);
    } else {
        out_reason(c->out, "node %u: %s %s (%llu %s) from initiator cpuset %s (%s)%s", best->node->os_index,
                   latency ? "lowest" : "highest", aname, (unsigned long long)best->value, unit, c->cpuset_str,
                   c->source, tie);
    }
    free(cs);
    return UMS_OK;
}

static ums_result decide_capacity(decide_ctx *c) {
    unsigned n = node_count_of(c->topo);
    cand *cs = calloc(n ? n : 1, sizeof *cs);
    if (!cs) return fail_nomem(c->out);
    unsigned k = 0;
    hwloc_obj_t node = NULL;
    while ((node = hwloc_get_next_obj_by_type(c->topo, HWLOC_OBJ_NUMANODE, node)) != NULL && k < n) {
        hwloc_uint64_t v = 0;
        if (hwloc_memattr_get_value(c->topo, HWLOC_MEMATTR_ID_CAPACITY, node, NULL, 0, &v) != 0 || v == 0) continue;
        unsigned counted;
        cs[k].node = node;
        cs[k].value = v;
        cs[k].dist = dist_from_local(c, node, &counted);
        k++;
    }
    const char *tie;
    const cand *best = cand_pick(cs, k, 0, c->dist != NULL, &tie);
    if (!best) {
        free(cs);
        return decide_local_one(c, "capacity unknown for every node");
    }
    out_one(c->out, best->node->os_index);
    c->out->basis = UMS_PLACE_BASIS_CAPACITY;
    c->out->value = best->value;
    out_reason(c->out, "node %u: largest capacity (%llu MiB) of %u nodes with a known capacity%s", best->node->os_index,
               (unsigned long long)(best->value >> 20), k, tie);
    free(cs);
    return UMS_OK;
}

static ums_result decide_local(decide_ctx *c) {
    ums_result r = out_set_nodes(c->out, c->local_nodes);
    if (r != UMS_OK) return r;
    c->out->basis = UMS_PLACE_BASIS_FIRST_TOUCH;
    out_reason(c->out, "node%s %s: first touch from cpuset %s lands on the CPUs' local node%s",
               c->out->node_count > 1 ? "s" : "", c->local_str, c->cpuset_str, c->out->node_count > 1 ? "s" : "");
    return UMS_OK;
}

static ums_result decide_explicit(ums_placement_decision *out, hwloc_const_nodeset_t set, ums_placement_policy policy) {
    ums_result r = out_set_nodes(out, set);
    if (r != UMS_OK) return r;
    char s[48];
    out->basis = UMS_PLACE_BASIS_EXPLICIT;
    out_reason(out, "node%s %s: %s as requested", out->node_count > 1 ? "s" : "", set_str(s, sizeof s, set),
               policy == UMS_PLACE_BIND ? "bound" : "interleaved");
    return UMS_OK;
}

/* Every node of the topology, as the answer of last resort for NEAR_DEVICE. */
static ums_result decide_all_nodes(hwloc_topology_t topo, ums_placement_decision *out, const char *why) {
    hwloc_const_nodeset_t all = hwloc_topology_get_topology_nodeset(topo);
    ums_result r = out_set_nodes(out, all);
    if (r != UMS_OK) return r;
    char s[48];
    out->basis = UMS_PLACE_BASIS_NONE;
    out->fallback = 1;
    out_reason(out, "nodes %s: %s; every node is as near", set_str(s, sizeof s, all), why);
    return UMS_OK;
}

/* NEAR_DEVICE for a PCI object that is in the topology. */
static ums_result decide_pcidev(hwloc_topology_t topo, hwloc_obj_t pcidev, const char *bus_id, int hint,
                                ums_placement_decision *out) {
    ums_result r = UMS_OK;
    hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, pcidev);
    unsigned n = node_count_of(topo);
    hwloc_obj_t *nodes = calloc(n ? n : 1, sizeof *nodes);
    cand *cs = calloc(n ? n : 1, sizeof *cs);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    cpu_groups groups = {0};
    char where[48], sstr[48];
    obj_str(where, sizeof where, anc);
    if (!nodes || !cs || !set || !anc) {
        r = anc ? fail_nomem(out) : fail(out, UMS_ERR_INVALID_ARG, "PCI device %s has no CPU-side ancestor", bus_id);
        goto done;
    }

    /* Nodes of the device's locality: attached to its ancestor or below it
     * (sub-NUMA clusters); if none, the nearest ones above it. */
    struct hwloc_location loc;
    loc.type = HWLOC_LOCATION_TYPE_OBJECT;
    loc.location.object = anc;
    unsigned nr = n;
    if (hwloc_get_local_numanode_objs(topo, &loc, &nr, nodes, HWLOC_LOCAL_NUMANODE_FLAG_SMALLER_LOCALITY) != 0 ||
        nr == 0) {
        nr = n;
        if (hwloc_get_local_numanode_objs(topo, &loc, &nr, nodes, HWLOC_LOCAL_NUMANODE_FLAG_LARGER_LOCALITY) != 0)
            nr = 0;
    }
    if (nr > n) nr = n;
    if (nr == 0) {
        r = decide_all_nodes(topo, out, "no NUMA node is local to the PCI device");
        goto done;
    }
    /* Device buffers belong in ordinary memory: HBM is scarce and gains a DMA
     * engine little, NVM and CXL are slower. Special tiers only when alone. */
    unsigned ordinary = 0;
    for (unsigned i = 0; i < nr; i++) ordinary += (unsigned)is_ordinary(nodes[i]);
    if (ordinary > 0 && ordinary < nr) {
        unsigned k = 0;
        for (unsigned i = 0; i < nr; i++) {
            if (is_ordinary(nodes[i])) nodes[k++] = nodes[i];
        }
        nr = k;
    }
    if (nr == 1) {
        out_one(out, nodes[0]->os_index);
        out->basis = UMS_PLACE_BASIS_PCI_LOCALITY;
        out_reason(out, "node %u: local to PCI device %s (attached to %s)", nodes[0]->os_index, bus_id, where);
        goto done;
    }

    /* Several equally local nodes: the bandwidth from the device's locality
     * decides when the platform reports it. */
    if (split_by_locality(topo, anc->cpuset, &groups, NULL) != 0) {
        r = fail_nomem(out);
        goto done;
    }
    unsigned k = 0;
    for (unsigned i = 0; i < nr; i++) {
        uint64_t v;
        int agg;
        if (memattr_value(topo, HWLOC_MEMATTR_ID_BANDWIDTH, 0, nodes[i], anc->cpuset, &groups, &v, &agg) != 0) continue;
        cs[k].node = nodes[i];
        cs[k].value = v;
        cs[k].dist = 0;
        k++;
    }
    const char *tie;
    const cand *best = cand_pick(cs, k, 0, 0, &tie);
    if (best && tie[0] == '\0') {
        out_one(out, best->node->os_index);
        out->basis = UMS_PLACE_BASIS_BANDWIDTH;
        out->value = best->value;
        out_reason(out, "node %u: highest Bandwidth (%llu MiB/s) of the nodes local to PCI device %s (attached to %s)",
                   best->node->os_index, (unsigned long long)best->value, bus_id, where);
        goto done;
    }
    /* Keep only the nodes tied at the best bandwidth, if bandwidth was known for all. */
    if (best && k == nr) {
        unsigned m = 0;
        for (unsigned i = 0; i < k; i++) {
            if (cs[i].value == best->value) nodes[m++] = cs[i].node;
        }
        nr = m;
    }
    for (unsigned i = 0; i < nr; i++) {
        if (hint >= 0 && nodes[i]->os_index == (unsigned)hint) {
            out_one(out, (unsigned)hint);
            out->basis = UMS_PLACE_BASIS_DEVICE_HINT;
            out_reason(out,
                       "node %d: of %u nodes equally local to PCI device %s (attached to %s), the one the "
                       "device reports",
                       hint, nr, bus_id, where);
            goto done;
        }
    }
    for (unsigned i = 0; i < nr; i++) {
        if (hwloc_bitmap_set(set, nodes[i]->os_index) != 0) {
            r = fail_nomem(out);
            goto done;
        }
    }
    r = out_set_nodes(out, set);
    if (r != UMS_OK) goto done;
    out->basis = UMS_PLACE_BASIS_PCI_LOCALITY;
    out_reason(out, "nodes %s: equally local to PCI device %s (attached to %s)", set_str(sstr, sizeof sstr, set),
               bus_id, where);
done:
    groups_free(&groups);
    hwloc_bitmap_free(set);
    free(cs);
    free(nodes);
    return r;
}

static ums_result decide_near_device(hwloc_topology_t topo, const char *bus_id, int hint, ums_placement_decision *out) {
    hwloc_obj_t pcidev = bus_id ? ums__placement_find_pcidev(topo, bus_id) : NULL;
    if (pcidev) return decide_pcidev(topo, pcidev, bus_id, hint, out);

    char what[96];
    if (bus_id) {
        snprintf(what, sizeof what, "PCI device %s is not in the topology", bus_id);
    } else {
        snprintf(what, sizeof what, "the device has no PCI address");
    }
    if (hint >= 0 && hwloc_get_numanode_obj_by_os_index(topo, (unsigned)hint)) {
        out_one(out, (unsigned)hint);
        out->basis = UMS_PLACE_BASIS_DEVICE_HINT;
        out->fallback = 1;
        out_reason(out, "node %d: %s; used the nearest node the device reports", hint, what);
        return UMS_OK;
    }
    char why[160];
    if (hint >= 0) {
        snprintf(why, sizeof why, "%s and its reported node %d is not either", what, hint);
    } else {
        snprintf(why, sizeof why, "%s and no nearest node is known", what);
    }
    return decide_all_nodes(topo, out, why);
}

/* ------------------------------------------------------------------------ */
/* Validation and dispatch                                                  */

static int policy_valid(ums_placement_policy policy) {
    return (unsigned)policy < POLICY_COUNT;
}

static int nonempty(const char *s) {
    return s && s[0] != '\0';
}

/* The initiator cpuset: the request's CPUs, else the calling thread's binding
 * on this machine, else the whole machine. NULL when out of memory. */
static hwloc_bitmap_t initiator_cpuset(hwloc_topology_t topo, hwloc_const_bitmap_t requested) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set) return NULL;
    hwloc_const_cpuset_t all = hwloc_topology_get_topology_cpuset(topo);
    if (!hwloc_bitmap_iszero(requested)) {
        if (hwloc_bitmap_copy(set, requested) == 0) return set;
        hwloc_bitmap_free(set);
        return NULL;
    }
    /* The binding of this thread means nothing in another machine's topology. */
    if (hwloc_topology_is_thissystem(topo) && hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_THREAD) == 0 &&
        hwloc_bitmap_and(set, set, all) == 0 && !hwloc_bitmap_iszero(set)) {
        return set;
    }
    if (hwloc_bitmap_copy(set, all) == 0) return set;
    hwloc_bitmap_free(set);
    return NULL;
}

ums_result ums__placement_decide(hwloc_topology_t topo, const ums_placement *p, const char *device_pci_bus_id,
                                 int device_numa_hint, ums_placement_decision *out) {
    if (!out) return UMS_ERR_NULL_POINTER;
    memset(out, 0, sizeof *out);
    if (!p) return fail(out, UMS_ERR_NULL_POINTER, "the placement request is NULL");
    out->policy = p->policy;
    if (!topo) return fail(out, UMS_ERR_NULL_POINTER, "no topology");
    if (p->struct_size < sizeof(ums_placement)) {
        return fail(out, UMS_ERR_INVALID_ARG, "placement struct_size %u is smaller than %zu (use ums_placement_init)",
                    p->struct_size, sizeof(ums_placement));
    }
    if (p->flags != 0) return fail(out, UMS_ERR_UNKNOWN_FLAG, "unknown placement flags 0x%x", p->flags);
    if (!policy_valid(p->policy)) return fail(out, UMS_ERR_INVALID_ARG, "unknown placement policy %d", (int)p->policy);
    if (p->node_count > 0 && !p->nodes) {
        return fail(out, UMS_ERR_NULL_POINTER, "node_count is %zu but nodes is NULL", p->node_count);
    }
    if (p->cpu_count > 0 && !p->cpus) {
        return fail(out, UMS_ERR_NULL_POINTER, "cpu_count is %zu but cpus is NULL", p->cpu_count);
    }
    if (p->node_count > UMS_PLACEMENT_MAX_INPUT || p->cpu_count > UMS_PLACEMENT_MAX_INPUT) {
        return fail(out, UMS_ERR_INVALID_ARG, "node_count %zu or cpu_count %zu exceeds %u", p->node_count, p->cpu_count,
                    UMS_PLACEMENT_MAX_INPUT);
    }
    unsigned d, b, v, f;
    if (nonempty(p->pci_bus_id) && ums__pci_bus_id_parse(p->pci_bus_id, &d, &b, &v, &f) != 0) {
        return fail(out, UMS_ERR_INVALID_ARG, "malformed PCI address \"%.32s\" (expected dddd:bb:dd.f)", p->pci_bus_id);
    }
    if (nonempty(device_pci_bus_id) && ums__pci_bus_id_parse(device_pci_bus_id, &d, &b, &v, &f) != 0) {
        return fail(out, UMS_ERR_INVALID_ARG, "malformed device PCI address \"%.32s\" (expected dddd:bb:dd.f)",
                    device_pci_bus_id);
    }
    if ((p->policy == UMS_PLACE_BIND || p->policy == UMS_PLACE_INTERLEAVE) && p->node_count == 0) {
        return fail(out, UMS_ERR_INVALID_ARG, "policy %s needs a non-empty node set",
                    ums_placement_policy_name(p->policy));
    }
    const char *bus_id = nonempty(p->pci_bus_id)       ? p->pci_bus_id
                         : nonempty(device_pci_bus_id) ? device_pci_bus_id
                                                       : NULL;
    if (p->policy == UMS_PLACE_NEAR_DEVICE && !bus_id && device_numa_hint < 0 && p->device == UMS_LOCATION_NONE) {
        return fail(out, UMS_ERR_INVALID_ARG, "policy near-device needs a device or a PCI address");
    }

    ums_result r = UMS_OK;
    hwloc_bitmap_t nodeset = hwloc_bitmap_alloc();
    hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
    decide_ctx ctx;
    int have_ctx = 0;
    if (!nodeset || !cpus) {
        r = fail_nomem(out);
        goto done;
    }
    for (size_t i = 0; i < p->node_count; i++) {
        if (!hwloc_get_numanode_obj_by_os_index(topo, p->nodes[i])) {
            r = fail(out, UMS_ERR_UNKNOWN_LOCATION, "NUMA node %u (nodes[%zu]) is not in the topology", p->nodes[i], i);
            goto done;
        }
        if (hwloc_bitmap_set(nodeset, p->nodes[i]) != 0) {
            r = fail_nomem(out);
            goto done;
        }
    }
    hwloc_const_cpuset_t all_cpus = hwloc_topology_get_topology_cpuset(topo);
    for (size_t i = 0; i < p->cpu_count; i++) {
        if (!hwloc_bitmap_isset(all_cpus, p->cpus[i])) {
            r = fail(out, UMS_ERR_INVALID_ARG, "CPU %u (cpus[%zu]) is not in the topology", p->cpus[i], i);
            goto done;
        }
        if (hwloc_bitmap_set(cpus, p->cpus[i]) != 0) {
            r = fail_nomem(out);
            goto done;
        }
    }

    switch (p->policy) {
    case UMS_PLACE_BIND:
    case UMS_PLACE_INTERLEAVE:
        r = decide_explicit(out, nodeset, p->policy);
        break;
    case UMS_PLACE_NEAR_DEVICE:
        r = decide_near_device(topo, bus_id, device_numa_hint, out);
        break;
    default: {
        hwloc_bitmap_t init = initiator_cpuset(topo, cpus);
        if (!init) {
            r = fail_nomem(out);
            break;
        }
        r = ctx_init(&ctx, topo, init, out);
        have_ctx = 1;
        if (r != UMS_OK) {
            r = fail_nomem(out);
            break;
        }
        if (p->policy == UMS_PLACE_LOCAL) {
            r = decide_local(&ctx);
        } else if (p->policy == UMS_PLACE_LARGEST_CAPACITY) {
            r = decide_capacity(&ctx);
        } else {
            r = decide_attribute(&ctx, p->policy);
        }
        break;
    }
    }
done:
    if (have_ctx) ctx_free(&ctx);
    hwloc_bitmap_free(nodeset);
    hwloc_bitmap_free(cpus);
    return r;
}

int ums__placement_pci_nearest_node(hwloc_topology_t topo, const char *pci_bus_id, unsigned *node) {
    if (!topo || !node || !nonempty(pci_bus_id)) return -1;
    ums_placement p;
    ums_placement_decision out;
    ums_placement_init(&p, UMS_PLACE_NEAR_DEVICE);
    p.pci_bus_id = pci_bus_id;
    ums_result r = ums__placement_decide(topo, &p, NULL, -1, &out);
    if (r == UMS_ERR_NO_MEMORY || r == UMS_ERR_INVALID_ARG) return -1;
    if (r != UMS_OK || out.node_count != 1 || out.fallback) return 0;
    if (out.basis != UMS_PLACE_BASIS_PCI_LOCALITY && out.basis != UMS_PLACE_BASIS_BANDWIDTH) return 0;
    *node = out.nodes[0];
    return 1;
}

/* ------------------------------------------------------------------------ */
/* XML entry point                                                          */

/* strerror() is not thread-safe; this is. */
static const char *errno_text(int e, char *buf, size_t size) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, size);
#else
    if (strerror_r(e, buf, size) != 0) snprintf(buf, size, "errno %d", e);
    return buf;
#endif
}

UMS_API ums_result ums_placement_decide_xml(const char *xml_path, const ums_placement *p, ums_placement_decision *out) {
    static const char fn[] = "ums_placement_decide_xml";
    if (!xml_path) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "xml_path is NULL");
    if (!p) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "the placement request is NULL");
    if (!out) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "out is NULL");
    if (p->struct_size >= sizeof(ums_placement) && p->policy == UMS_PLACE_NEAR_DEVICE && !nonempty(p->pci_bus_id)) {
        return ums__fail(fn, "core", UMS_ERR_INVALID_ARG, 0,
                         "near-device on an XML topology needs pci_bus_id (no runtime to resolve a device location)");
    }
    hwloc_topology_t topo = NULL;
    int err = 0;
    ums_result r = ums__topology_load_xml(xml_path, &topo, &err);
    if (r != UMS_OK) {
        char ebuf[64];
        if (r == UMS_ERR_SYSTEM)
            return ums__fail(fn, "core", r, err, "cannot read %.180s: %s", xml_path,
                             errno_text(err, ebuf, sizeof ebuf));
        if (r == UMS_ERR_NO_MEMORY) return ums__fail(fn, "core", r, ENOMEM, "out of memory loading %.180s", xml_path);
        return ums__fail(fn, "core", r, 0, "%.200s is not an hwloc XML topology", xml_path);
    }
    /* Decide into a local copy: the caller's decision is written only on success. */
    ums_placement_decision d;
    r = ums__placement_decide(topo, p, NULL, -1, &d);
    hwloc_topology_destroy(topo);
    if (r != UMS_OK) return ums__fail(fn, "core", r, 0, "%s", d.reason);
    *out = d;
    return UMS_OK;
}
