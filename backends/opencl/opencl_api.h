/*
 * The OpenCL entry points the opencl backend uses, reached only through a table.
 *
 * Backend code never calls an OpenCL function by its own name: it writes
 * UMS_CL(clCreateBuffer)(...), which goes through a wrapper that
 *  1. counts the call and fails it if a test armed an injection for it
 *     (ums__opencl_inject() in opencl_backend.h), then
 *  2. calls the function held in ::ums__opencl_fn (the ICD loader's by default;
 *     a test may replace entries), and
 *  3. counts the OpenCL objects created and released, so tests can prove that
 *     nothing leaks (ums__opencl_live_objects()).
 *
 * Internal to backends/opencl: the core uses opencl_backend.h instead.
 */
#ifndef UMS_OPENCL_API_H
#define UMS_OPENCL_API_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
/* clCreateCommandQueue is kept for platforms older than OpenCL 2.0. */
#ifndef CL_USE_DEPRECATED_OPENCL_1_2_APIS
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#endif
#include <CL/cl.h>
#include <CL/cl_ext.h>

/*
 * Every OpenCL function the backend calls.
 * X(NAME, RET, PARAMS, ARGS): RET is the return type; functions returning an
 * object report errors through their last parameter `errcode_ret`.
 * Append here, then add a wrapper in opencl_api.c.
 */
