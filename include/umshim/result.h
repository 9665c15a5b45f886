/**
 * @file umshim/result.h
 * @brief Result codes and the thread-local last-error record.
 *
 * Every umshim function that can fail returns a ::ums_result. ::UMS_OK is
 * zero; every error is negative. The codes, their names and their messages
 * come from one list (#UMS_RESULT_MAP) so they cannot drift apart.
 *
 * When a function fails it also fills the calling thread's last-error record
 * (ums_last_error()), which adds the backend that failed, a native code (an
 * errno value or a vendor status) and a sentence that says what happened.
 */
#ifndef UMSHIM_RESULT_H
#define UMSHIM_RESULT_H

#include "umshim/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * X-macro list of result codes: X(NAME, value, message).
 * Values are stable ABI: append, never renumber.
 */
#define UMS_RESULT_MAP(X)                                                          \
    X(OK, 0, "success")                                                            \
    X(ERR_INVALID_ARG, -1, "invalid argument")                                     \
    X(ERR_NULL_POINTER, -2, "a required pointer argument is NULL")                 \
    X(ERR_BAD_SIZE, -3, "size is zero or overflows")                               \
    X(ERR_NOT_MANAGED, -4, "pointer is not inside a live umshim allocation")       \
    X(ERR_NOT_BASE, -5, "pointer is inside an allocation but is not its base")     \
    X(ERR_OUT_OF_RANGE, -6, "range extends past the end of its allocation")        \
    X(ERR_UNKNOWN_FLAG, -7, "unknown flag bits")                                   \
    X(ERR_UNKNOWN_LOCATION, -8, "unknown location")                                \
    X(ERR_UNKNOWN_ADVICE, -9, "unknown advice")                                    \
    X(ERR_NO_MEMORY, -10, "out of host memory")                                    \
    X(ERR_NO_DEVICE_MEMORY, -11, "out of device memory at the target location")    \
    X(ERR_BACKEND, -12, "a backend operation failed")                              \
    X(ERR_SYSTEM, -13, "a system call failed")                                     \
    X(ERR_NOT_SUPPORTED, -14, "operation not supported here")                      \
    X(ERR_BUSY, -15, "resource busy")                                              \
    X(ERR_ABI_MISMATCH, -16, "backend ABI version or table size is incompatible")  \
    X(ERR_PLUGIN, -17, "backend plug-in could not be loaded")                      \
    X(ERR_TIMEOUT, -18, "timed out")                                               \
    X(ERR_ILLEGAL_TRANSITION, -19, "illegal block state transition")               \
    X(ERR_ABORTED, -20, "operation aborted; source data left intact")              \
    X(ERR_CONFIG, -21, "invalid configuration value")                              \
    X(ERR_NOT_READY, -22, "operation has not completed yet")                       \
    X(ERR_BUFFER_TOO_SMALL, -23, "output buffer too small")                        \
    X(ERR_STATE, -24, "object is in a state that does not allow this")             \
    X(ERR_OPENCL, -25, "an OpenCL call failed")                                    \
    X(ERR_BUILD, -26, "a kernel program failed to build")

/** Result of every umshim call. ::UMS_OK (0) on success, negative on error. */
typedef enum ums_result {
#define UMS_RESULT_ENUM_(name, value, msg) UMS_##name = (value),
    UMS_RESULT_MAP(UMS_RESULT_ENUM_)
#undef UMS_RESULT_ENUM_
} ums_result;

/**
 * Name of a result code, such as "UMS_ERR_BAD_SIZE".
 * @return a static string; "UMS_ERR_UNKNOWN_RESULT" for a value not in the list.
 */
UMS_API const char *ums_result_name(ums_result r);

/**
 * One-sentence description of a result code.
 * @return a static string; never NULL.
 */
UMS_API const char *ums_result_string(ums_result r);

/** The calling thread's record of its most recent failure. */
typedef struct ums_error_info {
    ums_result code;      /**< result code returned by the failing call */
    int native;           /**< errno or vendor status, 0 when none */
    const char *backend;  /**< backend that failed ("host", "sim", ...), or "core" */
    const char *function; /**< public function that failed */
    char message[256];    /**< a sentence: what failed, with values */
} ums_error_info;

/**
 * The calling thread's last-error record.
 *
 * Updated by every public function that fails; left untouched by calls that
 * succeed. The pointer stays valid for the life of the thread.
 * @return never NULL.
 */
UMS_API const ums_error_info *ums_last_error(void);

/** Reset the calling thread's last-error record to ::UMS_OK. */
UMS_API void ums_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
