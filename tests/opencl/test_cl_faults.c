/* Injected OpenCL failures under ums_cl_enqueue_kernel: buffer creation out of
 * resources, failing transfers (upload, fetch, device to device), a failing
 * enqueue, and each OpenCL call of the interop failing in turn over a whole
 * scenario. Every failure returns an error and leaves the data valid at its
 * source (checked against a plain-memory model); nothing leaks. */
#include <stdlib.h>

#include "cl_test.h"

static const char *src =
    "kernel void inc(global uint *p, uint n) { size_t i = get_global_id(0); if (i < n) p[i] += 1; }\n"
    "kernel void addto(const global uint *a, global uint *b, uint n) {\n"
    "    size_t i = get_global_id(0); if (i < n) b[i] += a[i]; }\n";

static cl_env E;

static size_t first_diff(const uint32_t *p, const uint32_t *model, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != model[i]) return i;
    return SIZE_MAX;
}

#define EXPECT_MODEL(p, model, n)                                                                                      \
    do {                                                                                                               \
        size_t at_ = first_diff((p), (model), (n));                                                                    \
        if (at_ != SIZE_MAX) FAIL_("%s[%zu] = %u, model says %u", #p, at_, (p)[at_], (model)[at_]);                    \
    } while (0)

/* Each targeted failure: error returned, source intact, a retry works. */
static void test_targeted(const cl_dev *d) {
    const size_t n = E.bs / 2; /* 2 blocks */
    uint32_t *x, *model = malloc(n * 4);
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    for (size_t i = 0; i < n; i++) x[i] = model[i] = (uint32_t)i;
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "inc", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));

    /* The device buffer cannot be created. */
    ums__opencl_inject_reset();
    ASSERT_OK(ums__opencl_inject("clCreateBuffer", 1, CL_OUT_OF_RESOURCES));
    ASSERT_RESULT(UMS_ERR_NO_DEVICE_MEMORY, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    ASSERT_EQ(ums__opencl_injected_count(), 1);
    ASSERT(strstr(ums_last_error()->message, "CL_OUT_OF_RESOURCES") != NULL);
    ASSERT_STR_EQ(ums_last_error()->function, "ums_cl_enqueue_kernel");
    ASSERT_EQ(cl_block(x).state, UMS_BLOCK_HOST);
    x[3] += 10; /* still writable */
    model[3] += 10;
    EXPECT_MODEL(x, model, n);

    /* The upload fails: the blocks stay on the host, writable. */
    ASSERT_OK(ums__opencl_inject("clEnqueueWriteBuffer", 1, CL_OUT_OF_RESOURCES));
    ASSERT_RESULT(UMS_ERR_NO_DEVICE_MEMORY, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    ASSERT_EQ(cl_block(x).state, UMS_BLOCK_HOST);
    x[4] += 10;
    model[4] += 10;
    EXPECT_MODEL(x, model, n);

    /* The enqueue fails: the data is valid on the device; the CPU fetches it. */
    ASSERT_OK(ums__opencl_inject("clEnqueueNDRangeKernel", 1, CL_INVALID_WORK_GROUP_SIZE));
    ASSERT_RESULT(UMS_ERR_OPENCL, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    ASSERT(strstr(ums_last_error()->message, "CL_INVALID_WORK_GROUP_SIZE") != NULL);
    ASSERT_EQ(ums_last_error()->native, CL_INVALID_WORK_GROUP_SIZE);
    EXPECT_MODEL(x, model, n);

    /* A fetch that fails once is retried by the fault path: the CPU still gets the result. */
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    for (size_t i = 0; i < n; i++) model[i]++;
    ASSERT_OK(ums__opencl_inject("clEnqueueReadBuffer", 1, CL_OUT_OF_RESOURCES));
    EXPECT_MODEL(x, model, n);
    ASSERT_EQ(ums__opencl_injected_count(), 4);

    /* An argument, the kernel's event record, a sub-buffer: each fails cleanly. */
    ASSERT_OK(ums__opencl_inject("clSetKernelArg", 1, CL_INVALID_MEM_OBJECT));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    EXPECT_MODEL(x, model, n);
    ASSERT_OK(ums__opencl_inject("clRetainEvent", 1, CL_OUT_OF_HOST_MEMORY));
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL)); /* waits for the kernel instead */
    for (size_t i = 0; i < n; i++) model[i]++;
    EXPECT_MODEL(x, model, n);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x + 64, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums__opencl_inject("clCreateSubBuffer", 1, CL_MISALIGNED_SUB_BUFFER_OFFSET));
    size_t m = n - 64;
    ASSERT_RESULT(UMS_ERR_OPENCL, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &m, NULL, 0, NULL, NULL));
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &m, NULL, 0, NULL, NULL));
    for (size_t i = 64; i < n; i++) model[i]++;
    EXPECT_MODEL(x, model, n);
    ASSERT_EQ(ums__opencl_injected_count(), 7);
    ums__opencl_inject_reset();

    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(x));
    free(model);
}

