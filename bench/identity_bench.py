#!/usr/bin/env python3
"""Identity lookups, vigil next to SSSD 2.8, against one throwaway slapd.

Run by bench/run-identity-bench.sh (bench/README.md says what each figure
means).  With --namespace we are root in a private mount namespace of our
own, where SSSD can run (identity_setup.py).  Both sides get the same
lookups in the same order, run by run alternating which goes first; every
figure is a median over runs.  Figures never fail the run: a wrong answer
from a daemon is reported under the table, and the run goes on.
"""

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from identity_setup import (BIG_GROUP, BIG_MEMBERS, MULTI_GROUPS, MULTI_USER, SUFFIX, USER_FMT,  # noqa: E402
                            USERS_GID, BenchSlapd, SssdSide, VigilSide, comm, cpu_ns, directory_ldif,
                            pin, procs, pss_kib, user_name)
from outage import measure_outage, print_outage  # noqa: E402

HOT_NAMES = 1000      # distinct names cycled by hot getpwnam
COLD_NAMES = 20       # cold getpwnam: this many users a run
RESPONDER_CPU = 0
TESTS = ("getpwnam", "getgrnam", "initgroups")
WHAT = {"getpwnam": f"getpwnam ({HOT_NAMES:,} names)", "getgrnam": f"getgrnam ({BIG_MEMBERS:,} members)",
        "initgroups": f"initgroups ({MULTI_GROUPS} groups)"}


def lookup_args(test, module, prefix, names=HOT_NAMES):
    return {"getpwnam": ["pwnam", module, prefix, USER_FMT, str(names)],
            "getgrnam": ["grnam", module, prefix, BIG_GROUP, str(BIG_MEMBERS)],
            "initgroups": ["initgr", module, prefix, MULTI_USER, str(USERS_GID), str(MULTI_GROUPS)]}[test]


HOT_CALLS = {"getpwnam": 2000, "getgrnam": 20, "initgroups": 50}
FAST_CALLS = {"getpwnam": 20000, "getgrnam": 200, "initgroups": 2000}


class Figures:
    """Samples by (row, column); the first failure text instead, when a run went wrong."""

    def __init__(self):
        self.samples, self.errors = {}, {}

    def add(self, row, col, value):
        self.samples.setdefault((row, col), []).append(value)

    def fail(self, row, col, text):
        self.errors.setdefault((row, col), text)

    def median(self, row, col):
        if (row, col) in self.errors:
            return None
        v = self.samples.get((row, col))
        return statistics.median(v) if v else None


