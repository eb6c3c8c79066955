"""Hostile input on a real FUSE mount. From the server: ids that are not file names, wrong JSON
types, huge and deeply nested bodies, files whose size lies. From users: garbage, invalid
UTF-8, a BOM, 10 MB lines, random writes, truncation, and the operations the tree does not
have (mkdir, rmdir, links, mknod, chmod of service files), each with its errno."""

import errno
import json
import os
import random
import stat
import subprocess
import time

import pytest

from control import jsonl
from mount import (API, VALGRIND, DEPLOYMENT, all_batches, calls, file_content, get_batch, line, lines, poll,
                   read_bytes, read_text, wait_status, write_close)

CONTENT = jsonl(4).encode()
OK_WORDS = {"validating", "in_progress", "finalizing", "completed", "failed", "expired",
            "cancelling", "cancelled", "unknown"}


# ---- helpers -------------------------------------------------------------------------------------

def run(cmd, timeout=120):
    res = subprocess.run(cmd, capture_output=True, timeout=timeout)
    res.err = res.stderr.decode("utf-8", "replace")
    return res


def says(res, code):
    return res.returncode != 0 and os.strerror(code) in res.err


def name(code):
    return errno.errorcode.get(code, str(code)) if code else "OK"


def oserror(fn, *args):
    """The errno fn(*args) fails with, or 0."""
    try:
        fn(*args)
        return 0
    except OSError as e:
        return e.errno


def alive(fs):
    assert fs.proc.poll() is None, f"batchfs exited ({fs.proc.poll()}):\n{fs.stderr()}"
    assert sorted(os.listdir(fs.mnt)) == [".batchfs", "batches", "deployments", "files"]
    assert read_text(fs.meta("version")).startswith("batchfs ")


def errors_log(fs):
    return read_text(fs.meta("errors"))


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for row in f:
            if row.startswith("VmHWM:"):
                return int(row.split()[1])
    raise AssertionError("no VmHWM")


def inside(fs, path):
    """The path resolves to a place inside the mount."""
    real = os.path.realpath(path)
    return real == str(fs.mnt) or real.startswith(str(fs.mnt) + os.sep)


def batch_inputs(emu):
    resp = emu.api("GET", f"{API}/files", query={"purpose": "batch"})
    assert resp.status == 200, resp
    return resp.json()["data"]


def held(fs, fname="h.jsonl", hold="in_progress"):
    fs.emu.config(hold=hold)
    assert write_close(fs.submit_dir() / fname, CONTENT) == (None, 0)
    (b,) = [b for b in all_batches(fs.emu) if b["metadata"].get("batchfs_name") == fname]
    wait_status(fs, b["id"], hold)
    return b["id"]


def check_listing_is_safe(fs):
    """Every name under batches/ is one path component that stays inside the mount and
    answers stat; returns the names."""
    names = os.listdir(fs.mnt / "batches")
    for n in names:
        assert n and n not in (".", "..") and "/" not in n, repr(n)
        assert not any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in n), repr(n)
        assert len(n.encode()) <= 255, len(n)
        p = fs.mnt / "batches" / n
        assert inside(fs, p), repr(n)
        assert stat.S_ISDIR(os.stat(p).st_mode), repr(n)
    return names


# ==== from the server ================================================================================

HOSTILE_IDS = {
    "slash": "batch_a/b",
    "escape": "../../../../etc",
    "dotdot": "..",
    "dot": ".",
    "ctl": "batch_\x01ctl",
    "esc": "batch_\x1b[31mred",
    "del": "batch_\x7fdel",
    "newline": "batch_\nnl",
    "long": "batch_" + "b" * 10_000,
    "long256": "batch_" + "c" * 250,
}


