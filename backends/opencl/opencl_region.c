/*
 * Regions (backend ABI 1.1): every block copy of one managed allocation at one
 * location is a part of one parent buffer the size of the whole allocation, so
 * a kernel can take the allocation as a single cl_mem argument.
 *
 * - The parent is created on the first part (through the ordinary allocator,
 *   so it is pooled and counted against the capacity like any buffer) and
 *   released when the core calls region_release. A part is a small record over
 *   (parent, offset): transfers on it go to that range of the parent.
 * - An allocation larger than the device's largest buffer (or its capacity)
 *   cannot have a parent: its region is "split" and every part is a standalone
 *   buffer, as without regions. Migration still works; such an allocation
 *   cannot be a kernel argument as one buffer.
 * - A parent created in a context that is no longer the location's (the
 *   application attached its own) is replaced when the region has no part left.
 * - Whole-region commands (kernels using the parent, or the host buffer) are
 *   recorded as the region's events: every later transfer on a part waits for
 *   them (on the host, before it is enqueued), and region_release waits for
 *   them before the buffers go.
 * - The host buffer is a CL_MEM_USE_HOST_PTR buffer over the managed pages,
 *   for devices that use host memory in place (ACCESSED_BY advice).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "opencl_internal.h"

/* Execution status of an event: CL_COMPLETE (0), negative on failure, positive while pending. */
static cl_int status_of(cl_event ev) {
    cl_int st;
    if (UMS_CL(clGetEventInfo)(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL) != CL_SUCCESS)
        return CL_QUEUED; /* unknown: treat as pending */
    return st;
}

/* Caller holds loc->lock. */
static ums__opencl_region *region_find(ums__opencl_loc *loc, const void *base) {
    for (ums__opencl_region *r = loc->regions; r; r = r->next)
        if (r->base == base)
            return r;
    return NULL;
}

/* Find the region of `base`, creating it when `size` is not 0. Caller holds loc->lock. */
static ums_result region_get_locked(ums__opencl *cl, ums__opencl_loc *loc, const void *base, size_t size,
                                    ums__opencl_region **out) {
    ums__opencl_region *r = region_find(loc, base);
    if (r) {
        if (size && r->size != size)
            return ums__opencl_fail(cl, UMS_ERR_INVALID_ARG, 0,
                                    "%s: region %p is %zu bytes, not %zu (a region keeps its size until released)",
                                    loc->name, base, r->size, size);
        *out = r;
        return UMS_OK;
    }
    if (!size)
        return ums__opencl_fail(cl, UMS_ERR_NOT_MANAGED, 0, "%s: no region at %p", loc->name, base);
    r = calloc(1, sizeof *r);
    if (!r)
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "%s: out of host memory for a region", loc->name);
    r->base = base;
    r->size = size;
    r->loc = loc;
    pthread_mutex_init(&r->create_lock, NULL);
    pthread_mutex_init(&r->ev_lock, NULL);
    r->next = loc->regions;
    loc->regions = r;
    *out = r;
    return UMS_OK;
}

static ums_result check_index(ums__opencl *cl, uint32_t index) {
    if (index >= cl->nloc)
        return ums__opencl_fail(cl, UMS_ERR_UNKNOWN_LOCATION, 0, "location %" PRIu32 " of %" PRIu32, index, cl->nloc);
    return UMS_OK;
}

/* Wait for and release every event of a region (nobody else uses it any more). */
static void region_drain_events(ums__opencl_region *r) {
    pthread_mutex_lock(&r->ev_lock);
    unsigned n = r->nevents;
    cl_event evs[UMS__OPENCL_REGION_EVENTS];
    memcpy(evs, r->events, n * sizeof *evs);
    r->nevents = 0;
    pthread_mutex_unlock(&r->ev_lock);
    for (unsigned i = 0; i < n; i++) {
        ums__opencl_wait_event(evs[i], NULL);
        UMS_CL(clReleaseEvent)(evs[i]);
    }
}

