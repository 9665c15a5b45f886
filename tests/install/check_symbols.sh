#!/usr/bin/env bash
# libumshim.so exports only ums_* symbols (plus the version node), and has a SONAME.
set -euo pipefail
lib="$1"
soname="$(objdump -p "$lib" | awk '/SONAME/ {print $2}')"
case "$soname" in libumshim.so.[0-9]*) ;; *) echo "bad SONAME '$soname'"; exit 1 ;; esac
bad="$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^ums_' | grep -v '^UMSHIM_' || true)"
count="$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^ums_')"
if [ -n "$bad" ]; then echo "exported symbols without the ums_ prefix:"; echo "$bad"; exit 1; fi
if nm -D --defined-only "$lib" | awk '{print $3}' | grep -q '^ums__'; then echo "internal ums__ symbols exported"; exit 1; fi
echo "SONAME $soname; $count exported symbols, all ums_"
