/* Fault mode "signal": block states map to page protections (HOST read/write,
 * SHARED and readable MIGRATING read-only, DEVICE and blocking MIGRATING none).
 * A SIGSEGV on managed memory is handled in the faulting thread: it waits on
 * the block's generation word (a futex) while a migration runs, or asks the
 * service thread to resolve the fault (fetch, invalidate) and waits for it.
 * Faults outside managed memory go to the handler the application had. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

/* The SIGSEGV handler is process-wide state by nature. Installed by the first
 * runtime that needs it (every signal-mode runtime; a uffd-mode runtime whose
 * read-only installs move pages in) and kept, with the previous handler saved
 * for chaining, until the last one stops; `sig_users` counts them under
 * `sig_lock`. */
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned sig_users;
static struct sigaction prev_segv, prev_bus;

struct fault_req {
    void *addr;
    int write;
    _Atomic uint32_t *done;
};

static void futex_wait(_Atomic uint32_t *word, uint32_t val, long timeout_ns) {
    struct timespec ts = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void chain(struct sigaction *prev, int sig, siginfo_t *si, void *uc) {
    if (prev->sa_flags & SA_SIGINFO) {
        if (prev->sa_sigaction) {
            prev->sa_sigaction(sig, si, uc);
            return;
        }
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* Default action: restore it and return; the access faults again and the
     * process gets the signal's usual behaviour. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void ums__ro_window_wake(ums__block *b) { futex_wake_all(&b->ro_window); }

/* uffd mode: SIGSEGV on managed memory only comes from a write to a block that
 * a read-only install is putting in place (its range is read-only for those
 * microseconds). The writer waits for the install, then retries and takes an
 * ordinary write-protect fault. A fault seen just after the window closed is
 * retried a few times; one that persists is not ours and is passed on. */
static __thread unsigned segv_retries __attribute__((tls_model("initial-exec")));

static bool uffd_window_fault(ums__alloc *a, void *addr) {
    ums__block *b = &a->blocks[ums__block_index(a, addr)];
    if (atomic_load(&b->ro_window)) {
        while (atomic_load(&b->ro_window)) futex_wait(&b->ro_window, 1, 20 * 1000000L);
        segv_retries = 0;
        return true;
    }
    if (++segv_retries < 8) return true;
    segv_retries = 0;
    return false;
}

static void on_fault(int sig, siginfo_t *si, void *ucv) {
    int saved = errno;
    ums__alloc *a = ums__registry_lookup(si->si_addr);
    bool managed = a && (char *)si->si_addr < a->base + a->map_size;
    if (managed && a->rt->fault_mode == UMS_FAULT_UFFD && sig == SIGSEGV && uffd_window_fault(a, si->si_addr)) {
        errno = saved;
        return;
    }
    if (!managed || a->rt->fault_mode != UMS_FAULT_SIGNAL) {
        chain(sig == SIGSEGV ? &prev_segv : &prev_bus, sig, si, ucv);
        errno = saved;
        return;
    }
    ums_runtime_t *rt = a->rt;
    bool is_write = true; /* where the CPU does not say, assume the worst */
#if defined(__x86_64__)
    ucontext_t *uc = ucv;
    is_write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#endif
    ums__block *b = &a->blocks[ums__block_index(a, si->si_addr)];
    uint32_t g = atomic_load(&b->gen);
    uint32_t st = atomic_load(&b->state);
    UMS_CTR_ADD(rt, faults, 1);
    UMS_CTR_ADD(rt, read_faults, is_write ? 0 : 1);
    UMS_CTR_ADD(rt, write_faults, is_write ? 1 : 0);
    uint64_t t0 = now_ns();
    bool waited = false;
    if (st == UMS_BLOCK_MIGRATING) {
        if (is_write && rt->cfg.migrate_write == UMS_MIGRATE_WRITE_ABORT) atomic_store(&b->write_abort, 1);
        /* Sleep until the block changes state; the timeout is only a safety net. */
        while (atomic_load(&b->gen) == g) futex_wait(&b->gen, g, 20 * 1000000L);
        waited = true;
    } else {
        _Atomic uint32_t done = 0;
        struct fault_req req = {si->si_addr, is_write, &done};
        while (write(rt->sig_pipe[1], &req, sizeof req) != (ssize_t)sizeof req) futex_wait(&b->gen, g, 1000000L);
        while (atomic_load(&done) == 0) futex_wait(&done, 0, 20 * 1000000L);
        waited = st != UMS_BLOCK_HOST;
    }
    if (waited) ums__count_wait(rt, is_write, now_ns() - t0);
    errno = saved;
}

static void *signal_thread(void *arg) {
    ums_runtime_t *rt = arg;
    struct pollfd p[2] = {{.fd = rt->sig_pipe[0], .events = POLLIN}, {.fd = rt->stop_fd[0], .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents) break;
        struct fault_req req;
        while (read(rt->sig_pipe[0], &req, sizeof req) == (ssize_t)sizeof req) {
            ums__fault_resolve(rt, req.addr, req.write != 0, false);
            atomic_store(req.done, 1);
            futex_wake_all(req.done);
        }
    }
    return NULL;
}

static ums_result sig_register(ums_runtime_t *rt, void *addr, size_t len) {
    (void)rt, (void)addr, (void)len;
    return UMS_OK;
}
static void sig_unregister(ums_runtime_t *rt, void *addr, size_t len) { (void)rt, (void)addr, (void)len; }

static ums_result prot(char *addr, size_t len, int p, const char *what) {
    if (ums__sys_mprotect(addr, len, p) != 0)
        return ums__fail(what, "core", errno == ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM, errno, "mprotect: %s",
                         strerror(errno));
    return UMS_OK;
}

static ums_result sig_populate(ums_runtime_t *rt, char *addr, size_t len) {
    (void)rt;
    /* First touch is handled by the kernel in this mode; populating is only a
     * hint whose failure changes nothing, so it is not an injection point. */
    madvise(addr, len, 23 /* MADV_POPULATE_WRITE */);
    return UMS_OK;
}
static ums_result sig_protect_read(ums_runtime_t *rt, char *addr, size_t len) {
    (void)rt;
    return prot(addr, len, PROT_READ, "write-protect");
}
static ums_result sig_unprotect(ums_runtime_t *rt, char *addr, size_t len) {
    (void)rt;
    return prot(addr, len, PROT_READ | PROT_WRITE, "unprotect");
}
static ums_result sig_zap(ums_runtime_t *rt, char *addr, size_t len) {
    (void)rt;
    ums_result r = prot(addr, len, PROT_NONE, "zap");
    if (r == UMS_OK && ums__sys_madvise(addr, len, MADV_DONTNEED) != 0)
        r = ums__fail("zap", "core", UMS_ERR_SYSTEM, errno, "madvise(DONTNEED): %s", strerror(errno));
    return r;
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* Move the staged pages over the block in one mremap: a thread sees either the
 * old protection (and waits) or the whole new block. MREMAP_DONTUNMAP leaves the
 * staging range mapped (empty), so its owner can free or reuse it. */
static ums_result sig_install(ums_runtime_t *rt, char *addr, void *staging, size_t len, bool read_only,
                              bool *consumed) {
    (void)rt;
    *consumed = false;
    ums_result r = prot(staging, len, read_only ? PROT_READ : PROT_READ | PROT_WRITE, "install");
    if (r != UMS_OK) return r;
    ums__sys_madvise(staging, len, MADV_DONTFORK);
    void *p = ums__sys_mremap(staging, len, len, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, addr);
    if (p == MAP_FAILED) {
        int e = errno;
        mprotect(staging, len, PROT_READ | PROT_WRITE);
        return ums__fail("install", "core", e == ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM, e, "mremap: %s",
                         strerror(e));
    }
    *consumed = true;
    /* the emptied staging range keeps the protection it had; give it back */
    mprotect(staging, len, PROT_READ | PROT_WRITE);
    return UMS_OK;
}

static void sig_wake(ums_runtime_t *rt, ums__block *b, char *addr, size_t len) {
    (void)rt, (void)addr, (void)len;
    if (b) futex_wake_all(&b->gen);
}

static ums_result sig_evict(ums_runtime_t *rt, char *addr, void *spare, size_t len) {
    (void)rt, (void)addr, (void)spare, (void)len;
    return UMS_ERR_NOT_SUPPORTED; /* pages cannot leave a range without a hole here */
}

static ums_result sig_start(ums_runtime_t *rt) {
    static const char fn[] = "ums_runtime_create";
    if (ums__sys_pipe(rt->sig_pipe) != 0)
        return ums__fail(fn, "core", UMS_ERR_SYSTEM, errno, "pipe: %s", strerror(errno));
    if (ums__sys_pipe(rt->stop_fd) != 0) {
        int e = errno;
        close(rt->sig_pipe[0]);
        close(rt->sig_pipe[1]);
        rt->sig_pipe[0] = rt->sig_pipe[1] = -1;
        return ums__fail(fn, "core", UMS_ERR_SYSTEM, e, "pipe: %s", strerror(e));
    }
    int e = ums__sys_thread_create(&rt->fault_thread, signal_thread, rt);
    if (e) {
        for (int i = 0; i < 2; i++) {
            close(rt->sig_pipe[i]);
            close(rt->stop_fd[i]);
            rt->sig_pipe[i] = rt->stop_fd[i] = -1;
        }
        return ums__fail(fn, "core", UMS_ERR_SYSTEM, e, "starting the fault thread: %s", strerror(e));
    }
    rt->fault_thread_started = true;
    ums__segv_acquire();
    rt->segv_held = true;
    return UMS_OK;
}

void ums__segv_acquire(void) {
    pthread_mutex_lock(&sig_lock);
    if (sig_users++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &prev_segv);
        sigaction(SIGBUS, &sa, &prev_bus);
    }
    pthread_mutex_unlock(&sig_lock);
}

void ums__segv_release(void) {
    pthread_mutex_lock(&sig_lock);
    if (--sig_users == 0) {
        sigaction(SIGSEGV, &prev_segv, NULL);
        sigaction(SIGBUS, &prev_bus, NULL);
    }
    pthread_mutex_unlock(&sig_lock);
}

static void sig_stop(ums_runtime_t *rt) {
    if (rt->fault_thread_started) {
        char c = 1;
        if (write(rt->stop_fd[1], &c, 1) != 1) { /* empty non-blocking pipe: cannot fail */ }
        pthread_join(rt->fault_thread, NULL);
        rt->fault_thread_started = false;
    }
    if (rt->segv_held) ums__segv_release();
    rt->segv_held = false;
    for (int i = 0; i < 2; i++) {
        if (rt->sig_pipe[i] >= 0) close(rt->sig_pipe[i]);
        if (rt->stop_fd[i] >= 0) close(rt->stop_fd[i]);
        rt->sig_pipe[i] = rt->stop_fd[i] = -1;
    }
}

const ums__fault_ops ums__fault_signal_ops = {
    .register_range = sig_register,
    .unregister_range = sig_unregister,
    .populate = sig_populate,
    .protect_read = sig_protect_read,
    .unprotect = sig_unprotect,
    .zap = sig_zap,
    .install = sig_install,
    .replace = NULL, /* the install is hole-free already: readers see the old
                        read-only pages until the one mremap puts the new ones in */
    .wake = sig_wake,
    .evict = sig_evict,
    .start = sig_start,
    .stop = sig_stop,
};
