"""Concurrency and faults end to end: libnss_vigil.so.2 (dlopened by
tests/tools/nss_stress, many threads and processes) → vigil_nss → vigil_be →
a real slapd, with every answer checked against the directory's data.

- many concurrent lookups, from a cold cache and while the whole cache is
  expired under them, never get a wrong answer;
- vigil_nss killed while a lookup waits for the directory: the caller gets
  UNAVAIL at once (not after its timeout), vigild restarts vigil_nss, and
  lookups work again;
- vigil_be killed in the middle of a search or of writing a large answer:
  the caller gets the cached entry (or UNAVAIL), vigild restarts vigil_be,
  and the cache holds complete, correct entries — a group is the old one or
  the new one, never a part of either.

VIGIL_STRESS_LOOKUPS is the number of lookups each thread of the big runs
makes: 10,000 by default, 4,000 when the build is sanitized (ASan makes every
lookup several times slower). There are always 8 threads or more
(VIGIL_STRESS_THREADS may ask for more).
"""

import contextlib
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fixtures import procs, wrappers
from fixtures.fake_responder import tool_env
from fixtures.slapd import Slapd, parse_ldif, standard_ldif
from fixtures.vigil import Vigil

THREADS = max(8, int(os.environ.get("VIGIL_STRESS_THREADS") or 8))
# The client module's own bound on one call (client_common.h).
CLIENT_TIMEOUT = 10.0


# --- the directory and what it holds ------------------------------------------

def extra_ldif(base, users=300, groups=60):
    """More users and groups than the standard data: each user's primary group
    is `users` or one of the new groups; memberships of every size, from
    none to every new user (a reply past the 1,024-byte first buffer)."""
    out = []
    for i in range(users):
        gid = 10000 if i % 3 else 31000 + i % groups
        gecos = f"gecos: Stress User {i}\n" if i % 2 else ""
        out.append(f"dn: uid=s{i:04d},ou=People,{base}\nobjectClass: posixAccount\nobjectClass: account\n"
                   f"uid: s{i:04d}\ncn: s{i:04d}\nuidNumber: {12000 + i}\ngidNumber: {gid}\n{gecos}"
                   f"homeDirectory: /home/s{i:04d}\nloginShell: /bin/{'sh' if i % 5 else 'bash'}\n")
    for j in range(groups):
        if j == 0:
            members = range(users)
        else:
            members = [i for i in range(users) if (i * 7 + j * 13) % (j + 3) == 0]
        lines = "".join(f"memberUid: s{i:04d}\n" for i in members)
        out.append(f"dn: cn=sg{j:02d},ou=Groups,{base}\nobjectClass: posixGroup\ncn: sg{j:02d}\n"
                   f"gidNumber: {31000 + j}\n{lines}")
    return "\n".join(out) + "\n"


def expectations(entries, missing=20):
    """The nss_stress expectation lines for these LDIF entries: every user by
    name and uid, every group by name and gid, every user's initgroups, and
    names and ids that do not exist."""
    users = [e for e in entries if "posixAccount" in e.get("objectClass", [])]
    groups = [e for e in entries if "posixGroup" in e.get("objectClass", [])]
    lines = []
    for u in users:
        name = u["uid"][0]
        lines.append("passwd\t" + ":".join([name, "*", u["uidNumber"][0], u["gidNumber"][0],
                                            u.get("gecos", [""])[0], u["homeDirectory"][0],
                                            u.get("loginShell", [""])[0]]))
        primary = int(u["gidNumber"][0])
        member_of = {int(g["gidNumber"][0]) for g in groups if name in g.get("memberUid", [])}
        gids = [primary] + sorted(member_of - {primary})
        lines.append(f"initgroups\t{name}\t{primary}\t{' '.join(map(str, gids))}")
    for g in groups:
        lines.append(group_line(g["cn"][0], g["gidNumber"][0], g.get("memberUid", [])))
    for i in range(missing):
        lines += [f"missing-user\tnosuch{i}", f"missing-uid\t{19000 + i}",
                  f"missing-group\tnosuchgroup{i}", f"missing-gid\t{29000 + i}",
                  f"missing-initgroups\tnosuch{i}\t10000"]
    return lines


def group_line(name, gid, members):
    # Sorted bytewise, as nss_stress sorts the answer's members.
    return f"group\t{name}:*:{gid}:{','.join(sorted(members, key=lambda m: m.encode()))}"


