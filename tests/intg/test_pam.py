"""vigil_pam end to end: pam_vigil.so (through libpam and pam_wrapper) →
vigil_pam → vigil_be → a real slapd, and the same socket spoken raw for what
no PAM module would send: unknown users, the public socket's rule (a caller
acts only for its own uid), a provider that is down, malformed requests.
"""

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from fixtures import procs, wrappers
from fixtures.fake_responder import C, STATUS, PAM_RESULT, u32
from fixtures.slapd import Slapd, standard_users
from fixtures.vigil import Vigil

# Root only: the PAM module of a caller that is not root uses the public
# socket, where it may act for its own uid only, and these tests log in as
# the directory's users (and run clients as other uids to try the rule).
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="vigil_pam tests log in as other users: root only")

PAM = {"SUCCESS": 0, "PERM_DENIED": 6, "AUTH_ERR": 7, "AUTHINFO_UNAVAIL": 9, "USER_UNKNOWN": 10,
       "MAXTRIES": 11, "NEW_AUTHTOK_REQD": 12, "ACCT_EXPIRED": 13}
PAM_CHANGE_EXPIRED_AUTHTOK = 0x20
DRIVER = Path(__file__).parent / "fixtures" / "pam_driver.py"
NOBODY = 65534


def domain_lines(server, *more):
    return [f"ldap_uri = {server.uri}", f"ldap_search_base = {server.base_dn}", "min_id = 1000", *more]


PASSWORDS = {name: entry["userPassword"][0] for name, entry in standard_users().items()}


@contextlib.contextmanager
def running_vigil(builddir, server, *domain):
    # Under a directory others may traverse: the public socket is tested
    # from other uids too.
    workdir = Path(tempfile.mkdtemp(prefix="vigil-pam-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    v = Vigil(workdir / "vigil", builddir, extra={
        "vigil": ["services = nss, pam"],
        # The test slapd speaks plain ldap:// (TLS is tested in test_ldap_auth.py).
        "domain/LDAP": domain_lines(server, "ldap_auth_disable_tls_never_use_in_production = true", *domain)})
    try:
        v.start_supervised(("nss", "pam"))
        v.slapd = server
        yield v
    finally:
        v.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def vigil(builddir, own_slapd):
    with running_vigil(builddir, own_slapd) as v:
        yield v


