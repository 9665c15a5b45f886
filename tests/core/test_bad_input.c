/* Bad input at every public function: each call must return the documented
 * result code, fill the calling thread's last-error record (same code, a
 * non-empty message, the name of the function that failed) and change nothing:
 * outputs stay untouched, residency and advice stay as they were, a rejected
 * free leaves the allocation usable, a failed runtime creation leaves no
 * thread, descriptor or memory behind (LeakSanitizer checks the memory).
 *
 * The checks are soft: every violation is printed and counted, and the test
 * fails at the end, so one bug does not hide the others.
 *
 * Optional: backend plug-ins that break the ABI in one way each are looked for
 * in UMS_TEST_PLUGIN_DIR (set by tests/core/plugins/CMakeLists.txt) or in
 * "plugins/" next to this executable; without them those checks are skipped
 * with a note. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "process_state.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* soft checks                                                              */

static int g_checks, g_failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        g_checks++;                                                          \
        if (!(cond)) {                                                       \
            g_failures++;                                                    \
            fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
        }                                                                    \
    } while (0)

/* The _ex variants and ums_runtime_alloc() share the contract of their base
 * function and record its name; either name is accepted. */
static int function_matches(const char *recorded, const char *called) {
    if (!recorded || !called) return 0;
    if (strcmp(recorded, called) == 0) return 1;
    size_t n = strlen(recorded);
    if (strncmp(recorded, called, n) == 0 && strcmp(called + n, "_ex") == 0) return 1;
    if (strcmp(called, "ums_runtime_alloc") == 0 && strcmp(recorded, "ums_alloc") == 0) return 1;
    return 0;
}

/* Check one rejected call: the code, and the last-error record it filled. */
static void expect_err_(int line, const char *text, ums_result got, ums_result want, const char *fn) {
    const ums_error_info *e = ums_last_error();
    g_checks++;
    int ok = 1;
    char why[512] = "";
    size_t w = 0;
#define WHY_(...) (w += (size_t)snprintf(why + w, w < sizeof why ? sizeof why - w : 0, __VA_ARGS__), ok = 0)
    if (got != want) WHY_(" returned %s (%d), expected %s;", ums_result_name(got), (int)got, ums_result_name(want));
    if (got != UMS_OK) {
        if (e->code != got) WHY_(" last error code %s != returned %s;", ums_result_name(e->code), ums_result_name(got));
        if (e->message[0] == '\0') WHY_(" last error message is empty;");
        if (!e->backend) WHY_(" last error backend is NULL;");
        if (!function_matches(e->function, fn))
            WHY_(" last error names function '%s', expected '%s';", e->function ? e->function : "(null)", fn);
    }
#undef WHY_
    if (!ok) {
        g_failures++;
        fprintf(stderr, "%s:%d: FAILED: %s:%s [message: \"%s\"]\n", __FILE__, line, text, why, e->message);
    }
}

#define EXPECT_ERR(want, fn, call)                                           \
    do {                                                                     \
        ums_clear_error();                                                   \
        ums_result r_ = (call);                                              \
        expect_err_(__LINE__, #call, r_, (want), (fn));                      \
    } while (0)

#define EXPECT_OK(call)                                                      \
    do {                                                                     \
        ums_result r_ = (call);                                              \
        CHECK(r_ == UMS_OK, "%s returned %s (last error: %s)", #call,        \
              ums_result_name(r_), ums_last_error()->message);               \
    } while (0)

/* The message must mention `what` (case-insensitive). */
static void expect_message_has(int line, const char *what) {
    g_checks++;
    if (!strcasestr(ums_last_error()->message, what)) {
        g_failures++;
        fprintf(stderr, "%s:%d: FAILED: last error message \"%s\" does not mention \"%s\"\n", __FILE__, line,
                ums_last_error()->message, what);
    }
}
#define EXPECT_MESSAGE_HAS(what) expect_message_has(__LINE__, (what))

/* ------------------------------------------------------------------------ */
/* process state: threads, descriptors                                      */

/* count_dir, count_fds, count_threads, count_threads_settled: process_state.h */

/* ------------------------------------------------------------------------ */
/* a minimal in-process backend, configurable to misbehave                  */

struct ums_devmem {
    void *p;
    size_t len;
};

typedef struct tb_state {
    const ums_backend_services *svc;
    unsigned count;
    int bad_kind;
} tb_state;

static int tb_inits, tb_finis;

static ums_result tb_init(const ums_backend_services *svc, const char *config, void **out) {
    tb_inits++;
    if (config && strcmp(config, "fail") == 0) {
        svc->set_error(svc->core, UMS_ERR_BACKEND, 5, "test backend refuses to start");
        return UMS_ERR_BACKEND;
    }
    tb_state *s = calloc(1, sizeof *s);
    if (!s) return UMS_ERR_NO_MEMORY;
    s->svc = svc;
    if (config) {
        unsigned n;
        if (sscanf(config, "count=%u", &n) == 1) s->count = n;
        if (strstr(config, "kind=bad")) s->bad_kind = 1;
    }
    *out = s;
    return UMS_OK;
}
static void tb_fini(void *b) {
    tb_finis++;
    free(b);
}
static ums_result tb_count(void *b, uint32_t *count) {
    *count = ((tb_state *)b)->count;
    return UMS_OK;
}
static ums_result tb_describe(void *b, uint32_t index, ums_backend_location *d) {
    tb_state *s = b;
    d->kind = s->bad_kind ? (ums_location_kind)99 : UMS_LOCATION_DEVICE;
    snprintf(d->name, sizeof d->name, "tb%u", index);
    d->capacity = 64u << 20;
    return UMS_OK;
}
static ums_result tb_mem_alloc(void *b, uint32_t index, size_t size, ums_devmem **out) {
    (void)b, (void)index;
    ums_devmem *m = calloc(1, sizeof *m);
    if (!m) return UMS_ERR_NO_MEMORY;
    m->p = calloc(1, size);
    if (!m->p) {
        free(m);
        return UMS_ERR_NO_MEMORY;
    }
    m->len = size;
    *out = m;
    return UMS_OK;
}
static void tb_mem_free(void *b, ums_devmem *m) {
    (void)b;
    free(m->p);
    free(m);
}
static ums_result tb_copy_to(void *b, ums_devmem *dst, size_t off, const void *src, size_t len, ums_fence **f) {
    (void)b;
    memcpy((char *)dst->p + off, src, len);
    if (f) *f = NULL;
    return UMS_OK;
}
static ums_result tb_copy_from(void *b, void *dst, ums_devmem *src, size_t off, size_t len, ums_fence **f) {
    (void)b;
    memcpy(dst, (char *)src->p + off, len);
    if (f) *f = NULL;
    return UMS_OK;
}

static const ums_backend_ops tb_ops = {
    .abi_version = UMS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(ums_backend_ops),
    .name = "testbe",
    .init = tb_init,
    .fini = tb_fini,
    .location_count = tb_count,
    .location_describe = tb_describe,
    .mem_alloc = tb_mem_alloc,
    .mem_free = tb_mem_free,
    .copy_to = tb_copy_to,
    .copy_from = tb_copy_from,
};

/* ------------------------------------------------------------------------ */
/* utilities                                                                */

static ums_runtime_t *make_rt(const char *sim) {
    ums_runtime_config cfg;
    ASSERT_OK(ums_runtime_config_from_env(&cfg));
    cfg.sim = sim;
    cfg.opencl = 0;
    cfg.block_size = 64u << 10;
    ums_runtime_t *rt;
    ASSERT_OK(ums_runtime_create(&cfg, &rt));
    return rt;
}

static uint32_t loc_count(ums_runtime_t *rt) {
    uint32_t n = 0;
    ASSERT_OK(ums_location_count(rt, &n));
    return n;
}

#define NB_MAX 8
typedef struct residency {
    size_t n;
    ums_block_info b[NB_MAX];
} residency;

static residency snapshot(const void *p, size_t len) {
    residency r;
    memset(&r, 0, sizeof r);
    ASSERT_OK(ums_query(p, len, r.b, NB_MAX, &r.n));
    return r;
}

static void expect_same_residency(int line, const char *what, const residency *a, const residency *b) {
    g_checks++;
    int same = a->n == b->n;
    for (size_t i = 0; same && i < a->n; i++) {
        const ums_block_info *x = &a->b[i], *y = &b->b[i];
        same = x->addr == y->addr && x->len == y->len && x->state == y->state && x->valid == y->valid &&
               x->home == y->home && x->target == y->target && x->preferred == y->preferred &&
               x->accessed_by == y->accessed_by && x->advice == y->advice;
        if (!same)
            fprintf(stderr,
                    "%s:%d: FAILED: %s changed block %zu: state %s->%s valid %#llx->%#llx advice %#x->%#x "
                    "preferred %u->%u accessed_by %#llx->%#llx\n",
                    __FILE__, line, what, i, ums_block_state_name(x->state), ums_block_state_name(y->state),
                    (unsigned long long)x->valid, (unsigned long long)y->valid, x->advice, y->advice, x->preferred,
                    y->preferred, (unsigned long long)x->accessed_by, (unsigned long long)y->accessed_by);
    }
    if (!same) {
        if (a->n != b->n) fprintf(stderr, "%s:%d: FAILED: %s changed the block count\n", __FILE__, line, what);
        g_failures++;
    }
}
#define EXPECT_SAME_RESIDENCY(what, a, b) expect_same_residency(__LINE__, (what), (a), (b))

static void expect_same_counters(int line, const char *what, const ums_counters *a, const ums_counters *b) {
    g_checks++;
    if (a->migrations != b->migrations || a->migrations_aborted != b->migrations_aborted ||
        a->prefetches != b->prefetches || a->bytes_host_to_device != b->bytes_host_to_device ||
        a->bytes_device_to_host != b->bytes_device_to_host || a->bytes_device_to_device != b->bytes_device_to_device ||
        a->invalidations != b->invalidations) {
        g_failures++;
        fprintf(stderr, "%s:%d: FAILED: %s changed the counters (migrations %llu->%llu, prefetches %llu->%llu)\n",
                __FILE__, line, what, (unsigned long long)a->migrations, (unsigned long long)b->migrations,
                (unsigned long long)a->prefetches, (unsigned long long)b->prefetches);
    }
}

static unsigned char pat(size_t i) { return (unsigned char)(i * 13 + 7 + (i >> 16)); }

static void fill(unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = pat(i);
}

static void expect_pattern(int line, const char *what, const unsigned char *p, size_t n) {
    g_checks++;
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(i)) {
            g_failures++;
            fprintf(stderr, "%s:%d: FAILED: %s: byte %zu is %u, expected %u\n", __FILE__, line, what, i, p[i], pat(i));
            return;
        }
}
#define EXPECT_PATTERN(what, p, n) expect_pattern(__LINE__, (what), (p), (n))

