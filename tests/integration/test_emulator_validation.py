"""Emulator input validation while "validating": Azure's documented error codes with 1-based line numbers."""

import json

import pytest

from control import jsonl


def line(cid="t", url="/v1/chat/completions", model="gpt-4o-batch", method="POST", body=None, **extra):
    obj = {"custom_id": cid, "method": method, "url": url,
           "body": body if body is not None else {"model": model, "messages": [{"role": "user", "content": "x"}]}}
    obj.update(extra)
    return json.dumps(obj)


def run(emu, content, prefix="/openai", **create):
    created = emu.submit(content, prefix=prefix, **create)
    assert created.status == 200, created.text
    return emu.wait_batch(created.json()["id"], ("failed", "completed"), prefix=prefix)


def errors_of(batch):
    assert batch["status"] == "failed", batch
    assert batch["output_file_id"] is None and batch["failed_at"] is not None
    assert batch["errors"]["object"] == "list" and isinstance(batch["errors"]["data"], list)
    return [(e["code"], e["line"]) for e in batch["errors"]["data"]]


def test_empty_file(emu):
    batch = run(emu, b"")
    assert errors_of(batch) == [("empty_file", None)]
    assert batch["errors"]["data"][0]["message"] == \
        "The input file is empty. Please ensure that the batch contains at least one request."


def test_invalid_json_line_reports_line_numbers(emu):
    content = "\n".join([line("a"), "{not json", line("c"), "[1, 2]"]) + "\n"
    assert errors_of(run(emu, content)) == [("invalid_json_line", 2), ("invalid_json_line", 4)]


def test_too_many_tasks(emu):
    emu.config(max_requests=3)
    batch = run(emu, jsonl(4))
    assert errors_of(batch) == [("too_many_tasks", None)]
    assert "3" in batch["errors"]["data"][0]["message"]
    assert run(emu, jsonl(3))["status"] == "completed"


def test_openai_default_limit_is_50000_requests(emu):
    batch = run(emu, jsonl(50001, model="m"), prefix="/v1")
    assert errors_of(batch) == [("too_many_tasks", None)]
    assert "50,000" in batch["errors"]["data"][0]["message"]


@pytest.mark.parametrize("urls,endpoint,ok", [
    (["/v1/chat/completions", "/chat/completions"], "/chat/completions", True),   # Azure treats both alike
    (["/chat/completions", "/chat/completions"], "/v1/chat/completions", True),
    (["/v1/chat/completions", "/v1/embeddings"], "/chat/completions", False),       # lines disagree
    (["/v1/embeddings", "/v1/embeddings"], "/chat/completions", False),             # lines vs endpoint
])
def test_url_mismatch_on_azure(emu, urls, endpoint, ok):
    content = "\n".join(line(f"t{i}", url=u) for i, u in enumerate(urls)) + "\n"
    batch = run(emu, content, endpoint=endpoint)
    if ok:
        assert batch["status"] == "completed"
    else:
        assert ("url_mismatch", 2 if urls[0] != urls[1] else 1) in errors_of(batch)


def test_url_must_match_exactly_on_openai(emu):
    content = "\n".join([line("a", url="/v1/chat/completions", model="m"),
                         line("b", url="/chat/completions", model="m")]) + "\n"
    assert errors_of(run(emu, content, prefix="/v1")) == [("url_mismatch", 2)]


def test_model_not_found_and_model_mismatch(emu):
    unknown = run(emu, line("a", model="not-a-deployment") + "\n")
    assert errors_of(unknown) == [("model_not_found", 1)]
    mixed = "\n".join([line("a"), line("b", model="gpt-4o-mini-batch")]) + "\n"
    assert errors_of(run(emu, mixed)) == [("model_mismatch", 2)]


def test_openai_accepts_any_model_but_not_mixed_models(emu):
    assert run(emu, line("a", model="whatever") + "\n", prefix="/v1")["status"] == "completed"
    mixed = "\n".join([line("a", model="m1"), line("b", model="m2")]) + "\n"
    assert errors_of(run(emu, mixed, prefix="/v1")) == [("model_mismatch", 2)]


def test_duplicate_custom_id(emu):
    content = "\n".join([line("a"), line("b"), line("a")]) + "\n"
    assert errors_of(run(emu, content)) == [("duplicate_custom_id", 3)]


@pytest.mark.parametrize("bad,param", [
    ({"custom_id": None}, "custom_id"),
    ({"method": "GET"}, "method"),
    ({"body": "text"}, "body"),
    ({"url": None}, "url"),
    ({"body": {"messages": []}}, "body.model"),
])
def test_invalid_request(emu, bad, param):
    obj = json.loads(line("a"))
    for k, v in bad.items():
        if v is None:
            del obj[k]
        else:
            obj[k] = v
    batch = run(emu, line("ok") + "\n" + json.dumps(obj) + "\n")
    assert errors_of(batch) == [("invalid_request", 2)]
    assert batch["errors"]["data"][0]["param"] == param


def test_utf8_bom_gives_the_misleading_deployment_message(emu):
    batch = run(emu, b"\xef\xbb\xbf" + jsonl(2).encode())
    assert len(errors_of(batch)) == 1
    assert batch["errors"]["data"][0]["message"].startswith(
        "Validation failed: A valid model deployment name couldn't be extracted from the input file.")


def test_blank_lines_are_ignored(emu):
    content = line("a") + "\n\n" + line("b") + "\n\n"
    assert run(emu, content)["request_counts"]["total"] == 2
