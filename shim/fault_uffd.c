/* Fault mode "uffd": allocations are registered with userfaultfd for MISSING
 * and write-protect faults. Faulting threads sleep in the kernel; the service
 * thread reads their faults, resolves them (ums__fault_resolve) and wakes them.
 * Readers of a write-protected range never fault. The service thread never
 * touches managed memory: it installs data with ioctls. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "uffd_compat.h"

static int open_uffd(bool *kernel_faults) {
    *kernel_faults = true;
    int fd = ums__sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) return fd;
    int e = errno;
    if (e == EPERM) {
        /* unprivileged_userfaultfd=0: user-mode faults are still allowed */
        fd = ums__sys_userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
        if (fd >= 0) {
            *kernel_faults = false;
            return fd;
        }
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) {
            fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
            close(dev);
            if (fd >= 0) return fd;
        }
    }
    errno = e;
    return -1;
}

ums_result ums__uffd_probe(ums_runtime_t *rt) {
    static const char fn[] = "ums_runtime_create";
    bool kf;
    int fd = open_uffd(&kf);
    if (fd < 0)
        return ums__fail(fn, "core", UMS_ERR_NOT_SUPPORTED, errno, "userfaultfd: %s", strerror(errno));
    /* The API handshake happens once per descriptor: ask with no features to
     * learn what the kernel has, then open the real one asking for what we use. */
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_API, fd, UFFDIO_API, &api) != 0) {
        int e = errno;
        close(fd);
        return ums__fail(fn, "core", UMS_ERR_NOT_SUPPORTED, e, "UFFDIO_API: %s", strerror(e));
    }
    close(fd);
    uint64_t have = api.features;
    if (!(have & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
        return ums__fail(fn, "core", UMS_ERR_NOT_SUPPORTED, 0, "userfaultfd lacks write-protect on anonymous memory");
    fd = open_uffd(&kf);
    if (fd < 0) return ums__fail(fn, "core", UMS_ERR_NOT_SUPPORTED, errno, "userfaultfd: %s", strerror(errno));
    api = (struct uffdio_api){.api = UFFD_API,
                              .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | (have & UFFD_FEATURE_MOVE)};
    if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_API, fd, UFFDIO_API, &api) != 0) {
        int e = errno;
        close(fd);
        return ums__fail(fn, "core", UMS_ERR_NOT_SUPPORTED, e, "UFFDIO_API: %s", strerror(e));
    }
    rt->uffd = fd;
    rt->uffd_wp = true;
    rt->uffd_move = (api.features & UFFD_FEATURE_MOVE) != 0;
    rt->uffd_kernel_faults = kf;
    return UMS_OK;
}

static ums_result uffd_register(ums_runtime_t *rt, void *addr, size_t len) {
    struct uffdio_register reg = {.range = {(uintptr_t)addr, len},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP};
    if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_REGISTER, rt->uffd, UFFDIO_REGISTER, &reg) != 0)
        return ums__fail("ums_alloc", "core", UMS_ERR_SYSTEM, errno, "UFFDIO_REGISTER: %s", strerror(errno));
    const uint64_t need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_WRITEPROTECT) | (1ull << _UFFDIO_WAKE);
    if ((reg.ioctls & need) != need) {
        struct uffdio_range r = {(uintptr_t)addr, len};
        ioctl(rt->uffd, UFFDIO_UNREGISTER, &r);
        return ums__fail("ums_alloc", "core", UMS_ERR_NOT_SUPPORTED, 0, "registered range lacks copy/write-protect ioctls");
    }
    return UMS_OK;
}

/* Write-protect mode only: UFFDIO_MOVE may move pages into the range, and a
 * missing page there is filled by the kernel as usual (no page of a staging
 * range is ever write-protected: moved pages arrive writable). So a full
 * staging block can stay registered while copies touch it. */
