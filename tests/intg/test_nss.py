"""getent and initgroups end to end: libnss_vigil.so.2 → vigil_nss → vigil_be →
a real slapd, with the cache between them (nss_wrapper for getent, the
dlopen caller for initgroups_dyn)."""

import concurrent.futures
import os
import signal
import subprocess
import time

import pytest

from fixtures import procs, wrappers
from fixtures.fake_responder import tool_env
from fixtures.slapd import Slapd
from fixtures.vigil import Vigil


def domain_lines(server, *more, uri=None):
    return [f"ldap_uri = {uri or server.uri}", f"ldap_search_base = {server.base_dn}", "min_id = 1000", *more]


class Client:
    """getent and nss_call against a running vigil."""

    def __init__(self, vigil, builddir, nss_call, tmp_path):
        self.vigil = vigil
        self.module = builddir / ".libs" / "libnss_vigil.so.2"
        self.nss_call_tool = nss_call
        base = dict(os.environ, VIGIL_PIPES_DIR=str(vigil.state_dir / "pipes"), VIGIL_PEER_UID=str(os.getuid()))
        self.env = wrappers.nss_wrapper_env(tmp_path / "nsswrap", self.module, base=base)
        self.plain_env = base

    def getent(self, db, key):
        out = subprocess.run(["getent", db, str(key)], env=self.env, capture_output=True, text=True, timeout=30)
        return out.returncode, out.stdout.strip()

    def initgroups(self, user, gid):
        env = tool_env(self.nss_call_tool, self.module, self.plain_env)
        res = wrappers.nss_call(self.nss_call_tool, self.module, "vigil", "initgroups", user, gid, env=env)
        return res.status, [int(g) for g in res.lines[0].split()] if res.lines and res.lines[0] else []


def start(tmp_path, builddir, server, *more, services=("nss",), uri=None):
    v = Vigil(tmp_path / "vigil", builddir, extra={"vigil": ["services = " + ", ".join(services)],
                                                   "domain/LDAP": domain_lines(server, *more, uri=uri)})
    v.start_supervised(services)
    return v


@pytest.fixture
def vigil(tmp_path, builddir, slapd):
    v = start(tmp_path, builddir, slapd)
    yield v
    v.stop_all()


@pytest.fixture
def client(vigil, builddir, nss_call, tmp_path):
    return Client(vigil, builddir, nss_call, tmp_path)


def test_getent_passwd_by_name_and_uid(client):
    assert client.getent("passwd", "alice") == (0, "alice:*:10001:10000:Alice Adams:/home/alice:/bin/bash")
    assert client.getent("passwd", 10002) == (0, "bob:*:10002:10000:Bob Baker:/home/bob:/bin/sh")
    assert client.getent("passwd", "dave") == (0, "dave:*:10004:10000::/home/dave:/bin/bash")


def test_getent_group_by_name_and_gid(client):
    assert client.getent("group", "developers") == (0, "developers:*:20001:alice,bob")
    assert client.getent("group", 20002) == (0, "admins:*:20002:alice")
    assert client.getent("group", "empty") == (0, "empty:*:20003:")


def test_initgroups(client):
    status, gids = client.initgroups("alice", 10000)
    assert status == "SUCCESS"
    assert gids[0] == 10000 and sorted(gids[1:]) == [20001, 20002]
    status, gids = client.initgroups("dave", 10000)
    assert status == "SUCCESS" and gids[0] == 10000 and sorted(gids[1:]) == [20004]


def test_unknown_names_root_and_wildcards_are_not_found(client):
    assert client.getent("passwd", "nosuchuser")[0] == 2
    assert client.getent("passwd", "*")[0] == 2
    assert client.getent("group", "nosuchgroup")[0] == 2
    # root comes from the files (nss_wrapper's passwd), never from vigil
    assert client.getent("passwd", "root") == (0, "root:x:0:0:root:/root:/bin/bash")


def test_filtered_users_are_not_served(tmp_path, builddir, slapd, nss_call):
    v = Vigil(tmp_path / "vigil", builddir, extra={"vigil": ["services = nss"], "nss": ["filter_users = root, bob"],
                                                   "domain/LDAP": domain_lines(slapd)})
    try:
        v.start_supervised(("nss",))
        c = Client(v, builddir, nss_call, tmp_path)
        assert c.getent("passwd", "bob")[0] == 2
        assert c.getent("passwd", 10002)[0] == 2
        assert c.getent("passwd", "alice")[0] == 0
    finally:
        v.stop_all()