def test_hostile_ids_are_hidden_and_never_escape(batchfs_factory, emulator):
    # batches of DEPLOYMENT's model: on OpenAI, a batch's model (without batchfs metadata) is
    # learnt as a deployment
    good = emulator.create_batches(1, deployment=DEPLOYMENT)[0]
    md = {"batchfs_deployment": DEPLOYMENT, "batchfs_name": "h.jsonl"}
    emulator.create_batches(len(HOSTILE_IDS), ids=list(HOSTILE_IDS.values()), metadata=md)
    # names that are valid file names stay, as they are
    fine = ["batch_..dots", "batch_é", " "]
    emulator.create_batches(len(fine), ids=fine, deployment=DEPLOYMENT)
    # hostile metadata: deployments and names that are not file names
    for dep, nm in (("../../escape", "../../../etc/passwd"), ("a/b", "x\x01.jsonl"), ("..", "..")):
        emulator.create_batches(1, metadata={"batchfs_deployment": dep, "batchfs_name": nm})
    fs = batchfs_factory(emulator)
    names = check_listing_is_safe(fs)
    assert good in names and set(fine) <= set(names), names
    for key, bid in HOSTILE_IDS.items():
        assert bid not in names, key
    assert len(names) == 1 + len(fine) + 3, names
    # looking them up directly does not reach them either
    for key in ("ctl", "esc", "del", "newline", "long256"):
        code = oserror(os.stat, fs.mnt / "batches" / HOSTILE_IDS[key])
        assert code in (errno.ENOENT, errno.ENAMETOOLONG), (key, name(code))
    assert oserror(os.stat, fs.mnt / "batches" / HOSTILE_IDS["long"]) == errno.ENAMETOOLONG
    assert sorted(os.listdir(fs.mnt / "deployments")) == [DEPLOYMENT, "gpt-4o-mini-batch"]
    # the deployment's links: single components, targets inside batches/
    links = os.listdir(fs.links_dir())
    for n in links:
        target = os.readlink(fs.links_dir() / n)
        assert target.startswith("../../../batches/") and "/" not in target[17:], (n, target)
        assert target[17:] not in ("", ".", "..") and target[17:] in names, (n, target)
        assert inside(fs, fs.links_dir() / n), (n, target)
    for n in names:
        assert read_text(fs.batch(n) / "status").strip() in OK_WORDS
    alive(fs)


def test_nul_escape_in_an_id_does_not_alias_another_batch(batchfs_factory, emulator):
    """cJSON cuts a string at a \\u0000 escape: "batch_victim\\u0000x" must not be shown as (or
    overwrite) batch_victim, nor appear as a batch that does not exist."""
    emulator.create_batches(1, ids=["batch_victim\x00evil"], status="failed")
    emulator.create_batches(1, ids=["batch_ghost\x00evil"], status="in_progress", hold=True)
    emulator.create_batches(1, ids=["batch_victim"], status="completed")
    fs = batchfs_factory(emulator)
    names = check_listing_is_safe(fs)
    status = read_text(fs.batch("batch_victim") / "status")
    shown = json.loads(read_text(fs.batch("batch_victim") / "batch.json"))["status"]
    assert (status, shown) == ("completed\n", "completed"), "batch_victim shows another batch"
    assert "batch_ghost" not in names, f"a batch that does not exist is listed: {names}"
    assert names == ["batch_victim"], names
    alive(fs)


def good_batch_obj(emu, requests=1):
    bid = emu.create_batches(1, with_output=True, requests=requests)[0]
    return get_batch(emu, bid)