static ums_result uffd_register_spare(ums_runtime_t *rt, void *addr, size_t len) {
    struct uffdio_register reg = {.range = {(uintptr_t)addr, len}, .mode = UFFDIO_REGISTER_MODE_WP};
    if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_REGISTER, rt->uffd, UFFDIO_REGISTER, &reg) != 0)
        return ums__fail("staging", "core", UMS_ERR_SYSTEM, errno, "UFFDIO_REGISTER: %s", strerror(errno));
    return UMS_OK;
}

static void uffd_unregister(ums_runtime_t *rt, void *addr, size_t len) {
    struct uffdio_range r = {(uintptr_t)addr, len};
    ums__sys_uffd_ioctl(UMS_SYS_UFFD_UNREGISTER, rt->uffd, UFFDIO_UNREGISTER, &r);
}

#define HUGE_SIZE ((size_t)2 << 20)

/* Populate a whole 2 MiB-aligned stretch with zero-filled huge pages: fresh
 * aligned anonymous memory, faulted in (the kernel zeroes it, as a huge page
 * where it can), moved in by UFFDIO_MOVE (a page-table entry, not a copy).
 * A block of huge pages is write-protected, moved and dropped in one entry each
 * instead of 512. False when it could not: the caller maps zero pages. */
static bool populate_huge(ums_runtime_t *rt, char *addr, size_t len) {
    if (!rt->thp || ((uintptr_t)addr | len) % HUGE_SIZE != 0) return false;
    for (size_t off = 0; off < len; off += HUGE_SIZE) {
        char *fresh = ums__map_staging(HUGE_SIZE);
        if (!fresh) return false;
        bool ok = ums__sys_madvise(fresh, HUGE_SIZE, MADV_POPULATE_WRITE) == 0;
        size_t done = 0;
        while (ok && done < HUGE_SIZE) {
            struct uffdio_move m = {.dst = (uintptr_t)(addr + off + done),
                                    .src = (uintptr_t)(fresh + done),
                                    .len = HUGE_SIZE - done,
                                    .mode = UFFDIO_MOVE_MODE_DONTWAKE};
            if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_MOVE, rt->uffd, UFFDIO_MOVE, &m) == 0) done = HUGE_SIZE;
            else if (m.move > 0) done += (size_t)m.move;
            else if (errno != EAGAIN) ok = false; /* e.g. EEXIST: part of it is mapped already */
        }
        munmap(fresh, HUGE_SIZE);
        if (!ok) return false; /* what was moved stays; zero pages fill the rest */
    }
    return true;
}

/* Map zero pages over every missing page of [addr, addr+len). */
static ums_result uffd_populate(ums_runtime_t *rt, char *addr, size_t len) {
    if (populate_huge(rt, addr, len)) return UMS_OK;
    size_t done = 0;
    while (done < len) {
        struct uffdio_zeropage z = {.range = {(uintptr_t)(addr + done), len - done}, .mode = 0};
        if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_ZEROPAGE, rt->uffd, UFFDIO_ZEROPAGE, &z) == 0) return UMS_OK;
        int e = errno;
        if (z.zeropage > 0) done += (size_t)z.zeropage;
        else if (e == EEXIST) done += rt->page_size; /* already mapped: skip it */
        else if (e != EAGAIN)
            return ums__fail("populate", "core", e == ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM, e,
                             "UFFDIO_ZEROPAGE: %s", strerror(e));
    }
    return UMS_OK;
}

static ums_result wp(ums_runtime_t *rt, char *addr, size_t len, bool on) {
    struct uffdio_writeprotect w = {.range = {(uintptr_t)addr, len}, .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_WP, rt->uffd, UFFDIO_WRITEPROTECT, &w) != 0)
        return ums__fail("write-protect", "core", UMS_ERR_SYSTEM, errno, "UFFDIO_WRITEPROTECT: %s", strerror(errno));
    return UMS_OK;
}

static ums_result uffd_protect_read(ums_runtime_t *rt, char *addr, size_t len) { return wp(rt, addr, len, true); }
static ums_result uffd_unprotect(ums_runtime_t *rt, char *addr, size_t len) { return wp(rt, addr, len, false); }
static ums_result uffd_zap(ums_runtime_t *rt, char *addr, size_t len) {
    (void)rt;
    if (ums__sys_madvise(addr, len, MADV_DONTNEED) != 0)
        return ums__fail("zap", "core", UMS_ERR_SYSTEM, errno, "madvise(DONTNEED): %s", strerror(errno));
    return UMS_OK;
}

