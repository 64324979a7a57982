#!/bin/bash
# Identity lookups, vigil next to SSSD 2.8, against one throwaway slapd:
# hot and cold getpwnam / getgrnam (10,000 members) / initgroups (500
# groups), two clients at once, PSS, each socket-path figure next to a bare
# UNIX round trip with the same CPU placement (BENCHMARKS.md).  The work is
# done by bench/identity_bench.py, run in a private mount namespace so that
# SSSD's fixed paths (/var/lib/sss, /etc/sssd, /var/log/sssd, /run) are temp
# dirs there and the machine's own are never touched.  Prints figures and
# never fails on one; exits non-zero only when it cannot run.
#
# Usage: bench/run-identity-bench.sh [BUILDDIR] [--users N] [--runs R]
#        [--vigil-only]
#   BUILDDIR   a built tree (make -C BUILDDIR check builds bench/nss_bench
#              and bench/ldap_floor); default: build
#   --users N  users in the directory (default 1000; 100000 for the large set)
#   --runs R   runs per figure, medians printed (default 5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=build
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
    build=$1
    shift
fi
build=$(cd "$build" && pwd)
for f in .libs/libnss_vigil.so.2 bench/nss_bench bench/ldap_floor vigild vigil_be vigil_nss vigilctl; do
    [ -e "$build/$f" ] || { echo "run-identity-bench: $build/$f missing: make -C $build check" >&2; exit 1; }
done
for tool in slapd slapadd ldapsearch taskset python3; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
        { echo "run-identity-bench: $tool missing (Debian: slapd ldap-utils util-linux python3)" >&2; exit 1; }
done

sssd_packages=(sssd sssd-ldap sssd-tools)   # sss_cache is in sssd-tools
sssd_reason=""

# Installing sssd would edit /etc/nsswitch.conf (libnss-sss's postinst adds
# "sss") and /etc/pam.d/common-* (libpam-sss runs pam-auth-update).  This
# bench must leave both as they are: "sss" is recorded as a PAM profile the
# admin has already seen, so pam-auth-update does not enable it, and both
# are compared with a copy afterwards and put back if a script changed them
# anyway (each restore is a rename, as the scripts' own sed -i does).
# libpam-sss depends on libpam-pwquality, whose profile is handled the same.
guard=""
restore_guarded() {
    [ -n "$guard" ] || return 0
    if ! cmp -s "$guard/nsswitch.conf" /etc/nsswitch.conf; then
        cp -p "$guard/nsswitch.conf" /etc/.nsswitch.conf.vigil-bench
        mv /etc/.nsswitch.conf.vigil-bench /etc/nsswitch.conf
        echo "run-identity-bench: the package scripts edited /etc/nsswitch.conf: put back as it was"
    fi
    rm -f /etc/nsswitch.conf.nss.libnss-sss-will-install
    local f
    for f in /etc/pam.d/*; do
        [ -e "$guard/pam.d/${f##*/}" ] || { rm -f "$f"; echo "run-identity-bench: removed new $f"; }
    done
    for f in "$guard"/pam.d/*; do
        if ! cmp -s "$f" "/etc/pam.d/${f##*/}"; then
            cp -p "$f" "/etc/pam.d/.${f##*/}.vigil-bench"
            mv "/etc/pam.d/.${f##*/}.vigil-bench" "/etc/pam.d/${f##*/}"
            echo "run-identity-bench: the package scripts edited /etc/pam.d/${f##*/}: put back as it was"
        fi
    done
    rm -rf "$guard"
    guard=""
}

install_sssd() {
    guard=$(mktemp -d /tmp/vigil-ibench-guard.XXXXXX)
    cp -p /etc/nsswitch.conf "$guard/nsswitch.conf"
    cp -pr /etc/pam.d "$guard/pam.d"
    trap restore_guarded EXIT   # also when apt-get is interrupted
    local profile
    for profile in sss pwquality; do
        if [ -d /var/lib/pam ] && ! grep -qx "$profile" /var/lib/pam/seen 2>/dev/null; then
            echo "$profile" >> /var/lib/pam/seen
        fi
    done
    local rc=0
    echo "run-identity-bench: installing ${sssd_packages[*]} (apt-get; /etc/nsswitch.conf and /etc/pam.d kept as they are)"
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends "${sssd_packages[@]}" \
        > "$guard/apt.log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        sssd_reason="apt-get install ${sssd_packages[*]} failed (exit $rc): $(tail -n 3 "$guard/apt.log" | tr '\n' ' ')"
    fi
    restore_guarded
    trap - EXIT
}

sssd_installed() {
    [ -x /usr/sbin/sssd ] && [ -x /usr/sbin/sss_cache ] &&
        compgen -G "/usr/lib/*/sssd/libsss_ldap.so" >/dev/null &&
        compgen -G "/usr/lib/*/libnss_sss.so.2" >/dev/null
}

export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the source tree
opts=("$@")
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
vigil_only=0
for a in "$@"; do [ "$a" = --vigil-only ] && vigil_only=1; done
if [ $vigil_only -eq 1 ]; then
    sssd_reason="--vigil-only given"
elif ! sssd_installed; then
    if [ "$(id -u)" -ne 0 ]; then
        sssd_reason="sssd, sssd-ldap and sssd-tools are not installed and we are not root to install them"
    elif ! command -v apt-get >/dev/null; then
        sssd_reason="sssd, sssd-ldap and sssd-tools are not installed and there is no apt-get"
    else
        install_sssd
        [ -n "$sssd_reason" ] || sssd_installed || sssd_reason="sssd still missing after apt-get install"
    fi
fi
if [ -z "$sssd_reason" ] && [ "$(id -u)" -ne 0 ]; then
    sssd_reason="SSSD runs as root only (its paths are fixed: a private mount namespace needs root)"
fi

# SSSD's paths are fixed, so it runs in a private mount namespace where they
# are temp dirs; every process of the bench (vigil's too, and the clients)
# runs in that namespace, which also ends every bind mount with it.
if [ -z "$sssd_reason" ] && ! unshare -m --propagation private true 2>/dev/null; then
    sssd_reason="cannot make a private mount namespace (unshare -m) here"
fi
if [ -z "$sssd_reason" ]; then
    exec unshare -m --propagation private -- "$python" "$here/identity_bench.py" "$build" \
        --namespace "$(readlink /proc/self/ns/mnt)" "${opts[@]}"
fi
exec "$python" "$here/identity_bench.py" "$build" --no-sssd "$sssd_reason" "${opts[@]}"