WRONG_ITEMS = [
    {"id": 12345, "object": "batch", "status": "completed"},
    {"id": ["batch_x"], "status": "completed"},
    {"id": None}, {"id": {"a": 1}}, {"id": True}, {"id": ""}, {"id": 1e300},
    {"id": "batch_types1", "object": 5, "status": 5, "created_at": "yesterday",
     "request_counts": "many", "metadata": [1, 2], "errors": "bad", "output_file_id": 7,
     "input_file_id": {"x": 1}, "error_file_id": [], "endpoint": False, "completion_window": None,
     "in_progress_at": -1, "expires_at": 1e308, "usage": "lots", "model": ["m"]},
    {"id": "batch_types2", "status": ["completed"], "created_at": -5,
     "request_counts": {"total": "3", "completed": 1e300, "failed": -1},
     "metadata": {"batchfs_deployment": 5, "batchfs_name": ["x"], "k": {"a": 1}},
     "errors": {"object": "list", "data": [1, "x", {"line": "NaN", "code": 5, "message": []},
                                           {"line": 1e300, "code": None}]}},
    {"id": "batch_types3", "status": "COMPLETED", "created_at": 1.5e9, "output_file_id": "",
     "errors": {"data": {"line": "7", "code": "c", "message": "m"}}},
    {"id": "batch_types4", "status": None, "created_at": None, "request_counts": None,
     "errors": {"data": "x"}, "metadata": None, "output_file_id": None},
    "a string", 5, None, [], True,
]


def test_wrong_json_types_in_a_batch_list(batchfs_factory, emulator):
    good = good_batch_obj(emulator)
    body = {"object": "list", "data": WRONG_ITEMS + [good], "has_more": "yes", "first_id": 5,
            "last_id": []}
    fs = batchfs_factory(emulator)
    emulator.fault(method="GET", path=rf"^{API}/batches$", status=200, body=body, times=-1)
    names = poll(lambda: check_listing_is_safe(fs), lambda ns: good["id"] in ns,
                 what="the good batch in a list full of wrong types")
    assert not {"12345", "None", "True", "1e+300", "batch_x"} & set(names), names
    for n in names:
        try:
            entries = os.listdir(fs.batch(n))
        except FileNotFoundError:
            # listed, then the list cache expired and a lookup of its own asked the
            # server, which does not know this id (404): gone is the right answer
            continue
        for f in entries:
            data = None
            try:
                data = read_bytes(fs.batch(n) / f) if f != "cancel" else b""
            except OSError as e:
                assert e.errno in (errno.ENOENT, errno.EBADMSG, errno.EIO), (n, f, name(e.errno))
            if f == "status" and data is not None:
                assert data.decode().strip() in OK_WORDS, (n, data)
            if f == "batch.json" and data is not None:
                json.loads(data)
    assert read_bytes(fs.batch(good["id"]) / "output.jsonl") == \
        file_content(emulator, good["output_file_id"])
    # the same objects answered for one batch
    types1 = next(i for i in WRONG_ITEMS if isinstance(i, dict) and i.get("id") == "batch_types1")
    emulator.fault(method="GET", path=rf"^{API}/batches/batch_t1$", status=200,
                   body=dict(types1, id="batch_t1"), times=-1)
    data = read_text(fs.batch("batch_t1") / "status")
    assert data.strip() in OK_WORDS
    json.loads(read_text(fs.batch("batch_t1") / "batch.json"))
    # a data that is not a list: a clear error
    emulator.clear_faults()
    emulator.fault(method="GET", path=rf"^{API}/batches$", status=200,
                   body={"object": "list", "data": "nope"}, times=-1)
    got = poll(lambda: run(["ls", str(fs.mnt / "batches")]), lambda r: r.returncode != 0,
               what="ls batches/ to fail on a list without data")
    assert says(got, errno.EBADMSG), got.err
    assert "listing batches" in errors_log(fs)
    alive(fs)


def test_wrong_json_types_in_file_objects(batchfs_factory, emulator):
    good = good_batch_obj(emulator)
    fs = batchfs_factory(emulator)
    fid = good["output_file_id"]
    real = emulator.api("GET", f"{API}/files/{fid}").json()
    for bad in ({"bytes": "12"}, {"bytes": -5}, {"bytes": 1e300}, {"bytes": [1]},
                {"id": 7}, {"status": {"x": 1}, "created_at": "x", "filename": 3}):
        emulator.clear_faults()
        emulator.fault(method="GET", path=rf"^{API}/files/{fid}$", status=200,
                       body=dict(real, **bad), times=-1)
        emulator.fault(method="GET", path=rf"^{API}/files$", status=200,
                       body={"object": "list", "data": [dict(real, **bad), 5, None, {"id": []}]},
                       times=-1)
        listed = poll(lambda: os.listdir(fs.mnt / "files"),
                      lambda ns: (fid in ns) == isinstance(dict(real, **bad)["id"], str),
                      what=f"files/ with a file object holding {bad}")
        assert not {"7", "5", "None"} & set(listed), listed
        assert os.path.getsize(fs.mnt / "files" / good["input_file_id"]) > 0
    alive(fs)