def nss_bench(build, args, env, cpu=None, wrap=(), timeout=300):
    """bench/nss_bench; returns {figure: [values]}, or raises with the last line of its stderr."""
    argv = [*wrap, *([] if cpu is None else ["taskset", "-c", str(cpu)]), build / "bench" / "nss_bench", *args]
    res = procs.run(argv, env=env, timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError((res.stderr.strip() or f"exit {res.returncode}").splitlines()[-1])
    return {line.split()[0]: [float(x) for x in line.split()[1:]] for line in res.stdout.splitlines()}


def figure_name(args):
    """nss_bench's TEST, which names its figure: the word after -n CALLS."""
    return args[args.index("-n") + 2]


def rotate(sides, r):
    """Alternate which side goes first from run to run."""
    return sides[r % len(sides):] + sides[:r % len(sides)]


def timed(fig, row, side, args, env, cpu=None, wrap=(), cpu_pids=()):
    """One nss_bench run for side: its figure, and the CPU time per call of
    cpu_pids (e.g. the responder) as column "<side> <process>"."""
    before = [cpu_ns(p) for p in cpu_pids]
    try:
        out = nss_bench(fig.build, args, env, cpu, wrap)
    except (RuntimeError, procs.CommandError) as e:
        fig.fail(row, side.name, str(e).splitlines()[0])
        return None
    calls = out.pop("calls")[0]
    for pid, b, name in zip(cpu_pids, before, side.processes):
        fig.add(row, f"{side.name} {name}", (cpu_ns(pid) - b) / 1e3 / calls)
    fig.add(row, side.name, out[figure_name(args)][0])
    return out


def prewarm(fig, sides):
    """Every lookup of the hot rows once, so that no timed run's warm-up
    pass is the first, cold, lookup (it would count in the responder's CPU)."""
    for side in sides:
        for test in TESTS:
            try:
                nss_bench(fig.build, ["-w", "-r", "1", "-n", "1", *lookup_args(test, side.module, side.prefix)],
                          side.env)
            except (RuntimeError, procs.CommandError) as e:
                fig.fail((test, "prewarm"), side.name, str(e).splitlines()[0])


def measure_hot(fig, sides, runs, placements):
    for label, cpu in placements:
        for r in range(runs):
            try:
                out = nss_bench(fig.build, ["-w", "-r", "1", "-n", "5000", "bare", str(RESPONDER_CPU)], None, cpu)
                fig.add(("bare", label), "bare", out["bare"][0])
            except (RuntimeError, procs.CommandError) as e:
                fig.fail(("bare", label), "bare", str(e))
            for test in TESTS:
                for side in rotate(sides, r):
                    args = ["-w", "-r", "1", "-n", str(HOT_CALLS[test]), *lookup_args(test, side.module, side.prefix)]
                    timed(fig, (test, label), side, args, side.env, cpu, cpu_pids=[side.responder])


def measure_glibc(fig, sides, runs, placements, tmp):
    """getpwnam_r through glibc with passwd: files MODULE: a test
    nsswitch.conf bind-mounted in a namespace of that one client only."""
    for side in sides:
        conf = tmp / f"nsswitch-{side.prefix}.conf"
        conf.write_text(f"passwd: files {side.prefix}\ngroup: files {side.prefix}\n")
    for label, cpu in placements:
        for r in range(runs):
            for side in rotate(sides, r):
                wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                        'mount --bind "$0" /etc/nsswitch.conf && exec "$@"', tmp / f"nsswitch-{side.prefix}.conf"]
                args = ["-w", "-r", "1", "-n", str(HOT_CALLS["getpwnam"]), *lookup_args("getpwnam", "glibc", "x")]
                timed(fig, ("glibc", label), side, args, side.glibc_env, cpu, wrap, cpu_pids=[side.responder])


def measure_fast_path(fig, sssd, runs, cpu):
    for test in TESTS:
        args = ["-w", "-r", str(runs), "-n", str(FAST_CALLS[test]), *lookup_args(test, sssd.module, sssd.prefix)]
        try:
            out = nss_bench(fig.build, args, sssd.fast_env, cpu)
            for v in out[figure_name(args)]:
                fig.add((test, "fast"), "SSSD", v)
        except (RuntimeError, procs.CommandError) as e:
            fig.fail((test, "fast"), "SSSD", str(e))


def measure_parallel(fig, sides, runs):
    common = ["-w", "-r", "1", "-p", "2", "-n", "2000"]
    for r in range(runs):
        try:
            out = nss_bench(fig.build, common + ["bare", str(RESPONDER_CPU)], None)
            fig.add(("2 clients", "µs"), "bare", out["bare"][0])
            fig.add(("2 clients", "rate"), "bare", out["bare_rate"][0])
        except (RuntimeError, procs.CommandError) as e:
            fig.fail(("2 clients", "µs"), "bare", str(e))
        for side in rotate(sides, r):
            out = timed(fig, ("2 clients", "µs"), side, common + lookup_args("getpwnam", side.module, side.prefix),
                        side.env, cpu_pids=[side.responder])
            if out:
                fig.add(("2 clients", "rate"), side.name, out["pwnam_rate"][0])