def test_a_negative_answer_is_remembered(client, vigil):
    assert client.getent("passwd", "ghost")[0] == 2
    sent = int(vigil.domain_status()["searches_sent"])
    for _ in range(5):
        assert client.getent("passwd", "ghost")[0] == 2
    assert int(vigil.domain_status()["searches_sent"]) == sent


def test_a_negative_answer_goes_when_the_entry_is_cached_by_another_key(tmp_path, builddir, own_slapd, nss_call):
    """getpwuid(N) is "no such user" and remembered; the user with uid N is
    then added and looked up by name: the cache write says so, and
    getpwuid(N) answers at once, not after entry_negative_timeout."""
    server = own_slapd
    v = start(tmp_path, builddir, server)
    try:
        client = Client(v, builddir, nss_call, tmp_path)
        assert client.getent("passwd", "10077")[0] == 2
        sent = int(v.domain_status()["searches_sent"])
        assert client.getent("passwd", "10077")[0] == 2
        assert int(v.domain_status()["searches_sent"]) == sent, "the negative answer was not remembered"
        server.add_ldif(f"dn: uid=late,ou=People,{server.base_dn}\nobjectClass: posixAccount\n"
                        "objectClass: account\nuid: late\ncn: late\nuidNumber: 10077\ngidNumber: 10000\n"
                        "homeDirectory: /home/late\n")
        assert client.getent("passwd", "late")[0] == 0
        rc, line = client.getent("passwd", "10077")
        assert rc == 0 and line.startswith("late:"), line
    finally:
        v.stop_all()


def test_a_changed_shell_shows_after_expiry(client, vigil, slapd):
    slapd.add_ldif(f"dn: uid=shelly,ou=People,{slapd.base_dn}\nobjectClass: posixAccount\nobjectClass: account\n"
                   "uid: shelly\ncn: shelly\nuidNumber: 10501\ngidNumber: 10000\nhomeDirectory: /home/shelly\n"
                   "loginShell: /bin/sh\n")
    assert client.getent("passwd", "shelly")[1].endswith(":/bin/sh")
    slapd.modify_ldif(f"dn: uid=shelly,ou=People,{slapd.base_dn}\nchangetype: modify\nreplace: loginShell\n"
                      "loginShell: /bin/zsh\n")
    # Fresh: the cache answers, with the old shell.
    assert client.getent("passwd", "shelly")[1].endswith(":/bin/sh")
    assert vigil.vigilctl("cache-expire", "--user", "shelly").returncode == 0
    assert client.getent("passwd", "shelly")[1].endswith(":/bin/zsh")


def test_answers_kept_across_an_expiry_are_served_only_while_the_directory_agrees(tmp_path, builddir, own_slapd,
                                                                                   nss_call):
    """After cache-expire --everything vigil_nss keeps its formatted answers
    (only timestamps changed) and sends them again once the provider's
    refresh found the entries unchanged; a refresh that changed an entry
    drops them, and the new data is read from the cache."""
    server = own_slapd
    v = start(tmp_path, builddir, server)
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        dev = "developers:*:20001:alice,bob"
        assert c.getent("group", "developers") == (0, dev)
        assert c.getent("group", 20001) == (0, dev)
        assert c.getent("passwd", "alice")[1].startswith("alice:*:10001:")
        assert c.initgroups("alice", 10000) == ("SUCCESS", [10000, 20001, 20002])
        for _ in range(2):
            sent = int(v.domain_status()["searches_sent"])
            assert v.vigilctl("cache-expire", "--everything").returncode == 0
            # Expired: each lookup asks the directory again, and answers the same.
            assert c.getent("group", "developers") == (0, dev)
            assert c.getent("group", 20001) == (0, dev)
            assert c.initgroups("alice", 10000) == ("SUCCESS", [10000, 20001, 20002])
            assert int(v.domain_status()["searches_sent"]) >= sent + 3
            # Fresh again: from memory, no search.
            sent = int(v.domain_status()["searches_sent"])
            assert c.getent("group", "developers") == (0, dev)
            assert c.initgroups("alice", 10000) == ("SUCCESS", [10000, 20001, 20002])
            assert int(v.domain_status()["searches_sent"]) == sent
        # Changed in the directory: after the expiry the kept answers must not be sent.
        server.modify_ldif(f"dn: cn=developers,ou=Groups,{server.base_dn}\nchangetype: modify\n"
                           "add: memberUid\nmemberUid: carol\n")
        server.modify_ldif(f"dn: cn=admins,ou=Groups,{server.base_dn}\nchangetype: modify\n"
                           "delete: memberUid\nmemberUid: alice\n")
        assert c.getent("group", "developers") == (0, dev)  # fresh: the cache still answers
        assert v.vigilctl("cache-expire", "--everything").returncode == 0
        assert c.getent("group", "developers") == (0, "developers:*:20001:alice,bob,carol")
        assert c.getent("group", 20001) == (0, "developers:*:20001:alice,bob,carol")
        assert c.initgroups("alice", 10000) == ("SUCCESS", [10000, 20001])
        assert c.getent("group", "admins") == (0, "admins:*:20002:")
    finally:
        v.stop_all()


