#!/bin/bash
# The client modules' socket round trip against a minimal C responder
# (bench/client_fake_nss.c): the floor that the real vigil_nss adds to.
# Prints figures for three CPU placements (client and responder on the
# same CPU, on different CPUs, unpinned), each next to the bare UNIX round
# trip measured in the same run (BENCHMARKS.md).  Never fails on a figure.
# Usage: bench/run-client-bench.sh [BUILDDIR] [RUNS] [CALLS]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
runs=${2:-7}
calls=${3:-20000}
module="$build/.libs/libnss_vigil.so.2"
for f in "$module" "$build/bench/client_fake_nss" "$build/bench/client_bench"; do
    [ -e "$f" ] || { echo "run-client-bench: $f missing: make -C $build check" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/vigil-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

run() {   # $1: label, $2: taskset for the responder, $3: for the client
    echo "== $1"
    rm -f "$dir/ready"
    $2 "$build/bench/client_fake_nss" "$dir" &
    pid=$!
    for _ in $(seq 100); do [ -e "$dir/ready" ] && break; sleep 0.05; done
    [ -e "$dir/ready" ] || { echo "run-client-bench: responder not ready" >&2; exit 1; }
    $3 "$build/bench/client_bench" "$module" "$dir" "$runs" "$calls"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

cpus=$(nproc)
run "same CPU" "taskset -c 0" "taskset -c 0"
if [ "$cpus" -ge 2 ]; then
    run "different CPUs" "taskset -c 0" "taskset -c 1"
fi
run "unpinned" "" ""
