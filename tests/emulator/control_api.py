"""Control endpoints under /_emulator (loopback only, no auth, never logged): config, faults, seeding."""

import ipaddress
import json
import os
import time

from aiohttp import web

import config
import files
import identity
import output
import validation
from faults import FaultError
from lifecycle import DEFAULT_MAX_REQUESTS, kind_of, response_model
from store import BatchRec, FileRec, new_batch_id, new_file_id

PREFIX = "/_emulator"
# Timestamps a batch seeded in a given status has passed through.
PASSED = {
    "validating": (), "in_progress": ("in_progress",), "finalizing": ("in_progress", "finalizing"),
    "completed": ("in_progress", "finalizing", "completed"), "failed": ("failed",),
    "cancelling": ("in_progress", "cancelling"), "cancelled": ("in_progress", "cancelling", "cancelled"),
    "expired": ("in_progress", "expired"),
}


def _json(obj, status=200):
    return web.json_response(obj, status=status)


def _error(message, status=400):
    return _json({"error": message}, status)


@web.middleware
async def loopback_only(request, handler):
    if request.path.startswith(PREFIX):
        try:
            local = ipaddress.ip_address(request.remote or "").is_loopback
        except ValueError:
            local = False
        if not local:
            return _error("control endpoints answer on loopback only", 403)
    return await handler(request)


async def _body(request):
    try:
        raw = await request.read()
        return json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body is not valid JSON"}),
                                 content_type="application/json") from None


def _state(request):
    return request.app["state"]


async def get_config(request):
    return _json(_state(request).cfg)


async def patch_config(request):
    st = _state(request)
    try:
        new = config.merged(st.cfg, await _body(request))
    except config.ConfigError as exc:
        return _error(str(exc))
    await st.lifecycle.refresh_all()        # what happened so far happened under the old settings
    old_hold = st.cfg["hold"]
    st.cfg = new
    st.lifecycle.release_global_hold(old_hold, new["hold"])
    return _json(st.cfg)


async def get_faults(request):
    return _json({"faults": _state(request).faults.rules})


async def add_faults(request):
    st = _state(request)
    body = await _body(request)
    specs = body if isinstance(body, list) else [body]
    added = []
    try:
        for spec in specs:
            added.append(st.faults.add(_expand_body(spec)))
    except FaultError as exc:
        for rule in added:
            st.faults.rules = [r for r in st.faults.rules if r["id"] != rule["id"]]
        return _error(str(exc))
    return _json({"faults": added})


MAX_BUILT_BODY = 512 << 20


def _expand_body(spec):
    """A rule's `body_repeat` {prefix, unit, count, suffix} becomes its `body` (prefix + unit * count +
    suffix): answers far larger than a control request may be (e.g. a 100 MB list)."""
    if not isinstance(spec, dict) or "body_repeat" not in spec:
        return spec
    spec = dict(spec)
    rep = spec.pop("body_repeat")
    if "body" in spec:
        raise FaultError("give either body or body_repeat")
    if not isinstance(rep, dict) or set(rep) - {"prefix", "unit", "count", "suffix"}:
        raise FaultError("body_repeat must be an object with prefix, unit, count, suffix")
    prefix, unit, suffix = rep.get("prefix", ""), rep.get("unit", ""), rep.get("suffix", "")
    count = rep.get("count", 0)
    if not all(isinstance(x, str) for x in (prefix, unit, suffix)) or not isinstance(count, int) \
            or isinstance(count, bool) or count < 0:
        raise FaultError("body_repeat: prefix, unit, suffix are strings, count a whole number >= 0")
    if len(prefix) + len(unit) * count + len(suffix) > MAX_BUILT_BODY:
        raise FaultError(f"body_repeat: the body would be over {MAX_BUILT_BODY} characters")
    spec["body"] = prefix + unit * count + suffix
    return spec


async def clear_faults(request):
    _state(request).faults.clear()
    return _json({"faults": []})


async def get_requests(request):
    return _json({"requests": _state(request).reqlog.entries})


async def clear_requests(request):
    _state(request).reqlog.clear()
    return _json({"requests": []})


async def get_uploads(request):
    return _json({"uploads": files.uploads_in_progress(request.app)})


async def get_state(request):
    st = _state(request)
    await st.lifecycle.refresh_all()
    return _json(st.store.counts())


async def reset(request):
    st = _state(request)
    st.lifecycle.reset()
    st.store.reset()
    st.faults.clear()
    st.reqlog.clear()
    st.identity.reset()
    st.cfg = st.initial_cfg
    return _json({"reset": True})


