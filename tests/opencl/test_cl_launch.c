/* Kernels on managed memory through ums_cl_enqueue_kernel: results, where the
 * blocks live afterwards, what moved (and what did not), interior pointers,
 * READ_MOSTLY, ACCESSED_BY in place, application contexts (attached, adopted on
 * first use, and a switch of context under existing device copies), two
 * devices, and freeing an allocation while its kernel runs. */
#include "cl_test.h"

static const char *src =
    "kernel void inc(global uint *p, uint n) { size_t i = get_global_id(0); if (i < n) p[i] += 1; }\n"
    "kernel void twice(const global uint *a, global uint *b, uint n) {\n"
    "    size_t i = get_global_id(0); if (i < n) b[i] = 2 * a[i]; }\n"
    "kernel void lcg(global uint *p, uint n, uint spin) {\n"
    "    size_t i = get_global_id(0); if (i >= n) return;\n"
    "    uint v = p[i]; for (uint k = 0; k < spin; k++) v = v * 1103515245u + 12345u; p[i] = v; }\n";

static cl_env E;

static uint64_t h2d(void) {
    ums_counters c;
    ASSERT_OK(ums_counters_get(E.rt, &c));
    return c.bytes_host_to_device;
}

static ums_counters counters(void) {
    ums_counters c;
    ASSERT_OK(ums_counters_get(E.rt, &c));
    return c;
}

static void launch1(cl_command_queue q, cl_kernel k, size_t n) {
    cl_event ev;
    ASSERT_OK(ums_cl_enqueue_kernel(q, k, 1, NULL, &n, NULL, 0, NULL, &ev));
    CHECK_CL(clReleaseEvent(ev));
}

/* a (read) → b (written): results, residency, bytes. */
static void test_basic(const cl_dev *d) {
    const size_t n = 3 * E.bs / 4 + 1000; /* a little over 3 blocks */
    uint32_t *a, *b;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&a));
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&b));
    for (size_t i = 0; i < n; i++) a[i] = (uint32_t)i * 7u;
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "twice", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, a, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_set_kernel_arg(k, 1, b, UMS_CL_ACCESS_DEFAULT));
    ums_cl_access acc;
    ASSERT_OK(ums_cl_kernel_arg_access(k, 0, &acc));
    ASSERT_EQ(acc, UMS_CL_ACCESS_READ);
    ASSERT_OK(ums_cl_kernel_arg_access(k, 1, &acc));
    ASSERT_EQ(acc, UMS_CL_ACCESS_READ_WRITE);
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 2, sizeof un, &un));
    ASSERT_OK(ums_counters_reset(E.rt));
    cl_event ev;
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, &ev));
    /* a is replicated (host copy stays, read-only), b is the device's alone. */
    ums_block_info ba = cl_block(a), bb = cl_block(b);
    ASSERT_EQ(ba.state, UMS_BLOCK_SHARED);
    ASSERT(ba.valid & (1ull << d->loc));
    ASSERT(ba.valid & (1ull << E.host));
    ASSERT_EQ(bb.state, UMS_BLOCK_DEVICE);
    ASSERT_EQ(bb.valid, 1ull << d->loc);
    ASSERT_EQ(h2d(), 8 * E.bs); /* 4 blocks of a, 4 of b */
    /* Reading a during the kernel never faults; reading b waits and fetches. */
    ums_counters c0 = counters();
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += a[i];
    ASSERT_EQ(counters().faults, c0.faults);
    for (size_t i = 0; i < n; i++)
        if (b[i] != 2u * a[i]) FAIL_("b[%zu] = %u, expected %u", i, b[i], 2u * a[i]);
    ASSERT(s > 0);
    ASSERT_OK(ums_cl_wait(ev));
    CHECK_CL(clReleaseEvent(ev));
    ASSERT_EQ(cl_block(b).state, UMS_BLOCK_HOST);

    /* Again: a is still valid on the device, so only b moves. */
    ASSERT_OK(ums_counters_reset(E.rt));
    launch1(d->q, k, n);
    ASSERT_EQ(h2d(), 4 * E.bs);
    ASSERT_EQ(b[n - 1], 2u * a[n - 1]);

    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(a));
    ASSERT_OK(ums_free(b));
}

/* Kernels in a row on the same data move it once. */
static void test_repeat(const cl_dev *d) {
    const size_t n = E.bs / 2;
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    for (size_t i = 0; i < n; i++) x[i] = (uint32_t)i;
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "inc", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));
    ASSERT_OK(ums_counters_reset(E.rt));
    for (int r = 0; r < 10; r++) launch1(d->q, k, n);
    ASSERT_EQ(h2d(), 2 * E.bs);
    for (size_t i = 0; i < n; i++)
        if (x[i] != (uint32_t)i + 10) FAIL_("x[%zu] = %u, expected %zu", i, x[i], i + 10);
    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(x));
}