def test_an_initgroups_refresh_stores_what_changed_in_the_groups_and_nothing_stale(tmp_path, builddir, own_slapd,
                                                                                    nss_call):
    """initgroups refreshes every group that lists the user: a group whose
    directory entry changed is stored (and then served without a search),
    the unchanged ones keep their data. A group the user left loses the
    user; when the directory lists the user again, the group shows it even
    though its entry is byte for byte what the cached record was made from
    before."""
    server = own_slapd
    v = start(tmp_path, builddir, server)
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        assert c.initgroups("alice", 10000) == ("SUCCESS", [10000, 20001, 20002])
        assert c.getent("group", "developers") == (0, "developers:*:20001:alice,bob")
        assert c.getent("group", "admins") == (0, "admins:*:20002:alice")
        server.modify_ldif(f"dn: cn=developers,ou=Groups,{server.base_dn}\nchangetype: modify\n"
                           "add: memberUid\nmemberUid: carol\n")
        assert v.vigilctl("cache-expire", "--everything").returncode == 0
        assert c.initgroups("alice", 10000) == ("SUCCESS", [10000, 20001, 20002])
        sent = int(v.domain_status()["searches_sent"])
        # Refreshed by the initgroups answer: fresh, from the cache.
        assert c.getent("group", "developers") == (0, "developers:*:20001:alice,bob,carol")
        assert c.getent("group", "admins") == (0, "admins:*:20002:alice")
        assert int(v.domain_status()["searches_sent"]) == sent

        # alice leaves admins, then comes back: the entry is again what it was.
        admins = f"dn: cn=admins,ou=Groups,{server.base_dn}\nchangetype: modify\n"
        server.modify_ldif(admins + "delete: memberUid\nmemberUid: alice\n")
        assert v.vigilctl("cache-expire", "--everything").returncode == 0
        assert c.initgroups("alice", 10000) == ("SUCCESS", [10000, 20001])
        server.modify_ldif(admins + "add: memberUid\nmemberUid: alice\n")
        assert v.vigilctl("cache-expire", "--everything").returncode == 0
        assert c.getent("group", "admins") == (0, "admins:*:20002:alice")
        assert c.initgroups("alice", 10000) == ("SUCCESS", [10000, 20001, 20002])
    finally:
        v.stop_all()


def test_offline_serves_the_cache_and_unknown_names_fast(tmp_path, builddir, nss_call, own_slapd):
    server = own_slapd
    v = start(tmp_path, builddir, server, "offline_timeout = 60", "entry_cache_timeout = 1")
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        assert c.getent("passwd", "alice")[0] == 0
        assert c.getent("group", "developers")[0] == 0
        online_groups = c.initgroups("alice", 10000)
        assert online_groups[0] == "SUCCESS" and len(online_groups[1]) > 1
        time.sleep(1.5)  # let them expire: offline must still serve them
        server.stop()
        assert c.getent("passwd", "alice") == (0, "alice:*:10001:10000:Alice Adams:/home/alice:/bin/bash")
        # Expired by their timestamps, read only once the provider could not answer.
        assert c.getent("group", "developers") == (0, "developers:*:20001:alice,bob")
        assert c.initgroups("alice", 10000) == online_groups
        assert v.domain_status()["state"] == "offline"
        started = time.monotonic()
        assert c.getent("passwd", "neverseen")[0] == 2
        elapsed = time.monotonic() - started
        print(f"offline miss answered in {elapsed * 1000:.0f} ms")
    finally:
        v.stop_all()
        server.stop()


