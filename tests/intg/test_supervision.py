"""vigild supervising the services: up, restarted, hung, given up, reloaded,
stopped, as an admin sees it through `vigilctl status` and the logs."""

import os
import signal
import socket
import time

import pytest

from fixtures import procs, wrappers
from fixtures.vigil import Vigil

ALL = ("nss", "pam", "policy", "ifp")
# Pings every second, but a service must miss ten in a row to count as hung:
# a loaded CI machine (or ASan) does not make a healthy service look dead.
CALM = ["heartbeat = 1", "heartbeat_misses = 10"]
# For the tests that hang a service on purpose: found within seconds.
FAST = ["heartbeat = 1", "heartbeat_misses = 3"]


@pytest.fixture
def vigil(tmp_path, builddir):
    v = Vigil(tmp_path, builddir, extra={"vigil": ["services = " + ", ".join(ALL), *CALM]})
    yield v
    v.stop_all()


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def running(rows, name, **expect):
    r = rows.get(name)
    return r is not None and r["state"] == "running" and all(r[k] == v for k, v in expect.items())


def test_every_service_is_up_in_status_as_a_child_of_vigild(vigil):
    proc = vigil.start_supervised(ALL)
    rows, code = vigil.status()
    assert code == 0
    assert list(rows) == ["vigil", "domain/LDAP", *ALL]  # providers first
    assert rows["vigil"]["pid"] == proc.pid
    for name in ("domain/LDAP", *ALL):
        assert ppid(rows[name]["pid"]) == proc.pid
        assert rows[name]["restarts"] == 0
    # Each service logs to its own file and registered under its name.
    assert "registered with vigild" in vigil.log("vigil_be_LDAP")
    assert "registered with vigild" in vigil.log("vigil_policy")