static ums_result uffd_copy(ums_runtime_t *rt, char *addr, const char *src, size_t len, bool read_only) {
    size_t done = 0;
    while (done < len) {
        struct uffdio_copy c = {.dst = (uintptr_t)(addr + done),
                                .src = (uintptr_t)(src + done),
                                .len = len - done,
                                .mode = UFFDIO_COPY_MODE_DONTWAKE | (read_only ? UFFDIO_COPY_MODE_WP : 0)};
        if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_COPY, rt->uffd, UFFDIO_COPY, &c) == 0) return UMS_OK;
        int e = errno;
        if (c.copy > 0) done += (size_t)c.copy;
        else if (e == EEXIST) done += rt->page_size; /* installed by an earlier attempt */
        else if (e != EAGAIN)
            return ums__fail("install", "core", e == ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM, e,
                             "UFFDIO_COPY: %s", strerror(e));
    }
    return UMS_OK;
}

static ums_result install_ro_move(ums_runtime_t *rt, char *addr, void *staging, size_t len, bool *consumed);

/* Install staged data over a block: the block's pages are dropped, then the
 * staged pages are moved in (UFFDIO_MOVE, no copy) or copied in (UFFDIO_COPY).
 * Read-only, they are moved in by install_ro_move where the runtime allows it
 * (UFFDIO_MOVE would make them writable, and UFFDIO_COPY copies).
 * Nobody is woken here: the caller records the new state first, then wakes the
 * threads that faulted on the range (fops->wake). */
static ums_result uffd_install(ums_runtime_t *rt, char *addr, void *staging, size_t len, bool read_only,
                               bool *consumed) {
    *consumed = false;
    if (read_only && rt->ro_move) {
        ums_result r = install_ro_move(rt, addr, staging, len, consumed);
        if (r == UMS_OK || *consumed) return r;
        /* nothing changed: install by a copy instead */
    }
    ums_result r = uffd_zap(rt, addr, len);
    if (r != UMS_OK) return r;
    size_t done = 0;
    if (rt->uffd_move && !read_only) {
        while (done < len) {
            struct uffdio_move m = {.dst = (uintptr_t)(addr + done),
                                    .src = (uintptr_t)((char *)staging + done),
                                    .len = len - done,
                                    .mode = UFFDIO_MOVE_MODE_DONTWAKE};
            if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_MOVE, rt->uffd, UFFDIO_MOVE, &m) == 0) {
                done = len;
                break;
            }
            if (m.move > 0) done += (size_t)m.move;
            else if (errno != EAGAIN) break; /* e.g. a shared or pinned page: copy the rest */
        }
        *consumed = done > 0;
        if (done == len) return UMS_OK;
    }
    /* The block's own pages are gone now and the staged copy is identical to them
     * (writers are held), so finishing the install is the only way to keep the
     * data: a failure here (ENOMEM) is retried before it is reported. */
    for (int attempt = 0; attempt < 20; attempt++) {
        r = uffd_copy(rt, addr + done, (char *)staging + done, len - done, read_only);
        if (r == UMS_OK) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* pages a failed attempt installed stay; the retry skips them */
    }
    return r;
}

/* A thread asleep on the range stays asleep until this succeeds, so it is retried;
 * it can only fail for a bad range, which would be a bug, or transiently. */
