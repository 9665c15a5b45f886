/* DRM device description without hardware: hand-made libdrm devices matched
 * against the PCI objects of an hwloc XML fixture, with driver names, memory
 * sizes and numa_node read from a fake sysfs tree.
 * Usage: test_drm_match PLACEMENT_FIXTURE_DIR */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drm_internal.h"
#include "placement_internal.h"
#include "test.h"

static char root[64];

/* Files and links created under the fake sysfs root, removed at the end (deepest first). */
static char created[64][PATH_MAX];
static int ncreated;

static void remember(const char *path) {
    ASSERT(ncreated < 64);
    snprintf(created[ncreated++], PATH_MAX, "%s", path);
}

static void make_dirs(const char *rel) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0755) == 0)
            remember(path);
        else if (errno != EEXIST)
            FAIL_("mkdir %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0755) == 0)
        remember(path);
    else if (errno != EEXIST)
        FAIL_("mkdir %s: %s", path, strerror(errno));
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[PATH_MAX];
    make_dirs(dir);
    snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
    FILE *f = fopen(path, "w");
    if (!f) FAIL_("cannot create %s", path);
    fputs(text, f);
    fclose(f);
    remember(path);
}

static void make_link(const char *dir, const char *name, const char *target) {
    char path[PATH_MAX];
    make_dirs(dir);
    snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
    if (symlink(target, path) != 0) FAIL_("symlink %s: %s", path, strerror(errno));
    remember(path);
}

static void cleanup(void) {
    for (int i = ncreated - 1; i >= 0; i--) remove(created[i]);
    rmdir(root);
}

/* A PCI drmDevice as libdrm builds it. */
typedef struct fake_pci {
    drmDevice dev;
    drmPciBusInfo bus;
    drmPciDeviceInfo info;
    char *nodes[DRM_NODE_MAX];
    char primary[64], render[64];
} fake_pci;

static void fake_pci_init(fake_pci *f, unsigned domain, unsigned bus, unsigned dev, unsigned func, uint16_t vendor,
                          uint16_t device, int card) {
    memset(f, 0, sizeof *f);
    f->bus.domain = (uint16_t)domain;
    f->bus.bus = (uint8_t)bus;
    f->bus.dev = (uint8_t)dev;
    f->bus.func = (uint8_t)func;
    f->info.vendor_id = vendor;
    f->info.device_id = device;
    /* Node paths that do not exist here, so the driver comes from sysfs. */
    snprintf(f->primary, sizeof f->primary, "/nonexistent/dri/card%d", card);
    snprintf(f->render, sizeof f->render, "/nonexistent/dri/renderD%d", 128 + card);
    f->nodes[DRM_NODE_PRIMARY] = f->primary;
    f->nodes[DRM_NODE_RENDER] = f->render;
    f->dev.nodes = f->nodes;
    f->dev.available_nodes = (1 << DRM_NODE_PRIMARY) | (1 << DRM_NODE_RENDER);
    f->dev.bustype = DRM_BUS_PCI;
    f->dev.businfo.pci = &f->bus;
    f->dev.deviceinfo.pci = &f->info;
}

