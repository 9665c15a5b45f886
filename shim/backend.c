/* Backend registration (built-in and plug-in share one path), ABI checks,
 * default operations, and the wrappers through which the core calls backends. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>

#include "internal.h"

/* The version-1.0 table ends after copy_from: everything before is required. */
#define UMS_OPS_V1_MIN_SIZE (offsetof(ums_backend_ops, copy_from) + sizeof(void *))

UMS_API ums_result ums_backend_validate(const ums_backend_ops *ops) {
    if (!ops) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "backend table is NULL");
    if ((ops->abi_version >> 16) != UMS_BACKEND_ABI_MAJOR)
        return ums__fail(__func__, ops->struct_size >= UMS_OPS_V1_MIN_SIZE && ops->name ? ops->name : "plugin",
                         UMS_ERR_ABI_MISMATCH, (int)ops->abi_version,
                         "backend ABI major %u, core speaks %u", ops->abi_version >> 16, UMS_BACKEND_ABI_MAJOR);
    if (ops->struct_size < UMS_OPS_V1_MIN_SIZE)
        return ums__fail(__func__, "plugin", UMS_ERR_ABI_MISMATCH, (int)ops->struct_size,
                         "backend table is %u bytes, at least %zu required", ops->struct_size, UMS_OPS_V1_MIN_SIZE);
    if (!ops->name || !ops->name[0])
        return ums__fail(__func__, "plugin", UMS_ERR_PLUGIN, 0, "backend table has no name");
    const struct {
        const char *n;
        const void *p;
    } req[] = {{"init", (const void *)ops->init},
               {"fini", (const void *)ops->fini},
               {"location_count", (const void *)ops->location_count},
               {"location_describe", (const void *)ops->location_describe},
               {"mem_alloc", (const void *)ops->mem_alloc},
               {"mem_free", (const void *)ops->mem_free},
               {"copy_to", (const void *)ops->copy_to},
               {"copy_from", (const void *)ops->copy_from}};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (!req[i].p)
            return ums__fail(__func__, ops->name, UMS_ERR_PLUGIN, 0, "backend '%s' lacks required operation %s",
                             ops->name, req[i].n);
    return UMS_OK;
}

/* ---- services offered to backends ---- */

static void svc_log(void *core, int level, const char *fmt, ...) {
    ums__backend *be = core;
    if (!be->rt || level <= 0 || level > (int)be->rt->cfg.log_level) return;
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ums__log(be->rt, (ums_log_level)level, "%s: %s", be->name, buf);
}

static void svc_set_error(void *core, ums_result code, int native, const char *fmt, ...) {
    ums__backend *be = core;
    va_list ap;
    va_start(ap, fmt);
    ums__backend_set_error(be->name, code, native, fmt, ap);
    va_end(ap);
}

static ums_result svc_submit_hint(void *core, const ums_hint *hint) {
    ums__backend *be = core;
    if (!hint) return UMS_ERR_NULL_POINTER;
    ums__log(be->rt, UMS_LOG_DEBUG, "hint from %s: kind %d count %llu", be->name, (int)hint->kind,
             (unsigned long long)hint->count);
    return UMS_OK; /* recorded; the hint-driven policy consumes them in a later version */
}

/* ---- default optional operations ---- */

static ums_result default_fence_wait(void *backend, ums_fence *fence) {
    (void)backend;
    (void)fence;
    return UMS_OK;
}

