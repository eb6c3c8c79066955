"""Wire-level sending: replies, byte ranges, sendfile downloads, throttling, partial bodies and resets."""

import asyncio
import fcntl
import json
import socket
import struct
import termios
from dataclasses import dataclass, field
from typing import Optional

from aiohttp import web

CHUNK = 256 * 1024


@dataclass
class Reply:
    """What a handler answers: a status, headers and either bytes or a file on disk."""
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    path: Optional[str] = None
    size: int = 0

    @property
    def length(self):
        return self.size if self.path else len(self.body)


def json_reply(status, obj, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return Reply(status, h, json.dumps(obj).encode())


def file_reply(path, size, headers=None):
    h = {"Content-Type": "application/octet-stream"}
    h.update(headers or {})
    return Reply(200, h, path=path, size=size)


def resolve_range(request, size):
    """(status, start, count, extra headers) for a file reply; status 416 when unsatisfiable.

    Same rules as aiohttp's FileResponse, so throttled and fault paths answer like the fast path."""
    try:
        rng = request.http_range
    except ValueError:
        return 416, 0, 0, {"Content-Range": f"bytes */{size}"}
    start, end = rng.start, rng.stop
    if start is None and end is None:
        return 200, 0, size, {"Accept-Ranges": "bytes"}
    if start < 0 and end is None:
        start = max(0, start + size)
        count = size - start
    else:
        count = min(end if end is not None else size, size) - start
    if start >= size:
        return 416, 0, 0, {"Content-Range": f"bytes */{size}"}
    return 206, start, count, {"Accept-Ranges": "bytes",
                               "Content-Range": f"bytes {start}-{start + count - 1}/{size}"}


def to_response(request, reply, throttle_bps=0):
    """The normal path: FileResponse (sendfile, Range) or a plain Response; throttled files stream."""
    if reply.path is not None:
        if throttle_bps:
            return None   # caller streams
        return web.FileResponse(reply.path, chunk_size=CHUNK, headers=reply.headers)
    return web.Response(status=reply.status, headers=reply.headers, body=reply.body)


async def stream(request, reply, limit=None, content_length=None, bps=0):
    """Send a reply by hand: optionally only `limit` body bytes, an overridden Content-Length, a rate."""
    status, start, count, extra = reply.status, 0, len(reply.body), {}
    if reply.path is not None:
        status, start, count, extra = resolve_range(request, reply.size)
    headers = dict(reply.headers)
    headers.update(extra)
    if status == 416:
        return web.Response(status=416, headers={"Content-Range": extra["Content-Range"]})
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = count if content_length is None else content_length
    await resp.prepare(request)
    to_send = count if limit is None else min(limit, count)
    chunk = CHUNK if not bps else max(1, min(CHUNK, int(bps) // 20 or 1))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sent = 0
    fh = open(reply.path, "rb") if reply.path is not None else None
    try:
        if fh is not None:
            fh.seek(start)
        while sent < to_send:
            n = min(chunk, to_send - sent)
            data = fh.read(n) if fh is not None else reply.body[start + sent:start + sent + n]
            if not data:
                break
            await resp.write(data)
            sent += len(data)
            if bps:
                delay = sent / bps - (loop.time() - t0)
                if delay > 0:
                    await asyncio.sleep(delay)
    finally:
        if fh is not None:
            fh.close()
    return resp


async def pace(nbytes, t0, bps):
    """Sleep so that nbytes since loop time t0 keeps to bps (upload side of throttle_bps)."""
    if bps:
        delay = nbytes / bps - (asyncio.get_running_loop().time() - t0)
        if delay > 0:
            await asyncio.sleep(delay)


async def flush(request, deadline=2.0):
    """Wait until what was written has left this process and the kernel's send queue."""
    transport = request.transport
    if transport is None:
        return
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    sock = transport.get_extra_info("socket")
    while loop.time() < end and not transport.is_closing():
        pending = transport.get_write_buffer_size()
        if pending == 0 and sock is not None:
            buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            pending = struct.unpack("i", buf)[0]
        if pending == 0:
            return
        await asyncio.sleep(0.005)


def abort(request, reset=True):
    """Drop the connection: with RST (reset) or a plain close."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if reset and sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        transport.abort()
    else:
        transport.close()
