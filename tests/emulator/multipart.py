"""Streaming multipart/form-data parser for uploads: large reads, part bodies handed out without copying."""

import re
from urllib.parse import unquote

MAX_BOUNDARY = 70          # RFC 2046
MAX_HEADER_LINE = 8190     # what aiohttp allowed per part header line
MAX_HEADERS = 128


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)


def header_params(value):
    """('main/value' lower-cased, {param: value}) of a header such as Content-Type or Content-Disposition.

    Quoted values lose their quotes and backslash escapes; `name*=charset'lang'%xx` (RFC 5987) is decoded
    and wins over the plain `name=`."""
    main, _, rest = value.partition(";")
    params, extended = {}, {}
    for m in _PARAM.finditer(";" + rest):
        key, raw = m.group(1).lower(), m.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            params.setdefault(key, _ESCAPE.sub(r"\1", raw[1:-1]))
        elif key.endswith("*") and raw.count("'") >= 2:
            charset, _, encoded = raw.split("'", 2)
            try:
                extended.setdefault(key[:-1], unquote(encoded, charset or "utf-8", "strict"))
            except (LookupError, UnicodeDecodeError):
                pass
        else:
            params.setdefault(key, raw)
    params.update(extended)
    return main.strip().lower(), params


def boundary_of(content_type):
    """The boundary parameter of a multipart Content-Type, checked."""
    boundary = header_params(content_type)[1].get("boundary")
    if not boundary:
        raise MultipartError(f"boundary missed for Content-Type: {content_type}")
    if len(boundary) > MAX_BOUNDARY:
        raise MultipartError(f"boundary {boundary!r} is too long ({MAX_BOUNDARY} chars max)")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise MultipartError(f"boundary {boundary!r} is not ASCII") from None


class Part:
    """One part's headers (names lower-cased) and what form-data reads from them."""

    def __init__(self, headers):
        self.headers = headers
        _, disposition = header_params(headers.get("content-disposition", ""))
        self.name = disposition.get("name")
        self.filename = disposition.get("filename")
        self.content_type = header_params(headers.get("content-type", ""))[0]

    @property
    def is_multipart(self):
        return self.content_type.startswith("multipart/")


# Where the parser stands: inside a part's body (or the preamble), just after a boundary, after the last.
_BODY, _BOUNDARY, _DONE = range(3)


