/* Failures of OpenCL calls, injected through the backend's call table: each
 * surfaces as a result code with the OpenCL error in the detail, leaves the
 * source data (host and device) intact, and leaks nothing: no host memory (run
 * under LeakSanitizer) and no OpenCL reference (the backend's live counts).
 * Then a sweep fails every call of a whole scenario in turn. */
#include <stdlib.h>
#include <string.h>

#include "fake_core.h"
#include "opencl_backend.h"

#include <CL/cl_ext.h> /* CL_PLATFORM_NOT_FOUND_KHR */

static const ums_backend_ops *ops;
static uint32_t nloc;

#define MIB2 (2u << 20)

static void expect_detail(cl_int err) {
    ASSERT_EQ(fake.native, err);
    if (!strstr(fake.message, ums__opencl_error_name(err)))
        FAIL_("detail \"%s\" does not name %s", fake.message, ums__opencl_error_name(err));
}

static void *start(const char *config) {
    void *b = NULL;
    EXPECT_OK(ops->init(fake_services(), config, &b));
    return b;
}

static void stop(void *b, const char *when) {
    ops->fini(b);
    ums__opencl_inject_reset();
    fake_expect_no_live_objects(when);
}

static void test_error_names(void) {
    ASSERT_STR_EQ(ums__opencl_error_name(CL_SUCCESS), "CL_SUCCESS");
    ASSERT_STR_EQ(ums__opencl_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES");
    ASSERT_STR_EQ(ums__opencl_error_name(CL_INVALID_MEM_OBJECT), "CL_INVALID_MEM_OBJECT");
    ASSERT_STR_EQ(ums__opencl_error_name(CL_MAX_SIZE_RESTRICTION_EXCEEDED), "CL_MAX_SIZE_RESTRICTION_EXCEEDED");
    ASSERT_STR_EQ(ums__opencl_error_name(CL_PLATFORM_NOT_FOUND_KHR), "CL_PLATFORM_NOT_FOUND_KHR");
    ASSERT_STR_EQ(ums__opencl_error_name(-12345), "CL_UNKNOWN_ERROR");
    ASSERT_EQ(ums__opencl_result(CL_SUCCESS), UMS_OK);
    ASSERT_EQ(ums__opencl_result(CL_MEM_OBJECT_ALLOCATION_FAILURE), UMS_ERR_NO_DEVICE_MEMORY);
    ASSERT_EQ(ums__opencl_result(CL_OUT_OF_RESOURCES), UMS_ERR_NO_DEVICE_MEMORY);
    ASSERT_EQ(ums__opencl_result(CL_OUT_OF_HOST_MEMORY), UMS_ERR_NO_DEVICE_MEMORY);
    ASSERT_EQ(ums__opencl_result(CL_INVALID_VALUE), UMS_ERR_OPENCL);

    ASSERT_EQ(ums__opencl_inject(NULL, 1, CL_OUT_OF_RESOURCES), UMS_ERR_NULL_POINTER);
    ASSERT_EQ(ums__opencl_inject("clNoSuchFunction", 1, CL_OUT_OF_RESOURCES), UMS_ERR_INVALID_ARG);
    ASSERT_EQ(ums__opencl_inject("clCreateBuffer", 1, CL_SUCCESS), UMS_ERR_INVALID_ARG);
    ASSERT_EQ(ums__opencl_inject("clCreateBuffer", 0, CL_SUCCESS), UMS_OK);
    ASSERT(ums__opencl_function_name(0) != NULL);
    ASSERT_EQ(ums__opencl_call_count("clNoSuchFunction"), 0);
}

/* Start-up failures: an error, no backend, nothing held. */
static void test_init_failures(void) {
    static const struct {
        const char *fn;
        unsigned nth;
        cl_int err;
        ums_result expect;
    } cases[] = {
        {"clGetPlatformIDs", 1, CL_OUT_OF_HOST_MEMORY, UMS_ERR_NO_DEVICE_MEMORY},
        {"clGetPlatformIDs", 2, CL_INVALID_VALUE, UMS_ERR_OPENCL},
        {"clGetPlatformInfo", 1, CL_INVALID_PLATFORM, UMS_ERR_OPENCL},
        {"clGetDeviceIDs", 2, CL_INVALID_PLATFORM, UMS_ERR_OPENCL},
        {"clGetDeviceInfo", 2, CL_INVALID_DEVICE, UMS_ERR_OPENCL},
        {"clCreateContext", 1, CL_OUT_OF_RESOURCES, UMS_ERR_NO_DEVICE_MEMORY},
        {"clCreateContext", 1, CL_DEVICE_NOT_AVAILABLE, UMS_ERR_OPENCL},
        {"clCreateCommandQueueWithProperties", 1, CL_OUT_OF_RESOURCES, UMS_ERR_NO_DEVICE_MEMORY},
        {"clCreateCommandQueueWithProperties", 2, CL_INVALID_DEVICE, UMS_ERR_OPENCL}, /* after one queue exists */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].nth > nloc && strcmp(cases[i].fn, "clCreateCommandQueueWithProperties") == 0)
            continue;
        ums__opencl_inject_reset();
        EXPECT_OK(ums__opencl_inject(cases[i].fn, cases[i].nth, cases[i].err));
        void *b = (void *)1;
        /* one stream: every queue made is a location's first (a side queue that
         * fails only means fewer streams: test_opencl_streams.c) */
        ums_result r = ops->init(fake_services(), "streams=1", &b);
        if (r != cases[i].expect)
            FAIL_("init with %s #%u failing (%s): %s, expected %s (%s)", cases[i].fn, cases[i].nth,
                  ums__opencl_error_name(cases[i].err), ums_result_name(r), ums_result_name(cases[i].expect),
                  fake.message);
        ASSERT(b == NULL);
        ASSERT_EQ(ums__opencl_injected_count(), 1);
        expect_detail(cases[i].err);
        fake_expect_no_live_objects(cases[i].fn);
    }
    /* No ICD platform at all is not an error: no locations. */
    ums__opencl_inject_reset();
    EXPECT_OK(ums__opencl_inject("clGetPlatformIDs", 1, CL_PLATFORM_NOT_FOUND_KHR));
    void *b = start(NULL);
    uint32_t n = 9;
    EXPECT_OK(ops->location_count(b, &n));
    ASSERT_EQ(n, 0);
    stop(b, "no platform");
}