# ---- identities (Entra ID clients, managed identity, ARM names, issued tokens) -----------------

def _identity_call(fn):
    async def handler(request):
        try:
            return await fn(request, _state(request).identity)
        except identity.IdentityError as exc:
            return _error(str(exc))
    return handler


async def get_identity(request, ident):
    return _json(ident.view())


async def patch_identity(request, ident):
    return _json(ident.patch(await _body(request)))


async def add_client(request, ident):
    return _json(ident.add_client(await _body(request)))


async def remove_client(request, ident):
    client = ident.clients.pop(request.match_info["client_id"], None)
    if client is None:
        return _error("no such client", 404)
    return _json({"removed": client.client_id})


async def add_federated(request, ident):
    return _json(ident.add_federated(request.match_info["client_id"], await _body(request),
                                     identity._base_url(request)))


async def revoke_tokens(request, ident):
    return _json(ident.revoke(await _body(request)))


async def list_tokens(request, ident):
    return _json({"tokens": ident.token_list()})


async def issue_token(request, ident):
    status, body = ident.issue_for_cli(await _body(request))
    return _json(body, status)


async def token_requests(request, ident):
    return _json({"requests": ident.log, "counts": ident.counts()})


async def clear_token_requests(request, ident):
    ident.log.clear()
    return _json({"requests": [], "counts": {}})


def _seed_input(st, family, deployment, url, n):
    """One shared input file for seeded batches, registered like an upload."""
    store = st.store
    file_id = new_file_id(family)
    path = store.file_path(file_id)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"custom_id": f"task-{i}", "method": "POST", "url": url,
                                 "body": {"model": deployment,
                                          "messages": [{"role": "user", "content": f"Question {i}?"}]}}) + "\n")
    now = time.time()
    rec = store.add_file(FileRec(id=file_id, family=family, purpose="batch", filename="seed.jsonl", path=path,
                                 bytes=os.path.getsize(path), created_at=now, seq=store.next_seq(),
                                 final_status="processed"))
    return rec


