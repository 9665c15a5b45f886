/* OpenCL interop (include/umshim/opencl.h): managed pointers as kernel
 * arguments. A launch makes the bound allocations valid on the queue's device
 * through the core's migration (replicas for read-only arguments, the only copy
 * for written ones, nothing for in-place host access), passes the opencl
 * backend's region buffer (one cl_mem per allocation and device) as the
 * argument, and ties the blocks to the kernel's event through the region's
 * events, which every later transfer of those blocks waits for.
 *
 * The blocks are first moved as one range (the core's pipelined migration,
 * uploads in runs), then held one by one.
 *
 * The launch window. Between making a block valid on the device and enqueueing
 * the kernel, a CPU access could fetch a written block back, and the kernel's
 * writes to it would be lost. So each block is "held" as soon as it is valid
 * there: under its lock it enters MIGRATING (a migration from the device to its
 * host node that never copies), which makes CPU accesses that need the block
 * sleep (in the kernel with userfaultfd, on the block's generation word with
 * signals) without anyone holding the block's lock, and makes migrations wait.
 * Once the kernel is enqueued and its event recorded on the regions, the holds
 * end with MIGRATE_ABORT (back to exactly the state before) and the sleepers
 * are woken; their fetches then wait for the kernel. A block that moved away
 * before it could be held is migrated again (a CPU thread polling a written
 * buffer cannot starve the launch: it sleeps as soon as the block is held).
 *
 * Bindings live in a table keyed by kernel (the kernel is retained while it has
 * bindings) because the device is only known at launch. */
#include "opencl_api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "opencl_backend.h"
#include "umshim/opencl.h"

/* ---- small helpers ---------------------------------------------------- */

static ums_result cl_fail(const char *fn, cl_int err, const char *what) {
    ums_result r = ums__opencl_result(err);
    if (r == UMS_OK) r = UMS_ERR_OPENCL;
    return ums__fail(fn, "opencl", r, err, "%s failed: %s (%d)", what, ums__opencl_error_name(err), (int)err);
}

/* A failure recorded deeper down (core or backend): keep its message, name the public function. */
static ums_result restamp(const char *fn, ums_result r) {
    ((ums_error_info *)ums_last_error())->function = fn;
    return r;
}

/* The built-in opencl backend of a runtime, or NULL. */
static ums__backend *find_backend(ums_runtime_t *rt) {
    const ums_backend_ops *ops = ums__opencl_backend_entry();
    for (unsigned i = 0; i < rt->nbackends; i++)
        if (rt->backends[i]->ops.init == ops->init) return rt->backends[i];
    return NULL;
}

static ums_result get_backend(ums_runtime_t *rt, const char *fn, ums__backend **be) {
    *be = find_backend(rt);
    if (!*be)
        return ums__fail(fn, "opencl", UMS_ERR_NOT_SUPPORTED, 0,
                         "the runtime has no OpenCL backend (built without OpenCL, or UMS_OPENCL=0)");
    return UMS_OK;
}

/* The runtime's location id of the backend's location `index`. */
static ums_location_t core_location(ums_runtime_t *rt, const ums__backend *be, uint32_t index) {
    for (unsigned i = 0; i < rt->nlocs; i++)
        if (rt->locs[i].backend == be && rt->locs[i].index == index) return (ums_location_t)i;
    return UMS_LOCATION_NONE;
}

UMS_API const char *ums_cl_access_name(ums_cl_access access) {
    switch (access) {
    case UMS_CL_ACCESS_DEFAULT: return "default";
    case UMS_CL_ACCESS_READ: return "read";
    case UMS_CL_ACCESS_WRITE: return "write";
    case UMS_CL_ACCESS_READ_WRITE: return "read-write";
    }
    return "unknown";
}

/* ---- attach and locations --------------------------------------------- */

UMS_API ums_result ums_cl_attach(ums_runtime_t *rt, cl_context context, const cl_command_queue *queues, size_t n) {
    static const char fn[] = "ums_cl_attach";
    if (!context) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "context is NULL");
    if (n && !queues) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "queues is NULL with n = %zu", n);
    ums_result r = ums__runtime_resolve(&rt, fn);
    if (r != UMS_OK) return r;
    ums__backend *be;
    if ((r = get_backend(rt, fn, &be)) != UMS_OK) return r;
    /* The queues are only checked: transfers use queues of umshim's own. */
    for (size_t k = 0; k < n; k++) {
        if (!queues[k]) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "queue %zu is NULL", k);
        cl_context qctx = NULL;
        cl_device_id qdev = NULL;
        cl_int err = UMS_CL(clGetCommandQueueInfo)(queues[k], CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL);
        if (err == CL_SUCCESS) err = UMS_CL(clGetCommandQueueInfo)(queues[k], CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL);
        if (err != CL_SUCCESS) return cl_fail(fn, err, "clGetCommandQueueInfo");
        if (qctx != context)
            return ums__fail(fn, "opencl", UMS_ERR_INVALID_ARG, 0, "queue %zu belongs to another context", k);
        for (size_t j = 0; j < k; j++) {
            cl_device_id d2 = NULL;
            if (UMS_CL(clGetCommandQueueInfo)(queues[j], CL_QUEUE_DEVICE, sizeof d2, &d2, NULL) == CL_SUCCESS &&
                d2 == qdev)
                return ums__fail(fn, "opencl", UMS_ERR_INVALID_ARG, 0, "queues %zu and %zu are for one device", j, k);
        }
    }
    r = ums__opencl_attach(be->state, context, NULL, 0);
    return r == UMS_OK ? r : ums__fail_keep(fn, r);
}