def test_a_killed_responder_is_restarted_and_lookups_work_again(client, vigil):
    assert client.getent("passwd", "alice")[0] == 0
    rows, _ = vigil.status()
    os.kill(rows["nss"]["pid"], signal.SIGKILL)
    # While it is down the module fails fast (UNAVAIL: getent says 2), never hangs.
    code, _ = client.getent("passwd", "carol")
    assert code in (0, 2)
    vigil.wait_status(lambda r: r["nss"]["state"] == "running" and r["nss"]["restarts"] == 1, "nss restarted")
    assert client.getent("passwd", "carol")[0] == 0


@pytest.fixture(scope="module")
def big_slapd(tmp_path_factory):
    """A server with sizelimit 500, a user in 600 groups and a group of 10,000 members."""
    server = Slapd(tmp_path_factory.mktemp("slapd-big-nss"), sizelimit=500, loglevel="none")
    server.load_standard_data()
    base = server.base_dn
    many = "".join(f"dn: cn=g{i:04d},ou=Groups,{base}\nobjectClass: posixGroup\ncn: g{i:04d}\n"
                   f"gidNumber: {40000 + i}\nmemberUid: joiner\nmemberUid: joiner2\n\n" for i in range(600))
    members = "".join(f"memberUid: m{i:05d}\n" for i in range(10000))
    big = f"dn: cn=crowd,ou=Groups,{base}\nobjectClass: posixGroup\ncn: crowd\ngidNumber: 39999\n{members}\n"
    joiner = (f"dn: uid=joiner,ou=People,{base}\nobjectClass: posixAccount\nobjectClass: account\nuid: joiner\n"
              "cn: joiner\nuidNumber: 10600\ngidNumber: 10000\nhomeDirectory: /home/joiner\n\n"
              f"dn: uid=joiner2,ou=People,{base}\nobjectClass: posixAccount\nobjectClass: account\nuid: joiner2\n"
              "cn: joiner2\nuidNumber: 10601\ngidNumber: 10000\nhomeDirectory: /home/joiner2\n\n")
    server.load_ldif(many + big + joiner)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("transport", ["ldap", "ldaps", "starttls"])
def test_large_answers_resolve_completely_past_the_size_limit(tmp_path, builddir, big_slapd, nss_call, transport):
    """Paged answers of 600 groups and a 10,000-member entry, on a plain
    connection (read through vigil_be's readahead buffer, ldap_connect.cpp)
    and through TLS (which reads on its own)."""
    tls = [f"ldap_tls_cacert = {big_slapd.ca_cert}", f"ldap_id_use_start_tls = {transport == 'starttls'}"]
    v = start(tmp_path, builddir, big_slapd, "ldap_page_size = 200", *tls,
              uri=big_slapd.ldaps_uri if transport == "ldaps" else big_slapd.uri)
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        status, gids = c.initgroups("joiner", 10000)
        assert status == "SUCCESS"
        assert gids[0] == 10000 and sorted(gids[1:]) == [40000 + i for i in range(600)]
        code, line = c.getent("group", "crowd")
        assert code == 0, v.log("vigil_be_LDAP")[-3000:]
        name, _, gid, members = line.split(":")
        assert (name, gid) == ("crowd", "39999")
        assert members.split(",") == [f"m{i:05d}" for i in range(10000)]
    finally:
        v.stop_all()


def test_answers_of_many_pages_asked_at_once_all_resolve(tmp_path, builddir, big_slapd, nss_call):
    # OpenLDAP keeps one paged search per connection (a second one makes the
    # first's cookie invalid): two users' initgroups of 3 pages each, and the
    # 10,000-member group, asked together on one connection, all complete.
    v = start(tmp_path, builddir, big_slapd, "ldap_page_size = 200")
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        for _ in range(3):
            v.vigilctl("cache-expire", "--everything", check=True)
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                asked = [pool.submit(c.initgroups, name, 10000) for name in ("joiner", "joiner2", "joiner")]
                crowd = pool.submit(c.getent, "group", "crowd")
                for f in asked:
                    status, gids = f.result()
                    assert status == "SUCCESS"
                    assert sorted(gids[1:]) == [40000 + i for i in range(600)]
                code, line = crowd.result()
                assert code == 0 and line.startswith("crowd:*:39999:m00000,")
        assert "cookie is invalid" not in v.log("vigil_be_LDAP")
    finally:
        v.stop_all()


def test_a_name_that_is_not_utf8_is_not_found_and_harms_nobody(client, nss_call):
    env = tool_env(nss_call, client.module, client.plain_env)
    res = subprocess.run([str(nss_call), str(client.module), "vigil", "getpwnam", b"\xff\xfe"], env=env,
                         capture_output=True, timeout=30)
    assert res.stdout.split()[0] == b"NOTFOUND", res
    assert client.getent("passwd", "alice")[0] == 0