async def create_batches(request):
    st = _state(request)
    body = await _body(request)
    count = body.get("count", 1)
    status = body.get("status", "completed")
    family = "openai" if body.get("dialect") == "openai" else "azure"
    n_requests = body.get("requests", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 100000:
        return _error("count must be an integer between 1 and 100000")
    if status not in PASSED:
        return _error(f"status must be one of {', '.join(PASSED)}")
    if not isinstance(n_requests, int) or isinstance(n_requests, bool) or not 1 <= n_requests <= 100000:
        return _error("requests must be an integer between 1 and 100000")
    ids_wanted = body.get("ids")
    if ids_wanted is not None and (not isinstance(ids_wanted, list) or len(ids_wanted) != count
                                   or not all(isinstance(i, str) and i for i in ids_wanted)
                                   or len(set(ids_wanted)) != count
                                   or any(i in st.store.batches for i in ids_wanted)):
        return _error("ids must be a list of count distinct, unused, non-empty strings")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict)
                                 or not all(isinstance(v, str) for v in metadata.values())):
        return _error("metadata must be an object of strings")
    deployment = body.get("deployment") or (st.cfg["deployments"][0]["name"] if family == "azure" else "gpt-4o-mini")
    endpoint = body.get("endpoint") or ("/chat/completions" if family == "azure" else "/v1/chat/completions")
    url = "/v1" + endpoint if family == "azure" and not endpoint.startswith("/v1/") else endpoint
    with_output = bool(body.get("with_output", False))

    store = st.store
    inp = _seed_input(st, family, deployment, url, n_requests)
    snapshot = os.path.join(store.batch_dir, inp.id + ".seed.jsonl")   # deleting the input changes nothing
    os.link(inp.path, snapshot)
    res = validation.validate(snapshot, family, endpoint, [deployment], DEFAULT_MAX_REQUESTS[family],
                              st.cfg["line_fail_prefix"])
    requests = res.requests
    processed = {"completed": len(requests), "cancelled": len(requests) // 2,
                 "expired": len(requests) // 2}.get(status)
    template = None
    if with_output and processed is not None:
        out_t, err_t = store.file_path(".seed-out"), store.file_path(".seed-err")
        outcome = output.write_results(requests, processed, "seed", family, kind_of(url),
                                       response_model(family, deployment, st.cfg["deployments"]),
                                       int(st.cfg["output_content_bytes"]), out_t, err_t, status == "expired")
        template = (out_t, err_t, outcome)

    now = time.time()
    ids = []
    for i in range(count):
        created = now - count + i + 1
        bid = ids_wanted[i] if ids_wanted else new_batch_id(family)
        b = BatchRec(id=bid, family=family, seq=store.next_seq(), input_file_id=inp.id,
                     input_path=snapshot, endpoint=endpoint, completion_window="24h", metadata=metadata,
                     created_at=created, status=status, status_since=now, hold=bool(body.get("hold", False)),
                     model=deployment, url=validation.normalise_url(url) if family == "azure" else url)
        for passed in PASSED[status]:
            b.times[f"{passed}_at"] = created
        if status != "validating":
            b.requests = requests
            b.total = len(requests)
        if status == "failed":
            b.requests, b.total = None, 0
            b.errors = [{"code": "invalid_request", "message": "The batch failed (seeded by the emulator).",
                         "param": None, "line": None}]
        if status in ("finalizing", "completed"):
            b.completed = sum(1 for r in requests if not r[1])
            b.failed = b.total - b.completed
        if status in ("cancelling", "cancelled", "expired"):
            b.processed_limit = len(requests) // 2
        if template is not None:
            _attach_outputs(st, b, template)
        store.add_batch(b)
        ids.append(b.id)
    if template is not None:
        for path in template[:2]:
            os.unlink(path)
    return _json({"ids": ids})


def _attach_outputs(st, b, template):
    out_t, err_t, outcome = template
    store = st.store
    b.completed, b.failed = outcome.succeeded, outcome.failed
    for src, what, wanted in ((out_t, "output", outcome.succeeded > 0),
                              (err_t, "error", outcome.failed > 0 or b.family == "azure")):
        if not wanted:
            continue
        fid = new_file_id(b.family, generated=True)
        path = store.file_path(fid)
        os.link(src, path)
        store.add_file(FileRec(id=fid, family=b.family, purpose="batch_output", filename=f"{b.id}_{what}.jsonl",
                               path=path, bytes=os.path.getsize(path), created_at=b.created_at,
                               seq=store.next_seq(), generated=True, final_status="processed"))
        if what == "output":
            b.output_file_id = fid
        else:
            b.error_file_id = fid


async def update_batch(request):
    st = _state(request)
    b = st.store.batches.get(request.match_info["batch_id"])
    if b is None:
        return _error("no such batch", 404)
    body = await _body(request)
    status = body.get("status")
    if status is not None and status not in config.BATCH_STATUSES:
        return _error(f"status must be one of {', '.join(config.BATCH_STATUSES)}")
    if status is not None:
        await st.lifecycle.force(b, status, body.get("error"))
    if "hold" in body:
        await st.lifecycle.set_hold(b, body["hold"])
    return _json({"id": b.id, "status": b.status, "hold": b.hold})


def register(app):
    app.middlewares.append(loopback_only)
    app[files.UPLOADS] = {}
    r = app.router
    r.add_get(PREFIX + "/config", get_config)
    r.add_patch(PREFIX + "/config", patch_config)
    r.add_get(PREFIX + "/faults", get_faults)
    r.add_post(PREFIX + "/faults", add_faults)
    r.add_delete(PREFIX + "/faults", clear_faults)
    r.add_get(PREFIX + "/requests", get_requests)
    r.add_delete(PREFIX + "/requests", clear_requests)
    r.add_get(PREFIX + "/state", get_state)
    r.add_get(PREFIX + "/uploads", get_uploads)
    r.add_post(PREFIX + "/reset", reset)
    r.add_post(PREFIX + "/batches", create_batches)
    r.add_post(PREFIX + "/batches/{batch_id}", update_batch)
    r.add_get(PREFIX + "/identity", _identity_call(get_identity))
    r.add_patch(PREFIX + "/identity", _identity_call(patch_identity))
    r.add_post(PREFIX + "/identity/clients", _identity_call(add_client))
    r.add_delete(PREFIX + "/identity/clients/{client_id}", _identity_call(remove_client))
    r.add_post(PREFIX + "/identity/clients/{client_id}/federated", _identity_call(add_federated))
    r.add_post(PREFIX + "/identity/revoke", _identity_call(revoke_tokens))
    r.add_get(PREFIX + "/identity/tokens", _identity_call(list_tokens))
    r.add_post(PREFIX + "/identity/token", _identity_call(issue_token))
    r.add_get(PREFIX + "/identity/requests", _identity_call(token_requests))
    r.add_delete(PREFIX + "/identity/requests", _identity_call(clear_token_requests))