UMS_API ums_result ums_cl_location_of(ums_runtime_t *rt, cl_device_id device, ums_location_t *loc) {
    static const char fn[] = "ums_cl_location_of";
    if (!device || !loc) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "%s is NULL", device ? "loc" : "device");
    ums_result r = ums__runtime_resolve(&rt, fn);
    if (r != UMS_OK) return r;
    ums__backend *be;
    if ((r = get_backend(rt, fn, &be)) != UMS_OK) return r;
    uint32_t index;
    r = ums__opencl_location_of_device(be->state, device, &index);
    if (r != UMS_OK) return ums__fail_keep(fn, r);
    ums_location_t id = core_location(rt, be, index);
    if (id == UMS_LOCATION_NONE)
        return ums__fail(fn, "opencl", UMS_ERR_UNKNOWN_LOCATION, 0, "the device is not a location of the runtime");
    *loc = id;
    return UMS_OK;
}

/* The runtime (resolved), the OpenCL backend and the backend's index of core
 * location `loc`, which must be one of its devices. */
static ums_result opencl_location(ums_runtime_t **rt, ums_location_t loc, const char *fn, ums__backend **be,
                                  uint32_t *index) {
    ums_result r = ums__runtime_resolve(rt, fn);
    if (r != UMS_OK) return r;
    if ((r = get_backend(*rt, fn, be)) != UMS_OK) return r;
    if (loc >= (*rt)->nlocs || (*rt)->locs[loc].backend != *be)
        return ums__fail(fn, "opencl", UMS_ERR_UNKNOWN_LOCATION, 0, "location %u is not an OpenCL device", loc);
    *index = (*rt)->locs[loc].index;
    return UMS_OK;
}

UMS_API ums_result ums_cl_location_context(ums_runtime_t *rt, ums_location_t loc, cl_context *context,
                                           cl_device_id *device) {
    static const char fn[] = "ums_cl_location_context";
    ums__backend *be;
    uint32_t index = 0;
    ums_result r = opencl_location(&rt, loc, fn, &be, &index);
    if (r != UMS_OK) return r;
    r = ums__opencl_location_get(be->state, index, context, device, NULL);
    return r == UMS_OK ? r : ums__fail_keep(fn, r);
}

UMS_API ums_result ums_cl_location_streams(ums_runtime_t *rt, ums_location_t loc, unsigned *streams) {
    static const char fn[] = "ums_cl_location_streams";
    if (!streams) return ums__fail(fn, "opencl", UMS_ERR_NULL_POINTER, 0, "streams is NULL");
    ums__backend *be;
    uint32_t index = 0;
    ums_result r = opencl_location(&rt, loc, fn, &be, &index);
    if (r != UMS_OK) return r;
    r = ums__opencl_location_streams(be->state, index, streams);
    return r == UMS_OK ? r : ums__fail_keep(fn, r);
}

/* ---- kernels and their bindings --------------------------------------- */

typedef struct binding {
    bool set;
    const void *ptr;
    ums_cl_access access; /* resolved: never DEFAULT */
} binding;

typedef struct kernel_rec {
    cl_kernel kernel;     /* retained */
    pthread_mutex_t lock; /* serialises bindings and launches of the kernel */
    cl_uint nargs;
    binding *args;
    struct kernel_rec *next;
} kernel_rec;

static pthread_mutex_t kernels_lock = PTHREAD_MUTEX_INITIALIZER;
static kernel_rec *kernels;

/* Find a kernel's record and lock it (NULL when it has none). */
static kernel_rec *kernel_find_locked(cl_kernel k) {
    pthread_mutex_lock(&kernels_lock);
    kernel_rec *rec = kernels;
    while (rec && rec->kernel != k) rec = rec->next;
    if (rec) pthread_mutex_lock(&rec->lock);
    pthread_mutex_unlock(&kernels_lock);
    return rec;
}

static void kernel_rec_destroy(kernel_rec *rec) {
    UMS_CL(clReleaseKernel)(rec->kernel);
    pthread_mutex_destroy(&rec->lock);
    free(rec->args);
    free(rec);
}

/* What the kernel says about a pointer argument: its default access, or an error
 * when it is not a global/constant pointer. */
static ums_result default_access(const char *fn, cl_kernel k, cl_uint index, ums_cl_access *out) {
    cl_kernel_arg_address_qualifier aq = 0;
    cl_int err = UMS_CL(clGetKernelArgInfo)(k, index, CL_KERNEL_ARG_ADDRESS_QUALIFIER, sizeof aq, &aq, NULL);
    if (err == CL_KERNEL_ARG_INFO_NOT_AVAILABLE) {
        *out = UMS_CL_ACCESS_READ_WRITE; /* built without -cl-kernel-arg-info: assume the worst */
        return UMS_OK;
    }
    if (err != CL_SUCCESS) return cl_fail(fn, err, "clGetKernelArgInfo(CL_KERNEL_ARG_ADDRESS_QUALIFIER)");
    if (aq == CL_KERNEL_ARG_ADDRESS_CONSTANT) {
        *out = UMS_CL_ACCESS_READ;
        return UMS_OK;
    }
    if (aq != CL_KERNEL_ARG_ADDRESS_GLOBAL)
        return ums__fail(fn, "opencl", UMS_ERR_INVALID_ARG, 0,
                         "kernel argument %u is a %s pointer or a value, not a __global or __constant buffer", index,
                         aq == CL_KERNEL_ARG_ADDRESS_LOCAL ? "__local" : "__private");
    cl_kernel_arg_type_qualifier tq = 0;
    err = UMS_CL(clGetKernelArgInfo)(k, index, CL_KERNEL_ARG_TYPE_QUALIFIER, sizeof tq, &tq, NULL);
    if (err == CL_KERNEL_ARG_INFO_NOT_AVAILABLE) tq = 0;
    else if (err != CL_SUCCESS) return cl_fail(fn, err, "clGetKernelArgInfo(CL_KERNEL_ARG_TYPE_QUALIFIER)");
    *out = (tq & CL_KERNEL_ARG_TYPE_CONST) ? UMS_CL_ACCESS_READ : UMS_CL_ACCESS_READ_WRITE;
    return UMS_OK;
}