/* Interior pointers: a sub-buffer from the pointer on; misaligned ones are refused. */
static void test_interior(const cl_dev *d) {
    const size_t n = E.bs; /* 2 blocks of uint */
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    for (size_t i = 0; i < n; i++) x[i] = 100;
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "inc", &p);
    const size_t off = n / 2 + 64; /* in the second block, 256-byte aligned */
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x + off, UMS_CL_ACCESS_DEFAULT));
    cl_uint m = (cl_uint)(n - off);
    CHECK_CL(clSetKernelArg(k, 1, sizeof m, &m));
    size_t g = n - off;
    launch1(d->q, k, g);
    ASSERT_EQ(cl_block(x).state, UMS_BLOCK_HOST); /* the first block is not the kernel's */
    for (size_t i = 0; i < n; i++)
        if (x[i] != (i >= off ? 101u : 100u)) FAIL_("x[%zu] = %u", i, x[i]);
    /* 4 bytes in: not a multiple of the device's base address alignment. */
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x + 1, UMS_CL_ACCESS_DEFAULT));
    ASSERT_RESULT(UMS_ERR_INVALID_ARG, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &g, NULL, 0, NULL, NULL));
    ASSERT(strstr(ums_last_error()->message, "multiple of") != NULL);
    ASSERT_STR_EQ(ums_last_error()->function, "ums_cl_enqueue_kernel");
    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(x));
}

/* READ_MOSTLY: after a CPU read of the kernel's result both copies stay valid,
 * so the next kernel moves nothing. */
static void test_read_mostly(const cl_dev *d) {
    const size_t n = E.bs / 4;
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, UMS_ALLOC_READ_MOSTLY, (void **)&x));
    for (size_t i = 0; i < n; i++) x[i] = 1;
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "inc", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_READ_WRITE));
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));
    launch1(d->q, k, n);
    ASSERT_EQ(x[5], 2u);
    ums_block_info bi = cl_block(x);
    ASSERT_EQ(bi.state, UMS_BLOCK_SHARED);
    ASSERT(bi.valid & (1ull << d->loc));
    ASSERT_OK(ums_counters_reset(E.rt));
    launch1(d->q, k, n);
    ASSERT_EQ(h2d(), 0);
    ASSERT_EQ(x[n - 1], 3u);
    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(x));
}

/* ACCESSED_BY a host-unified device: the kernel uses the host pages; nothing moves. */
static void test_in_place(const cl_dev *d) {
    if (!(d->flags & UMS_LOCATION_FLAG_HOST_ACCESS)) {
        printf("  (in place skipped: the device does not report host-unified memory)\n");
        return;
    }
    const size_t n = E.bs / 2 + 10;
    uint32_t *x, *y;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&y));
    for (size_t i = 0; i < n; i++) x[i] = (uint32_t)i;
    ums_advice_outcome out;
    ASSERT_OK(ums_advise_ex(x, n * 4, UMS_ADVISE_ACCESSED_BY, d->loc, &out));
    ASSERT_EQ(out.status, UMS_ADVICE_HONOURED);
    ASSERT_OK(ums_advise(y, n * 4, UMS_ADVISE_ACCESSED_BY, d->loc));
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "twice", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_set_kernel_arg(k, 1, y, UMS_CL_ACCESS_DEFAULT));
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 2, sizeof un, &un));
    ASSERT_OK(ums_counters_reset(E.rt));
    for (int r = 0; r < 3; r++) {
        cl_event ev;
        ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, &(size_t){0}, &n, NULL, 0, NULL, &ev));
        ASSERT_OK(ums_cl_wait(ev)); /* in place: the CPU waits for the event itself */
        CHECK_CL(clReleaseEvent(ev));
        for (size_t i = 0; i < n; i++)
            if (y[i] != 2u * x[i]) FAIL_("y[%zu] = %u", i, y[i]);
        x[7] += 1; /* CPU writes between kernels: no fault, no transfer */
    }
    ums_counters c = counters();
    ASSERT_EQ(c.bytes_host_to_device + c.bytes_device_to_host, 0);
    ASSERT_EQ(cl_block(x).state, UMS_BLOCK_HOST);
    ASSERT_EQ(cl_block(y).state, UMS_BLOCK_HOST);
    /* A block that lives on the device comes back before an in-place launch
     * (read-only there: the device copy stays valid beside the host's). */
    ASSERT_OK(ums_migrate(x, n * 4, d->loc));
    ASSERT_OK(ums_migrate(y, n * 4, d->loc));
    launch1(d->q, k, n);
    CHECK_CL(clFinish(d->q)); /* in place: the CPU waits for the kernel itself */
    ASSERT(cl_block(x).valid & (1ull << E.host));
    ASSERT_EQ(cl_block(y).state, UMS_BLOCK_HOST); /* written: the host's alone */
    ASSERT_EQ(y[7], 2u * x[7]);
    cl_kernel_done(k, p);
    /* Freed while an in-place kernel may still run: ums_free waits for it. */
    ASSERT_OK(ums_free(x));
    ASSERT_OK(ums_free(y));
}

