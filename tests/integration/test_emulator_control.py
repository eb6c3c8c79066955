"""Emulator surfaces, auth, control endpoints (config, seeding, forcing, reset, state) and robustness."""

import json
import time

import pytest

from control import Emulator, EmulatorError, jsonl

GATEWAY_404 = {"error": {"code": "404", "message": "Resource not found"}}


@pytest.mark.parametrize("path,query", [
    ("/openai/batches", {}),                                   # api-version is required
    ("/openai/batches", {"api-version": "2099-01-01"}),
    ("/openai/batches", {"api-version": "2024-06-01"}),        # a GA version without batch
    ("/openai/nothing", {"api-version": "2024-10-21"}),
    ("/openai/deployments/gpt-4o-batch/batches", {"api-version": "2024-10-21"}),
    ("/openai/deployments", {"api-version": "2024-10-21"}),    # legacy route absent on new versions
    ("/openai/v1/batches", {"api-version": "2024-10-21"}),     # v1 takes only v1 or preview
    ("/", {}),
])
def test_azure_gateway_404(emu, path, query):
    resp = emu.api("GET", path, query=query, api_version=False)
    assert resp.status == 404 and resp.json() == GATEWAY_404


def test_all_batch_api_versions_and_v1_versions_answer(emu):
    for version in ("2024-07-01-preview", "2024-10-01-preview", "2024-10-21", "2025-03-01-preview",
                    "2025-04-01-preview"):
        assert emu.api("GET", "/openai/batches", api_version=version).status == 200, version
    for query in ({}, {"api-version": "v1"}, {"api-version": "preview"}):
        assert emu.api("GET", "/openai/v1/batches", query=query).status == 200


def test_openai_unknown_route(emu):
    resp = emu.api("GET", "/v1/nothing")
    assert resp.status == 404
    assert resp.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"


def test_legacy_deployments_listing(emu):
    for version in ("2022-12-01", "2023-03-15-preview"):
        body = emu.api("GET", "/openai/deployments", api_version=version).json()
        assert body["object"] == "list"
        assert [d["id"] for d in body["data"]] == ["gpt-4o-batch", "gpt-4o-mini-batch"]
        assert body["data"][0]["model"] == "gpt-4o" and body["data"][0]["object"] == "deployment"
    one = emu.api("GET", "/openai/deployments/gpt-4o-batch", api_version="2022-12-01")
    assert one.status == 200 and one.json()["id"] == "gpt-4o-batch"
    emu.config(legacy_deployments_api=False)
    gone = emu.api("GET", "/openai/deployments", api_version="2022-12-01")
    assert gone.status == 404 and gone.json() == GATEWAY_404


def test_models_listings(emu):
    azure = emu.api("GET", "/openai/models").json()
    assert [m["id"] for m in azure["data"]] == ["gpt-4o", "gpt-4o-mini"]
    assert azure["data"][0]["capabilities"]["chat_completion"] is True
    for path in ("/openai/v1/models", "/v1/models"):
        body = emu.api("GET", path).json()
        assert body["object"] == "list" and body["data"][0]["object"] == "model"
    assert emu.api("GET", "/v1/models/gpt-4o").json()["id"] == "gpt-4o"
    assert emu.api("GET", "/v1/models/nope").status == 404


def test_auth_schemes(emulator_factory):
    emu = emulator_factory(api_keys=["k1", "k2"], bearer_tokens=["entra-token"])
    assert emu.api("GET", "/openai/files", key="k2").status == 200
    assert emu.api("GET", "/openai/files", key="entra-token", auth="bearer").status == 200
    assert emu.api("GET", "/openai/files", key="entra-token").status == 401     # a token is not an api-key
    assert emu.api("GET", "/openai/v1/files", key="k1", auth="bearer").status == 200
    assert emu.api("GET", "/v1/files", key="k1").status == 200
    assert emu.api("GET", "/v1/files", key="k1", auth="api-key").status == 401   # OpenAI: Bearer only
    denied = emu.api("GET", "/openai/files", key="bad")
    assert denied.status == 401 and denied.json()["error"]["code"] == "401"
    assert "invalid subscription key" in denied.json()["error"]["message"]
    assert emu.api("GET", "/openai/files", auth=None).status == 401
    wrong = emu.api("GET", "/v1/files", key="sk-very-secret-value-1234").json()["error"]
    assert wrong["code"] == "invalid_api_key" and "sk-very-secret-value-1234" not in wrong["message"]
    assert wrong["message"].startswith("Incorrect API key provided: sk-*") and "1234" in wrong["message"]


def test_start_options_deployments_config_port_file(emulator_factory, tmp_path):
    port_file = tmp_path / "port"
    emu = emulator_factory(deployments="alpha=gpt-4.1,beta", port_file=port_file,
                           config={"durations": {"validating": 5}, "iso_timestamps": True})
    assert int(port_file.read_text()) == emu.port
    assert [d["name"] for d in emu.get_config()["deployments"]] == ["alpha", "beta"]
    assert emu.get_config()["durations"]["validating"] == 5
    created = emu.submit(jsonl(1, model="alpha"))
    assert isinstance(created.json()["created_at"], str)


def test_bad_start_options_fail_loudly(tmp_path):
    with pytest.raises(EmulatorError, match="exited with status 2"):
        Emulator.start(config={"no_such_key": 1}, log_path=tmp_path / "log")


