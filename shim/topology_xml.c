/* Topology loading for placement: this machine with its I/O devices, or an
 * hwloc XML file (fixtures of big machines in tests, `--topology` in tools). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "placement_internal.h"

static ums_result errno_result(int e) {
    return e == ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_SYSTEM;
}

ums_result ums__topology_load_system(hwloc_topology_t *out) {
    if (!out) return UMS_ERR_NULL_POINTER;
    *out = NULL;

    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return errno_result(errno);
    /* Discovery plug-ins that would start vendor runtimes inside topology
     * loading (OpenCL platforms, CUDA, NVML, ROCm SMI, Level Zero, an X
     * display for GL): the backends own those runtimes and match devices by
     * PCI address instead. "pci" (libpciaccess) is redundant on Linux, where
     * hwloc reads PCI devices and their locality from sysfs, and it leaves
     * allocations behind that leak checkers report. Components that are not
     * installed make this call fail, which is fine. */
    static const char *const skip[] = {"pci", "opencl", "cuda", "nvml", "rsmi", "levelzero", "gl"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        (void)hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, skip[i]);
    /* Important I/O only: GPUs, NICs, storage and the bridges above them are
     * what PCI locality needs; keeping everything is slower for nothing. */
    if (hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT) != 0 ||
        hwloc_topology_load(topo) != 0) {
        int e = errno;
        hwloc_topology_destroy(topo);
        return errno_result(e);
    }
    /* Fill hwloc's lazily built caches (memory attributes, distances) now, so
     * that concurrent readers never race to build them. */
    hwloc_topology_refresh(topo);
    *out = topo;
    return UMS_OK;
}

ums_result ums__topology_load_xml(const char *path, hwloc_topology_t *out, int *err_no) {
    if (err_no) *err_no = 0;
    if (!out) return UMS_ERR_NULL_POINTER;
    *out = NULL;
    if (!path) return UMS_ERR_NULL_POINTER;
    if (path[0] == '\0') return UMS_ERR_INVALID_ARG;

    /* hwloc reports a missing file and a malformed one alike through errno;
     * check readability first so the caller can tell them apart. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err_no) *err_no = errno;
        return errno_result(errno);
    }
    struct stat st;
    int st_rc = fstat(fd, &st);
    int st_errno = errno;
    close(fd);
    if (st_rc != 0) {
        if (err_no) *err_no = st_errno;
        return UMS_ERR_SYSTEM;
    }
    if (S_ISDIR(st.st_mode)) {
        if (err_no) *err_no = EISDIR;
        return UMS_ERR_SYSTEM;
    }

    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return errno_result(errno);
    /* Whatever the file holds is what the user wants to reason about. */
    if (hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_ALL) != 0) {
        int e = errno;
        hwloc_topology_destroy(topo);
        return errno_result(e);
    }
    /* A failed set_xml leaves the topology set to this machine: never load it then. */
    if (hwloc_topology_set_xml(topo, path) != 0) {
        int e = errno;
        hwloc_topology_destroy(topo);
        if (e == ENOMEM) return UMS_ERR_NO_MEMORY;
        if (e == EINVAL || e == 0) return UMS_ERR_INVALID_ARG;
        if (err_no) *err_no = e;
        return UMS_ERR_SYSTEM;
    }
    if (hwloc_topology_load(topo) != 0) {
        int e = errno;
        hwloc_topology_destroy(topo);
        return e == ENOMEM ? UMS_ERR_NO_MEMORY : UMS_ERR_INVALID_ARG;
    }
    hwloc_topology_refresh(topo);
    *out = topo;
    return UMS_OK;
}