static void test_describe(hwloc_topology_t topo) {
    ums_drm_device_info info;
    fake_pci f;

    /* GPU below package 1 in the fixture: matched, node from hwloc (sysfs says otherwise). */
    write_file("bus/pci/devices/0000:81:00.0", "numa_node", "0\n");
    write_file("bus/pci/devices/0000:81:00.0", "mem_info_vram_total", "17163091968\n");
    write_file("bus/pci/devices/0000:81:00.0", "mem_info_vis_vram_total", "268435456\n");
    write_file("bus/pci/devices/0000:81:00.0", "mem_info_gtt_total", "33554432000\n");
    make_dirs("bus/pci/drivers/amdgpu");
    make_link("class/drm/renderD129/device", "driver", "../../../../bus/pci/drivers/amdgpu");
    fake_pci_init(&f, 0, 0x81, 0, 0, 0x1002, 0x740f, 1);
    ASSERT_OK(ums__drm_describe(&f.dev, topo, root, &info));
    ASSERT_STR_EQ(info.bus, "pci");
    ASSERT_STR_EQ(info.pci_bus_id, "0000:81:00.0");
    ASSERT_EQ(info.vendor_id, 0x1002);
    ASSERT_EQ(info.device_id, 0x740f);
    ASSERT_STR_EQ(info.primary_node, "/nonexistent/dri/card1");
    ASSERT_STR_EQ(info.render_node, "/nonexistent/dri/renderD129");
    ASSERT_STR_EQ(info.driver, "amdgpu");
    ASSERT_EQ(info.vram_total, 17163091968ull);
    ASSERT_EQ(info.vram_visible, 268435456ull);
    ASSERT_EQ(info.gtt_total, 33554432000ull);
    ASSERT_EQ(info.hwloc_matched, 1);
    ASSERT_EQ(info.numa_node, 1);

    /* GPU below package 0, no sysfs at all: matched, node 0, no driver, no sizes. */
    fake_pci_init(&f, 0, 3, 0, 0, 0x10de, 0x20b0, 0);
    ASSERT_OK(ums__drm_describe(&f.dev, topo, root, &info));
    ASSERT_EQ(info.hwloc_matched, 1);
    ASSERT_EQ(info.numa_node, 0);
    ASSERT_STR_EQ(info.driver, "");
    ASSERT_EQ(info.vram_total, 0);

    /* A device whose locality is the whole machine: matched, node from sysfs. */
    write_file("bus/pci/devices/0000:c1:00.0", "numa_node", "1\n");
    fake_pci_init(&f, 0, 0xc1, 0, 0, 0x1af4, 0x1050, 2);
    ASSERT_OK(ums__drm_describe(&f.dev, topo, root, &info));
    ASSERT_EQ(info.hwloc_matched, 1);
    ASSERT_EQ(info.numa_node, 1);

    /* virtio-gpu as libdrm reports it: PCI 1af4:1050, the driver on the virtio device. */
    write_file("bus/pci/devices/0000:00:02.0", "numa_node", "-1\n");
    make_dirs("bus/virtio/drivers/virtio_gpu");
    make_link("class/drm/card3/device", "driver", "../../../../bus/virtio/drivers/virtio_gpu");
    fake_pci_init(&f, 0, 0, 2, 0, 0x1af4, 0x1050, 3);
    f.dev.available_nodes = 1 << DRM_NODE_PRIMARY; /* no render node (no virgl) */
    ASSERT_OK(ums__drm_describe(&f.dev, topo, root, &info));
    ASSERT_STR_EQ(info.driver, "virtio_gpu");
    ASSERT_STR_EQ(info.render_node, "");
    ASSERT_STR_EQ(info.pci_bus_id, "0000:00:02.0");
    ASSERT_EQ(info.hwloc_matched, 0); /* not in the fixture */
    ASSERT_EQ(info.numa_node, -1);
    ASSERT_OK(ums__drm_describe(&f.dev, NULL, root, &info)); /* no topology at all */
    ASSERT_EQ(info.hwloc_matched, 0);
    ASSERT_STR_EQ(info.driver, "virtio_gpu");

    /* Garbage in sysfs reads as unknown. */
    write_file("bus/pci/devices/0000:05:00.0", "numa_node", "banana\n");
    write_file("bus/pci/devices/0000:05:00.0", "mem_info_vram_total", "-5\n");
    write_file("bus/pci/devices/0000:05:00.0", "mem_info_gtt_total", "12abc\n");
    write_file("bus/pci/devices/0000:05:00.0", "mem_info_vis_vram_total", "");
    fake_pci_init(&f, 0, 5, 0, 0, 0x8086, 0x56a0, 4);
    ASSERT_OK(ums__drm_describe(&f.dev, topo, root, &info));
    ASSERT_EQ(info.numa_node, -1);
    ASSERT_EQ(info.vram_total, 0);
    ASSERT_EQ(info.gtt_total, 0);
    ASSERT_EQ(info.vram_visible, 0);
    ASSERT_EQ(info.hwloc_matched, 0);

    /* A platform device (an SoC GPU): no PCI anything. */
    static char platform_node[] = "/nonexistent/dri/card9";
    char *nodes[DRM_NODE_MAX] = {platform_node, NULL, NULL};
    drmDevice plat;
    memset(&plat, 0, sizeof plat);
    plat.nodes = nodes;
    plat.available_nodes = 1 << DRM_NODE_PRIMARY;
    plat.bustype = DRM_BUS_PLATFORM;
    ASSERT_OK(ums__drm_describe(&plat, topo, root, &info));
    ASSERT_STR_EQ(info.bus, "platform");
    ASSERT_STR_EQ(info.pci_bus_id, "");
    ASSERT_STR_EQ(info.primary_node, "/nonexistent/dri/card9");
    ASSERT_EQ(info.vendor_id, 0);
    ASSERT_EQ(info.numa_node, -1);
    plat.bustype = 77;
    plat.nodes = NULL;
    ASSERT_OK(ums__drm_describe(&plat, topo, root, &info));
    ASSERT_STR_EQ(info.bus, "unknown");
    ASSERT_STR_EQ(info.primary_node, "");

    /* A PCI device with missing bus info from libdrm is still described. */
    fake_pci_init(&f, 0, 3, 0, 0, 0x10de, 0x20b0, 0);
    f.dev.businfo.pci = NULL;
    f.dev.deviceinfo.pci = NULL;
    ASSERT_OK(ums__drm_describe(&f.dev, topo, root, &info));
    ASSERT_STR_EQ(info.bus, "pci");
    ASSERT_STR_EQ(info.pci_bus_id, "");
    ASSERT_EQ(info.hwloc_matched, 0);

    /* Bad input. */
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__drm_describe(NULL, topo, root, &info));
    ASSERT_EQ(info.numa_node, -1);
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__drm_describe(&f.dev, topo, NULL, &info));
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums__drm_describe(&f.dev, topo, root, NULL));
}

