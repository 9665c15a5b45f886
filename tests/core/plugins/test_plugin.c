/* A backend plug-in for core_test_bad_input, built once per variant; each
 * variant but "good" breaks the plug-in ABI in exactly one way:
 *   good      valid: one device location "plugdev0" backed by heap memory
 *   nullentry the entry point returns NULL
 *   abi2      ABI major version 2
 *   small     struct_size smaller than the version-1.0 table
 *   noname    name is NULL
 *   nocopy    the required copy_from operation is missing
 *   initfail  init fails and explains why through the services table
 * It reaches the core only through the services table, like a real plug-in. */
#include <stdlib.h>
#include <string.h>

#include "umshim/backend.h"

struct ums_devmem {
    void *p;
    size_t len;
};

static ums_result pl_init(const ums_backend_services *svc, const char *config, void **out) {
    (void)config;
#ifdef UMS_TEST_PLUGIN_initfail
    (void)out;
    svc->set_error(svc->core, UMS_ERR_BACKEND, 0, "test plug-in refuses to start");
    return UMS_ERR_BACKEND;
#else
    *out = (void *)svc;
    return UMS_OK;
#endif
}
static void pl_fini(void *b) { (void)b; }
static ums_result pl_count(void *b, uint32_t *count) {
    (void)b;
    *count = 1;
    return UMS_OK;
}
static ums_result pl_describe(void *b, uint32_t index, ums_backend_location *d) {
    (void)b;
    if (index != 0) return UMS_ERR_UNKNOWN_LOCATION;
    d->kind = UMS_LOCATION_DEVICE;
    strcpy(d->name, "plugdev0");
    d->capacity = 16u << 20;
    return UMS_OK;
}
static ums_result pl_mem_alloc(void *b, uint32_t index, size_t size, ums_devmem **out) {
    (void)b, (void)index;
    ums_devmem *m = calloc(1, sizeof *m);
    if (!m) return UMS_ERR_NO_DEVICE_MEMORY;
    m->p = calloc(1, size);
    if (!m->p) {
        free(m);
        return UMS_ERR_NO_DEVICE_MEMORY;
    }
    m->len = size;
    *out = m;
    return UMS_OK;
}
static void pl_mem_free(void *b, ums_devmem *m) {
    (void)b;
    free(m->p);
    free(m);
}
static ums_result pl_copy_to(void *b, ums_devmem *dst, size_t off, const void *src, size_t len, ums_fence **f) {
    (void)b;
    if (off > dst->len || len > dst->len - off) return UMS_ERR_OUT_OF_RANGE;
    memcpy((char *)dst->p + off, src, len);
    if (f) *f = NULL;
    return UMS_OK;
}
__attribute__((unused)) static ums_result pl_copy_from(void *b, void *dst, ums_devmem *src, size_t off, size_t len, ums_fence **f) {
    (void)b;
    if (off > src->len || len > src->len - off) return UMS_ERR_OUT_OF_RANGE;
    memcpy(dst, (char *)src->p + off, len);
    if (f) *f = NULL;
    return UMS_OK;
}

static const ums_backend_ops pl_ops = {
#ifdef UMS_TEST_PLUGIN_abi2
    .abi_version = (2u << 16) | UMS_BACKEND_ABI_MINOR,
#else
    .abi_version = UMS_BACKEND_ABI_VERSION,
#endif
#ifdef UMS_TEST_PLUGIN_small
    .struct_size = (uint32_t)offsetof(ums_backend_ops, copy_to),
#else
    .struct_size = sizeof(ums_backend_ops),
#endif
#ifdef UMS_TEST_PLUGIN_noname
    .name = NULL,
#else
    .name = "testplug",
#endif
    .init = pl_init,
    .fini = pl_fini,
    .location_count = pl_count,
    .location_describe = pl_describe,
    .mem_alloc = pl_mem_alloc,
    .mem_free = pl_mem_free,
    .copy_to = pl_copy_to,
#ifndef UMS_TEST_PLUGIN_nocopy
    .copy_from = pl_copy_from,
#endif
};

__attribute__((visibility("default"))) const ums_backend_ops *ums_backend_entry(void);
__attribute__((visibility("default"))) const ums_backend_ops *ums_backend_entry(void) {
#ifdef UMS_TEST_PLUGIN_nullentry
    (void)pl_ops;
    return NULL;
#else
    return &pl_ops;
#endif
}