UMS_API ums_result ums_cl_set_kernel_arg(cl_kernel kernel, cl_uint index, const void *ptr, ums_cl_access access) {
    static const char fn[] = "ums_cl_set_kernel_arg";
    if (!kernel) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "kernel is NULL");
    if ((unsigned)access > UMS_CL_ACCESS_READ_WRITE)
        return ums__fail(fn, "core", UMS_ERR_INVALID_ARG, 0, "access %d is not a ums_cl_access", (int)access);
    cl_uint nargs = 0;
    cl_int err = UMS_CL(clGetKernelInfo)(kernel, CL_KERNEL_NUM_ARGS, sizeof nargs, &nargs, NULL);
    if (err != CL_SUCCESS)
        return ums__fail(fn, "opencl", err == CL_INVALID_KERNEL ? UMS_ERR_INVALID_ARG : UMS_ERR_OPENCL, err,
                         "clGetKernelInfo(CL_KERNEL_NUM_ARGS) failed: %s (%d): not a valid kernel?",
                         ums__opencl_error_name(err), (int)err);
    if (index >= nargs)
        return ums__fail(fn, "core", UMS_ERR_INVALID_ARG, 0, "argument index %u: the kernel has %u arguments", index,
                         nargs);
    if (ptr) {
        ums__alloc *a;
        ums_result r = ums__alloc_get(ptr, 1, fn, &a);
        if (r != UMS_OK)
            return r == UMS_ERR_OUT_OF_RANGE
                       ? ums__fail(fn, "core", UMS_ERR_NOT_MANAGED, 0,
                                   "%p lies past the end of its allocation (in its block padding)", ptr)
                       : r;
        ums__alloc_put(a);
        if (access == UMS_CL_ACCESS_DEFAULT) {
            r = default_access(fn, kernel, index, &access);
            if (r != UMS_OK) return r;
        }
    }

    pthread_mutex_lock(&kernels_lock);
    kernel_rec *rec = kernels;
    while (rec && rec->kernel != kernel) rec = rec->next;
    if (!rec && ptr) {
        rec = ums__calloc(1, sizeof *rec);
        binding *args = rec ? ums__calloc(nargs, sizeof *args) : NULL;
        if (!args) {
            free(rec);
            pthread_mutex_unlock(&kernels_lock);
            return ums__fail(fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory for kernel bindings");
        }
        if ((err = UMS_CL(clRetainKernel)(kernel)) != CL_SUCCESS) {
            free(args);
            free(rec);
            pthread_mutex_unlock(&kernels_lock);
            return cl_fail(fn, err, "clRetainKernel");
        }
        rec->kernel = kernel;
        rec->nargs = nargs;
        rec->args = args;
        pthread_mutex_init(&rec->lock, NULL);
        rec->next = kernels;
        kernels = rec;
    }
    if (rec) pthread_mutex_lock(&rec->lock);
    pthread_mutex_unlock(&kernels_lock);

    ums_result r = UMS_OK;
    if (ptr) {
        rec->args[index] = (binding){.set = true, .ptr = ptr, .access = access};
    } else {
        /* NULL: a NULL buffer argument, and no binding. */
        cl_mem none = NULL;
        err = UMS_CL(clSetKernelArg)(kernel, index, sizeof none, &none);
        if (err != CL_SUCCESS) r = cl_fail(fn, err, "clSetKernelArg(NULL buffer)");
        else if (rec) rec->args[index].set = false;
    }
    if (rec) pthread_mutex_unlock(&rec->lock);
    return r;
}

UMS_API ums_result ums_cl_kernel_arg_access(cl_kernel kernel, cl_uint index, ums_cl_access *access) {
    static const char fn[] = "ums_cl_kernel_arg_access";
    if (!kernel || !access) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "%s is NULL", kernel ? "access" : "kernel");
    kernel_rec *rec = kernel_find_locked(kernel);
    ums_result r = UMS_OK;
    if (!rec || index >= rec->nargs || !rec->args[index].set)
        r = ums__fail(fn, "core", UMS_ERR_INVALID_ARG, 0, "no managed pointer is bound to argument %u", index);
    else
        *access = rec->args[index].access;
    if (rec) pthread_mutex_unlock(&rec->lock);
    return r;
}

UMS_API ums_result ums_cl_forget_kernel(cl_kernel kernel) {
    if (!kernel) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "kernel is NULL");
    pthread_mutex_lock(&kernels_lock);
    kernel_rec **pp = &kernels;
    while (*pp && (*pp)->kernel != kernel) pp = &(*pp)->next;
    kernel_rec *rec = *pp;
    if (rec) {
        pthread_mutex_lock(&rec->lock); /* a launch in progress finishes first */
        *pp = rec->next;
        pthread_mutex_unlock(&rec->lock);
    }
    pthread_mutex_unlock(&kernels_lock);
    if (rec) kernel_rec_destroy(rec);
    return UMS_OK;
}

/* ---- launching -------------------------------------------------------- */

/* Per-block migration attempts before a launch gives up (CPU accesses kept winning). */
#define HOLD_ATTEMPTS 1000

/* One allocation a launch uses. */
typedef struct use {
    ums__alloc *a;    /* referenced */
    size_t first;     /* first block any argument reaches */
    bool write;       /* some argument may write it */
    bool in_place;    /* ACCESSED_BY on a host-unified device: host pages, no migration */
    cl_mem buffer;    /* region buffer (device) or host buffer (in place), borrowed */
    bool *held;       /* [nblocks]: blocks held in MIGRATING for the launch */
} use;

