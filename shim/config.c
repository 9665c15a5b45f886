/* Runtime configuration: defaults and the UMS_* environment variables. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

ums_result ums__parse_size(const char *s, size_t *out) {
    if (!s || !*s) return UMS_ERR_CONFIG;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') return UMS_ERR_CONFIG;
    unsigned shift = 0;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return UMS_ERR_CONFIG;
        }
        end++;
        if (*end == 'i' || *end == 'I') end++;
        if (*end == 'b' || *end == 'B') end++;
        if (*end) return UMS_ERR_CONFIG;
    }
    if (shift && v > (~0ull >> shift)) return UMS_ERR_CONFIG;
    *out = (size_t)(v << shift);
    return UMS_OK;
}

UMS_API ums_result ums_runtime_config_init(ums_runtime_config *cfg) {
    if (!cfg) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "cfg is NULL");
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->fault_mode = UMS_FAULT_AUTO;
    cfg->protocol = UMS_PROTOCOL_READABLE;
    cfg->migrate_write = UMS_MIGRATE_WRITE_WAIT;
    cfg->block_size = 0;
    cfg->log_level = UMS_LOG_OFF;
    cfg->workers = 0;
    cfg->host_backend = 1;
    cfg->opencl = 1;
    return UMS_OK;
}

static int pick(const char *v, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcasecmp(v, names[i]) == 0) return i;
    return -1;
}

UMS_API ums_result ums_runtime_config_from_env(ums_runtime_config *cfg) {
    if (!cfg) return ums__fail(__func__, "core", UMS_ERR_NULL_POINTER, 0, "cfg is NULL");
    ums_runtime_config_init(cfg);
    ums_result bad = UMS_OK;
    const char *v;
    if ((v = getenv("UMS_FAULT")) && *v) {
        static const char *const n[] = {"auto", "uffd", "signal"};
        int i = pick(v, n, 3);
        if (i < 0) bad = ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "UMS_FAULT='%s': expected auto, uffd or signal", v);
        else cfg->fault_mode = (ums_fault_mode)i;
    }
    if ((v = getenv("UMS_PROTOCOL")) && *v) {
        static const char *const n[] = {"readable", "blocking"};
        int i = pick(v, n, 2);
        if (i < 0) bad = ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "UMS_PROTOCOL='%s': expected readable or blocking", v);
        else cfg->protocol = (ums_protocol)i;
    }
    if ((v = getenv("UMS_MIGRATE_WRITE")) && *v) {
        static const char *const n[] = {"wait", "abort"};
        int i = pick(v, n, 2);
        if (i < 0) bad = ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "UMS_MIGRATE_WRITE='%s': expected wait or abort", v);
        else cfg->migrate_write = (ums_migrate_write)i;
    }
    if ((v = getenv("UMS_RO_INSTALL")) && *v) {
        static const char *const n[] = {"move", "copy"};
        int i = pick(v, n, 2);
        if (i < 0) bad = ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "UMS_RO_INSTALL='%s': expected move or copy", v);
        else cfg->read_only_install = (ums_ro_install)i;
    }
    if ((v = getenv("UMS_BLOCK_SIZE")) && *v) {
        size_t sz;
        if (ums__parse_size(v, &sz) != UMS_OK || sz == 0)
            bad = ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "UMS_BLOCK_SIZE='%s': expected a size such as 64K or 2M", v);
        else cfg->block_size = sz;
    }
    if ((v = getenv("UMS_LOG")) && *v) {
        static const char *const n[] = {"off", "error", "warn", "info", "debug"};
        int i = pick(v, n, 5);
        if (i < 0) bad = ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "UMS_LOG='%s': expected off, error, warn, info or debug", v);
        else cfg->log_level = (ums_log_level)i;
    }
    if ((v = getenv("UMS_OPENCL")) && *v) {
        if (strcmp(v, "0") == 0) cfg->opencl = 0;
        else if (strcmp(v, "1") == 0) cfg->opencl = 1;
        else if (strchr(v, '=')) {
            cfg->opencl = 1; /* the backend checks the settings when it starts */
            cfg->opencl_config = v;
        } else bad = ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "UMS_OPENCL='%s': expected 0, 1 or key=value settings such as streams=2", v);
    }
    if ((v = getenv("UMS_STAGING_POOL")) && *v) {
        size_t sz;
        if (ums__parse_size(v, &sz) != UMS_OK)
            bad = ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "UMS_STAGING_POOL='%s': expected a size such as 64M or 1G", v);
        else cfg->staging_pool = sz;
    }
    if ((v = getenv("UMS_TRANSFER_WINDOW")) && *v) {
        size_t sz;
        if (ums__parse_size(v, &sz) != UMS_OK)
            bad = ums__fail(__func__, "core", UMS_ERR_CONFIG, 0, "UMS_TRANSFER_WINDOW='%s': expected a size such as 16M or 128M", v);
        else cfg->transfer_window = sz;
    }
    if ((v = getenv("UMS_SIM")) && *v) cfg->sim = v;
    if ((v = getenv("UMS_BACKENDS")) && *v) cfg->plugins = v;
    return bad;
}

UMS_API const char *ums_fault_mode_name(ums_fault_mode m) {
    switch (m) {
    case UMS_FAULT_AUTO: return "auto";
    case UMS_FAULT_UFFD: return "uffd";
    case UMS_FAULT_SIGNAL: return "signal";
    }
    return "unknown";
}

UMS_API const char *ums_protocol_name(ums_protocol p) {
    switch (p) {
    case UMS_PROTOCOL_READABLE: return "readable";
    case UMS_PROTOCOL_BLOCKING: return "blocking";
    }
    return "unknown";
}