ERROR_BODIES = [
    {"error": 5}, {"error": {"code": [1], "message": {"a": 1}}}, {"error": None}, [], "",
    {"error": {"code": "x" * 100_000, "message": "\u0000\u001b[31m" + "m" * 100_000}},
    '{"error": {"code": "invalid_request"', "\x00\x01binary",
]


def test_wrong_json_types_in_error_bodies(batchfs_factory, emulator, tmp_path):
    """A 400 on create with any body: EINVAL, a readable reason, the input deleted."""
    fs = batchfs_factory(emulator)
    src = tmp_path / "e.jsonl"
    src.write_bytes(CONTENT)
    for body in ERROR_BODIES:
        emulator.fault(method="POST", path=rf"^{API}/batches$", status=400, body=body, times=1)
        res = run(["cp", str(src), str(fs.submit_dir())])
        assert says(res, errno.EINVAL), (body if len(str(body)) < 80 else str(body)[:80], res.err)
        why = read_text(fs.submit_dir() / "e.jsonl.error")
        assert "HTTP 400" in why and "deleted" in why and len(why) < 16384, why[:300]
        assert not any(ord(c) < 0x20 and c not in "\n\t" for c in why), repr(why[:300])
        assert batch_inputs(emulator) == [] and emulator.state()["batches"] == 0
    # a retry hint that is not a number or a date: ordinary backoff, then success
    emulator.fault(method="POST", path=rf"^{API}/batches$", status=429, times=1,
                   headers={"retry-after-ms": "soon", "Retry-After": "-1e999"}, body=[])
    res = run(["cp", str(src), str(fs.submit_dir())])
    assert res.returncode == 0, res.err
    assert emulator.state()["batches"] == 1
    alive(fs)


def test_100mb_list_body_fails_cleanly_with_bounded_memory(batchfs_factory, emulator):
    # Under ASan, freed buffers sit in its quarantine (256 MB by default) and count as
    # resident: keep it small so VmHWM measures what the daemon holds.
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    fs = batchfs_factory(emulator, env={"ASAN_OPTIONS": asan + ":quarantine_size_mb=1"})
    emulator.create_batches(3)
    assert len(os.listdir(fs.mnt / "batches")) == 3
    before = vm_hwm_kib(fs.pid)
    emulator.fault(method="GET", path=rf"^{API}/batches$", status=200, times=-1,
                   headers={"Content-Type": "application/json"},
                   body_repeat={"prefix": '{"object": "list", "data": [], "pad": "',
                                "unit": "x" * 1000, "count": 100_000, "suffix": '"}'})
    t0 = time.monotonic()
    got = poll(lambda: run(["ls", str(fs.mnt / "batches")]), lambda r: r.returncode != 0,
               timeout=60, what="ls batches/ to fail on a 100 MB list")
    assert any(says(got, c) for c in (errno.EFBIG, errno.EIO, errno.EBADMSG)), got.err
    assert time.monotonic() - t0 < 60
    # not retried: a body over the limit is not worth fetching again
    emulator.clear_requests()
    got = run(["ls", str(fs.mnt / "batches")])
    assert any(says(got, c) for c in (errno.EFBIG, errno.EIO, errno.EBADMSG)), got.err
    assert len(calls(emulator, "GET", rf"{API}/batches")) == 1, emulator.requests()
    after = vm_hwm_kib(fs.pid)
    print(f"\n[100mb] {got.err.strip()}; VmHWM {before} KiB -> {after} KiB")
    if not VALGRIND:  # memcheck's own shadow memory counts in VmHWM; the growth below still holds
        assert after < 100 * 1024, f"VmHWM {after // 1024} MiB"
    assert after - before < 64 * 1024, f"VmHWM grew by {(after - before) // 1024} MiB"
    assert "listing batches" in errors_log(fs)
    alive(fs)
    emulator.clear_faults()
    assert len(poll(lambda: os.listdir(fs.mnt / "batches"), lambda ns: len(ns) == 3)) == 3


