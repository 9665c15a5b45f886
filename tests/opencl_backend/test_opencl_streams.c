/* Copy streams of the opencl backend: a transfer of several consecutive blocks
 * (copy_to_many, copy_from_many) split into one piece per stream, each piece on
 * its own queue. Checks the stream count (default and the `streams` key, bad
 * values refused), that every split (2 to 7 parts over 1 to 4 streams) lands
 * byte for byte, that a piece waits for the previous command on each of its
 * parts whichever queue that was on, that a piece that cannot be enqueued fails
 * the whole call with the pieces before it finished, and that nothing leaks. */
#include <stdlib.h>
#include <string.h>

#include "fake_core.h"
#include "opencl_backend.h"

static const ums_backend_ops *ops;
static const size_t B = 256u << 10; /* the "block" size of these tests */
#define PARTS 7

static void *start(const char *config, unsigned *streams) {
    void *b;
    EXPECT_OK(ops->init(fake_services(), config, &b));
    uint32_t nloc = 0;
    EXPECT_OK(ops->location_count(b, &nloc));
    if (nloc == 0) {
        ops->fini(b);
        SKIP("no OpenCL device");
    }
    EXPECT_OK(ums__opencl_location_streams(b, 0, streams));
    return b;
}

/* A backend with `config`, the parts [0, PARTS) of one region (adjacent parts
 * of one parent buffer), and host buffers of PARTS blocks. */
typedef struct fixture {
    void *b;
    unsigned streams;
    ums_devmem *mem[PARTS];
    unsigned char *src, *dst;
} fixture;

static char region[1]; /* any address stands for the allocation */

static void open_fixture(fixture *x, const char *config) {
    x->b = start(config, &x->streams);
    for (size_t k = 0; k < PARTS; k++)
        EXPECT_OK(ops->mem_alloc_region(x->b, 0, region, PARTS * B, k * B, B, &x->mem[k]));
    x->src = malloc(PARTS * B);
    x->dst = malloc(PARTS * B);
    ASSERT(x->src && x->dst);
}

static void close_fixture(fixture *x) {
    free(x->src);
    free(x->dst);
    for (size_t k = 0; k < PARTS; k++)
        ops->mem_free(x->b, x->mem[k]);
    ops->region_release(x->b, 0, region);
    ops->fini(x->b);
    fake_expect_no_live_objects(NULL);
}

/* Every run length over `streams` streams: up, down, each part read back alone. */
static void check_splits(unsigned streams) {
    char config[32];
    snprintf(config, sizeof config, "streams=%u", streams);
    fixture x;
    open_fixture(&x, config);
    ASSERT_EQ(x.streams, streams);
    for (size_t n = 2; n <= PARTS; n++) {
        unsigned seed = (unsigned)(streams * 16 + n);
        fake_fill(x.src, n * B, seed);
        uint64_t writes = ums__opencl_call_count("clEnqueueWriteBuffer");
        ums_fence *f = NULL;
        EXPECT_OK(ops->copy_to_many(x.b, x.mem, n, x.src, B, &f));
        ASSERT(f != NULL);
        /* as many commands as pieces: one per stream, never more than parts */
        ASSERT_EQ(ums__opencl_call_count("clEnqueueWriteBuffer") - writes, n < streams ? n : streams);
        /* no wait for the fence: each read below waits for its part's piece */
        for (size_t k = 0; k < n; k++) {
            memset(x.dst, 0, B);
            EXPECT_OK(ops->copy_from(x.b, x.dst, x.mem[k], 0, B, NULL));
            if (memcmp(x.dst, x.src + k * B, B) != 0)
                FAIL_("%u streams, %zu parts: part %zu differs after upload", streams, n, k);
        }
        EXPECT_OK(ops->fence_wait(x.b, f));

        /* down: a fresh pattern uploaded part by part, then read back as one split call */
        fake_fill(x.src, n * B, seed + 100);
        for (size_t k = 0; k < n; k++) EXPECT_OK(ops->copy_to(x.b, x.mem[k], 0, x.src + k * B, B, NULL));
        memset(x.dst, 0, n * B);
        uint64_t reads = ums__opencl_call_count("clEnqueueReadBuffer");
        EXPECT_OK(ops->copy_from_many(x.b, x.dst, x.mem, n, B, &f));
        ASSERT_EQ(ums__opencl_call_count("clEnqueueReadBuffer") - reads, n < streams ? n : streams);
        EXPECT_OK(ops->fence_wait(x.b, f));
        EXPECT_PATTERN(x.dst, n * B, seed + 100);

        /* without a fence the call waits for every piece itself */
        memset(x.dst, 0, n * B);
        EXPECT_OK(ops->copy_from_many(x.b, x.dst, x.mem, n, B, NULL));
        EXPECT_PATTERN(x.dst, n * B, seed + 100);
    }
    close_fixture(&x);
}

