"""The libFuzzer target for the krb5 child's messages
(tests/fuzz/fuzz_krb5_child), run for VIGIL_FUZZ_SECONDS (default 10) from
valid requests and answers of every kind. A crash, a sanitizer report or a
broken round trip (the target aborts) fails the test and leaves the
reproducer in the test's temp dir.
"""

import os
import struct
import subprocess

import pytest

from test_krb5 import TAGS, encode_request

SECONDS = int(os.environ.get("VIGIL_FUZZ_SECONDS", "10"))


def answer(*fields):
    body = b"".join(struct.pack("<HI", tag, len(value)) + value for tag, value in fields)
    return b"VK5A" + struct.pack("<II", 1, len(body)) + body


SEEDS = [
    encode_request(command=1, user="alice", realm="EXAMPLE.COM", password="pw", uid=10001, gid=10000,
                   ccname="FILE:/tmp/krb5cc_10001", krb5_config="/a:/b"),
    encode_request(command=2, user="bob", realm="EXAMPLE.COM", password="old", uid=1, gid=1,
                   ccname="DIR:/run/user/1/krb5cc", krb5_config="/a", lifetime=3600, renewable_lifetime=86400,
                   validate=1, keytab="/etc/krb5.keytab", new_password="new"),
    answer((32, struct.pack("<I", 0)), (33, b"FILE:/tmp/x"), (34, b"got a TGT"), (35, struct.pack("<Q", 1 << 40))),
    answer((32, struct.pack("<I", 11)), (34, b"Password is too short")),
]


@pytest.mark.heavy
def test_the_child_protocol_survives_fuzzing(tmp_path, builddir):
    assert TAGS["new_password"] == 13
    fuzzer = builddir / "tests/fuzz/fuzz_krb5_child"
    assert os.access(fuzzer, os.X_OK), f"{fuzzer}: built by `make` (needs clang++)"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed-{i}").write_bytes(seed)
    res = subprocess.run([str(fuzzer), f"-max_total_time={SECONDS}", "-max_len=4096",
                          f"-artifact_prefix={tmp_path}/", str(corpus)],
                         capture_output=True, text=True, timeout=SECONDS + 120)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "Done" in res.stderr
