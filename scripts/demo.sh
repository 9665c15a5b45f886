#!/usr/bin/env bash
# One command, on a fresh Debian 12 machine: install what is missing, build,
# and run the flagship sample on POCL (OpenCL on the CPU).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"
ums_setup_packages
BUILD="${UMS_BUILD_DIR:-$UMS_ROOT/build}"
mkdir -p "$BUILD"
ums_build "$BUILD" -DBUILD_TESTING=OFF
echo "== running the flagship sample"
"$BUILD/samples/flagship" "$@"
