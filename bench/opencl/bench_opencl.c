/* ums_bench_opencl: OpenCL kernels on managed memory against the alternatives,
 * in the same run, on the same device, with the same kernels.
 *
 * Workloads (each over --size MiB in total, 256 by default):
 * - SAXPY: y = a*x + y over two arrays of size/2;
 * - Jacobi: a 2-D 5-point stencil over two grids of size/2, swapped every step.
 * Modes:
 * - alternating: CPU and kernel phases alternate (SAXPY: the CPU sums y after
 *   every launch; Jacobi: the CPU sums the newest grid every --every steps);
 * - kernel only: launches back to back on data already on the device.
 * Versions:
 * - explicit: plain host arrays and cl_mem buffers, the transfers written by
 *   hand (clEnqueueWriteBuffer once, clEnqueueReadBuffer of what the CPU reads);
 * - umshim: managed arrays (READ_MOSTLY where the CPU inspects results) passed
 *   with ums_cl_set_kernel_arg / ums_cl_enqueue_kernel; the CPU reads them as
 *   plain memory;
 * - svm: fine-grain buffer SVM (clSVMAlloc), the device using host memory in place;
 * - in place: managed arrays with ACCESSED_BY the device (host-unified), used in place.
 * Transfers: umshim's migrations (ums_migrate, in transfer windows) and CPU
 * fetches against one clEnqueueWriteBuffer / clEnqueueReadBuffer of the same
 * size from a malloc'd buffer, and the same commands with the managed pages
 * themselves as the host side (the memory's own speed, without the library).
 * umshim splits a transfer of several blocks over the device's copy streams
 * (ums_cl_location_streams; two on POCL with two cores), so the run also times
 * that split done by hand: the same bytes as one command per stream, on as many
 * queues, from the malloc'd buffer (the best a hand-written copy gets here).
 *
 * Every figure is the median of --reps repetitions (transfers: 4 * --reps + 1,
 * also as the median of pairwise ratios); ratios are umshim over the
 * alternative (lower is better), except transfer speeds, umshim over raw
 * (higher is better). The last line is JSON. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h" /* samples/opencl: UMS_CHECK, CL_CHECK */

static const char *source =
    "kernel void saxpy(float a, const global float *x, global float *y, uint n) {\n"
    "    size_t i = get_global_id(0); if (i < n) y[i] = a * x[i] + y[i]; }\n"
    "kernel void jacobi(const global float *in, global float *out, uint w, uint h) {\n"
    "    size_t x = get_global_id(0), y = get_global_id(1);\n"
    "    if (x >= w || y >= h) return;\n"
    "    size_t i = y * w + x;\n"
    "    if (x == 0 || y == 0 || x == w - 1 || y == h - 1) { out[i] = in[i]; return; }\n"
    "    out[i] = 0.25f * (in[i - 1] + in[i + 1] + in[i - w] + in[i + w]); }\n";

typedef struct bench {
    ums_location_t loc;
    ums_location_t host;
    const char *name;
    cl_context ctx;
    cl_device_id dev;
    cl_command_queue q;
    cl_program prog;
    size_t bytes; /* per array */
    size_t n;     /* floats per array */
    size_t w, h;  /* Jacobi grid */
    int reps, iters, steps, every;
    int svm, in_place; /* available */
} bench;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Every CPU phase's result lands here, so no phase can be optimised away. */
static volatile double sink;

static double sum(const float *p, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    sink += s;
    return s;
}

static void init_saxpy(float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(i % 1024) * (1.0f / 1024);
        y[i] = 1.0f;
    }
}

static void init_grid(float *g, size_t w, size_t h) {
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) g[y * w + x] = (y == 0) ? 100.0f : (x == 0 ? 50.0f : 0.0f);
}

/* ---- kernels: one argument setter per kind of memory ---- */

typedef enum kind { K_BUFFER, K_MANAGED, K_SVM } kind;

