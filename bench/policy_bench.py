#!/usr/bin/python3
"""The policy downloader on 1,000 sudo rules from 20 policies (issue 8):
vigil_policy (under vigild) against a real slapd on 127.0.0.1, driven by
`vigilctl policy refresh`, which returns when the refresh is done.  Prints
the median wall time of a refresh that changes something (one policy edited
in the directory: its document downloaded, merged with the 19 cached ones,
rendered in the child, checked by visudo, installed) and of one that changes
nothing (the policies listed with their stamps, nothing downloaded,
rendered or written).  The figures include starting vigilctl.  Never fails
on a figure.

Usage: bench/policy_bench.py [BUILDDIR] [RUNS]
"""

import base64
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRCDIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SRCDIR / "tests" / "intg"))
from fixtures import procs  # noqa: E402
from fixtures.slapd import Slapd  # noqa: E402
from fixtures.vigil import Vigil, remove_run_dirs  # noqa: E402

POLICIES, RULES = 20, 50
HOST = "bench.example.com"


def policy(index, generation):
    rules = []
    for r in range(RULES):
        rules.append(f"<rule name='p{index} rule {r}'><user>%team{index}_{r}</user><user>user{r}</user>"
                     f"<host>ALL</host><runas-user>svc{r}</runas-user><tag>NOPASSWD</tag>"
                     f"<command>/usr/local/bin/tool{r} --generation {generation}</command>"
                     f"<command>/usr/bin/systemctl restart unit{r}</command></rule>")
    return f"<policy type='sudo' version='1'>{''.join(rules)}</policy>"


def entry(base, index, generation):
    doc = base64.b64encode(policy(index, generation).encode()).decode()
    return (f"dn: cn=p{index},ou=policies,{base}\nobjectClass: vigilPolicy\ncn: p{index}\n"
            f"vigilPolicyType: sudo\nvigilPolicyPriority: {index * 10}\nvigilPolicyHost: {HOST}\n"
            f"vigilPolicyDocument:: {doc}\n\n")


def main():
    build = Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    schemas = (SRCDIR / "contrib/ldap/vigil-policy.schema", SRCDIR / "tests/intg/data/sudo.schema")
    with tempfile.TemporaryDirectory(prefix="vigil-policy-bench.") as tmp:
        tmp = Path(tmp)
        server = Slapd(tmp / "slapd", tls=False, loglevel="none", extra_schemas=schemas)
        base = server.base_dn
        server.load_ldif(f"dn: {base}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n"
                         f"dn: ou=policies,{base}\nobjectClass: organizationalUnit\nou: policies\n\n" +
                         "".join(entry(base, i, 0) for i in range(POLICIES)))
        server.start()
        (tmp / "sudoers.d").mkdir()
        target = tmp / "sudoers.d" / "vigil"
        vigil = Vigil(tmp / "vigil", build, extra={
            "vigil": ["services = policy"],
            "policy": [f"policy_host_fqdn = {HOST}", f"policy_data_dir = {SRCDIR / 'data/policy'}",
                       f"policy_sudo_target = {target}", "policy_sudoroles = false"],
            "domain/LDAP": [f"ldap_uri = {server.uri}", f"ldap_search_base = {base}"]})
        try:
            vigil.start_supervised(services=("policy",))
            ctl = [vigil.binary("vigilctl"), "-c", vigil.conf, "policy", "refresh"]

            def refresh():
                start = time.perf_counter()
                out = subprocess.run([str(a) for a in ctl], capture_output=True, text=True, env=vigil.env())
                seconds = time.perf_counter() - start
                if out.returncode != 0:
                    sys.exit(f"policy_bench: refresh failed: {out.stdout}{out.stderr}")
                return seconds, out.stdout.strip()

            refresh()
            changed, unchanged = [], []
            for run in range(1, runs + 1):
                # One policy edited, as a typical change is.
                doc = base64.b64encode(policy(0, run).encode()).decode()
                server.modify_ldif(f"dn: cn=p0,ou=policies,{base}\nchangetype: modify\n"
                                   f"replace: vigilPolicyDocument\nvigilPolicyDocument:: {doc}\n-\n")
                seconds, out = refresh()
                assert out == "sudo: installed", out
                changed.append(seconds)
                seconds, out = refresh()
                assert out == "sudo: unchanged", out
                unchanged.append(seconds)
            size = target.stat().st_size
            print(f"{POLICIES} policies x {RULES} rules = {POLICIES * RULES} rules from slapd, "
                  f"sudoers {size} bytes, {runs} runs")
            print(f"refresh that changes something: median {statistics.median(changed) * 1000:.1f} ms "
                  f"(min {min(changed) * 1000:.1f})")
            print(f"refresh that changes nothing:   median {statistics.median(unchanged) * 1000:.1f} ms "
                  f"(min {min(unchanged) * 1000:.1f})")
        finally:
            vigil.stop_all()
            server.stop()
            remove_run_dirs()


if __name__ == "__main__":
    main()
