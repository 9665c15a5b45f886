/* Regions (backend ABI 1.1) of the opencl backend, through its ops table and
 * the region interface of opencl_backend.h: parts of one parent buffer,
 * transfers at their offsets, peer copies between parts, whole-region events
 * holding back later transfers, pending transfers, release (waiting for events,
 * pooling the parent), split regions, host buffers, and shutdown with regions
 * still alive. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_core.h"
#include "opencl_backend.h"

#define CHECK_CL(call)                                                                                                 \
    do {                                                                                                               \
        cl_int e_ = (call);                                                                                            \
        if (e_ != CL_SUCCESS)                                                                                          \
            FAIL_("%s: %s", #call, ums__opencl_error_name(e_));                                                        \
    } while (0)

static const ums_backend_ops *ops;
static const size_t B = 1u << 20; /* the "block" size of these tests */

typedef struct upload_job {
    void *b;
    ums_devmem *mem;
    const void *src;
    size_t len;
    ums_result r;
    atomic_int done;
} upload_job;

static void *upload(void *arg) {
    upload_job *j = arg;
    j->r = ops->copy_to(j->b, j->mem, 0, j->src, j->len, NULL);
    atomic_store(&j->done, 1);
    return NULL;
}

static long live_buffers(void) {
    ums__opencl_objects o;
    ums__opencl_live_objects(&o);
    return o.buffers;
}

/* Read `len` bytes of a cl_mem at `off` directly. */
static void read_raw(ums__opencl *cl, uint32_t loc, cl_mem buf, size_t off, void *dst, size_t len) {
    cl_command_queue q;
    EXPECT_OK(ums__opencl_location_get(cl, loc, NULL, NULL, &q));
    CHECK_CL(clEnqueueReadBuffer(q, buf, CL_TRUE, off, len, dst, 0, NULL, NULL));
}

