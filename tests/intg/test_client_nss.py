"""libnss_vigil.so.2 against the fake responder: every entry point, the
glibc contracts (ERANGE, cursors, initgroups), and what it does to a
process that loads it (no I/O for root or inside vigil, errno, no stray
pointers).  Bad peers and process hygiene are in test_client_nss_peers.py.
"""

import errno as errnos
import os

import pytest

from fixtures import wrappers
from fixtures.fake_responder import FakeServer, tool_env

USERS = [
    {"name": "alice", "uid": 10001, "gid": 10001, "gecos": "Alice Liddell",
     "dir": "/home/alice", "shell": "/bin/bash"},
    {"name": "bob", "uid": 10002, "gid": 10002, "gecos": "B" * 3000,
     "dir": "/home/bob", "shell": "/bin/zsh"},
    {"name": "carol", "uid": 10003, "gid": 10003},
    {"name": "dave", "uid": 10004, "gid": 10004},
]
BIG_MEMBERS = [f"user{i:04d}" for i in range(500)]
GROUPS = [
    {"name": "devs", "gid": 20001, "members": ["alice", "bob"]},
    {"name": "big", "gid": 20002, "members": BIG_MEMBERS},
    {"name": "empty", "gid": 20003, "members": []},
]
INITGROUPS = {
    # Duplicates, the primary group, gid 0 and unsorted order on purpose.
    "alice": [20002, 20001, 10001, 20001, 0, 20003, 20009, 20002],
    "many": list(range(30000, 30500)),
    "nogroups": [],
}
EBADMSG = f"E{errnos.EBADMSG}"      # nss_call prints names it knows, else E<n>
SCRIPT = {"users": USERS, "groups": GROUPS, "initgroups": INITGROUPS}


@pytest.fixture(scope="module")
def module_path(builddir):
    path = builddir / ".libs" / "libnss_vigil.so.2"
    assert path.exists(), f"{path}: build it first"
    return path


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    server = FakeServer(tmp_path_factory.mktemp("fake-nss"), SCRIPT).start()
    yield server
    server.stop()


@pytest.fixture
def call(fake, nss_call, module_path):
    """call(op, *args, env=None, **nss_call options) -> NssCallResult, and
    checks what must hold for every call: no stray pointer, no overrun,
    errno untouched."""

    def run(op, *args, env=None, **kw):
        env = tool_env(nss_call, module_path, env or fake.env())
        res = wrappers.nss_call(nss_call, module_path, "vigil", op, *args, env=env, **kw)
        assert "strays" not in res.extras, res
        assert "overrun" not in res.extras, res
        assert "errno_after" not in res.extras, res
        return res

    return run


def pw_line(u):
    return (f"{u['name']}:x:{u['uid']}:{u['gid']}:{u.get('gecos', '')}:"
            f"{u.get('dir', '/home/' + u['name'])}:{u.get('shell', '/bin/sh')}")


def gr_line(g):
    return f"{g['name']}:x:{g['gid']}:{','.join(g['members'])}"


# --- every entry point answers from the script ---------------------------------

@pytest.mark.parametrize("user", USERS, ids=lambda u: u["name"])
def test_getpwnam_and_getpwuid_return_the_scripted_entry(call, user):
    by_name = call("getpwnam", user["name"])
    assert (by_name.status, by_name.lines) == ("SUCCESS", [pw_line(user)]), by_name
    by_uid = call("getpwuid", user["uid"])
    assert (by_uid.status, by_uid.lines) == ("SUCCESS", [pw_line(user)]), by_uid


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g["name"])
def test_getgrnam_and_getgrgid_return_the_scripted_entry(call, group):
    by_name = call("getgrnam", group["name"])
    assert (by_name.status, by_name.lines) == ("SUCCESS", [gr_line(group)]), by_name
    by_gid = call("getgrgid", group["gid"])
    assert (by_gid.status, by_gid.lines) == ("SUCCESS", [gr_line(group)]), by_gid


def test_getpwent_enumerates_every_user_in_order(call):
    res = call("getpwent")
    assert res.status == "NOTFOUND" and res.extras["count"] == str(len(USERS)), res
    assert res.lines == [pw_line(u) for u in USERS]


def test_getgrent_enumerates_every_group_in_order(call):
    res = call("getgrent")
    assert res.extras["count"] == str(len(GROUPS)), res
    assert res.lines == [gr_line(g) for g in GROUPS]


@pytest.mark.parametrize("op,key", [("getpwnam", "nosuch"), ("getpwuid", 4242),
                                    ("getgrnam", "nosuch"), ("getgrgid", 4242),
                                    ("initgroups", "nosuch")])
def test_unknown_key_is_notfound_enoent(call, op, key):
    args = (key, 100) if op == "initgroups" else (key,)
    res = call(op, *args)
    assert (res.status, res.errno) == ("NOTFOUND", "ENOENT"), res


@pytest.mark.parametrize("status,nss,errno", [("TRYAGAIN", "TRYAGAIN", "EAGAIN"),
                                              ("UNAVAIL", "UNAVAIL", "ENOENT"),
                                              ("DENIED", "UNAVAIL", "EACCES"),
                                              ("BAD_REQUEST", "UNAVAIL", EBADMSG)])
