"""Emulator fault injection (status codes, resets, drops, stalls, broken bodies, throttling) and request log."""

import http.client
import json
import socket
import time

import pytest

from control import encode_multipart, jsonl

KEY = {"api-key": "test-key"}
Q = "?api-version=2024-10-21"


def raw_exchange(emu, request_bytes, timeout=5.0):
    """Send raw bytes; return (bytes received, error) where error is what ended the read."""
    sock = socket.create_connection((emu.host, emu.port), timeout=timeout)
    got = bytearray()
    err = None
    try:
        sock.sendall(request_bytes)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got.extend(chunk)
    except OSError as exc:
        err = exc
    finally:
        sock.close()
    return bytes(got), err


def get_bytes(path):
    return f"GET {path} HTTP/1.1\r\nHost: x\r\napi-key: test-key\r\nConnection: close\r\n\r\n".encode()


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_status_429_with_retry_after_ms_then_normal(emu):
    emu.fault(path="^/openai/batches$", status=429, headers={"retry-after-ms": "150"})
    first = emu.api("GET", "/openai/batches")
    assert first.status == 429 and first.headers["retry-after-ms"] == "150"
    assert first.json()["error"]["code"] == "429"
    assert emu.api("GET", "/openai/batches").status == 200      # times defaults to 1


@pytest.mark.parametrize("headers", [{"Retry-After": "2"}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, {}])
def test_status_429_retry_after_forms(emu, headers):
    emu.fault(status=429, headers=headers, body={"error": {"code": "429", "message": "slow down"}})
    resp = emu.api("GET", "/openai/files")
    assert resp.status == 429 and resp.json()["error"]["message"] == "slow down"
    for k, v in headers.items():
        assert resp.headers[k] == v
    if not headers:
        assert resp.headers.get("Retry-After") is None and resp.headers.get("retry-after-ms") is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors(emu, status):
    emu.fault(method="GET", status=status, times=2)
    assert emu.api("GET", "/openai/files").status == status
    assert emu.api("GET", "/v1/files").status == status
    assert emu.api("GET", "/openai/files").status == 200


def test_openai_default_429_body(emu):
    emu.fault(status=429)
    body = emu.api("GET", "/v1/files").json()
    assert body["error"]["code"] == "rate_limit_exceeded" and body["error"]["type"] == "requests"


def test_forever_rules_method_and_path_matching_and_clear(emu):
    emu.fault(method="POST", path="/cancel$", status=503, times=-1)
    assert emu.api("GET", "/openai/batches").status == 200
    for _ in range(3):
        assert emu.api("POST", "/openai/batches/batch_x/cancel").status == 503
    assert len(emu.faults()) == 1
    emu.clear_faults()
    assert emu.api("POST", "/openai/batches/batch_x/cancel").status == 404


def test_fault_rule_validation(emu):
    with pytest.raises(Exception, match="unknown action"):
        emu.fault(action="explode")
    with pytest.raises(Exception, match="needs a status"):
        emu.fault(action="status")
    with pytest.raises(Exception, match="regular expression"):
        emu.fault(status=500, path="(")


def test_reset_request_mid_upload_creates_nothing(emu):
    emu.fault(method="POST", path="^/openai/files$", action="reset_request", after_bytes=4096)
    body, ctype = encode_multipart([("purpose", "batch")], "file", "big.jsonl", b"x" * 2_000_000)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        emu.api("POST", "/openai/files", data=body, headers={"Content-Type": ctype})
    assert emu.state()["files"] == 0
    entry = emu.requests()[-1]
    assert entry["fault"] == "reset_request" and entry["status"] is None
    assert emu.upload(jsonl(1)).status == 201          # next request is fine


def test_drop_response_on_an_upload_keeps_the_file(emu):
    emu.fault(method="POST", path="^/openai/files$", action="drop_response")
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        emu.upload(b"z" * 3_000_000)
    assert emu.state()["files"] == 1 and emu.uploads_in_progress() == []
    assert emu.requests()[-1]["fault"] == "drop_response"


def test_reset_response_cuts_a_download_mid_body(emu):
    data = jsonl(200).encode()
    file_id = emu.upload(data).json()["id"]
    emu.fault(path="/content$", action="reset_response", after_bytes=1000)
    raw, _ = raw_exchange(emu, get_bytes(f"/openai/files/{file_id}/content{Q}"))
    status, headers, body = split_response(raw)
    assert status == 200 and int(headers["content-length"]) == len(data)
    assert body == data[:1000]
    assert emu.requests()[-1]["status"] is None


