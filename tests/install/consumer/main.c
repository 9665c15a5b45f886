/* A program built against an installed umshim: allocate, move, read back. */
#include <stdio.h>
#include <string.h>

#include <umshim.h>

int main(void) {
    ums_runtime_config cfg;
    ums_runtime_t *rt;
    if (ums_runtime_config_from_env(&cfg) != UMS_OK) return 1;
    cfg.sim = "count=1";
    cfg.opencl = 0;
    if (ums_runtime_create(&cfg, &rt) != UMS_OK) {
        fprintf(stderr, "runtime: %s\n", ums_last_error()->message);
        return 1;
    }
    ums_location_t dev;
    char *p;
    if (ums_location_find(rt, "sim0", &dev) != UMS_OK || ums_runtime_alloc(rt, 1 << 20, 0, (void **)&p) != UMS_OK)
        return 1;
    strcpy(p, "hello from managed memory");
    if (ums_migrate(p, 1 << 20, dev) != UMS_OK) return 1;
    int ok = strcmp(p, "hello from managed memory") == 0; /* faults the block back */
    printf("umshim %s consumer: %s\n", ums_version(), ok ? "ok" : "WRONG DATA");
    ums_free(p);
    ums_runtime_destroy(rt);
    return ok ? 0 : 1;
}
