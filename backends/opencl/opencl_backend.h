/**
 * @file opencl_backend.h
 * @brief Internal interface of the opencl backend, for the OpenCL interop layer and tests.
 *
 * The core reaches the backend's memory through its ::ums_backend_ops table like
 * any other backend. Interop (passing managed buffers to an application's
 * kernels) needs more: the `cl_mem` behind a ::ums_devmem, the context, device
 * and queue of a location, the application's own context and queues, and
 * ordering against the application's events. This header provides that.
 *
 * Conventions:
 * - `cl` is the backend handle that the table's `init` returned (the core's
 *   `void *backend`); every function accepts it as `ums__opencl *`.
 * - Functions return a ::ums_result. Failures are also reported through the
 *   backend's `set_error` service with the OpenCL error name and code.
 * - OpenCL objects returned by the `_get` functions are borrowed: they stay
 *   valid while the backend (and, for a buffer, the ::ums_devmem) lives; retain
 *   them to keep them longer. Events returned are retained for the caller.
 * - Everything here is thread-safe unless stated otherwise.
 *
 * Ordering model: the backend remembers, per ::ums_devmem, the last command
 * that touched the buffer. Every command it enqueues on a buffer waits for
 * that command, so transfers on one buffer never overlap, whichever queue they
 * use. ums__opencl_mem_pending() hands that command's event to a kernel launch
 * and ums__opencl_mem_after_event() makes later transfers wait for a kernel.
 *
 * Configuration text accepted by `init` (comma-separated `key=value`, NULL or
 * "" for the defaults):
 * - `devices=all|default|cpu|gpu|accelerator|custom` device types to use;
 *   several joined with `+` ("cpu+gpu"). Default: all.
 * - `platform=TEXT` only platforms whose name contains TEXT. Default: every platform.
 * - `capacity=SIZE[K|M|G]` cap the memory used at each device (below the
 *   device's CL_DEVICE_GLOBAL_MEM_SIZE); the location is then flagged
 *   ::UMS_LOCATION_FLAG_CONFIGURED.
 * - `pool=SIZE[K|M|G]` most bytes of freed buffers kept for reuse per device
 *   (default 256M; 0 disables the pool).
 * Locations are named "cl0", "cl1", ... in platform order, then device order,
 * counting only the devices selected.
 */
#ifndef UMS_OPENCL_BACKEND_H
#define UMS_OPENCL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>

#include "umshim/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The opencl backend's state: what `init` stores in `*backend`. */
typedef struct ums__opencl ums__opencl;

/**
 * The backend's operations table (name "opencl"). The core registers it as a
 * built-in backend; plugin.c exports the same table as `ums_backend_entry`.
 * @return a static table; never NULL.
 */
const ums_backend_ops *ums__opencl_backend_entry(void);

/* ---------------------------------------------------------------- memory */

/** What lies behind one ::ums_devmem of this backend. */
typedef struct ums__opencl_mem_info {
    cl_mem buffer;          /**< the device buffer (borrowed); a region part's is the region's buffer */
    size_t offset;          /**< where the memory starts in `buffer`: 0, or the part's offset in its region */
    size_t size;            /**< bytes the allocation asked for (a standalone buffer has exactly this size) */
    uint32_t location;      /**< the backend's location index */
    cl_context context;     /**< context the buffer was created in (borrowed) */
    cl_command_queue queue; /**< queue the backend uses for this buffer (borrowed) */
} ums__opencl_mem_info;

/**
 * Describe the OpenCL buffer behind a ::ums_devmem.
 * @param cl   backend handle
 * @param mem  memory from this backend's `mem_alloc`, not yet freed
 * @param out  receives the description
 * @return ::UMS_OK or ::UMS_ERR_NULL_POINTER.
 */
ums_result ums__opencl_mem_get(ums__opencl *cl, const ums_devmem *mem, ums__opencl_mem_info *out);

/**
 * The event of the last command the backend enqueued on `mem` that may still be
 * running, for a kernel launch's wait list.
 * @param ev  receives a retained event (the caller releases it), or NULL when
 *            nothing is pending
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, or ::UMS_ERR_OPENCL.
 */
ums_result ums__opencl_mem_pending(ums__opencl *cl, ums_devmem *mem, cl_event *ev);

/**
 * Make every later backend command on `mem` wait for `ev` (an application
 * kernel that reads or writes the buffer). When `ev` belongs to the buffer's
 * context this only chains (a marker on the buffer's queue); otherwise it
 * blocks until `ev` completes.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_OPENCL (the event failed or
 *         cannot be waited for), ::UMS_ERR_NO_DEVICE_MEMORY.
 */
