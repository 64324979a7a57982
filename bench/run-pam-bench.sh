#!/bin/bash
# PAM authentication latency, vigil next to SSSD 2.8, against one throwaway
# slapd: pam_authenticate online (the same user again and again; a user
# refreshed from the directory at each login) and offline from cached
# credentials, with cache_credentials = true on both sides.  The work is
# done by bench/pam_bench.py, run in a private mount namespace so that
# SSSD's fixed paths are temp dirs there (as bench/run-identity-bench.sh
# does, whose set-up it shares: bench/identity_setup.py).  PAM stacks are
# read with pam_start_confdir from a temp dir: /etc/pam.d is never touched,
# and no pam_wrapper adds its ~20 ms.  Prints figures, never fails on one;
# exits non-zero only when it cannot run.
#
# With --krb5 both sides log in with auth_provider = krb5 against a real MIT
# KDC of our own (tests/intg/fixtures/kdc.py; identity stays with slapd), and
# bench/krb5_floor measures the raw Kerberos login in the same run: kinit as
# a whole process, vigil_krb5_child alone, krb5_get_init_creds_password in
# one process.
#
# Usage: bench/run-pam-bench.sh [BUILDDIR] [--runs R] [--vigil-only]
#                               [--vigil-without-cached-credentials]
#                               [--krb5] [--krb5-validate]
#   BUILDDIR   a built tree (make -C BUILDDIR check builds bench/pam_bench);
#              default: build
#   --runs R   runs per figure, medians printed (default 5)
#   --vigil-without-cached-credentials  vigil with cache_credentials = false
#              (no offline hash, no offline row): where its time goes
#   --krb5     Kerberos logins (krb5-kdc, krb5-admin-server, krb5-user;
#              SSSD: sssd-krb5)
#   --krb5-validate  the same with krb5_validate = true on both sides (a
#              host keytab from the KDC)
# SSSD is measured only when it is installed (sssd, sssd-ldap, libpam-sss;
# bench/run-identity-bench.sh installs them) and we are root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=build
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
    build=$1
    shift
fi
build=$(cd "$build" && pwd)
for f in .libs/pam_vigil.so bench/pam_bench vigild vigil_be vigil_pam vigilctl; do
    [ -e "$build/$f" ] || { echo "run-pam-bench: $build/$f missing: make -C $build check" >&2; exit 1; }
done
krb5=
for a in "$@"; do case $a in --krb5|--krb5-validate) krb5=1 ;; esac; done
if [ -n "$krb5" ]; then
    [ -e "$build/bench/krb5_floor" ] && [ -e "$build/vigil_krb5_child" ] ||
        { echo "run-pam-bench: $build/bench/krb5_floor missing: make -C $build check" >&2; exit 1; }
    for tool in /usr/sbin/krb5kdc /usr/sbin/kadmind /usr/sbin/kdb5_util /usr/sbin/kadmin.local /usr/bin/kinit; do
        [ -x "$tool" ] || { echo "run-pam-bench: $tool missing (Debian: krb5-kdc krb5-admin-server krb5-user)" >&2
                            exit 1; }
    done
fi
for tool in slapd slapadd ldapsearch python3; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
        { echo "run-pam-bench: $tool missing (Debian: slapd ldap-utils python3)" >&2; exit 1; }
done
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the source tree
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3

sssd_reason=""
for a in "$@"; do [ "$a" = --vigil-only ] && sssd_reason="--vigil-only given"; done
pam_sss_found() {
    compgen -G "/lib/*/security/pam_sss.so" >/dev/null || compgen -G "/usr/lib/*/security/pam_sss.so" >/dev/null
}
if [ -z "$sssd_reason" ]; then
    if ! [ -x /usr/sbin/sssd ] || ! compgen -G "/usr/lib/*/sssd/libsss_ldap.so" >/dev/null || ! pam_sss_found; then
        sssd_reason="sssd, sssd-ldap and libpam-sss are not installed (bench/run-identity-bench.sh installs them)"
    elif [ -n "$krb5" ] && ! compgen -G "/usr/lib/*/sssd/libsss_krb5.so" >/dev/null; then
        sssd_reason="sssd-krb5 is not installed"
    elif [ "$(id -u)" -ne 0 ]; then
        sssd_reason="SSSD runs as root only (its paths are fixed: a private mount namespace needs root)"
    elif ! unshare -m --propagation private true 2>/dev/null; then
        sssd_reason="cannot make a private mount namespace (unshare -m) here"
    fi
fi
opts=()
for a in "$@"; do [ "$a" = --vigil-only ] || opts+=("$a"); done
if [ -z "$sssd_reason" ]; then
    exec unshare -m --propagation private -- "$python" "$here/pam_bench.py" "$build" \
        --namespace "$(readlink /proc/self/ns/mnt)" "${opts[@]}"
fi
exec "$python" "$here/pam_bench.py" "$build" --no-sssd "$sssd_reason" "${opts[@]}"
