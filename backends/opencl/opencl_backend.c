/*
 * The opencl backend: every device of every OpenCL platform the ICD loader
 * finds is one device location. This file holds start-up (configuration,
 * enumeration, contexts and queues), shut-down, location queries and the ops
 * table; memory is in opencl_mem.c, transfers in opencl_copy.c, the interop
 * entry points in opencl_interop.c.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl_internal.h"

#define DEFAULT_POOL_LIMIT (256ull << 20)

/* ---- services -------------------------------------------------------- */

void ums__opencl_log(ums__opencl *cl, int level, const char *fmt, ...) {
    if (!cl || !cl->svc || !cl->svc->log)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cl->svc->log(cl->svc->core, level, "opencl: %s", buf);
}

ums_result ums__opencl_fail(ums__opencl *cl, ums_result code, int native, const char *fmt, ...) {
    if (!cl || !cl->svc || !cl->svc->set_error)
        return code;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cl->svc->set_error(cl->svc->core, code, native, "%s", buf);
    return code;
}

ums_result ums__opencl_fail_cl(ums__opencl *cl, cl_int err, const char *what, const ums__opencl_loc *loc) {
    ums_result r = ums__opencl_result(err);
    if (r == UMS_OK) /* a caller bug; never report success for a failure */
        r = UMS_ERR_OPENCL;
    if (loc)
        return ums__opencl_fail(cl, r, err, "%s failed on %s (%s): %s (%d)", what, loc->name, loc->device_name,
                                ums__opencl_error_name(err), (int)err);
    return ums__opencl_fail(cl, r, err, "%s failed: %s (%d)", what, ums__opencl_error_name(err), (int)err);
}

/* ---- configuration --------------------------------------------------- */

typedef struct config {
    cl_device_type types;
    char platform[128]; /* substring of the platform name, "" = any */
    uint64_t capacity;  /* 0 = the device's */
    uint64_t pool;
    unsigned streams;   /* 0 = per device: its compute units on a CPU device, else 1 */
} config;

