/* drm_check: list the DRM devices libdrm finds and check their number.
 *
 *   drm_check COUNT
 *
 * For each device: bus type, PCI address and ids, primary and render nodes,
 * and the kernel driver's name and version (drmGetVersion). A device with a
 * primary node must also create and destroy a dumb buffer there, which is
 * what a DRM backend relies on for host-visible device memory.
 * Exit status 0 when COUNT devices were found and all of them answered,
 * 1 otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>

static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      failures++;                                                              \
      printf("FAIL: " __VA_ARGS__);                                            \
      printf("\n");                                                            \
    }                                                                          \
  } while (0)

static const char *bus_name(int bus) {
  switch (bus) {
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

static void check_dumb(const char *path) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    CHECK(0, "open %s: %s", path, strerror(errno));
    return;
  }
  struct drm_mode_create_dumb create = {.width = 64, .height = 64, .bpp = 32};
  int r = drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &create);
  CHECK(r == 0, "%s: DRM_IOCTL_MODE_CREATE_DUMB: %s", path, strerror(errno));
  if (r == 0) {
    printf("  dumb buffer: handle %u, pitch %u, size %llu\n", create.handle,
           create.pitch, (unsigned long long)create.size);
    struct drm_mode_destroy_dumb destroy = {.handle = create.handle};
    r = drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
    CHECK(r == 0, "%s: DRM_IOCTL_MODE_DESTROY_DUMB: %s", path, strerror(errno));
  }
  close(fd);
}

static void show_device(int idx, drmDevicePtr dev) {
  printf("device %d: bus %s", idx, bus_name(dev->bustype));
  if (dev->bustype == DRM_BUS_PCI) {
    printf(" %04x:%02x:%02x.%u, vendor 0x%04x, device 0x%04x",
           dev->businfo.pci->domain, dev->businfo.pci->bus,
           dev->businfo.pci->dev, dev->businfo.pci->func,
           dev->deviceinfo.pci->vendor_id, dev->deviceinfo.pci->device_id);
  }
  printf("\n");

  const char *primary = (dev->available_nodes & (1 << DRM_NODE_PRIMARY))
                            ? dev->nodes[DRM_NODE_PRIMARY] : NULL;
  const char *render = (dev->available_nodes & (1 << DRM_NODE_RENDER))
                           ? dev->nodes[DRM_NODE_RENDER] : NULL;
  printf("  primary node: %s\n  render node: %s\n", primary ? primary : "none",
         render ? render : "none");
  CHECK(primary || render, "device %d has neither a primary nor a render node", idx);

  const char *path = render ? render : primary;
  if (path) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      CHECK(0, "open %s: %s", path, strerror(errno));
    } else {
      drmVersionPtr v = drmGetVersion(fd);
      CHECK(v != NULL, "drmGetVersion on %s failed", path);
      if (v) {
        printf("  driver: %s %d.%d.%d (%s)\n", v->name, v->version_major,
               v->version_minor, v->version_patchlevel, v->desc ? v->desc : "");
        drmFreeVersion(v);
      }
      close(fd);
    }
  }
  if (primary)
    check_dumb(primary);
}

int main(int argc, char **argv) {
  char *end = NULL;
  long want = argc == 2 ? strtol(argv[1], &end, 10) : -1;
  if (argc != 2 || *end || want < 0) {
    fprintf(stderr, "usage: drm_check COUNT\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  int n = drmGetDevices2(0, NULL, 0);
  if (n < 0) {
    /* No /dev/dri at all is how a machine without DRM devices looks. */
    printf("drmGetDevices2: %s\n", strerror(-n));
    n = 0;
  }
  drmDevicePtr *devs = NULL;
  if (n > 0) {
    devs = calloc((size_t)n, sizeof *devs);
    if (!devs) {
      printf("FAIL: out of memory\n");
      return 1;
    }
    n = drmGetDevices2(0, devs, n);
    if (n < 0) {
      printf("FAIL: drmGetDevices2: %s\n", strerror(-n));
      return 1;
    }
  }
  printf("DRM devices: %d (expected %ld)\n", n, want);
  CHECK(n == want, "%d DRM devices, expected %ld", n, want);
  for (int i = 0; i < n; i++)
    show_device(i, devs[i]);
  if (n > 0)
    drmFreeDevices(devs, n);
  free(devs);
  printf("drm_check: %s (%d failed)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