ums_result ums__opencl_mem_after_event(ums__opencl *cl, ums_devmem *mem, cl_event ev);

/* ---------------------------------------------------------------- regions */

/*
 * Regions (backend ABI 1.1): the core allocates each block copy of a managed
 * allocation at a location with mem_alloc_region, and every such copy is a
 * range of one parent buffer the size of the allocation (created on the first
 * part, pooled like any buffer, released by region_release). An allocation too
 * large for one buffer (CL_DEVICE_MAX_MEM_ALLOC_SIZE, or the capacity) is
 * "split": its parts are standalone buffers and it has no parent.
 */

/** A region (one managed allocation at one location), as ums__opencl_region_get() sees it. */
typedef struct ums__opencl_region_info {
    int exists;                  /**< the backend has a record of the region */
    cl_mem buffer;               /**< the parent buffer (borrowed), NULL before the first part or when split */
    cl_context context;          /**< the parent's context, NULL when no parent */
    size_t size;                 /**< region size in bytes */
    int split;                   /**< parts are standalone buffers: no single buffer covers the region */
    unsigned parts;              /**< parts alive */
    cl_context location_context; /**< the context new buffers of the location are created in */
} ums__opencl_region_info;

/**
 * Describe the region of allocation `base` at location `index` (all zero but
 * `location_context` when the backend has none).
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_UNKNOWN_LOCATION.
 */
ums_result ums__opencl_region_get(ums__opencl *cl, uint32_t index, const void *base, ums__opencl_region_info *out);

/**
 * The transfers on the region's parts that may still be running, for a kernel's
 * wait list.
 * @param events receives a malloc'ed array of retained events (the caller
 *               releases each with clReleaseEvent and frees the array), NULL when none
 * @param count  receives the number of events
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_UNKNOWN_LOCATION, ::UMS_ERR_NO_MEMORY.
 */
ums_result ums__opencl_region_pending(ums__opencl *cl, uint32_t index, const void *base, cl_event **events,
                                      size_t *count);

/**
 * Record a whole-region command (a kernel that uses the region's buffer or its
 * host buffer, or a user event that completes after such a kernel): every later
 * transfer on a part of the region waits for it, and region_release waits for
 * it before releasing the buffers. The region record is created if needed
 * (`size` is the allocation's region size). At most
 * UMS__OPENCL_REGION_EVENTS (16) are kept; adding one more waits for the oldest.
 * Transfers wait on the host, before they are enqueued, so the backend's
 * queues never hold a command that waits for a kernel. The event is retained.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_UNKNOWN_LOCATION,
 *         ::UMS_ERR_INVALID_ARG (size differs from the region's), ::UMS_ERR_NO_MEMORY, ::UMS_ERR_OPENCL.
 */
ums_result ums__opencl_region_add_event(ums__opencl *cl, uint32_t index, const void *base, size_t size,
                                        cl_event ev);

/**
 * A CL_MEM_USE_HOST_PTR buffer over `size` bytes at `base` (the managed pages),
 * in the location's current context, created on first use and kept (borrowed by
 * the caller) until the region is released; recreated if the location's context
 * changed. For devices that access host memory in place.
 * @param context receives the buffer's context (may be NULL)
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_UNKNOWN_LOCATION, ::UMS_ERR_BAD_SIZE,
 *         ::UMS_ERR_INVALID_ARG, ::UMS_ERR_NO_DEVICE_MEMORY, ::UMS_ERR_OPENCL.
 */
ums_result ums__opencl_region_host_buffer(ums__opencl *cl, uint32_t index, void *base, size_t size, cl_mem *buffer,
                                          cl_context *context);

/* ---------------------------------------------------------------- locations */

/**
 * The OpenCL objects of location `index`: those the backend uses for new
 * buffers (the application's after ums__opencl_attach()). Any output may be NULL.
 * @return ::UMS_OK or ::UMS_ERR_UNKNOWN_LOCATION.
 */
ums_result ums__opencl_location_get(ums__opencl *cl, uint32_t index, cl_context *context, cl_device_id *device,
                                    cl_command_queue *queue);

/**
 * How many queues (copy streams) a transfer of several consecutive blocks to or
 * from location `index` is split over: 1 to 4, from the `streams` configuration
 * key, else the device's compute units on a CPU device and 1 on any other.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_UNKNOWN_LOCATION.
 */