/* "123", "64K", "2M", "1G", "1T" → bytes. */
static int parse_size(const char *s, size_t n, uint64_t *out) {
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!isdigit((unsigned char)buf[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    case 't':
    case 'T':
        shift = 40;
        end++;
        break;
    default: return -1;
    }
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_types(const char *s, size_t n, cl_device_type *out) {
    static const struct {
        const char *name;
        cl_device_type type;
    } names[] = {
        {"all", CL_DEVICE_TYPE_ALL}, {"default", CL_DEVICE_TYPE_DEFAULT},         {"cpu", CL_DEVICE_TYPE_CPU},
        {"gpu", CL_DEVICE_TYPE_GPU}, {"accelerator", CL_DEVICE_TYPE_ACCELERATOR}, {"custom", CL_DEVICE_TYPE_CUSTOM}};
    cl_device_type t = 0;
    while (n > 0) {
        size_t k = 0;
        while (k < n && s[k] != '+')
            k++;
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == k && strncmp(names[i].name, s, k) == 0)
                break;
        if (i == sizeof names / sizeof names[0])
            return -1;
        t |= names[i].type;
        s += k;
        n -= k;
        if (n > 0) { /* skip '+', which must be followed by a name */
            s++;
            n--;
            if (n == 0)
                return -1;
        }
    }
    if (t == 0)
        return -1;
    *out = t;
    return 0;
}

static ums_result parse_config(ums__opencl *cl, const char *text, config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->types = CL_DEVICE_TYPE_ALL;
    cfg->pool = DEFAULT_POOL_LIMIT;
    if (!text)
        return UMS_OK;
    const char *p = text;
    while (*p) {
        const char *item = p;
        size_t len = strcspn(p, ",");
        p += len;
        if (*p == ',')
            p++;
        if (len == 0)
            continue;
        const char *eq = memchr(item, '=', len);
        if (!eq)
            return ums__opencl_fail(cl, UMS_ERR_CONFIG, 0, "configuration item \"%.*s\" is not key=value", (int)len,
                                    item);
        size_t klen = (size_t)(eq - item);
        const char *val = eq + 1;
        size_t vlen = len - klen - 1;
        int bad;
        if (klen == 7 && strncmp(item, "devices", 7) == 0) {
            bad = parse_types(val, vlen, &cfg->types);
        } else if (klen == 8 && strncmp(item, "platform", 8) == 0) {
            bad = vlen >= sizeof cfg->platform;
            if (!bad) {
                memcpy(cfg->platform, val, vlen);
                cfg->platform[vlen] = '\0';
            }
        } else if (klen == 8 && strncmp(item, "capacity", 8) == 0) {
            bad = parse_size(val, vlen, &cfg->capacity) || cfg->capacity == 0;
        } else if (klen == 4 && strncmp(item, "pool", 4) == 0) {
            bad = parse_size(val, vlen, &cfg->pool);
        } else if (klen == 7 && strncmp(item, "streams", 7) == 0) {
            bad = vlen != 1 || val[0] < '1' || val[0] > '0' + UMS__OPENCL_STREAMS_MAX;
            if (!bad)
                cfg->streams = (unsigned)(val[0] - '0');
        } else {
            return ums__opencl_fail(
                cl, UMS_ERR_CONFIG, 0,
                "unknown configuration key \"%.*s\" (known: devices, platform, capacity, pool, streams)", (int)klen,
                item);
        }
        if (bad)
            return ums__opencl_fail(cl, UMS_ERR_CONFIG, 0, "bad configuration value \"%.*s\"", (int)len, item);
    }
    return UMS_OK;
}

/* ---- enumeration ----------------------------------------------------- */

/* A string property of a device (when `dev` is given) or of a platform, whatever
 * its length, in a new buffer the caller frees. */
static cl_int info_string(cl_platform_id plat, cl_device_id dev, cl_uint param, char **out) {
    size_t n = 0;
    *out = NULL;
    cl_int err = dev ? UMS_CL(clGetDeviceInfo)(dev, param, 0, NULL, &n)
                     : UMS_CL(clGetPlatformInfo)(plat, param, 0, NULL, &n);
    if (err != CL_SUCCESS)
        return err;
    char *s = malloc(n + 1);
    if (!s)
        return CL_OUT_OF_HOST_MEMORY;
    err = dev ? UMS_CL(clGetDeviceInfo)(dev, param, n, s, NULL) : UMS_CL(clGetPlatformInfo)(plat, param, n, s, NULL);
    if (err != CL_SUCCESS) {
        free(s);
        return err;
    }
    s[n] = '\0';
    *out = s;
    return CL_SUCCESS;
}

/* "OpenCL 3.0 ..." → 3; 1 when unreadable. */
static int device_major_version(cl_device_id dev) {
    char *v;
    int major = 1, minor = 0;
    if (info_string(NULL, dev, CL_DEVICE_VERSION, &v) != CL_SUCCESS)
        return 1;
    if (sscanf(v, "OpenCL %d.%d", &major, &minor) != 2)
        major = 1;
    free(v);
    return major;
}

static cl_int device_info(cl_device_id dev, cl_device_info param, size_t size, void *value) {
    return UMS_CL(clGetDeviceInfo)(dev, param, size, value, NULL);
}

/* Whether a device lists an extension (space-separated list). */
static int has_extension(cl_device_id dev, const char *ext) {
    char *list;
    if (info_string(NULL, dev, CL_DEVICE_EXTENSIONS, &list) != CL_SUCCESS)
        return 0;
    int found = 0;
    size_t elen = strlen(ext);
    for (const char *p = list; (p = strstr(p, ext)) != NULL; p += elen) {
        if ((p == list || p[-1] == ' ') && (p[elen] == ' ' || p[elen] == '\0')) {
            found = 1;
            break;
        }
    }
    free(list);
    return found;
}

/* Fill one location from its device. */
static ums_result describe_device(ums__opencl *cl, const config *cfg, ums__opencl_loc *loc) {
    cl_int err;
    cl_ulong global = 0, max_alloc = 0;
    cl_bool unified = CL_FALSE;

    snprintf(loc->name, sizeof loc->name, "cl%" PRIu32, loc->index);
    char *dname;
    if ((err = info_string(NULL, loc->device, CL_DEVICE_NAME, &dname)) != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clGetDeviceInfo(CL_DEVICE_NAME)", loc);
    snprintf(loc->device_name, sizeof loc->device_name, "%s", dname);
    free(dname);
    if ((err = device_info(loc->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global)) != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_SIZE)", loc);
    if ((err = device_info(loc->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc)) != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clGetDeviceInfo(CL_DEVICE_MAX_MEM_ALLOC_SIZE)", loc);
    /* Deprecated since 2.0 but still answered; a device that refuses it is not unified. */
    if (device_info(loc->device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified) != CL_SUCCESS)
        unified = CL_FALSE;

    /* Copy streams: a CPU device (POCL) runs commands of different queues on
     * different worker threads, one per compute unit, so a large transfer split
     * over them copies with several cores; elsewhere one queue unless configured. */
    cl_device_type type = 0;
    cl_uint units = 1;
    if (device_info(loc->device, CL_DEVICE_TYPE, sizeof type, &type) != CL_SUCCESS)
        type = 0;
    if (device_info(loc->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units) != CL_SUCCESS || units == 0)
        units = 1;
    unsigned per_device = 1;
    if (type & CL_DEVICE_TYPE_CPU)
        per_device = units < UMS__OPENCL_STREAMS_MAX ? units : UMS__OPENCL_STREAMS_MAX;
    loc->streams = cfg->streams ? cfg->streams : per_device;

    loc->capacity = global;
    loc->max_alloc = max_alloc ? max_alloc : global;
    loc->flags = unified ? UMS_LOCATION_FLAG_HOST_ACCESS : 0;
    if (cfg->capacity && cfg->capacity < global) {
        loc->capacity = cfg->capacity;
        loc->flags |= UMS_LOCATION_FLAG_CONFIGURED;
    }

    loc->pci_bus_id[0] = '\0';
    if (has_extension(loc->device, "cl_khr_pci_bus_info")) {
        cl_device_pci_bus_info_khr pci;
        if (device_info(loc->device, CL_DEVICE_PCI_BUS_INFO_KHR, sizeof pci, &pci) == CL_SUCCESS)
            snprintf(loc->pci_bus_id, sizeof loc->pci_bus_id, "%04x:%02x:%02x.%x", pci.pci_domain & 0xffffu,
                     pci.pci_bus & 0xffu, pci.pci_device & 0x1fu, pci.pci_function & 0x7u);
    }
    return UMS_OK;
}

/* Append the selected, available devices of platform `plat` (named `pname`) as locations. */
static ums_result add_devices(ums__opencl *cl, const config *cfg, cl_platform_id plat, const char *pname,
                              uint32_t *cap) {
    cl_uint ndev = 0;
    cl_int err = UMS_CL(clGetDeviceIDs)(plat, cfg->types, 0, NULL, &ndev);
    if (err == CL_DEVICE_NOT_FOUND || (err == CL_SUCCESS && ndev == 0))
        return UMS_OK;
    if (err != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clGetDeviceIDs", NULL);
    cl_device_id *devs = calloc(ndev, sizeof *devs);
    if (!devs)
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of memory listing OpenCL devices");
    if ((err = UMS_CL(clGetDeviceIDs)(plat, cfg->types, ndev, devs, &ndev)) != CL_SUCCESS) {
        free(devs);
        return ums__opencl_fail_cl(cl, err, "clGetDeviceIDs", NULL);
    }

    ums_result r = UMS_OK;
    for (cl_uint i = 0; i < ndev && r == UMS_OK; i++) {
        cl_bool avail = CL_TRUE;
        if (device_info(devs[i], CL_DEVICE_AVAILABLE, sizeof avail, &avail) == CL_SUCCESS && !avail)
            continue;
        if (cl->nloc >= UMS_MAX_LOCATIONS) {
            ums__opencl_log(cl, UMS_LOG_WARN, "more than %u devices; the rest are ignored", UMS_MAX_LOCATIONS);
            break;
        }
        if (cl->nloc == *cap) {
            uint32_t ncap = *cap ? *cap * 2 : 4;
            ums__opencl_loc *n = realloc(cl->locs, ncap * sizeof *n);
            if (!n) {
                r = ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of memory listing OpenCL devices");
                break;
            }
            cl->locs = n;
            *cap = ncap;
        }
        ums__opencl_loc *loc = &cl->locs[cl->nloc];
        memset(loc, 0, sizeof *loc);
        loc->index = cl->nloc;
        loc->platform = plat;
        loc->device = devs[i];
        r = describe_device(cl, cfg, loc);
        if (r == UMS_OK) {
            cl->nloc++;
            ums__opencl_log(cl, UMS_LOG_INFO, "%s: %s on \"%s\", %" PRIu64 " MiB%s%s%s", loc->name, loc->device_name,
                            pname, loc->capacity >> 20,
                            (loc->flags & UMS_LOCATION_FLAG_HOST_ACCESS) ? ", host-unified" : "",
                            loc->pci_bus_id[0] ? ", PCI " : "", loc->pci_bus_id);
        }
    }
    free(devs);
    return r;
}

/* Append the locations of one platform, unless the configuration leaves it out. */
static ums_result add_platform(ums__opencl *cl, const config *cfg, cl_platform_id plat, uint32_t *cap) {
    char *pname;
    cl_int err = info_string(plat, NULL, CL_PLATFORM_NAME, &pname);
    if (err != CL_SUCCESS)
        return ums__opencl_fail_cl(cl, err, "clGetPlatformInfo(CL_PLATFORM_NAME)", NULL);
    ums_result r = UMS_OK;
    if (cfg->platform[0] && !strstr(pname, cfg->platform))
        ums__opencl_log(cl, UMS_LOG_INFO, "platform \"%s\" skipped (platform=%s)", pname, cfg->platform);
    else
        r = add_devices(cl, cfg, plat, pname, cap);
    free(pname);
    return r;
}

/* ---- contexts and queues --------------------------------------------- */

/** Create the backend's in-order queue for `loc` in `context`. */
cl_int ums__opencl_create_queue(cl_context context, const ums__opencl_loc *loc, cl_command_queue *out) {
    cl_int err = CL_SUCCESS;
    if (device_major_version(loc->device) >= 2)
        *out = UMS_CL(clCreateCommandQueueWithProperties)(context, loc->device, NULL, &err);
    else
        *out = UMS_CL(clCreateCommandQueue)(context, loc->device, 0, &err);
    if (!*out && err == CL_SUCCESS)
        err = CL_OUT_OF_RESOURCES;
    return *out ? CL_SUCCESS : err;
}

void ums__opencl_create_side_queues(ums__opencl *cl, ums__opencl_domain *dom, const ums__opencl_loc *loc) {
    if (loc->streams <= 1)
        return;
    cl_int err = CL_SUCCESS;
    unsigned have = 1; /* streams usable in `dom`: its first queue, then each side queue made */
    if (!dom->side && !(dom->side = calloc((size_t)cl->nloc * (UMS__OPENCL_STREAMS_MAX - 1), sizeof *dom->side)))
        err = CL_OUT_OF_HOST_MEMORY;
    for (; err == CL_SUCCESS && have < loc->streams; have++) {
        cl_command_queue *q = &dom->side[loc->index * (UMS__OPENCL_STREAMS_MAX - 1) + (have - 1)];
        if (!*q)
            err = ums__opencl_create_queue(dom->context, loc, q);
        if (err != CL_SUCCESS)
            break;
    }
    if (err != CL_SUCCESS)
        /* Fewer streams, not fewer devices: a transfer is split over the queues there are. */
        ums__opencl_log(cl, UMS_LOG_WARN, "%s: %u of %u copy streams in a context: creating a queue failed: %s (%d)",
                        loc->name, have, loc->streams, ums__opencl_error_name(err), (int)err);
}

void ums__opencl_domain_destroy(ums__opencl *cl, ums__opencl_domain *dom) {
    if (!dom)
        return;
    if (dom->side) {
        for (size_t k = 0; k < (size_t)cl->nloc * (UMS__OPENCL_STREAMS_MAX - 1); k++) {
            if (!dom->side[k])
                continue;
            UMS_CL(clFinish)(dom->side[k]); /* always the backend's own */
            UMS_CL(clReleaseCommandQueue)(dom->side[k]);
        }
        free(dom->side);
    }
    if (dom->queues) {
        for (uint32_t i = 0; i < cl->nloc; i++) {
            if (!dom->queues[i])
                continue;
            /* Our own queues are drained; an application's queue may carry its work. */
            if (!dom->attached)
                UMS_CL(clFinish)(dom->queues[i]);
            UMS_CL(clReleaseCommandQueue)(dom->queues[i]);
        }
        free(dom->queues);
    }
    if (dom->context)
        UMS_CL(clReleaseContext)(dom->context);
    free(dom);
}

/* One context for every location of a platform, and a queue per location. */
static ums_result create_platform_domain(ums__opencl *cl, cl_platform_id plat) {
    cl_device_id devs[UMS_MAX_LOCATIONS];
    cl_uint n = 0;
    for (uint32_t i = 0; i < cl->nloc; i++)
        if (cl->locs[i].platform == plat)
            devs[n++] = cl->locs[i].device;

    ums__opencl_domain *dom = calloc(1, sizeof *dom);
    if (dom)
        dom->queues = calloc(cl->nloc, sizeof *dom->queues);
    if (!dom || !dom->queues) {
        free(dom);
        return ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of memory creating an OpenCL context");
    }
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)plat, 0};
    cl_int err = CL_SUCCESS;
    dom->context = UMS_CL(clCreateContext)(props, n, devs, NULL, NULL, &err);
    if (!dom->context) {
        ums__opencl_domain_destroy(cl, dom);
        return ums__opencl_fail_cl(cl, err ? err : CL_OUT_OF_RESOURCES, "clCreateContext", NULL);
    }
    for (uint32_t i = 0; i < cl->nloc; i++) {
        ums__opencl_loc *loc = &cl->locs[i];
        if (loc->platform != plat)
            continue;
        if ((err = ums__opencl_create_queue(dom->context, loc, &dom->queues[i])) != CL_SUCCESS) {
            ums__opencl_domain_destroy(cl, dom);
            return ums__opencl_fail_cl(cl, err, "creating a command queue", loc);
        }
        ums__opencl_create_side_queues(cl, dom, loc);
    }
    for (uint32_t i = 0; i < cl->nloc; i++)
        if (cl->locs[i].platform == plat)
            cl->locs[i].domain = dom;
    dom->next = cl->domains;
    cl->domains = dom;
    return UMS_OK;
}

/* ---- init / fini ----------------------------------------------------- */

static void opencl_fini(void *backend);

static ums_result opencl_init(const ums_backend_services *svc, const char *config_text, void **backend) {
    if (!svc || !backend)
        return UMS_ERR_NULL_POINTER;
    *backend = NULL;
    if ((svc->abi_version >> 16) != UMS_BACKEND_ABI_MAJOR ||
        svc->struct_size < offsetof(ums_backend_services, set_error) + sizeof svc->set_error)
        return UMS_ERR_ABI_MISMATCH;

    ums__opencl *cl = calloc(1, sizeof *cl);
    if (!cl) {
        if (svc->set_error)
            svc->set_error(svc->core, UMS_ERR_NO_MEMORY, ENOMEM, "out of memory starting the opencl backend");
        return UMS_ERR_NO_MEMORY;
    }
    cl->svc = svc;
    pthread_mutex_init(&cl->lock, NULL);

    config cfg;
    ums_result r = parse_config(cl, config_text, &cfg);
    if (r != UMS_OK) {
        opencl_fini(cl);
        return r;
    }
    cl->pool_limit = cfg.pool;

    cl_uint nplat = 0;
    cl_platform_id *plats = NULL;
    cl_int err = UMS_CL(clGetPlatformIDs)(0, NULL, &nplat);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && nplat == 0)) {
        ums__opencl_log(cl, UMS_LOG_INFO, "no OpenCL platform found");
        nplat = 0;
    } else if (err != CL_SUCCESS) {
        r = ums__opencl_fail_cl(cl, err, "clGetPlatformIDs", NULL);
    } else if (!(plats = calloc(nplat, sizeof *plats))) {
        r = ums__opencl_fail(cl, UMS_ERR_NO_MEMORY, ENOMEM, "out of memory listing OpenCL platforms");
    } else if ((err = UMS_CL(clGetPlatformIDs)(nplat, plats, &nplat)) != CL_SUCCESS) {
        r = ums__opencl_fail_cl(cl, err, "clGetPlatformIDs", NULL);
    }

    uint32_t cap = 0;
    for (cl_uint p = 0; p < nplat && r == UMS_OK; p++)
        r = add_platform(cl, &cfg, plats[p], &cap);
    for (uint32_t i = 0; i < cl->nloc; i++)
        pthread_mutex_init(&cl->locs[i].lock, NULL);
    for (cl_uint p = 0; p < nplat && r == UMS_OK; p++) {
        int used = 0;
        for (uint32_t i = 0; i < cl->nloc && !used; i++)
            used = cl->locs[i].platform == plats[p];
        if (used)
            r = create_platform_domain(cl, plats[p]);
    }
    free(plats);
    if (r != UMS_OK) {
        opencl_fini(cl);
        return r;
    }
    *backend = cl;
    return UMS_OK;
}

