"""The daemons as an admin meets them: start, log, refuse, stop."""

import os
import re
import signal

import pytest

from fixtures import procs
from fixtures.vigil import DAEMONS, Vigil


@pytest.fixture
def vigil(tmp_path, builddir):
    v = Vigil(tmp_path, builddir)
    yield v
    v.stop_all()


@pytest.mark.parametrize("name", DAEMONS + ("vigilctl",))
def test_every_binary_answers_help_and_version(vigil, name):
    help_out = procs.run([vigil.binary(name), "--help"])
    assert help_out.stdout.startswith(f"Usage: {name} ")
    assert "--config" in help_out.stdout
    version = procs.run([vigil.binary(name), "--version"])
    assert re.fullmatch(rf"{name} \(vigil\) \d+\.\d+\.\d+\n", version.stdout)


def test_vigild_comes_up_logs_to_log_dir_and_stops_on_sigterm(vigil):
    proc = vigil.start("vigild")
    assert procs.pid_alive(proc.pid)
    assert vigil.pid_file.read_text() == f"{proc.pid}\n"
    assert (vigil.state_dir / "db" / "config.ldb").exists()
    assert "configuration" in vigil.log() and "accepted; domains: LDAP" in vigil.log()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not vigil.pid_file.exists()
    assert "received SIGTERM, stopping" in vigil.log()
    assert "vigild stopped" in vigil.log()


def test_daemonized_vigild_returns_once_ready_and_stops_on_sigterm(vigil):
    started = procs.run([vigil.binary("vigild"), "-c", vigil.conf], env=vigil.env())
    assert started.returncode == 0
    pid = int(vigil.pid_file.read_text())
    assert procs.pid_alive(pid)
    # Detached: a session of its own, and not our child.
    assert os.getsid(pid) == pid
    os.kill(pid, signal.SIGTERM)
    procs.wait_until(lambda: not procs.pid_alive(pid), 10, "the daemon to exit")
    assert not vigil.pid_file.exists()


def test_second_vigild_is_refused_while_first_runs(vigil):
    first = vigil.start("vigild")
    second = procs.run([vigil.binary("vigild"), "-i", "-c", vigil.conf], check=False)
    assert second.returncode == 1
    assert f"another instance is running (pid {first.pid}" in second.stderr
    assert procs.pid_alive(first.pid)
    assert vigil.pid_file.read_text() == f"{first.pid}\n"


def test_bad_config_stops_vigild_with_file_and_line(vigil):
    vigil.write_config(extra={"nss": ["entry_negative_timeout = soon"]})
    result = procs.run([vigil.binary("vigild"), "-c", vigil.conf], check=False)
    assert result.returncode == 1
    assert f"{vigil.conf}:10: entry_negative_timeout: 'soon' is not an integer" in result.stderr
    assert not vigil.pid_file.exists()


def test_config_readable_by_others_is_refused(vigil):
    vigil.write_config(mode=0o644)
    result = procs.run([vigil.binary("vigild"), "-i", "-c", vigil.conf], check=False)
    assert result.returncode == 1
    assert "group or others can read or write it (mode 0644)" in result.stderr


def test_secret_never_reaches_the_log(vigil):
    vigil.write_config(extra={"domain/LDAP": ["ldap_default_authtok = Sup3r-s3cret!"]})
    # vigild passes -d 9 on to the provider it starts: every line is logged.
    proc = vigil.start("vigild", "-d", "9")
    vigil.wait_status(lambda r: r.get("domain/LDAP", {}).get("state") == "running", "the provider up")
    assert "vigil_be started" in vigil.log("vigil_be_LDAP")
    procs.stop(proc)
    for log in vigil.log_dir.iterdir():
        assert "Sup3r-s3cret!" not in log.read_text(errors="replace"), log


