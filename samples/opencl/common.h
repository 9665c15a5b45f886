/* Shared by the OpenCL samples: pick a device, make a queue, build a program,
 * and stop with a clear message on any error. Each sample checks its result
 * against a CPU reference and exits 0 (correct), 1 (wrong or an error) or 77
 * (no OpenCL device: skipped). */
#ifndef UMS_SAMPLE_CL_COMMON_H
#define UMS_SAMPLE_CL_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <umshim.h>
#include <umshim/opencl.h>

/* Stop when a umshim call fails, with its last-error sentence. */
#define UMS_CHECK(call)                                                                                            \
    do {                                                                                                           \
        ums_result r_ = (call);                                                                                    \
        if (r_ != UMS_OK) {                                                                                        \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #call, ums_result_name(r_),               \
                    ums_last_error()->message);                                                                    \
            exit(1);                                                                                               \
        }                                                                                                          \
    } while (0)

/* Stop when an OpenCL call fails. */
#define CL_CHECK(call)                                                                                             \
    do {                                                                                                           \
        cl_int e_ = (call);                                                                                        \
        if (e_ != CL_SUCCESS) {                                                                                    \
            fprintf(stderr, "%s:%d: %s: OpenCL error %d\n", __FILE__, __LINE__, #call, (int)e_);                  \
            exit(1);                                                                                               \
        }                                                                                                          \
    } while (0)

/* One OpenCL device of the default runtime: its location, context, device and a queue of our own. */
typedef struct sample_device {
    ums_location_t loc;
    const char *name;
    cl_context ctx;
    cl_device_id dev;
    cl_command_queue queue;
} sample_device;

/* The n-th OpenCL location of the default runtime; exits 77 when there are fewer than `need`. */
static inline void sample_open_device(unsigned nth, unsigned need, sample_device *d) {
    uint32_t count = 0, seen = 0;
    UMS_CHECK(ums_location_count(NULL, &count));
    for (uint32_t i = 0; i < count; i++) {
        ums_location_info info;
        UMS_CHECK(ums_location_get(NULL, i, &info));
        if (strcmp(info.backend, "opencl") != 0) continue;
        if (seen++ == nth) {
            d->loc = i;
            d->name = info.name;
        }
    }
    if (seen < need) {
        printf("SKIP: %u OpenCL device(s) found, %u needed (try POCL_DEVICES=\"pthread pthread\")\n", seen, need);
        exit(77);
    }
    UMS_CHECK(ums_cl_location_context(NULL, d->loc, &d->ctx, &d->dev));
    cl_int err;
    d->queue = clCreateCommandQueueWithProperties(d->ctx, d->dev, NULL, &err);
    CL_CHECK(err);
}

static inline void sample_close_device(sample_device *d) {
    clFinish(d->queue);
    clReleaseCommandQueue(d->queue);
}

/* Build `source` in the device's context and create kernel `name`. */
static inline cl_kernel sample_kernel(const sample_device *d, const char *source, const char *name, cl_program *prog) {
    UMS_CHECK(ums_cl_program_from_source(d->ctx, source, NULL, prog));
    cl_int err;
    cl_kernel k = clCreateKernel(*prog, name, &err);
    CL_CHECK(err);
    return k;
}

/* One letter per block: H host, D device, S shared (several copies), M migrating;
 * followed by where the copies are, for the first block. */
static inline void sample_residency(const char *name, const void *p, size_t len) {
    ums_block_info info[64];
    size_t n = 0;
    ums_result r = ums_query(p, len, info, 64, &n);
    if (r != UMS_OK && r != UMS_ERR_BUFFER_TOO_SMALL) UMS_CHECK(r);
    char states[65];
    size_t shown = n < 64 ? n : 64;
    for (size_t i = 0; i < shown; i++) states[i] = "HDSM"[info[i].state];
    states[shown] = '\0';
    char where[160] = "";
    size_t w = 0;
    for (uint32_t loc = 0; loc < 64 && shown; loc++) {
        if (!(info[0].valid & (1ull << loc))) continue;
        ums_location_info li;
        UMS_CHECK(ums_location_get(NULL, loc, &li));
        w += (size_t)snprintf(where + w, sizeof where - w, "%s%s", w ? "+" : "", li.name);
        if (w >= sizeof where) break;
    }
    printf("    %-8s [%s]%s  first block on %s\n", name, states, n > shown ? "..." : "", where);
}

/* What moved since the last call (counter deltas), on one line. */
static inline void sample_moves(const char *what) {
    static ums_counters last;
    ums_counters c;
    UMS_CHECK(ums_counters_get(NULL, &c));
    printf("  %s: moved %.1f MiB host->device, %.1f MiB device->host, %.1f MiB device->device; "
           "%llu CPU faults (%llu waited)\n",
           what, (c.bytes_host_to_device - last.bytes_host_to_device) / 1048576.0,
           (c.bytes_device_to_host - last.bytes_device_to_host) / 1048576.0,
           (c.bytes_device_to_device - last.bytes_device_to_device) / 1048576.0,
           (unsigned long long)(c.faults - last.faults),
           (unsigned long long)(c.reader_waits + c.writer_waits - last.reader_waits - last.writer_waits));
    last = c;
}

static inline double sample_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