static void test_parts(void *b, uint32_t nloc) {
    ums__opencl *cl = b;
    static char region[1]; /* any address stands for the allocation */
    const size_t rsize = 3 * B;
    unsigned char *src = malloc(B), *dst = malloc(B);
    ASSERT(src && dst);
    long buffers0 = live_buffers();

    ums_devmem *p0, *p2;
    EXPECT_OK(ops->mem_alloc_region(b, 0, region, rsize, 0, B, &p0));
    EXPECT_OK(ops->mem_alloc_region(b, 0, region, rsize, 2 * B, B, &p2));
    ASSERT_EQ(live_buffers(), buffers0 + 1); /* one parent for both */
    ums__opencl_mem_info i0, i2;
    EXPECT_OK(ums__opencl_mem_get(cl, p0, &i0));
    EXPECT_OK(ums__opencl_mem_get(cl, p2, &i2));
    ASSERT(i0.buffer == i2.buffer);
    ASSERT_EQ(i0.offset, 0);
    ASSERT_EQ(i2.offset, 2 * B);
    ASSERT_EQ(i2.size, B);
    size_t clsize = 0;
    CHECK_CL(clGetMemObjectInfo(i0.buffer, CL_MEM_SIZE, sizeof clsize, &clsize, NULL));
    ASSERT_EQ(clsize, rsize);
    ums__opencl_region_info ri;
    EXPECT_OK(ums__opencl_region_get(cl, 0, region, &ri));
    ASSERT(ri.exists && ri.buffer == i0.buffer && !ri.split);
    ASSERT_EQ(ri.parts, 2);
    ASSERT_EQ(ri.size, rsize);

    /* Bad parts. */
    ums_devmem *bad;
    EXPECT_R(UMS_ERR_OUT_OF_RANGE, ops->mem_alloc_region(b, 0, region, rsize, 3 * B, B, &bad));
    EXPECT_R(UMS_ERR_BAD_SIZE, ops->mem_alloc_region(b, 0, region, rsize, 0, 0, &bad));
    EXPECT_R(UMS_ERR_INVALID_ARG, ops->mem_alloc_region(b, 0, region, 2 * rsize, 0, B, &bad));
    EXPECT_R(UMS_ERR_UNKNOWN_LOCATION, ops->mem_alloc_region(b, nloc, region, rsize, 0, B, &bad));
    EXPECT_R(UMS_ERR_NULL_POINTER, ops->mem_alloc_region(b, 0, NULL, rsize, 0, B, &bad));

    /* Transfers land at the part's offset in the parent. */
    fake_fill(src, B, 11);
    EXPECT_OK(ops->copy_to(b, p2, 0, src, B, NULL));
    memset(dst, 0, B);
    read_raw(cl, 0, i2.buffer, 2 * B, dst, B);
    EXPECT_PATTERN(dst, B, 11);
    memset(dst, 0, B);
    EXPECT_OK(ops->copy_from(b, dst, p2, 0, B, NULL));
    EXPECT_PATTERN(dst, B, 11);
    EXPECT_R(UMS_ERR_OUT_OF_RANGE, ops->copy_to(b, p2, 1, src, B, NULL));
    /* Peer copy between two parts of one buffer, with a fence. */
    ums_fence *f = NULL;
    EXPECT_OK(ops->copy_peer(b, p0, 0, p2, 0, B, &f));
    EXPECT_OK(ops->fence_wait(b, f));
    memset(dst, 0, B);
    EXPECT_OK(ops->copy_from(b, dst, p0, 0, B, NULL));
    EXPECT_PATTERN(dst, B, 11);

    /* A part of the same region on another device: a different parent. */
    if (nloc > 1) {
        ums_devmem *q1;
        EXPECT_OK(ops->mem_alloc_region(b, 1, region, rsize, B, B, &q1));
        ums__opencl_mem_info i1;
        EXPECT_OK(ums__opencl_mem_get(cl, q1, &i1));
        ASSERT(i1.buffer != i0.buffer);
        ASSERT_EQ(i1.offset, B);
        EXPECT_OK(ops->copy_peer(b, q1, 0, p2, 0, B, NULL));
        memset(dst, 0, B);
        EXPECT_OK(ops->copy_from(b, dst, q1, 0, B, NULL));
        EXPECT_PATTERN(dst, B, 11);
        ops->mem_free(b, q1);
        ops->region_release(b, 1, region);
    }

    /* A whole-region event holds back later transfers (on the host) until it completes. */
    cl_context ctx;
    EXPECT_OK(ums__opencl_location_get(cl, 0, &ctx, NULL, NULL));
    cl_int err;
    cl_event user = clCreateUserEvent(ctx, &err);
    CHECK_CL(err);
    EXPECT_OK(ums__opencl_region_add_event(cl, 0, region, rsize, user));
    fake_fill(src, B, 12);
    upload_job job = {.b = b, .mem = p0, .src = src, .len = B};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, upload, &job), 0);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    ASSERT_EQ(atomic_load(&job.done), 0);
    CHECK_CL(clSetUserEventStatus(user, CL_COMPLETE));
    pthread_join(th, NULL);
    ASSERT_EQ(job.r, UMS_OK);
    CHECK_CL(clReleaseEvent(user));
    memset(dst, 0, B);
    EXPECT_OK(ops->copy_from(b, dst, p0, 0, B, NULL));
    EXPECT_PATTERN(dst, B, 12);

    /* Pending transfers of the parts, for a kernel's wait list. */
    user = clCreateUserEvent(ctx, &err);
    CHECK_CL(err);
    EXPECT_OK(ums__opencl_mem_after_event(cl, p2, user)); /* p2's next command waits for it */
    cl_event *pend;
    size_t npend;
    EXPECT_OK(ums__opencl_region_pending(cl, 0, region, &pend, &npend));
    ASSERT_EQ(npend, 1);
    cl_int st;
    CHECK_CL(clGetEventInfo(pend[0], CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL));
    ASSERT_GT(st, CL_COMPLETE);
    CHECK_CL(clSetUserEventStatus(user, CL_COMPLETE));
    CHECK_CL(clWaitForEvents(1, &pend[0]));
    CHECK_CL(clReleaseEvent(pend[0]));
    free(pend);
    CHECK_CL(clReleaseEvent(user));
    EXPECT_OK(ums__opencl_region_pending(cl, 0, region, &pend, &npend));
    ASSERT_EQ(npend, 0);
    ASSERT(pend == NULL);

    /* Release with parts alive is refused (kept); then released for real, the parent pooled. */
    ops->region_release(b, 0, region);
    EXPECT_OK(ums__opencl_region_get(cl, 0, region, &ri));
    ASSERT(ri.exists);
    ops->mem_free(b, p0);
    ops->mem_free(b, p2);
    cl_mem parent = i0.buffer;
    ops->region_release(b, 0, region);
    EXPECT_OK(ums__opencl_region_get(cl, 0, region, &ri));
    ASSERT(!ri.exists);
    ASSERT_EQ(live_buffers(), buffers0 + (nloc > 1 ? 2 : 1)); /* pooled (one per device used) */
    /* Another allocation of the same size reuses it. */
    static char region2[1];
    EXPECT_OK(ops->mem_alloc_region(b, 0, region2, rsize, B, B, &p0));
    EXPECT_OK(ums__opencl_mem_get(cl, p0, &i0));
    ASSERT(i0.buffer == parent);
    ops->mem_free(b, p0);
    ops->region_release(b, 0, region2);
    /* Release of a region the backend never saw, or a bad location: nothing. */
    ops->region_release(b, 0, region);
    ops->region_release(b, nloc, region);
    free(src);
    free(dst);
}