/* Save and restore one environment variable around a bad-value check. */
typedef struct saved_env {
    const char *name;
    char *value; /* NULL: was unset */
} saved_env;
static saved_env env_save(const char *name) {
    const char *v = getenv(name);
    saved_env s = {name, v ? strdup(v) : NULL};
    return s;
}
static void env_restore(saved_env *s) {
    if (s->value) setenv(s->name, s->value, 1);
    else unsetenv(s->name);
    free(s->value);
    s->value = NULL;
}

/* ------------------------------------------------------------------------ */
/* 1. result codes, names, version                                          */

static void check_results(void) {
    static const struct {
        ums_result code;
        const char *name;
        const char *msg;
    } all[] = {
#define ROW_(name, value, msg) {UMS_##name, "UMS_" #name, msg},
        UMS_RESULT_MAP(ROW_)
#undef ROW_
    };
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        const char *nm = ums_result_name(all[i].code);
        const char *s = ums_result_string(all[i].code);
        CHECK(nm && strncmp(nm, "UMS_", 4) == 0, "ums_result_name(%d) = %s", (int)all[i].code, nm ? nm : "(null)");
        CHECK(nm && strcmp(nm, all[i].name) == 0, "ums_result_name(%d) = %s, expected %s", (int)all[i].code,
              nm ? nm : "(null)", all[i].name);
        CHECK(nm && strcmp(nm, "UMS_ERR_UNKNOWN_RESULT") != 0, "code %d has the unknown name", (int)all[i].code);
        CHECK(s && s[0] && strcmp(s, all[i].msg) == 0, "ums_result_string(%d) = \"%s\"", (int)all[i].code,
              s ? s : "(null)");
        CHECK(all[i].code == UMS_OK ? all[i].code == 0 : all[i].code < 0, "code %s is %d", all[i].name,
              (int)all[i].code);
        for (size_t j = 0; j < i; j++) {
            CHECK(all[i].code != all[j].code, "codes %s and %s share the value %d", all[i].name, all[j].name,
                  (int)all[i].code);
            CHECK(strcmp(ums_result_name(all[j].code), nm) != 0, "name %s is used twice", nm);
            CHECK(strcmp(ums_result_string(all[j].code), s) != 0, "message \"%s\" is used twice", s);
        }
    }
    const int unknown[] = {1, 12, -27, -100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ums_result r = (ums_result)unknown[i];
        CHECK(strcmp(ums_result_name(r), "UMS_ERR_UNKNOWN_RESULT") == 0, "ums_result_name(%d) = %s", unknown[i],
              ums_result_name(r));
        CHECK(ums_result_string(r) && ums_result_string(r)[0], "ums_result_string(%d) is empty", unknown[i]);
    }

    /* names of enumerations: out-of-range values give "unknown" */
    CHECK(strcmp(ums_advice_name((ums_advice)0), "unknown") == 0, "ums_advice_name(0) = %s", ums_advice_name((ums_advice)0));
    CHECK(strcmp(ums_advice_name((ums_advice)7), "unknown") == 0, "ums_advice_name(7)");
    CHECK(strcmp(ums_advice_name((ums_advice)-1), "unknown") == 0, "ums_advice_name(-1)");
    CHECK(strcmp(ums_block_state_name((ums_block_state)UMS_BLOCK_STATE_COUNT), "unknown") == 0, "ums_block_state_name(4)");
    CHECK(strcmp(ums_block_state_name((ums_block_state)-1), "unknown") == 0, "ums_block_state_name(-1)");
    CHECK(strcmp(ums_fault_mode_name((ums_fault_mode)3), "unknown") == 0, "ums_fault_mode_name(3)");
    CHECK(strcmp(ums_fault_mode_name((ums_fault_mode)-1), "unknown") == 0, "ums_fault_mode_name(-1)");
    CHECK(strcmp(ums_protocol_name((ums_protocol)2), "unknown") == 0, "ums_protocol_name(2)");
    CHECK(strcmp(ums_protocol_name((ums_protocol)-1), "unknown") == 0, "ums_protocol_name(-1)");

    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", UMS_VERSION_MAJOR, UMS_VERSION_MINOR, UMS_VERSION_PATCH);
    CHECK(ums_version() && strcmp(ums_version(), want) == 0, "ums_version() = %s, expected %s",
          ums_version() ? ums_version() : "(null)", want);

    /* ums_clear_error resets the record; a failing call fills it */
    ums_free(NULL);
    CHECK(ums_last_error()->code == UMS_ERR_NULL_POINTER, "ums_free(NULL) did not record its error");
    ums_clear_error();
    CHECK(ums_last_error()->code == UMS_OK && ums_last_error()->message[0] == '\0',
          "ums_clear_error left code %s message \"%s\"", ums_result_name(ums_last_error()->code),
          ums_last_error()->message);
}

/* ------------------------------------------------------------------------ */
/* 2. NULL outputs with the default runtime: rejected before it starts      */

