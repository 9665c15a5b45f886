/**
 * @file umshim/counters.h
 * @brief Counters: what the runtime did, and who waited how long.
 */
#ifndef UMSHIM_COUNTERS_H
#define UMSHIM_COUNTERS_H

#include <stdint.h>

#include "umshim/export.h"
#include "umshim/result.h"
#include "umshim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Cumulative counters of a runtime. */
typedef struct ums_counters {
    uint64_t faults;               /**< CPU faults on managed memory handled */
    uint64_t read_faults;          /**< ... of which reads */
    uint64_t write_faults;         /**< ... of which writes */
    uint64_t first_touch_faults;   /**< ... of which first touches of a block */
    uint64_t fetches;              /**< device → host fetches caused by CPU faults */
    uint64_t invalidations;        /**< copies invalidated by a write to a SHARED block */
    uint64_t migrations;           /**< blocks committed at a new location */
    uint64_t migrations_aborted;   /**< blocks whose migration was aborted */
    uint64_t bytes_host_to_host;   /**< bytes copied between host nodes */
    uint64_t bytes_host_to_device;
    uint64_t bytes_device_to_host;
    uint64_t bytes_device_to_device;
    uint64_t reader_waits;         /**< read faults that had to wait for a migration or fetch */
    uint64_t writer_waits;         /**< write faults that had to wait */
    uint64_t reader_wait_ns;       /**< total time readers waited */
    uint64_t writer_wait_ns;       /**< total time writers waited */
    uint64_t prefetches;           /**< prefetch requests completed */
} ums_counters;

/**
 * Read a runtime's counters.
 * @param rt   runtime, or NULL for the default runtime
 * @return ::UMS_OK or ::UMS_ERR_NULL_POINTER.
 */
UMS_API ums_result ums_counters_get(ums_runtime_t *rt, ums_counters *out);

/** Reset a runtime's counters to zero. rt NULL = default runtime. */
UMS_API ums_result ums_counters_reset(ums_runtime_t *rt);

#ifdef __cplusplus
}
#endif
#endif
