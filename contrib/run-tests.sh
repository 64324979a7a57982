#!/bin/bash
# Every test vigil has, from a clean clone: dependencies (as root), bootstrap,
# a -Werror build, the unit tests, the integration tests against real slapd
# and KDC processes, the same integration tests as an unprivileged user (when
# run as root; without the long stress, fuzz and valgrind runs, marked heavy,
# whose outcome privileges do not change), then unit and integration tests
# again under ASan+UBSan. The sanitizer build compiles while the first
# integration run (which mostly waits on servers) goes on.
# Usage: contrib/run-tests.sh            (CI runs exactly this)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
python=/usr/bin/python3   # Debian's, which has pytest (see TESTING.md)

step() { printf '\n==== %s (%ss)\n' "$*" "$SECONDS"; }

if [ "$(id -u)" -eq 0 ]; then
    step "installing dependencies"
    contrib/install-deps.sh
fi

# The integration tests mostly wait (for daemons, timeouts, the directory):
# with pytest-xdist (Debian's python3-pytest-xdist) three run at once, each
# with its own slapd, KDC and temp dirs; tests that share something of the
# whole machine (a uid's kernel keyring) carry one xdist_group mark, and
# loadgroup runs them on one worker, one after another. Without xdist the
# tests run one by one.
parallel=""
if "$python" -c 'import xdist' 2>/dev/null; then
    parallel="-n 3 --dist loadgroup"
fi

step "bootstrap"
autoreconf -fi >/dev/null

step "build (-Werror)"
mkdir -p build
(cd build && ../configure -q --enable-werror && make -s -j"$jobs" all)

step "unit tests"
make -s -C build -j"$jobs" check || { cat build/tests/unit/*.log 2>/dev/null; exit 1; }

step "integration tests (sanitizer build compiling alongside)"
mkdir -p build-asan
# all, then the check programs (TESTS= runs none): two makes, never one with
# both goals (automake's check re-enters make and would build all twice at once).
(cd build-asan && ../configure -q --enable-werror --enable-sanitizers && make -s -j"$jobs" all &&
    make -s -j"$jobs" check TESTS=) \
    >build-asan.log 2>&1 &
asan_build=$!
if ! make -s -C build intgcheck PYTEST_ARGS="$parallel"; then
    kill "$asan_build" 2>/dev/null || true
    wait "$asan_build" 2>/dev/null || true
    exit 1
fi

if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null; then
    # The same suite without privileges: a copy of the built tree that the
    # unprivileged user owns (the clone itself may sit where it cannot read).
    step "integration tests as an unprivileged user"
    # Short paths: UNIX socket paths have a length limit, and pytest-xdist
    # adds a directory per worker to every test's temp dir.
    copy=$(mktemp -d /tmp/vu.XXXXXX)
    trap 'rm -rf "$copy"' EXIT
    mkdir "$copy/tree"
    tar -C "$top" --exclude=./build-asan --exclude=./build-asan.log -cf - . | tar -C "$copy/tree" -xf -
    mkdir "$copy/home"
    chown -R nobody:nogroup "$copy"
    chmod 0755 "$copy"
    runuser -u nobody -- env -i PATH="$PATH" HOME="$copy/home" TMPDIR="$copy/home" \
        VIGIL_BUILDDIR="$copy/tree/build" VIGIL_SRCDIR="$copy/tree" \
        sh -c "cd '$copy/tree' && $python -m pytest -p no:cacheprovider -q $parallel --basetemp='$copy/t' -m 'not heavy' tests/intg"
fi

step "sanitizer build (ASan+UBSan): unit and integration tests"
wait "$asan_build" || { cat build-asan.log; exit 1; }
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    make -s -C build-asan -j"$jobs" check || { cat build-asan/tests/unit/*.log 2>/dev/null; exit 1; }
# The daemons under the sanitizers too: a leak or overflow there fails the run.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    make -s -C build-asan intgcheck PYTEST_ARGS="$parallel"

step "all tests passed"