/* A written block a CPU thread touches while the kernel runs: the access waits for
 * the kernel and sees its result. A read-only block does not wait. */
static void test_wait_for_writer(const cl_dev *d) {
    const size_t n = 8192;
    const cl_uint spin = 20000;
    uint32_t *x, *r;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&r));
    uint32_t *expect = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        x[i] = (uint32_t)i;
        uint32_t v = (uint32_t)i;
        for (cl_uint s = 0; s < spin; s++) v = v * 1103515245u + 12345u;
        expect[i] = v;
        r[i] = 5;
    }
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "lcg", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));
    CHECK_CL(clSetKernelArg(k, 2, sizeof spin, &spin));
    /* Another kernel only reads r (twice into a scratch buffer). */
    uint32_t *scratch;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&scratch));
    cl_kernel k2 = clCreateKernel(p, "twice", &(cl_int){0});
    ASSERT_OK(ums_cl_set_kernel_arg(k2, 0, r, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_set_kernel_arg(k2, 1, scratch, UMS_CL_ACCESS_DEFAULT));
    CHECK_CL(clSetKernelArg(k2, 2, sizeof un, &un));

    double t0 = cl_now();
    cl_event ev, ev2;
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, &ev));
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k2, 1, NULL, &n, NULL, 0, NULL, &ev2));
    double t_launch = cl_now();
    uint32_t seen_r = r[n / 2]; /* read-only block: no wait */
    double t_read = cl_now();
    cl_int st;
    CHECK_CL(clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL));
    uint32_t seen = x[n / 2]; /* written block: waits for the kernel */
    double t_x = cl_now();
    ASSERT_EQ(seen_r, 5u);
    ASSERT_EQ(seen, expect[n / 2]);
    for (size_t i = 0; i < n; i++)
        if (x[i] != expect[i]) FAIL_("x[%zu] = %u, expected %u", i, x[i], expect[i]);
    CHECK_CL(clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL));
    ASSERT_EQ(st, CL_COMPLETE);
    printf("  launch %.1f ms, read of a read-only block %.3f ms, read of the written block %.1f ms\n",
           (t_launch - t0) * 1e3, (t_read - t_launch) * 1e3, (t_x - t_read) * 1e3);
    ASSERT_OK(ums_cl_wait(ev2));
    CHECK_CL(clReleaseEvent(ev));
    CHECK_CL(clReleaseEvent(ev2));
    ASSERT_EQ(scratch[3], 10u);
    ASSERT_OK(ums_cl_forget_kernel(k2));
    CHECK_CL(clReleaseKernel(k2));
    cl_kernel_done(k, p);
    free(expect);
    ASSERT_OK(ums_free(x));
    ASSERT_OK(ums_free(r));
    ASSERT_OK(ums_free(scratch));
}

/* Freeing an allocation while its kernel still runs waits for the kernel. */
static void test_free_while_running(const cl_dev *d) {
    const size_t n = 4096;
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "lcg", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    cl_uint un = (cl_uint)n, spin = 20000;
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));
    CHECK_CL(clSetKernelArg(k, 2, sizeof spin, &spin));
    cl_event ev;
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, &ev));
    ASSERT_OK(ums_free(x));
    cl_int st;
    CHECK_CL(clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL));
    ASSERT_EQ(st, CL_COMPLETE);
    CHECK_CL(clReleaseEvent(ev));
    /* The binding now points to freed memory. */
    ASSERT_RESULT(UMS_ERR_NOT_MANAGED, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    cl_kernel_done(k, p);
}

