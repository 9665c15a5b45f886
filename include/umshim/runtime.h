/**
 * @file umshim/runtime.h
 * @brief Runtimes: the library's state (locations, backends, threads, allocations).
 *
 * Most programs never name a runtime: the first call that needs one starts the
 * default runtime, configured from the environment, and it lives until the
 * process exits (or ums_shutdown()). Tests and libraries that want isolation
 * create explicit runtimes with ums_runtime_create().
 *
 * Environment variables read by ums_runtime_config_from_env():
 * - `UMS_FAULT=uffd|signal` fault mode (default: uffd, falling back to signal)
 * - `UMS_PROTOCOL=readable|blocking` migration protocol
 * - `UMS_BLOCK_SIZE=N[K|M|G]` block size, rounded up to the page size
 * - `UMS_SIM=count=N,capacity=S,bandwidth=B,latency=L,host_access=0|1`
 *   simulated devices (see docs/BACKENDS.md); unset means no sim devices
 * - `UMS_MIGRATE_WRITE=wait|abort` what a write to a migrating block does
 * - `UMS_RO_INSTALL=move|copy` how a block is put in place read-only (uffd mode)
 * - `UMS_STAGING_POOL=N[K|M|G]` staging memory kept per host node
 * - `UMS_LOG=error|warn|info|debug` log to stderr (default: silent)
 * - `UMS_BACKENDS=path.so[:path.so]` extra backend plug-ins to load
 * - `UMS_OPENCL=0|1|key=value,...` enumerate OpenCL devices as locations
 *   (default 1); a list of settings turns it on with them (docs/OPENCL.md)
 */
#ifndef UMSHIM_RUNTIME_H
#define UMSHIM_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "umshim/export.h"
#include "umshim/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque runtime handle. */
typedef struct ums_runtime ums_runtime_t;

/** How CPU accesses to non-resident or protected blocks are caught. */
typedef enum ums_fault_mode {
    UMS_FAULT_AUTO = 0,  /**< userfaultfd when the kernel allows it, else signal */
    UMS_FAULT_UFFD = 1,  /**< userfaultfd (MISSING + write-protect) */
    UMS_FAULT_SIGNAL = 2 /**< mprotect + SIGSEGV */
} ums_fault_mode;

/** How a migration treats accesses to the block being moved. */
typedef enum ums_protocol {
    /** The source stays readable during the copy; only writers wait. */
    UMS_PROTOCOL_READABLE = 0,
    /** Every access waits while the block is copied (the kernel's behaviour; a baseline). */
    UMS_PROTOCOL_BLOCKING = 1
} ums_protocol;

/** What a CPU write to a migrating block does. */
typedef enum ums_migrate_write {
    UMS_MIGRATE_WRITE_WAIT = 0, /**< the writer waits for the block's commit, then writes the new copy */
    UMS_MIGRATE_WRITE_ABORT = 1 /**< the write cancels that block's migration; the source stays */
} ums_migrate_write;

/** How userfaultfd mode puts a block's host copy in place read-only (a fetch of a
 *  READ_MOSTLY block, a replica): ::ums_runtime_config.read_only_install. */
typedef enum ums_ro_install {
    /** Move the staged pages in (one mremap, no copy) where blocks are a multiple
     *  of 2 MiB, else copy. For the microseconds the block takes to be
     *  write-protected again it is a read-only mapping: a CPU writer waits in the
     *  library's SIGSEGV handler (chained to the application's), and a write by
     *  the kernel on the program's behalf (read(2) into the block) gets EFAULT. */
    UMS_RO_INSTALL_MOVE = 0,
    /** Copy the staged pages in (UFFDIO_COPY with write protection): no window,
     *  no SIGSEGV handler, one more copy of the block. */
    UMS_RO_INSTALL_COPY = 1
} ums_ro_install;

/** Log levels for `UMS_LOG` and ::ums_runtime_config.log_level. */
typedef enum ums_log_level {
    UMS_LOG_OFF = 0,
    UMS_LOG_ERROR = 1,
    UMS_LOG_WARN = 2,
    UMS_LOG_INFO = 3,
    UMS_LOG_DEBUG = 4
} ums_log_level;

