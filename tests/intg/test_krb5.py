"""auth_provider = krb5 against a real MIT KDC: vigil_krb5_child spoken to
directly (its protocol, every result it reports, where and as whom the
ccache lands), then whole PAM logins through pam_vigil.so → vigil_pam →
vigil_be → the child → the KDC, online and with the KDC stopped.

Root only: the child drops to the user's uid to write the ccache, and the
PAM tests log in as the directory's users.
"""

import contextlib
import datetime
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fixtures import procs, wrappers
from fixtures.kdc import Kdc
from fixtures.slapd import standard_users
from fixtures.vigil import Vigil

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the krb5 child drops to other uids: root only")

USERS = standard_users()
PASSWORDS = {name: entry["userPassword"][0] for name, entry in USERS.items()}
UID = {name: int(entry["uidNumber"][0]) for name, entry in USERS.items()}
GID = {name: int(entry["gidNumber"][0]) for name, entry in USERS.items()}
HOST = "client.example.com"

PAM = {"SUCCESS": 0, "PERM_DENIED": 6, "AUTH_ERR": 7, "AUTHINFO_UNAVAIL": 9, "USER_UNKNOWN": 10,
       "NEW_AUTHTOK_REQD": 12, "AUTHTOK_ERR": 20, "AUTHTOK_RECOVERY_ERR": 21}
RESULT = {"ok": 0, "wrong_password": 1, "unknown_principal": 2, "password_expired": 3, "clock_skew": 4,
          "kdc_unreachable": 5, "account_locked": 6, "validation_failed": 7, "ccache_failed": 8,
          "bad_request": 9, "error": 10, "password_rejected": 11, "keytab_failed": 12}
RESULT_NAME = {v: k for k, v in RESULT.items()}
DRIVER = Path(__file__).parent / "fixtures" / "pam_driver.py"


# --- the child's protocol (src/providers/krb5/krb5_child_protocol.hpp) -------------------

TAGS = {"command": 1, "user": 2, "realm": 3, "password": 4, "uid": 5, "gid": 6, "ccname": 7,
        "krb5_config": 8, "lifetime": 9, "renewable_lifetime": 10, "validate": 11, "keytab": 12,
        "new_password": 13, "principal": 14}
NUMBERS = {"command", "uid", "gid", "lifetime", "renewable_lifetime", "validate"}


def encode_request(**fields):
    body = b""
    for name, value in fields.items():
        data = struct.pack("<I", value) if name in NUMBERS else value.encode()
        body += struct.pack("<HI", TAGS[name], len(data)) + data
    return b"VK5Q" + struct.pack("<II", 1, len(body)) + body


def decode_answer(data):
    assert data[:4] == b"VK5A", data
    version, length = struct.unpack_from("<II", data, 4)
    assert version == 1 and len(data) == 12 + length, data
    out, at = {}, 12
    while at < len(data):
        tag, size = struct.unpack_from("<HI", data, at)
        value = data[at + 6:at + 6 + size]
        at += 6 + size
        if tag == 32:
            out["result"] = RESULT_NAME[struct.unpack("<I", value)[0]]
        elif tag == 33:
            out["ccname"] = value.decode()
        elif tag == 34:
            out["message"] = value.decode()
        elif tag == 35:
            out["tgt_end"] = struct.unpack("<Q", value)[0]
    return out


def run_child(builddir, request, timeout=30, args=()):
    """One request to vigil_krb5_child, as vigil_be sends it (empty
    environment but for the loop guard); returns (exit code, answer)."""
    env = {"_VIGIL_LOOPS": "NO"}
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    proc = subprocess.run([str(builddir / "vigil_krb5_child"), *args], input=request, capture_output=True,
                          timeout=timeout, env=env)
    for marker in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:"):
        assert marker not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc.returncode, decode_answer(proc.stdout)


@pytest.fixture
def ccdir():
    """A sticky, world-writable directory like /tmp for ccaches (pytest's
    own temp dirs are private to root; the child writes as the user)."""
    path = Path(tempfile.mkdtemp(prefix="vigil-krb5-cc-", dir="/tmp"))
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def profile(tmp_path, kdc, *kdcs, libdefaults=()):
    """What vigil_be generates: the realm's KDCs (final), then the KDC
    fixture's krb5.conf as the base; returns the KRB5_CONFIG value."""
    path = tmp_path / f"generated-{len(list(tmp_path.glob('generated-*')))}.conf"
    text = ""
    if libdefaults:
        text += "[libdefaults]\n" + "".join(f"    {line}\n" for line in libdefaults)
    if kdcs:
        text += f"[realms]\n    {kdc.realm} = {{\n" + "".join(f"        kdc = {k}\n" for k in kdcs) + "    }*\n"
    path.write_text(text)
    os.chmod(path, 0o644)
    return f"{path}:{kdc.krb5_conf}"


def login(builddir, kdc, user, password, ccname, krb5_config=None, uid=None, gid=None, **more):
    return run_child(builddir, encode_request(
        command=1, user=user, realm=kdc.realm, password=password, uid=UID.get(user, 10099) if uid is None else uid,
        gid=GID.get(user, 10000) if gid is None else gid, ccname=ccname,
        krb5_config=krb5_config or str(kdc.krb5_conf), **more))


