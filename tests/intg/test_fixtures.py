"""Smoke tests of the integration fixtures themselves.

Each test checks a behaviour that the vigil tests will rely on and that
would fail if the fixture were broken: TLS really verified, 2307bis groups
really auxiliary, size limits really enforced, Kerberos really working,
processes really gone after stop(), wrappers really in the loading path.
"""

import shutil
import subprocess

import pytest

from fixtures import procs, wrappers
from fixtures.kdc import Kdc
from fixtures.slapd import Slapd, make_ca, parse_ldif, standard_entries, standard_users

COMPAT = "/lib/x86_64-linux-gnu/libnss_compat.so.2"


def _one(result):
    assert result.returncode == 0, result.stderr
    entries = parse_ldif(result.stdout)
    assert len(entries) == 1, result.stdout
    return entries[0]


# --- slapd -------------------------------------------------------------------

def test_ldaps_with_ca_finds_alice(slapd):
    alice = _one(slapd.ldapsearch("(uid=alice)", uri=slapd.ldaps_uri))
    assert alice["uidNumber"] == ["10001"]
    assert "posixAccount" in alice["objectClass"]
    assert "userPassword" not in alice       # the ACL hides it from anonymous


def test_starttls_with_ca_finds_alice(slapd):
    alice = _one(slapd.ldapsearch("(uid=alice)", "uid", starttls=True))
    assert alice["dn"] == f"uid=alice,ou=People,{slapd.base_dn}"


def test_tls_is_verified(slapd, tmp_path):
    """Without our CA (or with another one) the handshake must fail."""
    no_ca = slapd.client_env(cacert=False)
    other = slapd.client_env()
    other["LDAPTLS_CACERT"] = str(make_ca(tmp_path, "other-ca")[0])
    for env in (no_ca, other):
        res = slapd.ldapsearch("(uid=alice)", uri=slapd.ldaps_uri, env=env)
        assert res.returncode != 0 and "uid=alice" not in res.stdout
        res = slapd.ldapsearch("(uid=alice)", starttls=True, env=env)
        assert res.returncode != 0 and "uid=alice" not in res.stdout
    # Control: the same search with our CA works, so the CA was the cause.
    assert slapd.ldapsearch("(uid=alice)", uri=slapd.ldaps_uri).returncode == 0


def test_user_bind_uses_ldif_password(slapd):
    alice = standard_users()["alice"]
    dn, password = alice["dn"], alice["userPassword"][0]
    res = slapd.ldapsearch("(uid=alice)", "uidNumber", bind=(dn, password))
    assert _one(res)["uidNumber"] == ["10001"]
    res = slapd.ldapsearch("(uid=alice)", bind=(dn, password + "x"))
    assert res.returncode == 49, res.stderr          # invalidCredentials


def test_user_changes_own_password(slapd_bis):
    """The ACL lets a user change her own password (LDAP password change)."""
    alice = standard_users("rfc2307bis")["alice"]
    dn, old, new = alice["dn"], alice["userPassword"][0], "Changed-Passw0rd-2"
    try:
        procs.run(["ldappasswd", "-x", "-H", slapd_bis.uri, "-ZZ", "-D", dn,
                   "-w", old, "-s", new], env=slapd_bis.client_env(), timeout=15)
        assert slapd_bis.ldapsearch("(uid=alice)", bind=(dn, new)).returncode == 0
        assert slapd_bis.ldapsearch("(uid=alice)", bind=(dn, old)).returncode == 49
    finally:
        slapd_bis.modify_ldif(f"dn: {dn}\nchangetype: modify\n"
                              f"replace: userPassword\nuserPassword: {old}\n")
    assert slapd_bis.ldapsearch("(uid=alice)", bind=(dn, old)).returncode == 0


def test_rfc2307_groups_list_member_uids(slapd):
    group = _one(slapd.ldapsearch("(cn=developers)"))
    assert group["objectClass"] == ["posixGroup"]
    assert sorted(group["memberUid"]) == ["alice", "bob"]


def _object_class(server, name):
    res = server.ldapsearch("objectClasses", "-b", "cn=Subschema", "-s", "base")
    assert res.returncode == 0, res.stderr
    defs = parse_ldif(res.stdout)[0]["objectClasses"]
    return next(d for d in defs if f"NAME '{name}'" in d)


def test_rfc2307bis_groups_have_member_dns(slapd_bis):
    group = _one(slapd_bis.ldapsearch("(cn=developers)"))
    assert {"groupOfNames", "posixGroup"} <= set(group["objectClass"])
    assert group["gidNumber"] == ["20001"]
    assert "memberUid" not in group
    members = sorted(group["member"])
    assert members == [f"uid={u},ou=People,{slapd_bis.base_dn}" for u in ("alice", "bob")]
    for dn in members:   # each member DN is a real POSIX user
        user = _one(slapd_bis.ldapsearch("(objectClass=posixAccount)", "uid",
                                         "-b", dn, "-s", "base"))
        assert user["dn"] == dn
    # Nesting: staff holds the developers group itself.
    staff = _one(slapd_bis.ldapsearch("(cn=staff)", "member"))
    assert group["dn"] in staff["member"]
    # The server's schema says posixGroup is auxiliary here, structural in 2307.
    assert "AUXILIARY" in _object_class(slapd_bis, "posixGroup")


