"""The provider's LDAP connection code against a real slapd (and against
servers that misbehave), through the ldap_search test tool."""

import socket
import subprocess
import threading

import pytest

from fixtures import procs
from fixtures.slapd import Slapd


def run(builddir, server, *args, uri=None, base=None, flt="(objectClass=posixAccount)", password=None,
        timeout=60, env=None):
    argv = [builddir / "tests/tools/ldap_search", *args, uri or server.uri, base or server.base_dn, flt]
    # No LDAPTLS_CACERT from the environment: only what the tool is told counts.
    env = env if env is not None else server.client_env(cacert=False)
    out = procs.run(argv, env=env, input=(password + "\n") if password else None, timeout=timeout, check=False)
    return out.returncode, out.stdout


def entries(stdout):
    lines = stdout.splitlines()
    count = int(next(line for line in lines if line.startswith("entries ")).split()[1])
    return count, [line for line in lines if line.startswith(("uid=", "cn="))]


def test_anonymous_search_finds_every_user(builddir, slapd):
    code, out = run(builddir, slapd)
    assert code == 0, out
    assert "paging yes" in out
    count, dns = entries(out)
    assert count == len(dns) >= 5
    assert f"uid=alice,ou=People,{slapd.base_dn}" in dns


def test_ldaps_with_the_ca_verifies_the_server(builddir, slapd):
    code, out = run(builddir, slapd, "--cacert", slapd.ca_cert, "--reqcert", "demand", uri=slapd.ldaps_uri)
    assert code == 0, out
    assert entries(out)[0] >= 5


def test_ldaps_without_the_ca_is_refused_unless_reqcert_never(builddir, slapd):
    code, out = run(builddir, slapd, "--reqcert", "demand", uri=slapd.ldaps_uri)
    assert code == 1 and "error unavailable: cannot connect to" in out, out
    code, out = run(builddir, slapd, "--reqcert", "never", uri=slapd.ldaps_uri)
    assert code == 0, out


def test_starttls_with_the_ca(builddir, slapd):
    code, out = run(builddir, slapd, "--starttls", "--cacert", slapd.ca_cert)
    assert code == 0, out
    code, out = run(builddir, slapd, "--starttls", "--reqcert", "hard")
    assert code == 1 and "StartTLS" in out, out


def test_simple_bind_with_the_right_and_a_wrong_password(builddir, slapd):
    code, out = run(builddir, slapd, "--bind-dn", slapd.admin_dn, password=slapd.admin_pw)
    assert code == 0, out
    code, out = run(builddir, slapd, "--bind-dn", slapd.admin_dn, password="wrong")
    assert code == 1 and "error permission denied: bind as" in out and "Invalid credentials" in out, out
    assert "wrong" not in out


def test_names_are_escaped_in_filters(builddir, slapd):
    code, out = run(builddir, slapd, "--equality", "posixAccount", "uid", "*", flt="")
    assert code == 0 and entries(out)[0] == 0, out
    assert "(uid=\\2a)" in out
    code, out = run(builddir, slapd, "--equality", "posixAccount", "uid", "alice)(uid=*", flt="")
    assert code == 0 and entries(out)[0] == 0, out
    code, out = run(builddir, slapd, "--equality", "posixAccount", "uid", "alice", flt="")
    assert code == 0 and entries(out)[0] == 1, out


def test_parallel_searches_on_one_connection_each_get_their_own_answer(builddir, slapd):
    code, out = run(builddir, slapd, "--parallel", "6")
    assert code == 0, out
    counts = [int(line.split()[1]) for line in out.splitlines() if line.startswith("entries ")]
    assert len(counts) == 6 and len(set(counts)) == 1 and counts[0] >= 5


@pytest.fixture(scope="module")
def big_slapd(tmp_path_factory):
    """1,200 users behind a size limit of 500, as many real servers have."""
    server = Slapd(tmp_path_factory.mktemp("slapd-big"), sizelimit=500, loglevel="none")
    server.load_standard_data()
    people = "".join(
        f"dn: uid=u{i:05d},ou=People,{server.base_dn}\nobjectClass: posixAccount\nobjectClass: account\n"
        f"uid: u{i:05d}\ncn: u{i:05d}\nuidNumber: {30000 + i}\ngidNumber: 20001\n"
        f"homeDirectory: /home/u{i:05d}\n\n" for i in range(1200))
    server.load_ldif(people)
    server.start()
    yield server
    server.stop()


def test_paging_returns_everything_past_the_size_limit(builddir, big_slapd):
    code, out = run(builddir, big_slapd, "--page-size", "100")
    assert code == 0, out
    count, dns = entries(out)
    assert count >= 1200 and len(set(dns)) == count
    assert "pages 13" in out


def test_a_large_answer_over_tls_arrives_whole(builddir, big_slapd):
    # Two pages of ~600 entries through TLS records, read as they come.
    code, out = run(builddir, big_slapd, "--page-size", "1000", "--cacert", big_slapd.ca_cert,
                    uri=big_slapd.ldaps_uri)
    assert code == 0, out
    assert entries(out)[0] >= 1200 and "pages 2" in out


def test_without_paging_the_size_limit_is_an_error_not_a_short_answer(builddir, big_slapd):
    code, out = run(builddir, big_slapd, "--page-size", "0")
    assert code == 1 and "error protocol error: the size limit of" in out and "short after 500 entries" in out, out


def test_nothing_listening_is_unavailable(builddir, slapd):
    port = procs.free_port()
    code, out = run(builddir, slapd, uri=f"ldap://127.0.0.1:{port}")
    assert code == 1 and "error unavailable: cannot connect to" in out, out


def test_a_server_that_accepts_and_never_answers_is_timed_out(builddir, slapd):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except socket.timeout:
                pass
    thread = threading.Thread(target=accept)
    thread.start()
    try:
        port = listener.getsockname()[1]
        code, out = run(builddir, slapd, "--opt-timeout", "1", "--network-timeout", "1",
                        uri=f"ldap://127.0.0.1:{port}", timeout=30)
        assert code == 1 and "error timed out:" in out, out
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()
        listener.close()


def first_search_then(builddir, server, *args):
    """Start the tool with --then-wait; return it once the first search answered."""
    argv = [builddir / "tests/tools/ldap_search", "--then-wait", *args, server.uri, server.base_dn,
            "(objectClass=posixAccount)"]
    proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=server.client_env(cacert=False))
    first = []
    while True:
        line = proc.stdout.readline()
        assert line, "the tool ended early: " + "".join(first)
        first.append(line)
        if line == "waiting\n":
            return proc




def test_a_server_that_stops_answering_mid_session_is_timed_out(builddir, own_slapd):
    server = own_slapd
    proc = first_search_then(builddir, server, "--search-timeout", "1")
    server.freeze()
    rest, _ = proc.communicate("go\n", timeout=30)
    assert proc.returncode == 1
    assert "error timed out: no complete answer from" in rest and "ldap_search_timeout = 1 s" in rest, rest


def test_a_server_gone_between_two_searches_fails_the_second_cleanly(builddir, own_slapd):
    proc = first_search_then(builddir, own_slapd)
    own_slapd.stop()
    rest, _ = proc.communicate("go\n", timeout=30)
    assert proc.returncode == 1
    assert "error unavailable:" in rest, rest


def test_an_answer_larger_than_allowed_is_abandoned_not_kept(builddir, big_slapd):
    code, out = run(builddir, big_slapd, "--page-size", "100", "--max-entries", "250")
    assert code == 1 and "sent more than 250 entries for the test search; the search was abandoned" in out, out
