/* Kernels and CPU threads on the same allocations at the same time:
 * - CPU readers during a kernel's upload never fault or wait, CPU writers wait
 *   and their writes land;
 * - a CPU thread polling a buffer that kernels keep writing never sees a value
 *   go back, never makes a launch fail, and ends with the kernels' result;
 * - several threads launch kernels at once (on two devices when there are
 *   two) on a shared read-only input and their own outputs. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "cl_test.h"

static const char *src =
    "kernel void inc(global uint *p, uint n) { size_t i = get_global_id(0); if (i < n) p[i] += 1; }\n"
    "kernel void scaled(const global uint *a, global uint *b, uint n, uint f) {\n"
    "    size_t i = get_global_id(0); if (i < n) b[i] = a[i] * f; }\n";

static cl_env E;

static ums_counters counters(void) {
    ums_counters c;
    ASSERT_OK(ums_counters_get(E.rt, &c));
    return c;
}

/* ---- readers and writers during an upload ---- */

typedef struct rw_ctx {
    volatile uint32_t *x;
    size_t n;
    atomic_int stop;
    double write_s;
    size_t write_at;
} rw_ctx;

typedef struct reader_ctx {
    rw_ctx *c;
    unsigned seed;
    uint64_t reads;
    double max_read_s;
} reader_ctx;

/* Reads random elements of the first half (the writer writes in the last block). */
static void *reader(void *arg) {
    reader_ctx *r = arg;
    rw_ctx *c = r->c;
    uint64_t sum = 0, k = 0;
    unsigned seed = r->seed;
    while (!atomic_load(&c->stop)) {
        seed = seed * 1103515245u + 12345u;
        size_t i = (seed >> 4) % (c->n / 2);
        double t0 = cl_now();
        sum += c->x[i];
        double dt = cl_now() - t0;
        if (dt > r->max_read_s) r->max_read_s = dt;
        k++;
    }
    r->reads = k + (sum == 42); /* keep the reads */
    return NULL;
}

static void *writer(void *arg) {
    rw_ctx *c = arg;
    /* Wait until the last block is being uploaded (or is done), then write it
     * for as long as it is migrating: the first write may come before the write
     * protection (and is then in the copy), the later ones wait for the commit. */
    ums_block_info bi;
    size_t nb;
    while (!atomic_load(&c->stop)) {
        ASSERT_OK(ums_query((const void *)&c->x[c->write_at], 4, &bi, 1, &nb));
        if (bi.state != UMS_BLOCK_HOST) break;
    }
    do {
        double t0 = cl_now();
        c->x[c->write_at] = 0xabcdef;
        double dt = cl_now() - t0;
        if (dt > c->write_s) c->write_s = dt;
        ASSERT_OK(ums_query((const void *)&c->x[c->write_at], 4, &bi, 1, &nb));
    } while (bi.state == UMS_BLOCK_MIGRATING);
    return NULL;
}

static void test_readers_during_upload(const cl_dev *d) {
    const size_t n = 16 * E.bs / 4; /* 16 blocks */
    uint32_t *x, *y;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&x));
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&y));
    for (size_t i = 0; i < n; i++) x[i] = (uint32_t)i;
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "scaled", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, x, UMS_CL_ACCESS_DEFAULT)); /* read: replicated */
    ASSERT_OK(ums_cl_set_kernel_arg(k, 1, y, UMS_CL_ACCESS_DEFAULT));
    cl_uint un = (cl_uint)n, f = 3;
    CHECK_CL(clSetKernelArg(k, 2, sizeof un, &un));
    CHECK_CL(clSetKernelArg(k, 3, sizeof f, &f));
    memset(y, 0, n * 4); /* populate y too */

    rw_ctx c = {.x = x, .n = n, .write_at = n - 10};
    reader_ctx rc[2] = {{.c = &c, .seed = 1}, {.c = &c, .seed = 2}};
    pthread_t rd[2], wr;
    ASSERT_OK(ums_counters_reset(E.rt));
    for (int i = 0; i < 2; i++) ASSERT_EQ(pthread_create(&rd[i], NULL, reader, &rc[i]), 0);
    ASSERT_EQ(pthread_create(&wr, NULL, writer, &c), 0);
    cl_event ev;
    ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, &ev));
    ASSERT_OK(ums_cl_wait(ev));
    CHECK_CL(clReleaseEvent(ev));
    atomic_store(&c.stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(rd[i], NULL);
    pthread_join(wr, NULL);
    ums_counters ctr = counters();
    printf("  readers: %llu reads, longest %.3f ms, %llu read faults, %llu reader waits; writer waited %.3f ms "
           "(%llu writer waits)\n",
           (unsigned long long)(rc[0].reads + rc[1].reads), fmax(rc[0].max_read_s, rc[1].max_read_s) * 1e3, (unsigned long long)ctr.read_faults,
           (unsigned long long)ctr.reader_waits, c.write_s * 1e3, (unsigned long long)ctr.writer_waits);
    ASSERT_EQ(ctr.read_faults, 0);
    ASSERT_EQ(ctr.reader_waits, 0);
    ASSERT_GE(ctr.writer_waits, 1);
    ASSERT_EQ(x[n - 10], 0xabcdefu); /* the write landed */
    for (size_t i = 0; i < n; i++)
        if (i != n - 10 && y[i] != 3u * (uint32_t)i) FAIL_("y[%zu] = %u", i, y[i]);
    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(x));
    ASSERT_OK(ums_free(y));
}

