#!/usr/bin/python3
"""The policy pipeline on 1,000 sudo rules from 20 policies (issue 8):
read and validate, merge, render in the child, visudo -cf, install, in a
temp dir.  Prints the median time of a refresh that changes something and
of one that changes nothing (the daemon's download step is not in it yet:
this is tests/tools/policy_apply, one process per refresh).  Never fails
on a figure.

Usage: bench/policy_bench.py [BUILDDIR] [RUNS]
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRCDIR = Path(__file__).resolve().parents[1]
POLICIES, RULES = 20, 50


def policy(index, generation):
    rules = []
    for r in range(RULES):
        rules.append(f"<rule name='p{index} rule {r}'><user>%team{index}_{r}</user><user>user{r}</user>"
                     f"<host>ALL</host><runas-user>svc{r}</runas-user><tag>NOPASSWD</tag>"
                     f"<command>/usr/local/bin/tool{r} --generation {generation}</command>"
                     f"<command>/usr/bin/systemctl restart unit{r}</command></rule>")
    return f"<policy type='sudo' version='1'>{''.join(rules)}</policy>"


def main():
    build = Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    tool = build / "tests/tools/policy_apply"
    if not tool.exists():
        sys.exit(f"policy_bench: {tool} missing: make -C {build} check")
    with tempfile.TemporaryDirectory(prefix="vigil-policy-bench.") as tmp:
        tmp = Path(tmp)
        (tmp / "sudoers.d").mkdir()
        common = [tool, "install", "--data-dir", SRCDIR / "data/policy",
                  "--render-program", build / "vigil_policy_render",
                  "--target", tmp / "sudoers.d/vigil", "--backup-dir", tmp / "backup"]

        def refresh(generation):
            sources = []
            for i in range(POLICIES):
                path = tmp / f"p{i}.xml"
                # Generation changes one policy only, as a typical edit does.
                path.write_text(policy(i, generation if i == 0 else 0))
                sources.append(f"p{i}:{i * 10}:{path}")
            start = time.perf_counter()
            out = subprocess.run([str(a) for a in common + sources], check=True,
                                 capture_output=True, text=True).stdout.strip()
            return time.perf_counter() - start, out

        refresh(0)
        changed, unchanged = [], []
        for run in range(1, runs + 1):
            seconds, out = refresh(run)
            assert out == "installed", out
            changed.append(seconds)
            seconds, out = refresh(run)
            assert out == "unchanged", out
            unchanged.append(seconds)
        size = (tmp / "sudoers.d/vigil").stat().st_size
        print(f"{POLICIES} policies x {RULES} rules = {POLICIES * RULES} rules, sudoers {size} bytes, {runs} runs")
        print(f"refresh that changes something: median {statistics.median(changed) * 1000:.1f} ms "
              f"(min {min(changed) * 1000:.1f})")
        print(f"refresh that changes nothing:   median {statistics.median(unchanged) * 1000:.1f} ms "
              f"(min {min(unchanged) * 1000:.1f})")


if __name__ == "__main__":
    main()
