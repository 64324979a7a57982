"""LDAP password authentication and password change (auth_provider = ldap)
against a real slapd, through the ldap_auth_call test tool.

The tool prints "outcome NAME", "message TEXT" and "elapsed_ms N"; the
password goes in on stdin, as the PAM responder hands it over."""

import re
import socket
import threading
import time

import pytest

from fixtures import procs
from fixtures.slapd import Slapd, standard_users

USERS = standard_users()


def dn_of(server, uid):
    return f"uid={uid},ou=People,{server.base_dn}"


def password_of(uid):
    return USERS[uid]["userPassword"][0]


def call(builddir, server, command, dn, *lines, uri=None, args=(), timeout=60):
    """Run the tool; returns (exit code, {outcome, message, elapsed_ms}, stdout+stderr)."""
    argv = [builddir / "tests/tools/ldap_auth_call", "--uri", uri or server.ldaps_uri, *args, command, dn]
    if server is not None and server.ca_cert and "--cacert" not in args and "--config" not in args:
        argv[1:1] = ["--cacert", server.ca_cert]
    # No LDAPTLS_CACERT from the environment: only what the tool is told counts.
    env = server.client_env(cacert=False) if server is not None else None
    out = procs.run(argv, env=env, input="".join(line + "\n" for line in lines), timeout=timeout, check=False)
    fields = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key in ("outcome", "message", "elapsed_ms"):
            fields[key] = value
    return out.returncode, fields, out.stdout + out.stderr


def auth(builddir, server, uid, password, **kw):
    return call(builddir, server, "auth", dn_of(server, uid), password, **kw)


def binds_in_log(server, dn):
    text = server.log_path.read_text(errors="replace")
    return len(re.findall(r'BIND dn="' + re.escape(dn) + '"', text, re.IGNORECASE))


def connections_in_log(server):
    return server.log_path.read_text(errors="replace").count(" ACCEPT from ")


# ---- binds ------------------------------------------------------------------

def test_the_right_password_binds_over_ldaps(builddir, slapd):
    code, r, out = auth(builddir, slapd, "alice", password_of("alice"))
    assert code == 0 and r["outcome"] == "ok", out


def test_the_right_password_binds_over_starttls(builddir, slapd):
    code, r, out = auth(builddir, slapd, "alice", password_of("alice"), uri=slapd.uri, args=("--starttls",))
    assert code == 0 and r["outcome"] == "ok", out


def test_a_wrong_password_is_wrong_password(builddir, slapd):
    code, r, out = auth(builddir, slapd, "alice", "not-her-password")
    assert code == 1 and r["outcome"] == "wrong_password", out
    assert "Invalid credentials" in r["message"]


def test_an_unknown_dn_is_wrong_password_too(builddir, slapd):
    code, r, out = call(builddir, slapd, "auth", dn_of(slapd, "nobody-here"), "whatever")
    assert code == 1 and r["outcome"] == "wrong_password", out


def test_an_empty_password_is_refused_without_any_bind(builddir, slapd):
    dn = dn_of(slapd, "bob")
    # A bind that does reach the server shows in its log (so the count below means something).
    before = binds_in_log(slapd, dn)
    auth(builddir, slapd, "bob", "wrong")
    procs.wait_until(lambda: binds_in_log(slapd, dn) == before + 1, 5, "slapd to log the bind")
    binds, conns = binds_in_log(slapd, dn), connections_in_log(slapd)
    code, r, out = auth(builddir, slapd, "bob", "")
    assert code == 1 and r["outcome"] == "wrong_password" and "empty password" in r["message"], out
    time.sleep(0.5)  # slapd logs as it goes: give a stray bind time to show
    assert binds_in_log(slapd, dn) == binds
    assert connections_in_log(slapd) == conns


def test_plain_ldap_without_tls_is_refused_before_connecting(builddir, slapd):
    conns = connections_in_log(slapd)
    code, r, out = auth(builddir, slapd, "alice", password_of("alice"), uri=slapd.uri)
    assert code == 1 and r["outcome"] == "error" and "without TLS" in r["message"], out
    time.sleep(0.5)
    assert connections_in_log(slapd) == conns


def test_plain_ldap_is_allowed_with_the_never_use_in_production_switch(builddir, slapd):
    code, r, out = auth(builddir, slapd, "alice", password_of("alice"), uri=slapd.uri, args=("--no-tls-ok",))
    assert code == 0 and r["outcome"] == "ok", out


