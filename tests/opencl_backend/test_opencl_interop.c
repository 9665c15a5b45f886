/* The interop interface of opencl_backend.h: the cl_mem behind a buffer, a
 * location's OpenCL objects, kernels ordered against the backend's transfers
 * through events, and an application's own context and queue adopted with
 * ums__opencl_attach() (including peer copies between contexts). */
#include <stdlib.h>
#include <string.h>

#include "fake_core.h"
#include "opencl_backend.h"

static const ums_backend_ops *ops;
static void *backend;
static ums__opencl *cl;
static uint32_t nloc;

static const char *kernel_source =
    "kernel void inc(global uchar *p, uint n) { size_t i = get_global_id(0); if (i < n) p[i] += 1; }\n";

#define CHECK_CL(call)                                                                                                 \
    do {                                                                                                               \
        cl_int e_ = (call);                                                                                            \
        if (e_ != CL_SUCCESS)                                                                                          \
            FAIL_("%s: %s", #call, ums__opencl_error_name(e_));                                                        \
    } while (0)

static cl_kernel build_inc(cl_context ctx, cl_device_id dev, cl_program *prog) {
    cl_int err;
    *prog = clCreateProgramWithSource(ctx, 1, &kernel_source, NULL, &err);
    CHECK_CL(err);
    CHECK_CL(clBuildProgram(*prog, 1, &dev, "", NULL, NULL));
    cl_kernel k = clCreateKernel(*prog, "inc", &err);
    CHECK_CL(err);
    return k;
}

/* Enqueue inc over a buffer after `wait` (may be NULL); returns the kernel's event. */
static cl_event run_inc(cl_command_queue q, cl_kernel k, cl_mem buf, size_t n, cl_event wait) {
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 0, sizeof buf, &buf));
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));
    size_t global = (n + 63) / 64 * 64;
    cl_event ev = NULL;
    CHECK_CL(clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, wait ? 1 : 0, wait ? &wait : NULL, &ev));
    CHECK_CL(clFlush(q));
    return ev;
}

static void expect_incremented(const unsigned char *got, const unsigned char *orig, size_t n, int by) {
    for (size_t i = 0; i < n; i++)
        if (got[i] != (unsigned char)(orig[i] + by))
            FAIL_("byte %zu: %u, expected %u", i, got[i], (unsigned char)(orig[i] + by));
}

static void test_locations(void) {
    cl_context ctx;
    cl_device_id dev;
    cl_command_queue q;
    EXPECT_OK(ums__opencl_location_get(cl, 0, &ctx, &dev, &q));
    ASSERT(ctx && dev && q);
    EXPECT_OK(ums__opencl_location_get(cl, 0, NULL, NULL, NULL));
    EXPECT_R(UMS_ERR_UNKNOWN_LOCATION, ums__opencl_location_get(cl, nloc, &ctx, &dev, &q));
    uint32_t index = 99;
    EXPECT_OK(ums__opencl_location_of_device(cl, dev, &index));
    ASSERT_EQ(index, 0);
    EXPECT_R(UMS_ERR_UNKNOWN_LOCATION, ums__opencl_location_of_device(cl, (cl_device_id)&index, &index));
    EXPECT_R(UMS_ERR_NULL_POINTER, ums__opencl_location_of_device(cl, NULL, &index));

    /* The queue is the device's, in the context, in order. */
    cl_device_id qdev;
    cl_context qctx;
    cl_command_queue_properties props;
    CHECK_CL(clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL));
    CHECK_CL(clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL));
    CHECK_CL(clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL));
    ASSERT(qdev == dev && qctx == ctx);
    ASSERT_EQ(props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, 0);
}

