/* Placement engine: the contract between the core and the hwloc-based decision
 * code in placement.c, and the topology loaders in topology_xml.c.
 *
 * Everything here is pure with respect to the library: no global state, no
 * printing. Functions take the hwloc topology they work on; the caller owns it. */
#ifndef UMSHIM_PLACEMENT_INTERNAL_H
#define UMSHIM_PLACEMENT_INTERNAL_H

#include <hwloc.h>

#include "umshim/placement.h"
#include "umshim/result.h"

/* Decide a placement in `topo`.
 *
 * `device_pci_bus_id` and `device_numa_hint` are what the caller knows about
 * the device of a NEAR_DEVICE request whose `pci_bus_id` is unset (the core
 * resolves `p->device` through its locations): its PCI address ("" or NULL when
 * not PCI) and the nearest node its backend reported (-1 when unknown). A
 * `p->pci_bus_id` in the request wins over `device_pci_bus_id`; the hint is
 * used when the PCI device is not in the topology.
 *
 * NEAR_DEVICE with no PCI address at all, no hint and `p->device` ==
 * UMS_LOCATION_NONE is UMS_ERR_INVALID_ARG; with a device but nothing known
 * about it, every node is returned (basis NONE, fallback set).
 *
 * Returns the codes listed for ums_placement_decide(). On error `out` (when
 * not NULL) holds node_count 0 and a reason that says what was wrong, for the
 * caller's last-error record. */
ums_result ums__placement_decide(hwloc_topology_t topo, const ums_placement *p, const char *device_pci_bus_id,
                                 int device_numa_hint, ums_placement_decision *out);

/* The node nearest to a PCI device of `topo` by PCI locality, with the same
 * rules as NEAR_DEVICE: nodes of the device's locality, ordinary memory before
 * special (HBM, NVM, CXL) memory, bandwidth from the locality when reported.
 * Returns 1 and sets *node when one node is clearly nearest; 0 when the device
 * is not in the topology or several nodes are equally near (its locality is the
 * whole machine on a multi-node host); -1 on bad input or allocation failure. */
int ums__placement_pci_nearest_node(hwloc_topology_t topo, const char *pci_bus_id, unsigned *node);

/* Strict PCI address parser: "dddd:bb:dd.f" or "bb:dd.f" (hex, domain 0 when
 * absent), nothing before or after. Returns 0 on success, -1 if malformed or
 * any part is out of range (domain > 0xffff, bus > 0xff, dev > 0x1f, func > 7). */
int ums__pci_bus_id_parse(const char *s, unsigned *domain, unsigned *bus, unsigned *dev, unsigned *func);

/* Canonical form "dddd:bb:dd.f" (lower-case hex) into buf (at least 13 bytes).
 * Returns 0, or -1 when buf is NULL or too small. */
int ums__pci_bus_id_format(char *buf, size_t size, unsigned domain, unsigned bus, unsigned dev, unsigned func);

/* The PCI device object of `topo` with this address (any accepted form), or NULL. */
hwloc_obj_t ums__placement_find_pcidev(hwloc_topology_t topo, const char *pci_bus_id);

/* Both loaders return a refreshed topology (hwloc's lazily built caches are
 * filled), so several threads may consult it at once. A caller that changes
 * memory attributes or distances must call hwloc_topology_refresh() again
 * before sharing it.
 *
 * Load the topology of this machine with important I/O devices (GPUs, NICs,
 * storage and the bridges above them) kept, so PCI locality is known.
 * Honors hwloc's own environment (HWLOC_XMLFILE, HWLOC_SYNTHETIC, ...).
 * Returns UMS_OK, UMS_ERR_NULL_POINTER, UMS_ERR_NO_MEMORY or UMS_ERR_SYSTEM
 * (errno-based; *out is NULL on failure). Free with hwloc_topology_destroy(). */
ums_result ums__topology_load_system(hwloc_topology_t *out);

/* Load a topology from an hwloc XML file, keeping every I/O object it holds.
 * Returns UMS_OK, UMS_ERR_NULL_POINTER, UMS_ERR_INVALID_ARG ("" path, or not
 * an hwloc XML topology), UMS_ERR_SYSTEM (the file cannot be read; *err_no
 * receives errno when err_no is not NULL), UMS_ERR_NO_MEMORY. */
ums_result ums__topology_load_xml(const char *path, hwloc_topology_t *out, int *err_no);

#endif