#define UMS__OPENCL_API_LIST(X)                                                                              \
    X(clGetPlatformIDs, cl_int, (cl_uint n, cl_platform_id *platforms, cl_uint *count), (n, platforms, count)) \
    X(clGetPlatformInfo, cl_int,                                                                             \
      (cl_platform_id platform, cl_platform_info param, size_t size, void *value, size_t *size_ret),         \
      (platform, param, size, value, size_ret))                                                              \
    X(clGetDeviceIDs, cl_int,                                                                                \
      (cl_platform_id platform, cl_device_type type, cl_uint n, cl_device_id *devices, cl_uint *count),      \
      (platform, type, n, devices, count))                                                                   \
    X(clGetDeviceInfo, cl_int,                                                                               \
      (cl_device_id device, cl_device_info param, size_t size, void *value, size_t *size_ret),               \
      (device, param, size, value, size_ret))                                                                \
    X(clCreateContext, cl_context,                                                                           \
      (const cl_context_properties *props, cl_uint ndev, const cl_device_id *devices,                        \
       void(CL_CALLBACK *notify)(const char *, const void *, size_t, void *), void *user, cl_int *errcode_ret), \
      (props, ndev, devices, notify, user, errcode_ret))                                                     \
    X(clGetContextInfo, cl_int,                                                                              \
      (cl_context context, cl_context_info param, size_t size, void *value, size_t *size_ret),               \
      (context, param, size, value, size_ret))                                                               \
    X(clRetainContext, cl_int, (cl_context context), (context))                                              \
    X(clReleaseContext, cl_int, (cl_context context), (context))                                             \
    X(clCreateCommandQueueWithProperties, cl_command_queue,                                                  \
      (cl_context context, cl_device_id device, const cl_queue_properties *props, cl_int *errcode_ret),      \
      (context, device, props, errcode_ret))                                                                 \
    X(clCreateCommandQueue, cl_command_queue,                                                                \
      (cl_context context, cl_device_id device, cl_command_queue_properties props, cl_int *errcode_ret),     \
      (context, device, props, errcode_ret))                                                                 \
    X(clGetCommandQueueInfo, cl_int,                                                                         \
      (cl_command_queue queue, cl_command_queue_info param, size_t size, void *value, size_t *size_ret),     \
      (queue, param, size, value, size_ret))                                                                 \
    X(clRetainCommandQueue, cl_int, (cl_command_queue queue), (queue))                                       \
    X(clReleaseCommandQueue, cl_int, (cl_command_queue queue), (queue))                                      \
    X(clFlush, cl_int, (cl_command_queue queue), (queue))                                                    \
    X(clFinish, cl_int, (cl_command_queue queue), (queue))                                                   \
    X(clCreateBuffer, cl_mem,                                                                                \
      (cl_context context, cl_mem_flags flags, size_t size, void *host_ptr, cl_int *errcode_ret),             \
      (context, flags, size, host_ptr, errcode_ret))                                                         \
    X(clReleaseMemObject, cl_int, (cl_mem mem), (mem))                                                       \
    X(clEnqueueWriteBuffer, cl_int,                                                                          \
      (cl_command_queue queue, cl_mem buffer, cl_bool blocking, size_t offset, size_t size, const void *ptr, \
       cl_uint nwait, const cl_event *wait, cl_event *event),                                                \
      (queue, buffer, blocking, offset, size, ptr, nwait, wait, event))                                      \
    X(clEnqueueReadBuffer, cl_int,                                                                           \
      (cl_command_queue queue, cl_mem buffer, cl_bool blocking, size_t offset, size_t size, void *ptr,       \
       cl_uint nwait, const cl_event *wait, cl_event *event),                                                \
      (queue, buffer, blocking, offset, size, ptr, nwait, wait, event))                                      \
    X(clEnqueueCopyBuffer, cl_int,                                                                           \
      (cl_command_queue queue, cl_mem src, cl_mem dst, size_t src_offset, size_t dst_offset, size_t size,    \
       cl_uint nwait, const cl_event *wait, cl_event *event),                                                \
      (queue, src, dst, src_offset, dst_offset, size, nwait, wait, event))                                   \
    X(clEnqueueMarkerWithWaitList, cl_int,                                                                   \
      (cl_command_queue queue, cl_uint nwait, const cl_event *wait, cl_event *event),                        \
      (queue, nwait, wait, event))                                                                           \
    X(clWaitForEvents, cl_int, (cl_uint n, const cl_event *events), (n, events))                             \
    X(clGetEventInfo, cl_int,                                                                                \
      (cl_event event, cl_event_info param, size_t size, void *value, size_t *size_ret),                     \
      (event, param, size, value, size_ret))                                                                 \
    X(clRetainEvent, cl_int, (cl_event event), (event))                                                      \
    X(clReleaseEvent, cl_int, (cl_event event), (event))                                                     \
    /* OpenCL interop (shim/opencl.c) */                                                                     \
    X(clCreateUserEvent, cl_event, (cl_context context, cl_int *errcode_ret), (context, errcode_ret))        \
    X(clSetUserEventStatus, cl_int, (cl_event event, cl_int status), (event, status))                        \
    X(clSetEventCallback, cl_int,                                                                            \
      (cl_event event, cl_int type, void(CL_CALLBACK *notify)(cl_event, cl_int, void *), void *user),        \
      (event, type, notify, user))                                                                           \
    X(clCreateSubBuffer, cl_mem,                                                                             \
      (cl_mem buffer, cl_mem_flags flags, cl_buffer_create_type type, const void *info, cl_int *errcode_ret), \
      (buffer, flags, type, info, errcode_ret))                                                              \
    X(clGetKernelInfo, cl_int,                                                                               \
      (cl_kernel kernel, cl_kernel_info param, size_t size, void *value, size_t *size_ret),                  \
      (kernel, param, size, value, size_ret))                                                                \
    X(clGetKernelArgInfo, cl_int,                                                                            \
      (cl_kernel kernel, cl_uint index, cl_kernel_arg_info param, size_t size, void *value, size_t *size_ret), \
      (kernel, index, param, size, value, size_ret))                                                         \
    X(clSetKernelArg, cl_int, (cl_kernel kernel, cl_uint index, size_t size, const void *value),             \
      (kernel, index, size, value))                                                                          \
    X(clRetainKernel, cl_int, (cl_kernel kernel), (kernel))                                                  \
    X(clReleaseKernel, cl_int, (cl_kernel kernel), (kernel))                                                 \
    X(clEnqueueNDRangeKernel, cl_int,                                                                        \
      (cl_command_queue queue, cl_kernel kernel, cl_uint dim, const size_t *offset, const size_t *global,    \
       const size_t *local, cl_uint nwait, const cl_event *wait, cl_event *event),                           \
      (queue, kernel, dim, offset, global, local, nwait, wait, event))                                       \
    X(clCreateProgramWithSource, cl_program,                                                                 \
      (cl_context context, cl_uint count, const char **strings, const size_t *lengths, cl_int *errcode_ret),  \
      (context, count, strings, lengths, errcode_ret))                                                       \
    X(clBuildProgram, cl_int,                                                                                \
      (cl_program program, cl_uint ndev, const cl_device_id *devices, const char *options,                   \
       void(CL_CALLBACK *notify)(cl_program, void *), void *user),                                           \
      (program, ndev, devices, options, notify, user))                                                       \
    X(clGetProgramInfo, cl_int,                                                                              \
      (cl_program program, cl_program_info param, size_t size, void *value, size_t *size_ret),               \
      (program, param, size, value, size_ret))                                                               \
    X(clGetProgramBuildInfo, cl_int,                                                                         \
      (cl_program program, cl_device_id device, cl_program_build_info param, size_t size, void *value,       \
       size_t *size_ret),                                                                                    \
      (program, device, param, size, value, size_ret))                                                       \
    X(clReleaseProgram, cl_int, (cl_program program), (program))

/** The functions the backend's OpenCL calls end in; defaults are the ICD loader's. */
typedef struct ums__opencl_api {
#define UMS__OPENCL_API_FIELD_(name, ret, params, args) ret(CL_API_CALL *name) params;
    UMS__OPENCL_API_LIST(UMS__OPENCL_API_FIELD_)
#undef UMS__OPENCL_API_FIELD_
} ums__opencl_api;

/**
 * The table every backend OpenCL call goes through. Tests may replace an entry
 * (and must restore it); production code never writes it.
 */
extern ums__opencl_api ums__opencl_fn;

/* One wrapper per entry: injection check, call through the table, object counts. */
#define UMS__OPENCL_API_WRAPPER_DECL_(name, ret, params, args) ret ums__cl_##name params;
UMS__OPENCL_API_LIST(UMS__OPENCL_API_WRAPPER_DECL_)
#undef UMS__OPENCL_API_WRAPPER_DECL_

/**
 * Record that the backend handed one event reference to its caller (who will
 * release it outside the table), so the live-object counts stay exact.
 */
void ums__opencl_event_handed_out(void);

/** Call OpenCL function `name` through the backend's table (and its test hooks). */
#define UMS_CL(name) ums__cl_##name

#endif
