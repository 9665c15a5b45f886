/*
 * Device memory: one cl_mem per allocation, a per-location pool of freed
 * buffers, and capacity accounting. (Parts of a region's buffer, ABI 1.1, are
 * in opencl_region.c; their parent buffers are allocated here like any other.)
 *
 * Why a pool: a fresh buffer pays for its first touch (POCL faults its pages in
 * at 0.4-3 GB/s against ~10 GB/s for a warm one), and the core allocates and
 * frees block-sized buffers on every migration. A freed buffer is kept (up to
 * the `pool` limit) and handed out again for a request of the same size; the
 * core's requests are almost all one block size, so exact sizes suffice.
 *
 * Accounting: `used` counts live allocations and is what `capacity` reports
 * and what the capacity limit applies to. Pooled bytes also occupy the device,
 * so an allocation that would not fit beside them releases pooled buffers first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "opencl_internal.h"

static void list_push(ums_devmem **head, ums_devmem *m) {
    m->prev = NULL;
    m->next = *head;
    if (*head)
        (*head)->prev = m;
    *head = m;
}

static void list_unlink(ums_devmem **head, ums_devmem *m) {
    if (m->prev)
        m->prev->next = m->next;
    else
        *head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    m->prev = m->next = NULL;
}

/* Release a buffer the backend no longer tracks (no command pending on it). */
static void devmem_destroy(ums_devmem *m) {
    if (m->last)
        UMS_CL(clReleaseEvent)(m->last);
    if (m->buffer && !m->borrowed)
        UMS_CL(clReleaseMemObject)(m->buffer);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static void destroy_chain(ums_devmem *m) {
    while (m) {
        ums_devmem *next = m->next;
        devmem_destroy(m);
        m = next;
    }
}

/* Move pooled buffers to `victims` until `need` more bytes fit beside the rest
 * (need = UINT64_MAX empties the pool). Caller holds loc->lock. */
static void pool_shrink(ums__opencl_loc *loc, uint64_t limit, uint64_t need, ums_devmem **victims) {
    while (loc->pool && (need == UINT64_MAX || loc->pooled + need > limit)) {
        /* The oldest buffer is at the tail. */
        ums_devmem *m = loc->pool;
        while (m->next)
            m = m->next;
        list_unlink(&loc->pool, m);
        loc->pooled -= m->size;
        list_push(victims, m);
    }
}

void ums__opencl_pool_drop_stale(ums__opencl_loc *loc) {
    ums_devmem *m = loc->pool;
    while (m) {
        ums_devmem *next = m->next;
        if (m->domain != loc->domain) {
            list_unlink(&loc->pool, m);
            loc->pooled -= m->size;
            devmem_destroy(m);
        }
        m = next;
    }
}

/* A pooled buffer of exactly `size` bytes in the current domain, or NULL. Caller holds loc->lock. */
static ums_devmem *pool_take(ums__opencl_loc *loc, size_t size) {
    for (ums_devmem *m = loc->pool; m; m = m->next) {
        if (m->size == size && m->domain == loc->domain) {
            list_unlink(&loc->pool, m);
            loc->pooled -= size;
            return m;
        }
    }
    return NULL;
}

static int is_out_of_memory(cl_int err) {
    return err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY;
}

ums_result ums__opencl_mem_alloc(void *backend, uint32_t index, size_t size, ums_devmem **out) {
    ums__opencl *cl = backend;
    if (!cl || !out)
        return UMS_ERR_NULL_POINTER;
    *out = NULL;
    if (index >= cl->nloc)
        return ums__opencl_fail(cl, UMS_ERR_UNKNOWN_LOCATION, 0, "location %" PRIu32 " of %" PRIu32, index, cl->nloc);
    ums__opencl_loc *loc = &cl->locs[index];
    if (size == 0)
        return ums__opencl_fail(cl, UMS_ERR_BAD_SIZE, 0, "%s: cannot allocate 0 bytes", loc->name);
    if ((uint64_t)size > loc->max_alloc)
        return ums__opencl_fail(cl, UMS_ERR_BAD_SIZE, 0,
                                "%s: %zu bytes exceed the largest buffer the device allows (%" PRIu64 ")", loc->name,
                                size, loc->max_alloc);

    ums_devmem *victims = NULL;
    pthread_mutex_lock(&loc->lock);
    if ((uint64_t)size > loc->capacity - loc->used) {
        uint64_t used = loc->used;
        pthread_mutex_unlock(&loc->lock);
        return ums__opencl_fail(cl, UMS_ERR_NO_DEVICE_MEMORY, 0,
                                "%s: %zu bytes requested, %" PRIu64 " of %" PRIu64 " bytes in use", loc->name, size,
                                used, loc->capacity);
    }
    ums_devmem *m = pool_take(loc, size);
    if (m) {
        loc->used += size;
        list_push(&loc->live, m);
        pthread_mutex_unlock(&loc->lock);
        *out = m;
        return UMS_OK;
    }
    /* Make room beside the pool, reserve the bytes, then create outside the lock. */
    pool_shrink(loc, loc->capacity - loc->used, size, &victims);
    loc->used += size;
    ums__opencl_domain *dom = loc->domain;
    pthread_mutex_unlock(&loc->lock);
    destroy_chain(victims);
    victims = NULL;

    ums_result r = UMS_OK;
    m = calloc(1, sizeof *m);
    if (!m) {
        r = ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "%s: out of host memory", loc->name);
    } else {
        m->loc = loc;
        m->domain = dom;
        m->size = size;
        pthread_mutex_init(&m->lock, NULL);
        cl_int err = CL_SUCCESS;
        /* Never CL_MEM_USE_HOST_PTR: the buffer must be the device's own memory. */
        m->buffer = UMS_CL(clCreateBuffer)(dom->context, CL_MEM_READ_WRITE, size, NULL, &err);
        if (!m->buffer && is_out_of_memory(err)) {
            /* The device may count our pooled buffers against us: give them back and retry once. */
            pthread_mutex_lock(&loc->lock);
            pool_shrink(loc, 0, UINT64_MAX, &victims);
            pthread_mutex_unlock(&loc->lock);
            if (victims) {
                destroy_chain(victims);
                err = CL_SUCCESS;
                m->buffer = UMS_CL(clCreateBuffer)(dom->context, CL_MEM_READ_WRITE, size, NULL, &err);
            }
        }
        if (!m->buffer) {
            r = ums__opencl_fail_cl(cl, err ? err : CL_MEM_OBJECT_ALLOCATION_FAILURE, "clCreateBuffer", loc);
            devmem_destroy(m);
            m = NULL;
        }
    }
    pthread_mutex_lock(&loc->lock);
    if (m)
        list_push(&loc->live, m);
    else
        loc->used -= size;
    pthread_mutex_unlock(&loc->lock);
    *out = m;
    return r;
}

