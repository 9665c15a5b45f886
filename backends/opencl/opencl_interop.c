/*
 * The entry points of opencl_backend.h that serve OpenCL interop: what lies
 * behind a buffer, a location's OpenCL objects, adopting an application's
 * context and queues, and ordering against application events.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "opencl_internal.h"

ums_result ums__opencl_mem_get(ums__opencl *cl, const ums_devmem *mem, ums__opencl_mem_info *out) {
    if (!cl || !mem || !out)
        return UMS_ERR_NULL_POINTER;
    out->buffer = mem->buffer;
    out->offset = mem->offset;
    out->size = mem->size;
    out->location = mem->loc->index;
    out->context = mem->domain->context;
    out->queue = ums__opencl_mem_queue(mem);
    return UMS_OK;
}

ums_result ums__opencl_mem_pending(ums__opencl *cl, ums_devmem *mem, cl_event *ev) {
    if (!cl || !mem || !ev)
        return UMS_ERR_NULL_POINTER;
    *ev = NULL;
    ums_result r = UMS_OK;
    pthread_mutex_lock(&mem->lock);
    if (mem->last) {
        cl_int st;
        cl_int err = UMS_CL(clGetEventInfo)(mem->last, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL);
        if (err == CL_SUCCESS && st <= CL_COMPLETE) {
            UMS_CL(clReleaseEvent)(mem->last);
            mem->last = NULL;
        } else if ((err = UMS_CL(clRetainEvent)(mem->last)) == CL_SUCCESS) {
            *ev = mem->last;
            ums__opencl_event_handed_out();
        } else {
            r = ums__opencl_fail_cl(cl, err, "clRetainEvent", mem->loc);
        }
    }
    pthread_mutex_unlock(&mem->lock);
    return r;
}

ums_result ums__opencl_mem_after_event(ums__opencl *cl, ums_devmem *mem, cl_event ev) {
    if (!cl || !mem || !ev)
        return UMS_ERR_NULL_POINTER;
    cl_context ctx = NULL;
    cl_int err = UMS_CL(clGetEventInfo)(ev, CL_EVENT_CONTEXT, sizeof ctx, &ctx, NULL);
    if (err != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clGetEventInfo(CL_EVENT_CONTEXT)", mem->loc);
    if (ctx != mem->domain->context)
        return ums__opencl_event_wait(cl, ev); /* cannot chain across contexts */

    /* A marker that waits for both the buffer's last command and `ev` becomes the new last. */
    cl_command_queue q = ums__opencl_mem_queue(mem);
    cl_event wait[2], marker = NULL;
    cl_uint nwait = 0;
    pthread_mutex_lock(&mem->lock);
    if (mem->last)
        wait[nwait++] = mem->last;
    wait[nwait++] = ev;
    err = UMS_CL(clEnqueueMarkerWithWaitList)(q, nwait, wait, &marker);
    if (err == CL_SUCCESS) {
        if (mem->last)
            UMS_CL(clReleaseEvent)(mem->last);
        mem->last = marker;
    }
    pthread_mutex_unlock(&mem->lock);
    if (err != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clEnqueueMarkerWithWaitList", mem->loc);
    if ((err = UMS_CL(clFlush)(q)) != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clFlush", mem->loc);
    return UMS_OK;
}

ums_result ums__opencl_location_get(ums__opencl *cl, uint32_t index, cl_context *context, cl_device_id *device,
                                    cl_command_queue *queue) {
    if (!cl)
        return UMS_ERR_NULL_POINTER;
    if (index >= cl->nloc)
        return ums__opencl_fail(cl, UMS_ERR_UNKNOWN_LOCATION, 0, "location %" PRIu32 " of %" PRIu32, index, cl->nloc);
    ums__opencl_loc *loc = &cl->locs[index];
    pthread_mutex_lock(&loc->lock);
    ums__opencl_domain *dom = loc->domain;
    pthread_mutex_unlock(&loc->lock);
    if (context)
        *context = dom->context;
    if (device)
        *device = loc->device;
    if (queue)
        *queue = dom->queues[index];
    return UMS_OK;
}

ums_result ums__opencl_location_streams(ums__opencl *cl, uint32_t index, unsigned *streams) {
    if (!cl || !streams)
        return UMS_ERR_NULL_POINTER;
    if (index >= cl->nloc)
        return ums__opencl_fail(cl, UMS_ERR_UNKNOWN_LOCATION, 0, "location %" PRIu32 " of %" PRIu32, index, cl->nloc);
    *streams = cl->locs[index].streams; /* immutable after init */
    return UMS_OK;
}

static int find_device(const ums__opencl *cl, cl_device_id device) {
    for (uint32_t i = 0; i < cl->nloc; i++)
        if (cl->locs[i].device == device)
            return (int)i;
    return -1;
}

ums_result ums__opencl_location_of_device(ums__opencl *cl, cl_device_id device, uint32_t *index) {
    if (!cl || !device || !index)
        return UMS_ERR_NULL_POINTER;
    int i = find_device(cl, device);
    if (i < 0)
        return ums__opencl_fail(cl, UMS_ERR_UNKNOWN_LOCATION, 0, "the OpenCL device is not one of the backend's");
    *index = (uint32_t)i;
    return UMS_OK;
}

/* Build the domain of an application context (not yet published). */
static ums_result attach_domain(ums__opencl *cl, cl_context context, const cl_command_queue *queues, size_t n,
                                ums__opencl_domain *dom) {
    size_t size = 0;
    cl_int err = UMS_CL(clGetContextInfo)(context, CL_CONTEXT_DEVICES, 0, NULL, &size);
    if (err != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clGetContextInfo(CL_CONTEXT_DEVICES)", NULL);
    size_t ndev = size / sizeof(cl_device_id);
    cl_device_id *devs = malloc(size ? size : 1);
    if (!devs)
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of host memory attaching a context");
    if ((err = UMS_CL(clGetContextInfo)(context, CL_CONTEXT_DEVICES, size, devs, NULL)) != CL_SUCCESS) {
        free(devs);
        return ums__opencl_fail_cl(cl, err, "clGetContextInfo(CL_CONTEXT_DEVICES)", NULL);
    }
    /* in[i]: location i is a device of the context. */
    char in[UMS_MAX_LOCATIONS] = {0};
    size_t matched = 0;
    for (size_t d = 0; d < ndev; d++) {
        int i = find_device(cl, devs[d]);
        if (i >= 0 && !in[i]) {
            in[i] = 1;
            matched++;
        }
    }
    free(devs);
    if (matched == 0)
        return ums__opencl_fail(cl, UMS_ERR_UNKNOWN_LOCATION, 0,
                                "none of the context's %zu devices is an opencl backend location", ndev);

    for (size_t k = 0; k < n; k++) {
        cl_context qctx = NULL;
        cl_device_id qdev = NULL;
        if (!queues[k])
            return ums__opencl_fail(cl, UMS_ERR_NULL_POINTER, 0, "queue %zu is NULL", k);
        if ((err = UMS_CL(clGetCommandQueueInfo)(queues[k], CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL)) !=
                CL_SUCCESS ||
            (err = UMS_CL(clGetCommandQueueInfo)(queues[k], CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL)) != CL_SUCCESS)
            return ums__opencl_fail_cl(cl, err, "clGetCommandQueueInfo", NULL);
        if (qctx != context)
            return ums__opencl_fail(cl, UMS_ERR_INVALID_ARG, 0, "queue %zu belongs to another context", k);
        int i = find_device(cl, qdev);
        if (i < 0 || !in[i])
            continue; /* a device the backend does not manage: not ours to use */
        if (dom->queues[i])
            return ums__opencl_fail(cl, UMS_ERR_INVALID_ARG, 0, "two queues given for %s", cl->locs[i].name);
        if ((err = UMS_CL(clRetainCommandQueue)(queues[k])) != CL_SUCCESS)
            return ums__opencl_fail_cl(cl, err, "clRetainCommandQueue", &cl->locs[i]);
        dom->queues[i] = queues[k];
    }
    for (uint32_t i = 0; i < cl->nloc; i++) {
        if (!in[i] || dom->queues[i])
            continue;
        if ((err = ums__opencl_create_queue(context, &cl->locs[i], &dom->queues[i])) != CL_SUCCESS)
            return ums__opencl_fail_cl(cl, err, "creating a command queue", &cl->locs[i]);
    }
    if ((err = UMS_CL(clRetainContext)(context)) != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clRetainContext", NULL);
    dom->context = context;
    /* the backend's own further queues for large transfers, beside the application's */
    for (uint32_t i = 0; i < cl->nloc; i++)
        if (in[i])
            ums__opencl_create_side_queues(cl, dom, &cl->locs[i]);
    return UMS_OK;
}

ums_result ums__opencl_attach(ums__opencl *cl, cl_context context, const cl_command_queue *queues, size_t n) {
    if (!cl || !context || (n && !queues))
        return UMS_ERR_NULL_POINTER;

    pthread_mutex_lock(&cl->lock);
    for (ums__opencl_domain *d = cl->domains; d; d = d->next) {
        if (d->context == context) {
            pthread_mutex_unlock(&cl->lock);
            return ums__opencl_fail(cl, UMS_ERR_BUSY, 0, "this OpenCL context is already attached");
        }
    }
    ums__opencl_domain *dom = calloc(1, sizeof *dom);
    if (dom)
        dom->queues = calloc(cl->nloc ? cl->nloc : 1, sizeof *dom->queues);
    if (!dom || !dom->queues) {
        free(dom);
        pthread_mutex_unlock(&cl->lock);
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of host memory attaching a context");
    }
    dom->attached = 1;
    ums_result r = attach_domain(cl, context, queues, n, dom);
    if (r != UMS_OK) {
        ums__opencl_domain_destroy(cl, dom);
        pthread_mutex_unlock(&cl->lock);
        return r;
    }
    dom->next = cl->domains;
    cl->domains = dom;
    for (uint32_t i = 0; i < cl->nloc; i++) {
        if (!dom->queues[i])
            continue;
        ums__opencl_loc *loc = &cl->locs[i];
        pthread_mutex_lock(&loc->lock);
        loc->domain = dom;
        ums__opencl_pool_drop_stale(loc);
        pthread_mutex_unlock(&loc->lock);
        ums__opencl_log(cl, UMS_LOG_INFO, "%s: new buffers go to the application's context", loc->name);
    }
    pthread_mutex_unlock(&cl->lock);
    return UMS_OK;
}

ums_result ums__opencl_event_wait(ums__opencl *cl, cl_event ev) {
    if (!cl || !ev)
        return UMS_ERR_NULL_POINTER;
    cl_int err = ums__opencl_wait_event(ev, NULL);
    return err == CL_SUCCESS ? UMS_OK : ums__opencl_fail_cl(cl, err, "waiting for an application event", NULL);
}

ums_result ums__opencl_fence_from_event(ums__opencl *cl, cl_event ev, ums_fence **fence) {
    if (!cl || !ev || !fence)
        return UMS_ERR_NULL_POINTER;
    *fence = NULL;
    ums_fence *f = calloc(1, sizeof *f);
    if (!f)
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of host memory for a fence");
    cl_int err = UMS_CL(clRetainEvent)(ev);
    if (err != CL_SUCCESS) {
        free(f);
        return ums__opencl_fail_cl(cl, err, "clRetainEvent", NULL);
    }
    f->events[0] = ev;
    f->n = 1;
    *fence = f;
    return UMS_OK;
}
