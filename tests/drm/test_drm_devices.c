/* ums_drm_devices() on this machine: no /dev/dri means 0 devices and success;
 * with devices (a guest with virtio-gpu), each one is described.
 * UMS_EXPECT_DRM_DRIVER=name (e.g. virtio_gpu) makes the test require a device
 * with that driver, matched to hwloc, for VM runs that know what they have. */
#include <sys/stat.h>

#include "test.h"

static void check_device(const ums_drm_device_info *d) {
    printf("drm: bus=%s pci=%s id=%04x:%04x primary=%s render=%s driver=%s vram=%" PRIu64 " gtt=%" PRIu64
           " numa=%d hwloc=%d\n",
           d->bus, d->pci_bus_id, d->vendor_id, d->device_id, d->primary_node, d->render_node, d->driver, d->vram_total,
           d->gtt_total, d->numa_node, d->hwloc_matched);
    ASSERT(d->bus[0] != '\0');
    ASSERT(d->primary_node[0] != '\0' || d->render_node[0] != '\0');
    if (d->primary_node[0]) ASSERT(strncmp(d->primary_node, "/dev/dri/", 9) == 0);
    if (d->render_node[0]) ASSERT(strncmp(d->render_node, "/dev/dri/", 9) == 0);
    if (strcmp(d->bus, "pci") == 0) {
        ASSERT_EQ(strlen(d->pci_bus_id), 12);
        ASSERT_NE(d->vendor_id, 0);
    } else {
        ASSERT_STR_EQ(d->pci_bus_id, "");
        ASSERT_EQ(d->hwloc_matched, 0);
    }
    ASSERT_GE(d->numa_node, -1);
    ASSERT(d->vram_visible <= d->vram_total || d->vram_total == 0);
}

int main(void) {
    size_t count = 12345;
    ASSERT_OK(ums_drm_devices(NULL, 0, &count));

    struct stat st;
    if (stat("/dev/dri", &st) != 0) {
        ASSERT_EQ(count, 0);
        ums_drm_device_info one;
        memset(&one, 0x5a, sizeof one);
        count = 7;
        ASSERT_OK(ums_drm_devices(&one, 1, &count));
        ASSERT_EQ(count, 0);
    }

    if (count > 0) {
        size_t cap = count + 2, total = 0;
        ums_drm_device_info *devs = calloc(cap, sizeof *devs);
        ASSERT(devs != NULL);
        ASSERT_OK(ums_drm_devices(devs, cap, &total));
        ASSERT_EQ(total, count);
        for (size_t i = 0; i < total; i++) check_device(&devs[i]);

        const char *want = getenv("UMS_EXPECT_DRM_DRIVER");
        if (want && want[0]) {
            size_t i;
            for (i = 0; i < total && strcmp(devs[i].driver, want) != 0; i++) {
            }
            if (i == total) FAIL_("no DRM device with driver %s among %zu", want, total);
            if (strcmp(devs[i].bus, "pci") == 0) ASSERT_EQ(devs[i].hwloc_matched, 1);
            ASSERT_GE(devs[i].numa_node, 0);
        }

        /* A smaller array: the first entries, the total, and BUFFER_TOO_SMALL. */
        if (total >= 2) {
            ums_drm_device_info first;
            size_t again = 0;
            ASSERT_RESULT(UMS_ERR_BUFFER_TOO_SMALL, ums_drm_devices(&first, 1, &again));
            ASSERT_EQ(again, total);
            ASSERT_STR_EQ(first.primary_node, devs[0].primary_node);
        }
        free(devs);
    } else {
        const char *want = getenv("UMS_EXPECT_DRM_DRIVER");
        if (want && want[0]) FAIL_("UMS_EXPECT_DRM_DRIVER=%s but no DRM device was found", want);
    }

    /* Bad input. */
    ums_drm_device_info dummy;
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums_drm_devices(NULL, 0, NULL));
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums_drm_devices(&dummy, 1, NULL));
    count = 99;
    ASSERT_RESULT(UMS_ERR_NULL_POINTER, ums_drm_devices(NULL, 3, &count));
    ASSERT_EQ(count, 99); /* a rejected call writes nothing */
    ASSERT_EQ(ums_last_error()->code, UMS_ERR_NULL_POINTER);
    ASSERT_STR_EQ(ums_last_error()->function, "ums_drm_devices");
    ASSERT_OK(ums_drm_devices(&dummy, 0, &count)); /* cap 0: a query, out is not touched */

    printf("drm devices: %zu, ok\n", count);
    return 0;
}