/* One bound argument of a launch. */
typedef struct arg {
    cl_uint index;
    const void *ptr;
    ums_cl_access access;
    use *u;
    cl_mem sub; /* sub-buffer for an interior pointer, released after the launch */
} arg;

typedef struct launch {
    const char *fn;
    ums_runtime_t *rt;
    ums__backend *be;
    ums__opencl *cl;
    uint32_t index;     /* the backend's location index */
    ums_location_t loc; /* the runtime's */
    cl_context ctx;
    size_t align;       /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes */
    arg *args;
    size_t nargs;
    use *uses;
    size_t nuses;
    cl_event *waits;    /* the caller's, then pending transfers (retained, from nwait_user on) */
    size_t nwait, nwait_user, cap_wait;
} launch;

static int use_cmp(const void *x, const void *y) {
    const use *a = x, *b = y;
    return a->a->base < b->a->base ? -1 : a->a->base > b->a->base;
}

static void release_pending(launch *L) {
    for (size_t i = L->nwait_user; i < L->nwait; i++) clReleaseEvent(L->waits[i]);
    L->nwait = L->nwait_user;
}

/* Every block from `first` has the ACCESSED_BY bit for loc. */
static bool all_accessed_by(const ums__alloc *a, size_t first, ums_location_t loc) {
    for (size_t i = first; i < a->nblocks; i++) {
        ums__block *b = &a->blocks[i];
        pthread_mutex_lock(&b->lock);
        bool yes = (b->accessed_by >> loc) & 1;
        pthread_mutex_unlock(&b->lock);
        if (!yes) return false;
    }
    return true;
}

/* In place: the host copy valid (and the only one when written) and populated,
 * so the kernel's accesses to the host pages need no fault service. */
static ums_result prepare_in_place(launch *L, use *u) {
    ums__alloc *a = u->a;
    ums_runtime_t *rt = a->rt;
    ums_migrate_report rep;
    memset(&rep, 0, sizeof rep);
    for (size_t i = u->first; i < a->nblocks; i++) {
        ums__block *b = &a->blocks[i];
        pthread_mutex_lock(&b->lock);
        ums__block_wait_stable(b);
        bool hv = b->host_valid;
        ums_location_t dst = hv ? b->host_loc : ums__fetch_target(rt, b);
        bool needs = u->write ? (!hv || b->ndev > 0) : !hv;
        pthread_mutex_unlock(&b->lock);
        if (needs) {
            ums_result r = ums__migrate_block(a, i, dst, !u->write, &rep);
            if (r != UMS_OK) return restamp(L->fn, r);
        }
        pthread_mutex_lock(&b->lock);
        ums_result r = UMS_OK;
        if (b->host_valid && !b->populated && atomic_load(&b->state) == UMS_BLOCK_HOST) {
            r = rt->fops->populate(rt, ums__block_addr(a, i), rt->block_size);
            if (r == UMS_OK) b->populated = true;
        }
        pthread_mutex_unlock(&b->lock);
        if (r != UMS_OK) return restamp(L->fn, r);
    }
    return UMS_OK;
}

/* Move every block of the allocation that is on the launch's device back to the
 * host (its region buffer belongs to another context and must be recreated). */
static ums_result evict(launch *L, use *u) {
    ums__alloc *a = u->a;
    ums_migrate_report rep;
    memset(&rep, 0, sizeof rep);
    for (size_t i = 0; i < a->nblocks; i++) {
        ums__block *b = &a->blocks[i];
        pthread_mutex_lock(&b->lock);
        ums__block_wait_stable(b);
        bool here = (ums__block_valid_mask(b) >> L->loc) & 1;
        ums_location_t dst = b->host_valid ? b->host_loc : ums__fetch_target(a->rt, b);
        pthread_mutex_unlock(&b->lock);
        if (!here) continue;
        ums_result r = ums__migrate_block(a, i, dst, false, &rep);
        if (r != UMS_OK) return restamp(L->fn, r);
    }
    return UMS_OK;
}

/* End the hold on block i: back to the state before it, sleepers woken. b locked. */
static void unhold_locked(ums_runtime_t *rt, ums__alloc *a, size_t i) {
    ums__block *b = &a->blocks[i];
    ums__devcopy dropped[UMS_BLOCK_MAX_DEVCOPIES];
    unsigned nd = 0;
    ums__block_apply(b, &(ums__transition){.ev = UMS_EV_MIGRATE_ABORT}, dropped, &nd); /* drops nothing */
    atomic_store(&b->write_abort, 0);
    ums__block_wake(rt, b, ums__block_addr(a, i), false);
}

static void release_holds(launch *L) {
    for (size_t k = 0; k < L->nuses; k++) {
        use *u = &L->uses[k];
        if (!u->held) continue;
        for (size_t i = u->first; i < u->a->nblocks; i++) {
            if (!u->held[i]) continue;
            ums__block *b = &u->a->blocks[i];
            pthread_mutex_lock(&b->lock);
            unhold_locked(L->rt, u->a, i);
            pthread_mutex_unlock(&b->lock);
            u->held[i] = false;
        }
    }
}

