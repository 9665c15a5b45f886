/* Address → allocation lookup across every runtime.
 *
 * Global by necessity: functions that take only a pointer (ums_free,
 * ums_migrate, ...) and the SIGSEGV handler must find the allocation, and its
 * runtime, from an address alone. A sorted array under a read/write lock; the
 * fault path only reads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static ums__alloc **reg;     /* sorted by base */
static size_t reg_n, reg_cap;
static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER; /* with free_cond: waits for refs */
static pthread_cond_t free_cond = PTHREAD_COND_INITIALIZER;

static size_t lower_bound(const void *p) {
    size_t lo = 0, hi = reg_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((const char *)reg[mid]->base <= (const char *)p) lo = mid + 1;
        else hi = mid;
    }
    return lo; /* first entry with base > p */
}

ums_result ums__registry_add(ums__alloc *a) {
    pthread_rwlock_wrlock(&reg_lock);
    if (reg_n == reg_cap) {
        size_t cap = reg_cap ? reg_cap * 2 : 64;
        ums__alloc **n = realloc(reg, cap * sizeof *n);
        if (!n || ums__inject_check(UMS_SYS_CALLOC)) {
            if (n) reg = n;
            pthread_rwlock_unlock(&reg_lock);
            return UMS_ERR_NO_MEMORY;
        }
        reg = n;
        reg_cap = cap;
    }
    size_t i = lower_bound(a->base);
    memmove(reg + i + 1, reg + i, (reg_n - i) * sizeof *reg);
    reg[i] = a;
    reg_n++;
    pthread_rwlock_unlock(&reg_lock);
    return UMS_OK;
}

void ums__registry_remove(ums__alloc *a) {
    pthread_rwlock_wrlock(&reg_lock);
    for (size_t i = 0; i < reg_n; i++) {
        if (reg[i] == a) {
            memmove(reg + i, reg + i + 1, (reg_n - i - 1) * sizeof *reg);
            reg_n--;
            break;
        }
    }
    if (reg_n == 0) {
        free(reg);
        reg = NULL;
        reg_cap = 0;
    }
    pthread_rwlock_unlock(&reg_lock);
}

static ums__alloc *find_locked(const void *p) {
    size_t i = lower_bound(p);
    if (i == 0) return NULL;
    ums__alloc *a = reg[i - 1];
    if ((const char *)p < a->base + a->map_size) return a;
    return NULL;
}

ums__alloc *ums__registry_lookup(const void *p) {
    pthread_rwlock_rdlock(&reg_lock);
    ums__alloc *a = find_locked(p);
    pthread_rwlock_unlock(&reg_lock);
    return a;
}

ums_result ums__alloc_get(const void *p, size_t len, const char *function, ums__alloc **out) {
    if (!p) return ums__fail(function, "core", UMS_ERR_NULL_POINTER, 0, "pointer is NULL");
    if (len == 0) return ums__fail(function, "core", UMS_ERR_BAD_SIZE, 0, "length is 0");
    if ((uintptr_t)p + len < (uintptr_t)p)
        return ums__fail(function, "core", UMS_ERR_BAD_SIZE, 0, "range %p + %zu overflows", p, len);
    pthread_rwlock_rdlock(&reg_lock);
    ums__alloc *a = find_locked(p);
    if (!a || a->dead) {
        pthread_rwlock_unlock(&reg_lock);
        return ums__fail(function, "core", UMS_ERR_NOT_MANAGED, 0, "%p is not inside a live allocation", p);
    }
    size_t off = (size_t)((uintptr_t)p - (uintptr_t)a->base);
    if (off > a->size || len > a->size - off) {
        pthread_rwlock_unlock(&reg_lock);
        return ums__fail(function, "core", UMS_ERR_OUT_OF_RANGE, 0,
                         "range [%zu, %zu) past the allocation's %zu bytes", off, off + len, a->size);
    }
    atomic_fetch_add(&a->refs, 1);
    pthread_rwlock_unlock(&reg_lock);
    *out = a;
    return UMS_OK;
}

void ums__alloc_put(ums__alloc *a) {
    if (atomic_fetch_sub(&a->refs, 1) == 1) {
        pthread_mutex_lock(&free_lock);
        pthread_cond_broadcast(&free_cond);
        pthread_mutex_unlock(&free_lock);
    }
}

/* Mark dead and unlink so no new reference can be taken, then wait for the
 * references in flight. Returns UMS_ERR_NOT_MANAGED / NOT_BASE as ums_free needs. */
ums_result ums__registry_retire(void *p, const char *function, ums__alloc **out) {
    if (!p) return ums__fail(function, "core", UMS_ERR_NULL_POINTER, 0, "pointer is NULL");
    pthread_rwlock_wrlock(&reg_lock);
    ums__alloc *a = find_locked(p);
    if (!a || a->dead) {
        pthread_rwlock_unlock(&reg_lock);
        return ums__fail(function, "core", UMS_ERR_NOT_MANAGED, 0, "%p is not a live allocation (foreign or already freed)", p);
    }
    if ((char *)p != a->base) {
        pthread_rwlock_unlock(&reg_lock);
        return ums__fail(function, "core", UMS_ERR_NOT_BASE, 0, "%p is %zu bytes inside the allocation at %p", p,
                         (size_t)((char *)p - a->base), (void *)a->base);
    }
    a->dead = true;
    pthread_rwlock_unlock(&reg_lock);
    pthread_mutex_lock(&free_lock);
    while (atomic_load(&a->refs) > 0) pthread_cond_wait(&free_cond, &free_lock);
    pthread_mutex_unlock(&free_lock);
    *out = a;
    return UMS_OK;
}