def test_settings_come_from_the_config_file(builddir, slapd, tmp_path):
    conf = tmp_path / "vigil.conf"

    def write(extra):
        conf.write_text("[vigil]\ndomains = LDAP\n\n[domain/LDAP]\nid_provider = ldap\n"
                        f"ldap_uri = {slapd.uri}\nldap_tls_cacert = {slapd.ca_cert}\n{extra}")
        conf.chmod(0o600)

    write("")
    args = ("--config", conf, "--domain", "LDAP")
    code, r, out = auth(builddir, slapd, "alice", password_of("alice"), args=args)
    assert r["outcome"] == "error" and "without TLS" in r["message"], out
    write("ldap_id_use_start_tls = true\n")
    code, r, out = auth(builddir, slapd, "alice", password_of("alice"), args=args)
    assert code == 0 and r["outcome"] == "ok", out
    write("ldap_auth_disable_tls_never_use_in_production = true\n")
    code, r, out = auth(builddir, slapd, "alice", password_of("alice"), args=args)
    assert code == 0 and r["outcome"] == "ok", out


def test_a_server_certificate_that_does_not_verify_is_unavailable_not_ok(builddir, slapd):
    argv = [builddir / "tests/tools/ldap_auth_call", "--uri", slapd.ldaps_uri, "--reqcert", "hard", "auth",
            dn_of(slapd, "alice")]
    out = procs.run(argv, env=slapd.client_env(cacert=False), input=password_of("alice") + "\n", check=False)
    assert out.returncode == 1 and "outcome unavailable" in out.stdout, out.stdout


def test_the_password_is_never_logged(builddir, slapd):
    secret_pw = password_of("carol")
    for uri, args in ((slapd.ldaps_uri, ()), (slapd.uri, ("--starttls",))):
        code, r, out = auth(builddir, slapd, "carol", secret_pw, uri=uri, args=("--debug", "9", *args))
        assert code == 0, out
        assert "binding as uid=carol" in out  # level 9 did log the request
        assert secret_pw not in out
    code, r, out = auth(builddir, slapd, "carol", "Wrong-" + secret_pw, args=("--debug", "9"))
    assert r["outcome"] == "wrong_password" and secret_pw not in out, out


# ---- servers that are gone or do not answer ----------------------------------

@pytest.fixture
def tls_slapd(tmp_path):
    """A TLS slapd of this test's own, to stop or freeze."""
    server = Slapd(tmp_path / "tls-slapd", tls=True, loglevel="none")
    server.load_standard_data()
    server.start()
    yield server
    server.stop()


TIMEOUTS = ("--network-timeout", "1", "--opt-timeout", "1")
# The Connector's bound (2 x network + 3 x opt + 1 s) plus start-up slack.
BOUND_MS = (2 * 1 + 3 * 1 + 1) * 1000 + 1500


def test_a_stopped_server_is_unavailable_at_once(builddir, tls_slapd):
    tls_slapd.stop()
    code, r, out = auth(builddir, tls_slapd, "alice", password_of("alice"), args=TIMEOUTS)
    assert code == 1 and r["outcome"] == "unavailable", out
    assert int(r["elapsed_ms"]) < BOUND_MS


def test_a_frozen_server_is_unavailable_within_the_bound(builddir, tls_slapd):
    tls_slapd.freeze()
    code, r, out = auth(builddir, tls_slapd, "alice", password_of("alice"), args=TIMEOUTS)
    assert code == 1 and r["outcome"] == "unavailable", out
    assert int(r["elapsed_ms"]) < BOUND_MS, out


def test_failover_to_the_next_uri_when_the_first_is_down(builddir, slapd):
    dead = f"ldaps://127.0.0.1:{procs.free_port()}"
    code, r, out = auth(builddir, slapd, "alice", password_of("alice"), uri=dead,
                        args=("--uri", slapd.ldaps_uri, *TIMEOUTS))
    assert code == 0 and r["outcome"] == "ok", out


