/*
 * Transfers: host → device, device → host and device → device, each one
 * non-blocking OpenCL command whose event becomes a fence, or is waited for
 * when the caller asked for no fence. A transfer of several adjacent parts
 * (copy_to_many, copy_from_many) is one command per copy stream of its
 * location (loc->streams), each on its own queue, and its fence holds each
 * piece's event.
 *
 * The host side of a transfer is only ever read (uploads) or written (downloads)
 * by the OpenCL runtime's own copy: the backend never maps, protects or touches
 * it, so other CPU threads may keep reading an upload's source meanwhile (the
 * core's readable-during-migration protocol relies on that). The host memory
 * must stay valid until the fence completes.
 *
 * Ordering: every command on a part waits for the previous command on it
 * (ums_devmem.last), so transfers on one part are serialised even across
 * queues (a part's piece may be on another stream from one call to the
 * next). Every command is flushed as soon as it is enqueued, so a command on
 * another queue that waits for it can always make progress.
 *
 * Errors: a failed call returns with nothing pending; if a command was already
 * enqueued, it is waited for before returning, so a caller that aborts may free
 * or reuse its host memory at once.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opencl_internal.h"

/* Status of an event's command: CL_COMPLETE (0), negative on failure, positive while
 * pending; `fallback` when it cannot be queried. */
static cl_int event_status(cl_event ev, cl_int fallback) {
    cl_int st;
    if (UMS_CL(clGetEventInfo)(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL) != CL_SUCCESS)
        return fallback;
    return st;
}

cl_int ums__opencl_wait_event(cl_event ev, cl_command_queue queue) {
    cl_int err = UMS_CL(clWaitForEvents)(1, &ev);
    if (err == CL_SUCCESS)
        return CL_SUCCESS;
    if (err != CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) {
        /* The wait itself failed: the command may still run. Make sure it is over
         * before anyone reuses the host memory it reads or writes. */
        if (!queue || UMS_CL(clFinish)(queue) != CL_SUCCESS) {
            const struct timespec pause = {0, 100000};
            while (event_status(ev, CL_COMPLETE) > CL_COMPLETE)
                nanosleep(&pause, NULL);
        }
    }
    cl_int st = event_status(ev, err);
    return st < 0 ? st : err;
}

/* Put mem's last command in a wait list if it may still be pending; forget it
 * once it is over. Caller holds mem->lock. */
static void wait_for_last(ums_devmem *mem, cl_event *list, cl_uint *n) {
    if (!mem->last)
        return;
    if (event_status(mem->last, CL_QUEUED) <= CL_COMPLETE) {
        UMS_CL(clReleaseEvent)(mem->last);
        mem->last = NULL;
        return;
    }
    list[(*n)++] = mem->last;
}

/* Remember `ev` (enqueued on `queue`) as mem's last command. Caller holds mem->lock. */
static void remember(ums_devmem *mem, cl_event ev, cl_command_queue queue) {
    if (mem->last) {
        UMS_CL(clReleaseEvent)(mem->last);
        mem->last = NULL;
    }
    if (UMS_CL(clRetainEvent)(ev) == CL_SUCCESS)
        mem->last = ev;
    else
        ums__opencl_wait_event(ev, queue); /* cannot track it: let it finish instead */
}

cl_int ums__opencl_mem_drain(ums_devmem *mem) {
    pthread_mutex_lock(&mem->lock);
    cl_event ev = mem->last;
    mem->last = NULL;
    pthread_mutex_unlock(&mem->lock);
    if (!ev)
        return CL_SUCCESS;
    cl_int err = ums__opencl_wait_event(ev, ums__opencl_mem_queue(mem));
    UMS_CL(clReleaseEvent)(ev);
    return err;
}

/* Wait for each of `ev[0..n)` (draining its queue if the wait fails) and
 * release it. @return CL_SUCCESS or the first error. */
