"""pytest fixtures for the vigil integration tests: real servers on 127.0.0.1.

Run with Debian's interpreter (it has pytest):
    VIGIL_BUILDDIR=... /usr/bin/python3 -m pytest -p no:cacheprovider tests/intg

VIGIL_SRCDIR defaults to the tree this file is in, VIGIL_BUILDDIR to
VIGIL_SRCDIR (an in-tree build).  VIGIL_NSS_CALL overrides the path of the
nss_call tool, which otherwise is $VIGIL_BUILDDIR/tests/tools/nss_call.

Servers are module-scoped (started once per test file: cheap, and a test
file that changes data cannot leak it into another) and stopped by PID at
teardown; stop() raises if a process survives.
"""

import os
from pathlib import Path

import pytest

from fixtures.kdc import Kdc
from fixtures.slapd import Slapd, standard_users
from fixtures.vigil import remove_run_dirs

SRCDIR = Path(os.environ.get("VIGIL_SRCDIR") or Path(__file__).resolve().parents[2])
BUILDDIR = Path(os.environ.get("VIGIL_BUILDDIR") or SRCDIR)

HOST_FQDN = "client.example.com"
KDC_USERS = ("alice", "bob")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "heavy: long stress, fuzz and valgrind runs whose outcome does not depend on "
        "privileges (the unprivileged CI pass leaves them out: -m 'not heavy')")


@pytest.fixture(scope="session", autouse=True)
def _run_dirs_removed():
    """The short run dirs in /tmp go at the end, whatever the tests did."""
    yield
    remove_run_dirs()


@pytest.fixture(scope="session")
def srcdir():
    return SRCDIR


@pytest.fixture(scope="session")
def builddir():
    return BUILDDIR


def _slapd(tmp_path_factory, schema):
    server = Slapd(tmp_path_factory.mktemp(f"slapd-{schema}"), schema=schema)
    server.load_standard_data()
    server.start()
    return server


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    """slapd with RFC 2307 schema and the standard data; ldap:// and ldaps://."""
    server = _slapd(tmp_path_factory, "rfc2307")
    yield server
    server.stop()


@pytest.fixture
def own_slapd(tmp_path):
    """A slapd of this test's own (standard data, ldap:// only), for tests
    that stop, freeze or restart it; stopped (and thawed) at teardown."""
    server = Slapd(tmp_path / "own-slapd", tls=False, loglevel="none")
    server.load_standard_data()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def slapd_bis(tmp_path_factory):
    """slapd with RFC 2307bis schema (member DNs, nesting) and standard data."""
    server = _slapd(tmp_path_factory, "rfc2307bis")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kdc(tmp_path_factory):
    """MIT KDC + kadmind for EXAMPLE.COM; alice and bob have their LDAP
    passwords; kdc.keytab holds host/client.example.com."""
    server = Kdc(tmp_path_factory.mktemp("kdc"))
    server.create()
    users = standard_users()
    for name in KDC_USERS:
        server.add_principal(name, users[name]["userPassword"][0])
    server.add_host_keytab(HOST_FQDN)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nss_call():
    """Path of the nss_call test tool (built by `make check`)."""
    path = Path(os.environ.get("VIGIL_NSS_CALL")
                or BUILDDIR / "tests" / "tools" / "nss_call")
    if not os.access(path, os.X_OK):
        pytest.fail(f"nss_call not found at {path}: build it (make check) or "
                    f"set VIGIL_NSS_CALL", pytrace=False)
    return path
