/*
 * The opencl backend's own state, shared by its source files.
 *
 * Objects and who guards them:
 * - ums__opencl: immutable after init, except the domain list (cl->lock).
 * - ums__opencl_domain: one context and its per-location queues; immutable once
 *   published, freed only by fini. The backend creates one per platform; each
 *   ums__opencl_attach() adds one for the application's context.
 * - ums__opencl_loc: one device. Its current domain, byte counts, pool and
 *   live list are guarded by loc->lock.
 * - ums_devmem: one cl_mem. `last` (the last command enqueued on it) is guarded
 *   by mem->lock; the rest is immutable while the memory is allocated.
 * Lock order: cl->lock, then loc->lock, then mem->lock (by address for two).
 */
#ifndef UMS_OPENCL_INTERNAL_H
#define UMS_OPENCL_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "opencl_api.h"
#include "opencl_backend.h"

/** A context and the queue used for each location inside it. */
typedef struct ums__opencl_domain {
    cl_context context;
    int attached;             /**< the application's context (retained), not ours */
    cl_command_queue *queues; /**< [cl->nloc]; NULL where the device is not in the context */
    struct ums__opencl_domain *next;
} ums__opencl_domain;

/** One device: one location. */
typedef struct ums__opencl_loc {
    uint32_t index;
    cl_platform_id platform;
    cl_device_id device;
    char name[64];         /**< "cl<index>" */
    char device_name[128]; /**< CL_DEVICE_NAME, for messages */
    char pci_bus_id[32];
    uint32_t flags;     /**< UMS_LOCATION_FLAG_* */
    uint64_t capacity;  /**< enforced bytes */
    uint64_t max_alloc; /**< CL_DEVICE_MAX_MEM_ALLOC_SIZE */

    pthread_mutex_t lock;
    ums__opencl_domain *domain; /**< where new buffers are created */
    uint64_t used;              /**< bytes of live allocations */
    uint64_t pooled;            /**< bytes of freed buffers kept for reuse */
    ums_devmem *pool;           /**< freed buffers, most recent first */
    ums_devmem *live;           /**< live allocations */
} ums__opencl_loc;

struct ums__opencl {
    const ums_backend_services *svc;
    uint32_t nloc;
    ums__opencl_loc *locs;
    uint64_t pool_limit; /**< per location */

    pthread_mutex_t lock;        /**< guards `domains` */
    ums__opencl_domain *domains; /**< every domain, freed by fini */
};

struct ums_devmem {
    ums__opencl_loc *loc;
    ums__opencl_domain *domain;
    cl_mem buffer;
    size_t size;
    pthread_mutex_t lock;
    cl_event last;                  /**< last command enqueued on the buffer, or NULL */
    struct ums_devmem *prev, *next; /**< in loc->live or loc->pool */
};

struct ums_fence {
    cl_event event;
    cl_command_queue queue; /**< drained if waiting fails; NULL for application events */
    void *bounce;           /**< host buffer freed when the fence completes */
};

/* ---- services (opencl_backend.c) ---- */

/** Log through the core's log service (nothing if it has none). */
void ums__opencl_log(ums__opencl *cl, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Record `code` with detail through set_error and return it. */
ums_result ums__opencl_fail(ums__opencl *cl, ums_result code, int native, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Record an OpenCL failure of `what` (its error name and code) and return its result code. */
ums_result ums__opencl_fail_cl(ums__opencl *cl, cl_int err, const char *what, const ums__opencl_loc *loc);

/** The queue a memory's commands go to. */
static inline cl_command_queue ums__opencl_mem_queue(const ums_devmem *mem) {
    return mem->domain->queues[mem->loc->index];
}

/* ---- events (opencl_copy.c) ---- */

/**
 * Wait for `ev` and check how its command ended. On a failed wait, drains
 * `queue` (when given) so nothing is left running. Does not release `ev`.
 * @return CL_SUCCESS or the error (of the wait or of the command).
 */
cl_int ums__opencl_wait_event(cl_event ev, cl_command_queue queue);

/**
 * Wait for the last command on `mem` and forget it. Caller holds no lock.
 * @return CL_SUCCESS or the error of the wait or of the command.
 */
cl_int ums__opencl_mem_drain(ums_devmem *mem);

/* ---- memory (opencl_mem.c) ---- */

/** The backend's mem_alloc operation. */
ums_result ums__opencl_mem_alloc(void *backend, uint32_t index, size_t size, ums_devmem **out);
/** The backend's mem_free operation. */
void ums__opencl_mem_free(void *backend, ums_devmem *mem);
/** The backend's capacity operation. */
ums_result ums__opencl_capacity(void *backend, uint32_t index, uint64_t *used, uint64_t *total);
/** Release every buffer of a location (pool and, with a warning, live ones). Used by fini. */
void ums__opencl_loc_release_all(ums__opencl *cl, ums__opencl_loc *loc);
/** Release the pooled buffers of a location that are not in its current domain. Caller holds loc->lock. */
void ums__opencl_pool_drop_stale(ums__opencl_loc *loc);

/* ---- copies (opencl_copy.c) ---- */

/** The backend's copy_to operation. */
ums_result ums__opencl_copy_to(void *backend, ums_devmem *dst, size_t dst_off, const void *src, size_t len,
                               ums_fence **fence);
/** The backend's copy_from operation. */
ums_result ums__opencl_copy_from(void *backend, void *dst, ums_devmem *src, size_t src_off, size_t len,
                                 ums_fence **fence);
/** The backend's copy_peer operation. */
ums_result ums__opencl_copy_peer(void *backend, ums_devmem *dst, size_t dst_off, ums_devmem *src, size_t src_off,
                                 size_t len, ums_fence **fence);
/** The backend's fence_wait operation. */
ums_result ums__opencl_fence_wait(void *backend, ums_fence *fence);

/* ---- domains (opencl_backend.c) ---- */

/** Release a domain's queues and context and free it. */
void ums__opencl_domain_destroy(ums__opencl *cl, ums__opencl_domain *dom);

/**
 * Create the backend's in-order queue for `loc` in `context`
 * (clCreateCommandQueueWithProperties, or clCreateCommandQueue before OpenCL 2.0).
 * @return CL_SUCCESS or the OpenCL error.
 */
cl_int ums__opencl_create_queue(cl_context context, const ums__opencl_loc *loc, cl_command_queue *out);

#endif
