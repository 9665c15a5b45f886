/* The fake core shared by the opencl backend tests (see fake_core.h). */
#include "fake_core.h"

#include "opencl_backend.h"

#include <pthread.h>
#include <stdarg.h>

fake_core fake;
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;

static void fake_log(void *core, int level, const char *fmt, ...) {
    (void)core;
    pthread_mutex_lock(&fake_lock);
    fake.logs++;
    pthread_mutex_unlock(&fake_lock);
    if (getenv("UMS_TEST_VERBOSE")) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "[log %d] ", level);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
}

static void fake_set_error(void *core, ums_result code, int native, const char *fmt, ...) {
    (void)core;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&fake_lock);
    fake.code = code;
    fake.native = native;
    vsnprintf(fake.message, sizeof fake.message, fmt, ap);
    fake.errors++;
    if (getenv("UMS_TEST_VERBOSE"))
        fprintf(stderr, "[error %s] %s\n", ums_result_name(code), fake.message);
    pthread_mutex_unlock(&fake_lock);
    va_end(ap);
}

static ums_result fake_submit_hint(void *core, const ums_hint *hint) {
    (void)core;
    (void)hint;
    return UMS_OK;
}

static const ums_backend_services services = {
    .abi_version = UMS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(ums_backend_services),
    .core = &fake,
    .log = fake_log,
    .set_error = fake_set_error,
    .submit_hint = fake_submit_hint,
};

void fake_reset(void) {
    pthread_mutex_lock(&fake_lock);
    memset(&fake, 0, sizeof fake);
    pthread_mutex_unlock(&fake_lock);
}

const ums_backend_services *fake_services(void) {
    fake_reset();
    return &services;
}

void fake_check_table(const ums_backend_ops *ops) {
    ASSERT(ops != NULL);
    ASSERT_EQ(ops->abi_version >> 16, UMS_BACKEND_ABI_MAJOR);
    ASSERT_GE(ops->struct_size, offsetof(ums_backend_ops, poll_hints) + sizeof ops->poll_hints);
    ASSERT_STR_EQ(ops->name, "opencl");
    ASSERT(ops->init && ops->fini && ops->location_count && ops->location_describe);
    ASSERT(ops->mem_alloc && ops->mem_free && ops->copy_to && ops->copy_from);
    /* It returns fences, so it must wait for them; it offers the optional copies and capacity. */
    ASSERT(ops->fence_wait != NULL);
    ASSERT(ops->copy_peer != NULL);
    ASSERT(ops->capacity != NULL);
}

/* Each byte depends on its whole index, so a misplaced chunk shows. */
static unsigned char pattern_byte(size_t i, unsigned seed) {
    uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + (uint64_t)seed * 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return (unsigned char)(x >> 17);
}

void fake_fill(void *buf, size_t len, unsigned seed) {
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_byte(i, seed);
}

size_t fake_check(const void *buf, size_t len, unsigned seed) {
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern_byte(i, seed))
            return i;
    return SIZE_MAX;
}

void fake_expect_no_live_objects(const char *when) {
    ums__opencl_objects o;
    ums__opencl_live_objects(&o);
    if (o.contexts || o.queues || o.buffers || o.events || o.kernels)
        FAIL_("%s%sOpenCL objects leaked: %ld contexts, %ld queues, %ld buffers, %ld events, %ld kernels",
              when ? when : "", when ? ": " : "", o.contexts, o.queues, o.buffers, o.events, o.kernels);
}
