/* Assertion macros for umshim tests: each failure prints what it saw.
 * Every test is its own executable, run by ctest in its own process with a
 * timeout. Exit code 77 means "skipped" and must come with a printed reason. */
#ifndef UMS_TEST_H
#define UMS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umshim.h"

#define UMS_TEST_SKIP_CODE 77

#define FAIL_(...)                                                           \
    do {                                                                     \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                      \
        fprintf(stderr, __VA_ARGS__);                                        \
        fprintf(stderr, "\n");                                               \
        exit(1);                                                             \
    } while (0)

#define SKIP(...)                                                            \
    do {                                                                     \
        printf("SKIP: ");                                                    \
        printf(__VA_ARGS__);                                                 \
        printf("\n");                                                        \
        fflush(stdout);                                                      \
        exit(UMS_TEST_SKIP_CODE);                                            \
    } while (0)

#define ASSERT(cond)                                                         \
    do {                                                                     \
        if (!(cond)) FAIL_("assertion failed: %s", #cond);                   \
    } while (0)

#define ASSERT_INT_(op, a, b)                                                \
    do {                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                  \
        if (!(a_ op b_))                                                     \
            FAIL_("expected %s %s %s, got %lld vs %lld", #a, #op, #b, a_, b_); \
    } while (0)
#define ASSERT_EQ(a, b) ASSERT_INT_(==, a, b)
#define ASSERT_NE(a, b) ASSERT_INT_(!=, a, b)
#define ASSERT_LT(a, b) ASSERT_INT_(<, a, b)
#define ASSERT_LE(a, b) ASSERT_INT_(<=, a, b)
#define ASSERT_GT(a, b) ASSERT_INT_(>, a, b)
#define ASSERT_GE(a, b) ASSERT_INT_(>=, a, b)

#define ASSERT_STR_EQ(a, b)                                                  \
    do {                                                                     \
        const char *a_ = (a), *b_ = (b);                                     \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                               \
            FAIL_("expected %s == %s, got \"%s\" vs \"%s\"", #a, #b,         \
                  a_ ? a_ : "(null)", b_ ? b_ : "(null)");                   \
    } while (0)

/* A umshim call that must return `expected`; prints names and last error. */
#define ASSERT_RESULT(expected, call)                                        \
    do {                                                                     \
        ums_result r_ = (call);                                              \
        if (r_ != (expected))                                                \
            FAIL_("%s returned %s, expected %s (last error: %s)", #call,     \
                  ums_result_name(r_), ums_result_name(expected),            \
                  ums_last_error()->message);                                \
    } while (0)
#define ASSERT_OK(call) ASSERT_RESULT(UMS_OK, call)

#endif
