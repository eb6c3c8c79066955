"""Emulator Files API: upload per surface, processing states, expiry fields, limits, listing, content."""

import re

import pytest

from control import jsonl, wait_for

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
