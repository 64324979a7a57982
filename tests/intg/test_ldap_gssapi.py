"""The identity connection bound with SASL GSSAPI (ldap_sasl_mech = GSSAPI):
a real MIT KDC, a slapd that accepts GSSAPI for ldap/localhost and maps
host/client.example.com to the one DN that may read, and vigil_be getting
the host's TGT from a keytab through vigil_krb5_child.

Anonymous may read nothing in that slapd, so a lookup that silently fell
back to an anonymous bind would come back "not found", never "ok"; each
test that expects success also reads slapd's log for the GSSAPI bind.

Root only: the host TGT's ccache is root's (and the child runs as root).
"""

import datetime
import os
import re
import signal
import socket
from pathlib import Path

import pytest

from fixtures import procs, wrappers
from fixtures.kdc import Kdc
from fixtures.slapd import Slapd
from fixtures.vigil import Vigil

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the host ccache is root's: root only")

HOST = "client.example.com"
READER = "cn=host-reader,dc=example,dc=com"


def gssapi_slapd(workdir, kdc, keytab, extra_schemas=()):
    """slapd with the standard data, GSSAPI for ldap/localhost, and read
    access for the host principal's mapped DN only."""
    realm = kdc.realm
    server = Slapd(workdir, tls=False, extra_schemas=extra_schemas, global_lines=[
        "sasl-host localhost",
        f"sasl-realm {realm}",
        # The authentication DN of a Kerberos principal: uid=<name>[,cn=<realm>],cn=gssapi,cn=auth
        # (the realm is left out when it is slapd's default realm).
        f'authz-regexp "^uid=host/({re.escape(HOST)}|short\\.example\\.com)'
        f'(,cn={re.escape(realm.lower())})?,cn=gssapi,cn=auth$" "{READER}"',
    ], access=[
        "access to attrs=userPassword,shadowLastChange",
        "    by anonymous auth",
        "    by * none",
        "access to *",
        f'    by dn.exact="{READER}" read',
        "    by * none",
    ], env={"KRB5_CONFIG": str(kdc.krb5_conf), "KRB5_KTNAME": f"FILE:{keytab}",
            "KRB5RCACHEDIR": str(kdc.workdir / "rcache")})
    server.load_standard_data()
    return server


def this_hosts_names():
    """What libldap calls this host when it canonicalizes a loopback
    address: the host name, and its canonical name."""
    names = {socket.gethostname().lower()}
    try:
        names.add(socket.getaddrinfo(socket.gethostname(), None, flags=socket.AI_CANONNAME)[0][3].lower())
    except (OSError, IndexError):
        pass
    return sorted(n for n in names if n)


def new_kdc(workdir):
    """A realm with ldap/localhost and ldap/<this host> (slapd's keytab) and
    host/client.example.com (the host keytab)."""
    kdc = Kdc(workdir)
    kdc.create()
    slapd_keytab = kdc.workdir / "slapd.keytab"
    for name in ["localhost", *this_hosts_names()]:
        kdc.add_principal(f"ldap/{name}")
        kdc.kadmin_local(f"ktadd -k {slapd_keytab} ldap/{name}@{kdc.realm}")
    kdc.add_host_keytab(HOST)
    return kdc, slapd_keytab


@pytest.fixture(scope="module")
def realm(tmp_path_factory):
    kdc, slapd_keytab = new_kdc(tmp_path_factory.mktemp("gssapi-kdc"))
    kdc.start()
    server = gssapi_slapd(tmp_path_factory.mktemp("gssapi-slapd"), kdc, slapd_keytab)
    server.start()
    yield kdc, server
    server.stop()
    kdc.stop()


