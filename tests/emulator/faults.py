"""Fault injection: rules matched on method/path and the transport failures they produce."""

import asyncio
import itertools
import json
import re

import transport
from errors import default_fault_body

ACTIONS = ("status", "reset_request", "reset_response", "drop_response", "stall", "latency",
           "malformed", "truncated", "html")
MALFORMED_BODY = b'{"object": "batch", "id": "batch_malformed", "status": "in_progress",, "request_counts": {'
HTML_PAGE = ("<!DOCTYPE html>\n<html><head><title>{status} Bad Gateway</title></head>\n<body>\n"
             "<h1>{status} Bad Gateway</h1>\n<p>The server encountered a temporary error and could not complete "
             "your request.</p>\n</body></html>\n")


class FaultError(ValueError):
    """A fault rule that cannot be used."""


class Aborted(Exception):
    """The connection was dropped on purpose; nothing more is sent."""


def _number(rule, key, default, integer=False):
    value = rule.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise FaultError(f"{key} must be a {'whole ' if integer else ''}number")
    if value < 0 and not (key == "times" and value == -1):
        raise FaultError(f"{key} must be >= 0")
    return value


class FaultBook:
    def __init__(self):
        self.rules = []
        self._ids = itertools.count(1)

    def add(self, spec):
        if not isinstance(spec, dict):
            raise FaultError("a fault rule must be a JSON object")
        action = spec.get("action", "status" if "status" in spec else None)
        if action not in ACTIONS:
            raise FaultError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        known = {"method", "path", "times", "action", "status", "headers", "body", "after_bytes", "seconds"}
        extra = set(spec) - known
        if extra:
            raise FaultError(f"unknown fault keys: {', '.join(sorted(extra))}")
        rule = {"id": next(self._ids), "action": action,
                "method": spec["method"].upper() if isinstance(spec.get("method"), str) else None,
                "path": spec.get("path"), "times": _number(spec, "times", 1, integer=True),
                "status": _number(spec, "status", None, integer=True),
                "headers": {str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
                "body": spec.get("body"), "after_bytes": _number(spec, "after_bytes", None, integer=True),
                "seconds": _number(spec, "seconds", None)}
        if rule["times"] == 0:
            raise FaultError("times must be -1 (forever) or a positive count")
        if rule["path"] is not None:
            try:
                re.compile(rule["path"])
            except (re.error, TypeError) as exc:
                raise FaultError(f"path is not a valid regular expression: {exc}") from None
        if action == "status" and rule["status"] is None:
            raise FaultError("the status action needs a status")
        if action in ("stall", "latency") and rule["seconds"] is None:
            raise FaultError(f"the {action} action needs seconds")
        if not isinstance(spec.get("headers", {}) or {}, dict):
            raise FaultError("headers must be an object")
        self.rules.append(rule)
        return dict(rule)

    def clear(self):
        self.rules.clear()

    def match(self, method, path):
        """The first matching rule (its count is used up), or None."""
        for rule in self.rules:
            if rule["method"] and rule["method"] != method:
                continue
            if rule["path"] and not re.search(rule["path"], path):
                continue
            if rule["times"] > 0:
                rule["times"] -= 1
                if rule["times"] == 0:
                    self.rules.remove(rule)
            return dict(rule)
        return None


def _body_bytes(body):
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode(), "application/json"
    text = str(body)
    try:
        json.loads(text)
        return text.encode(), "application/json"
    except (ValueError, RecursionError):   # not JSON, or nested deeper than Python parses
        return text.encode(), "text/plain"


def canned_reply(rule, dialect):
    """Reply for the actions that answer without handling the request."""
    action = rule["action"]
    if action == "html":
        status = rule["status"] or 502
        body, ctype = HTML_PAGE.format(status=status).encode(), "text/html"
    elif action == "malformed":
        status = rule["status"] or 200
        body, ctype = (_body_bytes(rule["body"])[0] if rule["body"] is not None else MALFORMED_BODY), \
            "application/json"
    else:
        status = rule["status"]
        body, ctype = _body_bytes(rule["body"] if rule["body"] is not None
                                  else default_fault_body(dialect, status))
    headers = {"Content-Type": ctype}
    headers.update(rule["headers"])
    return transport.Reply(status, headers, body)


async def apply(rule, request, dialect, handle, send):
    """Run the request under a fault. `handle()` produces the Reply, `send(reply)` the normal response.

    Raises Aborted when the connection was dropped on purpose."""
    action = rule["action"]
    seconds = rule["seconds"] or 0
    after = rule["after_bytes"]
    if action in ("status", "html", "malformed"):
        return await send(canned_reply(rule, dialect))
    if action == "reset_request":
        remaining = after or 0
        while remaining > 0:
            chunk = await request.content.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
        transport.abort(request, reset=True)
        raise Aborted()
    if action == "stall" and after is None:
        await asyncio.sleep(seconds)
        transport.abort(request, reset=False)
        raise Aborted()

    if action == "latency":
        await asyncio.sleep(seconds)
    reply = await handle()
    for k, v in rule["headers"].items():
        reply.headers[k] = v
    if action == "latency":
        return await send(reply)
    if action == "drop_response":
        transport.abort(request, reset=True)
        raise Aborted()
    if action == "truncated":
        half = reply.length // 2
        return await transport.stream(request, reply, limit=half, content_length=half)
    await transport.stream(request, reply, limit=after or 0)
    await transport.flush(request)
    if action == "stall":
        await asyncio.sleep(seconds)
        transport.abort(request, reset=False)
    else:   # reset_response
        transport.abort(request, reset=True)
    raise Aborted()