static void test_create_buffer_failures(void) {
    void *b = start(NULL);
    ums_devmem *m = (ums_devmem *)1;
    uint64_t used, total;

    static const struct {
        cl_int err;
        ums_result expect;
    } cases[] = {{CL_OUT_OF_RESOURCES, UMS_ERR_NO_DEVICE_MEMORY},
                 {CL_MEM_OBJECT_ALLOCATION_FAILURE, UMS_ERR_NO_DEVICE_MEMORY},
                 {CL_OUT_OF_HOST_MEMORY, UMS_ERR_NO_DEVICE_MEMORY},
                 {CL_INVALID_BUFFER_SIZE, UMS_ERR_OPENCL},
                 {CL_INVALID_CONTEXT, UMS_ERR_OPENCL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        EXPECT_OK(ums__opencl_inject("clCreateBuffer", 1, cases[i].err));
        EXPECT_R(cases[i].expect, ops->mem_alloc(b, 0, MIB2, &m));
        ASSERT(m == NULL);
        expect_detail(cases[i].err);
        EXPECT_OK(ops->capacity(b, 0, &used, &total));
        ASSERT_EQ(used, 0);
    }

    /* Out of memory with buffers in the pool: the pool is given back and the retry succeeds. */
    ums_devmem *small;
    EXPECT_OK(ops->mem_alloc(b, 0, 4096, &small));
    ops->mem_free(b, small); /* now pooled */
    uint64_t created = ums__opencl_call_count("clCreateBuffer");
    EXPECT_OK(ums__opencl_inject("clCreateBuffer", 1, CL_MEM_OBJECT_ALLOCATION_FAILURE));
    EXPECT_OK(ops->mem_alloc(b, 0, MIB2, &m));
    ASSERT(m != NULL);
    ASSERT_EQ(ums__opencl_call_count("clCreateBuffer"), created + 2);
    ops->mem_free(b, m);
    stop(b, "clCreateBuffer");
}

/* A device buffer holding pattern `seed`. */
static ums_devmem *filled(void *b, uint32_t index, size_t size, unsigned seed) {
    unsigned char *tmp = malloc(size);
    ASSERT(tmp);
    fake_fill(tmp, size, seed);
    ums_devmem *m = NULL;
    EXPECT_OK(ops->mem_alloc(b, index, size, &m));
    EXPECT_OK(ops->copy_to(b, m, 0, tmp, size, NULL));
    free(tmp);
    return m;
}

static void expect_device_pattern(void *b, ums_devmem *m, size_t size, unsigned seed) {
    unsigned char *tmp = malloc(size);
    ASSERT(tmp);
    EXPECT_OK(ops->copy_from(b, tmp, m, 0, size, NULL));
    EXPECT_PATTERN(tmp, size, seed);
    free(tmp);
}

static void test_transfer_failures(void) {
    void *b = start(NULL);
    const size_t size = MIB2 + 3;
    unsigned char *host = malloc(size);
    ASSERT(host);
    ums_devmem *m = filled(b, 0, size, 1);
    ums_devmem *m2 = filled(b, nloc > 1 ? 1 : 0, size, 2);
    ums_fence *f;

    for (int fenced = 0; fenced < 2; fenced++) {
        /* Upload fails: the source is untouched, the device keeps its data. */
        fake_fill(host, size, 3);
        f = (ums_fence *)1;
        EXPECT_OK(ums__opencl_inject("clEnqueueWriteBuffer", 1, CL_INVALID_COMMAND_QUEUE));
        EXPECT_R(UMS_ERR_OPENCL, ops->copy_to(b, m, 0, host, size, fenced ? &f : NULL));
        expect_detail(CL_INVALID_COMMAND_QUEUE);
        if (fenced)
            ASSERT(f == NULL);
        EXPECT_PATTERN(host, size, 3);
        expect_device_pattern(b, m, size, 1);

        EXPECT_OK(ums__opencl_inject("clEnqueueWriteBuffer", 1, CL_MEM_OBJECT_ALLOCATION_FAILURE));
        EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->copy_to(b, m, 0, host, size, fenced ? &f : NULL));
        expect_device_pattern(b, m, size, 1);

        /* Download fails: the host buffer is untouched, the device keeps its data. */
        memset(host, 0xee, size);
        f = (ums_fence *)1;
        EXPECT_OK(ums__opencl_inject("clEnqueueReadBuffer", 1, CL_OUT_OF_RESOURCES));
        EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->copy_from(b, host, m, 0, size, fenced ? &f : NULL));
        expect_detail(CL_OUT_OF_RESOURCES);
        if (fenced)
            ASSERT(f == NULL);
        for (size_t i = 0; i < size; i++)
            if (host[i] != 0xee)
                FAIL_("failed download wrote byte %zu", i);
        expect_device_pattern(b, m, size, 1);

        /* Peer copy fails: both buffers keep their data. */
        EXPECT_OK(ums__opencl_inject("clEnqueueCopyBuffer", 1, CL_INVALID_MEM_OBJECT));
        EXPECT_R(UMS_ERR_OPENCL, ops->copy_peer(b, m2, 0, m, 0, size, fenced ? &f : NULL));
        expect_detail(CL_INVALID_MEM_OBJECT);
        expect_device_pattern(b, m, size, 1);
        expect_device_pattern(b, m2, size, 2);
    }

    /* The wait fails: an error, and the command is over when the call returns. */
    fake_fill(host, size, 4);
    EXPECT_OK(ums__opencl_inject("clWaitForEvents", 1, CL_OUT_OF_HOST_MEMORY));
    EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->copy_to(b, m, 0, host, size, NULL));
    expect_detail(CL_OUT_OF_HOST_MEMORY);
    EXPECT_PATTERN(host, size, 4);

    f = NULL;
    EXPECT_OK(ops->copy_to(b, m, 0, host, size, &f));
    ASSERT(f != NULL);
    EXPECT_OK(ums__opencl_inject("clWaitForEvents", 1, CL_INVALID_EVENT));
    EXPECT_R(UMS_ERR_OPENCL, ops->fence_wait(b, f)); /* the fence is released all the same */
    expect_detail(CL_INVALID_EVENT);
    expect_device_pattern(b, m, size, 4);

    /* The flush after a fenced command fails: no fence, nothing left running. */
    f = (ums_fence *)1;
    fake_fill(host, size, 5);
    EXPECT_OK(ums__opencl_inject("clFlush", 1, CL_INVALID_COMMAND_QUEUE));
    EXPECT_R(UMS_ERR_OPENCL, ops->copy_to(b, m, 0, host, size, &f));
    ASSERT(f == NULL);
    EXPECT_PATTERN(host, size, 5);

    /* Bookkeeping calls that fail are absorbed: the transfer still works. */
    EXPECT_OK(ums__opencl_inject("clRetainEvent", 1, CL_OUT_OF_HOST_MEMORY));
    EXPECT_OK(ops->copy_to(b, m, 0, host, size, NULL));
    EXPECT_OK(ums__opencl_inject("clGetEventInfo", 1, CL_INVALID_EVENT));
    EXPECT_OK(ops->copy_to(b, m, 0, host, size, NULL));
    expect_device_pattern(b, m, size, 5);

    /* A failed transfer's buffer is not pooled (its content is unknown). */
    EXPECT_OK(ums__opencl_inject("clWaitForEvents", 1, CL_OUT_OF_RESOURCES));
    f = NULL;
    EXPECT_OK(ops->copy_to(b, m, 0, host, size, &f));
    ops->mem_free(b, m); /* the drain's wait fails */
    EXPECT_OK(ops->fence_wait(b, f));

    ops->mem_free(b, m2);
    free(host);
    stop(b, "transfers");
}