def test_server_status_maps_to_nss_status(tmp_path, nss_call, module_path, status, nss, errno):
    server = FakeServer(tmp_path, dict(SCRIPT, status={"getpwnam": status})).start()
    try:
        env = tool_env(nss_call, module_path, server.env())
        res = wrappers.nss_call(nss_call, module_path, "vigil", "getpwnam", "alice", env=env)
        assert (res.status, res.errno) == (nss, errno), res
    finally:
        server.stop()


# --- glibc buffer contracts ------------------------------------------------------

@pytest.mark.parametrize("op,key", [("getpwnam", "bob"), ("getpwuid", 10002),
                                    ("getgrnam", "big"), ("getgrgid", 20001)])
def test_small_buffer_is_tryagain_erange(call, op, key):
    res = call(op, key, bufsize=16)
    assert (res.status, res.errno) == ("TRYAGAIN", "ERANGE"), res


@pytest.mark.parametrize("op,key,entry", [
    ("getpwnam", "bob", pw_line(USERS[1])),
    ("getgrnam", "big", gr_line(GROUPS[1])),
    ("getgrgid", 20003, gr_line(GROUPS[2])),
])
def test_growing_from_one_byte_ends_with_the_whole_entry(call, op, key, entry):
    res = call(op, key, grow=True)
    assert (res.status, res.lines) == ("SUCCESS", [entry]), res
    assert int(res.extras["retries"]) > 0


@pytest.mark.parametrize("op,lines", [("getpwent", [pw_line(u) for u in USERS]),
                                      ("getgrent", [gr_line(g) for g in GROUPS])])
def test_erange_does_not_advance_the_enumeration(call, op, lines):
    """Growing from 1 byte: every entry hits ERANGE at least once, and each
    must come back whole and in order, none skipped."""
    res = call(op, grow=True)
    assert res.lines == lines, res
    assert int(res.extras["retries"]) >= 1


# --- initgroups_dyn -----------------------------------------------------------------

def test_initgroups_dedupes_and_skips_primary_and_gid_zero(call):
    res = call("initgroups", "alice", 10001)
    assert res.status == "SUCCESS", res
    gids = [int(g) for g in res.lines[0].split()]
    assert gids[0] == 10001
    assert sorted(gids[1:]) == [20001, 20002, 20003, 20009]
    assert res.extras["start"] == "5"


def test_initgroups_grows_an_array_of_one(call):
    res = call("initgroups", "many", 100, bufsize=1)
    assert res.status == "SUCCESS", res
    gids = [int(g) for g in res.lines[0].split()]
    assert gids == [100] + list(range(30000, 30500))
    assert int(res.extras["size"]) >= 501


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_initgroups_stops_at_limit(call, limit):
    res = call("initgroups", "many", 100, limit, bufsize=1)
    assert res.status == "SUCCESS", res
    assert res.extras["start"] == str(limit)
    assert int(res.extras["size"]) <= limit
    assert res.lines[0].split() == ["100"] + [str(g) for g in range(30000, 30000 + limit - 1)]


def test_initgroups_limit_zero_or_negative_means_no_limit(call):
    for limit in (0, -1):
        res = call("initgroups", "many", 100, limit)
        assert res.extras["start"] == "501", res


def test_initgroups_of_user_without_groups_adds_nothing(call):
    res = call("initgroups", "nogroups", 100)
    assert (res.status, res.lines, res.extras["start"]) == ("SUCCESS", ["100"], "1"), res


# --- no I/O where none is allowed ----------------------------------------------------

ROOT_CALLS = [("getpwnam", "root"), ("getpwuid", 0), ("getgrnam", "root"),
              ("getgrgid", 0), ("initgroups", "root", 0)]


@pytest.mark.parametrize("args", ROOT_CALLS, ids=lambda a: a[0])
def test_root_is_notfound_without_touching_the_socket(call, fake, args):
    before = fake.stats()
    res = call(*args)
    assert (res.status, res.errno) == ("NOTFOUND", "ENOENT"), res
    assert fake.stats() == before


@pytest.mark.parametrize("args", [("getpwnam", "alice"), ("getpwuid", 10001),
                                  ("getgrnam", "devs"), ("getgrgid", 20001),
                                  ("initgroups", "alice", 10001), ("getpwent",),
                                  ("getgrent",)], ids=lambda a: a[0])
def test_vigil_loops_no_is_notfound_without_touching_the_socket(call, fake, args):
    before = fake.stats()
    env = fake.env()
    env["_VIGIL_LOOPS"] = "NO"
    res = call(*args, env=env)
    assert res.status == "NOTFOUND", res
    assert fake.stats() == before
    # Control: the same call without the variable does reach the fake.
    call(*args)
    assert fake.stats() != before


def test_one_connection_serves_many_calls(call, fake):
    before = fake.stats()["connections"]
    res = call("getpwnam", "alice", repeat=50)
    assert res.status == "SUCCESS", res
    assert fake.stats()["connections"] == before + 1


