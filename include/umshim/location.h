/**
 * @file umshim/location.h
 * @brief Locations: the places data can live (host NUMA nodes, device memories).
 *
 * A runtime numbers its locations 0..count-1 when it starts: host NUMA nodes
 * first (in hwloc's order), then every device location of every backend.
 * A ::ums_location_t is valid only within the runtime that numbered it.
 */
#ifndef UMSHIM_LOCATION_H
#define UMSHIM_LOCATION_H

#include <stddef.h>
#include <stdint.h>

#include "umshim/export.h"
#include "umshim/result.h"
#include "umshim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Index of a location within its runtime. */
typedef uint32_t ums_location_t;

/** "No location", used where a location is optional. */
#define UMS_LOCATION_NONE ((ums_location_t)0xffffffffu)

/** The most locations one runtime can hold (a block's valid copies are a 64-bit mask). */
#define UMS_MAX_LOCATIONS 64u

/** What kind of memory a location is. */
typedef enum ums_location_kind {
    UMS_LOCATION_HOST_NODE = 1, /**< a host NUMA node: CPU threads access it directly */
    UMS_LOCATION_DEVICE = 2     /**< device memory: CPU access requires a copy */
} ums_location_kind;

/** Location property flags (::ums_location_info.flags). */
enum {
    /** The device can access host memory directly (host-unified memory). */
    UMS_LOCATION_FLAG_HOST_ACCESS = 1u << 0,
    /** The location's capacity was configured rather than reported by hardware. */
    UMS_LOCATION_FLAG_CONFIGURED = 1u << 1
};

/** Description of one location. Strings are owned by the runtime. */
typedef struct ums_location_info {
    ums_location_t id;       /**< index within the runtime */
    ums_location_kind kind;  /**< host node or device */
    const char *name;        /**< "node0", "sim0", "opencl0:pthread-...", ... */
    const char *backend;     /**< name of the backend that owns it */
    uint64_t capacity;       /**< bytes, 0 when unknown */
    uint64_t bandwidth_mbps; /**< MB/s when known (hwloc, backend), else 0 */
    uint64_t latency_ns;     /**< ns when known, else 0 */
    int numa_node;           /**< OS NUMA node index for host nodes; nearest node for devices, -1 if unknown */
    const char *pci_bus_id;  /**< "0000:03:00.0" for PCI devices, else "" */
    uint32_t flags;          /**< UMS_LOCATION_FLAG_* */
} ums_location_info;

/**
 * Number of locations in a runtime.
 * @param rt     runtime, or NULL for the default runtime (started if needed)
 * @param count  receives the count
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, or the default runtime's start-up error.
 */
UMS_API ums_result ums_location_count(ums_runtime_t *rt, uint32_t *count);

/**
 * Describe one location.
 * @param rt    runtime, or NULL for the default runtime
 * @param id    location id, less than the count
 * @param info  receives the description; its strings live as long as the runtime
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_UNKNOWN_LOCATION.
 */
UMS_API ums_result ums_location_get(ums_runtime_t *rt, ums_location_t id, ums_location_info *info);

/**
 * Find a location by name ("node0", "sim1", ...).
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_UNKNOWN_LOCATION.
 */
UMS_API ums_result ums_location_find(ums_runtime_t *rt, const char *name, ums_location_t *id);

#ifdef __cplusplus
}
#endif
#endif