class SilentBinder:
    """A fake LDAP server on ldap:// that answers every search with an empty
    success (the Connector's root DSE read) and never answers a bind: the
    bind's own timeout, on the loop, is all that can end the wait."""

    def __init__(self, answer_binds=False):
        # answer_binds: binds succeed, and the password change is what goes unanswered.
        self.answer_binds = answer_binds
        self.changes = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.binds = 0
        self.stop = threading.Event()
        self.held = []
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self):
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            self.held.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        conn.settimeout(0.1)
        buf = b""
        while not self.stop.is_set():
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            while len(buf) >= 2:
                length, head = buf[1], 2
                if length & 0x80:
                    n = length & 0x7F
                    if len(buf) < 2 + n:
                        break
                    length, head = int.from_bytes(buf[2:2 + n], "big"), 2 + n
                if len(buf) < head + length:
                    break
                msg, buf = buf[head:head + length], buf[head + length:]
                msgid, op = msg[2], msg[2 + msg[1]]  # INTEGER of one byte, then the op's tag
                if op == 0x63:  # search request: SearchResultDone, success
                    conn.sendall(bytes([0x30, 0x0C, 0x02, 0x01, msgid, 0x65, 0x07, 0x0A, 0x01, 0x00,
                                        0x04, 0x00, 0x04, 0x00]))
                elif op == 0x60:  # bind request: silence, or success
                    self.binds += 1
                    if self.answer_binds:
                        conn.sendall(bytes([0x30, 0x0C, 0x02, 0x01, msgid, 0x61, 0x07, 0x0A, 0x01, 0x00,
                                            0x04, 0x00, 0x04, 0x00]))
                elif op == 0x77:  # extended request (password modify): silence
                    self.changes += 1

    def close(self):
        self.stop.set()
        self.thread.join()
        for c in self.held:
            c.close()
        self.listener.close()


def test_a_bind_that_is_never_answered_times_out_on_the_loop(builddir):
    server = SilentBinder()
    try:
        argv = [builddir / "tests/tools/ldap_auth_call", "--uri", f"ldap://127.0.0.1:{server.port}",
                "--no-tls-ok", "--opt-timeout", "1", "--network-timeout", "1", "auth", "uid=x,dc=example,dc=com"]
        out = procs.run(argv, input="Some-Passw0rd\n", timeout=30, check=False)
        assert out.returncode == 1 and "outcome unavailable" in out.stdout, out.stdout + out.stderr
        assert "ldap_opt_timeout = 1 s to the bind as uid=x,dc=example,dc=com" in out.stdout, out.stdout
        elapsed = int(re.search(r"elapsed_ms (\d+)", out.stdout).group(1))
        assert 900 <= elapsed < 3000, out.stdout
        assert server.binds == 1
    finally:
        server.close()


def test_a_password_change_that_is_never_answered_times_out(builddir):
    server = SilentBinder(answer_binds=True)
    try:
        argv = [builddir / "tests/tools/ldap_auth_call", "--uri", f"ldap://127.0.0.1:{server.port}",
                "--no-tls-ok", "--opt-timeout", "1", "--network-timeout", "1", "change", "uid=x,dc=example,dc=com"]
        out = procs.run(argv, input="Old-Passw0rd\nNew-Passw0rd\n", timeout=30, check=False)
        assert out.returncode == 1 and "outcome unavailable" in out.stdout, out.stdout + out.stderr
        assert "to the password change of uid=x,dc=example,dc=com" in out.stdout, out.stdout
        assert server.binds == 1 and server.changes == 1
    finally:
        server.close()


# ---- password changes ---------------------------------------------------------

def test_a_password_change_takes_and_the_old_one_stops_working(builddir, slapd):
    dn, old, new = dn_of(slapd, "dave"), password_of("dave"), "Dave-N3w-Passw0rd"
    code, r, out = call(builddir, slapd, "change", dn, old, new, args=("--debug", "9"))
    assert code == 0 and r["outcome"] == "ok", out
    assert old not in out and new not in out
    code, r, out = auth(builddir, slapd, "dave", new)
    assert code == 0 and r["outcome"] == "ok", out
    code, r, out = auth(builddir, slapd, "dave", old)
    assert code == 1 and r["outcome"] == "wrong_password", out
    # Put it back for whoever comes next in this module.
    code, r, out = call(builddir, slapd, "change", dn, new, old)
    assert code == 0, out


def test_a_change_with_the_wrong_old_password_changes_nothing(builddir, slapd):
    dn = dn_of(slapd, "bob")
    code, r, out = call(builddir, slapd, "change", dn, "not-bobs", "Whatever-N3w")
    assert code == 1 and r["outcome"] == "wrong_password", out
    assert auth(builddir, slapd, "bob", password_of("bob"))[1]["outcome"] == "ok"


def test_a_change_goes_to_ldap_chpass_uri(builddir, slapd):
    dn, old, new = dn_of(slapd, "carol"), password_of("carol"), "Carol-N3w-Passw0rd"
    dead = f"ldaps://127.0.0.1:{procs.free_port()}"
    # ldap_uri is dead; the change still works through ldap_chpass_uri.
    code, r, out = call(builddir, slapd, "change", dn, old, new, uri=dead,
                        args=("--chpass-uri", slapd.ldaps_uri, *TIMEOUTS))
    assert code == 0 and r["outcome"] == "ok", out
    code, r, out = call(builddir, slapd, "change", dn, new, old)
    assert code == 0, out


