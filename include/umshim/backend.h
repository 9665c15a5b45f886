/**
 * @file umshim/backend.h
 * @brief The backend ABI: what a memory backend (built in or plug-in) provides.
 *
 * A backend moves bytes; the core decides what to move and when. The core
 * reaches a backend only through its ::ums_backend_ops table, and a backend
 * reaches the core only through the ::ums_backend_services table it is given.
 *
 * ABI rules:
 * - The first two fields of both tables are `abi_version` and `struct_size`.
 * - The major version (high 16 bits) must match exactly; the core accepts any
 *   table at least as large as the version-1.0 table and reads fields beyond
 *   `struct_size` as NULL. New operations are only ever appended.
 * - Optional operations may be NULL; the core substitutes defaults.
 * - Every operation returns a ::ums_result. Detail goes through
 *   ::ums_backend_services.set_error.
 * - Host memory passed to an asynchronous copy must stay valid until its fence
 *   completes; fence_wait(NULL) is allowed and returns ::UMS_OK.
 * - Version history: 1.0 the table up to poll_hints; 1.1 adds mem_alloc_region
 *   and region_release; 1.2 adds copy_to_many; 1.3 adds copy_from_many.
 *
 * A plug-in is a shared object `libumshim-backend-NAME.so` exporting
 * ::UMS_BACKEND_ENTRY_SYMBOL with the signature ::ums_backend_entry_fn. Built-in
 * backends use the very same entry point.
 */
#ifndef UMSHIM_BACKEND_H
#define UMSHIM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "umshim/export.h"
#include "umshim/location.h"
#include "umshim/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The most memories the core passes to one copy_to_many call. */
#define UMS_BACKEND_MANY_MAX 64u

#define UMS_BACKEND_ABI_MAJOR 1u
#define UMS_BACKEND_ABI_MINOR 3u
/** ABI version: major in the high 16 bits, minor in the low 16. */
#define UMS_BACKEND_ABI_VERSION ((UMS_BACKEND_ABI_MAJOR << 16) | UMS_BACKEND_ABI_MINOR)
/** Name of the symbol a plug-in exports. */
#define UMS_BACKEND_ENTRY_SYMBOL "ums_backend_entry"

/** Backend memory: an opaque handle to one allocation in a location's memory. */
typedef struct ums_devmem ums_devmem;
/** An asynchronous operation's completion fence. */
typedef struct ums_fence ums_fence;

/** A location a backend offers, filled by ::ums_backend_ops.location_describe. */
typedef struct ums_backend_location {
    uint32_t struct_size;    /**< set by the core before the call */
    ums_location_kind kind;  /**< host node or device */
    char name[64];           /**< unique within the runtime, e.g. "sim0" */
    uint64_t capacity;       /**< bytes; 0 = unknown/unlimited */
    uint64_t bandwidth_mbps; /**< MB/s, 0 unknown */
    uint64_t latency_ns;     /**< ns, 0 unknown */
    int numa_node;           /**< OS node index (host) or nearest node (device), -1 unknown */
    char pci_bus_id[32];     /**< "dddd:bb:dd.f" or "" */
    uint32_t flags;          /**< UMS_LOCATION_FLAG_* */
} ums_backend_location;

/** Kinds of hint a backend can report. */
typedef enum ums_hint_kind {
    UMS_HINT_ACCESS_COUNT = 1, /**< `count` accesses by `location` to the range */
    UMS_HINT_FAULT = 2,        /**< the location faulted on the range */
    UMS_HINT_PRESSURE = 3      /**< the location is short of memory: `count` bytes wanted */
} ums_hint_kind;

/** One hint from a backend. */
typedef struct ums_hint {
    ums_hint_kind kind;
    uint32_t location_index; /**< the backend's own location index */
    void *addr;              /**< managed address the hint is about (NULL for pressure) */
    size_t len;
    uint64_t count;
} ums_hint;