ums_result ums__backend_add(ums_runtime_t *rt, const ums_backend_ops *ops, const char *config, void *dl) {
    ums_result r = ums_backend_validate(ops);
    if (r != UMS_OK) return r;
    if (rt->nbackends >= sizeof rt->backends / sizeof rt->backends[0])
        return ums__fail(__func__, ops->name, UMS_ERR_BUSY, 0, "too many backends");
    ums__backend *be = ums__calloc(1, sizeof *be);
    if (!be) return ums__fail(__func__, ops->name, UMS_ERR_NO_MEMORY, 0, "out of memory");
    /* Copy what the backend's table has; fields past its size stay NULL. */
    size_t n = ops->struct_size < sizeof be->ops ? ops->struct_size : sizeof be->ops;
    memcpy(&be->ops, ops, n);
    if (!be->ops.fence_wait) be->ops.fence_wait = default_fence_wait;
    snprintf(be->name, sizeof be->name, "%s", ops->name);
    be->rt = rt;
    be->dl = dl;
    be->svc = (ums_backend_services){.abi_version = UMS_BACKEND_ABI_VERSION,
                                     .struct_size = sizeof(ums_backend_services),
                                     .core = be,
                                     .log = svc_log,
                                     .set_error = svc_set_error,
                                     .submit_hint = svc_submit_hint};
    int inj = ums__inject_check(UMS_OP_INIT);
    r = inj ? ums__fail(__func__, be->name, (ums_result)inj, 0, "%s: injected failure of op:init", be->name)
            : be->ops.init(&be->svc, config, &be->state);
    if (r != UMS_OK) {
        free(be);
        return ums__fail_keep("ums_backend_add", r);
    }
    uint32_t count = 0;
    inj = ums__inject_check(UMS_OP_LOCATION_COUNT);
    r = inj ? ums__fail(__func__, be->name, (ums_result)inj, 0, "%s: injected failure of op:location_count", be->name)
            : be->ops.location_count(be->state, &count);
    if (r == UMS_OK && rt->nlocs + count > UMS_MAX_LOCATIONS)
        r = ums__fail(__func__, be->name, UMS_ERR_BUSY, 0, "more than %u locations", UMS_MAX_LOCATIONS);
    unsigned first = rt->nlocs;
    for (uint32_t i = 0; r == UMS_OK && i < count; i++) {
        ums_backend_location d;
        memset(&d, 0, sizeof d);
        d.struct_size = sizeof d;
        d.numa_node = -1;
        inj = ums__inject_check(UMS_OP_LOCATION_DESCRIBE);
        r = inj ? ums__fail(__func__, be->name, (ums_result)inj, 0, "%s: injected failure of op:location_describe",
                            be->name)
                : be->ops.location_describe(be->state, i, &d);
        if (r != UMS_OK) break;
        if (d.kind == UMS_LOCATION_HOST_NODE && !be->ops.mem_host_ptr) {
            r = ums__fail(__func__, be->name, UMS_ERR_PLUGIN, 0,
                          "location %u is a host node but the backend has no mem_host_ptr", i);
            break;
        }
        if (d.kind != UMS_LOCATION_HOST_NODE && d.kind != UMS_LOCATION_DEVICE) {
            r = ums__fail(__func__, be->name, UMS_ERR_PLUGIN, 0, "location %u has unknown kind %d", i, (int)d.kind);
            break;
        }
        ums__location *L = &rt->locs[rt->nlocs];
        memset(L, 0, sizeof *L);
        memcpy(L->name, d.name, sizeof L->name - 1);
        memcpy(L->pci_bus_id, d.pci_bus_id, sizeof L->pci_bus_id - 1);
        for (unsigned j = 0; j < rt->nlocs; j++)
            if (strcmp(rt->locs[j].name, L->name) == 0) {
                /* names must be unique: suffix the backend's name */
                char tmp[sizeof L->name + sizeof be->name + 2];
                snprintf(tmp, sizeof tmp, "%s.%s", be->name, d.name);
                memcpy(L->name, tmp, sizeof L->name - 1);
                L->name[sizeof L->name - 1] = '\0';
            }
        L->backend = be;
        L->index = i;
        L->info = (ums_location_info){.id = rt->nlocs,
                                      .kind = d.kind,
                                      .name = L->name,
                                      .backend = be->name,
                                      .capacity = d.capacity,
                                      .bandwidth_mbps = d.bandwidth_mbps,
                                      .latency_ns = d.latency_ns,
                                      .numa_node = d.numa_node,
                                      .pci_bus_id = L->pci_bus_id,
                                      .flags = d.flags};
        rt->nlocs++;
    }
    if (r != UMS_OK) {
        rt->nlocs = first;
        ums_result keep = ums__fail_keep("ums_backend_add", r);
        be->ops.fini(be->state);
        free(be);
        return keep;
    }
    rt->backends[rt->nbackends++] = be;
    return UMS_OK;
}

