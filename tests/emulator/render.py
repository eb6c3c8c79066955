"""JSON shapes of files, batches and lists per dialect, with the Azure documentation quirks applied."""

import datetime

from dialects import OPENAI

TIMESTAMP_FIELDS = ("created_at", "in_progress_at", "expires_at", "finalizing_at", "completed_at",
                    "failed_at", "expired_at", "cancelling_at", "cancelled_at")
DAY = 86400


def iso(ts):
    """'2024-07-19T17:13:57.2491382+00:00': seven fractional digits, as in the Azure REST docs."""
    whole = int(ts)
    frac = int(round((ts - whole) * 1e7))
    if frac >= 10**7:
        whole, frac = whole + 1, 0
    dt = datetime.datetime.fromtimestamp(whole, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%07d+00:00" % frac


def file_status(rec, cfg, now):
    """Azure uploads: pending until processed; generated files and OpenAI uploads: processed."""
    if rec.final_status is not None:
        return rec.final_status
    if cfg["file_stuck_pending"] or now <= rec.process_at:
        return "pending"
    if cfg["file_status_error"]:
        rec.final_status = "error"
        rec.status_details = ("The file could not be processed: the content is not a valid JSON Lines "
                              "document.")
    else:
        rec.final_status = "processed"
    return rec.final_status


def file_obj(rec, dialect, cfg, now, upload_response=False):
    status = file_status(rec, cfg, now)
    if dialect == OPENAI:
        return {"id": rec.id, "object": "file", "bytes": rec.bytes, "created_at": int(rec.created_at),
                "expires_at": rec.expires_at, "filename": rec.filename, "purpose": rec.purpose,
                "status": status, "status_details": rec.status_details}
    obj = {"status": status, "bytes": rec.bytes, "purpose": rec.purpose, "filename": rec.filename,
           "id": rec.id, "created_at": int(rec.created_at), "object": "file"}
    if rec.expires_at is not None:
        obj["expires_at"] = rec.expires_at
    if status == "error":
        obj["status_details"] = rec.status_details
    if upload_response and cfg["file_status_null"]:
        obj["status"] = None
        obj["status_details"] = None
    return obj


def _counts(b, dialect, cfg):
    counts = {"total": b.total, "completed": b.completed, "failed": b.failed}
    if dialect != OPENAI and cfg["null_counts"]:
        if b.status == "failed":
            counts = {"total": b.total, "completed": None, "failed": None}
        elif b.status not in ("completed", "cancelled", "expired"):
            counts = {"total": None, "completed": None, "failed": None}
    return counts


def _errors(b, dialect, cfg):
    if not b.errors:
        return None
    if dialect != OPENAI and cfg["errors_data_object"]:
        first = dict(b.errors[0])
        first["line"] = None if first.get("line") is None else str(first["line"])
        return {"object": "list", "data": first}
    return {"object": "list", "data": [dict(e) for e in b.errors]}


def batch_obj(b, dialect, cfg):
    azure = dialect != OPENAI
    quirk = (lambda k: azure and cfg[k])
    ts = {f: b.times.get(f) for f in TIMESTAMP_FIELDS}
    ts["created_at"] = b.created_at
    ts["expires_at"] = b.created_at + DAY

    def t(name):
        v = ts[name]
        if v is None:
            return None
        return iso(v) if quirk("iso_timestamps") else int(v)

    status = b.status.capitalize() if quirk("capitalized_status") else b.status
    out_id, err_id = b.output_file_id, b.error_file_id
    if quirk("empty_string_ids"):
        out_id, err_id = out_id or "", err_id or ""
    obj = {"id": b.id, "object": "batch", "endpoint": None if quirk("null_endpoint") else b.endpoint,
           "errors": _errors(b, dialect, cfg), "input_file_id": b.input_file_id,
           "completion_window": b.completion_window, "status": status,
           "output_file_id": out_id, "error_file_id": err_id}
    for f in TIMESTAMP_FIELDS:
        obj[f] = t(f)
    obj["request_counts"] = _counts(b, dialect, cfg)
    obj["metadata"] = b.metadata
    if not azure:
        if b.model:
            obj["model"] = b.model
        obj["usage"] = b.usage or {"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0},
                                   "output_tokens": 0, "output_tokens_details": {"reasoning_tokens": 0},
                                   "total_tokens": 0}
    return obj


def page(items, dialect, cfg, has_more, with_cursor=True):
    """A list object; `first_id`/`last_id`/`has_more` where the surface has them."""
    body = {"object": "list", "data": items}
    if with_cursor:
        if not (dialect != OPENAI and cfg["omit_last_id"]):
            body["first_id"] = items[0]["id"] if items else None
            body["last_id"] = items[-1]["id"] if items else None
        body["has_more"] = has_more
    return body


def paginate(recs, after, limit):
    """Items following the one whose id is `after`, at most `limit` of them, and whether more remain."""
    start = 0
    if after:
        for i, r in enumerate(recs):
            if r.id == after:
                start = i + 1
                break
        else:
            return [], False
    chunk = recs[start:start + limit] if limit else recs[start:]
    return chunk, start + len(chunk) < len(recs)
