#!/bin/bash
# The demo: build vigil, then run it in a temp dir on the bundled example
# configuration: validate it, start vigild (daemonized, as an admin would),
# show its state and log, and stop it with SIGTERM.
# Usage: contrib/demo.sh   (as root it first installs the build dependencies)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "$(id -u)" -eq 0 ]; then contrib/install-deps.sh; fi
if [ ! -x build/vigild ]; then
    autoreconf -fi >/dev/null
    mkdir -p build
    (cd build && ../configure -q && make -s -j"$(nproc)")
fi

demo=$(mktemp -d /tmp/vigil-demo.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
    rm -rf "$demo"
}
trap cleanup EXIT

# The example config, with every path moved into the temp dir.
sed -e "/^\[vigil\]/a state_dir = $demo/state\nrun_dir = $demo/run\nlog_dir = $demo/log" \
    contrib/vigil.conf.example > "$demo/vigil.conf"
chmod 0600 "$demo/vigil.conf"

echo "== vigilctl config-check"
build/vigilctl -c "$demo/vigil.conf" config-check

echo "== starting vigild (it forks; the parent returns once the daemon is ready)"
build/vigild -c "$demo/vigil.conf" -d 4
pid=$(cat "$demo/run/vigild.pid")
echo "vigild is running as pid $pid"

echo "== a second vigild is refused while the first holds the pid file"
build/vigild -c "$demo/vigil.conf" -i || true

echo "== stopping vigild with SIGTERM"
kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "vigild did not stop" >&2; exit 1; fi
pid=
[ -e "$demo/run/vigild.pid" ] && { echo "pid file left behind" >&2; exit 1; }
echo "stopped; the pid file is gone"

echo "== $demo/log/vigild.log"
cat "$demo/log/vigild.log"
