"""The identity bench's outage rows: an uncached name while the directory
is down (BENCHMARKS.md: <= 10 ms, in steady state and for the first request
after the outage, for a refused connection and for a server that accepts
and never answers).

Each side gets an outage of its own, so that one side's first request is
never made after the other side's requests have waited out the outage:
  refused  slapd stopped: its port answers a connection with a reset;
  frozen   slapd SIGSTOPped: the kernel still accepts connections on its
           port and the connection a daemon holds stays up, but nothing
           is ever answered;
  frozen, 20 s later  the same, with the first lookup FROZEN_WAIT after the
           freeze: long enough for vigil's check of an idle connection
           (ldap_connection_check_interval 10 s, bounded by ldap_opt_timeout
           8 s) to have found out, as in an outage that began a while ago.
Then the first lookup of a name no one asked for before (timed alone), and
STEADY more, each a new name (timed one by one: median and max). Any
answer but SUCCESS is right; the answers' statuses are counted. The server
comes back, the side is told to go online (SIGUSR2, as an admin would) and
the next side's outage starts only once a user expired on purpose was
fetched from the server again (slapd's search counter moved).
"""

import os
import signal
import time

from identity_setup import USER_FMT, procs, user_name

FROZEN_WAIT = 20  # s
OUTAGES = ("refused", "frozen", f"frozen, {FROZEN_WAIT} s later")
STEADY = 20
ONLINE_WAIT = 120  # s: a side back online after an outage, at most


def break_server(slapd, outage):
    if outage == "refused":
        slapd.stop()
    else:
        os.kill(slapd.pid, signal.SIGSTOP)
        if outage != "frozen":
            time.sleep(FROZEN_WAIT)


def restore_server(slapd, outage):
    if outage == "refused":
        slapd.start()
    else:
        os.kill(slapd.pid, signal.SIGCONT)


def miss(fig, side, row, names_format, count):
    """nss_bench's miss test: count new names, each timed; the statuses counted."""
    from identity_bench import nss_bench  # noqa: PLC0415 - the bench imports us
    args = ["-r", "1", "-n", str(count), "-l", "miss", side.module, side.prefix, names_format, str(count)]
    try:
        out = nss_bench(fig.build, args, side.env, timeout=600)
    except (RuntimeError, procs.CommandError) as e:
        fig.fail(row, side.name, str(e).splitlines()[0])
        return
    fig.add(row + ("p50",), side.name, out["miss_p50"][0])
    fig.add(row + ("max",), side.name, out["miss_max"][0])
    for status in ("notfound", "unavail", "tryagain", "other"):
        if out[f"miss_{status}"][0]:
            fig.add(row + ("status", status), side.name, out[f"miss_{status}"][0])


def back_online(build, side, slapd):
    """SIGUSR2 to the provider (and SSSD's monitor), then until the first
    user, expired in the cache just before, is fetched from the server again."""
    from identity_bench import nss_bench  # noqa: PLC0415
    probe_user = user_name(0)
    deadline = time.monotonic() + ONLINE_WAIT
    while True:
        for pid in {side.backend, side.top.pid}:
            try:
                os.kill(pid, signal.SIGUSR2)
            except ProcessLookupError:
                pass
        if side.name == "vigil":
            side.vigil.vigilctl("cache-expire", "--user", probe_user, check=True)
        else:
            procs.run(["sss_cache", "-u", probe_user], timeout=60)
        before = slapd.searches_completed()
        try:
            nss_bench(build, ["-r", "1", "-n", "1", "pwnam", side.module, side.prefix, USER_FMT, "1"], side.env)
        except (RuntimeError, procs.CommandError):
            pass
        # reading the counter is one search itself
        if slapd.searches_completed() - before > 1:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{side.name} did not go back online within {ONLINE_WAIT} s")
        time.sleep(1)


def measure_outage(fig, sides, slapd, runs):
    """runs x each outage x each side."""
    for r in range(runs):
        for outage in OUTAGES:
            for side in sides:
                row = ("outage", outage)
                break_server(slapd, outage)
                try:
                    tag = f"{side.prefix}{r}{OUTAGES.index(outage)}"
                    miss(fig, side, row + ("first",), f"first{tag}x%d", 1)
                    miss(fig, side, row + ("steady",), f"steady{tag}x%d", STEADY)
                finally:
                    restore_server(slapd, outage)
                back_online(fig.build, side, slapd)


def print_outage(fig, names):
    print(f"\nAn uncached name while the directory is down: ms per lookup; first = the first lookup after the "
          f"server went away, steady = {STEADY} more, each a new name (median / max); refused = slapd stopped, "
          f"frozen = slapd SIGSTOPped (accepts, never answers), the first lookup at once or {FROZEN_WAIT} s "
          "later. Target (BENCHMARKS.md): ≤ 10 ms for all\n")
    print("| outage | side | first | steady median | steady max | answers |")
    print("|---|---|---|---|---|---|")
    for outage in OUTAGES:
        for name in names:
            cells = []
            for part, stat in (("first", "p50"), ("steady", "p50"), ("steady", "max")):
                row = ("outage", outage, part)
                if (row, name) in fig.errors:
                    cells.append("failed*")
                    continue
                v = fig.median(row + (stat,), name)
                cells.append("—" if v is None else f"{v / 1e3:,.2f}")
            answers = ", ".join(f"{status.upper()} {int(sum(fig.samples[key]))}"
                                for status in ("notfound", "unavail", "tryagain", "other")
                                for key in [(("outage", outage, "steady", "status", status), name)]
                                if key in fig.samples)
            print(f"| {outage} | {name} | {' | '.join(cells)} | {answers or '—'} |")
