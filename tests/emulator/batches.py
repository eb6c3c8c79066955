"""Batches API: create (with the service's synchronous checks), get, list (cursor, OData filter) and cancel."""

import json
import os
import re
import shutil
import time

import render
from errors import ApiError, bad_request, not_found
from files import int_param, lookup
from render import file_status
from store import BatchRec, new_batch_id
from transport import json_reply

OPENAI_ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions",
                    "/v1/moderations", "/v1/images/generations", "/v1/images/edits", "/v1/videos")
MAX_JSON_BODY = 1 << 20


async def read_json(ctx):
    raw = await ctx.request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise bad_request("The request body is too large.")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def _required_string(body, key):
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise bad_request(f"Missing required parameter: '{key}'.", param=key)
    return value


def check_metadata(metadata):
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise bad_request("Invalid type for 'metadata': expected an object.", param="metadata")
    if len(metadata) > 16:
        raise bad_request("Invalid 'metadata': too many properties. Expected an object with at most 16 "
                          f"properties, but got an object with {len(metadata)} properties instead.",
                          param="metadata")
    for key, value in metadata.items():
        if len(key) > 64:
            raise bad_request(f"Invalid 'metadata': string too long. Keys may be at most 64 characters "
                              f"long, but the key {key[:16]!r}... has {len(key)} characters.",
                              param="metadata")
        if not isinstance(value, str):
            raise bad_request(f"Invalid type for 'metadata.{key}': expected a string.", param=f"metadata.{key}")
        if len(value) > 512:
            raise bad_request(f"Invalid 'metadata.{key}': string too long. Values may be at most 512 "
                              f"characters long, but got {len(value)} characters.", param=f"metadata.{key}")
    return dict(metadata)


def _check_output_expiry(ctx, value):
    if value is None:
        return
    lo, hi = ctx.surface.expiry_range()
    if not isinstance(value, dict) or value.get("anchor") != "created_at" or \
            not isinstance(value.get("seconds"), int) or not lo <= value["seconds"] <= hi:
        raise bad_request("Invalid 'output_expires_after': expected {\"anchor\": \"created_at\", \"seconds\": "
                          f"<integer between {lo} and {hi}>}}.", param="output_expires_after")