def start_vigil(tmp_path, builddir, kdc, server, *more, services=("nss",), sections=None):
    """vigil with the GSSAPI-bound domain; `more` adds options or replaces
    the ones set here."""
    lines = [f"ldap_uri = ldap://localhost:{server.port}", f"ldap_search_base = {server.base_dn}", "min_id = 1000",
             "ldap_sasl_mech = GSSAPI", f"ldap_sasl_authid = host/{HOST}", f"ldap_krb5_keytab = {kdc.keytab}",
             f"krb5_realm = {kdc.realm}", f"krb5_server = 127.0.0.1:{kdc.kdc_port}"]
    replaced = {line.split("=", 1)[0].strip() for line in more}
    lines = [line for line in lines if line.split("=", 1)[0].strip() not in replaced] + list(more)
    v = Vigil(tmp_path / "vigil", builddir, extra={"vigil": ["services = " + ", ".join(services)],
                                                   "domain/LDAP": lines, **(sections or {})})
    # The KDC fixture's krb5.conf is the base profile (never /etc/krb5.conf);
    # no usable KRB5CCNAME: only the host ccache vigil makes may be used.
    env = v.env(KRB5_CONFIG=str(kdc.krb5_conf), KRB5CCNAME=f"FILE:{tmp_path}/no-such-ccache",
                KRB5RCACHEDIR=str(kdc.workdir / "rcache"))
    env.pop("KRB5_KTNAME", None)
    env.pop("KRB5_CLIENT_KTNAME", None)
    v.start_supervised(services, env=env)
    v.vigil_env = env
    return v


def be_log(v):
    return v.log("vigil_be_LDAP")


def gssapi_binds(server):
    """slapd's successful binds as the host principal (stats log lines)."""
    return [line for line in server.log_path.read_text(errors="replace").splitlines()
            if "mech=GSSAPI" in line and f'dn="{READER}"' in line]


def host_ccache(v):
    return v.state_dir / "krb5" / "host" / "LDAP.ccache"


def klist_start(kdc, ccache):
    """The TGT's start time as klist prints it (compared, never asserted)."""
    out = procs.run(["klist", f"FILE:{ccache}"], env={**kdc.env(), "LC_ALL": "C", "TZ": "UTC"}).stdout
    for line in out.splitlines():
        if f"krbtgt/{kdc.realm}@{kdc.realm}" in line:
            return " ".join(line.split()[:2])
    raise AssertionError(out)


# --- vigil_krb5_child's host_tgt request alone ---------------------------------------------

def host_tgt(builddir, kdc, ccname, **more):
    from test_krb5 import encode_request, run_child
    fields = {"krb5_config": str(kdc.krb5_conf), **more}
    return run_child(builddir, encode_request(command=4, realm=kdc.realm, ccname=ccname, **fields))


def test_the_child_stores_the_host_tgt_in_a_root_only_ccache(builddir, realm, tmp_path):
    kdc, _ = realm
    ccache = tmp_path / "host.ccache"
    code, answer = host_tgt(builddir, kdc, f"FILE:{ccache}", principal=f"host/{HOST}", keytab=str(kdc.keytab),
                            lifetime=600)
    assert code == 0 and answer["result"] == "ok", answer
    assert answer["ccname"] == f"FILE:{ccache}" and answer["tgt_end"] > 0, answer
    st = os.stat(ccache)
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)
    out = procs.run(["klist", f"FILE:{ccache}"], env={**kdc.env(), "LC_ALL": "C", "TZ": "UTC"}).stdout
    assert f"Default principal: host/{HOST}@{kdc.realm}" in out and f"krbtgt/{kdc.realm}@{kdc.realm}" in out, out
    # The lifetime asked for (ldap_krb5_ticket_lifetime), as the ticket's own span.
    ticket = next(line.split() for line in out.splitlines() if "krbtgt/" in line)
    fmt = "%m/%d/%y %H:%M:%S"
    start = datetime.datetime.strptime(f"{ticket[0]} {ticket[1]}", fmt)
    end = datetime.datetime.strptime(f"{ticket[2]} {ticket[3]}", fmt)
    assert (end - start).total_seconds() == 600, out
    assert [p.name for p in tmp_path.iterdir()] == ["host.ccache"]  # no temp file left


