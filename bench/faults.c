/* ums_bench_faults: what a CPU fault on managed memory costs, against the raw
 * mechanisms it is built from, measured in the same run.
 *
 * 1. fault -> data: a CPU read of one byte of a block that lives on a sim
 *    device (fault, fetch, install, resume), with 4 KiB and 2 MiB blocks.
 *    Raw: a userfaultfd region of our own (MISSING) whose handler thread
 *    memcpy()s the same bytes from a pre-faulted "device" buffer into a
 *    pre-faulted staging buffer and installs them with UFFDIO_COPY (the
 *    headline baseline), or with UFFDIO_MOVE as the library does (staging
 *    populated outside the timing: the stricter baseline).
 * 2. writer round trip: a CPU write to a READ_MOSTLY block replicated on the
 *    device (SHARED: host copy write-protected): WP fault, invalidate the
 *    device copy, lift the protection, resume. Raw: a region of our own
 *    registered for write-protect faults, whose handler lifts the protection
 *    of the same range (and, for reference, of the one page written).
 *
 * Placement: the fault-serving threads (the runtime's fault thread and
 * workers, our raw handler) run either on the timed thread's CPU ("same CPU",
 * the headline: no inter-processor wake-up) or on the other CPU ("split":
 * every round trip then pays two cross-CPU wake-ups, which cost tens of
 * microseconds on this virtual machine). Library and raw always share the
 * placement, their repetitions are interleaved, and every timed access comes
 * after the same 300 us pause.
 *
 * Diagnosis: the writer's round trip once more on "pool0", a device like sim
 * whose freeing of a device copy only returns it to a pool, to show what the
 * library's fault path costs once freeing the invalidated copy is free.
 *
 * Usage: ums_bench_faults [--reps-4k N] [--reps-2m N]
 * The last line of output is one JSON object. Method: docs/PERFORMANCE.md. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include <umshim.h>

#include "bench_common.h"
#include "bench_uffd.h"

static void die(const char *what) {
    fprintf(stderr, "ums_bench_faults: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void die_ums(const char *what, ums_result r) {
    fprintf(stderr, "ums_bench_faults: %s: %s (%s)\n", what, ums_result_name(r), ums_last_error()->message);
    exit(1);
}

static int g_ncpu;

static void pin_self(int cpu) {
    if (g_ncpu < 2) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* ---------------------------------------------------------------- raw userfaultfd */

enum { INSTALL_COPY, INSTALL_MOVE };

typedef struct raw_uffd {
    int fd;
    int stop[2];
    pthread_t th;
    size_t page;
    bool have_move;
    /* MISSING region: a fault copies `len` bytes dev -> stage -> region */
    char *miss, *dev, *stage;
    size_t len;
    _Atomic int install;          /* INSTALL_COPY or INSTALL_MOVE */
    char *_Atomic move_stage;     /* INSTALL_MOVE: fresh populated staging for this fault */
    /* WP region: a fault lifts protection on `wp_unprotect` bytes around it */
    char *wp;
    _Atomic size_t wp_unprotect;
    _Atomic unsigned long errors;
} raw_uffd;