def klist(kdc, ccname):
    """(principal, [(start, end, renew_until or None, service)]) of a ccache."""
    env = {**kdc.env(), "KRB5CCNAME": ccname, "LC_ALL": "C", "TZ": "UTC"}
    out = procs.run(["klist", ccname], env=env).stdout
    principal, tickets = None, []
    lines = out.splitlines()
    fmt = "%m/%d/%y %H:%M:%S"
    for i, line in enumerate(lines):
        if line.startswith("Default principal:"):
            principal = line.split(":", 1)[1].strip()
        parts = line.split()
        if len(parts) == 5 and "/" in parts[0] and ":" in parts[1]:
            start = datetime.datetime.strptime(f"{parts[0]} {parts[1]}", fmt)
            end = datetime.datetime.strptime(f"{parts[2]} {parts[3]}", fmt)
            renew = None
            if i + 1 < len(lines) and "renew until" in lines[i + 1]:
                renew = datetime.datetime.strptime(lines[i + 1].split("renew until", 1)[1].strip(), fmt)
            tickets.append((start, end, renew, parts[4]))
    return principal, tickets


def wrong_key_keytab(path, principal):
    """A keytab with a key for `principal` that the KDC never issued."""
    script = (f"addent -password -p {principal} -k 1 -e aes256-cts-hmac-sha1-96\n"
              f"Not-The-KDCs-Key-1\nwkt {path}\nquit\n")
    procs.run(["ktutil"], input=script)
    return path


@pytest.fixture(scope="module")
def expired_user(kdc):
    """dave's principal, with his directory password, expired."""
    kdc.add_principal("dave", PASSWORDS["dave"])
    kdc.kadmin_local('modprinc -pwexpire "2020-01-01 00:00:00 UTC" dave')
    return "dave"


# --- the child alone ------------------------------------------------------------------------

def test_a_good_password_leaves_a_ccache_owned_by_the_user(builddir, kdc, ccdir):
    ccname = f"FILE:{ccdir}/krb5cc_{UID['alice']}"
    code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname)
    assert code == 0 and answer["result"] == "ok", answer
    assert answer["ccname"] == ccname
    st = os.stat(ccname[5:])
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (UID["alice"], GID["alice"], 0o600)
    principal, tickets = klist(kdc, ccname)
    assert principal == f"alice@{kdc.realm}"
    assert [t[3] for t in tickets] == [f"krbtgt/{kdc.realm}@{kdc.realm}"]
    # Nothing left behind but the ccache (no temp file).
    assert [p.name for p in ccdir.iterdir()] == [f"krb5cc_{UID['alice']}"]
    # A second login replaces it in place, still the user's.
    code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname)
    assert answer["result"] == "ok", answer
    assert os.stat(ccname[5:]).st_uid == UID["alice"]
    assert [p.name for p in ccdir.iterdir()] == [f"krb5cc_{UID['alice']}"]


def test_a_wrong_password_and_an_unknown_principal_are_told_apart(builddir, kdc, ccdir):
    ccname = f"FILE:{ccdir}/krb5cc_x"
    code, answer = login(builddir, kdc, "alice", "not-" + PASSWORDS["alice"], ccname)
    assert code == 0 and answer["result"] == "wrong_password", answer
    # carol is in the directory but has no principal.
    code, answer = login(builddir, kdc, "carol", PASSWORDS["carol"], ccname)
    assert answer["result"] == "unknown_principal", answer
    assert list(ccdir.iterdir()) == []


def test_a_user_name_is_never_parsed_into_another_principal(builddir, kdc, ccdir):
    """A name with '/' or '@' stays one component: it cannot log in as the
    host principal or a principal of another realm."""
    code, answer = login(builddir, kdc, f"host/{HOST}", "whatever", f"FILE:{ccdir}/cc")
    assert answer["result"] == "unknown_principal", answer
    code, answer = login(builddir, kdc, f"alice@{kdc.realm}", PASSWORDS["alice"], f"FILE:{ccdir}/cc")
    assert answer["result"] == "unknown_principal", answer


def test_the_directorys_principal_is_used_in_the_realm_only(builddir, kdc, ccdir):
    kdc.add_principal("carol.k", PASSWORDS["carol"])
    ccname = f"FILE:{ccdir}/cc"
    code, answer = login(builddir, kdc, "carol", PASSWORDS["carol"], ccname, principal=f"carol.k@{kdc.realm}")
    assert answer["result"] == "ok", answer
    assert klist(kdc, ccname)[0] == f"carol.k@{kdc.realm}"
    code, answer = login(builddir, kdc, "carol", PASSWORDS["carol"], ccname, principal="carol.k@OTHER.REALM")
    assert answer["result"] == "error" and "is not in EXAMPLE.COM" in answer["message"], answer


def test_lifetime_and_renewable_lifetime_are_asked_for(builddir, kdc, ccdir):
    ccname = f"FILE:{ccdir}/krb5cc_life"
    code, answer = login(builddir, kdc, "bob", PASSWORDS["bob"], ccname, lifetime=3600,
                         renewable_lifetime=2 * 86400)
    assert answer["result"] == "ok", answer
    _, [(start, end, renew, _)] = klist(kdc, ccname)
    assert (end - start).total_seconds() == 3600
    assert renew is not None and (renew - start).total_seconds() == 2 * 86400
    assert abs(answer["tgt_end"] - end.replace(tzinfo=datetime.timezone.utc).timestamp()) <= 1


def test_a_dir_collection_is_created_private_and_the_principals_cache_reused(builddir, kdc, ccdir):
    path = ccdir / "alice-collection"
    ccname = f"DIR:{path}"
    for _ in range(2):
        code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname)
        assert answer["result"] == "ok", answer
        assert answer["ccname"] == ccname
    st = os.stat(path)
    assert (st.st_uid, st.st_mode & 0o777) == (UID["alice"], 0o700)
    tickets = [p for p in path.iterdir() if p.name.startswith("tkt")]
    assert len(tickets) == 1, list(path.iterdir())  # the second login reused the first's cache
    assert os.stat(tickets[0]).st_uid == UID["alice"]
    principal, _ = klist(kdc, ccname)
    assert principal == f"alice@{kdc.realm}"


