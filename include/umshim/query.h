/**
 * @file umshim/query.h
 * @brief Residency: where each block of a range lives now.
 */
#ifndef UMSHIM_QUERY_H
#define UMSHIM_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "umshim/export.h"
#include "umshim/location.h"
#include "umshim/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Coherence state of a block (see docs/DESIGN.md). */
typedef enum ums_block_state {
    UMS_BLOCK_HOST = 0,      /**< one valid copy, on a host node; read/write for CPUs */
    UMS_BLOCK_DEVICE = 1,    /**< one valid copy, on a device; a CPU access fetches it */
    UMS_BLOCK_SHARED = 2,    /**< several read-only copies; a write invalidates the others */
    UMS_BLOCK_MIGRATING = 3  /**< being copied; the source stays valid */
} ums_block_state;

/** Number of block states. */
#define UMS_BLOCK_STATE_COUNT 4

/** Advice bits reported per block. */
enum {
    UMS_BLOCK_ADVICE_READ_MOSTLY = 1u << 0,
    UMS_BLOCK_ADVICE_PREFERRED = 1u << 1,
    UMS_BLOCK_ADVICE_ACCESSED_BY = 1u << 2
};

/** One block's residency. */
typedef struct ums_block_info {
    void *addr;                  /**< first byte of the block */
    size_t len;                  /**< block length */
    ums_block_state state;
    uint64_t valid;              /**< bit i set: location i holds a valid copy */
    ums_location_t home;         /**< host: the node; device: the device; migrating: the source */
    ums_location_t target;       /**< migrating: the destination, else ::UMS_LOCATION_NONE */
    ums_location_t preferred;    /**< PREFERRED_LOCATION advice or ::UMS_LOCATION_NONE */
    uint64_t accessed_by;        /**< ACCESSED_BY advice, a location mask */
    unsigned advice;             /**< UMS_BLOCK_ADVICE_* */
} ums_block_info;

/**
 * Report the residency of every block that overlaps [ptr, ptr+len).
 * @param out    array of `cap` entries (may be NULL when cap is 0)
 * @param cap    entries in `out`; 0 asks only for the count
 * @param count  receives the number of blocks in the range (even when cap is smaller)
 * @return ::UMS_OK (also for cap 0); ::UMS_ERR_BUFFER_TOO_SMALL when 0 < cap < count
 *         (out holds the first cap), or
 *         the usual range errors.
 */
UMS_API ums_result ums_query(const void *ptr, size_t len, ums_block_info *out, size_t cap, size_t *count);

/** Name of a block state ("host", "device", "shared", "migrating"). */
UMS_API const char *ums_block_state_name(ums_block_state s);

#ifdef __cplusplus
}
#endif
#endif
