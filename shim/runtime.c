/* Runtimes: start-up (fault mode, backends, threads), the default runtime,
 * shut-down, and the location, feature and counter queries. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* The default runtime. Global by design: the pointer-only API (ums_alloc with no
 * runtime argument) needs one runtime per process, started on first use. */
static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static ums_runtime_t *default_rt;

static ums_result add_builtin_backends(ums_runtime_t *rt) {
    ums_result r = ums__backend_add(rt, ums__host_backend_entry(), NULL, NULL);
    if (r != UMS_OK) return r;
    rt->host_backend = rt->backends[0];
    if (rt->nlocs == 0 || rt->locs[0].info.kind != UMS_LOCATION_HOST_NODE)
        return ums__fail(__func__, "host", UMS_ERR_BACKEND, 0, "the host backend found no NUMA node");
    rt->host_default = 0;
    for (unsigned i = 0; i < rt->nlocs; i++) rt->numa_nodes += rt->locs[i].info.numa_node >= 0;
    if (rt->cfg.sim) {
        r = ums__backend_add(rt, ums__sim_backend_entry(), rt->cfg.sim, NULL);
        if (r != UMS_OK) return r;
    }
#ifdef UMS_HAVE_OPENCL
    if (rt->cfg.opencl) {
        r = ums__backend_add(rt, ums__opencl_backend_entry(), rt->cfg.opencl_config, NULL);
        if (r != UMS_OK) return r;
    }
#endif
    if (rt->cfg.plugins) {
        char *list = strdup(rt->cfg.plugins);
        if (!list) return ums__fail(__func__, "core", UMS_ERR_NO_MEMORY, 0, "out of memory");
        char *save = NULL;
        for (char *p = strtok_r(list, ":", &save); p && r == UMS_OK; p = strtok_r(NULL, ":", &save))
            r = ums_backend_load(rt, p, NULL);
        free(list);
    }
    return r;
}

static ums_result choose_fault_mode(ums_runtime_t *rt) {
    ums_fault_mode want = rt->cfg.fault_mode;
    if (want == UMS_FAULT_SIGNAL) {
        rt->fault_mode = UMS_FAULT_SIGNAL;
        snprintf(rt->fault_reason, sizeof rt->fault_reason, "signal mode requested");
        return UMS_OK;
    }
    ums_result r = ums__uffd_probe(rt);
    if (r == UMS_OK) {
        rt->fault_mode = UMS_FAULT_UFFD;
        snprintf(rt->fault_reason, sizeof rt->fault_reason, "userfaultfd with write-protect%s%s",
                 rt->uffd_move ? " and UFFDIO_MOVE" : "", rt->uffd_kernel_faults ? "" : " (user-mode faults only)");
        return UMS_OK;
    }
    if (want == UMS_FAULT_UFFD) return r;
    rt->fault_mode = UMS_FAULT_SIGNAL;
    snprintf(rt->fault_reason, sizeof rt->fault_reason, "userfaultfd unavailable (%s): signal mode",
             ums_last_error()->message);
    return UMS_OK; /* the caller's ums__api_leave drops the record of the refusal */
}