def klist_as(uid, ccname):
    """klist run by `uid` itself (a persistent keyring is the uid's own)."""
    env = {"KRB5_CONFIG": "/dev/null", "KRB5CCNAME": ccname, "LC_ALL": "C", "PATH": os.environ["PATH"]}
    return subprocess.run(["klist"], env=env, capture_output=True, text=True, timeout=30, user=uid, cwd="/")


@contextlib.contextmanager
def persistent_keyring_of(uid):
    """Empties the uid's persistent keyring collection before and after."""
    env = {"KRB5_CONFIG": "/dev/null", "KRB5CCNAME": f"KEYRING:persistent:{uid}", "PATH": os.environ["PATH"]}
    subprocess.run(["kdestroy", "-A"], env=env, capture_output=True, timeout=30, user=uid, cwd="/")
    try:
        yield
    finally:
        subprocess.run(["kdestroy", "-A"], env=env, capture_output=True, timeout=30, user=uid, cwd="/")


# One kernel keyring for every process: never two of these at once.
@pytest.mark.xdist_group("bob-persistent-keyring")
def test_the_users_persistent_keyring_holds_the_tgt(builddir, kdc):
    ccname = f"KEYRING:persistent:{UID['bob']}"
    with persistent_keyring_of(UID["bob"]):
        for _ in range(2):
            code, answer = login(builddir, kdc, "bob", PASSWORDS["bob"], ccname)
            assert answer["result"] == "ok" and answer["ccname"] == ccname, answer
        out = klist_as(UID["bob"], ccname)
        assert out.returncode == 0 and f"Default principal: bob@{kdc.realm}" in out.stdout, out
        listed = subprocess.run(["klist", "-l"], env={"KRB5_CONFIG": "/dev/null", "KRB5CCNAME": ccname,
                                                      "PATH": os.environ["PATH"]},
                                capture_output=True, text=True, timeout=30, user=UID["bob"], cwd="/")
        assert listed.stdout.count(f"bob@{kdc.realm}") == 1, listed.stdout  # the second login reused the cache
        # Another uid's keyring is never written.
        code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname)
        assert answer["result"] == "ccache_failed", answer


def test_a_ccache_in_a_directory_the_user_cannot_write_fails_as_such(builddir, kdc, tmp_path):
    private = tmp_path / "root-only"
    private.mkdir(mode=0o700)
    code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], f"FILE:{private}/cc")
    assert answer["result"] == "ccache_failed", answer
    assert list(private.iterdir()) == []  # never created as root


def test_a_ccache_is_never_written_as_root(builddir, kdc, ccdir):
    for uid, gid in ((0, 10000), (10001, 0), (0, 0)):
        code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], f"FILE:{ccdir}/cc", uid=uid, gid=gid)
        assert answer["result"] == "ccache_failed" and "root" in answer["message"], answer
    assert list(ccdir.iterdir()) == []


def test_the_tgt_is_validated_with_the_host_keytab(builddir, kdc, ccdir, tmp_path):
    ccname = f"FILE:{ccdir}/cc"
    code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname, validate=1, keytab=str(kdc.keytab))
    assert answer["result"] == "ok", answer
    assert f"TGT validated with host/{HOST}@{kdc.realm}" in answer["message"], answer
    # A key for the host that the KDC did not issue: refused.
    bad = wrong_key_keytab(tmp_path / "wrong.keytab", f"host/{HOST}@{kdc.realm}")
    code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname, validate=1, keytab=str(bad))
    assert answer["result"] == "validation_failed", answer


def test_a_keytab_without_a_key_of_the_realm_skips_validation_unless_the_profile_requires_it(
        builddir, kdc, ccdir, tmp_path):
    other = wrong_key_keytab(tmp_path / "other-realm.keytab", f"host/{HOST}@OTHER.REALM")
    ccname = f"FILE:{ccdir}/cc"
    code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname, validate=1, keytab=str(other))
    assert answer["result"] == "ok", answer
    assert "TGT not validated: no key of EXAMPLE.COM" in answer["message"], answer
    strict = profile(tmp_path, kdc, libdefaults=("verify_ap_req_nofail = true",))
    code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname, krb5_config=strict, validate=1,
                         keytab=str(other))
    assert answer["result"] == "validation_failed", answer


def test_an_expired_password_is_reported_only_when_it_is_right(builddir, kdc, ccdir, expired_user):
    ccname = f"FILE:{ccdir}/cc"
    code, answer = login(builddir, kdc, expired_user, PASSWORDS[expired_user], ccname)
    assert answer["result"] == "password_expired", answer
    code, answer = login(builddir, kdc, expired_user, "not-" + PASSWORDS[expired_user], ccname)
    assert answer["result"] == "wrong_password", answer
    assert list(ccdir.iterdir()) == []


def test_the_generated_kdc_list_is_final_and_fails_over_in_order(builddir, kdc, ccdir, tmp_path):
    dead = f"127.0.0.1:{procs.free_port()}"
    live = f"127.0.0.1:{kdc.kdc_port}"
    ccname = f"FILE:{ccdir}/cc"
    # Only a dead KDC listed: unreachable, although the base krb5.conf
    # names the live one (the generated realm section is final).
    code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname,
                         krb5_config=profile(tmp_path, kdc, dead))
    assert answer["result"] == "kdc_unreachable", answer
    # The dead one first, the live one as backup: the backup answers.
    code, answer = login(builddir, kdc, "alice", PASSWORDS["alice"], ccname,
                         krb5_config=profile(tmp_path, kdc, dead, live))
    assert answer["result"] == "ok", answer


