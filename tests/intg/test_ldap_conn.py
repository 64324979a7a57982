"""The provider's LDAP connection code against a real slapd (and against
servers that misbehave), through the ldap_search test tool."""

import socket
import subprocess
import threading

import pytest

from fixtures import procs
from fixtures.fake_responder import recv_exact
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


# ---- a server whose entries are hand-encoded (BER) -------------------------

def ber(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def octets(value):
    return ber(0x04, value if isinstance(value, bytes) else value.encode())


def attribute(name, values, raw_set=None):
    vals = raw_set if raw_set is not None else b"".join(octets(v) for v in values)
    return ber(0x30, octets(name) + ber(0x31, vals))


def message(msgid, op):
    return ber(0x30, ber(0x02, msgid.to_bytes(4, "big").lstrip(b"\0") or b"\0") + op)


def entry(msgid, dn, attributes):
    return message(msgid, ber(0x64, octets(dn) + ber(0x30, b"".join(attributes))))


def done(msgid, op=0x65):
    return message(msgid, ber(op, ber(0x0A, b"\0") + octets("") + octets("")))


def read_message(sock):
    """One LDAPMessage: (msgid, op tag, op content), or None at the end."""
    def tlv(buf, at):
        tag, n = buf[at], buf[at + 1]
        at += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(buf[at:at + k], "big")
            at += k
        return tag, buf[at:at + n], at + n

    head = recv_exact(sock, 2)
    if head is None:
        return None
    n = head[1]
    extra = b""
    if n & 0x80:
        extra = recv_exact(sock, n & 0x7F)
        n = int.from_bytes(extra, "big")
    body = recv_exact(sock, n)
    _, msgid, at = tlv(body, 0)
    tag, op, _ = tlv(body, at)
    return int.from_bytes(msgid, "big"), tag, op


class FakeDirectory:
    """Answers binds, the root DSE read, and every other search with `entries`
    (a function of the message id giving the encoded entries)."""

    def __init__(self, entries):
        self.entries = entries
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.uri = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(10)
                while (m := read_message(conn)) is not None:
                    msgid, tag, op = m
                    if tag == 0x60:  # bind
                        conn.sendall(done(msgid, 0x61))
                    elif tag == 0x63:  # search: the base is the first field
                        base = op[2:2 + op[1]]
                        if base == b"":
                            conn.sendall(entry(msgid, "", [attribute("namingContexts", ["dc=example,dc=com"])]))
                        else:
                            conn.sendall(b"".join(self.entries(msgid)))
                        conn.sendall(done(msgid))
                    elif tag == 0x42:  # unbind
                        break

    def close(self):
        self.stop.set()
        self.thread.join()
        self.listener.close()


def values_of(stdout):
    rows = [line.split("\t") for line in stdout.splitlines() if line.count("\t") == 2]
    return [tuple(r) for r in rows]


def test_values_arrive_exactly_as_the_server_sent_them(builddir, slapd):
    members = [f"user{i:05d}" for i in range(3000)]
    fake = FakeDirectory(lambda msgid: [
        entry(msgid, "cn=big,ou=Groups,dc=example,dc=com",
              [attribute("CN", ["big"]), attribute("gidNumber", ["5000"]), attribute("memberUid", members)]),
        entry(msgid, "cn=odd,ou=Groups,dc=example,dc=com",
              [attribute("cn", ["odd"]), attribute("empty", []), attribute("blob", [b"a\0b\xff", b""])]),
    ])
    try:
        code, out = run(builddir, slapd, "--values", uri=fake.uri, base="dc=example,dc=com", flt="(cn=*)")
    finally:
        fake.close()
    assert code == 0, out
    rows = values_of(out)
    big = [(n, v) for dn, n, v in rows if dn.startswith("cn=big")]
    assert big == [("CN", "big"), ("gidNumber", "5000")] + [("memberUid", m) for m in members]
    odd = [(n, v) for dn, n, v in rows if dn.startswith("cn=odd")]
    assert odd == [("cn", "odd"), ("blob", "a\\x00b\\xff"), ("blob", "")]


def test_an_entry_with_a_malformed_value_costs_no_other_entry(builddir, slapd):
    # The value claims more bytes than its set holds: the message itself is whole.
    broken = attribute("memberUid", None, raw_set=b"\x04\x7fxy")
    fake = FakeDirectory(lambda msgid: [
        entry(msgid, "cn=broken,ou=Groups,dc=example,dc=com", [attribute("cn", ["broken"]), broken]),
        entry(msgid, "cn=fine,ou=Groups,dc=example,dc=com",
              [attribute("cn", ["fine"]), attribute("memberUid", ["alice", "bob"])]),
    ])
    try:
        code, out = run(builddir, slapd, "--values", uri=fake.uri, base="dc=example,dc=com", flt="(cn=*)")
    finally:
        fake.close()
    assert code == 0, out
    assert "entries 2" in out, out
    rows = values_of(out)
    assert ("cn=broken,ou=Groups,dc=example,dc=com", "cn", "broken") in rows
    assert not any(dn.startswith("cn=broken") and n == "memberUid" and v for dn, n, v in rows)
    assert [(n, v) for dn, n, v in rows if dn.startswith("cn=fine")] == [
        ("cn", "fine"), ("memberUid", "alice"), ("memberUid", "bob")]
