/* The range-based public API: migrate, prefetch and events, advise, query. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Validate (ptr, len) and the location; take a reference on the allocation. */
static ums_result range_get(const void *ptr, size_t len, ums_location_t loc, bool need_loc, const char *fn,
                            ums__alloc **a, size_t *first, size_t *last) {
    *first = *last = 0;
    ums_result r = ums__alloc_get(ptr, len, fn, a);
    if (r != UMS_OK) return r;
    ums_runtime_t *rt = (*a)->rt;
    if (need_loc && loc >= rt->nlocs) {
        ums__alloc_put(*a);
        return ums__fail(fn, "core", UMS_ERR_UNKNOWN_LOCATION, 0, "location %u: the runtime has %u", loc, rt->nlocs);
    }
    *first = ums__block_index(*a, ptr);
    *last = ums__block_index(*a, (const char *)ptr + len - 1);
    return UMS_OK;
}

static ums_result ums_migrate_ex_impl(void *ptr, size_t len, ums_location_t location, ums_migrate_report *report) {
    ums__alloc *a;
    size_t first, last;
    ums_result r = range_get(ptr, len, location, true, "ums_migrate", &a, &first, &last);
    if (r != UMS_OK) return r;
    ums_migrate_report rep;
    memset(&rep, 0, sizeof rep);
    r = ums__migrate_range(a, first, last, location, UMS_MOVE_EXCLUSIVE, &rep);
    ums__alloc_put(a);
    if (report) *report = rep;
    return r;
}

UMS_API ums_result ums_migrate(void *ptr, size_t len, ums_location_t location) {
    return ums_migrate_ex(ptr, len, location, NULL);
}

/* ---- prefetch: jobs for the worker threads ---- */

struct ums_event {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int refs; /* the caller's handle and the job */
    ums_result result;
    ums_error_info error;
    ums_migrate_report rep;
};

typedef struct ums__job {
    struct ums__job *next;
    ums__alloc *a;
    size_t first, last;
    ums_location_t dst;
    ums_event_t *ev;
} ums__job;

static void event_unref(ums_event_t *ev) {
    pthread_mutex_lock(&ev->lock);
    bool last = --ev->refs == 0;
    pthread_mutex_unlock(&ev->lock);
    if (last) {
        pthread_mutex_destroy(&ev->lock);
        pthread_cond_destroy(&ev->cond);
        free(ev);
    }
}

static void *worker(void *arg) {
    ums_runtime_t *rt = arg;
    for (;;) {
        pthread_mutex_lock(&rt->work_lock);
        while (!rt->work_head && !rt->work_stop) pthread_cond_wait(&rt->work_cond, &rt->work_lock);
        ums__job *j = rt->work_head;
        if (!j) { /* stopping and nothing left */
            pthread_mutex_unlock(&rt->work_lock);
            return NULL;
        }
        rt->work_head = j->next;
        if (!rt->work_head) rt->work_tail = NULL;
        pthread_mutex_unlock(&rt->work_lock);

        ums_migrate_report rep;
        memset(&rep, 0, sizeof rep);
        ums__api_enter();
        ums_result r = ums__api_leave("ums_prefetch",
                                      ums__migrate_range(j->a, j->first, j->last, j->dst, UMS_MOVE_REPLICATE_RM, &rep));
        ums__alloc_put(j->a);
        UMS_CTR_ADD(rt, prefetches, 1);
        ums_event_t *ev = j->ev;
        pthread_mutex_lock(&ev->lock);
        ev->result = r;
        ev->error = *ums_last_error();
        ev->rep = rep;
        ev->done = true;
        pthread_cond_broadcast(&ev->cond);
        pthread_mutex_unlock(&ev->lock);
        event_unref(ev);
        free(j);
    }
}