# --- the tool -----------------------------------------------------------------

class StressRun:
    """One nss_stress process running in the background."""

    def __init__(self, proc, out, argv):
        self.proc, self.out, self.argv = proc, out, argv

    def wait(self, timeout):
        """Wait for the end (bounded) and parse the output."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            procs.stop(self.proc)
            raise AssertionError(f"nss_stress did not finish within {timeout} s: a lookup hangs?\n"
                                 f"{procs.log_tail(self.out)}") from None
        return StressResult(self.proc.returncode, self.out.read_text(errors="replace"), self.argv)

    def finish(self, timeout):
        """Ask it to stop after the lookups under way (SIGTERM); parse its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def stop(self):
        procs.stop(self.proc)


class StressResult:
    def __init__(self, returncode, text, argv):
        self.returncode, self.text = returncode, text
        self.total, self.ops, self.wrong, self.lookups = None, {}, [], []
        for line in text.splitlines():
            if line.startswith("total "):
                self.total = self._pairs(line.split()[1:])
            elif line.startswith("op="):
                pairs = self._pairs(line.split()[1:])
                self.ops[line.split()[0][3:]] = pairs
            elif line.startswith("wrong: "):
                self.wrong.append(line)
            elif line.startswith("lookup "):
                _, op, key, status, err, ms, answer = line.split()
                self.lookups.append((op, key, status, err, int(ms), int(answer)))
        if self.total is None or returncode not in (0, 1):
            raise AssertionError(f"{' '.join(map(str, argv))}: exit {returncode}\n{text[-4000:]}")

    @staticmethod
    def _pairs(items):
        return {k: int(v) for k, v in (item.split("=", 1) for item in items)}

    def __getitem__(self, key):
        return self.total[key]

    def __repr__(self):
        lines = [l for l in self.text.splitlines() if not l.startswith("lookup ")]
        return "\n".join(lines[:40])


class Stress:
    """nss_stress against a running vigil."""

    def __init__(self, tool, vigil, builddir, workdir):
        self.tool = tool
        self.module = Path(builddir) / ".libs" / "libnss_vigil.so.2"
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        base = dict(os.environ, VIGIL_PIPES_DIR=str(vigil.state_dir / "pipes"), VIGIL_PEER_UID=str(os.getuid()))
        base.pop("_VIGIL_LOOPS", None)
        self.env = tool_env(tool, self.module, base)
        self.runs = 0
        sanitized = bool(wrappers.sanitizer_runtimes(tool, self.module))
        # Lookups per thread in the big runs.
        self.lookups = int(os.environ.get("VIGIL_STRESS_LOOKUPS") or (4000 if sanitized else 10000))

    def start(self, expect, *queries, threads=THREADS, lookups=None, nprocs=1, seconds=None,
              verbose=False, seed=None):
        self.runs += 1
        lookups = lookups or self.lookups
        path = self.workdir / f"expect-{self.runs}.txt"
        path.write_text("".join(line + "\n" for line in expect))
        argv = [self.tool, "--threads", threads, "--lookups", lookups, "--procs", nprocs,
                "--seed", seed if seed is not None else random.randrange(1 << 30)]
        if seconds is not None:
            argv += ["--seconds", seconds]
        if verbose:
            argv.append("--verbose")
        argv += [self.module, "vigil", path, *queries]
        out = self.workdir / f"stress-{self.runs}.out"
        return StressRun(procs.spawn(argv, env=self.env, log_path=out), out, argv)

    def run(self, expect, *queries, timeout=120, **kw):
        return self.start(expect, *queries, **kw).wait(timeout)

    def call(self, op, *args, timeout=30):
        """One nss_call-like lookup through the same module: (status, errno, seconds)."""
        started = time.monotonic()
        res = self.run(expect_for_call(op, *args), f"{op}={args[0]}", threads=1, lookups=1,
                       verbose=True, timeout=timeout)
        _, _, status, err, _, _ = res.lookups[0]
        return status, err, time.monotonic() - started


def expect_for_call(op, key, gid=10000):
    """An expectation that nss_stress accepts for a single call of op on key
    (the answer is not checked: the caller looks at the status)."""
    kind = {"getpwnam": "missing-user", "getpwuid": "missing-uid", "getgrnam": "missing-group",
            "getgrgid": "missing-gid"}.get(op)
    return [f"{kind}\t{key}"] if kind else [f"missing-initgroups\t{key}\t{gid}"]