def test_without_ldap_sasl_authid_the_principal_is_host_fqdn(builddir, realm, tmp_path):
    kdc, _ = realm
    host = socket.gethostname()
    if "." not in host:
        try:
            host = socket.getaddrinfo(host, None, flags=socket.AI_CANONNAME)[0][3] or host
        except OSError:
            pass
    host = host.lower()
    keytab = kdc.add_host_keytab(host, keytab=tmp_path / "fqdn.keytab")
    code, answer = host_tgt(builddir, kdc, f"FILE:{tmp_path}/cc", keytab=str(keytab))
    assert answer["result"] == "ok", answer
    assert f"got a TGT for host/{host}@{kdc.realm}" in answer["message"], answer


def test_the_childs_failures_name_the_keytab_and_the_principal(builddir, realm, tmp_path):
    kdc, _ = realm
    code, answer = host_tgt(builddir, kdc, f"FILE:{tmp_path}/cc", principal=f"host/{HOST}",
                            keytab=str(tmp_path / "none.keytab"))
    assert answer["result"] == "keytab_failed" and f"{tmp_path}/none.keytab" in answer["message"], answer
    code, answer = host_tgt(builddir, kdc, f"FILE:{tmp_path}/cc", principal="host/elsewhere.example.com",
                            keytab=str(kdc.keytab))
    assert answer["result"] == "keytab_failed", answer
    assert f"host/elsewhere.example.com@{kdc.realm} is not in the keytab" in answer["message"], answer
    # A key the KDC never issued: a stale keytab, said as such.
    from test_krb5 import wrong_key_keytab
    stale = wrong_key_keytab(tmp_path / "stale.keytab", f"host/{HOST}@{kdc.realm}")
    code, answer = host_tgt(builddir, kdc, f"FILE:{tmp_path}/cc", principal=f"host/{HOST}", keytab=str(stale))
    assert answer["result"] == "keytab_failed" and "not the KDC's" in answer["message"], answer
    assert not (tmp_path / "cc").exists()


def test_clock_skew_with_the_kdc_is_named(builddir, tmp_path):
    from test_krb5 import SkewedKdc, profile
    if not Path(wrappers.find_library("faketime/libfaketime.so.1")).exists():
        pytest.fail("libfaketime is missing (contrib/install-deps.sh installs it)", pytrace=False)
    kdc = SkewedKdc(tmp_path / "skewed-kdc")
    kdc.create()
    kdc.add_host_keytab(HOST)
    kdc.start()
    try:
        # libkrb5 corrects an AS exchange's skew unless the profile says not to.
        strict = profile(tmp_path, kdc, libdefaults=("kdc_timesync = 0",))
        code, answer = host_tgt(builddir, kdc, f"FILE:{tmp_path}/cc", principal=f"host/{HOST}",
                                keytab=str(kdc.keytab), krb5_config=strict)
        assert answer["result"] == "clock_skew" and "skew" in answer["message"].lower(), answer
    finally:
        kdc.stop()


# --- vigil_be with a GSSAPI-bound identity connection ------------------------------------

def test_lookups_go_through_a_gssapi_bind_as_the_host(tmp_path, builddir, realm):
    kdc, server = realm
    binds_before = len(gssapi_binds(server))
    v = start_vigil(tmp_path, builddir, kdc, server)
    try:
        assert v.dp_call("user", "alice") == ["ok "]
        assert v.dp_call("group", "developers") == ["ok "]
        binds = gssapi_binds(server)[binds_before:]
        assert len(binds) == 1, binds
        log = server.log_path.read_text(errors="replace")
        assert f'BIND authcid="host/{HOST}@{kdc.realm}"' in log, log[-3000:]
        # The TGT is in a root-only ccache under the state dir.
        cc = host_ccache(v)
        st = os.stat(cc)
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)
        assert os.stat(cc.parent).st_mode & 0o777 == 0o700
        assert "got a TGT for host/" + HOST in be_log(v)
        assert v.domain_status()["host_tgts_obtained"] == "1"
    finally:
        v.stop_all()