def test_a_warmed_child_uses_the_profile_of_the_request(builddir, kdc, ccdir, tmp_path):
    """--warm PROFILE (how vigil_be starts its spare child): the context
    made before the request serves a request for the same profile; a
    request for another profile gets a context of its own."""
    ccname = f"FILE:{ccdir}/krb5cc_{UID['alice']}"
    dead = profile(tmp_path, kdc, f"127.0.0.1:{procs.free_port()}")  # its only KDC does not answer

    def request(krb5_config):
        return encode_request(command=1, user="alice", realm=kdc.realm, password=PASSWORDS["alice"],
                              uid=UID["alice"], gid=GID["alice"], ccname=ccname, krb5_config=krb5_config)

    code, answer = run_child(builddir, request(str(kdc.krb5_conf)), args=["--warm", str(kdc.krb5_conf)])
    assert code == 0 and answer["result"] == "ok", answer
    assert klist(kdc, ccname)[0] == f"alice@{kdc.realm}"
    code, answer = run_child(builddir, request(str(kdc.krb5_conf)), args=["--warm", dead])
    assert answer["result"] == "ok", answer
    code, answer = run_child(builddir, request(dead), args=["--warm", str(kdc.krb5_conf)])
    assert answer["result"] == "kdc_unreachable", answer


def test_malformed_requests_are_refused(builddir):
    for request in (b"", b"VK5Q", b"VK5Q" + struct.pack("<II", 1, 100000), b"HTTP" + bytes(8),  # not our magic
                    encode_request(command=1, user="alice")):
        code, answer = run_child(builddir, request)
        assert code == 1 and answer["result"] == "bad_request", (request, answer)


# --- whole logins through PAM -------------------------------------------------------------

