"""The kstatus rules (sigs.k8s.io/cli-utils, via hack/kstatus) on the same samples: Flux and
kpt read ChatGroups this way. The real-cluster tier checks real objects too
(tests/e2e/kstatus.rs)."""

import json
import os
import subprocess

import pytest

from samples import SAMPLES


def kstatus(objs):
    binary = os.environ.get("CAMS_KSTATUS_BIN")
    if not binary:
        pytest.skip("CAMS_KSTATUS_BIN is not set (run tests/helm/run.sh)")
    out = subprocess.run(
        [binary], input="\n".join(json.dumps(o) for o in objs), capture_output=True,
        text=True, check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_samples():
    results = kstatus([s[1] for s in SAMPLES])
    assert len(results) == len(SAMPLES)
    got = {name: r["status"] for (name, _, _, _), r in zip(SAMPLES, results)}
    want = {name: k for name, _, _, k in SAMPLES}
    assert got == want, [(n, got[n], want[n], r["message"]) for (n, *_), r in zip(SAMPLES, results) if got[n] != want[n]]


def test_stalled_message_is_the_conditions():
    obj = next(s[1] for s in SAMPLES if s[0] == "forbidden")
    (r,) = kstatus([obj])
    assert r["status"] == "Failed" and "Forbidden.RAM" in r["message"], r