def test_the_sasl_security_layer_follows_minssf_and_maxssf(tmp_path, builddir, realm):
    """libsasl's default is an encrypted layer (ssf 256 with AES), under
    which every search runs; ldap_sasl_maxssf = 0 asks for none, and a
    minimum no mechanism reaches fails the bind rather than weakening it."""
    kdc, server = realm
    before = len(gssapi_binds(server))
    v = start_vigil(tmp_path, builddir, kdc, server)
    try:
        assert v.dp_call("user", "alice") == ["ok "]
        assert re.search(r"bind_ssf=(5[6-9]|[6-9]\d|\d{3})\b", gssapi_binds(server)[before]), gssapi_binds(server)
    finally:
        v.stop_all()
    before = len(gssapi_binds(server))
    v = start_vigil(tmp_path / "none", builddir, kdc, server, "ldap_sasl_maxssf = 0")
    try:
        assert v.dp_call("user", "alice") == ["ok "]
        assert "bind_ssf=0 " in gssapi_binds(server)[before], gssapi_binds(server)
    finally:
        v.stop_all()
    v = start_vigil(tmp_path / "strict", builddir, kdc, server, "ldap_sasl_minssf = 1000")
    try:
        answer = v.dp_call("user", "alice")
        assert answer[0].startswith("unavailable ") and "libsasl has no usable GSSAPI mechanism" in answer[0], answer
    finally:
        v.stop_all()


def test_a_server_that_refuses_gssapi_is_named_as_such(tmp_path, builddir, realm):
    """slapd offering no SASL mechanism that meets its own security
    properties: the bind is refused by the server, said so, and nothing is
    looked up anonymously."""
    kdc, _ = realm
    server = gssapi_slapd(tmp_path / "slapd", kdc, kdc.workdir / "slapd.keytab")
    server.global_lines += ("sasl-secprops minssf=100000",)
    server._write_config()
    server.start()
    v = None
    try:
        v = start_vigil(tmp_path, builddir, kdc, server)
        answer = v.dp_call("user", "alice")
        assert answer[0].startswith("unavailable ") and "the server refuses GSSAPI" in answer[0], answer
        assert " SRCH " not in server.log_path.read_text(errors="replace").split("namingContexts")[-1]
        # The server's refusal is no reason for a new TGT.
        assert v.domain_status()["host_tgts_obtained"] == "1"
        assert "getting new Kerberos credentials" not in be_log(v)
    finally:
        if v is not None:
            v.stop_all()
        server.stop()


def test_getent_through_the_gssapi_bound_connection(tmp_path, builddir, realm, nss_call):
    from test_nss import Client
    kdc, server = realm
    v = start_vigil(tmp_path, builddir, kdc, server)
    try:
        client = Client(v, builddir, nss_call, tmp_path)
        assert client.getent("passwd", "alice") == (0, "alice:*:10001:10000:Alice Adams:/home/alice:/bin/bash")
        assert client.getent("passwd", 10002)[0] == 0
    finally:
        v.stop_all()


def test_no_keytab_is_said_and_nothing_is_looked_up_anonymously(tmp_path, builddir, realm):
    kdc, server = realm
    searches_before = server.log_path.read_text(errors="replace").count(" SRCH ")
    v = start_vigil(tmp_path, builddir, kdc, server, f"ldap_krb5_keytab = {tmp_path}/missing.keytab")
    try:
        answer = v.dp_call("user", "alice")
        assert answer[0].startswith("unavailable "), answer
        log = be_log(v)
        assert "host TGT: keytab_failed" in log and f"{tmp_path}/missing.keytab" in log, log[-3000:]
        status = v.domain_status()
        assert status["state"] == "offline" and "keytab" in status["reason"], status
        # No connection was made at all: nothing searched anonymously.
        assert server.log_path.read_text(errors="replace").count(" SRCH ") == searches_before
    finally:
        v.stop_all()


def test_a_principal_not_in_the_keytab_is_named(tmp_path, builddir, realm):
    kdc, server = realm
    v = start_vigil(tmp_path, builddir, kdc, server, "ldap_sasl_authid = host/other.example.com")
    try:
        answer = v.dp_call("user", "alice")
        assert answer[0].startswith("unavailable "), answer
        log = be_log(v)
        assert f"host/other.example.com@{kdc.realm} is not in the keytab FILE:{kdc.keytab}" in log, log[-3000:]
        assert f"it holds host/{HOST}@{kdc.realm}" in log, log[-3000:]
    finally:
        v.stop_all()


