/* Bulk copies of migrations: a block's bytes go to memory that the copying
 * thread will not read again soon (staging pages, a device's memory), so
 * streaming stores that bypass the cache serve them better than memcpy, which
 * first reads every destination line into the cache. On the machines of
 * docs/PERFORMANCE.md a 2 MiB copy of cold data runs at about twice memcpy's
 * rate this way. */
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__SSE2__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
/* Sanitizer builds keep memcpy, which they check; tests/core/test_units.c
 * checks the streaming path in the other builds. */
#define UMS_COPY_STREAMING 1
#include <emmintrin.h>
#endif

#include "sys.h"

void ums__copy_bulk(void *dst, const void *src, size_t len) {
#ifdef UMS_COPY_STREAMING
    if (len >= UMS_COPY_STREAM_MIN) {
        char *d = dst;
        const char *s = src;
        size_t head = (16 - ((uintptr_t)d & 15)) & 15; /* streaming stores need 16-byte alignment */
        memcpy(d, s, head);
        d += head;
        s += head;
        len -= head;
        size_t n = len & ~(size_t)63;
        for (size_t i = 0; i < n; i += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
            __m128i e = _mm_loadu_si128((const __m128i *)(s + i + 48));
            _mm_stream_si128((__m128i *)(d + i), a);
            _mm_stream_si128((__m128i *)(d + i + 16), b);
            _mm_stream_si128((__m128i *)(d + i + 32), c);
            _mm_stream_si128((__m128i *)(d + i + 48), e);
        }
        /* streaming stores are weakly ordered: drain them before anyone (another
         * thread, a UFFDIO_MOVE of these pages) may look at the bytes */
        _mm_sfence();
        memcpy(d + n, s + n, len - n);
        return;
    }
#endif
    memcpy(dst, src, len);
}

bool ums__copy_bulk_streams(void) {
#ifdef UMS_COPY_STREAMING
    return true;
#else
    return false;
#endif
}
