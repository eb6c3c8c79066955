"""Emulator Files API: upload per surface, processing states, expiry fields, limits, listing, content."""

import asyncio
import http.client
import json
import os
import random
import re

import pytest

import multipart
from control import encode_multipart, jsonl, wait_for

AZ_GA = "2024-10-21"
AZ_PV = "2025-04-01-preview"


def test_azure_upload_is_201_pending_with_location_then_processed(emu):
    resp = emu.upload(jsonl(2), filename="test.jsonl")
    assert resp.status == 201
    body = resp.json()
    assert re.fullmatch(r"file-[0-9a-f]{32}", body["id"])
    assert body["status"] == "pending"
    assert body["bytes"] == len(jsonl(2).encode())
    assert body["filename"] == "test.jsonl" and body["purpose"] == "batch" and body["object"] == "file"
    assert resp.headers["Location"].endswith(f"/openai/files/{body['id']}")
    got = emu.api("GET", f"/openai/files/{body['id']}")
    assert got.status == 200 and got.json()["status"] == "processed"


def test_azure_v1_upload_is_200_and_openai_upload_is_processed_at_once(emu):
    v1 = emu.upload(jsonl(1), path="/openai/v1/files")
    assert v1.status == 200 and v1.json()["status"] == "pending"
    oai = emu.upload(jsonl(1), path="/v1/files")
    assert oai.status == 200
    body = oai.json()
    assert body["status"] == "processed" and re.fullmatch(r"file-[0-9a-f]+", body["id"])
    assert body["expires_at"] == body["created_at"] + 2592000      # OpenAI: batch files expire after 30 days


def test_file_process_delay_keeps_pending_until_it_elapses(emu):
    emu.config(file_process_delay=0.4)
    file_id = emu.upload(jsonl(1)).json()["id"]
    assert emu.api("GET", f"/openai/files/{file_id}").json()["status"] == "pending"
    wait_for(lambda: emu.api("GET", f"/openai/files/{file_id}").json()["status"] == "processed", timeout=5)


def test_stuck_pending_and_status_error(emu):
    emu.config(file_stuck_pending=True)
    stuck = emu.upload(jsonl(1)).json()["id"]
    assert emu.api("GET", f"/openai/files/{stuck}").json()["status"] == "pending"
    emu.config(file_stuck_pending=False, file_status_error=True)
    broken = emu.upload(jsonl(1)).json()["id"]
    body = emu.api("GET", f"/openai/files/{broken}").json()
    assert body["status"] == "error" and body["status_details"]


@pytest.mark.parametrize("style", ["dotted", "bracket"])
def test_expiry_fields_in_both_spellings(emu, style):
    names = ("expires_after.seconds", "expires_after.anchor") if style == "dotted" \
        else ("expires_after[seconds]", "expires_after[anchor]")
    resp = emu.upload(jsonl(1), fields=[(names[0], "1209600"), (names[1], "created_at")])
    assert resp.status == 201
    assert resp.json()["expires_at"] == resp.json()["created_at"] + 1209600


@pytest.mark.parametrize("path,seconds,status", [
    ("/openai/files", 3600, 400),          # Azure floor is 14 days
    ("/openai/files", 2592001, 400),
    ("/openai/files", 2592000, 201),
    ("/v1/files", 3599, 400),              # OpenAI floor is 1 hour
    ("/v1/files", 3600, 200),
])
def test_expiry_ranges(emu, path, seconds, status):
    resp = emu.upload(jsonl(1), path=path, fields=[("expires_after[seconds]", str(seconds)),
                                                   ("expires_after[anchor]", "created_at")])
    assert resp.status == status, resp.text
    if status == 400:
        assert "expires_after" in resp.text


def test_purpose_is_required_and_checked(emu):
    missing = emu.upload(jsonl(1), purpose=None)
    assert missing.status == 400 and missing.json()["error"]["code"] == "invalidPayload"
    bad = emu.upload(jsonl(1), purpose="nonsense")
    assert bad.status == 400 and "purpose" in bad.json()["error"]["message"]
    # batch_output can be uploaded on the preview spec but not on GA
    assert emu.upload(jsonl(1), purpose="batch_output").status == 400
    assert emu.upload(jsonl(1), purpose="batch_output", api_version=AZ_PV).status == 201


