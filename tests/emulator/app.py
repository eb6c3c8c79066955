"""aiohttp application: surface routing, authentication, request log, faults and error answers."""

import logging
import re
import secrets
import uuid
from dataclasses import dataclass

from aiohttp import web

import arm
import batches
import control_api
import errors
import faults
import files
import identity
import models
import transport
from dialects import ARM, AZURE, AZURE_V1, IDENTITY_DIALECTS, LEGACY_DEPLOYMENT_VERSIONS, OPENAI, classify
from lifecycle import Lifecycle
from reqlog import RequestLog

log = logging.getLogger("emulator")

# Resource routes shared by the three surfaces (paths below the surface prefix).
API_ROUTES = [
    ("POST", r"/files", files.upload),
    ("GET", r"/files", files.list_files),
    ("GET", r"/files/(?P<file_id>[^/]+)", files.get_file),
    ("DELETE", r"/files/(?P<file_id>[^/]+)", files.delete_file),
    ("GET", r"/files/(?P<file_id>[^/]+)/content", files.content),
    ("POST", r"/batches", batches.create),
    ("GET", r"/batches", batches.list_batches),
    ("GET", r"/batches/(?P<batch_id>[^/]+)", batches.get_batch),
    ("POST", r"/batches/(?P<batch_id>[^/]+)/cancel", batches.cancel),
    ("GET", r"/models", models.list_models),
    ("GET", r"/models/(?P<model_id>[^/]+)", models.get_model),
]
# Azure data plane on the legacy api-versions (2022-12-01, 2023-03-15-preview).
LEGACY_ROUTES = [
    ("GET", r"/deployments", models.legacy_deployments),
    ("GET", r"/deployments/(?P<name>[^/]+)", models.legacy_deployment),
]
_COMPILED = {}


def _compiled(table):
    key = id(table)
    if key not in _COMPILED:
        _COMPILED[key] = [(m, re.compile(p + r"\Z"), h) for m, p, h in table]
    return _COMPILED[key]


class AppState:
    """Everything one emulated resource owns."""

    def __init__(self, store, cfg, api_keys, bearer_tokens):
        self.store = store
        self.cfg = cfg
        self.initial_cfg = cfg
        self.api_keys = set(api_keys)
        self.bearer_tokens = set(api_keys) | set(bearer_tokens)
        self.lifecycle = Lifecycle(self)
        self.faults = faults.FaultBook()
        self.reqlog = RequestLog()
        self.identity = identity.IdentityState()


@dataclass
class Ctx:
    """What a resource handler gets."""
    request: web.Request
    surface: object
    state: AppState

    @property
    def store(self):
        return self.state.store

    @property
    def cfg(self):
        return self.state.cfg

    @property
    def lifecycle(self):
        return self.state.lifecycle

    @property
    def query(self):
        return self.request.query


def presented_credentials(request, surface):
    """(kind, value): the credential the client sent for this surface, or (None, None)."""
    authz = request.headers.get("Authorization", "")
    bearer = authz[7:].strip() if authz[:7].lower() == "bearer " else None
    if surface is not None and surface.is_azure and "api-key" in request.headers:
        return "api-key", request.headers["api-key"]
    if bearer is not None:
        return "bearer", bearer
    return None, None


def _route(surface, state, method):
    if surface.dialect == AZURE and surface.api_version in LEGACY_DEPLOYMENT_VERSIONS:
        table = LEGACY_ROUTES if state.cfg["legacy_deployments_api"] else []
    else:
        table = API_ROUTES
    for m, rx, handler in _compiled(table):
        match = rx.match(surface.subpath)
        if match and m == method:
            return handler, match.groupdict()
    return None, None


def _request_id_headers(dialect):
    if dialect == OPENAI:
        return {"x-request-id": "req_" + secrets.token_hex(16)}
    return {"apim-request-id": str(uuid.uuid4())}


