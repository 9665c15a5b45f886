/* Every public function of umshim/opencl.h given bad input: a clear error, no
 * side effect. Also the access modes derived from the kernel's argument info,
 * build failures with their log, kernels without managed arguments, a runtime
 * without the OpenCL backend, and an allocation too large for one buffer. */
#include <stdlib.h>

#include "cl_test.h"
#include "internal.h"

static const char *src =
    "kernel void k(const global uint *a, global uint *b, constant uint *c, local uint *l, uint n) {\n"
    "    size_t i = get_global_id(0); if (i < n) b[i] = a[i] + c[0]; }\n"
    "kernel void plain(global uint *b, uint n) { size_t i = get_global_id(0); if (i < n) b[i] = (uint)i; }\n";

static cl_env E;

#define EXPECT_ERR(code, call)                                                                                         \
    do {                                                                                                               \
        ASSERT_RESULT(code, call);                                                                                     \
        ASSERT(ums_last_error()->message[0] != '\0');                                                                  \
    } while (0)

static void test_attach_and_locations(const cl_dev *d) {
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_attach(E.rt, NULL, NULL, 0));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_attach(E.rt, d->ctx, NULL, 1));
    cl_command_queue nullq = NULL;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_attach(E.rt, d->ctx, &nullq, 1));
    /* A queue of another context; two queues of one device. */
    cl_int err;
    cl_context other = clCreateContext(NULL, 1, &d->dev, NULL, NULL, &err);
    CHECK_CL(err);
    cl_command_queue oq = clCreateCommandQueueWithProperties(other, d->dev, NULL, &err);
    CHECK_CL(err);
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_attach(E.rt, d->ctx, &oq, 1));
    cl_command_queue two[2] = {oq, oq};
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_attach(E.rt, other, two, 2));
    /* umshim's own context is already known to it. */
    EXPECT_ERR(UMS_ERR_BUSY, ums_cl_attach(E.rt, d->ctx, &d->q, 1));
    CHECK_CL(clReleaseCommandQueue(oq));
    CHECK_CL(clReleaseContext(other));

    ums_location_t loc = 99;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_location_of(E.rt, NULL, &loc));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_location_of(E.rt, d->dev, NULL));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, ums_cl_location_of(E.rt, (cl_device_id)&loc, &loc));
    ASSERT_EQ(loc, 99);
    ASSERT_OK(ums_cl_location_of(E.rt, d->dev, &loc));
    ASSERT_EQ(loc, d->loc);
    ASSERT_OK(ums_cl_location_of(NULL, d->dev, &loc)); /* the default runtime has the same devices */

    cl_context ctx = NULL;
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, ums_cl_location_context(E.rt, E.host, &ctx, NULL));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, ums_cl_location_context(E.rt, UMS_LOCATION_NONE, &ctx, NULL));
    ASSERT(ctx == NULL);
    ASSERT_OK(ums_cl_location_context(E.rt, d->loc, NULL, NULL));
}