/* Two devices: a kernel on one writes, a kernel on the other reads (device → device). */
static void test_two_devices(void) {
    if (E.ndev < 2) {
        printf("  (two devices skipped: one OpenCL device)\n");
        return;
    }
    const cl_dev *d0 = &E.dev[0], *d1 = &E.dev[1];
    const size_t n = E.bs / 2;
    uint32_t *x, *y;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&y));
    for (size_t i = 0; i < n; i++) x[i] = (uint32_t)i;
    cl_program p0, p1;
    cl_kernel inc = cl_build(d0->ctx, src, "inc", &p0);
    cl_kernel twice = cl_build(d1->ctx, src, "twice", &p1);
    cl_uint un = (cl_uint)n;
    ASSERT_OK(ums_cl_set_kernel_arg(inc, 0, x, UMS_CL_ACCESS_DEFAULT));
    CHECK_CL(clSetKernelArg(inc, 1, sizeof un, &un));
    ASSERT_OK(ums_cl_set_kernel_arg(twice, 0, x, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_set_kernel_arg(twice, 1, y, UMS_CL_ACCESS_DEFAULT));
    CHECK_CL(clSetKernelArg(twice, 2, sizeof un, &un));
    ASSERT_OK(ums_counters_reset(E.rt));
    for (int r = 0; r < 3; r++) {
        launch1(d0->q, inc, n);   /* x: the only copy on device 0 */
        launch1(d1->q, twice, n); /* x: replicated to device 1 after the kernel on 0 */
    }
    ums_block_info bi = cl_block(x);
    ASSERT_EQ(bi.state, UMS_BLOCK_SHARED);
    ASSERT_EQ(bi.valid, (1ull << d0->loc) | (1ull << d1->loc));
    ASSERT(counters().bytes_device_to_device > 0);
    for (size_t i = 0; i < n; i++)
        if (y[i] != 2u * ((uint32_t)i + 3)) FAIL_("y[%zu] = %u", i, y[i]);
    cl_kernel_done(inc, p0);
    cl_kernel_done(twice, p1);
    ASSERT_OK(ums_free(x));
    ASSERT_OK(ums_free(y));
}

/* An application context: attached, or adopted on the first launch; device copies
 * made in another context before are moved over. */
static void test_app_context(int attach_first) {
    cl_env e2;
    cl_env_open(&e2, 1);
    cl_dev *d = &e2.dev[0];
    const size_t n = E.bs / 2;
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(e2.rt, n * 4, 0, (void **)&x));
    for (size_t i = 0; i < n; i++) x[i] = (uint32_t)i;
    /* Before any attach: on the device, in umshim's own context. */
    ASSERT_OK(ums_migrate(x, n * 4, d->loc));

    cl_int err;
    cl_context app = clCreateContext(NULL, 1, &d->dev, NULL, NULL, &err);
    CHECK_CL(err);
    cl_command_queue q = clCreateCommandQueueWithProperties(app, d->dev, NULL, &err);
    CHECK_CL(err);
    if (attach_first) {
        ASSERT_OK(ums_cl_attach(e2.rt, app, &q, 1));
        ASSERT_RESULT(UMS_ERR_BUSY, ums_cl_attach(e2.rt, app, NULL, 0));
        cl_context got;
        ASSERT_OK(ums_cl_location_context(e2.rt, d->loc, &got, NULL));
        ASSERT(got == app);
    }
    cl_program p;
    cl_kernel k = cl_build(app, src, "inc", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));
    launch1(q, k, n);
    launch1(q, k, n);
    for (size_t i = 0; i < n; i++)
        if (x[i] != (uint32_t)i + 2) FAIL_("x[%zu] = %u", i, x[i]);
    cl_context got;
    ASSERT_OK(ums_cl_location_context(e2.rt, d->loc, &got, NULL));
    ASSERT(got == app);
    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(x));
    CHECK_CL(clReleaseCommandQueue(q));
    CHECK_CL(clReleaseContext(app));
    cl_env_close(&e2);
}

int main(void) {
    cl_env_open(&E, 1);
    ums__opencl_objects before = cl_objects();
    const cl_dev *d = &E.dev[0];
    printf("opencl launch: %u device(s), fault mode %s, block %zu KiB\n", E.ndev,
           ums_fault_mode_name(ums_runtime_fault_mode(E.rt)), E.bs >> 10);
    test_basic(d);
    test_repeat(d);
    test_interior(d);
    test_read_mostly(d);
    test_in_place(d);
    test_wait_for_writer(d);
    test_free_while_running(d);
    test_two_devices();
    /* Everything the launches created is gone (the backend's pooled buffers aside). */
    ums__opencl_objects now = cl_objects_settled(before.events);
    ASSERT_EQ(now.kernels, before.kernels);
    ASSERT_EQ(now.events, before.events);
    cl_env_close(&E);
    test_app_context(1);
    test_app_context(0);
    ums__opencl_objects zero = {0};
    ASSERT_OBJECTS_EQ(zero);
    printf("opencl launch: all checks passed\n");
    return 0;
}
