/* The "sim" backend: device-like memories that live outside the managed range,
 * so the whole coherence protocol runs without hardware (the way Linux's
 * test_hmm drives HMM with a fake device backed by system RAM).
 *
 * Configuration (UMS_SIM or ums_runtime_config.sim), comma-separated:
 *   count=N          devices (default 1, at most 16)
 *   capacity=SIZE    bytes per device (default 1G)
 *   bandwidth=RATE   emulated transfer rate in bytes/s (e.g. 10G); 0 = memcpy speed
 *   latency=TIME     emulated per-transfer latency (e.g. 5us, 1ms); default 0
 *   host_access=0|1  report that the devices can access host memory
 *   host_nodes=N     also offer N extra host-node locations ("simnode0"...) backed
 *                    by ordinary host memory, to exercise host-to-host migration
 *                    on a machine with a single NUMA node
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"

#define SIM_MAX 16

typedef struct sim_state {
    const ums_backend_services *svc;
    unsigned ndev, nhost;
    uint64_t capacity, bandwidth, latency_ns;
    int host_access;
    _Atomic uint64_t used[SIM_MAX];
} sim_state;

struct ums_devmem {
    void *p;
    size_t len;
    unsigned index;
};

static int parse_time_ns(const char *v, uint64_t *out) {
    char *end;
    double x = strtod(v, &end);
    if (end == v || !(x >= 0) || x > 1e12) return -1; /* also refuses nan and inf */
    double mul = 1;
    if (!strcmp(end, "ns") || !*end) mul = 1;
    else if (!strcmp(end, "us")) mul = 1e3;
    else if (!strcmp(end, "ms")) mul = 1e6;
    else if (!strcmp(end, "s")) mul = 1e9;
    else return -1;
    if (x * mul > 1.8e19) return -1;
    *out = (uint64_t)(x * mul);
    return 0;
}

static ums_result sim_init(const ums_backend_services *svc, const char *config, void **out) {
    sim_state *s = ums__calloc(1, sizeof *s);
    if (!s) return UMS_ERR_NO_MEMORY;
    s->svc = svc;
    s->ndev = 1;
    s->capacity = (uint64_t)1 << 30;
    char buf[256];
    if (snprintf(buf, sizeof buf, "%s", config ? config : "") >= (int)sizeof buf) {
        svc->set_error(svc->core, UMS_ERR_CONFIG, 0, "sim configuration is longer than %zu characters", sizeof buf - 1);
        free(s);
        return UMS_ERR_CONFIG;
    }
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) goto bad;
        *eq = 0;
        const char *k = kv, *v = eq + 1;
        size_t sz;
        if (!strcmp(k, "count")) {
            char *e;
            long n = strtol(v, &e, 10);
            if (e == v || *e || n < 0 || n > SIM_MAX) goto bad;
            s->ndev = (unsigned)n;
        } else if (!strcmp(k, "host_nodes")) {
            char *e;
            long n = strtol(v, &e, 10);
            if (e == v || *e || n < 0 || n > SIM_MAX) goto bad;
            s->nhost = (unsigned)n;
        } else if (!strcmp(k, "capacity")) {
            if (ums__parse_size(v, &sz) != UMS_OK || sz == 0) goto bad;
            s->capacity = sz;
        } else if (!strcmp(k, "bandwidth")) {
            if (ums__parse_size(v, &sz) != UMS_OK) goto bad;
            s->bandwidth = sz;
        } else if (!strcmp(k, "latency")) {
            if (parse_time_ns(v, &s->latency_ns) != 0) goto bad;
        } else if (!strcmp(k, "host_access")) {
            if (strcmp(v, "0") && strcmp(v, "1")) goto bad;
            s->host_access = v[0] == '1';
        } else {
            goto bad;
        }
        continue;
    bad:
        svc->set_error(svc->core, UMS_ERR_CONFIG, 0,
                       "sim configuration '%s': bad item '%s' (expected count=N, capacity=SIZE, bandwidth=RATE, "
                       "latency=TIME, host_access=0|1, host_nodes=N)",
                       config, kv);
        free(s);
        return UMS_ERR_CONFIG;
    }
    *out = s;
    return UMS_OK;
}

static void sim_fini(void *backend) { free(backend); }

static ums_result sim_count(void *backend, uint32_t *count) {
    sim_state *s = backend;
    *count = s->ndev + s->nhost;
    return UMS_OK;
}

static bool is_dev(const sim_state *s, unsigned index) { return index < s->ndev; }

static ums_result sim_describe(void *backend, uint32_t index, ums_backend_location *d) {
    sim_state *s = backend;
    if (index >= s->ndev + s->nhost) return UMS_ERR_UNKNOWN_LOCATION;
    if (is_dev(s, index)) {
        d->kind = UMS_LOCATION_DEVICE;
        snprintf(d->name, sizeof d->name, "sim%u", index);
        d->capacity = s->capacity;
        d->bandwidth_mbps = s->bandwidth / 1000000;
        d->latency_ns = s->latency_ns;
        d->flags = UMS_LOCATION_FLAG_CONFIGURED | (s->host_access ? UMS_LOCATION_FLAG_HOST_ACCESS : 0);
    } else {
        d->kind = UMS_LOCATION_HOST_NODE;
        snprintf(d->name, sizeof d->name, "simnode%u", index - s->ndev);
        d->flags = UMS_LOCATION_FLAG_CONFIGURED;
        /* its pages are the machine's memory, like the real node's */
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        d->capacity = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
    }
    d->numa_node = -1;
    return UMS_OK;
}