static void *raw_handler(void *arg) {
    raw_uffd *u = arg;
    struct pollfd p[2] = {{.fd = u->fd, .events = POLLIN}, {.fd = u->stop[0], .events = POLLIN}};
    struct uffd_msg msgs[8];
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents) break;
        ssize_t got = read(u->fd, msgs, sizeof msgs);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            break;
        }
        for (size_t i = 0; i < (size_t)got / sizeof msgs[0]; i++) {
            if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
            uint64_t a = msgs[i].arg.pagefault.address;
            if (msgs[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
                size_t n = atomic_load(&u->wp_unprotect);
                uint64_t base = (uint64_t)(uintptr_t)u->wp + ((a - (uint64_t)(uintptr_t)u->wp) / n) * n;
                struct uffdio_writeprotect w = {.range = {base, n}, .mode = 0}; /* lifts and wakes */
                if (ioctl(u->fd, UFFDIO_WRITEPROTECT, &w) != 0) atomic_fetch_add(&u->errors, 1);
            } else if (atomic_load(&u->install) == INSTALL_MOVE) {
                char *st = atomic_load(&u->move_stage);
                memcpy(st, u->dev, u->len); /* the "backend transfer" */
                if (bench_uffd_move(u->fd, u->miss, st, u->len, 0) != 0) atomic_fetch_add(&u->errors, 1);
            } else {
                memcpy(u->stage, u->dev, u->len); /* the "backend transfer", then the install */
                struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)u->miss,
                                        .src = (uint64_t)(uintptr_t)u->stage,
                                        .len = u->len,
                                        .mode = 0};
                if (ioctl(u->fd, UFFDIO_COPY, &c) != 0 && errno != EEXIST) atomic_fetch_add(&u->errors, 1);
            }
        }
    }
    return NULL;
}

/* Anonymous memory aligned to `align`, pre-faulted if `touch`. Kept for the run. */
static char *map_aligned(size_t len, size_t align, bool touch) {
    char *m = mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) die("mmap");
    char *a = (char *)(((uintptr_t)m + align - 1) / align * align);
    if (touch) memset(a, 0x33, len);
    return a;
}

static void raw_open(raw_uffd *u, size_t len) {
    memset(u, 0, sizeof *u);
    u->page = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t have = 0;
    u->fd = bench_uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_MOVE, &have);
    if (u->fd < 0) die("userfaultfd");
    if (!(have & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
        fprintf(stderr, "userfaultfd lacks write-protect faults\n");
        exit(1);
    }
    u->have_move = (have & UFFD_FEATURE_MOVE) != 0;
    size_t align = len < ((size_t)2 << 20) ? len : ((size_t)2 << 20);
    u->len = len;
    u->dev = map_aligned(len, align, true);
    u->stage = map_aligned(len, align, true);
    u->miss = map_aligned(len, align, false);
    u->wp = map_aligned(len, align, false);
    struct uffdio_register rm = {.range = {(uint64_t)(uintptr_t)u->miss, len}, .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(u->fd, UFFDIO_REGISTER, &rm) != 0) die("UFFDIO_REGISTER missing");
    memset(u->wp, 0x44, len); /* present pages: write protection covers them */
    struct uffdio_register rw = {.range = {(uint64_t)(uintptr_t)u->wp, len}, .mode = UFFDIO_REGISTER_MODE_WP};
    if (ioctl(u->fd, UFFDIO_REGISTER, &rw) != 0) die("UFFDIO_REGISTER wp");
    atomic_store(&u->wp_unprotect, len);
    if (pipe(u->stop) != 0) die("pipe");
    if (pthread_create(&u->th, NULL, raw_handler, u) != 0) die("pthread_create");
}

static void raw_close(raw_uffd *u) {
    char c = 1;
    if (write(u->stop[1], &c, 1) != 1) die("write");
    pthread_join(u->th, NULL);
    close(u->stop[0]);
    close(u->stop[1]);
    close(u->fd);
}