/* Host buffers over managed pages, for in-place use. */
static void test_host_buffer(void *b) {
    ums__opencl *cl = b;
    const size_t size = 2 * B;
    void *host = aligned_alloc(4096, size);
    ASSERT(host);
    fake_fill(host, size, 3);
    cl_mem m1, m2;
    cl_context ctx, lctx;
    EXPECT_OK(ums__opencl_region_host_buffer(cl, 0, host, size, &m1, &ctx));
    EXPECT_OK(ums__opencl_region_host_buffer(cl, 0, host, size, &m2, NULL));
    ASSERT(m1 == m2);
    EXPECT_OK(ums__opencl_location_get(cl, 0, &lctx, NULL, NULL));
    ASSERT(ctx == lctx);
    cl_mem_flags flags;
    CHECK_CL(clGetMemObjectInfo(m1, CL_MEM_FLAGS, sizeof flags, &flags, NULL));
    ASSERT(flags & CL_MEM_USE_HOST_PTR);
    unsigned char *dst = malloc(size);
    read_raw(cl, 0, m1, 0, dst, size);
    EXPECT_PATTERN(dst, size, 3);
    EXPECT_R(UMS_ERR_BAD_SIZE, ums__opencl_region_host_buffer(cl, 0, host, 0, &m1, NULL));
    EXPECT_R(UMS_ERR_INVALID_ARG, ums__opencl_region_host_buffer(cl, 0, host, size / 2, &m1, NULL));
    ops->region_release(b, 0, host);
    free(dst);
    free(host);
}

/* A region larger than the capacity: its parts are standalone buffers. */
static void test_split(void) {
    void *b;
    EXPECT_OK(ops->init(fake_services(), "capacity=4M", &b));
    ums__opencl *cl = b;
    static char region[1];
    ums_devmem *p0, *p1;
    EXPECT_OK(ops->mem_alloc_region(b, 0, region, 8 * B, 0, B, &p0));
    EXPECT_OK(ops->mem_alloc_region(b, 0, region, 8 * B, 5 * B, B, &p1));
    ums__opencl_mem_info i0, i1;
    EXPECT_OK(ums__opencl_mem_get(cl, p0, &i0));
    EXPECT_OK(ums__opencl_mem_get(cl, p1, &i1));
    ASSERT(i0.buffer != i1.buffer);
    ASSERT_EQ(i1.offset, 0);
    ums__opencl_region_info ri;
    EXPECT_OK(ums__opencl_region_get(cl, 0, region, &ri));
    ASSERT(ri.split && ri.buffer == NULL);
    ASSERT_EQ(ri.parts, 2);
    unsigned char *buf = malloc(B);
    fake_fill(buf, B, 9);
    EXPECT_OK(ops->copy_to(b, p1, 0, buf, B, NULL));
    memset(buf, 0, B);
    EXPECT_OK(ops->copy_from(b, buf, p1, 0, B, NULL));
    EXPECT_PATTERN(buf, B, 9);
    free(buf);
    ops->mem_free(b, p0);
    ops->mem_free(b, p1);
    ops->region_release(b, 0, region);
    ops->fini(b);
    fake_expect_no_live_objects(NULL);
}

/* Shutdown with regions, parts and events still there releases everything. */
static void test_fini_with_regions(void) {
    void *b;
    EXPECT_OK(ops->init(fake_services(), NULL, &b));
    static char region[1];
    ums_devmem *p0;
    EXPECT_OK(ops->mem_alloc_region(b, 0, region, 2 * B, B, B, &p0));
    cl_context ctx;
    EXPECT_OK(ums__opencl_location_get(b, 0, &ctx, NULL, NULL));
    cl_int err;
    cl_event user = clCreateUserEvent(ctx, &err);
    CHECK_CL(err);
    CHECK_CL(clSetUserEventStatus(user, CL_COMPLETE));
    EXPECT_OK(ums__opencl_region_add_event(b, 0, region, 2 * B, user));
    CHECK_CL(clReleaseEvent(user));
    ops->fini(b);
    fake_expect_no_live_objects(NULL);
}

int main(void) {
    ops = ums__opencl_backend_entry();
    fake_check_table(ops);
    ASSERT(ops->mem_alloc_region != NULL && ops->region_release != NULL);
    void *b;
    EXPECT_OK(ops->init(fake_services(), NULL, &b));
    uint32_t nloc = 0;
    EXPECT_OK(ops->location_count(b, &nloc));
    if (nloc == 0) {
        ops->fini(b);
        SKIP("no OpenCL device");
    }
    test_parts(b, nloc);
    test_host_buffer(b);
    ops->fini(b);
    fake_expect_no_live_objects(NULL);
    test_split();
    test_fini_with_regions();
    printf("opencl regions: %u locations, all checks passed\n", nloc);
    return 0;
}