/** What the core offers a backend. */
typedef struct ums_backend_services {
    uint32_t abi_version; /**< ::UMS_BACKEND_ABI_VERSION of the core */
    uint32_t struct_size; /**< sizeof(ums_backend_services) of the core */
    void *core;           /**< pass back as the first argument of each service */
    /** Log a message at a ::ums_log_level (printed only if the runtime's level allows). */
    void (*log)(void *core, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
    /** Record detail for the error the backend is about to return. */
    void (*set_error)(void *core, ums_result code, int native, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
    /** Submit a hint (may be called from any thread). */
    ums_result (*submit_hint)(void *core, const ums_hint *hint);
} ums_backend_services;

/** The operations table of one backend. */
typedef struct ums_backend_ops {
    uint32_t abi_version; /**< ::UMS_BACKEND_ABI_VERSION the backend was built against */
    uint32_t struct_size; /**< sizeof(ums_backend_ops) the backend was built against */
    const char *name;     /**< short name: "host", "sim", "opencl", ... */

    /* ---- required ---- */
    /** Start; `config` is backend-specific text (may be NULL). */
    ums_result (*init)(const ums_backend_services *svc, const char *config, void **backend);
    /** Stop; every devmem has been freed before. */
    void (*fini)(void *backend);
    /** How many locations the backend offers (may be 0). */
    ums_result (*location_count)(void *backend, uint32_t *count);
    /** Describe location `index`. */
    ums_result (*location_describe)(void *backend, uint32_t index, ums_backend_location *out);
    /** Allocate `size` bytes at location `index`. ::UMS_ERR_NO_DEVICE_MEMORY when full. */
    ums_result (*mem_alloc)(void *backend, uint32_t index, size_t size, ums_devmem **out);
    /** Free memory from mem_alloc (waits for pending copies). */
    void (*mem_free)(void *backend, ums_devmem *mem);
    /** Copy host → backend memory. If `fence` is NULL the copy is complete on return;
     *  otherwise the backend may return a fence (or set *fence = NULL when done). */
    ums_result (*copy_to)(void *backend, ums_devmem *dst, size_t dst_off, const void *src, size_t len,
                          ums_fence **fence);
    /** Copy backend memory → host; same fence rules. */
    ums_result (*copy_from)(void *backend, void *dst, ums_devmem *src, size_t src_off, size_t len,
                            ums_fence **fence);

    /* ---- optional (NULL gets the core default) ---- */
    /** Wait for a fence and release it. Required if the backend ever returns fences. */
    ums_result (*fence_wait)(void *backend, ums_fence *fence);
    /** Copy between two memories of this backend. Default: through a host bounce buffer. */
    ums_result (*copy_peer)(void *backend, ums_devmem *dst, size_t dst_off, ums_devmem *src, size_t src_off,
                            size_t len, ums_fence **fence);
    /** Host address of the memory if the CPU can address it, else NULL. Default: NULL. */
    void *(*mem_host_ptr)(void *backend, ums_devmem *mem);
    /** Bytes in use and total at a location. Default: the core's own accounting. */
    ums_result (*capacity)(void *backend, uint32_t index, uint64_t *used, uint64_t *total);
    /** Report up to `max` hints; *n receives the count. Default: none. */
    ums_result (*poll_hints)(void *backend, ums_hint *hints, size_t max, size_t *n);

    /* ---- ABI 1.1 (optional) ---- */
    /** Allocate `size` bytes at byte `offset` of a region of `region_size` bytes that
     *  stands for one managed allocation (`region` is its base address). All memories
     *  of one region at one location must be parts of one device object, so a device
     *  can address the whole allocation at once (one OpenCL buffer as one kernel
     *  argument). Default: the core calls mem_alloc for each block. */
    ums_result (*mem_alloc_region)(void *backend, uint32_t index, const void *region, size_t region_size,
                                   size_t offset, size_t size, ums_devmem **out);
    /** The allocation `region` was freed; all its memories at `index` were freed before.
     *  Called for every device location of the backend, also those that never saw it. */
    void (*region_release)(void *backend, uint32_t index, const void *region);

    /* ---- ABI 1.2 (optional) ---- */
    /** Copy host → `n` memories in one transfer: `dst[k]` receives the `len` bytes at
     *  `src + k * len` (its offset 0; every `dst[k]` is `len` bytes). The core passes
     *  memories of consecutive blocks of one region, so where they are adjacent parts
     *  of one device object the backend can issue a single command. One fence covers
     *  all of them, with the rules of copy_to; on failure nothing is pending. Return
     *  ::UMS_ERR_NOT_SUPPORTED, with nothing done, for memories it cannot copy at once:
     *  the core then calls copy_to for each. `n` is at most ::UMS_BACKEND_MANY_MAX.
     *  Default: copy_to for each. */
    ums_result (*copy_to_many)(void *backend, ums_devmem *const *dst, size_t n, const void *src, size_t len,
                               ums_fence **fence);

    /* ---- ABI 1.3 (optional) ---- */
    /** Copy `n` memories → host in one transfer, the mirror of copy_to_many: `dst +
     *  k * len` receives the `len` bytes of `src[k]` (its offset 0). The core passes
     *  memories of consecutive blocks of one region and contiguous host memory.
     *  One fence covers all of them, with the rules of copy_from; on failure nothing
     *  is pending. ::UMS_ERR_NOT_SUPPORTED, with nothing done, where it cannot copy
     *  them at once: the core then calls copy_from for each. `n` is at most
     *  ::UMS_BACKEND_MANY_MAX. Default: copy_from for each. */
    ums_result (*copy_from_many)(void *backend, void *dst, ums_devmem *const *src, size_t n, size_t len,
                                 ums_fence **fence);
} ums_backend_ops;

/** Signature of ::UMS_BACKEND_ENTRY_SYMBOL. */
typedef const ums_backend_ops *(*ums_backend_entry_fn)(void);

/**
 * Check a backend table the way the core does before using it.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_ABI_MISMATCH (major version or size),
 *         or ::UMS_ERR_PLUGIN when a required operation is missing (the last-error
 *         record names it).
 */
UMS_API ums_result ums_backend_validate(const ums_backend_ops *ops);

/**
 * Load a backend plug-in into a runtime (`dlopen` + ::UMS_BACKEND_ENTRY_SYMBOL).
 * Its locations are appended to the runtime's.
 * Must be called before the runtime's first allocation.
 * @param rt      runtime, or NULL for the default runtime
 * @param path    path of the shared object
 * @param config  backend-specific configuration text, may be NULL
 * @return ::UMS_OK, ::UMS_ERR_PLUGIN (cannot load, no entry), ::UMS_ERR_ABI_MISMATCH,
 *         ::UMS_ERR_BUSY (allocations exist), or the backend's init error.
 */
UMS_API ums_result ums_backend_load(ums_runtime_t *rt, const char *path, const char *config);

/**
 * Add a backend table directly (how built-in backends and tests register).
 * Same checks and rules as ums_backend_load().
 */
UMS_API ums_result ums_backend_add(ums_runtime_t *rt, const ums_backend_ops *ops, const char *config);

#ifdef __cplusplus
}
#endif
#endif
