"""batchfs read side on a real FUSE mount: the tree, status/batch.json/input/output/errors/error,
the emulator's quirks, an all-failed batch, listing costs, the download cache, files/ and rm."""

import errno
import json
import mmap
import os
import re
import subprocess
import time

import pytest

from control import jsonl
from mount import (API, CHECKS_MODELS, DEPLOYMENT, EMPTY_ERROR_FILE, all_batches, calls, file_content,
                   get_batch, poll, read_bytes, read_text, wait_status, write_close)

CONTENT = jsonl(5).encode()


def submit(fs, name="r.jsonl", content=CONTENT):
    assert write_close(fs.submit_dir() / name, content) == (None, 0)
    (b,) = [b for b in all_batches(fs.emu) if b["metadata"].get("batchfs_name") == name][:1]
    return b["id"]


def cat(path):
    res = subprocess.run(["cat", str(path)], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def read_direct(path):
    """Reads with O_DIRECT, past the kernel page cache (into an aligned buffer)."""
    fd = os.open(str(path), os.O_RDONLY | os.O_DIRECT)
    out = bytearray()
    buf = mmap.mmap(-1, 1 << 20)
    try:
        while True:
            n = os.readv(fd, [buf])
            if n <= 0:
                break
            out += buf[:n]
    finally:
        os.close(fd)
        buf.close()
    return bytes(out)


def content_gets(emu, file_id):
    return len(calls(emu, "GET", rf"{API}/files/{re.escape(file_id)}/content"))


# ---- the tree ---------------------------------------------------------------------------------

def test_tree_layout(mounted):
    mnt = mounted.mnt
    assert sorted(os.listdir(mnt)) == sorted(["deployments", "batches", "files", ".batchfs"])
    assert sorted(os.listdir(mnt / "deployments")) == ["gpt-4o-batch", "gpt-4o-mini-batch"]
    assert sorted(os.listdir(mounted.dep())) == ["batches", "submit"]
    assert sorted(os.listdir(mnt / ".batchfs")) == ["config", "credential", "errors", "recovery", "stats", "version"]
    assert read_text(mounted.meta("version")).startswith("batchfs ")
    config = read_text(mounted.meta("config"))
    assert "list_ttl_ms 300" in config and "status_ttl_ms 200" in config, config
    assert "api_calls." in read_text(mounted.meta("stats"))
    for d in ("deployments", "batches", "files", ".batchfs"):
        assert (mnt / d).is_dir()


def test_completed_batch_files(mounted):
    emu = mounted.emu
    bid = submit(mounted)
    assert wait_status(mounted, bid, "completed") == "completed"
    d = mounted.batch(bid)
    # nothing failed: Azure still makes an (empty) error file, OpenAI makes none
    errors = ["errors.jsonl"] if EMPTY_ERROR_FILE else []
    assert sorted(os.listdir(d)) == sorted(["status", "batch.json", "input.jsonl", "output.jsonl",
                                            "cancel"] + errors)
    assert cat(d / "status") == b"completed\n"
    assert (d / "status").stat().st_size == len(b"completed\n")
    api = get_batch(emu, bid)
    text = read_text(d / "batch.json")
    doc = json.loads(text)
    assert text.count("\n") > 10 and '\n  "id"' in text, "batch.json is not pretty-printed"
    for k in ("id", "status", "input_file_id", "output_file_id", "error_file_id", "metadata",
              "request_counts", "endpoint"):
        assert doc[k] == api[k], k
    out = file_content(emu, api["output_file_id"])
    assert (d / "output.jsonl").stat().st_size == len(out)
    assert cat(d / "output.jsonl") == out
    assert sorted(json.loads(x)["custom_id"] for x in out.splitlines()) == [f"task-{i}" for i in range(5)]
    if EMPTY_ERROR_FILE:
        assert (d / "errors.jsonl").stat().st_size == 0
        assert cat(d / "errors.jsonl") == b""
    else:
        assert api["error_file_id"] is None
        with pytest.raises(FileNotFoundError):
            os.stat(d / "errors.jsonl")
    assert cat(d / "input.jsonl") == CONTENT
    assert (d / "input.jsonl").stat().st_size == len(CONTENT)
    # the link from the deployment reaches the same files
    assert cat(mounted.links_dir() / "r.jsonl" / "status") == b"completed\n"


def test_output_appears_only_when_the_service_has_it(mounted):
    emu = mounted.emu
    emu.config(hold="in_progress")
    bid = submit(mounted)
    wait_status(mounted, bid, "in_progress")
    d = mounted.batch(bid)
    assert "output.jsonl" not in os.listdir(d)
    with pytest.raises(FileNotFoundError):
        os.stat(d / "output.jsonl")
    with pytest.raises(FileNotFoundError):
        open(d / "output.jsonl", "rb")
    emu.set_batch(bid, status="completed")
    wait_status(mounted, bid, "completed")
    assert "output.jsonl" in os.listdir(d)
    api = get_batch(emu, bid)
    assert read_bytes(d / "output.jsonl") == file_content(emu, api["output_file_id"])


def test_status_refreshed_never_truncated_or_padded(batchfs_factory, emulator):
    """A long kernel attr cache (30 s) holds a stale size; reads still return the whole,
    current word: 'validating\\n' (11) -> 'in_progress\\n' (12) -> 'completed\\n' (10)."""
    fs = batchfs_factory(emulator, options={"attr_timeout": "30", "status_ttl_ms": "200"})
    emulator.config(hold="validating")
    bid = submit(fs)
    status = fs.batch(bid) / "status"
    assert cat(status) == b"validating\n"
    assert os.stat(status).st_size == 11
    emulator.set_batch(bid, status="in_progress", hold=True)
    poll(lambda: cat(status), lambda t: t != b"validating\n", what="a new status")
    assert cat(status) == b"in_progress\n"
    assert read_bytes(status) == b"in_progress\n"
    emulator.set_batch(bid, status="completed")
    poll(lambda: cat(status), lambda t: t != b"in_progress\n", what="completed")
    assert cat(status) == b"completed\n"
    assert read_bytes(status) == b"completed\n"
    assert json.loads(read_text(fs.batch(bid) / "batch.json"))["status"] == "completed"
    # terminal: never fetched again, however old
    emulator.clear_requests()
    time.sleep(0.5)  # let the 200 ms status TTL pass: a TTL, not a synchronisation
    for _ in range(3):
        assert cat(status) == b"completed\n"
        json.loads(read_text(fs.batch(bid) / "batch.json"))
    assert calls(emulator, "GET", rf"{API}/batches/{bid}") == []


def test_running_status_refreshed_after_ttl(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, options={"status_ttl_ms": "300"})
    emulator.config(hold="in_progress")
    bid = submit(fs)
    wait_status(fs, bid, "in_progress")
    emulator.clear_requests()
    # within the TTL: served from the cache
    for _ in range(3):
        cat(fs.batch(bid) / "status")
    assert len(calls(emulator, "GET", rf"{API}/batches/{bid}")) <= 1
    emulator.set_batch(bid, status="finalizing", hold=True)
    assert wait_status(fs, bid, "finalizing", timeout=10) == "finalizing"
    assert 1 <= len(calls(emulator, "GET", rf"{API}/batches/{bid}")) <= 40


# ---- failed requests and failed jobs ---------------------------------------------------------------

def test_all_failed_batch_has_errors_but_no_output(mounted):
    content = jsonl(3, fail=(0, 1, 2)).encode()
    bid = submit(mounted, "allfail.jsonl", content)
    wait_status(mounted, bid, "completed")
    d = mounted.batch(bid)
    assert get_batch(mounted.emu, bid)["output_file_id"] is None
    names = os.listdir(d)
    assert "output.jsonl" not in names and "errors.jsonl" in names, names
    with pytest.raises(FileNotFoundError):
        os.stat(d / "output.jsonl")
    errs = [json.loads(x) for x in cat(d / "errors.jsonl").splitlines()]
    assert sorted(e["custom_id"] for e in errs) == ["fail-0", "fail-1", "fail-2"]
    assert all(e["response"]["status_code"] == 400 for e in errs)
    assert (d / "errors.jsonl").stat().st_size == len(cat(d / "errors.jsonl"))


def test_failed_job_error_file_and_outside_batches(mounted):
    """A batch created outside batchfs that the service's validation fails: its `error`
    file lists 'line N: code: message'."""
    emu = mounted.emu
    # every line fails: Azure checks the deployment; the OpenAI dialect checks no model, so
    # there every line's url disagrees with the batch's endpoint instead
    if CHECKS_MODELS:
        content, code = jsonl(2, model="no-such-deployment"), "model_not_found"
    else:
        content, code = jsonl(2, url="/v1/embeddings"), "url_mismatch"
    created = emu.submit(content, prefix=API)
    bid = created.json()["id"]
    assert wait_status(mounted, bid, "failed") == "failed"
    d = mounted.batch(bid)
    assert "error" in os.listdir(d)
    text = cat(d / "error").decode()
    rows = text.splitlines()
    assert len(rows) == 2, text
    for n, row in enumerate(rows, 1):
        assert re.match(rf"line {n}: {code}: \S", row), row
    assert (d / "error").stat().st_size == len(text.encode())


# ---- the quirks of the service do not show ------------------------------------------------------

QUIRKS = {
    "iso_timestamps": {"iso_timestamps": True},
    "capitalized_status": {"capitalized_status": True},
    "null_counts": {"null_counts": True},
    "file_status_null": {"file_status_null": True},
    "file_process_delay": {"file_process_delay": 0.5},
    "file_status_null_pending": {"file_status_null": True, "file_process_delay": 0.5},
    "all": {"iso_timestamps": True, "capitalized_status": True, "null_counts": True,
            "file_status_null": True, "file_process_delay": 0.3},
}


@pytest.mark.surfaces("azure", "azure-v1", reason="the quirks are the Azure service's: the emulator's "
                      "OpenAI dialect has none, so every case would be the plain flow")
@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_quirks_do_not_change_status(mounted, quirk):
    emu = mounted.emu
    emu.config(hold="in_progress", **QUIRKS[quirk])
    bid = submit(mounted)
    status = mounted.batch(bid) / "status"
    assert poll(lambda: cat(status), lambda t: t == b"in_progress\n", what="in_progress") == b"in_progress\n"
    emu.set_batch(bid, status="completed")
    assert poll(lambda: cat(status), lambda t: t != b"in_progress\n", what="completed") == b"completed\n"
    doc = json.loads(read_text(mounted.batch(bid) / "batch.json"))
    assert doc["id"] == bid
    assert "output.jsonl" in os.listdir(mounted.batch(bid))


# ---- listing costs ---------------------------------------------------------------------------------

def test_ls_l_of_1000_batches_costs_10_list_calls(batchfs_factory, emulator):
    emulator.create_batches(1000)
    fs = batchfs_factory(emulator, options={"list_ttl_ms": "60000", "attr_timeout": "1"})
    emulator.clear_requests()
    res = subprocess.run(["ls", "-l", str(fs.mnt / "batches")], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    entries = [x for x in res.stdout.splitlines() if x.startswith("d")]
    assert len(entries) == 1000
    lists = calls(emulator, "GET", rf"{API}/batches")
    assert len(lists) == 10, [r["query"] for r in lists]
    assert all(r["query"].get("limit") == "100" for r in lists), [r["query"] for r in lists]
    assert calls(emulator, "GET", rf"{API}/batches/.+") == []
    assert calls(emulator) == lists, "other API calls during ls -l"
    # again, within the TTL: nothing
    emulator.clear_requests()
    res = subprocess.run(["ls", "-l", str(fs.mnt / "batches")], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0
    assert len([x for x in res.stdout.splitlines() if x.startswith("d")]) == 1000
    assert emulator.requests() == []


def test_unknown_id_is_looked_up_directly(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, options={"list_ttl_ms": "60000"})
    assert os.listdir(fs.mnt / "batches") == []
    bid = emulator.submit(jsonl(2), prefix=API).json()["id"]
    emulator.clear_requests()
    assert cat(fs.batch(bid) / "status").decode().strip() in {"validating", "in_progress",
                                                              "finalizing", "completed"}
    assert len(calls(emulator, "GET", rf"{API}/batches/{bid}")) >= 1
    assert calls(emulator, "GET", rf"{API}/batches") == []
    with pytest.raises(FileNotFoundError):
        os.stat(fs.batch("batch_00000000-0000-0000-0000-000000000000"))


def test_outside_batches_appear_in_the_listing_after_the_ttl(mounted):
    emu = mounted.emu
    assert os.listdir(mounted.mnt / "batches") == []
    ids = emu.create_batches(3)
    got = poll(lambda: set(os.listdir(mounted.mnt / "batches")), lambda s: s == set(ids),
               timeout=10, what="the new batches in ls batches/")
    assert got == set(ids)


# ---- the download cache ---------------------------------------------------------------------------

def test_second_read_does_not_download_again(mounted):
    emu = mounted.emu
    emu.config(output_content_bytes=2000)
    bid = submit(mounted, "big.jsonl", jsonl(200).encode())
    wait_status(mounted, bid, "completed")
    out_id = get_batch(emu, bid)["output_file_id"]
    expected = file_content(emu, out_id)
    assert len(expected) > 400_000
    emu.clear_requests()
    out = mounted.batch(bid) / "output.jsonl"
    assert out.stat().st_size == len(expected)
    assert cat(out) == expected
    assert content_gets(emu, out_id) == 1
    assert cat(out) == expected
    # past the kernel's page cache: the daemon serves it from its disk cache
    assert read_direct(out) == expected
    assert content_gets(emu, out_id) == 1, emu.requests()
    cached = [os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(mounted.cache) for f in fs]
    assert len(expected) in cached, cached
    stats = read_text(mounted.meta("stats"))
    assert re.search(r"^downloads 1$", stats, re.M), stats


def test_output_is_streamed_while_downloading(mounted):
    """The first bytes are served before the (throttled) download has finished."""
    emu = mounted.emu
    emu.config(output_content_bytes=2000)
    bid = submit(mounted, "slowdl.jsonl", jsonl(200).encode())
    wait_status(mounted, bid, "completed")
    expected = file_content(emu, get_batch(emu, bid)["output_file_id"])
    emu.config(throttle_bps=200_000)  # ~2 s for the whole output
    t0 = time.monotonic()
    with open(mounted.batch(bid) / "output.jsonl", "rb", buffering=0) as f:
        first = f.read(4096)
        t_first = time.monotonic() - t0
        rest = f.read()
        while True:
            more = f.read()
            if not more:
                break
            rest += more
    t_all = time.monotonic() - t0
    assert first + rest == expected
    assert t_all >= 1.5, f"the throttled download took only {t_all:.2f}s"
    assert t_first < t_all / 2, f"first 4 KiB after {t_first:.2f}s of {t_all:.2f}s: not streamed"


# ---- files/ --------------------------------------------------------------------------------------

def test_files_listing_read_and_rm(mounted):
    emu = mounted.emu
    bid = submit(mounted)
    wait_status(mounted, bid, "completed")
    b = get_batch(emu, bid)
    # the error file too where the service makes one when nothing failed (Azure)
    ids = {b["input_file_id"], b["output_file_id"]} | ({b["error_file_id"]} if EMPTY_ERROR_FILE else set())
    listing = poll(lambda: set(os.listdir(mounted.mnt / "files")), lambda s: ids <= s,
                   timeout=10, what="files/ listing")
    assert ids <= listing
    inp = mounted.mnt / "files" / b["input_file_id"]
    assert inp.stat().st_size == len(CONTENT)
    assert cat(inp) == CONTENT
    emu.clear_requests()
    victim = b["output_file_id"]
    res = subprocess.run(["rm", str(mounted.mnt / "files" / victim)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert len(calls(emu, "DELETE", rf"{API}/files/{victim}")) == 1
    assert emu.api("GET", f"{API}/files/{victim}").status == 404
    poll(lambda: victim not in os.listdir(mounted.mnt / "files"), timeout=10,
         what="the removed file to leave files/")
    with pytest.raises(FileNotFoundError):
        os.stat(mounted.mnt / "files" / victim)
    with pytest.raises(FileNotFoundError):
        os.unlink(mounted.mnt / "files" / "file-does-not-exist")
    # nothing else went: the batch and its input are still there
    assert emu.api("GET", f"{API}/files/{b['input_file_id']}").status == 200
    assert emu.state()["batches"] == 1


def test_read_only_areas_refuse_writes(mounted):
    bid = submit(mounted)
    step, err = write_close(mounted.batch(bid) / "status", b"x", flags=os.O_WRONLY)
    assert step == "open" and err == errno.EACCES, (step, err)
    step, err = write_close(mounted.mnt / "batches" / "new", b"x")
    assert step == "open" and err == errno.EACCES, (step, err)
    assert DEPLOYMENT in os.listdir(mounted.mnt / "deployments")