static ums_result uffd_evict(ums_runtime_t *rt, char *addr, void *spare, size_t len) {
    if (!rt->uffd_move) return UMS_ERR_NOT_SUPPORTED;
    size_t done = 0;
    while (done < len) {
        struct uffdio_move m = {.dst = (uintptr_t)((char *)spare + done),
                                .src = (uintptr_t)(addr + done),
                                .len = len - done,
                                .mode = UFFDIO_MOVE_MODE_DONTWAKE | UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES};
        if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_MOVE, rt->uffd, UFFDIO_MOVE, &m) == 0) return UMS_OK;
        if (m.move > 0) done += (size_t)m.move;
        else if (errno != EAGAIN) break;
    }
    /* The caller drops what is left (zap) and discards the spare. */
    return ums__fail("evict", "core", UMS_ERR_SYSTEM, errno, "UFFDIO_MOVE out of %p: %s", (void *)addr, strerror(errno));
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* After a failed mremap: the kernel checks what can fail before it unmaps the
 * destination, but should the block's range be gone anyway, map it again and
 * put the staged copy (identical: writers are held) in. */
static ums_result restore_if_unmapped(ums_runtime_t *rt, char *addr, void *staging, size_t len, bool read_only) {
    unsigned char vec[512];
    bool mapped = true;
    for (size_t off = 0; off < len && mapped; off += sizeof vec * rt->page_size) {
        size_t n = len - off < sizeof vec * rt->page_size ? len - off : sizeof vec * rt->page_size;
        mapped = !(mincore(addr + off, n, vec) != 0 && errno == ENOMEM);
    }
    if (mapped) return UMS_OK;
    ums__log(rt, UMS_LOG_ERROR, "a failed mremap left block %p unmapped: mapping it again", (void *)addr);
    void *m = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (m == MAP_FAILED)
        return ums__fail("replace", "core", UMS_ERR_SYSTEM, errno, "mapping block %p again: %s", (void *)addr,
                         strerror(errno));
    madvise(addr, len, MADV_DONTFORK);
    ums_result r = uffd_register(rt, addr, len);
    if (r == UMS_OK) r = uffd_copy(rt, addr, staging, len, read_only);
    return r;
}

/* Retry a step that must not be given up once the staged pages are in the block
 * (the only copy of those bytes): ENOMEM from a mapping change is transient. */
