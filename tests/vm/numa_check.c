/* numa_check: run inside the vm.sh guest to check that the guest's NUMA
 * topology is the one vm.sh configured.
 *
 *   numa_check NODES [--hmat SPEC] [--distances SPEC] [--pages N]
 *
 * NODES is the expected number of NUMA nodes. The SPECs default to the
 * UMS_VM_HMAT and UMS_VM_DISTANCES variables vm.sh sets in the guest:
 *   HMAT       "node:latency_ns:bandwidth_MiBps,..." (local initiator view)
 *   distances  "d00,d01,...;d10,d11,...;..." (one row per node)
 *
 * Checks, each printed with what was seen:
 *   - hwloc sees NODES NUMA nodes;
 *   - hwloc has Bandwidth and Latency memory attributes for every node, from
 *     the node's local initiator, equal to the HMAT spec, in the same order;
 *   - from each CPU node's PUs, hwloc's best target for bandwidth and for
 *     latency is the one the spec ranks best among the nodes local to them;
 *   - the memory-only node (UMS_VM_MEMONLY_NODE) has no CPUs and is local to
 *     the PUs of its initiator (UMS_VM_MEMONLY_INITIATOR);
 *   - the OS distance matrix equals the distances spec;
 *   - pages of a range mbind(MPOL_BIND)-ed to a node land on that node, as
 *     move_pages(nodes=NULL) and get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) say;
 *   - move_pages moves them to another node, keeping their contents.
 * Exit status 0 when all hold, 1 otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <hwloc.h>
#include <linux/mempolicy.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_NODES 64

static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      failures++;                                                              \
      printf("FAIL: " __VA_ARGS__);                                            \
      printf("\n");                                                            \
    }                                                                          \
  } while (0)

/* The three NUMA system calls, raw, so that no libnuma is needed. */
static long sys_mbind(void *addr, unsigned long len, int mode,
                      const unsigned long *mask, unsigned long maxnode,
                      unsigned flags) {
  return syscall(SYS_mbind, addr, len, mode, mask, maxnode, flags);
}

static long sys_move_pages(unsigned long count, void **pages, const int *nodes,
                           int *status, int flags) {
  return syscall(SYS_move_pages, 0, count, pages, nodes, status, flags);
}

static long sys_get_mempolicy(int *mode, unsigned long *mask,
                              unsigned long maxnode, void *addr,
                              unsigned long flags) {
  return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

struct hmat_expect {
  int known;
  uint64_t latency;   /* ns */
  uint64_t bandwidth; /* MiB/s */
};

/* "0:100:20480,1:140:16384" -> per-node expectations. */
static int parse_hmat(const char *spec, struct hmat_expect *out) {
  const char *p = spec;
  while (*p) {
    char *end;
    unsigned long node = strtoul(p, &end, 10);
    if (end == p || *end != ':' || node >= MAX_NODES)
      return -1;
    p = end + 1;
    out[node].latency = strtoull(p, &end, 10);
    if (end == p || *end != ':')
      return -1;
    p = end + 1;
    out[node].bandwidth = strtoull(p, &end, 10);
    if (end == p || (*end != ',' && *end != '\0'))
      return -1;
    out[node].known = 1;
    p = *end ? end + 1 : end;
  }
  return 0;
}

/* "10,21;21,10" -> square matrix; returns its order, -1 if malformed. */
static int parse_distances(const char *spec, unsigned dist[MAX_NODES][MAX_NODES]) {
  int row = 0, col = 0, width = -1;
  const char *p = spec;
  while (*p) {
    char *end;
    unsigned long v = strtoul(p, &end, 10);
    if (end == p || row >= MAX_NODES || col >= MAX_NODES)
      return -1;
    dist[row][col++] = (unsigned)v;
    if (*end == ',') {
      p = end + 1;
    } else if (*end == ';' || *end == '\0') {
      if (width >= 0 && col != width)
        return -1;
      width = col;
      row++;
      col = 0;
      p = *end ? end + 1 : end;
    } else {
      return -1;
    }
  }
  return row == width ? row : -1;
}

static void read_cpulist(unsigned node, char *buf, size_t len) {
  char path[128];
  snprintf(path, sizeof path, "/sys/devices/system/node/node%u/cpulist", node);
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(buf, len, "?");
    return;
  }
  if (!fgets(buf, (int)len, f))
    buf[0] = '\0';
  fclose(f);
  buf[strcspn(buf, "\n")] = '\0';
}

