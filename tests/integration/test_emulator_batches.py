"""Emulator Batches API: create checks, lifecycle, outputs, per-line failures, cancel, listing."""

import json
import re

import pytest

from control import jsonl, wait_for

AZ_PV = "2025-04-01-preview"


def lines_of(emu, file_id, prefix="/openai"):
    resp = emu.api("GET", f"{prefix}/files/{file_id}/content")
    assert resp.status == 200
    return [json.loads(x) for x in resp.text.splitlines()]


def test_create_azure_ga_200_then_completes_with_outputs(emu):
    resp = emu.submit(jsonl(5), metadata={"job": "nightly"})
    assert resp.status == 200
    created = resp.json()
    assert re.fullmatch(r"batch_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", created["id"])
    assert created["status"] == "validating" and created["metadata"] == {"job": "nightly"}
    assert created["expires_at"] == created["created_at"] + 86400
    done = emu.wait_batch(created["id"], "completed")
    assert done["request_counts"] == {"total": 5, "completed": 5, "failed": 0}
    assert done["created_at"] <= done["in_progress_at"] <= done["finalizing_at"] <= done["completed_at"]
    out = lines_of(emu, done["output_file_id"])
    assert sorted(x["custom_id"] for x in out) == [f"task-{i}" for i in range(5)]
    assert [x["custom_id"] for x in out] != [f"task-{i}" for i in range(5)]   # not in input order
    first = out[0]
    assert set(first) == {"custom_id", "response", "error"} and first["error"] is None
    assert first["response"]["status_code"] == 200
    body = first["response"]["body"]
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o"   # the deployment's model
    assert set(body["usage"]) == {"completion_tokens", "prompt_tokens", "total_tokens"}
    # Azure: an error file exists even when nothing failed, and it is empty
    err = emu.api("GET", f"/openai/files/{done['error_file_id']}/content")
    assert err.status == 200 and err.body == b""
    meta = emu.api("GET", f"/openai/files/{done['output_file_id']}").json()
    assert meta["purpose"] == "batch_output" and meta["status"] == "processed"
    assert re.fullmatch(r"file-[0-9a-f-]{36}", meta["id"])


def test_create_on_2025_04_01_preview_is_201_with_enqueued_token_headers(emu):
    file_id = emu.upload(jsonl(2)).json()["id"]
    resp = emu.api("POST", "/openai/batches", api_version=AZ_PV,
                   json_body={"input_file_id": file_id, "endpoint": "/chat/completions", "completion_window": "24h"})
    assert resp.status == 201
    assert int(resp.headers["deployment-enqueued-tokens"]) > 0
    assert int(resp.headers["deployment-maximum-enqueued-tokens"]) >= int(resp.headers["deployment-enqueued-tokens"])


def test_openai_batch_shape_and_output_lines(emu):
    created = emu.submit(jsonl(3, model="gpt-4o-mini"), prefix="/v1")
    assert created.status == 200
    assert re.fullmatch(r"batch_[0-9a-f]+", created.json()["id"])
    done = emu.wait_batch(created.json()["id"], "completed", prefix="/v1")
    assert done["model"] == "gpt-4o-mini"
    assert done["usage"]["total_tokens"] == done["usage"]["input_tokens"] + done["usage"]["output_tokens"] > 0
    assert done["error_file_id"] is None        # OpenAI: no error file when nothing failed
    out = lines_of(emu, done["output_file_id"], "/v1")
    assert all(re.fullmatch(r"batch_req_[0-9a-f]+", x["id"]) for x in out)
    assert all(x["response"]["request_id"].startswith("req_") for x in out)


def test_pending_input_file_is_rejected_on_azure(emu):
    emu.config(file_stuck_pending=True)
    file_id = emu.upload(jsonl(1)).json()["id"]
    resp = emu.api("POST", "/openai/batches",
                   json_body={"input_file_id": file_id, "endpoint": "/chat/completions", "completion_window": "24h"})
    assert resp.status == 400
    assert resp.json()["error"] == {
        "code": "invalidPayload",
        "message": f"The input file {file_id} is in 'pending' state. Only files with status 'Processed' are "
                   "accepted for batch inferencing"}
    assert emu.state()["batches"] == 0


@pytest.mark.parametrize("body,fragment", [
    ({"endpoint": "/chat/completions", "completion_window": "24h"}, "input_file_id"),
    ({"input_file_id": "FILE", "completion_window": "24h"}, "endpoint"),
    ({"input_file_id": "FILE", "endpoint": "/chat/completions"}, "completion_window"),
    ({"input_file_id": "FILE", "endpoint": "/chat/completions", "completion_window": "24h",
      "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"input_file_id": "FILE", "endpoint": "/chat/completions", "completion_window": "24h",
      "metadata": {"k" * 65: "v"}}, "metadata"),
    ({"input_file_id": "FILE", "endpoint": "/chat/completions", "completion_window": "24h",
      "metadata": {"k": "v" * 513}}, "metadata"),
    ({"input_file_id": "FILE", "endpoint": "/chat/completions", "completion_window": "24h",
      "metadata": {"k": 1}}, "metadata"),
])
def test_create_rejects_bad_bodies(emu, body, fragment):
    file_id = emu.upload(jsonl(1)).json()["id"]
    emu.api("GET", f"/openai/files/{file_id}")
    body = {k: (file_id if v == "FILE" else v) for k, v in body.items()}
    resp = emu.api("POST", "/openai/batches", json_body=body)
    assert resp.status == 400 and fragment in resp.json()["error"]["message"]
    assert emu.state()["batches"] == 0