class GroupWriter:
    """In a thread, again and again: one member of the large group changed
    in the directory, the group expired on `side`, and looked up, so that
    the side's provider writes 10,000 members to its cache; counts the
    writes. One round starts every PERIOD seconds at most, the same pace on
    both sides (a side slower than that writes back to back): the tools it
    runs for each round (ldapmodify, the expiry, the lookup) load the machine
    the same way for both."""

    PERIOD = 0.5

    def __init__(self, side, slapd, build):
        self.side, self.slapd, self.build = side, slapd, build
        self.stop_flag = threading.Event()
        self.writes, self.error = 0, None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        dn = f"cn={BIG_GROUP},ou=Groups,{SUFFIX}"
        # Swap the last member for another name and back: always 10,000
        # (which way round is kept on the slapd object, across writers).
        names = (user_name(BIG_MEMBERS - 1), "swapped-member")
        try:
            while not self.stop_flag.is_set():
                started = time.monotonic()
                swapped = getattr(self.slapd, "big_group_swapped", False)
                old, new = names[swapped], names[not swapped]
                self.slapd.modify_ldif(f"dn: {dn}\nchangetype: modify\ndelete: memberUid\nmemberUid: {old}\n"
                                       f"-\nadd: memberUid\nmemberUid: {new}\n")
                self.slapd.big_group_swapped = not swapped
                self.side.expire_group(BIG_GROUP)
                nss_bench(self.build, ["-r", "1", "-n", "1",
                                       *lookup_args("getgrnam", self.side.module, self.side.prefix)], self.side.env)
                self.writes += 1
                self.stop_flag.wait(max(0.0, self.PERIOD - (time.monotonic() - started)))
        except Exception as e:  # noqa: BLE001 - reported with the figures
            self.error = str(e).splitlines()[0] if str(e) else repr(e)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(120)


def measure_p99_while_writing(fig, sides, slapd, runs):
    """Hot getpwnam, every call timed: median and p99, quiet and while the
    large group is written again and again (client on CPU 1, responder on 0)."""
    cpu = 1 if (os.cpu_count() or 1) >= 2 else None
    # 30,000 calls: seconds long, so that even a slow side writes the group
    # several times while they run.
    args = ["-w", "-l", "-r", "1", "-n", "30000"]
    for r in range(runs):
        for side in rotate(sides, r):
            argv = args + lookup_args("getpwnam", side.module, side.prefix)
            for phase in ("quiet", "writing"):
                try:
                    if phase == "quiet":
                        out = nss_bench(fig.build, argv, side.env, cpu=cpu)
                        writes = None
                    else:
                        with GroupWriter(side, slapd, fig.build) as writer:
                            # Start measuring once the first write is under way.
                            time.sleep(0.2)
                            out = nss_bench(fig.build, argv, side.env, cpu=cpu)
                            writes = writer.writes
                        if writer.error:
                            raise RuntimeError(f"the group writer failed: {writer.error}")
                except (RuntimeError, procs.CommandError) as e:
                    fig.fail(("p99", phase), side.name, str(e))
                    continue
                fig.add(("p99", phase), side.name, out["pwnam_p99"][0])
                fig.add(("p50", phase), side.name, out["pwnam_p50"][0])
                if writes is not None:
                    fig.add(("p99", "writes"), side.name, writes)


def ldap_floor(fig, slapd, test):
    """The raw LDAP searches of one lookup, on an open connection (bench/ldap_floor)."""
    user = "(&(objectClass=posixAccount)(uid={}))"
    filters = {"getpwnam": [user.format(user_name(0))],
               "getgrnam": [f"(&(objectClass=posixGroup)(cn={BIG_GROUP}))"],
               "initgroups": [user.format(MULTI_USER), f"(&(objectClass=posixGroup)(memberUid={MULTI_USER}))"]}
    try:
        out = procs.run([fig.build / "bench" / "ldap_floor", "-r", "1", "-n", "20", slapd.uri, SUFFIX,
                         *filters[test]], timeout=120)
        fig.add((test, "cold"), "floor", float(out.stdout.split()[1]))
    except (procs.CommandError, IndexError, ValueError) as e:
        fig.fail((test, "cold"), "floor", str(e).splitlines()[0])


def durable_write_floor(fig, directory):
    """One 4 KiB write made durable (fdatasync) where vigil keeps its cache:
    what any durable cache commit costs at least on this disk (the median
    of 50, added to the run's figures)."""
    path = Path(directory) / "bench-durable-write"
    samples = []
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        block = b"\1" * 4096
        for i in range(50):
            t0 = time.perf_counter()
            os.pwrite(fd, block, (i % 16) * 4096)
            os.fdatasync(fd)
            samples.append((time.perf_counter() - t0) * 1e6)
    finally:
        os.close(fd)
        path.unlink()
    fig.add(("commit", "floor"), "floor", statistics.median(samples))