def deep(n):
    return "[" * n + "]" * n


@pytest.mark.parametrize("where", ["list", "batch"])
def test_nesting_100000_deep_is_ebadmsg(batchfs_factory, emulator, where):
    fs = batchfs_factory(emulator)
    bid = held(fs)
    if where == "list":
        path, target = rf"^{API}/batches$", fs.mnt / "batches"
        body = '{"object": "list", "data": ' + deep(100_000) + "}"
    else:
        path, target = rf"^{API}/batches/{bid}$", fs.batch(bid) / "status"
        body = '{"id": "%s", "object": "batch", "status": "in_progress", "x": %s}' % (bid, deep(100_000))
    emulator.fault(method="GET", path=path, status=200, body=body, times=-1,
                   headers={"Content-Type": "application/json"})
    cmd = ["ls", str(target)] if where == "list" else ["cat", str(target)]
    got = poll(lambda: run(cmd), lambda r: r.returncode != 0, what=f"{cmd} to fail")
    assert says(got, errno.EBADMSG), got.err
    assert ("listing batches" if where == "list" else f"batch {bid}") in errors_log(fs)
    alive(fs)
    emulator.clear_faults()
    assert wait_status(fs, bid, "in_progress") == "in_progress"


@pytest.mark.parametrize("lie", ["longer", "shorter", "zero", "null", "absent"])
def test_file_bytes_that_lie_never_read_as_complete(batchfs_factory, emulator, lie):
    emulator.config(output_content_bytes=1000)
    good = good_batch_obj(emulator, requests=5)
    fid = good["output_file_id"]
    expected = file_content(emulator, fid)
    assert len(expected) > 2000
    obj = emulator.api("GET", f"{API}/files/{fid}").json()
    if lie == "longer":
        obj["bytes"] = len(expected) + 1000
    elif lie == "shorter":
        obj["bytes"] = len(expected) - 1000
    elif lie == "zero":
        obj["bytes"] = 0
    elif lie == "null":
        obj["bytes"] = None
    else:
        del obj["bytes"]
    emulator.fault(method="GET", path=rf"^{API}/files/{fid}$", status=200, body=obj, times=-1)
    fs = batchfs_factory(emulator)
    out = fs.batch(good["id"]) / "output.jsonl"
    res = run(["cat", str(out)])
    assert res.returncode != 0, \
        f"bytes {lie}: cat returned {len(res.stdout)} of {len(expected)} bytes as a complete file"
    assert says(res, errno.EIO) or says(res, errno.EBADMSG), res.err
    assert res.stdout != expected[:len(res.stdout)] or len(res.stdout) < len(expected)
    alive(fs)


# ==== from users =====================================================================================

def rejected(fs, fname, content, code, line_no):
    """cp fails; close() fails with EINVAL; the reason names the code and the line; nothing sent."""
    src = fs.mnt.parent / fname
    src.write_bytes(content)
    res = run(["cp", str(src), str(fs.submit_dir())])
    assert says(res, errno.EINVAL), res.err
    why = read_text(fs.submit_dir() / (fname + ".error"))
    assert code in why and f"line {line_no}" in why, why
    step, err = write_close(fs.submit_dir() / ("2" + fname), content)
    assert (step, err) == ("close", errno.EINVAL), (step, name(err))
    assert calls(fs.emu, "POST", rf"{API}/files") == []
    assert fs.emu.state()["batches"] == 0


