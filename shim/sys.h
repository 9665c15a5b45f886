/* Every system call the core makes goes through this table, so tests can make
 * the Nth call of any of them fail (see include/umshim/testing.h). */
#ifndef UMS_SYS_H
#define UMS_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "umshim/result.h"

/* Injection points. The order matches the names in sys.c. */
typedef enum ums__sysid {
    UMS_SYS_MMAP,
    UMS_SYS_MUNMAP,
    UMS_SYS_MPROTECT,
    UMS_SYS_MADVISE,
    UMS_SYS_MREMAP,
    UMS_SYS_MBIND,
    UMS_SYS_USERFAULTFD,
    UMS_SYS_UFFD_API,
    UMS_SYS_UFFD_REGISTER,
    UMS_SYS_UFFD_UNREGISTER,
    UMS_SYS_UFFD_COPY,
    UMS_SYS_UFFD_ZEROPAGE,
    UMS_SYS_UFFD_MOVE,
    UMS_SYS_UFFD_WP,
    UMS_SYS_UFFD_WAKE,
    UMS_SYS_PIPE,
    UMS_SYS_THREAD_CREATE,
    UMS_SYS_CALLOC,
    UMS_OP_INIT,
    UMS_OP_LOCATION_COUNT,
    UMS_OP_LOCATION_DESCRIBE,
    UMS_OP_MEM_ALLOC,
    UMS_OP_COPY_TO,
    UMS_OP_COPY_FROM,
    UMS_OP_COPY_PEER,
    UMS_OP_FENCE_WAIT,
    UMS_OP_COPY_TO_MANY,
    UMS_OP_COPY_FROM_MANY,
    UMS_SYS_COUNT
} ums__sysid;

/* Returns the error to inject for this call of `id` (errno or ums_result), or 0. */
int ums__inject_check(ums__sysid id);

void *ums__sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int ums__sys_munmap(void *addr, size_t len);
int ums__sys_mprotect(void *addr, size_t len, int prot);
int ums__sys_madvise(void *addr, size_t len, int advice);
void *ums__sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
long ums__sys_mbind(void *addr, size_t len, int mode, const unsigned long *mask, unsigned long maxnode,
                    unsigned flags);
int ums__sys_userfaultfd(int flags);
/* ioctl on a userfaultfd; `id` names the injection point. Retries EAGAIN. */
int ums__sys_uffd_ioctl(ums__sysid id, int fd, unsigned long req, void *arg);
int ums__sys_pipe(int fds[2]);
int ums__sys_thread_create(void *thread, void *(*fn)(void *), void *arg);
void *ums__calloc(size_t n, size_t size);
/* Anonymous read/write memory aligned to min(size, 2 MiB) and eligible for
 * transparent huge pages, so a 2 MiB staging block is one huge page that
 * UFFDIO_MOVE can move as a single page-table entry. NULL (errno set) on failure;
 * free with munmap(p, size). */
void *ums__map_staging(size_t size);
/* Copies from UMS_COPY_STREAM_MIN bytes on use streaming stores (shim/copy.c). */
#define UMS_COPY_STREAM_MIN ((size_t)64 << 10)
/* memcpy for a migration's bulk copies: from UMS_COPY_STREAM_MIN bytes on, with
 * streaming (cache-bypassing) stores where the CPU has them; the bytes are
 * visible to other threads when it returns. */
void ums__copy_bulk(void *dst, const void *src, size_t len);
/* Whether ums__copy_bulk has a streaming path in this build. */
bool ums__copy_bulk_streams(void);

#endif