static void check_no_default_start(void) {
    /* The default runtime has not started yet; a call that rejects its input
     * must not start it (it would add its fault thread and workers). */
    int t0 = count_threads();
    void *p = (void *)0x1234;
    ums_location_t id = 77;
#define NO_START_(want, fn, call)                                                                   \
    do {                                                                                            \
        EXPECT_ERR(want, fn, call);                                                                 \
        int t_ = count_threads_settled(t0);                                                         \
        CHECK(t_ == t0, "%s started the default runtime (%d threads, had %d)", #call, t_, t0);      \
        if (t_ != t0) ums_shutdown();                                                               \
    } while (0)
    NO_START_(UMS_ERR_NULL_POINTER, "ums_location_count", ums_location_count(NULL, NULL));
    NO_START_(UMS_ERR_NULL_POINTER, "ums_location_get", ums_location_get(NULL, 0, NULL));
    NO_START_(UMS_ERR_NULL_POINTER, "ums_location_find", ums_location_find(NULL, NULL, &id));
    NO_START_(UMS_ERR_NULL_POINTER, "ums_location_find", ums_location_find(NULL, "node0", NULL));
    NO_START_(UMS_ERR_NULL_POINTER, "ums_runtime_features_get", ums_runtime_features_get(NULL, NULL));
    NO_START_(UMS_ERR_NULL_POINTER, "ums_counters_get", ums_counters_get(NULL, NULL));
    NO_START_(UMS_ERR_NULL_POINTER, "ums_default_runtime", ums_default_runtime(NULL));
    NO_START_(UMS_ERR_BAD_SIZE, "ums_alloc", ums_alloc(0, 0, &p));
    NO_START_(UMS_ERR_NULL_POINTER, "ums_alloc", ums_alloc(4096, 0, NULL));
    NO_START_(UMS_ERR_UNKNOWN_FLAG, "ums_alloc", ums_alloc(4096, 1u << 7, &p));
    NO_START_(UMS_ERR_BAD_SIZE, "ums_runtime_alloc", ums_runtime_alloc(NULL, SIZE_MAX, 0, &p));
    NO_START_(UMS_ERR_NULL_POINTER, "ums_backend_add", ums_backend_add(NULL, NULL, NULL));
    NO_START_(UMS_ERR_NULL_POINTER, "ums_backend_load", ums_backend_load(NULL, NULL, NULL));
#undef NO_START_
    CHECK(p == (void *)0x1234, "a rejected ums_alloc wrote *ptr");
    CHECK(id == 77, "a rejected ums_location_find wrote *id");
}

/* ------------------------------------------------------------------------ */
/* 3. configuration: struct, environment, sim strings, plug-in list         */

static void check_env(void) {
    ums_runtime_config cfg;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_runtime_config_init", ums_runtime_config_init(NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_runtime_config_from_env", ums_runtime_config_from_env(NULL));

    ums_runtime_config defaults;
    ASSERT_OK(ums_runtime_config_init(&defaults));
    static const struct {
        const char *var, *value;
    } bad[] = {
        {"UMS_FAULT", "bogus"},         {"UMS_FAULT", "uffd2"},       {"UMS_BLOCK_SIZE", "12Q"},
        {"UMS_BLOCK_SIZE", "0"},        {"UMS_BLOCK_SIZE", "-64K"},   {"UMS_BLOCK_SIZE", "64KX"},
        {"UMS_BLOCK_SIZE", "99999999999999999999"}, {"UMS_BLOCK_SIZE", "99999999999G"},
        {"UMS_PROTOCOL", "x"},          {"UMS_LOG", "loud"},          {"UMS_MIGRATE_WRITE", "y"},
        {"UMS_OPENCL", "2"},            {"UMS_OPENCL", "yes"},         {"UMS_STAGING_POOL", "lots"},
        {"UMS_STAGING_POOL", "-1M"},    {"UMS_STAGING_POOL", "64MB2"}, {"UMS_RO_INSTALL", "mmap"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        saved_env s = env_save(bad[i].var);
        setenv(bad[i].var, bad[i].value, 1);
        memset(&cfg, 0xab, sizeof cfg);
        EXPECT_ERR(UMS_ERR_CONFIG, "ums_runtime_config_from_env", ums_runtime_config_from_env(&cfg));
        EXPECT_MESSAGE_HAS(bad[i].var);
        /* the bad field keeps its default */
        if (!strcmp(bad[i].var, "UMS_FAULT"))
            CHECK(cfg.fault_mode == defaults.fault_mode, "%s=%s: fault_mode %d", bad[i].var, bad[i].value, cfg.fault_mode);
        if (!strcmp(bad[i].var, "UMS_BLOCK_SIZE"))
            CHECK(cfg.block_size == defaults.block_size, "%s=%s: block_size %zu", bad[i].var, bad[i].value, cfg.block_size);
        if (!strcmp(bad[i].var, "UMS_STAGING_POOL"))
            CHECK(cfg.staging_pool == defaults.staging_pool, "%s=%s: staging_pool %zu", bad[i].var, bad[i].value,
                  cfg.staging_pool);
        if (!strcmp(bad[i].var, "UMS_PROTOCOL"))
            CHECK(cfg.protocol == defaults.protocol, "%s=%s: protocol %d", bad[i].var, bad[i].value, cfg.protocol);
        if (!strcmp(bad[i].var, "UMS_LOG"))
            CHECK(cfg.log_level == defaults.log_level, "%s=%s: log_level %d", bad[i].var, bad[i].value, cfg.log_level);
        if (!strcmp(bad[i].var, "UMS_RO_INSTALL"))
            CHECK(cfg.read_only_install == defaults.read_only_install, "%s=%s: read_only_install %d", bad[i].var,
                  bad[i].value, cfg.read_only_install);
        if (!strcmp(bad[i].var, "UMS_MIGRATE_WRITE"))
            CHECK(cfg.migrate_write == defaults.migrate_write, "%s=%s: migrate_write %d", bad[i].var, bad[i].value,
                  cfg.migrate_write);
        CHECK(cfg.struct_size == sizeof cfg, "%s=%s: struct_size %u", bad[i].var, bad[i].value, cfg.struct_size);
        /* a runtime configured from this environment is refused, *out untouched */
        ums_runtime_t *rt = (ums_runtime_t *)(uintptr_t)0x5a5a;
        EXPECT_ERR(UMS_ERR_CONFIG, "ums_runtime_create", ums_runtime_create(NULL, &rt));
        CHECK(rt == (ums_runtime_t *)(uintptr_t)0x5a5a, "ums_runtime_create wrote *out on failure");
        env_restore(&s);
    }

    /* the other variables still apply when one is bad */
    saved_env s1 = env_save("UMS_FAULT"), s2 = env_save("UMS_PROTOCOL"), s3 = env_save("UMS_BLOCK_SIZE");
    setenv("UMS_FAULT", "bogus", 1);
    setenv("UMS_PROTOCOL", "blocking", 1);
    setenv("UMS_BLOCK_SIZE", "128K", 1);
    EXPECT_ERR(UMS_ERR_CONFIG, "ums_runtime_config_from_env", ums_runtime_config_from_env(&cfg));
    CHECK(cfg.fault_mode == UMS_FAULT_AUTO, "UMS_FAULT=bogus: fault_mode %d", cfg.fault_mode);
    CHECK(cfg.protocol == UMS_PROTOCOL_BLOCKING, "UMS_PROTOCOL=blocking was dropped because UMS_FAULT was bad");
    CHECK(cfg.block_size == (128u << 10), "UMS_BLOCK_SIZE=128K was dropped because UMS_FAULT was bad");
    env_restore(&s3);
    env_restore(&s2);
    env_restore(&s1);
}

static void expect_create_fails(int line, const char *what, const ums_runtime_config *cfg, ums_result want,
                                const char *mention) {
    int fd0 = count_fds(), t0 = count_threads();
    ums_runtime_t *rt = (ums_runtime_t *)(uintptr_t)0x5a5a;
    ums_clear_error();
    ums_result r = ums_runtime_create(cfg, &rt);
    char text[200];
    snprintf(text, sizeof text, "ums_runtime_create(%s)", what);
    expect_err_(line, text, r, want, "ums_runtime_create");
    if (mention) expect_message_has(line, mention);
    if (r == UMS_OK && rt != (ums_runtime_t *)(uintptr_t)0x5a5a) ums_runtime_destroy(rt);
    else CHECK(rt == (ums_runtime_t *)(uintptr_t)0x5a5a, "%s: *out written on failure", what);
    int fd1 = count_fds(), t1 = count_threads_settled(t0);
    CHECK(fd1 == fd0, "%s: %d descriptors before, %d after a failed ums_runtime_create", what, fd0, fd1);
    CHECK(t1 == t0, "%s: %d threads before, %d after a failed ums_runtime_create", what, t0, t1);
}

static void check_create(void) {
    ums_runtime_config base;
    ASSERT_OK(ums_runtime_config_from_env(&base));
    base.sim = "count=2,capacity=64M";
    base.opencl = 0;
    ums_runtime_config c;

    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_runtime_create", ums_runtime_create(&base, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_runtime_destroy", ums_runtime_destroy(NULL));

    /* struct_size: the header documents UMS_ERR_CONFIG for a bad configuration */
    const uint32_t sizes[] = {0, 4, 8, (uint32_t)sizeof c + 1, (uint32_t)sizeof c + 64, UINT32_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        c = base;
        c.struct_size = sizes[i];
        char what[64];
        snprintf(what, sizeof what, "struct_size %u", sizes[i]);
        expect_create_fails(__LINE__, what, &c, UMS_ERR_CONFIG, NULL);
    }
    /* out-of-range enumerations */
    c = base, c.fault_mode = (ums_fault_mode)3;
    expect_create_fails(__LINE__, "fault_mode 3", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.fault_mode = (ums_fault_mode)-1;
    expect_create_fails(__LINE__, "fault_mode -1", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.protocol = (ums_protocol)2;
    expect_create_fails(__LINE__, "protocol 2", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.migrate_write = (ums_migrate_write)2;
    expect_create_fails(__LINE__, "migrate_write 2", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.read_only_install = (ums_ro_install)2;
    expect_create_fails(__LINE__, "read_only_install 2", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.log_level = (ums_log_level)5;
    expect_create_fails(__LINE__, "log_level 5", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.log_level = (ums_log_level)-1;
    expect_create_fails(__LINE__, "log_level -1", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.workers = 9;
    expect_create_fails(__LINE__, "workers 9", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.workers = UINT_MAX;
    expect_create_fails(__LINE__, "workers UINT_MAX", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.block_size = SIZE_MAX;
    expect_create_fails(__LINE__, "block_size SIZE_MAX", &c, UMS_ERR_CONFIG, NULL);
    c = base, c.block_size = SIZE_MAX - 100;
    expect_create_fails(__LINE__, "block_size SIZE_MAX-100", &c, UMS_ERR_CONFIG, NULL);

    /* sim configuration strings */
    /* a long string whose bad item starts exactly at byte 255: it must not be
     * dropped silently (e.g. by parsing a truncated copy) */
    char longcfg[300];
    memset(longcfg, '0', sizeof longcfg);
    memcpy(longcfg, "latency=", 8);
    longcfg[254] = ',';
    snprintf(longcfg + 255, sizeof longcfg - 255, "count=999");
    const char *bad_sim[] = {"count=abc", "count=17",     "count=-1",      "count=",        "count",
                             "=2",        "bogus",        "bogus=1",       "capacity=0",    "capacity=12Q",
                             "capacity=", "bandwidth=-5", "latency=fast",  "latency=5 parsecs",
                             "latency=nan", "latency=inf", "latency=1e300s", "host_access=2", "host_nodes=99",
                             "count=2,,capacity=-1", longcfg};
    for (size_t i = 0; i < sizeof bad_sim / sizeof bad_sim[0]; i++) {
        c = base;
        c.sim = bad_sim[i];
        char what[80];
        snprintf(what, sizeof what, "sim \"%.60s\"", bad_sim[i]);
        expect_create_fails(__LINE__, what, &c, UMS_ERR_CONFIG, "sim");
    }
    /* plug-in list: a missing file and a library without the entry symbol */
    c = base, c.plugins = "/nonexistent/libumshim-backend-nothing.so";
    expect_create_fails(__LINE__, "missing plug-in", &c, UMS_ERR_PLUGIN, "nonexistent");
    c = base, c.plugins = "libm.so.6";
    expect_create_fails(__LINE__, "plug-in without entry", &c, UMS_ERR_PLUGIN, UMS_BACKEND_ENTRY_SYMBOL);
}

/* ------------------------------------------------------------------------ */
/* 4. runtime queries                                                       */

static void check_queries(ums_runtime_t *rt) {
    uint32_t n = loc_count(rt);
    ums_location_info info;
    memset(&info, 0x5a, sizeof info);
    ums_location_info before = info;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_location_count", ums_location_count(rt, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_location_get", ums_location_get(rt, 0, NULL));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_location_get", ums_location_get(rt, n, &info));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_location_get", ums_location_get(rt, UMS_LOCATION_NONE, &info));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_location_get", ums_location_get(rt, UMS_MAX_LOCATIONS, &info));
    CHECK(memcmp(&info, &before, sizeof info) == 0, "a rejected ums_location_get wrote *info");
    ums_location_t id = 77;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_location_find", ums_location_find(rt, NULL, &id));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_location_find", ums_location_find(rt, "node0", NULL));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_location_find", ums_location_find(rt, "sim9", &id));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_location_find", ums_location_find(rt, "", &id));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_location_find", ums_location_find(rt, "SIM0", &id));
    CHECK(id == 77, "a rejected ums_location_find wrote *id");
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_runtime_features_get", ums_runtime_features_get(rt, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_counters_get", ums_counters_get(rt, NULL));

    /* queries that cannot fail still answer */
    CHECK(ums_runtime_fault_mode(rt) == UMS_FAULT_UFFD || ums_runtime_fault_mode(rt) == UMS_FAULT_SIGNAL,
          "fault mode %d", ums_runtime_fault_mode(rt));
    CHECK(ums_runtime_block_size(rt) == (64u << 10), "block size %zu", ums_runtime_block_size(rt));
    CHECK(ums_runtime_protocol(rt) <= UMS_PROTOCOL_BLOCKING, "protocol %d", ums_runtime_protocol(rt));
    EXPECT_OK(ums_counters_reset(rt));
}

/* ------------------------------------------------------------------------ */
/* 5. allocation                                                            */

static void check_alloc(ums_runtime_t *rt) {
    void *p = (void *)0x1234;
    const struct {
        size_t size;
        unsigned flags;
        ums_result want;
    } bad[] = {
        {0, 0, UMS_ERR_BAD_SIZE},
        {SIZE_MAX, 0, UMS_ERR_BAD_SIZE},
        {SIZE_MAX - 4095, 0, UMS_ERR_BAD_SIZE},     /* rounding up to a block would wrap */
        {(size_t)1 << 63, 0, UMS_ERR_BAD_SIZE},
        {(size_t)1 << 62, UMS_ALLOC_POPULATE, UMS_ERR_BAD_SIZE},
        {4096, 1u << 2, UMS_ERR_UNKNOWN_FLAG},
        {4096, 1u << 31, UMS_ERR_UNKNOWN_FLAG},
        {4096, ~0u, UMS_ERR_UNKNOWN_FLAG},
        {4096, UMS_ALLOC_FLAGS_ALL | (1u << 5), UMS_ERR_UNKNOWN_FLAG},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_ERR(bad[i].want, "ums_runtime_alloc", ums_runtime_alloc(rt, bad[i].size, bad[i].flags, &p));
        EXPECT_ERR(bad[i].want, "ums_alloc", ums_alloc(bad[i].size, bad[i].flags, &p));
    }
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_runtime_alloc", ums_runtime_alloc(rt, 4096, 0, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_alloc", ums_alloc(4096, 0, NULL));
    CHECK(p == (void *)0x1234, "a rejected ums_alloc changed *ptr to %p", p);

    /* ums_alloc_info: foreign, NULL; outputs untouched */
    char stack[64];
    void *base = (void *)0x1;
    size_t size = 7;
    ums_runtime_t *owner = (ums_runtime_t *)(uintptr_t)0x2;
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_alloc_info", ums_alloc_info(stack, &base, &size, &owner));
    char *heap = malloc(64);
    ASSERT(heap);
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_alloc_info", ums_alloc_info(heap, &base, &size, &owner));
    free(heap);
    CHECK(base == (void *)0x1 && size == 7 && owner == (ums_runtime_t *)(uintptr_t)0x2,
          "a rejected ums_alloc_info wrote its outputs");
    /* NULL is "not inside an allocation"; UMS_ERR_NULL_POINTER is accepted too */
    ums_clear_error();
    ums_result r = ums_alloc_info(NULL, &base, &size, &owner);
    expect_err_(__LINE__, "ums_alloc_info(NULL, ...)", r, r == UMS_ERR_NULL_POINTER ? r : UMS_ERR_NOT_MANAGED,
                "ums_alloc_info");

    /* a successful call leaves the last-error record alone, also for an address in
     * the rounding slack after the requested size (still inside the mapping) */
    unsigned char *q;
    size_t bs = ums_runtime_block_size(rt);
    ASSERT_OK(ums_runtime_alloc(rt, bs / 2, 0, (void **)&q));
    ums_free(NULL); /* record a known error */
    EXPECT_OK(ums_alloc_info(q + bs / 4, &base, &size, &owner));
    CHECK(ums_last_error()->code == UMS_ERR_NULL_POINTER && !strcmp(ums_last_error()->function, "ums_free"),
          "a successful ums_alloc_info (inside the size) changed the last-error record to %s/%s",
          ums_result_name(ums_last_error()->code), ums_last_error()->function);
    ums_free(NULL);
    r = ums_alloc_info(q + bs / 2 + 16, &base, &size, &owner);
    CHECK(r == UMS_OK || r == UMS_ERR_NOT_MANAGED || r == UMS_ERR_OUT_OF_RANGE,
          "ums_alloc_info(slack) returned %s", ums_result_name(r));
    if (r == UMS_OK)
        CHECK(ums_last_error()->code == UMS_ERR_NULL_POINTER && !strcmp(ums_last_error()->function, "ums_free"),
              "a successful ums_alloc_info (in the slack after the size) changed the last-error record to %s "
              "(function \"%s\"); calls that succeed must leave it untouched",
              ums_result_name(ums_last_error()->code), ums_last_error()->function);
    ASSERT_OK(ums_free(q));
}

/* ------------------------------------------------------------------------ */
/* 6. range functions: migrate, prefetch, advise, query, free               */

typedef struct range_case {
    const char *what;
    void *ptr;
    size_t len;
    ums_result want;
} range_case;

static void check_ranges(ums_runtime_t *rt) {
    size_t bs = ums_runtime_block_size(rt);
    uint32_t nloc = loc_count(rt);
    ums_location_t host, sim0, sim1;
    ASSERT_OK(ums_location_find(rt, "node0", &host));
    ASSERT_OK(ums_location_find(rt, "sim0", &sim0));
    ASSERT_OK(ums_location_find(rt, "sim1", &sim1));

    /* an allocation with a mixed residency: block 0 on sim0, 1 on sim1, 2 on the
     * host, 3 replicated (READ_MOSTLY on host + sim0) with PREFERRED advice */
    size_t n = 3 * bs + bs / 2;
    unsigned char *p;
    ASSERT_OK(ums_runtime_alloc(rt, n, 0, (void **)&p));
    fill(p, n);
    ASSERT_OK(ums_migrate(p, bs, sim0));
    ASSERT_OK(ums_migrate(p + bs, bs, sim1));
    ASSERT_OK(ums_advise(p + 3 * bs, n - 3 * bs, UMS_ADVISE_READ_MOSTLY, UMS_LOCATION_NONE));
    ASSERT_OK(ums_advise(p + 2 * bs, bs, UMS_ADVISE_PREFERRED_LOCATION, host));
    ums_event_t *ev;
    ASSERT_OK(ums_prefetch(p + 3 * bs, n - 3 * bs, sim0, &ev));
    ASSERT_OK(ums_event_wait(ev, UINT64_MAX));
    ASSERT_OK(ums_event_release(ev));
    residency r0 = snapshot(p, n);
    ASSERT_EQ(r0.n, 4);
    ASSERT_EQ(r0.b[0].state, UMS_BLOCK_DEVICE);
    ASSERT_EQ(r0.b[1].state, UMS_BLOCK_DEVICE);
    ASSERT_EQ(r0.b[2].state, UMS_BLOCK_HOST);
    ASSERT_EQ(r0.b[3].state, UMS_BLOCK_SHARED);
    ums_counters c0, c1;
    ASSERT_OK(ums_counters_get(rt, &c0));

    /* foreign memory: stack, heap, a plain mapping; a freed allocation; an
     * allocation of a runtime that was destroyed */
    char stack[256];
    char *heap = malloc(1 << 16);
    ASSERT(heap);
    char *map = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(map != MAP_FAILED);
    void *freed;
    ASSERT_OK(ums_runtime_alloc(rt, bs, 0, &freed));
    ASSERT_OK(ums_free(freed));
    ums_runtime_t *rt2 = make_rt("count=1,capacity=16M");
    void *orphan;
    ASSERT_OK(ums_runtime_alloc(rt2, bs, 0, &orphan));
    ASSERT_OK(ums_runtime_destroy(rt2));

    uintptr_t up = (uintptr_t)p;
    const range_case cases[] = {
        {"NULL", NULL, 16, UMS_ERR_NULL_POINTER},
        {"NULL len 0", NULL, 0, UMS_ERR_NULL_POINTER},
        {"len 0", p, 0, UMS_ERR_BAD_SIZE},
        {"len SIZE_MAX", p, SIZE_MAX, UMS_ERR_BAD_SIZE},
        {"ptr+len wraps to 0", p + bs, SIZE_MAX - (up + bs) + 1, UMS_ERR_BAD_SIZE},
        {"ptr+len wraps past 0", p + bs, SIZE_MAX - 2, UMS_ERR_BAD_SIZE},
        {"ptr+len ends at the top", p, SIZE_MAX - up, UMS_ERR_OUT_OF_RANGE},
        {"one byte past the end", p, n + 1, UMS_ERR_OUT_OF_RANGE},
        {"whole blocks past the size", p, 4 * bs, UMS_ERR_OUT_OF_RANGE},
        {"interior, past the end", p + 2 * bs, 2 * bs, UMS_ERR_OUT_OF_RANGE},
        {"last byte, len 2", p + n - 1, 2, UMS_ERR_OUT_OF_RANGE},
        {"stack", stack, sizeof stack, UMS_ERR_NOT_MANAGED},
        {"heap", heap, 64, UMS_ERR_NOT_MANAGED},
        {"plain mmap", map, 4096, UMS_ERR_NOT_MANAGED},
        {"freed allocation", freed, 64, UMS_ERR_NOT_MANAGED},
        {"allocation of a destroyed runtime", orphan, 64, UMS_ERR_NOT_MANAGED},
        {"address 1", (void *)(uintptr_t)1, 1, UMS_ERR_NOT_MANAGED},
    };
    const size_t ncases = sizeof cases / sizeof cases[0];
    char text[200];
    for (size_t i = 0; i < ncases; i++) {
        const range_case *k = &cases[i];
        ums_migrate_report rep;
        memset(&rep, 0x5a, sizeof rep);
        ums_migrate_report rep0 = rep;
#define RUN_(fn, call)                                                                      \
    do {                                                                                    \
        ums_clear_error();                                                                  \
        ums_result rr_ = (call);                                                            \
        snprintf(text, sizeof text, "%s(%s)", fn, k->what);                                 \
        expect_err_(__LINE__, text, rr_, k->want, fn);                                      \
    } while (0)
        RUN_("ums_migrate", ums_migrate(k->ptr, k->len, sim0));
        RUN_("ums_migrate_ex", ums_migrate_ex(k->ptr, k->len, host, &rep));
        CHECK(memcmp(&rep, &rep0, sizeof rep) == 0, "rejected ums_migrate_ex(%s) wrote its report", k->what);
        ums_event_t *e = (ums_event_t *)(uintptr_t)0x77;
        RUN_("ums_prefetch", ums_prefetch(k->ptr, k->len, sim1, &e));
        CHECK(e == (ums_event_t *)(uintptr_t)0x77, "rejected ums_prefetch(%s) wrote *event", k->what);
        ums_advice_outcome out;
        memset(&out, 0x5a, sizeof out);
        ums_advice_outcome out0 = out;
        RUN_("ums_advise", ums_advise(k->ptr, k->len, UMS_ADVISE_READ_MOSTLY, UMS_LOCATION_NONE));
        RUN_("ums_advise_ex", ums_advise_ex(k->ptr, k->len, UMS_ADVISE_PREFERRED_LOCATION, sim1, &out));
        CHECK(memcmp(&out, &out0, sizeof out) == 0, "rejected ums_advise_ex(%s) wrote its outcome", k->what);
        ums_block_info bi[2];
        memset(bi, 0x5a, sizeof bi);
        ums_block_info bi0[2];
        memcpy(bi0, bi, sizeof bi);
        size_t count = 99;
        RUN_("ums_query", ums_query(k->ptr, k->len, bi, 2, &count));
        CHECK(count == 99, "rejected ums_query(%s) wrote *count = %zu", k->what, count);
        CHECK(memcmp(bi, bi0, sizeof bi) == 0, "rejected ums_query(%s) wrote *out", k->what);
#undef RUN_
    }

    /* unknown locations: == count, beyond, NONE, and an id valid only in another runtime */
    const ums_location_t bad_loc[] = {nloc, nloc + 1, UMS_MAX_LOCATIONS, UMS_MAX_LOCATIONS + 5, UMS_LOCATION_NONE};
    for (size_t i = 0; i < sizeof bad_loc / sizeof bad_loc[0]; i++) {
        ums_location_t L = bad_loc[i];
        ums_migrate_report rep;
        memset(&rep, 0x5a, sizeof rep);
        ums_migrate_report rep0 = rep;
        EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_migrate", ums_migrate(p, n, L));
        EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_migrate_ex", ums_migrate_ex(p + bs, bs, L, &rep));
        CHECK(memcmp(&rep, &rep0, sizeof rep) == 0, "rejected ums_migrate_ex(location %u) wrote its report", L);
        ums_event_t *e = (ums_event_t *)(uintptr_t)0x77;
        EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_prefetch", ums_prefetch(p, n, L, &e));
        CHECK(e == (ums_event_t *)(uintptr_t)0x77, "rejected ums_prefetch(location %u) wrote *event", L);
        EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_advise",
                   ums_advise(p, n, UMS_ADVISE_PREFERRED_LOCATION, L));
        EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_advise", ums_advise(p, n, UMS_ADVISE_ACCESSED_BY, L));
        EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_advise", ums_advise(p, n, UMS_ADVISE_UNSET_ACCESSED_BY, L));
    }
    /* unknown advice, whatever the range */
    const int bad_advice[] = {0, 7, 8, 100, -1, INT_MIN};
    for (size_t i = 0; i < sizeof bad_advice / sizeof bad_advice[0]; i++) {
        ums_advice_outcome out;
        memset(&out, 0x5a, sizeof out);
        ums_advice_outcome out0 = out;
        EXPECT_ERR(UMS_ERR_UNKNOWN_ADVICE, "ums_advise_ex",
                   ums_advise_ex(p, n, (ums_advice)bad_advice[i], host, &out));
        CHECK(memcmp(&out, &out0, sizeof out) == 0, "rejected ums_advise_ex(advice %d) wrote its outcome", bad_advice[i]);
        EXPECT_ERR(UMS_ERR_UNKNOWN_ADVICE, "ums_advise", ums_advise(p, n, (ums_advice)bad_advice[i], UMS_LOCATION_NONE));
    }
    /* READ_MOSTLY ignores the location: an out-of-range id is not an error */
    EXPECT_OK(ums_advise(p + 3 * bs, 1, UMS_ADVISE_READ_MOSTLY, UMS_LOCATION_NONE));
    EXPECT_OK(ums_advise(p + 3 * bs, 1, UMS_ADVISE_READ_MOSTLY, nloc + 3));

    /* ums_query: NULL count, NULL out with cap > 0 */
    ums_block_info bi[4];
    size_t count = 99;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_query", ums_query(p, n, bi, 4, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_query", ums_query(p, n, NULL, 1, &count));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_query", ums_query(p, n, NULL, 4, &count));
    CHECK(count == 99, "rejected ums_query wrote *count");
    /* cap 0 asks for the count only; a short buffer gets the first entries */
    EXPECT_OK(ums_query(p, n, NULL, 0, &count));
    CHECK(count == 4, "ums_query count %zu", count);
    count = 0;
    EXPECT_ERR(UMS_ERR_BUFFER_TOO_SMALL, "ums_query", ums_query(p, n, bi, 2, &count));
    CHECK(count == 4, "ums_query(cap 2) count %zu, expected 4", count);

    /* ums_prefetch: NULL event */
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_prefetch", ums_prefetch(p, n, host, NULL));

    /* ums_free: NULL, foreign, interior pointers, freed */
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_free", ums_free(NULL));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_free", ums_free(stack));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_free", ums_free(heap));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_free", ums_free(map));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_free", ums_free(freed));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_free", ums_free(orphan));
    EXPECT_ERR(UMS_ERR_NOT_BASE, "ums_free", ums_free(p + 1));
    EXPECT_ERR(UMS_ERR_NOT_BASE, "ums_free", ums_free(p + bs));
    EXPECT_ERR(UMS_ERR_NOT_BASE, "ums_free", ums_free(p + n - 1));

    /* nothing moved, no advice changed, no counter moved */
    residency r1 = snapshot(p, n);
    EXPECT_SAME_RESIDENCY("rejected calls", &r0, &r1);
    ASSERT_OK(ums_counters_get(rt, &c1));
    expect_same_counters(__LINE__, "rejected calls", &c0, &c1);

    /* the allocation is still fully usable after the rejected frees */
    EXPECT_PATTERN("data after rejected calls", p, n);
    fill(p, n);
    EXPECT_OK(ums_migrate(p, n, sim1));
    EXPECT_OK(ums_migrate(p, n, host));
    EXPECT_PATTERN("data after a migration round trip", p, n);
    EXPECT_OK(ums_free(p));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_free", ums_free(p)); /* double free */
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_migrate", ums_migrate(p, 1, host));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_query", ums_query(p, 1, bi, 1, &count));

    munmap(map, 1 << 16);
    free(heap);
}