def test_a_root_reset_binds_as_the_configured_dn(builddir, slapd):
    dn, new = dn_of(slapd, "expired"), "Expired-R3set-Passw0rd"
    code, r, out = call(builddir, slapd, "reset", dn, slapd.admin_pw, new, args=("--bind-dn", slapd.admin_dn))
    assert code == 0 and r["outcome"] == "ok", out
    assert auth(builddir, slapd, "expired", new)[1]["outcome"] == "ok"
    assert auth(builddir, slapd, "expired", password_of("expired"))[1]["outcome"] == "wrong_password"
    code, r, out = call(builddir, slapd, "reset", dn, "wrong-admin-pw", "X-N3w-Passw0rd",
                        args=("--bind-dn", slapd.admin_dn))
    assert code == 1 and r["outcome"] == "error" and "ldap_default_bind_dn" in r["message"], out
    assert auth(builddir, slapd, "expired", new)[1]["outcome"] == "ok"


def test_a_change_without_tls_is_refused(builddir, slapd):
    dn = dn_of(slapd, "alice")
    code, r, out = call(builddir, slapd, "change", dn, password_of("alice"), "Alice-N3w", uri=slapd.uri)
    assert code == 1 and r["outcome"] == "error" and "without TLS" in r["message"], out
    assert auth(builddir, slapd, "alice", password_of("alice"))[1]["outcome"] == "ok"


# ---- what a password policy server says (slapd's ppolicy overlay) -------------

@pytest.fixture(scope="module")
def ppolicy_slapd(tmp_path_factory):
    """slapd with the ppolicy overlay: at least 8 characters, locked after 3
    failures, a password set by an administrator must be changed."""
    suffix = "dc=example,dc=com"
    policy = f"cn=default,ou=Policies,{suffix}"
    server = Slapd(tmp_path_factory.mktemp("slapd-ppolicy"), ppolicy=policy)
    server.load_standard_data()
    server.load_ldif(f"dn: ou=Policies,{suffix}\nobjectClass: organizationalUnit\nou: Policies\n\n"
                     f"dn: {policy}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\n"
                     "pwdAttribute: userPassword\npwdMinLength: 8\npwdCheckQuality: 2\n"
                     "pwdLockout: TRUE\npwdMaxFailure: 3\npwdLockoutDuration: 600\n"
                     "pwdMustChange: TRUE\npwdAllowUserChange: TRUE\n")
    server.start()
    yield server
    server.stop()


def test_a_locked_account_says_locked_even_with_the_right_password(builddir, ppolicy_slapd):
    server = ppolicy_slapd
    for _ in range(3):
        assert auth(builddir, server, "bob", "wrong")[1]["outcome"] == "wrong_password"
    code, r, out = auth(builddir, server, "bob", password_of("bob"))
    assert code == 1 and r["outcome"] == "account_locked", out


def test_a_password_reset_by_the_admin_must_be_changed_then_works(builddir, ppolicy_slapd):
    server = ppolicy_slapd
    dn, old, new = dn_of(server, "carol"), password_of("carol"), "Carol-Own-Passw0rd"
    server.modify_ldif(f"dn: {dn}\nchangetype: modify\nreplace: pwdReset\npwdReset: TRUE\n")
    code, r, out = auth(builddir, server, "carol", old)
    assert code == 1 and r["outcome"] == "password_expired", out
    code, r, out = call(builddir, server, "change", dn, old, new)
    assert code == 0 and r["outcome"] == "ok", out
    assert auth(builddir, server, "carol", new)[1]["outcome"] == "ok"


def test_a_new_password_the_policy_refuses_comes_back_with_the_servers_reason(builddir, ppolicy_slapd):
    server = ppolicy_slapd
    dn, old = dn_of(server, "dave"), password_of("dave")
    code, r, out = call(builddir, server, "change", dn, old, "short")
    assert code == 1 and r["outcome"] == "rejected", out
    assert "short" in r["message"].lower() or "quality" in r["message"].lower(), out
    assert auth(builddir, server, "dave", old)[1]["outcome"] == "ok"


def test_a_burst_of_logins_waits_for_connection_slots_instead_of_failing(builddir, slapd):
    # More at once than the process has connection workers (16): none may
    # come back "unavailable" for want of one.
    code, r, out = auth(builddir, slapd, "alice", password_of("alice"), args=("--parallel", "40"))
    outcomes = [line.split()[1] for line in out.splitlines() if line.startswith("outcome ")]
    assert len(outcomes) == 40 and set(outcomes) == {"ok"}, out
    assert code == 0
