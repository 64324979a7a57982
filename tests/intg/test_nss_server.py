"""vigil_nss's side of the client protocol, spoken raw over its socket
(no client module in between, so a test can do what the module never
does): requests sent ahead are answered in order, one at a time; a quiet
connection is closed after client_idle_timeout while a busy one stays; a
client that does not read its answers loses its connection, not the
responder's memory or another client's service.
"""

import socket
import struct
import time

import pytest

from fixtures import procs
from fixtures.fake_responder import C, STATUS, recv_exact, sstr
from fixtures.vigil import Vigil

IDLE = 10  # the smallest client_idle_timeout there is
BIG_MEMBERS = 20000  # a getgrnam answer of ~240 KB: more than a socket buffer holds


def header(cmd, length, version=1):
    return struct.pack("<IIII", 16 + length, cmd, 0, version)


def hello():
    return header(C["VIGIL_CMD_HELLO"], 8, version=0) + struct.pack("<II", 1, 1)


def getpwnam(name):
    body = sstr(name)
    return header(C["VIGIL_CMD_GETPWNAM"], len(body)) + body


def getgrnam(name):
    body = sstr(name)
    return header(C["VIGIL_CMD_GETGRNAM"], len(body)) + body


def read_reply(sock):
    """(command, status, body); None when the responder closed the connection."""
    head = recv_exact(sock, 16)
    if head is None:
        return None
    length, cmd, status, _ = struct.unpack("<IIII", head)
    body = recv_exact(sock, length - 16)
    return None if body is None else (cmd, status, body)


def closed_by_peer(sock, timeout):
    """True once the responder closed the connection (EOF), False if it did
    not within timeout; a reply that arrives meanwhile is a test failure."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True
    assert data == b"", f"unexpected data from vigil_nss: {data!r}"
    return True


@pytest.fixture
def served(tmp_path, builddir, own_slapd):
    """vigil against a slapd that also holds a group of BIG_MEMBERS members;
    returns (vigil, connect)."""
    members = "".join(f"memberUid: m{i:05d}\n" for i in range(BIG_MEMBERS))
    own_slapd.add_ldif(f"dn: cn=huge,ou=Groups,{own_slapd.base_dn}\nobjectClass: posixGroup\ncn: huge\n"
                       f"gidNumber: 29999\n{members}", timeout=60)
    v = Vigil(tmp_path / "vigil", builddir, extra={
        "vigil": ["services = nss"],
        "nss": [f"client_idle_timeout = {IDLE}"],
        "domain/LDAP": [f"ldap_uri = {own_slapd.uri}", f"ldap_search_base = {own_slapd.base_dn}",
                        "min_id = 1000"]})
    opened = []

    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(str(v.state_dir / "pipes" / "nss"))
        opened.append(s)
        return s

    try:
        v.start_supervised(("nss",))
        yield v, connect
    finally:
        for s in opened:
            s.close()
        v.stop_all()


def test_requests_sent_ahead_are_answered_in_order(served):
    v, connect = served
    s = connect()
    names = ["alice", "nosuch", "bob", "alice", "carol", "root"]
    s.sendall(hello() + b"".join(getpwnam(n) for n in names))
    cmd, status, _ = read_reply(s)
    assert (cmd, status) == (C["VIGIL_CMD_HELLO"], STATUS["OK"])
    got = []
    for _ in names:
        cmd, status, body = read_reply(s)
        assert cmd == C["VIGIL_CMD_GETPWNAM"]
        got.append((status, b"alice" in body, b"bob" in body, b"carol" in body))
    ok, nf = STATUS["OK"], STATUS["NOTFOUND"]
    assert got == [(ok, True, False, False), (nf, False, False, False), (ok, False, True, False),
                   (ok, True, False, False), (ok, False, False, True), (nf, False, False, False)]
    # Again from the cache (the in-memory answers), split across writes.
    batch = b"".join(getpwnam(n) for n in names)
    s.sendall(batch[:7])
    time.sleep(0.1)
    s.sendall(batch[7:])
    again = [read_reply(s)[1] for _ in names]
    assert again == [ok, nf, ok, ok, ok, nf]


def test_quiet_connections_close_after_client_idle_timeout_busy_ones_stay(served):
    v, connect = served
    quiet, busy = connect(), connect()
    for s in (quiet, busy):
        s.sendall(hello())
        assert read_reply(s)[1] == STATUS["OK"]
    started = time.monotonic()
    # busy asks every 2 s, for longer than the timeout: each request counts.
    while time.monotonic() - started < IDLE + 4:
        busy.sendall(getpwnam("alice"))
        assert read_reply(busy)[1] == STATUS["OK"], "the busy connection was closed"
        time.sleep(2)
    assert closed_by_peer(quiet, 5), f"a connection quiet for {IDLE + 4} s is still open"
    assert not closed_by_peer(busy, 0.5)
    busy.sendall(getpwnam("bob"))
    assert read_reply(busy)[1] == STATUS["OK"]
    log = (v.log_dir / "vigil_nss.log").read_text()
    assert ": idle" in log, log[-2000:]


def test_a_client_that_does_not_read_its_answers_loses_its_connection_only(served):
    v, connect = served
    s = connect()
    # A small receive buffer, so that the second answer cannot fit anywhere.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(hello())
    assert read_reply(s)[1] == STATUS["OK"]
    s.sendall(getgrnam("huge") * 4)
    # The others are served meanwhile, and after.
    other = connect()
    other.sendall(hello() + getgrnam("huge"))
    assert read_reply(other)[1] == STATUS["OK"]
    cmd, status, body = read_reply(other)
    assert status == STATUS["OK"] and body.count(b"m1") >= 10000
    assert procs.wait_until(lambda: "does not read its answer" in (v.log_dir / "vigil_nss.log").read_text(),
                            IDLE + 10, "vigil_nss to drop the client that does not read")
    # What the socket held is still readable, then the end: never a reply cut
    # short and followed by another.
    s.settimeout(10)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    assert len(data) < 4 * (16 + len(body)), "every answer was delivered: nothing was held up"
    rows, _ = v.status()
    assert rows["nss"]["restarts"] == 0
    # (other has been quiet as long: a new connection)
    again = connect()
    again.sendall(hello() + getpwnam("alice"))
    assert [read_reply(again)[1] for _ in range(2)] == [STATUS["OK"]] * 2
