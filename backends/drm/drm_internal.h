/* DRM discovery internals: what ums_drm_devices() is made of, exposed so the
 * core can match OpenCL devices to DRM devices and tests can describe a device
 * without hardware (a hand-made drmDevice, a fake sysfs tree). */
#ifndef UMSHIM_DRM_INTERNAL_H
#define UMSHIM_DRM_INTERNAL_H

#include <stddef.h>

#include <hwloc.h>
#include <xf86drm.h>

#include "umshim/drm.h"
#include "umshim/result.h"

/* Describe one libdrm device into `out`.
 * `topo` (may be NULL) is searched for the device's PCI object: when found,
 * out->hwloc_matched is set and the nearest node comes from its locality.
 * `sysfs_root` ("/sys" normally) is where the driver name (when no node can be
 * opened), the memory sizes and the `numa_node` fallback are read from.
 * Never fails on missing information: unknown fields stay ""/0/-1.
 * Returns UMS_OK or UMS_ERR_NULL_POINTER (dev, sysfs_root or out NULL). */
ums_result ums__drm_describe(const drmDevice *dev, hwloc_topology_t topo, const char *sysfs_root,
                             ums_drm_device_info *out);

/* The index in `devs` (as filled by ums_drm_devices()) of the device with this
 * PCI address, in any form ums__pci_bus_id_parse() accepts.
 * Returns 1 and sets *index when found, 0 when no device has that address,
 * -1 on bad input (NULL pointers, malformed address). */
int ums__drm_index_of_pci_bus_id(const ums_drm_device_info *devs, size_t count, const char *pci_bus_id, size_t *index);

/* Same, from the numbers OpenCL's cl_khr_pci_bus_info reports
 * (cl_device_pci_bus_info_khr: pci_domain, pci_bus, pci_device, pci_function). */
int ums__drm_index_of_pci(const ums_drm_device_info *devs, size_t count, unsigned domain, unsigned bus, unsigned dev,
                          unsigned func, size_t *index);

#endif
