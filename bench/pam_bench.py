#!/usr/bin/env python3
"""PAM authentication latency, vigil next to SSSD 2.8, against one slapd.

Run by bench/run-pam-bench.sh (bench/README.md says what each figure means).
Both sides have auth_provider = ldap, cache_credentials = true and
pam_id_timeout = 1, and bench/pam_bench times pam_authenticate through
pam_vigil.so and pam_sss.so the same way (pam_start_confdir: no pam_wrapper,
nothing in /etc/pam.d).  Runs alternate which side goes first; every figure
is a median over runs, and none fails the run: a failed login is reported
under the table instead of a figure.

With --krb5 both sides have auth_provider = krb5 instead, against a real
MIT KDC (tests/intg/fixtures/kdc.py) where every user has a principal with
the directory's password; identity stays with the same slapd.  The raw
Kerberos login is measured in the same run by bench/krb5_floor: kinit as a
whole process, vigil_krb5_child alone, and krb5_get_init_creds_password in
a loop in one process (with and without a new context and the ccache).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from identity_setup import SUFFIX, BenchSlapd, SssdSide, VigilSide, cpu_ns, procs  # noqa: E402
from fixtures.kdc import KADMIN_LOCAL, Kdc  # noqa: E402

USERS = 200           # distinct users: a run of "refreshed" logins visits each once
PREFIX = "puser"
UID_BASE, GID = 300000, 300000
SAME_CALLS = 100      # logins a run of the same user
OFFLINE_CALLS = 50
FLOOR_CALLS = 100     # --krb5: raw Kerberos logins a run, each floor
KRB5_FLOORS = ("kinit", "child", "spare", "fresh", "ccache", "as")


def directory_ldif():
    out = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: bench\ndc: example\n",
           f"dn: ou=People,{SUFFIX}\nobjectClass: organizationalUnit\nou: People\n",
           f"dn: ou=Groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: Groups\n",
           f"dn: cn=pusers,ou=Groups,{SUFFIX}\nobjectClass: posixGroup\ncn: pusers\ngidNumber: {GID}\n"]
    for i in range(USERS):
        name = f"{PREFIX}{i:04d}"
        out.append(f"dn: uid={name},ou=People,{SUFFIX}\nobjectClass: account\nobjectClass: posixAccount\n"
                   f"uid: {name}\ncn: {name}\nuidNumber: {UID_BASE + i}\ngidNumber: {GID}\n"
                   f"homeDirectory: /home/{name}\nuserPassword: Pw-{name}\n")
    return "\n".join(out)


class BenchKdc:
    """--krb5: a KDC from the test fixture with a principal for each user
    (the directory's password), a host keytab for krb5_validate, and a
    sticky world-writable directory for both sides' ccaches."""

    def __init__(self, tmp):
        self.kdc = Kdc(tmp / "kdc")
        self.kdc.create()
        # One kadmin.local for all of them (one each would take seconds).
        # Preauthentication required, as in a real realm (FreeIPA, AD): the
        # AS exchange takes two round trips.
        script = "".join(f"addprinc +requires_preauth -pw Pw-{PREFIX}{i:04d} {PREFIX}{i:04d}\n"
                         for i in range(USERS))
        res = procs.run([KADMIN_LOCAL, "-r", self.kdc.realm], input=script, env=self.kdc.env(), timeout=300)
        made = res.stdout.count("created") + res.stderr.count("created")
        if made < USERS:
            raise RuntimeError(f"kadmin.local made {made} of {USERS} principals: {res.stderr[-500:]}")
        self.keytab = self.kdc.add_host_keytab("client.example.com")
        os.chmod(self.keytab, 0o600)
        self.ccdir = tmp / "ccaches"
        self.ccdir.mkdir()
        os.chmod(self.ccdir, 0o1777)
        self.kdc.start()

    @property
    def server(self):
        return f"127.0.0.1:{self.kdc.kdc_port}"

    def daemon_env(self):
        """What both daemons get: the realm's krb5.conf (never /etc/krb5.conf)."""
        return {k: v for k, v in self.kdc.env().items() if k.startswith("KRB5")}

    def domain_lines(self, validate):
        return [f"krb5_realm = {self.kdc.realm}", f"krb5_server = {self.server}", f"krb5_ccachedir = {self.ccdir}",
                "krb5_ccname_template = FILE:%d/krb5cc_%U", f"krb5_validate = {str(validate).lower()}",
                f"krb5_keytab = {self.keytab}"]

    def stop(self):
        self.kdc.stop()


class PamVigil(VigilSide):
    processes = ("vigil_pam", "vigil_be")

    def __init__(self, tmp, build, slapd, cache_credentials=True, krb5=None, validate=False):
        auth = (["auth_provider = krb5", *krb5.domain_lines(validate)] if krb5 is not None
                else ["auth_provider = ldap", "ldap_auth_disable_tls_never_use_in_production = true"])
        super().__init__(tmp, build, slapd, services=("nss", "pam"),
                         domain=(*auth, f"cache_credentials = {str(cache_credentials).lower()}"),
                         sections={"pam": ["pam_id_timeout = 1"]},
                         daemon_env=krb5.daemon_env() if krb5 is not None else None)
        self.pam_module = str(build / ".libs" / "pam_vigil.so")

    def start(self):
        super().start()
        rows, _ = self.vigil.status()
        self.responder = rows["pam"]["pid"]

    def hashes_not_kept(self):
        """Accepted passwords whose hash was not kept: a login does not wait
        for its hash, and the worker's queue (and each user's) is bounded."""
        return self.vigil.log("vigil_be_LDAP").count("cannot keep the credentials") + \
            self.vigil.log("vigil_be_LDAP").count("at once")


class PamSssd(SssdSide):
    processes = ("sssd_pam", "sssd_be")
    services = ("nss", "pam")
    more = {"pam": ["pam_id_timeout = 1"],
            "domain/LDAP": ["auth_provider = ldap", "cache_credentials = true",
                            "ldap_auth_disable_tls_never_use_in_production = true"]}

    def __init__(self, tmp, slapd, host_ns, krb5=None, validate=False):
        super().__init__(tmp, slapd, host_ns, daemon_env=krb5.daemon_env() if krb5 is not None else None)
        if krb5 is not None:
            self.more = {"pam": ["pam_id_timeout = 1"],
                         "domain/LDAP": ["auth_provider = krb5", "cache_credentials = true",
                                         *krb5.domain_lines(validate)]}
        self.pam_module = "pam_sss.so"

    def start(self):
        super().start()
        from identity_setup import children_of, comm
        self.responder = {comm(p): p for p in children_of(self.proc.pid)}["sssd_pam"]


class Bench:
    def __init__(self, build, tmp, runs):
        self.build, self.tmp, self.runs = build, tmp, runs
        self.samples, self.errors = {}, {}

    def add(self, row, col, value):
        self.samples.setdefault((row, col), []).append(value)

    def median(self, row, col):
        v = self.samples.get((row, col))
        return None if (row, col) in self.errors or not v else statistics.median(v)

    def tool(self, args, env=None, row=None, col=None):
        """bench/pam_bench, one run; its figure in ms, or None (noted as the row's error)."""
        res = procs.run([self.build / "bench" / "pam_bench", "-r", "1", *args], env=env, timeout=600, check=False)
        if res.returncode != 0:
            self.errors.setdefault((row, col), (res.stderr.strip() or f"exit {res.returncode}").splitlines()[-1])
            return None
        return float(res.stdout.split()[1])

    def krb5_floor(self, krb5, test, calls, first=0):
        """bench/krb5_floor, one run of `test`; its figure goes in row ("krb5", test)."""
        child = [str(self.build / "vigil_krb5_child")]
        extra = {"kinit": ["/usr/bin/kinit"], "child": child, "spare": child}.get(test, [])
        res = procs.run([self.build / "bench" / "krb5_floor", "-r", "1", "-n", str(calls), "-f", str(first),
                         "-u", str(UID_BASE), "-g", str(GID), test, krb5.kdc.realm, PREFIX, str(USERS),
                         str(krb5.ccdir), *extra], env=krb5.kdc.env(), timeout=600, check=False)
        if res.returncode != 0:
            self.errors.setdefault(("krb5", test), (res.stderr.strip() or f"exit {res.returncode}").splitlines()[-1])
            return
        self.add("krb5", test, float(res.stdout.split()[1]))

    def confdir(self, side):
        d = self.tmp / f"pam.d-{side.name}"
        d.mkdir(exist_ok=True)
        (d / "login").write_text(f"auth required {side.pam_module}\n")
        (d / "permit").write_text("auth required pam_permit.so\n")
        return d

    def logins(self, side, row, count, calls, first=0):
        """One timed run of `calls` logins on side; its CPU per login too."""
        pids = [side.responder, side.backend]
        before = [cpu_ns(p) for p in pids]
        ms = self.tool(["-n", str(calls), "-f", str(first), "pam", str(self.confdir(side)), "login", PREFIX,
                        str(count)], side.env, row, side.name)
        settle(side.backend)  # vigil hashes in a worker: its CPU counts once the work is done
        if ms is None:
            return
        self.add(row, side.name, ms)
        for pid, b, name in zip(pids, before, side.processes):
            self.add(row, f"{side.name} {name}", (cpu_ns(pid) - b) / 1e6 / calls)


def settle(pid, quiet=0.3, bound=30):
    """Wait (bounded) until pid has used no CPU for `quiet` seconds."""
    deadline = time.monotonic() + bound
    last = cpu_ns(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_ns(pid)
        if now - last < 1e6:
            return
        last = now


def rotate(sides, r):
    return sides[r % len(sides):] + sides[:r % len(sides)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--namespace", default=None)
    ap.add_argument("--no-sssd", default=None, metavar="REASON")
    ap.add_argument("--vigil-only", action="store_true")
    # Where vigil's time goes: its logins without the offline hash (and no
    # offline row). Not a comparison: SSSD keeps cache_credentials = true.
    ap.add_argument("--vigil-without-cached-credentials", action="store_true")
    # Kerberos logins (auth_provider = krb5 on both sides) against a KDC of
    # our own; with krb5_validate = true on both sides (the host keytab).
    ap.add_argument("--krb5", action="store_true")
    ap.add_argument("--krb5-validate", action="store_true")
    a = ap.parse_args()
    a.krb5 = a.krb5 or a.krb5_validate
    build = a.build.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="vigil-pam-bench-", dir="/tmp"))
    os.chmod(tmp, 0o755)
    bench = Bench(build, tmp, a.runs)
    slapd = BenchSlapd(tmp / "slapd", tls=False, loglevel="none")
    slapd.load_ldif(directory_ldif())
    slapd.start()
    sides = []
    krb5 = None
    try:
        if a.krb5:
            krb5 = BenchKdc(tmp)
        sides.append(PamVigil(tmp, build, slapd, cache_credentials=not a.vigil_without_cached_credentials,
                              krb5=krb5, validate=a.krb5_validate))
        if a.no_sssd is None and not a.vigil_only:
            sides.append(PamSssd(tmp, slapd, a.namespace, krb5=krb5, validate=a.krb5_validate))
        for side in sides:
            side.start()
        # Every user known and logged in once on both sides: the hashes
        # stored, the users cached.
        for side in sides:
            bench.tool(["-n", str(USERS), "pam", str(bench.confdir(side)), "login", PREFIX, str(USERS)], side.env,
                       ("prewarm", ""), side.name)
            settle(side.backend)
        for r in range(a.runs):
            for side in rotate(sides, r):
                bench.logins(side, "online, same user", 1, SAME_CALLS)
            # pam_id_timeout = 1 and every user once a run: each login
            # refreshes its user (initgroups) before the bind.
            time.sleep(1.1)
            for side in rotate(sides, r):
                bench.logins(side, "online, user refreshed", USERS, USERS)
            for side in rotate(sides, r):
                ms = bench.tool(["-n", str(SAME_CALLS), "pam", str(bench.confdir(side)), "permit", PREFIX, "1"],
                                side.env, "pam_permit", side.name)
                if ms is not None:
                    bench.add("pam_permit", side.name, ms)
            if krb5 is not None:
                for test in KRB5_FLOORS:
                    bench.krb5_floor(krb5, test, FLOOR_CALLS, first=r * FLOOR_CALLS)
                continue
            ms = bench.tool(["-n", str(USERS), "bind", slapd.uri, SUFFIX, PREFIX, str(USERS)], None, "bind", "floor")
            if ms is not None:
                bench.add("bind", "floor", ms)
        not_kept = sides[0].hashes_not_kept()
        if a.vigil_without_cached_credentials or krb5 is not None:
            # (Kerberos: the offline row would time the cached
            # credentials again, as without --krb5.)
            return report(bench, sides, a, not_kept)
        slapd.stop()
        for side in sides:   # the first login finds the directory gone and goes offline
            bench.tool(["-n", "1", "pam", str(bench.confdir(side)), "login", PREFIX, "1"], side.env,
                       ("offline prewarm", ""), side.name)
        for r in range(a.runs):
            for side in rotate(sides, r):
                bench.logins(side, "offline, cached credentials", 1, OFFLINE_CALLS)
    finally:
        for side in sides:
            try:
                side.stop()
            except Exception as e:  # noqa: BLE001 - the others must still stop
                print(f"stopping {side.name}: {e}", file=sys.stderr)
        slapd.stop()
        if krb5 is not None:
            krb5.stop()
        procs.run(["rm", "-rf", str(tmp)], timeout=60, check=False)
    report(bench, sides, a, not_kept)


def fmt(v, unit=" ms"):
    return "—" if v is None else f"{v:.2f}{unit}"


def report(bench, sides, a, not_kept=None):
    names = [s.name for s in sides]
    print(f"PAM authenticate, pam_authenticate alone timed (ms per login, median of {a.runs} runs); "
          f"CPU per login of the responder and the provider (ms)")
    if a.krb5:
        print(f"Kerberos: auth_provider = krb5 on both sides, krb5_validate = {str(a.krb5_validate).lower()}, "
              "FILE ccaches in a temp dir")
    if a.no_sssd or a.vigil_only:
        print(f"SSSD not measured: {a.no_sssd or '--vigil-only given'}")
    if a.vigil_without_cached_credentials:
        print("vigil with cache_credentials = false (no offline hash, no offline row): where its time goes")
    header = ["figure"] + names + ([f"{names[0]}/{names[1]}"] if len(names) == 2 else [])
    header += [f"{s.name} CPU {p}" for s in sides for p in s.processes]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    rows = ("online, same user", "online, user refreshed")
    if not (a.krb5 or a.vigil_without_cached_credentials):
        rows += ("offline, cached credentials",)
    for row in rows:
        vals = [bench.median(row, n) for n in names]
        cells = [row] + [fmt(v) for v in vals]
        if len(names) == 2:
            cells.append("—" if None in vals else f"{vals[0] / vals[1]:.2f}×")
        cells += [fmt(bench.median(row, f"{s.name} {p}")) for s in sides for p in s.processes]
        print("| " + " | ".join(cells) + " |")
    if a.krb5:
        krb5_report(bench, names)
    else:
        print(f"floor: a simple bind on a new connection {fmt(bench.median('bind', 'floor'))}; ", end="")
    print("pam_authenticate through pam_permit.so " +
          ", ".join(f"{n} run {fmt(bench.median('pam_permit', n))}" for n in names))
    if not_kept is not None and not a.vigil_without_cached_credentials:
        print(f"vigil: {not_kept} accepted passwords of the online rows were not hashed and kept (bounded queues: "
              "a login never waits for its hash)")
    for (row, col), text in sorted(bench.errors.items(), key=str):
        print(f"not measured: {row} {col}: {text}")


def krb5_report(bench, names):
    """The raw Kerberos login (bench/krb5_floor, same run, same KDC), and
    what each layer adds to the one under it."""
    f = {test: bench.median("krb5", test) for test in KRB5_FLOORS}
    print("raw Kerberos login, ms per login (median of the runs): "
          + ", ".join(f"{label} {fmt(f[test])}" for test, label in (
              ("kinit", "kinit whole process"), ("child", "vigil_krb5_child alone"),
              ("spare", "vigil_krb5_child started --warm ahead, from the request"),
              ("fresh", "in one process: new context + AS + ccache"), ("ccache", "AS + ccache"),
              ("as", "krb5_get_init_creds_password alone"))))

    def step(upper, lower):
        return None if upper is None or lower is None else upper - lower

    vigil = bench.median("online, same user", names[0])
    parts = [("the AS exchange (two round trips, string-to-key)", f["as"]),
             ("the ccache written", step(f["ccache"], f["as"])),
             ("a new libkrb5 context (profile read)", step(f["fresh"], f["ccache"])),
             ("a process: spawn, exec, dynamic linking, privilege drop", step(f["child"], f["fresh"])),
             ("of which a spare started ahead saves", step(f["child"], f["spare"])),
             ("vigil around a spare child (pam_vigil.so, vigil_pam, vigil_be), same user", step(vigil, f["spare"]))]
    print("where a vigil login goes: " + "; ".join(f"{label} {fmt(v)}" for label, v in parts))


if __name__ == "__main__":
    main()