static cl_int wait_all(unsigned n, const cl_event *ev, const cl_command_queue *queue) {
    cl_int err = CL_SUCCESS;
    for (unsigned k = 0; k < n; k++) {
        cl_int e = ums__opencl_wait_event(ev[k], queue[k]);
        if (err == CL_SUCCESS)
            err = e;
        UMS_CL(clReleaseEvent)(ev[k]);
    }
    return err;
}

/* Hand over enqueued commands (one per stream a transfer was split over): as a
 * fence (each queue flushed) when `f` is given, else wait for them. Consumes
 * `ev[0..n)`, `f` and `bounce` whatever happens. */
static ums_result complete_all(ums__opencl *cl, const ums__opencl_loc *loc, unsigned n, const cl_command_queue *queue,
                               const cl_event *ev, ums_fence *f, void *bounce, ums_fence **fence, const char *what) {
    cl_int err = CL_SUCCESS;
    if (f) {
        for (unsigned k = 0; k < n && err == CL_SUCCESS; k++)
            err = UMS_CL(clFlush)(queue[k]);
        if (err == CL_SUCCESS) {
            f->n = n;
            for (unsigned k = 0; k < n; k++) {
                f->events[k] = ev[k];
                f->queues[k] = queue[k];
            }
            f->bounce = bounce;
            *fence = f;
            return UMS_OK;
        }
        /* not handed over: waited for here, and the flush is what failed */
        free(f);
        what = "clFlush";
    }
    cl_int waited = wait_all(n, ev, queue);
    if (err == CL_SUCCESS)
        err = waited;
    free(bounce);
    return err == CL_SUCCESS ? UMS_OK : ums__opencl_fail_cl(cl, err, what, loc);
}

/* complete_all for one command. */
static ums_result complete(ums__opencl *cl, const ums__opencl_loc *loc, cl_command_queue queue, cl_event ev,
                           ums_fence *f, void *bounce, ums_fence **fence, const char *what) {
    return complete_all(cl, loc, 1, &queue, &ev, f, bounce, fence, what);
}

static ums_result check_range(ums__opencl *cl, const ums_devmem *mem, size_t off, size_t len, const char *op) {
    if (off > mem->size || len > mem->size - off)
        return ums__opencl_fail(cl, UMS_ERR_OUT_OF_RANGE, 0,
                                "%s: %s of %zu bytes at offset %zu exceeds the %zu-byte buffer", mem->loc->name, op,
                                len, off, mem->size);
    return UMS_OK;
}

static ums_result new_fence(ums__opencl *cl, ums_fence **fence, ums_fence **f) {
    *f = NULL;
    if (!fence)
        return UMS_OK;
    *f = calloc(1, sizeof **f);
    if (!*f)
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of host memory for a fence");
    return UMS_OK;
}

/* Upload `len` bytes from `src`; `bounce` (may be NULL) is freed when done. */
static ums_result write_buffer(ums__opencl *cl, ums_devmem *dst, size_t dst_off, const void *src, size_t len,
                               void *bounce, ums_fence **fence) {
    ums_fence *f;
    ums_result r = new_fence(cl, fence, &f);
    if (r != UMS_OK) {
        free(bounce);
        return r;
    }
    cl_command_queue q = ums__opencl_mem_queue(dst);
    cl_event wait[1], ev = NULL;
    cl_uint nwait = 0;
    ums__opencl_region_sync(cl, dst);
    pthread_mutex_lock(&dst->lock);
    wait_for_last(dst, wait, &nwait);
    cl_int err = UMS_CL(clEnqueueWriteBuffer)(q, dst->buffer, CL_FALSE, dst->offset + dst_off, len, src, nwait,
                                              nwait ? wait : NULL, &ev);
    if (err == CL_SUCCESS)
        remember(dst, ev, q);
    pthread_mutex_unlock(&dst->lock);
    if (err != CL_SUCCESS) {
        free(f);
        free(bounce);
        return ums__opencl_fail_cl(cl, err, "clEnqueueWriteBuffer", dst->loc);
    }
    return complete(cl, dst->loc, q, ev, f, bounce, fence, "clEnqueueWriteBuffer");
}

