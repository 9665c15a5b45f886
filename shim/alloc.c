/* ums_alloc / ums_free: reserve a block-aligned range, register it with the
 * fault mechanism, and track its blocks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* Largest allocation accepted: keeps block counts and offsets far from overflow. */
#define UMS_MAX_ALLOC ((size_t)1 << 46)

static void alloc_release_memory(ums__alloc *a) {
    ums_runtime_t *rt = a->rt;
    if (a->blocks) {
        for (size_t i = 0; i < a->nblocks; i++) {
            ums__block *b = &a->blocks[i];
            for (unsigned j = 0; j < b->ndev; j++)
                ums__be_mem_free(rt, b->dev[j].loc, b->dev[j].mem, rt->block_size);
            pthread_mutex_destroy(&b->lock);
            pthread_cond_destroy(&b->cond);
        }
        free(a->blocks);
        ums__be_region_release(rt, a->base);
    }
    if (a->map_base) {
        rt->fops->unregister_range(rt, a->base, a->map_size);
        munmap(a->map_base, a->map_len);
    }
    free(a);
}

static ums_result ums_runtime_alloc_impl(ums_runtime_t *rt, size_t size, unsigned flags, void **ptr) {
    static const char fn[] = "ums_alloc";
    if (!ptr) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "ptr is NULL");
    if (size == 0) return ums__fail(fn, "core", UMS_ERR_BAD_SIZE, 0, "size is 0");
    if (size > UMS_MAX_ALLOC)
        return ums__fail(fn, "core", UMS_ERR_BAD_SIZE, 0, "size %zu exceeds the %zu-byte limit", size, UMS_MAX_ALLOC);
    if (flags & ~(unsigned)UMS_ALLOC_FLAGS_ALL)
        return ums__fail(fn, "core", UMS_ERR_UNKNOWN_FLAG, 0, "unknown flag bits 0x%x", flags & ~(unsigned)UMS_ALLOC_FLAGS_ALL);
    ums_result r = ums__runtime_resolve(&rt, fn);
    if (r != UMS_OK) return r;

    size_t bs = rt->block_size;
    ums__alloc *a = ums__calloc(1, sizeof *a);
    if (!a) return ums__fail(fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory");
    a->rt = rt;
    a->size = size;
    a->nblocks = (size + bs - 1) / bs;
    a->map_size = a->nblocks * bs;
    a->blocks = ums__calloc(a->nblocks, sizeof *a->blocks);
    if (!a->blocks) {
        size_t nb = a->nblocks;
        free(a);
        return ums__fail(fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory for %zu blocks", nb);
    }
    for (size_t i = 0; i < a->nblocks; i++) ums__block_init(&a->blocks[i], rt->host_default);

    /* Over-reserve so the base can be aligned to the block size (THP-friendly,
     * and block boundaries fall on aligned addresses). */
    size_t align = bs >= ((size_t)2 << 20) ? ((size_t)2 << 20) : bs;
    a->map_len = a->map_size + align;
    char *m = ums__sys_mmap(NULL, a->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        size_t want = a->map_len;
        a->map_len = 0;
        alloc_release_memory(a);
        return ums__fail(fn, "core", e == ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM, e, "mmap of %zu bytes: %s",
                         want, strerror(e));
    }
    uintptr_t aligned = ((uintptr_t)m + align - 1) / align * align;
    /* trim the slack at both ends */
    if (aligned > (uintptr_t)m) munmap(m, aligned - (uintptr_t)m);
    size_t tail = (uintptr_t)m + a->map_len - (aligned + a->map_size);
    if (tail) munmap((char *)aligned + a->map_size, tail);
    a->map_base = (char *)aligned;
    a->map_len = a->map_size;
    a->base = (char *)aligned;
    /* A child process does not inherit managed memory: see docs/DESIGN.md (fork). */
    madvise(a->base, a->map_size, MADV_DONTFORK);
    /* Huge pages (uffd mode, 2 MiB blocks): a fault on an untouched block then
     * leaves its page-middle entry empty, so the huge page that populates it is
     * moved in whole (see populate_huge in fault_uffd.c). */
    if (rt->thp) madvise(a->base, a->map_size, MADV_HUGEPAGE);

    r = rt->fops->register_range(rt, a->base, a->map_size);
    if (r != UMS_OK) {
        a->map_base = NULL; /* not registered: plain unmap */
        munmap(a->base, a->map_size);
        alloc_release_memory(a);
        return ums__fail_keep(fn, r);
    }
    if (flags & UMS_ALLOC_READ_MOSTLY)
        for (size_t i = 0; i < a->nblocks; i++) a->blocks[i].advice |= UMS_BLOCK_ADVICE_READ_MOSTLY;
    if (flags & UMS_ALLOC_POPULATE) {
        for (size_t i = 0; i < a->nblocks && r == UMS_OK; i++) {
            r = rt->fops->populate(rt, ums__block_addr(a, i), bs);
            a->blocks[i].populated = r == UMS_OK;
        }
        if (r != UMS_OK) {
            alloc_release_memory(a);
            return ums__fail_keep(fn, r);
        }
    }
    r = ums__registry_add(a);
    if (r != UMS_OK) {
        alloc_release_memory(a);
        return ums__fail(fn, "core", r, 0, "out of memory for the allocation registry");
    }
    pthread_mutex_lock(&rt->lock);
    a->next = rt->allocs;
    rt->allocs = a;
    rt->nallocs_live++;
    pthread_mutex_unlock(&rt->lock);
    *ptr = a->base;
    return UMS_OK;
}

UMS_API ums_result ums_alloc(size_t size, unsigned flags, void **ptr) { return ums_runtime_alloc(NULL, size, flags, ptr); }

void ums__alloc_destroy(ums__alloc *a) {
    ums_runtime_t *rt = a->rt;
    /* wait for migrations still running on its blocks */
    for (size_t i = 0; i < a->nblocks; i++) {
        ums__block *b = &a->blocks[i];
        pthread_mutex_lock(&b->lock);
        ums__block_wait_stable(b);
        pthread_mutex_unlock(&b->lock);
    }
    ums__registry_remove(a);
    pthread_mutex_lock(&rt->lock);
    for (ums__alloc **pp = &rt->allocs; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    rt->nallocs_live--;
    pthread_mutex_unlock(&rt->lock);
    alloc_release_memory(a);
}

static ums_result ums_free_impl(void *ptr) {
    ums__alloc *a;
    ums_result r = ums__registry_retire(ptr, __func__, &a);
    if (r != UMS_OK) return r;
    ums__alloc_destroy(a);
    return UMS_OK;
}

static ums_result ums_alloc_info_impl(const void *ptr, void **base, size_t *size, ums_runtime_t **rt) {
    ums__alloc *a;
    ums_result r = ums__alloc_get(ptr, 1, __func__, &a);
    if (r != UMS_OK) {
        /* ums__alloc_get reports OUT_OF_RANGE for the slack after size; still managed */
        if (r != UMS_ERR_OUT_OF_RANGE) return r;
        a = ums__registry_lookup(ptr);
        if (!a) return r;
        atomic_fetch_add(&a->refs, 1);
    }
    if (base) *base = a->base;
    if (size) *size = a->size;
    if (rt) *rt = a->rt;
    ums__alloc_put(a);
    return UMS_OK;
}

/* ---- public entry points: the last-error contract (ums__api_enter/leave) ---- */

UMS_API ums_result ums_runtime_alloc(ums_runtime_t *rt, size_t size, unsigned flags, void **ptr) {
    return UMS_API_CALL("ums_alloc", ums_runtime_alloc_impl(rt, size, flags, ptr));
}

UMS_API ums_result ums_free(void *ptr) {
    return UMS_API_CALL("ums_free", ums_free_impl(ptr));
}

UMS_API ums_result ums_alloc_info(const void *ptr, void **base, size_t *size, ums_runtime_t **rt) {
    return UMS_API_CALL("ums_alloc_info", ums_alloc_info_impl(ptr, base, size, rt));
}