static void region_destroy(ums__opencl_region *r) {
    if (r->host_buffer)
        UMS_CL(clReleaseMemObject)(r->host_buffer);
    pthread_mutex_destroy(&r->create_lock);
    pthread_mutex_destroy(&r->ev_lock);
    free(r);
}

/* Drop the events that are over. Caller holds r->ev_lock. */
static void prune_events_locked(ums__opencl_region *r) {
    unsigned w = 0;
    for (unsigned i = 0; i < r->nevents; i++) {
        if (status_of(r->events[i]) <= CL_COMPLETE)
            UMS_CL(clReleaseEvent)(r->events[i]);
        else
            r->events[w++] = r->events[i];
    }
    r->nevents = w;
}

ums_result ums__opencl_mem_alloc_region(void *backend, uint32_t index, const void *region, size_t region_size,
                                        size_t offset, size_t size, ums_devmem **out) {
    ums__opencl *cl = backend;
    if (!cl || !out || !region)
        return UMS_ERR_NULL_POINTER;
    *out = NULL;
    ums_result r = check_index(cl, index);
    if (r != UMS_OK)
        return r;
    ums__opencl_loc *loc = &cl->locs[index];
    if (size == 0 || region_size == 0)
        return ums__opencl_fail(cl, UMS_ERR_BAD_SIZE, 0, "%s: a region part of 0 bytes", loc->name);
    if (offset > region_size || size > region_size - offset)
        return ums__opencl_fail(cl, UMS_ERR_OUT_OF_RANGE, 0,
                                "%s: part [%zu, +%zu) lies outside the %zu-byte region", loc->name, offset, size,
                                region_size);

    ums__opencl_region *R;
    pthread_mutex_lock(&loc->lock);
    r = region_get_locked(cl, loc, region, region_size, &R);
    if (r == UMS_OK)
        R->nparts++; /* reserved: the region cannot be released under us */
    pthread_mutex_unlock(&loc->lock);
    if (r != UMS_OK)
        return r;

    pthread_mutex_lock(&R->create_lock);
    if (!R->split) {
        /* A parent of a context no longer in use is replaced once no part uses it. */
        ums_devmem *stale = NULL;
        pthread_mutex_lock(&loc->lock);
        if (R->parent && R->parent->domain != loc->domain && R->parts == NULL) {
            stale = R->parent;
            R->parent = NULL;
        }
        pthread_mutex_unlock(&loc->lock);
        if (stale)
            ums__opencl_mem_free(cl, stale);
        if (!R->parent) {
            if ((uint64_t)region_size > loc->max_alloc || (uint64_t)region_size > loc->capacity) {
                R->split = 1;
                ums__opencl_log(cl, UMS_LOG_INFO,
                                "%s: the %zu-byte allocation at %p exceeds the largest buffer (%" PRIu64
                                " bytes) or the capacity: its blocks get separate buffers",
                                loc->name, region_size, region, loc->max_alloc);
            } else {
                r = ums__opencl_mem_alloc(cl, index, region_size, &R->parent);
            }
        }
    }
    ums_devmem *m = NULL;
    if (r == UMS_OK && R->split) {
        r = ums__opencl_mem_alloc(cl, index, size, &m);
        if (r == UMS_OK)
            m->region = R;
    } else if (r == UMS_OK) {
        m = calloc(1, sizeof *m);
        if (!m) {
            r = ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "%s: out of host memory", loc->name);
        } else {
            m->loc = loc;
            m->domain = R->parent->domain;
            m->buffer = R->parent->buffer;
            m->size = size;
            m->offset = offset;
            m->borrowed = 1;
            m->region = R;
            pthread_mutex_init(&m->lock, NULL);
            pthread_mutex_lock(&loc->lock);
            m->prev = NULL;
            m->next = R->parts;
            if (R->parts)
                R->parts->prev = m;
            R->parts = m;
            pthread_mutex_unlock(&loc->lock);
        }
    }
    pthread_mutex_unlock(&R->create_lock);
    if (r != UMS_OK) {
        pthread_mutex_lock(&loc->lock);
        R->nparts--;
        pthread_mutex_unlock(&loc->lock);
        return r;
    }
    *out = m;
    return UMS_OK;
}

