"""Files API: streamed multipart upload, get, list, delete and content download."""

import asyncio
import os
import time

from aiohttp import MultipartReader

import render
from errors import ApiError, bad_request, not_found
from store import FileRec, new_file_id
from transport import file_reply, json_reply, pace

READ_CHUNK = 1 << 20
MAX_FIELD_BYTES = 64 * 1024


async def _read_field(part):
    data = bytearray()
    while True:
        chunk = await part.read_chunk(8192)
        if not chunk:
            break
        if len(data) + len(chunk) > MAX_FIELD_BYTES:
            raise bad_request(f"The form field '{part.name}' is too long.", param=part.name)
        data.extend(chunk)
    return data.decode("utf-8", "replace")


async def _receive(ctx):
    """Parse the multipart body, streaming the `file` part to a temporary file."""
    req, cfg = ctx.request, ctx.cfg
    if req.content_type != "multipart/form-data":
        raise bad_request("The request must be sent as multipart/form-data with the fields 'purpose' and 'file'.")
    fields, tmp, filename, size, too_large = {}, None, None, 0, False
    loop = asyncio.get_running_loop()
    try:
        reader = await req.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, MultipartReader):
                raise bad_request("Nested multipart bodies are not supported.")
            if part.name == "file" and tmp is None:
                filename = part.filename or "file"
                tmp = ctx.store.temp_path()
                t0 = loop.time()
                with open(tmp, "wb") as fh:
                    while True:
                        chunk = await part.read_chunk(READ_CHUNK)
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > cfg["max_file_bytes"]:
                            too_large = True     # keep draining so the client gets the answer
                        else:
                            fh.write(chunk)
                        await pace(size, t0, cfg["throttle_bps"])
            else:
                fields[part.name] = await _read_field(part)
    except ApiError:
        _discard(tmp)
        raise
    except (ValueError, AssertionError, RuntimeError, UnicodeDecodeError) as exc:
        _discard(tmp)
        raise bad_request(f"The multipart body could not be parsed: {exc}") from None
    except BaseException:
        _discard(tmp)
        raise
    if too_large:
        _discard(tmp)
        raise bad_request(f"File is too large. The maximum file size is {cfg['max_file_bytes']} bytes.",
                          param="file")
    return fields, tmp, filename, size


def _discard(path):
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _expiry(ctx, fields):
    """expires_after.seconds / expires_after[seconds] (and the anchor) with the surface's range."""
    seconds = fields.get("expires_after[seconds]", fields.get("expires_after.seconds"))
    anchor = fields.get("expires_after[anchor]", fields.get("expires_after.anchor"))
    if seconds is None and anchor is None:
        return None
    if anchor is not None and anchor != "created_at":
        raise bad_request("Invalid value for 'expires_after.anchor': only 'created_at' is supported.",
                          param="expires_after.anchor")
    lo, hi = ctx.surface.expiry_range()
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        raise bad_request(f"'expires_after.seconds' is required and must be an integer between {lo} and {hi}.",
                          param="expires_after.seconds") from None
    if ctx.surface.dialect == "openai" and anchor is None:
        raise bad_request("'expires_after.anchor' is required.", param="expires_after.anchor")
    if not lo <= value <= hi:
        raise bad_request(f"Invalid value for 'expires_after.seconds': {value}. It must be between {lo} and {hi}.",
                          param="expires_after.seconds")
    return value


def _check_file_limits(ctx, purpose, with_expiry):
    if not ctx.surface.is_azure or purpose != "batch":
        return
    uploads = [f for f in ctx.store.files.values()
               if f.family == "azure" and f.purpose == "batch" and not f.generated and f.has_expiry == with_expiry]
    limit = ctx.cfg["max_files_with_expiry"] if with_expiry else ctx.cfg["max_files"]
    if len(uploads) >= limit:
        raise ApiError(400, "quotaExceeded",
                       f"The maximum number of files with purpose 'batch' ({limit}) has been reached for this "
                       "resource. Delete files that are no longer needed"
                       + ("." if with_expiry else " or upload with an expiration (expires_after)."),
                       oai_code="quota_exceeded")