/* ------------------------------------------------------------------------ */
/* 7. events                                                                */

static void check_events(ums_runtime_t *rt) {
    ums_migrate_report rep;
    memset(&rep, 0x5a, sizeof rep);
    ums_migrate_report rep0 = rep;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_event_wait", ums_event_wait(NULL, 0));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_event_wait", ums_event_wait(NULL, 1000));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_event_wait", ums_event_wait(NULL, UINT64_MAX));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_event_query", ums_event_query(NULL, &rep));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_event_query", ums_event_query(NULL, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_event_release", ums_event_release(NULL));
    CHECK(memcmp(&rep, &rep0, sizeof rep) == 0, "rejected ums_event_query wrote its report");

    /* a valid event still works after the rejected calls; release before wait is allowed */
    size_t bs = ums_runtime_block_size(rt);
    void *p;
    ums_location_t sim0;
    ASSERT_OK(ums_location_find(rt, "sim0", &sim0));
    ASSERT_OK(ums_runtime_alloc(rt, 2 * bs, 0, &p));
    memset(p, 3, 2 * bs);
    ums_event_t *ev;
    ASSERT_OK(ums_prefetch(p, 2 * bs, sim0, &ev));
    EXPECT_OK(ums_event_wait(ev, UINT64_MAX));
    EXPECT_OK(ums_event_query(ev, NULL));
    EXPECT_OK(ums_event_release(ev));
    ASSERT_OK(ums_prefetch(p, 2 * bs, sim0, &ev));
    EXPECT_OK(ums_event_release(ev));
    ASSERT_OK(ums_free(p));
}

