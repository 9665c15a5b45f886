/**
 * @file umshim/opencl.h
 * @brief OpenCL interop: managed pointers as kernel arguments.
 *
 * Not included by umshim.h (it needs the OpenCL headers): include it yourself
 * and link OpenCL. Available when the library was built with OpenCL
 * (`UMS_BUILD_OPENCL`, the default).
 *
 * The model, in three calls:
 * 1. ums_cl_attach() (optional) adopts the application's context, so device
 *    copies are created where its kernels can use them. Without it, the first
 *    ums_cl_enqueue_kernel() on a queue of another context attaches that context.
 *    Programs that have no context of their own can use the library's
 *    (ums_cl_location_context()) with a queue they create in it.
 * 2. ums_cl_set_kernel_arg() binds a managed pointer (an allocation's base or an
 *    interior pointer) to a kernel argument, with an access mode. The binding
 *    lasts until it is replaced or the kernel is forgotten (ums_cl_forget_kernel()).
 * 3. ums_cl_enqueue_kernel() makes the bound allocations valid on the queue's
 *    device, sets the arguments, launches, and ties the blocks' ownership to the
 *    kernel's event:
 *    - read-only arguments are replicated: the host copy stays valid (read-only),
 *      so CPU threads read it during the kernel without waiting;
 *    - written arguments move to the device: a CPU access to one of their blocks
 *      faults, waits for the kernel, and fetches the result;
 *    - with ::UMS_ADVISE_ACCESSED_BY for the device on every block, and a device
 *      that reports host-unified memory (::UMS_LOCATION_FLAG_HOST_ACCESS), the
 *      kernel uses the host pages in place: nothing moves, the blocks stay on the
 *      host, and CPU accesses during the kernel are not ordered with it (as with
 *      fine-grain SVM: wait for the event first).
 *    Which blocks: the whole allocation from the bound pointer to its end (a
 *    kernel may touch any of it). See docs/OPENCL.md.
 *
 * Errors are ::ums_result codes with a sentence in ums_last_error(); OpenCL
 * failures are ::UMS_ERR_OPENCL (or ::UMS_ERR_NO_DEVICE_MEMORY for
 * CL_OUT_OF_RESOURCES, CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_OUT_OF_HOST_MEMORY)
 * with the OpenCL error's name and code in the message and in
 * ::ums_error_info.native. No function prints or aborts.
 */
#ifndef UMSHIM_OPENCL_H
#define UMSHIM_OPENCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>
#include <stddef.h>

#include "umshim/export.h"
#include "umshim/location.h"
#include "umshim/result.h"
#include "umshim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How a kernel uses a managed argument. */
typedef enum ums_cl_access {
    /** Ask the kernel: a `const` (or `__constant`) pointer argument is read, anything
     *  else read-write. Needs the argument info OpenCL keeps for programs built with
     *  `-cl-kernel-arg-info`; without it, read-write. */
    UMS_CL_ACCESS_DEFAULT = 0,
    /** The kernel only reads: the device gets a replica, the host copy stays valid. */
    UMS_CL_ACCESS_READ = 1,
    /** The kernel writes (and may read what it does not write): the device gets the
     *  only copy. Data is moved as for read-write, since a kernel may write only part. */
    UMS_CL_ACCESS_WRITE = 2,
    /** The kernel reads and writes: the device gets the only copy. */
    UMS_CL_ACCESS_READ_WRITE = 3
} ums_cl_access;

/**
 * Adopt an application's OpenCL context: device copies of the runtime's
 * allocations on the context's devices are created in it from now on, so the
 * application's kernels can use them. Blocks already on such a device in
 * another context move (through the host) the first time a kernel of this
 * context needs them.
 *
 * umshim runs its transfers on an in-order queue of its own per device in that
 * context, never on the application's queues, so a transfer never waits behind
 * an application kernel (see docs/OPENCL.md). The `queues` given are only
 * checked: they must belong to `context`, at most one per device.
 *
 * @param rt       runtime, or NULL for the default runtime
 * @param context  the application's context; retained until the runtime stops
 * @param queues   `n` queues of `context`, at most one per device; may be NULL when n is 0
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER; ::UMS_ERR_INVALID_ARG (a queue of another
 *         context, two queues for one device); ::UMS_ERR_UNKNOWN_LOCATION (no device of
 *         the context is a location of the runtime); ::UMS_ERR_BUSY (already attached);
 *         ::UMS_ERR_NOT_SUPPORTED (the runtime has no OpenCL backend, `UMS_OPENCL=0`);
 *         ::UMS_ERR_OPENCL. Nothing changes on failure.
 */