ums_result ums__opencl_copy_to(void *backend, ums_devmem *dst, size_t dst_off, const void *src, size_t len,
                               ums_fence **fence) {
    ums__opencl *cl = backend;
    if (fence)
        *fence = NULL;
    if (!cl || !dst || (!src && len))
        return UMS_ERR_NULL_POINTER;
    ums_result r = check_range(cl, dst, dst_off, len, "copy to device");
    if (r != UMS_OK || len == 0)
        return r;
#if defined(__SANITIZE_THREAD__)
    /* The source may be managed memory whose writers are held back by write
     * protection, which ThreadSanitizer cannot see; the core tells it to ignore
     * the calling thread's reads during the copy, but an OpenCL thread would do
     * the reading here. So under ThreadSanitizer the calling thread reads it,
     * into a bounce buffer the upload then reads. */
    void *bounce = malloc(len);
    if (!bounce)
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of host memory for a %zu-byte bounce buffer", len);
    memcpy(bounce, src, len);
    return write_buffer(cl, dst, dst_off, bounce, len, bounce, fence);
#else
    return write_buffer(cl, dst, dst_off, src, len, NULL, fence);
#endif
}

/* Whether `mem[0..n)` are adjacent parts of one buffer of one region, each
 * `len` bytes, in order: then one command moves them all. */
static bool adjacent_parts(ums_devmem *const *mem, size_t n, size_t len) {
    for (size_t k = 0; k < n; k++)
        if (!mem[k] || mem[k]->size != len || mem[k]->buffer != mem[0]->buffer || mem[k]->region != mem[0]->region ||
            mem[k]->offset != mem[0]->offset + k * len)
            return false;
    return true;
}

/* The commands over the adjacent parts `mem[0..n)` (adjacent_parts): a write
 * of `host` into them (`upload`) or a read of them into `host`. One command, or
 * with several copy streams (loc->streams) one piece of consecutive parts per
 * stream, which the device may run at once. A piece waits for each of its
 * parts' last command and becomes the last command of each. `bounce` (may be
 * NULL) is freed when every piece is done. */