def test_create_rejects_non_json_and_unknown_file(emu):
    assert emu.api("POST", "/openai/batches", data=b"{not json").status == 400
    assert emu.api("POST", "/openai/batches", json_body=[1, 2]).status == 400
    missing = emu.api("POST", "/openai/batches", json_body={
        "input_file_id": "file-none", "endpoint": "/chat/completions", "completion_window": "24h"})
    assert missing.status == 404 and missing.json()["error"]["code"] == "notFound"


def test_completion_window_openai_400_azure_creates_then_fails(emu):
    oai = emu.submit(jsonl(1), prefix="/v1", completion_window="48h")
    assert oai.status == 400 and oai.json()["error"]["param"] == "completion_window"
    az = emu.submit(jsonl(1), completion_window="48h")
    assert az.status == 200 and az.json()["status"] == "validating"
    failed = emu.wait_batch(az.json()["id"], "failed")
    assert "24h" in failed["errors"]["data"][0]["message"]
    assert failed["output_file_id"] is None and failed["error_file_id"] is None and failed["failed_at"]


def test_openai_endpoint_must_be_a_v1_path(emu):
    resp = emu.submit(jsonl(1), prefix="/v1", endpoint="/chat/completions")
    assert resp.status == 400 and resp.json()["error"]["param"] == "endpoint"


def test_token_limit_exceeded_fail_fast_and_failed_modes(emu):
    emu.config(token_limit_exceeded=True)
    resp = emu.submit(jsonl(1))
    assert resp.status == 400
    assert resp.json()["error"]["code"] == "token_limit_exceeded"
    assert "token_limit_exceeded" in resp.text and "gpt-4o-batch" in resp.json()["error"]["message"]
    assert emu.state()["batches"] == 0
    emu.config(token_limit_exceeded="failed")
    created = emu.submit(jsonl(1))
    assert created.status == 200
    failed = emu.wait_batch(created.json()["id"], "failed")
    assert failed["errors"]["data"][0]["code"] == "token_limit_exceeded"


def test_enqueued_token_quota_fails_fast_on_azure(emu):
    emu.config(max_enqueued_tokens=100, hold="validating")
    assert emu.submit(jsonl(2)).status == 200               # ~90 estimated tokens, under the limit
    over = emu.submit(jsonl(2))
    assert over.status == 400 and over.json()["error"]["code"] == "token_limit_exceeded"
    # OpenAI counts its own account and reports the overflow as a failed batch
    assert emu.submit(jsonl(2, model="m"), prefix="/v1").status == 200
    oai = emu.submit(jsonl(2, model="m"), prefix="/v1")
    assert oai.status == 200
    emu.config(hold=None)
    failed = emu.wait_batch(oai.json()["id"], "failed", prefix="/v1")
    assert failed["errors"]["data"][0]["code"] == "token_limit_exceeded"


def test_lifecycle_durations_and_timestamps(emu):
    emu.config(durations={"validating": 0.2, "in_progress": 0.2, "finalizing": 0.2})
    batch_id = emu.submit(jsonl(2)).json()["id"]
    seen = set()

    def completed():
        body = emu.api("GET", f"/openai/batches/{batch_id}").json()
        seen.add(body["status"])
        return body if body["status"] == "completed" else None

    done = wait_for(completed, timeout=10, message="completion")
    assert {"validating", "in_progress", "finalizing", "completed"} <= seen
    assert done["in_progress_at"] - done["created_at"] in (0, 1)
    assert done["request_counts"] == {"total": 2, "completed": 2, "failed": 0}


def test_global_hold_stops_batches_and_release_continues(emu):
    emu.config(hold="in_progress")
    batch_id = emu.submit(jsonl(2)).json()["id"]
    held = emu.wait_batch(batch_id, "in_progress")
    assert held["request_counts"] == {"total": 2, "completed": 0, "failed": 0}
    assert emu.api("GET", f"/openai/batches/{batch_id}").json()["status"] == "in_progress"
    emu.config(hold=None)
    emu.wait_batch(batch_id, "completed")


def test_per_line_failures_go_to_the_error_file(emu):
    done_id = emu.submit(jsonl(4, fail={1, 3})).json()["id"]
    done = emu.wait_batch(done_id, "completed")
    assert done["request_counts"] == {"total": 4, "completed": 2, "failed": 2}
    errs = lines_of(emu, done["error_file_id"])
    assert sorted(x["custom_id"] for x in errs) == ["fail-1", "fail-3"]
    assert all(x["response"]["status_code"] == 400 and "error" in x["response"]["body"] for x in errs)
    assert sorted(x["custom_id"] for x in lines_of(emu, done["output_file_id"])) == ["task-0", "task-2"]