void ums__opencl_part_free(ums__opencl *cl, ums_devmem *mem) {
    ums__opencl_region *R = mem->region;
    ums__opencl_loc *loc = mem->loc;
    if (!mem->borrowed) {
        pthread_mutex_lock(&loc->lock);
        R->nparts--;
        pthread_mutex_unlock(&loc->lock);
        mem->region = NULL;
        return;
    }
    cl_int err = ums__opencl_mem_drain(mem);
    if (err != CL_SUCCESS)
        ums__opencl_log(cl, UMS_LOG_WARN, "%s: a transfer on a freed region part failed: %s (%d)", loc->name,
                        ums__opencl_error_name(err), (int)err);
    pthread_mutex_lock(&loc->lock);
    if (mem->prev)
        mem->prev->next = mem->next;
    else
        R->parts = mem->next;
    if (mem->next)
        mem->next->prev = mem->prev;
    R->nparts--;
    pthread_mutex_unlock(&loc->lock);
    pthread_mutex_destroy(&mem->lock);
    free(mem);
}

void ums__opencl_region_release(void *backend, uint32_t index, const void *region) {
    ums__opencl *cl = backend;
    if (!cl || index >= cl->nloc || !region)
        return;
    ums__opencl_loc *loc = &cl->locs[index];
    pthread_mutex_lock(&loc->lock);
    ums__opencl_region *R = region_find(loc, region);
    if (R && R->nparts) {
        unsigned n = R->nparts;
        pthread_mutex_unlock(&loc->lock);
        ums__opencl_log(cl, UMS_LOG_WARN, "%s: region %p released with %u parts still allocated; kept until shutdown",
                        loc->name, region, n);
        return;
    }
    if (R) {
        for (ums__opencl_region **pp = &loc->regions; *pp; pp = &(*pp)->next)
            if (*pp == R) {
                *pp = R->next;
                break;
            }
    }
    pthread_mutex_unlock(&loc->lock);
    if (!R)
        return;
    /* Kernels that use the buffers (or the host pages) finish before they go. */
    region_drain_events(R);
    if (R->parent)
        ums__opencl_mem_free(cl, R->parent);
    region_destroy(R);
}

void ums__opencl_loc_release_regions(ums__opencl *cl, ums__opencl_loc *loc) {
    pthread_mutex_lock(&loc->lock);
    ums__opencl_region *list = loc->regions;
    loc->regions = NULL;
    pthread_mutex_unlock(&loc->lock);
    while (list) {
        ums__opencl_region *R = list;
        list = R->next;
        if (R->nparts)
            ums__opencl_log(cl, UMS_LOG_WARN, "%s: region %p still had %u parts at shutdown", loc->name, R->base,
                            R->nparts);
        region_drain_events(R);
        while (R->parts) {
            ums_devmem *m = R->parts;
            R->parts = m->next;
            ums__opencl_mem_drain(m);
            pthread_mutex_destroy(&m->lock);
            free(m);
        }
        /* The parent stays on the live list: loc_release_all releases it. */
        region_destroy(R);
    }
}

