/* The opencl backend through its ops table alone: the table, start-up and its
 * configuration, locations, allocation, transfers (with and without fences),
 * peer copies, the buffer pool and the capacity limit.
 * Run with POCL_DEVICES="pthread pthread" for two devices. */
#include <stdlib.h>
#include <string.h>

#include "fake_core.h"
#include "opencl_backend.h"

static const ums_backend_ops *ops;

/* What OpenCL itself says about the devices, to compare the backend against. */
typedef struct expected_device {
    cl_ulong global_mem;
    cl_bool unified;
} expected_device;
static expected_device expected[UMS_MAX_LOCATIONS];
static uint32_t expected_count;

static void enumerate_directly(void) {
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS)
        return;
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_device_id devs[UMS_MAX_LOCATIONS];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, UMS_MAX_LOCATIONS, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && expected_count < UMS_MAX_LOCATIONS; d++) {
            cl_bool avail = CL_TRUE;
            clGetDeviceInfo(devs[d], CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
            if (!avail)
                continue;
            expected_device *e = &expected[expected_count++];
            clGetDeviceInfo(devs[d], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof e->global_mem, &e->global_mem, NULL);
            e->unified = CL_FALSE;
            clGetDeviceInfo(devs[d], CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof e->unified, &e->unified, NULL);
        }
    }
}

static void test_init_arguments(void) {
    void *b = (void *)1;
    ASSERT_EQ(ops->init(NULL, NULL, &b), UMS_ERR_NULL_POINTER);
    ASSERT_EQ(ops->init(fake_services(), NULL, NULL), UMS_ERR_NULL_POINTER);

    ums_backend_services bad = *fake_services();
    bad.abi_version = (UMS_BACKEND_ABI_MAJOR + 1) << 16;
    ASSERT_EQ(ops->init(&bad, NULL, &b), UMS_ERR_ABI_MISMATCH);
    ASSERT(b == NULL);
    bad = *fake_services();
    bad.struct_size = 8;
    ASSERT_EQ(ops->init(&bad, NULL, &b), UMS_ERR_ABI_MISMATCH);

    static const char *const bad_configs[] = {"bogus=1",   "devices=fpga", "devices=cpu+",
                                              "capacity=", "capacity=0",   "capacity=12Q",
                                              "pool=-1",   "devices",      "capacity=99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
        b = (void *)1;
        EXPECT_R(UMS_ERR_CONFIG, ops->init(fake_services(), bad_configs[i], &b));
        ASSERT(b == NULL);
        ASSERT_EQ(fake.code, UMS_ERR_CONFIG);
        ASSERT(fake.message[0] != '\0');
    }
    fake_expect_no_live_objects(NULL);
}

/* Selecting no device (or a platform that does not exist) is not an error. */
static void test_no_devices(void) {
    static const char *const configs[] = {"platform=no such platform", "devices=custom"};
    for (size_t i = 0; i < 2; i++) {
        void *b = NULL;
        uint32_t n = 99;
        EXPECT_OK(ops->init(fake_services(), configs[i], &b));
        EXPECT_OK(ops->location_count(b, &n));
        if (i == 0)
            ASSERT_EQ(n, 0);
        ums_backend_location loc = {.struct_size = sizeof loc};
        if (n == 0)
            ASSERT_EQ(ops->location_describe(b, 0, &loc), UMS_ERR_UNKNOWN_LOCATION);
        ops->fini(b);
    }
    fake_expect_no_live_objects(NULL);
}