def test_config_patch_validation(emu):
    with pytest.raises(EmulatorError, match="unknown configuration key"):
        emu.config(nope=1)
    with pytest.raises(EmulatorError, match="durations"):
        emu.config(durations={"validating": -1})
    with pytest.raises(EmulatorError, match="hold"):
        emu.config(hold="sleeping")
    cfg = emu.config(durations={"finalizing": 2.5})
    assert cfg["durations"] == {"validating": 0.0, "in_progress": 0.0, "finalizing": 2.5, "cancelling": 0.0}


def test_create_thousands_of_batches_fast_with_stable_order(emu):
    t0 = time.monotonic()
    ids = emu.create_batches(3000, status="completed", metadata={"seed": "yes"})
    assert time.monotonic() - t0 < 3.0
    assert len(set(ids)) == 3000
    seen, after = [], None
    while True:
        query = {"limit": 1000} if after is None else {"limit": 1000, "after": after}
        page = emu.api("GET", "/openai/batches", query=query).json()
        seen += [b["id"] for b in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == ids[::-1]
    first = emu.api("GET", f"/openai/batches/{ids[0]}").json()
    last = emu.api("GET", f"/openai/batches/{ids[-1]}").json()
    assert first["created_at"] < last["created_at"] and first["metadata"] == {"seed": "yes"}
    assert emu.state()["batches"] == 3000


def test_seeded_batches_with_output_per_status(emu):
    done = emu.create_batches(2, status="completed", with_output=True, requests=4)
    body = emu.api("GET", f"/openai/batches/{done[0]}").json()
    assert body["request_counts"] == {"total": 4, "completed": 4, "failed": 0}
    assert len(emu.api("GET", f"/openai/files/{body['output_file_id']}/content").text.splitlines()) == 4
    other = emu.api("GET", f"/openai/batches/{done[1]}").json()
    assert other["output_file_id"] != body["output_file_id"]
    oai = emu.create_batches(1, status="cancelled", with_output=True, requests=4, dialect="openai")
    cancelled = emu.api("GET", f"/v1/batches/{oai[0]}").json()
    assert cancelled["status"] == "cancelled" and cancelled["request_counts"]["completed"] == 2
    running = emu.create_batches(1, status="in_progress", hold=True)
    assert emu.api("GET", f"/openai/batches/{running[0]}").json()["status"] == "in_progress"


def test_set_batch_force_and_hold(emu):
    batch_id = emu.submit(jsonl(6)).json()["id"]
    emu.set_batch(batch_id, status="in_progress", hold=True)
    assert emu.api("GET", f"/openai/batches/{batch_id}").json()["status"] == "in_progress"
    emu.set_batch(batch_id, hold=False)
    assert emu.api("GET", f"/openai/batches/{batch_id}").json()["status"] == "completed"
    other = emu.submit(jsonl(4)).json()["id"]
    emu.set_batch(other, status="expired")
    expired = emu.api("GET", f"/openai/batches/{other}").json()
    assert expired["status"] == "expired" and expired["expired_at"] is not None
    content = emu.api("GET", f"/openai/files/{expired['error_file_id']}/content").text
    errs = [json.loads(x) for x in content.splitlines()]
    assert {e["error"]["code"] for e in errs} == {"batch_expired"} and len(errs) == 2
    third = emu.submit(jsonl(1)).json()["id"]
    emu.set_batch(third, status="failed", error={"code": "invalid_request", "message": "nope", "param": None,
                                                 "line": None})
    assert emu.api("GET", f"/openai/batches/{third}").json()["errors"]["data"][0]["message"] == "nope"
    with pytest.raises(EmulatorError, match="404"):
        emu.set_batch("batch_unknown", status="failed")


def test_hold_per_batch_at_validating(emu):
    batch_id = emu.submit(jsonl(1)).json()["id"]
    emu.set_batch(batch_id, hold=True)
    assert emu.api("GET", f"/openai/batches/{batch_id}").json()["status"] == "validating"
    emu.set_batch(batch_id, hold=False)
    assert emu.wait_batch(batch_id, "completed")["status"] == "completed"


def test_reset_and_state(emu):
    emu.config(iso_timestamps=True)
    emu.fault(status=500, times=-1, path="^/never$")
    emu.submit(jsonl(1))
    emu.api("GET", "/openai/files")
    state = emu.state()
    assert state["files"] >= 1 and state["batches"] == 1 and state["batches_by_status"] == {"completed": 1}
    emu.reset()
    assert emu.state() == {"files": 0, "batches": 0, "files_by_purpose": {}, "batches_by_status": {}}
    assert emu.faults() == [] and emu.requests() == [] and emu.get_config()["iso_timestamps"] is False


def test_robust_against_garbage(emu):
    assert emu.request("POST", "/openai/batches?api-version=2024-10-21", b"\xff\xfe",
                       {"api-key": "test-key", "Content-Type": "application/json"}).status == 400
    assert emu.request("PATCH", "/_emulator/config", b"{", {}).status == 400
    assert emu.request("POST", "/_emulator/batches", json.dumps({"count": 0}).encode(), {}).status == 400
    assert emu.request("POST", "/_emulator/faults", b"[1]", {}).status == 400
    assert emu.api("GET", "/openai/batches", query={"limit": "many"}).status == 400
    assert emu.api("GET", "/openai/files").status == 200
