/* What a test can see of its own process: open descriptors and threads, so it
 * can check that a failed or finished call left nothing behind. */
#ifndef UMS_TEST_PROCESS_STATE_H
#define UMS_TEST_PROCESS_STATE_H

#include <dirent.h>
#include <unistd.h>

static inline int count_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}
static inline int count_fds(void) { return count_dir("/proc/self/fd"); }
static inline int count_threads(void) { return count_dir("/proc/self/task"); }

/* A joined thread can linger in /proc/self/task for a moment: wait for the
 * count to settle to `expect` before reporting what is there. */
static inline int count_threads_settled(int expect) {
    int n = count_threads();
    for (int i = 0; i < 200 && n != expect; i++) {
        usleep(1000);
        n = count_threads();
    }
    return n;
}

#endif