void ums__opencl_mem_free(void *backend, ums_devmem *mem) {
    ums__opencl *cl = backend;
    if (!cl || !mem)
        return;
    if (mem->region) {
        /* A part: a borrowed one is gone after this; a standalone one continues as a plain buffer. */
        int borrowed = mem->borrowed;
        ums__opencl_part_free(cl, mem);
        if (borrowed)
            return;
    }
    ums__opencl_loc *loc = mem->loc;
    cl_int err = ums__opencl_mem_drain(mem);
    if (err != CL_SUCCESS)
        ums__opencl_log(cl, UMS_LOG_WARN, "%s: a transfer on a freed buffer failed: %s (%d)", loc->name,
                        ums__opencl_error_name(err), (int)err);

    ums_devmem *victims = NULL;
    pthread_mutex_lock(&loc->lock);
    list_unlink(&loc->live, mem);
    loc->used -= mem->size;
    /* Keep it for reuse unless its last transfer failed (its state is unknown), it
     * belongs to a context no longer used for new buffers, or it would not fit. */
    if (err == CL_SUCCESS && mem->domain == loc->domain && mem->size <= cl->pool_limit) {
        pool_shrink(loc, cl->pool_limit, mem->size, &victims);
        list_push(&loc->pool, mem);
        loc->pooled += mem->size;
    } else {
        list_push(&victims, mem);
    }
    pthread_mutex_unlock(&loc->lock);
    destroy_chain(victims);
}

ums_result ums__opencl_capacity(void *backend, uint32_t index, uint64_t *used, uint64_t *total) {
    ums__opencl *cl = backend;
    if (!cl || !used || !total)
        return UMS_ERR_NULL_POINTER;
    if (index >= cl->nloc)
        return ums__opencl_fail(cl, UMS_ERR_UNKNOWN_LOCATION, 0, "location %" PRIu32 " of %" PRIu32, index, cl->nloc);
    ums__opencl_loc *loc = &cl->locs[index];
    pthread_mutex_lock(&loc->lock);
    *used = loc->used;
    *total = loc->capacity;
    pthread_mutex_unlock(&loc->lock);
    return UMS_OK;
}

void ums__opencl_loc_release_all(ums__opencl *cl, ums__opencl_loc *loc) {
    ums_devmem *victims = NULL;
    size_t leaked = 0;
    pthread_mutex_lock(&loc->lock);
    pool_shrink(loc, 0, UINT64_MAX, &victims);
    while (loc->live) {
        ums_devmem *m = loc->live;
        list_unlink(&loc->live, m);
        loc->used -= m->size;
        list_push(&victims, m);
        leaked++;
    }
    pthread_mutex_unlock(&loc->lock);
    if (leaked)
        ums__opencl_log(cl, UMS_LOG_WARN, "%s: %zu buffers were still allocated at shutdown", loc->name, leaked);
    for (ums_devmem *m = victims; m; m = m->next)
        ums__opencl_mem_drain(m);
    destroy_chain(victims);
}
