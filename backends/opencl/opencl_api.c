/*
 * The table of OpenCL entry points, the wrappers every backend call goes
 * through, failure injection and live-object counts.
 */
#include <stdatomic.h>
#include <string.h>

#include "opencl_api.h"
#include "opencl_backend.h"

ums__opencl_api ums__opencl_fn = {
#define UMS__OPENCL_API_INIT_(name, ret, params, args) .name = name,
    UMS__OPENCL_API_LIST(UMS__OPENCL_API_INIT_)
#undef UMS__OPENCL_API_INIT_
};

enum {
#define UMS__OPENCL_API_ID_(name, ret, params, args) ID_##name,
    UMS__OPENCL_API_LIST(UMS__OPENCL_API_ID_)
#undef UMS__OPENCL_API_ID_
    ID_COUNT_
};

static const char *const function_names[ID_COUNT_] = {
#define UMS__OPENCL_API_NAME_(name, ret, params, args) #name,
    UMS__OPENCL_API_LIST(UMS__OPENCL_API_NAME_)
#undef UMS__OPENCL_API_NAME_
};

/* One armed failure per function: `countdown` calls from now, the last one fails. */
static struct {
    atomic_uint countdown;
    atomic_int error;
    atomic_ullong calls;
} injection[ID_COUNT_];

static atomic_ullong injected_total;
static atomic_long live_contexts, live_queues, live_buffers, live_events, live_kernels;

