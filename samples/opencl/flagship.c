/* The OpenCL flagship: CPU threads and OpenCL kernels sharing managed buffers,
 * with where every block lives and what moved after each step.
 *
 *   1. four CPU threads fill a frame (plain stores);
 *   2. a kernel blurs it on the first device; meanwhile the CPU threads compute
 *      a histogram of the same frame, without waiting (the kernel only reads it);
 *   3. the CPU reads one row of the result: it waits for the kernel and fetches
 *      only the block that holds that row;
 *   4. a kernel on the second device (when there is one) scales the result:
 *      the blocks still on the first device move device to device;
 *   5. a CPU thread edits the frame: the device copies become invalid;
 *   6. with ACCESSED_BY, a kernel on a host-unified device uses the frame in
 *      place: nothing moves at all.
 * Every result is checked against the same work on plain memory.
 * Run: build/samples/opencl/cl_flagship (POCL_DEVICES="pthread pthread" for two devices). */
#include <pthread.h>

#include "common.h"

static const char *source =
    "kernel void blur(const global uint *in, global uint *out, uint w, uint h) {\n"
    "    size_t x = get_global_id(0), y = get_global_id(1);\n"
    "    if (x >= w || y >= h) return;\n"
    "    uint s = in[y * w + x] * 4u;\n"
    "    if (x > 0) s += in[y * w + x - 1]; else s += in[y * w + x];\n"
    "    if (x + 1 < w) s += in[y * w + x + 1]; else s += in[y * w + x];\n"
    "    out[y * w + x] = s / 6u;\n"
    "}\n"
    "kernel void scale(global uint *p, uint f, uint n) {\n"
    "    size_t i = get_global_id(0); if (i < n) p[i] *= f; }\n";

enum { W = 2048, H = 1024, THREADS = 4 };

typedef struct job {
    uint32_t *frame;
    size_t first_row, rows;
    uint64_t hist[16];
} job;

static void *fill(void *arg) {
    job *j = arg;
    for (size_t y = j->first_row; y < j->first_row + j->rows; y++)
        for (size_t x = 0; x < W; x++) j->frame[y * W + x] = (uint32_t)((x * 7 + y * 13) % 1000);
    return NULL;
}

static void *histogram(void *arg) {
    job *j = arg;
    memset(j->hist, 0, sizeof j->hist);
    for (size_t y = j->first_row; y < j->first_row + j->rows; y++)
        for (size_t x = 0; x < W; x++) j->hist[j->frame[y * W + x] % 16]++;
    return NULL;
}

static void run_threads(void *(*fn)(void *), job *jobs) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, fn, &jobs[i]);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
}

static uint32_t blur_ref(const uint32_t *in, size_t x, size_t y) {
    uint32_t c = in[y * W + x], s = c * 4u;
    s += x > 0 ? in[y * W + x - 1] : c;
    s += x + 1 < W ? in[y * W + x + 1] : c;
    return s / 6u;
}

static void show(uint32_t *frame, uint32_t *out) {
    sample_residency("frame", frame, (size_t)W * H * 4);
    sample_residency("out", out, (size_t)W * H * 4);
}