/* Sort node ids by value; ascending, or descending when desc. Stable. */
static void order_nodes(const unsigned *ids, const uint64_t *vals, int n,
                        int desc, unsigned *out) {
  int used[MAX_NODES] = {0};
  for (int k = 0; k < n; k++) {
    int best = -1;
    for (int i = 0; i < n; i++) {
      if (used[i])
        continue;
      if (best < 0 || (desc ? vals[i] > vals[best] : vals[i] < vals[best]))
        best = i;
    }
    used[best] = 1;
    out[k] = ids[best];
  }
}

static void format_order(const unsigned *order, int n, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, "%s%u", i ? " " : "", order[i]);
}

static int attr_value(hwloc_topology_t topo, hwloc_memattr_id_t id,
                      hwloc_obj_t node, hwloc_cpuset_t initiator,
                      uint64_t *value) {
  struct hwloc_location loc;
  hwloc_uint64_t v = 0;
  loc.type = HWLOC_LOCATION_TYPE_CPUSET;
  loc.location.cpuset = initiator;
  if (hwloc_memattr_get_value(topo, id, node, &loc, 0, &v) != 0)
    return -1;
  *value = v;
  return 0;
}

static void check_memattrs(hwloc_topology_t topo, int nnodes,
                           const struct hmat_expect *expect, int have_expect) {
  unsigned ids[MAX_NODES];
  uint64_t bw[MAX_NODES], lat[MAX_NODES], ebw[MAX_NODES], elat[MAX_NODES];
  int n = 0, complete = 1;

  for (int i = 0; i < nnodes && n < MAX_NODES; i++) {
    hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    unsigned os = node->os_index;
    char cpus[256], init[256];
    uint64_t b = 0, l = 0;
    /* A node's cpuset is its locality: its own CPUs, or for a CPU-less node
     * the CPUs of the initiator the firmware attached it to. */
    int hb = attr_value(topo, HWLOC_MEMATTR_ID_BANDWIDTH, node, node->cpuset, &b);
    int hl = attr_value(topo, HWLOC_MEMATTR_ID_LATENCY, node, node->cpuset, &l);
    read_cpulist(os, cpus, sizeof cpus);
    hwloc_bitmap_list_snprintf(init, sizeof init, node->cpuset);
    printf("node %u: cpus [%s], local to PUs [%s], %llu MiB, bandwidth ",
           os, cpus, init,
           (unsigned long long)(node->attr->numanode.local_memory >> 20));
    if (hb == 0)
      printf("%llu MiB/s", (unsigned long long)b);
    else
      printf("none");
    printf(", latency ");
    if (hl == 0)
      printf("%llu ns", (unsigned long long)l);
    else
      printf("none");
    if (have_expect && os < MAX_NODES && expect[os].known)
      printf(" (expected %llu MiB/s, %llu ns)",
             (unsigned long long)expect[os].bandwidth,
             (unsigned long long)expect[os].latency);
    printf("\n");

    CHECK(hb == 0, "node %u: no Bandwidth memory attribute", os);
    CHECK(hl == 0, "node %u: no Latency memory attribute", os);
    if (hb != 0 || hl != 0) {
      complete = 0;
      continue;
    }
    if (have_expect) {
      if (os >= MAX_NODES || !expect[os].known) {
        CHECK(0, "node %u: not in the HMAT spec", os);
        complete = 0;
        continue;
      }
      CHECK(b == expect[os].bandwidth, "node %u: bandwidth %llu MiB/s, expected %llu",
            os, (unsigned long long)b, (unsigned long long)expect[os].bandwidth);
      CHECK(l == expect[os].latency, "node %u: latency %llu ns, expected %llu",
            os, (unsigned long long)l, (unsigned long long)expect[os].latency);
      ebw[n] = expect[os].bandwidth;
      elat[n] = expect[os].latency;
    }
    ids[n] = os;
    bw[n] = b;
    lat[n] = l;
    n++;
  }

  if (!complete || n == 0)
    return;
  unsigned seen[MAX_NODES], want[MAX_NODES];
  char s1[256], s2[256];
  order_nodes(ids, bw, n, 1, seen);
  format_order(seen, n, s1, sizeof s1);
  if (have_expect) {
    order_nodes(ids, ebw, n, 1, want);
    format_order(want, n, s2, sizeof s2);
    printf("bandwidth order, best first: %s (expected %s)\n", s1, s2);
    CHECK(strcmp(s1, s2) == 0, "bandwidth order %s, expected %s", s1, s2);
  } else {
    printf("bandwidth order, best first: %s\n", s1);
  }
  order_nodes(ids, lat, n, 0, seen);
  format_order(seen, n, s1, sizeof s1);
  if (have_expect) {
    order_nodes(ids, elat, n, 0, want);
    format_order(want, n, s2, sizeof s2);
    printf("latency order, best first: %s (expected %s)\n", s1, s2);
    CHECK(strcmp(s1, s2) == 0, "latency order %s, expected %s", s1, s2);
  } else {
    printf("latency order, best first: %s\n", s1);
  }
}