@contextlib.contextmanager
def running_vigil(builddir, slapd, kdc, *domain, pam=(), krb5_server=None, krb5_config=None):
    workdir = Path(tempfile.mkdtemp(prefix="vigil-krb5-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    ccdir = workdir / "cc"
    ccdir.mkdir()
    os.chmod(ccdir, 0o1777)
    lines = [f"ldap_uri = {slapd.uri}", f"ldap_search_base = {slapd.base_dn}", "min_id = 1000",
             "auth_provider = krb5", f"krb5_realm = {kdc.realm}",
             f"krb5_server = {krb5_server or f'127.0.0.1:{kdc.kdc_port}'}", f"krb5_ccachedir = {ccdir}", *domain]
    v = Vigil(workdir / "vigil", builddir, extra={"vigil": ["services = nss, pam"], "pam": list(pam),
                                                  "domain/LDAP": lines})
    try:
        krb5_env = {k: val for k, val in kdc.env().items() if k.startswith("KRB5")}
        if krb5_config:
            krb5_env["KRB5_CONFIG"] = krb5_config
        v.start_supervised(("nss", "pam"), env=v.env(**krb5_env))
        v.ccdir = ccdir
        yield v
    finally:
        v.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def pam_run(tmp_path, builddir, v, user, ops, passwords=(), as_uid=None):
    """One PAM transaction through pam_vigil.so; as root (the private
    socket) unless as_uid says whose program it is (the public socket)."""
    if as_uid is not None:
        tmp_path = v.dir / "pam-as-user"  # under a directory others may traverse
        tmp_path.mkdir(exist_ok=True)
        os.chmod(tmp_path, 0o755)
    n = len(list(tmp_path.glob("pam*"))) + 1
    module = builddir / ".libs" / "pam_vigil.so"
    lines = [f"{kind} required {module}" for kind in ("auth", "account", "session", "password")]
    env = wrappers.pam_wrapper_env(tmp_path / f"pam{n}", {f"svc{n}": lines},
                                   base={**os.environ, "VIGIL_PIPES_DIR": str(v.state_dir / "pipes")})
    if as_uid is not None:
        for path in [tmp_path / f"pam{n}", *(tmp_path / f"pam{n}").rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    spec = {"service": f"svc{n}", "user": user, "passwords": list(passwords),
            "ops": [list(op) + [0] * (3 - len(op)) for op in ops]}
    proc = subprocess.run([sys.executable, str(DRIVER), json.dumps(spec)], env=env, capture_output=True,
                          text=True, timeout=60, user=as_uid, cwd="/")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def all_logs(v):
    return "".join(p.read_text(errors="replace") for p in [*v.log_dir.glob("*"), *v.dir.glob("*.stderr")]
                   if p.is_file())


def test_pam_login_stores_the_ccache_and_sets_krb5ccname(builddir, slapd, kdc, tmp_path):
    with running_vigil(builddir, slapd, kdc, "krb5_lifetime = 2h") as v:
        res = pam_run(tmp_path, builddir, v, "alice",
                      [("authenticate", PAM["SUCCESS"]), ("account", PAM["SUCCESS"]), ("getenvlist", 0)],
                      [PASSWORDS["alice"]])
        assert res["ok"], res
        ccname = f"FILE:{v.ccdir}/krb5cc_{UID['alice']}"  # the default krb5_ccname_template
        assert res["env"].get("KRB5CCNAME") == ccname, res
        st = os.stat(ccname[5:])
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (UID["alice"], GID["alice"], 0o600)
        principal, [(start, end, _, _)] = klist(kdc, ccname)
        assert principal == f"alice@{kdc.realm}" and (end - start).total_seconds() == 7200
        # The generated profile is where the design says, with the KDC.
        generated = (v.state_dir / "krb5" / "LDAP.conf").read_text()
        assert f"kdc = 127.0.0.1:{kdc.kdc_port}" in generated

        res = pam_run(tmp_path, builddir, v, "alice", [("authenticate", PAM["AUTH_ERR"]), ("getenvlist", 0)],
                      ["not-" + PASSWORDS["alice"]])
        assert res["ok"] and "KRB5CCNAME" not in res["env"], res
        # In the directory, not in the KDC: refused, never "offline".
        assert pam_run(tmp_path, builddir, v, "carol", [("authenticate", PAM["AUTH_ERR"])],
                       [PASSWORDS["carol"]])["ok"]
        # The password is in no log.
        assert PASSWORDS["alice"] not in all_logs(v)


# One kernel keyring for every process: never two of these at once.
@pytest.mark.xdist_group("bob-persistent-keyring")
def test_pam_keyring_template(builddir, slapd, kdc, tmp_path):
    ccname = f"KEYRING:persistent:{UID['bob']}"
    with persistent_keyring_of(UID["bob"]), \
            running_vigil(builddir, slapd, kdc, "krb5_ccname_template = KEYRING:persistent:%U") as v:
        res = pam_run(tmp_path, builddir, v, "bob", [("authenticate", PAM["SUCCESS"]), ("getenvlist", 0)],
                      [PASSWORDS["bob"]])
        assert res["ok"] and res["env"].get("KRB5CCNAME") == ccname, res
        out = klist_as(UID["bob"], ccname)
        assert out.returncode == 0 and f"Default principal: bob@{kdc.realm}" in out.stdout, out


def test_pam_login_with_the_principal_the_directory_names(builddir, slapd, kdc, tmp_path):
    """ldap_user_principal: carol's principal is carol.k (her entry's
    description here, a standard attribute the test slapd has)."""
    if not any(p == f"carol.k@{kdc.realm}" for p in kdc.kadmin_local("listprincs").stdout.split()):
        kdc.add_principal("carol.k", PASSWORDS["carol"])
    slapd.modify_ldif(f"dn: uid=carol,ou=People,{slapd.base_dn}\nchangetype: modify\nreplace: description\n"
                      f"description: carol.k@{kdc.realm}\n")
    with running_vigil(builddir, slapd, kdc, "ldap_user_principal = description",
                       "krb5_ccname_template = FILE:%d/cc_%p") as v:
        res = pam_run(tmp_path, builddir, v, "carol", [("authenticate", PAM["SUCCESS"]), ("getenvlist", 0)],
                      [PASSWORDS["carol"]])
        ccname = f"FILE:{v.ccdir}/cc_carol.k@{kdc.realm}"
        assert res["ok"] and res["env"].get("KRB5CCNAME") == ccname, res
        assert klist(kdc, ccname)[0] == f"carol.k@{kdc.realm}"


def test_pam_dir_template_and_validation(builddir, slapd, kdc, tmp_path):
    with running_vigil(builddir, slapd, kdc, "krb5_ccname_template = DIR:%d/%u_dir", "krb5_validate = true",
                       f"krb5_keytab = {kdc.keytab}") as v:
        res = pam_run(tmp_path, builddir, v, "bob", [("authenticate", PAM["SUCCESS"]), ("getenvlist", 0)],
                      [PASSWORDS["bob"]])
        assert res["ok"] and res["env"].get("KRB5CCNAME") == f"DIR:{v.ccdir}/bob_dir", res
        assert os.stat(v.ccdir / "bob_dir").st_uid == UID["bob"]
    bad = wrong_key_keytab(tmp_path / "wrong.keytab", f"host/{HOST}@{kdc.realm}")
    with running_vigil(builddir, slapd, kdc, "krb5_validate = true", f"krb5_keytab = {bad}") as v:
        # A TGT that does not validate is no login (and not an offline one).
        res = pam_run(tmp_path, builddir, v, "bob", [("authenticate", PAM["AUTHINFO_UNAVAIL"])], [PASSWORDS["bob"]])
        assert res["ok"], res
        assert list(v.ccdir.iterdir()) == []


def test_pam_expired_password_authenticates_then_acct_mgmt_wants_a_new_one(builddir, slapd, kdc, tmp_path,
                                                                            expired_user):
    with running_vigil(builddir, slapd, kdc) as v:
        res = pam_run(tmp_path, builddir, v, expired_user,
                      [("authenticate", PAM["SUCCESS"]), ("account", PAM["NEW_AUTHTOK_REQD"])],
                      [PASSWORDS[expired_user]])
        assert res["ok"] and res["errors"] == ["Your password has expired: change it now."], res
        assert pam_run(tmp_path, builddir, v, expired_user, [("authenticate", PAM["AUTH_ERR"])],
                       ["not-" + PASSWORDS[expired_user]])["ok"]


@pytest.fixture
def own_kdc(tmp_path):
    """A KDC of this test's own (alice and bob), for tests that stop it."""
    server = Kdc(tmp_path / "own-kdc")
    server.create()
    for name in ("alice", "bob"):
        server.add_principal(name, PASSWORDS[name])
    server.start()
    yield server
    server.stop()


def test_kdc_unreachable_falls_back_to_cached_credentials(builddir, slapd, own_kdc, tmp_path):
    with running_vigil(builddir, slapd, own_kdc, "cache_credentials = true") as v:
        assert pam_run(tmp_path, builddir, v, "alice", [("authenticate", PAM["SUCCESS"])],
                       [PASSWORDS["alice"]])["ok"]
        procs.wait_until(lambda: "cached password: stored" in v.vigilctl("user-show", "alice").stdout, 20,
                         "alice's password to be cached")
        own_kdc.stop()
        res = pam_run(tmp_path, builddir, v, "alice", [("authenticate", PAM["SUCCESS"]), ("getenvlist", 0)],
                      [PASSWORDS["alice"]])
        assert res["ok"] and "Authenticated with cached credentials." in res["info"], res
        assert "KRB5CCNAME" not in res["env"], res
        assert pam_run(tmp_path, builddir, v, "alice", [("authenticate", PAM["AUTH_ERR"])], ["wrong"])["ok"]
        # bob never logged in: nothing to decide with.
        assert pam_run(tmp_path, builddir, v, "bob", [("authenticate", PAM["AUTHINFO_UNAVAIL"])],
                       [PASSWORDS["bob"]])["ok"]


def test_a_password_kept_offline_gets_its_tgt_when_the_kdc_is_back(builddir, slapd, own_kdc, tmp_path):
    """krb5_store_password_if_offline: a login that cached credentials let
    in while the KDC was down leaves no ccache then, and gets one once the
    KDC answers again (tried every offline_timeout)."""
    with running_vigil(builddir, slapd, own_kdc, "cache_credentials = true", "krb5_store_password_if_offline = true",
                       "offline_timeout = 1") as v:
        ccfile = v.ccdir / f"krb5cc_{UID['alice']}"
        assert pam_run(tmp_path, builddir, v, "alice", [("authenticate", PAM["SUCCESS"])],
                       [PASSWORDS["alice"]])["ok"]
        procs.wait_until(lambda: "cached password: stored" in v.vigilctl("user-show", "alice").stdout, 20,
                         "alice's password to be cached")
        ccfile.unlink()
        own_kdc.stop()
        res = pam_run(tmp_path, builddir, v, "alice", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["alice"]])
        assert res["ok"] and "Authenticated with cached credentials." in res["info"], res
        time.sleep(2.5)  # two retries against the stopped KDC: still nothing (a wait, not a timing assertion)
        assert not ccfile.exists()
        own_kdc.start()
        procs.wait_until(ccfile.exists, 20, "alice's TGT once the KDC is back")
        principal, _ = klist(own_kdc, f"FILE:{ccfile}")
        assert principal == f"alice@{own_kdc.realm}"
        assert os.stat(ccfile).st_uid == UID["alice"]
        assert PASSWORDS["alice"] not in all_logs(v)


def test_config_check_knows_the_krb5_options(builddir, tmp_path):
    v = Vigil(tmp_path / "vigil", builddir, extra={"domain/LDAP": [
        "auth_provider = krb5", "krb5_realm = EXAMPLE.COM", "krb5_lifetime = 1d12", "krb5_renewable_lifetime = 7d",
        "krb5_ccname_template = KEYRING:session:%U", "krb5_validate = maybe", "krb5_auth_timeout = 0"]})
    out = v.vigilctl("config-check")
    assert out.returncode == 1
    text = out.stdout + out.stderr
    for expected in ("krb5_lifetime", "only KEYRING:persistent:%U is supported", "krb5_validate",
                     "krb5_auth_timeout"):
        assert expected in text, text
    assert "krb5_renewable_lifetime" not in text, text


def children_running(builddir, parent):
    """PIDs of vigil_krb5_child processes from this build tree whose parent
    is `parent` (tests of other pytest-xdist workers start them too)."""
    exe = str((builddir / "vigil_krb5_child").resolve())
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                # /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces
                stat = (proc / "stat").read_text()
                comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 1:].split()
                if int(rest[1]) != parent:
                    continue
                # A zombie (killed, not reaped yet) has no exe link: its name says it.
                try:
                    mine = os.readlink(proc / "exe") == exe
                except OSError:
                    mine = rest[0] == "Z" and comm == "vigil_krb5_child"[:15]
                if mine:
                    found.append(int(proc.name))
            except (OSError, ValueError, IndexError):
                pass
    return found


def test_a_kdc_that_never_answers_is_cut_off_at_krb5_auth_timeout(builddir, slapd, kdc, tmp_path):
    """A KDC that takes the request and says nothing (UDP swallowed, TCP
    accepted by the kernel and never read): libkrb5 would wait for many
    seconds; the provider kills the child at krb5_auth_timeout and the
    login is unavailable (the offline rules: nothing cached here)."""
    import socket
    silent_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent_udp.bind(("127.0.0.1", 0))
    port = silent_udp.getsockname()[1]
    silent_tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent_tcp.bind(("127.0.0.1", port))
    silent_tcp.listen(16)
    try:
        with running_vigil(builddir, slapd, kdc, "krb5_auth_timeout = 1", krb5_server=f"127.0.0.1:{port}") as v:
            res = pam_run(tmp_path, builddir, v, "alice", [("authenticate", PAM["AUTHINFO_UNAVAIL"])],
                          [PASSWORDS["alice"]])
            assert res["ok"], res
            log = all_logs(v)
            killed = re.search(r"vigil_krb5_child \(pid (\d+)\) did not answer within krb5_auth_timeout "
                               r"\(1000 ms\): killed", log)
            assert killed, log[-3000:]
            killed = int(killed.group(1))
            # Killed, and reaped from the loop once gone (never waited for
            # there: no zombie left); what runs is the spare waiting for the
            # next login.
            procs.wait_until(lambda: not Path(f"/proc/{killed}").exists(), 10, "the killed child to be reaped")
            backend = v.status()[0]["domain/LDAP"]["pid"]
            assert len(children_running(builddir, backend)) <= 1, children_running(builddir, backend)
            # The KDC that answers is not in the list (the generated one is final).
            assert list(v.ccdir.iterdir()) == []
    finally:
        silent_udp.close()
        silent_tcp.close()


class SkewedKdc(Kdc):
    """A KDC whose clock runs two hours ahead (libfaketime in krb5kdc only)."""

    def env(self, base=None, ccache=None):
        env = super().env(base, ccache)
        env["LD_PRELOAD"] = wrappers.find_library("faketime/libfaketime.so.1")
        env["FAKETIME"] = "+2h"
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        return env


@pytest.fixture
def skewed_kdc(tmp_path):
    if not Path(wrappers.find_library("faketime/libfaketime.so.1")).exists():
        pytest.fail("libfaketime is missing (contrib/install-deps.sh installs it)", pytrace=False)
    server = SkewedKdc(tmp_path / "skewed-kdc")
    server.create()
    server.add_principal("alice", PASSWORDS["alice"])
    server.start()
    yield server
    server.stop()


def test_clock_skew_is_reported_as_such(builddir, skewed_kdc, ccdir, tmp_path):
    # libkrb5 corrects the skew of an AS exchange itself (kdc_timesync,
    # on by default): the login works.
    code, answer = login(builddir, skewed_kdc, "alice", PASSWORDS["alice"], f"FILE:{ccdir}/a")
    assert answer["result"] == "ok", answer
    # A site that turned that off sees the skew, named as such.
    strict = profile(tmp_path, skewed_kdc, libdefaults=("kdc_timesync = 0",))
    code, answer = login(builddir, skewed_kdc, "alice", PASSWORDS["alice"], f"FILE:{ccdir}/b", krb5_config=strict)
    assert answer["result"] == "clock_skew", answer
    assert "skew" in answer["message"].lower(), answer


def test_pam_clock_skew_is_neither_a_wrong_password_nor_offline(builddir, slapd, skewed_kdc, tmp_path):
    strict = tmp_path / "strict.conf"
    strict.write_text("[libdefaults]\n    kdc_timesync = 0\n")
    os.chmod(strict, 0o644)
    with running_vigil(builddir, slapd, skewed_kdc, "cache_credentials = true",
                       krb5_config=f"{strict}:{skewed_kdc.krb5_conf}") as v:
        res = pam_run(tmp_path, builddir, v, "alice", [("authenticate", PAM["AUTHINFO_UNAVAIL"])],
                      [PASSWORDS["alice"]])
        assert res["ok"], res
        assert res["errors"] == ["The clocks of this computer and the Kerberos server differ too much: "
                                 "ask an administrator."], res
        assert "Authenticated with cached credentials." not in res["info"]
        assert "clock skew" in all_logs(v)


def test_a_warmed_child_rereads_a_profile_changed_while_it_waited(builddir, skewed_kdc, ccdir, tmp_path):
    """A spare child may wait long: a profile file edited meanwhile gets a
    fresh context (kdc_timesync is read when a context is made)."""
    strict = tmp_path / "strict.conf"
    config = f"{strict}:{skewed_kdc.krb5_conf}"
    request = encode_request(command=1, user="alice", realm=skewed_kdc.realm, password=PASSWORDS["alice"],
                             uid=UID["alice"], gid=GID["alice"], ccname=f"FILE:{ccdir}/w", krb5_config=config)

    def warmed(edit):
        strict.write_text("[libdefaults]\n    kdc_timesync = 0\n")
        os.chmod(strict, 0o644)
        proc = subprocess.Popen([str(builddir / "vigil_krb5_child"), "--warm", config], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"_VIGIL_LOOPS": "NO"})
        time.sleep(1)  # the child has made its context and waits (a wait, not a timing assertion)
        if edit:
            strict.write_text("[libdefaults]\n")  # kdc_timesync back to libkrb5's default: on
        out, _ = proc.communicate(request, timeout=30)
        return decode_answer(out)["result"]

    assert warmed(edit=False) == "clock_skew"
    assert warmed(edit=True) == "ok"