static ums_result retry_step(ums_runtime_t *rt, char *addr, size_t len, ums_result (*step)(ums_runtime_t *, char *, size_t)) {
    ums_result r = UMS_OK;
    for (int attempt = 0; attempt < 100; attempt++) {
        r = step(rt, addr, len);
        if (r == UMS_OK) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return r;
}

static ums_result step_register(ums_runtime_t *rt, char *addr, size_t len) { return uffd_register(rt, addr, len); }
static ums_result step_protect(ums_runtime_t *rt, char *addr, size_t len) { return wp(rt, addr, len, true); }
static ums_result step_writable(ums_runtime_t *rt, char *addr, size_t len) {
    (void)rt;
    if (ums__sys_mprotect(addr, len, PROT_READ | PROT_WRITE) != 0)
        return ums__fail("install", "core", errno == ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM, errno,
                         "mprotect: %s", strerror(errno));
    return UMS_OK;
}

/* Replace a populated block's pages by the staged ones with one mremap of the
 * staging range over the block: the kernel drops the old pages and moves the new
 * page tables under the mmap lock, so a reader touching the block meanwhile
 * waits in the kernel for microseconds and never takes a userfault. The moved
 * range arrives without the userfaultfd registration (UFFD_FEATURE_EVENT_REMAP
 * would keep it, but then mremap waits for the fault thread, which may itself be
 * waiting for this block), so it is registered again at once. Writers asleep on
 * the old range are woken by the caller as for any install. */
static ums_result uffd_replace(ums_runtime_t *rt, char *addr, void *staging, size_t len, bool *consumed) {
    *consumed = false;
    if (!rt->replace_ok) return UMS_ERR_NOT_SUPPORTED;
    /* staging ranges are MADV_DONTFORK from the start (ums__map_staging), as the managed range is */
    void *p = ums__sys_mremap(staging, len, len, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, addr);
    if (p == MAP_FAILED) {
        int e = errno;
        ums_result r = restore_if_unmapped(rt, addr, staging, len, false);
        if (r != UMS_OK) return r;
        return ums__fail("replace", "core", e == ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM, e, "mremap: %s",
                         strerror(e));
    }
    *consumed = true;
    /* Until this succeeds the block is an ordinary mapping holding the new data:
     * nothing is lost, but a later drop of its pages would read back zeros, so
     * the registration is retried rather than given up. */
    ums_result r = retry_step(rt, addr, len, step_register);
    if (r != UMS_OK)
        ums__log(rt, UMS_LOG_ERROR, "registering block %p again after a replace failed: %s", (void *)addr,
                 ums_last_error()->message);
    return r;
}

/* A read-only install that moves the staged pages in instead of copying them.
 * The staging range is made read-only and one mremap puts it over the block
 * (hole-free, as uffd_replace); the block is registered again, write-protected,
 * and only then made writable as a mapping, so its pages stay write-protected
 * for userfaultfd. Until then the block is a read-only mapping: readers read
 * it, a writer gets SIGSEGV and waits in the handler on b->ro_window (the
 * runtime holds the SIGSEGV handler for this), then retries and takes the
 * write-protect fault as on any SHARED block. A kernel-mode write in those
 * microseconds gets EFAULT. Returns UMS_ERR_NOT_SUPPORTED, nothing changed, when
 * the block cannot take this path; once the pages are in (*consumed) it does
 * not give up. */
static ums_result install_ro_move(ums_runtime_t *rt, char *addr, void *staging, size_t len, bool *consumed) {
    ums__alloc *a = ums__registry_lookup(addr);
    if (!a || addr < a->base || addr + len > a->base + a->map_size) return UMS_ERR_NOT_SUPPORTED;
    ums__block *b = &a->blocks[ums__block_index(a, addr)];
    if (ums__sys_mprotect(staging, len, PROT_READ) != 0) return UMS_ERR_NOT_SUPPORTED;
    atomic_store(&b->ro_window, 1);
    void *p = ums__sys_mremap(staging, len, len, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, addr);
    ums_result r = UMS_OK;
    if (p == MAP_FAILED) {
        int e = errno;
        mprotect(staging, len, PROT_READ | PROT_WRITE);
        r = restore_if_unmapped(rt, addr, staging, len, true);
        /* the block is as it was (or mapped again with the data copied in): the
         * caller installs by a copy, which is correct either way */
        if (r == UMS_OK) r = UMS_ERR_NOT_SUPPORTED;
        else ums__log(rt, UMS_LOG_ERROR, "mremap of a read-only install: %s", strerror(e));
    } else {
        *consumed = true;
        mprotect(staging, len, PROT_READ | PROT_WRITE); /* the emptied range, for reuse */
        r = retry_step(rt, addr, len, step_register);
        if (r == UMS_OK) r = retry_step(rt, addr, len, step_protect);
        /* writable as a mapping even if the steps before failed: writers must not
         * be held forever (they then write a block the state says is shared, which
         * the error log reports) */
        ums_result rw = retry_step(rt, addr, len, step_writable);
        if (r == UMS_OK) r = rw;
        if (r != UMS_OK)
            ums__log(rt, UMS_LOG_ERROR, "read-only install of block %p: %s", (void *)addr, ums_last_error()->message);
    }
    atomic_store(&b->ro_window, 0);
    ums__ro_window_wake(b);
    return r;
}

static void uffd_wake(ums_runtime_t *rt, ums__block *b, char *addr, size_t len) {
    (void)b;
    struct uffdio_range r = {(uintptr_t)addr, len};
    for (int attempt = 0; attempt < 1000; attempt++) {
        if (ums__sys_uffd_ioctl(UMS_SYS_UFFD_WAKE, rt->uffd, UFFDIO_WAKE, &r) == 0) return;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    ums__log(rt, UMS_LOG_ERROR, "UFFDIO_WAKE of %p+%zu keeps failing: %s", (void *)addr, len, strerror(errno));
}

static void *uffd_thread(void *arg) {
    ums_runtime_t *rt = arg;
    struct pollfd p[2] = {{.fd = rt->uffd, .events = POLLIN}, {.fd = rt->stop_fd[0], .events = POLLIN}};
    struct uffd_msg msgs[16];
    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents) break;
        ssize_t got = read(rt->uffd, msgs, sizeof msgs);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            ums__log(rt, UMS_LOG_ERROR, "reading userfaultfd: %s", strerror(errno));
            break;
        }
        for (size_t i = 0; i < (size_t)got / sizeof msgs[0]; i++) {
            if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
            uint64_t f = msgs[i].arg.pagefault.flags;
            char *addr = (char *)(uintptr_t)msgs[i].arg.pagefault.address;
            bool w = (f & UFFD_PAGEFAULT_FLAG_WRITE) != 0, is_wp = (f & UFFD_PAGEFAULT_FLAG_WP) != 0;
            ums__fault_resolve(rt, addr, w, is_wp); /* wakes the thread itself when it may go on */
        }
    }
    return NULL;
}

