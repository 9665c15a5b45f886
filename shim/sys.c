/* The overridable system-call table and its failure injection. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static const char *const inject_names[UMS_SYS_COUNT + 1] = {
    "mmap", "munmap", "mprotect", "madvise", "mremap", "mbind", "userfaultfd", "uffd_api",
    "uffd_register", "uffd_unregister", "uffd_copy", "uffd_zeropage", "uffd_move", "uffd_wp",
    "uffd_wake", "pipe", "thread_create", "calloc", "op:init", "op:location_count",
    "op:location_describe", "op:mem_alloc", "op:copy_to", "op:copy_from", "op:copy_peer",
    "op:fence_wait", "op:copy_to_many", "op:copy_from_many", NULL};

/* Process-wide injection state. Global by necessity: the hooks must reach every
 * runtime and the signal path, and tests drive them from outside any runtime.
 * All fields are atomics; `armed` keeps the fast path to one relaxed load. */
static struct {
    _Atomic unsigned armed;
    _Atomic unsigned calls[UMS_SYS_COUNT];
    _Atomic unsigned nth[UMS_SYS_COUNT];   /* 0 = not injected */
    _Atomic unsigned count[UMS_SYS_COUNT]; /* failures to inject, 0 = unlimited */
    _Atomic int err[UMS_SYS_COUNT];
    _Atomic unsigned fired;
} inj;

int ums__inject_check(ums__sysid id) {
    if (!atomic_load_explicit(&inj.armed, memory_order_relaxed)) return 0;
    unsigned nth = atomic_load(&inj.nth[id]);
    if (nth == 0) return 0;
    unsigned call = atomic_fetch_add(&inj.calls[id], 1) + 1;
    unsigned count = atomic_load(&inj.count[id]);
    if (call < nth || (count != 0 && call >= nth + count)) return 0;
    atomic_fetch_add(&inj.fired, 1);
    return atomic_load(&inj.err[id]);
}

UMS_API ums_result ums_test_inject(const char *name, unsigned nth, unsigned count, int err) {
    if (!name) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "name is NULL");
    if (nth == 0) return ums__fail(__func__, "core", UMS_ERR_INVALID_ARG, 0, "nth must be 1 or more");
    for (int i = 0; i < UMS_SYS_COUNT; i++) {
        if (strcmp(name, inject_names[i]) == 0) {
            bool op = strncmp(name, "op:", 3) == 0;
            if (op ? err >= 0 : err <= 0)
                return ums__fail(__func__, "core", UMS_ERR_INVALID_ARG, 0,
                                 "err %d for '%s': %s", err, name,
                                 op ? "backend operations fail with a negative ums_result" : "system calls fail with a positive errno");
            atomic_store(&inj.calls[i], 0);
            atomic_store(&inj.err[i], err);
            atomic_store(&inj.count[i], count);
            atomic_store(&inj.nth[i], nth);
            atomic_store(&inj.armed, 1);
            return UMS_OK;
        }
    }
    return ums__fail(__func__, "core", UMS_ERR_INVALID_ARG, 0, "unknown injection point '%s'", name);
}

UMS_API void ums_test_inject_clear(void) {
    atomic_store(&inj.armed, 0);
    for (int i = 0; i < UMS_SYS_COUNT; i++) {
        atomic_store(&inj.nth[i], 0);
        atomic_store(&inj.calls[i], 0);
    }
    atomic_store(&inj.fired, 0);
}

UMS_API unsigned ums_test_injected_count(void) { return atomic_load(&inj.fired); }

UMS_API const char *const *ums_test_inject_names(void) { return inject_names; }

#define INJECT_OR(id, failval)                 \
    do {                                       \
        int e_ = ums__inject_check(id);        \
        if (e_) {                              \
            errno = e_;                        \
            return failval;                    \
        }                                      \
    } while (0)

void *ums__sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    INJECT_OR(UMS_SYS_MMAP, MAP_FAILED);
    return mmap(addr, len, prot, flags, fd, off);
}
int ums__sys_munmap(void *addr, size_t len) {
    INJECT_OR(UMS_SYS_MUNMAP, -1);
    return munmap(addr, len);
}
int ums__sys_mprotect(void *addr, size_t len, int prot) {
    INJECT_OR(UMS_SYS_MPROTECT, -1);
    return mprotect(addr, len, prot);
}
int ums__sys_madvise(void *addr, size_t len, int advice) {
    INJECT_OR(UMS_SYS_MADVISE, -1);
    return madvise(addr, len, advice);
}
void *ums__sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr) {
    INJECT_OR(UMS_SYS_MREMAP, MAP_FAILED);
    return mremap(old, old_len, new_len, flags, new_addr);
}
long ums__sys_mbind(void *addr, size_t len, int mode, const unsigned long *mask, unsigned long maxnode,
                    unsigned flags) {
    INJECT_OR(UMS_SYS_MBIND, -1);
    return syscall(SYS_mbind, addr, len, mode, mask, maxnode, flags);
}
int ums__sys_userfaultfd(int flags) {
    INJECT_OR(UMS_SYS_USERFAULTFD, -1);
    return (int)syscall(SYS_userfaultfd, flags);
}
int ums__sys_uffd_ioctl(ums__sysid id, int fd, unsigned long req, void *arg) {
    INJECT_OR(id, -1);
    int rc;
    /* EAGAIN: a non-cooperative event is pending; the ioctl is safe to repeat.
     * (Range ioctls that made progress report it; callers handle partial work.) */
    for (int tries = 0; tries < 1000; tries++) {
        rc = ioctl(fd, req, arg);
        if (rc == 0 || errno != EAGAIN) return rc;
        if (id == UMS_SYS_UFFD_COPY || id == UMS_SYS_UFFD_ZEROPAGE || id == UMS_SYS_UFFD_MOVE) return rc;
        sched_yield();
    }
    return rc;
}
int ums__sys_pipe(int fds[2]) {
    INJECT_OR(UMS_SYS_PIPE, -1);
    return pipe2(fds, O_CLOEXEC | O_NONBLOCK);
}
int ums__sys_thread_create(void *thread, void *(*fn)(void *), void *arg) {
    int e = ums__inject_check(UMS_SYS_THREAD_CREATE);
    if (e) return e;
    return pthread_create((pthread_t *)thread, NULL, fn, arg);
}
void *ums__map_staging(size_t size) {
    const size_t huge = (size_t)2 << 20;
    size_t align = size >= huge ? huge : 4096;
    char *m = ums__sys_mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)m + align - 1) / align * align;
    if (a > (uintptr_t)m) munmap(m, a - (uintptr_t)m);
    size_t tail = (uintptr_t)m + size + align - (a + size);
    if (tail) munmap((char *)a + size, tail);
    if (size >= huge) madvise((void *)a, size, MADV_HUGEPAGE);
    /* staged pages may become a managed block's (mremap), which a child never inherits */
    madvise((void *)a, size, MADV_DONTFORK);
    return (void *)a;
}

void *ums__calloc(size_t n, size_t size) {
    if (ums__inject_check(UMS_SYS_CALLOC)) return NULL;
    return calloc(n, size);
}