@pytest.fixture(scope="session")
def stress_tool(builddir):
    path = Path(os.environ.get("VIGIL_NSS_STRESS") or builddir / "tests" / "tools" / "nss_stress")
    if not os.access(path, os.X_OK):
        pytest.fail(f"nss_stress not found at {path}: build it (make check) or set VIGIL_NSS_STRESS",
                    pytrace=False)
    return path


# --- vigil ----------------------------------------------------------------------

@contextlib.contextmanager
def running_vigil(workdir, builddir, server, *domain, vigil_extra=(), nss_extra=()):
    """vigild with vigil_be and vigil_nss against `server`; stopped at the end
    (and a sanitizer report from any of them fails the test)."""
    v = Vigil(workdir, builddir, extra={
        "vigil": ["services = nss", *vigil_extra],
        "nss": list(nss_extra),
        "domain/LDAP": [f"ldap_uri = {server.uri}", f"ldap_search_base = {server.base_dn}", "min_id = 1000",
                        *domain]})
    try:
        v.start_supervised(("nss",))
        yield v
    finally:
        v.stop_all()


def searches_sent(vigil):
    return int(vigil.domain_status().get("searches_sent", -1))


def assert_clean(res, what):
    """Every answer right: no wrong one, and no failure either."""
    assert res["lookups"] > 0, res
    assert res["wrong"] == 0, f"{what}: wrong answers\n{res}"
    assert res["unavail"] == res["tryagain"] == res["other"] == 0, f"{what}: failed lookups\n{res}"
    assert res["right"] == res["lookups"], res


# --- 1. many threads, many processes, cold and expired caches ---------------------

@pytest.fixture(scope="module")
def stress_slapd(tmp_path_factory):
    """The standard directory plus 300 users and 60 groups; returns (server,
    expectation lines)."""
    server = Slapd(tmp_path_factory.mktemp("slapd-stress"), tls=False, loglevel="none")
    try:
        text = standard_ldif(server.schema, server.suffix) + "\n" + extra_ldif(server.base_dn)
        server.load_ldif(text)
        server.start()
        yield server, expectations(parse_ldif(text))
    finally:
        server.stop()


def test_the_stress_tool_reports_a_wrong_answer_and_a_missing_entry(tmp_path, builddir, stress_slapd, stress_tool):
    """The checks below can fail: an expectation that differs from the
    directory by one shell, or a user who exists but is expected missing, is
    reported as wrong, with what was answered."""
    server, expect = stress_slapd
    lied = [line.replace("/home/alice:/bin/bash", "/home/alice:/bin/zsh") for line in expect
            if not line.startswith("passwd\tbob:")]
    lied.append("missing-user\tbob")
    with running_vigil(tmp_path / "vigil", builddir, server) as v:
        stress = Stress(stress_tool, v, builddir, tmp_path / "stress")
        res = stress.run(lied, "getpwnam=alice", "getpwuid=10001", "getpwnam=bob", threads=8, lookups=3)
        assert res.returncode == 1 and res["wrong"] == 24, res
        assert res.ops["getpwnam"]["wrong"] == 16 and res.ops["getpwuid"]["wrong"] == 8
        assert "wrong: getpwnam alice: SUCCESS 'alice:*:10001:10000:Alice Adams:/home/alice:/bin/bash', " \
               "expected SUCCESS 'alice:*:10001:10000:Alice Adams:/home/alice:/bin/zsh'" in res.wrong
        assert "wrong: getpwnam bob: SUCCESS 'bob:*:10002:10000:Bob Baker:/home/bob:/bin/sh', " \
               "expected NOTFOUND" in res.wrong