def _human(n):
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _peek_model(path):
    """The body.model of the first line, as the service reads the deployment name at submission."""
    try:
        with open(path, "rb") as fh:
            line = fh.readline(1 << 20)
        return json.loads(line)["body"]["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _enqueued(ctx, family):
    """Estimated tokens of this account's batches that are not finished yet."""
    return sum(b.est_tokens for b in ctx.store.batches.values()
               if b.family == family and b.status not in ("completed", "failed", "expired", "cancelled"))


def _token_limit_error(limit, deployment):
    message = (f"The number of enqueued tokens has surpassed the configured limit of {_human(limit)} for the "
               f"deployment '{deployment}'. Please either increase the limit or try again once the current "
               "jobs have finished.")
    return {"code": "token_limit_exceeded", "message": message, "param": None, "line": None}


async def create(ctx):
    body = await read_json(ctx)
    surface, cfg = ctx.surface, ctx.cfg
    if body.get("input_blob") is not None and surface.is_azure:
        raise bad_request("'input_blob' (bring your own storage) is not supported by this emulator.",
                          param="input_blob")
    input_file_id = _required_string(body, "input_file_id")
    endpoint = _required_string(body, "endpoint")
    window = _required_string(body, "completion_window")
    metadata = check_metadata(body.get("metadata"))
    _check_output_expiry(ctx, body.get("output_expires_after"))
    if not surface.is_azure:
        if endpoint not in OPENAI_ENDPOINTS:
            raise bad_request(f"Invalid value for 'endpoint': {endpoint!r}. Supported values are: "
                              + ", ".join(f"'{e}'" for e in OPENAI_ENDPOINTS) + ".",
                              param="endpoint", oai_code="invalid_value")
        if window != "24h":
            raise bad_request(f"Invalid value for 'completion_window': {window!r}. Supported values are: '24h'.",
                              param="completion_window", oai_code="invalid_value")
    rec = lookup(ctx, input_file_id, param="input_file_id")
    if rec.purpose != "batch":
        raise bad_request(f"The input file {input_file_id} must be uploaded with purpose 'batch', "
                          f"not '{rec.purpose}'.", param="input_file_id")
    now = time.time()
    if surface.is_azure:
        status = file_status(rec, cfg, now)
        if status != "processed":
            raise bad_request(f"The input file {input_file_id} is in '{status}' state. Only files with status "
                              "'Processed' are accepted for batch inferencing", param="input_file_id")

    family = surface.family
    est_tokens = max(1, rec.bytes // 4)
    deployment = _peek_model(rec.path) or "unknown"
    limit = int(cfg["max_enqueued_tokens"])
    await ctx.lifecycle.refresh_all()          # batches that finished meanwhile free their tokens
    over_quota = limit > 0 and _enqueued(ctx, family) + est_tokens > limit
    mode = cfg["token_limit_exceeded"]
    fail_after = None
    if mode in (True, "fail_fast") or (over_quota and family == "azure" and mode != "failed"):
        err = _token_limit_error(limit, deployment)
        raise ApiError(400, "token_limit_exceeded", err["message"], oai_code="token_limit_exceeded")
    if mode == "failed" or over_quota:
        fail_after = _token_limit_error(limit, deployment)
    if surface.is_azure and window != "24h" and fail_after is None:
        fail_after = {"code": "invalid_request", "param": "completion_window", "line": None,
                      "message": f"The completion window '{window}' is not supported. Currently the completion "
                                 "window must be set to 24h."}

    batch_id = new_batch_id(family)
    input_path = os.path.join(ctx.store.batch_dir, batch_id + ".jsonl")
    try:
        os.link(rec.path, input_path)      # snapshot: deleting the input file later changes nothing
    except OSError:
        shutil.copyfile(rec.path, input_path)
    b = ctx.store.add_batch(BatchRec(
        id=batch_id, family=family, seq=ctx.store.next_seq(), input_file_id=input_file_id,
        input_path=input_path, endpoint=endpoint, completion_window=window, metadata=metadata,
        created_at=now, status_since=now, est_tokens=est_tokens, fail_after_validation=fail_after))
    headers = {}
    if surface.create_status() == 201:
        headers = {"deployment-enqueued-tokens": str(_enqueued(ctx, family)),
                   "deployment-maximum-enqueued-tokens": str(limit)}
    return json_reply(surface.create_status(), render.batch_obj(b, surface.dialect, cfg), headers)


def _batch(ctx, batch_id):
    b = ctx.store.batches.get(batch_id)
    if b is None or b.family != ctx.surface.family:
        raise not_found("batch", batch_id, param="batch_id")
    return b


async def get_batch(ctx, batch_id):
    b = _batch(ctx, batch_id)
    await ctx.lifecycle.refresh(b)
    return json_reply(200, render.batch_obj(b, ctx.surface.dialect, ctx.cfg))


async def cancel(ctx, batch_id):
    b = _batch(ctx, batch_id)
    await ctx.lifecycle.cancel(b)
    return json_reply(200, render.batch_obj(b, ctx.surface.dialect, ctx.cfg))


_CLAUSE = re.compile(r"^\s*(created_at|status)\s+(eq|ne|gt|ge|lt|le)\s+(\d+|'[^']*')\s*$", re.I)
_OPS = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}


def parse_filter(text):
    """The OData subset the docs use: created_at gt N and status eq 'Completed', joined by 'and'."""
    preds = []
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        m = _CLAUSE.match(clause)
        if not m:
            raise bad_request(f"Invalid $filter expression: {text!r}.", param="$filter")
        field, op, value = m.group(1).lower(), m.group(2).lower(), m.group(3)
        if field == "status":
            if not value.startswith("'") or op not in ("eq", "ne"):
                raise bad_request(f"Invalid $filter expression: {text!r}.", param="$filter")
            want = value.strip("'").lower()
            preds.append(lambda b, f=_OPS[op], w=want: f(b.status, w))  # statuses compare case-insensitively
        else:
            if value.startswith("'"):
                raise bad_request(f"Invalid $filter expression: {text!r}.", param="$filter")
            preds.append(lambda b, f=_OPS[op], w=int(value): f(int(b.created_at), w))
    return preds


async def list_batches(ctx):
    surface = ctx.surface
    limit = int_param(ctx, "limit", 20, 1, surface.max_list_batches_limit())
    recs = [b for b in map(ctx.store.batches.get, reversed(ctx.store.batch_order)) if b.family == surface.family]
    odata = surface.dialect == "azure" and surface.is_preview
    flt = ctx.query.get("$filter") if odata else None
    if flt:
        preds = parse_filter(flt)
        await ctx.lifecycle.refresh_all()
        recs = [b for b in recs if all(p(b) for p in preds)]
    orderby = (ctx.query.get("$orderby") or "").strip().lower() if odata else ""
    if orderby:
        if orderby not in ("created_at asc", "created_at desc", "created_at"):
            raise bad_request(f"Invalid $orderby expression: {orderby!r}.", param="$orderby")
        if orderby != "created_at desc":     # OData's default direction is ascending
            recs.reverse()
    chunk, more = render.paginate(recs, ctx.query.get("after"), limit)
    for b in chunk:
        await ctx.lifecycle.refresh(b)
    items = [render.batch_obj(b, surface.dialect, ctx.cfg) for b in chunk]
    return json_reply(200, render.page(items, surface.dialect, ctx.cfg, more))