ums_result ums__workers_start(ums_runtime_t *rt) {
    unsigned n = rt->cfg.workers ? rt->cfg.workers : 2;
    for (unsigned i = 0; i < n; i++) {
        int e = ums__sys_thread_create(&rt->workers[i], worker, rt);
        if (e) {
            ums__workers_stop(rt);
            return ums__fail("ums_runtime_create", "core", UMS_ERR_SYSTEM, e, "starting worker %u: %s", i, strerror(e));
        }
        rt->nworkers++;
    }
    return UMS_OK;
}

void ums__workers_stop(ums_runtime_t *rt) {
    pthread_mutex_lock(&rt->work_lock);
    rt->work_stop = true; /* workers finish the queue, then exit */
    pthread_cond_broadcast(&rt->work_cond);
    pthread_mutex_unlock(&rt->work_lock);
    for (unsigned i = 0; i < rt->nworkers; i++) pthread_join(rt->workers[i], NULL);
    rt->nworkers = 0;
}

static ums_result ums_prefetch_impl(void *ptr, size_t len, ums_location_t location, ums_event_t **event) {
    static const char fn[] = "ums_prefetch";
    if (!event) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "event is NULL");
    ums__alloc *a;
    size_t first, last;
    ums_result r = range_get(ptr, len, location, true, fn, &a, &first, &last);
    if (r != UMS_OK) return r;
    ums_runtime_t *rt = a->rt;
    ums_event_t *ev = ums__calloc(1, sizeof *ev);
    ums__job *j = ev ? ums__calloc(1, sizeof *j) : NULL;
    if (!ev || !j) {
        free(ev);
        ums__alloc_put(a);
        return ums__fail(fn, "core", UMS_ERR_NO_MEMORY, 0, "out of memory");
    }
    pthread_mutex_init(&ev->lock, NULL);
    pthread_cond_init(&ev->cond, NULL);
    ev->refs = 2;
    ev->result = UMS_ERR_NOT_READY;
    *j = (ums__job){.a = a, .first = first, .last = last, .dst = location, .ev = ev};
    pthread_mutex_lock(&rt->work_lock);
    if (rt->work_tail) rt->work_tail->next = j;
    else rt->work_head = j;
    rt->work_tail = j;
    pthread_cond_signal(&rt->work_cond);
    pthread_mutex_unlock(&rt->work_lock);
    *event = ev;
    return UMS_OK;
}

UMS_API ums_result ums_event_wait(ums_event_t *ev, uint64_t timeout_ns) {
    if (!ev) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "event is NULL");
    pthread_mutex_lock(&ev->lock);
    if (!ev->done && timeout_ns == UINT64_MAX) {
        while (!ev->done) pthread_cond_wait(&ev->cond, &ev->lock);
    } else if (!ev->done && timeout_ns > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + timeout_ns % 1000000000ull;
        ts.tv_sec += (time_t)(timeout_ns / 1000000000ull + ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        while (!ev->done && pthread_cond_timedwait(&ev->cond, &ev->lock, &ts) == 0) {}
    }
    bool done = ev->done;
    ums_result r = ev->result;
    ums_error_info e = ev->error;
    pthread_mutex_unlock(&ev->lock);
    if (!done)
        return timeout_ns ? ums__fail(__func__, "core", UMS_ERR_TIMEOUT, 0, "event not complete after %llu ns",
                                      (unsigned long long)timeout_ns)
                          : UMS_ERR_NOT_READY;
    if (r != UMS_OK) *(ums_error_info *)ums_last_error() = e;
    return r;
}

UMS_API ums_result ums_event_query(ums_event_t *ev, ums_migrate_report *report) {
    if (!ev) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "event is NULL");
    pthread_mutex_lock(&ev->lock);
    bool done = ev->done;
    ums_result r = ev->result;
    if (report) *report = ev->rep;
    pthread_mutex_unlock(&ev->lock);
    return done ? r : UMS_ERR_NOT_READY;
}

UMS_API ums_result ums_event_release(ums_event_t *ev) {
    if (!ev) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "event is NULL");
    event_unref(ev);
    return UMS_OK;
}

