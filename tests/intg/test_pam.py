"""vigil_pam end to end: pam_vigil.so (through libpam and pam_wrapper) →
vigil_pam → vigil_be → a real slapd, and the same socket spoken raw for what
no PAM module would send: unknown users, the public socket's rule (a caller
acts only for its own uid), a provider that is down, malformed requests.
"""

import concurrent.futures
import contextlib
import itertools
import json
import os
import re
import signal
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
from fixtures.fake_responder import C, STATUS, PAM_RESULT, tool_env, u32
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
def running_vigil(builddir, server, *domain, pam=(), vigil=(), preload=()):
    # Under a directory others may traverse: the public socket is tested
    # from other uids too.
    workdir = Path(tempfile.mkdtemp(prefix="vigil-pam-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    v = Vigil(workdir / "vigil", builddir, extra={
        "vigil": ["services = nss, pam", *vigil],
        **({"pam": list(pam)} if pam else {}),
        # The test slapd speaks plain ldap:// (TLS is tested in test_ldap_auth.py).
        "domain/LDAP": domain_lines(server, "ldap_auth_disable_tls_never_use_in_production = true", *domain)})
    try:
        # `preload`: shims in every daemon's LD_PRELOAD (after a sanitizer runtime).
        env = wrappers.preload_env(preload, builddir / "vigil_be", base=v.env()) if preload else None
        v.start_supervised(("nss", "pam"), env=env)
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
        self.numbers = itertools.count(1)  # atomic: tests run transactions from threads

    def run(self, user, ops, passwords=(), lines=("auth required VIGIL", "account required VIGIL",
                                                   "session required VIGIL", "password required VIGIL")):
        n = next(self.numbers)
        service = f"svc{n}"
        env = wrappers.pam_wrapper_env(self.tmp / f"pam{n}",
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


def test_cache_credentials_hash_cost_is_used_and_a_change_reaches_the_next_online_login(builddir, own_slapd, tmp_path):
    """The cost a hash is made with is the configured one; after a change
    of cache_credentials_hash_cost the hash stored before still logs in
    offline, and the next online login replaces it with one of the new cost."""
    server = own_slapd

    def configure(v, cost):
        v.write_config(extra={"vigil": ["services = nss, pam"], "domain/LDAP": domain_lines(
            server, "ldap_auth_disable_tls_never_use_in_production = true", "cache_credentials = true",
            f"cache_credentials_hash_cost = {cost}", "offline_timeout = 1", "offline_timeout_max = 1")})
        v.stop_all()
        v.start_supervised(("nss", "pam"))

    def stored_cost(v):
        match = re.search(r"cached password: stored .*\(yescrypt, cost (\d+); new hashes: cost (\d+)\)",
                          v.vigilctl("user-show", "alice").stdout)
        return (int(match.group(1)), int(match.group(2))) if match else None

    with running_vigil(builddir, server) as v:
        configure(v, 1)
        pam = Pam(tmp_path, builddir, v)
        assert pam.run("alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])["ok"]
        procs.wait_until(lambda: stored_cost(v) == (1, 1), 20, "a cost 1 hash of alice's password")

        configure(v, 3)
        assert stored_cost(v) == (1, 3)
        server.stop()
        res = pam.run("alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])
        assert res["ok"] and "Authenticated with cached credentials." in res["info"], res
        assert stored_cost(v) == (1, 3), "an offline login stores nothing"
        server.start()
        procs.wait_until(lambda: v.domain_status().get("state") == "online", 20, "the domain back online")
        res = pam.run("alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])
        assert res["ok"] and "Authenticated with cached credentials." not in res["info"], res
        procs.wait_until(lambda: stored_cost(v) == (3, 3), 20, "alice's password hashed again at cost 3")

    # A cost outside 1..8 is a configuration error, named.
    with running_vigil(builddir, server) as v:
        v.write_config(extra={"vigil": ["services = nss, pam"], "domain/LDAP": domain_lines(
            server, "cache_credentials = true", "cache_credentials_hash_cost = 9")})
        out = v.vigilctl("config-check")
        assert out.returncode != 0 and "cache_credentials_hash_cost" in out.stdout + out.stderr


def test_a_directory_that_refuses_the_hosts_bind_still_decides_logins(builddir, own_slapd, tmp_path):
    """The identity connection's own bind is refused (a wrong
    ldap_default_authtok: a rotated password, a stale keytab alike): the
    domain is offline, but the directory is there and answers the users' own
    binds, so it decides their logins. A password changed in the directory
    wins over the hash cached before; the old one is refused."""
    server = own_slapd

    def configure(v, authtok):
        v.write_config(extra={"vigil": ["services = nss, pam"], "domain/LDAP": domain_lines(
            server, "ldap_auth_disable_tls_never_use_in_production = true", "cache_credentials = true",
            f"ldap_default_bind_dn = {server.admin_dn}", f"ldap_default_authtok = {authtok}",
            "offline_timeout = 60")})
        v.stop_all()
        v.start_supervised(("nss", "pam"))

    with running_vigil(builddir, server) as v:
        configure(v, server.admin_pw)
        pam = Pam(tmp_path, builddir, v)
        assert pam.run("alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])["ok"]
        procs.wait_until(lambda: cached_password_stored(v, "alice"), 20, "alice's password to be cached")

        configure(v, "Not-The-Admin-Passw0rd")
        assert v.dp_call("user", "nosuchuser")[0] != "ok "  # the lookup finds the bind refused
        procs.wait_until(lambda: v.domain_status().get("state") == "offline", 20, "the domain offline")
        status = v.vigilctl("domain-status", "LDAP").stdout
        assert "asking the directory" in status, status
        server.modify_ldif(f"dn: uid=alice,ou=People,{server.base_dn}\nchangetype: modify\n"
                           "replace: userPassword\nuserPassword: Changed-Passw0rd-1\n")
        # The cached hash would take the old password: the directory does not.
        res = pam.run("alice", [("authenticate", PAM["AUTH_ERR"])], [PASSWORDS["alice"]])
        assert res["ok"], res
        res = pam.run("alice", [("authenticate", PAM["SUCCESS"])], ["Changed-Passw0rd-1"])
        assert res["ok"] and "Authenticated with cached credentials." not in res["info"], res

        # Out of reach, the cache decides again, with the new password once
        # its hash (made in the background) is stored.
        server.stop()

        def offline_login_with_the_new_password():
            res = pam.run("alice", [("authenticate", PAM["SUCCESS"])], ["Changed-Passw0rd-1"])
            return res["ok"] and "Authenticated with cached credentials." in res["info"]
        procs.wait_until(offline_login_with_the_new_password, 20, "an offline login with the new password")


def lock_seconds_left(v, name):
    """The seconds `vigilctl user-show` says the offline lock has left, or None."""
    match = re.search(r"locked until: .*\(in (\d+) s\)", v.vigilctl("user-show", name).stdout)
    return int(match.group(1)) if match else None


def test_an_offline_lockout_runs_out_after_offline_failed_login_delay(builddir, own_slapd, tmp_path):
    """Two wrong cached passwords lock alice for one minute (the smallest
    delay: the option is in minutes); the right one is refused meanwhile,
    and accepted once the minute has passed, which also clears the count."""
    server = own_slapd
    with running_vigil(builddir, server, "cache_credentials = true",
                       pam=["offline_failed_login_attempts = 2", "offline_failed_login_delay = 1"]) as v:
        pam = Pam(tmp_path, builddir, v)
        assert pam.run("alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])["ok"]
        procs.wait_until(lambda: cached_password_stored(v, "alice"), 20, "alice's password to be cached")
        server.stop()
        assert pam.run("alice", [("authenticate", PAM["AUTH_ERR"])], ["wrong"])["ok"]
        res = pam.run("alice", [("authenticate", PAM["AUTH_ERR"])], ["wrong"])
        assert res["ok"] and any("locked until" in e for e in res["errors"]), res
        assert pam.run("alice", [("authenticate", PAM["MAXTRIES"])], [PASSWORDS["alice"]])["ok"]
        left = lock_seconds_left(v, "alice")
        assert left is not None and 0 < left <= 60, v.vigilctl("user-show", "alice").stdout
        time.sleep(left)  # the delay itself: nothing else can make it pass

        def logs_in():
            res = pam.run("alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])
            return res if res["ok"] else None
        res = procs.wait_until(logs_in, 15, "the offline lock to run out")
        assert "Authenticated with cached credentials." in res["info"], res
        out = v.vigilctl("user-show", "alice").stdout
        assert "locked until" not in out and "failed logins:   0" in out, out


def add_users(server, count, first_uid=20000):
    """`count` more directory users u00, u01, ... with the password Pw-NAME-1."""
    entries = [f"dn: uid=u{i:02d},ou=People,{server.base_dn}\nobjectClass: inetOrgPerson\n"
               f"objectClass: posixAccount\nuid: u{i:02d}\ncn: U{i:02d}\nsn: U{i:02d}\n"
               f"uidNumber: {first_uid + i}\ngidNumber: 10000\nhomeDirectory: /home/u{i:02d}\n"
               f"userPassword: Pw-u{i:02d}-1\n" for i in range(count)]
    server.add_ldif("\n".join(entries))
    return [f"u{i:02d}" for i in range(count)]


def start_logins(builddir, v, confdir, jobs):
    """One pam_start_confdir/pam_authenticate/pam_end process per (user,
    password), all at once (pam_wrapper cannot run concurrently: its
    processes race for the same /tmp/pam.X dir); returns the processes."""
    tool = builddir / "tests" / "tools" / "client_pam_loop"
    env = tool_env(tool, builddir / ".libs" / "pam_vigil.so",
                   {**os.environ, "VIGIL_PIPES_DIR": str(v.state_dir / "pipes")})
    return [(user, subprocess.Popen([str(tool), str(confdir), "login", user, password, "1"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for user, password in jobs]


def finish_logins(started):
    """{user: pam_authenticate's return code} (None when the tool failed)."""
    codes = {}
    for user, proc in started:
        out, err = proc.communicate(timeout=60)
        match = re.search(r"^OK .*last_rc=(-?\d+)$", out.strip())
        codes[user] = int(match.group(1)) if match and proc.returncode == 0 else (None, out, err)
    return codes


def test_concurrent_logins_while_passwords_are_hashed_keep_the_provider_answering_its_pings(
        builddir, own_slapd, tmp_path):
    """Rounds of 20 logins at once with cache_credentials = true: every
    accepted password is hashed for offline use while the next round comes
    in, each hash made to cost 300 ms (tests/tools/slow_crypt.so). Every
    login gets its own right answer, and vigil_be keeps answering vigild's
    pings (heartbeat 1 s, two misses allowed): vigild never restarts it.
    Hashing on the event loop would block it for 4.5 s in the first round
    alone (15 accepted passwords), and vigild would restart vigil_be."""
    server = own_slapd
    users = add_users(server, 20)
    wrong = set(users[15:])
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    (confdir / "login").write_text(f"auth required {builddir / '.libs' / 'pam_vigil.so'}\n")
    with running_vigil(builddir, server, "cache_credentials = true",
                       vigil=["heartbeat = 1", "heartbeat_misses = 2"],
                       preload=[str(builddir / "tests" / "tools" / ".libs" / "slow_crypt.so")]) as v:
        before, _ = v.status()
        first = {u: ("wrong" if u in wrong else f"Pw-{u}-1") for u in users}
        expected = {u: PAM["AUTH_ERR"] if u in wrong else PAM["SUCCESS"] for u in users}
        assert finish_logins(start_logins(builddir, v, confdir, first.items())) == expected
        for _ in range(2):  # the hashes of the round before are still being computed
            codes = finish_logins(start_logins(builddir, v, confdir, [(u, f"Pw-{u}-1") for u in users]))
            assert codes == {u: PAM["SUCCESS"] for u in users}
        procs.wait_until(lambda: all(cached_password_stored(v, u) for u in users), 60,
                         "every accepted password to be hashed and stored")
        rows, _ = v.status()
        assert rows["domain/LDAP"]["restarts"] == 0 and rows["domain/LDAP"]["pid"] == before["domain/LDAP"]["pid"], \
            (rows, v.log())
        assert rows["pam"]["restarts"] == 0, rows


def vigil_be_connections(port):
    """vigil_be's established TCP connections to 127.0.0.1:port."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", "dst", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=10).stdout
    return sum(1 for line in out.splitlines() if '"vigil_be"' in line)


def test_a_provider_killed_in_the_middle_of_a_login_is_authinfo_unavail_at_once_then_restarted(
        builddir, own_slapd, tmp_path):
    """A login is waiting on the directory (slapd frozen: the bind is sent
    and never answered) when vigil_be is SIGKILLed. The PAM caller hears
    PAM_AUTHINFO_UNAVAIL as soon as the provider is gone, not after the
    request's budget (8.5 s) or the LDAP timeouts (30 s here); vigild
    restarts vigil_be and logins work again."""
    server = own_slapd
    with running_vigil(builddir, server, "ldap_opt_timeout = 30", "ldap_network_timeout = 30",
                       pam=["pam_id_timeout = 600"]) as v:
        pam = Pam(tmp_path, builddir, v)
        # alice is fresh in the cache: the next login goes straight to the bind.
        assert pam.run("alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])["ok"]
        rows, _ = v.status()
        be_pid = rows["domain/LDAP"]["pid"]
        idle = vigil_be_connections(server.port)
        server.freeze()
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                login = pool.submit(pam.run, "alice", [("authenticate", PAM["AUTHINFO_UNAVAIL"])], [PASSWORDS["alice"]])
                # The bind's own connection is up (the kernel accepts for a
                # frozen slapd): the login is in the middle of it.
                procs.wait_until(lambda: vigil_be_connections(server.port) > idle or login.done(), 10,
                                 "vigil_be to open the bind's connection")
                assert not login.done(), login.result()
                os.kill(be_pid, signal.SIGKILL)
                killed = time.monotonic()
                res = login.result(timeout=60)
                answered_after = time.monotonic() - killed
            assert res["ok"], res
            assert answered_after < 5, answered_after
        finally:
            server.thaw()
        rows = v.wait_status(lambda r: r["domain/LDAP"]["state"] == "running" and r["domain/LDAP"]["restarts"] == 1
                             and r["domain/LDAP"]["pid"] not in (0, be_pid), "vigild to restart vigil_be")

        def logs_in():
            return pam.run("alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])["ok"]
        procs.wait_until(logs_in, 20, "a login through the restarted vigil_be")
        assert rows["pam"]["restarts"] == 0, rows


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