static void test_set_arg(const cl_dev *d) {
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "k", &p);
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(E.rt, 4096, 0, (void **)&x));
    uint32_t *plain = malloc(4096);

    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_set_kernel_arg(NULL, 0, x, UMS_CL_ACCESS_DEFAULT));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, ums_cl_set_kernel_arg(k, 0, plain, UMS_CL_ACCESS_DEFAULT));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, ums_cl_set_kernel_arg(k, 0, (char *)x + E.bs, UMS_CL_ACCESS_DEFAULT));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_set_kernel_arg(k, 5, x, UMS_CL_ACCESS_DEFAULT));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_set_kernel_arg(k, 0, x, (ums_cl_access)7));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_set_kernel_arg(k, 3, x, UMS_CL_ACCESS_DEFAULT)); /* __local */
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_set_kernel_arg(k, 4, x, UMS_CL_ACCESS_DEFAULT)); /* a value */
    ASSERT(strstr(ums_last_error()->message, "__global") != NULL);
    ums_cl_access acc;
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_kernel_arg_access(k, 0, &acc)); /* nothing bound yet */

    /* Default access from the argument info: const → read, constant → read, else read-write. */
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_set_kernel_arg(k, 1, x, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_set_kernel_arg(k, 2, x, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_kernel_arg_access(k, 0, &acc));
    ASSERT_EQ(acc, UMS_CL_ACCESS_READ);
    ASSERT_OK(ums_cl_kernel_arg_access(k, 1, &acc));
    ASSERT_EQ(acc, UMS_CL_ACCESS_READ_WRITE);
    ASSERT_OK(ums_cl_kernel_arg_access(k, 2, &acc));
    ASSERT_EQ(acc, UMS_CL_ACCESS_READ);
    /* An explicit mode wins. */
    ASSERT_OK(ums_cl_set_kernel_arg(k, 1, x, UMS_CL_ACCESS_WRITE));
    ASSERT_OK(ums_cl_kernel_arg_access(k, 1, &acc));
    ASSERT_EQ(acc, UMS_CL_ACCESS_WRITE);
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_kernel_arg_access(k, 1, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_kernel_arg_access(NULL, 1, &acc));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_kernel_arg_access(k, 9, &acc));
    /* NULL unbinds (and sets a NULL buffer). */
    ASSERT_OK(ums_cl_set_kernel_arg(k, 1, NULL, UMS_CL_ACCESS_DEFAULT));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_kernel_arg_access(k, 1, &acc));

    /* Without -cl-kernel-arg-info the default is read-write. */
    cl_int err;
    cl_program p2 = clCreateProgramWithSource(d->ctx, 1, &src, NULL, &err);
    CHECK_CL(err);
    ASSERT_OK(ums_cl_build_program(p2, 1, &d->dev, "", NULL, 0));
    cl_kernel k2 = clCreateKernel(p2, "k", &err);
    CHECK_CL(err);
    ASSERT_OK(ums_cl_set_kernel_arg(k2, 0, x, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_kernel_arg_access(k2, 0, &acc));
    /* Some platforms keep argument info anyway; then const is still read. */
    ASSERT(acc == UMS_CL_ACCESS_READ_WRITE || acc == UMS_CL_ACCESS_READ);
    cl_kernel_done(k2, p2);

    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_forget_kernel(NULL));
    ASSERT_OK(ums_cl_forget_kernel(k));
    ASSERT_OK(ums_cl_forget_kernel(k)); /* nothing left: not an error */
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_kernel_arg_access(k, 0, &acc));
    CHECK_CL(clReleaseKernel(k));
    CHECK_CL(clReleaseProgram(p));
    free(plain);
    ASSERT_OK(ums_free(x));
}

static void test_enqueue(const cl_dev *d) {
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "plain", &p);
    size_t n = 1000;
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_enqueue_kernel(NULL, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_enqueue_kernel(d->q, NULL, 1, NULL, &n, NULL, 0, NULL, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_enqueue_kernel(d->q, k, 1, NULL, NULL, NULL, 0, NULL, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 2, NULL, NULL));

    /* No managed argument: a plain launch. */
    cl_int err;
    cl_mem buf = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, n * 4, NULL, &err);
    CHECK_CL(err);
    CHECK_CL(clSetKernelArg(k, 0, sizeof buf, &buf));
    cl_event ev;
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, &ev));
    ASSERT_OK(ums_cl_wait(ev));
    CHECK_CL(clReleaseEvent(ev));
    CHECK_CL(clReleaseMemObject(buf));
    /* An OpenCL error of the launch itself: bad work size. */
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    size_t bad_local = 7;
    EXPECT_ERR(UMS_ERR_OPENCL, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, &bad_local, 0, NULL, NULL));
    ASSERT(strstr(ums_last_error()->message, "clEnqueueNDRangeKernel") != NULL);
    ASSERT_STR_EQ(ums_last_error()->function, "ums_cl_enqueue_kernel");
    ASSERT(ums_last_error()->native != 0);

    /* A queue of another context than the kernel's. */
    cl_context other = clCreateContext(NULL, 1, &d->dev, NULL, NULL, &err);
    CHECK_CL(err);
    cl_command_queue oq = clCreateCommandQueueWithProperties(other, d->dev, NULL, &err);
    CHECK_CL(err);
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_enqueue_kernel(oq, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    CHECK_CL(clReleaseCommandQueue(oq));
    CHECK_CL(clReleaseContext(other));

    /* umshim's own transfer queue is refused. */
    ums__backend *be = NULL;
    for (unsigned i = 0; i < E.rt->nbackends; i++)
        if (strcmp(E.rt->backends[i]->name, "opencl") == 0) be = E.rt->backends[i];
    ASSERT(be != NULL);
    cl_command_queue internal;
    ASSERT_OK(ums__opencl_location_get(be->state, E.rt->locs[d->loc].index, NULL, NULL, &internal));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_enqueue_kernel(internal, k, 1, NULL, &n, NULL, 0, NULL, NULL));

    /* A good launch for comparison. */
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    ASSERT_EQ(x[999], 999u);

    /* Pointers of two runtimes in one launch. */
    ums_runtime_t *rt2;
    ASSERT_OK(ums_runtime_create(NULL, &rt2));
    uint32_t *y;
    ASSERT_OK(ums_runtime_alloc(rt2, n * 4, 0, (void **)&y));
    cl_program p3;
    cl_kernel k3 = cl_build(d->ctx, src, "k", &p3);
    ASSERT_OK(ums_cl_set_kernel_arg(k3, 0, x, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_cl_set_kernel_arg(k3, 1, y, UMS_CL_ACCESS_DEFAULT));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, ums_cl_enqueue_kernel(d->q, k3, 1, NULL, &n, NULL, 0, NULL, NULL));
    cl_kernel_done(k3, p3);
    ASSERT_OK(ums_free(y));
    ASSERT_OK(ums_runtime_destroy(rt2));

    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(x));
}