async def upload(ctx):
    fields, tmp, filename, size = await _receive(ctx)
    try:
        purpose = fields.get("purpose")
        if purpose is None:
            raise bad_request("Missing required parameter: 'purpose'.", param="purpose")
        if purpose not in ctx.surface.upload_purposes():
            raise bad_request("Invalid value for purpose.", param="purpose")
        if tmp is None:
            raise bad_request("Missing required parameter: 'file'.", param="file")
        seconds = _expiry(ctx, fields)
        _check_file_limits(ctx, purpose, seconds is not None)
    except ApiError:
        _discard(tmp)
        raise
    now = time.time()
    family = ctx.surface.family
    file_id = new_file_id(family)
    path = ctx.store.file_path(file_id)
    os.replace(tmp, path)
    expires_at = int(now) + seconds if seconds is not None else None
    if family == "openai" and expires_at is None and purpose == "batch":
        expires_at = int(now) + 2592000     # OpenAI: batch files expire after 30 days by default
    rec = ctx.store.add_file(FileRec(
        id=file_id, family=family, purpose=purpose, filename=filename, path=path, bytes=size, created_at=now,
        seq=ctx.store.next_seq(), process_at=now + float(ctx.cfg["file_process_delay"]),
        final_status="processed" if family == "openai" else None, expires_at=expires_at,
        has_expiry=seconds is not None))
    headers = {}
    if ctx.surface.upload_status() == 201:
        headers["Location"] = f"{ctx.request.scheme}://{ctx.request.host}/openai/files/{file_id}"
    return json_reply(ctx.surface.upload_status(),
                      render.file_obj(rec, ctx.surface.dialect, ctx.cfg, now, upload_response=True), headers)


def lookup(ctx, file_id, param="file_id"):
    rec = ctx.store.files.get(file_id)
    if rec is None or rec.family != ctx.surface.family:   # Azure and OpenAI are separate accounts
        raise not_found("file", file_id, param=param)
    return rec


async def get_file(ctx, file_id):
    rec = lookup(ctx, file_id)
    return json_reply(200, render.file_obj(rec, ctx.surface.dialect, ctx.cfg, time.time()))


def int_param(ctx, name, default, lo, hi):
    raw = ctx.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < lo or (hi is not None and value > hi):
        rng = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise bad_request(f"Invalid value for '{name}': {raw!r}. It must be an integer {rng}.", param=name)
    return value


async def list_files(ctx):
    purpose = ctx.query.get("purpose")
    recs = [f for f in ctx.store.files.values()
            if f.family == ctx.surface.family and (purpose is None or f.purpose == purpose)]
    now = time.time()
    if not ctx.surface.files_paginated():
        recs.sort(key=lambda f: f.seq, reverse=True)
        items = [render.file_obj(f, ctx.surface.dialect, ctx.cfg, now) for f in recs]
        return json_reply(200, render.page(items, ctx.surface.dialect, ctx.cfg, False, with_cursor=False))
    limit = int_param(ctx, "limit", 10000, 1, 10000)
    order = ctx.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request(f"Invalid value for 'order': {order!r}. Supported values are 'asc' and 'desc'.",
                          param="order")
    recs.sort(key=lambda f: f.seq, reverse=(order == "desc"))
    chunk, more = render.paginate(recs, ctx.query.get("after"), limit)
    items = [render.file_obj(f, ctx.surface.dialect, ctx.cfg, now) for f in chunk]
    return json_reply(200, render.page(items, ctx.surface.dialect, ctx.cfg, more))


async def delete_file(ctx, file_id):
    lookup(ctx, file_id)
    ctx.store.delete_file(file_id)
    return json_reply(200, {"object": "file", "deleted": True, "id": file_id})


async def content(ctx, file_id):
    rec = lookup(ctx, file_id)
    safe = "".join(c for c in rec.filename if c.isprintable() and c not in '"\\')
    headers = {"Content-Disposition": f'attachment; filename="{safe}"'}
    return file_reply(rec.path, os.path.getsize(rec.path), headers)