/* ---- advice ---- */

UMS_API const char *ums_advice_name(ums_advice advice) {
    switch (advice) {
    case UMS_ADVISE_READ_MOSTLY: return "read-mostly";
    case UMS_ADVISE_UNSET_READ_MOSTLY: return "unset-read-mostly";
    case UMS_ADVISE_PREFERRED_LOCATION: return "preferred-location";
    case UMS_ADVISE_UNSET_PREFERRED_LOCATION: return "unset-preferred-location";
    case UMS_ADVISE_ACCESSED_BY: return "accessed-by";
    case UMS_ADVISE_UNSET_ACCESSED_BY: return "unset-accessed-by";
    }
    return "unknown";
}

static ums_result ums_advise_ex_impl(void *ptr, size_t len, ums_advice advice, ums_location_t location,
                                 ums_advice_outcome *outcome) {
    static const char fn[] = "ums_advise";
    bool needs_loc = advice == UMS_ADVISE_PREFERRED_LOCATION || advice == UMS_ADVISE_ACCESSED_BY ||
                     advice == UMS_ADVISE_UNSET_ACCESSED_BY;
    if (advice < UMS_ADVISE_READ_MOSTLY || advice > UMS_ADVISE_UNSET_ACCESSED_BY)
        return ums__fail(fn, "core", UMS_ERR_UNKNOWN_ADVICE, 0, "advice %d is not a ums_advice", (int)advice);
    ums__alloc *a;
    size_t first, last;
    ums_result r = range_get(ptr, len, location, needs_loc, fn, &a, &first, &last);
    if (r != UMS_OK) return r;
    ums_runtime_t *rt = a->rt;
    ums_advice_outcome out = {.status = UMS_ADVICE_HONOURED, .blocks = last - first + 1};
    const ums__location *L = needs_loc ? &rt->locs[location] : NULL;
    if (advice == UMS_ADVISE_ACCESSED_BY && L->info.kind == UMS_LOCATION_DEVICE &&
        !(L->info.flags & UMS_LOCATION_FLAG_HOST_ACCESS)) {
        out.status = UMS_ADVICE_DEGRADED;
        snprintf(out.reason, sizeof out.reason,
                 "%s cannot access host memory: its accesses migrate data instead of mapping it", L->name);
    } else if (advice == UMS_ADVISE_ACCESSED_BY && L->info.kind == UMS_LOCATION_HOST_NODE) {
        out.status = UMS_ADVICE_IGNORED;
        snprintf(out.reason, sizeof out.reason, "%s is a host node: CPU threads always reach host copies", L->name);
    } else if (advice == UMS_ADVISE_PREFERRED_LOCATION && L->info.kind == UMS_LOCATION_DEVICE) {
        out.status = UMS_ADVICE_DEGRADED;
        snprintf(out.reason, sizeof out.reason,
                 "%s is a device: CPU accesses still fetch blocks to the host; prefetch or kernels return them", L->name);
    }
    for (size_t i = first; i <= last; i++) {
        ums__block *b = &a->blocks[i];
        pthread_mutex_lock(&b->lock);
        switch (advice) {
        case UMS_ADVISE_READ_MOSTLY: b->advice |= UMS_BLOCK_ADVICE_READ_MOSTLY; break;
        case UMS_ADVISE_UNSET_READ_MOSTLY: b->advice &= ~(unsigned)UMS_BLOCK_ADVICE_READ_MOSTLY; break;
        case UMS_ADVISE_PREFERRED_LOCATION:
            b->preferred = location;
            b->advice |= UMS_BLOCK_ADVICE_PREFERRED;
            break;
        case UMS_ADVISE_UNSET_PREFERRED_LOCATION:
            b->preferred = UMS_LOCATION_NONE;
            b->advice &= ~(unsigned)UMS_BLOCK_ADVICE_PREFERRED;
            break;
        case UMS_ADVISE_ACCESSED_BY:
            b->accessed_by |= 1ull << location;
            b->advice |= UMS_BLOCK_ADVICE_ACCESSED_BY;
            break;
        case UMS_ADVISE_UNSET_ACCESSED_BY:
            b->accessed_by &= ~(1ull << location);
            if (!b->accessed_by) b->advice &= ~(unsigned)UMS_BLOCK_ADVICE_ACCESSED_BY;
            break;
        }
        pthread_mutex_unlock(&b->lock);
    }
    ums__alloc_put(a);
    if (outcome) *outcome = out;
    return UMS_OK;
}

