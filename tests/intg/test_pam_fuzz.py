"""The libFuzzer target of vigil_pam's request parser
(tests/fuzz/fuzz_pam_request), run for VIGIL_FUZZ_SECONDS (default 10) from
requests as pam_vigil.so encodes them.  A crash, a sanitizer report or a
broken invariant (the target aborts) fails the test and leaves the
reproducer in the test's temp dir.
"""

import os
import subprocess

import pytest

from fixtures.fake_responder import C, u32

SECONDS = int(os.environ.get("VIGIL_FUZZ_SECONDS", "10"))


def item(kind, data):
    return u32(C[kind]) + u32(len(data)) + data


def seeds():
    user = item("VIGIL_PAM_ITEM_USER", b"alice")
    token = item("VIGIL_PAM_ITEM_AUTHTOK", u32(C["VIGIL_AUTHTOK_PASSWORD"]) + b"s3cret")
    empty = item("VIGIL_PAM_ITEM_AUTHTOK", u32(C["VIGIL_AUTHTOK_EMPTY"]))
    tail = item("VIGIL_PAM_ITEM_FLAGS", u32(3)) + item("VIGIL_PAM_ITEM_REQUESTING_PID", u32(4242))
    return [
        b"\x00\x00" + user,
        b"\x00\x00" + item("VIGIL_PAM_ITEM_SERVICE", b"sshd") + user + token + tail,
        b"\x00\x02" + user + empty + tail,
        b"\x00\x06" + user + token + item("VIGIL_PAM_ITEM_NEWAUTHTOK", u32(1) + b"n3w") + tail,
        b"\x00\x00" + item("VIGIL_PAM_ITEM_RHOST", b"client.example.com") + item("VIGIL_PAM_ITEM_TTY", b"ssh")
        + item("VIGIL_PAM_ITEM_RUSER", b"bob") + user,
    ]


@pytest.mark.heavy
def test_pam_request_parser_survives_fuzzing(tmp_path, builddir):
    fuzzer = builddir / "tests/fuzz/fuzz_pam_request"
    assert os.access(fuzzer, os.X_OK), f"{fuzzer}: built by `make` (needs clang++)"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds()):
        (corpus / f"seed{i}").write_bytes(seed)
    env = dict(os.environ)
    env.pop("ASAN_OPTIONS", None)  # the fuzzer's own defaults
    res = subprocess.run([str(fuzzer), f"-max_total_time={SECONDS}", "-max_len=8192", "-timeout=10",
                          "-rss_limit_mb=1024", f"-artifact_prefix={tmp_path}/", str(corpus)],
                         capture_output=True, text=True, timeout=SECONDS + 120, env=env)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "Done" in res.stderr
