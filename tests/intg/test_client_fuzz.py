"""The libFuzzer targets of the client reply parsers (tests/fuzz), run for a
bounded time: VIGIL_FUZZ_SECONDS each (default 10), both at once.  Seeds
are valid replies made with the fake responder's encoders, so the fuzzers
start from the protocol rather than from nothing.  A crash, an ASan or
UBSan report, or a broken invariant (the targets abort) fails the test and
leaves the reproducer in the test's temp dir.
"""

import os
import re
import subprocess

import pytest

from fixtures.fake_responder import C, Responder, sstr, u32

SECONDS = int(os.environ.get("VIGIL_FUZZ_SECONDS", "10"))


def nss_seeds(workdir):
    workdir.mkdir()
    enc = Responder(workdir, {})
    users = [{"name": "alice", "uid": 10001, "gid": 10001, "gecos": "Alice"},
             {"name": "b" * 255, "uid": 7, "gid": 8, "shell": ""}]
    groups = [{"name": "devs", "gid": 20001, "members": ["alice", "bob"]},
              {"name": "empty", "gid": 5, "members": []}]
    seeds = []
    for u in users:
        seeds.append(bytes([0, 8, 0, 0]) + enc.passwd(u))
    for g in groups:
        seeds.append(bytes([1, 4, 0, 0]) + enc.group(g))
    for gids, params in (([3, 1, 3, 0, 9], [2, 4, 2, 0]), (list(range(100, 140)), [2, 1, 1, 5])):
        seeds.append(bytes(params) + u32(len(gids)) + b"".join(u32(g) for g in gids))
    return seeds


def pam_seeds():
    def item(kind, data):
        return u32(kind) + u32(len(data)) + data
    return [
        u32(0),
        u32(1) + item(C["VIGIL_PAM_REPLY_MESSAGE"], u32(1) + b"Welcome"),
        u32(0) + item(C["VIGIL_PAM_REPLY_ENV"], b"KRB5CCNAME=FILE:/tmp/x")
        + item(C["VIGIL_PAM_REPLY_DATA"], sstr("name") + b"value")
        + item(C["VIGIL_PAM_REPLY_MESSAGE"], u32(2) + b"error"),
    ]


@pytest.fixture(scope="module")
def fuzzers(builddir):
    found = {name: builddir / "tests" / "fuzz" / f"fuzz_{name}_reply" for name in ("nss", "pam")}
    for path in found.values():
        assert os.access(path, os.X_OK), f"{path}: built by `make` (needs clang)"
    return found


@pytest.mark.heavy
def test_reply_parsers_survive_fuzzing(tmp_path, fuzzers):
    procs = {}
    for name, path in fuzzers.items():
        corpus = tmp_path / f"corpus-{name}"
        corpus.mkdir()
        seeds = nss_seeds(tmp_path / "enc") if name == "nss" else pam_seeds()
        for i, seed in enumerate(seeds):
            (corpus / f"seed{i}").write_bytes(seed)
        env = dict(os.environ)
        env.pop("ASAN_OPTIONS", None)           # the fuzzer's own defaults
        log = open(tmp_path / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(
            [str(path), f"-max_total_time={SECONDS}", "-timeout=10", "-rss_limit_mb=1024",
             "-print_final_stats=1", f"-artifact_prefix={tmp_path}/crash-{name}-", str(corpus)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path), log)
    failures = []
    for name, (proc, log) in procs.items():
        try:
            code = proc.wait(SECONDS + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        log.close()
        text = (tmp_path / f"{name}.log").read_text(errors="replace")
        runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
        if code != 0 or runs is None or int(runs.group(1)) < 1000:
            failures.append(f"fuzz_{name}_reply exit {code}:\n" + text[-3000:])
    assert not failures, "\n".join(failures)