static ums_result ums_runtime_create_impl(const ums_runtime_config *cfg, ums_runtime_t **out) {
    if (!out) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "out is NULL");
    ums_runtime_config c;
    if (cfg) {
        if (cfg->struct_size < offsetof(ums_runtime_config, host_backend) || cfg->struct_size > sizeof c)
            return ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "cfg->struct_size %u is not a known size; use ums_runtime_config_init", cfg->struct_size);
        ums_runtime_config_init(&c);
        memcpy(&c, cfg, cfg->struct_size);
    } else {
        ums_result r = ums_runtime_config_from_env(&c);
        if (r != UMS_OK) return r;
    }
    if ((unsigned)c.fault_mode > UMS_FAULT_SIGNAL || (unsigned)c.protocol > UMS_PROTOCOL_BLOCKING ||
        (unsigned)c.migrate_write > UMS_MIGRATE_WRITE_ABORT || (unsigned)c.log_level > UMS_LOG_DEBUG ||
        (unsigned)c.read_only_install > UMS_RO_INSTALL_COPY)
        return ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "configuration has an out-of-range enum value");
    if (c.workers > 8) return ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "workers %u: at most 8", c.workers);

    ums_runtime_t *rt = ums__calloc(1, sizeof *rt);
    if (!rt) return ums__fail(__func__, "core", UMS_ERR_NO_MEMORY, 0, "out of memory");
    rt->cfg = c;
    rt->page_size = (size_t)sysconf(_SC_PAGESIZE);
    size_t bs = c.block_size ? c.block_size : UMS_DEFAULT_BLOCK_SIZE;
    if (bs > ((size_t)1 << 40)) {
        free(rt);
        return ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "block size %zu is too large", bs);
    }
    rt->block_size = (bs + rt->page_size - 1) / rt->page_size * rt->page_size;
    rt->uffd = -1;
    rt->sig_pipe[0] = rt->sig_pipe[1] = -1;
    rt->stop_fd[0] = rt->stop_fd[1] = -1;
    pthread_mutex_init(&rt->lock, NULL);
    pthread_mutex_init(&rt->stage_lock, NULL);
    pthread_mutex_init(&rt->work_lock, NULL);
    pthread_cond_init(&rt->work_cond, NULL);

    ums_result r = choose_fault_mode(rt);
    if (r == UMS_OK) {
        rt->fops = rt->fault_mode == UMS_FAULT_UFFD ? &ums__fault_uffd_ops : &ums__fault_signal_ops;
        r = add_builtin_backends(rt);
    }
    if (r == UMS_OK) r = rt->fops->start(rt);
    if (r == UMS_OK) {
        r = ums__workers_start(rt);
        if (r != UMS_OK) rt->fops->stop(rt);
    }
    if (r != UMS_OK) {
        ums_error_info saved = *ums_last_error();
        ums__backends_fini(rt);
        pthread_mutex_destroy(&rt->stage_lock);
        if (rt->uffd >= 0) close(rt->uffd);
        pthread_mutex_destroy(&rt->lock);
        pthread_mutex_destroy(&rt->work_lock);
        pthread_cond_destroy(&rt->work_cond);
        free(rt);
        *(ums_error_info *)ums_last_error() = saved;
        return r;
    }
    ums__log(rt, UMS_LOG_INFO, "runtime started: fault mode %s (%s), protocol %s, block %zu bytes, %u locations",
             ums_fault_mode_name(rt->fault_mode), rt->fault_reason, ums_protocol_name(rt->cfg.protocol),
             rt->block_size, rt->nlocs);
    *out = rt;
    return UMS_OK;
}

UMS_API ums_result ums_runtime_destroy(ums_runtime_t *rt) {
    if (!rt) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "rt is NULL");
    ums__workers_stop(rt);
    /* Free what the application left behind. */
    for (;;) {
        pthread_mutex_lock(&rt->lock);
        ums__alloc *a = rt->allocs;
        pthread_mutex_unlock(&rt->lock);
        if (!a) break;
        if (ums_free(a->base) != UMS_OK) break;
    }
    ums__stage_pool_fini(rt); /* before the fault mechanism stops: its ranges are registered */
    rt->fops->stop(rt);
    ums__backends_fini(rt);
    ums__place_fini(rt);
    pthread_mutex_destroy(&rt->stage_lock);
    pthread_mutex_destroy(&rt->lock);
    pthread_mutex_destroy(&rt->work_lock);
    pthread_cond_destroy(&rt->work_cond);
    free(rt);
    return UMS_OK;
}