def test_binary_garbage_is_einval_invalid_json_line(mounted):
    garbage = b"\x00\xff" + random.Random(7).randbytes(8192)
    rejected(mounted, "garbage.jsonl", lines(line("a")) + garbage, "invalid_json_line", 2)
    rejected(mounted, "garbage0.jsonl", garbage, "invalid_json_line", 1)
    alive(mounted)


@pytest.mark.parametrize("bad", [b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                                 b"\xff", b"\xe2\x82"])
def test_invalid_utf8_is_einval_with_the_line(mounted, bad):
    third = line("c").encode().replace(b"Q c?", b"Q " + bad + b"?")
    content = lines(line("a"), line("b")) + third + b"\n"
    rejected(mounted, "utf8.jsonl", content, "invalid_json_line", 3)


def test_utf8_bom_is_dropped(mounted, tmp_path):
    src = tmp_path / "bom.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + CONTENT)
    res = run(["cp", str(src), str(mounted.submit_dir())])
    assert res.returncode == 0, res.err
    (b,) = all_batches(mounted.emu)
    assert file_content(mounted.emu, b["input_file_id"]) == CONTENT
    assert len(batch_inputs(mounted.emu)) == 1
    assert read_bytes(mounted.submit_dir() / "bom.jsonl") == b"\xef\xbb\xbf" + CONTENT


def test_10mb_line_is_accepted(mounted, tmp_path):
    big = line("big", content="x" * 10_000_000)
    content = lines(line("a"), big, line("z"))
    src = tmp_path / "long.jsonl"
    src.write_bytes(content)
    res = run(["cp", str(src), str(mounted.submit_dir())])
    assert res.returncode == 0, res.err
    (b,) = all_batches(mounted.emu)
    assert (mounted.batch(b["id"]) / "input.jsonl").stat().st_size == len(content)
    assert len(batch_inputs(mounted.emu)) == 1


@pytest.mark.parametrize("where", ["gap", "backwards", "overlap"])
def test_writes_out_of_order_are_einval(mounted, where):
    path = mounted.submit_dir() / "rand.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        assert os.write(fd, CONTENT[:100]) == 100
        off = {"gap": 4096, "backwards": 0, "overlap": 50}[where]
        assert oserror(os.pwrite, fd, b'{"custom_id"', off) == errno.EINVAL
    finally:
        close = oserror(os.close, fd)
    # the file is never submitted with a hole or an edit
    assert close != 0, "close() of a file whose write failed returned 0"
    print(f"\n[random write {where}] close: {name(close)}")
    assert calls(mounted.emu, "POST", rf"{API}/files") == []
    assert mounted.emu.state()["batches"] == 0
    assert "rand.jsonl" in read_text(mounted.submit_dir() / "rand.jsonl.error")


def test_truncate_s_5_is_einval(mounted):
    sub = mounted.submit_dir()
    assert write_close(sub / "t.jsonl", CONTENT) == (None, 0)
    assert oserror(os.truncate, sub / "t.jsonl", 5) == errno.EINVAL   # truncate(2)
    res = run(["truncate", "-s", "5", str(sub / "t.jsonl")])          # open + ftruncate
    assert says(res, errno.EINVAL), res.err
    assert read_bytes(sub / "t.jsonl") == CONTENT
    assert mounted.emu.state()["batches"] == 1


@pytest.mark.parametrize("how", ["truncate(2)", "truncate -s 0"])
def test_truncate_to_0_then_write_is_a_new_submission(mounted, how):
    sub = mounted.submit_dir()
    assert write_close(sub / "t.jsonl", CONTENT) == (None, 0)
    if how == "truncate(2)":
        os.truncate(sub / "t.jsonl", 0)
    else:
        res = run(["truncate", "-s", "0", str(sub / "t.jsonl")])
        assert res.returncode == 0, res.err
    assert (sub / "t.jsonl").stat().st_size == 0
    assert mounted.emu.state()["batches"] == 1
    second = jsonl(2, start=40).encode()
    assert write_close(sub / "t.jsonl", second, flags=os.O_WRONLY) == (None, 0)
    newest, oldest = all_batches(mounted.emu)
    assert newest["metadata"]["batchfs_name"] == "t.jsonl"
    assert file_content(mounted.emu, newest["input_file_id"]) == second
    assert file_content(mounted.emu, oldest["input_file_id"]) == CONTENT
    assert read_bytes(sub / "t.jsonl") == second


