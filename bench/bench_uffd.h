/* userfaultfd for the benchmarks' raw baselines: definitions newer than
 * Debian 12's linux/userfaultfd.h (UFFDIO_MOVE, Linux 6.8) and opening a
 * descriptor with the features the kernel has. */
#ifndef UMS_BENCH_UFFD_H
#define UMS_BENCH_UFFD_H

#include <fcntl.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
    __u64 mode;
    __s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef UFFDIO_MOVE_MODE_DONTWAKE
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#endif

/* Open a userfaultfd with the features of `want` the kernel has (*have).
 * The API handshake happens once per descriptor, so ask first, then open. */
static inline int bench_uffd_open(uint64_t want, uint64_t *have) {
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    *have = api.features & want;
    fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    api = (struct uffdio_api){.api = UFFD_API, .features = *have};
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int bench_uffd_move(int fd, void *dst, void *src, size_t len, int dontwake) {
    struct uffdio_move mv = {.dst = (uint64_t)(uintptr_t)dst, .src = (uint64_t)(uintptr_t)src, .len = len,
                             .mode = dontwake ? UFFDIO_MOVE_MODE_DONTWAKE : 0};
    return ioctl(fd, UFFDIO_MOVE, &mv);
}

#endif