# --- password changes (chpass_provider = krb5, kpasswd through kadmind) -------------------

def change(builddir, kdc, user, old, new, ccname, krb5_config=None):
    return run_child(builddir, encode_request(
        command=2, user=user, realm=kdc.realm, password=old, uid=UID.get(user, 10099),
        gid=GID.get(user, 10000), ccname=ccname, krb5_config=krb5_config or str(kdc.krb5_conf),
        new_password=new))


def test_kpasswd_changes_the_password_and_stores_a_tgt_for_the_new_one(builddir, kdc, ccdir):
    kdc.add_principal("chpw", "Old-Passw0rd-1")
    ccname = f"FILE:{ccdir}/cc"
    code, answer = change(builddir, kdc, "chpw", "Wrong-Passw0rd", "New-Passw0rd-2", ccname)
    assert answer["result"] == "wrong_password", answer
    code, answer = change(builddir, kdc, "chpw", "Old-Passw0rd-1", "New-Passw0rd-2", ccname)
    assert answer["result"] == "ok" and answer["ccname"] == ccname, answer
    principal, _ = klist(kdc, ccname)
    assert principal == f"chpw@{kdc.realm}"
    assert login(builddir, kdc, "chpw", "New-Passw0rd-2", ccname)[1]["result"] == "ok"
    assert login(builddir, kdc, "chpw", "Old-Passw0rd-1", ccname)[1]["result"] == "wrong_password"