/* Make block i valid on the device (the only copy when written) and hold it there. */
static ums_result hold_block(launch *L, use *u, size_t i) {
    ums__alloc *a = u->a;
    ums__block *b = &a->blocks[i];
    ums_migrate_report rep;
    memset(&rep, 0, sizeof rep);
    for (unsigned attempt = 0; attempt < HOLD_ATTEMPTS; attempt++) {
        ums_result r = ums__migrate_block(a, i, L->loc, !u->write, &rep);
        if (r != UMS_OK) return restamp(L->fn, r);
        if (!u->buffer) {
            /* The region's buffer exists once its first part does. */
            ums__opencl_region_info ri;
            r = ums__opencl_region_get(L->cl, L->index, a->base, &ri);
            if (r != UMS_OK) return ums__fail_keep(L->fn, r);
            if (ri.split || !ri.buffer || ri.context != L->ctx)
                return ums__fail(L->fn, "opencl", UMS_ERR_STATE, 0,
                                 "the allocation at %p has no single buffer in the queue's context on %s",
                                 (void *)a->base, L->rt->locs[L->loc].name);
            u->buffer = ri.buffer;
        }
        pthread_mutex_lock(&b->lock);
        ums_block_state st = (ums_block_state)atomic_load(&b->state);
        bool ok = u->write ? st == UMS_BLOCK_DEVICE && b->ndev == 1 && b->dev[0].loc == L->loc
                           : st != UMS_BLOCK_MIGRATING && ((ums__block_valid_mask(b) >> L->loc) & 1);
        if (ok) {
            ums__opencl_mem_info mi;
            ums_devmem *m = ums__block_devmem(b, L->loc);
            ok = m && ums__opencl_mem_get(L->cl, m, &mi) == UMS_OK && mi.buffer == u->buffer;
        }
        if (ok) {
            ums__devcopy dropped[UMS_BLOCK_MAX_DEVCOPIES];
            unsigned nd = 0;
            ums__transition t = {.ev = UMS_EV_MIGRATE_BEGIN, .src = L->loc, .dst = b->host_loc, .dst_is_host = true};
            ok = ums__block_apply(b, &t, dropped, &nd) == UMS_OK;
            if (ok) {
                atomic_store(&b->write_abort, 0);
                u->held[i] = true;
            }
        }
        pthread_mutex_unlock(&b->lock);
        if (ok) return UMS_OK;
        /* A CPU access (or another migration) moved it first: again. */
        if (attempt >= 8) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
    }
    return ums__fail(L->fn, "core", UMS_ERR_BUSY, 0,
                     "block %zu of the allocation at %p kept moving away from %s: %d attempts", i, (void *)a->base,
                     L->rt->locs[L->loc].name, HOLD_ATTEMPTS);
}