class Pam:
    """PAM transactions through pam_vigil.so against vigil's pipes."""

    def __init__(self, tmp_path, builddir, vigil):
        self.tmp, self.vigil = tmp_path, vigil
        self.module = builddir / ".libs" / "pam_vigil.so"
        self.n = 0

    def run(self, user, ops, passwords=(), lines=("auth required VIGIL", "account required VIGIL",
                                                   "session required VIGIL", "password required VIGIL")):
        self.n += 1
        service = f"svc{self.n}"
        env = wrappers.pam_wrapper_env(self.tmp / f"pam{self.n}",
                                       {service: [line.replace("VIGIL", str(self.module)) for line in lines]},
                                       base={**os.environ, "VIGIL_PIPES_DIR": str(self.vigil.state_dir / "pipes")})
        spec = {"service": service, "user": user, "passwords": list(passwords),
                "ops": [list(op) + [0] * (3 - len(op)) for op in ops]}
        proc = subprocess.run([sys.executable, str(DRIVER), json.dumps(spec)], env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


@pytest.fixture
def pam(tmp_path, builddir, vigil):
    return Pam(tmp_path, builddir, vigil)


# --- the raw protocol ---------------------------------------------------------------

def item(kind, data):
    data = data.encode() if isinstance(data, str) else data
    return u32(C[kind]) + u32(len(data)) + data


def request(command, *items):
    body = b"".join(items)
    return struct.pack("<IIII", 16 + len(body), C[command], 0, 1) + body


HELLO = struct.pack("<IIII", 24, C["VIGIL_CMD_HELLO"], 0, 0) + struct.pack("<II", 1, 1)


def exchange(path, *messages, as_uid=None):
    """Sends HELLO and each message on one connection to `path`; returns
    [(status, result or None)] for each answer, as another uid if asked
    (a child process, so the test keeps its own)."""
    script = textwrap.dedent(f"""
        import socket, struct, sys, json
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect({str(path)!r})
        out = []
        msgs = [bytes.fromhex(h) for h in sys.argv[1:]]
        for m in [bytes.fromhex({HELLO.hex()!r})] + msgs:
            s.sendall(m)
            head = b""
            while len(head) < 16:
                chunk = s.recv(16 - len(head))
                if not chunk:
                    break
                head += chunk
            if len(head) < 16:
                out.append(None)
                break
            length, cmd, status, _ = struct.unpack("<IIII", head)
            body = b""
            while len(body) < length - 16:
                body += s.recv(length - 16 - len(body))
            out.append([status, struct.unpack_from("<I", body)[0] if status == 0 and len(body) >= 4 else None])
        print(json.dumps(out[1:]))
    """)
    res = subprocess.run([sys.executable, "-c", script, *(m.hex() for m in messages)], capture_output=True,
                         text=True, timeout=60, user=as_uid)
    assert res.returncode == 0, res.stderr
    return [tuple(x) if x else None for x in json.loads(res.stdout)]


# --- tests ---------------------------------------------------------------------------

def test_sessions_and_setcred_succeed_for_a_directory_user(pam):
    res = pam.run("alice", [("open_session", PAM["SUCCESS"]), ("close_session", PAM["SUCCESS"]),
                            ("setcred", PAM["SUCCESS"], 0x2)])
    assert res["ok"], res


def test_a_user_vigil_does_not_know_is_user_unknown(pam):
    for op in ("authenticate", "account", "open_session"):
        res = pam.run("nosuchuser", [(op, PAM["USER_UNKNOWN"])], ["whatever"])
        assert res["ok"], (op, res)


def test_an_empty_password_is_refused(pam):
    res = pam.run("alice", [("authenticate", PAM["AUTH_ERR"])], [""])
    assert res["ok"], res


def test_the_public_socket_acts_only_for_the_callers_own_uid(vigil):
    pipes = vigil.state_dir / "pipes"
    alice = request("VIGIL_CMD_PAM_OPEN_SESSION", item("VIGIL_PAM_ITEM_USER", "alice"))
    # nobody asking about alice: refused; root on the private socket: allowed.
    assert exchange(pipes / "pam", alice, as_uid=NOBODY) == [(STATUS["OK"], PAM_RESULT["PERM_DENIED"])]
    assert exchange(pipes / "private" / "pam", alice) == [(STATUS["OK"], PAM_RESULT["SUCCESS"])]
    # nobody cannot even reach the private socket.
    res = subprocess.run([sys.executable, "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); "
                          f"s.connect({str(pipes / 'private' / 'pam')!r})"],
                         capture_output=True, text=True, timeout=30, user=NOBODY)
    assert res.returncode != 0 and "PermissionError" in res.stderr, res.stderr
    assert (os.stat(pipes / "private").st_mode & 0o777) == 0o700


def test_a_privileged_program_on_the_public_socket_cannot_skip_the_old_password(vigil):
    """Effective uid 0 on the public socket (su, sudo, a setuid passwd run by
    a user): it may authenticate anyone, but setting a password without the
    old one is for root on the private socket only."""
    pipes = vigil.state_dir / "pipes"
    user = item("VIGIL_PAM_ITEM_USER", "alice")

    def tok(kind, text):
        return item(kind, u32(C["VIGIL_AUTHTOK_PASSWORD"]) + text.encode())

    ok = STATUS["OK"]
    answers = exchange(pipes / "pam",
                       request("VIGIL_CMD_PAM_AUTHENTICATE", user, tok("VIGIL_PAM_ITEM_AUTHTOK", PASSWORDS["alice"])),
                       request("VIGIL_CMD_PAM_CHAUTHTOK_PRELIM", user, tok("VIGIL_PAM_ITEM_AUTHTOK", "not-hers")),
                       request("VIGIL_CMD_PAM_CHAUTHTOK", user, tok("VIGIL_PAM_ITEM_NEWAUTHTOK", "Taken-Over-1")))
    assert answers == [(ok, PAM_RESULT["SUCCESS"]), (ok, PAM_RESULT["AUTHTOK_RECOVERY_ERR"]),
                       (ok, PAM_RESULT["AUTHTOK_RECOVERY_ERR"])]
    assert exchange(pipes / "pam", request("VIGIL_CMD_PAM_AUTHENTICATE", user,
                                           tok("VIGIL_PAM_ITEM_AUTHTOK", PASSWORDS["alice"]))) == \
        [(ok, PAM_RESULT["SUCCESS"])]


def test_malformed_requests_are_refused_and_the_responder_keeps_serving(vigil):
    pipes = vigil.state_dir / "pipes"
    no_user = request("VIGIL_CMD_PAM_AUTHENTICATE", item("VIGIL_PAM_ITEM_SERVICE", "login"))
    assert exchange(pipes / "private" / "pam", no_user) == [(STATUS["BAD_REQUEST"], None)]
    garbage = struct.pack("<IIII", 16 + 5, C["VIGIL_CMD_PAM_AUTHENTICATE"], 0, 1) + b"\xff" * 5
    assert exchange(pipes / "private" / "pam", garbage) == [(STATUS["BAD_REQUEST"], None)]
    alice = request("VIGIL_CMD_PAM_OPEN_SESSION", item("VIGIL_PAM_ITEM_USER", "alice"))
    assert exchange(pipes / "private" / "pam", alice) == [(STATUS["OK"], PAM_RESULT["SUCCESS"])]
    rows, _ = vigil.status()
    assert rows["pam"]["restarts"] == 0


def test_good_and_wrong_passwords_against_the_directory(pam):
    res = pam.run("alice", [("authenticate", PAM["SUCCESS"]), ("account", PAM["SUCCESS"])], [PASSWORDS["alice"]])
    assert res["ok"], res
    res = pam.run("alice", [("authenticate", PAM["AUTH_ERR"])], ["not-" + PASSWORDS["alice"]])
    assert res["ok"], res
    # Another user's password is not alice's.
    res = pam.run("alice", [("authenticate", PAM["AUTH_ERR"])], [PASSWORDS["bob"]])
    assert res["ok"], res


def test_a_user_changes_their_own_password_through_the_public_socket(vigil):
    """As alice's uid (the public socket): the old password checked, then
    the new one set in the directory; it works and the old one does not."""
    pipes = vigil.state_dir / "pipes"
    uid = int(standard_users()["alice"]["uidNumber"][0])
    old, new = PASSWORDS["alice"], "N3w-Alice-Passw0rd"

    def tok(kind, text):
        return item(kind, u32(C["VIGIL_AUTHTOK_PASSWORD"]) + text.encode())

    user = item("VIGIL_PAM_ITEM_USER", "alice")
    answers = exchange(pipes / "pam",
                       request("VIGIL_CMD_PAM_CHAUTHTOK_PRELIM", user, tok("VIGIL_PAM_ITEM_AUTHTOK", "wrong")),
                       request("VIGIL_CMD_PAM_CHAUTHTOK_PRELIM", user, tok("VIGIL_PAM_ITEM_AUTHTOK", old)),
                       request("VIGIL_CMD_PAM_CHAUTHTOK", user, tok("VIGIL_PAM_ITEM_AUTHTOK", old),
                               tok("VIGIL_PAM_ITEM_NEWAUTHTOK", new)),
                       request("VIGIL_CMD_PAM_AUTHENTICATE", user, tok("VIGIL_PAM_ITEM_AUTHTOK", new)),
                       request("VIGIL_CMD_PAM_AUTHENTICATE", user, tok("VIGIL_PAM_ITEM_AUTHTOK", old)),
                       as_uid=uid)
    ok = STATUS["OK"]
    assert answers == [(ok, PAM_RESULT["AUTHTOK_RECOVERY_ERR"]), (ok, PAM_RESULT["SUCCESS"]),
                       (ok, PAM_RESULT["SUCCESS"]), (ok, PAM_RESULT["SUCCESS"]), (ok, PAM_RESULT["AUTH_ERR"])]
    # The directory itself has the new password.
    vigil.slapd.ldapsearch("-b", vigil.slapd.base_dn, "(uid=alice)", "uid",
                           bind=(f"uid=alice,ou=People,{vigil.slapd.base_dn}", new))


def test_root_sets_a_password_without_the_old_one(builddir, own_slapd, tmp_path):
    server = own_slapd
    with running_vigil(builddir, server, f"ldap_default_bind_dn = cn=admin,{server.base_dn}",
                       f"ldap_default_authtok = {server.admin_pw}") as v:
        pam = Pam(tmp_path, builddir, v)
        # pam_vigil.so asks for the current password all the same; root's
        # is not checked (it is not bob's).
        res = pam.run("bob", [("chauthtok", PAM["SUCCESS"])], ["not-bobs", "R00t-Set-Passw0rd", "R00t-Set-Passw0rd"],
                      lines=("password required VIGIL",))
        assert res["ok"], res
        res = pam.run("bob", [("authenticate", PAM["SUCCESS"])], ["R00t-Set-Passw0rd"])
        assert res["ok"], res
        res = pam.run("bob", [("authenticate", PAM["AUTH_ERR"])], [PASSWORDS["bob"]])
        assert res["ok"], res


def cached_password_stored(v, name):
    out = v.vigilctl("user-show", name)
    return out.returncode == 0 and "cached password: stored" in out.stdout


def test_offline_logins_with_cached_credentials_lockout_and_restart(builddir, own_slapd, tmp_path):
    server = own_slapd
    settings = ("cache_credentials = true",)
    pam_settings = ["offline_failed_login_attempts = 3", "offline_failed_login_delay = 30"]
    with running_vigil(builddir, server, *settings) as v:
        v.write_config(extra={"vigil": ["services = nss, pam"], "pam": pam_settings,
                              "domain/LDAP": domain_lines(server, "ldap_auth_disable_tls_never_use_in_production = true",
                                                          *settings)})
        v.stop_all()
        v.start_supervised(("nss", "pam"))
        pam = Pam(tmp_path, builddir, v)
        # Online: the directory decides, and the password is kept (hashed,
        # in a worker: the login does not wait for it).
        assert pam.run("alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])["ok"]
        procs.wait_until(lambda: cached_password_stored(v, "alice"), 20, "alice's password to be cached")
        out = v.vigilctl("user-show", "alice").stdout
        assert PASSWORDS["alice"] not in out and "$y$" not in out and "$6$" not in out
        # bob looked up, never logged in: nothing cached for him.
        assert v.dp_call("user", "bob") == ["ok "]

        server.stop()
        res = pam.run("alice", [("authenticate", PAM["SUCCESS"]), ("account", PAM["SUCCESS"])], [PASSWORDS["alice"]])
        assert res["ok"], res
        assert "Authenticated with cached credentials." in res["info"]
        assert pam.run("bob", [("authenticate", PAM["AUTHINFO_UNAVAIL"])], [PASSWORDS["bob"]])["ok"]
        assert pam.run("neverseen", [("authenticate", PAM["AUTHINFO_UNAVAIL"])], ["x"])["ok"]
        # Three wrong passwords lock the account; then even the right one is refused.
        for _ in range(2):
            assert pam.run("alice", [("authenticate", PAM["AUTH_ERR"])], ["wrong"])["ok"]
        res = pam.run("alice", [("authenticate", PAM["AUTH_ERR"])], ["wrong"])
        assert res["ok"] and any("locked until" in e for e in res["errors"]), res
        # The same account by another spelling: no fresh counter.
        assert pam.run("Alice", [("authenticate", PAM["MAXTRIES"])], [PASSWORDS["alice"]])["ok"]
        assert "locked until" in v.vigilctl("user-show", "alice").stdout

        # A restart keeps the lock.
        v.stop_all()
        v.start_supervised(("nss", "pam"))
        assert pam.run("alice", [("authenticate", PAM["MAXTRIES"])], [PASSWORDS["alice"]])["ok"]
        # acct_mgmt needs no password and works from the cache (SSH keys).
        assert pam.run("alice", [("account", PAM["SUCCESS"])])["ok"]


def test_nothing_to_decide_with_is_authinfo_unavail(vigil, pam):
    # Offline, with no cached credentials (cache_credentials is off): a
    # password cannot be checked.
    vigil.slapd.stop()
    res = pam.run("alice", [("authenticate", PAM["AUTHINFO_UNAVAIL"])], ["secret"])
    assert res["ok"], res
    # A user never cached, while the directory is down: nothing to decide with.
    res = pam.run("neverseen", [("account", PAM["AUTHINFO_UNAVAIL"])])
    assert res["ok"], res


def test_acct_mgmt_applies_simple_access_and_a_group_removed_in_the_directory_counts_at_once(
        builddir, own_slapd, tmp_path):
    """access_provider = simple with a group: alice (in admins) is allowed,
    bob is not; alice removed from admins in the directory is refused at her
    next acct_mgmt (pam_id_timeout = 0: always refreshed), not after the
    cache timeout."""
    server = own_slapd
    with running_vigil(builddir, server, "access_provider = simple", "simple_allow_groups = admins") as v:
        v.write_config(extra={"vigil": ["services = nss, pam"], "pam": ["pam_id_timeout = 0"],
                              "domain/LDAP": domain_lines(server, "access_provider = simple",
                                                          "simple_allow_groups = admins")})
        v.stop_all()
        v.start_supervised(("nss", "pam"))
        pam = Pam(tmp_path, builddir, v)
        assert pam.run("alice", [("account", PAM["SUCCESS"])])["ok"]
        res = pam.run("bob", [("account", PAM["PERM_DENIED"])])
        assert res["ok"] and res["errors"] == ["Access denied."], res
        server.modify_ldif(f"dn: cn=admins,ou=Groups,{server.base_dn}\nchangetype: modify\n"
                           "delete: memberUid\nmemberUid: alice\n")
        assert pam.run("alice", [("account", PAM["PERM_DENIED"])])["ok"]
        # Offline, acct_mgmt still decides from the cache.
        server.stop()
        assert pam.run("alice", [("account", PAM["PERM_DENIED"])])["ok"]
        assert pam.run("bob", [("account", PAM["PERM_DENIED"])])["ok"]


def test_acct_mgmt_refreshes_the_groups_even_when_the_user_entry_is_fresh(builddir, own_slapd, tmp_path):
    """The groups decide access and have stamps of their own: a user entry
    just refreshed by a lookup (sshd's getpwnam) does not make groups older
    than pam_id_timeout count as fresh."""
    server = own_slapd
    domain = ("access_provider = simple", "simple_allow_groups = admins")
    with running_vigil(builddir, server, *domain) as v:
        v.write_config(extra={"vigil": ["services = nss, pam"], "pam": ["pam_id_timeout = 2"],
                              "domain/LDAP": domain_lines(server, *domain)})
        v.stop_all()
        v.start_supervised(("nss", "pam"))
        pam = Pam(tmp_path, builddir, v)
        assert pam.run("alice", [("account", PAM["SUCCESS"])])["ok"]
        server.modify_ldif(f"dn: cn=admins,ou=Groups,{server.base_dn}\nchangetype: modify\n"
                           "delete: memberUid\nmemberUid: alice\n")
        time.sleep(3)  # past pam_id_timeout (a wait of a bound, not a timing assertion)
        assert v.dp_call("user", "alice") == ["ok "]  # the user entry fresh again, its groups not
        assert pam.run("alice", [("account", PAM["PERM_DENIED"])])["ok"]


def test_shadow_policy_expired_password_and_expired_account(builddir, own_slapd, tmp_path):
    """ldap_pwd_policy = shadow: an expired password authenticates, then
    acct_mgmt says it must be changed, and the changed one works; an expired
    account is refused at acct_mgmt."""
    server = own_slapd
    server.add_ldif(f"dn: uid=stale,ou=People,{server.base_dn}\nobjectClass: inetOrgPerson\n"
                    "objectClass: posixAccount\nobjectClass: shadowAccount\nuid: stale\ncn: Stale\nsn: Stale\n"
                    "uidNumber: 10050\ngidNumber: 10000\nhomeDirectory: /home/stale\n"
                    "userPassword: Stale-Passw0rd\nshadowLastChange: 100\nshadowMax: 30\n")
    with running_vigil(builddir, server, "ldap_pwd_policy = shadow",
                       f"ldap_default_bind_dn = cn=admin,{server.base_dn}",
                       f"ldap_default_authtok = {server.admin_pw}") as v:
        pam = Pam(tmp_path, builddir, v)
        res = pam.run("stale", [("authenticate", PAM["SUCCESS"]), ("account", PAM["NEW_AUTHTOK_REQD"])],
                      ["Stale-Passw0rd"])
        assert res["ok"] and res["errors"] == ["Your password has expired: change it now."], res
        # The cached shadow attributes say so without a password, too (SSH keys).
        res = pam.run("stale", [("account", PAM["NEW_AUTHTOK_REQD"])])
        assert res["ok"] and res["errors"] == ["Your password has expired: change it now."], res
        res = pam.run("stale", [("chauthtok", PAM["SUCCESS"])], ["x", "Fresh-Passw0rd", "Fresh-Passw0rd"],
                      lines=("password required VIGIL",))
        assert res["ok"], res
        assert pam.run("stale", [("authenticate", PAM["SUCCESS"])], ["Fresh-Passw0rd"])["ok"]
        assert pam.run("stale", [("authenticate", PAM["AUTH_ERR"])], ["Stale-Passw0rd"])["ok"]
        res = pam.run("expired", [("authenticate", PAM["SUCCESS"]), ("account", PAM["ACCT_EXPIRED"])],
                      [PASSWORDS["expired"]])
        assert res["ok"] and res["errors"] == ["Your account has expired."], res


@pytest.fixture
def ppolicy_slapd(tmp_path):
    """slapd with the ppolicy overlay: a password set by an administrator
    (pwdReset) binds, but the server says it must be changed."""
    suffix = "dc=example,dc=com"
    policy = f"cn=default,ou=Policies,{suffix}"
    server = Slapd(tmp_path / "slapd-ppolicy", tls=False, loglevel="none", ppolicy=policy)
    server.load_standard_data()
    server.load_ldif(f"dn: ou=Policies,{suffix}\nobjectClass: organizationalUnit\nou: Policies\n\n"
                     f"dn: {policy}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\n"
                     "pwdAttribute: userPassword\npwdMinLength: 8\npwdMustChange: TRUE\npwdAllowUserChange: TRUE\n")
    server.start()
    yield server
    server.stop()


def test_a_password_the_directory_calls_expired_marks_only_the_handle_that_authenticated(
        builddir, ppolicy_slapd, tmp_path):
    """The directory accepts carol's reset password but says it must be
    changed: authenticate succeeds and acct_mgmt of that PAM handle says
    NEW_AUTHTOK_REQD; another handle that only runs acct_mgmt (an SSH key
    login) is not told so (nothing in the cache says the password expired);
    the change in the same handle works, and then the new password is
    simply good."""
    server = ppolicy_slapd
    dn = f"uid=carol,ou=People,{server.base_dn}"
    server.modify_ldif(f"dn: {dn}\nchangetype: modify\nreplace: pwdReset\npwdReset: TRUE\n")
    with running_vigil(builddir, server) as v:
        pam = Pam(tmp_path, builddir, v)
        res = pam.run("carol", [("authenticate", PAM["SUCCESS"]), ("account", PAM["NEW_AUTHTOK_REQD"])],
                      [PASSWORDS["carol"]])
        assert res["ok"] and res["errors"] == ["Your password has expired: change it now."], res
        res = pam.run("carol", [("account", PAM["SUCCESS"])])
        assert res["ok"] and res["errors"] == [], res
        new = "Carol-Own-Passw0rd"
        # As login and sshd do it (root processes): PAM_CHANGE_EXPIRED_AUTHTOK,
        # the user's own change with the old password, not a root reset
        # (which the directory would call expired again).
        res = pam.run("carol", [("authenticate", PAM["SUCCESS"]), ("account", PAM["NEW_AUTHTOK_REQD"]),
                                ("chauthtok", PAM["SUCCESS"], PAM_CHANGE_EXPIRED_AUTHTOK)],
                      [PASSWORDS["carol"], PASSWORDS["carol"], new, new])
        assert res["ok"], res
        res = pam.run("carol", [("authenticate", PAM["SUCCESS"]), ("account", PAM["SUCCESS"])], [new])
        assert res["ok"] and res["errors"] == [], res
