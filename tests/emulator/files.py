"""Files API: streamed multipart upload, get, list, delete and content download."""

import asyncio
import itertools
import os
import time

import render
from errors import ApiError, bad_request, not_found
from multipart import FormReader, MultipartError, boundary_of
from store import FileRec, new_file_id
from transport import file_reply, json_reply, pace

READ_CHUNK = 1 << 20
MAX_FIELD_BYTES = 64 * 1024
# App key (set by control_api.register) of the uploads being received: {n: {"filename", "received"}}.
UPLOADS = "uploads_in_progress"
_upload_ids = itertools.count(1)


async def _read_field(form, part):
    data = bytearray()
    while True:
        piece = await form.read()
        if piece is None:
            break
        if len(data) + len(piece) > MAX_FIELD_BYTES:
            raise bad_request(f"The form field '{part.name}' is too long.", param=part.name)
        data.extend(piece)
    return data.decode("utf-8", "replace")


async def _receive(ctx, progress):
    """Parse the multipart body, streaming the `file` part to a temporary file.

    `progress` (listed by GET /_emulator/uploads) gets the file part's filename and bytes received."""
    req, cfg = ctx.request, ctx.cfg
    if req.content_type != "multipart/form-data":
        raise bad_request("The request must be sent as multipart/form-data with the fields 'purpose' and 'file'.")
    fields, tmp, filename, size, too_large = {}, None, None, 0, False
    bps = cfg["throttle_bps"]
    loop = asyncio.get_running_loop()
    try:
        # throttled: small reads, so that pacing is smooth and the client is held back as it sends
        form = FormReader(req.content, boundary_of(req.headers.get("Content-Type", "")),
                          max(1, min(READ_CHUNK, int(bps) // 20)) if bps else READ_CHUNK)
        while True:
            part = await form.next_part()
            if part is None:
                break
            if part.is_multipart:
                raise bad_request("Nested multipart bodies are not supported.")
            if part.name == "file" and tmp is None:
                progress["filename"] = part.filename
                filename = part.filename or "file"
                tmp = ctx.store.temp_path()
                t0 = loop.time()
                with open(tmp, "wb") as fh:
                    while True:
                        piece = await form.read()
                        if piece is None:
                            break
                        size += len(piece)
                        progress["received"] = size
                        if size > cfg["max_file_bytes"]:
                            too_large = True     # keep draining so the client gets the answer
                        else:
                            fh.write(piece)
                        await pace(size, t0, bps)
            else:
                fields[part.name] = await _read_field(form, part)
    except MultipartError as exc:
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


def uploads_in_progress(app):
    """[{filename, received}] of the uploads being received, oldest first."""
    return [dict(u) for u in app[UPLOADS].values()]


async def upload(ctx):
    uploads, key = ctx.request.app[UPLOADS], next(_upload_ids)
    uploads[key] = {"filename": None, "received": 0}
    try:
        return await _upload(ctx, uploads[key])
    finally:
        del uploads[key]


async def _upload(ctx, progress):
    fields, tmp, filename, size = await _receive(ctx, progress)
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