def test_a_server_without_gssapi_for_us_fails_the_bind_not_over_to_anonymous(tmp_path, builddir, realm):
    """A service principal the KDC does not know (the URI names 127.0.0.1,
    not canonicalized): the bind fails, with libsasl's reason, and the
    lookup is unavailable."""
    kdc, server = realm
    v = start_vigil(tmp_path, builddir, kdc, server, f"ldap_uri = ldap://127.0.0.1:{server.port}")
    try:
        answer = v.dp_call("user", "alice")
        assert answer[0].startswith("unavailable "), answer
        log = be_log(v)
        assert "SASL GSSAPI bind to ldap://127.0.0.1" in log, log[-3000:]
        # The failed bind got new credentials once and tried again.
        assert "getting new Kerberos credentials for the host" in log, log[-3000:]
    finally:
        v.stop_all()


def test_canonicalize_names_the_server_as_libldap_finds_it(tmp_path, builddir, realm):
    """ldap_sasl_canonicalize = true: the service principal is built from
    the name libldap finds for the server's address (for a loopback address,
    this host's name), not from the URI's 127.0.0.1."""
    kdc, server = realm
    v = start_vigil(tmp_path, builddir, kdc, server, f"ldap_uri = ldap://127.0.0.1:{server.port}",
                    "ldap_sasl_canonicalize = true")
    try:
        assert v.dp_call("user", "alice") == ["ok "]
    finally:
        v.stop_all()


def test_a_removed_ccache_is_got_again_when_the_bind_fails(tmp_path, builddir, realm):
    kdc, server = realm
    v = start_vigil(tmp_path, builddir, kdc, server)
    try:
        assert v.dp_call("user", "alice") == ["ok "]
        host_ccache(v).unlink()
        # A new connection: forced offline, then online (vigild passes the signals on).
        v.procs[0].send_signal(signal.SIGUSR1)
        procs.wait_until(lambda: v.domain_status().get("state") == "offline", 10, "forced offline")
        v.procs[0].send_signal(signal.SIGUSR2)
        procs.wait_until(lambda: v.domain_status().get("state") == "online", 20, "online again")
        assert v.dp_call("user", "bob") == ["ok "]
        log = be_log(v)
        assert "getting new Kerberos credentials for the host and binding to" in log, log[-3000:]
        assert v.domain_status()["host_tgts_obtained"] == "2"
        assert host_ccache(v).exists()
    finally:
        v.stop_all()


def test_a_failed_renewal_goes_on_to_the_next_server_with_the_old_tgt(tmp_path, builddir):
    """ldap_uri: 127.0.0.1 (a service principal the KDC does not know: the
    bind fails for credentials' sake) then localhost. With the KDC down the
    renewal fails, and localhost is still tried with the TGT in hand."""
    kdc, slapd_keytab = new_kdc(tmp_path / "kdc")
    kdc.start()
    server = gssapi_slapd(tmp_path / "slapd", kdc, slapd_keytab)
    server.start()
    v = None
    try:
        v = start_vigil(tmp_path, builddir, kdc, server,
                        f"ldap_uri = ldap://127.0.0.1:{server.port}, ldap://localhost:{server.port}")
        assert v.dp_call("user", "alice") == ["ok "]
        kdc.stop()
        v.procs[0].send_signal(signal.SIGUSR1)
        procs.wait_until(lambda: v.domain_status().get("state") == "offline", 10, "forced offline")
        before = len(gssapi_binds(server))
        v.procs[0].send_signal(signal.SIGUSR2)
        procs.wait_until(lambda: v.domain_status().get("state") == "online", 20, "online with the old TGT")
        assert v.dp_call("user", "bob") == ["ok "]
        assert len(gssapi_binds(server)) > before
        assert "host TGT: kdc_unreachable" in be_log(v)
    finally:
        if v is not None:
            v.stop_all()
        server.stop()
        kdc.stop()