def test_a_password_check_proves_the_password_and_stores_nothing(builddir, kdc, ccdir, expired_user):
    def check(user, password):
        return run_child(builddir, encode_request(
            command=3, user=user, realm=kdc.realm, password=password, uid=UID[user], gid=GID[user],
            ccname=f"FILE:{ccdir}/cc", krb5_config=str(kdc.krb5_conf)))[1]

    assert check("alice", PASSWORDS["alice"])["result"] == "ok"
    assert check("alice", "not-" + PASSWORDS["alice"])["result"] == "wrong_password"
    # An expired password is right, and can be changed: the check says ok.
    assert check(expired_user, PASSWORDS[expired_user])["result"] == "ok"
    assert check(expired_user, "not-" + PASSWORDS[expired_user])["result"] == "wrong_password"
    assert list(ccdir.iterdir()) == []


def test_pam_chauthtok_checks_the_old_password_without_storing_a_ccache(builddir, slapd, own_kdc, tmp_path):
    own_kdc.kadmin_local("addpol -minlength 12 vigil-twelve")
    own_kdc.kadmin_local("modprinc -policy vigil-twelve alice")
    with running_vigil(builddir, slapd, own_kdc, f"krb5_kpasswd = 127.0.0.1:{own_kdc.kpasswd_port}") as v:
        res = pam_run(tmp_path, builddir, v, "alice", [("chauthtok", PAM["AUTHTOK_RECOVERY_ERR"])],
                      ["not-" + PASSWORDS["alice"], "Alice-New-Passw0rd", "Alice-New-Passw0rd"], as_uid=UID["alice"])
        assert res["ok"], res
        # The old password right (PRELIM passes), the new one refused: no ccache.
        res = pam_run(tmp_path, builddir, v, "alice", [("chauthtok", PAM["AUTHTOK_ERR"])],
                      [PASSWORDS["alice"], "Short-1", "Short-1"], as_uid=UID["alice"])
        assert res["ok"], res
        assert list(v.ccdir.iterdir()) == []


