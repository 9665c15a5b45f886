/* Vector add: CPU threads write a and b as plain memory, an OpenCL kernel adds
 * them into c, the CPU reads c. No copies, no map/unmap: ums_cl_enqueue_kernel
 * moves what the kernel needs and a CPU read of c fetches the result. */
#include "common.h"

static const char *source =
    "kernel void vadd(const global float *a, const global float *b, global float *c, uint n) {\n"
    "    size_t i = get_global_id(0);\n"
    "    if (i < n) c[i] = a[i] + b[i];\n"
    "}\n";

int main(void) {
    sample_device d;
    sample_open_device(0, 1, &d);
    const size_t n = 4u << 20; /* 16 MiB per vector */
    float *a, *b, *c;
    UMS_CHECK(ums_alloc(n * sizeof *a, 0, (void **)&a));
    UMS_CHECK(ums_alloc(n * sizeof *b, 0, (void **)&b));
    UMS_CHECK(ums_alloc(n * sizeof *c, 0, (void **)&c));
    for (size_t i = 0; i < n; i++) {
        a[i] = (float)i;
        b[i] = (float)(2 * i) + 0.5f;
    }

    cl_program prog;
    cl_kernel k = sample_kernel(&d, source, "vadd", &prog);
    /* Access modes come from the kernel: const → read (replicated), else read-write. */
    UMS_CHECK(ums_cl_set_kernel_arg(k, 0, a, UMS_CL_ACCESS_DEFAULT));
    UMS_CHECK(ums_cl_set_kernel_arg(k, 1, b, UMS_CL_ACCESS_DEFAULT));
    UMS_CHECK(ums_cl_set_kernel_arg(k, 2, c, UMS_CL_ACCESS_WRITE));
    cl_uint un = (cl_uint)n;
    CL_CHECK(clSetKernelArg(k, 3, sizeof un, &un));
    size_t global = n;
    cl_event ev;
    UMS_CHECK(ums_cl_enqueue_kernel(d.queue, k, 1, NULL, &global, NULL, 0, NULL, &ev));

    /* Reading c waits for the kernel (the blocks are the device's until it is done). */
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i] != a[i] + b[i]) bad++;
    clReleaseEvent(ev);

    ums_counters ctr;
    UMS_CHECK(ums_counters_get(NULL, &ctr));
    printf("vector_add on %s: %zu elements, %zu wrong; %.1f MiB to the device, %.1f MiB back\n", d.name, n, bad,
           ctr.bytes_host_to_device / 1048576.0, ctr.bytes_device_to_host / 1048576.0);

    UMS_CHECK(ums_cl_forget_kernel(k));
    clReleaseKernel(k);
    clReleaseProgram(prog);
    sample_close_device(&d);
    UMS_CHECK(ums_free(a));
    UMS_CHECK(ums_free(b));
    UMS_CHECK(ums_free(c));
    return bad ? 1 : 0;
}
