"""The core library against the emulator: uploads, lifecycle, paging, retries, lost responses, deadlines."""
import email.utils
import json
import os
import time

import pytest

import corecli
from corecli import run
from mount import VALGRIND

DEPLOYMENT = "gpt-4o-batch"


def write_jsonl(path, n, model=DEPLOYMENT, prefix="task", url="/chat/completions",
                pad=0):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            body = {"model": model, "messages": [{"role": "user", "content": f"q{i}" + "x" * pad}]}
            f.write(json.dumps({"custom_id": f"{prefix}-{i}", "method": "POST",
                                "url": url, "body": body}) + "\n")
    return path


def poll(fn, pred, timeout=30.0, what="condition"):
    """Polls fn() until pred(value) holds; fails after timeout. Not a sleep-sync:
    it waits on an observable state of the service."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not pred(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value}")
        time.sleep(0.05)
        value = fn()
    return value


def calls(emu, method, path_prefix):
    return [r for r in emu.requests()
            if r["method"] == method and r["path"].startswith(path_prefix)]


def upload(emu, tmp_path, n=3, name="in.jsonl", surface="azure", **kw):
    path = write_jsonl(tmp_path / name, n, **kw)
    r = run(emu, "upload", path, surface=surface)
    return r.result


# --- uploads -------------------------------------------------------------


def test_upload_50mb_streams_with_bounded_memory(emulator, tmp_path):
    emulator.config(max_file_bytes=200 * 1024 * 1024)
    path = tmp_path / "big.jsonl"
    write_jsonl(path, 50 * 1024 * 1024 // 1100, pad=1000)
    size = os.path.getsize(path)
    assert size >= 50 * 1000 * 1000
    r = run(emulator, "upload", path)
    f = r.result
    assert f["bytes"] == size
    assert f["status"] == "pending"  # Azure dated: 201 + pending
    # Under valgrind the process's peak includes memcheck's own; compare with a tiny upload's.
    base = run(emulator, "upload", write_jsonl(tmp_path / "tiny.jsonl", 1)).peak_rss_kb if VALGRIND else 0
    assert r.peak_rss_kb - base < 32 * 1024, f"peak RSS {r.peak_rss_kb} kB (base {base}) for a {size}-byte upload"
    got = run(emulator, "file-get", f["id"]).result
    assert got["bytes"] == size and got["filename"] == "big.jsonl"
    assert r.stats["bytes_up"] >= size


def test_upload_then_wait_until_processed(emulator, tmp_path):
    # still pending when the waiting client starts, even when it starts slowly (valgrind)
    emulator.config(file_process_delay=3.0 if VALGRIND else 0.3)
    f = upload(emulator, tmp_path)
    assert f["status"] == "pending"
    r = run(emulator, "wait-file", f["id"], 10000)
    assert r.result["status"] == "processed"
    assert len(calls(emulator, "GET", "/openai/files/")) >= 2


def test_create_from_pending_file_fails_like_the_service(emulator, tmp_path):
    emulator.config(file_stuck_pending=True)
    f = upload(emulator, tmp_path)
    err = run(emulator, "batch-create", f["id"], "/chat/completions").error
    assert err["rc"] == "CORE_EINVAL" and err["http_status"] == 400
    assert "pending" in err["message"]


# --- the whole lifecycle -------------------------------------------------


def test_full_batch_lifecycle(emulator, tmp_path):
    emulator.config(durations={"validating": 0, "in_progress": 0, "finalizing": 0},
                    file_process_delay=0)
    f = upload(emulator, tmp_path, n=5)
    run(emulator, "wait-file", f["id"], 10000).result
    b = run(emulator, "batch-create", f["id"], "/chat/completions",
            "batchfs_name=in.jsonl").result
    assert b["status"] == "validating"
    assert b["metadata"] == {"batchfs_name": "in.jsonl"}
    done = poll(lambda: run(emulator, "batch-get", b["id"]).result,
                lambda x: x["status"] == "completed", what="completion")
    assert done["counts"] == {"total": 5, "completed": 5, "failed": 0}
    out = tmp_path / "out.jsonl"
    n = run(emulator, "content", done["output_file_id"], out).result["bytes"]
    lines = out.read_text().splitlines()
    assert n == out.stat().st_size and len(lines) == 5
    assert sorted(json.loads(l)["custom_id"] for l in lines) == sorted(f"task-{i}" for i in range(5))
    # Azure: an error file exists even on success, and it is empty.
    errf = tmp_path / "err.jsonl"
    assert run(emulator, "content", done["error_file_id"], errf).result["bytes"] == 0
    assert errf.stat().st_size == 0
    assert run(emulator, "file-delete", f["id"]).result is True
    assert run(emulator, "file-get", f["id"]).error["rc"] == "CORE_ENOTFOUND"


def test_cancel_goes_cancelling_then_cancelled(emulator, tmp_path):
    emulator.config(durations={"validating": 0, "in_progress": 600, "cancelling": 0.2},
                    file_process_delay=0)
    f = upload(emulator, tmp_path, n=4)
    b = run(emulator, "batch-create", f["id"], "/chat/completions").result
    poll(lambda: run(emulator, "batch-get", b["id"]).result,
         lambda x: x["status"] == "in_progress", what="in_progress")
    c = run(emulator, "batch-cancel", b["id"]).result
    assert c["status"] == "cancelling"
    final = poll(lambda: run(emulator, "batch-get", b["id"]).result,
                 lambda x: x["status"] == "cancelled", what="cancelled")
    assert final["cancelled_at"] > 0


def test_validation_failure_reports_code_and_line(emulator, tmp_path):
    emulator.config(durations={"validating": 0}, file_process_delay=0)
    path = tmp_path / "dup.jsonl"
    write_jsonl(path, 3)
    with open(path, "a") as fh:  # line 4 repeats task-1
        fh.write(json.dumps({"custom_id": "task-1", "method": "POST", "url": "/chat/completions",
                             "body": {"model": DEPLOYMENT, "messages": []}}) + "\n")
    f = run(emulator, "upload", path).result
    b = run(emulator, "batch-create", f["id"], "/chat/completions").result
    failed = poll(lambda: run(emulator, "batch-get", b["id"]).result,
                  lambda x: x["status"] == "failed", what="failure")
    assert failed["errors"][0]["code"] == "duplicate_custom_id"
    assert failed["errors"][0]["line"] == 4


@pytest.mark.parametrize("quirk", ["iso_timestamps", "capitalized_status", "null_counts",
                                   "errors_data_object", "empty_string_ids", "null_endpoint"])
def test_quirks_parse(emulator, tmp_path, quirk):
    emulator.config(**{quirk: True}, durations={"validating": 0}, file_process_delay=0)
    path = tmp_path / "bad.jsonl"
    path.write_text('{"custom_id": "a", "method": "POST"\n')  # invalid_json_line on line 1
    f = run(emulator, "upload", path).result
    b = run(emulator, "batch-create", f["id"], "/chat/completions").result
    assert b["status"] == "validating" and b["created_at"] > 1700000000
    failed = poll(lambda: run(emulator, "batch-get", b["id"]).result,
                  lambda x: x["status"] == "failed", what="failure")
    assert failed["errors"] and failed["errors"][0]["code"] == "invalid_json_line"
    assert failed["errors"][0]["line"] == 1
    assert failed["failed_at"] >= failed["created_at"] > 0
    assert failed["output_file_id"] is None


# --- listing -------------------------------------------------------------


@pytest.mark.parametrize("omit_last_id", [False, True])
def test_pagination_over_250_batches(emulator, omit_last_id):
    emulator.create_batches(250)
    emulator.config(omit_last_id=omit_last_id)
    emulator.clear_requests()
    r = run(emulator, "batch-list-all", 100).result
    assert len(r["ids"]) == 250 and len(set(r["ids"])) == 250
    assert r["pages"] == 3
    lists = calls(emulator, "GET", "/openai/batches")
    assert len(lists) == 3
    assert "after" not in lists[0]["query"]
    assert lists[1]["query"]["after"] == r["ids"][99]
    assert lists[2]["query"]["after"] == r["ids"][199]
    assert all(q["query"]["limit"] == "100" for q in lists)


# --- surfaces ------------------------------------------------------------


@pytest.mark.parametrize("surface", ["azure", "azure-v1", "openai"])
def test_each_surface_upload_create_get_list(emulator, tmp_path, surface):
    emulator.config(file_process_delay=0)
    model = DEPLOYMENT if surface != "openai" else "gpt-4o-mini"
    path = write_jsonl(tmp_path / "s.jsonl", 2, model=model,
                       url="/v1/chat/completions")
    f = run(emulator, "upload", path, surface=surface).result
    run(emulator, "wait-file", f["id"], 10000, surface=surface).result
    b = run(emulator, "batch-create", f["id"], "/v1/chat/completions",
            surface=surface).result
    assert run(emulator, "batch-get", b["id"], surface=surface).result["id"] == b["id"]
    page = run(emulator, "batch-list", 10, surface=surface).result
    assert b["id"] in [x["id"] for x in page["data"]]
    prefix = {"azure": "/openai/batches", "azure-v1": "/openai/v1/batches",
              "openai": "/v1/batches"}[surface]
    reqs = calls(emulator, "POST", prefix)
    assert len(reqs) == 1
    assert reqs[0]["auth"] == ("bearer" if surface == "openai" else "api-key")


def test_deployments_legacy_listing_and_models(emulator):
    names = run(emulator, "deployments").result
    assert DEPLOYMENT in names
    models = run(emulator, "deployments", surface="openai").result
    assert isinstance(models, list) and models


# --- retries -------------------------------------------------------------


def _retry_after_date(seconds):
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


@pytest.mark.parametrize("headers,min_gap", [
    ({"retry-after-ms": "300"}, 0.25),
    ({"Retry-After": "1"}, 0.9),
    ({"Retry-After": "DATE+4"}, None),
    ({}, 0.0),
])
def test_429_is_retried_honouring_the_hint(emulator, headers, min_gap):
    ids = emulator.create_batches(1)
    hdrs = {k: (_retry_after_date(4) if v == "DATE+4" else v) for k, v in headers.items()}
    emulator.fault(method="GET", path="^/openai/batches/", action="status", status=429,
                   headers=hdrs, body={"error": {"code": "429", "message": "Rate limit is exceeded."}},
                   times=2)
    emulator.clear_requests()
    r = run(emulator, "batch-get", ids[0])
    assert r.result["id"] == ids[0]
    assert r.stats["retries"] == 2
    gets = calls(emulator, "GET", "/openai/batches/")
    assert [g["status"] for g in gets] == [429, 429, 200]
    if min_gap is None:
        # An HTTP date is absolute (1 s resolution): no retry before it, whenever
        # the 429 arrived.
        when = email.utils.parsedate_to_datetime(hdrs["Retry-After"]).timestamp()
        assert gets[0]["ts"] < when - 1.5, "the first 429 came too late for the date to matter"
        assert gets[1]["ts"] >= when - 1.0, f"retried {when - gets[1]['ts']:.3f}s before the date"
        return
    gap = gets[1]["ts"] - gets[0]["ts"]
    assert gap >= min_gap, f"retried after {gap:.3f}s, hint asked {min_gap}s"


def test_retry_after_beyond_cap_is_not_waited_for(emulator):
    ids = emulator.create_batches(1)
    emulator.fault(method="GET", path="^/openai/batches/", action="status", status=429,
                   headers={"Retry-After": "600"}, times=1)
    emulator.clear_requests()
    r = run(emulator, "batch-get", ids[0], opts=["--retry-after-cap-ms", "5000"])
    e = r.error
    assert e["rc"] == "CORE_ETHROTTLED" and e["http_status"] == 429
    assert e["retry_after_ms"] == 600000
    assert len(calls(emulator, "GET", "/openai/batches/")) == 1
    assert r.elapsed < 5


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_on_get_is_retried(emulator, status):
    ids = emulator.create_batches(1)
    emulator.fault(method="GET", path="^/openai/batches/", action="status", status=status,
                   times=2)
    r = run(emulator, "batch-get", ids[0])
    assert r.result["id"] == ids[0] and r.stats["retries"] == 2


def test_retry_budget_is_bounded(emulator):
    ids = emulator.create_batches(1)
    emulator.fault(method="GET", path="^/openai/batches/", action="status", status=503,
                   times=-1)
    emulator.clear_requests()
    e = run(emulator, "batch-get", ids[0], opts=["--max-retries", "3"]).error
    assert e["rc"] == "CORE_EHTTP" and e["http_status"] == 503
    assert "after 4 attempts" in e["message"]
    assert len(calls(emulator, "GET", "/openai/batches/")) == 4


def test_401_is_reported_not_retried(emulator):
    emulator.clear_requests()
    e = run(emulator, "batch-list", 5, key="wrong-key-123").error
    assert e["rc"] == "CORE_EAUTH" and e["http_status"] == 401 and e["code"] == "401"
    assert "Access denied" in e["message"]
    assert len(calls(emulator, "GET", "/openai/batches")) == 1
    assert "wrong-key-123" not in json.dumps(e)


def test_unknown_api_version_is_a_clear_404(emulator):
    e = run(emulator, "batch-list", opts=["--api-version", "2023-05-15"]).error
    assert e["rc"] == "CORE_ENOTFOUND" and e["http_status"] == 404
    assert "Resource not found" in e["message"]


# --- non-idempotent POSTs ------------------------------------------------


def _batches_total(emu):
    return emu.state()["batches"]


def test_lost_create_response_is_reconciled_not_duplicated(emulator, tmp_path):
    emulator.config(file_process_delay=0)
    f = upload(emulator, tmp_path)
    emulator.fault(method="POST", path="^/openai/batches$", action="drop_response", times=1)
    emulator.clear_requests()
    r = run(emulator, "batch-create", f["id"], "/chat/completions",
            "batchfs_sha256=abc123", "--reconcile", "batchfs_sha256")
    b = r.result
    assert b["metadata"]["batchfs_sha256"] == "abc123"
    assert _batches_total(emulator) == 1
    assert len(calls(emulator, "POST", "/openai/batches")) == 1
    assert r.stats["reconciled"] == 1


def test_lost_create_without_a_key_is_ambiguous_and_not_resent(emulator, tmp_path):
    emulator.config(file_process_delay=0)
    f = upload(emulator, tmp_path)
    emulator.fault(method="POST", path="^/openai/batches$", action="drop_response", times=1)
    emulator.clear_requests()
    e = run(emulator, "batch-create", f["id"], "/chat/completions").error
    assert e["rc"] == "CORE_EAMBIGUOUS"
    assert "not resent" in e["message"]
    assert _batches_total(emulator) == 1
    assert len(calls(emulator, "POST", "/openai/batches")) == 1


def test_500_on_create_is_looked_up_then_resent_once(emulator, tmp_path):
    emulator.config(file_process_delay=0)
    f = upload(emulator, tmp_path)
    emulator.fault(method="POST", path="^/openai/batches$", action="status", status=500, times=1)
    r = run(emulator, "batch-create", f["id"], "/chat/completions", "k=v1", "--reconcile", "k")
    assert r.result["metadata"] == {"k": "v1"}
    assert _batches_total(emulator) == 1
    assert len(calls(emulator, "POST", "/openai/batches")) == 2


def test_429_on_create_is_resent_safely(emulator, tmp_path):
    emulator.config(file_process_delay=0)
    f = upload(emulator, tmp_path)
    emulator.fault(method="POST", path="^/openai/batches$", action="status", status=429,
                   headers={"retry-after-ms": "50"}, times=1)
    r = run(emulator, "batch-create", f["id"], "/chat/completions")
    assert r.result["status"] == "validating"
    assert _batches_total(emulator) == 1


def test_lost_upload_response_is_reconciled(emulator, tmp_path):
    path = write_jsonl(tmp_path / "lost.jsonl", 3)
    emulator.fault(method="POST", path="^/openai/files$", action="drop_response", times=1)
    r = run(emulator, "upload", path)
    assert r.result["filename"] == "lost.jsonl"
    assert emulator.state()["files"] == 1
    assert r.stats["reconciled"] == 1


def test_upload_reset_mid_body_is_resent_and_lands_once(emulator, tmp_path):
    path = write_jsonl(tmp_path / "reset.jsonl", 2000, pad=200)
    emulator.fault(method="POST", path="^/openai/files$", action="reset_request",
                   after_bytes=65536, times=1)
    r = run(emulator, "upload", path)
    assert r.result["bytes"] == os.path.getsize(path)
    assert emulator.state()["files"] == 1
    assert len(calls(emulator, "POST", "/openai/files")) == 2


def test_token_limit_exceeded_at_create_is_a_quota_error(emulator, tmp_path):
    emulator.config(file_process_delay=0)
    f = upload(emulator, tmp_path)
    emulator.config(token_limit_exceeded=True)
    e = run(emulator, "batch-create", f["id"], "/chat/completions").error
    assert e["rc"] == "CORE_EQUOTA" and e["http_status"] == 400
    assert "token_limit_exceeded" in e["message"]
    assert _batches_total(emulator) == 0


# --- downloads -----------------------------------------------------------


def _completed_batch(emu, tmp_path, n):
    emu.config(durations={"validating": 0, "in_progress": 0, "finalizing": 0},
               file_process_delay=0)
    f = upload(emu, tmp_path, n=n, pad=100)
    b = run(emu, "batch-create", f["id"], "/chat/completions").result
    return poll(lambda: run(emu, "batch-get", b["id"]).result,
                lambda x: x["status"] == "completed", what="completion")


def test_download_cut_mid_body_resumes_and_is_complete(emulator, tmp_path):
    done = _completed_batch(emulator, tmp_path, 500)
    ref = tmp_path / "ref.jsonl"
    size = run(emulator, "content", done["output_file_id"], ref).result["bytes"]
    emulator.fault(method="GET", path="/content$", action="reset_response",
                   after_bytes=size // 2, times=1)
    out = tmp_path / "out.jsonl"
    r = run(emulator, "content", done["output_file_id"], out)
    assert r.result["bytes"] == size
    assert out.read_bytes() == ref.read_bytes()
    assert r.stats["retries"] == 1
    # Resumed with a Range request from where the cut happened, not restarted.
    assert r.stats["bytes_down"] < size * 1.2, r.stats


# --- threads ------------------------------------------------------------


def test_one_client_serves_many_threads_and_reuses_connections(emulator):
    ids = emulator.create_batches(1)
    emulator.clear_requests()
    r = run(emulator, "parallel-get", 16, 20, ids[0])
    assert r.result["ok"] == 16 * 20
    assert r.stats["requests"] == 320
    assert len(calls(emulator, "GET", "/openai/batches/")) == 320
    # 320 requests over at most one connection per thread: connections are reused.
    assert 1 <= r.stats["connects"] <= 16, r.stats


# --- deadlines and broken servers ----------------------------------------


def test_stalled_server_hits_the_deadline(emulator):
    ids = emulator.create_batches(1)
    emulator.fault(method="GET", path="^/openai/batches/", action="stall", seconds=30,
                   times=-1)
    r = run(emulator, "batch-get", ids[0],
            opts=["--request-timeout-ms", "400", "--deadline-ms", "1500"], timeout=20)
    e = r.error
    assert e["rc"] == "CORE_ETIMEDOUT"
    assert "timed out" in e["message"].lower() or "deadline" in e["message"]
    assert r.elapsed < 10


def test_connection_refused_is_a_transport_error(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now

    class Nowhere:
        url = f"http://127.0.0.1:{port}"

    r = run(Nowhere, "batch-list", opts=["--max-retries", "2", "--backoff-ms", "10"])
    e = r.error
    assert e["rc"] == "CORE_ETRANSPORT" and e["http_status"] == 0
    assert "after 3 attempts" in e["message"]


@pytest.mark.parametrize("action,rc", [("malformed", "CORE_EPARSE"),
                                       ("truncated", "CORE_EPARSE"),
                                       ("html", "CORE_EHTTP")])
def test_broken_bodies_are_clear_errors(emulator, action, rc):
    ids = emulator.create_batches(1)
    emulator.fault(method="GET", path="^/openai/batches/", action=action, times=-1)
    e = run(emulator, "batch-get", ids[0], opts=["--max-retries", "1", "--backoff-ms", "10"]).error
    assert e["rc"] == rc, e
    assert e["message"]


def test_the_key_never_appears_in_output_or_debug_logs(emulator, tmp_path):
    secret = "sk-THIS-IS-THE-SECRET-0123456789"
    emulator_key_run = run(emulator, "batch-list", key=secret, opts=["--debug"])
    blob = emulator_key_run.stdout + emulator_key_run.stderr
    assert emulator_key_run.code == 1  # the emulator does not know this key
    assert secret not in blob
    assert "THIS-IS-THE-SECRET" not in blob