/* One upload split over the streams, then a download of the same parts
 * enqueued at once: each download piece waits for the upload pieces of its
 * parts (on other queues), so the data read back is the data written. */
static void check_order(void) {
    fixture x;
    open_fixture(&x, "streams=4");
    for (unsigned round = 0; round < 20; round++) {
        fake_fill(x.src, PARTS * B, 500 + round);
        memset(x.dst, 0, PARTS * B);
        ums_fence *up = NULL, *down = NULL;
        EXPECT_OK(ops->copy_to_many(x.b, x.mem, PARTS, x.src, B, &up));
        /* shifted by one part: the pieces of the download straddle the upload's */
        EXPECT_OK(ops->copy_from_many(x.b, x.dst + B, x.mem + 1, PARTS - 1, B, &down));
        EXPECT_OK(ops->copy_from(x.b, x.dst, x.mem[0], 0, B, NULL));
        EXPECT_OK(ops->fence_wait(x.b, down));
        EXPECT_OK(ops->fence_wait(x.b, up));
        EXPECT_PATTERN(x.dst, PARTS * B, 500 + round);
    }
    close_fixture(&x);
}

/* The n-th piece cannot be enqueued: the call fails, names the call, returns
 * with nothing pending (the pieces before it are done: their host memory may be
 * reused), and the parts work afterwards. */
static void check_piece_failure(void) {
    fixture x;
    open_fixture(&x, "streams=3");
    ums__opencl_objects before;
    ums__opencl_live_objects(&before);
    for (unsigned nth = 1; nth <= 3; nth++) {
        fake_fill(x.src, PARTS * B, 40 + nth);
        ums__opencl_inject_reset();
        ASSERT_OK(ums__opencl_inject("clEnqueueWriteBuffer", nth, CL_OUT_OF_RESOURCES));
        ums_fence *f = (ums_fence *)1;
        fake_reset();
        EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->copy_to_many(x.b, x.mem, PARTS, x.src, B, &f));
        ASSERT(f == NULL);
        ASSERT(strstr(fake.message, "clEnqueueWriteBuffer") != NULL);
        ASSERT(strstr(fake.message, "CL_OUT_OF_RESOURCES") != NULL);
        ASSERT_EQ(ums__opencl_injected_count(), 1);
        ums__opencl_objects now;
        ums__opencl_live_objects(&now);
        /* the pieces enqueued stay as their parts' last commands, and are complete */
        ASSERT(now.events <= before.events + PARTS);
        ASSERT_EQ(now.queues, before.queues);

        ASSERT_OK(ums__opencl_inject("clEnqueueReadBuffer", nth, CL_OUT_OF_RESOURCES));
        EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->copy_from_many(x.b, x.dst, x.mem, PARTS, B, NULL));
        ums__opencl_inject_reset();

        /* and everything works again */
        EXPECT_OK(ops->copy_to_many(x.b, x.mem, PARTS, x.src, B, NULL));
        memset(x.dst, 0, PARTS * B);
        EXPECT_OK(ops->copy_from_many(x.b, x.dst, x.mem, PARTS, B, NULL));
        EXPECT_PATTERN(x.dst, PARTS * B, 40 + nth);
    }
    close_fixture(&x);
}

