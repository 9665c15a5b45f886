/**
 * @file umshim/alloc.h
 * @brief Managed allocations: one pointer for CPU threads and devices.
 *
 * An allocation is a range of the process's address space. Its pointer never
 * changes for the allocation's life, wherever the data moves. The range is
 * split into blocks (ums_runtime_block_size()); each block is the unit of
 * coherence and migration. Allocations are rounded up to whole blocks and
 * aligned to the block size. Newly allocated memory reads as zero and is
 * resident on the host (the node of first touch).
 */
#ifndef UMSHIM_ALLOC_H
#define UMSHIM_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "umshim/export.h"
#include "umshim/result.h"
#include "umshim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Allocation flags. */
enum {
    /** Populate the host copy at allocation time instead of at first touch. */
    UMS_ALLOC_POPULATE = 1u << 0,
    /** Mark every block READ_MOSTLY from the start (see ums_advise()). */
    UMS_ALLOC_READ_MOSTLY = 1u << 1
};
/** All flag bits ums_alloc() accepts. */
#define UMS_ALLOC_FLAGS_ALL (UMS_ALLOC_POPULATE | UMS_ALLOC_READ_MOSTLY)

/**
 * Allocate managed memory in the default runtime.
 * @param size   bytes, > 0; rounded up to whole blocks
 * @param flags  UMS_ALLOC_* bits
 * @param ptr    receives the base pointer (unchanged on failure)
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER, ::UMS_ERR_BAD_SIZE (0 or too large),
 *         ::UMS_ERR_UNKNOWN_FLAG, ::UMS_ERR_NO_MEMORY, ::UMS_ERR_SYSTEM.
 */
UMS_API ums_result ums_alloc(size_t size, unsigned flags, void **ptr);

/**
 * Allocate managed memory in an explicit runtime. Same contract as ums_alloc().
 * @param rt runtime, or NULL for the default runtime
 */
UMS_API ums_result ums_runtime_alloc(ums_runtime_t *rt, size_t size, unsigned flags, void **ptr);

/**
 * Free an allocation: waits for migrations of its blocks to finish, frees every
 * copy. The pointer must be the base returned by ums_alloc().
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER, ::UMS_ERR_NOT_MANAGED (foreign or already
 *         freed), ::UMS_ERR_NOT_BASE (interior pointer).
 */
UMS_API ums_result ums_free(void *ptr);

/**
 * Find the allocation that contains an address.
 * @param ptr   any address
 * @param base  receives the allocation's base (may be NULL)
 * @param size  receives the size requested at allocation (may be NULL)
 * @param rt    receives the owning runtime (may be NULL)
 * @return ::UMS_OK or ::UMS_ERR_NOT_MANAGED.
 */
UMS_API ums_result ums_alloc_info(const void *ptr, void **base, size_t *size, ums_runtime_t **rt);

#ifdef __cplusplus
}
#endif
#endif
