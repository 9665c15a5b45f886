/* The contract between the files of the core. Nothing here is public ABI. */
#ifndef UMS_INTERNAL_H
#define UMS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umshim.h"
#include "sys.h"

#define UMS_DEFAULT_BLOCK_SIZE ((size_t)2 << 20)
/* Device copies one block may hold at once (READ_MOSTLY replicas). */
#define UMS_BLOCK_MAX_DEVCOPIES 8

/* ---------- errors and logging (result.c, log.c) ---------- */

/* Record a failure in the thread's last-error record and return `code`. */
ums_result ums__fail(const char *function, const char *backend, ums_result code, int native, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Same, keeping a backend's message already recorded for this call if any. */
ums_result ums__fail_keep(const char *function, ums_result code);
#include <stdarg.h>
void ums__backend_set_error(const char *backend, ums_result code, int native, const char *fmt, va_list ap);
void ums__log(ums_runtime_t *rt, ums_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
uint64_t ums__now_ns(void);
/* Bracket every public entry point that reaches deeper layers: a call that
 * succeeds leaves the thread's last-error record as it was; one that fails
 * names the public function, keeping the detail recorded during the call.
 * Nested public calls count as one (the outermost names the failure). */
void ums__api_enter(void);
ums_result ums__api_leave(const char *function, ums_result r);
#define UMS_API_CALL(name, expr) (ums__api_enter(), ums__api_leave(name, (expr)))

/* ---------- backends (runtime.c) ---------- */

typedef struct ums__backend {
    ums_backend_ops ops; /* copied, with defaults filled and fields past struct_size NULL */
    void *state;         /* what init returned */
    void *dl;            /* dlopen handle for plug-ins */
    ums_backend_services svc;
    ums_runtime_t *rt;
    char name[32];
} ums__backend;

typedef struct ums__location {
    ums_location_info info;
    char name[64];
    char pci_bus_id[32];
    ums__backend *backend;
    uint32_t index;       /* the backend's own index */
    _Atomic uint64_t used; /* bytes the core holds there (device copies, staging) */
} ums__location;

/* ---------- blocks and allocations ---------- */

typedef struct ums__devcopy {
    ums_location_t loc;
    ums_devmem *mem;
} ums__devcopy;

typedef struct ums__block {
    pthread_mutex_t lock;
    pthread_cond_t cond;          /* engine threads waiting for a migration of this block */
    _Atomic uint32_t state;       /* ums_block_state; read lock-free by the signal handler */
    _Atomic uint32_t gen;         /* bumped (and futex-woken) on every state change */
    _Atomic uint32_t write_abort; /* a writer asked the current migration to abort */
    _Atomic uint32_t ro_window;   /* uffd mode: a read-only install without a copy is putting the
                                     block in place, writers get SIGSEGV and wait on this futex */
    bool populated;               /* every host page of the block is mapped */
    bool host_valid;              /* the managed pages hold a valid copy */
    ums_location_t host_loc;      /* node of the host copy */
    ums_location_t mig_src, mig_dst;
    uint32_t prev_state;          /* state to return to if the migration aborts */
    bool mig_keep_src;            /* commit to SHARED (replicate) */
    unsigned ndev;
    ums__devcopy dev[UMS_BLOCK_MAX_DEVCOPIES]; /* valid device copies */
    unsigned advice;              /* UMS_BLOCK_ADVICE_* */
    ums_location_t preferred;
    uint64_t accessed_by;
    /* uffd mode: when the oldest reader / writer now sleeping on this block faulted */
    uint64_t rwait_since_ns, wwait_since_ns;
} ums__block;

typedef struct ums__alloc {
    ums_runtime_t *rt;
    char *base;
    size_t size;       /* bytes asked for */
    size_t map_size;   /* whole blocks */
    char *map_base;    /* what mmap returned (before alignment) */
    size_t map_len;
    size_t nblocks;
    ums__block *blocks;
    _Atomic int refs;  /* operations in flight; free waits for 0 */
    bool dead;
    struct ums__alloc *next; /* runtime's list */
} ums__alloc;

/* ---------- fault handling (fault_*.c) ---------- */

typedef struct ums__fault_ops {
    /* Register / unregister a new mapping with the fault mechanism. */
    ums_result (*register_range)(ums_runtime_t *rt, void *addr, size_t len);
    void (*unregister_range)(ums_runtime_t *rt, void *addr, size_t len);
    /* Register a staging range as a destination of page moves, for its whole
     * life (NULL where pages cannot move). A hole in it faults as in any
     * anonymous memory: no fault of it ever reaches the library. */
    ums_result (*register_spare)(ums_runtime_t *rt, void *addr, size_t len);
    /* Mapping operations on one block's range (b is locked by the caller). */
    ums_result (*populate)(ums_runtime_t *rt, char *addr, size_t len);
    ums_result (*protect_read)(ums_runtime_t *rt, char *addr, size_t len);   /* writers fault */
    ums_result (*unprotect)(ums_runtime_t *rt, char *addr, size_t len);      /* read/write */
    ums_result (*zap)(ums_runtime_t *rt, char *addr, size_t len);            /* drop host pages; access faults */
    /* Put `len` bytes of staging memory in place atomically; `read_only` leaves
     * the result write-protected. The staging content may be consumed. */
    ums_result (*install)(ums_runtime_t *rt, char *addr, void *staging, size_t len, bool read_only,
                          bool *staging_consumed);
    void (*wake)(ums_runtime_t *rt, ums__block *b, char *addr, size_t len);
    /* Move the block's pages into `spare` (an empty registered range), leaving
     * the block without pages, as zap does but keeping the pages for reuse.
     * UMS_ERR_NOT_SUPPORTED where pages cannot be moved (then the caller zaps). */
    ums_result (*evict)(ums_runtime_t *rt, char *addr, void *spare, size_t len);
    /* Put staged pages in place of a block's present pages with no moment when
     * the block has none (readers never take a fault for it). NULL or
     * UMS_ERR_NOT_SUPPORTED where the mode cannot; then the caller evicts or zaps
     * and installs. On any other error the block's own pages are still there. */
    ums_result (*replace)(ums_runtime_t *rt, char *addr, void *staging, size_t len, bool *staging_consumed);
    ums_result (*start)(ums_runtime_t *rt);
    void (*stop)(ums_runtime_t *rt);
} ums__fault_ops;

extern const ums__fault_ops ums__fault_uffd_ops;
extern const ums__fault_ops ums__fault_signal_ops;
/* The process's SIGSEGV/SIGBUS handler (shim/fault_signal.c): installed by the
 * first holder, the application's previous one restored when the last lets go.
 * Signal mode resolves its faults there; uffd mode holds it for the writers
 * that touch a block during a read-only install without a copy (ro_window). */
void ums__segv_acquire(void);
void ums__segv_release(void);
/* Wake the threads waiting in the SIGSEGV handler for b->ro_window to close. */
void ums__ro_window_wake(ums__block *b);

/* Probe userfaultfd: fills rt->uffd*, returns UMS_OK if usable. */
ums_result ums__uffd_probe(ums_runtime_t *rt);

/* Resolve a CPU fault at addr (called by the fault service thread of either mode).
 * Returns true when the faulting thread may be woken now; false when it must keep
 * waiting (a migration will wake it). Never touches managed memory. */
bool ums__fault_resolve(ums_runtime_t *rt, void *addr, bool is_write, bool is_wp);

ums_location_t ums__fetch_target(ums_runtime_t *rt, const ums__block *b);

/* ---------- the runtime ---------- */

struct ums_runtime {
    ums_runtime_config cfg;
    ums_fault_mode fault_mode;
    const ums__fault_ops *fops;
    char fault_reason[320];
    size_t page_size;
    size_t block_size;

    pthread_mutex_t lock;      /* allocation list, backends, locations */
    ums__alloc *allocs;
    size_t nallocs_live;

    ums__backend *backends[16];
    unsigned nbackends;
    ums__location locs[UMS_MAX_LOCATIONS];
    unsigned nlocs;
    ums_location_t host_default; /* host node for new allocations / fetches */
    unsigned numa_nodes;         /* host locations that are real NUMA nodes (numa_node >= 0) */

    /* staging pool (staging.c) */
    pthread_mutex_t stage_lock;
    struct ums__stage *stage_full[UMS_MAX_LOCATIONS];
    unsigned stage_nfull[UMS_MAX_LOCATIONS];
    struct ums__stage *stage_empty;
    unsigned stage_nempty;
    bool stage_closed;
    ums__backend *host_backend;

    /* userfaultfd */
    int uffd;
    bool uffd_wp, uffd_move, uffd_kernel_faults;
    bool replace_ok; /* fops->replace may be used (uffd mode: replace_allowed) */
    bool thp;        /* blocks are populated with huge pages (uffd mode: populate_huge) */
    bool ro_move;    /* read-only installs move the staged pages in (uffd mode: install_ro_move) */
    bool segv_held;  /* this runtime holds the process's SIGSEGV handler (ums__segv_acquire) */
    /* signal mode */
    int sig_pipe[2];
    /* fault service thread */
    pthread_t fault_thread;
    bool fault_thread_started;
    int stop_fd[2];            /* write end wakes the fault thread to stop */

    /* prefetch workers */
    pthread_mutex_t work_lock;
    pthread_cond_t work_cond;
    struct ums__job *work_head, *work_tail;
    bool work_stop;
    pthread_t workers[8];
    unsigned nworkers;

    struct {
        _Atomic uint64_t faults, read_faults, write_faults, first_touch_faults, fetches, invalidations,
            migrations, migrations_aborted, bytes_h2h, bytes_h2d, bytes_d2h, bytes_d2d, reader_waits,
            writer_waits, reader_wait_ns, writer_wait_ns, prefetches;
    } ctr;

    /* place.c: this machine's hwloc topology (hwloc_topology_t) for placement
     * decisions, loaded on first use; freed by ums__place_fini(). */
    _Atomic(void *) place_topo;
};

/* runtime.c */
ums_result ums__runtime_resolve(ums_runtime_t **rt, const char *function);
ums__location *ums__loc(ums_runtime_t *rt, ums_location_t id);
bool ums__loc_is_host(ums_runtime_t *rt, ums_location_t id);

/* backend calls, with fault injection ("op:NAME") and error wrapping (backend_call.c) */
ums_result ums__be_mem_alloc(ums_runtime_t *rt, ums_location_t loc, size_t size, ums_devmem **out);
/* Memory for block i of allocation a at a device location (a region part when the
 * backend supports regions). */
ums_result ums__be_block_alloc(ums_runtime_t *rt, ums_location_t loc, const struct ums__alloc *a, size_t i,
                               ums_devmem **out);
/* Tell every device location's backend that allocation `base` is gone. */
void ums__be_region_release(ums_runtime_t *rt, const void *base);
void ums__be_mem_free(ums_runtime_t *rt, ums_location_t loc, ums_devmem *mem, size_t size);
ums_result ums__be_copy_to(ums_runtime_t *rt, ums_location_t loc, ums_devmem *dst, const void *src, size_t len);
ums_result ums__be_copy_from(ums_runtime_t *rt, ums_location_t loc, void *dst, ums_devmem *src, size_t len);
ums_result ums__be_copy_peer(ums_runtime_t *rt, ums_location_t dloc, ums_devmem *dst, ums_location_t sloc,
                             ums_devmem *src, size_t len);
void *ums__be_host_ptr(ums_runtime_t *rt, ums_location_t loc, ums_devmem *mem);
/* The same copies, asynchronous: *fence receives the backend's fence (NULL when the
 * copy is complete on return), which must be passed to ums__be_fence_wait (the
 * fence of a peer copy belongs to the destination location). The host memory
 * must stay valid until then. On failure nothing is pending and *fence is NULL. */
ums_result ums__be_copy_to_async(ums_runtime_t *rt, ums_location_t loc, ums_devmem *dst, const void *src, size_t len,
                                 ums_fence **fence);
/* Whether the backend of `loc` can copy several blocks in one transfer. */
bool ums__be_can_copy_many(ums_runtime_t *rt, ums_location_t loc);
/* Host → n memories of consecutive blocks of one region, one fence for all
 * (ABI 1.2 copy_to_many). UMS_ERR_NOT_SUPPORTED, nothing done and no error
 * recorded, when the backend cannot: copy each with ums__be_copy_to_async. */
ums_result ums__be_copy_to_many_async(ums_runtime_t *rt, ums_location_t loc, ums_devmem *const *dst, size_t n,
                                      const void *src, size_t len, ums_fence **fence);
/* Whether the backend of `loc` can copy several blocks back in one transfer. */
bool ums__be_can_copy_from_many(ums_runtime_t *rt, ums_location_t loc);
/* n memories of consecutive blocks of one region → contiguous host memory, one
 * fence for all (ABI 1.3 copy_from_many). UMS_ERR_NOT_SUPPORTED as for copy_to_many. */
ums_result ums__be_copy_from_many_async(ums_runtime_t *rt, ums_location_t loc, void *dst, ums_devmem *const *src,
                                        size_t n, size_t len, ums_fence **fence);
ums_result ums__be_copy_from_async(ums_runtime_t *rt, ums_location_t loc, void *dst, ums_devmem *src, size_t len,
                                   ums_fence **fence);
ums_result ums__be_copy_peer_async(ums_runtime_t *rt, ums_location_t dloc, ums_devmem *dst, ums_location_t sloc,
                                   ums_devmem *src, size_t len, ums_fence **fence);
/* Wait for (and release) a fence from loc's backend; NULL is complete. */
ums_result ums__be_fence_wait(ums_runtime_t *rt, ums_location_t loc, ums_fence *f);
ums_result ums__backend_add(ums_runtime_t *rt, const ums_backend_ops *ops, const char *config, void *dl);
void ums__backends_fini(ums_runtime_t *rt);

/* registry.c: address → allocation, across runtimes */
ums_result ums__registry_add(ums__alloc *a);
void ums__registry_remove(ums__alloc *a);
/* Find the allocation containing [p, p+len) and take a reference (release with ums__alloc_put). */
ums_result ums__alloc_get(const void *p, size_t len, const char *function, ums__alloc **out);
void ums__alloc_put(ums__alloc *a);
ums_result ums__registry_retire(void *p, const char *function, ums__alloc **out);
/* Lock-free-enough lookup for the fault path: no reference taken. */
ums__alloc *ums__registry_lookup(const void *p);

/* alloc.c */
void ums__alloc_destroy(ums__alloc *a);
static inline size_t ums__block_index(const ums__alloc *a, const void *p) {
    return (size_t)((const char *)p - a->base) / a->rt->block_size;
}
static inline char *ums__block_addr(const ums__alloc *a, size_t i) { return a->base + i * a->rt->block_size; }

/* state.c: every block state transition, pure bookkeeping */
typedef enum ums__event {
    UMS_EV_MIGRATE_BEGIN = 0, /* HOST|DEVICE|SHARED → MIGRATING */
    UMS_EV_MIGRATE_COMMIT,    /* MIGRATING → HOST|DEVICE (destination only) */
    UMS_EV_MIGRATE_REPLICATE, /* MIGRATING → SHARED (source stays valid) */
    UMS_EV_MIGRATE_ABORT,     /* MIGRATING → state before begin */
    UMS_EV_FETCH,             /* DEVICE|SHARED (no host copy) → HOST: CPU access brings the block back */
    UMS_EV_FETCH_SHARED,      /* DEVICE|SHARED (no host copy) → SHARED: CPU read keeps the device copies */
    UMS_EV_HOST_WRITE,        /* SHARED → HOST: CPU write invalidates device copies */
    UMS_EV_DEVICE_WRITE,      /* SHARED → DEVICE: device write invalidates the others */
    UMS_EV_COUNT
} ums__event;

typedef struct ums__transition {
    ums__event ev;
    ums_location_t src; /* MIGRATE_BEGIN: source; FETCH: device fetched from */
    ums_location_t dst; /* MIGRATE_BEGIN: destination; DEVICE_WRITE: the writer */
    bool dst_is_host;
    ums_devmem *dst_mem; /* COMMIT/REPLICATE/FETCH_SHARED with a device destination */
} ums__transition;

const char *ums__event_name(ums__event ev);
/* The state an event leads to from `from`, or -1 if the edge is illegal. */
int ums__transition_target(ums_block_state from, ums__event ev);
/* Apply a transition to b (locked). Device memories dropped by the transition are
 * handed back in dropped[] (caller frees them after unlocking). */
ums_result ums__block_apply(ums__block *b, const ums__transition *t, ums__devcopy *dropped, unsigned *ndropped);
void ums__block_init(ums__block *b, ums_location_t host_loc);
ums_devmem *ums__block_devmem(const ums__block *b, ums_location_t loc);
uint64_t ums__block_valid_mask(const ums__block *b);

/* migrate.c */
/* How a range becomes valid at a location. */
typedef enum ums__move_mode {
    UMS_MOVE_EXCLUSIVE = 0,      /* afterwards the destination holds the only copy (ums_migrate) */
    UMS_MOVE_REPLICATE_RM = 1,   /* READ_MOSTLY blocks keep their other copies (ums_prefetch) */
    UMS_MOVE_REPLICATE = 2       /* every block keeps its other copies (read-only device use) */
} ums__move_mode;
/* Make blocks first..last valid at dst. */
ums_result ums__migrate_range(ums__alloc *a, size_t first, size_t last, ums_location_t dst, ums__move_mode mode,
                              ums_migrate_report *rep);
ums_result ums__migrate_block(ums__alloc *a, size_t i, ums_location_t dst, bool replicate, ums_migrate_report *rep);
/* Fetch a DEVICE block back to host (fault path). b locked. Device memories the
 * transition dropped are returned in dropped[] for the caller to free after it
 * has woken the faulting thread (freeing device memory can be slow). */
ums_result ums__fetch_block_locked(ums__alloc *a, size_t i, bool keep_device, ums__devcopy *dropped,
                                   unsigned *nd);
/* The same, and with it up to `ahead` (at most UMS_FETCH_AHEAD_MAX) following
 * blocks that are device-only on the same device and not migrating (nor held by
 * a kernel launch), whose locks are free: their copies are issued together, and
 * each block is installed as soon as its copy is done. Blocks ahead are fetched
 * as a read would (READ_MOSTLY keeps the device copy), their sleepers woken as
 * soon as each is in place and their locks released before the return. With
 * `wake_early` the first block's sleepers are woken as soon as it is in place too
 * (the caller must then hold a reference on a: they may run, and free it, before
 * this returns); the caller wakes them (again) in any case. Only the first
 * block's failure is returned (a block ahead that fails stays as it was).
 * dropped[] needs room for (1 + ahead) * UMS_BLOCK_MAX_DEVCOPIES. */
#define UMS_FETCH_AHEAD_MAX 15
ums_result ums__fetch_run_locked(ums__alloc *a, size_t i, bool keep_device, unsigned ahead, bool wake_early,
                                 ums__devcopy *dropped, unsigned *nd);
/* SHARED → HOST after a CPU write. b locked. Same contract for dropped[]. */
ums_result ums__invalidate_devices_locked(ums__alloc *a, size_t i, ums__devcopy *dropped, unsigned *nd);
void ums__free_dropped(ums_runtime_t *rt, ums__devcopy *dropped, unsigned n);
/* End of a block's migration or hold (b locked): account the time threads
 * slept on it, wake them (in userfaultfd mode only those the fault service
 * left asleep, unless `always`), and wake threads waiting on b->cond. */
void ums__block_wake(ums_runtime_t *rt, ums__block *b, char *addr, bool always);
/* Wait (b locked) until b is not MIGRATING. */
void ums__block_wait_stable(ums__block *b);

/* prefetch.c */
ums_result ums__workers_start(ums_runtime_t *rt);
void ums__workers_stop(ums_runtime_t *rt);

/* place.c: release what placement keeps per runtime (runtime destroy). */
void ums__place_fini(ums_runtime_t *rt);

/* staging.c: the pool of staging blocks */
typedef struct ums__stage ums__stage;
/* A full staging block whose pages are on `node`. */
ums_result ums__stage_get(ums_runtime_t *rt, ums_location_t node, ums__stage **out);
void *ums__stage_ptr(const ums__stage *st);
/* Back to the pool with its pages (on `node`), or with none (after its pages were
 * moved into a block). Both accept NULL. */
void ums__stage_put_full(ums_runtime_t *rt, ums__stage *st, ums_location_t node);
void ums__stage_put_empty(ums_runtime_t *rt, ums__stage *st);
/* Take n (2 ≤ n ≤ UMS_BACKEND_MANY_MAX) full staging blocks on `node` that are
 * consecutive in memory, into out[0..n) in address order; false (nothing taken)
 * when the pool has none. One transfer can then fill all of them. */
bool ums__stage_get_run(ums_runtime_t *rt, ums_location_t node, size_t n, ums__stage **out);
/* n (2 ≤ n ≤ UMS_BACKEND_MANY_MAX) empty staging blocks at consecutive
 * addresses, registered as UFFDIO_MOVE destinations, into out[0..n) in address
 * order; false (nothing taken) where pages cannot move. The pages of a run of
 * blocks moved into them can come back with one transfer (ums__stage_get_run). */
bool ums__stage_take_empty_run(ums_runtime_t *rt, size_t n, ums__stage **out);
/* An empty staging block registered as a UFFDIO_MOVE destination, or NULL. */
ums__stage *ums__stage_take_empty(ums_runtime_t *rt);
void ums__stage_pool_fini(ums_runtime_t *rt);
/* Free a staging block that is neither reusable full nor empty. */
void ums__stage_discard(ums_runtime_t *rt, ums__stage *st);
/* Copy into a staging block through the backend that owns it. */
ums_result ums__stage_copy_to(ums_runtime_t *rt, ums__stage *st, const void *src, size_t len);

/* built-in backends */
const ums_backend_ops *ums__host_backend_entry(void);
const ums_backend_ops *ums__sim_backend_entry(void);
#ifdef UMS_HAVE_OPENCL
const ums_backend_ops *ums__opencl_backend_entry(void);
#endif

/* config.c */
ums_result ums__parse_size(const char *s, size_t *out);

/* Reads of managed memory by a migration copy. Writers cannot run meanwhile:
 * the block is write-protected (userfaultfd) or read-only (mprotect), and the
 * kernel enforces that. ThreadSanitizer cannot see a page fault as
 * synchronisation, so it is told to ignore exactly these copies. */
#if defined(__SANITIZE_THREAD__)
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define UMS_MANAGED_READ_BEGIN() __tsan_ignore_thread_begin()
#define UMS_MANAGED_READ_END() __tsan_ignore_thread_end()
#else
#define UMS_MANAGED_READ_BEGIN() ((void)0)
#define UMS_MANAGED_READ_END() ((void)0)
#endif

/* Counters */
#define UMS_CTR_ADD(rt, field, v) atomic_fetch_add_explicit(&(rt)->ctr.field, (uint64_t)(v), memory_order_relaxed)
/* One wait of a faulting thread, `ns` long (async-signal-safe: relaxed atomics only). */
static inline void ums__count_wait(ums_runtime_t *rt, bool is_write, uint64_t ns) {
    if (is_write) {
        UMS_CTR_ADD(rt, writer_waits, 1);
        UMS_CTR_ADD(rt, writer_wait_ns, ns);
    } else {
        UMS_CTR_ADD(rt, reader_waits, 1);
        UMS_CTR_ADD(rt, reader_wait_ns, ns);
    }
}

#endif