@pytest.mark.heavy
def test_many_threads_and_processes_get_right_answers_cold_and_while_the_cache_expires(
        tmp_path, builddir, stress_slapd, stress_tool):
    server, expect = stress_slapd
    with running_vigil(tmp_path / "vigil", builddir, server) as v:
        stress = Stress(stress_tool, v, builddir, tmp_path / "stress")
        assert searches_sent(v) == 0

        # Cold: an empty cache, and every thread of four processes (four
        # connections) starts at once, so that the first lookups reach the
        # provider and the directory together, many for the same object.
        cold = stress.run(expect, nprocs=4, lookups=max(stress.lookups // 20, 100))
        print(f"cold start: {cold}")
        assert_clean(cold, "cold start")
        cold_searches = searches_sent(v)
        assert cold_searches > 0

        # Warm: 8 threads x 10,000 in one process, all through one
        # connection under the module's lock.
        warm = stress.run(expect)
        print(f"warm: {warm}")
        assert_clean(warm, "warm")
        assert warm["lookups"] == THREADS * stress.lookups

        # Every entry expired at once, again and again, under the running
        # threads: lookups then wait for the provider, many for one object.
        run = stress.start(expect, nprocs=2, lookups=stress.lookups // 2)
        expiries = 0
        try:
            before = searches_sent(v)
            deadline = time.monotonic() + 120
            while run.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.3)
                assert v.vigilctl("cache-expire", "--everything").returncode == 0
                expiries += 1
            expired = run.wait(10)
        finally:
            run.stop()
        print(f"{expiries} expiries: {expired}")
        assert_clean(expired, "while the cache expires")
        assert expiries >= 3 and searches_sent(v) > before, "the expiry made no lookup go to the directory"


# --- 2. vigil_nss killed while a lookup waits -------------------------------------

def standard_expectations(server):
    return expectations(parse_ldif(standard_ldif(server.schema, server.suffix)))


def test_a_responder_killed_mid_lookup_answers_unavail_at_once_and_comes_back(tmp_path, builddir, own_slapd,
                                                                              stress_tool):
    server = own_slapd
    expect = standard_expectations(server)
    # The provider waits for the directory longer than vigil_nss waits for the
    # provider (8 s) and than the client waits for vigil_nss (10 s): only the
    # kill can answer these lookups within seconds.
    with running_vigil(tmp_path / "vigil", builddir, server, "ldap_search_timeout = 60",
                       "ldap_network_timeout = 60", "ldap_opt_timeout = 60") as v:
        stress = Stress(stress_tool, v, builddir, tmp_path / "stress")
        assert stress.call("getpwnam", "alice")[0] == "SUCCESS"
        server.freeze()
        sent = searches_sent(v)
        # One caller whose connection is kept alive from a first, cached
        # answer, and one with a new connection; both wait for the directory.
        kept = stress.start(expect, "getpwnam=alice", "getpwnam=carol", threads=1, lookups=2, verbose=True)
        fresh = stress.start(expect, "getgrnam=staff", threads=1, lookups=1, verbose=True)
        try:
            procs.wait_until(lambda: searches_sent(v) >= sent + 2, 15, "both lookups to reach the frozen directory")
            time.sleep(0.3)
            assert kept.proc.poll() is None and fresh.proc.poll() is None, "the lookups did not wait"
            rows, _ = v.status()
            os.kill(rows["nss"]["pid"], signal.SIGKILL)
            killed = time.monotonic()
            kept_res, fresh_res = kept.wait(CLIENT_TIMEOUT + 10), fresh.wait(CLIENT_TIMEOUT + 10)
            waited = time.monotonic() - killed
        finally:
            kept.stop()
            fresh.stop()
        print(f"answered {waited:.2f} s after the kill: {kept_res.lookups} {fresh_res.lookups}")
        assert [lk[:3] for lk in kept_res.lookups] == [("getpwnam", "alice", "SUCCESS"),
                                                      ("getpwnam", "carol", "UNAVAIL")]
        assert [lk[:3] for lk in fresh_res.lookups] == [("getgrnam", "staff", "UNAVAIL")]
        # The kill answered them (the connection broke), not a timeout.
        assert kept_res.lookups[1][3] != "ETIMEDOUT" and fresh_res.lookups[0][3] != "ETIMEDOUT"
        assert waited < CLIENT_TIMEOUT / 2, f"the callers waited {waited:.1f} s after vigil_nss died"

        rows = v.wait_status(lambda r: r["nss"]["state"] == "running" and r["nss"]["restarts"] == 1,
                             "vigil_nss restarted")
        server.thaw()
        # Everything works again, through the new vigil_nss; the provider
        # answered the orphaned lookups without harm.
        assert_clean(stress.run(expect, lookups=200), "after the restart")
        rows, _ = v.status()
        assert rows["domain/LDAP"]["restarts"] == 0 and rows["domain/LDAP"]["state"] == "running"


# --- 3. vigil_be killed mid-search, mid-write ---------------------------------------

CROWD_GID = 39999
JOINER_GROUPS = 300


def crowd_members(version):
    """The big group's members: version 0 and 1 overlap by half."""
    first = 0 if version == 0 else 1500
    return [f"m{i:05d}" for i in range(first, first + 3000)]


def joiner_groups(version):
    """The groups `joiner` is in (by index): 200 of 300, a third different."""
    return range(0, 200) if version == 0 else range(100, 300)


def big_ldif(base):
    members = "".join(f"memberUid: {m}\n" for m in crowd_members(0))
    out = [f"dn: cn=crowd,ou=Groups,{base}\nobjectClass: posixGroup\ncn: crowd\ngidNumber: {CROWD_GID}\n{members}",
           f"dn: uid=joiner,ou=People,{base}\nobjectClass: posixAccount\nobjectClass: account\nuid: joiner\n"
           "cn: joiner\nuidNumber: 10600\ngidNumber: 10000\nhomeDirectory: /home/joiner\nloginShell: /bin/sh\n"]
    for i in range(JOINER_GROUPS):
        member = "memberUid: joiner\n" if i in joiner_groups(0) else ""
        out.append(f"dn: cn=j{i:03d},ou=Groups,{base}\nobjectClass: posixGroup\ncn: j{i:03d}\n"
                   f"gidNumber: {40000 + i}\n{member}")
    return "\n".join(out) + "\n"


def switch_to(server, version):
    """Change the directory from the other version to `version`."""
    base = server.base_dn
    changes = [f"dn: cn=crowd,ou=Groups,{base}\nchangetype: modify\nreplace: memberUid\n"
               + "".join(f"memberUid: {m}\n" for m in crowd_members(version))]
    old, new = set(joiner_groups(1 - version)), set(joiner_groups(version))
    for i in sorted(old - new):
        changes.append(f"dn: cn=j{i:03d},ou=Groups,{base}\nchangetype: modify\ndelete: memberUid\n"
                       "memberUid: joiner\n")
    for i in sorted(new - old):
        changes.append(f"dn: cn=j{i:03d},ou=Groups,{base}\nchangetype: modify\nadd: memberUid\n"
                       "memberUid: joiner\n")
    server.modify_ldif("\n".join(changes), timeout=60)


def big_expectations(*versions):
    """crowd and joiner's initgroups as each of `versions` has them (any is right)."""
    lines = ["passwd\tjoiner:*:10600:10000::/home/joiner:/bin/sh"]
    for version in versions:
        lines.append(group_line("crowd", CROWD_GID, crowd_members(version)))
        gids = " ".join(str(40000 + i) for i in joiner_groups(version))
        lines.append(f"initgroups\tjoiner\t10000\t10000 {gids}")
    return lines


BIG_QUERIES = ("getgrnam=crowd", f"getgrgid={CROWD_GID}", "initgroups=joiner")


@pytest.fixture
def big_slapd(tmp_path):
    """The standard data plus a group of 3,000 members and a user in 200 of
    300 groups; this test's own (it changes and freezes it)."""
    server = Slapd(tmp_path / "big-slapd", tls=False, loglevel="none")
    try:
        server.load_standard_data()
        server.load_ldif(big_ldif(server.base_dn))
        server.start()
        yield server
    finally:
        server.stop()


def moved_aside(vigil):
    return sorted(p.name for p in (vigil.state_dir / "db").iterdir() if ".moved-" in p.name)


def assert_cache_shows(vigil, version):
    """vigilctl reads the cache file and finds both objects whole."""
    out = vigil.vigilctl("group-show", "crowd")
    assert out.returncode == 0, out.stderr
    shown = dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
    # In the order of the cache's writes (a change adds at the end): compared as sets.
    assert sorted(m.strip() for m in shown["members"].split(",")) == crowd_members(version)
    out = vigil.vigilctl("user-show", "joiner")
    assert out.returncode == 0, out.stderr
    shown = dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
    assert [int(g) for g in shown["groups"].split(",")] == [10000] + [40000 + i for i in joiner_groups(version)]


@pytest.mark.heavy
def test_a_provider_killed_mid_search_serves_the_cache_and_comes_back_whole(tmp_path, builddir, big_slapd,
                                                                            stress_tool):
    server = big_slapd
    standard = standard_expectations(server)
    # Restarts forgotten after a second: each kill is restarted quickly.
    with running_vigil(tmp_path / "vigil", builddir, server, "ldap_search_timeout = 60",
                       vigil_extra=["restart_limit = 100", "restart_window = 1"]) as v:
        stress = Stress(stress_tool, v, builddir, tmp_path / "stress")
        assert_clean(stress.run(big_expectations(0), *BIG_QUERIES, threads=1, lookups=3), "version 0")

        # Frozen directory: the provider is killed while its searches wait.
        switch_to(server, 1)
        assert v.vigilctl("cache-expire", "--everything").returncode == 0
        server.freeze()
        sent = searches_sent(v)
        waiting = [stress.start(big_expectations(0), query, threads=1, lookups=1, verbose=True)
                   for query in BIG_QUERIES[::2]]
        waiting.append(stress.start(standard, "getpwnam=carol", threads=1, lookups=1, verbose=True))
        try:
            procs.wait_until(lambda: searches_sent(v) >= sent + 3, 15, "the lookups to reach the frozen directory")
            rows, _ = v.status()
            os.kill(rows["domain/LDAP"]["pid"], signal.SIGKILL)
            results = [run.wait(CLIENT_TIMEOUT + 10) for run in waiting]
        finally:
            for run in waiting:
                run.stop()
        # The cached (expired) entries are served as they were; what was
        # never cached is unavailable, not "no such user".
        assert [r.lookups[0][:3] for r in results] == [
            ("getgrnam", "crowd", "SUCCESS"), ("initgroups", "joiner", "SUCCESS"), ("getpwnam", "carol", "UNAVAIL")]
        assert all(r["wrong"] == 0 for r in results), results
        server.thaw()
        v.wait_status(lambda r: r["domain/LDAP"]["state"] == "running" and r["domain/LDAP"]["restarts"] == 1,
                      "vigil_be restarted")
        assert_clean(stress.run(big_expectations(1) + standard, *BIG_QUERIES, "getpwnam=carol", threads=2,
                                lookups=8), "version 1 after the restart")
        assert_cache_shows(v, 1)

        # Killed at random moments while it searches and writes the big
        # answers, which the threads keep asking for; the directory changes
        # between rounds, while nothing asks (so that no search sees half a
        # change). Each answer is one version or the other, whole.
        switch_to(server, 0)
        assert v.vigilctl("cache-expire", "--everything").returncode == 0
        started = time.monotonic()
        assert_clean(stress.run(big_expectations(0), *BIG_QUERIES, threads=1, lookups=3), "version 0 again")
        refresh = time.monotonic() - started
        version, kills, totals = 0, 0, {}
        for _ in range(6):
            version = 1 - version
            switch_to(server, version)
            assert v.vigilctl("cache-expire", "--everything").returncode == 0
            run = stress.start(big_expectations(0, 1), *BIG_QUERIES, nprocs=2, threads=4, lookups=10**9,
                               seconds=120)
            try:
                time.sleep(random.uniform(0, 1.5 * refresh))
                rows, _ = v.status()
                os.kill(rows["domain/LDAP"]["pid"], signal.SIGKILL)
                kills += 1
                v.wait_status(lambda r: r["domain/LDAP"]["state"] == "running" and
                              r["domain/LDAP"]["restarts"] == 1 + kills, f"vigil_be restarted after kill {kills}")
                assert run.proc.poll() is None, "nss_stress ended early"
                res = run.finish(CLIENT_TIMEOUT + 10)
            finally:
                run.stop()
            assert res["wrong"] == 0, f"kill {kills}: {res}"
            totals = {k: totals.get(k, 0) + n for k, n in res.total.items()}
        print(f"{kills} kills, a refresh took {refresh:.2f} s: {totals}")
        assert totals["unavail"] == totals["tryagain"] == totals["other"] == 0, totals

        # Whole and current once the provider stays up: the cache is not corrupt.
        assert v.vigilctl("cache-expire", "--everything").returncode == 0
        assert_clean(stress.run(big_expectations(version) + standard, *BIG_QUERIES, threads=2, lookups=6),
                     "the last version")
        assert_clean(stress.run(big_expectations(version) + standard, lookups=100), "everything")
        assert_cache_shows(v, version)
        assert moved_aside(v) == []


class SyncKiller:
    """strace attached to a process, counting its fdatasync/fsync calls, or
    killing it with SIGKILL as it enters the n-th one: inside a cache commit
    (tdb syncs several times in one commit: after writing the recovery
    data, its header, the new data, and the cleared header)."""

    SYNCS = "fsync,fdatasync"

    def __init__(self, pid, log, kill_at=None):
        argv = ["strace", "-f", "-o", log, "-e", f"trace={self.SYNCS}"]
        if kill_at is not None:
            argv += ["-e", f"inject={self.SYNCS}:signal=KILL:when={kill_at}"]
        self.log = Path(log)
        self.proc = subprocess.Popen([*argv, "-p", str(pid)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        # strace says "Process N attached" once it is, or why it could not.
        first = self.proc.stderr.readline()
        if "attached" not in first:
            self.stop()
            raise PermissionError(f"strace cannot attach to pid {pid}: {first.strip()}")

    def syncs(self):
        return sum(1 for line in self.log.read_text().splitlines() if "sync(" in line and "resumed" not in line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # detaches
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc.stderr.close()


@pytest.mark.heavy
def test_a_provider_killed_inside_a_cache_commit_leaves_a_whole_answer(tmp_path, builddir, big_slapd, stress_tool):
    """vigil_be killed at each sync of the transaction that writes a changed
    group (3,000 members) or a user's 200 groups: while it is down and after
    it is back, every answer is the old or the new one, whole."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    server = big_slapd
    with running_vigil(tmp_path / "vigil", builddir, server,
                       vigil_extra=["restart_limit = 100", "restart_window = 1"]) as v:
        stress = Stress(stress_tool, v, builddir, tmp_path / "stress")
        assert_clean(stress.run(big_expectations(0), *BIG_QUERIES, threads=1, lookups=3), "version 0")
        version, kills = 0, 0
        for query in ("getgrnam=crowd", "initgroups=joiner"):
            # How many syncs one commit of this answer makes.
            version = 1 - version
            switch_to(server, version)
            assert v.vigilctl("cache-expire", "--everything").returncode == 0
            rows, _ = v.status()
            try:
                counter = SyncKiller(rows["domain/LDAP"]["pid"], tmp_path / f"count-{query}.strace")
            except PermissionError as exc:
                pytest.skip(str(exc))
            try:
                assert_clean(stress.run(big_expectations(version), query, threads=1, lookups=1), query)
            finally:
                counter.stop()
            syncs = counter.syncs()
            print(f"{query}: {syncs} syncs in one commit")
            if syncs == 0:
                pytest.skip("the cache is written without fsync/fdatasync: nothing to kill it at")
            for kill_at in range(1, syncs + 1):
                old, version = version, 1 - version
                switch_to(server, version)
                assert v.vigilctl("cache-expire", "--everything").returncode == 0
                rows, _ = v.status()
                killer = SyncKiller(rows["domain/LDAP"]["pid"], tmp_path / f"kill-{query}-{kill_at}.strace", kill_at)
                readers = None
                try:
                    # The only lookup before the kill: its commit is the one killed.
                    during = stress.run(big_expectations(old, version), query, threads=1, lookups=1, verbose=True)
                    # Readers while vigil_be is down and the file is as the kill left it, and after.
                    readers = stress.start(big_expectations(0, 1), *BIG_QUERIES, nprocs=2, threads=4,
                                           lookups=10**9, seconds=120)
                    kills += 1
                    v.wait_status(lambda r: r["domain/LDAP"]["state"] == "running" and
                                  r["domain/LDAP"]["restarts"] == kills, f"vigil_be restarted after kill {kills}")
                    read = readers.finish(CLIENT_TIMEOUT + 10)
                finally:
                    killer.stop()
                    if readers:
                        readers.stop()
                killed = "killed by SIGKILL" in killer.log.read_text()
                print(f"{query} killed at sync {kill_at}: answered {['old', 'new'][during.lookups[0][5]]}; "
                      f"meanwhile {read}")
                assert killed, f"strace did not kill vigil_be:\n{killer.log.read_text()}"
                assert during["right"] == 1, during
                assert_clean(read, f"readers around kill {kills}")
                # Back up: the cache holds the new version, whole.
                assert_clean(stress.run(big_expectations(version), *BIG_QUERIES, threads=2, lookups=6),
                             f"after kill {kills}")
                assert_cache_shows(v, version)
        assert moved_aside(v) == []