static void raw_wp(raw_uffd *u, bool on) {
    struct uffdio_writeprotect w = {.range = {(uint64_t)(uintptr_t)u->wp, u->len},
                                    .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    if (ioctl(u->fd, UFFDIO_WRITEPROTECT, &w) != 0) die("UFFDIO_WRITEPROTECT");
}

/* ---------------------------------------------------------------- diagnosis device
 * "pool0": the sim backend's behaviour (host memory populated at allocation,
 * memcpy transfers), except that freeing a device copy only returns it to a
 * pool. With it, the writer's round trip shows what remains of the library's
 * path once freeing the invalidated device copy costs nothing. */

struct ums_devmem {
    void *p;
    size_t len;
    struct ums_devmem *next;
};

static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ums_devmem *g_pool;

static ums_result pool_init(const ums_backend_services *svc, const char *config, void **out) {
    (void)config;
    *out = (void *)svc;
    return UMS_OK;
}
static void pool_fini(void *be) { (void)be; }
static ums_result pool_count(void *be, uint32_t *count) {
    (void)be;
    *count = 1;
    return UMS_OK;
}
static ums_result pool_describe(void *be, uint32_t index, ums_backend_location *d) {
    (void)be;
    if (index != 0) return UMS_ERR_UNKNOWN_LOCATION;
    d->kind = UMS_LOCATION_DEVICE;
    snprintf(d->name, sizeof d->name, "pool0");
    d->capacity = (uint64_t)256 << 20;
    d->flags = UMS_LOCATION_FLAG_CONFIGURED;
    return UMS_OK;
}
static ums_result pool_alloc(void *be, uint32_t index, size_t size, ums_devmem **out) {
    (void)be, (void)index;
    pthread_mutex_lock(&g_pool_lock);
    ums_devmem **pp = &g_pool;
    while (*pp && (*pp)->len != size) pp = &(*pp)->next;
    ums_devmem *m = *pp;
    if (m) *pp = m->next;
    pthread_mutex_unlock(&g_pool_lock);
    if (m) {
        *out = m;
        return UMS_OK;
    }
    m = calloc(1, sizeof *m);
    if (!m) return UMS_ERR_NO_MEMORY;
    m->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m->p == MAP_FAILED) {
        free(m);
        return UMS_ERR_NO_DEVICE_MEMORY;
    }
    m->len = size;
    *out = m;
    return UMS_OK;
}
static void pool_free(void *be, ums_devmem *m) {
    (void)be;
    pthread_mutex_lock(&g_pool_lock);
    m->next = g_pool;
    g_pool = m;
    pthread_mutex_unlock(&g_pool_lock);
}
static ums_result pool_copy_to(void *be, ums_devmem *dst, size_t off, const void *src, size_t len, ums_fence **f) {
    (void)be;
    if (off > dst->len || len > dst->len - off) return UMS_ERR_OUT_OF_RANGE;
    memcpy((char *)dst->p + off, src, len);
    if (f) *f = NULL;
    return UMS_OK;
}
static ums_result pool_copy_from(void *be, void *dst, ums_devmem *src, size_t off, size_t len, ums_fence **f) {
    (void)be;
    if (off > src->len || len > src->len - off) return UMS_ERR_OUT_OF_RANGE;
    memcpy(dst, (char *)src->p + off, len);
    if (f) *f = NULL;
    return UMS_OK;
}
static const ums_backend_ops pool_ops = {
    .abi_version = UMS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(ums_backend_ops),
    .name = "pool",
    .init = pool_init,
    .fini = pool_fini,
    .location_count = pool_count,
    .location_describe = pool_describe,
    .mem_alloc = pool_alloc,
    .mem_free = pool_free,
    .copy_to = pool_copy_to,
    .copy_from = pool_copy_from,
};

/* ---------------------------------------------------------------- library */

typedef struct lib {
    ums_runtime_t *rt;
    ums_location_t dev, pool;
    char *wp_pool_blk; /* as wp_blk, replicated to pool0 */
    char *fetch_blk; /* fetched back by a read */
    char *wp_blk;    /* READ_MOSTLY, replicated to the device, then written */
} lib;

