#!/usr/bin/env bash
# One command, on a fresh Debian 12 machine: install what is missing, build,
# and run the whole suite four times: the normal build, the same build in
# signal fault mode, an ASan+UBSan build and a TSan build. Exits non-zero on
# any failure. Set UMS_TEST_QUICK=1 to run only the first pass.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"
ums_setup_packages
BASE="${UMS_BUILD_DIR:-$UMS_ROOT/build}"
JOBS="$(nproc)"
failed=()
t_start=$(date +%s)

# The reason each skipped test printed ("SKIP: ..."), from ctest's log.
print_skips() { # dir
    local log="$1/Testing/Temporary/LastTest.log"
    [ -f "$log" ] || return 0
    awk '/^[0-9]+\/[0-9]+ Testing: / { name = $3 }
         /^SKIP: / && !seen[name]++ { print "== skipped " name ": " substr($0, 7) }' "$log"
}

run_pass() { # name dir [env...] -- [ctest args]
    local name="$1" dir="$2"
    shift 2
    local envs=()
    while (($#)) && [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift || true
    echo "== [$name] ctest $*"
    local t0=$(date +%s)
    if ! (cd "$dir" && env "${envs[@]}" ctest --output-on-failure -j"$JOBS" "$@"); then
        failed+=("$name")
    fi
    print_skips "$dir"
    echo "== [$name] $(($(date +%s) - t0)) s"
}

mkdir -p "$BASE"
echo "== build: normal"
ums_build "$BASE"
run_pass normal "$BASE" UMS_TEST_PASS=normal --
run_pass signal "$BASE" UMS_FAULT=signal UMS_TEST_PASS=signal -- -LE vm

if [ "${UMS_TEST_QUICK:-0}" != 1 ]; then
    echo "== build: asan+ubsan"
    mkdir -p "$BASE-asan"
    ums_build "$BASE-asan" -DUMS_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug
    run_pass asan "$BASE-asan" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        UMS_TEST_PASS=asan -- -LE "vm|nosan"
    echo "== build: tsan"
    mkdir -p "$BASE-tsan"
    ums_build "$BASE-tsan" -DUMS_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug
    run_pass tsan "$BASE-tsan" TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" UMS_TEST_PASS=tsan \
        -- -LE "vm|nosan"
fi

echo "== total $(($(date +%s) - t_start)) s"
if ((${#failed[@]})); then
    echo "FAILED passes: ${failed[*]}"
    exit 1
fi
echo "all passes succeeded"