/* ------------------------------------------------------------------------ */
/* 8. backends: validate, add, load                                         */

static void set_op_null(ums_backend_ops *o, int i) {
    switch (i) {
    case 0: o->init = NULL; break;
    case 1: o->fini = NULL; break;
    case 2: o->location_count = NULL; break;
    case 3: o->location_describe = NULL; break;
    case 4: o->mem_alloc = NULL; break;
    case 5: o->mem_free = NULL; break;
    case 6: o->copy_to = NULL; break;
    case 7: o->copy_from = NULL; break;
    }
}
static const char *const required_ops[] = {"init",      "fini",     "location_count", "location_describe",
                                           "mem_alloc", "mem_free", "copy_to",        "copy_from"};

static void check_validate(void) {
    ums_backend_ops o;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_backend_validate", ums_backend_validate(NULL));
    EXPECT_OK(ums_backend_validate(&tb_ops));

    const uint32_t majors[] = {0, 2, 0xffff};
    for (size_t i = 0; i < sizeof majors / sizeof majors[0]; i++) {
        o = tb_ops;
        o.abi_version = (majors[i] << 16) | UMS_BACKEND_ABI_MINOR;
        EXPECT_ERR(UMS_ERR_ABI_MISMATCH, "ums_backend_validate", ums_backend_validate(&o));
    }
    /* a later minor version and a larger (appended-to) table are compatible */
    o = tb_ops;
    o.abi_version = (UMS_BACKEND_ABI_MAJOR << 16) | 7u;
    EXPECT_OK(ums_backend_validate(&o));
    struct {
        ums_backend_ops ops;
        void *appended[8];
    } big;
    memset(&big, 0, sizeof big);
    big.ops = tb_ops;
    big.ops.struct_size = sizeof big;
    EXPECT_OK(ums_backend_validate(&big.ops));

    const uint32_t small[] = {0, 8, (uint32_t)offsetof(ums_backend_ops, copy_from),
                              (uint32_t)offsetof(ums_backend_ops, init)};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        o = tb_ops;
        o.struct_size = small[i];
        EXPECT_ERR(UMS_ERR_ABI_MISMATCH, "ums_backend_validate", ums_backend_validate(&o));
    }
    o = tb_ops;
    o.name = NULL;
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_validate", ums_backend_validate(&o));
    o.name = "";
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_validate", ums_backend_validate(&o));
    for (int i = 0; i < 8; i++) {
        o = tb_ops;
        set_op_null(&o, i);
        EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_validate", ums_backend_validate(&o));
        EXPECT_MESSAGE_HAS(required_ops[i]);
    }
    /* the optional operations may be NULL */
    o = tb_ops;
    o.fence_wait = NULL, o.copy_peer = NULL, o.mem_host_ptr = NULL, o.capacity = NULL, o.poll_hints = NULL;
    EXPECT_OK(ums_backend_validate(&o));
}