/* A kernel in the backend's context, ordered after a pending upload and before a download. */
static void test_kernel_in_backend_context(void) {
    const size_t n = (1u << 20) + 3;
    unsigned char *src = malloc(n), *dst = malloc(n);
    ASSERT(src && dst);
    fake_fill(src, n, 5);

    ums_devmem *m;
    EXPECT_OK(ops->mem_alloc(backend, 0, n, &m));
    ums__opencl_mem_info info;
    EXPECT_OK(ums__opencl_mem_get(cl, m, &info));
    cl_context ctx;
    cl_device_id dev;
    cl_command_queue bq;
    EXPECT_OK(ums__opencl_location_get(cl, 0, &ctx, &dev, &bq));
    ASSERT(info.buffer != NULL);
    ASSERT_EQ(info.size, n);
    ASSERT_EQ(info.location, 0);
    ASSERT(info.context == ctx && info.queue == bq);
    size_t clsize = 0;
    cl_mem_flags flags = 0;
    cl_context mctx = NULL;
    CHECK_CL(clGetMemObjectInfo(info.buffer, CL_MEM_SIZE, sizeof clsize, &clsize, NULL));
    CHECK_CL(clGetMemObjectInfo(info.buffer, CL_MEM_FLAGS, sizeof flags, &flags, NULL));
    CHECK_CL(clGetMemObjectInfo(info.buffer, CL_MEM_CONTEXT, sizeof mctx, &mctx, NULL));
    ASSERT_EQ(clsize, n);
    ASSERT_EQ(flags & (CL_MEM_USE_HOST_PTR | CL_MEM_ALLOC_HOST_PTR), 0);
    ASSERT(mctx == ctx);

    cl_program prog;
    cl_kernel k = build_inc(ctx, dev, &prog);
    cl_int err;
    cl_command_queue app_q = clCreateCommandQueueWithProperties(ctx, dev, NULL, &err); /* the application's own */
    CHECK_CL(err);

    /* Upload (not waited for), then the kernel waits for it through mem_pending. */
    ums_fence *up = NULL;
    EXPECT_OK(ops->copy_to(backend, m, 0, src, n, &up));
    cl_event pending = NULL;
    EXPECT_OK(ums__opencl_mem_pending(cl, m, &pending));
    cl_event kev = run_inc(app_q, k, info.buffer, n, pending);
    if (pending)
        clReleaseEvent(pending);
    /* The download must come after the kernel. */
    EXPECT_OK(ums__opencl_mem_after_event(cl, m, kev));
    EXPECT_OK(ops->copy_from(backend, dst, m, 0, n, NULL));
    expect_incremented(dst, src, n, 1);
    EXPECT_OK(ops->fence_wait(backend, up));

    /* The kernel's event as a fence. */
    ums_fence *kf = NULL;
    EXPECT_OK(ums__opencl_fence_from_event(cl, kev, &kf));
    EXPECT_OK(ops->fence_wait(backend, kf));
    clReleaseEvent(kev);

    /* Nothing pending once everything is done. */
    EXPECT_OK(ums__opencl_mem_pending(cl, m, &pending));
    ASSERT(pending == NULL);

    /* Application events: completed, failed. */
    cl_event user = clCreateUserEvent(ctx, &err);
    CHECK_CL(err);
    CHECK_CL(clSetUserEventStatus(user, CL_COMPLETE));
    EXPECT_OK(ums__opencl_event_wait(cl, user));
    EXPECT_OK(ums__opencl_mem_after_event(cl, m, user));
    clReleaseEvent(user);
    user = clCreateUserEvent(ctx, &err);
    CHECK_CL(err);
    CHECK_CL(clSetUserEventStatus(user, CL_INVALID_OPERATION));
    EXPECT_R(UMS_ERR_OPENCL, ums__opencl_event_wait(cl, user));
    clReleaseEvent(user);
    EXPECT_R(UMS_ERR_NULL_POINTER, ums__opencl_event_wait(cl, NULL));

    ops->mem_free(backend, m);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    clReleaseCommandQueue(app_q);
    free(src);
    free(dst);
}

