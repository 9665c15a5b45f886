/**
 * @file umshim/advise.h
 * @brief Application advice: how a range will be used.
 */
#ifndef UMSHIM_ADVISE_H
#define UMSHIM_ADVISE_H

#include <stddef.h>

#include "umshim/export.h"
#include "umshim/location.h"
#include "umshim/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Advice kinds. */
typedef enum ums_advice {
    /** Mostly read: a migration to a device replicates (the host copy stays valid,
     *  read-only); a CPU write invalidates the other copies first. */
    UMS_ADVISE_READ_MOSTLY = 1,
    UMS_ADVISE_UNSET_READ_MOSTLY = 2,
    /** Where the data settles: a CPU fetch of a device-resident block returns it
     *  to this host node; eviction sends it here. */
    UMS_ADVISE_PREFERRED_LOCATION = 3,
    UMS_ADVISE_UNSET_PREFERRED_LOCATION = 4,
    /** The location accesses the range: keep it reachable without migrating where
     *  the device can access host memory (::UMS_LOCATION_FLAG_HOST_ACCESS). */
    UMS_ADVISE_ACCESSED_BY = 5,
    UMS_ADVISE_UNSET_ACCESSED_BY = 6
} ums_advice;

/** How a piece of advice was taken. */
typedef enum ums_advice_status {
    UMS_ADVICE_HONOURED = 0, /**< applied as asked */
    UMS_ADVICE_DEGRADED = 1, /**< applied in a weaker form (see reason) */
    UMS_ADVICE_IGNORED = 2   /**< recorded but has no effect here (see reason) */
} ums_advice_status;

/** What ums_advise_ex() did. */
typedef struct ums_advice_outcome {
    ums_advice_status status;
    size_t blocks;      /**< blocks the advice was recorded on */
    char reason[160];   /**< why degraded or ignored; "" when honoured */
} ums_advice_outcome;

/**
 * Give advice on a range (widened to whole blocks).
 * @param location  the location the advice names (PREFERRED_LOCATION, ACCESSED_BY);
 *                  ignored (pass ::UMS_LOCATION_NONE) for READ_MOSTLY
 * @param outcome   receives whether it was honoured, degraded or ignored (may be NULL)
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER, ::UMS_ERR_BAD_SIZE, ::UMS_ERR_NOT_MANAGED,
 *         ::UMS_ERR_OUT_OF_RANGE, ::UMS_ERR_UNKNOWN_ADVICE, ::UMS_ERR_UNKNOWN_LOCATION.
 */
UMS_API ums_result ums_advise_ex(void *ptr, size_t len, ums_advice advice, ums_location_t location,
                                 ums_advice_outcome *outcome);

/** ums_advise_ex() without an outcome. */
UMS_API ums_result ums_advise(void *ptr, size_t len, ums_advice advice, ums_location_t location);

/** Name of an advice kind ("read-mostly", ...), "unknown" otherwise. */
UMS_API const char *ums_advice_name(ums_advice advice);

#ifdef __cplusplus
}
#endif
#endif
