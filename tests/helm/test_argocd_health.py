"""Runs docs/argocd-health.lua — the Argo CD health check for cams.dev/ChatGroup — in Lua 5.1
(the language of Argo CD's gopher-lua) on a sample of every row of the outcome table, and
checks its answer against the contract's "Argo CD health" column."""

import json
import pathlib

import pytest
from lupa import lua51

from samples import SAMPLES

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "docs" / "argocd-health.lua").read_text()
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def to_lua(lua, value):
    """JSON value -> Lua value, as Argo CD converts the live object (arrays 1-based)."""
    if isinstance(value, dict):
        return lua.table_from({k: to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, v) for v in value])
    return value


def health(obj):
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    g = lua.globals()
    # Argo CD's sandbox has no io, os or debug; prove the script does not need them.
    for name in ("io", "os", "debug", "require", "dofile", "loadfile", "load", "loadstring"):
        g[name] = None
    # Round-trip through JSON so the object holds only what the API server would send.
    g.obj = to_lua(lua, json.loads(json.dumps(obj)))
    hs = lua.execute(SCRIPT)
    assert hs is not None, "the script returned nothing"
    return dict(hs)


@pytest.mark.parametrize("name,obj,want,_kstatus", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_outcome_table(name, obj, want, _kstatus):
    hs = health(obj)
    assert hs["status"] in ARGO_STATUSES
    assert hs["status"] == want, f"{name}: {hs}"
    assert isinstance(hs.get("message"), str) and hs["message"], f"{name}: no message: {hs}"


def test_degraded_message_names_the_reason():
    obj = next(s[1] for s in SAMPLES if s[0] == "invalid-spec")
    hs = health(obj)
    assert hs["message"].startswith("InvalidSpec: "), hs


def test_every_condition_reason_is_covered():
    """Each Synced reason the operator writes appears in at least one sample."""
    reasons = {
        c["reason"]
        for _, obj, _, _ in SAMPLES
        for c in obj.get("status", {}).get("conditions", [])
        if c["type"] == "Synced"
    }
    assert reasons == {
        "ReconcileSuccess", "Throttled", "ReconcileError", "CredentialsInvalid", "Forbidden",
        "ClockSkew", "InvalidSpec", "ReconcilePaused", "Conflict",
    }


def test_unknown_reason_is_progressing_not_healthy():
    obj = next(s[1] for s in SAMPLES if s[0] == "throttled-new")
    obj = json.loads(json.dumps(obj))
    for c in obj["status"]["conditions"]:
        if c["type"] == "Synced":
            c["reason"] = "SomethingNew"
    assert health(obj)["status"] == "Progressing"