def test_a_new_password_the_policy_refuses_comes_back_with_the_kdcs_reason(builddir, kdc, ccdir):
    kdc.kadmin_local("addpol -minlength 20 vigil-long")
    kdc.add_principal("chpw2", "Old-Passw0rd-Long-Enough")
    kdc.kadmin_local("modprinc -policy vigil-long chpw2")
    code, answer = change(builddir, kdc, "chpw2", "Old-Passw0rd-Long-Enough", "Short-1", f"FILE:{ccdir}/cc")
    assert answer["result"] == "password_rejected", answer
    assert "short" in answer["message"].lower(), answer
    assert login(builddir, kdc, "chpw2", "Old-Passw0rd-Long-Enough", f"FILE:{ccdir}/cc")[1]["result"] == "ok"


def test_pam_expired_password_changed_through_kpasswd(builddir, slapd, own_kdc, tmp_path):
    """The whole flow of an expired password: authenticate succeeds,
    acct_mgmt wants a new one, chauthtok (by dave's own program, on the
    public socket) changes it through kpasswd, and the new one logs in."""
    own_kdc.add_principal("dave", PASSWORDS["dave"])
    own_kdc.kadmin_local("addpol -minlength 12 vigil-twelve")
    # The policy first: setting one recomputes the expiry.
    own_kdc.kadmin_local("modprinc -policy vigil-twelve dave")
    own_kdc.kadmin_local('modprinc -pwexpire "2020-01-01 00:00:00 UTC" dave')
    new = "Dave-New-Passw0rd-9"
    with running_vigil(builddir, slapd, own_kdc, f"krb5_kpasswd = 127.0.0.1:{own_kdc.kpasswd_port}") as v:
        res = pam_run(tmp_path, builddir, v, "dave",
                      [("authenticate", PAM["SUCCESS"]), ("account", PAM["NEW_AUTHTOK_REQD"])], [PASSWORDS["dave"]])
        assert res["ok"], res
        # The KDC's policy refuses a short one, and the user is told why.
        res = pam_run(tmp_path, builddir, v, "dave", [("chauthtok", PAM["AUTHTOK_ERR"])],
                      [PASSWORDS["dave"], "Short-1", "Short-1"], as_uid=UID["dave"])
        assert res["ok"], res
        assert any(e.startswith("The new password was refused: ") and "short" in e.lower() for e in res["errors"]), res
        ccfile = v.ccdir / f"krb5cc_{UID['dave']}"
        assert not ccfile.exists()  # an expired password got no TGT
        res = pam_run(tmp_path, builddir, v, "dave", [("chauthtok", PAM["SUCCESS"]), ("getenvlist", 0)],
                      [PASSWORDS["dave"], new, new], as_uid=UID["dave"])
        # The new password's TGT, and KRB5CCNAME for the session that follows.
        assert res["ok"] and res["env"].get("KRB5CCNAME") == f"FILE:{ccfile}", res
        assert os.stat(ccfile).st_uid == UID["dave"]
        res = pam_run(tmp_path, builddir, v, "dave", [("authenticate", PAM["SUCCESS"]), ("account", PAM["SUCCESS"]),
                                                     ("getenvlist", 0)], [new])
        assert res["ok"] and res["env"].get("KRB5CCNAME") == f"FILE:{v.ccdir}/krb5cc_{UID['dave']}", res
        assert pam_run(tmp_path, builddir, v, "dave", [("authenticate", PAM["AUTH_ERR"])], [PASSWORDS["dave"]])["ok"]
        assert PASSWORDS["dave"] not in all_logs(v) and new not in all_logs(v)