static void set_mem(bench *B, cl_kernel k, cl_uint idx, kind kd, void *p, cl_mem m) {
    if (kd == K_BUFFER) CL_CHECK(clSetKernelArg(k, idx, sizeof m, &m));
    else if (kd == K_SVM) CL_CHECK(clSetKernelArgSVMPointer(k, idx, p));
    else UMS_CHECK(ums_cl_set_kernel_arg(k, idx, p, UMS_CL_ACCESS_DEFAULT));
    (void)B;
}

static void launch(bench *B, cl_kernel k, kind kd, cl_uint dim, const size_t *global) {
    if (kd == K_MANAGED) UMS_CHECK(ums_cl_enqueue_kernel(B->q, k, dim, NULL, global, NULL, 0, NULL, NULL));
    else CL_CHECK(clEnqueueNDRangeKernel(B->q, k, dim, NULL, global, NULL, 0, NULL, NULL));
}

/* ---- the versions of a workload ---- */

/* One version: its memory (host arrays, managed memory or SVM), buffers, kernel. */
typedef struct version {
    const char *name;
    kind kd;
    int alternating;
    int in_place;   /* managed, used in place (ACCESSED_BY) */
    float *p[2];    /* SAXPY: x, y; Jacobi: the two grids */
    cl_mem b[2];    /* explicit buffers */
    cl_kernel k;    /* the version's own kernel object */
    int step;       /* Jacobi: steps done */
    double t[64];   /* seconds per iteration, per repetition */
} version;