/* Transparent huge pages on request (MADV_HUGEPAGE) or always. */
static bool thp_available(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
    if (!f) return false;
    char line[128] = {0};
    bool ok = fgets(line, sizeof line, f) && !strstr(line, "[never]");
    fclose(f);
    return ok;
}

/* Whether blocks may be replaced by mremap (uffd_replace): every migrated block
 * becomes a mapping of its own, so only blocks of at least 2 MiB (at most 512
 * mappings per GiB); and not where mremap's memory accounting could fail after
 * the kernel has unmapped the block (strict overcommit, an address-space limit). */
static bool replace_allowed(const ums_runtime_t *rt) {
    if (rt->block_size % ((size_t)2 << 20) != 0) return false;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) return false;
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "re");
    int mode = 0;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1) mode = 0;
        fclose(f);
    }
    return mode != 2;
}

static ums_result uffd_start(ums_runtime_t *rt) {
    rt->replace_ok = replace_allowed(rt);
    rt->ro_move = rt->replace_ok && rt->cfg.read_only_install == UMS_RO_INSTALL_MOVE;
    rt->thp = rt->uffd_move && rt->block_size % HUGE_SIZE == 0 && thp_available();
    if (ums__sys_pipe(rt->stop_fd) != 0)
        return ums__fail("ums_runtime_create", "core", UMS_ERR_SYSTEM, errno, "pipe: %s", strerror(errno));
    int e = ums__sys_thread_create(&rt->fault_thread, uffd_thread, rt);
    if (e) {
        close(rt->stop_fd[0]);
        close(rt->stop_fd[1]);
        rt->stop_fd[0] = rt->stop_fd[1] = -1;
        return ums__fail("ums_runtime_create", "core", UMS_ERR_SYSTEM, e, "starting the fault thread: %s", strerror(e));
    }
    rt->fault_thread_started = true;
    if (rt->ro_move) {
        ums__segv_acquire();
        rt->segv_held = true;
    }
    return UMS_OK;
}

static void uffd_stop(ums_runtime_t *rt) {
    if (rt->fault_thread_started) {
        char c = 1;
        if (write(rt->stop_fd[1], &c, 1) != 1) { /* the pipe is empty and non-blocking: cannot fail */ }
        pthread_join(rt->fault_thread, NULL);
        rt->fault_thread_started = false;
    }
    if (rt->segv_held) ums__segv_release();
    rt->segv_held = false;
    if (rt->stop_fd[0] >= 0) close(rt->stop_fd[0]);
    if (rt->stop_fd[1] >= 0) close(rt->stop_fd[1]);
    rt->stop_fd[0] = rt->stop_fd[1] = -1;
    if (rt->uffd >= 0) close(rt->uffd);
    rt->uffd = -1;
}

const ums__fault_ops ums__fault_uffd_ops = {
    .register_range = uffd_register,
    .unregister_range = uffd_unregister,
    .register_spare = uffd_register_spare,
    .populate = uffd_populate,
    .protect_read = uffd_protect_read,
    .unprotect = uffd_unprotect,
    .zap = uffd_zap,
    .install = uffd_install,
    .wake = uffd_wake,
    .evict = uffd_evict,
    .replace = uffd_replace,
    .start = uffd_start,
    .stop = uffd_stop,
};