/* Device to device: the peer copy fails; the data stays valid on the first device. */
static void test_peer_failure(void) {
    if (E.ndev < 2) return;
    const cl_dev *d0 = &E.dev[0], *d1 = &E.dev[1];
    const size_t n = E.bs / 4;
    uint32_t *x, *y, *mx = malloc(n * 4), *my = malloc(n * 4);
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&y));
    for (size_t i = 0; i < n; i++) {
        x[i] = mx[i] = (uint32_t)i;
        y[i] = my[i] = 1;
    }
    cl_program p0, p1;
    cl_kernel inc = cl_build(d0->ctx, src, "inc", &p0);
    cl_kernel add = cl_build(d1->ctx, src, "addto", &p1);
    cl_uint un = (cl_uint)n;
    ASSERT_OK(ums_cl_set_kernel_arg(inc, 0, x, UMS_CL_ACCESS_DEFAULT));
    CHECK_CL(clSetKernelArg(inc, 1, sizeof un, &un));
    ASSERT_OK(ums_cl_set_kernel_arg(add, 0, x, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_set_kernel_arg(add, 1, y, UMS_CL_ACCESS_DEFAULT));
    CHECK_CL(clSetKernelArg(add, 2, sizeof un, &un));
    ASSERT_OK(ums_cl_enqueue_kernel(d0->q, inc, 1, NULL, &n, NULL, 0, NULL, NULL));
    for (size_t i = 0; i < n; i++) mx[i]++;
    ums__opencl_inject_reset();
    ASSERT_OK(ums__opencl_inject("clEnqueueCopyBuffer", 1, CL_OUT_OF_RESOURCES));
    ASSERT_RESULT(UMS_ERR_NO_DEVICE_MEMORY, ums_cl_enqueue_kernel(d1->q, add, 1, NULL, &n, NULL, 0, NULL, NULL));
    ASSERT_EQ(ums__opencl_injected_count(), 1);
    ums_block_info bi = cl_block(x);
    ASSERT_EQ(bi.valid, 1ull << d0->loc); /* still (only) on device 0 */
    ASSERT_OK(ums_cl_enqueue_kernel(d1->q, add, 1, NULL, &n, NULL, 0, NULL, NULL));
    for (size_t i = 0; i < n; i++) my[i] += mx[i];
    EXPECT_MODEL(y, my, n);
    EXPECT_MODEL(x, mx, n);
    ums__opencl_inject_reset();
    cl_kernel_done(inc, p0);
    cl_kernel_done(add, p1);
    ASSERT_OK(ums_free(x));
    ASSERT_OK(ums_free(y));
    free(mx);
    free(my);
}

/* A scenario over two allocations and (when there are two) two devices. Every
 * launch that returns UMS_OK applies to the model; one that fails applies nothing. */