/** Runtime configuration. Initialise with ums_runtime_config_init(). */
typedef struct ums_runtime_config {
    uint32_t struct_size;          /**< sizeof(ums_runtime_config), set by init */
    ums_fault_mode fault_mode;     /**< default ::UMS_FAULT_AUTO */
    ums_protocol protocol;         /**< default ::UMS_PROTOCOL_READABLE */
    ums_migrate_write migrate_write; /**< default ::UMS_MIGRATE_WRITE_WAIT */
    size_t block_size;             /**< bytes, 0 = default (2 MiB); rounded up to pages */
    const char *sim;               /**< sim backend spec (as `UMS_SIM`), NULL = no sim devices */
    const char *plugins;           /**< colon-separated plug-in paths, NULL = none */
    ums_log_level log_level;       /**< default ::UMS_LOG_OFF */
    unsigned workers;              /**< prefetch worker threads, 0 = default (2) */
    int host_backend;              /**< reserved: the host backend is always present (1) */
    int opencl;                    /**< 1 (default): add a location per OpenCL device (`UMS_OPENCL=0` turns it off) */
    /** Bytes of staging memory kept per host node for reuse by later migrations
     *  (`UMS_STAGING_POOL`), 0 = default: 1/16 of the node's memory, at most 1 GiB.
     *  Pages a migration takes off a node wait here for the next migration onto
     *  it, which then needs no fresh zero-filled pages. */
    size_t staging_pool;
    /** How a block is put in place read-only in userfaultfd mode (`UMS_RO_INSTALL`),
     *  default ::UMS_RO_INSTALL_MOVE. */
    ums_ro_install read_only_install;
    /** Bytes a range migration to a device copies as one window (`UMS_TRANSFER_WINDOW`),
     *  0 = default: 128 MiB. Where the device's backend copies several blocks at
     *  once, each stretch of consecutive blocks in a window goes in one transfer,
     *  and the window's blocks are switched over together once its copies are
     *  done: larger windows mean fewer, longer transfers, and longer waits for a
     *  CPU thread that writes a block of the window meanwhile. At most 64 blocks. */
    size_t transfer_window;
    /** Settings of the OpenCL backend when `opencl` is on (`UMS_OPENCL=key=value,...`),
     *  NULL = defaults: `devices=` (`all`, `cpu`, `gpu`, `accelerator`, joined with `+`), `platform=` (a
     *  substring of the platform name), `capacity=` and `pool=` (sizes), and
     *  `streams=1..4` (queues a large transfer is split over). */
    const char *opencl_config;
} ums_runtime_config;

/**
 * Fill a configuration with the library's defaults (ignores the environment).
 * @return ::UMS_OK or ::UMS_ERR_NULL_POINTER.
 */
UMS_API ums_result ums_runtime_config_init(ums_runtime_config *cfg);

/**
 * Fill a configuration with the defaults overridden by the `UMS_*` environment variables.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, or ::UMS_ERR_CONFIG naming the bad variable
 *         (the configuration then holds the defaults for that field).
 */
UMS_API ums_result ums_runtime_config_from_env(ums_runtime_config *cfg);

/**
 * Start a runtime.
 * @param cfg  configuration, or NULL for ums_runtime_config_from_env()
 * @param out  receives the runtime
 * @return ::UMS_OK; ::UMS_ERR_CONFIG, ::UMS_ERR_SYSTEM, ::UMS_ERR_NO_MEMORY,
 *         ::UMS_ERR_PLUGIN or a backend's error. Nothing is left allocated on failure.
 */
UMS_API ums_result ums_runtime_create(const ums_runtime_config *cfg, ums_runtime_t **out);

/**
 * Stop a runtime: frees every allocation still live in it, stops its threads.
 * No thread may use the runtime's allocations during or after this call.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER.
 */
UMS_API ums_result ums_runtime_destroy(ums_runtime_t *rt);

/**
 * The default runtime, started on first use from the environment.
 * @param out receives the runtime
 * @return ::UMS_OK or the start-up error (retried on the next call).
 */
UMS_API ums_result ums_default_runtime(ums_runtime_t **out);

/**
 * Stop the default runtime if it was started. Safe to call more than once.
 * @return ::UMS_OK.
 */
UMS_API ums_result ums_shutdown(void);

/** Fault mode the runtime actually runs in (never ::UMS_FAULT_AUTO). NULL = default runtime. */
UMS_API ums_fault_mode ums_runtime_fault_mode(ums_runtime_t *rt);

/** Migration protocol of the runtime. NULL = default runtime. */
UMS_API ums_protocol ums_runtime_protocol(ums_runtime_t *rt);

/** Block size in bytes of the runtime. NULL = default runtime; 0 if it cannot start. */
UMS_API size_t ums_runtime_block_size(ums_runtime_t *rt);

/** Kernel features the runtime detected (::ums_runtime_features). */
typedef struct ums_runtime_features {
    int uffd;          /**< userfaultfd is usable */
    int uffd_wp;       /**< write-protect faults on anonymous memory */
    int uffd_move;     /**< UFFDIO_MOVE (Linux 6.8+) */
    int numa_nodes;    /**< host NUMA nodes found */
    const char *fault_mode_reason; /**< why this fault mode was chosen */
    int hole_free_replace; /**< host-to-host commits replace a block's pages with no moment
                                without them (one mremap; see docs/DESIGN.md) */
    int huge_pages;        /**< blocks are populated with 2 MiB transparent huge pages */
    int read_only_move;    /**< read-only installs move the staged pages in rather than copy
                                them (::ums_ro_install; always so in signal mode) */
} ums_runtime_features;

/**
 * Report the kernel features the runtime detected.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER.
 */
UMS_API ums_result ums_runtime_features_get(ums_runtime_t *rt, ums_runtime_features *out);

/** Human-readable name of a fault mode ("uffd", "signal", "auto"). */
UMS_API const char *ums_fault_mode_name(ums_fault_mode mode);

/** Human-readable name of a protocol ("readable", "blocking"). */
UMS_API const char *ums_protocol_name(ums_protocol p);

#ifdef __cplusplus
}
#endif
#endif
