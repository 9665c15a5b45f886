/* A 2-D Jacobi stencil on a device, with a CPU reduction every k steps.
 * Two managed grids are swapped between launches (each launch reads one and
 * writes the other); every k steps the CPU sums the newest grid as plain memory,
 * which fetches it. Both grids are READ_MOSTLY, so the CPU's reads keep the
 * device copies valid and the next launches move nothing. Checked against the
 * same stencil on plain memory. */
#include <math.h>

#include "common.h"

static const char *source =
    "kernel void jacobi(const global float *in, global float *out, uint w, uint h) {\n"
    "    size_t x = get_global_id(0), y = get_global_id(1);\n"
    "    if (x >= w || y >= h) return;\n"
    "    size_t i = y * w + x;\n"
    "    if (x == 0 || y == 0 || x == w - 1 || y == h - 1) { out[i] = in[i]; return; }\n"
    "    out[i] = 0.25f * (in[i - 1] + in[i + 1] + in[i - w] + in[i + w]);\n"
    "}\n";

static void step_cpu(const float *in, float *out, size_t w, size_t h) {
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            size_t i = y * w + x;
            if (x == 0 || y == 0 || x == w - 1 || y == h - 1) out[i] = in[i];
            else out[i] = 0.25f * (in[i - 1] + in[i + 1] + in[i - w] + in[i + w]);
        }
}

static double total(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += g[i];
    return s;
}

int main(void) {
    sample_device d;
    sample_open_device(0, 1, &d);
    const size_t w = 1024, h = 1024, n = w * h; /* 4 MiB per grid */
    const int steps = 40, every = 10;
    float *g[2], *ref[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    for (int b = 0; b < 2; b++) UMS_CHECK(ums_alloc(n * sizeof(float), UMS_ALLOC_READ_MOSTLY, (void **)&g[b]));
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            float v = (y == 0) ? 100.0f : (x == 0 ? 50.0f : 0.0f); /* hot edges */
            g[0][y * w + x] = g[1][y * w + x] = ref[0][y * w + x] = ref[1][y * w + x] = v;
        }

    cl_program prog;
    cl_kernel k = sample_kernel(&d, source, "jacobi", &prog);
    cl_uint uw = (cl_uint)w, uh = (cl_uint)h;
    CL_CHECK(clSetKernelArg(k, 2, sizeof uw, &uw));
    CL_CHECK(clSetKernelArg(k, 3, sizeof uh, &uh));
    printf("jacobi on %s: %zux%zu grid, %d steps, CPU reduction every %d\n", d.name, w, h, steps, every);
    sample_moves("start");
    int bad = 0;
    for (int s = 1; s <= steps; s++) {
        int in = (s - 1) % 2, out = s % 2;
        UMS_CHECK(ums_cl_set_kernel_arg(k, 0, g[in], UMS_CL_ACCESS_DEFAULT));
        UMS_CHECK(ums_cl_set_kernel_arg(k, 1, g[out], UMS_CL_ACCESS_DEFAULT));
        size_t global[2] = {w, h};
        UMS_CHECK(ums_cl_enqueue_kernel(d.queue, k, 2, NULL, global, NULL, 0, NULL, NULL));
        step_cpu(ref[in], ref[out], w, h);
        if (s % every == 0) {
            double got = total(g[out], n), want = total(ref[out], n);
            char what[96];
            snprintf(what, sizeof what, "step %d: CPU sum %.6f (reference %.6f)", s, got, want);
            sample_moves(what);
            if (fabs(got - want) > 1e-5 * fabs(want)) bad++;
        }
    }
    int last = steps % 2;
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(g[last][i] - ref[last][i]) > 1e-4f * (1.0f + fabsf(ref[last][i]))) wrong++;
    sample_residency("grid0", g[0], n * sizeof(float));
    sample_residency("grid1", g[1], n * sizeof(float));
    printf("jacobi: %zu cells differ from the CPU reference, %d reductions wrong\n", wrong, bad);

    UMS_CHECK(ums_cl_forget_kernel(k));
    clReleaseKernel(k);
    clReleaseProgram(prog);
    sample_close_device(&d);
    for (int b = 0; b < 2; b++) {
        UMS_CHECK(ums_free(g[b]));
        free(ref[b]);
    }
    return (bad || wrong) ? 1 : 0;
}