static ums_result many_command(ums__opencl *cl, ums_devmem *const *mem, size_t n, size_t len, void *host,
                               bool upload, void *bounce, ums_fence **fence) {
    ums_fence *f;
    ums_result r = new_fence(cl, fence, &f);
    if (r != UMS_OK) {
        free(bounce);
        return r;
    }
    /* the parts' locks in address order, as every path that takes two does */
    ums_devmem *order[UMS__OPENCL_MANY_MAX];
    for (size_t k = 0; k < n; k++) {
        size_t j = k;
        while (j > 0 && order[j - 1] > mem[k]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = mem[k];
    }
    unsigned pieces = mem[0]->loc->streams;
    if (pieces > n)
        pieces = (unsigned)n;
    while (pieces > 1 && !ums__opencl_mem_stream(mem[0], pieces - 1))
        pieces--;
    cl_command_queue q[UMS__OPENCL_STREAMS_MAX];
    cl_event ev[UMS__OPENCL_STREAMS_MAX];
    unsigned done = 0;
    cl_int err = CL_SUCCESS;
    ums__opencl_region_sync(cl, mem[0]);
    for (size_t k = 0; k < n; k++)
        pthread_mutex_lock(&order[k]->lock);
    for (size_t first = 0; done < pieces; done++) {
        /* piece `done`: parts [first, end), the earlier pieces one part longer when n does not divide */
        size_t end = first + n / pieces + (done < n % pieces);
        cl_event wait[UMS__OPENCL_MANY_MAX];
        cl_uint nwait = 0;
        for (size_t k = first; k < end; k++)
            wait_for_last(mem[k], wait, &nwait);
        q[done] = ums__opencl_mem_stream(mem[0], done);
        size_t off = mem[first]->offset, bytes = (end - first) * len;
        char *h = (char *)host + first * len;
        err = upload ? UMS_CL(clEnqueueWriteBuffer)(q[done], mem[0]->buffer, CL_FALSE, off, bytes, h, nwait,
                                                    nwait ? wait : NULL, &ev[done])
                     : UMS_CL(clEnqueueReadBuffer)(q[done], mem[0]->buffer, CL_FALSE, off, bytes, h, nwait,
                                                   nwait ? wait : NULL, &ev[done]);
        if (err != CL_SUCCESS)
            break;
        for (size_t k = first; k < end; k++)
            remember(mem[k], ev[done], q[done]);
        first = end;
    }
    for (size_t k = n; k-- > 0;)
        pthread_mutex_unlock(&order[k]->lock);
    const char *what = upload ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer";
    if (err != CL_SUCCESS) {
        /* the pieces already enqueued read or write `host`: let them finish first */
        complete_all(cl, mem[0]->loc, done, q, ev, NULL, bounce, NULL, what);
        free(f);
        return ums__opencl_fail_cl(cl, err, what, mem[0]->loc);
    }
    return complete_all(cl, mem[0]->loc, pieces, q, ev, f, bounce, fence, what);
}

/* Consecutive blocks of one region whose memories are adjacent parts of one
 * buffer (a region that is not split): one clEnqueueWriteBuffer for all, or
 * one per copy stream (many_command).
 * Anything else is refused before any work (UMS_ERR_NOT_SUPPORTED): the core
 * then copies block by block. */
ums_result ums__opencl_copy_to_many(void *backend, ums_devmem *const *dst, size_t n, const void *src, size_t len,
                                    ums_fence **fence) {
    ums__opencl *cl = backend;
    if (fence)
        *fence = NULL;
    if (!cl || !dst || n == 0 || (!src && len))
        return UMS_ERR_NULL_POINTER;
    if (n > UMS__OPENCL_MANY_MAX || !adjacent_parts(dst, n, len))
        return UMS_ERR_NOT_SUPPORTED;
    void *bounce = NULL;
#if defined(__SANITIZE_THREAD__)
    /* as in ums__opencl_copy_to: the calling thread reads the source */
    bounce = malloc(n * len);
    if (!bounce)
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of host memory for a %zu-byte bounce buffer",
                                n * len);
    memcpy(bounce, src, n * len);
    src = bounce;
#endif
    return many_command(cl, dst, n, len, (void *)src, true, bounce, fence);
}

/* The mirror of copy_to_many: clEnqueueReadBuffer of adjacent parts into
 * `n * len` contiguous host bytes, one command per copy stream. */
ums_result ums__opencl_copy_from_many(void *backend, void *dst, ums_devmem *const *src, size_t n, size_t len,
                                      ums_fence **fence) {
    ums__opencl *cl = backend;
    if (fence)
        *fence = NULL;
    if (!cl || !src || n == 0 || (!dst && len))
        return UMS_ERR_NULL_POINTER;
    if (n > UMS__OPENCL_MANY_MAX || !adjacent_parts(src, n, len))
        return UMS_ERR_NOT_SUPPORTED;
    return many_command(cl, src, n, len, dst, false, NULL, fence);
}

ums_result ums__opencl_copy_from(void *backend, void *dst, ums_devmem *src, size_t src_off, size_t len,
                                 ums_fence **fence) {
    ums__opencl *cl = backend;
    if (fence)
        *fence = NULL;
    if (!cl || !src || (!dst && len))
        return UMS_ERR_NULL_POINTER;
    ums_result r = check_range(cl, src, src_off, len, "copy from device");
    if (r != UMS_OK || len == 0)
        return r;
    ums_fence *f;
    if ((r = new_fence(cl, fence, &f)) != UMS_OK)
        return r;
    cl_command_queue q = ums__opencl_mem_queue(src);
    cl_event wait[1], ev = NULL;
    cl_uint nwait = 0;
    ums__opencl_region_sync(cl, src);
    pthread_mutex_lock(&src->lock);
    wait_for_last(src, wait, &nwait);
    cl_int err = UMS_CL(clEnqueueReadBuffer)(q, src->buffer, CL_FALSE, src->offset + src_off, len, dst, nwait,
                                             nwait ? wait : NULL, &ev);
    if (err == CL_SUCCESS)
        remember(src, ev, q);
    pthread_mutex_unlock(&src->lock);
    if (err != CL_SUCCESS) {
        free(f);
        return ums__opencl_fail_cl(cl, err, "clEnqueueReadBuffer", src->loc);
    }
    return complete(cl, src->loc, q, ev, f, NULL, fence, "clEnqueueReadBuffer");
}