def test_services_read_confdb_and_log_per_service(vigil):
    # vigild writes confdb and stops; services started by hand then find it
    # from the config file alone (as an admin debugging one service would).
    proc = vigil.start("vigild")
    procs.stop(proc)
    vigil.procs.remove(proc)
    be = vigil.start("vigil_be", "--domain", "LDAP")
    nss = vigil.start("vigil_nss")
    assert "vigil_be" in vigil.log("vigil_be_LDAP") and "[LDAP]" in vigil.log("vigil_be_LDAP")
    assert "vigil_nss" in vigil.log("vigil_nss")
    for proc in (be, nss):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_service_refuses_a_domain_that_is_not_configured(vigil):
    vigil.start("vigild")
    result = procs.run([vigil.binary("vigil_be"), "-i", "-c", vigil.conf, "--domain", "NOPE"], check=False)
    assert result.returncode == 1
    assert "domain 'NOPE' is not in [vigil] domains" in result.stderr


def test_sighup_with_bad_config_keeps_running_on_the_old_one(vigil):
    proc = vigil.start("vigild")
    vigil.write_config(extra={"nss": ["bogus = 1"]})
    proc.send_signal(signal.SIGHUP)
    procs.wait_until(lambda: "new configuration refused" in vigil.log(), 10, "the reload to be refused")
    assert "unknown option 'bogus' in [nss]" in vigil.log()
    assert procs.pid_alive(proc.pid)
    vigil.write_config(extra={"vigil": ["debug_level = 6"]})
    proc.send_signal(signal.SIGHUP)
    procs.wait_until(lambda: vigil.log().count("received SIGHUP") == 2, 10, "the second reload")
    procs.stop(proc)


# ---- vigilctl config-check

def test_config_check_accepts_a_valid_file(vigil):
    result = vigil.vigilctl("config-check")
    assert result.returncode == 0
    assert result.stdout == f"{vigil.conf}: the configuration is valid (domains: LDAP)\n"


def test_config_check_lists_every_problem(vigil):
    text = vigil.config_text() + "bogus = 1\nmin_id = 0\n[sudo]\n"
    vigil.write_config(text=text)
    (vigil.dir / "conf.d").mkdir(mode=0o700)
    snippet = vigil.dir / "conf.d" / "10-site.conf"
    snippet.write_text("[nss]\nentry_cache_nowait_percentage = 120\n")
    os.chmod(snippet, 0o600)
    result = vigil.vigilctl("config-check")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{vigil.conf}:9: unknown option 'bogus' in [domain/LDAP]",
        f"{vigil.conf}:10: min_id: 0 is out of range (1 to 4294967295)",
        f"{vigil.conf}:11: unknown section [sudo] (known: vigil, nss, pam, policy, ifp, domain/NAME)",
        f"{snippet}:2: entry_cache_nowait_percentage: 120 is out of range (0 to 99)",
        "4 problems: the configuration is refused",
    ]


def test_config_check_refuses_the_example_config_as_world_readable(vigil, srcdir):
    example = vigil.dir / "example.conf"
    example.write_text((srcdir / "contrib" / "vigil.conf.example").read_text())
    os.chmod(example, 0o644)
    result = procs.run([vigil.binary("vigilctl"), "config-check", "-c", example], check=False)
    assert result.returncode == 1
    os.chmod(example, 0o600)
    result = procs.run([vigil.binary("vigilctl"), "config-check", "-c", example], check=False)
    assert result.returncode == 0, result.stdout


def test_every_option_is_documented(vigil, srcdir):
    doc = (srcdir / "doc" / "config.md").read_text()
    rows = vigil.vigilctl("config-options", check=True).stdout.splitlines()
    assert len(rows) > 40
    for row in rows:
        section, option = row.split("\t")[:2]
        assert f"| {section} | {option} |" in doc, f"{section} {option} missing from doc/config.md"


def test_make_install_uses_the_documented_names(builddir, tmp_path):
    stage = tmp_path / "stage"
    procs.run(["make", "-s", "-C", builddir, "install", f"DESTDIR={stage}"], timeout=300)
    installed = {str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()}

    def has(suffix):
        return any(p.endswith(suffix) for p in installed)

    for suffix in ("sbin/vigild", "sbin/vigilctl", "etc/vigil/vigil.conf.example",
                   "systemd/system/vigild.service"):
        assert has(suffix), suffix
    for name in ("vigil_be", "vigil_nss", "vigil_pam", "vigil_policy", "vigil_ifp"):
        assert has(f"libexec/vigil/{name}"), name
    unit = next(stage.rglob("vigild.service")).read_text()
    assert "Type=notify" in unit and "@" not in unit.replace("@.service", "")
