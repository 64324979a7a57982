"""libnss_vigil.so.2 against bad peers, and the hygiene of a module that
lives inside other processes: fork in a threaded caller, an fd number
reused by the application, a responder restarted between calls (no
SIGPIPE), a listener that accepts and never answers, an untrusted uid.
"""

import errno as errnos
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from fixtures import procs, wrappers
from fixtures.fake_responder import FakeServer, tool_env
from test_client_nss import SCRIPT

NOBODY = (65534, 65534)


@pytest.fixture(scope="module")
def module_path(builddir):
    return builddir / ".libs" / "libnss_vigil.so.2"


@pytest.fixture(scope="module")
def hygiene(builddir):
    path = builddir / "tests" / "tools" / "client_hygiene"
    assert os.access(path, os.X_OK), f"{path}: build it (make check)"
    return path


def lookup(nss_call, module_path, env, op="getpwnam", *args, timeout=30, repeat=None):
    if op == "getpwnam" and not args:
        args = ("alice",)
    env = tool_env(nss_call, module_path, env)
    return wrappers.nss_call(nss_call, module_path, "vigil", op, *args,
                             env=env, timeout=timeout, repeat=repeat)


BAD_MODES = ["truncated", "malformed", "overlong_field", "oversized", "trailing", "bad_version",
             "hello_future", "wrong_version", "wrong_command", "close",
             "status_with_body", "huge_count"]


OPS = [("getpwnam", "alice"), ("getgrnam", "devs"), ("initgroups", "alice"),
       ("getgrent", None)]


@pytest.mark.parametrize("mode", BAD_MODES)
def test_bad_peer_is_unavail_with_no_crash(tmp_path, nss_call, module_path, mode):
    """Every op against one bad peer: UNAVAIL, nothing on stderr (no crash,
    no sanitizer report), and the fake did get the request (so the module
    judged the reply, not the connection).  Counts exist in group and
    initgroups replies only; an enumeration's end has no name to miss."""
    server = FakeServer(tmp_path, SCRIPT).start(mode=mode)
    try:
        for op, key in OPS:
            if (mode == "huge_count" and op == "getpwnam") or \
                    (mode == "status_with_body" and op == "getgrent"):
                continue
            if mode == "status_with_body":
                key = "nosuch"          # a NOTFOUND reply, which then carries a body
            args = {"getgrent": (), "initgroups": (key, 100)}.get(op, (key,))
            before = server.requests(op)
            res = lookup(nss_call, module_path, server.env(), op, *args)
            assert res.status == "UNAVAIL", (op, res)
            assert res.returncode == 1 and res.stderr == "", (op, res)
            if mode in ("bad_version", "hello_future"):
                assert res.errno == f"E{errnos.EPROTONOSUPPORT}", (op, res)
            else:
                assert server.requests(op) == before + 1, op
    finally:
        server.stop()


@pytest.mark.parametrize("mode,expect", [("zero_id", "NOTFOUND"), ("other_id", "UNAVAIL")])
def test_entries_with_id_zero_or_another_id_are_refused(tmp_path, nss_call, module_path,
                                                        mode, expect):
    server = FakeServer(tmp_path, SCRIPT).start(mode=mode)
    try:
        for op, key in (("getpwuid", 10001), ("getgrgid", 20001)):
            res = lookup(nss_call, module_path, server.env(), op, key)
            assert res.status == expect, res
        if mode == "zero_id":
            for op in ("getpwent", "getgrent"):
                res = lookup(nss_call, module_path, server.env(), op)
                assert res.extras["count"] == "0", res
    finally:
        server.stop()


def test_send_to_a_peer_that_stopped_reading_raises_no_sigpipe(tmp_path, nss_call,
                                                              module_path):
    """The second lookup's send fails with EPIPE (the fake shut its read side
    after the first reply): the module must not die of SIGPIPE, and, NSS
    requests being idempotent, resends once on a fresh connection."""
    server = FakeServer(tmp_path, SCRIPT).start(mode="shut_rd")
    try:
        env = tool_env(nss_call, module_path, server.env())
        res = wrappers.nss_call(nss_call, module_path, "vigil", "getpwnam", "alice",
                                repeat=3, env=env)
        assert res.returncode == 0 and res.status == "SUCCESS", res
        assert server.stats()["connections"] == 3
    finally:
        server.stop()


def test_silent_responder_costs_at_most_the_bound(tmp_path, nss_call, module_path):
    server = FakeServer(tmp_path, SCRIPT).start(mode="hang")
    try:
        start = time.monotonic()
        res = lookup(nss_call, module_path, server.env(timeout_ms=400), timeout=10)
        elapsed = time.monotonic() - start
        assert (res.status, res.errno) == ("UNAVAIL", "ETIMEDOUT"), res
        assert elapsed < 5, elapsed        # 0.4 s bound plus process start-up
        assert server.requests("getpwnam") == 1
    finally:
        server.stop()


def test_untrusted_listener_uid_is_refused(nss_call, module_path):
    """A listener that is neither root nor named by VIGIL_PEER_UID (which is
    honoured only for the caller's own uid) gets no request."""
    workdir = Path(tempfile.mkdtemp(prefix="vigil-peer-"))
    try:
        os.chmod(workdir, 0o755)
        if os.getuid() == 0:
            server = FakeServer(workdir, SCRIPT, user=NOBODY)
            server.start()
            # Naming nobody does not help: it is not the caller's uid.
            envs = [server.env(), dict(server.env(), VIGIL_PEER_UID=str(NOBODY[0]))]
        else:
            server = FakeServer(workdir, SCRIPT).start()
            env = server.env()
            env.pop("VIGIL_PEER_UID")
            envs = [env, dict(env, VIGIL_PEER_UID="0"), dict(env, VIGIL_PEER_UID="12345")]
        try:
            for env in envs:
                res = lookup(nss_call, module_path, env)
                assert (res.status, res.errno) == ("UNAVAIL", "EACCES"), res
            assert server.requests() == 0
            if os.getuid() != 0:
                # Control: with the caller's own uid named, it is trusted.
                assert lookup(nss_call, module_path, server.env()).status == "SUCCESS"
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- process hygiene ------------------------------------------------------------------