def nss_status(client, op, key):
    env = tool_env(client.nss_call_tool, client.module, client.plain_env)
    return wrappers.nss_call(client.nss_call_tool, client.module, "vigil", op, key, env=env).status


def test_an_offline_miss_is_unavailable_and_never_remembered(tmp_path, builddir, nss_call, own_slapd):
    server = own_slapd
    v = start(tmp_path, builddir, server, "offline_timeout = 1", "offline_timeout_max = 1")
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        assert nss_status(c, "getpwnam", "alice") == "SUCCESS"
        server.stop()
        # carol exists in the directory but is not cached: "unavailable", not "no such user".
        assert nss_status(c, "getpwnam", "carol") == "UNAVAIL"
        server.start()
        procs.wait_until(lambda: v.domain_status().get("state") == "online" or
                         nss_status(c, "getpwnam", "carol") == "SUCCESS", 20, "carol once the directory is back")
        assert nss_status(c, "getpwnam", "carol") == "SUCCESS"
    finally:
        v.stop_all()
        server.stop()


def test_an_expiring_entry_is_served_at_once_and_refreshed_behind(tmp_path, builddir, slapd, nss_call):
    slapd.add_ldif(f"dn: uid=eve,ou=People,{slapd.base_dn}\nobjectClass: posixAccount\nobjectClass: account\n"
                   "uid: eve\ncn: eve\nuidNumber: 10601\ngidNumber: 10000\nhomeDirectory: /home/eve\n"
                   "loginShell: /bin/sh\n")
    # Expiring from 2 s (50% of 4 s), expired only at 4 s.
    v = start(tmp_path, builddir, slapd, "entry_cache_timeout = 4")
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        assert c.getent("passwd", "eve")[1].endswith(":/bin/sh")
        slapd.modify_ldif(f"dn: uid=eve,ou=People,{slapd.base_dn}\nchangetype: modify\nreplace: loginShell\n"
                          "loginShell: /bin/zsh\n")
        time.sleep(2.2)
        sent = int(v.domain_status()["searches_sent"])
        # Expiring: the old answer now, and a refresh behind it.
        assert c.getent("passwd", "eve")[1].endswith(":/bin/sh")
        procs.wait_until(lambda: c.getent("passwd", "eve")[1].endswith(":/bin/zsh"), 10,
                         "the refreshed shell")
        assert int(v.domain_status()["searches_sent"]) > sent
    finally:
        v.stop_all()


def test_filtered_groups_are_left_out_of_initgroups_too(tmp_path, builddir, slapd, nss_call):
    v = Vigil(tmp_path / "vigil", builddir, extra={"vigil": ["services = nss"],
                                                   "nss": ["filter_groups = root, admins"],
                                                   "domain/LDAP": domain_lines(slapd)})
    try:
        v.start_supervised(("nss",))
        c = Client(v, builddir, nss_call, tmp_path)
        assert c.getent("group", "admins")[0] == 2
        status, gids = c.initgroups("alice", 10000)
        assert status == "SUCCESS" and gids[0] == 10000 and sorted(gids[1:]) == [20001]
    finally:
        v.stop_all()


def test_an_expiring_entry_asked_by_50_clients_by_name_and_uid_costs_one_search(tmp_path, builddir, own_slapd,
                                                                                   nss_call):
    """One background refresh per object, whichever key found it and however
    many ask: the directory is frozen while 50 clients ask (half by name, half
    by uid), so every one of them arrives while the refresh is in flight."""
    server = own_slapd
    v = start(tmp_path, builddir, server, "entry_cache_timeout = 4")
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        line = "alice:*:10001:10000:Alice Adams:/home/alice:/bin/bash"
        assert c.getent("passwd", "alice") == (0, line)
        assert c.getent("passwd", 10001) == (0, line)
        time.sleep(2.2)  # expiring from 2 s (50% of 4 s), expired at 4 s
        sent = int(v.domain_status()["searches_sent"])
        server.freeze()
        try:
            clients = [subprocess.Popen(["getent", "passwd", "alice" if i % 2 else "10001"], env=c.env,
                                        stdout=subprocess.PIPE, text=True) for i in range(50)]
            answers = [p.communicate(timeout=30)[0].strip() for p in clients]
        finally:
            server.thaw()
        # Served at once from what the cache held, while the refresh waits.
        assert answers == [line] * 50
        procs.wait_until(lambda: int(v.domain_status()["searches_sent"]) > sent, 10, "the refresh search")
        time.sleep(0.5)
        assert int(v.domain_status()["searches_sent"]) == sent + 1
    finally:
        v.stop_all()