void ums__backends_fini(ums_runtime_t *rt) {
    while (rt->nbackends > 0) {
        ums__backend *be = rt->backends[--rt->nbackends];
        be->ops.fini(be->state);
        if (be->dl) dlclose(be->dl);
        free(be);
    }
    rt->nlocs = 0;
}

static ums_result ums_backend_add_impl(ums_runtime_t *rt, const ums_backend_ops *ops, const char *config) {
    if (!ops) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "ops is NULL");
    ums_result r = ums__runtime_resolve(&rt, __func__);
    if (r != UMS_OK) return r;
    pthread_mutex_lock(&rt->lock);
    if (rt->nallocs_live > 0) r = ums__fail(__func__, "core", UMS_ERR_BUSY, 0, "the runtime already has allocations");
    else r = ums__backend_add(rt, ops, config, NULL);
    pthread_mutex_unlock(&rt->lock);
    return r;
}

static ums_result ums_backend_load_impl(ums_runtime_t *rt, const char *path, const char *config) {
    if (!path) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "path is NULL");
    ums_result r = ums__runtime_resolve(&rt, __func__);
    if (r != UMS_OK) return r;
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) return ums__fail(__func__, "core", UMS_ERR_PLUGIN, 0, "cannot load '%s': %s", path, dlerror());
    ums_backend_entry_fn entry;
    void *sym = dlsym(dl, UMS_BACKEND_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry);
    if (!entry) {
        dlclose(dl);
        return ums__fail(__func__, "core", UMS_ERR_PLUGIN, 0, "'%s' has no %s symbol", path, UMS_BACKEND_ENTRY_SYMBOL);
    }
    const ums_backend_ops *ops = entry();
    if (!ops) {
        dlclose(dl);
        return ums__fail(__func__, "core", UMS_ERR_PLUGIN, 0, "'%s': %s returned NULL", path, UMS_BACKEND_ENTRY_SYMBOL);
    }
    pthread_mutex_lock(&rt->lock);
    if (rt->nallocs_live > 0) r = ums__fail(__func__, "core", UMS_ERR_BUSY, 0, "the runtime already has allocations");
    else r = ums__backend_add(rt, ops, config, dl);
    pthread_mutex_unlock(&rt->lock);
    if (r != UMS_OK) dlclose(dl);
    return r;
}

/* ---- calls from the core ---- */

static const char *op_name(ums__sysid id) { return ums_test_inject_names()[id]; }
#define INJECT_OP(id)                                                                                     \
    do {                                                                                                  \
        int e_ = ums__inject_check(id);                                                                   \
        if (e_)                                                                                           \
            return ums__fail(__func__, L->backend->name, (ums_result)e_, 0, "%s: injected failure of %s", \
                             L->name, op_name(id));                                                       \
    } while (0)

ums_result ums__be_mem_alloc(ums_runtime_t *rt, ums_location_t loc, size_t size, ums_devmem **out) {
    ums__location *L = &rt->locs[loc];
    INJECT_OP(UMS_OP_MEM_ALLOC);
    uint64_t cap = L->info.capacity;
    if (cap && atomic_load(&L->used) + size > cap && L->info.kind == UMS_LOCATION_DEVICE)
        return ums__fail(__func__, L->backend->name, UMS_ERR_NO_DEVICE_MEMORY, 0,
                         "%s is full: %llu of %llu bytes used, %zu more wanted", L->name,
                         (unsigned long long)atomic_load(&L->used), (unsigned long long)cap, size);
    ums_result r = L->backend->ops.mem_alloc(L->backend->state, L->index, size, out);
    if (r != UMS_OK) return ums__fail_keep(__func__, r);
    atomic_fetch_add(&L->used, size);
    return UMS_OK;
}

