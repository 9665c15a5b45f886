#!/usr/bin/env bash
# Install the build into a temporary prefix, then build a consumer against it
# with find_package(umshim) (shared and static) and with pkg-config (shared
# and static), and run each.
set -euo pipefail
build="$1"
src="$(cd "$(dirname "$0")" && pwd)/consumer"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir="$(ls -d "$tmp"/prefix/lib*/ | head -n1)"
test -f "$tmp/prefix/include/umshim.h"
test -f "$tmp/prefix/include/umshim/alloc.h"
ls "$libdir"/libumshim.so.* "$libdir"/libumshim.a >/dev/null
cmake -S "$src" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer_shared"
"$tmp/cm/consumer_static"
if ldd "$tmp/cm/consumer_static" | grep -q libumshim; then echo "static consumer links libumshim.so"; exit 1; fi
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c11 "$src/main.c" -o "$tmp/pc_shared" $(pkg-config --cflags --libs umshim)
LD_LIBRARY_PATH="$libdir" "$tmp/pc_shared"
cc -std=c11 "$src/main.c" -o "$tmp/pc_static" $(pkg-config --cflags umshim) -Wl,-Bstatic -lumshim -Wl,-Bdynamic \
    $(pkg-config --libs --static umshim | sed 's/-lumshim//')
"$tmp/pc_static"
echo "install: 4 consumers built and ran"
