"""Batch results: deterministic fake responses written to output/error JSONL files, out of input order."""

import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass

PAD = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "
SAFE = {"filtered": False, "severity": "safe"}
CONTENT_FILTER = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}
PROMPT_FILTER = {"hate": SAFE, "jailbreak": {"filtered": False, "detected": False}, "self_harm": SAFE,
                 "sexual": SAFE, "violence": SAFE}
EXPIRED_ERROR = {"code": "batch_expired",
                 "message": "This request could not be executed before the completion window expired."}


@dataclass
class Outcome:
    succeeded: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def permutation(n, seed):
    """A deterministic order that differs from the input order whenever n >= 2."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    if n >= 2 and order == sorted(order):
        order.reverse()
    return order


def answer_text(custom_id, pad_to):
    """(head, padding): the answer is head + padding, `pad_to` characters long when padding is asked for.

    The padding is plain ASCII without quotes or backslashes, so it can be spliced into JSON as is."""
    head = f"Emulated answer for {custom_id}."
    if pad_to <= len(head):
        return head, ""
    reps = (pad_to - len(head)) // len(PAD) + 1
    return head, (" " + PAD * reps)[:pad_to - len(head)]


TEXT_SLOT = "\x00answer\x00"                 # placeholder replaced by the (long) answer after encoding
TEXT_SLOT_JSON = json.dumps(TEXT_SLOT)


def _hex(seed, n=24):
    return hashlib.sha1(seed.encode()).hexdigest()[:n]


def response_body(kind, family, model, custom_id, prompt_tokens, text, created, text_len):
    completion_tokens = max(1, text_len // 4)
    usage = {"completion_tokens": completion_tokens, "prompt_tokens": prompt_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    if kind == "/embeddings":
        return {"object": "list", "data": [{"object": "embedding", "index": 0,
                                            "embedding": [round(0.001 * (i + 1), 3) for i in range(8)]}],
                "model": model, "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}, 0
    if kind == "/responses":
        return {"id": "resp_" + _hex(custom_id + "r", 32), "object": "response", "created_at": created,
                "status": "completed", "model": model,
                "output": [{"type": "message", "id": "msg_" + _hex(custom_id + "m", 32), "status": "completed",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}],
                "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}, completion_tokens
    if kind == "/completions":
        return {"id": "cmpl-" + _hex(custom_id), "object": "text_completion", "created": created, "model": model,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
                "usage": usage}, completion_tokens
    if family == "azure":
        body = {"choices": [{"content_filter_results": CONTENT_FILTER, "finish_reason": "stop", "index": 0,
                             "logprobs": None, "message": {"content": text, "role": "assistant"}}],
                "created": created, "id": "chatcmpl-" + _hex(custom_id, 29), "model": model,
                "object": "chat.completion",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": PROMPT_FILTER}],
                "system_fingerprint": "fp_emulator", "usage": usage}
    else:
        body = {"id": "chatcmpl-" + _hex(custom_id, 29), "object": "chat.completion", "created": created,
                "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                                     "refusal": None},
                                             "logprobs": None, "finish_reason": "stop"}],
                "usage": usage, "system_fingerprint": "fp_emulator"}
    return body, completion_tokens


def failure_body(family):
    if family == "azure":
        return {"error": {"code": "content_filter", "status": 400, "param": "prompt",
                          "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                                     "content management policy."}}
    return {"error": {"message": "The request was rejected by the emulator (custom_id has the failure prefix).",
                      "type": "invalid_request_error", "param": "messages", "code": None}}


def _line(family, batch_id, custom_id, response, error, answer=None):
    if family == "azure":
        obj = {"custom_id": custom_id, "response": response, "error": error}
    else:
        obj = {"id": "batch_req_" + _hex(batch_id + custom_id, 32), "custom_id": custom_id,
               "response": response, "error": error}
    text = json.dumps(obj, separators=(",", ":"))
    if answer is not None:
        head, padding = answer
        text = text.replace(TEXT_SLOT_JSON, json.dumps(head)[:-1] + padding + '"', 1)
    return text + "\n"


def write_results(requests, processed, batch_id, family, kind, model, pad_to, out_path, err_path,
                  unprocessed_expired=False):
    """Write results for the first `processed` requests; optionally list the rest as batch_expired.

    `requests` holds (custom_id, fails, prompt_tokens). Returns an Outcome.
    """
    created = int(time.time())
    res = Outcome()
    order = permutation(len(requests), batch_id)
    with open(out_path, "w", encoding="utf-8") as out, open(err_path, "w", encoding="utf-8") as err:
        for idx in order:
            custom_id, fails, prompt_tokens = requests[idx]
            rid = str(uuid.UUID(_hex(batch_id + custom_id, 32))) if family == "azure" \
                else "req_" + _hex(batch_id + custom_id + "q", 32)
            if idx >= processed:
                if unprocessed_expired:
                    err.write(_line(family, batch_id, custom_id, None, EXPIRED_ERROR))
                    res.failed += 1
                continue
            if fails:
                response = {"body": failure_body(family), "request_id": rid, "status_code": 400} \
                    if family == "azure" else {"status_code": 400, "request_id": rid, "body": failure_body(family)}
                err.write(_line(family, batch_id, custom_id, response, None))
                res.failed += 1
                continue
            answer = answer_text(custom_id, pad_to)
            body, completion_tokens = response_body(kind, family, model, custom_id, prompt_tokens, TEXT_SLOT,
                                                    created, len(answer[0]) + len(answer[1]))
            response = {"body": body, "request_id": rid, "status_code": 200} if family == "azure" \
                else {"status_code": 200, "request_id": rid, "body": body}
            out.write(_line(family, batch_id, custom_id, response, None, answer))
            res.succeeded += 1
            res.input_tokens += prompt_tokens
            res.output_tokens += completion_tokens
    return res