/* From the PUs of each CPU node, the target hwloc ranks best for bandwidth
 * and for latency. With the HMAT spec, the expected best is the best spec
 * value among the nodes local to those PUs (hwloc only knows values from a
 * node's local initiator, as Linux only exposes those). */
static void check_best_targets(hwloc_topology_t topo, int nnodes,
                               const struct hmat_expect *expect, int have_expect) {
  for (int i = 0; i < nnodes; i++) {
    hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    char cpus[256];
    read_cpulist(node->os_index, cpus, sizeof cpus);
    if (cpus[0] == '\0')
      continue; /* CPU-less: not an initiator */
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    hwloc_bitmap_list_sscanf(set, cpus);

    int want_bw = -1, want_lat = -1;
    for (int j = 0; have_expect && j < nnodes; j++) {
      hwloc_obj_t t = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)j);
      unsigned os = t->os_index;
      if (os >= MAX_NODES || !expect[os].known || !hwloc_bitmap_isincluded(set, t->cpuset))
        continue;
      if (want_bw < 0 || expect[os].bandwidth > expect[want_bw].bandwidth)
        want_bw = (int)os;
      if (want_lat < 0 || expect[os].latency < expect[want_lat].latency)
        want_lat = (int)os;
    }

    struct hwloc_location loc = {.type = HWLOC_LOCATION_TYPE_CPUSET};
    loc.location.cpuset = set;
    hwloc_obj_t bbw = NULL, blat = NULL;
    hwloc_uint64_t vbw = 0, vlat = 0;
    int rb = hwloc_memattr_get_best_target(topo, HWLOC_MEMATTR_ID_BANDWIDTH, &loc, 0, &bbw, &vbw);
    int rl = hwloc_memattr_get_best_target(topo, HWLOC_MEMATTR_ID_LATENCY, &loc, 0, &blat, &vlat);
    int got_bw = rb == 0 ? (int)bbw->os_index : -1;
    int got_lat = rl == 0 ? (int)blat->os_index : -1;
    printf("from PUs [%s]: best bandwidth node %d (%llu MiB/s), best latency node %d (%llu ns)",
           cpus, got_bw, (unsigned long long)vbw, got_lat, (unsigned long long)vlat);
    if (have_expect)
      printf(" (expected nodes %d and %d)", want_bw, want_lat);
    printf("\n");
    if (have_expect) {
      CHECK(got_bw == want_bw, "from PUs [%s]: best bandwidth target node %d, expected %d",
            cpus, got_bw, want_bw);
      CHECK(got_lat == want_lat, "from PUs [%s]: best latency target node %d, expected %d",
            cpus, got_lat, want_lat);
    }
    hwloc_bitmap_free(set);
  }
}

/* The memory-only node vm.sh adds: no CPUs, and local to the PUs of the
 * initiator node the firmware attached it to. */