UMS_API ums_result ums_cl_attach(ums_runtime_t *rt, cl_context context, const cl_command_queue *queues, size_t n);

/**
 * The runtime's location for an OpenCL device.
 * @param rt     runtime, or NULL for the default runtime
 * @param device an OpenCL device
 * @param loc    receives the location id
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_UNKNOWN_LOCATION (not one of the
 *         runtime's devices), ::UMS_ERR_NOT_SUPPORTED (no OpenCL backend).
 */
UMS_API ums_result ums_cl_location_of(ums_runtime_t *rt, cl_device_id device, ums_location_t *loc);

/**
 * The OpenCL context device copies of a location are created in (the attached
 * application context, else umshim's own context for the device's platform),
 * and the location's device. An application without a context of its own can
 * build its programs in this context and create its own queue there (kernels
 * must not be enqueued on umshim's internal queues). Borrowed: valid while the
 * runtime lives; retain them to keep them longer. Either output may be NULL.
 * @param rt   runtime, or NULL for the default runtime
 * @param loc  a location of the runtime
 * @return ::UMS_OK, ::UMS_ERR_UNKNOWN_LOCATION (not an OpenCL location),
 *         ::UMS_ERR_NOT_SUPPORTED (no OpenCL backend).
 */
UMS_API ums_result ums_cl_location_context(ums_runtime_t *rt, ums_location_t loc, cl_context *context,
                                           cl_device_id *device);

/**
 * How many copy streams (queues) umshim spreads one transfer of several
 * consecutive blocks to or from an OpenCL location over. Pieces on different
 * streams may run at once: POCL runs each on one of its worker threads, a GPU
 * may have several copy engines. 1 to 4: the `streams` key of `UMS_OPENCL`
 * (for example `UMS_OPENCL=streams=1`), else the device's compute units (at
 * most 4) on a CPU device and 1 on any other.
 * @param rt       runtime, or NULL for the default runtime
 * @param loc      a location of the runtime
 * @param streams  receives the count
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_UNKNOWN_LOCATION (not an
 *         OpenCL location), ::UMS_ERR_NOT_SUPPORTED (no OpenCL backend).
 */
UMS_API ums_result ums_cl_location_streams(ums_runtime_t *rt, ums_location_t loc, unsigned *streams);

/**
 * Bind a managed pointer to a kernel argument (a `__global` or `__constant`
 * pointer parameter). The kernel is retained while it has bindings.
 *
 * The binding is used by every later ums_cl_enqueue_kernel() of the kernel
 * until another ums_cl_set_kernel_arg() on the same index replaces it, or
 * ums_cl_forget_kernel(). Passing `ptr` NULL removes the binding and sets the
 * argument to a NULL buffer. An interior pointer becomes a sub-buffer at its
 * offset, which must be a multiple of the device's CL_DEVICE_MEM_BASE_ADDR_ALIGN
 * (128 bytes on POCL); the launch fails with ::UMS_ERR_INVALID_ARG otherwise.
 *
 * @param kernel  a kernel object
 * @param index   argument index
 * @param ptr     a pointer inside a live allocation, or NULL
 * @param access  how the kernel uses the memory (::UMS_CL_ACCESS_DEFAULT: from the
 *                kernel's argument info)
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER (kernel NULL); ::UMS_ERR_NOT_MANAGED (`ptr`
 *         is not in a live allocation); ::UMS_ERR_INVALID_ARG (index out of range, an
 *         unknown access value, an argument that is not a global/constant pointer,
 *         not a valid kernel); ::UMS_ERR_NO_MEMORY; ::UMS_ERR_OPENCL.
 */
UMS_API ums_result ums_cl_set_kernel_arg(cl_kernel kernel, cl_uint index, const void *ptr, ums_cl_access access);

/**
 * The access mode ums_cl_enqueue_kernel() will use for a bound argument (the
 * default resolved from the kernel's argument info).
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, ::UMS_ERR_INVALID_ARG (no managed
 *         pointer is bound at that index).
 */
UMS_API ums_result ums_cl_kernel_arg_access(cl_kernel kernel, cl_uint index, ums_cl_access *access);