def test_chmod(mounted):
    sub = mounted.submit_dir()
    assert write_close(sub / "m.jsonl", CONTENT) == (None, 0)
    os.chmod(sub / "m.jsonl", 0o600)
    assert stat.S_IMODE(os.stat(sub / "m.jsonl").st_mode) == 0o600
    assert run(["chmod", "640", str(sub / "m.jsonl")]).returncode == 0
    assert stat.S_IMODE(os.stat(sub / "m.jsonl").st_mode) == 0o640
    (b,) = all_batches(mounted.emu)
    for f in ("status", "batch.json", "input.jsonl", "cancel"):
        assert oserror(os.chmod, mounted.batch(b["id"]) / f, 0o666) == errno.EPERM, f
    res = run(["chmod", "666", str(mounted.batch(b["id"]) / "status")])
    assert says(res, errno.EPERM), res.err
    assert oserror(os.chmod, mounted.mnt / "batches", 0o777) == errno.EPERM
    assert stat.S_IMODE(os.stat(mounted.batch(b["id"]) / "status").st_mode) == 0o444


def test_mkdir_and_rmdir_outside_deployments_are_eperm(mounted):
    mnt = mounted.mnt
    for d in (mnt / "x", mnt / "batches" / "x", mnt / "files" / "x", mnt / ".batchfs" / "x",
              mounted.submit_dir() / "x", mounted.dep() / "x", mounted.links_dir() / "x"):
        assert oserror(os.mkdir, d) == errno.EPERM, d
    res = run(["mkdir", str(mnt / "batches" / "y")])
    assert says(res, errno.EPERM), res.err
    for d in (mnt / "batches", mnt / "files", mnt / ".batchfs", mnt / "deployments",
              mounted.submit_dir(), mounted.links_dir()):
        assert oserror(os.rmdir, d) == errno.EPERM, d
    res = run(["rmdir", str(mnt / "batches")])
    assert says(res, errno.EPERM), res.err
    # the one mkdir there is
    os.mkdir(mnt / "deployments" / "made-here")
    assert "made-here" in os.listdir(mnt / "deployments")


def test_links_and_mknod_are_eperm(mounted, tmp_path):
    sub = mounted.submit_dir()
    assert write_close(sub / "l.jsonl", CONTENT) == (None, 0)
    (b,) = all_batches(mounted.emu)
    targets = [sub / "s.jsonl", mounted.mnt / "s", mounted.mnt / "batches" / "s",
               mounted.links_dir() / "s", mounted.batch(b["id"]) / "s"]
    for t in targets:
        assert oserror(os.symlink, str(tmp_path), t) == errno.EPERM, t
        assert oserror(os.link, sub / "l.jsonl", t) == errno.EPERM, t
    res = run(["ln", "-s", "/etc/passwd", str(sub / "p.jsonl")])
    assert says(res, errno.EPERM), res.err
    res = run(["ln", str(sub / "l.jsonl"), str(sub / "hard.jsonl")])
    assert says(res, errno.EPERM), res.err
    assert oserror(os.mknod, sub / "fifo.jsonl", stat.S_IFIFO | 0o644) == errno.EPERM
    assert oserror(os.mkfifo, mounted.mnt / "batches" / "fifo") == errno.EPERM
    assert sorted(os.listdir(sub)) == ["l.jsonl"]
    assert mounted.emu.state()["batches"] == 1
    alive(mounted)