/* Count a call; true (and *err set) when it is the one armed to fail. */
static int injected(int id, cl_int *err) {
    atomic_fetch_add_explicit(&injection[id].calls, 1, memory_order_relaxed);
    unsigned c = atomic_load_explicit(&injection[id].countdown, memory_order_acquire);
    while (c != 0) {
        if (atomic_compare_exchange_weak_explicit(&injection[id].countdown, &c, c - 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            if (c != 1)
                return 0;
            *err = atomic_load_explicit(&injection[id].error, memory_order_relaxed);
            atomic_fetch_add_explicit(&injected_total, 1, memory_order_relaxed);
            return 1;
        }
    }
    return 0;
}

static int find_function(const char *name) {
    for (int i = 0; i < ID_COUNT_; i++)
        if (strcmp(function_names[i], name) == 0)
            return i;
    return -1;
}

ums_result ums__opencl_inject(const char *function, unsigned nth, cl_int error) {
    if (!function)
        return UMS_ERR_NULL_POINTER;
    int id = find_function(function);
    if (id < 0 || (nth != 0 && error == CL_SUCCESS))
        return UMS_ERR_INVALID_ARG;
    atomic_store_explicit(&injection[id].error, error, memory_order_relaxed);
    atomic_store_explicit(&injection[id].countdown, nth, memory_order_release);
    return UMS_OK;
}

void ums__opencl_inject_reset(void) {
    for (int i = 0; i < ID_COUNT_; i++) {
        atomic_store(&injection[i].countdown, 0u);
        atomic_store(&injection[i].calls, 0ull);
    }
    atomic_store(&injected_total, 0ull);
}

uint64_t ums__opencl_call_count(const char *function) {
    int id = function ? find_function(function) : -1;
    return id < 0 ? 0 : (uint64_t)atomic_load(&injection[id].calls);
}

uint64_t ums__opencl_injected_count(void) {
    return (uint64_t)atomic_load(&injected_total);
}

const char *ums__opencl_function_name(size_t i) {
    return i < (size_t)ID_COUNT_ ? function_names[i] : NULL;
}

void ums__opencl_live_objects(ums__opencl_objects *out) {
    if (!out)
        return;
    out->contexts = atomic_load(&live_contexts);
    out->queues = atomic_load(&live_queues);
    out->buffers = atomic_load(&live_buffers);
    out->events = atomic_load(&live_events);
    out->kernels = atomic_load(&live_kernels);
}

void ums__opencl_event_handed_out(void) {
    atomic_fetch_sub(&live_events, 1);
}

/* ---- wrappers ---------------------------------------------------------- */

/* Prologue of a wrapper returning a status. */
#define INJECT_STATUS(name)                                                                                            \
    do {                                                                                                               \
        cl_int inj_;                                                                                                   \
        if (injected(ID_##name, &inj_))                                                                                \
            return inj_;                                                                                               \
    } while (0)

/* Prologue of a wrapper returning an object and its status in errcode_ret. */
#define INJECT_OBJECT(name)                                                                                            \
    do {                                                                                                               \
        cl_int inj_;                                                                                                   \
        if (injected(ID_##name, &inj_)) {                                                                              \
            if (errcode_ret)                                                                                           \
                *errcode_ret = inj_;                                                                                   \
            return NULL;                                                                                               \
        }                                                                                                              \
    } while (0)

/* An enqueue that succeeded handed out one event reference if asked for. */
static cl_int count_event_out(cl_int err, const cl_event *event) {
    if (err == CL_SUCCESS && event)
        atomic_fetch_add(&live_events, 1);
    return err;
}

static cl_int count_status(cl_int err, atomic_long *counter, long delta) {
    if (err == CL_SUCCESS)
        atomic_fetch_add(counter, delta);
    return err;
}

cl_int ums__cl_clGetPlatformIDs(cl_uint n, cl_platform_id *platforms, cl_uint *count) {
    INJECT_STATUS(clGetPlatformIDs);
    return ums__opencl_fn.clGetPlatformIDs(n, platforms, count);
}

cl_int ums__cl_clGetPlatformInfo(cl_platform_id platform, cl_platform_info param, size_t size, void *value,
                                 size_t *size_ret) {
    INJECT_STATUS(clGetPlatformInfo);
    return ums__opencl_fn.clGetPlatformInfo(platform, param, size, value, size_ret);
}

cl_int ums__cl_clGetDeviceIDs(cl_platform_id platform, cl_device_type type, cl_uint n, cl_device_id *devices,
                              cl_uint *count) {
    INJECT_STATUS(clGetDeviceIDs);
    return ums__opencl_fn.clGetDeviceIDs(platform, type, n, devices, count);
}

cl_int ums__cl_clGetDeviceInfo(cl_device_id device, cl_device_info param, size_t size, void *value, size_t *size_ret) {
    INJECT_STATUS(clGetDeviceInfo);
    return ums__opencl_fn.clGetDeviceInfo(device, param, size, value, size_ret);
}

cl_context ums__cl_clCreateContext(const cl_context_properties *props, cl_uint ndev, const cl_device_id *devices,
                                   void(CL_CALLBACK *notify)(const char *, const void *, size_t, void *), void *user,
                                   cl_int *errcode_ret) {
    INJECT_OBJECT(clCreateContext);
    cl_context c = ums__opencl_fn.clCreateContext(props, ndev, devices, notify, user, errcode_ret);
    if (c)
        atomic_fetch_add(&live_contexts, 1);
    return c;
}

cl_int ums__cl_clGetContextInfo(cl_context context, cl_context_info param, size_t size, void *value, size_t *size_ret) {
    INJECT_STATUS(clGetContextInfo);
    return ums__opencl_fn.clGetContextInfo(context, param, size, value, size_ret);
}

cl_int ums__cl_clRetainContext(cl_context context) {
    INJECT_STATUS(clRetainContext);
    return count_status(ums__opencl_fn.clRetainContext(context), &live_contexts, 1);
}

cl_int ums__cl_clReleaseContext(cl_context context) {
    INJECT_STATUS(clReleaseContext);
    return count_status(ums__opencl_fn.clReleaseContext(context), &live_contexts, -1);
}

cl_command_queue ums__cl_clCreateCommandQueueWithProperties(cl_context context, cl_device_id device,
                                                            const cl_queue_properties *props, cl_int *errcode_ret) {
    INJECT_OBJECT(clCreateCommandQueueWithProperties);
    cl_command_queue q = ums__opencl_fn.clCreateCommandQueueWithProperties(context, device, props, errcode_ret);
    if (q)
        atomic_fetch_add(&live_queues, 1);
    return q;
}

cl_command_queue ums__cl_clCreateCommandQueue(cl_context context, cl_device_id device,
                                              cl_command_queue_properties props, cl_int *errcode_ret) {
    INJECT_OBJECT(clCreateCommandQueue);
    cl_command_queue q = ums__opencl_fn.clCreateCommandQueue(context, device, props, errcode_ret);
    if (q)
        atomic_fetch_add(&live_queues, 1);
    return q;
}

cl_int ums__cl_clGetCommandQueueInfo(cl_command_queue queue, cl_command_queue_info param, size_t size, void *value,
                                     size_t *size_ret) {
    INJECT_STATUS(clGetCommandQueueInfo);
    return ums__opencl_fn.clGetCommandQueueInfo(queue, param, size, value, size_ret);
}

cl_int ums__cl_clRetainCommandQueue(cl_command_queue queue) {
    INJECT_STATUS(clRetainCommandQueue);
    return count_status(ums__opencl_fn.clRetainCommandQueue(queue), &live_queues, 1);
}

cl_int ums__cl_clReleaseCommandQueue(cl_command_queue queue) {
    INJECT_STATUS(clReleaseCommandQueue);
    return count_status(ums__opencl_fn.clReleaseCommandQueue(queue), &live_queues, -1);
}

cl_int ums__cl_clFlush(cl_command_queue queue) {
    INJECT_STATUS(clFlush);
    return ums__opencl_fn.clFlush(queue);
}

cl_int ums__cl_clFinish(cl_command_queue queue) {
    INJECT_STATUS(clFinish);
    return ums__opencl_fn.clFinish(queue);
}

cl_mem ums__cl_clCreateBuffer(cl_context context, cl_mem_flags flags, size_t size, void *host_ptr,
                              cl_int *errcode_ret) {
    INJECT_OBJECT(clCreateBuffer);
    cl_mem m = ums__opencl_fn.clCreateBuffer(context, flags, size, host_ptr, errcode_ret);
    if (m)
        atomic_fetch_add(&live_buffers, 1);
    return m;
}

cl_int ums__cl_clReleaseMemObject(cl_mem mem) {
    INJECT_STATUS(clReleaseMemObject);
    return count_status(ums__opencl_fn.clReleaseMemObject(mem), &live_buffers, -1);
}

cl_int ums__cl_clEnqueueWriteBuffer(cl_command_queue queue, cl_mem buffer, cl_bool blocking, size_t offset, size_t size,
                                    const void *ptr, cl_uint nwait, const cl_event *wait, cl_event *event) {
    INJECT_STATUS(clEnqueueWriteBuffer);
    return count_event_out(
        ums__opencl_fn.clEnqueueWriteBuffer(queue, buffer, blocking, offset, size, ptr, nwait, wait, event), event);
}

cl_int ums__cl_clEnqueueReadBuffer(cl_command_queue queue, cl_mem buffer, cl_bool blocking, size_t offset, size_t size,
                                   void *ptr, cl_uint nwait, const cl_event *wait, cl_event *event) {
    INJECT_STATUS(clEnqueueReadBuffer);
    return count_event_out(
        ums__opencl_fn.clEnqueueReadBuffer(queue, buffer, blocking, offset, size, ptr, nwait, wait, event), event);
}

cl_int ums__cl_clEnqueueCopyBuffer(cl_command_queue queue, cl_mem src, cl_mem dst, size_t src_offset, size_t dst_offset,
                                   size_t size, cl_uint nwait, const cl_event *wait, cl_event *event) {
    INJECT_STATUS(clEnqueueCopyBuffer);
    return count_event_out(
        ums__opencl_fn.clEnqueueCopyBuffer(queue, src, dst, src_offset, dst_offset, size, nwait, wait, event), event);
}

cl_int ums__cl_clEnqueueMarkerWithWaitList(cl_command_queue queue, cl_uint nwait, const cl_event *wait,
                                           cl_event *event) {
    INJECT_STATUS(clEnqueueMarkerWithWaitList);
    return count_event_out(ums__opencl_fn.clEnqueueMarkerWithWaitList(queue, nwait, wait, event), event);
}

cl_int ums__cl_clWaitForEvents(cl_uint n, const cl_event *events) {
    INJECT_STATUS(clWaitForEvents);
    return ums__opencl_fn.clWaitForEvents(n, events);
}

cl_int ums__cl_clGetEventInfo(cl_event event, cl_event_info param, size_t size, void *value, size_t *size_ret) {
    INJECT_STATUS(clGetEventInfo);
    return ums__opencl_fn.clGetEventInfo(event, param, size, value, size_ret);
}

cl_int ums__cl_clRetainEvent(cl_event event) {
    INJECT_STATUS(clRetainEvent);
    return count_status(ums__opencl_fn.clRetainEvent(event), &live_events, 1);
}

cl_int ums__cl_clReleaseEvent(cl_event event) {
    INJECT_STATUS(clReleaseEvent);
    return count_status(ums__opencl_fn.clReleaseEvent(event), &live_events, -1);
}

/* ---- interop (shim/opencl.c) ------------------------------------------- */

cl_event ums__cl_clCreateUserEvent(cl_context context, cl_int *errcode_ret) {
    INJECT_OBJECT(clCreateUserEvent);
    cl_event e = ums__opencl_fn.clCreateUserEvent(context, errcode_ret);
    if (e)
        atomic_fetch_add(&live_events, 1);
    return e;
}

cl_int ums__cl_clSetUserEventStatus(cl_event event, cl_int status) {
    INJECT_STATUS(clSetUserEventStatus);
    return ums__opencl_fn.clSetUserEventStatus(event, status);
}

cl_int ums__cl_clSetEventCallback(cl_event event, cl_int type, void(CL_CALLBACK *notify)(cl_event, cl_int, void *),
                                  void *user) {
    INJECT_STATUS(clSetEventCallback);
    return ums__opencl_fn.clSetEventCallback(event, type, notify, user);
}

cl_mem ums__cl_clCreateSubBuffer(cl_mem buffer, cl_mem_flags flags, cl_buffer_create_type type, const void *info,
                                 cl_int *errcode_ret) {
    INJECT_OBJECT(clCreateSubBuffer);
    cl_mem m = ums__opencl_fn.clCreateSubBuffer(buffer, flags, type, info, errcode_ret);
    if (m)
        atomic_fetch_add(&live_buffers, 1);
    return m;
}

cl_int ums__cl_clGetKernelInfo(cl_kernel kernel, cl_kernel_info param, size_t size, void *value, size_t *size_ret) {
    INJECT_STATUS(clGetKernelInfo);
    return ums__opencl_fn.clGetKernelInfo(kernel, param, size, value, size_ret);
}

cl_int ums__cl_clGetKernelArgInfo(cl_kernel kernel, cl_uint index, cl_kernel_arg_info param, size_t size, void *value,
                                  size_t *size_ret) {
    INJECT_STATUS(clGetKernelArgInfo);
    return ums__opencl_fn.clGetKernelArgInfo(kernel, index, param, size, value, size_ret);
}

cl_int ums__cl_clSetKernelArg(cl_kernel kernel, cl_uint index, size_t size, const void *value) {
    INJECT_STATUS(clSetKernelArg);
    return ums__opencl_fn.clSetKernelArg(kernel, index, size, value);
}

cl_int ums__cl_clRetainKernel(cl_kernel kernel) {
    INJECT_STATUS(clRetainKernel);
    return count_status(ums__opencl_fn.clRetainKernel(kernel), &live_kernels, 1);
}

cl_int ums__cl_clReleaseKernel(cl_kernel kernel) {
    INJECT_STATUS(clReleaseKernel);
    return count_status(ums__opencl_fn.clReleaseKernel(kernel), &live_kernels, -1);
}

cl_int ums__cl_clEnqueueNDRangeKernel(cl_command_queue queue, cl_kernel kernel, cl_uint dim, const size_t *offset,
                                      const size_t *global, const size_t *local, cl_uint nwait, const cl_event *wait,
                                      cl_event *event) {
    INJECT_STATUS(clEnqueueNDRangeKernel);
    return count_event_out(
        ums__opencl_fn.clEnqueueNDRangeKernel(queue, kernel, dim, offset, global, local, nwait, wait, event), event);
}

cl_program ums__cl_clCreateProgramWithSource(cl_context context, cl_uint count, const char **strings,
                                             const size_t *lengths, cl_int *errcode_ret) {
    INJECT_OBJECT(clCreateProgramWithSource);
    return ums__opencl_fn.clCreateProgramWithSource(context, count, strings, lengths, errcode_ret);
}

cl_int ums__cl_clBuildProgram(cl_program program, cl_uint ndev, const cl_device_id *devices, const char *options,
                              void(CL_CALLBACK *notify)(cl_program, void *), void *user) {
    INJECT_STATUS(clBuildProgram);
    return ums__opencl_fn.clBuildProgram(program, ndev, devices, options, notify, user);
}

cl_int ums__cl_clGetProgramInfo(cl_program program, cl_program_info param, size_t size, void *value,
                                size_t *size_ret) {
    INJECT_STATUS(clGetProgramInfo);
    return ums__opencl_fn.clGetProgramInfo(program, param, size, value, size_ret);
}

cl_int ums__cl_clGetProgramBuildInfo(cl_program program, cl_device_id device, cl_program_build_info param,
                                     size_t size, void *value, size_t *size_ret) {
    INJECT_STATUS(clGetProgramBuildInfo);
    return ums__opencl_fn.clGetProgramBuildInfo(program, device, param, size, value, size_ret);
}

cl_int ums__cl_clReleaseProgram(cl_program program) {
    INJECT_STATUS(clReleaseProgram);
    return ums__opencl_fn.clReleaseProgram(program);
}