UMS_API ums_result ums_advise(void *ptr, size_t len, ums_advice advice, ums_location_t location) {
    return ums_advise_ex(ptr, len, advice, location, NULL);
}

/* ---- residency ---- */

UMS_API const char *ums_block_state_name(ums_block_state s) {
    switch (s) {
    case UMS_BLOCK_HOST: return "host";
    case UMS_BLOCK_DEVICE: return "device";
    case UMS_BLOCK_SHARED: return "shared";
    case UMS_BLOCK_MIGRATING: return "migrating";
    }
    return "unknown";
}

static ums_result ums_query_impl(const void *ptr, size_t len, ums_block_info *out, size_t cap, size_t *count) {
    static const char fn[] = "ums_query";
    if (!count) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "count is NULL");
    if (cap > 0 && !out) return ums__fail(fn, "core", UMS_ERR_NULL_POINTER, 0, "out is NULL with cap %zu", cap);
    ums__alloc *a;
    size_t first, last;
    ums_result r = range_get(ptr, len, 0, false, fn, &a, &first, &last);
    if (r != UMS_OK) return r;
    size_t n = last - first + 1;
    for (size_t k = 0; k < n && k < cap; k++) {
        ums__block *b = &a->blocks[first + k];
        pthread_mutex_lock(&b->lock);
        ums_block_state st = (ums_block_state)atomic_load(&b->state);
        out[k] = (ums_block_info){.addr = ums__block_addr(a, first + k),
                                  .len = a->rt->block_size,
                                  .state = st,
                                  .valid = ums__block_valid_mask(b),
                                  .home = st == UMS_BLOCK_MIGRATING ? b->mig_src
                                          : b->host_valid          ? b->host_loc
                                                                   : b->dev[0].loc,
                                  .target = st == UMS_BLOCK_MIGRATING ? b->mig_dst : UMS_LOCATION_NONE,
                                  .preferred = b->preferred,
                                  .accessed_by = b->accessed_by,
                                  .advice = b->advice};
        pthread_mutex_unlock(&b->lock);
    }
    ums__alloc_put(a);
    *count = n;
    if (cap > 0 && cap < n)
        return ums__fail(fn, "core", UMS_ERR_BUFFER_TOO_SMALL, 0, "%zu blocks in range, room for %zu", n, cap);
    return UMS_OK;
}

/* ---- public entry points: the last-error contract (ums__api_enter/leave) ---- */

UMS_API ums_result ums_migrate_ex(void *ptr, size_t len, ums_location_t location, ums_migrate_report *report) {
    return UMS_API_CALL("ums_migrate", ums_migrate_ex_impl(ptr, len, location, report));
}

UMS_API ums_result ums_prefetch(void *ptr, size_t len, ums_location_t location, ums_event_t **event) {
    return UMS_API_CALL("ums_prefetch", ums_prefetch_impl(ptr, len, location, event));
}

UMS_API ums_result ums_advise_ex(void *ptr, size_t len, ums_advice advice, ums_location_t location, ums_advice_outcome *outcome) {
    return UMS_API_CALL("ums_advise", ums_advise_ex_impl(ptr, len, advice, location, outcome));
}

UMS_API ums_result ums_query(const void *ptr, size_t len, ums_block_info *out, size_t cap, size_t *count) {
    return UMS_API_CALL("ums_query", ums_query_impl(ptr, len, out, cap, count));
}