static void lib_open(lib *l, size_t bs) {
    ums_runtime_config cfg;
    if (ums_runtime_config_from_env(&cfg) != UMS_OK)
        fprintf(stderr, "warning: %s (using defaults for it)\n", ums_last_error()->message);
    cfg.protocol = UMS_PROTOCOL_READABLE;
    cfg.block_size = bs;
    cfg.sim = "count=1,capacity=256M";
    cfg.opencl = 0;
    ums_result r;
    if ((r = ums_runtime_create(&cfg, &l->rt)) != UMS_OK) die_ums("ums_runtime_create", r);
    if (ums_runtime_block_size(l->rt) != bs) {
        fprintf(stderr, "block size %zu was not taken (%zu)\n", bs, ums_runtime_block_size(l->rt));
        exit(1);
    }
    if ((r = ums_backend_add(l->rt, &pool_ops, NULL)) != UMS_OK) die_ums("ums_backend_add", r);
    if ((r = ums_location_find(l->rt, "sim0", &l->dev)) != UMS_OK) die_ums("sim0", r);
    if ((r = ums_location_find(l->rt, "pool0", &l->pool)) != UMS_OK) die_ums("pool0", r);
    if ((r = ums_runtime_alloc(l->rt, bs, UMS_ALLOC_READ_MOSTLY, (void **)&l->wp_pool_blk)) != UMS_OK)
        die_ums("ums_runtime_alloc", r);
    memset(l->wp_pool_blk, 0x5c, bs);
    if ((r = ums_runtime_alloc(l->rt, bs, 0, (void **)&l->fetch_blk)) != UMS_OK) die_ums("ums_runtime_alloc", r);
    if ((r = ums_runtime_alloc(l->rt, bs, UMS_ALLOC_READ_MOSTLY, (void **)&l->wp_blk)) != UMS_OK)
        die_ums("ums_runtime_alloc", r);
    memset(l->fetch_blk, 0x5a, bs);
    memset(l->wp_blk, 0x5b, bs);
}

static ums_block_state state_of(const void *p) {
    ums_block_info bi;
    size_t n;
    if (ums_query(p, 1, &bi, 1, &n) != UMS_OK) return (ums_block_state)-1;
    return bi.state;
}

/* ---------------------------------------------------------------- one configuration */

enum {
    M_FAULT_LIB, M_FAULT_COPY, M_FAULT_MOVE, M_WP_LIB, M_WP_RAW, M_WP_PAGE, M_WP_ON, M_WP_OFF, M_WP_POOL,
    M_COUNT
};

typedef struct result {
    double med[M_COUNT], p90[M_COUNT];
    unsigned long fetches, raw_errors;
    unsigned bad_state;
    bool have_move;
} result;

/* The same pause before every timed access: lets whatever the previous step
 * left running (a prefetch worker's tail, deferred frees) finish first. */
static void settle(void) {
    struct timespec ts = {0, 300000};
    nanosleep(&ts, NULL);
}