/**
 * Launch a kernel on managed memory (the managed counterpart of clEnqueueNDRangeKernel).
 *
 * For every bound allocation, in address order: its blocks from the bound
 * pointer to the end become valid on the queue's device (read: a replica;
 * write/read-write: the only copy; ACCESSED_BY on a host-unified device: in place
 * on the host, nothing moves), transfers done before the launch; then the
 * arguments are set and the kernel enqueued after `wait_list` and those
 * transfers; then the blocks' ownership is tied to the kernel's event (a CPU
 * access to a written block waits for the kernel and fetches its result; a later
 * transfer of any block of the allocation on that device waits for it). The
 * queue is flushed. Arguments set with plain clSetKernelArg are left as they are.
 *
 * On failure nothing is launched; blocks already made valid on the device stay
 * valid there (or at their source when their own transfer failed); no data is lost.
 *
 * @param queue      a command queue of the device to run on
 * @param kernel     the kernel
 * @param work_dim, global_offset, global_size, local_size  as for clEnqueueNDRangeKernel
 * @param num_events, wait_list  events to wait for, as for clEnqueueNDRangeKernel
 * @param event      receives the kernel's event (release it with clReleaseEvent); may be NULL
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER; ::UMS_ERR_NOT_MANAGED (a bound pointer's
 *         allocation was freed); ::UMS_ERR_INVALID_ARG (bound allocations of different
 *         runtimes, a misaligned interior pointer, a queue of another context than the
 *         kernel's, one of umshim's internal queues); ::UMS_ERR_UNKNOWN_LOCATION (the queue's device is not a location);
 *         ::UMS_ERR_NOT_SUPPORTED (an allocation larger than the device's largest
 *         buffer bound as one argument); ::UMS_ERR_STATE (another context is attached
 *         for that device); ::UMS_ERR_BUSY (CPU accesses kept moving the blocks
 *         away during the launch); ::UMS_ERR_NO_DEVICE_MEMORY; ::UMS_ERR_OPENCL
 *         (the enqueue or a transfer failed: the message names the call and error).
 */
UMS_API ums_result ums_cl_enqueue_kernel(cl_command_queue queue, cl_kernel kernel, cl_uint work_dim,
                                         const size_t *global_offset, const size_t *global_size,
                                         const size_t *local_size, cl_uint num_events, const cl_event *wait_list,
                                         cl_event *event);

/**
 * Drop every binding of a kernel and the reference umshim holds on it. Call it
 * before the application's last clReleaseKernel (or instead: umshim's reference
 * keeps the kernel alive otherwise). Forgetting a kernel with no binding is not an error.
 * @return ::UMS_OK or ::UMS_ERR_NULL_POINTER.
 */
UMS_API ums_result ums_cl_forget_kernel(cl_kernel kernel);

/**
 * Build a program (clBuildProgram) and report a failure with its build log.
 * @param program   the program
 * @param num_devices, devices  as for clBuildProgram (0 and NULL: every device of the program)
 * @param options   build options, may be NULL
 * @param log       receives the build log of the first device that failed (or of
 *                  the first device on success), NUL-terminated and truncated to
 *                  `log_size`; may be NULL
 * @param log_size  bytes at `log`
 * @return ::UMS_OK; ::UMS_ERR_NULL_POINTER; ::UMS_ERR_BUILD (the program does not
 *         compile: the last-error message quotes the start of the build log);
 *         ::UMS_ERR_OPENCL (another failure).
 */
UMS_API ums_result ums_cl_build_program(cl_program program, cl_uint num_devices, const cl_device_id *devices,
                                        const char *options, char *log, size_t log_size);

/**
 * Create a program from OpenCL C source and build it for every device of the
 * context, with `-cl-kernel-arg-info` added to `options` (so
 * ::UMS_CL_ACCESS_DEFAULT can read `const` qualifiers).
 * @param program receives the program (release it with clReleaseProgram); unchanged on failure
 * @return as ums_cl_build_program(); nothing is left allocated on failure.
 */
UMS_API ums_result ums_cl_program_from_source(cl_context context, const char *source, const char *options,
                                              cl_program *program);

/**
 * Wait for an OpenCL event (a kernel launched by ums_cl_enqueue_kernel()) and
 * report how its command ended.
 * @return ::UMS_OK, ::UMS_ERR_NULL_POINTER, or ::UMS_ERR_OPENCL (the wait failed or
 *         the command ended with an error, named in the message).
 */
UMS_API ums_result ums_cl_wait(cl_event event);

/** Name of an access mode ("default", "read", "write", "read-write"), "unknown" otherwise. */
UMS_API const char *ums_cl_access_name(ums_cl_access access);

#ifdef __cplusplus
}
#endif
#endif
