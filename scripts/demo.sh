#!/usr/bin/env bash
# One command, on a fresh Debian 12 machine: install what is missing, build,
# and run the OpenCL flagship sample on POCL (OpenCL on the CPU).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"
ums_setup_packages
BUILD="${UMS_BUILD_DIR:-$UMS_ROOT/build}"
mkdir -p "$BUILD"
ums_build "$BUILD" -DBUILD_TESTING=OFF
echo "== the OpenCL flagship: CPU threads and POCL kernels sharing buffers"
rc=0
POCL_DEVICES="${POCL_DEVICES:-pthread pthread}" "$BUILD/samples/opencl/cl_flagship" "$@" || rc=$?
if [ "$rc" -eq 77 ]; then
    echo "== no OpenCL device: running the CPU flagship on simulated devices instead"
    rc=0
    "$BUILD/samples/flagship" || rc=$?
fi
exit "$rc"