def test_rfc2307_posixgroup_is_structural(slapd):
    assert "STRUCTURAL" in _object_class(slapd, "posixGroup")


def test_sizelimit_truncates_plain_but_not_paged_search(tmp_path):
    total = len(standard_entries())
    assert total > 5
    with Slapd(tmp_path / "sl", sizelimit=5, tls=False, loglevel="none") as server:
        server.load_standard_data()
        server.start()
        res = server.ldapsearch("(objectClass=*)", "dn")
        assert res.returncode == 4, res.stderr          # sizeLimitExceeded
        assert "Size limit exceeded" in res.stderr
        assert len(parse_ldif(res.stdout)) == 5
        # Paged results get everything, page by page (as from AD).
        res = server.ldapsearch("(objectClass=*)", "dn", "-E", "pr=3/noprompt")
        assert res.returncode == 0, res.stderr
        assert len(parse_ldif(res.stdout)) == total
        # The rootdn is not limited either.
        res = server.ldapsearch("(objectClass=*)", "dn",
                                bind=(server.admin_dn, server.admin_pw))
        assert res.returncode == 0 and len(parse_ldif(res.stdout)) == total


def test_add_and_delete_on_running_server(slapd_bis):
    dn = f"uid=frank,ou=People,{slapd_bis.base_dn}"
    slapd_bis.add_ldif(f"""dn: {dn}
objectClass: inetOrgPerson
objectClass: posixAccount
uid: frank
cn: Frank
sn: Frank
uidNumber: 10099
gidNumber: 10000
homeDirectory: /home/frank
""")
    try:
        assert _one(slapd_bis.ldapsearch("(uid=frank)"))["uidNumber"] == ["10099"]
    finally:
        slapd_bis.delete(dn)
    assert slapd_bis.ldapsearch("(uid=frank)").stdout.strip() == ""


# --- KDC ---------------------------------------------------------------------

def _klist(kdc, *args, ccache=None):
    return procs.run(["klist", *args], env=kdc.env(ccache=ccache), timeout=15).stdout


def test_kinit_with_password(kdc, tmp_path):
    ccache = tmp_path / "cc"
    password = standard_users()["alice"]["userPassword"][0]
    kdc.kinit("alice", password, ccache=ccache)
    out = _klist(kdc, ccache=ccache)
    assert "Default principal: alice@EXAMPLE.COM" in out
    assert "krbtgt/EXAMPLE.COM@EXAMPLE.COM" in out
    res = kdc.kinit("alice", "wrong", ccache=tmp_path / "cc2", check=False)
    assert res.returncode != 0 and "incorrect" in res.stderr.lower()


def test_kinit_with_host_keytab(kdc, tmp_path):
    assert "host/client.example.com@EXAMPLE.COM" in _klist(kdc, "-k", kdc.keytab)
    ccache = tmp_path / "cc"
    procs.run(["kinit", "-k", "-t", kdc.keytab, "host/client.example.com"],
              env=kdc.env(ccache=ccache), timeout=15)
    assert "Default principal: host/client.example.com@EXAMPLE.COM" in \
        _klist(kdc, ccache=ccache)


def test_kpasswd_through_kadmind(kdc, tmp_path):
    old = standard_users()["alice"]["userPassword"][0]
    new = "Changed-Passw0rd-1"
    try:
        res = procs.run(["kpasswd", "alice"], input=f"{old}\n{new}\n{new}\n",
                        env=kdc.env(ccache=tmp_path / "kp"), timeout=15)
        assert "Password changed" in res.stdout
        kdc.kinit("alice", new, ccache=tmp_path / "cc")
        assert kdc.kinit("alice", old, ccache=tmp_path / "cc2",
                         check=False).returncode != 0
    finally:
        kdc.set_password("alice", old)      # module-scoped KDC: leave it as found


# --- process hygiene -----------------------------------------------------------

def test_stop_leaves_no_process(tmp_path):
    server = Slapd(tmp_path / "ldap", loglevel="none")
    server.load_standard_data()
    server.start()
    realm = Kdc(tmp_path / "kdc")
    try:
        realm.create()
        realm.start()
        pids = [server.pid, *realm.pids]
        assert len(pids) == 3 and all(procs.pid_alive(p) for p in pids)
    finally:
        server.stop()
        realm.stop()
    assert not any(procs.pid_alive(p) for p in pids)
    assert not procs.tcp_listening(server.port)
    assert not procs.tcp_listening(realm.kdc_port)
    server.stop()       # idempotent
    realm.stop()