static void test_locations(void *b, uint32_t n) {
    ASSERT_EQ(n, expected_count);
    const char *pocl = getenv("POCL_DEVICES");
    if (pocl && strcmp(pocl, "pthread pthread") == 0)
        ASSERT_GE(n, 2);
    for (uint32_t i = 0; i < n; i++) {
        ums_backend_location loc;
        memset(&loc, 0xab, sizeof loc);
        loc.struct_size = sizeof loc;
        EXPECT_OK(ops->location_describe(b, i, &loc));
        char name[16];
        snprintf(name, sizeof name, "cl%u", i);
        ASSERT_EQ(loc.struct_size, sizeof loc);
        ASSERT_EQ(loc.kind, UMS_LOCATION_DEVICE);
        ASSERT_STR_EQ(loc.name, name);
        ASSERT_EQ(loc.capacity, expected[i].global_mem);
        ASSERT_GT(loc.capacity, 0);
        ASSERT_EQ(!!(loc.flags & UMS_LOCATION_FLAG_HOST_ACCESS), !!expected[i].unified);
        ASSERT_EQ(loc.flags & UMS_LOCATION_FLAG_CONFIGURED, 0);
        ASSERT_EQ(loc.numa_node, -1);
        ASSERT(memchr(loc.pci_bus_id, '\0', sizeof loc.pci_bus_id) != NULL);
        ASSERT(loc.pci_bus_id[0] == '\0' || strlen(loc.pci_bus_id) == 12);

        uint64_t used = 1, total = 0;
        EXPECT_OK(ops->capacity(b, i, &used, &total));
        ASSERT_EQ(used, 0);
        ASSERT_EQ(total, loc.capacity);
    }

    /* A caller with an older, smaller struct gets only what fits. */
    ums_backend_location whole;
    memset(&whole, 0x5a, sizeof whole);
    whole.struct_size = (uint32_t)offsetof(ums_backend_location, capacity);
    EXPECT_OK(ops->location_describe(b, 0, &whole));
    ASSERT_STR_EQ(whole.name, "cl0");
    const unsigned char *bytes = (const unsigned char *)&whole;
    for (size_t k = offsetof(ums_backend_location, capacity); k < sizeof whole; k++)
        ASSERT_EQ(bytes[k], 0x5a); /* nothing written past the caller's struct_size */

    ums_backend_location loc = {.struct_size = sizeof loc};
    EXPECT_R(UMS_ERR_UNKNOWN_LOCATION, ops->location_describe(b, n, &loc));
    loc.struct_size = 2;
    EXPECT_R(UMS_ERR_INVALID_ARG, ops->location_describe(b, 0, &loc));
    ASSERT_EQ(ops->location_describe(b, 0, NULL), UMS_ERR_NULL_POINTER);
    ASSERT_EQ(ops->location_count(b, NULL), UMS_ERR_NULL_POINTER);
}

static void test_alloc_arguments(void *b, uint32_t n) {
    ums_devmem *m = (ums_devmem *)1;
    EXPECT_R(UMS_ERR_BAD_SIZE, ops->mem_alloc(b, 0, 0, &m));
    ASSERT(m == NULL);
    EXPECT_R(UMS_ERR_UNKNOWN_LOCATION, ops->mem_alloc(b, n, 4096, &m));
    EXPECT_R(UMS_ERR_BAD_SIZE, ops->mem_alloc(b, 0, SIZE_MAX, &m));
    ASSERT_EQ(ops->mem_alloc(b, 0, 4096, NULL), UMS_ERR_NULL_POINTER);
    uint64_t u, t;
    EXPECT_R(UMS_ERR_UNKNOWN_LOCATION, ops->capacity(b, n, &u, &t));
    ops->mem_free(b, NULL); /* harmless */
}

/* Upload at an offset, download, compare; with and without fences. */
static void round_trip(void *b, uint32_t index, size_t size, int fenced) {
    const size_t off = size > 64 ? 17 : 0;
    const size_t len = size - off;
    unsigned seed = (unsigned)(size + (size_t)fenced * 7 + index);
    unsigned char *src = malloc(len), *dst = malloc(len);
    ASSERT(src && dst);
    fake_fill(src, len, seed);
    memset(dst, 0, len);

    ums_devmem *m = NULL;
    EXPECT_OK(ops->mem_alloc(b, index, size, &m));
    ASSERT(m != NULL);
    if (fenced) {
        ums_fence *f = NULL;
        EXPECT_OK(ops->copy_to(b, m, off, src, len, &f));
        EXPECT_OK(ops->fence_wait(b, f));
        f = NULL;
        EXPECT_OK(ops->copy_from(b, dst, m, off, len, &f));
        EXPECT_OK(ops->fence_wait(b, f));
    } else {
        EXPECT_OK(ops->copy_to(b, m, off, src, len, NULL));
        EXPECT_OK(ops->copy_from(b, dst, m, off, len, NULL));
    }
    EXPECT_PATTERN(dst, len, seed);
    EXPECT_PATTERN(src, len, seed);

    /* Part of the buffer: the middle third comes back alone. */
    if (len >= 3) {
        memset(dst, 0, len);
        EXPECT_OK(ops->copy_from(b, dst + len / 3, m, off + len / 3, len / 3, NULL));
        ASSERT_EQ(memcmp(dst + len / 3, src + len / 3, len / 3), 0);
        ASSERT_EQ(dst[0], 0);
    }

    /* Ranges past the end are refused and copy nothing. */
    EXPECT_R(UMS_ERR_OUT_OF_RANGE, ops->copy_to(b, m, size, src, 1, NULL));
    EXPECT_R(UMS_ERR_OUT_OF_RANGE, ops->copy_from(b, dst, m, 1, size, NULL));
    EXPECT_R(UMS_ERR_OUT_OF_RANGE, ops->copy_to(b, m, SIZE_MAX, src, 2, NULL));
    /* Zero bytes: nothing to do, no fence. */
    ums_fence *f = (ums_fence *)1;
    EXPECT_OK(ops->copy_to(b, m, 0, src, 0, &f));
    ASSERT(f == NULL);
    EXPECT_OK(ops->fence_wait(b, NULL));

    ops->mem_free(b, m);
    free(src);
    free(dst);
}

