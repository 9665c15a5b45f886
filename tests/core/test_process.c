/* Process-level behaviour: kernel-mode access to managed memory (read(2) and
 * write(2)), fork(), and chaining of SIGSEGV to the application's handler for
 * addresses outside managed memory. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static sigjmp_buf jb;
static volatile sig_atomic_t app_handler_ran;
static void app_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    app_handler_ran = 1;
    siglongjmp(jb, 1);
}

int main(void) {
    /* the application's own SIGSEGV handler is installed before the runtime */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = app_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.sim = "count=1";
    cfg.opencl = 0;
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    ums_fault_mode mode = ums_runtime_fault_mode(rt);
    ums_location_t dev;
    ASSERT_OK(ums_location_find(rt, "sim0", &dev));
    size_t bs = ums_runtime_block_size(rt);
    char *p;
    ASSERT_OK(ums_runtime_alloc(rt, 2 * bs, 0, (void **)&p));
    memset(p, 'a', 2 * bs);

    /* 1. write(2) from a device-resident block, read(2) into one */
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_OK(ums_migrate(p, 2 * bs, dev));
    ssize_t n = write(fds[1], p, 100);
    if (mode == UMS_FAULT_UFFD) {
        /* the kernel's copy faults like a CPU access and is served */
        ASSERT_EQ(n, 100);
        char tmp[100];
        ASSERT_EQ(read(fds[0], tmp, 100), 100);
        ASSERT_EQ(tmp[99], 'a');
        ASSERT_OK(ums_migrate(p, 2 * bs, dev));
        ASSERT_EQ(write(fds[1], "zzzz", 4), 4);
        ASSERT_EQ(read(fds[0], p + bs + 10, 4), 4); /* into a device-resident block */
        ASSERT_EQ(p[bs + 10], 'z');
        ASSERT_EQ(p[bs + 9], 'a');
        printf("kernel-mode access: served (uffd)\n");
    } else {
        /* signal mode: the kernel cannot raise a signal for its own access */
        ASSERT_EQ(n, -1);
        ASSERT_EQ(errno, EFAULT);
        printf("kernel-mode access: EFAULT (signal mode), as documented\n");
        (void)*(volatile char *)p; /* a CPU touch brings it back; then the system call works */
        ASSERT_EQ(write(fds[1], p, 100), 100);
    }
    close(fds[0]);
    close(fds[1]);

    /* 2. fork: the child does not inherit managed memory (MADV_DONTFORK) */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        volatile char c = p[0]; /* unmapped in the child */
        (void)c;
        _exit(0);
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    ASSERT_EQ(p[1], 'a'); /* the parent is unaffected */
    printf("fork: the child faults on managed memory, the parent keeps it\n");

    /* 3. a fault outside managed memory reaches the application's handler */
    char *guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(guard != MAP_FAILED);
    if (sigsetjmp(jb, 1) == 0) {
        volatile char c = guard[0];
        (void)c;
        FAIL_("read of a PROT_NONE page did not fault");
    }
    ASSERT_EQ(app_handler_ran, 1);
    munmap(guard, 4096);
    printf("foreign faults chained to the application's handler\n");

    ASSERT_OK(ums_free(p));
    ASSERT_OK(ums_runtime_destroy(rt));
    return 0;
}
