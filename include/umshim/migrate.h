/**
 * @file umshim/migrate.h
 * @brief Moving data: synchronous migration and asynchronous prefetch.
 *
 * Ranges are widened to whole blocks. A migration is a transaction per block:
 * prepare (allocate the destination) → copy → commit (atomic switch) or abort
 * (destination freed, source untouched). Under the readable protocol the
 * source stays readable during the copy and only writers wait.
 */
#ifndef UMSHIM_MIGRATE_H
#define UMSHIM_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "umshim/export.h"
#include "umshim/location.h"
#include "umshim/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a migration or prefetch did. */
typedef struct ums_migrate_report {
    size_t blocks_total;     /**< blocks in the (widened) range */
    size_t blocks_moved;     /**< blocks copied to the target */
    size_t blocks_already;   /**< blocks already valid only at the target */
    size_t blocks_failed;    /**< blocks left at their source (error or aborted by a writer) */
    uint64_t bytes_moved;    /**< bytes copied */
    ums_result first_error;  /**< first per-block error, ::UMS_OK if none */
} ums_migrate_report;

/**
 * Move a range to a location and wait until every block is there.
 * Afterwards each block's only valid copy is at `location`.
 * @param ptr       any address inside an allocation
 * @param len       bytes, > 0, within the allocation
 * @param location  target location id in the allocation's runtime
 * @param report    receives what happened (may be NULL)
 * @return ::UMS_OK when every block is at the target; otherwise the first error
 *         (::UMS_ERR_NO_DEVICE_MEMORY, ::UMS_ERR_BACKEND, ::UMS_ERR_ABORTED, ...);
 *         blocks that failed keep their data at the source. Bad input:
 *         ::UMS_ERR_NULL_POINTER, ::UMS_ERR_BAD_SIZE, ::UMS_ERR_NOT_MANAGED,
 *         ::UMS_ERR_OUT_OF_RANGE, ::UMS_ERR_UNKNOWN_LOCATION.
 */
UMS_API ums_result ums_migrate_ex(void *ptr, size_t len, ums_location_t location, ums_migrate_report *report);

/** ums_migrate_ex() without a report. */
UMS_API ums_result ums_migrate(void *ptr, size_t len, ums_location_t location);

/** Opaque handle to an asynchronous operation. */
typedef struct ums_event ums_event_t;

/**
 * Start moving a range to a location in the background (worker threads).
 * Same validation as ums_migrate(); a bad argument fails here, not in the event.
 * @param event receives the event; release it with ums_event_release()
 * @return ::UMS_OK when queued, or a validation error (no event is created).
 */
UMS_API ums_result ums_prefetch(void *ptr, size_t len, ums_location_t location, ums_event_t **event);

/**
 * Wait for an event.
 * @param timeout_ns  0 = do not wait (query), UINT64_MAX = forever
 * @return the operation's result, or ::UMS_ERR_NOT_READY / ::UMS_ERR_TIMEOUT.
 */
UMS_API ums_result ums_event_wait(ums_event_t *event, uint64_t timeout_ns);

/**
 * Query an event without waiting.
 * @param report receives what the operation did so far (may be NULL)
 * @return the operation's result when done, ::UMS_ERR_NOT_READY otherwise,
 *         ::UMS_ERR_NULL_POINTER.
 */
UMS_API ums_result ums_event_query(ums_event_t *event, ums_migrate_report *report);

/**
 * Release an event. Releasing before completion is allowed: the operation still runs.
 * @return ::UMS_OK or ::UMS_ERR_NULL_POINTER.
 */
UMS_API ums_result ums_event_release(ums_event_t *event);

#ifdef __cplusplus
}
#endif
#endif