/* Several fenced uploads in flight at once on one buffer land in order. */
static void test_fences_in_flight(void *b) {
    const size_t size = 1 << 20;
    unsigned char *a = malloc(size), *c = malloc(size), *dst = malloc(size);
    ASSERT(a && c && dst);
    fake_fill(a, size, 1);
    fake_fill(c, size, 2);
    ums_devmem *m;
    EXPECT_OK(ops->mem_alloc(b, 0, size, &m));
    ums_fence *f1 = NULL, *f2 = NULL, *f3 = NULL;
    EXPECT_OK(ops->copy_to(b, m, 0, a, size, &f1));
    EXPECT_OK(ops->copy_to(b, m, 0, c, size, &f2));
    EXPECT_OK(ops->copy_from(b, dst, m, 0, size, &f3));
    EXPECT_OK(ops->fence_wait(b, f3));
    EXPECT_OK(ops->fence_wait(b, f1));
    EXPECT_OK(ops->fence_wait(b, f2));
    EXPECT_PATTERN(dst, size, 2);
    /* mem_free waits for anything still pending. */
    EXPECT_OK(ops->copy_to(b, m, 0, a, size, &f1));
    ops->mem_free(b, m);
    EXPECT_OK(ops->fence_wait(b, f1));
    free(a);
    free(c);
    free(dst);
}

static void test_peer(void *b, uint32_t n) {
    if (n < 2) {
        printf("peer copy between devices not tested: one device\n");
        return;
    }
    const size_t size = (2u << 20) + 13;
    unsigned char *src = malloc(size), *dst = malloc(size);
    ASSERT(src && dst);
    fake_fill(src, size, 42);
    ums_devmem *m0, *m1;
    EXPECT_OK(ops->mem_alloc(b, 0, size, &m0));
    EXPECT_OK(ops->mem_alloc(b, 1, size, &m1));

    /* cl0 → cl1, synchronous, whole buffer; the upload is still pending when the copy is queued. */
    ums_fence *f = NULL;
    EXPECT_OK(ops->copy_to(b, m0, 0, src, size, &f));
    EXPECT_OK(ops->copy_peer(b, m1, 0, m0, 0, size, NULL));
    EXPECT_OK(ops->fence_wait(b, f));
    memset(dst, 0, size);
    EXPECT_OK(ops->copy_from(b, dst, m1, 0, size, NULL));
    EXPECT_PATTERN(dst, size, 42);

    /* cl1 → cl0 with a fence, a range at different offsets. */
    EXPECT_OK(ops->copy_to(b, m0, 0, src + 1000, size - 1000, NULL)); /* overwrite m0 */
    f = NULL;
    EXPECT_OK(ops->copy_peer(b, m0, 5, m1, 100, 4096, &f));
    EXPECT_OK(ops->fence_wait(b, f));
    EXPECT_OK(ops->copy_from(b, dst, m0, 5, 4096, NULL));
    ASSERT_EQ(memcmp(dst, src + 100, 4096), 0);

    /* Within one buffer: disjoint ranges work, overlapping ones are refused. */
    EXPECT_OK(ops->copy_peer(b, m1, 0, m1, size / 2, size / 2, NULL));
    EXPECT_OK(ops->copy_from(b, dst, m1, 0, size / 2, NULL));
    ASSERT_EQ(memcmp(dst, src + size / 2, size / 2), 0);
    EXPECT_R(UMS_ERR_INVALID_ARG, ops->copy_peer(b, m1, 0, m1, 10, 100, NULL));
    EXPECT_R(UMS_ERR_OUT_OF_RANGE, ops->copy_peer(b, m1, 0, m0, 1, size, NULL));

    ops->mem_free(b, m0);
    ops->mem_free(b, m1);
    free(src);
    free(dst);
}

