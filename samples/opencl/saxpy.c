/* SAXPY iterated (y = a*x + y), with the CPU inspecting y between launches.
 * y is advised READ_MOSTLY: the CPU's reads fetch the kernel's result but keep
 * the device copy valid, so the next launch moves nothing; x is read-only for
 * the kernel, so it is uploaded once and its host copy stays valid throughout.
 * Checked against the same computation on plain memory. */
#include <math.h>

#include "common.h"

static const char *source =
    "kernel void saxpy(float a, const global float *x, global float *y, uint n) {\n"
    "    size_t i = get_global_id(0);\n"
    "    if (i < n) y[i] = a * x[i] + y[i];\n"
    "}\n";

int main(void) {
    sample_device d;
    sample_open_device(0, 1, &d);
    const size_t n = 8u << 20; /* 32 MiB per vector */
    const int iterations = 8;
    const float a = 0.5f;
    float *x, *y, *ref = malloc(n * sizeof *ref);
    UMS_CHECK(ums_alloc(n * sizeof *x, 0, (void **)&x));
    UMS_CHECK(ums_alloc(n * sizeof *y, UMS_ALLOC_READ_MOSTLY, (void **)&y));
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(i % 1000) * 0.001f;
        y[i] = ref[i] = 1.0f;
    }

    cl_program prog;
    cl_kernel k = sample_kernel(&d, source, "saxpy", &prog);
    CL_CHECK(clSetKernelArg(k, 0, sizeof a, &a));
    UMS_CHECK(ums_cl_set_kernel_arg(k, 1, x, UMS_CL_ACCESS_DEFAULT)); /* const: read */
    UMS_CHECK(ums_cl_set_kernel_arg(k, 2, y, UMS_CL_ACCESS_DEFAULT)); /* read-write */
    cl_uint un = (cl_uint)n;
    CL_CHECK(clSetKernelArg(k, 3, sizeof un, &un));

    printf("saxpy on %s: %zu elements, %d launches\n", d.name, n, iterations);
    sample_moves("start");
    size_t bad = 0;
    for (int it = 0; it < iterations; it++) {
        size_t global = n;
        UMS_CHECK(ums_cl_enqueue_kernel(d.queue, k, 1, NULL, &global, NULL, 0, NULL, NULL));
        for (size_t i = 0; i < n; i++) ref[i] = a * ((float)(i % 1000) * 0.001f) + ref[i];
        /* CPU inspection: every element, as plain memory (waits for the kernel). */
        double sum = 0, want = 0;
        for (size_t i = 0; i < n; i++) {
            sum += y[i];
            want += ref[i];
            if (y[i] != ref[i]) bad++;
        }
        char what[64];
        snprintf(what, sizeof what, "launch %d, sum %.6g", it + 1, sum);
        sample_moves(what);
        if (fabs(sum - want) > 1e-6 * fabs(want)) bad++;
    }
    sample_residency("x", x, n * sizeof *x);
    sample_residency("y", y, n * sizeof *y);
    printf("saxpy: %zu mismatches against the CPU reference\n", bad);

    UMS_CHECK(ums_cl_forget_kernel(k));
    clReleaseKernel(k);
    clReleaseProgram(prog);
    sample_close_device(&d);
    UMS_CHECK(ums_free(x));
    UMS_CHECK(ums_free(y));
    free(ref);
    return bad ? 1 : 0;
}