def measure_cold(fig, sides, slapd, runs, state_dir):
    base = slapd.searches_completed()
    overhead = slapd.searches_completed() - base    # reading the counter is a search too
    for r in range(runs):
        # The disk's sync latency drifts (a virtual disk): measured in each
        # run, next to the lookups it is the floor of.
        durable_write_floor(fig, state_dir)
        for test in TESTS:
            ldap_floor(fig, slapd, test)
            lookups = COLD_NAMES if test == "getpwnam" else 1
            for side in rotate(sides, r):
                try:
                    side.expire()
                except procs.CommandError as e:
                    fig.fail((test, "cold"), side.name, f"expiring the cache: {str(e).splitlines()[0]}")
                    continue
                pids = [side.responder, side.backend, slapd.pid]
                before = slapd.searches_completed()
                before_cpu = [cpu_ns(p) for p in pids]
                args = ["-r", "1", "-n", str(lookups), *lookup_args(test, side.module, side.prefix, lookups)]
                if timed(fig, (test, "cold"), side, args, side.env) is None:
                    continue
                # Work a daemon puts off until after its answer (vigil_be frees
                # a lookup's leftovers 5 ms later) is still the lookup's CPU.
                time.sleep(0.05)
                cpu = [(cpu_ns(p) - b) / 1e6 / lookups for p, b in zip(pids, before_cpu)]
                fig.add((test, "searches"), side.name, (slapd.searches_completed() - before - overhead) / lookups)
                for name, ms in zip((*side.processes, "slapd"), cpu):
                    fig.add((test, "cold cpu"), f"{side.name} {name}", ms)


# --- the report ----------------------------------------------------------------------------

def fmt(v):
    if v is None:
        return "—"
    digits = 3 if abs(v) < 1 else 2 if abs(v) < 10 else 1 if abs(v) < 100 else 0
    return f"{v:,.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b not in (None, 0) else "—"


def cell(fig, row, col, over=None, scale=1.0):
    """The median (× scale), with its excess over `over` (the bare round trip) in brackets."""
    if (row, col) in fig.errors:
        return "failed*"
    v = fig.median(row, col)
    if v is None:
        return "—"
    if over is None:
        return fmt(v * scale)
    d = (v - over) * scale
    return f"{fmt(v * scale)} ({'+' if d >= 0 else '-'}{fmt(abs(d))})"


