/* An in-test device backend for the core tests: one device location, memory
 * from malloc, copies and fences left to the test. The including file defines
 * TB_NAME (the location's name) and TB_CAPACITY (bytes), may define TB_FILL (a
 * byte new memory is filled with), then defines struct ums_fence, its copies
 * and fence_wait, and builds its ops table from TB_OPS_COMMON. */
#ifndef UMS_TEST_BACKEND_H
#define UMS_TEST_BACKEND_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <umshim/backend.h>

struct ums_devmem {
    unsigned char *p;
    size_t len;
};

static ums_result tb_init(const ums_backend_services *svc, const char *config, void **out) {
    (void)config;
    *out = (void *)svc;
    return UMS_OK;
}
static void tb_fini(void *b) { (void)b; }
static ums_result tb_count(void *b, uint32_t *count) {
    (void)b;
    *count = 1;
    return UMS_OK;
}
static ums_result tb_describe(void *b, uint32_t index, ums_backend_location *d) {
    (void)b, (void)index;
    d->kind = UMS_LOCATION_DEVICE;
    snprintf(d->name, sizeof d->name, "%s", TB_NAME);
    d->capacity = TB_CAPACITY;
    return UMS_OK;
}
static ums_result tb_mem_alloc(void *b, uint32_t index, size_t size, ums_devmem **out) {
    (void)b, (void)index;
    ums_devmem *m = malloc(sizeof *m);
    if (!m) return UMS_ERR_NO_DEVICE_MEMORY;
    m->p = malloc(size);
    if (!m->p) {
        free(m);
        return UMS_ERR_NO_DEVICE_MEMORY;
    }
#ifdef TB_FILL
    memset(m->p, TB_FILL, size);
#endif
    m->len = size;
    *out = m;
    return UMS_OK;
}
static void tb_mem_free(void *b, ums_devmem *m) {
    (void)b;
    free(m->p);
    free(m);
}

#define TB_OPS_COMMON                                                                                       \
    .abi_version = UMS_BACKEND_ABI_VERSION, .struct_size = sizeof(ums_backend_ops), .init = tb_init,        \
    .fini = tb_fini, .location_count = tb_count, .location_describe = tb_describe, .mem_alloc = tb_mem_alloc, \
    .mem_free = tb_mem_free

#endif