def test_max_file_bytes(emu):
    emu.config(max_file_bytes=100)
    resp = emu.upload(b"x" * 101)
    assert resp.status == 400 and "too large" in resp.json()["error"]["message"]
    assert emu.upload(b"x" * 100).status == 201
    assert emu.state()["files"] == 1


def test_max_files_counts_batch_inputs_without_expiry(emu):
    emu.config(max_files=2)
    assert emu.upload(jsonl(1)).status == 201
    assert emu.upload(jsonl(1)).status == 201
    over = emu.upload(jsonl(1))
    assert over.status == 400 and over.json()["error"]["code"] == "quotaExceeded"
    # other purposes and files with an expiry are not counted against the 500 cap
    assert emu.upload(jsonl(1), purpose="fine-tune").status == 201
    assert emu.upload(jsonl(1), fields=[("expires_after.seconds", "1209600"),
                                        ("expires_after.anchor", "created_at")]).status == 201


def test_list_ga_has_no_cursor_fields_and_filters_by_purpose(emu):
    a = emu.upload(jsonl(1)).json()["id"]
    b = emu.upload(jsonl(1), purpose="fine-tune").json()["id"]
    body = emu.api("GET", "/openai/files").json()
    assert set(body) == {"object", "data"}
    assert [f["id"] for f in body["data"]] == [b, a]        # newest first
    only = emu.api("GET", "/openai/files", query={"purpose": "batch"}).json()
    assert [f["id"] for f in only["data"]] == [a]


@pytest.mark.parametrize("prefix,version", [("/openai", AZ_PV), ("/openai/v1", None), ("/v1", None)])
def test_list_pagination_where_the_surface_has_it(emu, prefix, version):
    ids = [emu.upload(jsonl(1), path=f"{prefix}/files", api_version=version).json()["id"] for _ in range(5)]
    kw = {"api_version": version} if version else {}
    page1 = emu.api("GET", f"{prefix}/files", query={"limit": 2}, **kw).json()
    assert [f["id"] for f in page1["data"]] == ids[::-1][:2]
    assert page1["has_more"] is True and page1["first_id"] == ids[4] and page1["last_id"] == ids[3]
    page2 = emu.api("GET", f"{prefix}/files", query={"limit": 2, "after": page1["last_id"]}, **kw).json()
    assert [f["id"] for f in page2["data"]] == [ids[2], ids[1]]
    asc = emu.api("GET", f"{prefix}/files", query={"order": "asc"}, **kw).json()
    assert [f["id"] for f in asc["data"]] == ids and asc["has_more"] is False
    assert emu.api("GET", f"{prefix}/files", query={"limit": 0}, **kw).status == 400
    assert emu.api("GET", f"{prefix}/files", query={"order": "sideways"}, **kw).status == 400


def test_delete_then_404(emu):
    file_id = emu.upload(jsonl(1)).json()["id"]
    resp = emu.api("DELETE", f"/openai/files/{file_id}")
    assert resp.status == 200 and resp.json() == {"object": "file", "deleted": True, "id": file_id}
    again = emu.api("DELETE", f"/openai/files/{file_id}")
    assert again.status == 404 and again.json()["error"]["code"] == "notFound"
    oai = emu.api("GET", "/v1/files/file-nope").json()
    assert oai["error"]["message"] == "No such File object: file-nope"