ums_result ums__opencl_copy_peer(void *backend, ums_devmem *dst, size_t dst_off, ums_devmem *src, size_t src_off,
                                 size_t len, ums_fence **fence) {
    ums__opencl *cl = backend;
    if (fence)
        *fence = NULL;
    if (!cl || !dst || !src)
        return UMS_ERR_NULL_POINTER;
    ums_result r = check_range(cl, dst, dst_off, len, "peer copy destination");
    if (r == UMS_OK)
        r = check_range(cl, src, src_off, len, "peer copy source");
    if (r != UMS_OK || len == 0)
        return r;
    size_t s0 = src->offset + src_off, d0 = dst->offset + dst_off;
    if (src->buffer == dst->buffer && s0 < d0 + len && d0 < s0 + len)
        return ums__opencl_fail(cl, UMS_ERR_INVALID_ARG, 0, "%s: peer copy within one buffer overlaps", dst->loc->name);

    if (src->domain->context != dst->domain->context) {
        /* Different contexts cannot share a command: bounce through host memory. */
        void *bounce = malloc(len);
        if (!bounce)
            return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of host memory for a %zu-byte bounce buffer",
                                    len);
        r = ums__opencl_copy_from(cl, bounce, src, src_off, len, NULL);
        if (r != UMS_OK) {
            free(bounce);
            return r;
        }
        return write_buffer(cl, dst, dst_off, bounce, len, bounce, fence);
    }

    ums_fence *f;
    if ((r = new_fence(cl, fence, &f)) != UMS_OK)
        return r;
    cl_command_queue q = ums__opencl_mem_queue(dst);
    ums_devmem *first = src < dst ? src : dst, *second = src < dst ? dst : src;
    cl_event wait[2], ev = NULL;
    cl_uint nwait = 0;
    ums__opencl_region_sync(cl, src);
    if (dst->region != src->region)
        ums__opencl_region_sync(cl, dst);
    pthread_mutex_lock(&first->lock);
    if (second != first)
        pthread_mutex_lock(&second->lock);
    wait_for_last(first, wait, &nwait);
    if (second != first)
        wait_for_last(second, wait, &nwait);
    cl_int err = UMS_CL(clEnqueueCopyBuffer)(q, src->buffer, dst->buffer, src->offset + src_off,
                                             dst->offset + dst_off, len, nwait, nwait ? wait : NULL, &ev);
    if (err == CL_SUCCESS) {
        remember(first, ev, q);
        if (second != first)
            remember(second, ev, q);
    }
    if (second != first)
        pthread_mutex_unlock(&second->lock);
    pthread_mutex_unlock(&first->lock);
    if (err != CL_SUCCESS) {
        free(f);
        return ums__opencl_fail_cl(cl, err, "clEnqueueCopyBuffer", dst->loc);
    }
    return complete(cl, dst->loc, q, ev, f, NULL, fence, "clEnqueueCopyBuffer");
}

ums_result ums__opencl_fence_wait(void *backend, ums_fence *fence) {
    ums__opencl *cl = backend;
    if (!fence)
        return UMS_OK; /* a transfer that completed at once has no fence */
    cl_int err = wait_all(fence->n, fence->events, fence->queues);
    free(fence->bounce);
    free(fence);
    return err == CL_SUCCESS ? UMS_OK : ums__opencl_fail_cl(cl, err, "waiting for a transfer", NULL);
}
