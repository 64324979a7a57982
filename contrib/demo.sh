#!/bin/bash
# The demo: build vigil, then run it in a temp dir on the bundled example
# configuration: validate it, start vigild (daemonized, as an admin would)
# with its services, show their status, kill one and watch vigild restart
# it, change a log level at runtime, and stop everything with SIGTERM. Then
# the demo directory: a throwaway slapd with a few users and groups, vigil
# against it, getent and initgroups answers and (as root) a PAM login with
# pamtester, and the same with the directory stopped: the login from cached
# credentials (contrib/demo.py).
# Usage: contrib/demo.sh   (as root it first installs the build dependencies)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "$(id -u)" -eq 0 ]; then contrib/install-deps.sh; fi
if [ ! -f build/Makefile ]; then
    autoreconf -fi >/dev/null
    mkdir -p build
    (cd build && ../configure -q)
fi
make -s -C build -j"$(nproc)" all tests/tools/nss_call
# vigild starts the services from the build tree, not from $libexecdir.
export VIGIL_LIBEXEC_DIR="$top/build"

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

echo "== vigilctl status: vigild and the services it supervises"
build/vigilctl -c "$demo/vigil.conf" status

echo "== a second vigild is refused while the first holds the pid file"
build/vigild -c "$demo/vigil.conf" -i || true

nss=$(build/vigilctl -c "$demo/vigil.conf" status | awk '$1 == "nss" {print $2}')
echo "== kill -9 the nss responder (pid $nss): vigild restarts it"
kill -KILL "$nss"
for _ in $(seq 1 50); do
    build/vigilctl -c "$demo/vigil.conf" status | awk '$1 == "nss" && $3 == "running" {ok=1} END {exit !ok}' && break
    sleep 0.1
done
build/vigilctl -c "$demo/vigil.conf" status

echo "== vigilctl debug-level 6 nss"
build/vigilctl -c "$demo/vigil.conf" debug-level 6 nss

echo "== stopping vigild with SIGTERM"
kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "vigild did not stop" >&2; exit 1; fi
pid=
[ -e "$demo/run/vigild.pid" ] && { echo "pid file left behind" >&2; exit 1; }
if pgrep -f "$demo/vigil.conf" >/dev/null; then echo "a service was left running" >&2; exit 1; fi
echo "stopped; no service, socket or pid file is left"

echo "== $demo/log/vigild.log"
cat "$demo/log/vigild.log"

echo
echo "==== the demo directory"
/usr/bin/python3 contrib/demo.py build