static void test_index_of(void) {
    ums_drm_device_info devs[3];
    memset(devs, 0, sizeof devs);
    snprintf(devs[0].pci_bus_id, sizeof devs[0].pci_bus_id, "0000:03:00.0");
    /* devs[1] is a platform device: no address */
    snprintf(devs[2].pci_bus_id, sizeof devs[2].pci_bus_id, "0001:81:00.1");
    size_t idx = 42;

    ASSERT_EQ(ums__drm_index_of_pci_bus_id(devs, 3, "0000:03:00.0", &idx), 1);
    ASSERT_EQ(idx, 0);
    ASSERT_EQ(ums__drm_index_of_pci_bus_id(devs, 3, "03:00.0", &idx), 1);
    ASSERT_EQ(idx, 0);
    ASSERT_EQ(ums__drm_index_of_pci_bus_id(devs, 3, "0001:81:00.1", &idx), 1);
    ASSERT_EQ(idx, 2);
    ASSERT_EQ(ums__drm_index_of_pci_bus_id(devs, 3, "0001:81:00.0", &idx), 0);
    ASSERT_EQ(ums__drm_index_of_pci_bus_id(devs, 3, "81:00.1", &idx), 0); /* domain 0 */
    ASSERT_EQ(ums__drm_index_of_pci_bus_id(devs, 0, "0000:03:00.0", &idx), 0);
    ASSERT_EQ(ums__drm_index_of_pci_bus_id(NULL, 0, "0000:03:00.0", &idx), 0);
    ASSERT_EQ(idx, 2);

    /* cl_khr_pci_bus_info numbers. */
    ASSERT_EQ(ums__drm_index_of_pci(devs, 3, 1, 0x81, 0, 1, &idx), 1);
    ASSERT_EQ(idx, 2);
    ASSERT_EQ(ums__drm_index_of_pci(devs, 3, 0, 3, 0, 0, &idx), 1);
    ASSERT_EQ(idx, 0);
    ASSERT_EQ(ums__drm_index_of_pci(devs, 3, 0, 4, 0, 0, &idx), 0);

    ASSERT_EQ(ums__drm_index_of_pci_bus_id(NULL, 3, "0000:03:00.0", &idx), -1);
    ASSERT_EQ(ums__drm_index_of_pci_bus_id(devs, 3, NULL, &idx), -1);
    ASSERT_EQ(ums__drm_index_of_pci_bus_id(devs, 3, "card0", &idx), -1);
    ASSERT_EQ(ums__drm_index_of_pci_bus_id(devs, 3, "0000:03:00.0", NULL), -1);
    ASSERT_EQ(ums__drm_index_of_pci(NULL, 3, 0, 3, 0, 0, &idx), -1);
    ASSERT_EQ(ums__drm_index_of_pci(devs, 3, 0, 3, 0, 0, NULL), -1);
    ASSERT_EQ(ums__drm_index_of_pci(devs, 3, 0, 0x100, 0, 0, &idx), -1);
    ASSERT_EQ(ums__drm_index_of_pci(devs, 3, 0, 3, 0x20, 0, &idx), -1);
    ASSERT_EQ(ums__drm_index_of_pci(devs, 3, 0, 3, 0, 8, &idx), -1);
}

int main(int argc, char **argv) {
    if (argc < 2) FAIL_("usage: %s PLACEMENT_FIXTURE_DIR", argv[0]);
    char xml[PATH_MAX];
    snprintf(xml, sizeof xml, "%s/two-gpus.xml", argv[1]);
    hwloc_topology_t topo = NULL;
    ASSERT_OK(ums__topology_load_xml(xml, &topo, NULL));

    snprintf(root, sizeof root, "/tmp/ums-drm-sysfs-XXXXXX");
    if (!mkdtemp(root)) FAIL_("mkdtemp: %s", strerror(errno));
    test_describe(topo);
    test_index_of();
    cleanup();
    hwloc_topology_destroy(topo);
    printf("drm match: ok\n");
    return 0;
}