def test_output_file_id_is_null_when_every_line_failed(emu):
    emu.config(line_fail_prefix="task-")
    done = emu.wait_batch(emu.submit(jsonl(3)).json()["id"], "completed")
    assert done["output_file_id"] is None
    assert done["request_counts"] == {"total": 3, "completed": 0, "failed": 3}
    assert len(lines_of(emu, done["error_file_id"])) == 3


def test_cancel_gives_partial_output_and_is_idempotent(emu):
    emu.config(hold="in_progress", durations={"cancelling": 0.2})
    batch_id = emu.submit(jsonl(10)).json()["id"]
    emu.wait_batch(batch_id, "in_progress")
    resp = emu.api("POST", f"/openai/batches/{batch_id}/cancel")
    assert resp.status == 200 and resp.json()["status"] == "cancelling" and resp.json()["cancelling_at"]
    again = emu.api("POST", f"/openai/batches/{batch_id}/cancel")
    assert again.status == 200 and again.json()["status"] in ("cancelling", "cancelled")
    done = emu.wait_batch(batch_id, "cancelled")
    assert done["cancelled_at"] >= done["cancelling_at"]
    assert done["request_counts"] == {"total": 10, "completed": 5, "failed": 0}
    assert sorted(x["custom_id"] for x in lines_of(emu, done["output_file_id"])) == \
        sorted(f"task-{i}" for i in range(5))
    assert emu.api("POST", f"/openai/batches/{batch_id}/cancel").json()["status"] == "cancelled"
    assert emu.api("GET", f"/openai/batches/{batch_id}/cancel").status == 404   # cancel is POST


def test_cancel_of_a_finished_batch_is_400(emu):
    done = emu.wait_batch(emu.submit(jsonl(1)).json()["id"], "completed")
    resp = emu.api("POST", f"/openai/batches/{done['id']}/cancel")
    assert resp.status == 400 and "completed" in resp.json()["error"]["message"]
    assert emu.api("POST", "/openai/batches/batch_nope/cancel").status == 404


def test_list_batches_newest_first_with_cursor(emu):
    ids = [emu.submit(jsonl(1)).json()["id"] for _ in range(5)]
    page = emu.api("GET", "/openai/batches", query={"limit": 2}).json()
    assert [b["id"] for b in page["data"]] == [ids[4], ids[3]]
    assert page["has_more"] is True and page["first_id"] == ids[4] and page["last_id"] == ids[3]
    rest = emu.api("GET", "/openai/batches", query={"after": page["last_id"]}).json()
    assert [b["id"] for b in rest["data"]] == [ids[2], ids[1], ids[0]] and rest["has_more"] is False
    assert emu.api("GET", "/openai/batches", query={"limit": 500}).status == 200    # Azure: no maximum
    assert emu.api("GET", "/openai/batches", query={"limit": 0}).status == 400


def test_openai_list_limit_is_1_to_100(emu):
    assert emu.api("GET", "/v1/batches", query={"limit": 100}).status == 200
    resp = emu.api("GET", "/v1/batches", query={"limit": 101})
    assert resp.status == 400 and resp.json()["error"]["param"] == "limit"


def test_preview_odata_filter_and_orderby(emu):
    ids = emu.create_batches(3, status="completed")
    failed = emu.create_batches(1, status="failed")
    body = emu.api("GET", "/openai/batches", api_version=AZ_PV,
                   query={"$filter": "status eq 'Completed'", "$orderby": "created_at asc"}).json()
    assert [b["id"] for b in body["data"]] == ids
    created = emu.api("GET", f"/openai/batches/{failed[0]}").json()["created_at"]
    newer = emu.api("GET", "/openai/batches", api_version=AZ_PV,
                    query={"$filter": f"created_at gt {created - 1} and status eq 'failed'"}).json()
    assert [b["id"] for b in newer["data"]] == failed
    bad = emu.api("GET", "/openai/batches", api_version=AZ_PV, query={"$filter": "drop table"})
    assert bad.status == 400


def test_deleting_the_input_file_does_not_break_the_batch(emu):
    emu.config(hold="validating")
    created = emu.submit(jsonl(3)).json()
    assert emu.api("DELETE", f"/openai/files/{created['input_file_id']}").status == 200
    emu.config(hold=None)
    done = emu.wait_batch(created["id"], "completed")
    assert done["request_counts"]["completed"] == 3


def test_embeddings_and_responses_lines(emu):
    emb = emu.submit(jsonl(2, url="/v1/embeddings"), endpoint="/embeddings").json()
    out = lines_of(emu, emu.wait_batch(emb["id"], "completed")["output_file_id"])
    assert out[0]["response"]["body"]["object"] == "list"
    assert out[0]["response"]["body"]["data"][0]["object"] == "embedding"
    resp = emu.submit(jsonl(2, model="gpt-4o", url="/v1/responses"), prefix="/v1", endpoint="/v1/responses").json()
    out = lines_of(emu, emu.wait_batch(resp["id"], "completed", prefix="/v1")["output_file_id"], "/v1")
    assert out[0]["response"]["body"]["object"] == "response"