def test_reset_response_on_create_still_creates_the_batch(emu):
    file_id = emu.upload(jsonl(1)).json()["id"]
    emu.fault(method="POST", path="^/openai/batches$", action="reset_response", after_bytes=20)
    req = json.dumps({"input_file_id": file_id, "endpoint": "/chat/completions", "completion_window": "24h"})
    raw, _ = raw_exchange(emu, (f"POST /openai/batches{Q} HTTP/1.1\r\nHost: x\r\napi-key: test-key\r\n"
                                f"Content-Type: application/json\r\nContent-Length: {len(req)}\r\n\r\n{req}").encode())
    status, headers, body = split_response(raw)
    assert status == 200 and len(body) == 20 and int(headers["content-length"]) > 20
    assert emu.state()["batches"] == 1


def test_drop_response_after_side_effects(emu):
    file_id = emu.upload(jsonl(1)).json()["id"]
    emu.fault(method="POST", path="^/openai/batches$", action="drop_response")
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        emu.api("POST", "/openai/batches", json_body={"input_file_id": file_id, "endpoint": "/chat/completions",
                                                      "completion_window": "24h"})
    assert emu.state()["batches"] == 1       # the POST whose answer was lost did create the batch
    assert emu.requests()[-1]["fault"] == "drop_response"


def test_stall_without_and_with_partial_body(emu):
    emu.fault(action="stall", seconds=2)
    t0 = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):
        emu.api("GET", "/openai/files", timeout=0.3)
    assert time.monotonic() - t0 < 1.5
    file_id = emu.upload(jsonl(50)).json()["id"]
    emu.fault(action="stall", seconds=0.3, after_bytes=100)
    raw, _ = raw_exchange(emu, get_bytes(f"/openai/files/{file_id}/content{Q}"))
    status, headers, body = split_response(raw)
    assert status == 200 and len(body) == 100 and int(headers["content-length"]) > 100


def test_latency_delays_but_answers(emu):
    emu.fault(action="latency", seconds=0.3)
    t0 = time.monotonic()
    assert emu.api("GET", "/openai/files").status == 200
    assert time.monotonic() - t0 >= 0.3


def test_malformed_truncated_and_html_bodies(emu):
    emu.fault(action="malformed")
    bad = emu.api("GET", "/openai/batches")
    assert bad.status == 200 and bad.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        bad.json()
    full = emu.api("GET", "/openai/batches").body
    emu.fault(action="truncated")
    cut = emu.api("GET", "/openai/batches")
    assert cut.status == 200 and cut.body == full[:len(full) // 2]
    assert int(cut.headers["Content-Length"]) == len(cut.body)
    with pytest.raises(ValueError):
        cut.json()
    emu.fault(action="html")
    page = emu.api("GET", "/openai/batches")
    assert page.status == 502 and page.headers["Content-Type"].startswith("text/html")
    assert page.text.lstrip().startswith("<!DOCTYPE html>")


def test_throttle_bps_limits_downloads_and_uploads(emu):
    data = b"y" * 60_000
    file_id = emu.upload(data).json()["id"]
    emu.config(throttle_bps=100_000)
    t0 = time.monotonic()
    got = emu.api("GET", f"/openai/files/{file_id}/content")
    assert got.body == data and time.monotonic() - t0 >= 0.5
    part = emu.api("GET", f"/openai/files/{file_id}/content", headers={"Range": "bytes=0-9999"})
    assert part.status == 206 and part.body == data[:10000]
    t0 = time.monotonic()
    assert emu.upload(data).status == 201
    assert time.monotonic() - t0 >= 0.5


def test_request_log_records_without_key_values(emu):
    emu.api("GET", "/openai/files")
    emu.api("GET", "/openai/files", auth="bearer")
    emu.api("GET", "/v1/files", key="wrong-key")
    emu.upload(jsonl(3))
    emu.get_config()                                  # control calls are not logged
    log = emu.requests()
    assert [e["auth"] for e in log] == ["api-key", "bearer", "bearer", "api-key"]
    assert [e["status"] for e in log] == [200, 200, 401, 201]
    assert log[0]["query"] == {"api-version": "2024-10-21"} and log[0]["path"] == "/openai/files"
    assert log[3]["body_bytes"] > len(jsonl(3)) and log[3]["method"] == "POST"
    assert all(e["fault"] is None and isinstance(e["ts"], float) for e in log)
    assert "test-key" not in json.dumps(log) and "wrong-key" not in json.dumps(log)
    emu.clear_requests()
    assert emu.requests() == []