ums_result ums__be_block_alloc(ums_runtime_t *rt, ums_location_t loc, const ums__alloc *a, size_t i,
                               ums_devmem **out) {
    ums__location *L = &rt->locs[loc];
    size_t bs = rt->block_size;
    if (L->info.kind != UMS_LOCATION_DEVICE || !L->backend->ops.mem_alloc_region)
        return ums__be_mem_alloc(rt, loc, bs, out);
    INJECT_OP(UMS_OP_MEM_ALLOC);
    uint64_t cap = L->info.capacity;
    if (cap && atomic_load(&L->used) + bs > cap)
        return ums__fail(__func__, L->backend->name, UMS_ERR_NO_DEVICE_MEMORY, 0,
                         "%s is full: %llu of %llu bytes used, %zu more wanted", L->name,
                         (unsigned long long)atomic_load(&L->used), (unsigned long long)cap, bs);
    ums_result r =
        L->backend->ops.mem_alloc_region(L->backend->state, L->index, a->base, a->map_size, i * bs, bs, out);
    if (r != UMS_OK) return ums__fail_keep(__func__, r);
    atomic_fetch_add(&L->used, bs);
    return UMS_OK;
}

void ums__be_region_release(ums_runtime_t *rt, const void *base) {
    for (unsigned i = 0; i < rt->nlocs; i++) {
        ums__location *L = &rt->locs[i];
        if (L->info.kind == UMS_LOCATION_DEVICE && L->backend->ops.region_release)
            L->backend->ops.region_release(L->backend->state, L->index, base);
    }
}

void ums__be_mem_free(ums_runtime_t *rt, ums_location_t loc, ums_devmem *mem, size_t size) {
    ums__location *L = &rt->locs[loc];
    if (!mem) return;
    L->backend->ops.mem_free(L->backend->state, mem);
    atomic_fetch_sub(&L->used, size);
}

static ums_result wait_fence(ums__location *L, ums_fence *f) {
    if (!f) return UMS_OK;
    /* The fence is always waited for and released, even when a failure is injected:
     * the copy may still be using memory the caller is about to free. */
    ums_result r = L->backend->ops.fence_wait(L->backend->state, f);
    int e = ums__inject_check(UMS_OP_FENCE_WAIT);
    if (e) return ums__fail(__func__, L->backend->name, (ums_result)e, 0, "%s: injected failure of op:fence_wait", L->name);
    return r == UMS_OK ? r : ums__fail_keep(__func__, r);
}

ums_result ums__be_fence_wait(ums_runtime_t *rt, ums_location_t loc, ums_fence *f) {
    return wait_fence(&rt->locs[loc], f);
}

ums_result ums__be_copy_to_async(ums_runtime_t *rt, ums_location_t loc, ums_devmem *dst, const void *src, size_t len,
                                 ums_fence **fence) {
    ums__location *L = &rt->locs[loc];
    *fence = NULL;
    INJECT_OP(UMS_OP_COPY_TO);
    ums_result r = L->backend->ops.copy_to(L->backend->state, dst, 0, src, len, fence);
    if (r != UMS_OK) *fence = NULL;
    return r == UMS_OK ? r : ums__fail_keep(__func__, r);
}

bool ums__be_can_copy_many(ums_runtime_t *rt, ums_location_t loc) {
    return rt->locs[loc].backend->ops.copy_to_many != NULL;
}

ums_result ums__be_copy_to_many_async(ums_runtime_t *rt, ums_location_t loc, ums_devmem *const *dst, size_t n,
                                      const void *src, size_t len, ums_fence **fence) {
    ums__location *L = &rt->locs[loc];
    *fence = NULL;
    if (!L->backend->ops.copy_to_many) return UMS_ERR_NOT_SUPPORTED;
    INJECT_OP(UMS_OP_COPY_TO_MANY);
    ums_result r = L->backend->ops.copy_to_many(L->backend->state, dst, n, src, len, fence);
    if (r != UMS_OK) *fence = NULL;
    if (r == UMS_OK || r == UMS_ERR_NOT_SUPPORTED) return r; /* not supported: nothing to report */
    return ums__fail_keep(__func__, r);
}

bool ums__be_can_copy_from_many(ums_runtime_t *rt, ums_location_t loc) {
    return rt->locs[loc].backend->ops.copy_from_many != NULL;
}