static ums_result ums_default_runtime_impl(ums_runtime_t **out) {
    if (!out) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "out is NULL");
    pthread_mutex_lock(&default_lock);
    ums_result r = UMS_OK;
    if (!default_rt) r = ums_runtime_create(NULL, &default_rt);
    if (r == UMS_OK) *out = default_rt;
    pthread_mutex_unlock(&default_lock);
    return r;
}

UMS_API ums_result ums_shutdown(void) {
    pthread_mutex_lock(&default_lock);
    ums_runtime_t *rt = default_rt;
    default_rt = NULL;
    pthread_mutex_unlock(&default_lock);
    if (rt) ums_runtime_destroy(rt);
    return UMS_OK;
}

ums_result ums__runtime_resolve(ums_runtime_t **rt, const char *function) {
    if (*rt) return UMS_OK;
    ums_result r = ums_default_runtime(rt);
    if (r != UMS_OK) return ums__fail_keep(function, r);
    return UMS_OK;
}

ums__location *ums__loc(ums_runtime_t *rt, ums_location_t id) { return id < rt->nlocs ? &rt->locs[id] : NULL; }

bool ums__loc_is_host(ums_runtime_t *rt, ums_location_t id) {
    return id < rt->nlocs && rt->locs[id].info.kind == UMS_LOCATION_HOST_NODE;
}

UMS_API ums_fault_mode ums_runtime_fault_mode(ums_runtime_t *rt) {
    if (ums__runtime_resolve(&rt, __func__) != UMS_OK) return UMS_FAULT_AUTO;
    return rt->fault_mode;
}

UMS_API ums_protocol ums_runtime_protocol(ums_runtime_t *rt) {
    if (ums__runtime_resolve(&rt, __func__) != UMS_OK) return UMS_PROTOCOL_READABLE;
    return rt->cfg.protocol;
}

UMS_API size_t ums_runtime_block_size(ums_runtime_t *rt) {
    if (ums__runtime_resolve(&rt, __func__) != UMS_OK) return 0;
    return rt->block_size;
}

static ums_result ums_runtime_features_get_impl(ums_runtime_t *rt, ums_runtime_features *out) {
    if (!out) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "out is NULL");
    ums_result r = ums__runtime_resolve(&rt, __func__);
    if (r != UMS_OK) return r;
    int nodes = 0;
    for (unsigned i = 0; i < rt->nlocs; i++) nodes += rt->locs[i].info.kind == UMS_LOCATION_HOST_NODE;
    *out = (ums_runtime_features){.uffd = rt->fault_mode == UMS_FAULT_UFFD,
                                  .uffd_wp = rt->uffd_wp,
                                  .uffd_move = rt->uffd_move,
                                  .numa_nodes = nodes,
                                  .fault_mode_reason = rt->fault_reason,
                                  .hole_free_replace = rt->fault_mode == UMS_FAULT_SIGNAL || rt->replace_ok,
                                  .huge_pages = rt->thp,
                                  .read_only_move = rt->fault_mode == UMS_FAULT_SIGNAL || rt->ro_move};
    return UMS_OK;
}

static ums_result ums_location_count_impl(ums_runtime_t *rt, uint32_t *count) {
    if (!count) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "count is NULL");
    ums_result r = ums__runtime_resolve(&rt, __func__);
    if (r != UMS_OK) return r;
    *count = rt->nlocs;
    return UMS_OK;
}

static ums_result ums_location_get_impl(ums_runtime_t *rt, ums_location_t id, ums_location_info *info) {
    if (!info) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "info is NULL");
    ums_result r = ums__runtime_resolve(&rt, __func__);
    if (r != UMS_OK) return r;
    if (id >= rt->nlocs)
        return ums__fail(__func__, "core", UMS_ERR_UNKNOWN_LOCATION, 0, "location %u: the runtime has %u", id, rt->nlocs);
    *info = rt->locs[id].info;
    return UMS_OK;
}

