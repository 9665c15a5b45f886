/* A stand-in for the core, for tests that drive the opencl backend through its
 * ops table alone: a services table that records errors and logs, the checks
 * the core makes on a table before using it, and helpers shared by the tests. */
#ifndef UMS_TEST_FAKE_CORE_H
#define UMS_TEST_FAKE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "test.h"
#include "umshim/backend.h"

/** What the backend reported through the services. */
typedef struct fake_core {
    ums_result code;   /**< last set_error code */
    int native;        /**< last set_error native code */
    char message[256]; /**< last set_error message */
    unsigned errors;   /**< set_error calls */
    unsigned logs;     /**< log calls */
} fake_core;

/** The record the fake services write (guarded internally; read it from one thread). */
extern fake_core fake;

/** Services of the fake core, with `fake` cleared. Logs go to stderr when UMS_TEST_VERBOSE is set. */
const ums_backend_services *fake_services(void);

/** Clear `fake`. */
void fake_reset(void);

/** Check a table the way the core does (ABI major, size, name, required ops); fails the test otherwise. */
void fake_check_table(const ums_backend_ops *ops);

/** Fill `buf` with a pattern that depends on `seed` and each byte's index. */
void fake_fill(void *buf, size_t len, unsigned seed);

/** Index of the first byte of `buf` that differs from fake_fill's pattern, or SIZE_MAX. */
size_t fake_check(const void *buf, size_t len, unsigned seed);

/** Fail the test if any OpenCL object the backend made is still alive;
 *  `when` (may be NULL) says where in the test. */
void fake_expect_no_live_objects(const char *when);

/* A backend call that must return `expected`; on failure prints both names and the detail. */
#define EXPECT_R(expected, call)                                                                                       \
    do {                                                                                                               \
        ums_result r_ = (call);                                                                                        \
        if (r_ != (expected))                                                                                          \
            FAIL_("%s returned %s, expected %s (backend said: %s)", #call, ums_result_name(r_),                        \
                  ums_result_name(expected), fake.message);                                                            \
    } while (0)
#define EXPECT_OK(call) EXPECT_R(UMS_OK, call)

/* The pattern check: prints the first differing byte. */
#define EXPECT_PATTERN(buf, len, seed)                                                                                 \
    do {                                                                                                               \
        size_t at_ = fake_check((buf), (len), (seed));                                                                 \
        if (at_ != SIZE_MAX)                                                                                           \
            FAIL_("%s (%zu bytes) differs from pattern %u at byte %zu", #buf, (size_t)(len), (unsigned)(seed), at_);   \
    } while (0)

#endif