int main(void) {
    sample_device d0, d1;
    sample_open_device(0, 1, &d0);
    uint32_t nloc = 0, ncl = 0;
    UMS_CHECK(ums_location_count(NULL, &nloc));
    for (uint32_t i = 0; i < nloc; i++) {
        ums_location_info li;
        UMS_CHECK(ums_location_get(NULL, i, &li));
        ncl += strcmp(li.backend, "opencl") == 0;
    }
    int two = ncl >= 2;
    if (two) sample_open_device(1, 2, &d1);
    const size_t n = (size_t)W * H, bytes = n * 4;
    printf("umshim OpenCL flagship: a %dx%d frame (%zu MiB, blocks of %zu KiB) shared by %d CPU threads and "
           "kernels on %s%s%s\n",
           W, H, bytes >> 20, ums_runtime_block_size(NULL) >> 10, THREADS, d0.name, two ? " and " : "",
           two ? d1.name : "");
    printf("  legend: H host, D device, S shared (valid in several places), M migrating\n");

    uint32_t *frame, *out;
    UMS_CHECK(ums_alloc(bytes, 0, (void **)&frame));
    UMS_CHECK(ums_alloc(bytes, 0, (void **)&out));
    job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) jobs[i] = (job){.frame = frame, .first_row = (size_t)i * H / THREADS, .rows = H / THREADS};
    int bad = 0;

    printf("\n1. %d CPU threads fill the frame\n", THREADS);
    run_threads(fill, jobs);
    sample_moves("after");
    show(frame, out);

    cl_program p0;
    cl_kernel blur = sample_kernel(&d0, source, "blur", &p0);
    cl_uint uw = W, uh = H;
    UMS_CHECK(ums_cl_set_kernel_arg(blur, 0, frame, UMS_CL_ACCESS_DEFAULT)); /* const: read */
    UMS_CHECK(ums_cl_set_kernel_arg(blur, 1, out, UMS_CL_ACCESS_DEFAULT));   /* written */
    CL_CHECK(clSetKernelArg(blur, 2, sizeof uw, &uw));
    CL_CHECK(clSetKernelArg(blur, 3, sizeof uh, &uh));
    printf("\n2. blur on %s (frame: read, out: written); the CPU threads histogram the frame meanwhile\n", d0.name);
    size_t global[2] = {W, H};
    cl_event ev;
    UMS_CHECK(ums_cl_enqueue_kernel(d0.queue, blur, 2, NULL, global, NULL, 0, NULL, &ev));
    sample_moves("launch");
    show(frame, out);
    run_threads(histogram, jobs);
    cl_int st;
    CL_CHECK(clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL));
    uint64_t total = 0;
    for (int i = 0; i < THREADS; i++)
        for (int b = 0; b < 16; b++) total += jobs[i].hist[b];
    bad += total != n;
    sample_moves(st == CL_COMPLETE ? "histogram (kernel already done)" : "histogram (kernel still running)");

    printf("\n3. the CPU reads row %d of out: it waits for the kernel, then fetches that block only\n", H / 2);
    for (size_t x = 0; x < W; x++) bad += out[(H / 2) * W + x] != blur_ref(frame, x, H / 2);
    sample_moves("after");
    show(frame, out);
    clReleaseEvent(ev);

    cl_program p1;
    sample_device *ds = two ? &d1 : &d0;
    cl_kernel scale = sample_kernel(ds, source, "scale", &p1);
    cl_uint f = 3, un = (cl_uint)n;
    UMS_CHECK(ums_cl_set_kernel_arg(scale, 0, out, UMS_CL_ACCESS_READ_WRITE));
    CL_CHECK(clSetKernelArg(scale, 1, sizeof f, &f));
    CL_CHECK(clSetKernelArg(scale, 2, sizeof un, &un));
    printf("\n4. scale out by 3 on %s: %s\n", ds->name,
           two ? "the blocks on the first device move device to device, the fetched one from the host"
               : "(one device: the fetched block goes back)");
    size_t g1 = n;
    UMS_CHECK(ums_cl_enqueue_kernel(ds->queue, scale, 1, NULL, &g1, NULL, 0, NULL, NULL));
    sample_moves("launch");
    show(frame, out);

    printf("\n5. a CPU thread edits one row of the frame: the device copy of that block is dropped\n");
    for (size_t x = 0; x < W; x++) frame[10 * W + x] += 1;
    sample_moves("after");
    show(frame, out);

    ums_location_info li;
    UMS_CHECK(ums_location_get(NULL, d0.loc, &li));
    if (li.flags & UMS_LOCATION_FLAG_HOST_ACCESS) {
        printf("\n6. ACCESSED_BY %s on frame and out (host-unified device): the next blur uses the host pages in "
               "place\n",
               d0.name);
        /* out comes home first (the CPU reads it below anyway), then both stay there. */
        for (size_t i = 0; i < n; i += W) bad += out[i] != 3u * blur_ref(frame, 0, i / W) && i / W != 10;
        ums_advice_outcome oc;
        UMS_CHECK(ums_advise_ex(frame, bytes, UMS_ADVISE_ACCESSED_BY, d0.loc, &oc));
        UMS_CHECK(ums_advise(out, bytes, UMS_ADVISE_ACCESSED_BY, d0.loc));
        sample_moves("advice given (out fetched by the CPU check)");
        UMS_CHECK(ums_cl_enqueue_kernel(d0.queue, blur, 2, NULL, global, NULL, 0, NULL, &ev));
        UMS_CHECK(ums_cl_wait(ev)); /* in place: the CPU waits for the event itself */
        clReleaseEvent(ev);
        sample_moves("in-place blur");
        show(frame, out);
        for (size_t y = 0; y < H; y += 7)
            for (size_t x = 0; x < W; x += 3) bad += out[y * W + x] != blur_ref(frame, x, y);
    } else {
        for (size_t y = 0; y < H; y += 7)
            for (size_t x = 0; x < W; x += 3)
                bad += y != 10 && out[y * W + x] != 3u * blur_ref(frame, x, y);
    }

    ums_counters c;
    UMS_CHECK(ums_counters_get(NULL, &c));
    printf("\ntotal: %llu CPU faults, %llu fetches, %llu blocks migrated, %.1f MiB host->device, %.1f MiB "
           "device->host, %.1f MiB device->device\n",
           (unsigned long long)c.faults, (unsigned long long)c.fetches, (unsigned long long)c.migrations,
           c.bytes_host_to_device / 1048576.0, c.bytes_device_to_host / 1048576.0,
           c.bytes_device_to_device / 1048576.0);
    printf("%s: %d wrong results\n", bad ? "FAILED" : "OK", bad);

    UMS_CHECK(ums_cl_forget_kernel(blur));
    UMS_CHECK(ums_cl_forget_kernel(scale));
    clReleaseKernel(blur);
    clReleaseKernel(scale);
    clReleaseProgram(p0);
    clReleaseProgram(p1);
    sample_close_device(&d0);
    if (two) sample_close_device(&d1);
    UMS_CHECK(ums_free(frame));
    UMS_CHECK(ums_free(out));
    return bad ? 1 : 0;
}
