/* The opencl backend built as a plug-in (libumshim-backend-opencl.so, path in
 * UMS_OPENCL_PLUGIN): it exports the entry point and nothing internal, and its
 * table passes the core's checks and works. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "fake_core.h"

int main(void) {
    const char *path = getenv("UMS_OPENCL_PLUGIN");
    if (!path || !*path)
        SKIP("UMS_OPENCL_PLUGIN is not set");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        FAIL_("dlopen %s: %s", path, dlerror());
    ums_backend_entry_fn entry = (ums_backend_entry_fn)dlsym(h, UMS_BACKEND_ENTRY_SYMBOL);
    ASSERT(entry != NULL);
    /* Internal symbols stay hidden, so the plug-in cannot clash with a built-in copy. */
    ASSERT(dlsym(h, "ums__opencl_backend_entry") == NULL);
    ASSERT(dlsym(h, "ums__opencl_inject") == NULL);
    ASSERT(dlsym(h, "ums__opencl_fn") == NULL);

    const ums_backend_ops *ops = entry();
    fake_check_table(ops);
    ASSERT(entry() == ops);

    void *b = NULL;
    EXPECT_OK(ops->init(fake_services(), NULL, &b));
    uint32_t n = 0;
    EXPECT_OK(ops->location_count(b, &n));
    if (n == 0) {
        ops->fini(b);
        dlclose(h);
        SKIP("no OpenCL device");
    }
    ums_backend_location loc = {.struct_size = sizeof loc};
    EXPECT_OK(ops->location_describe(b, n - 1, &loc));
    char name[16];
    snprintf(name, sizeof name, "cl%u", n - 1);
    ASSERT_STR_EQ(loc.name, name);

    const size_t size = (2u << 20) + 1;
    unsigned char *src = malloc(size), *dst = malloc(size);
    ASSERT(src && dst);
    fake_fill(src, size, 3);
    ums_devmem *m = NULL, *p = NULL;
    ums_fence *f = NULL;
    EXPECT_OK(ops->mem_alloc(b, 0, size, &m));
    EXPECT_OK(ops->mem_alloc(b, n - 1, size, &p));
    EXPECT_OK(ops->copy_to(b, m, 0, src, size, &f));
    EXPECT_OK(ops->fence_wait(b, f));
    EXPECT_OK(ops->copy_peer(b, p, 0, m, 0, size, NULL));
    EXPECT_OK(ops->copy_from(b, dst, p, 0, size, NULL));
    EXPECT_PATTERN(dst, size, 3);
    ums_devmem *huge = NULL;
    EXPECT_R(UMS_ERR_BAD_SIZE, ops->mem_alloc(b, 0, SIZE_MAX / 2, &huge));
    ASSERT(huge == NULL);
    ASSERT(strstr(fake.message, "cl0") != NULL); /* errors reach the core's services */
    ops->mem_free(b, m);
    ops->mem_free(b, p);
    ops->fini(b);
    free(src);
    free(dst);
    ASSERT_EQ(dlclose(h), 0);
    printf("opencl plug-in: %u locations, all checks passed\n", n);
    return 0;
}