ums_result ums__be_copy_from_many_async(ums_runtime_t *rt, ums_location_t loc, void *dst, ums_devmem *const *src,
                                        size_t n, size_t len, ums_fence **fence) {
    ums__location *L = &rt->locs[loc];
    *fence = NULL;
    if (!L->backend->ops.copy_from_many) return UMS_ERR_NOT_SUPPORTED;
    INJECT_OP(UMS_OP_COPY_FROM_MANY);
    ums_result r = L->backend->ops.copy_from_many(L->backend->state, dst, src, n, len, fence);
    if (r != UMS_OK) *fence = NULL;
    if (r == UMS_OK || r == UMS_ERR_NOT_SUPPORTED) return r; /* not supported: nothing to report */
    return ums__fail_keep(__func__, r);
}

ums_result ums__be_copy_from_async(ums_runtime_t *rt, ums_location_t loc, void *dst, ums_devmem *src, size_t len,
                                   ums_fence **fence) {
    ums__location *L = &rt->locs[loc];
    *fence = NULL;
    INJECT_OP(UMS_OP_COPY_FROM);
    ums_result r = L->backend->ops.copy_from(L->backend->state, dst, src, 0, len, fence);
    if (r != UMS_OK) *fence = NULL;
    return r == UMS_OK ? r : ums__fail_keep(__func__, r);
}

ums_result ums__be_copy_to(ums_runtime_t *rt, ums_location_t loc, ums_devmem *dst, const void *src, size_t len) {
    ums_fence *f;
    ums_result r = ums__be_copy_to_async(rt, loc, dst, src, len, &f);
    if (r == UMS_OK) r = ums__be_fence_wait(rt, loc, f);
    return r;
}

ums_result ums__be_copy_from(ums_runtime_t *rt, ums_location_t loc, void *dst, ums_devmem *src, size_t len) {
    ums_fence *f;
    ums_result r = ums__be_copy_from_async(rt, loc, dst, src, len, &f);
    if (r == UMS_OK) r = ums__be_fence_wait(rt, loc, f);
    return r;
}

void *ums__be_host_ptr(ums_runtime_t *rt, ums_location_t loc, ums_devmem *mem) {
    ums__location *L = &rt->locs[loc];
    return L->backend->ops.mem_host_ptr ? L->backend->ops.mem_host_ptr(L->backend->state, mem) : NULL;
}

ums_result ums__be_copy_peer_async(ums_runtime_t *rt, ums_location_t dloc, ums_devmem *dst, ums_location_t sloc,
                                   ums_devmem *src, size_t len, ums_fence **fence) {
    ums__location *L = &rt->locs[dloc], *S = &rt->locs[sloc];
    *fence = NULL;
    INJECT_OP(UMS_OP_COPY_PEER);
    if (L->backend == S->backend && L->backend->ops.copy_peer) {
        ums_result r = L->backend->ops.copy_peer(L->backend->state, dst, 0, src, 0, len, fence);
        if (r != UMS_OK) *fence = NULL;
        return r == UMS_OK ? r : ums__fail_keep(__func__, r);
    }
    /* Default: through a host bounce buffer (complete on return). */
    void *bounce = ums__sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bounce == MAP_FAILED) return ums__fail(__func__, "core", UMS_ERR_NO_MEMORY, errno, "bounce buffer: mmap of %zu bytes: %s", len, strerror(errno));
    ums_result r = ums__be_copy_from(rt, sloc, bounce, src, len);
    if (r == UMS_OK) r = ums__be_copy_to(rt, dloc, dst, bounce, len);
    munmap(bounce, len);
    return r;
}

ums_result ums__be_copy_peer(ums_runtime_t *rt, ums_location_t dloc, ums_devmem *dst, ums_location_t sloc,
                             ums_devmem *src, size_t len) {
    ums_fence *f;
    ums_result r = ums__be_copy_peer_async(rt, dloc, dst, sloc, src, len, &f);
    if (r == UMS_OK) r = ums__be_fence_wait(rt, dloc, f);
    return r;
}

/* ---- public entry points: the last-error contract (ums__api_enter/leave) ---- */

UMS_API ums_result ums_backend_add(ums_runtime_t *rt, const ums_backend_ops *ops, const char *config) {
    return UMS_API_CALL("ums_backend_add", ums_backend_add_impl(rt, ops, config));
}

UMS_API ums_result ums_backend_load(ums_runtime_t *rt, const char *path, const char *config) {
    return UMS_API_CALL("ums_backend_load", ums_backend_load_impl(rt, path, config));
}
