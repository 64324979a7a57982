"""The identity provider (vigil_be) against a real slapd: lookups written to
the cache, what the directory refuses or does not have, bad data, failover,
offline and back, as the responders will drive it (through tests/tools/dp_call)
and as an admin inspects it (vigilctl user-show, group-show, domain-status)."""

import signal
import subprocess
import time

import pytest

from fixtures import procs
from fixtures.vigil import Vigil


def domain_lines(server, *more):
    return [f"ldap_uri = {server.uri}", f"ldap_search_base = {server.base_dn}", "min_id = 1000", *more]


@pytest.fixture
def vigil(tmp_path, builddir, slapd):
    v = Vigil(tmp_path, builddir, extra={"vigil": ["services = nss"], "domain/LDAP": domain_lines(slapd)})
    v.start_supervised(("nss",))
    yield v
    v.stop_all()


def show(vigil, kind, name):
    out = vigil.vigilctl(f"{kind}-show", name)
    if out.returncode != 0:
        return None
    pairs = (line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_a_user_is_fetched_into_the_cache(vigil, slapd):
    assert show(vigil, "user", "alice") is None
    assert vigil.dp_call("user", "alice") == ["ok "]
    alice = show(vigil, "user", "alice")
    assert alice["uid"] == "10001" and alice["gid"] == "10000"
    assert alice["home"] == "/home/alice" and alice["shell"] == "/bin/bash" and alice["gecos"] == "Alice Adams"
    assert alice["dn"] == f"uid=alice,ou=People,{slapd.base_dn}"
    assert alice["state"] == "fresh" and alice["modified"].endswith("Z")


def test_a_user_by_uid(vigil):
    assert vigil.dp_call("uid", "10002") == ["ok "]
    assert show(vigil, "user", "bob")["shell"] == "/bin/sh"


def test_groups_by_name_and_gid(vigil):
    assert vigil.dp_call("group", "developers") == ["ok "]
    devs = show(vigil, "group", "developers")
    assert devs["gid"] == "20001" and devs["members"] == "alice, bob"
    assert vigil.dp_call("gid", "20002") == ["ok "]
    assert show(vigil, "group", "admins")["members"] == "alice"


def test_initgroups_stores_the_user_and_all_its_groups(vigil):
    assert vigil.dp_call("initgroups", "alice") == ["ok "]
    alice = show(vigil, "user", "alice")
    assert alice["groups"] == "10000, 20001, 20002"
    assert show(vigil, "group", "admins") is not None


def test_initgroups_of_a_name_no_user_has_stores_none_of_its_groups(vigil, slapd):
    # The groups listing a name are asked for beside the user (one step):
    # without the user, their answer is dropped.
    slapd.add_ldif(f"dn: cn=ghosts,ou=Groups,{slapd.base_dn}\nobjectClass: posixGroup\ncn: ghosts\n"
                   "gidNumber: 20444\nmemberUid: ghost\n")
    before = int(vigil.domain_status()["searches_sent"])
    assert vigil.dp_call("initgroups", "ghost") == ["not-found no such entry in the directory"]
    assert int(vigil.domain_status()["searches_sent"]) - before == 2
    assert show(vigil, "group", "ghosts") is None
    assert show(vigil, "user", "ghost") is None
    # And the user's groups come when it exists.
    slapd.add_ldif(f"dn: uid=ghost,ou=People,{slapd.base_dn}\nobjectClass: posixAccount\nobjectClass: account\n"
                   "uid: ghost\ncn: ghost\nuidNumber: 10444\ngidNumber: 10000\nhomeDirectory: /home/ghost\n")
    assert vigil.dp_call("initgroups", "ghost") == ["ok "]
    assert show(vigil, "user", "ghost")["groups"] == "10000, 20444"


def test_what_the_directory_does_not_have_is_not_found(vigil):
    assert vigil.dp_call("user", "nobody-here") == ["not-found no such entry in the directory"]
    assert vigil.dp_call("user", "*") == ["not-found no such entry in the directory"]
    assert vigil.dp_call("user", "ALICE") == ["not-found no such entry in the directory"]  # names are exact
    assert vigil.dp_call("uid", "77777") == ["not-found no such entry in the directory"]
    assert vigil.dp_call("gid", "x1") == ["not-found 'x1' is not a gid"]
    assert show(vigil, "user", "ALICE") is None


def test_a_user_deleted_in_the_directory_leaves_the_cache(vigil, slapd):
    slapd.add_ldif(f"dn: uid=gone,ou=People,{slapd.base_dn}\nobjectClass: posixAccount\nobjectClass: account\n"
                   "uid: gone\ncn: gone\nuidNumber: 10401\ngidNumber: 10000\nhomeDirectory: /home/gone\n")
    assert vigil.dp_call("user", "gone") == ["ok "]
    assert show(vigil, "user", "gone") is not None
    slapd.delete(f"uid=gone,ou=People,{slapd.base_dn}")
    assert vigil.dp_call("user", "gone") == ["not-found no such entry in the directory"]
    assert show(vigil, "user", "gone") is None


def test_bad_entries_are_skipped_with_a_line_naming_the_dn(vigil, slapd):
    base = slapd.base_dn
    # slapd checks INTEGER syntax, so "bad numbers" are the ones it allows.
    for name, uid in (("badnum", "-5"), ("huge", "99999999999"), ("zero", "0"), ("low", "500")):
        slapd.add_ldif(f"dn: uid={name},ou=People,{base}\nobjectClass: posixAccount\nobjectClass: account\n"
                       f"uid: {name}\ncn: {name}\nuidNumber: {uid}\ngidNumber: 10000\nhomeDirectory: /h\n")
    for name in ("badnum", "huge", "zero", "low"):
        assert vigil.dp_call("user", name) == ["not-found no such entry in the directory"], name
    log = vigil.log("vigil_be_LDAP")
    assert f"skipping uid=badnum,ou=People,{base}: uidNumber '-5' is not a number" in log
    assert f"skipping uid=huge,ou=People,{base}: uidNumber '99999999999' is not a number" in log
    assert f"skipping uid=zero,ou=People,{base}: uidNumber 0 is never served" in log
    assert f"skipping uid=low,ou=People,{base}: uidNumber 500 is outside min_id 1000" in log
    # The provider is still fine.
    assert vigil.dp_call("user", "alice") == ["ok "]


def test_concurrent_askers_for_one_object_share_one_search(vigil):
    before = int(vigil.domain_status()["searches_sent"])
    answers = vigil.dp_call("user", "carol", copies=50)
    assert answers == ["ok "] * 50
    assert int(vigil.domain_status()["searches_sent"]) - before == 1


def test_failover_to_the_second_server(tmp_path, builddir, slapd):
    dead = procs.free_port()
    v = Vigil(tmp_path, builddir, extra={"vigil": ["services = nss"], "domain/LDAP": [
        f"ldap_uri = ldap://127.0.0.1:{dead}, {slapd.uri}", f"ldap_search_base = {slapd.base_dn}"]})
    try:
        v.start_supervised(("nss",))
        assert v.dp_call("user", "alice") == ["ok "]
        status = v.domain_status()
        assert status["state"] == "online" and status["server"] == slapd.uri
    finally:
        v.stop_all()


def test_ldaps_with_the_ca(tmp_path, builddir, slapd):
    v = Vigil(tmp_path, builddir, extra={"vigil": ["services = nss"], "domain/LDAP": [
        f"ldap_uri = {slapd.ldaps_uri}", f"ldap_search_base = {slapd.base_dn}", f"ldap_tls_cacert = {slapd.ca_cert}"]})
    try:
        v.start_supervised(("nss",))
        assert v.dp_call("user", "alice") == ["ok "]
    finally:
        v.stop_all()


def test_offline_answers_at_once_probes_and_comes_back(tmp_path, builddir, own_slapd):
    server = own_slapd
    v = Vigil(tmp_path / "vigil", builddir, extra={"vigil": ["services = nss"], "domain/LDAP": [
        *domain_lines(server, "offline_timeout = 1", "offline_timeout_max = 2")]})
    try:
        v.start_supervised(("nss",))
        assert v.dp_call("user", "alice") == ["ok "]
        server.stop()
        first = v.dp_call("user", "bob")
        assert first[0].startswith("unavailable "), first
        status = v.domain_status()
        assert status["state"] == "offline" and "cannot connect" in status["reason"]
        # Offline: answered without a search or a connection attempt.
        sent = int(status["searches_sent"])
        attempts = v.log("vigil_be_LDAP").count("cannot connect to")
        assert v.dp_call("user", "carol", copies=5) == ["unavailable offline: " + status["reason"]] * 5
        assert int(v.domain_status()["searches_sent"]) == sent
        assert v.log("vigil_be_LDAP").count("cannot connect to") - attempts <= 1  # a probe may fall in between
        # The directory returns: a probe finds it within offline_timeout_max (+ jitter).
        server.start()
        procs.wait_until(lambda: v.domain_status().get("state") == "online", 15, "the domain back online")
        assert v.dp_call("user", "bob") == ["ok "]
    finally:
        v.stop_all()
        server.stop()


def test_sigusr1_and_sigusr2_force_offline_and_online(vigil):
    assert vigil.dp_call("user", "alice") == ["ok "]
    vigil.procs[0].send_signal(signal.SIGUSR1)
    procs.wait_until(lambda: vigil.domain_status().get("state") == "offline", 10, "forced offline")
    assert "forced offline by the administrator" in vigil.domain_status()["reason"]
    assert vigil.dp_call("user", "alice")[0].startswith("unavailable ")
    vigil.procs[0].send_signal(signal.SIGUSR2)
    procs.wait_until(lambda: vigil.domain_status().get("state") == "online", 10, "forced online")
    assert vigil.dp_call("user", "alice") == ["ok "]


def test_cache_expire_marks_entries_expired(vigil):
    assert vigil.dp_call("user", "alice") == ["ok "]
    assert show(vigil, "user", "alice")["state"] == "fresh"
    out = vigil.vigilctl("cache-expire", "--user", "alice")
    assert out.returncode == 0, out.stderr
    expired = show(vigil, "user", "alice")
    assert expired["state"] == "expired"
    assert expired["expires"] == "already (marked expired)"  # not "never"
    assert "cache: expired user alice (vigilctl)" in vigil.log("vigil_be_LDAP")  # the provider did it
    assert vigil.vigilctl("cache-expire", "--everything").returncode == 0
    assert vigil.vigilctl("cache-expire").returncode == 2
    # With no provider running, vigilctl expires the file itself.
    vigil.stop_all()
    out = vigil.vigilctl("cache-expire", "--user", "alice")
    assert out.returncode == 0 and "the provider is not running" in out.stdout


def test_lookups_caught_in_a_timeout_are_all_answered_and_none_is_stuck(tmp_path, builddir, own_slapd):
    server = own_slapd
    v = Vigil(tmp_path / "vigil", builddir, extra={"vigil": ["services = nss"], "domain/LDAP": [
        *domain_lines(server, "ldap_search_timeout = 1", "offline_timeout = 1", "offline_timeout_max = 1")]})
    try:
        v.start_supervised(("nss",))
        assert v.dp_call("user", "alice") == ["ok "]
        server.freeze()
        sock = v.run_dir / "private" / "sbus-dp_LDAP"
        calls = [subprocess.Popen([str(builddir / "tests/tools/dp_call"), str(sock), kind, key],
                                  stdout=subprocess.PIPE, text=True)
                 for kind, key in (("user", "bob"), ("group", "developers"), ("uid", "10003"))]
        answers = [c.communicate(timeout=60)[0].strip() for c in calls]
        assert all(a.startswith("unavailable ") for a in answers), answers
    finally:
        server.thaw()
    try:
        procs.wait_until(lambda: v.domain_status().get("state") == "online", 20, "the domain back online")
        # Nothing was left behind in flight: the same lookups are answered again.
        assert v.dp_call("user", "bob") == ["ok "]
        assert v.dp_call("group", "developers") == ["ok "]
        assert v.dp_call("uid", "10003") == ["ok "]
    finally:
        v.stop_all()
        server.stop()


def test_a_bad_member_costs_only_itself(vigil, slapd):
    slapd.add_ldif(f"dn: cn=mixed,ou=Groups,{slapd.base_dn}\nobjectClass: posixGroup\ncn: mixed\n"
                   "gidNumber: 20900\nmemberUid: alice\nmemberUid: bad:name\n")
    assert vigil.dp_call("group", "mixed") == ["ok "]
    assert show(vigil, "group", "mixed")["members"] == "alice"
    assert f"cn=mixed,ou=Groups,{slapd.base_dn}: skipping member 'bad:name'" in vigil.log("vigil_be_LDAP")


def test_a_group_with_several_names_is_named_by_its_dn(vigil, slapd):
    slapd.add_ldif(f"dn: cn=ops,ou=Groups,{slapd.base_dn}\nobjectClass: posixGroup\ncn: operations\ncn: ops\n"
                   "gidNumber: 20901\nmemberUid: bob\n")
    assert vigil.dp_call("gid", "20901") == ["ok "]
    assert show(vigil, "group", "ops")["gid"] == "20901"
    assert show(vigil, "group", "operations") is None


def test_a_stop_while_a_connection_attempt_hangs_is_clean_and_bounded(tmp_path, builddir, own_slapd):
    """vigil_be stopped while its connection worker waits for a server that
    accepted and never answers: it waits for the worker a bounded time, says
    so, and exits by itself (vigild does not have to kill it), with no
    sanitizer report."""
    server = own_slapd
    v = Vigil(tmp_path / "vigil", builddir, extra={"vigil": ["services = nss"], "domain/LDAP": [
        *domain_lines(server, "ldap_network_timeout = 30", "ldap_opt_timeout = 30")]})
    try:
        server.freeze()
        v.start_supervised(("nss",))
        rows, _ = v.status()
        be = rows["domain/LDAP"]["pid"]
        sock = v.run_dir / "private" / "sbus-dp_LDAP"
        call = subprocess.Popen([str(builddir / "tests/tools/dp_call"), str(sock), "user", "alice"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        # The lookup makes the worker connect; it waits inside libldap for
        # the frozen server (its bound here is far beyond this test).
        time.sleep(1)
        assert call.poll() is None, "the lookup did not wait for the connection"
        proc = v.procs[0]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        v.procs.clear()
        call.communicate(timeout=30)
        log = v.log()
        assert f"domain/LDAP (pid {be}) stopped (exited with status 0)" in log, log[-3000:]
        assert "connection attempt(s) still under way after 3000 ms" in v.log("vigil_be_LDAP")
        v.check_sanitizers()
    finally:
        server.thaw()
        v.stop_all()