static void version_setup(bench *B, version *v, int jacobi) {
    size_t sz = B->bytes;
    cl_int err;
    v->k = clCreateKernel(B->prog, jacobi ? "jacobi" : "saxpy", &err);
    CL_CHECK(err);
    for (int k = 0; k < 2; k++) {
        if (v->kd == K_BUFFER) {
            v->p[k] = malloc(sz);
            v->b[k] = clCreateBuffer(B->ctx, CL_MEM_READ_WRITE, sz, NULL, &err);
            CL_CHECK(err);
        } else if (v->kd == K_SVM) {
            v->p[k] = clSVMAlloc(B->ctx, CL_MEM_READ_WRITE | CL_MEM_SVM_FINE_GRAIN_BUFFER, sz, 0);
        } else {
            /* What the CPU inspects is READ_MOSTLY: its reads keep the device copy valid. */
            unsigned flags = (!v->in_place && (jacobi || k == 1)) ? UMS_ALLOC_READ_MOSTLY : 0;
            UMS_CHECK(ums_alloc(sz, flags, (void **)&v->p[k]));
            if (v->in_place) UMS_CHECK(ums_advise(v->p[k], sz, UMS_ADVISE_ACCESSED_BY, B->loc));
        }
        if (!v->p[k]) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    if (jacobi) {
        init_grid(v->p[0], B->w, B->h);
        init_grid(v->p[1], B->w, B->h);
        cl_uint uw = (cl_uint)B->w, uh = (cl_uint)B->h;
        CL_CHECK(clSetKernelArg(v->k, 2, sizeof uw, &uw));
        CL_CHECK(clSetKernelArg(v->k, 3, sizeof uh, &uh));
    } else {
        init_saxpy(v->p[0], v->p[1], B->n);
        float a = 1.0f / 1024;
        cl_uint un = (cl_uint)B->n;
        CL_CHECK(clSetKernelArg(v->k, 0, sizeof a, &a));
        set_mem(B, v->k, 1, v->kd, v->p[0], v->b[0]);
        set_mem(B, v->k, 2, v->kd, v->p[1], v->b[1]);
        CL_CHECK(clSetKernelArg(v->k, 3, sizeof un, &un));
    }
    if (v->kd == K_BUFFER)
        for (int k = 0; k < 2; k++) CL_CHECK(clEnqueueWriteBuffer(B->q, v->b[k], CL_TRUE, 0, sz, v->p[k], 0, NULL, NULL));
}

/* The newest data, on the host, summed (checks that every version computed the same). */
static double version_check(bench *B, version *v, int jacobi) {
    int k = jacobi ? v->step % 2 : 1;
    CL_CHECK(clFinish(B->q));
    if (v->kd == K_BUFFER) CL_CHECK(clEnqueueReadBuffer(B->q, v->b[k], CL_TRUE, 0, B->bytes, v->p[k], 0, NULL, NULL));
    return sum(v->p[k], B->n);
}

static void version_teardown(bench *B, version *v) {
    CL_CHECK(clFinish(B->q));
    if (v->kd == K_MANAGED) UMS_CHECK(ums_cl_forget_kernel(v->k));
    clReleaseKernel(v->k);
    for (int k = 0; k < 2; k++) {
        if (v->kd == K_BUFFER) {
            clReleaseMemObject(v->b[k]);
            free(v->p[k]);
        } else if (v->kd == K_SVM) {
            clSVMFree(B->ctx, v->p[k]);
        } else {
            UMS_CHECK(ums_free(v->p[k]));
        }
    }
}

/* The CPU phase: the explicit version reads back first; SVM and in place wait for the kernel. */
static void cpu_phase(bench *B, version *v, int k) {
    if (v->kd == K_BUFFER) CL_CHECK(clEnqueueReadBuffer(B->q, v->b[k], CL_TRUE, 0, B->bytes, v->p[k], 0, NULL, NULL));
    else if (v->kd == K_SVM || v->in_place) CL_CHECK(clFinish(B->q));
    sum(v->p[k], B->n); /* managed, not in place: the reads wait for the kernel and fetch */
}

/* SAXPY: `iters` launches, each followed (alternating) by the CPU summing y. */
static void saxpy_iters(bench *B, version *v, int iters) {
    size_t g = B->n;
    for (int i = 0; i < iters; i++) {
        launch(B, v->k, v->kd, 1, &g);
        if (v->alternating) cpu_phase(B, v, 1);
    }
}

/* Jacobi: `steps` steps; alternating: the CPU sums the newest grid every B->every steps. */
static void jacobi_iters(bench *B, version *v, int steps) {
    for (int i = 0; i < steps; i++, v->step++) {
        int in = v->step % 2, out = 1 - in;
        set_mem(B, v->k, 0, v->kd, v->p[in], v->b[in]);
        set_mem(B, v->k, 1, v->kd, v->p[out], v->b[out]);
        size_t global[2] = {B->w, B->h};
        launch(B, v->k, v->kd, 2, global);
        if (v->alternating && (v->step + 1) % B->every == 0) cpu_phase(B, v, out);
    }
}

/* Run every version of a workload, repetitions interleaved (so drift in the
 * machine's speed hits all versions alike); t[] gets seconds per iteration. */
static int run_workload(bench *B, version *vs, int nv, int jacobi) {
    int per_rep = jacobi ? B->steps : B->iters;
    for (int i = 0; i < nv; i++) {
        version_setup(B, &vs[i], jacobi);
        if (jacobi) jacobi_iters(B, &vs[i], B->every); /* warm-up: data where it settles */
        else saxpy_iters(B, &vs[i], 1);
        CL_CHECK(clFinish(B->q));
    }
    for (int r = 0; r < B->reps; r++)
        for (int i = 0; i < nv; i++) {
            double t0 = now();
            if (jacobi) jacobi_iters(B, &vs[i], per_rep);
            else saxpy_iters(B, &vs[i], per_rep);
            CL_CHECK(clFinish(B->q));
            vs[i].t[r] = (now() - t0) / per_rep;
        }
    /* Same kernels, same inputs, same number of iterations per mode: same results. */
    int agree = 1;
    double ref[2] = {0, 0};
    int have[2] = {0, 0};
    for (int i = 0; i < nv; i++) {
        double c = version_check(B, &vs[i], jacobi);
        int m = vs[i].alternating;
        if (!have[m]) ref[m] = c, have[m] = 1;
        else if (fabs(c - ref[m]) > 1e-9 * fabs(ref[m])) agree = 0;
        version_teardown(B, &vs[i]);
    }
    return agree;
}

/* ---- transfers ---- */

typedef struct transfers {
    int reps;                     /* repetitions: 4 * --reps + 1 (at most 64) */
    double raw_write, raw_read;   /* GB/s, one clEnqueueWriteBuffer / ReadBuffer */
    double h2d, d2h;              /* GB/s, ums_migrate host → device, device → host */
    double fetch;                 /* GB/s, CPU reads of device-resident data (faults) */
    double h2d_paired, d2h_paired; /* median over repetitions of umshim / raw speed, each pair measured together */
    /* GB/s, the raw commands with the managed pages themselves (host-resident) as
     * the host side: the speed of the memory a migration moves, without it */
    double raw_write_managed, raw_read_managed;
    /* GB/s, the raw commands split by hand over `streams` queues, as umshim splits them */
    unsigned streams;
    double raw_write_split, raw_read_split;
} transfers;

/* One command of `sz` bytes (write or read of `m` from `h`), or with `ns` > 1
 * one piece per queue of `qs`, waited for together: the time it took. */
static double raw_transfer(cl_command_queue q, const cl_command_queue *qs, unsigned ns, cl_mem m, char *h, size_t sz,
                           int write) {
    double t0 = now();
    if (ns <= 1) {
        if (write) CL_CHECK(clEnqueueWriteBuffer(q, m, CL_TRUE, 0, sz, h, 0, NULL, NULL));
        else CL_CHECK(clEnqueueReadBuffer(q, m, CL_TRUE, 0, sz, h, 0, NULL, NULL));
        return now() - t0;
    }
    size_t piece = (sz / ns + 4095) & ~(size_t)4095;
    for (unsigned k = 0; k < ns; k++) {
        size_t off = k * piece, len = off >= sz ? 0 : (sz - off < piece ? sz - off : piece);
        if (!len) break;
        if (write) CL_CHECK(clEnqueueWriteBuffer(qs[k], m, CL_FALSE, off, len, h + off, 0, NULL, NULL));
        else CL_CHECK(clEnqueueReadBuffer(qs[k], m, CL_FALSE, off, len, h + off, 0, NULL, NULL));
        CL_CHECK(clFlush(qs[k]));
    }
    for (unsigned k = 0; k < ns; k++) CL_CHECK(clFinish(qs[k]));
    return now() - t0;
}

/* Raw and umshim transfers of the same size, interleaved repetition by
 * repetition. A transfer takes milliseconds and the machine's speed drifts
 * between repetitions, so there are more repetitions here than elsewhere, and
 * the ratio is also given pair by pair (a raw transfer and the umshim one right
 * after it). */
static void measure_transfers(bench *B, transfers *T) {
    size_t sz = B->bytes;
    double tw[64], tr[64], th[64], td[64], tf[64], ph[64], pd[64], tmw[64], tmr[64], tsw[64], tsr[64];
    int reps = 4 * B->reps + 1;
    if (reps > 64) reps = 64;
    T->reps = reps;
    char *h = malloc(sz);
    memset(h, 1, sz);
    cl_int err;
    cl_mem m = clCreateBuffer(B->ctx, CL_MEM_READ_WRITE, sz, NULL, &err);
    CL_CHECK(err);
    CL_CHECK(clEnqueueWriteBuffer(B->q, m, CL_TRUE, 0, sz, h, 0, NULL, NULL)); /* warm */
    unsigned ns = 1;
    UMS_CHECK(ums_cl_location_streams(NULL, B->loc, &ns));
    T->streams = ns;
    cl_command_queue qs[4] = {B->q, NULL, NULL, NULL};
    for (unsigned k = 1; k < ns && k < 4; k++) {
        qs[k] = clCreateCommandQueueWithProperties(B->ctx, B->dev, NULL, &err);
        CL_CHECK(err);
    }
    char *p;
    UMS_CHECK(ums_alloc(sz, 0, (void **)&p));
    memset(p, 1, sz);
    UMS_CHECK(ums_migrate(p, sz, B->loc)); /* warm: the device buffer exists and is touched */
    UMS_CHECK(ums_migrate(p, sz, B->host));
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        CL_CHECK(clEnqueueWriteBuffer(B->q, m, CL_TRUE, 0, sz, h, 0, NULL, NULL));
        tw[r] = now() - t0;
        t0 = now();
        UMS_CHECK(ums_migrate(p, sz, B->loc));
        th[r] = now() - t0;
        t0 = now();
        CL_CHECK(clEnqueueReadBuffer(B->q, m, CL_TRUE, 0, sz, h, 0, NULL, NULL));
        tr[r] = now() - t0;
        t0 = now();
        UMS_CHECK(ums_migrate(p, sz, B->host));
        td[r] = now() - t0;
        t0 = now();
        CL_CHECK(clEnqueueWriteBuffer(B->q, m, CL_TRUE, 0, sz, p, 0, NULL, NULL));
        tmw[r] = now() - t0;
        t0 = now();
        CL_CHECK(clEnqueueReadBuffer(B->q, m, CL_TRUE, 0, sz, p, 0, NULL, NULL));
        tmr[r] = now() - t0;
        tsw[r] = raw_transfer(B->q, qs, ns, m, h, sz, 1);
        tsr[r] = raw_transfer(B->q, qs, ns, m, h, sz, 0);
        UMS_CHECK(ums_migrate(p, sz, B->loc));
        volatile char s = 0;
        t0 = now();
        for (size_t i = 0; i < sz; i += 4096) s += p[i];
        tf[r] = now() - t0;
        sink += s;
    }
    for (int r = 0; r < reps; r++) {
        ph[r] = tw[r] / th[r];
        pd[r] = tr[r] / td[r];
    }
    T->h2d_paired = median(ph, reps);
    T->d2h_paired = median(pd, reps);
    T->raw_write = sz / median(tw, reps) / 1e9;
    T->raw_read = sz / median(tr, reps) / 1e9;
    T->h2d = sz / median(th, reps) / 1e9;
    T->d2h = sz / median(td, reps) / 1e9;
    T->fetch = sz / median(tf, reps) / 1e9;
    T->raw_write_managed = sz / median(tmw, reps) / 1e9;
    T->raw_read_managed = sz / median(tmr, reps) / 1e9;
    T->raw_write_split = sz / median(tsw, reps) / 1e9;
    T->raw_read_split = sz / median(tsr, reps) / 1e9;
    for (unsigned k = 1; k < ns && k < 4; k++) clReleaseCommandQueue(qs[k]);
    UMS_CHECK(ums_free(p));
    clReleaseMemObject(m);
    free(h);
}