def test_content_whole_range_and_binary_accept(emu):
    data = jsonl(20).encode()
    file_id = emu.upload(data).json()["id"]
    whole = emu.api("GET", f"/openai/files/{file_id}/content", headers={"Accept": "application/binary"})
    assert whole.status == 200 and whole.body == data
    assert whole.headers["Content-Type"] == "application/octet-stream"
    part = emu.api("GET", f"/openai/files/{file_id}/content", headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    tail = emu.api("GET", f"/openai/files/{file_id}/content", headers={"Range": "bytes=-5"})
    assert tail.status == 206 and tail.body == data[-5:]
    beyond = emu.api("GET", f"/openai/files/{file_id}/content", headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status == 416


def test_azure_and_openai_are_separate_accounts(emu):
    azure_id = emu.upload(jsonl(1)).json()["id"]
    assert emu.api("GET", f"/openai/v1/files/{azure_id}").status == 200     # same Azure resource
    assert emu.api("GET", f"/v1/files/{azure_id}").status == 404
    assert emu.api("GET", "/v1/files").json()["data"] == []


def test_malformed_uploads_get_400_and_server_survives(emu):
    not_multipart = emu.api("POST", "/openai/files", data=b"hello", headers={"Content-Type": "text/plain"})
    assert not_multipart.status == 400
    broken = emu.api("POST", "/openai/files", data=b"--xyz\r\nContent-Disposition: form-data; name=\"purpose\""
                                                   b"\r\n\r\nbatch\r\n--xyz",
                     headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert broken.status == 400
    no_file = emu.upload(b"", purpose="batch")
    assert no_file.status == 201 and no_file.json()["bytes"] == 0
    assert emu.api("GET", "/openai/files").status == 200


# ---- multipart/form-data parsing (multipart.py) and upload streaming ---------------------------

Q = f"?api-version={AZ_GA}"
BOUNDARY = b"----b0undary-7f3a"
DELIM = b"\r\n--" + BOUNDARY


def form_body(parts, boundary=BOUNDARY, preamble=b"", epilogue=b""):
    """A multipart/form-data body from (header lines, content) pairs."""
    out = [preamble]
    for headers, content in parts:
        out.append(b"--" + boundary + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + content + b"\r\n")
    out.append(b"--" + boundary + b"--\r\n" + epilogue)
    return b"".join(out)


class Pieces:
    """A stream that hands out `data` in pieces of the given sizes (cycled), like request.content."""

    def __init__(self, data, sizes):
        self.data, self.pos, self.sizes, self.i = data, 0, sizes, 0

    async def read(self, n):
        k = min(n, self.sizes[self.i % len(self.sizes)])
        self.i += 1
        piece = self.data[self.pos:self.pos + k]
        self.pos += len(piece)
        return piece


def parse(body, sizes, boundary=BOUNDARY):
    async def run():
        form = multipart.FormReader(Pieces(body, sizes), boundary)
        parts = []
        while (part := await form.next_part()) is not None:
            data = bytearray()
            while (piece := await form.read()) is not None:
                data += piece
            parts.append((part.name, part.filename, part.content_type, bytes(data)))
        return parts
    return asyncio.run(run())


def tricky_content():
    """Content full of near-delimiters: every proper prefix of the delimiter, the boundary without its CRLF,
    the delimiter with a wrong last character, runs of CRs (past the memchr fast path), random bytes."""
    rnd = random.Random(7)
    bits = [DELIM[:k] + b"x" for k in range(len(DELIM))]
    bits += [b"--" + BOUNDARY, DELIM[:-1] + b"Z", b"\r" * 30, b"\r\n" * 12, DELIM[:-1]]
    bits += [bytes(rnd.randrange(256) for _ in range(300)) for _ in range(4)]
    rnd.shuffle(bits)
    return b"".join(bits) + DELIM[:-1]        # ends with most of a delimiter, just before the real one


def test_parser_finds_boundaries_wherever_the_reads_split_the_body():
    content = tricky_content()
    assert DELIM not in content
    body = form_body([([b'Content-Disposition: form-data; name="purpose"'], b"batch"),
                      ([b'Content-Disposition: form-data; name="file"; filename="t.bin"',
                        b"Content-Type: application/octet-stream"], content),
                      ([b'Content-Disposition: form-data; name="after"'], b"")],
                     preamble=b"ignored preamble\r\n--not-the-boundary\r\n", epilogue=b"ignored epilogue")
    want = [("purpose", None, "", b"batch"), ("file", "t.bin", "application/octet-stream", content),
            ("after", None, "", b"")]
    rnd = random.Random(1)
    L = len(DELIM)
    splits = [[1], [2], [3], [L - 2], [L - 1], [L], [L + 1], [64], [4096], [1 << 20],
              [rnd.randrange(1, 2 * L) for _ in range(50)], [rnd.randrange(1, 700) for _ in range(50)]]
    # and a first read that ends at every byte of every delimiter, then one of a few sizes, then the rest
    for at in [i for i in range(len(body)) if body.startswith(DELIM, i)]:
        splits += [[at + k, n, 1 << 20] for k in range(L + 1) for n in (1, L - 2, L - 1, 1 << 20)]
    for sizes in splits:
        assert parse(body, sizes) == want, sizes


def test_parser_reads_headers_as_forms_send_them():
    assert multipart.header_params('form-data; name="file"; filename="a \\"q\\"; b.jsonl"') == \
        ("form-data", {"name": "file", "filename": 'a "q"; b.jsonl'})
    assert multipart.header_params("Form-Data;NAME=purpose ; filename*=UTF-8''na%C3%AFve.jsonl; filename=x") == \
        ("form-data", {"name": "purpose", "filename": "naïve.jsonl"})
    assert multipart.header_params('multipart/form-data; boundary="a b"')[1]["boundary"] == "a b"
    body = (b"--" + BOUNDARY + b"  \r\ncontent-disposition: form-data;\r\n  name=\"folded\"\r\n\r\nv\r\n--"
            + BOUNDARY + b"--")                   # padding after a boundary, a folded header, no final CRLF
    assert parse(body, [5]) == [("folded", None, "", b"v")]


@pytest.mark.parametrize("body,message", [
    (b"no boundary anywhere", "the body ended before the first boundary"),
    (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nunfinished",
     "no closing boundary"),
    (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv" + DELIM + b"junk\r\n",
     "Invalid boundary"),
    (b"--" + BOUNDARY + b"\r\nno colon here\r\n\r\nv" + DELIM + b"--\r\n", "invalid part header line"),
    (b"--" + BOUNDARY + b"\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n", "longer than 8190 bytes"),
])
def test_parser_rejects_broken_bodies(body, message):
    with pytest.raises(multipart.MultipartError, match=message):
        parse(body, [1 << 20])


def open_upload(emu, content_type, length=None, path="/openai/files" + Q):
    """A POST whose body the caller sends: Content-Length `length`, or chunked when None."""
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=30)
    conn.putrequest("POST", path)
    conn.putheader("api-key", emu.api_key)
    conn.putheader("Content-Type", content_type)
    if length is None:
        conn.putheader("Transfer-Encoding", "chunked")
    else:
        conn.putheader("Content-Length", str(length))
    conn.endheaders()
    return conn


def send_chunked(conn, body, sizes):
    pos, i = 0, 0
    while pos < len(body):
        piece = body[pos:pos + sizes[i % len(sizes)]]
        conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
        pos, i = pos + len(piece), i + 1
    conn.send(b"0\r\n\r\n")


def test_chunked_upload_is_stored_byte_identical(emu):
    content = os.urandom(3_000_000) + tricky_content()
    body, ctype = encode_multipart([("purpose", "batch")], "file", "chunked.bin", content)
    conn = open_upload(emu, ctype)
    send_chunked(conn, body, [1, 70, 65536, 12345, 1 << 20])
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    assert resp.status == 201 and answer["bytes"] == len(content) and answer["filename"] == "chunked.bin"
    assert emu.api("GET", f"/openai/files/{answer['id']}/content").body == content
    emu.config(max_file_bytes=1_000_000)           # too large: the whole body is still read, then 400
    conn = open_upload(emu, ctype)
    send_chunked(conn, body, [65536])
    resp = conn.getresponse()
    assert resp.status == 400 and "too large" in json.loads(resp.read())["error"]["message"]
    conn.close()
    assert emu.state()["files"] == 1


def test_form_layouts_fields_after_the_file_preamble_epilogue(emu):
    content = jsonl(3).encode()
    body = form_body([([b"content-disposition: form-data; name=purpose"], b"batch"),
                      ([b'Content-Disposition: form-data; name="file"; filename="my \\"quoted\\" input.jsonl"',
                        b"Content-Type: application/jsonl"], content),
                      ([b'Content-Disposition: form-data; name="expires_after[seconds]"'], b"1209600"),
                      ([b'Content-Disposition: form-data; name="expires_after[anchor]"'], b"created_at")],
                     preamble=b"This is the preamble.\r\n", epilogue=b"\r\nThis is the epilogue.\r\n")
    resp = emu.api("POST", "/openai/files", data=body,
                   headers={"Content-Type": "multipart/form-data; boundary=" + BOUNDARY.decode()})
    assert resp.status == 201, resp.text
    up = resp.json()
    assert up["filename"] == 'my "quoted" input.jsonl' and up["bytes"] == len(content)
    assert up["expires_at"] == up["created_at"] + 1209600       # the fields after the file counted
    assert emu.api("GET", f"/openai/files/{up['id']}/content").body == content


def _part(name, content, extra=()):
    return ([b'Content-Disposition: form-data; name="%s"' % name] + list(extra), content)


@pytest.mark.parametrize("ctype,body,message", [
    ("multipart/form-data; boundary=" + BOUNDARY.decode(),
     form_body([_part(b"purpose", b"batch"), _part(b"file", b"x", [b"Content-Type: multipart/mixed; boundary=z"])]),
     "Nested multipart bodies are not supported."),
    ("multipart/form-data; boundary=" + BOUNDARY.decode(),
     form_body([_part(b"purpose", b"b" * (64 * 1024 + 1)), _part(b"file", b"x")]),
     "The form field 'purpose' is too long."),
    ("multipart/form-data", form_body([_part(b"purpose", b"batch")]),
     "The multipart body could not be parsed: boundary missed"),
    ("multipart/form-data; boundary=" + BOUNDARY.decode(),
     b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"\r\n\r\n' + b"x" * 100_000,
     "The multipart body could not be parsed: the body ended inside a part"),
    ("multipart/form-data; boundary=" + BOUNDARY.decode(), form_body([_part(b"purpose", b"batch")]),
     "Missing required parameter: 'file'."),
    ("multipart/form-data; boundary=" + BOUNDARY.decode(), form_body([_part(b"file", b"x")]),
     "Missing required parameter: 'purpose'."),
])
def test_broken_forms_get_400_with_the_reason(emu, ctype, body, message):
    resp = emu.api("POST", "/openai/files", data=body, headers={"Content-Type": ctype})
    assert resp.status == 400 and resp.json()["error"]["message"].startswith(message), resp.text
    assert emu.state()["files"] == 0 and emu.uploads_in_progress() == []


def test_uploads_in_progress_lists_a_body_as_it_arrives(emu):
    content = b"x" * 400_000
    body, ctype = encode_multipart([("purpose", "batch")], "file", "progress.jsonl", content)
    file_part = body.index(b"\r\n--", 10)                       # where the purpose field ends
    data = body.index(b"\r\n\r\n", file_part) + 4                # where the file's content starts
    conn = open_upload(emu, ctype, len(body))
    conn.send(body[:file_part])
    wait_for(lambda: emu.uploads_in_progress() == [{"filename": None, "received": 0}],
             message="the upload listed before its file part")
    conn.send(body[file_part:data + 100_000])
    wait_for(lambda: emu.uploads_in_progress() == [{"filename": "progress.jsonl", "received": 100_000}],
             message="100000 bytes received")
    conn.send(body[data + 100_000:data + 250_000])
    wait_for(lambda: emu.uploads_in_progress() == [{"filename": "progress.jsonl", "received": 250_000}],
             message="250000 bytes received")
    conn.send(body[data + 250_000:])
    resp = conn.getresponse()
    assert resp.status == 201 and json.loads(resp.read())["bytes"] == len(content)
    conn.close()
    assert emu.uploads_in_progress() == []


@pytest.mark.parametrize("chunked", [False, True])
def test_client_gone_mid_body_leaves_no_file(emulator_factory, tmp_path, chunked):
    emu = emulator_factory(data_dir=tmp_path / "data")
    files_dir = tmp_path / "data" / "files"
    body, ctype = encode_multipart([("purpose", "batch")], "file", "cut.jsonl", b"y" * 1_000_000)
    cut = body.index(b"\r\n\r\n", body.index(b"filename=")) + 4 + 300_000
    conn = open_upload(emu, ctype, None if chunked else len(body))
    if chunked:
        conn.send(b"%x\r\n" % cut + body[:cut] + b"\r\n")
    else:
        conn.send(body[:cut])
    wait_for(lambda: emu.uploads_in_progress() == [{"filename": "cut.jsonl", "received": 300_000}],
             message="the first 300000 bytes received")
    assert [p.name[:8] for p in files_dir.iterdir()] == [".upload-"]      # the temporary file
    conn.close()
    wait_for(lambda: emu.uploads_in_progress() == [], message="the upload to end")
    assert list(files_dir.iterdir()) == [] and emu.state()["files"] == 0
    assert emu.upload(jsonl(1)).status == 201