static void check_memonly(hwloc_topology_t topo, unsigned mnode, unsigned initiator) {
  hwloc_obj_t node = hwloc_get_numanode_obj_by_os_index(topo, mnode);
  hwloc_obj_t init = hwloc_get_numanode_obj_by_os_index(topo, initiator);
  CHECK(node != NULL, "no memory-only node %u", mnode);
  CHECK(init != NULL, "no initiator node %u", initiator);
  if (!node || !init)
    return;
  char cpus[256], loc[256], iloc[256];
  read_cpulist(mnode, cpus, sizeof cpus);
  hwloc_bitmap_list_snprintf(loc, sizeof loc, node->cpuset);
  hwloc_bitmap_list_snprintf(iloc, sizeof iloc, init->cpuset);
  printf("memory-only node %u: cpus [%s], local to PUs [%s] (node %u's: [%s])\n",
         mnode, cpus, loc, initiator, iloc);
  CHECK(cpus[0] == '\0', "memory-only node %u has cpus [%s]", mnode, cpus);
  CHECK(hwloc_bitmap_isequal(node->cpuset, init->cpuset),
        "memory-only node %u is local to PUs [%s], expected node %u's [%s]",
        mnode, loc, initiator, iloc);
}

static void check_distances(hwloc_topology_t topo, int nnodes, const char *spec) {
  static unsigned want[MAX_NODES][MAX_NODES];
  int rows = parse_distances(spec, want);
  CHECK(rows == nnodes, "distance spec has %d rows, expected %d (\"%s\")", rows, nnodes, spec);
  if (rows != nnodes)
    return;

  struct hwloc_distances_s *d = NULL;
  unsigned nr = 1;
  int err = hwloc_distances_get_by_type(topo, HWLOC_OBJ_NUMANODE, &nr, &d,
                                        HWLOC_DISTANCES_KIND_FROM_OS, 0);
  CHECK(err == 0 && nr == 1, "hwloc has no OS distance matrix for NUMA nodes");
  if (err != 0 || nr != 1)
    return;
  int bad = 0;
  printf("distances: ");
  for (unsigned i = 0; i < d->nbobjs; i++) {
    printf("%s", i ? ";" : "");
    for (unsigned j = 0; j < d->nbobjs; j++) {
      unsigned a = d->objs[i]->os_index, b = d->objs[j]->os_index;
      unsigned long long v = (unsigned long long)d->values[i * d->nbobjs + j];
      printf("%s%llu", j ? "," : "", v);
      if (a >= MAX_NODES || b >= MAX_NODES || v != want[a][b])
        bad++;
    }
  }
  printf(" (expected %s)\n", spec);
  CHECK((int)d->nbobjs == nnodes && bad == 0,
        "%d distances differ from the spec", bad);
  hwloc_distances_release(topo, d);
}

/* Where each page of the range lives, as move_pages(nodes=NULL) reports;
 * returns the common node, -1 if they differ, -2 if the query failed. */
static int pages_node(void **pages, int *status, unsigned long n) {
  if (sys_move_pages(n, pages, NULL, status, 0) != 0) {
    printf("move_pages(query): %s\n", strerror(errno));
    return -2;
  }
  for (unsigned long i = 1; i < n; i++)
    if (status[i] != status[0])
      return -1;
  return status[0];
}