static void check_backend_add(ums_runtime_t *rt) {
    uint32_t n0 = loc_count(rt);
    int inits0 = tb_inits, finis0 = tb_finis;
    ums_backend_ops o;

    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_backend_add", ums_backend_add(rt, NULL, NULL));
    o = tb_ops, o.abi_version = 2u << 16;
    EXPECT_ERR(UMS_ERR_ABI_MISMATCH, "ums_backend_add", ums_backend_add(rt, &o, "count=1"));
    o = tb_ops, o.struct_size = 8;
    EXPECT_ERR(UMS_ERR_ABI_MISMATCH, "ums_backend_add", ums_backend_add(rt, &o, "count=1"));
    o = tb_ops, o.name = NULL;
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_add", ums_backend_add(rt, &o, "count=1"));
    o = tb_ops, o.mem_alloc = NULL;
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_add", ums_backend_add(rt, &o, "count=1"));
    CHECK(tb_inits == inits0, "a table that fails validation was initialised");

    /* init fails: the backend's own error and message come back */
    EXPECT_ERR(UMS_ERR_BACKEND, "ums_backend_add", ums_backend_add(rt, &tb_ops, "fail"));
    EXPECT_MESSAGE_HAS("refuses to start");
    CHECK(ums_last_error()->native == 5, "native code %d, the backend said 5", ums_last_error()->native);
    /* a location of unknown kind: rejected, and the backend is stopped again */
    int finis1 = tb_finis;
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_add", ums_backend_add(rt, &tb_ops, "count=2,kind=bad"));
    CHECK(tb_finis == finis1 + 1, "a backend rejected after init was not stopped (fini calls %d -> %d)", finis1,
          tb_finis);
    /* more locations than a runtime holds */
    ums_clear_error();
    ums_result r = ums_backend_add(rt, &tb_ops, "count=100");
    CHECK(r < 0 && ums_last_error()->code == r && ums_last_error()->message[0],
          "ums_backend_add(100 locations) returned %s", ums_result_name(r));
    CHECK(loc_count(rt) == n0, "rejected backends changed the location count %u -> %u", n0, loc_count(rt));
    ums_location_t id;
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_location_find", ums_location_find(rt, "tb0", &id));

    /* after an allocation exists: BUSY, and the backend is not even started */
    void *p;
    ASSERT_OK(ums_runtime_alloc(rt, 4096, 0, &p));
    int inits2 = tb_inits;
    EXPECT_ERR(UMS_ERR_BUSY, "ums_backend_add", ums_backend_add(rt, &tb_ops, "count=1"));
    CHECK(tb_inits == inits2, "ums_backend_add started a backend it then refused as BUSY");
    CHECK(loc_count(rt) == n0, "BUSY ums_backend_add changed the location count");
    ASSERT_OK(ums_free(p));
    (void)finis0;

    /* the default runtime: BUSY once it has allocations */
    void *d;
    ASSERT_OK(ums_alloc(4096, 0, &d));
    uint32_t dn0 = loc_count(NULL);
    EXPECT_ERR(UMS_ERR_BUSY, "ums_backend_add", ums_backend_add(NULL, &tb_ops, "count=1"));
    CHECK(loc_count(NULL) == dn0, "BUSY changed the default runtime's locations");
    ASSERT_OK(ums_free(d));
}

