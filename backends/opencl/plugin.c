/*
 * The opencl backend as a plug-in (libumshim-backend-opencl.so): the same
 * table as the built-in backend, under the entry symbol the core looks up
 * (UMS_BACKEND_ENTRY_SYMBOL). Compiled only into the plug-in module, with every
 * other symbol hidden, so the plug-in and a library with the built-in backend
 * can share one process.
 */
#include "opencl_backend.h"

/** The plug-in's entry point (see ::ums_backend_entry_fn); returns the opencl table. */
__attribute__((visibility("default"))) const ums_backend_ops *ums_backend_entry(void);

const ums_backend_ops *ums_backend_entry(void) {
    return ums__opencl_backend_entry();
}

/* The entry point must keep the signature the core calls it with. */
static ums_backend_entry_fn const entry_signature_check __attribute__((unused)) = ums_backend_entry;