static result run_config(size_t bs, int reps, bool split) {
    /* service threads inherit the CPU this thread is on when they are created */
    pin_self(split ? 1 : 0);
    lib l;
    lib_open(&l, bs);
    raw_uffd u;
    raw_open(&u, bs);
    pin_self(0);
    result out;
    memset(&out, 0, sizeof out);
    out.have_move = u.have_move;
    double *v[M_COUNT];
    for (int k = 0; k < M_COUNT; k++)
        if (!(v[k] = calloc((size_t)reps, sizeof(double)))) die("calloc");
    ums_counters c0, c1;
    ums_counters_get(l.rt, &c0);
    volatile char sink = 0;
    for (int k = 0; k < reps; k++) {
        uint64_t t0, t1;
        /* library: fault -> data on a device-resident block */
        ums_result r = ums_migrate(l.fetch_blk, bs, l.dev);
        if (r != UMS_OK) die_ums("ums_migrate", r);
        if (state_of(l.fetch_blk) != UMS_BLOCK_DEVICE) out.bad_state++;
        settle();
        t0 = bench_ticks();
        sink += *(volatile char *)(l.fetch_blk + bs / 2);
        t1 = bench_ticks();
        v[M_FAULT_LIB][k] = bench_ticks_to_us(t1 - t0);

        /* raw: the same bytes through our own MISSING handler, UFFDIO_COPY */
        if (madvise(u.miss, bs, MADV_DONTNEED) != 0) die("madvise");
        atomic_store(&u.install, INSTALL_COPY);
        settle();
        t0 = bench_ticks();
        sink += *(volatile char *)(u.miss + bs / 2);
        t1 = bench_ticks();
        v[M_FAULT_COPY][k] = bench_ticks_to_us(t1 - t0);

        /* raw: UFFDIO_MOVE from a staging populated beforehand (not timed) */
        if (u.have_move) {
            char *st = mmap(NULL, bs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            if (st == MAP_FAILED) die("mmap");
            if (madvise(u.miss, bs, MADV_DONTNEED) != 0) die("madvise");
            atomic_store(&u.move_stage, st);
            atomic_store(&u.install, INSTALL_MOVE);
            settle();
            t0 = bench_ticks();
            sink += *(volatile char *)(u.miss + bs / 2);
            t1 = bench_ticks();
            v[M_FAULT_MOVE][k] = bench_ticks_to_us(t1 - t0);
            munmap(st, bs);
        }

        /* library: writer's round trip on a SHARED block */
        ums_event_t *ev;
        if ((r = ums_prefetch(l.wp_blk, bs, l.dev, &ev)) != UMS_OK) die_ums("ums_prefetch", r);
        if ((r = ums_event_wait(ev, UINT64_MAX)) != UMS_OK) die_ums("ums_event_wait", r);
        ums_event_release(ev);
        if (state_of(l.wp_blk) != UMS_BLOCK_SHARED) out.bad_state++;
        settle();
        t0 = bench_ticks();
        *(volatile char *)(l.wp_blk + bs / 2) = (char)k;
        t1 = bench_ticks();
        v[M_WP_LIB][k] = bench_ticks_to_us(t1 - t0);

        /* diagnosis: the same on pool0, whose freeing of the invalidated copy is free */
        if ((r = ums_prefetch(l.wp_pool_blk, bs, l.pool, &ev)) != UMS_OK) die_ums("ums_prefetch", r);
        if ((r = ums_event_wait(ev, UINT64_MAX)) != UMS_OK) die_ums("ums_event_wait", r);
        ums_event_release(ev);
        if (state_of(l.wp_pool_blk) != UMS_BLOCK_SHARED) out.bad_state++;
        settle();
        t0 = bench_ticks();
        *(volatile char *)(l.wp_pool_blk + bs / 2) = (char)k;
        t1 = bench_ticks();
        v[M_WP_POOL][k] = bench_ticks_to_us(t1 - t0);

        /* raw: protect the range (the ioctl alone is timed too), write, the handler lifts the same range */
        atomic_store(&u.wp_unprotect, bs);
        t0 = bench_ticks();
        raw_wp(&u, true);
        t1 = bench_ticks();
        v[M_WP_ON][k] = bench_ticks_to_us(t1 - t0);
        settle();
        t0 = bench_ticks();
        *(volatile char *)(u.wp + bs / 2) = (char)k;
        t1 = bench_ticks();
        v[M_WP_RAW][k] = bench_ticks_to_us(t1 - t0);
        raw_wp(&u, true);
        t0 = bench_ticks();
        raw_wp(&u, false);
        t1 = bench_ticks();
        v[M_WP_OFF][k] = bench_ticks_to_us(t1 - t0);

        /* raw, for reference: the handler lifts only the page written */
        atomic_store(&u.wp_unprotect, u.page);
        raw_wp(&u, true);
        settle();
        t0 = bench_ticks();
        *(volatile char *)(u.wp + bs / 2) = (char)k;
        t1 = bench_ticks();
        v[M_WP_PAGE][k] = bench_ticks_to_us(t1 - t0);
        raw_wp(&u, false);
    }
    (void)sink;
    ums_counters_get(l.rt, &c1);
    out.fetches = (unsigned long)(c1.fetches - c0.fetches);
    out.raw_errors = atomic_load(&u.errors);
    for (int k = 0; k < M_COUNT; k++) {
        out.p90[k] = bench_quantile(v[k], (size_t)reps, 0.9);
        out.med[k] = bench_median(v[k], (size_t)reps);
        free(v[k]);
    }
    raw_close(&u);
    ums_runtime_destroy(l.rt);
    return out;
}

static void print_result(const char *size, const char *place, int reps, const result *s) {
    const double *m = s->med, *p = s->p90;
    printf("%s block, %s, %d repetitions (median [p90]):\n", size, place, reps);
    printf("  fault->data  library %8.2f [%8.2f] us | raw memcpy+UFFDIO_COPY %8.2f [%8.2f] us -> overhead %7.2f us",
           m[M_FAULT_LIB], p[M_FAULT_LIB], m[M_FAULT_COPY], p[M_FAULT_COPY], m[M_FAULT_LIB] - m[M_FAULT_COPY]);
    if (s->have_move)
        printf(" | raw memcpy+UFFDIO_MOVE %8.2f [%8.2f] us -> overhead %7.2f us", m[M_FAULT_MOVE], p[M_FAULT_MOVE],
               m[M_FAULT_LIB] - m[M_FAULT_MOVE]);
    printf(" (library fetches counted: %lu)\n", s->fetches);
    printf("  writer WP    library %8.2f [%8.2f] us | raw, lift the same range %8.2f [%8.2f] us -> ratio %5.2f | raw, "
           "lift one page %.2f us\n",
           m[M_WP_LIB], p[M_WP_LIB], m[M_WP_RAW], p[M_WP_RAW], m[M_WP_LIB] / m[M_WP_RAW], m[M_WP_PAGE]);
    printf("  diagnosis: writer WP on a device whose freeing of the invalidated copy costs nothing (pool0): %.2f [%.2f] "
           "us -> ratio %.2f\n",
           m[M_WP_POOL], p[M_WP_POOL], m[M_WP_POOL] / m[M_WP_RAW]);
    printf("  UFFDIO_WRITEPROTECT of the block alone: on %.2f us, off %.2f us\n", m[M_WP_ON], m[M_WP_OFF]);
    if (s->bad_state) printf("  warning: %u repetitions found the block in an unexpected state\n", s->bad_state);
    if (s->raw_errors) printf("  warning: %lu raw handler errors\n", s->raw_errors);
}

int main(int argc, char **argv) {
    int reps4k = 2000, reps2m = 300;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps-4k") && i + 1 < argc) reps4k = (int)bench_parse_long(argv[i], argv[i + 1], 1, 1000000), i++;
        else if (!strcmp(argv[i], "--reps-2m") && i + 1 < argc) reps2m = (int)bench_parse_long(argv[i], argv[i + 1], 1, 1000000), i++;
        else {
            fprintf(stderr, "usage: %s [--reps-4k N] [--reps-2m N]\n", argv[0]);
            return 2;
        }
    }
    bench_clock_calibrate();
    g_ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    printf("ums_bench_faults: blocks of %zu KiB and 2 MiB on a sim device, readable protocol, clock %.3f ticks/ns, "
           "%d CPUs\n",
           page >> 10, bench_tpns, g_ncpu);
    result r[2][2]; /* [split][size] */
    int nsplit = g_ncpu >= 2 ? 2 : 1;
    for (int split = 0; split < nsplit; split++) {
        const char *place = split ? "fault service on the other CPU" : "fault service on the same CPU";
        r[split][0] = run_config(page, reps4k, split);
        print_result("4 KiB", place, reps4k, &r[split][0]);
        fflush(stdout);
        r[split][1] = run_config((size_t)2 << 20, reps2m, split);
        print_result("2 MiB", place, reps2m, &r[split][1]);
        fflush(stdout);
    }
    if (nsplit == 1) r[1][0] = r[0][0], r[1][1] = r[0][1];
    const double *a4 = r[0][0].med, *a2 = r[0][1].med, *b4 = r[1][0].med, *b2 = r[1][1].med;
    double ov4 = a4[M_FAULT_LIB] - a4[M_FAULT_COPY], ov2 = a2[M_FAULT_LIB] - a2[M_FAULT_COPY];
    double wr2 = a2[M_WP_LIB] / a2[M_WP_RAW], wr4 = a4[M_WP_LIB] / a4[M_WP_RAW];
    printf("goals (same CPU): fault_overhead_us_4k %.2f <= 10: %s; fault_overhead_us_2m %.2f <= 10: %s; "
           "wp_roundtrip_ratio %.2f <= 1.5: %s (4 KiB blocks: %.2f: %s)\n",
           ov4, ov4 <= 10 ? "met" : "NOT met", ov2, ov2 <= 10 ? "met" : "NOT met", wr2, wr2 <= 1.5 ? "met" : "NOT met",
           wr4, wr4 <= 1.5 ? "met" : "NOT met");
    printf("{\"bench\":\"faults\",\"reps_4k\":%d,\"reps_2m\":%d,\"placement\":\"same_cpu\","
           "\"fault_us_lib_4k\":%.2f,\"fault_us_raw_4k\":%.2f,\"fault_overhead_us_4k\":%.2f,"
           "\"fault_us_lib_2m\":%.2f,\"fault_us_raw_2m\":%.2f,\"fault_overhead_us_2m\":%.2f,"
           "\"fault_us_raw_move_4k\":%.2f,\"fault_us_raw_move_2m\":%.2f,"
           "\"fault_overhead_vs_move_us_4k\":%.2f,\"fault_overhead_vs_move_us_2m\":%.2f,"
           "\"wp_us_lib_2m\":%.2f,\"wp_us_raw_2m\":%.2f,\"wp_roundtrip_ratio\":%.2f,"
           "\"wp_us_lib_4k\":%.2f,\"wp_us_raw_4k\":%.2f,\"wp_roundtrip_ratio_4k\":%.2f,"
           "\"wp_us_raw_page\":%.2f,\"wp_on_ioctl_us_2m\":%.2f,\"wp_off_ioctl_us_2m\":%.2f,"
           "\"split_fault_overhead_us_4k\":%.2f,\"split_fault_overhead_us_2m\":%.2f,"
           "\"split_wp_roundtrip_ratio\":%.2f,\"split_wp_roundtrip_ratio_4k\":%.2f,\"split_wp_us_raw_page\":%.2f,"
           "\"wp_us_lib_2m_pooled_device\":%.2f,\"wp_roundtrip_ratio_pooled_device\":%.2f,"
           "\"wp_us_lib_4k_pooled_device\":%.2f,\"wp_roundtrip_ratio_4k_pooled_device\":%.2f}\n",
           reps4k, reps2m, a4[M_FAULT_LIB], a4[M_FAULT_COPY], ov4, a2[M_FAULT_LIB], a2[M_FAULT_COPY], ov2,
           a4[M_FAULT_MOVE], a2[M_FAULT_MOVE], a4[M_FAULT_LIB] - a4[M_FAULT_MOVE], a2[M_FAULT_LIB] - a2[M_FAULT_MOVE],
           a2[M_WP_LIB], a2[M_WP_RAW], wr2, a4[M_WP_LIB], a4[M_WP_RAW], wr4, a2[M_WP_PAGE], a2[M_WP_ON], a2[M_WP_OFF],
           b4[M_FAULT_LIB] - b4[M_FAULT_COPY], b2[M_FAULT_LIB] - b2[M_FAULT_COPY], b2[M_WP_LIB] / b2[M_WP_RAW],
           b4[M_WP_LIB] / b4[M_WP_RAW], b2[M_WP_PAGE], a2[M_WP_POOL], a2[M_WP_POOL] / a2[M_WP_RAW],
           a4[M_WP_POOL], a4[M_WP_POOL] / a4[M_WP_RAW]);
    return 0;
}