cl_int ums__opencl_region_sync(ums__opencl *cl, ums_devmem *mem) {
    ums__opencl_region *R = mem->region;
    if (!R)
        return CL_SUCCESS;
    cl_int result = CL_SUCCESS;
    for (;;) {
        cl_event evs[UMS__OPENCL_REGION_EVENTS];
        unsigned n = 0;
        pthread_mutex_lock(&R->ev_lock);
        prune_events_locked(R);
        for (unsigned i = 0; i < R->nevents; i++) {
            if (UMS_CL(clRetainEvent)(R->events[i]) == CL_SUCCESS)
                evs[n++] = R->events[i];
            else
                /* Cannot hold it past the lock: wait here (the region still holds
                 * it), or the transfer would run beside the kernel. */
                ums__opencl_wait_event(R->events[i], NULL);
        }
        pthread_mutex_unlock(&R->ev_lock);
        if (n == 0)
            return result;
        for (unsigned i = 0; i < n; i++) {
            cl_int err = ums__opencl_wait_event(evs[i], NULL);
            if (err != CL_SUCCESS) {
                ums__opencl_log(cl, UMS_LOG_WARN, "%s: a kernel on region %p ended with %s (%d)", mem->loc->name,
                                R->base, ums__opencl_error_name(err), (int)err);
                result = err;
                /* Over, even if badly: forget it so the transfer can proceed. */
                pthread_mutex_lock(&R->ev_lock);
                for (unsigned j = 0; j < R->nevents; j++)
                    if (R->events[j] == evs[i]) {
                        UMS_CL(clReleaseEvent)(R->events[j]);
                        R->events[j] = R->events[--R->nevents];
                        break;
                    }
                pthread_mutex_unlock(&R->ev_lock);
            }
            UMS_CL(clReleaseEvent)(evs[i]);
        }
    }
}

/* ---- the interop side (opencl_backend.h) ---------------------------------- */

ums_result ums__opencl_region_get(ums__opencl *cl, uint32_t index, const void *base, ums__opencl_region_info *out) {
    if (!cl || !base || !out)
        return UMS_ERR_NULL_POINTER;
    ums_result r = check_index(cl, index);
    if (r != UMS_OK)
        return r;
    ums__opencl_loc *loc = &cl->locs[index];
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&loc->lock);
    ums__opencl_region *R = region_find(loc, base);
    if (R) {
        out->exists = 1;
        out->size = R->size;
        out->split = R->split;
        out->parts = R->nparts;
        if (R->parent) {
            out->buffer = R->parent->buffer;
            out->context = R->parent->domain->context;
        }
    }
    out->location_context = loc->domain->context;
    pthread_mutex_unlock(&loc->lock);
    return UMS_OK;
}

ums_result ums__opencl_region_pending(ums__opencl *cl, uint32_t index, const void *base, cl_event **events,
                                      size_t *count) {
    if (!cl || !base || !events || !count)
        return UMS_ERR_NULL_POINTER;
    *events = NULL;
    *count = 0;
    ums_result r = check_index(cl, index);
    if (r != UMS_OK)
        return r;
    ums__opencl_loc *loc = &cl->locs[index];
    /* Snapshot the parts' pending commands under the location's lock (parts cannot go meanwhile). */
    pthread_mutex_lock(&loc->lock);
    ums__opencl_region *R = region_find(loc, base);
    size_t cap = R ? R->nparts : 0, n = 0;
    cl_event *list = cap ? malloc(cap * sizeof *list) : NULL;
    if (cap && !list) {
        pthread_mutex_unlock(&loc->lock);
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "%s: out of host memory", loc->name);
    }
    for (ums_devmem *m = R ? R->parts : NULL; m && n < cap; m = m->next) {
        pthread_mutex_lock(&m->lock);
        if (m->last && status_of(m->last) <= CL_COMPLETE) {
            UMS_CL(clReleaseEvent)(m->last);
            m->last = NULL;
        }
        if (m->last && UMS_CL(clRetainEvent)(m->last) == CL_SUCCESS) {
            list[n++] = m->last;
            ums__opencl_event_handed_out();
        } else if (m->last) {
            /* Cannot hand it out: let it finish instead, so the kernel that
             * would have waited for it does not start before it. */
            ums__opencl_wait_event(m->last, ums__opencl_mem_queue(m));
            UMS_CL(clReleaseEvent)(m->last);
            m->last = NULL;
        }
        pthread_mutex_unlock(&m->lock);
    }
    pthread_mutex_unlock(&loc->lock);
    if (n == 0) {
        free(list);
        list = NULL;
    }
    *events = list;
    *count = n;
    return UMS_OK;
}

