"""The libFuzzer target for policy documents (tests/fuzz/fuzz_policy_xml),
run for VIGIL_FUZZ_SECONDS (default 10) from the contrib/policy examples and
a few hostile seeds (DOCTYPE, entities, XInclude).  A crash, a sanitizer
report or a broken invariant (the target aborts) fails the test and leaves
the reproducer in the test's temp dir.
"""

import os
import subprocess

import pytest

SECONDS = int(os.environ.get("VIGIL_FUZZ_SECONDS", "10"))

HOSTILE = [
    b"<!DOCTYPE p [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]><policy type='sudo' version='1'/>",
    b"<!DOCTYPE p SYSTEM 'http://127.0.0.1:9/p.dtd'><policy type='sudo' version='1'/>",
    b"<policy type='sudo' version='1' xmlns:xi='http://www.w3.org/2001/XInclude'>"
    b"<xi:include href='file:///etc/passwd'/></policy>",
    b"<policy type='sudo' version='1'><rule name='&#10;'><user>a</user><host>ALL</host>"
    b"<command>/bin/a</command></rule></policy>",
]


@pytest.mark.heavy
def test_policy_reader_survives_fuzzing(tmp_path, srcdir, builddir):
    fuzzer = builddir / "tests/fuzz/fuzz_policy_xml"
    assert os.access(fuzzer, os.X_OK), f"{fuzzer}: built by `make` (needs clang++)"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for example in (srcdir / "contrib/policy").glob("*.xml"):
        (corpus / example.name).write_bytes(example.read_bytes())
    for i, seed in enumerate(HOSTILE):
        (corpus / f"hostile-{i}").write_bytes(seed)
    res = subprocess.run([str(fuzzer), f"-max_total_time={SECONDS}", "-max_len=16384",
                          f"-artifact_prefix={tmp_path}/", str(corpus)],
                         capture_output=True, text=True, timeout=SECONDS + 120)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "Done" in res.stderr