/* Where the test plug-ins live, or NULL. */
static const char *plugin_dir(void) {
    static char dir[PATH_MAX];
#ifdef UMS_TEST_PLUGIN_DIR
    snprintf(dir, sizeof dir, "%s", UMS_TEST_PLUGIN_DIR);
#else
    ssize_t len = readlink("/proc/self/exe", dir, sizeof dir - 16);
    if (len <= 0) return NULL;
    dir[len] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash) return NULL;
    strcpy(slash, "/plugins");
#endif
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s/libumshim-backend-badinput-good.so", dir);
    return access(probe, R_OK) == 0 ? dir : NULL;
}

static int is_loaded(const char *path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != NULL;
}

static void check_backend_load(ums_runtime_t *rt) {
    uint32_t n0 = loc_count(rt);
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_backend_load", ums_backend_load(rt, NULL, NULL));
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_load", ums_backend_load(rt, "/nonexistent/libumshim-backend-x.so", NULL));
    EXPECT_MESSAGE_HAS("/nonexistent/libumshim-backend-x.so");
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_load", ums_backend_load(rt, "libumshim-backend-no-such-name.so", NULL));
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_load", ums_backend_load(rt, "libm.so.6", NULL));
    EXPECT_MESSAGE_HAS(UMS_BACKEND_ENTRY_SYMBOL);
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_load", ums_backend_load(rt, "libc.so.6", "x"));
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_load", ums_backend_load(rt, "/proc/self/status", NULL)); /* not ELF */
    EXPECT_ERR(UMS_ERR_PLUGIN, "ums_backend_load", ums_backend_load(rt, "/", NULL));                 /* a directory */
    CHECK(loc_count(rt) == n0, "rejected plug-ins changed the location count");

    const char *dir = plugin_dir();
    if (!dir) {
        printf("note: test plug-ins not found (tests/core/plugins not built); plug-in ABI checks skipped\n");
        return;
    }
    static const struct {
        const char *variant;
        ums_result want;
        const char *mention;
    } bad[] = {
        {"nullentry", UMS_ERR_PLUGIN, NULL},      /* the entry returns NULL */
        {"abi2", UMS_ERR_ABI_MISMATCH, NULL},     /* ABI major 2 */
        {"small", UMS_ERR_ABI_MISMATCH, NULL},    /* struct_size too small */
        {"noname", UMS_ERR_PLUGIN, NULL},         /* name NULL */
        {"nocopy", UMS_ERR_PLUGIN, "copy_from"},  /* a required op missing */
        {"initfail", UMS_ERR_BACKEND, "refuses"}, /* init fails with detail */
    };
    char path[PATH_MAX + 64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s/libumshim-backend-badinput-%s.so", dir, bad[i].variant);
        char text[PATH_MAX + 100];
        snprintf(text, sizeof text, "ums_backend_load(%s)", bad[i].variant);
        ums_clear_error();
        ums_result r = ums_backend_load(rt, path, NULL);
        expect_err_(__LINE__, text, r, bad[i].want, "ums_backend_load");
        if (bad[i].mention) expect_message_has(__LINE__, bad[i].mention);
        CHECK(!is_loaded(path), "rejected plug-in %s is still loaded", bad[i].variant);
        CHECK(loc_count(rt) == n0, "rejected plug-in %s changed the location count", bad[i].variant);
        /* the same plug-in through UMS_BACKENDS / cfg.plugins: creation fails cleanly */
        ums_runtime_config cfg;
        ASSERT_OK(ums_runtime_config_from_env(&cfg));
        cfg.opencl = 0;
        cfg.plugins = path;
        expect_create_fails(__LINE__, bad[i].variant, &cfg, bad[i].want, NULL);
        CHECK(!is_loaded(path), "plug-in %s is still loaded after a failed ums_runtime_create", bad[i].variant);
    }

    /* a good plug-in loads before the first allocation and is refused (BUSY) after */
    snprintf(path, sizeof path, "%s/libumshim-backend-badinput-good.so", dir);
    ums_runtime_t *r2 = make_rt("count=1,capacity=16M");
    uint32_t m0 = loc_count(r2);
    EXPECT_OK(ums_backend_load(r2, path, NULL));
    CHECK(loc_count(r2) == m0 + 1, "the good plug-in added %u locations", loc_count(r2) - m0);
    ums_location_t pl;
    EXPECT_OK(ums_location_find(r2, "plugdev0", &pl));
    void *p;
    ASSERT_OK(ums_runtime_alloc(r2, 4096, 0, &p));
    memset(p, 9, 4096);
    EXPECT_OK(ums_migrate(p, 4096, pl));
    CHECK(((unsigned char *)p)[4095] == 9, "data lost through the plug-in device");
    EXPECT_ERR(UMS_ERR_BUSY, "ums_backend_load", ums_backend_load(r2, path, NULL));
    CHECK(loc_count(r2) == m0 + 1, "a BUSY ums_backend_load changed the location count");
    ASSERT_OK(ums_free(p));
    ASSERT_OK(ums_runtime_destroy(r2));
    CHECK(!is_loaded(path), "the good plug-in is still loaded after its runtime was destroyed");
}

