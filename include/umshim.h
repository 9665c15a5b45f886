/**
 * @file umshim.h
 * @brief umshim: one allocation API for CPU threads and accelerator kernels.
 *
 * Include this umbrella header; it pulls in one header per concept.
 * Conventions: every function that can fail returns a ::ums_result and fills
 * the thread's last-error record (ums_last_error()); output parameters are
 * written only on success; a function that rejects its input has no side effect.
 */
#ifndef UMSHIM_H
#define UMSHIM_H

#include "umshim/export.h"
#include "umshim/result.h"
#include "umshim/runtime.h"
#include "umshim/location.h"
#include "umshim/alloc.h"
#include "umshim/migrate.h"
#include "umshim/advise.h"
#include "umshim/query.h"
#include "umshim/counters.h"
#include "umshim/backend.h"
#include "umshim/testing.h"
#if __has_include("umshim/placement.h")
#include "umshim/placement.h"
#endif
#if __has_include("umshim/drm.h")
#include "umshim/drm.h"
#endif

/** Library version: major, minor, patch. */
#define UMS_VERSION_MAJOR 0
#define UMS_VERSION_MINOR 1
#define UMS_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif
/** The library's version string ("0.1.0"), as built. */
UMS_API const char *ums_version(void);
#ifdef __cplusplus
}
#endif

#endif