static ums_result ums_location_find_impl(ums_runtime_t *rt, const char *name, ums_location_t *id) {
    if (!name || !id) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "name or id is NULL");
    ums_result r = ums__runtime_resolve(&rt, __func__);
    if (r != UMS_OK) return r;
    for (unsigned i = 0; i < rt->nlocs; i++)
        if (strcmp(rt->locs[i].name, name) == 0) {
            *id = i;
            return UMS_OK;
        }
    return ums__fail(__func__, "core", UMS_ERR_UNKNOWN_LOCATION, 0, "no location named '%s'", name);
}

static ums_result ums_counters_get_impl(ums_runtime_t *rt, ums_counters *out) {
    if (!out) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "out is NULL");
    ums_result r = ums__runtime_resolve(&rt, __func__);
    if (r != UMS_OK) return r;
#define L_(f) atomic_load_explicit(&rt->ctr.f, memory_order_relaxed)
    *out = (ums_counters){.faults = L_(faults),
                          .read_faults = L_(read_faults),
                          .write_faults = L_(write_faults),
                          .first_touch_faults = L_(first_touch_faults),
                          .fetches = L_(fetches),
                          .invalidations = L_(invalidations),
                          .migrations = L_(migrations),
                          .migrations_aborted = L_(migrations_aborted),
                          .bytes_host_to_host = L_(bytes_h2h),
                          .bytes_host_to_device = L_(bytes_h2d),
                          .bytes_device_to_host = L_(bytes_d2h),
                          .bytes_device_to_device = L_(bytes_d2d),
                          .reader_waits = L_(reader_waits),
                          .writer_waits = L_(writer_waits),
                          .reader_wait_ns = L_(reader_wait_ns),
                          .writer_wait_ns = L_(writer_wait_ns),
                          .prefetches = L_(prefetches)};
#undef L_
    return UMS_OK;
}

static ums_result ums_counters_reset_impl(ums_runtime_t *rt) {
    ums_result r = ums__runtime_resolve(&rt, __func__);
    if (r != UMS_OK) return r;
    _Atomic uint64_t *p = (_Atomic uint64_t *)&rt->ctr;
    for (size_t i = 0; i < sizeof rt->ctr / sizeof *p; i++) atomic_store(&p[i], 0);
    return UMS_OK;
}

/* ---- public entry points: the last-error contract (ums__api_enter/leave) ---- */

UMS_API ums_result ums_runtime_create(const ums_runtime_config *cfg, ums_runtime_t **out) {
    return UMS_API_CALL("ums_runtime_create", ums_runtime_create_impl(cfg, out));
}

UMS_API ums_result ums_default_runtime(ums_runtime_t **out) {
    return UMS_API_CALL("ums_default_runtime", ums_default_runtime_impl(out));
}

UMS_API ums_result ums_runtime_features_get(ums_runtime_t *rt, ums_runtime_features *out) {
    return UMS_API_CALL("ums_runtime_features_get", ums_runtime_features_get_impl(rt, out));
}

UMS_API ums_result ums_location_count(ums_runtime_t *rt, uint32_t *count) {
    return UMS_API_CALL("ums_location_count", ums_location_count_impl(rt, count));
}

UMS_API ums_result ums_location_get(ums_runtime_t *rt, ums_location_t id, ums_location_info *info) {
    return UMS_API_CALL("ums_location_get", ums_location_get_impl(rt, id, info));
}

UMS_API ums_result ums_location_find(ums_runtime_t *rt, const char *name, ums_location_t *id) {
    return UMS_API_CALL("ums_location_find", ums_location_find_impl(rt, name, id));
}

UMS_API ums_result ums_counters_get(ums_runtime_t *rt, ums_counters *out) {
    return UMS_API_CALL("ums_counters_get", ums_counters_get_impl(rt, out));
}

UMS_API ums_result ums_counters_reset(ums_runtime_t *rt) {
    return UMS_API_CALL("ums_counters_reset", ums_counters_reset_impl(rt));
}