def test_vigild_is_ready_only_once_the_services_are(vigil):
    # Daemonized: the parent returns once every service has registered.
    started = procs.run([vigil.binary("vigild"), "-c", vigil.conf], env=vigil.env())
    assert started.returncode == 0
    try:
        rows, code = vigil.status()
        assert code == 0 and all(r["state"] == "running" for r in rows.values())
    finally:
        pid = int(vigil.pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        procs.wait_until(lambda: not procs.pid_alive(pid), 15, "vigild to exit")


def test_service_killed_with_sigkill_comes_back_with_a_new_pid(vigil):
    vigil.start_supervised(ALL)
    rows, _ = vigil.status()
    old = rows["nss"]["pid"]
    os.kill(old, signal.SIGKILL)
    rows = vigil.wait_status(lambda r: running(r, "nss", restarts=1), "nss restarted")
    assert rows["nss"]["pid"] != old and procs.pid_alive(rows["nss"]["pid"])
    assert rows["nss"]["event"] == "was killed by SIGKILL"
    # The others were left alone.
    assert all(rows[n]["restarts"] == 0 for n in ("domain/LDAP", "pam", "policy", "ifp"))
    assert f"nss (pid {old}) was killed by SIGKILL" in vigil.log()


def test_provider_is_restarted_too(vigil):
    vigil.start_supervised(ALL)
    rows, _ = vigil.status()
    old = rows["domain/LDAP"]["pid"]
    os.kill(old, signal.SIGKILL)
    rows = vigil.wait_status(lambda r: running(r, "domain/LDAP", restarts=1), "the provider restarted")
    assert rows["domain/LDAP"]["pid"] != old


def test_stopped_service_is_found_hung_killed_and_restarted(vigil):
    vigil.write_config(extra={"vigil": ["services = " + ", ".join(ALL), *FAST]})
    vigil.start_supervised(ALL)
    rows, _ = vigil.status()
    hung = rows["pam"]["pid"]
    os.kill(hung, signal.SIGSTOP)
    rows = vigil.wait_status(lambda r: running(r, "pam", restarts=1), "the hung pam replaced", timeout=30)
    assert rows["pam"]["pid"] != hung
    assert not procs.pid_alive(hung)
    assert f"pam (pid {hung}) is hung: 3 pings in a row went unanswered" in vigil.log()
    assert "hung" in rows["pam"]["event"]


def fake_libexec(vigil, tmp_path, broken, script="#!/bin/sh\necho 'broken on purpose' >&2\nexit 3\n"):
    """A libexec dir with the real services, except `broken`, which runs
    `script` (by default: exits at once)."""
    libexec = tmp_path / "libexec"
    libexec.mkdir(exist_ok=True)
    for name in ("vigil_be", "vigil_nss", "vigil_pam", "vigil_policy", "vigil_ifp"):
        target = libexec / name
        if target.exists() or target.is_symlink():
            target.unlink()
        if name == broken:
            target.write_text(script)
            target.chmod(0o755)
        else:
            target.symlink_to(vigil.binary(name))
    return libexec


def test_service_that_exits_at_once_is_given_up_and_others_keep_running(vigil, tmp_path):
    vigil.write_config(extra={"vigil": ["services = " + ", ".join(ALL), *CALM,
                                        "restart_limit = 2", "restart_window = 60"]})
    libexec = fake_libexec(vigil, tmp_path, "vigil_policy")
    vigil.start("vigild", env=vigil.env(VIGIL_LIBEXEC_DIR=str(libexec)))
    rows = vigil.wait_status(lambda r: r.get("policy", {}).get("state") == "given-up", "policy given up")
    others = {n: rows[n]["pid"] for n in ("domain/LDAP", "nss", "pam", "ifp")}
    assert all(running(rows, n) for n in others)
    assert rows["policy"]["restarts"] == 2 and rows["policy"]["pid"] == 0
    assert "exited with status 3" in rows["policy"]["event"]
    log = vigil.log()
    assert "policy failed 3 times within 60 s (restart_limit = 2, restart_window = 60): not restarting it" in log
    assert vigil.status()[1] == 3  # degraded
    # It stays given up: no restart later, and the others are untouched.
    time.sleep(1.5)
    rows, _ = vigil.status()
    assert rows["policy"]["state"] == "given-up" and rows["policy"]["restarts"] == 2
    assert {n: rows[n]["pid"] for n in others} == others

    # The admin fixes it and reloads: it gets another chance.
    fake_libexec(vigil, tmp_path, broken=None)
    vigil.procs[0].send_signal(signal.SIGHUP)
    rows = vigil.wait_status(lambda r: running(r, "policy"), "policy started again after SIGHUP")
    assert {n: rows[n]["pid"] for n in others} == others


def test_sighup_with_a_good_config_reloads_services_and_applies_the_service_list(vigil):
    proc = vigil.start_supervised(ALL)
    before, _ = vigil.status()
    vigil.write_config(extra={"vigil": ["services = nss, pam, policy", *CALM]})
    proc.send_signal(signal.SIGHUP)
    rows = vigil.wait_status(lambda r: "ifp" not in r, "ifp removed")
    for name in ("domain/LDAP", "nss", "pam", "policy"):
        assert rows[name]["pid"] == before[name]["pid"]  # reloaded, not restarted
    assert not procs.pid_alive(before["ifp"]["pid"])
    procs.wait_until(lambda: "configuration reloaded" in vigil.log("vigil_nss") and
                     "configuration reloaded" in vigil.log("vigil_be_LDAP"), 10, "services to reload")
    assert "stopping ifp" in vigil.log()

    vigil.write_config(extra={"vigil": ["services = " + ", ".join(ALL), *CALM]})
    proc.send_signal(signal.SIGHUP)
    vigil.wait_status(lambda r: running(r, "ifp"), "ifp added back")


def test_sighup_with_a_bad_config_keeps_everything_as_it_was(vigil):
    proc = vigil.start_supervised(ALL)
    before, _ = vigil.status()
    vigil.write_config(text=vigil.conf.read_text() + "no_such_option = 1\n")
    proc.send_signal(signal.SIGHUP)
    procs.wait_until(lambda: "new configuration refused" in vigil.log(), 10, "the refusal in the log")
    assert "no_such_option" in vigil.log()
    rows, code = vigil.status()
    assert code == 0
    assert {n: r["pid"] for n, r in rows.items()} == {n: r["pid"] for n, r in before.items()}
    assert "configuration reloaded" not in vigil.log("vigil_nss")


def test_sigterm_stops_everything_in_reverse_order_and_leaves_nothing(vigil):
    proc = vigil.start_supervised(ALL)
    rows, _ = vigil.status()
    bus = vigil.run_dir / "private" / "sbus-monitor"
    assert bus.exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    for name, row in rows.items():
        assert not procs.pid_alive(row["pid"]), name
    assert not bus.exists() and not vigil.pid_file.exists()
    # Responders first, the provider last.
    log = vigil.log()
    order = []
    for name in ("ifp", "policy", "pam", "nss", "domain/LDAP"):
        line = f"{name} (pid {rows[name]['pid']}) stopped (exited with status 0)"
        assert line in log, f"no '{line}' in vigild's log:\n{log}"
        order.append(log.index(line))
    assert order == sorted(order), log
    rows, code = vigil.status()
    assert code == 1 and rows == {}


def test_a_stopped_service_does_not_stall_the_stop(vigil):
    proc = vigil.start_supervised(ALL)
    rows, _ = vigil.status()
    os.kill(rows["nss"]["pid"], signal.SIGSTOP)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert not procs.pid_alive(rows["nss"]["pid"])


def test_services_exit_when_vigild_is_killed(vigil):
    proc = vigil.start_supervised(ALL)
    rows, _ = vigil.status()
    proc.kill()
    proc.wait(10)
    for name in ("domain/LDAP", *ALL):
        procs.wait_until(lambda: not procs.pid_alive(rows[name]["pid"]), 10, f"{name} to exit")


def test_second_vigild_is_refused_and_starts_no_services(vigil):
    vigil.start_supervised(ALL)
    before, _ = vigil.status()
    confdb = vigil.state_dir / "db" / "config.ldb"
    stored = confdb.read_bytes()
    # Same paths, another option: were it stored, the running services would read it.
    vigil.write_config(extra={"vigil": ["services = " + ", ".join(ALL), *CALM, "debug_level = 7"]})
    second = procs.run([vigil.binary("vigild"), "-i", "-c", vigil.conf], env=vigil.env(), check=False)
    assert second.returncode == 1 and "another instance is running" in second.stderr
    rows, code = vigil.status()
    assert code == 0 and rows == before
    assert vigil.log().count("started nss") == 1
    assert confdb.read_bytes() == stored


def test_sigusr1_and_sigusr2_go_to_the_providers_only(vigil):
    proc = vigil.start_supervised(ALL)
    before, _ = vigil.status()
    proc.send_signal(signal.SIGUSR1)
    procs.wait_until(lambda: "SIGUSR1" in vigil.log("vigil_be_LDAP"), 10, "the provider to get SIGUSR1")
    proc.send_signal(signal.SIGUSR2)
    procs.wait_until(lambda: "SIGUSR2" in vigil.log("vigil_be_LDAP"), 10, "the provider to get SIGUSR2")
    rows, code = vigil.status()
    # A responder that got it would have died (SIGUSR1's default action).
    assert code == 0 and {n: r["pid"] for n, r in rows.items()} == {n: r["pid"] for n, r in before.items()}


def test_debug_level_changes_at_runtime(vigil):
    vigil.start_supervised(ALL)
    one = vigil.vigilctl("debug-level", "7", "nss")
    assert one.returncode == 0 and one.stdout == "nss: log level 7\n"
    procs.wait_until(lambda: "log level set to 7 by vigild" in vigil.log("vigil_nss"), 5, "nss to change level")
    assert "log level set to 7" not in vigil.log("vigil_pam")
    every = vigil.vigilctl("debug-level", "5")
    assert every.returncode == 0
    assert sorted(every.stdout.split("\n")[:-1]) == sorted(f"{n}: log level 5" for n in
                                                           ("vigil", "domain/LDAP", *ALL))
    unknown = vigil.vigilctl("debug-level", "5", "nope")
    assert unknown.returncode == 1 and "no service named 'nope'" in unknown.stderr
    bad = vigil.vigilctl("debug-level", "12")
    assert bad.returncode == 2 and "not a log level" in bad.stderr


def test_vigilctl_without_vigild_says_it_is_not_running(vigil):
    out = vigil.vigilctl("status")
    assert out.returncode == 1 and "vigild is not running" in out.stderr
    out = vigil.vigilctl("debug-level", "3")
    assert out.returncode == 1 and "vigild is not running" in out.stderr


FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


@pytest.mark.skipif(not os.path.exists(FAKETIME), reason="libfaketime is not installed")
def test_a_backward_jump_of_the_wall_clock_changes_nothing(vigil, tmp_path):
    vigil.write_config(extra={"vigil": ["services = " + ", ".join(ALL), *FAST,
                                        "restart_limit = 1", "restart_window = 3600"]})
    clock = tmp_path / "faketime"
    clock.write_text("+0\n")
    env = wrappers.preload_env([FAKETIME], vigil.binary("vigild"), base=vigil.env(
        FAKETIME_TIMESTAMP_FILE=str(clock), FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1"))
    vigil.start_supervised(ALL, env=env)
    rows, _ = vigil.status()
    os.kill(rows["nss"]["pid"], signal.SIGKILL)
    vigil.wait_status(lambda r: running(r, "nss", restarts=1), "nss restarted once")
    # Back two hours: were the window on the wall clock, the restart above
    # would now lie in the future and nss would be given up at its next exit,
    # or counted wrongly; were timers on it, heartbeats would stop.
    clock.write_text("-2h\n")
    before, _ = vigil.status()
    time.sleep(3)  # three heartbeats: nothing may be restarted or found hung
    rows, code = vigil.status()
    assert code == 0 and {n: r["pid"] for n, r in rows.items()} == {n: r["pid"] for n, r in before.items()}
    # Heartbeats still run: a hung service is still found.
    os.kill(rows["pam"]["pid"], signal.SIGSTOP)
    rows = vigil.wait_status(lambda r: running(r, "pam", restarts=1), "pam replaced after the jump", timeout=30)
    assert rows["nss"]["restarts"] == 1 and rows["nss"]["state"] == "running"


def test_systemd_hears_ready_once_the_services_are_up_and_only_from_vigild(vigil, tmp_path):
    sock_path = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.settimeout(15)
    try:
        proc = vigil.start("vigild", env=vigil.env(NOTIFY_SOCKET=str(sock_path)))
        message, = listener.recvfrom(4096)[:1]
        assert b"READY=1" in message
        # By then every service had registered.
        assert "every service has started or failed once: vigild is ready" in vigil.log()
        rows, code = vigil.status()
        assert code == 0
        for name in ("domain/LDAP", *ALL):
            with open(f"/proc/{rows[name]['pid']}/environ", "rb") as env:
                assert b"NOTIFY_SOCKET=" not in env.read(), name
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        message, = listener.recvfrom(4096)[:1]
        assert b"STOPPING=1" in message
        listener.settimeout(0.2)
        with pytest.raises(socket.timeout):
            listener.recvfrom(4096)  # nothing from the services
    finally:
        listener.close()


def test_a_process_vigild_did_not_start_cannot_register(vigil):
    vigil.start_supervised(ALL)
    socket_path = vigil.run_dir / "private" / "sbus-monitor"
    out = procs.run([vigil.binary("vigil_nss"), "-i", "-c", vigil.conf, "--monitor", socket_path],
                    env=vigil.env(), check=False, timeout=20)
    assert out.returncode == 1
    assert "vigild refused the registration: pid" in out.stderr and "is not a service vigild started" in out.stderr
    rows, code = vigil.status()
    assert code == 0 and rows["nss"]["restarts"] == 0


def test_a_service_that_ignores_sigterm_is_killed_at_the_stop(vigil, tmp_path):
    deaf = "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.1; done\n"
    libexec = fake_libexec(vigil, tmp_path, "vigil_policy", script=deaf)
    proc = vigil.start("vigild", env=vigil.env(VIGIL_LIBEXEC_DIR=str(libexec)))
    rows = vigil.wait_status(lambda r: r.get("policy", {}).get("pid", 0) > 0 and running(r, "nss"),
                             "the SIGTERM-deaf policy started")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not procs.pid_alive(rows["policy"]["pid"])
    assert f"policy (pid {rows['policy']['pid']}) did not stop within 5000 ms; killed it" in vigil.log()


def test_a_service_put_back_while_it_is_still_stopping_is_started_again(vigil, tmp_path):
    slow = "#!/bin/sh\ntrap 'sleep 1; exit 0' TERM\nwhile :; do sleep 0.1; done\n"
    libexec = fake_libexec(vigil, tmp_path, "vigil_ifp", script=slow)
    proc = vigil.start("vigild", env=vigil.env(VIGIL_LIBEXEC_DIR=str(libexec)))
    rows = vigil.wait_status(lambda r: r.get("ifp", {}).get("pid", 0) > 0, "ifp started")
    old = rows["ifp"]["pid"]
    vigil.write_config(extra={"vigil": ["services = nss, pam, policy", *CALM]})
    proc.send_signal(signal.SIGHUP)
    vigil.wait_status(lambda r: r.get("ifp", {}).get("state") == "stopping", "ifp stopping")
    vigil.write_config(extra={"vigil": ["services = " + ", ".join(ALL), *CALM]})
    proc.send_signal(signal.SIGHUP)
    rows = vigil.wait_status(lambda r: r.get("ifp", {}).get("pid", 0) not in (0, old), "ifp started again")
    assert rows["ifp"]["state"] == "starting"  # the stand-in never registers
    assert not procs.pid_alive(old)


def test_a_service_that_cannot_be_executed_says_why(vigil, tmp_path):
    vigil.write_config(extra={"vigil": ["services = " + ", ".join(ALL), *CALM, "restart_limit = 1"]})
    libexec = fake_libexec(vigil, tmp_path, broken=None)
    (libexec / "vigil_ifp").unlink()
    vigil.start("vigild", env=vigil.env(VIGIL_LIBEXEC_DIR=str(libexec)))
    rows = vigil.wait_status(lambda r: r.get("ifp", {}).get("state") == "given-up", "ifp given up")
    assert "cannot run" in rows["ifp"]["event"] and "No such file or directory" in rows["ifp"]["event"]
    assert running(rows, "nss") and running(rows, "domain/LDAP")


def test_sighup_cannot_move_the_run_dir(vigil):
    proc = vigil.start_supervised(ALL)
    before, _ = vigil.status()
    text = vigil.conf.read_text().replace(f"run_dir = {vigil.run_dir}", f"run_dir = {vigil.run_dir}-moved")
    vigil.write_config(text=text)
    proc.send_signal(signal.SIGHUP)
    procs.wait_until(lambda: "run_dir cannot change while vigild runs" in vigil.log(), 10, "the refusal")
    vigil.write_config(extra={"vigil": ["services = " + ", ".join(ALL), *CALM]})
    rows, code = vigil.status()
    assert code == 0 and {n: r["pid"] for n, r in rows.items()} == {n: r["pid"] for n, r in before.items()}