/* An allocation larger than the device's largest buffer cannot be one argument. */
static void test_too_large(const cl_dev *d) {
    cl_ulong max_alloc;
    CHECK_CL(clGetDeviceInfo(d->dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL));
    if (max_alloc > (8ull << 30)) return; /* do not reserve that much address space */
    size_t size = (size_t)max_alloc + E.bs;
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(E.rt, size, 0, (void **)&x));
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "plain", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    ASSERT_OK(ums_counters_reset(E.rt));
    size_t n = 16;
    EXPECT_ERR(UMS_ERR_NOT_SUPPORTED, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    ums_counters c;
    ASSERT_OK(ums_counters_get(E.rt, &c));
    ASSERT_EQ(c.bytes_host_to_device, 0);
    /* Its blocks still migrate one by one (separate buffers). */
    ASSERT_OK(ums_migrate((char *)x + size - 100, 100, d->loc));
    x[5] = 1;
    ASSERT_EQ(((volatile uint32_t *)x)[(size - 100) / 4], 0u);
    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(x));
}

static void test_programs(const cl_dev *d) {
    cl_program p = NULL;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_program_from_source(NULL, src, NULL, &p));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_program_from_source(d->ctx, NULL, NULL, &p));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_program_from_source(d->ctx, src, NULL, NULL));
    EXPECT_ERR(UMS_ERR_BUILD, ums_cl_program_from_source(d->ctx, "kernel void broken(global int *p) { p[0] = ; }",
                                                         NULL, &p));
    ASSERT(p == NULL);
    ASSERT_STR_EQ(ums_last_error()->function, "ums_cl_program_from_source");
    printf("  build failure reported as: %s\n", ums_last_error()->message);
    ASSERT(strstr(ums_last_error()->message, "error") != NULL);
    EXPECT_ERR(UMS_ERR_BUILD, ums_cl_program_from_source(d->ctx, src, "-no-such-option-anywhere", &p));

    cl_int err;
    const char *bad = "kernel void broken(global int *p) { undefined_function(p); }";
    cl_program q = clCreateProgramWithSource(d->ctx, 1, &bad, NULL, &err);
    CHECK_CL(err);
    char log[4096];
    EXPECT_ERR(UMS_ERR_BUILD, ums_cl_build_program(q, 0, NULL, NULL, log, sizeof log));
    ASSERT(strstr(log, "undefined_function") != NULL);
    char tiny[8];
    EXPECT_ERR(UMS_ERR_BUILD, ums_cl_build_program(q, 1, &d->dev, NULL, tiny, sizeof tiny));
    ASSERT(strlen(tiny) < sizeof tiny);
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_build_program(NULL, 0, NULL, NULL, NULL, 0));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_build_program(q, 1, NULL, NULL, NULL, 0));
    CHECK_CL(clReleaseProgram(q));

    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_wait(NULL));
    cl_event u = clCreateUserEvent(d->ctx, &err);
    CHECK_CL(err);
    CHECK_CL(clSetUserEventStatus(u, CL_INVALID_OPERATION));
    EXPECT_ERR(UMS_ERR_OPENCL, ums_cl_wait(u));
    CHECK_CL(clReleaseEvent(u));

    ASSERT_STR_EQ(ums_cl_access_name(UMS_CL_ACCESS_DEFAULT), "default");
    ASSERT_STR_EQ(ums_cl_access_name(UMS_CL_ACCESS_READ), "read");
    ASSERT_STR_EQ(ums_cl_access_name(UMS_CL_ACCESS_WRITE), "write");
    ASSERT_STR_EQ(ums_cl_access_name(UMS_CL_ACCESS_READ_WRITE), "read-write");
    ASSERT_STR_EQ(ums_cl_access_name((ums_cl_access)42), "unknown");
}

