/* Loading backend plug-ins: a good one works end to end; broken ones are
 * rejected with a clear error and leave the runtime as it was. */
#include "test.h"

static ums_runtime_t *rt_new(void) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.opencl = 0;
    cfg.sim = NULL;
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    return rt;
}

int main(int argc, char **argv) {
    ASSERT_EQ(argc, 6);
    const char *good = argv[1], *bad_abi = argv[2], *missing = argv[3], *shorty = argv[4], *noentry = argv[5];
    ums_runtime_t *rt = rt_new();
    uint32_t n0, n1;
    ASSERT_OK(ums_location_count(rt, &n0));

    ASSERT_RESULT(UMS_ERR_ABI_MISMATCH, ums_backend_load(rt, bad_abi, NULL));
    printf("bad ABI: %s\n", ums_last_error()->message);
    ASSERT_RESULT(UMS_ERR_PLUGIN, ums_backend_load(rt, missing, NULL));
    ASSERT(strstr(ums_last_error()->message, "copy_from") != NULL);
    printf("missing op: %s\n", ums_last_error()->message);
    ASSERT_RESULT(UMS_ERR_ABI_MISMATCH, ums_backend_load(rt, shorty, NULL));
    printf("short table: %s\n", ums_last_error()->message);
    ASSERT_RESULT(UMS_ERR_PLUGIN, ums_backend_load(rt, noentry, NULL));
    printf("no entry: %s\n", ums_last_error()->message);
    ASSERT_RESULT(UMS_ERR_PLUGIN, ums_backend_load(rt, "/nonexistent/libumshim-backend-x.so", NULL));
    ASSERT_RESULT(UMS_ERR_BACKEND, ums_backend_load(rt, good, "fail"));
    ASSERT_EQ(ums_last_error()->native, 42);
    ASSERT_STR_EQ(ums_last_error()->backend, "plug");
    ASSERT_OK(ums_location_count(rt, &n1));
    ASSERT_EQ(n1, n0); /* nothing added by the failures */

    ASSERT_OK(ums_backend_load(rt, good, NULL));
    ums_location_t plug;
    ASSERT_OK(ums_location_find(rt, "plug0", &plug));
    ums_location_info info;
    ASSERT_OK(ums_location_get(rt, plug, &info));
    ASSERT_STR_EQ(info.backend, "plug");
    size_t bs = ums_runtime_block_size(rt);
    unsigned *p;
    ASSERT_OK(ums_runtime_alloc(rt, 3 * bs, 0, (void **)&p));
    for (size_t i = 0; i < 3 * bs / sizeof *p; i++) p[i] = (unsigned)i;
    ASSERT_OK(ums_migrate(p, 3 * bs, plug));
    ums_block_info bi;
    size_t cnt;
    ASSERT_OK(ums_query(p, 1, &bi, 1, &cnt));
    ASSERT_EQ(bi.valid, 1ull << plug);
    for (size_t i = 0; i < 3 * bs / sizeof *p; i++)
        if (p[i] != (unsigned)i) FAIL_("word %zu after a round trip through the plug-in: %u", i, p[i]);
    /* no backend may be added once allocations exist */
    ASSERT_RESULT(UMS_ERR_BUSY, ums_backend_load(rt, good, NULL));
    ASSERT_OK(ums_free(p));
    ASSERT_OK(ums_runtime_destroy(rt));
    printf("plug-in loaded, data moved through it and back\n");
    return 0;
}
