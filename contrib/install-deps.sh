#!/bin/sh
# Install everything needed to build and test vigil on Debian 12.
# Idempotent and non-interactive. Never starts or enables a system service:
# slapd and the KDC are started by the tests themselves, in a temp dir.
set -eu

BUILD_PKGS="build-essential autoconf automake libtool pkg-config
 libtalloc-dev libtevent-dev libldb-dev libtdb-dev libdbus-1-dev libldap-dev libkrb5-dev libsasl2-dev
 libxml2-dev libxslt1-dev libaugeas-dev libcmocka-dev libpam0g-dev libpopt-dev libcrypt-dev"
TEST_PKGS="slapd ldap-utils krb5-kdc krb5-admin-server krb5-user
 libnss-wrapper libpam-wrapper pamtester ldb-tools augeas-lenses xsltproc sudo
 python3 python3-pytest python3-pytest-xdist python3-pypamtest openssl strace valgrind clang libclang-rt-14-dev procps
 libfaketime libsasl2-modules-gssapi-mit"
# Packages whose maintainer scripts would start (or enable) a daemon.
SERVICE_PKGS="slapd krb5-kdc krb5-admin-server"

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (it calls apt-get)" >&2
    exit 1
fi

missing=""
for p in $BUILD_PKGS $TEST_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps.sh: everything is installed"
    exit 0
fi

newly_installed_services=""
for s in $SERVICE_PKGS; do
    case " $missing " in *" $s "*) newly_installed_services="$newly_installed_services $s";; esac
done

# policy-rc.d exiting 101 tells invoke-rc.d not to start anything during install.
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=yes
fi
cleanup() { [ "$own_policy" = yes ] && rm -f "$policy"; return 0; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
echo "install-deps.sh: installing:$missing"
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing

# Leave no service enabled that we brought in (systemd symlinks or sysv links).
for s in $newly_installed_services; do
    if command -v deb-systemd-helper >/dev/null 2>&1; then
        deb-systemd-helper disable "$s.service" >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1 && [ -e "/etc/init.d/$s" ]; then
        update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
done
echo "install-deps.sh: done"
