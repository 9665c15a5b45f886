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
 * - ums_devmem: one cl_mem, or one part of a region's buffer. `last` (the last
 *   command enqueued on it) is guarded by mem->lock; the rest is immutable while
 *   the memory is allocated.
 * - ums__opencl_region: one managed allocation at one location (ABI 1.1). Its
 *   parent buffer and host buffer are created under region->create_lock; its
 *   list of parts and the location's list of regions under loc->lock; its
 *   pending whole-region commands under region->ev_lock (a leaf lock).
 * Lock order: cl->lock, then region->create_lock, then loc->lock, then
 * mem->lock (by address for two), then region->ev_lock.
 */
#ifndef UMS_OPENCL_INTERNAL_H
#define UMS_OPENCL_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "opencl_api.h"
#include "opencl_backend.h"

/** Most queues a location's large transfers are spread over (its copy streams). */
#define UMS__OPENCL_STREAMS_MAX 4

/** A context and the queue used for each location inside it. */
typedef struct ums__opencl_domain {
    cl_context context;
    int attached;             /**< the application's context (retained), not ours */
    cl_command_queue *queues; /**< [cl->nloc]; NULL where the device is not in the context */
    /** [cl->nloc * (UMS__OPENCL_STREAMS_MAX - 1)]: the backend's own further
     *  queues of each location (its streams beyond the first, which is
     *  `queues[i]`); NULL beyond the location's stream count. */
    cl_command_queue *side;
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
    /** Queues a large transfer of several blocks is split over, 1..UMS__OPENCL_STREAMS_MAX:
     *  pieces on different queues may run at once (POCL runs each on one of its
     *  worker threads; a GPU may have several copy engines). */
    unsigned streams;

    pthread_mutex_t lock;
    ums__opencl_domain *domain; /**< where new buffers are created */
    uint64_t used;              /**< bytes of live allocations */
    uint64_t pooled;            /**< bytes of freed buffers kept for reuse */
    ums_devmem *pool;           /**< freed buffers, most recent first */
    ums_devmem *live;           /**< live allocations (region parents included) */
    struct ums__opencl_region *regions; /**< live regions */
} ums__opencl_loc;

/** Most whole-region commands (kernels) a region tracks at once; the oldest is waited for beyond. */
#define UMS__OPENCL_REGION_EVENTS 16

/**
 * One managed allocation (a region of the ABI) at one location. Every block
 * copy of the allocation there is a part of one parent buffer, so a kernel can
 * take the whole allocation as one argument.
 */
typedef struct ums__opencl_region {
    const void *base;       /**< the allocation's base address (the key) */
    size_t size;            /**< region size in bytes */
    ums__opencl_loc *loc;
    pthread_mutex_t create_lock; /**< held while the parent or host buffer is (re)created */
    ums_devmem *parent;     /**< the device buffer of `size` bytes, or NULL before first use */
    int split;              /**< too large for one buffer: parts are standalone buffers */
    cl_mem host_buffer;     /**< CL_MEM_USE_HOST_PTR buffer over `base` (interop), or NULL */
    cl_context host_context;
    ums_devmem *parts;      /**< parts of the parent (loc->lock) */
    unsigned nparts;        /**< parts alive, standalone ones included (loc->lock) */
    pthread_mutex_t ev_lock;
    unsigned nevents;       /**< whole-region commands that may still run (ev_lock) */
    cl_event events[UMS__OPENCL_REGION_EVENTS];
    struct ums__opencl_region *next; /**< in loc->regions */
} ums__opencl_region;

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
    cl_mem buffer;                  /**< own buffer, or the region parent's (borrowed) */
    size_t size;
    size_t offset;                  /**< where this memory starts in `buffer` (0 unless a part) */
    int borrowed;                   /**< a part: `buffer` belongs to the region's parent */
    struct ums__opencl_region *region; /**< region of a part (borrowed or standalone), else NULL */
    pthread_mutex_t lock;
    cl_event last;                  /**< last command enqueued on the buffer, or NULL */
    struct ums_devmem *prev, *next; /**< in loc->live or loc->pool, or region->parts for a borrowed part */
};

/** A transfer's completion: one event per piece (one unless it was split over streams). */
struct ums_fence {
    unsigned n;                                       /**< events held */
    cl_event events[UMS__OPENCL_STREAMS_MAX];
    cl_command_queue queues[UMS__OPENCL_STREAMS_MAX]; /**< drained if waiting fails; NULL for application events */
    void *bounce;                                     /**< host buffer freed when the fence completes */
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

/** Stream `k` (< mem->loc->streams) of a memory's location in its domain:
 *  0 is its queue; NULL where the domain has no such queue. */
static inline cl_command_queue ums__opencl_mem_stream(const ums_devmem *mem, unsigned k) {
    if (k == 0)
        return ums__opencl_mem_queue(mem);
    if (!mem->domain->side || k >= mem->loc->streams)
        return NULL;
    return mem->domain->side[mem->loc->index * (UMS__OPENCL_STREAMS_MAX - 1) + (k - 1)];
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

/* ---- regions (opencl_region.c) ---- */

/** The backend's mem_alloc_region operation. */
ums_result ums__opencl_mem_alloc_region(void *backend, uint32_t index, const void *region, size_t region_size,
                                        size_t offset, size_t size, ums_devmem **out);
/** The backend's region_release operation. */
void ums__opencl_region_release(void *backend, uint32_t index, const void *region);
/** Free a part (borrowed or standalone) of a region: called by mem_free. */
void ums__opencl_part_free(ums__opencl *cl, ums_devmem *mem);
/** Release every region of a location (fini): host buffers, events, records. */
void ums__opencl_loc_release_regions(ums__opencl *cl, ums__opencl_loc *loc);

/**
 * Wait on the host until the whole-region commands (kernels) of `mem`'s region
 * are over, before a transfer on `mem` is enqueued. Waiting on the host rather
 * than in the transfer's wait list keeps the backend's in-order queues free:
 * nothing queued behind the transfer waits for the kernel. Caller holds no lock.
 * @return CL_SUCCESS, or the error of a kernel that failed (logged; the transfer goes ahead).
 */
cl_int ums__opencl_region_sync(ums__opencl *cl, ums_devmem *mem);

/* ---- copies (opencl_copy.c) ---- */

/* Most memories one copy_to_many takes: as many as the core passes. */
#define UMS__OPENCL_MANY_MAX UMS_BACKEND_MANY_MAX
/** The backend's copy_to_many operation (ABI 1.2): one upload for the memories
 *  of consecutive blocks of one buffer. */
ums_result ums__opencl_copy_to_many(void *backend, ums_devmem *const *dst, size_t n, const void *src, size_t len,
                                    ums_fence **fence);
/** The backend's copy_from_many operation (ABI 1.3): one download of the memories
 *  of consecutive blocks of one buffer into contiguous host memory. */
ums_result ums__opencl_copy_from_many(void *backend, void *dst, ums_devmem *const *src, size_t n, size_t len,
                                      ums_fence **fence);
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

/**
 * Create the further queues of `loc` in `dom` (its streams beyond the first),
 * allocating `dom->side` on first use. Caller holds cl->lock or owns `dom`.
 * A queue that cannot be made is logged and left out: the location's
 * transfers in `dom` are split over the queues there are (at least its first).
 */
void ums__opencl_create_side_queues(ums__opencl *cl, ums__opencl_domain *dom, const ums__opencl_loc *loc);

#endif
