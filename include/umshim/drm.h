/**
 * @file umshim/drm.h
 * @brief DRM device discovery: the GPUs the kernel exposes under `/dev/dri`.
 *
 * Lists every DRM device (through libdrm's drmGetDevices2()) with its bus,
 * PCI address, driver, device nodes and, where the kernel reports them without
 * a vendor library, its memory sizes; and places each one in the host topology
 * by matching its PCI address to hwloc's PCI objects.
 *
 * Works without a runtime. A machine without `/dev/dri` has no DRM devices:
 * that is a success with a count of 0, not an error.
 */
#ifndef UMSHIM_DRM_H
#define UMSHIM_DRM_H

#include <stddef.h>
#include <stdint.h>

#include "umshim/export.h"
#include "umshim/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One DRM device. Strings are NUL-terminated; "" when unknown or absent. */
typedef struct ums_drm_device_info {
    /** Bus the device sits on: "pci", "usb", "platform", "host1x" or "unknown". */
    char bus[16];
    /** PCI address "dddd:bb:dd.f" (lower-case hex) for PCI devices, else "". */
    char pci_bus_id[32];
    /** PCI vendor id (0x1af4 for virtio, 0x1002 AMD, 0x10de NVIDIA, 0x8086 Intel); 0 when not PCI. */
    uint32_t vendor_id;
    /** PCI device id; 0 when not PCI. */
    uint32_t device_id;
    /** Primary node, e.g. "/dev/dri/card0", or "" when the device has none. */
    char primary_node[64];
    /** Render node, e.g. "/dev/dri/renderD128", or "" when the device has none. */
    char render_node[64];
    /** Kernel driver, e.g. "virtio_gpu", "amdgpu", "i915": from drmGetVersion() on an opened
     *  node, else from sysfs when the node cannot be opened; "" when unknown. */
    char driver[32];
    /** Device-local memory in bytes as the driver reports it in sysfs (amdgpu
     *  `mem_info_vram_total`); 0 when unknown or when the device has none. */
    uint64_t vram_total;
    /** Of `vram_total`, the bytes the CPU can map (amdgpu `mem_info_vis_vram_total`); 0 when unknown. */
    uint64_t vram_visible;
    /** System memory the device can map through its GART (amdgpu `mem_info_gtt_total`); 0 when unknown. */
    uint64_t gtt_total;
    /** The nearest host NUMA node (OS index): from hwloc's PCI locality when matched, else the
     *  device's sysfs `numa_node`; -1 when unknown. */
    int numa_node;
    /** Non-zero when the device's PCI address was found among hwloc's PCI objects. */
    int hwloc_matched;
} ums_drm_device_info;

/**
 * List the DRM devices of this machine.
 *
 * Call with `out` NULL and `cap` 0 to learn the count. Otherwise up to `cap`
 * devices are written to `out`, in libdrm's order, and `*count` receives the
 * total number of devices even when it is larger than `cap`.
 *
 * @param out    array of `cap` entries, or NULL when `cap` is 0
 * @param cap    number of entries in `out`
 * @param count  receives the total number of DRM devices
 * @return ::UMS_OK (also when there is no `/dev/dri`: `*count` is then 0);
 *         ::UMS_ERR_NULL_POINTER (`count` NULL, or `out` NULL with `cap` > 0; nothing is written);
 *         ::UMS_ERR_BUFFER_TOO_SMALL when there are more devices than `cap` and `cap` > 0
 *         (the first `cap` are filled and `*count` holds the total);
 *         ::UMS_ERR_SYSTEM when libdrm fails for another reason; ::UMS_ERR_NO_MEMORY.
 */
UMS_API ums_result ums_drm_devices(ums_drm_device_info *out, size_t cap, size_t *count);

#ifdef __cplusplus
}
#endif
#endif