def test_without_krb5_realm_a_stale_generated_profile_is_not_used(tmp_path, builddir, realm):
    """ldap_sasl_realm alone (the base profile knows the KDCs): a generated
    profile an earlier krb5_realm left (naming a dead KDC, its realm section
    final) is removed at start, not read first by the child and the bind."""
    kdc, server = realm
    stale = tmp_path / "vigil" / "state" / "krb5" / "LDAP.conf"
    stale.parent.mkdir(parents=True)
    stale.write_text(f"[realms]\n    {kdc.realm} = {{\n        kdc = 127.0.0.1:1\n    }}*\n")
    v = start_vigil(tmp_path, builddir, kdc, server, "krb5_realm =", "krb5_server =",
                    f"ldap_sasl_realm = {kdc.realm}")
    try:
        assert v.dp_call("user", "alice") == ["ok "]
        assert not stale.exists()
        assert v.domain_status()["host_tgts_obtained"] == "1"
    finally:
        v.stop_all()


def test_a_short_lived_tgt_is_replaced_before_it_ends(tmp_path, builddir, realm):
    """The KDC gives host/short.example.com 12-second tickets (its maxlife;
    10 s is the least vigil takes), whatever vigil asks for: a new TGT comes
    at three quarters of the life the KDC granted, and binds after the first
    one's end still work."""
    kdc, server = realm
    keytab = tmp_path / "short.keytab"
    if "short.example.com" not in kdc.kadmin_local("listprincs host/short*").stdout:
        kdc.add_principal("host/short.example.com")
        kdc.kadmin_local(f'modprinc -maxlife "12 seconds" host/short.example.com@{kdc.realm}')
    kdc.kadmin_local(f"ktadd -k {keytab} host/short.example.com@{kdc.realm}")
    v = start_vigil(tmp_path, builddir, kdc, server, "ldap_sasl_authid = host/short.example.com",
                    f"ldap_krb5_keytab = {keytab}")
    try:
        assert v.dp_call("user", "alice") == ["ok "]
        first = klist_start(kdc, host_ccache(v))
        procs.wait_until(lambda: int(v.domain_status().get("host_tgts_obtained", "0")) >= 3, 45,
                         "two TGTs more")
        # Past the first TGT's end (12 s): a new connection binds with a new one.
        assert klist_start(kdc, host_ccache(v)) != first
        before = len(gssapi_binds(server))
        v.procs[0].send_signal(signal.SIGUSR1)
        procs.wait_until(lambda: v.domain_status().get("state") == "offline", 10, "forced offline")
        v.procs[0].send_signal(signal.SIGUSR2)
        procs.wait_until(lambda: v.domain_status().get("state") == "online", 20, "online again")
        assert v.dp_call("user", "bob") == ["ok "]
        assert len(gssapi_binds(server)) > before
        assert "host/short.example.com" in server.log_path.read_text(errors="replace")
    finally:
        v.stop_all()


def test_kdc_down_at_start_is_offline_until_it_comes_back(tmp_path, builddir):
    """slapd up, the KDC not: offline with the KDC named; the probes
    (offline_timeout) bring the domain online once it answers."""
    down, slapd_keytab = new_kdc(tmp_path / "kdc")  # created, not started
    server = gssapi_slapd(tmp_path / "slapd", down, slapd_keytab)
    server.start()
    v = None
    try:
        v = start_vigil(tmp_path, builddir, down, server, "offline_timeout = 1", "offline_timeout_max = 2")
        answer = v.dp_call("user", "alice")
        assert answer[0].startswith("unavailable "), answer
        status = v.domain_status()
        assert status["state"] == "offline" and "kdc_unreachable" in status["reason"], status
        assert "host TGT: kdc_unreachable" in be_log(v)
        down.start()
        procs.wait_until(lambda: v.domain_status().get("state") == "online", 20, "online once the KDC answers")
        assert v.dp_call("user", "alice") == ["ok "]
        assert gssapi_binds(server)
    finally:
        if v is not None:
            v.stop_all()
        server.stop()
        down.stop()