static void check_placement(const unsigned *nodes, int nnodes, unsigned long npages) {
  long psz = sysconf(_SC_PAGESIZE);
  size_t len = npages * (size_t)psz;
  void **pages = calloc(npages, sizeof *pages);
  int *status = calloc(npages, sizeof *status);
  int *target = calloc(npages, sizeof *target);
  if (!pages || !status || !target) {
    CHECK(0, "out of memory");
    goto out;
  }

  for (int k = 0; k < nnodes; k++) {
    unsigned node = nodes[k], dest = nodes[(k + 1) % nnodes];
    unsigned char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
      CHECK(0, "mmap %zu bytes: %s", len, strerror(errno));
      continue;
    }
    unsigned long mask[MAX_NODES / (8 * sizeof(unsigned long))] = {0};
    mask[node / (8 * sizeof(unsigned long))] |= 1UL << (node % (8 * sizeof(unsigned long)));
    long r = sys_mbind(buf, len, MPOL_BIND, mask, MAX_NODES + 1, 0);
    CHECK(r == 0, "mbind(MPOL_BIND, node %u): %s", node, strerror(errno));
    for (size_t i = 0; i < len; i++)
      buf[i] = (unsigned char)(i * 7 + node);
    for (unsigned long i = 0; i < npages; i++)
      pages[i] = buf + i * (size_t)psz;

    int where = pages_node(pages, status, npages);
    int mode = -1, pnode = -1;
    if (sys_get_mempolicy(&pnode, NULL, 0, buf, MPOL_F_NODE | MPOL_F_ADDR) != 0)
      pnode = -1;
    if (sys_get_mempolicy(&mode, NULL, 0, buf, MPOL_F_ADDR) != 0)
      mode = -1;
    CHECK(where == (int)node, "node %u: %lu bound pages are on node %d (status[0] %d)",
          node, npages, where, status[0]);
    CHECK(pnode == (int)node, "node %u: get_mempolicy(MPOL_F_NODE) says node %d", node, pnode);
    CHECK(mode == MPOL_BIND, "node %u: policy mode %d, expected MPOL_BIND (%d)", node, mode, MPOL_BIND);

    for (unsigned long i = 0; i < npages; i++)
      target[i] = (int)dest;
    r = sys_move_pages(npages, pages, target, status, MPOL_MF_MOVE);
    int moved = pages_node(pages, status, npages);
    CHECK(r == 0, "move_pages to node %u returned %ld (%s)", dest, r,
          r < 0 ? strerror(errno) : "pages left behind");
    CHECK(moved == (int)dest, "node %u: after move_pages to node %u the pages are on node %d",
          node, dest, moved);
    size_t bad = 0;
    for (size_t i = 0; i < len; i++)
      bad += buf[i] != (unsigned char)(i * 7 + node);
    CHECK(bad == 0, "node %u: %zu bytes changed by the move", node, bad);
    printf("node %u: %lu pages bound with mbind landed on node %d (get_mempolicy: %d); "
           "move_pages to node %u: now on node %d, contents %s\n",
           node, npages, where, pnode, dest, moved, bad ? "CHANGED" : "intact");
    munmap(buf, len);
  }
out:
  free(pages);
  free(status);
  free(target);
}

static void usage(void) {
  fprintf(stderr, "usage: numa_check NODES [--hmat SPEC] [--distances SPEC] [--pages N]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2)
    usage();
  char *end;
  long want_nodes = strtol(argv[1], &end, 10);
  if (*end || want_nodes < 1 || want_nodes > MAX_NODES)
    usage();
  const char *hmat = getenv("UMS_VM_HMAT");
  const char *dist = getenv("UMS_VM_DISTANCES");
  unsigned long npages = 64;
  for (int i = 2; i < argc; i++) {
    if (i + 1 >= argc)
      usage();
    if (strcmp(argv[i], "--hmat") == 0)
      hmat = argv[++i];
    else if (strcmp(argv[i], "--distances") == 0)
      dist = argv[++i];
    else if (strcmp(argv[i], "--pages") == 0)
      npages = strtoul(argv[++i], NULL, 10);
    else
      usage();
  }
  if (npages == 0)
    usage();
  setvbuf(stdout, NULL, _IOLBF, 0);

  static struct hmat_expect expect[MAX_NODES];
  int have_expect = hmat && *hmat;
  if (have_expect && parse_hmat(hmat, expect) != 0) {
    fprintf(stderr, "numa_check: bad HMAT spec \"%s\"\n", hmat);
    return 2;
  }

  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
    printf("FAIL: hwloc cannot load the topology: %s\n", strerror(errno));
    return 1;
  }
  int nnodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  printf("NUMA nodes: %d (expected %ld)\n", nnodes, want_nodes);
  CHECK(nnodes == want_nodes, "%d NUMA nodes, expected %ld", nnodes, want_nodes);
  if (nnodes > MAX_NODES)
    nnodes = MAX_NODES;

  check_memattrs(topo, nnodes, expect, have_expect);
  check_best_targets(topo, nnodes, expect, have_expect);
  const char *mo = getenv("UMS_VM_MEMONLY_NODE");
  const char *mi = getenv("UMS_VM_MEMONLY_INITIATOR");
  if (mo && *mo)
    check_memonly(topo, (unsigned)strtoul(mo, NULL, 10),
                  mi && *mi ? (unsigned)strtoul(mi, NULL, 10) : 0);
  if (dist && *dist)
    check_distances(topo, nnodes, dist);

  unsigned nodes[MAX_NODES];
  for (int i = 0; i < nnodes; i++)
    nodes[i] = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i)->os_index;
  if (nnodes > 1)
    check_placement(nodes, nnodes, npages);
  else
    printf("one node: placement checks need two\n");

  hwloc_topology_destroy(topo);
  printf("numa_check: %s (%d failed)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