/* Make one device use valid on the device, every block held. */
static ums_result prepare_device(launch *L, use *u) {
    ums__alloc *a = u->a;
    ums__opencl_region_info ri;
    ums_result r = ums__opencl_region_get(L->cl, L->index, a->base, &ri);
    if (r != UMS_OK) return ums__fail_keep(L->fn, r);
    if (ri.buffer && ri.context != L->ctx && (r = evict(L, u)) != UMS_OK) return r;
    u->held = ums__calloc(a->nblocks, sizeof *u->held);
    if (!u->held) return ums__fail(L->fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory");
    /* Move the blocks as one range first (several copies in flight, uploads in
     * runs); the holds below then find them there, or move a block again that a
     * CPU access took back meanwhile. */
    ums_migrate_report rep;
    memset(&rep, 0, sizeof rep);
    r = ums__migrate_range(a, u->first, a->nblocks - 1, L->loc, u->write ? UMS_MOVE_EXCLUSIVE : UMS_MOVE_REPLICATE,
                           &rep);
    if (r != UMS_OK) return restamp(L->fn, r);
    for (size_t i = u->first; i < a->nblocks; i++)
        if ((r = hold_block(L, u, i)) != UMS_OK) return r;
    return UMS_OK;
}

/* The pending transfers on a device use's parts join the kernel's wait list. */
static ums_result add_pending(launch *L, use *u) {
    cl_event *evs;
    size_t n;
    ums_result r = ums__opencl_region_pending(L->cl, L->index, u->a->base, &evs, &n);
    if (r != UMS_OK) return ums__fail_keep(L->fn, r);
    if (n == 0) return UMS_OK;
    if (L->nwait + n > L->cap_wait) {
        size_t cap = (L->nwait + n) * 2;
        cl_event *w = realloc(L->waits, cap * sizeof *w);
        if (!w) {
            for (size_t i = 0; i < n; i++) clReleaseEvent(evs[i]);
            free(evs);
            return ums__fail(L->fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory for a wait list");
        }
        L->waits = w;
        L->cap_wait = cap;
    }
    memcpy(L->waits + L->nwait, evs, n * sizeof *evs);
    L->nwait += n;
    free(evs);
    return UMS_OK;
}

/* Make every use valid where the kernel needs it, its blocks held. */
static ums_result prepare(launch *L) {
    ums_result r = UMS_OK;
    for (size_t k = 0; k < L->nuses && r == UMS_OK; k++)
        r = L->uses[k].in_place ? prepare_in_place(L, &L->uses[k]) : prepare_device(L, &L->uses[k]);
    for (size_t k = 0; k < L->nuses && r == UMS_OK; k++)
        if (!L->uses[k].in_place) r = add_pending(L, &L->uses[k]);
    return r;
}

/* Set the arguments: the region (or host) buffer, or a sub-buffer at an interior pointer. */
static ums_result set_args(launch *L, cl_kernel kernel) {
    for (size_t i = 0; i < L->nargs; i++) {
        arg *g = &L->args[i];
        use *u = g->u;
        size_t off = (size_t)((const char *)g->ptr - u->a->base);
        cl_mem m = u->buffer;
        if (off) {
            cl_buffer_region reg = {.origin = off, .size = u->a->map_size - off};
            cl_int err = CL_SUCCESS;
            g->sub = UMS_CL(clCreateSubBuffer)(u->buffer, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &reg, &err);
            if (!g->sub) return cl_fail(L->fn, err ? err : CL_OUT_OF_RESOURCES, "clCreateSubBuffer");
            m = g->sub;
        }
        cl_int err = UMS_CL(clSetKernelArg)(kernel, g->index, sizeof m, &m);
        if (err != CL_SUCCESS) {
            ums_result r = ums__opencl_result(err);
            return ums__fail(L->fn, "opencl", r == UMS_ERR_NO_DEVICE_MEMORY ? r : UMS_ERR_INVALID_ARG, err,
                             "clSetKernelArg(%u) with the buffer of %p failed: %s (%d)", g->index, g->ptr,
                             ums__opencl_error_name(err), (int)err);
        }
    }
    return UMS_OK;
}

/* Resolve the bound arguments into allocations (referenced, grouped, sorted). */
static ums_result resolve_args(launch *L, const kernel_rec *rec) {
    size_t n = 0;
    for (cl_uint i = 0; i < rec->nargs; i++) n += rec->args[i].set;
    if (n == 0) return UMS_OK;
    L->args = ums__calloc(n, sizeof *L->args);
    L->uses = ums__calloc(n, sizeof *L->uses);
    if (!L->args || !L->uses) return ums__fail(L->fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory");
    for (cl_uint i = 0; i < rec->nargs; i++) {
        const binding *bd = &rec->args[i];
        if (!bd->set) continue;
        ums__alloc *a;
        ums_result r = ums__alloc_get(bd->ptr, 1, L->fn, &a);
        if (r != UMS_OK)
            return ums__fail(L->fn, "core", UMS_ERR_NOT_MANAGED, 0,
                             "kernel argument %u: %p is not in a live allocation (freed since it was bound?)", i,
                             bd->ptr);
        size_t k;
        for (k = 0; k < L->nuses && L->uses[k].a != a; k++) {}
        if (k < L->nuses) {
            ums__alloc_put(a); /* already referenced once */
        } else {
            if (L->nuses && L->uses[0].a->rt != a->rt) {
                ums__alloc_put(a);
                return ums__fail(L->fn, "core", UMS_ERR_INVALID_ARG, 0,
                                 "kernel argument %u belongs to another runtime than argument %u", i,
                                 L->args[0].index);
            }
            L->uses[k] = (use){.a = a, .first = a->nblocks};
            L->nuses++;
        }
        use *u = &L->uses[k];
        size_t blk = ums__block_index(a, bd->ptr);
        if (blk < u->first) u->first = blk;
        if (bd->access != UMS_CL_ACCESS_READ) u->write = true;
        L->args[L->nargs++] = (arg){.index = i, .ptr = bd->ptr, .access = bd->access};
    }
    qsort(L->uses, L->nuses, sizeof *L->uses, use_cmp); /* address order, so concurrent launches agree */
    for (size_t i = 0; i < L->nargs; i++) {
        ums__alloc *a = ums__registry_lookup(L->args[i].ptr);
        for (size_t k = 0; k < L->nuses; k++)
            if (L->uses[k].a == a) L->args[i].u = &L->uses[k];
    }
    return UMS_OK;
}

/* The queue's device as a location of the runtime, its context attached. */
static ums_result resolve_device(launch *L, cl_command_queue queue, cl_device_id dev) {
    ums_result r = get_backend(L->rt, L->fn, &L->be);
    if (r != UMS_OK) return r;
    L->cl = L->be->state;
    r = ums__opencl_location_of_device(L->cl, dev, &L->index);
    if (r != UMS_OK) return ums__fail_keep(L->fn, r);
    L->loc = core_location(L->rt, L->be, L->index);
    if (L->loc == UMS_LOCATION_NONE)
        return ums__fail(L->fn, "opencl", UMS_ERR_UNKNOWN_LOCATION, 0, "the queue's device is not a location");
    cl_context lctx;
    cl_command_queue bq;
    if ((r = ums__opencl_location_get(L->cl, L->index, &lctx, NULL, &bq)) != UMS_OK) return ums__fail_keep(L->fn, r);
    if (queue == bq)
        return ums__fail(L->fn, "opencl", UMS_ERR_INVALID_ARG, 0,
                         "the queue is umshim's own transfer queue for %s: launch kernels on a queue of your own",
                         L->rt->locs[L->loc].name);
    if (lctx != L->ctx) {
        /* A context not attached yet: adopt it (ums_cl_attach) for this device's new copies. */
        r = ums__opencl_attach(L->cl, L->ctx, NULL, 0);
        if (r == UMS_ERR_BUSY)
            return ums__fail(L->fn, "opencl", UMS_ERR_STATE, 0,
                             "the queue's context is attached, but %s now creates copies in another attached context",
                             L->rt->locs[L->loc].name);
        if (r != UMS_OK) return ums__fail_keep(L->fn, r);
        ums__opencl_location_get(L->cl, L->index, &lctx, NULL, NULL);
        if (lctx != L->ctx)
            return ums__fail(L->fn, "opencl", UMS_ERR_STATE, 0, "%s does not use the queue's context",
                             L->rt->locs[L->loc].name);
    }
    cl_uint bits = 0;
    cl_int err = UMS_CL(clGetDeviceInfo)(dev, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits, NULL);
    if (err != CL_SUCCESS) return cl_fail(L->fn, err, "clGetDeviceInfo(CL_DEVICE_MEM_BASE_ADDR_ALIGN)");
    L->align = bits >= 8 ? bits / 8 : 1;
    for (size_t i = 0; i < L->nargs; i++) {
        size_t off = (size_t)((const char *)L->args[i].ptr - L->args[i].u->a->base);
        if (off % L->align)
            return ums__fail(L->fn, "opencl", UMS_ERR_INVALID_ARG, 0,
                             "kernel argument %u: %p is %zu bytes into its allocation; an interior pointer must be a "
                             "multiple of %zu bytes (CL_DEVICE_MEM_BASE_ADDR_ALIGN of %s)",
                             L->args[i].index, L->args[i].ptr, off, L->align, L->rt->locs[L->loc].name);
    }
    cl_ulong max_alloc = 0;
    err = UMS_CL(clGetDeviceInfo)(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    if (err != CL_SUCCESS) return cl_fail(L->fn, err, "clGetDeviceInfo(CL_DEVICE_MAX_MEM_ALLOC_SIZE)");
    const ums_location_info *li = &L->rt->locs[L->loc].info;
    for (size_t k = 0; k < L->nuses; k++) {
        use *u = &L->uses[k];
        u->in_place = (li->flags & UMS_LOCATION_FLAG_HOST_ACCESS) && all_accessed_by(u->a, u->first, L->loc);
        /* One buffer covers the allocation: it must fit in one (regions of larger ones are split). */
        uint64_t limit = li->capacity && li->capacity < max_alloc ? li->capacity : max_alloc;
        if ((uint64_t)u->a->map_size > limit && (max_alloc || li->capacity))
            return ums__fail(L->fn, "opencl", UMS_ERR_NOT_SUPPORTED, 0,
                             "the %zu-byte allocation at %p cannot be one kernel argument on %s: its largest buffer is "
                             "%" PRIu64 " bytes",
                             u->a->map_size, (void *)u->a->base, L->rt->locs[L->loc].name, limit);
        if (u->in_place) {
            r = ums__opencl_region_host_buffer(L->cl, L->index, u->a->base, u->a->map_size, &u->buffer, NULL);
            if (r != UMS_OK) return ums__fail_keep(L->fn, r);
        }
    }
    return UMS_OK;
}

static void launch_cleanup(launch *L) {
    release_holds(L);
    release_pending(L);
    for (size_t i = 0; i < L->nargs; i++)
        if (L->args[i].sub) UMS_CL(clReleaseMemObject)(L->args[i].sub);
    for (size_t k = 0; k < L->nuses; k++) {
        free(L->uses[k].held);
        ums__alloc_put(L->uses[k].a);
    }
    free(L->args);
    free(L->uses);
    free(L->waits);
}

UMS_API ums_result ums_cl_enqueue_kernel(cl_command_queue queue, cl_kernel kernel, cl_uint work_dim,
                                         const size_t *global_offset, const size_t *global_size,
                                         const size_t *local_size, cl_uint num_events, const cl_event *wait_list,
                                         cl_event *event) {
    static const char fn[] = "ums_cl_enqueue_kernel";
    if (!queue || !kernel || !global_size)
        return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "%s is NULL",
                         !queue ? "queue" : !kernel ? "kernel" : "global_size");
    if (num_events && !wait_list)
        return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "wait_list is NULL with %u events", num_events);
    launch L;
    memset(&L, 0, sizeof L);
    L.fn = fn;
    cl_device_id dev = NULL;
    cl_context kctx = NULL;
    cl_int err = UMS_CL(clGetCommandQueueInfo)(queue, CL_QUEUE_CONTEXT, sizeof L.ctx, &L.ctx, NULL);
    if (err == CL_SUCCESS) err = UMS_CL(clGetCommandQueueInfo)(queue, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    if (err != CL_SUCCESS) return cl_fail(fn, err, "clGetCommandQueueInfo");
    if ((err = UMS_CL(clGetKernelInfo)(kernel, CL_KERNEL_CONTEXT, sizeof kctx, &kctx, NULL)) != CL_SUCCESS)
        return cl_fail(fn, err, "clGetKernelInfo(CL_KERNEL_CONTEXT)");
    if (kctx != L.ctx)
        return ums__fail(fn, "opencl", UMS_ERR_INVALID_ARG, 0, "the queue and the kernel belong to different contexts");

    L.cap_wait = num_events + 8;
    L.waits = ums__calloc(L.cap_wait, sizeof *L.waits);
    if (!L.waits) return ums__fail(fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory");
    if (num_events) memcpy(L.waits, wait_list, num_events * sizeof *wait_list);
    L.nwait = L.nwait_user = num_events;

    kernel_rec *rec = kernel_find_locked(kernel);
    ums_result r = UMS_OK;
    if (rec) r = resolve_args(&L, rec);
    if (r == UMS_OK && L.nuses) {
        L.rt = L.uses[0].a->rt;
        r = resolve_device(&L, queue, dev);
        if (r == UMS_OK) r = prepare(&L);
        if (r == UMS_OK) r = set_args(&L, kernel);
    }
    cl_event kev = NULL;
    if (r == UMS_OK) {
        err = UMS_CL(clEnqueueNDRangeKernel)(queue, kernel, work_dim, global_offset, global_size, local_size,
                                             (cl_uint)L.nwait, L.nwait ? L.waits : NULL, &kev);
        if (err != CL_SUCCESS) r = cl_fail(fn, err, "clEnqueueNDRangeKernel");
    }
    if (r == UMS_OK) {
        UMS_CL(clFlush)(queue);
        /* From here on, every transfer of these blocks (a CPU fetch, a migration) and
         * ums_free wait for the kernel. Then the holds end. */
        for (size_t k = 0; k < L.nuses; k++) {
            ums_result rr = ums__opencl_region_add_event(L.cl, L.index, L.uses[k].a->base, L.uses[k].a->map_size, kev);
            if (rr != UMS_OK) {
                /* Cannot be told to wait: wait here, before anyone may touch the blocks. */
                ums__opencl_event_wait(L.cl, kev);
                ums_clear_error();
            }
        }
    }
    if (rec) pthread_mutex_unlock(&rec->lock);
    launch_cleanup(&L);
    if (kev) {
        if (event) {
            *event = kev;
            ums__opencl_event_handed_out();
        } else {
            UMS_CL(clReleaseEvent)(kev);
        }
    }
    return r;
}

/* ---- programs and events ------------------------------------------------ */

/* Copy a build log into the caller's buffer and a one-line excerpt into `line`. */
static void quote_log(const char *log, char *out, size_t out_size, char *line, size_t line_size) {
    if (out && out_size) snprintf(out, out_size, "%s", log);
    size_t j = 0;
    for (size_t i = 0; log[i] && j + 1 < line_size; i++) {
        char c = log[i] == '\n' || log[i] == '\r' || log[i] == '\t' ? ' ' : log[i];
        if (c == ' ' && j > 0 && line[j - 1] == ' ') continue;
        line[j++] = c;
    }
    line[j] = '\0';
}

UMS_API ums_result ums_cl_build_program(cl_program program, cl_uint num_devices, const cl_device_id *devices,
                                        const char *options, char *log, size_t log_size) {
    static const char fn[] = "ums_cl_build_program";
    if (!program) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "program is NULL");
    if (num_devices && !devices) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "devices is NULL");
    if (log && log_size) log[0] = '\0';
    cl_int berr = UMS_CL(clBuildProgram)(program, num_devices, devices, options, NULL, NULL);
    if (berr != CL_SUCCESS && berr != CL_BUILD_PROGRAM_FAILURE && berr != CL_COMPILE_PROGRAM_FAILURE &&
        berr != CL_INVALID_BUILD_OPTIONS)
        return cl_fail(fn, berr, "clBuildProgram");
    /* The devices built for, to find the log of the one that failed. */
    cl_uint n = num_devices;
    cl_device_id *devs = NULL;
    cl_int err = CL_SUCCESS;
    if (!n) err = UMS_CL(clGetProgramInfo)(program, CL_PROGRAM_NUM_DEVICES, sizeof n, &n, NULL);
    if (err == CL_SUCCESS && n) {
        devs = malloc(n * sizeof *devs);
        if (!devs) return ums__fail(fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory");
        if (num_devices) memcpy(devs, devices, n * sizeof *devs);
        else err = UMS_CL(clGetProgramInfo)(program, CL_PROGRAM_DEVICES, n * sizeof *devs, devs, NULL);
    }
    cl_device_id which = NULL;
    for (cl_uint i = 0; err == CL_SUCCESS && i < n && !which; i++) {
        cl_build_status st = CL_BUILD_SUCCESS;
        if (UMS_CL(clGetProgramBuildInfo)(program, devs[i], CL_PROGRAM_BUILD_STATUS, sizeof st, &st, NULL) ==
                CL_SUCCESS &&
            st == CL_BUILD_ERROR)
            which = devs[i];
    }
    if (!which && berr == CL_SUCCESS && n && err == CL_SUCCESS) which = devs[0]; /* success: the first device's log */
    char line[200] = "";
    if (which) {
        size_t len = 0;
        if (UMS_CL(clGetProgramBuildInfo)(program, which, CL_PROGRAM_BUILD_LOG, 0, NULL, &len) == CL_SUCCESS && len) {
            char *text = malloc(len + 1);
            if (text && UMS_CL(clGetProgramBuildInfo)(program, which, CL_PROGRAM_BUILD_LOG, len, text, NULL) ==
                            CL_SUCCESS) {
                text[len] = '\0';
                quote_log(text, log, log_size, line, sizeof line);
            }
            free(text);
        }
    }
    free(devs);
    if (berr == CL_SUCCESS) return UMS_OK;
    if (berr == CL_INVALID_BUILD_OPTIONS)
        return ums__fail(fn, "opencl", UMS_ERR_BUILD, berr, "invalid build options \"%s\"", options ? options : "");
    return ums__fail(fn, "opencl", UMS_ERR_BUILD, berr, "the program does not build: %s",
                     line[0] ? line : "(no build log)");
}

UMS_API ums_result ums_cl_program_from_source(cl_context context, const char *source, const char *options,
                                              cl_program *program) {
    static const char fn[] = "ums_cl_program_from_source";
    if (!context || !source || !program)
        return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "%s is NULL",
                         !context ? "context" : !source ? "source" : "program");
    cl_int err = CL_SUCCESS;
    cl_program p = UMS_CL(clCreateProgramWithSource)(context, 1, &source, NULL, &err);
    if (!p) return cl_fail(fn, err ? err : CL_OUT_OF_RESOURCES, "clCreateProgramWithSource");
    static const char info[] = "-cl-kernel-arg-info";
    size_t len = sizeof info + 1 + (options ? strlen(options) : 0);
    char *opts = malloc(len);
    if (!opts) {
        UMS_CL(clReleaseProgram)(p);
        return ums__fail(fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory");
    }
    snprintf(opts, len, "%s %s", info, options ? options : "");
    ums_result r = ums_cl_build_program(p, 0, NULL, opts, NULL, 0);
    free(opts);
    if (r != UMS_OK) {
        UMS_CL(clReleaseProgram)(p);
        return restamp(fn, r);
    }
    *program = p;
    return UMS_OK;
}

UMS_API ums_result ums_cl_wait(cl_event event) {
    static const char fn[] = "ums_cl_wait";
    if (!event) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "event is NULL");
    cl_int err = UMS_CL(clWaitForEvents)(1, &event);
    cl_int st = CL_COMPLETE;
    if (UMS_CL(clGetEventInfo)(event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL) == CL_SUCCESS && st < 0)
        return ums__fail(fn, "opencl", UMS_ERR_OPENCL, st, "the command ended with %s (%d)", ums__opencl_error_name(st),
                         (int)st);
    if (err != CL_SUCCESS) return cl_fail(fn, err, "clWaitForEvents");
    return UMS_OK;
}
