/* Unit tests for the small files of the core: config.c (sizes, environment),
 * result.c (one list of codes), sys.c (injection counting), registry.c (address
 * lookup at the edges), backend.c (validation, defaults), and the sim backend
 * driven through its ops table alone; copy.c (bulk copies at every alignment). */
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "internal.h"
#include "test.h"

static void test_parse_size(void) {
    size_t v;
    ASSERT_EQ(ums__parse_size("4096", &v), UMS_OK);
    ASSERT_EQ(v, 4096);
    ASSERT_EQ(ums__parse_size("64K", &v), UMS_OK);
    ASSERT_EQ(v, 64 << 10);
    ASSERT_EQ(ums__parse_size("2MiB", &v), UMS_OK);
    ASSERT_EQ(v, 2 << 20);
    ASSERT_EQ(ums__parse_size("1g", &v), UMS_OK);
    ASSERT_EQ(v, 1u << 30);
    const char *bad[] = {"", "-1", "12Q", "K", "1.5M", "99999999999999999999", "20000000000000G", "3MBx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ums__parse_size(bad[i], &v) != UMS_ERR_CONFIG) FAIL_("'%s' accepted", bad[i]);
}

static void test_env(void) {
    ums_runtime_config c;
    setenv("UMS_FAULT", "signal", 1);
    setenv("UMS_PROTOCOL", "blocking", 1);
    setenv("UMS_BLOCK_SIZE", "64K", 1);
    setenv("UMS_MIGRATE_WRITE", "abort", 1);
    setenv("UMS_RO_INSTALL", "copy", 1);
    setenv("UMS_LOG", "debug", 1);
    setenv("UMS_SIM", "count=3", 1);
    setenv("UMS_OPENCL", "0", 1);
    ASSERT_OK(ums_runtime_config_from_env(&c));
    ASSERT_EQ(c.fault_mode, UMS_FAULT_SIGNAL);
    ASSERT_EQ(c.protocol, UMS_PROTOCOL_BLOCKING);
    ASSERT_EQ(c.block_size, 64 << 10);
    ASSERT_EQ(c.migrate_write, UMS_MIGRATE_WRITE_ABORT);
    ASSERT_EQ(c.read_only_install, UMS_RO_INSTALL_COPY);
    ASSERT_EQ(c.log_level, UMS_LOG_DEBUG);
    ASSERT_STR_EQ(c.sim, "count=3");
    ASSERT_EQ(c.opencl, 0);
    setenv("UMS_PROTOCOL", "sometimes", 1);
    ASSERT_RESULT(UMS_ERR_CONFIG, ums_runtime_config_from_env(&c));
    ASSERT(strstr(ums_last_error()->message, "UMS_PROTOCOL") != NULL);
    ASSERT_EQ(c.protocol, UMS_PROTOCOL_READABLE); /* the bad field keeps its default */
    ASSERT_EQ(c.fault_mode, UMS_FAULT_SIGNAL);    /* the good ones are still read */
    const char *vars[] = {"UMS_FAULT", "UMS_PROTOCOL", "UMS_BLOCK_SIZE", "UMS_MIGRATE_WRITE", "UMS_RO_INSTALL", "UMS_LOG", "UMS_SIM",
                          "UMS_OPENCL"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
    ASSERT_OK(ums_runtime_config_from_env(&c));
    ums_runtime_config d;
    ASSERT_OK(ums_runtime_config_init(&d));
    ASSERT_EQ(memcmp(&c, &d, sizeof c), 0);
}

static void test_results(void) {
    int seen = 0;
#define CHECK_(name, value, msg)                                              \
    ASSERT_STR_EQ(ums_result_name(UMS_##name), "UMS_" #name);               \
    ASSERT_STR_EQ(ums_result_string(UMS_##name), msg);                       \
    ASSERT(UMS_##name == 0 ? strcmp(#name, "OK") == 0 : UMS_##name < 0);      \
    seen++;
    UMS_RESULT_MAP(CHECK_)
#undef CHECK_
    ASSERT_GT(seen, 20);
    ASSERT_STR_EQ(ums_result_name((ums_result)12345), "UMS_ERR_UNKNOWN_RESULT");
    ums_clear_error();
    ASSERT_EQ(ums_last_error()->code, UMS_OK);
    ASSERT_STR_EQ(ums_last_error()->message, "");
}

static void test_inject_counting(void) {
    ums_test_inject_clear();
    ASSERT_OK(ums_test_inject("madvise", 2, 2, EINVAL)); /* calls 2 and 3 fail */
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int rc[5];
    for (int i = 0; i < 5; i++) rc[i] = ums__sys_madvise(p, 4096, MADV_NORMAL);
    ASSERT_EQ(rc[0], 0);
    ASSERT_EQ(rc[1], -1);
    ASSERT_EQ(rc[2], -1);
    ASSERT_EQ(rc[3], 0);
    ASSERT_EQ(rc[4], 0);
    ASSERT_EQ(ums_test_injected_count(), 2);
    ASSERT_OK(ums_test_inject("calloc", 1, 0, ENOMEM)); /* every call from the first */
    ASSERT(ums__calloc(1, 8) == NULL);
    ASSERT(ums__calloc(1, 8) == NULL);
    ums_test_inject_clear();
    void *q = ums__calloc(1, 8);
    ASSERT(q != NULL);
    free(q);
    ASSERT_EQ(ums_test_injected_count(), 0);
    munmap(p, 4096);
    size_t n = 0;
    for (const char *const *s = ums_test_inject_names(); *s; s++) n++;
    ASSERT_EQ(n, UMS_SYS_COUNT);
}

static void test_registry(void) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_init(&cfg));
    cfg.opencl = 0;
    cfg.block_size = 64 << 10;
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    char *a, *b;
    ASSERT_OK(ums_runtime_alloc(rt, 100000, 0, (void **)&a)); /* 2 blocks, 100000 bytes usable */
    ASSERT_OK(ums_runtime_alloc(rt, 1, 0, (void **)&b));
    void *base;
    size_t size;
    ums_runtime_t *owner;
    ASSERT_OK(ums_alloc_info(a + 99999, &base, &size, &owner));
    ASSERT(base == a && size == 100000 && owner == rt);
    ASSERT_OK(ums_alloc_info(a + 2 * 65536 - 1, &base, NULL, NULL)); /* the block slack is still the allocation's */
    ASSERT(base == a);
    ASSERT_RESULT(UMS_ERR_OUT_OF_RANGE, ums_migrate(a + 99999, 2, 0));
    ASSERT_OK(ums_migrate(a + 99999, 1, 0));
    if (a + 2 * 65536 != b) ASSERT_RESULT(UMS_ERR_NOT_MANAGED, ums_alloc_info(a + 2 * 65536, NULL, NULL, NULL));
    ASSERT_RESULT(UMS_ERR_NOT_MANAGED, ums_alloc_info(a - 1, NULL, NULL, NULL));
    ASSERT_OK(ums_free(b));
    ASSERT_OK(ums_alloc_info(a, NULL, NULL, NULL));
    ASSERT_RESULT(UMS_ERR_NOT_MANAGED, ums_alloc_info(b, NULL, NULL, NULL));
    ASSERT_OK(ums_runtime_destroy(rt)); /* frees a */
    ASSERT_RESULT(UMS_ERR_NOT_MANAGED, ums_alloc_info(a, NULL, NULL, NULL));
}

/* ---- the sim backend through its ops table only ---- */
static int errors_seen;
static void fake_log(void *core, int level, const char *fmt, ...) { (void)core, (void)level, (void)fmt; }
static void fake_err(void *core, ums_result code, int native, const char *fmt, ...) {
    (void)core, (void)code, (void)native, (void)fmt;
    errors_seen++;
}
static ums_result fake_hint(void *core, const ums_hint *h) {
    (void)core, (void)h;
    return UMS_OK;
}

static void test_sim_ops(void) {
    const ums_backend_ops *ops = ums__sim_backend_entry();
    ASSERT_OK(ums_backend_validate(ops));
    ums_backend_services svc = {UMS_BACKEND_ABI_VERSION, sizeof svc, NULL, fake_log, fake_err, fake_hint};
    void *st;
    ASSERT_EQ(ops->init(&svc, "count=2,capacity=1M", &st), UMS_OK);
    uint32_t n;
    ASSERT_EQ(ops->location_count(st, &n), UMS_OK);
    ASSERT_EQ(n, 2);
    ums_backend_location d = {.struct_size = sizeof d};
    ASSERT_EQ(ops->location_describe(st, 1, &d), UMS_OK);
    ASSERT_STR_EQ(d.name, "sim1");
    ASSERT_EQ(d.kind, UMS_LOCATION_DEVICE);
    ASSERT_EQ(d.capacity, 1 << 20);
    ASSERT_EQ(ops->location_describe(st, 2, &d), UMS_ERR_UNKNOWN_LOCATION);
    ums_devmem *m1, *m2, *m3;
    ASSERT_EQ(ops->mem_alloc(st, 0, 768 << 10, &m1), UMS_OK);
    ASSERT_EQ(ops->mem_alloc(st, 0, 512 << 10, &m2), UMS_ERR_NO_DEVICE_MEMORY); /* capacity holds */
    ASSERT_EQ(errors_seen, 1);
    ASSERT_EQ(ops->mem_alloc(st, 1, 512 << 10, &m3), UMS_OK);
    char src[1000], dst[1000];
    for (int i = 0; i < 1000; i++) src[i] = (char)i;
    ASSERT_EQ(ops->copy_to(st, m1, 100, src, 1000, NULL), UMS_OK);
    ASSERT_EQ(ops->copy_peer(st, m3, 0, m1, 100, 1000, NULL), UMS_OK);
    ASSERT_EQ(ops->copy_from(st, dst, m3, 0, 1000, NULL), UMS_OK);
    ASSERT_EQ(memcmp(src, dst, 1000), 0);
    ASSERT_EQ(ops->copy_from(st, dst, m3, (512 << 10) - 10, 1000, NULL), UMS_ERR_OUT_OF_RANGE);
    ASSERT(ops->mem_host_ptr(st, m1) == NULL); /* device memory is not CPU-addressable */
    uint64_t used, total;
    ASSERT_EQ(ops->capacity(st, 0, &used, &total), UMS_OK);
    ASSERT_EQ(used, 768 << 10);
    ops->mem_free(st, m1);
    ops->mem_free(st, m3);
    ASSERT_EQ(ops->capacity(st, 0, &used, &total), UMS_OK);
    ASSERT_EQ(used, 0);
    ops->fini(st);
    const char *bad[] = {"count=99", "capacity=0", "latency=5parsecs", "colour=blue", "count", "host_access=2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (ops->init(&svc, bad[i], &st) != UMS_ERR_CONFIG) FAIL_("sim config '%s' accepted", bad[i]);
    }
    /* emulated link: 1 MB at 100 MB/s takes about 10 ms */
    ASSERT_EQ(ops->init(&svc, "count=1,bandwidth=100M,latency=1ms", &st), UMS_OK);
    ASSERT_EQ(ops->mem_alloc(st, 0, 1 << 20, &m1), UMS_OK);
    char *big = calloc(1, 1 << 20);
    uint64_t t0 = ums__now_ns();
    ASSERT_EQ(ops->copy_to(st, m1, 0, big, 1 << 20, NULL), UMS_OK);
    ASSERT_GE(ums__now_ns() - t0, 10000000ull); /* never faster than the configured link */
    free(big);
    ops->mem_free(st, m1);
    ops->fini(st);
}

/* Every byte lands, none outside: each source and destination misalignment
 * within 64 bytes, lengths around the streaming threshold and odd tails. */
static void test_copy_bulk(void) {
    const size_t lens[] = {0, 1, 63, 4096, UMS_COPY_STREAM_MIN - 1, UMS_COPY_STREAM_MIN, UMS_COPY_STREAM_MIN + 1,
                           UMS_COPY_STREAM_MIN + 77, (size_t)2 << 20};
    size_t cap = ((size_t)2 << 20) + 256;
    unsigned char *src = malloc(cap), *dst = malloc(cap);
    ASSERT(src && dst);
    for (size_t i = 0; i < cap; i++) src[i] = (unsigned char)(i * 131 + 7);
    unsigned checked = 0;
    for (size_t l = 0; l < sizeof lens / sizeof *lens; l++)
        for (size_t so = 0; so < 64; so += 13)
            for (size_t dof = 0; dof < 64; dof += 7) {
                size_t len = lens[l];
                memset(dst, 0xEE, len + 128);
                ums__copy_bulk(dst + 64 + dof, src + so, len);
                for (size_t i = 0; i < 64 + dof; i++)
                    if (dst[i] != 0xEE) FAIL_("len %zu src+%zu dst+%zu: byte %zu before the copy written", len, so, dof, i);
                if (memcmp(dst + 64 + dof, src + so, len) != 0) FAIL_("len %zu src+%zu dst+%zu: bytes differ", len, so, dof);
                for (size_t i = 64 + dof + len; i < len + 128; i++)
                    if (dst[i] != 0xEE) FAIL_("len %zu src+%zu dst+%zu: byte %zu after the copy written", len, so, dof, i);
                checked++;
            }
    printf("bulk copy: %u cases, streaming stores %s\n", checked, ums__copy_bulk_streams() ? "on" : "off (memcpy)");
    free(src);
    free(dst);
}

int main(void) {
    test_parse_size();
    test_copy_bulk();
    test_env();
    test_results();
    test_inject_counting();
    test_registry();
    test_sim_ops();
    printf("unit tests passed\n");
    return 0;
}