def enumerate_db(client, db):
    env = tool_env(client.nss_call_tool, client.module, client.plain_env)
    res = wrappers.nss_call(client.nss_call_tool, client.module, "vigil", "get%sent" % db, env=env)
    return res.status, res.lines


def test_enumeration_lists_the_directory_and_follows_it(tmp_path, builddir, own_slapd, nss_call):
    server = own_slapd
    v = start(tmp_path, builddir, server, "enumerate = true", "ldap_enumeration_refresh_timeout = 2")
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        procs.wait_until(lambda: int(v.domain_status().get("enumerations", "0").split()[0]) >= 1, 20,
                         "the first enumeration")
        # Exactly the directory's users and groups, in id order, each as getpwnam/getgrnam give it.
        status, lines = enumerate_db(c, "pw")
        names = [line.split(":")[0] for line in lines]
        assert names == ["alice", "bob", "carol", "dave", "expired"], (status, lines)
        assert lines == [c.getent("passwd", n)[1] for n in names]
        status, lines = enumerate_db(c, "gr")
        names = [line.split(":")[0] for line in lines]
        assert names == ["users", "developers", "admins", "empty", "staff"], (status, lines)
        assert lines == [c.getent("group", n)[1] for n in names]

        # A user added and one deleted in the directory: the next enumerations follow.
        server.add_ldif(f"dn: uid=newbie,ou=People,{server.base_dn}\nobjectClass: posixAccount\n"
                        "objectClass: account\nuid: newbie\ncn: newbie\nuidNumber: 10700\ngidNumber: 10000\n"
                        "homeDirectory: /home/newbie\nloginShell: /bin/sh\n")
        server.delete(f"uid=dave,ou=People,{server.base_dn}")

        def followed():
            return [line.split(":")[0] for line in enumerate_db(c, "pw")[1]] == \
                ["alice", "bob", "carol", "expired", "newbie"]
        procs.wait_until(followed, 20, "the enumeration to follow the directory")
        assert c.getent("passwd", "dave")[0] == 2
        # The directory down: the enumeration still lists what is cached.
        server.stop()
        assert [line.split(":")[0] for line in enumerate_db(c, "pw")[1]] == \
            ["alice", "bob", "carol", "expired", "newbie"]
    finally:
        v.stop_all()


def test_without_enumerate_nothing_is_listed_at_once(client):
    assert client.getent("passwd", "alice")[0] == 0  # cached, yet not listed
    assert enumerate_db(client, "pw") == ("NOTFOUND", [])
    assert enumerate_db(client, "gr") == ("NOTFOUND", [])


def test_a_server_that_stops_answering_is_found_out_by_the_connection_check(tmp_path, builddir, own_slapd,
                                                                             nss_call):
    """No user lookup pays for finding out: the idle connection is checked,
    the domain goes offline, and then an uncached name is unavailable without
    a wait and cached names are served."""
    server = own_slapd
    v = start(tmp_path, builddir, server, "ldap_connection_check_interval = 1", "ldap_opt_timeout = 1",
              "offline_timeout = 1", "offline_timeout_max = 1")
    try:
        c = Client(v, builddir, nss_call, tmp_path)
        assert c.getent("passwd", "alice")[0] == 0
        sent = int(v.domain_status()["searches_sent"])
        server.freeze()
        try:
            procs.wait_until(lambda: v.domain_status().get("state") == "offline", 15, "the domain to go offline")
            status = v.domain_status()
            assert "the connection check" in status["reason"], status
            assert int(status["searches_sent"]) == sent  # found out without a lookup
            env = tool_env(c.nss_call_tool, c.module, c.plain_env)
            res = wrappers.nss_call(c.nss_call_tool, c.module, "vigil", "getpwnam", "neverseen", env=env)
            assert res.status == "UNAVAIL", res
            assert c.getent("passwd", "alice") == (0, "alice:*:10001:10000:Alice Adams:/home/alice:/bin/bash")
        finally:
            server.thaw()
        procs.wait_until(lambda: v.domain_status().get("state") == "online", 20, "the domain back online")
        assert c.getent("passwd", "carol")[0] == 0
    finally:
        v.stop_all()