/* A runtime without the OpenCL backend. */
static void test_no_backend(const cl_dev *d) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.opencl = 0;
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    EXPECT_ERR(UMS_ERR_NOT_SUPPORTED, ums_cl_attach(rt, d->ctx, NULL, 0));
    ums_location_t loc;
    EXPECT_ERR(UMS_ERR_NOT_SUPPORTED, ums_cl_location_of(rt, d->dev, &loc));
    EXPECT_ERR(UMS_ERR_NOT_SUPPORTED, ums_cl_location_context(rt, 0, NULL, NULL));
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(rt, 4096, 0, (void **)&x));
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "plain", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT));
    size_t n = 16;
    EXPECT_ERR(UMS_ERR_NOT_SUPPORTED, ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(x));
    ASSERT_OK(ums_runtime_destroy(rt));
}

/* Copy streams: the default, the setting through UMS_OPENCL and the config
 * field, and bad settings refused when the runtime starts. */
static void test_streams(const cl_dev *d) {
    unsigned s = 0;
    ASSERT_OK(ums_cl_location_streams(E.rt, d->loc, &s));
    ASSERT(s >= 1 && s <= 4);
    EXPECT_ERR(UMS_ERR_NULL_POINTER, ums_cl_location_streams(E.rt, d->loc, NULL));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, ums_cl_location_streams(E.rt, E.host, &s));

    const char *old = getenv("UMS_OPENCL");
    char *saved = old ? strdup(old) : NULL;
    setenv("UMS_OPENCL", "streams=3", 1);
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    ASSERT_EQ(cfg.opencl, 1);
    ASSERT_STR_EQ(cfg.opencl_config, "streams=3");
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    ums_location_t loc;
    ASSERT_OK(ums_cl_location_of(rt, d->dev, &loc));
    ASSERT_OK(ums_cl_location_streams(rt, loc, &s));
    ASSERT_EQ(s, 3);
    /* a managed range moved to the device and back over three streams keeps its bytes */
    const size_t n = 5 * E.bs / 4 + 1000;
    uint32_t *x;
    ASSERT_OK(ums_runtime_alloc(rt, n * 4, 0, (void **)&x));
    for (size_t i = 0; i < n; i++) x[i] = (uint32_t)(i * 2654435761u);
    ASSERT_OK(ums_migrate(x, n * 4, loc));
    ASSERT_EQ(cl_block(x).home, loc);
    ASSERT_OK(ums_migrate(x, n * 4, E.host));
    for (size_t i = 0; i < n; i++)
        if (x[i] != (uint32_t)(i * 2654435761u)) FAIL_("x[%zu] = %u after a round trip over 3 streams", i, x[i]);
    ASSERT_OK(ums_free(x));
    ASSERT_OK(ums_runtime_destroy(rt));

    /* bad settings: the runtime does not start, and the message names the key */
    const char *bad[] = {"streams=9", "streams=0", "speed=fast"};
    for (size_t i = 0; i < 3; i++) {
        setenv("UMS_OPENCL", bad[i], 1);
        ASSERT_OK(ums_runtime_config_from_env(&cfg));
        rt = NULL;
        EXPECT_ERR(UMS_ERR_CONFIG, ums_runtime_create(&cfg, &rt));
        ASSERT(rt == NULL);
        if (!strstr(ums_last_error()->message, i < 2 ? "streams" : "speed"))
            FAIL_("UMS_OPENCL=%s: message \"%s\"", bad[i], ums_last_error()->message);
    }
    setenv("UMS_OPENCL", "fast", 1);
    EXPECT_ERR(UMS_ERR_CONFIG, ums_runtime_config_from_env(&cfg));
    if (saved) {
        setenv("UMS_OPENCL", saved, 1);
        free(saved);
    } else {
        unsetenv("UMS_OPENCL");
    }
}

int main(void) {
    cl_env_open(&E, 1);
    const cl_dev *d = &E.dev[0];
    test_attach_and_locations(d);
    test_set_arg(d);
    test_enqueue(d);
    test_too_large(d);
    test_programs(d);
    test_no_backend(d);
    test_streams(d);
    cl_env_close(&E);
    ASSERT_OK(ums_shutdown());
    ums__opencl_objects zero = {0};
    ASSERT_OBJECTS_EQ(zero);
    printf("opencl api: all checks passed\n");
    return 0;
}