async def _own_surface(request, surface, state):
    """Identity endpoints and ARM authenticate and answer by themselves."""
    try:
        if surface.dialect == ARM:
            return await arm.handle(request, surface, state)
        return await identity.handle(request, surface, state)
    except (ConnectionError, faults.Aborted):
        raise
    except Exception as exc:   # never let a bug kill the server: answer 500 and log it
        log.exception("handler failed for %s %s", request.method, request.path)
        return transport.json_reply(500, {"error": "server_error",
                                          "error_description": f"Internal error: {type(exc).__name__}"})


def _authorize(request, surface, state):
    """None when the request may go on, else the 401 Reply (api-key, static Bearer or an emulator token)."""
    dialect = surface.dialect
    kind, value = presented_credentials(request, surface)
    if kind == "api-key":
        if value in state.api_keys:
            return None
    elif kind == "bearer":
        if value in state.bearer_tokens:
            return None
        if surface.is_azure:
            status, obj = identity.data_plane_check(state, value, dialect == AZURE_V1, request.method,
                                                    surface.subpath)
            if status is None:
                return None
            if status is not False:
                return transport.json_reply(status, obj)
    return transport.json_reply(401, errors.unauthorized(dialect, value))


async def dispatch(request, surface, state):
    """Route, authenticate and run the handler; always returns a Reply."""
    if surface is not None and (surface.dialect in IDENTITY_DIALECTS or surface.dialect == ARM):
        return await _own_surface(request, surface, state)
    dialect = surface.dialect if surface else AZURE
    handler = None
    if surface is not None and surface.subpath is not None:
        handler, params = _route(surface, state, request.method)
    if handler is None:
        reply = transport.json_reply(404, errors.route_not_found(dialect, request.method, request.path))
    else:
        denied = _authorize(request, surface, state)
        if denied is not None:
            reply = denied
        else:
            try:
                reply = await handler(Ctx(request, surface, state), **params)
            except errors.ApiError as exc:
                reply = transport.json_reply(exc.status, errors.render(dialect, exc), exc.headers)
            except (ConnectionError, faults.Aborted):
                raise
            except Exception as exc:   # never let a bug kill the server: answer 500 and log it
                log.exception("handler failed for %s %s", request.method, request.path)
                err = errors.ApiError(500, "internalFailure", f"Internal error: {type(exc).__name__}",
                                      oai_type="server_error")
                reply = transport.json_reply(500, errors.render(dialect, err))
    reply.headers.update(_request_id_headers(dialect))
    return reply


async def api_entry(request):
    state = request.app["state"]
    surface = classify(request.path, request.query)
    dialect = surface.dialect if surface else AZURE
    kind, value = presented_credentials(request, surface)
    entry = state.reqlog.start(request, dialect, kind)
    request["log_entry"] = entry
    token = state.identity.lookup(value) if kind == "bearer" else None
    if token is not None:
        entry["identity"] = token.log_view()
    rule = state.faults.match(request.method, request.path)
    if rule:
        entry["fault"] = rule["action"]

    async def handle():
        return await dispatch(request, surface, state)

    async def send(reply):
        bps = state.cfg["throttle_bps"]
        if reply.path is not None and bps:
            return await transport.stream(request, reply, bps=bps)
        return transport.to_response(request, reply)

    try:
        if rule:
            return await faults.apply(rule, request, dialect, handle, send)
        return await send(await handle())
    except (faults.Aborted, ConnectionError):
        request["aborted"] = True
        entry["status"] = None
        transport.abort(request, reset=True)
        return web.Response()
    finally:
        entry["body_bytes"] = request.content.total_bytes


async def _on_prepare(request, response):
    entry = request.get("log_entry")
    if entry is not None and not request.get("aborted"):
        entry["status"] = response.status


def build_app(state):
    app = web.Application(client_max_size=1 << 20)
    app["state"] = state
    control_api.register(app)
    app.router.add_route("*", "/{tail:.*}", api_entry)
    app.on_response_prepare.append(_on_prepare)
    return app