/* ---- a CPU thread polling what kernels write ---- */

typedef struct poll_ctx {
    volatile uint32_t *y;
    size_t n;
    atomic_int stop;
    uint64_t polls;
} poll_ctx;

static void *poller(void *arg) {
    poll_ctx *c = arg;
    uint32_t last0 = 0, lastn = 0;
    while (!atomic_load(&c->stop)) {
        uint32_t v0 = c->y[0], vn = c->y[c->n - 1];
        if (v0 < last0 || vn < lastn) FAIL_("a value went back: %u after %u, %u after %u", v0, last0, vn, lastn);
        last0 = v0;
        lastn = vn;
        c->polls++;
    }
    return NULL;
}

static void test_poller(const cl_dev *d) {
    const size_t n = 2 * E.bs / 4 + 17; /* 3 blocks */
    uint32_t *y;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&y));
    memset(y, 0, n * 4);
    cl_program p;
    cl_kernel k = cl_build(d->ctx, src, "inc", &p);
    ASSERT_OK(ums_cl_set_kernel_arg(k, 0, y, UMS_CL_ACCESS_DEFAULT));
    cl_uint un = (cl_uint)n;
    CHECK_CL(clSetKernelArg(k, 1, sizeof un, &un));
    poll_ctx c = {.y = y, .n = n};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, poller, &c), 0);
    const int launches = 40;
    for (int r = 0; r < launches; r++) ASSERT_OK(ums_cl_enqueue_kernel(d->q, k, 1, NULL, &n, NULL, 0, NULL, NULL));
    CHECK_CL(clFinish(d->q));
    atomic_store(&c.stop, 1);
    pthread_join(t, NULL);
    for (size_t i = 0; i < n; i++)
        if (y[i] != (uint32_t)launches) FAIL_("y[%zu] = %u after %d launches", i, y[i], launches);
    printf("  poller: %llu polls during %d launches, all values monotonic\n", (unsigned long long)c.polls, launches);
    cl_kernel_done(k, p);
    ASSERT_OK(ums_free(y));
}

/* ---- several launching threads ---- */

typedef struct launcher {
    const cl_dev *d;
    cl_kernel k;
    uint32_t *out;
    const uint32_t *in;
    size_t n;
    uint32_t f;
} launcher;

static void *launch_loop(void *arg) {
    launcher *l = arg;
    for (int r = 0; r < 10; r++) {
        cl_uint f = l->f + (cl_uint)r;
        CHECK_CL(clSetKernelArg(l->k, 3, sizeof f, &f)); /* scalars: the thread owns its kernel */
        cl_event ev;
        ASSERT_OK(ums_cl_enqueue_kernel(l->d->q, l->k, 1, NULL, &l->n, NULL, 0, NULL, &ev));
        ASSERT_OK(ums_cl_wait(ev));
        CHECK_CL(clReleaseEvent(ev));
        for (size_t i = 0; i < l->n; i += 997)
            if (l->out[i] != l->in[i] * f) FAIL_("out[%zu] = %u, expected %u", i, l->out[i], l->in[i] * f);
    }
    return NULL;
}

static void test_launchers(void) {
    enum { T = 4 };
    const size_t n = 3 * E.bs / 4;
    uint32_t *in;
    ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&in));
    for (size_t i = 0; i < n; i++) in[i] = (uint32_t)(i % 1000);
    launcher L[T];
    cl_program progs[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        const cl_dev *d = &E.dev[(unsigned)t % E.ndev];
        L[t] = (launcher){.d = d, .in = in, .n = n, .f = (uint32_t)(t + 1)};
        L[t].k = cl_build(d->ctx, src, "scaled", &progs[t]);
        ASSERT_OK(ums_runtime_alloc(E.rt, n * 4, 0, (void **)&L[t].out));
        ASSERT_OK(ums_cl_set_kernel_arg(L[t].k, 0, in, UMS_CL_ACCESS_DEFAULT));
        ASSERT_OK(ums_cl_set_kernel_arg(L[t].k, 1, L[t].out, UMS_CL_ACCESS_DEFAULT));
        cl_uint un = (cl_uint)n;
        CHECK_CL(clSetKernelArg(L[t].k, 2, sizeof un, &un));
    }
    for (int t = 0; t < T; t++) ASSERT_EQ(pthread_create(&th[t], NULL, launch_loop, &L[t]), 0);
    /* Meanwhile the main thread reads the shared input: it stays valid on the host. */
    uint64_t s = 0;
    for (int r = 0; r < 20; r++)
        for (size_t i = 0; i < n; i += 64) s += in[i];
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    ASSERT(s > 0);
    ums_block_info bi = cl_block(in);
    ASSERT(bi.valid & (1ull << E.host));
    for (unsigned i = 0; i < E.ndev; i++) ASSERT(bi.valid & (1ull << E.dev[i].loc));
    for (int t = 0; t < T; t++) {
        cl_kernel_done(L[t].k, progs[t]);
        ASSERT_OK(ums_free(L[t].out));
    }
    ASSERT_OK(ums_free(in));
    printf("  %d threads x 10 launches on %u device(s): all results right\n", T, E.ndev);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    cl_env_open(&E, 1);
    test_readers_during_upload(&E.dev[0]);
    test_poller(&E.dev[0]);
    test_launchers();
    cl_env_close(&E);
    ums__opencl_objects zero = {0};
    ASSERT_OBJECTS_EQ(zero);
    printf("opencl concurrent: all checks passed\n");
    return 0;
}
