#!/usr/bin/env bash
# Shared set-up for demo.sh and test.sh: install the Debian packages that are
# missing, then configure and build into $UMS_BUILD_DIR (default: build/).
# Source it; it defines ums_setup_packages and ums_build.
set -euo pipefail

UMS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UMS_PACKAGES=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo
              libhwloc-dev hwloc libdrm-dev libnuma-dev libasan8 libubsan1 libtsan2 binutils)

ums_setup_packages() {
    local missing=()
    for p in "${UMS_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "== installing: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# ums_build DIR [cmake options...]
ums_build() {
    local dir="$1"
    shift
    cmake -S "$UMS_ROOT" -B "$dir" -DUMS_WERROR=ON "$@" >"$dir.configure.log" 2>&1 || {
        cat "$dir.configure.log"
        return 1
    }
    cmake --build "$dir" -j"$(nproc)" 2>&1 | grep -vE '^\[|^-- |Scanning|Built target|Consolidate' || true
    cmake --build "$dir" -j"$(nproc)" >/dev/null # fails loudly if the first pass failed
}