/* The application's context on the last device: buffers there are created in it and use its queue. */
static void test_attach(void) {
    const uint32_t last = nloc - 1;
    cl_device_id dev;
    EXPECT_OK(ums__opencl_location_get(cl, last, NULL, &dev, NULL));
    cl_int err;
    cl_context app = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    CHECK_CL(err);
    cl_command_queue app_q = clCreateCommandQueueWithProperties(app, dev, NULL, &err);
    CHECK_CL(err);
    cl_context other = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    CHECK_CL(err);
    cl_command_queue other_q = clCreateCommandQueueWithProperties(other, dev, NULL, &err);
    CHECK_CL(err);

    /* A pooled buffer of the old context is dropped at attach. */
    ums_devmem *old;
    EXPECT_OK(ops->mem_alloc(backend, last, 4096, &old));
    ops->mem_free(backend, old);

    EXPECT_R(UMS_ERR_NULL_POINTER, ums__opencl_attach(cl, NULL, NULL, 0));
    EXPECT_R(UMS_ERR_NULL_POINTER, ums__opencl_attach(cl, app, NULL, 1));
    EXPECT_R(UMS_ERR_INVALID_ARG, ums__opencl_attach(cl, app, &other_q, 1)); /* queue of another context */
    cl_command_queue twice[2] = {app_q, app_q};
    EXPECT_R(UMS_ERR_INVALID_ARG, ums__opencl_attach(cl, app, twice, 2));
    EXPECT_OK(ums__opencl_inject("clRetainContext", 1, CL_OUT_OF_HOST_MEMORY));
    EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ums__opencl_attach(cl, app, &app_q, 1));
    cl_context ctx;
    EXPECT_OK(ums__opencl_location_get(cl, last, &ctx, NULL, NULL));
    ASSERT(ctx != app); /* failed attaches changed nothing */

    uint64_t released = ums__opencl_call_count("clReleaseMemObject");
    EXPECT_OK(ums__opencl_attach(cl, app, &app_q, 1));
    ASSERT_EQ(ums__opencl_call_count("clReleaseMemObject"), released + 1);
    EXPECT_R(UMS_ERR_BUSY, ums__opencl_attach(cl, app, &app_q, 1));
    cl_command_queue q;
    EXPECT_OK(ums__opencl_location_get(cl, last, &ctx, NULL, &q));
    ASSERT(ctx == app && q == app_q);
    if (last > 0) { /* other devices keep the backend's context */
        EXPECT_OK(ums__opencl_location_get(cl, 0, &ctx, NULL, NULL));
        ASSERT(ctx != app);
    }

    const size_t n = (2u << 20) + 1;
    unsigned char *src = malloc(n), *dst = malloc(n);
    ASSERT(src && dst);
    fake_fill(src, n, 9);
    ums_devmem *m;
    EXPECT_OK(ops->mem_alloc(backend, last, n, &m));
    ums__opencl_mem_info info;
    EXPECT_OK(ums__opencl_mem_get(cl, m, &info));
    ASSERT(info.context == app && info.queue == app_q);

    /* A kernel of the application's context uses the buffer directly, on the same queue. */
    cl_program prog;
    cl_kernel k = build_inc(app, dev, &prog);
    EXPECT_OK(ops->copy_to(backend, m, 0, src, n, NULL));
    cl_event kev = run_inc(app_q, k, info.buffer, n, NULL);
    EXPECT_OK(ums__opencl_mem_after_event(cl, m, kev));
    clReleaseEvent(kev);
    EXPECT_OK(ops->copy_from(backend, dst, m, 0, n, NULL));
    expect_incremented(dst, src, n, 1);

    /* Peer copies between the two contexts go through host memory, both ways. */
    ums_devmem *m0;
    EXPECT_OK(ops->mem_alloc(backend, 0, n, &m0));
    if (last > 0) {
        EXPECT_OK(ops->copy_to(backend, m0, 0, src, n, NULL));
        ums_fence *f = NULL;
        EXPECT_OK(ops->copy_peer(backend, m, 0, m0, 0, n, &f));
        EXPECT_OK(ops->fence_wait(backend, f));
        memset(dst, 0, n);
        EXPECT_OK(ops->copy_from(backend, dst, m, 0, n, NULL));
        EXPECT_PATTERN(dst, n, 9);

        /* Back, after a kernel: for m0 its event is from another context, so the backend waits. */
        kev = run_inc(app_q, k, info.buffer, n, NULL);
        EXPECT_OK(ums__opencl_mem_after_event(cl, m0, kev));
        EXPECT_OK(ums__opencl_mem_after_event(cl, m, kev));
        clReleaseEvent(kev);
        EXPECT_OK(ops->copy_peer(backend, m0, 0, m, 0, n, NULL));
        memset(dst, 0, n);
        EXPECT_OK(ops->copy_from(backend, dst, m0, 0, n, NULL));
        expect_incremented(dst, src, n, 1);

        /* A bounce whose read fails leaves the destination as it was. */
        EXPECT_OK(ums__opencl_inject("clEnqueueReadBuffer", 1, CL_OUT_OF_RESOURCES));
        EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->copy_peer(backend, m, 0, m0, 0, n, NULL));
        EXPECT_OK(ops->copy_from(backend, dst, m, 0, n, NULL));
        expect_incremented(dst, src, n, 1);
    }

    ops->mem_free(backend, m);
    ops->mem_free(backend, m0);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    free(src);
    free(dst);

    /* The backend holds its own references: the application may drop its handles first. */
    clReleaseCommandQueue(app_q);
    clReleaseContext(app);
    clReleaseCommandQueue(other_q);
    clReleaseContext(other);
    EXPECT_OK(ops->mem_alloc(backend, last, 4096, &m));
    EXPECT_OK(ops->copy_to(backend, m, 0, "abcd", 4, NULL));
    ops->mem_free(backend, m);
}

int main(void) {
    ops = ums__opencl_backend_entry();
    fake_check_table(ops);
    EXPECT_OK(ops->init(fake_services(), NULL, &backend));
    cl = backend;
    EXPECT_OK(ops->location_count(backend, &nloc));
    if (nloc == 0) {
        ops->fini(backend);
        SKIP("no OpenCL device");
    }
    test_locations();
    test_kernel_in_backend_context();
    test_attach();
    ops->fini(backend);

    ums__opencl_objects o;
    ums__opencl_live_objects(&o);
    if (o.contexts || o.queues || o.buffers || o.events)
        FAIL_("OpenCL references left: %ld contexts, %ld queues, %ld buffers, %ld events", o.contexts, o.queues,
              o.buffers, o.events);
    printf("opencl interop: %u locations, all checks passed\n", nloc);
    return 0;
}