/* ------------------------------------------------------------------------ */
/* 9. fault injection hooks                                                 */

static void check_inject(ums_runtime_t *rt) {
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_test_inject", ums_test_inject(NULL, 1, 1, EIO));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_test_inject", ums_test_inject("no-such-call", 1, 1, EIO));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_test_inject", ums_test_inject("", 1, 1, EIO));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_test_inject", ums_test_inject("MMAP", 1, 1, EIO));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_test_inject", ums_test_inject("op:", 1, 1, UMS_ERR_BACKEND));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_test_inject", ums_test_inject("mem_alloc", 1, 1, UMS_ERR_BACKEND));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_test_inject", ums_test_inject("mmap", 0, 1, EIO));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_test_inject", ums_test_inject("op:mem_alloc", 0, 0, UMS_ERR_BACKEND));
    /* nothing was armed: allocating and migrating work, nothing fired */
    void *p;
    ums_location_t sim0;
    ASSERT_OK(ums_location_find(rt, "sim0", &sim0));
    EXPECT_OK(ums_runtime_alloc(rt, 4096, 0, &p));
    memset(p, 1, 4096);
    EXPECT_OK(ums_migrate(p, 4096, sim0));
    EXPECT_OK(ums_free(p));
    CHECK(ums_test_injected_count() == 0, "rejected injections fired %u failures", ums_test_injected_count());
    const char *const *names = ums_test_inject_names();
    CHECK(names && names[0], "ums_test_inject_names() is empty");
    for (size_t i = 0; names && names[i]; i++)
        for (size_t j = 0; j < i; j++) CHECK(strcmp(names[i], names[j]) != 0, "injection name %s listed twice", names[i]);
    ums_test_inject_clear();
}

/* ------------------------------------------------------------------------ */
/* 10. placement and DRM discovery                                          */

static void check_placement_drm(ums_runtime_t *rt) {
#ifdef UMSHIM_PLACEMENT_H
    ums_placement pl;
    ums_placement_decision dec;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_placement_init", ums_placement_init(NULL, UMS_PLACE_LOCAL));
    ASSERT_OK(ums_placement_init(&pl, UMS_PLACE_LOCAL));
    ums_placement_policy pol = UMS_PLACE_BIND;
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_placement_policy_parse", ums_placement_policy_parse(NULL, &pol));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_placement_policy_parse", ums_placement_policy_parse("bind", NULL));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_placement_policy_parse", ums_placement_policy_parse("bogus", &pol));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_placement_policy_parse", ums_placement_policy_parse("", &pol));
    CHECK(pol == UMS_PLACE_BIND, "a rejected ums_placement_policy_parse wrote *out");
    CHECK(!strcmp(ums_placement_policy_name((ums_placement_policy)99), "unknown"), "policy name 99");
    CHECK(!strcmp(ums_placement_policy_name((ums_placement_policy)-1), "unknown"), "policy name -1");
    CHECK(!strcmp(ums_placement_basis_name((ums_placement_basis)99), "unknown"), "basis name 99");
    CHECK(!strcmp(ums_placement_basis_name((ums_placement_basis)-1), "unknown"), "basis name -1");
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_placement_decide_xml", ums_placement_decide_xml(NULL, &pl, &dec));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_placement_decide_xml", ums_placement_decide_xml("/nonexistent.xml", NULL, &dec));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_placement_decide_xml", ums_placement_decide_xml("/nonexistent.xml", &pl, NULL));
    EXPECT_ERR(UMS_ERR_SYSTEM, "ums_placement_decide_xml", ums_placement_decide_xml("/nonexistent/topology.xml", &pl, &dec));
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_placement_decide_xml", ums_placement_decide_xml("/proc/self/status", &pl, &dec));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_placement_decide", ums_placement_decide(rt, NULL, &dec));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_placement_decide", ums_placement_decide(rt, &pl, NULL));
    ums_placement b = pl;
    b.struct_size = 4;
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_placement_decide", ums_placement_decide(rt, &b, &dec));
    b = pl, b.policy = (ums_placement_policy)99;
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_placement_decide", ums_placement_decide(rt, &b, &dec));
    b = pl, b.flags = 1;
    EXPECT_ERR(UMS_ERR_UNKNOWN_FLAG, "ums_placement_decide", ums_placement_decide(rt, &b, &dec));
    b = pl, b.policy = UMS_PLACE_BIND;
    EXPECT_ERR(UMS_ERR_INVALID_ARG, "ums_placement_decide", ums_placement_decide(rt, &b, &dec));
    b = pl, b.policy = UMS_PLACE_NEAR_DEVICE, b.device = UMS_LOCATION_NONE - 1;
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_placement_decide", ums_placement_decide(rt, &b, &dec));
    char stack[64];
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_place", ums_place(NULL, 64, &pl, NULL));
    EXPECT_ERR(UMS_ERR_NOT_MANAGED, "ums_place", ums_place(stack, sizeof stack, &pl, NULL));
    void *pp;
    ASSERT_OK(ums_runtime_alloc(rt, 4096, 0, &pp));
    EXPECT_ERR(UMS_ERR_BAD_SIZE, "ums_place", ums_place(pp, 0, &pl, NULL));
    EXPECT_ERR(UMS_ERR_OUT_OF_RANGE, "ums_place", ums_place(pp, 4097, &pl, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_place", ums_place(pp, 4096, NULL, NULL));
    ASSERT_OK(ums_free(pp));
#endif
#ifdef UMSHIM_DRM_H
    size_t count = 99;
    ums_drm_device_info d[1];
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_drm_devices", ums_drm_devices(d, 1, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_drm_devices", ums_drm_devices(NULL, 0, NULL));
    EXPECT_ERR(UMS_ERR_NULL_POINTER, "ums_drm_devices", ums_drm_devices(NULL, 1, &count));
    CHECK(count == 99, "a rejected ums_drm_devices wrote *count");
#endif
    (void)rt;
}

/* ------------------------------------------------------------------------ */

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The default runtime (ums_alloc) reads the environment: no OpenCL, one sim
     * device, so a location id valid in the explicit runtime is unknown there. */
    setenv("UMS_OPENCL", "0", 1);
    setenv("UMS_SIM", "count=1,capacity=64M", 1);

    check_results();
    check_no_default_start();
    check_env();
    check_create();
    check_validate();

    ums_runtime_t *rt = make_rt("count=2,capacity=64M");
    printf("fault mode: %s\n", ums_fault_mode_name(ums_runtime_fault_mode(rt)));
    ASSERT_EQ(loc_count(rt), 3);
    check_queries(rt);
    check_alloc(rt);
    check_ranges(rt);
    check_events(rt);
    check_backend_add(rt);
    check_backend_load(rt);
    check_inject(rt);
    check_placement_drm(rt);

    /* a default-runtime allocation and a location id that only the explicit runtime has */
    void *d;
    ASSERT_OK(ums_alloc(4096, 0, &d));
    uint32_t dn = loc_count(NULL);
    ASSERT_LT(dn, loc_count(rt));
    EXPECT_ERR(UMS_ERR_UNKNOWN_LOCATION, "ums_migrate", ums_migrate(d, 4096, dn));
    EXPECT_ERR(UMS_ERR_NOT_BASE, "ums_free", ums_free((char *)d + 8));
    EXPECT_OK(ums_free(d));

    EXPECT_OK(ums_runtime_destroy(rt));
    EXPECT_OK(ums_shutdown());
    EXPECT_OK(ums_shutdown());

    printf("%d checks, %d failed\n", g_checks, g_failures);
    if (g_failures) return 1;
    printf("ok\n");
    return 0;
}