static ums_result sim_mem_alloc(void *backend, uint32_t index, size_t size, ums_devmem **out) {
    sim_state *s = backend;
    if (index >= s->ndev + s->nhost) return UMS_ERR_UNKNOWN_LOCATION;
    if (is_dev(s, index) && atomic_load(&s->used[index]) + size > s->capacity) {
        s->svc->set_error(s->svc->core, UMS_ERR_NO_DEVICE_MEMORY, 0, "sim%u: %zu bytes do not fit", index, size);
        return UMS_ERR_NO_DEVICE_MEMORY;
    }
    ums_devmem *m = ums__calloc(1, sizeof *m);
    if (!m) return UMS_ERR_NO_MEMORY;
    m->p = ums__map_staging(size);
    if (m->p && madvise(m->p, size, 23 /* MADV_POPULATE_WRITE */) != 0) memset(m->p, 0, size);
    if (!m->p) {
        int e = errno;
        free(m);
        s->svc->set_error(s->svc->core, UMS_ERR_NO_DEVICE_MEMORY, e, "sim memory: mmap of %zu bytes: %s", size, strerror(e));
        return UMS_ERR_NO_DEVICE_MEMORY;
    }
    m->len = size;
    m->index = index;
    if (is_dev(s, index)) atomic_fetch_add(&s->used[index], size);
    *out = m;
    return UMS_OK;
}

static void sim_mem_free(void *backend, ums_devmem *m) {
    sim_state *s = backend;
    if (is_dev(s, m->index)) atomic_fetch_sub(&s->used[m->index], m->len);
    munmap(m->p, m->len);
    free(m);
}

/* Emulate the link: latency plus len/bandwidth, minus the time the copy took. */
static void emulate(const sim_state *s, size_t len, uint64_t t0) {
    uint64_t want = s->latency_ns + (s->bandwidth ? (uint64_t)((double)len * 1e9 / (double)s->bandwidth) : 0);
    uint64_t spent = ums__now_ns() - t0;
    if (want > spent) {
        uint64_t d = want - spent;
        struct timespec ts = {(time_t)(d / 1000000000ull), (long)(d % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
}

static ums_result sim_copy_to(void *backend, ums_devmem *dst, size_t off, const void *src, size_t len,
                              ums_fence **fence) {
    if (off > dst->len || len > dst->len - off) return UMS_ERR_OUT_OF_RANGE;
    uint64_t t0 = ums__now_ns();
    ums__copy_bulk((char *)dst->p + off, src, len);
    emulate(backend, len, t0);
    if (fence) *fence = NULL;
    return UMS_OK;
}

static ums_result sim_copy_from(void *backend, void *dst, ums_devmem *src, size_t off, size_t len,
                                ums_fence **fence) {
    if (off > src->len || len > src->len - off) return UMS_ERR_OUT_OF_RANGE;
    uint64_t t0 = ums__now_ns();
    ums__copy_bulk(dst, (char *)src->p + off, len);
    emulate(backend, len, t0);
    if (fence) *fence = NULL;
    return UMS_OK;
}

static ums_result sim_copy_peer(void *backend, ums_devmem *dst, size_t doff, ums_devmem *src, size_t soff,
                                size_t len, ums_fence **fence) {
    if (doff > dst->len || len > dst->len - doff || soff > src->len || len > src->len - soff)
        return UMS_ERR_OUT_OF_RANGE;
    uint64_t t0 = ums__now_ns();
    ums__copy_bulk((char *)dst->p + doff, (char *)src->p + soff, len);
    emulate(backend, len, t0);
    if (fence) *fence = NULL;
    return UMS_OK;
}

/* Only the extra host nodes are CPU-addressable; device memory never is. */
static void *sim_host_ptr(void *backend, ums_devmem *m) { return is_dev(backend, m->index) ? NULL : m->p; }

static ums_result sim_capacity(void *backend, uint32_t index, uint64_t *used, uint64_t *total) {
    sim_state *s = backend;
    if (index >= s->ndev + s->nhost) return UMS_ERR_UNKNOWN_LOCATION;
    *used = is_dev(s, index) ? atomic_load(&s->used[index]) : 0;
    *total = is_dev(s, index) ? s->capacity : 0;
    return UMS_OK;
}

static const ums_backend_ops sim_ops = {
    .abi_version = UMS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(ums_backend_ops),
    .name = "sim",
    .init = sim_init,
    .fini = sim_fini,
    .location_count = sim_count,
    .location_describe = sim_describe,
    .mem_alloc = sim_mem_alloc,
    .mem_free = sim_mem_free,
    .copy_to = sim_copy_to,
    .copy_from = sim_copy_from,
    .copy_peer = sim_copy_peer,
    .mem_host_ptr = sim_host_ptr,
    .capacity = sim_capacity,
};

const ums_backend_ops *ums__sim_backend_entry(void) { return &sim_ops; }
