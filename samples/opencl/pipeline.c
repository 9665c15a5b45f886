/* A two-device pipeline: stage 1 on the first device turns each input chunk
 * into an intermediate one, stage 2 on the second device turns that into the
 * output. Chunk i's stage 2 runs while chunk i+1's stage 1 does: the
 * intermediate chunk moves device to device (waiting for stage 1's kernel), the
 * inputs move host to device, the outputs come back when the CPU reads them.
 * Needs two OpenCL devices (POCL_DEVICES="pthread pthread"). Checked against
 * the same two stages on plain memory. */
#include "common.h"

static const char *source =
    "kernel void stage1(const global uint *in, global uint *mid, uint n) {\n"
    "    size_t i = get_global_id(0); if (i < n) mid[i] = in[i] * 3u + 1u; }\n"
    "kernel void stage2(const global uint *mid, global uint *out, uint n) {\n"
    "    size_t i = get_global_id(0); if (i < n) out[i] = (mid[i] ^ 0x5a5a5a5au) + (uint)i; }\n";

enum { CHUNKS = 8 };

int main(void) {
    sample_device d0, d1;
    sample_open_device(0, 2, &d0);
    sample_open_device(1, 2, &d1);
    const size_t n = 1u << 20; /* 4 MiB per chunk */
    uint32_t *in[CHUNKS], *mid[CHUNKS], *out[CHUNKS];
    for (int c = 0; c < CHUNKS; c++) {
        UMS_CHECK(ums_alloc(n * 4, 0, (void **)&in[c]));
        UMS_CHECK(ums_alloc(n * 4, 0, (void **)&mid[c]));
        UMS_CHECK(ums_alloc(n * 4, 0, (void **)&out[c]));
        for (size_t i = 0; i < n; i++) in[c][i] = (uint32_t)(c * 1000003u + i);
    }
    /* Both devices are in one context here (one platform), so one program serves both. */
    cl_program p0, p1;
    cl_kernel k1 = sample_kernel(&d0, source, "stage1", &p0);
    cl_kernel k2 = sample_kernel(&d1, source, "stage2", &p1);
    cl_uint un = (cl_uint)n;
    CL_CHECK(clSetKernelArg(k1, 2, sizeof un, &un));
    CL_CHECK(clSetKernelArg(k2, 2, sizeof un, &un));
    printf("pipeline: stage 1 on %s, stage 2 on %s, %d chunks of %zu MiB\n", d0.name, d1.name, CHUNKS,
           n * 4 >> 20);
    sample_moves("start");
    double t0 = sample_now();
    for (int c = 0; c <= CHUNKS; c++) {
        size_t global = n;
        if (c < CHUNKS) {
            UMS_CHECK(ums_cl_set_kernel_arg(k1, 0, in[c], UMS_CL_ACCESS_DEFAULT));
            UMS_CHECK(ums_cl_set_kernel_arg(k1, 1, mid[c], UMS_CL_ACCESS_WRITE));
            UMS_CHECK(ums_cl_enqueue_kernel(d0.queue, k1, 1, NULL, &global, NULL, 0, NULL, NULL));
        }
        if (c > 0) {
            UMS_CHECK(ums_cl_set_kernel_arg(k2, 0, mid[c - 1], UMS_CL_ACCESS_DEFAULT));
            UMS_CHECK(ums_cl_set_kernel_arg(k2, 1, out[c - 1], UMS_CL_ACCESS_WRITE));
            UMS_CHECK(ums_cl_enqueue_kernel(d1.queue, k2, 1, NULL, &global, NULL, 0, NULL, NULL));
        }
    }
    size_t bad = 0;
    for (int c = 0; c < CHUNKS; c++)
        for (size_t i = 0; i < n; i++) {
            uint32_t m = in[c][i] * 3u + 1u;
            if (out[c][i] != ((m ^ 0x5a5a5a5au) + (uint32_t)i)) bad++;
        }
    double dt = sample_now() - t0;
    sample_moves("done");
    sample_residency("in[0]", in[0], n * 4);
    sample_residency("mid[0]", mid[0], n * 4);
    sample_residency("out[0]", out[0], n * 4);
    printf("pipeline: %zu wrong values, %.1f ms\n", bad, dt * 1e3);

    UMS_CHECK(ums_cl_forget_kernel(k1));
    UMS_CHECK(ums_cl_forget_kernel(k2));
    clReleaseKernel(k1);
    clReleaseKernel(k2);
    clReleaseProgram(p0);
    clReleaseProgram(p1);
    sample_close_device(&d0);
    sample_close_device(&d1);
    for (int c = 0; c < CHUNKS; c++) {
        UMS_CHECK(ums_free(in[c]));
        UMS_CHECK(ums_free(mid[c]));
        UMS_CHECK(ums_free(out[c]));
    }
    return bad ? 1 : 0;
}