/* A flush that fails hands back no fence and leaves nothing running. */
static void check_flush_failure(void) {
    fixture x;
    open_fixture(&x, "streams=2");
    fake_fill(x.src, PARTS * B, 77);
    ums__opencl_inject_reset();
    ASSERT_OK(ums__opencl_inject("clFlush", 2, CL_OUT_OF_HOST_MEMORY));
    ums_fence *f = (ums_fence *)1;
    EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->copy_to_many(x.b, x.mem, PARTS, x.src, B, &f));
    ASSERT(strstr(fake.message, "clFlush") != NULL);
    ASSERT(f == NULL);
    ums__opencl_inject_reset();
    memset(x.dst, 0, PARTS * B);
    EXPECT_OK(ops->copy_from_many(x.b, x.dst, x.mem, PARTS, B, NULL));
    EXPECT_PATTERN(x.dst, PARTS * B, 77); /* the pieces ran to the end before the call returned */
    close_fixture(&x);
}

/* A side queue that cannot be made leaves that location with fewer streams in
 * the context, logged, instead of failing the backend. */
static void check_queue_failure(void) {
    ums__opencl_inject_reset();
    /* queues are made per location in order: its first, then its side queues */
    ASSERT_OK(ums__opencl_inject("clCreateCommandQueueWithProperties", 2, CL_OUT_OF_RESOURCES));
    fixture x;
    open_fixture(&x, "streams=2");
    ASSERT_EQ(ums__opencl_injected_count(), 1);
    ASSERT_GT(fake.logs, 0);
    ASSERT_EQ(x.streams, 2); /* the location's setting; its context has one queue */
    ums__opencl_inject_reset();
    fake_fill(x.src, PARTS * B, 88);
    uint64_t writes = ums__opencl_call_count("clEnqueueWriteBuffer");
    EXPECT_OK(ops->copy_to_many(x.b, x.mem, PARTS, x.src, B, NULL));
    ASSERT_EQ(ums__opencl_call_count("clEnqueueWriteBuffer") - writes, 1);
    memset(x.dst, 0, PARTS * B);
    EXPECT_OK(ops->copy_from_many(x.b, x.dst, x.mem, PARTS, B, NULL));
    EXPECT_PATTERN(x.dst, PARTS * B, 88);
    close_fixture(&x);
}

int main(void) {
    ops = ums__opencl_backend_entry();
    fake_check_table(ops);

    /* The default: POCL's CPU device has one stream per compute unit (at most 4). */
    unsigned streams;
    void *b = start(NULL, &streams);
    ASSERT(streams >= 1 && streams <= 4);
    cl_device_id dev;
    EXPECT_OK(ums__opencl_location_get(b, 0, NULL, &dev, NULL));
    cl_device_type type;
    cl_uint units;
    ASSERT_EQ(clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL), CL_SUCCESS);
    ASSERT_EQ(clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL), CL_SUCCESS);
    if (type & CL_DEVICE_TYPE_CPU) ASSERT_EQ(streams, units < 4 ? units : 4);
    else ASSERT_EQ(streams, 1);
    EXPECT_R(UMS_ERR_UNKNOWN_LOCATION, ums__opencl_location_streams(b, 1000, &streams));
    EXPECT_R(UMS_ERR_NULL_POINTER, ums__opencl_location_streams(b, 0, NULL));
    ops->fini(b);
    fake_expect_no_live_objects(NULL);

    /* Bad values are refused with the key named. */
    const char *bad[] = {"streams=0", "streams=5", "streams=", "streams=x", "streams=22"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_reset();
        b = (void *)1;
        EXPECT_R(UMS_ERR_CONFIG, ops->init(fake_services(), bad[i], &b));
        ASSERT(b == NULL);
        if (!strstr(fake.message, "streams")) FAIL_("%s: message \"%s\" does not name the key", bad[i], fake.message);
    }
    fake_expect_no_live_objects(NULL);

    for (unsigned s = 1; s <= 4; s++) check_splits(s);
    check_order();
    check_piece_failure();
    check_flush_failure();
    check_queue_failure();
    printf("opencl streams: default %u, splits of 2-%d parts over 1-4 streams, ordering and failures checked\n",
           streams, PARTS);
    return 0;
}