def test_password_binds_stay_simple_binds_as_the_user(tmp_path, builddir, realm):
    """auth_provider = ldap in a GSSAPI-bound domain: the user's password
    bind is the user's own simple bind, not one as the host."""
    from fixtures.slapd import standard_users
    kdc, server = realm
    v = Vigil(tmp_path / "vigil", builddir, extra={"domain/LDAP": [
        f"ldap_uri = ldap://localhost:{server.port}", f"ldap_search_base = {server.base_dn}",
        "ldap_sasl_mech = GSSAPI", f"krb5_realm = {kdc.realm}", "auth_provider = ldap",
        "ldap_auth_disable_tls_never_use_in_production = true"]})
    dn = f"uid=alice,ou=People,{server.base_dn}"
    # The module's slapd is shared: only the lines this call adds count.
    lines_before = len(server.log_path.read_text(errors="replace").splitlines())
    out = procs.run([builddir / "tests/tools/ldap_auth_call", "--config", v.conf, "--domain", "LDAP", "auth", dn],
                    input=standard_users()["alice"]["userPassword"][0] + "\n", check=False, timeout=60)
    assert out.returncode == 0 and "outcome ok" in out.stdout, out.stdout + out.stderr
    added = "\n".join(server.log_path.read_text(errors="replace").splitlines()[lines_before:])
    assert f'BIND dn="{dn}" mech=SIMPLE' in added, added[-3000:]


def test_policy_downloads_bind_with_the_host_ccache(tmp_path, builddir, realm):
    """vigil_policy's downloads (here `vigilctl policy refresh`) bind with
    GSSAPI too, with the TGT vigil_be keeps in the host ccache."""
    import test_policy_daemon as pd
    if not Path(pd.VISUDO).exists():
        pytest.skip("visudo (package sudo) is not installed")
    kdc, _ = realm
    server = gssapi_slapd(tmp_path / "slapd", kdc, kdc.workdir / "slapd.keytab", extra_schemas=pd.SCHEMAS)
    server.load_ldif(pd.directory_ldif(server.base_dn))
    server.start()
    target = tmp_path / "sudoers"
    v = None
    try:
        v = start_vigil(tmp_path, builddir, kdc, server, services=("nss", "policy"), sections={
            "policy": [f"policy_host_fqdn = {pd.HOST}", f"policy_data_dir = {pd.SRCDIR / 'data/policy'}",
                       f"policy_sudo_target = {target}"]})
        assert v.dp_call("user", "alice") == ["ok "]  # vigil_be has its TGT now
        binds = len(gssapi_binds(server))
        out = procs.run([v.binary("vigilctl"), "-c", v.conf, "policy", "refresh"], env=v.vigil_env, check=False,
                        timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "(policy lockdown, priority 90)" in target.read_text()
        assert len(gssapi_binds(server)) > binds
    finally:
        if v is not None:
            v.stop_all()
        server.stop()


def test_config_check_knows_the_sasl_options(builddir, tmp_path):
    v = Vigil(tmp_path / "vigil", builddir, extra={"domain/LDAP": [
        "ldap_sasl_mech = EXTERNAL", "ldap_sasl_maxssf = x", "ldap_krb5_ticket_lifetime = 1y"]})
    out = v.vigilctl("config-check")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    for expected in ("ldap_sasl_mech", "not one of: GSSAPI", "ldap_sasl_maxssf", "ldap_krb5_ticket_lifetime"):
        assert expected in text, text
    v.write_config(extra={"domain/LDAP": ["ldap_sasl_mech = GSSAPI", "ldap_default_bind_dn = cn=x"]})
    out = v.vigilctl("config-check")
    assert out.returncode == 1 and "needs 'krb5_realm' (ldap_sasl_mech = GSSAPI)" in out.stdout, out.stdout
    assert "sets both 'ldap_sasl_mech' and 'ldap_default_bind_dn'" in out.stdout, out.stdout
    v.write_config(extra={"domain/LDAP": ["ldap_sasl_mech = GSSAPI", "krb5_realm = EXAMPLE.COM"]})
    out = v.vigilctl("config-check")
    assert out.returncode == 0, out.stdout