# --- NSS and PAM -----------------------------------------------------------------

def test_nss_call_against_glibc_compat(nss_call):
    res = wrappers.nss_call(nss_call, COMPAT, "compat", "getpwnam", "root")
    assert (res.status, res.errno) == ("SUCCESS", "0"), res
    assert res.lines == [l for l in open("/etc/passwd").read().splitlines()
                         if l.startswith("root:")]
    res = wrappers.nss_call(nss_call, COMPAT, "compat", "getpwnam", "root", bufsize=8)
    assert (res.status, res.errno, res.lines) == ("TRYAGAIN", "ERANGE", []), res
    res = wrappers.nss_call(nss_call, COMPAT, "compat", "getpwnam", "root", grow=True)
    assert res.status == "SUCCESS" and int(res.extras["retries"]) > 0, res
    assert res.lines[0].startswith("root:x:0:0:")
    res = wrappers.nss_call(nss_call, COMPAT, "compat", "getpwnam", "no-such-user-x")
    assert res.status == "NOTFOUND" and res.returncode == 1, res
    res = wrappers.nss_call(nss_call, COMPAT, "compat", "getgrgid", "0")
    assert res.status == "SUCCESS" and res.lines[0].startswith("root:"), res


def test_nss_wrapper_uses_files_and_module(tmp_path):
    env = wrappers.nss_wrapper_env(
        tmp_path, COMPAT, "compat",
        passwd_lines=["wrapped:x:4242:4242:Wrapped:/home/wrapped:/bin/sh"],
        group_lines=["wrapgrp:x:4242:wrapped"])

    def getent(*args):
        return procs.run(["getent", *args], env=env, timeout=10, check=False)
    # Only in the wrapper's files: proves the preload is active.
    assert getent("passwd", "wrapped").stdout.startswith("wrapped:x:4242:")
    assert getent("group", "4242").stdout.startswith("wrapgrp:x:4242:wrapped")
    # Not in the files but in /etc/passwd: reached through the module.
    assert getent("passwd", "daemon").stdout.startswith("daemon:")
    assert getent("passwd", "no-such-user-x").returncode == 2


def test_pam_wrapper_runs_our_stack(tmp_path):
    env = wrappers.pam_wrapper_env(tmp_path, {
        "vigil-permit": ["auth required pam_permit.so"],
        "vigil-deny": ["auth required pam_deny.so"],
    })

    def pamtester(service):
        return procs.run(["pamtester", service, "alice", "authenticate"],
                         input="secret\n", env=env, timeout=10, check=False)
    ok = pamtester("vigil-permit")
    assert ok.returncode == 0 and "successfully authenticated" in ok.stdout, ok
    denied = pamtester("vigil-deny")
    assert denied.returncode != 0 and "Authentication failure" in denied.stderr, denied


ASAN_MODULE = r"""
#include <nss.h>
#include <pwd.h>
#include <string.h>
enum nss_status _nss_asantest_getpwnam_r(const char *name, struct passwd *pw,
                                         char *buf, size_t len, int *errnop)
{
    (void)errnop;
    if (strcmp(name, "asanuser") != 0 || len < 16) return NSS_STATUS_NOTFOUND;
    strcpy(buf, "asanuser");
    pw->pw_name = buf; pw->pw_passwd = buf + 8; pw->pw_gecos = buf + 8;
    pw->pw_dir = buf + 8; pw->pw_shell = buf + 8;
    pw->pw_uid = pw->pw_gid = 4243;
    return NSS_STATUS_SUCCESS;
}
"""


def test_wrappers_preload_asan_for_sanitized_module(tmp_path):
    """A sanitized module in an unsanitized getent needs libasan preloaded."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc")
    (tmp_path / "mod.c").write_text(ASAN_MODULE)
    module = tmp_path / "libnss_asantest.so.2"
    build = subprocess.run([gcc, "-shared", "-fPIC", "-fsanitize=address", "-o",
                            module, tmp_path / "mod.c"], capture_output=True,
                           text=True, timeout=60)
    if build.returncode != 0:
        pytest.skip(f"cannot build with -fsanitize=address: {build.stderr}")
    env = wrappers.nss_wrapper_env(tmp_path / "nss", module, "asantest")
    first = env["LD_PRELOAD"].split(":")[0]
    assert "libasan.so" in first
    assert "detect_leaks=0" in env["ASAN_OPTIONS"]
    res = procs.run(["getent", "passwd", "asanuser"], env=env, timeout=10, check=False)
    assert res.returncode == 0 and res.stdout.startswith("asanuser:"), res
    # Control: without the runtime first, ASan refuses to run at all.
    env["LD_PRELOAD"] = wrappers.find_library("libnss_wrapper.so")
    del env["ASAN_OPTIONS"]
    res = procs.run(["getent", "passwd", "asanuser"], env=env, timeout=10, check=False)
    assert res.returncode != 0 and "ASan runtime does not come first" in res.stderr
