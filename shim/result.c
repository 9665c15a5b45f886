/* Result names and messages (from UMS_RESULT_MAP) and the last-error record. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

UMS_API const char *ums_result_name(ums_result r) {
    switch (r) {
#define UMS_NAME_CASE_(name, value, msg) \
    case UMS_##name:                     \
        return "UMS_" #name;
        UMS_RESULT_MAP(UMS_NAME_CASE_)
#undef UMS_NAME_CASE_
    }
    return "UMS_ERR_UNKNOWN_RESULT";
}

UMS_API const char *ums_result_string(ums_result r) {
    switch (r) {
#define UMS_MSG_CASE_(name, value, msg) \
    case UMS_##name:                    \
        return msg;
        UMS_RESULT_MAP(UMS_MSG_CASE_)
#undef UMS_MSG_CASE_
    }
    return "unknown result code";
}

/* One record per thread: the documented error side channel. */
static _Thread_local ums_error_info last_error = {UMS_OK, 0, "core", "", ""};
/* The public call in progress on this thread (see ums__api_enter): the record as it
 * was before the call, restored if the call succeeds, and whether detail was
 * recorded during it (kept by ums__fail_keep and ums__api_leave). */
static _Thread_local struct {
    int depth;
    int pending;
    ums_error_info saved;
    char saved_backend[32];
} call;
/* The backend's name is copied: the record may outlive the backend (a plug-in
 * that failed to start is unloaded before the caller reads the record). */
static _Thread_local char backend_name[32] = "core";

UMS_API const ums_error_info *ums_last_error(void) { return &last_error; }

UMS_API void ums_clear_error(void) {
    last_error.code = UMS_OK;
    last_error.native = 0;
    last_error.backend = "core";
    last_error.function = "";
    last_error.message[0] = '\0';
    call.pending = 0;
}

static void vrecord(const char *function, const char *backend, ums_result code, int native, const char *fmt,
                    va_list ap) {
    last_error.code = code;
    last_error.native = native;
    snprintf(backend_name, sizeof backend_name, "%s", backend ? backend : "core");
    last_error.backend = backend_name;
    last_error.function = function ? function : "";
    vsnprintf(last_error.message, sizeof last_error.message, fmt, ap);
}

ums_result ums__fail(const char *function, const char *backend, ums_result code, int native, const char *fmt,
                     ...) {
    va_list ap;
    va_start(ap, fmt);
    vrecord(function, backend, code, native, fmt, ap);
    va_end(ap);
    call.pending = 1;
    return code;
}

/* Backends report detail through their services table before returning an error. */
void ums__backend_set_error(const char *backend, ums_result code, int native, const char *fmt, va_list ap) {
    vrecord("", backend, code, native, fmt, ap);
    call.pending = 1;
}

ums_result ums__fail_keep(const char *function, ums_result code) {
    if (call.pending) { /* detail recorded during this call: keep its message */
        if (!last_error.function[0]) last_error.function = function;
        last_error.code = code;
        return code;
    }
    return ums__fail(function, "core", code, 0, "%s", ums_result_string(code));
}

void ums__api_enter(void) {
    if (call.depth++ == 0) {
        call.saved = last_error;
        memcpy(call.saved_backend, backend_name, sizeof backend_name);
        call.pending = 0;
    }
}

ums_result ums__api_leave(const char *function, ums_result r) {
    if (call.depth == 0 || --call.depth > 0) return r;
    if (r == UMS_OK) {
        /* internal failures that were handled leave no trace */
        last_error = call.saved;
        memcpy(backend_name, call.saved_backend, sizeof backend_name);
        last_error.backend = backend_name;
    } else {
        if (!call.pending) ums__fail(function, "core", r, 0, "%s", ums_result_string(r));
        last_error.code = r;
        last_error.function = function;
    }
    call.pending = 0;
    return r;
}

uint64_t ums__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ums__log(ums_runtime_t *rt, ums_log_level level, const char *fmt, ...) {
    if (!rt || level == UMS_LOG_OFF || (int)level > (int)rt->cfg.log_level) return;
    static const char *const names[] = {"off", "error", "warn", "info", "debug"};
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "umshim[%s]: %s\n", names[level], buf);
}

UMS_API const char *ums_version(void) { return "0.1.0"; }
