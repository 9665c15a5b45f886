/* Helpers for the OpenCL interop tests: a runtime from the environment, its
 * OpenCL devices, programs, and checks on residency and OpenCL objects. */
#ifndef UMS_CL_TEST_H
#define UMS_CL_TEST_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "opencl_backend.h"
#include "test.h"
#include "umshim/opencl.h"

#define CHECK_CL(call)                                                                                                 \
    do {                                                                                                               \
        cl_int e_ = (call);                                                                                            \
        if (e_ != CL_SUCCESS)                                                                                          \
            FAIL_("%s: %s (%d)", #call, ums__opencl_error_name(e_), (int)e_);                                          \
    } while (0)

typedef struct cl_dev {
    ums_location_t loc;
    cl_context ctx;
    cl_device_id dev;
    cl_command_queue q; /* the test's own queue in ctx */
    uint32_t flags;
} cl_dev;

typedef struct cl_env {
    ums_runtime_t *rt;
    size_t bs;
    ums_location_t host;
    unsigned ndev;
    cl_dev dev[8];
} cl_env;

/* Start a runtime from the environment; skip the test when it has no OpenCL device
 * (or fewer than `need`). */
static inline void cl_env_open(cl_env *e, unsigned need) {
    memset(e, 0, sizeof *e);
    ASSERT_OK(ums_runtime_create(NULL, &e->rt));
    e->bs = ums_runtime_block_size(e->rt);
    uint32_t n = 0;
    ASSERT_OK(ums_location_count(e->rt, &n));
    for (uint32_t i = 0; i < n && e->ndev < 8; i++) {
        ums_location_info info;
        ASSERT_OK(ums_location_get(e->rt, i, &info));
        if (info.kind == UMS_LOCATION_HOST_NODE && i == 0) e->host = i;
        if (strcmp(info.backend, "opencl") != 0) continue;
        cl_dev *d = &e->dev[e->ndev++];
        d->loc = i;
        d->flags = info.flags;
        ASSERT_OK(ums_cl_location_context(e->rt, i, &d->ctx, &d->dev));
        cl_int err;
        d->q = clCreateCommandQueueWithProperties(d->ctx, d->dev, NULL, &err);
        CHECK_CL(err);
    }
    if (e->ndev < need) {
        ums_runtime_destroy(e->rt);
        SKIP("%u OpenCL device(s), %u needed (POCL_DEVICES=\"pthread pthread\" gives two)", e->ndev, need);
    }
}

static inline void cl_env_close(cl_env *e) {
    for (unsigned i = 0; i < e->ndev; i++) {
        clFinish(e->dev[i].q);
        clReleaseCommandQueue(e->dev[i].q);
    }
    ASSERT_OK(ums_runtime_destroy(e->rt));
}

/* Build one kernel from source in ctx (with -cl-kernel-arg-info). */
static inline cl_kernel cl_build(cl_context ctx, const char *src, const char *name, cl_program *prog) {
    ASSERT_OK(ums_cl_program_from_source(ctx, src, NULL, prog));
    cl_int err;
    cl_kernel k = clCreateKernel(*prog, name, &err);
    CHECK_CL(err);
    return k;
}

static inline void cl_kernel_done(cl_kernel k, cl_program p) {
    ASSERT_OK(ums_cl_forget_kernel(k));
    CHECK_CL(clReleaseKernel(k));
    CHECK_CL(clReleaseProgram(p));
}

/* Residency of the block that holds p. */
static inline ums_block_info cl_block(const void *p) {
    ums_block_info bi;
    size_t n;
    ASSERT_OK(ums_query(p, 1, &bi, 1, &n));
    return bi;
}

static inline double cl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The backend's live OpenCL objects, once event callbacks still in flight have
 * run (OpenCL calls them on its own thread after an event completes). */
static inline ums__opencl_objects cl_objects_settled(long events) {
    ums__opencl_objects o;
    for (int i = 0; i < 200; i++) {
        ums__opencl_live_objects(&o);
        if (o.events <= events) break;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return o;
}
static inline ums__opencl_objects cl_objects(void) { return cl_objects_settled(0); }

/* The backend's OpenCL objects are back to what they were. */
#define ASSERT_OBJECTS_EQ(before)                                                                                      \
    do {                                                                                                               \
        ums__opencl_objects now_ = cl_objects_settled((before).events);                                                                       \
        if (now_.contexts != (before).contexts || now_.queues != (before).queues ||                                    \
            now_.buffers != (before).buffers || now_.events != (before).events ||                                      \
            now_.kernels != (before).kernels)                                                                          \
            FAIL_("OpenCL objects: contexts %ld→%ld queues %ld→%ld buffers %ld→%ld events %ld→%ld kernels %ld→%ld",    \
                  (before).contexts, now_.contexts, (before).queues, now_.queues, (before).buffers, now_.buffers,      \
                  (before).events, now_.events, (before).kernels, now_.kernels);                                       \
    } while (0)

#endif
