"""pam_vigil.so against the fake responder, through libpam (pam_wrapper +
pypamtest or pamtester): every service function, every option, the
conversation, PAM_SILENT, the reply's environment and data, bad peers, and
10,000 load/unload cycles.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import procs, wrappers
from fixtures.fake_responder import PAM_RESULT, FakeServer, tool_env

# Linux-PAM's numbers (security/_pam_types.h).
PAM = {"SUCCESS": 0, "SYSTEM_ERR": 4, "PERM_DENIED": 6, "AUTH_ERR": 7,
       "CRED_INSUFFICIENT": 8, "AUTHINFO_UNAVAIL": 9, "USER_UNKNOWN": 10, "MAXTRIES": 11,
       "NEW_AUTHTOK_REQD": 12, "ACCT_EXPIRED": 13, "SESSION_ERR": 14, "CRED_ERR": 17,
       "AUTHTOK_ERR": 20, "AUTHTOK_RECOVERY_ERR": 21, "IGNORE": 25}
PAM_SILENT = 0x8000
DRIVER = Path(__file__).parent / "fixtures" / "pam_driver.py"

SCRIPT = {
    "pam": {
        "alice": {"password": "secret"},
        "carol": {"password": "pw",
                  "pam_authenticate": {"messages": [["info", "Welcome, Carol"],
                                                    ["error", "Your password expires soon"]],
                                       "env": ["KRB5CCNAME=FILE:/tmp/krb5cc_carol"],
                                       "data": [["vigil_test", "hello data"]]}},
    },
}


@pytest.fixture(scope="module")
def pam_module(builddir):
    path = builddir / ".libs" / "pam_vigil.so"
    assert path.exists(), f"{path}: build it first"
    return path


@pytest.fixture(scope="module")
def probe(builddir):
    return builddir / "tests" / "tools" / ".libs" / "client_pam_probe.so"


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    server = FakeServer(tmp_path_factory.mktemp("fake-pam"), SCRIPT).start()
    yield server
    server.stop()


class Pam:
    """Runs PAM transactions for one test in its own pam_wrapper dir."""

    def __init__(self, tmp_path, module, probe_path, fake):
        self.tmp, self.module, self.probe, self.fake = tmp_path, module, probe_path, fake
        self.n = 0

    def env(self, lines, base=None):
        self.n += 1
        service = f"svc{self.n}"
        lines = [line.replace("VIGIL", str(self.module)).replace("PROBE", str(self.probe))
                 for line in lines]
        env = wrappers.pam_wrapper_env(self.tmp / f"pam{self.n}", {service: lines},
                                       base=base or self.fake.env())
        return service, env

    def run(self, lines, user, ops, passwords=(), base=None):
        service, env = self.env(lines, base)
        spec = {"service": service, "user": user, "passwords": list(passwords),
                "ops": [list(op) + [0] * (3 - len(op)) for op in ops]}
        proc = subprocess.run([sys.executable, str(DRIVER), json.dumps(spec)], env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def last(self):
        return self.fake.stats()["last_pam"]

    def mark(self):
        return self.fake.stats()["pam_count"]

    def since(self, mark):
        """The PAM requests the fake saw after mark()."""
        stats = self.fake.stats()
        new = stats["pam_count"] - mark
        assert new <= len(stats["pam_log"]), "more requests than the fake keeps"
        return stats["pam_log"][len(stats["pam_log"]) - new:] if new else []


@pytest.fixture
def pam(tmp_path, pam_module, probe, fake):
    return Pam(tmp_path, pam_module, probe, fake)


OUR_SOCKET = "private/pam" if os.getuid() == 0 else "pam"


# --- authenticate -------------------------------------------------------------

def test_authenticate_sends_every_item_and_the_prompted_password(pam):
    res = pam.run(["auth required VIGIL"], "alice", [("authenticate", 0)], ["secret"])
    assert res["ok"], res
    last = pam.last()
    assert last["command"] == "pam_authenticate" and last["user"] == "alice"
    assert last["authtok"] == "secret" and last["authtok_type"] == 1
    assert last["service"].startswith("svc") and last["flags"] == 0
    assert last["requesting_pid"] > 1
    assert last["socket"] == OUR_SOCKET     # root uses the private socket


def test_wrong_password_is_auth_err(pam):
    res = pam.run(["auth required VIGIL"], "alice", [("authenticate", PAM["AUTH_ERR"])],
                  ["wrong"])
    assert res["ok"], res


def test_retry_prompts_again_after_a_wrong_password(pam):
    before = pam.mark()
    res = pam.run(["auth required VIGIL retry=2"], "alice", [("authenticate", 0)],
                  ["bad1", "bad2", "secret"])
    assert res["ok"], res
    assert [r["authtok"] for r in pam.since(before)] == ["bad1", "bad2", "secret"]


def test_retry_stops_after_n_more_attempts(pam):
    before = pam.mark()
    res = pam.run(["auth required VIGIL retry=1"], "alice",
                  [("authenticate", PAM["AUTH_ERR"])], ["bad1", "bad2", "secret"])
    assert res["ok"], res
    assert len(pam.since(before)) == 2


def test_use_first_pass_without_a_password_on_the_stack_sends_nothing(pam):
    before = pam.mark()
    res = pam.run(["auth required VIGIL use_first_pass"], "alice",
                  [("authenticate", PAM["AUTH_ERR"])], ["secret"])
    assert res["ok"], res
    assert pam.since(before) == []


def test_forward_pass_puts_the_password_on_the_stack_for_use_first_pass(pam):
    before = pam.mark()
    res = pam.run(["auth required VIGIL forward_pass",
                   "auth required VIGIL use_first_pass",
                   "auth required PROBE authtok"], "alice", [("authenticate", 0)], ["secret"])
    assert res["ok"], res
    assert [r["authtok"] for r in pam.since(before)] == ["secret", "secret"]
    assert "probe authtok=secret" in res["info"]


def test_without_forward_pass_the_password_stays_private(pam):
    res = pam.run(["auth required VIGIL", "auth required PROBE authtok"], "alice",
                  [("authenticate", 0)], ["secret"])
    assert res["ok"] and "probe authtok unset" in res["info"], res


def test_messages_env_and_data_from_the_reply(pam):
    res = pam.run(["auth required VIGIL",
                   "auth required PROBE env=KRB5CCNAME data=vigil_test"], "carol",
                  [("authenticate", 0)], ["pw"])
    assert res["ok"], res
    assert "Welcome, Carol" in res["info"]
    assert res["errors"] == ["Your password expires soon"]
    assert "probe env=KRB5CCNAME=FILE:/tmp/krb5cc_carol" in res["info"]
    assert "probe data=vigil_test=hello data" in res["info"]


def test_pam_silent_shows_no_message(pam):
    res = pam.run(["auth required VIGIL"], "carol", [("authenticate", 0, PAM_SILENT)], ["pw"])
    assert res["ok"] and res["info"] == [] and res["errors"] == [], res
    assert pam.last()["flags"] & 0x1          # VIGIL_PAM_FLAG_SILENT went on the wire


def test_quiet_hides_info_but_not_errors(pam):
    res = pam.run(["auth required VIGIL quiet"], "carol", [("authenticate", 0)], ["pw"])
    assert res["ok"] and res["info"] == [], res
    assert res["errors"] == ["Your password expires soon"]


# --- an expired password: a mark on the handle ------------------------------------

EXPIRED = {"pam": {"erin": {"password": "pw", "pam_authenticate": {"result": "NEW_AUTHTOK_REQD"}},
                   "dan": {"password": "pw", "pam_authenticate": {"result": "NEW_AUTHTOK_REQD"},
                           "pam_acct_mgmt": {"result": "PERM_DENIED", "messages": [["error", "Access denied."]]}}}}
EXPIRED_MESSAGE = "Your password has expired: change it now."
STACK = ["auth required VIGIL", "auth required PROBE data=vigil_password_expired",
         "account required VIGIL", "password required VIGIL"]


@pytest.fixture
def expired_pam(tmp_path, pam_module, probe):
    server = FakeServer(tmp_path / "fake", EXPIRED).start()
    try:
        yield Pam(tmp_path, pam_module, probe, server)
    finally:
        server.stop()


def test_an_expired_password_authenticates_and_acct_mgmt_of_the_same_handle_says_change_it(expired_pam):
    res = expired_pam.run(STACK, "erin", [("authenticate", 0), ("account", PAM["NEW_AUTHTOK_REQD"])], ["pw"])
    assert res["ok"], res
    # The mark is on the handle, with the user's name.
    assert "probe data=vigil_password_expired=erin" in res["info"], res
    assert res["errors"] == [EXPIRED_MESSAGE], res


def test_a_handle_that_never_authenticated_has_no_mark(expired_pam):
    """The responder said NEW_AUTHTOK_REQD to another handle's authenticate:
    an acct_mgmt alone (an SSH key login, cron) is not told to change."""
    assert expired_pam.run(STACK, "erin", [("authenticate", 0)], ["pw"])["ok"]
    res = expired_pam.run(STACK, "erin", [("account", 0)])
    assert res["ok"] and res["errors"] == [], res
    assert expired_pam.last()["command"] == "pam_acct_mgmt"


def test_access_refused_wins_over_the_mark(expired_pam):
    res = expired_pam.run(STACK, "dan", [("authenticate", 0), ("account", PAM["PERM_DENIED"])], ["pw"])
    assert res["ok"] and res["errors"] == ["Access denied."], res


def test_a_password_change_in_the_handle_clears_the_mark(expired_pam):
    res = expired_pam.run(STACK, "erin", [("authenticate", 0), ("account", PAM["NEW_AUTHTOK_REQD"]),
                                          ("chauthtok", 0), ("account", 0)], ["pw", "pw", "n3w", "n3w"])
    assert res["ok"], res
    assert res["errors"] == [EXPIRED_MESSAGE], res


def test_the_mark_is_silent_with_pam_silent(expired_pam):
    res = expired_pam.run(STACK, "erin", [("authenticate", 0), ("account", PAM["NEW_AUTHTOK_REQD"], PAM_SILENT)],
                          ["pw"])
    assert res["ok"] and res["errors"] == [], res


# --- the other service functions --------------------------------------------------

@pytest.mark.parametrize("op,command,flags,wire", [
    ("account", "pam_acct_mgmt", 0, 0),
    ("open_session", "pam_open_session", 0, 0),
    ("close_session", "pam_close_session", 0, 0),
    ("setcred", "pam_setcred", 0x2, 0x4),          # PAM_ESTABLISH_CRED
    ("setcred", "pam_setcred", 0x4, 0x8),          # PAM_DELETE_CRED
])
def test_each_service_function_sends_its_command(pam, op, command, flags, wire):
    kind = {"account": "account", "setcred": "auth"}.get(op, "session")
    res = pam.run([f"{kind} required VIGIL"], "alice", [(op, 0, flags)])
    assert res["ok"], res
    assert pam.last()["command"] == command and pam.last()["flags"] == wire


@pytest.mark.parametrize("result", sorted(PAM_RESULT, key=PAM_RESULT.get))
def test_every_result_maps_to_its_pam_code(tmp_path, pam_module, probe, result):
    server = FakeServer(tmp_path / "fake",
                        {"pam": {"alice": {"pam_acct_mgmt": {"result": result}}}}).start()
    try:
        pam = Pam(tmp_path, pam_module, probe, server)
        # pam_permit after us: a PAM_IGNORE then leaves the stack's verdict to it.
        res = pam.run(["account required VIGIL", "account required pam_permit.so"], "alice",
                      [("account", 0 if result in ("SUCCESS", "IGNORE") else PAM[result])])
        assert res["ok"], res
    finally:
        server.stop()


def test_chauthtok_checks_the_old_password_then_sets_the_new(pam):
    before = pam.mark()
    res = pam.run(["password required VIGIL"], "alice", [("chauthtok", 0)],
                  ["secret", "n3w", "n3w"])
    assert res["ok"], res
    log = pam.since(before)
    assert [r["command"] for r in log] == ["pam_chauthtok_prelim", "pam_chauthtok"]
    assert log[0]["authtok"] == "secret" and "newauthtok" not in log[0]
    assert log[1]["authtok"] == "secret" and log[1]["newauthtok"] == "n3w"


def test_chauthtok_with_mismatched_new_passwords_sends_no_change(pam):
    before = pam.mark()
    res = pam.run(["password required VIGIL"], "alice",
                  [("chauthtok", PAM["AUTHTOK_ERR"])], ["secret", "one", "two"])
    assert res["ok"], res
    assert [r["command"] for r in pam.since(before)] == ["pam_chauthtok_prelim"]


def test_chauthtok_retry_asks_again_after_a_mismatch(pam):
    before = pam.mark()
    res = pam.run(["password required VIGIL retry=1"], "alice", [("chauthtok", 0)],
                  ["secret", "one", "two", "n3w", "n3w"])
    assert res["ok"], res
    assert res["errors"] == ["Passwords do not match"]
    assert pam.since(before)[-1]["newauthtok"] == "n3w"


def test_debug_and_unknown_options_change_nothing(pam):
    res = pam.run(["auth required VIGIL debug no_such_option"], "alice",
                  [("authenticate", 0)], ["secret"])
    assert res["ok"], res


def test_retry_beyond_ten_is_refused(pam):
    """retry=99 is out of range and ignored (logged): no second prompt."""
    res = pam.run(["auth required VIGIL retry=99"], "alice",
                  [("authenticate", PAM["AUTH_ERR"])], ["wrong", "secret"])
    assert res["ok"], res


def test_chauthtok_with_wrong_old_password(pam):
    res = pam.run(["password required VIGIL"], "alice",
                  [("chauthtok", PAM["AUTHTOK_RECOVERY_ERR"])], ["wrong", "n", "n"])
    assert res["ok"], res


def test_chauthtok_use_authtok_takes_the_new_password_from_the_stack(pam):
    before = pam.mark()
    # The first pam_vigil (forward_pass) prompts and puts the new password on
    # the stack; the second must take it from there instead of asking.
    res = pam.run(["password required VIGIL forward_pass",
                   "password required VIGIL use_first_pass use_authtok"], "alice",
                  [("chauthtok", 0)], ["secret", "n3w", "n3w"])
    assert res["ok"], res
    last = pam.last()
    assert last["command"] == "pam_chauthtok" and last["newauthtok"] == "n3w"
    assert len(pam.since(before)) == 4


# --- users that are never served, and unavailability --------------------------------

def test_unknown_user_and_ignore_unknown_user(pam):
    res = pam.run(["account required VIGIL"], "nosuch", [("account", PAM["USER_UNKNOWN"])])
    assert res["ok"], res
    res = pam.run(["account required VIGIL ignore_unknown_user",
                   "account required pam_permit.so"], "nosuch", [("account", 0)])
    assert res["ok"], res


def test_root_and_vigil_loops_are_user_unknown_without_io(pam):
    before = pam.fake.stats()
    res = pam.run(["auth required VIGIL"], "root", [("authenticate", PAM["USER_UNKNOWN"])],
                  ["x"])
    assert res["ok"], res
    env = dict(pam.fake.env(), _VIGIL_LOOPS="NO")
    res = pam.run(["account required VIGIL"], "alice", [("account", PAM["USER_UNKNOWN"])],
                  base=env)
    assert res["ok"], res
    assert pam.fake.stats() == before


def test_no_daemon_is_authinfo_unavail_and_can_be_ignored(pam, tmp_path):
    env = dict(pam.fake.env(), VIGIL_PIPES_DIR=str(tmp_path))     # nobody listens
    res = pam.run(["auth required VIGIL"], "alice",
                  [("authenticate", PAM["AUTHINFO_UNAVAIL"])], ["secret"], base=env)
    assert res["ok"], res
    res = pam.run(["auth required VIGIL ignore_authinfo_unavail", "auth required pam_permit.so"],
                  "alice", [("authenticate", 0)], ["secret"], base=env)
    assert res["ok"], res


@pytest.mark.parametrize("mode", ["truncated", "malformed", "oversized", "bad_version",
                                  "wrong_version", "close", "pam_bad_result", "pam_bad_env",
                                  "pam_many_messages", "pam_bad_item"])
def test_bad_peer_is_authinfo_unavail(tmp_path, pam_module, probe, mode):
    server = FakeServer(tmp_path / "fake", SCRIPT).start(mode=mode)
    try:
        pam = Pam(tmp_path, pam_module, probe, server)
        res = pam.run(["auth required VIGIL"], "carol",
                      [("authenticate", PAM["AUTHINFO_UNAVAIL"])], ["pw"])
        assert res["ok"] and res["info"] == [] and res["errors"] == [], res
    finally:
        server.stop()


def test_silent_responder_costs_at_most_the_bound(tmp_path, pam_module, probe):
    server = FakeServer(tmp_path / "fake", SCRIPT).start(mode="hang")
    try:
        pam = Pam(tmp_path, pam_module, probe, server)
        start = time.monotonic()
        res = pam.run(["auth required VIGIL"], "alice",
                      [("authenticate", PAM["AUTHINFO_UNAVAIL"])], ["secret"],
                      base=server.env(timeout_ms=300))
        assert res["ok"], res
        assert time.monotonic() - start < 8
    finally:
        server.stop()


# --- pamtester, and many load/unload cycles ---------------------------------------------

def test_pamtester_runs_a_whole_login(pam):
    service, env = pam.env(["auth required VIGIL", "account required VIGIL",
                            "session required VIGIL"])
    before = pam.mark()
    res = procs.run(["pamtester", service, "alice", "authenticate", "acct_mgmt",
                     "open_session", "close_session"], env=env, input="secret\n")
    assert "successfully" in res.stderr + res.stdout
    assert [r["command"] for r in pam.since(before)] == [
        "pam_authenticate", "pam_acct_mgmt", "pam_open_session", "pam_close_session"]


@pytest.mark.heavy
def test_ten_thousand_load_unload_cycles(tmp_path, builddir, pam_module, fake):
    """pam_start_confdir/pam_end: libpam dlopens and dlcloses pam_vigil.so
    every cycle, and every 5th cycle authenticates through the fake (all
    10,000 would take the Python fake ~13 s).  No fd may leak (the tool
    counts them); in the sanitizer build ASan's leak check runs at exit."""
    tool = builddir / "tests" / "tools" / "client_pam_loop"
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    (confdir / "loop").write_text(f"auth required {pam_module}\n")
    env = tool_env(tool, pam_module, fake.env())
    before = fake.stats()["connections"]
    res = subprocess.run([str(tool), str(confdir), "loop", "alice", "secret", "10000", "5"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.startswith("OK"), (res.stdout, res.stderr)
    assert "success=2000" in res.stdout
    assert fake.stats()["connections"] - before == 2000


@pytest.mark.heavy
def test_load_unload_cycles_under_valgrind(tmp_path, builddir, pam_module, fake):
    """The same loop, 10,000 cycles (every 50th authenticating; about 20 s),
    under valgrind: a definite leak or an
    invalid access in pam_vigil.so (or in what it leaves behind at
    dlclose) fails it.  The sanitizer build runs the ASan loop above
    instead: valgrind cannot run sanitized code."""
    tool = builddir / "tests" / "tools" / "client_pam_loop"
    if wrappers.sanitizer_runtimes(tool):
        pytest.skip("sanitizer build: covered by the ASan loop")
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    (confdir / "loop").write_text(f"auth required {pam_module}\n")
    res = subprocess.run(["valgrind", "--quiet", "--leak-check=full",
                          "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                          "--error-exitcode=99", str(tool), str(confdir), "loop", "alice",
                          "secret", "10000", "50"],
                         env=fake.env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "success=200" in res.stdout, (res.stdout, res.stderr)