ums_result ums__opencl_region_add_event(ums__opencl *cl, uint32_t index, const void *base, size_t size,
                                        cl_event ev) {
    if (!cl || !base || !ev)
        return UMS_ERR_NULL_POINTER;
    ums_result r = check_index(cl, index);
    if (r != UMS_OK)
        return r;
    ums__opencl_loc *loc = &cl->locs[index];
    cl_int err;
    ums__opencl_region *R;
    pthread_mutex_lock(&loc->lock);
    r = region_get_locked(cl, loc, base, size, &R);
    pthread_mutex_unlock(&loc->lock);
    if (r != UMS_OK)
        return r;
    if ((err = UMS_CL(clRetainEvent)(ev)) != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clRetainEvent", loc);
    cl_event oldest = NULL;
    pthread_mutex_lock(&R->ev_lock);
    prune_events_locked(R);
    if (R->nevents == UMS__OPENCL_REGION_EVENTS) {
        /* Full: the oldest is waited for (below) before its slot is reused. */
        oldest = R->events[0];
        memmove(R->events, R->events + 1, (R->nevents - 1) * sizeof *R->events);
        R->nevents--;
    }
    R->events[R->nevents++] = ev;
    pthread_mutex_unlock(&R->ev_lock);
    if (oldest) {
        ums__opencl_wait_event(oldest, NULL);
        UMS_CL(clReleaseEvent)(oldest);
    }
    return UMS_OK;
}

ums_result ums__opencl_region_host_buffer(ums__opencl *cl, uint32_t index, void *base, size_t size, cl_mem *buffer,
                                          cl_context *context) {
    if (!cl || !base || !buffer)
        return UMS_ERR_NULL_POINTER;
    *buffer = NULL;
    ums_result r = check_index(cl, index);
    if (r != UMS_OK)
        return r;
    ums__opencl_loc *loc = &cl->locs[index];
    if (size == 0)
        return ums__opencl_fail(cl, UMS_ERR_BAD_SIZE, 0, "%s: a host buffer of 0 bytes", loc->name);
    if ((uint64_t)size > loc->max_alloc)
        return ums__opencl_fail(cl, UMS_ERR_BAD_SIZE, 0,
                                "%s: %zu bytes exceed the largest buffer the device allows (%" PRIu64 ")", loc->name,
                                size, loc->max_alloc);
    ums__opencl_region *R;
    pthread_mutex_lock(&loc->lock);
    r = region_get_locked(cl, loc, base, size, &R);
    ums__opencl_domain *dom = loc->domain;
    pthread_mutex_unlock(&loc->lock);
    if (r != UMS_OK)
        return r;
    pthread_mutex_lock(&R->create_lock);
    if (R->host_buffer && R->host_context != dom->context) {
        /* Made for a context no longer in use: OpenCL keeps it while kernels still use it. */
        UMS_CL(clReleaseMemObject)(R->host_buffer);
        R->host_buffer = NULL;
    }
    if (!R->host_buffer) {
        cl_int err = CL_SUCCESS;
        R->host_buffer =
            UMS_CL(clCreateBuffer)(dom->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, size, base, &err);
        if (!R->host_buffer)
            r = ums__opencl_fail_cl(cl, err ? err : CL_MEM_OBJECT_ALLOCATION_FAILURE,
                                    "clCreateBuffer(CL_MEM_USE_HOST_PTR)", loc);
        else
            R->host_context = dom->context;
    }
    if (r == UMS_OK) {
        *buffer = R->host_buffer;
        if (context)
            *context = R->host_context;
    }
    pthread_mutex_unlock(&R->create_lock);
    return r;
}