static void opencl_fini(void *backend) {
    ums__opencl *cl = backend;
    if (!cl)
        return;
    for (uint32_t i = 0; i < cl->nloc; i++) {
        ums__opencl_loc_release_regions(cl, &cl->locs[i]);
        ums__opencl_loc_release_all(cl, &cl->locs[i]);
    }
    while (cl->domains) {
        ums__opencl_domain *d = cl->domains;
        cl->domains = d->next;
        ums__opencl_domain_destroy(cl, d);
    }
    for (uint32_t i = 0; i < cl->nloc; i++)
        pthread_mutex_destroy(&cl->locs[i].lock);
    free(cl->locs);
    pthread_mutex_destroy(&cl->lock);
    free(cl);
}

/* ---- locations ------------------------------------------------------- */

static ums_result opencl_location_count(void *backend, uint32_t *count) {
    ums__opencl *cl = backend;
    if (!cl || !count)
        return UMS_ERR_NULL_POINTER;
    *count = cl->nloc;
    return UMS_OK;
}

static ums_result opencl_location_describe(void *backend, uint32_t index, ums_backend_location *out) {
    ums__opencl *cl = backend;
    if (!cl || !out)
        return UMS_ERR_NULL_POINTER;
    if (index >= cl->nloc)
        return ums__opencl_fail(cl, UMS_ERR_UNKNOWN_LOCATION, 0, "location %" PRIu32 " of %" PRIu32, index, cl->nloc);
    uint32_t size = out->struct_size;
    if (size < offsetof(ums_backend_location, name))
        return ums__opencl_fail(cl, UMS_ERR_INVALID_ARG, 0, "location struct_size %" PRIu32 " is too small", size);

    const ums__opencl_loc *loc = &cl->locs[index];
    ums_backend_location d;
    memset(&d, 0, sizeof d);
    d.kind = UMS_LOCATION_DEVICE;
    snprintf(d.name, sizeof d.name, "%s", loc->name);
    d.capacity = loc->capacity;
    d.bandwidth_mbps = 0;
    d.latency_ns = 0;
    d.numa_node = -1; /* the core finds it from the PCI bus id, when there is one */
    snprintf(d.pci_bus_id, sizeof d.pci_bus_id, "%s", loc->pci_bus_id);
    d.flags = loc->flags;
    /* Fill only what the caller's (possibly older, smaller) struct holds. */
    size_t n = size < sizeof d ? size : sizeof d;
    memcpy((char *)out + sizeof out->struct_size, (char *)&d + sizeof d.struct_size, n - sizeof d.struct_size);
    return UMS_OK;
}

/* ---- the table ------------------------------------------------------- */

static const ums_backend_ops opencl_ops = {
    .abi_version = UMS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(ums_backend_ops),
    .name = "opencl",
    .init = opencl_init,
    .fini = opencl_fini,
    .location_count = opencl_location_count,
    .location_describe = opencl_location_describe,
    .mem_alloc = ums__opencl_mem_alloc,
    .mem_free = ums__opencl_mem_free,
    .copy_to = ums__opencl_copy_to,
    .copy_from = ums__opencl_copy_from,
    .fence_wait = ums__opencl_fence_wait,
    .copy_peer = ums__opencl_copy_peer,
    .mem_host_ptr = NULL, /* device buffers are not host-addressable in general */
    .capacity = ums__opencl_capacity,
    .poll_hints = NULL, /* OpenCL reports no access counts */
    .mem_alloc_region = ums__opencl_mem_alloc_region,
    .region_release = ums__opencl_region_release,
    .copy_to_many = ums__opencl_copy_to_many,
    .copy_from_many = ums__opencl_copy_from_many,
};

const ums_backend_ops *ums__opencl_backend_entry(void) {
    return &opencl_ops;
}