def print_hot(fig, sides, placements):
    print("Hot, socket path: µs per call; (+ over the bare round trip with the same placement); CPU = the "
          "responder's CPU time per call; responders pinned to CPU 0; SSSD with SSS_NSS_USE_MEMCACHE=NO\n")
    print("| lookup | client on | bare round trip | vigil | vigil_nss CPU | SSSD | sssd_nss CPU | vigil/SSSD "
          "| vigil/SSSD over bare |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [(test, label, label, ("bare", label)) for test in TESTS for label, _ in placements]
    rows += [("glibc", label, label, ("bare", label)) for label, _ in placements if ("glibc", label) in
             {k[0] for k in fig.samples} | {k[0] for k in fig.errors}]
    rows.append(("2 clients", "µs", "any (2 at once)", ("2 clients", "µs")))
    names = {**WHAT, "glibc": "getpwnam_r via glibc (passwd: files MODULE)",
             "2 clients": "getpwnam, 2 clients at once"}
    for test, label, where, bare_row in rows:
        row = (test, label)
        bare = fig.median(bare_row, "bare")
        v, s = fig.median(row, "vigil"), fig.median(row, "SSSD")
        over = ratio(v - bare, s - bare) if None not in (v, s, bare) else "—"
        print(f"| {names[test]} | {where} | {fmt(bare)} | {cell(fig, row, 'vigil', bare)} | "
              f"{cell(fig, row, 'vigil vigil_nss')} | {cell(fig, row, 'SSSD', bare)} | "
              f"{cell(fig, row, 'SSSD sssd_nss')} | {ratio(v, s)} | {over} |")
    rates = [fig.median(("2 clients", "rate"), c) for c in ("bare", "vigil", "SSSD")]
    print(f"| getpwnam, 2 clients at once: calls/s of both | any | {fmt(rates[0])} | {fmt(rates[1])} | | "
          f"{fmt(rates[2])} | | {ratio(rates[1], rates[2])} | |")


def print_cold(fig):
    durable = fig.median(("commit", "floor"), "floor")
    print("\nCold, after expiring the cache: ms per lookup (× the floor: the raw LDAP search(es) plus one durable "
          f"4 KiB write, {fmt(durable and durable / 1e3)} ms here); searches = LDAP searches "
          "slapd served per lookup; CPU = ms of CPU per lookup of responder / provider / slapd; client not pinned\n")
    print("| lookup | raw LDAP search | floor | vigil | searches | CPU nss / be / slapd | SSSD | searches | "
          "CPU nss / be / slapd | vigil/SSSD |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for test in TESTS:
        search = fig.median((test, "cold"), "floor")
        floor = search + durable if search is not None and durable is not None else None
        cells = []
        for name, procs_ in (("vigil", ("vigil_nss", "vigil_be")), ("SSSD", ("sssd_nss", "sssd_be"))):
            v = fig.median((test, "cold"), name)
            text = cell(fig, (test, "cold"), name, scale=1e-3)
            if v is not None and floor:
                text += f" ({v / floor:.1f}×)"
            cpu = [fig.median((test, "cold cpu"), f"{name} {p}") for p in (*procs_, "slapd")]
            cells += [text, fmt(fig.median((test, "searches"), name)),
                      " / ".join(fmt(c) for c in cpu) if None not in cpu else "—"]
        print(f"| {WHAT[test]} | {fmt(search and search / 1e3)} | {fmt(floor and floor / 1e3)} | {' | '.join(cells)} | "
              f"{ratio(fig.median((test, 'cold'), 'vigil'), fig.median((test, 'cold'), 'SSSD'))} |")


def print_p99(fig, names):
    print("\nHot getpwnam while the 10,000-member group is written to the cache again and again (changed in the "
          f"directory, expired, looked up; a round every {GroupWriter.PERIOD} s at most, back to back if slower): "
          "µs per call, every call timed; client on CPU 1\n")
    print("| side | quiet p50 | quiet p99 | writing p50 | writing p99 | p99 / p50 writing | group writes meanwhile |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        p50, p99 = fig.median(("p50", "writing"), name), fig.median(("p99", "writing"), name)
        print(f"| {name} | {cell(fig, ('p50', 'quiet'), name)} | {cell(fig, ('p99', 'quiet'), name)} | "
              f"{cell(fig, ('p50', 'writing'), name)} | {cell(fig, ('p99', 'writing'), name)} | "
              f"{ratio(p99, p50)} | {fmt(fig.median(('p99', 'writes'), name))} |")


def print_report(fig, sides, placements, args, pss, disk, reason):
    names = [s.name for s in sides]
    print(f"\n## Identity lookups: vigil and SSSD 2.8, {args.users:,} users, medians of {args.runs} runs\n")
    if reason:
        print(f"SSSD not measured: {reason}\n")
    print_hot(fig, sides, placements)
    if "SSSD" in names:
        print(f"\nSSSD's fast path (mmap cache), client on CPU {placements[-1][1]}, µs per call "
              "(vigil has no fast path yet)\n")
        print("| lookup | SSSD fast path |\n|---|---|")
        for test in TESTS:
            print(f"| {WHAT[test]} | {cell(fig, (test, 'fast'), 'SSSD')} |")
    print_cold(fig)
    print_p99(fig, names)
    if not args.no_outage:
        print_outage(fig, names)
    print("\nMemory after the same lookups on both sides: PSS in MiB (/proc/PID/smaps_rollup); cache on disk\n")
    print("| side | processes | PSS total | cache on disk |\n|---|---|---|---|")
    for name in names:
        parts = ", ".join(f"{c} {k / 1024:.1f}" for c, k in pss[name])
        print(f"| {name} | {parts} | {sum(k for _, k in pss[name]) / 1024:.1f} | {disk[name] / 2**20:.1f} MiB |")
    if "SSSD" in names:
        totals = [sum(k for _, k in pss[n]) for n in ("vigil", "SSSD")]
        print(f"| vigil/SSSD | | {ratio(*totals)} | {ratio(disk['vigil'], disk['SSSD'])} |")
    if fig.errors:
        print("\n*failed (the first failure of each):")
        for (row, col), text in sorted(fig.errors.items(), key=str):
            print(f"  {' '.join(row)}, {col}: {text}")


# --- main ----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", type=Path)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--namespace", metavar="HOST_MNT_NS",
                    help="we run in a private mount namespace, made from this one (readlink /proc/self/ns/mnt)")
    ap.add_argument("--no-sssd", metavar="REASON", help="measure vigil only, and say why")
    ap.add_argument("--vigil-only", action="store_true")
    ap.add_argument("--no-outage", action="store_true", help="skip the rows with the directory down")
    args = ap.parse_args()
    if args.users < HOT_NAMES or not 1 <= args.runs <= 101:
        ap.error(f"--users must be at least {HOT_NAMES}, --runs 1 to 101")
    reason = args.no_sssd or ("--vigil-only given" if args.vigil_only else None)
    if reason is None and not args.namespace:
        reason = "not run in a private mount namespace (use bench/run-identity-bench.sh)"
    # SIGTERM and ^C end the run through the finally below: every process stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="vigil-ibench-", dir="/tmp"))
    cleanups = []
    try:
        started = time.monotonic()
        slapd = BenchSlapd(tmp / "slapd", suffix=SUFFIX, sizelimit=500, tls=False, loglevel="none")
        slapd.load_ldif(directory_ldif(args.users))
        cleanups.append(slapd.stop)
        slapd.start()
        print(f"slapd on {slapd.uri}: {args.users:,} users loaded and answering after "
              f"{time.monotonic() - started:.1f} s", flush=True)
        build = args.build.resolve()
        vigil = VigilSide(tmp, build, slapd)
        cleanups.append(vigil.stop)
        vigil.start()
        sides = [vigil]
        if reason is None:
            sssd = SssdSide(tmp, slapd, args.namespace)
            cleanups.append(sssd.stop)
            try:
                sssd.start()
                sides.append(sssd)
            except Exception as e:  # noqa: BLE001 - whatever stops sssd, vigil is still measured
                reason = f"sssd did not start: {str(e).splitlines()[0]}"
                sssd.stop()
        if reason:
            print(f"SSSD not measured: {reason}", flush=True)
        for side in sides:
            pin(side.responder, RESPONDER_CPU)
        placements = [("CPU 0 (responder's)", RESPONDER_CPU)]
        if (os.cpu_count() or 1) >= 2:
            placements.append(("CPU 1", 1))
        fig = Figures()
        fig.build = build
        print("hot lookups ...", flush=True)
        prewarm(fig, sides)
        measure_hot(fig, sides, args.runs, placements)
        if args.namespace:
            print("through glibc ...", flush=True)
            measure_glibc(fig, sides, args.runs, placements, tmp)
        if len(sides) == 2:
            print("SSSD's fast path ...", flush=True)
            measure_fast_path(fig, sides[1], args.runs, placements[-1][1])
        print("2 clients at once ...", flush=True)
        measure_parallel(fig, sides, args.runs)
        print("cold lookups ...", flush=True)
        measure_cold(fig, sides, slapd, args.runs, vigil.vigil.state_dir)
        print("p99 while the large group is written ...", flush=True)
        measure_p99_while_writing(fig, sides, slapd, args.runs)
        pss = {s.name: [(comm(p), pss_kib(p)) for p in s.pids()] for s in sides}
        disk = {s.name: s.cache_bytes() for s in sides}
        if not args.no_outage:
            print("uncached names while the directory is down ...", flush=True)
            measure_outage(fig, sides, slapd, min(args.runs, 3))
        for side in sides:
            if not procs.pid_alive(side.responder):
                print(f"note: {side.name}'s responder (pid {side.responder}) was restarted during the run, "
                      "losing its CPU pinning", flush=True)
        print_report(fig, sides, placements, args, pss, disk, reason)
        print(f"\n(whole run: {time.monotonic() - started:.0f} s)")
    finally:
        for stop in reversed(cleanups):
            try:
                stop()
            except Exception as e:  # noqa: BLE001 - one failed stop must not keep the others from running
                print(f"identity_bench: while stopping: {e}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