@pytest.fixture
def fake(tmp_path):
    server = FakeServer(tmp_path, SCRIPT).start()
    yield server
    server.stop()


def run_hygiene(hygiene, module_path, env, mode, **kw):
    env = tool_env(hygiene, module_path, env)
    return subprocess.run([str(hygiene), str(module_path), mode, "alice"], env=env,
                          capture_output=True, text=True, timeout=60, **kw)


def test_fork_in_threaded_caller_then_lookup_in_child(fake, hygiene, module_path):
    res = run_hygiene(hygiene, module_path, fake.env(), "fork")
    assert res.returncode == 0 and res.stdout.startswith("OK"), (res.stdout, res.stderr)
    # Each child must have opened its own connection, not used the parent's.
    assert fake.stats()["connections"] >= 1 + 20


@pytest.mark.parametrize("mode", ["fdreuse", "fdreuse-socket"])
def test_fd_number_reused_by_the_application(fake, hygiene, module_path, mode):
    res = run_hygiene(hygiene, module_path, fake.env(), mode)
    assert res.returncode == 0 and res.stdout.startswith("OK"), (res.stdout, res.stderr)
    assert "reused=1" in res.stdout      # the test really put a file on the old number
    assert fake.stats()["connections"] == 2


def test_responder_restarted_between_calls_no_sigpipe(fake, hygiene, module_path):
    env = tool_env(hygiene, module_path, fake.env())
    proc = subprocess.Popen([str(hygiene), str(module_path), "restart", "alice"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "first SUCCESS\n"
        fake.restart()
        out, err = proc.communicate("go\n", timeout=30)
    finally:
        if proc.poll() is None:
            procs.stop(proc)
    assert proc.returncode == 0, (out, err)        # -SIGPIPE would be -13
    assert out.splitlines()[-2:] == ["second SUCCESS", "OK"]
    assert fake.stats()["connections"] == 1        # the new fake saw the reconnect


@pytest.mark.parametrize("mode", ["oversized", "malformed", "trailing", "overlong_field",
                                  "wrong_version", "wrong_command", "status_with_body",
                                  "truncated", "other_id"])
def test_connection_is_dropped_after_a_bad_reply(tmp_path, nss_call, module_path, mode):
    """The fake sends one bad reply and keeps the connection open (except
    truncated, which closes it), then answers well.  The same process looks
    up three times: the module must drop the connection after the bad
    reply (a broken framing leaves the stream position unknown, and a
    well-framed but malformed body means a broken peer: doc/protocol.md)
    and the next calls succeed on a new one."""
    server = FakeServer(tmp_path, SCRIPT).start(mode="once_" + mode)
    try:
        key = "nosuch" if mode == "status_with_body" else "alice"
        op, key = ("getpwuid", 10001) if mode == "other_id" else ("getpwnam", key)
        res = lookup(nss_call, module_path, server.env(), op, key, repeat=3)
        # --repeat prints the last call's answer.
        assert res.status == ("NOTFOUND" if mode == "status_with_body" else "SUCCESS"), res
        assert server.stats()["connections"] == 2
        assert server.requests(op) == 3
    finally:
        server.stop()


def test_socket_fd_is_cloexec_and_above_stdio(fake, hygiene, module_path):
    res = run_hygiene(hygiene, module_path, fake.env(), "fdflags")
    assert res.returncode == 0 and res.stdout.startswith("OK"), (res.stdout, res.stderr)


def test_lookup_with_stdio_closed_does_not_use_fds_0_to_2(fake, hygiene, module_path):
    res = run_hygiene(hygiene, module_path, fake.env(), "nostdio")
    assert res.returncode == 0 and res.stdout.startswith("OK"), (res.stdout, res.stderr)
    assert fake.requests("getpwnam") == 1


@pytest.mark.parametrize("mode", ["normal", "overlong_field"])
def test_entry_points_are_clean_under_valgrind(tmp_path, nss_call, module_path, mode):
    """The passwd, group, initgroups and enumeration paths under valgrind,
    with a good and with a bad peer: no invalid access, no use of
    uninitialised bytes, no definite leak.  (The sanitizer build checks
    every test under ASan instead: it cannot run valgrind.)"""
    if wrappers.sanitizer_runtimes(nss_call):
        pytest.skip("sanitizer build: ASan covers this")
    server = FakeServer(tmp_path, SCRIPT).start(mode=mode)
    try:
        for op, args in (("getpwnam", ["bob"]), ("getgrnam", ["big"]),
                         ("initgroups", ["alice", "10001", "3"]), ("getgrent", [])):
            res = subprocess.run(["valgrind", "--quiet", "--leak-check=full",
                                  "--errors-for-leak-kinds=definite", "--error-exitcode=99",
                                  str(nss_call), "--grow", str(module_path), "vigil", op, *args],
                                 env=server.env(), capture_output=True, text=True, timeout=120)
            assert res.returncode in (0, 1), (op, res.stdout, res.stderr)
            first = res.stdout.split()
            if mode == "normal":
                assert first[0] == ("NOTFOUND" if op == "getgrent" else "SUCCESS"), res.stdout
            else:
                assert first[0] == "UNAVAIL", res.stdout
    finally:
        server.stop()