/* ---- sweep ----------------------------------------------------------- */

typedef struct outcome {
    int failures; /* operations that returned an error */
    int complete; /* every operation succeeded and the data matched */
} outcome;

#define STEP(call)                                                                                                     \
    do {                                                                                                               \
        fake_reset();                                                                                                  \
        ums_result r_ = (call);                                                                                        \
        if (r_ != UMS_OK) {                                                                                            \
            if (r_ >= 0 || fake.message[0] == '\0')                                                                    \
                FAIL_("%s: %s without detail", #call, ums_result_name(r_));                                            \
            out->failures++;                                                                                           \
        }                                                                                                              \
    } while (0)

/* A whole life: start, allocate, upload, peer copy, download, reuse, stop.
 * Each operation may fail; later ones carry on with what exists. */
static void scenario(const unsigned char *src, unsigned char *dst, size_t size, outcome *out) {
    memset(out, 0, sizeof *out);
    void *b = NULL;
    ums_result r = ops->init(fake_services(), NULL, &b);
    if (r != UMS_OK) {
        ASSERT(r < 0 && b == NULL);
        out->failures++;
        return;
    }
    uint32_t second = nloc > 1 ? 1 : 0;
    ums_devmem *m0 = NULL, *m1 = NULL;
    ums_fence *f = NULL;
    memset(dst, 0, size);
    STEP(ops->mem_alloc(b, 0, size, &m0));
    STEP(ops->mem_alloc(b, second, size, &m1));
    if (m0)
        STEP(ops->copy_to(b, m0, 0, src, size, NULL));
    if (m1) {
        STEP(ops->copy_to(b, m1, 0, src, size, &f));
        STEP(ops->fence_wait(b, f));
        f = NULL;
    }
    if (m0 && m1) {
        STEP(ops->copy_peer(b, m1, 0, m0, 0, size, &f));
        STEP(ops->fence_wait(b, f));
        f = NULL;
        STEP(ops->copy_from(b, dst, m1, 0, size, NULL));
    }
    if (m0) {
        ops->mem_free(b, m0);
        m0 = NULL;
        STEP(ops->mem_alloc(b, 0, size, &m0));
    }
    if (m0) {
        STEP(ops->copy_to(b, m0, 0, src, size, &f));
        STEP(ops->fence_wait(b, f));
        f = NULL;
        STEP(ops->copy_from(b, dst, m0, 0, size, &f));
        STEP(ops->fence_wait(b, f));
    }
    if (m0)
        ops->mem_free(b, m0);
    if (m1)
        ops->mem_free(b, m1);
    ops->fini(b);
    out->complete = out->failures == 0 && m1 && fake_check(dst, size, 7) == SIZE_MAX;
}

static int excluded(const char *fn) {
    /* A failed release really leaks: injecting it proves nothing about the backend. */
    return strncmp(fn, "clRelease", 9) == 0;
}

static void test_sweep(void) {
    const size_t size = (1u << 20) + 7;
    unsigned char *src = malloc(size), *dst = malloc(size);
    ASSERT(src && dst);
    fake_fill(src, size, 7);

    outcome clean;
    ums__opencl_inject_reset();
    scenario(src, dst, size, &clean);
    if (!clean.complete)
        FAIL_("the scenario fails without injection: %s", fake.message);
    uint64_t calls[64] = {0};
    for (size_t i = 0; ums__opencl_function_name(i); i++)
        calls[i] = ums__opencl_call_count(ums__opencl_function_name(i));
    fake_expect_no_live_objects("clean scenario");

    static const cl_int errors[] = {CL_OUT_OF_RESOURCES, CL_INVALID_OPERATION};
    unsigned runs = 0, fired = 0;
    for (size_t i = 0; ums__opencl_function_name(i); i++) {
        const char *fn = ums__opencl_function_name(i);
        if (excluded(fn))
            continue;
        for (uint64_t nth = 1; nth <= calls[i]; nth++) {
            for (size_t e = 0; e < 2; e++) {
                ums__opencl_inject_reset();
                EXPECT_OK(ums__opencl_inject(fn, (unsigned)nth, errors[e]));
                outcome o;
                scenario(src, dst, size, &o);
                runs++;
                int did_fire = ums__opencl_injected_count() > 0;
                fired += (unsigned)did_fire;
                EXPECT_PATTERN(src, size, 7);
                char when[96];
                snprintf(when, sizeof when, "%s #%u failing with %s", fn, (unsigned)nth,
                         ums__opencl_error_name(errors[e]));
                fake_expect_no_live_objects(when);
                if (!did_fire && !o.complete)
                    FAIL_("%s: the injection did not fire yet the scenario failed", when);
            }
        }
    }
    ums__opencl_inject_reset();
    printf("sweep: %u runs, %u with an injected failure\n", runs, fired);
    ASSERT_GT(fired, runs / 2);
    free(src);
    free(dst);
}

int main(void) {
    ops = ums__opencl_backend_entry();
    fake_check_table(ops);
    void *b = NULL;
    EXPECT_OK(ops->init(fake_services(), NULL, &b));
    EXPECT_OK(ops->location_count(b, &nloc));
    ops->fini(b);
    if (nloc == 0)
        SKIP("no OpenCL device");

    test_error_names();
    test_init_failures();
    test_create_buffer_failures();
    test_transfer_failures();
    test_sweep();
    fake_expect_no_live_objects("end");
    printf("opencl faults: all checks passed\n");
    return 0;
}
