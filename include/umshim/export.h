/**
 * @file umshim/export.h
 * @brief Symbol visibility for the public API.
 *
 * The library is built with hidden visibility; only functions marked
 * ::UMS_API (all named `ums_...`) are exported from libumshim.so.
 */
#ifndef UMSHIM_EXPORT_H
#define UMSHIM_EXPORT_H

#if defined(UMS_BUILDING_LIBRARY) && defined(__GNUC__)
#define UMS_API __attribute__((visibility("default")))
#else
#define UMS_API
#endif

#endif
