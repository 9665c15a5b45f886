/* A complete backend plug-in built only against include/umshim/backend.h:
 * one device location whose memory is plain heap memory. */
#include <stdlib.h>
#include <string.h>

#include "umshim/backend.h"

struct ums_devmem {
    size_t len;
    unsigned char bytes[];
};

static const ums_backend_services *svc;

static ums_result p_init(const ums_backend_services *s, const char *config, void **out) {
    svc = s;
    if (config && strcmp(config, "fail") == 0) {
        s->set_error(s->core, UMS_ERR_BACKEND, 42, "plug-in refused to start (config 'fail')");
        return UMS_ERR_BACKEND;
    }
    *out = (void *)&svc;
    return UMS_OK;
}
static void p_fini(void *b) { (void)b; }
static ums_result p_count(void *b, uint32_t *n) {
    (void)b;
    *n = 1;
    return UMS_OK;
}
static ums_result p_describe(void *b, uint32_t i, ums_backend_location *d) {
    (void)b;
    if (i != 0) return UMS_ERR_UNKNOWN_LOCATION;
    d->kind = UMS_LOCATION_DEVICE;
    strcpy(d->name, "plug0");
    d->capacity = 64u << 20;
    return UMS_OK;
}
static ums_result p_alloc(void *b, uint32_t i, size_t size, ums_devmem **out) {
    (void)b, (void)i;
    ums_devmem *m = malloc(sizeof *m + size);
    if (!m) return UMS_ERR_NO_DEVICE_MEMORY;
    m->len = size;
    *out = m;
    return UMS_OK;
}
static void p_free(void *b, ums_devmem *m) {
    (void)b;
    free(m);
}
static ums_result p_to(void *b, ums_devmem *d, size_t off, const void *src, size_t len, ums_fence **f) {
    (void)b;
    memcpy(d->bytes + off, src, len);
    if (f) *f = NULL;
    return UMS_OK;
}
static ums_result p_from(void *b, void *dst, ums_devmem *s, size_t off, size_t len, ums_fence **f) {
    (void)b;
    memcpy(dst, s->bytes + off, len);
    if (f) *f = NULL;
    return UMS_OK;
}

/* Built with -DBAD_ABI, -DMISSING_OP or -DSHORT_TABLE to make broken plug-ins. */
static ums_backend_ops ops = {
#ifdef BAD_ABI
    .abi_version = (UMS_BACKEND_ABI_MAJOR + 1) << 16,
#else
    .abi_version = UMS_BACKEND_ABI_VERSION,
#endif
#ifdef SHORT_TABLE
    .struct_size = 16,
#else
    .struct_size = sizeof(ums_backend_ops),
#endif
    .name = "plug",
    .init = p_init,
    .fini = p_fini,
    .location_count = p_count,
    .location_describe = p_describe,
    .mem_alloc = p_alloc,
    .mem_free = p_free,
    .copy_to = p_to,
#ifndef MISSING_OP
    .copy_from = p_from,
#endif
};

__attribute__((visibility("default"))) const ums_backend_ops *ums_backend_entry(void) {
    (void)p_from;
    return &ops;
}
