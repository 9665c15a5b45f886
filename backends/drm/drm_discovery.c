/* DRM device discovery through libdrm, placed in the host topology by hwloc.
 *
 * What each field comes from:
 * - bus, PCI address, vendor/device ids, nodes: drmGetDevices2() (which also
 *   resolves virtio-gpu to the PCI device under its virtio transport);
 * - driver: drmGetVersion() on the render node (or the primary node), else
 *   the `driver` link of the node's sysfs device when it cannot be opened;
 * - memory sizes: the driver's sysfs attributes on the PCI device (amdgpu's
 *   `mem_info_*`); other drivers report none there and read as 0;
 * - nearest node: the locality of the matching hwloc PCI object, else the PCI
 *   device's sysfs `numa_node`.
 * No global state, nothing printed; every descriptor, libdrm list and hwloc
 * topology is released before returning. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drm_internal.h"
#include "internal.h"
#include "placement_internal.h"

/* Copy a string into a fixed field; "" when it does not fit (a cut path or
 * name would be wrong rather than merely short). */
static void copy_field(char *dst, size_t size, const char *src) {
    size_t n = src ? strlen(src) : 0;
    if (n >= size) n = 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

static const char *bus_name(int bustype) {
    switch (bustype) {
    case DRM_BUS_PCI:
        return "pci";
    case DRM_BUS_USB:
        return "usb";
    case DRM_BUS_PLATFORM:
        return "platform";
    case DRM_BUS_HOST1X:
        return "host1x";
    default:
        return "unknown";
    }
}

/* Read a small sysfs file into buf (NUL-terminated, trailing newline removed). */
static int read_small_file(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n;
    do {
        n = read(fd, buf, size - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = '\0';
    return 0;
}

static int read_u64(const char *path, uint64_t *value) {
    char buf[64], *end;
    if (read_small_file(path, buf, sizeof buf) != 0 || buf[0] < '0' || buf[0] > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *value = v;
    return 0;
}

static int read_int(const char *path, int *value) {
    char buf[64], *end;
    if (read_small_file(path, buf, sizeof buf) != 0) return -1;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno != 0 || *end != '\0' || end == buf || v < INT_MIN || v > INT_MAX) return -1;
    *value = (int)v;
    return 0;
}

/* Driver name through the DRM_IOCTL_VERSION of an opened node. */
static int driver_from_node(const char *node, char *out, size_t size) {
    if (!node[0]) return -1;
    /* The render node first: opening a primary node can make us DRM master. */
    int fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -1;
    drmVersionPtr v = drmGetVersion(fd);
    close(fd);
    if (!v) return -1;
    int rc = -1;
    if (v->name && v->name_len > 0 && (size_t)v->name_len < size) {
        memcpy(out, v->name, (size_t)v->name_len);
        out[v->name_len] = '\0';
        rc = 0;
    }
    drmFreeVersion(v);
    return rc;
}

/* Driver name from `<sysfs>/class/drm/<node name>/device/driver`, a link to
 * the driver's directory. For virtio-gpu that device is the virtio device, whose
 * driver is virtio_gpu (its PCI parent's is the virtio-pci transport). */
static int driver_from_sysfs(const char *sysfs_root, const char *node, char *out, size_t size) {
    const char *name = strrchr(node, '/');
    name = name ? name + 1 : node;
    if (!name[0]) return -1;
    char path[PATH_MAX], target[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/class/drm/%s/device/driver", sysfs_root, name);
    if (n < 0 || (size_t)n >= sizeof path) return -1;
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len <= 0) return -1;
    target[len] = '\0';
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    if (!base[0] || strlen(base) >= size) return -1;
    memcpy(out, base, strlen(base) + 1);
    return 0;
}

/* Memory sizes and numa_node from the PCI device's sysfs directory. */
static void pci_sysfs_info(const char *sysfs_root, ums_drm_device_info *out, int *sysfs_node) {
    static const struct {
        const char *file;
        size_t offset;
    } mem[] = {
        {"mem_info_vram_total", offsetof(ums_drm_device_info, vram_total)},
        {"mem_info_vis_vram_total", offsetof(ums_drm_device_info, vram_visible)},
        {"mem_info_gtt_total", offsetof(ums_drm_device_info, gtt_total)},
    };
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++) {
        int n = snprintf(path, sizeof path, "%s/bus/pci/devices/%s/%s", sysfs_root, out->pci_bus_id, mem[i].file);
        uint64_t v;
        if (n > 0 && (size_t)n < sizeof path && read_u64(path, &v) == 0) {
            memcpy((char *)out + mem[i].offset, &v, sizeof v);
        }
    }
    int n = snprintf(path, sizeof path, "%s/bus/pci/devices/%s/numa_node", sysfs_root, out->pci_bus_id);
    int node;
    *sysfs_node = -1;
    if (n > 0 && (size_t)n < sizeof path && read_int(path, &node) == 0 && node >= 0) *sysfs_node = node;
}

ums_result ums__drm_describe(const drmDevice *dev, hwloc_topology_t topo, const char *sysfs_root,
                             ums_drm_device_info *out) {
    if (!out) return UMS_ERR_NULL_POINTER;
    memset(out, 0, sizeof *out);
    out->numa_node = -1;
    if (!dev || !sysfs_root) return UMS_ERR_NULL_POINTER;

    copy_field(out->bus, sizeof out->bus, bus_name(dev->bustype));
    if (dev->nodes) {
        if ((dev->available_nodes & (1 << DRM_NODE_PRIMARY)) && dev->nodes[DRM_NODE_PRIMARY])
            copy_field(out->primary_node, sizeof out->primary_node, dev->nodes[DRM_NODE_PRIMARY]);
        if ((dev->available_nodes & (1 << DRM_NODE_RENDER)) && dev->nodes[DRM_NODE_RENDER])
            copy_field(out->render_node, sizeof out->render_node, dev->nodes[DRM_NODE_RENDER]);
    }

    if (driver_from_node(out->render_node, out->driver, sizeof out->driver) != 0 &&
        driver_from_node(out->primary_node, out->driver, sizeof out->driver) != 0 &&
        driver_from_sysfs(sysfs_root, out->render_node, out->driver, sizeof out->driver) != 0 &&
        driver_from_sysfs(sysfs_root, out->primary_node, out->driver, sizeof out->driver) != 0) {
        out->driver[0] = '\0';
    }

    if (dev->bustype != DRM_BUS_PCI || !dev->businfo.pci) return UMS_OK;
    const drmPciBusInfo *pci = dev->businfo.pci;
    char id[sizeof out->pci_bus_id];
    if (ums__pci_bus_id_format(id, sizeof id, pci->domain, pci->bus, pci->dev, pci->func) != 0) return UMS_OK;
    memcpy(out->pci_bus_id, id, sizeof id);
    if (dev->deviceinfo.pci) {
        out->vendor_id = dev->deviceinfo.pci->vendor_id;
        out->device_id = dev->deviceinfo.pci->device_id;
    }
    int sysfs_node;
    pci_sysfs_info(sysfs_root, out, &sysfs_node);
    out->numa_node = sysfs_node;
    if (topo && ums__placement_find_pcidev(topo, out->pci_bus_id)) {
        out->hwloc_matched = 1;
        unsigned node;
        /* hwloc's locality wins; sysfs only when hwloc finds several nodes as near. */
        if (ums__placement_pci_nearest_node(topo, out->pci_bus_id, &node) == 1) out->numa_node = (int)node;
    }
    return UMS_OK;
}

static int index_of(const ums_drm_device_info *devs, size_t count, unsigned domain, unsigned bus, unsigned dev,
                    unsigned func, size_t *index) {
    for (size_t i = 0; i < count; i++) {
        unsigned d, b, v, f;
        if (ums__pci_bus_id_parse(devs[i].pci_bus_id, &d, &b, &v, &f) != 0) continue;
        if (d == domain && b == bus && v == dev && f == func) {
            *index = i;
            return 1;
        }
    }
    return 0;
}

int ums__drm_index_of_pci_bus_id(const ums_drm_device_info *devs, size_t count, const char *pci_bus_id, size_t *index) {
    unsigned d, b, v, f;
    if ((!devs && count > 0) || !index || ums__pci_bus_id_parse(pci_bus_id, &d, &b, &v, &f) != 0) return -1;
    return index_of(devs, count, d, b, v, f, index);
}

int ums__drm_index_of_pci(const ums_drm_device_info *devs, size_t count, unsigned domain, unsigned bus, unsigned dev,
                          unsigned func, size_t *index) {
    if ((!devs && count > 0) || !index) return -1;
    if (bus > 0xff || dev > 0x1f || func > 7) return -1;
    return index_of(devs, count, domain, bus, dev, func, index);
}

UMS_API ums_result ums_drm_devices(ums_drm_device_info *out, size_t cap, size_t *count) {
    static const char fn[] = "ums_drm_devices";
    if (!count) return ums__fail(fn, "drm", UMS_ERR_NULL_POINTER, 0, "count is NULL");
    if (cap > 0 && !out) return ums__fail(fn, "drm", UMS_ERR_NULL_POINTER, 0, "out is NULL with cap %zu", cap);

    /* No /dev/dri (ENOENT), or a kernel without DRM: no devices, not an error. */
    int n = drmGetDevices2(0, NULL, 0);
    if (n == 0 || n == -ENOENT || n == -ENODEV) {
        *count = 0;
        return UMS_OK;
    }
    if (n < 0) {
        return ums__fail(fn, "drm", n == -ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM, -n,
                         "drmGetDevices2 failed (errno %d)", -n);
    }

    drmDevicePtr *devs = calloc((size_t)n, sizeof *devs);
    if (!devs) return ums__fail(fn, "drm", UMS_ERR_NO_MEMORY, ENOMEM, "cannot list %d DRM devices", n);
    int m = drmGetDevices2(0, devs, n);
    if (m <= 0) {
        free(devs);
        if (m == 0 || m == -ENOENT || m == -ENODEV) { /* they went away meanwhile */
            *count = 0;
            return UMS_OK;
        }
        return ums__fail(fn, "drm", m == -ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM, -m,
                         "drmGetDevices2 failed (errno %d)", -m);
    }

    size_t fill = cap < (size_t)m ? cap : (size_t)m;
    hwloc_topology_t topo = NULL;
    /* Without a topology the devices are still listed, only unmatched. */
    if (fill > 0 && ums__topology_load_system(&topo) != UMS_OK) topo = NULL;
    for (size_t i = 0; i < fill; i++) ums__drm_describe(devs[i], topo, "/sys", &out[i]);
    if (topo) hwloc_topology_destroy(topo);
    drmFreeDevices(devs, m);
    free(devs);
    *count = (size_t)m;
    if (cap > 0 && (size_t)m > cap) {
        return ums__fail(fn, "drm", UMS_ERR_BUFFER_TOO_SMALL, 0, "%d DRM devices, room for %zu", m, cap);
    }
    return UMS_OK;
}