static void scenario(uint32_t *x, uint32_t *y, uint32_t *mx, uint32_t *my, size_t n, cl_kernel *inc, cl_kernel *add,
                     unsigned *failures) {
    for (size_t i = 0; i < n; i++) {
        x[i] = mx[i] = (uint32_t)(i * 3);
        y[i] = my[i] = 7;
    }
    for (int step = 0; step < 6; step++) {
        const cl_dev *d = &E.dev[(unsigned)step % E.ndev];
        cl_kernel k = step % 3 == 2 ? add[d - E.dev] : inc[d - E.dev];
        size_t g = n;
        ums_result r = ums_cl_enqueue_kernel(d->q, k, 1, NULL, &g, NULL, 0, NULL, NULL);
        if (r != UMS_OK) {
            if (r == UMS_ERR_NULL_POINTER || r == UMS_ERR_NOT_MANAGED)
                FAIL_("step %d: unexpected %s (%s)", step, ums_result_name(r), ums_last_error()->message);
            ASSERT(ums_last_error()->message[0] != '\0');
            (*failures)++;
        } else if (k == add[d - E.dev]) {
            for (size_t i = 0; i < n; i++) my[i] += mx[i];
        } else {
            for (size_t i = 0; i < n; i++) mx[i]++;
        }
        if (step == 3) EXPECT_MODEL(y, my, n); /* CPU reads between kernels */
        if (step == 4) x[1] = mx[1] = 99;       /* and writes */
    }
    EXPECT_MODEL(x, mx, n);
    EXPECT_MODEL(y, my, n);
}

static void test_sweep(void) {
    static const char *const functions[] = {"clCreateBuffer",        "clEnqueueWriteBuffer",  "clEnqueueReadBuffer",
                                            "clEnqueueCopyBuffer",   "clSetKernelArg",        "clEnqueueNDRangeKernel",
                                            "clGetEventInfo",        "clRetainEvent",         "clWaitForEvents",
                                            "clGetKernelInfo",       "clGetCommandQueueInfo", "clGetDeviceInfo",
                                            "clFlush",               "clCreateSubBuffer"};
    const size_t n = E.bs / 2 + 100;
    uint32_t *mx = malloc(n * 4), *my = malloc(n * 4);
    cl_program progs[8];
    cl_kernel inc[8], add[8];
    for (unsigned i = 0; i < E.ndev; i++) {
        inc[i] = cl_build(E.dev[i].ctx, src, "inc", &progs[i]);
        add[i] = clCreateKernel(progs[i], "addto", &(cl_int){0});
    }
    cl_uint un = (cl_uint)n;
    unsigned total_fired = 0, total_failures = 0;
    for (size_t f = 0; f < sizeof functions / sizeof functions[0]; f++) {
        unsigned fired_here = 0;
        for (unsigned nth = 1; nth <= 12; nth++) {
            uint32_t *x, *y;
            ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
            ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&y));
            for (unsigned i = 0; i < E.ndev; i++) {
                ASSERT_OK(ums_cl_set_kernel_arg(inc[i], 0, x, UMS_CL_ACCESS_DEFAULT));
                CHECK_CL(clSetKernelArg(inc[i], 1, sizeof un, &un));
                ASSERT_OK(ums_cl_set_kernel_arg(add[i], 0, x, UMS_CL_ACCESS_DEFAULT));
                ASSERT_OK(ums_cl_set_kernel_arg(add[i], 1, y, UMS_CL_ACCESS_DEFAULT));
                CHECK_CL(clSetKernelArg(add[i], 2, sizeof un, &un));
            }
            ums__opencl_inject_reset();
            ASSERT_OK(ums__opencl_inject(functions[f], nth, CL_OUT_OF_RESOURCES));
            unsigned failures = 0;
            scenario(x, y, mx, my, n, inc, add, &failures);
            unsigned fired = (unsigned)ums__opencl_injected_count();
            ums__opencl_inject_reset();
            fired_here += fired;
            total_failures += failures;
            ASSERT_OK(ums_free(x));
            ASSERT_OK(ums_free(y));
            if (!fired) break; /* the scenario makes fewer calls than nth */
        }
        total_fired += fired_here;
        printf("  %-24s fired %2u\n", functions[f], fired_here);
    }
    printf("  sweep: %u injected failures, %u launches refused, data always matched the model\n", total_fired,
           total_failures);
    ASSERT_GT(total_fired, 20);
    for (unsigned i = 0; i < E.ndev; i++) {
        ASSERT_OK(ums_cl_forget_kernel(add[i]));
        CHECK_CL(clReleaseKernel(add[i]));
        cl_kernel_done(inc[i], progs[i]);
    }
    free(mx);
    free(my);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    cl_env_open(&E, 1);
    test_targeted(&E.dev[0]);
    test_peer_failure();
    test_sweep();
    cl_env_close(&E);
    ums__opencl_objects zero = {0};
    ASSERT_OBJECTS_EQ(zero);
    printf("opencl faults: all checks passed\n");
    return 0;
}