/* A freed buffer comes back for the next request of its size, without a new cl_mem. */
static void test_pool(void *b) {
    const size_t size = 2u << 20;
    ums_devmem *m, *again, *other;
    EXPECT_OK(ops->mem_alloc(b, 0, size, &m));
    ops->mem_free(b, m);
    uint64_t created = ums__opencl_call_count("clCreateBuffer");
    EXPECT_OK(ops->mem_alloc(b, 0, size, &again));
    ASSERT(again == m);
    ASSERT_EQ(ums__opencl_call_count("clCreateBuffer"), created);
    /* Another size, or another device, gets its own buffer. */
    EXPECT_OK(ops->mem_alloc(b, 0, size + 1, &other));
    ASSERT_EQ(ums__opencl_call_count("clCreateBuffer"), created + 1);
    uint64_t used, total;
    EXPECT_OK(ops->capacity(b, 0, &used, &total));
    ASSERT_EQ(used, 2 * size + 1);
    ops->mem_free(b, again);
    ops->mem_free(b, other);
    EXPECT_OK(ops->capacity(b, 0, &used, &total));
    ASSERT_EQ(used, 0);
}

/* capacity=6M: the fourth 2 MiB buffer does not fit; pooled buffers make way. */
static void test_capacity_limit(void) {
    void *b = NULL;
    EXPECT_OK(ops->init(fake_services(), "capacity=6M,pool=64M", &b));
    ums_backend_location loc = {.struct_size = sizeof loc};
    EXPECT_OK(ops->location_describe(b, 0, &loc));
    ASSERT_EQ(loc.capacity, 6u << 20);
    ASSERT(loc.flags & UMS_LOCATION_FLAG_CONFIGURED);

    const size_t mib2 = 2u << 20;
    ums_devmem *m[4] = {NULL};
    for (int i = 0; i < 3; i++)
        EXPECT_OK(ops->mem_alloc(b, 0, mib2, &m[i]));
    EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->mem_alloc(b, 0, mib2, &m[3]));
    ASSERT(m[3] == NULL);
    ASSERT_EQ(fake.code, UMS_ERR_NO_DEVICE_MEMORY);
    EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->mem_alloc(b, 0, 1, &m[3]));
    uint64_t used, total;
    EXPECT_OK(ops->capacity(b, 0, &used, &total));
    ASSERT_EQ(used, 3 * mib2);
    ASSERT_EQ(total, 6u << 20);

    /* Free one: 2 MiB pooled. A 1 MiB request fits only once the pool gives it back. */
    ops->mem_free(b, m[2]);
    uint64_t released = ums__opencl_call_count("clReleaseMemObject");
    EXPECT_OK(ops->mem_alloc(b, 0, 1u << 20, &m[2]));
    ASSERT_EQ(ums__opencl_call_count("clReleaseMemObject"), released + 1);
    EXPECT_OK(ops->capacity(b, 0, &used, &total));
    ASSERT_EQ(used, 2 * mib2 + (1u << 20));
    EXPECT_R(UMS_ERR_NO_DEVICE_MEMORY, ops->mem_alloc(b, 0, mib2, &m[3]));
    for (int i = 0; i < 3; i++)
        ops->mem_free(b, m[i]);
    EXPECT_OK(ops->capacity(b, 0, &used, &total));
    ASSERT_EQ(used, 0);
    ops->fini(b);
    fake_expect_no_live_objects(NULL);
}

/* pool=0: nothing is kept. */
static void test_pool_disabled(void) {
    void *b = NULL;
    EXPECT_OK(ops->init(fake_services(), "pool=0", &b));
    ums_devmem *m;
    EXPECT_OK(ops->mem_alloc(b, 0, 4096, &m));
    uint64_t released = ums__opencl_call_count("clReleaseMemObject");
    ops->mem_free(b, m);
    ASSERT_EQ(ums__opencl_call_count("clReleaseMemObject"), released + 1);
    ops->fini(b);
    fake_expect_no_live_objects(NULL);
}

int main(void) {
    ops = ums__opencl_backend_entry();
    fake_check_table(ops);
    ASSERT_EQ(ops->struct_size, sizeof(ums_backend_ops));
    enumerate_directly();

    test_init_arguments();
    test_no_devices();

    void *b = NULL;
    EXPECT_OK(ops->init(fake_services(), NULL, &b));
    uint32_t n = 0;
    EXPECT_OK(ops->location_count(b, &n));
    if (n == 0) {
        ops->fini(b);
        SKIP("no OpenCL device");
    }
    test_locations(b, n);
    test_alloc_arguments(b, n);
    static const size_t sizes[] = {1, 4096, (2u << 20) + 13};
    for (uint32_t i = 0; i < n && i < 2; i++)
        for (size_t s = 0; s < 3; s++)
            for (int fenced = 0; fenced < 2; fenced++)
                round_trip(b, i, sizes[s], fenced);
    test_fences_in_flight(b);
    test_peer(b, n);
    test_pool(b);
    ops->fini(b);
    fake_expect_no_live_objects(NULL);

    test_capacity_limit();
    test_pool_disabled();
    printf("opencl ops: %u locations, all checks passed\n", n);
    return 0;
}
