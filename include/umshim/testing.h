/**
 * @file umshim/testing.h
 * @brief Fault injection for tests.
 *
 * Every system call the core makes and every backend operation it calls goes
 * through an overridable table. These hooks make the Nth call of one of them
 * fail, so tests can drive every error path for real. Not for production use:
 * the injection state is process-wide.
 *
 * Names: system calls "mmap", "munmap", "mprotect", "madvise", "mremap",
 * "mbind", "userfaultfd", "uffd_api", "uffd_register", "uffd_unregister",
 * "uffd_copy", "uffd_zeropage", "uffd_move", "uffd_wp", "uffd_wake", "pipe",
 * "thread_create", "calloc"; backend operations "op:init", "op:location_count",
 * "op:location_describe", "op:mem_alloc", "op:copy_to", "op:copy_from",
 * "op:copy_peer", "op:fence_wait", "op:copy_to_many", "op:copy_from_many".
 */
#ifndef UMSHIM_TESTING_H
#define UMSHIM_TESTING_H

#include "umshim/export.h"
#include "umshim/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Make the `nth` (1-based) call of `name` from now on fail with `err`
 * (an errno value for system calls; for "op:" names, a negative ::ums_result).
 * `count` consecutive calls fail from there (0 = every call from the nth on).
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_INVALID_ARG (unknown name, nth 0, or an err
 *         that is not a positive errno for a system call / a negative result for an "op:" name).
 */
UMS_API ums_result ums_test_inject(const char *name, unsigned nth, unsigned count, int err);

/** Remove every injection and reset the call counts. */
UMS_API void ums_test_inject_clear(void);

/** How many injected failures have fired since the last clear. */
UMS_API unsigned ums_test_injected_count(void);

/** The names that ums_test_inject() accepts, NULL-terminated. */
UMS_API const char *const *ums_test_inject_names(void);

#ifdef __cplusplus
}
#endif
#endif