/* ---- main ---- */

static void usage(void) {
    fprintf(stderr,
            "usage: ums_bench_opencl [--size MiB] [--reps N] [--iters N] [--steps N] [--every N] [--quick]\n"
            "  --size   total working set of each workload (two arrays of size/2), default 256\n"
            "  --reps   repetitions (medians), default 5\n"
            "  --iters  SAXPY iterations per repetition, default 4\n"
            "  --steps  Jacobi steps per repetition, default 8; --every: CPU reduction period, default 4\n"
            "  --quick  --size 32 --reps 3 (a smoke run)\n");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench B;
    memset(&B, 0, sizeof B);
    size_t mib = 256;
    B.reps = 5;
    B.iters = 4;
    B.steps = 8;
    B.every = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            mib = 32;
            B.reps = 3;
        } else if (v && !strcmp(a, "--size")) {
            mib = strtoul(v, NULL, 10), i++;
        } else if (v && !strcmp(a, "--reps")) {
            B.reps = atoi(v), i++;
        } else if (v && !strcmp(a, "--iters")) {
            B.iters = atoi(v), i++;
        } else if (v && !strcmp(a, "--steps")) {
            B.steps = atoi(v), i++;
        } else if (v && !strcmp(a, "--every")) {
            B.every = atoi(v), i++;
        } else {
            usage();
            return 2;
        }
    }
    if (mib < 8 || B.reps < 1 || B.reps > 64 || B.iters < 1 || B.steps < 1 || B.every < 1) {
        usage();
        return 2;
    }

    uint32_t nloc;
    UMS_CHECK(ums_location_count(NULL, &nloc));
    B.loc = UMS_LOCATION_NONE;
    ums_location_info li;
    for (uint32_t i = 0; i < nloc && B.loc == UMS_LOCATION_NONE; i++) {
        UMS_CHECK(ums_location_get(NULL, i, &li));
        if (strcmp(li.backend, "opencl") == 0) B.loc = i;
    }
    if (B.loc == UMS_LOCATION_NONE) {
        printf("SKIP: no OpenCL device\n");
        return 77;
    }
    UMS_CHECK(ums_location_get(NULL, B.loc, &li));
    B.name = li.name;
    B.host = 0;
    UMS_CHECK(ums_cl_location_context(NULL, B.loc, &B.ctx, &B.dev));
    cl_int err;
    B.q = clCreateCommandQueueWithProperties(B.ctx, B.dev, NULL, &err);
    CL_CHECK(err);
    UMS_CHECK(ums_cl_program_from_source(B.ctx, source, NULL, &B.prog));
    char devname[128] = "";
    clGetDeviceInfo(B.dev, CL_DEVICE_NAME, sizeof devname, devname, NULL);
    cl_device_svm_capabilities svm = 0;
    clGetDeviceInfo(B.dev, CL_DEVICE_SVM_CAPABILITIES, sizeof svm, &svm, NULL);
    B.svm = (svm & CL_DEVICE_SVM_FINE_GRAIN_BUFFER) != 0;
    B.in_place = (li.flags & UMS_LOCATION_FLAG_HOST_ACCESS) != 0;
    size_t bs = ums_runtime_block_size(NULL);
    B.bytes = (mib << 20) / 2 / bs * bs;
    B.n = B.bytes / sizeof(float);
    B.w = 4096;
    B.h = B.n / B.w;
    printf("ums_bench_opencl: %s (%s), %zu MiB per workload (2 x %zu MiB), block %zu KiB, %d repetitions, "
           "fault mode %s\n",
           B.name, devname, mib, B.bytes >> 20, bs >> 10, B.reps, ums_fault_mode_name(ums_runtime_fault_mode(NULL)));
    printf("  fine-grain buffer SVM: %s; host-unified (in place): %s\n", B.svm ? "yes" : "no",
           B.in_place ? "yes" : "no");

    double t0 = now();
    enum { EXP_ALT, UMS_ALT, EXP_K, UMS_K, SVM, INP, NV };
    version sx[NV] = {
        [EXP_ALT] = {.name = "explicit", .kd = K_BUFFER, .alternating = 1},
        [UMS_ALT] = {.name = "umshim", .kd = K_MANAGED, .alternating = 1},
        [EXP_K] = {.name = "explicit", .kd = K_BUFFER},
        [UMS_K] = {.name = "umshim", .kd = K_MANAGED},
        [SVM] = {.name = "svm", .kd = K_SVM, .alternating = 1},
        [INP] = {.name = "in place", .kd = K_MANAGED, .alternating = 1, .in_place = 1},
    };
    version jc[NV];
    memcpy(jc, sx, sizeof jc);
    int nv = B.svm && B.in_place ? NV : SVM;
    int agree = run_workload(&B, sx, nv, 0);
    double sx_m[NV], jc_m[NV];
    for (int i = 0; i < nv; i++) sx_m[i] = median(sx[i].t, B.reps);
    printf("\nSAXPY, ms per iteration (median of %d repetitions of %d):\n", B.reps, B.iters);
    printf("  alternating  explicit %8.2f  umshim %8.2f  ratio %.3f\n", sx_m[EXP_ALT] * 1e3, sx_m[UMS_ALT] * 1e3,
           sx_m[UMS_ALT] / sx_m[EXP_ALT]);
    printf("  kernel only  explicit %8.2f  umshim %8.2f  ratio %.3f\n", sx_m[EXP_K] * 1e3, sx_m[UMS_K] * 1e3,
           sx_m[UMS_K] / sx_m[EXP_K]);
    if (nv == NV)
        printf("  in place     svm      %8.2f  umshim %8.2f  ratio %.3f\n", sx_m[SVM] * 1e3, sx_m[INP] * 1e3,
               sx_m[INP] / sx_m[SVM]);
    agree &= run_workload(&B, jc, nv, 1);
    for (int i = 0; i < nv; i++) jc_m[i] = median(jc[i].t, B.reps);
    printf("\nJacobi %zux%zu, ms per step (median of %d repetitions of %d, CPU reduction every %d steps):\n", B.w, B.h,
           B.reps, B.steps, B.every);
    printf("  alternating  explicit %8.2f  umshim %8.2f  ratio %.3f\n", jc_m[EXP_ALT] * 1e3, jc_m[UMS_ALT] * 1e3,
           jc_m[UMS_ALT] / jc_m[EXP_ALT]);
    printf("  kernel only  explicit %8.2f  umshim %8.2f  ratio %.3f\n", jc_m[EXP_K] * 1e3, jc_m[UMS_K] * 1e3,
           jc_m[UMS_K] / jc_m[EXP_K]);
    if (nv == NV)
        printf("  in place     svm      %8.2f  umshim %8.2f  ratio %.3f\n", jc_m[SVM] * 1e3, jc_m[INP] * 1e3,
               jc_m[INP] / jc_m[SVM]);
    if (nv < NV) sx_m[SVM] = sx_m[INP] = jc_m[SVM] = jc_m[INP] = 0;

    transfers T;
    measure_transfers(&B, &T);
    printf("\nTransfers of %zu MiB, GB/s (median of %d; pair by pair: median of the ratios of each raw transfer "
           "and the umshim one after it):\n",
           B.bytes >> 20, T.reps);
    printf("  host->device  raw clEnqueueWriteBuffer %6.2f  umshim ums_migrate %6.2f  (%.2f of raw; pair by pair "
           "%.2f)\n",
           T.raw_write, T.h2d, T.h2d / T.raw_write, T.h2d_paired);
    printf("  device->host  raw clEnqueueReadBuffer  %6.2f  umshim ums_migrate %6.2f  (%.2f of raw; pair by pair "
           "%.2f)\n",
           T.raw_read, T.d2h, T.d2h / T.raw_read, T.d2h_paired);
    printf("  device->host  CPU reads that fault and fetch                 %6.2f  (%.2f of raw)\n", T.fetch,
           T.fetch / T.raw_read);
    printf("  the raw commands on the managed pages themselves (host-resident): write %6.2f (%.2f of raw; umshim "
           "%.2f of it), read %6.2f (%.2f of raw; umshim %.2f of it)\n",
           T.raw_write_managed, T.raw_write_managed / T.raw_write, T.h2d / T.raw_write_managed, T.raw_read_managed,
           T.raw_read_managed / T.raw_read, T.d2h / T.raw_read_managed);
    printf("  the raw commands split by hand over %u queue(s), as umshim splits them: write %6.2f (umshim %.2f of "
           "it), read %6.2f (umshim %.2f of it)\n",
           T.streams, T.raw_write_split, T.h2d / T.raw_write_split, T.raw_read_split, T.d2h / T.raw_read_split);
    printf("\nresults agree across versions: %s; %.1f s\n", agree ? "yes" : "NO", now() - t0);

    double sx_alt = sx_m[UMS_ALT] / sx_m[EXP_ALT], jc_alt = jc_m[UMS_ALT] / jc_m[EXP_ALT];
    double sx_k = sx_m[UMS_K] / sx_m[EXP_K], jc_k = jc_m[UMS_K] / jc_m[EXP_K];
    double sx_ip = nv == NV ? sx_m[INP] / sx_m[SVM] : -1, jc_ip = nv == NV ? jc_m[INP] / jc_m[SVM] : -1;
    printf("{\"bench\":\"opencl\",\"device\":\"%s\",\"size_mib\":%zu,\"block_kib\":%zu,\"reps\":%d,"
           "\"ratio_vs_explicit_alternating\":%.3f,\"ratio_vs_explicit_kernel_only\":%.3f,"
           "\"ratio_in_place_vs_svm\":%.3f,"
           "\"h2d_gbps\":%.2f,\"d2h_gbps\":%.2f,\"fetch_gbps\":%.2f,\"raw_write_gbps\":%.2f,\"raw_read_gbps\":%.2f,"
           "\"h2d_ratio_paired\":%.3f,\"d2h_ratio_paired\":%.3f,\"transfer_reps\":%d,"
           "\"raw_write_managed_gbps\":%.2f,\"raw_read_managed_gbps\":%.2f,"
           "\"streams\":%u,\"raw_write_split_gbps\":%.2f,\"raw_read_split_gbps\":%.2f,"
           "\"saxpy_alternating_ratio\":%.3f,\"saxpy_kernel_only_ratio\":%.3f,\"saxpy_in_place_vs_svm\":%.3f,"
           "\"jacobi_alternating_ratio\":%.3f,\"jacobi_kernel_only_ratio\":%.3f,\"jacobi_in_place_vs_svm\":%.3f,"
           "\"saxpy_ms\":{\"explicit_alt\":%.2f,\"umshim_alt\":%.2f,\"explicit_kernel\":%.2f,\"umshim_kernel\":%.2f,"
           "\"svm\":%.2f,\"in_place\":%.2f},"
           "\"jacobi_ms\":{\"explicit_alt\":%.2f,\"umshim_alt\":%.2f,\"explicit_kernel\":%.2f,\"umshim_kernel\":%.2f,"
           "\"svm\":%.2f,\"in_place\":%.2f},\"results_agree\":%s}\n",
           B.name, mib, bs >> 10, B.reps, fmax(sx_alt, jc_alt), fmax(sx_k, jc_k), fmax(sx_ip, jc_ip), T.h2d, T.d2h,
           T.fetch, T.raw_write, T.raw_read, T.h2d_paired, T.d2h_paired, T.reps, T.raw_write_managed, T.raw_read_managed,
           T.streams, T.raw_write_split, T.raw_read_split, sx_alt, sx_k, sx_ip, jc_alt, jc_k, jc_ip, sx_m[EXP_ALT] * 1e3,
           sx_m[UMS_ALT] * 1e3, sx_m[EXP_K] * 1e3, sx_m[UMS_K] * 1e3, sx_m[SVM] * 1e3, sx_m[INP] * 1e3,
           jc_m[EXP_ALT] * 1e3, jc_m[UMS_ALT] * 1e3, jc_m[EXP_K] * 1e3, jc_m[UMS_K] * 1e3, jc_m[SVM] * 1e3,
           jc_m[INP] * 1e3, agree ? "true" : "false");

    clReleaseProgram(B.prog);
    clReleaseCommandQueue(B.q);
    UMS_CHECK(ums_shutdown());
    return agree ? 0 : 1;
}