ums_result ums__opencl_location_streams(ums__opencl *cl, uint32_t index, unsigned *streams);

/**
 * The location index of an OpenCL device.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, or ::UMS_ERR_UNKNOWN_LOCATION when the
 *         backend does not use that device (other type, filtered out, a sub-device).
 */
ums_result ums__opencl_location_of_device(ums__opencl *cl, cl_device_id device, uint32_t *index);

/**
 * Adopt an application's context and queues.
 *
 * For every device of `context` that is one of the backend's locations, buffers
 * allocated from now on are created in `context`, and transfers on them use the
 * application's queue for that device (from `queues`; the backend creates an
 * in-order queue in `context` for a device without one). Kernels enqueued in
 * `context` can then use those buffers directly. Buffers allocated before keep
 * their old context; freed buffers of the old context are no longer reused.
 * The context and queues are retained until the backend stops.
 *
 * @param context  the application's context
 * @param queues   `n` queues of `context` (any order, at most one per device); may be NULL when n is 0
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER; ::UMS_ERR_INVALID_ARG (a queue of
 *         another context, two queues for one device); ::UMS_ERR_UNKNOWN_LOCATION
 *         (no device of the context is a location); ::UMS_ERR_BUSY (this context
 *         is already attached); ::UMS_ERR_OPENCL, ::UMS_ERR_NO_MEMORY,
 *         ::UMS_ERR_NO_DEVICE_MEMORY. Nothing changes on failure.
 */
ums_result ums__opencl_attach(ums__opencl *cl, cl_context context, const cl_command_queue *queues, size_t n);

/* ---------------------------------------------------------------- events */

/**
 * Block until an application event completes.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, or ::UMS_ERR_OPENCL when the wait
 *         fails or the command ended with an error (its code in the message).
 */
ums_result ums__opencl_event_wait(ums__opencl *cl, cl_event ev);

/**
 * Wrap an application event in a fence of this backend, to be waited (and
 * released) with the table's `fence_wait`. The event is retained.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_NO_MEMORY, ::UMS_ERR_OPENCL.
 */
ums_result ums__opencl_fence_from_event(ums__opencl *cl, cl_event ev, ums_fence **fence);

/* ---------------------------------------------------------------- errors */

/**
 * Name of an OpenCL error code, such as "CL_OUT_OF_RESOURCES".
 * @return a static string; "CL_UNKNOWN_ERROR" for a code not in the list.
 */
const char *ums__opencl_error_name(cl_int err);

/**
 * The result code for an OpenCL error: ::UMS_OK for CL_SUCCESS;
 * ::UMS_ERR_NO_DEVICE_MEMORY for CL_MEM_OBJECT_ALLOCATION_FAILURE,
 * CL_OUT_OF_RESOURCES and CL_OUT_OF_HOST_MEMORY; ::UMS_ERR_OPENCL otherwise.
 */
ums_result ums__opencl_result(cl_int err);

/* ---------------------------------------------------------------- test hooks */

/**
 * Make the `nth` call (1 = the next one) of OpenCL function `function`
 * ("clCreateBuffer", "clEnqueueWriteBuffer", ...) fail with `error`, as if
 * OpenCL had returned it. One injection per function; a later call replaces it;
 * `nth` 0 disarms it. Process-wide; thread-safe.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, or ::UMS_ERR_INVALID_ARG (a function
 *         the backend does not call, or `error` is CL_SUCCESS).
 */
ums_result ums__opencl_inject(const char *function, unsigned nth, cl_int error);

/** Disarm every injection and zero the call counts. */
void ums__opencl_inject_reset(void);

/**
 * How many times the backend called `function` since the last reset (failed and
 * injected calls included); 0 for an unknown name.
 */
uint64_t ums__opencl_call_count(const char *function);

/** How many injected failures fired since the last reset. */
uint64_t ums__opencl_injected_count(void);

/** Name of the i-th OpenCL function the backend calls, or NULL past the end. */
const char *ums__opencl_function_name(size_t i);

/** OpenCL objects the backend holds references on (created or retained, not yet released). */
typedef struct ums__opencl_objects {
    long contexts; /**< contexts */
    long queues;   /**< command queues */
    long buffers;  /**< memory objects (sub-buffers included) */
    long events;   /**< events (user events included) */
    long kernels;  /**< kernels retained */
} ums__opencl_objects;

/** Count the backend's live OpenCL references, process-wide (all zero when nothing leaks). */
void ums__opencl_live_objects(ums__opencl_objects *out);

#ifdef __cplusplus
}
#endif
#endif