def test_no_daemon_is_unavail_at_once(nss_call, module_path, tmp_path):
    env = tool_env(nss_call, module_path, os.environ)
    env["VIGIL_PIPES_DIR"] = str(tmp_path)         # nothing listens there
    env["VIGIL_PEER_UID"] = str(os.getuid())
    for op, key in (("getpwnam", "alice"), ("getgrgid", 20001), ("getpwent", None)):
        res = wrappers.nss_call(nss_call, module_path, "vigil", op,
                                *([key] if key else []), env=env, timeout=5)
        assert res.status == "UNAVAIL", res


# --- through glibc: nss_wrapper and getent -------------------------------------------

def test_getent_through_nss_wrapper(module_path, tmp_path):
    """glibc's own path (getent -> nss_wrapper -> the module).  nss_wrapper
    gives passwd lookups a fixed ~1000-byte buffer and does not retry on
    ERANGE, so this script keeps passwd entries short; the ERANGE retry
    loop is tested through nss_call above."""
    from fixtures import procs
    users = [u for u in USERS if len(pw_line(u)) < 200]
    server = FakeServer(tmp_path / "fake", dict(SCRIPT, users=users)).start()
    try:
        env = wrappers.nss_wrapper_env(tmp_path / "nss", module_path, base=server.env())
        res = procs.run(["getent", "passwd", "alice"], env=env)
        assert res.stdout == pw_line(USERS[0]) + "\n"
        res = procs.run(["getent", "passwd", "10003"], env=env)
        assert res.stdout == pw_line(USERS[2]) + "\n"
        res = procs.run(["getent", "group", "devs"], env=env)
        assert res.stdout == gr_line(GROUPS[0]) + "\n"
        res = procs.run(["getent", "group", "20002"], env=env)
        assert res.stdout == gr_line(GROUPS[1]) + "\n"
        res = procs.run(["getent", "passwd"], env=env)
        assert res.stdout.splitlines() == ["root:x:0:0:root:/root:/bin/bash"] + [
            pw_line(u) for u in users]
        res = procs.run(["getent", "group"], env=env)
        assert res.stdout.splitlines() == ["root:x:0:"] + [gr_line(g) for g in GROUPS]
        res = procs.run(["getent", "passwd", "nosuch"], env=env, check=False)
        assert res.returncode == 2 and res.stdout == ""
        # root comes from nss_wrapper's file: the fake sees nothing.
        before = server.stats()
        res = procs.run(["getent", "passwd", "root"], env=env)
        assert res.stdout.startswith("root:x:0:0:")
        assert server.stats() == before
    finally:
        server.stop()


def test_real_glibc_path_in_a_private_mount_namespace(module_path, tmp_path):
    """glibc itself loading libnss_vigil.so.2 by name (LD_LIBRARY_PATH) with
    `passwd: files vigil` bind-mounted over /etc/nsswitch.conf in a private
    mount namespace: getent, and id, whose group list comes through
    _nss_vigil_initgroups_dyn (nss_wrapper cannot reach it).  Root only."""
    from fixtures import procs
    if os.getuid() != 0:
        pytest.skip("a private mount namespace needs root")
    users = [{"name": "vigilns", "uid": 41001, "gid": 41001, "gecos": "NS",
              "dir": "/home/vigilns", "shell": "/bin/sh"}]
    groups = [{"name": "vigilns", "gid": 41001, "members": []},
              {"name": "vigilns-a", "gid": 41002, "members": ["vigilns"]},
              {"name": "vigilns-b", "gid": 41003, "members": ["vigilns"]}]
    script = {"users": users, "groups": groups, "initgroups": {"vigilns": [41003, 41002, 41003]}}
    server = FakeServer(tmp_path / "fake", script).start()
    try:
        conf = tmp_path / "nsswitch.conf"
        conf.write_text("passwd: files vigil\ngroup: files vigil\n")
        env = wrappers.sanitizer_env(module_path, base=server.env())
        env["LD_LIBRARY_PATH"] = str(module_path.parent)
        script_sh = (f"mount --bind {conf} /etc/nsswitch.conf && "
                     "getent passwd vigilns && getent group 41002 && id vigilns")
        res = procs.run(["unshare", "-m", "sh", "-c", script_sh], env=env, check=False)
        if res.returncode != 0 and "unshare" in res.stderr and "ermission" in res.stderr:
            pytest.skip(f"no mount namespaces here: {res.stderr.strip()}")
        assert res.returncode == 0, (res.stdout, res.stderr)
        lines = res.stdout.splitlines()
        assert lines[0] == "vigilns:x:41001:41001:NS:/home/vigilns:/bin/sh"
        assert lines[1] == "vigilns-a:x:41002:vigilns"
        assert lines[2] == ("uid=41001(vigilns) gid=41001(vigilns) "
                            "groups=41001(vigilns),41002(vigilns-a),41003(vigilns-b)")
        assert server.requests("initgroups") >= 1
    finally:
        server.stop()
