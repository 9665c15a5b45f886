/* The "host" backend: one location per host NUMA node that hwloc finds.
 * Its memory is staging for the core: anonymous pages bound to the node and
 * faulted in up front, which the core copies into and then installs over a
 * managed block. Copies are ums__copy_bulk (streaming stores, shim/copy.c). */
#include <errno.h>
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define MPOL_BIND_ 2
#define MPOL_MF_STRICT_ 1

typedef struct host_node {
    unsigned os_index;
    uint64_t capacity;
    uint64_t bandwidth_mbps, latency_ns;
} host_node;

typedef struct host_state {
    const ums_backend_services *svc;
    unsigned n;
    host_node *nodes;
} host_state;

struct ums_devmem {
    void *p;
    size_t len;
};

static ums_result host_init(const ums_backend_services *svc, const char *config, void **out) {
    (void)config;
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
        svc->set_error(svc->core, UMS_ERR_BACKEND, errno, "hwloc could not load this machine's topology");
        return UMS_ERR_BACKEND;
    }
    host_state *s = ums__calloc(1, sizeof *s);
    int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    if (n <= 0) n = 0;
    if (s) s->nodes = ums__calloc(n ? (size_t)n : 1, sizeof *s->nodes);
    if (!s || !s->nodes) {
        if (s) free(s);
        hwloc_topology_destroy(topo);
        svc->set_error(svc->core, UMS_ERR_NO_MEMORY, ENOMEM, "out of memory");
        return UMS_ERR_NO_MEMORY;
    }
    s->svc = svc;
    for (int i = 0; i < n; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        host_node *hn = &s->nodes[s->n++];
        hn->os_index = o->os_index;
        hn->capacity = o->attr ? o->attr->numanode.local_memory : 0;
        /* bandwidth / latency from the node's local CPUs, where the platform reports them */
        struct hwloc_location init = {.type = HWLOC_LOCATION_TYPE_CPUSET, .location.cpuset = o->cpuset};
        hwloc_uint64_t v;
        if (o->cpuset && !hwloc_bitmap_iszero(o->cpuset)) {
            /* hwloc reports MiB/s; the location field is MB/s */
            if (hwloc_memattr_get_value(topo, HWLOC_MEMATTR_ID_BANDWIDTH, o, &init, 0, &v) == 0)
                hn->bandwidth_mbps = v * 1048576ull / 1000000ull;
            if (hwloc_memattr_get_value(topo, HWLOC_MEMATTR_ID_LATENCY, o, &init, 0, &v) == 0) hn->latency_ns = v;
        }
    }
    hwloc_topology_destroy(topo);
    *out = s;
    return UMS_OK;
}

static void host_fini(void *backend) {
    host_state *s = backend;
    free(s->nodes);
    free(s);
}

static ums_result host_count(void *backend, uint32_t *count) {
    *count = ((host_state *)backend)->n;
    return UMS_OK;
}

static ums_result host_describe(void *backend, uint32_t index, ums_backend_location *d) {
    host_state *s = backend;
    if (index >= s->n) return UMS_ERR_UNKNOWN_LOCATION;
    const host_node *hn = &s->nodes[index];
    d->kind = UMS_LOCATION_HOST_NODE;
    snprintf(d->name, sizeof d->name, "node%u", hn->os_index);
    d->capacity = hn->capacity;
    d->bandwidth_mbps = hn->bandwidth_mbps;
    d->latency_ns = hn->latency_ns;
    d->numa_node = (int)hn->os_index;
    return UMS_OK;
}

static ums_result host_mem_alloc(void *backend, uint32_t index, size_t size, ums_devmem **out) {
    host_state *s = backend;
    ums_devmem *m = ums__calloc(1, sizeof *m);
    if (!m) {
        s->svc->set_error(s->svc->core, UMS_ERR_NO_MEMORY, ENOMEM, "out of memory");
        return UMS_ERR_NO_MEMORY;
    }
    m->len = size;
    m->p = ums__map_staging(size);
    if (!m->p) {
        int e = errno;
        free(m);
        s->svc->set_error(s->svc->core, UMS_ERR_NO_MEMORY, e, "staging mmap of %zu bytes: %s", size, strerror(e));
        return UMS_ERR_NO_MEMORY;
    }
    if (s->n > 1) {
        /* bind to the node; a single-node machine needs no policy */
        unsigned long mask[4] = {0};
        unsigned os = s->nodes[index].os_index;
        if (os < 256) {
            mask[os / 64] = 1ul << (os % 64);
            if (ums__sys_mbind(m->p, size, MPOL_BIND_, mask, 257, MPOL_MF_STRICT_) != 0) {
                int e = errno;
                munmap(m->p, size);
                free(m);
                s->svc->set_error(s->svc->core, UMS_ERR_SYSTEM, e, "mbind to node %u: %s", os, strerror(e));
                return UMS_ERR_SYSTEM;
            }
        }
    }
    /* Fault the pages in now: first touch inside a migration is several times slower. */
    if (madvise(m->p, size, MADV_POPULATE_WRITE) != 0) memset(m->p, 0, size);
    *out = m;
    return UMS_OK;
}

static void host_mem_free(void *backend, ums_devmem *m) {
    (void)backend;
    munmap(m->p, m->len);
    free(m);
}

static ums_result host_copy_to(void *backend, ums_devmem *dst, size_t off, const void *src, size_t len,
                               ums_fence **fence) {
    (void)backend;
    if (off > dst->len || len > dst->len - off) return UMS_ERR_OUT_OF_RANGE;
    ums__copy_bulk((char *)dst->p + off, src, len);
    if (fence) *fence = NULL;
    return UMS_OK;
}

static ums_result host_copy_from(void *backend, void *dst, ums_devmem *src, size_t off, size_t len,
                                 ums_fence **fence) {
    (void)backend;
    if (off > src->len || len > src->len - off) return UMS_ERR_OUT_OF_RANGE;
    ums__copy_bulk(dst, (char *)src->p + off, len);
    if (fence) *fence = NULL;
    return UMS_OK;
}

static ums_result host_copy_peer(void *backend, ums_devmem *dst, size_t doff, ums_devmem *src, size_t soff,
                                 size_t len, ums_fence **fence) {
    (void)backend;
    if (doff > dst->len || len > dst->len - doff || soff > src->len || len > src->len - soff)
        return UMS_ERR_OUT_OF_RANGE;
    ums__copy_bulk((char *)dst->p + doff, (char *)src->p + soff, len);
    if (fence) *fence = NULL;
    return UMS_OK;
}

static void *host_ptr(void *backend, ums_devmem *m) {
    (void)backend;
    return m->p;
}

static const ums_backend_ops host_ops = {
    .abi_version = UMS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(ums_backend_ops),
    .name = "host",
    .init = host_init,
    .fini = host_fini,
    .location_count = host_count,
    .location_describe = host_describe,
    .mem_alloc = host_mem_alloc,
    .mem_free = host_mem_free,
    .copy_to = host_copy_to,
    .copy_from = host_copy_from,
    .copy_peer = host_copy_peer,
    .mem_host_ptr = host_ptr,
};

const ums_backend_ops *ums__host_backend_entry(void) { return &host_ops; }