class FormReader:
    """Pull parser over an aiohttp StreamReader (anything with `async read(n)`).

    `await next_part()` gives the next Part (skipping what is left of the current one) or None after the
    closing boundary; `await read()` gives the current part's body piece by piece (memoryviews or bytes,
    None at its end). The delimiter (CRLF, "--", boundary) is looked for with bytes.find in each piece
    read from the stream; only the few bytes at the end of a piece that could begin a delimiter are held
    back and looked at again with the start of the next piece, so a part's body is handed out as views of
    the pieces read, never joined or copied (only header lines and the first piece are)."""

    def __init__(self, stream, boundary, piece=1 << 20):
        self._stream = stream
        self.piece = piece                          # bytes asked of the stream per read; may be changed
        self._dash = b"--" + boundary
        self._delim = b"\r\n" + self._dash
        self._buf, self._pos = b"", 0               # the piece being parsed and how far it was consumed
        self._tail = b"\r\n"                        # held back; the first boundary needs no CRLF before it
        self._state = _BODY                         # the preamble is a body nobody reads
        self._in_preamble = True
        self._eof = False                           # the stream has ended

    async def _fetch(self, what):
        data = await self._stream.read(self.piece)
        if not data:
            raise MultipartError(f"the body ended {what}")
        return data

    def _ended_where(self):
        return "before the first boundary" if self._in_preamble else "inside a part (no closing boundary)"

    async def read(self):
        """The next piece of the current part's body, or None when the part has ended."""
        delim = self._delim
        while self._state == _BODY:
            if self._tail and len(self._buf) - self._pos < len(delim) - 1 and not self._eof:
                # too little after the held-back bytes to tell whether a delimiter starts in them
                data = await self._stream.read(self.piece)
                self._eof = not data
                self._buf, self._pos = self._tail + self._buf[self._pos:] + data, 0
                self._tail = b""
                continue
            piece = self._scan()
            if piece:
                return piece
            if self._state == _BODY:
                self._buf, self._pos = await self._fetch(self._ended_where()), 0
        return None

    def _scan(self):
        """Consume from the buffer what belongs to the current part; the state moves on at a delimiter."""
        buf, pos, delim = self._buf, self._pos, self._delim
        if self._tail:
            tail, self._tail = self._tail, b""
            # buf holds at least len(delim) - 1 bytes here (or all there is), so a delimiter starting in
            # tail fits the window
            j = (tail + buf[pos:pos + len(delim) - 1]).find(delim)
            if 0 <= j < len(tail):
                self._pos = pos + j + len(delim) - len(tail)
                self._state = _BOUNDARY
                return tail[:j]
            return tail
        i = _find(buf, delim, pos)
        if i >= 0:
            self._pos = i + len(delim)
            self._state = _BOUNDARY
            return memoryview(buf)[pos:i]
        keep = _held_back(buf, max(pos, len(buf) - len(delim) + 1), delim)
        self._tail = buf[keep:]
        self._pos = len(buf)
        return memoryview(buf)[pos:keep]

    async def _need(self, n):
        """At least n unconsumed bytes in the buffer (fewer only at the end of the body)."""
        while len(self._buf) - self._pos < n:
            data = await self._stream.read(self.piece)
            if not data:
                return
            self._buf, self._pos = self._buf[self._pos:] + data, 0

    async def _line(self, what):
        """The next line (without CRLF or LF), at most MAX_HEADER_LINE bytes."""
        while True:
            i = self._buf.find(b"\n", self._pos, self._pos + MAX_HEADER_LINE + 2)
            if i >= 0:
                line = self._buf[self._pos:i]
                self._pos = i + 1
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buf) - self._pos > MAX_HEADER_LINE + 1:
                raise MultipartError(f"a line in {what} is longer than {MAX_HEADER_LINE} bytes")
            data = await self._fetch(f"inside {what}")
            self._buf, self._pos = self._buf[self._pos:] + data, 0

    async def next_part(self):
        """The next part's headers, or None once the closing boundary has been read."""
        while self._state == _BODY:
            await self.read()                       # what nobody read of the last part (or the preamble)
        if self._state == _DONE:
            return None
        self._in_preamble = False
        await self._need(2)
        if self._buf[self._pos:self._pos + 2] == b"--":
            self._state = _DONE                     # the epilogue, if any, is not read
            self._buf, self._pos = b"", 0
            return None
        rest = await self._line("a boundary line")
        if rest.strip(b" \t"):
            raise MultipartError(f"Invalid boundary {self._dash + rest!r}, expected {self._dash!r}")
        headers = await self._headers()
        self._state = _BODY
        return Part(headers)

    async def _headers(self):
        headers, last = {}, None
        while True:
            line = await self._line("the part headers")
            if not line:
                return headers
            text = line.decode("utf-8", "replace")
            if text[0] in " \t" and last is not None:     # obsolete line folding
                headers[last] += " " + text.strip()
                continue
            name, colon, value = text.partition(":")
            name = name.strip().lower()
            if not colon or not name:
                raise MultipartError(f"invalid part header line {text!r}")
            if len(headers) >= MAX_HEADERS:
                raise MultipartError(f"more than {MAX_HEADERS} headers in a part")
            headers[name] = value.strip()
            last = name


def _find(buf, delim, start):
    """buf.find(delim, start), faster where CRs are rare (JSONL with LF line ends): memchr from CR to CR
    first, bytes.find (slower, and no faster on CR-rich data) once CRs turn out to be common."""
    i = buf.find(b"\r", start)
    for _ in range(8):
        if i < 0 or buf.startswith(delim, i):
            return i
        i = buf.find(b"\r", i + 1)
    return buf.find(delim, i)


def _held_back(buf, start, delim):
    """Where, from `start` on, the rest of buf could be the beginning of delim (len(buf) if nowhere)."""
    k = buf.find(delim[:1], start)
    while k >= 0:
        if buf.startswith(delim[:len(buf) - k], k):
            return k
        k = buf.find(delim[:1], k + 1)
    return len(buf)
