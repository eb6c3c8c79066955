"""batchfs submit/: the tools people use, local validation (codes, lines, errnos), reason
files, receipts, links, rename flows and temporary names, on a real FUSE mount."""

import errno
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from control import jsonl
from mount import (API, BATCH_ENDPOINT, DEPLOYMENT, MAX_REQUESTS, OTHER_DEPLOYMENT, REPO, all_batches, calls,
                   line, lines, poll, read_bytes, read_text, write_close)

CONTENT = jsonl(4).encode()


def run(cmd, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def no_upload(emu):
    """Nothing was uploaded: no POST /files completed and the service holds no batch input.
    (A large file's upload starts while it is written, -o stream_after, and is cut before
    its end when the file turns out invalid: that request may show, unanswered.)"""
    ups = calls(emu, "POST", rf"{API}/files")
    files = emu.api("GET", f"{API}/files").json()["data"]
    return all(not 200 <= (u["status"] or 0) < 300 for u in ups) and \
        not [f for f in files if f["purpose"] == "batch"]


def check_one_batch(fs, name, content, dep=DEPLOYMENT):
    """Exactly one batch was made, from `content`, named `name`, linked and receipted."""
    emu = fs.emu
    assert len(calls(emu, "POST", rf"{API}/files")) == 1, emu.requests()
    assert len(calls(emu, "POST", rf"{API}/batches")) == 1, emu.requests()
    state = emu.state()
    assert state["batches"] == 1, state
    assert state["files_by_purpose"].get("batch") == 1, state
    (batch,) = all_batches(emu)
    md = batch["metadata"]
    assert md["batchfs_name"] == name
    assert md["batchfs_deployment"] == dep
    assert md["batchfs_sha256"] == hashlib.sha256(content).hexdigest()
    # the link deployments/D/batches/NAME -> ../../../batches/ID
    link = fs.links_dir(dep) / name
    assert os.readlink(link) == f"../../../batches/{batch['id']}"
    assert read_text(link / "status").strip() in {"validating", "in_progress", "finalizing", "completed"}
    # the receipt: same name, same size, same bytes
    receipt = fs.submit_dir(dep) / name
    assert receipt.stat().st_size == len(content)
    assert read_bytes(receipt) == content
    listing = os.listdir(fs.submit_dir(dep))
    assert name in listing and name + ".error" not in listing, listing
    return batch


# ---- the tools -------------------------------------------------------------------------------

def _cp(src, dst):
    return run(["cp", str(src), str(dst)])


def _cp_p(src, dst):
    return run(["cp", "-p", str(src), str(dst)])


def _install(src, dst):
    return run(["install", "-m", "644", str(src), str(dst)])


def _mv(src, dst):
    res = run(["mv", str(src), str(dst)])
    assert not src.exists(), "mv left its source behind"
    return res


def _rsync(src, dst):
    return run(["rsync", str(src), str(dst.parent) + "/"])


def _rsync_inplace(src, dst):
    return run(["rsync", "--inplace", str(src), str(dst.parent) + "/"])


def _redirect(src, dst):
    # two inputs concatenated by a shell redirection into submit/
    half = src.with_suffix(".part2")
    data = src.read_bytes()
    cut = data.index(b"\n") + 1
    src.write_bytes(data[:cut])
    half.write_bytes(data[cut:])
    return run(["bash", "-c", 'cat "$1" "$2" > "$3"', "sh", str(src), str(half), str(dst)])


def _dd(src, dst):
    return run(["dd", f"if={src}", f"of={dst}", "bs=4k", "status=none"])


def _tee(src, dst):
    with open(src, "rb") as inp:
        return subprocess.run(["tee", str(dst)], stdin=inp, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=120)


def _shutil_copy(src, dst):
    shutil.copy(str(src), str(dst))
    return subprocess.CompletedProcess(["shutil.copy"], 0, "", "")


TOOLS = {
    "cp": _cp,
    "cp_p": _cp_p,
    "install": _install,
    "mv": _mv,
    "rsync": _rsync,
    "rsync_inplace": _rsync_inplace,
    "redirect": _redirect,
    "dd": _dd,
    "tee": _tee,
    "shutil_copy": _shutil_copy,
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_tool_submits_exactly_one_batch(mounted, tmp_path, tool):
    name = f"{tool}.jsonl"
    # a file on another filesystem (tmp_path), big enough for several 4 KiB writes
    content = jsonl(60).encode()
    src = tmp_path / name
    src.write_bytes(content)
    os.utime(src, (1_600_000_000, 1_600_000_000))
    dst = mounted.submit_dir() / name
    res = TOOLS[tool](src, dst)
    assert res.returncode == 0, f"{tool} failed: {res.stderr}"
    batch = check_one_batch(mounted, name, content)
    assert batch["endpoint"] == BATCH_ENDPOINT
    if tool in ("cp_p", "mv"):
        # the receipt took the metadata calls that preserve the time
        assert int(os.stat(dst).st_mtime) == 1_600_000_000


@pytest.mark.surfaces("azure", "azure-v1", reason="waits out Azure's 'pending' file state; OpenAI "
                      "uploads are processed at once, nothing to wait for")
def test_close_returns_after_upload_processing_and_create(mounted, tmp_path):
    """close() blocks until the upload is processed and the batch exists."""
    emu = mounted.emu
    emu.config(file_process_delay=0.8)
    src = tmp_path / "slow.jsonl"
    src.write_bytes(CONTENT)
    t0 = time.monotonic()
    res = run(["cp", str(src), str(mounted.submit_dir())])
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    # the batch exists the moment cp returns
    assert emu.state()["batches"] == 1
    assert took >= 0.7, f"cp returned after {took:.2f}s, before the upload was processed"
    log = [(r["method"], r["path"]) for r in emu.requests()]
    up = log.index(("POST", f"{API}/files"))
    create = log.index(("POST", f"{API}/batches"))
    polls = [i for i, (m, p) in enumerate(log) if m == "GET" and p.startswith(f"{API}/files/")]
    assert polls and up < polls[0] and polls[-1] < create, log
    check_one_batch(mounted, "slow.jsonl", CONTENT)


# ---- validation ----------------------------------------------------------------------------------

BAD_INPUTS = {
    "invalid_json_line": (lines(line("a"), '{"custom_id": "b", "method": "POST",', line("c")), 2),
    "duplicate_custom_id": (lines(line("a"), line("b"), line("a")), 3),
    "model_mismatch": (lines(line("a"), line("b", model=OTHER_DEPLOYMENT), line("c")), 2),
    "url_mismatch": (lines(line("a"), line("b"), line("c", url="/v1/embeddings")), 3),
    "empty_file": (b"", None),
}


def _check_rejected(fs, name, code, line_no):
    reason_path = fs.submit_dir() / (name + ".error")
    res = run(["cat", str(reason_path)])
    assert res.returncode == 0, f"cat {reason_path}: {res.stderr}"
    reason = res.stdout
    assert code in reason, reason
    if line_no is not None:
        assert f"line {line_no}" in reason, reason
    assert name + ".error" in os.listdir(fs.submit_dir())
    errors = read_text(fs.meta("errors"))
    assert name in errors, errors


@pytest.mark.parametrize("code", sorted(BAD_INPUTS))
def test_invalid_input_fails_close_with_einval(mounted, tmp_path, code):
    content, line_no = BAD_INPUTS[code]
    src = tmp_path / "bad.jsonl"
    src.write_bytes(content)
    res = run(["cp", str(src), str(mounted.submit_dir() / "bad.jsonl")])
    assert res.returncode != 0, f"cp of a file with {code} succeeded"
    _check_rejected(mounted, "bad.jsonl", code, line_no)
    step, err = write_close(mounted.submit_dir() / "bad2.jsonl", content)
    assert (step, err) == ("close", errno.EINVAL), (step, errno.errorcode.get(err))
    _check_rejected(mounted, "bad2.jsonl", code, line_no)
    assert no_upload(mounted.emu), mounted.emu.requests()
    assert mounted.emu.state()["batches"] == 0


def test_too_many_tasks_rejected_locally(mounted, tmp_path):
    n = MAX_REQUESTS + 1   # the surface's limit: 100,000 on Azure, 50,000 on OpenAI
    tiny = '{"custom_id":"%d","method":"POST","url":"/v1/chat/completions","body":{"model":"%s"}}\n'
    content = "".join(tiny % (i, DEPLOYMENT) for i in range(n)).encode()
    src = tmp_path / "many.jsonl"
    src.write_bytes(content)
    res = run(["cp", str(src), str(mounted.submit_dir() / "many.jsonl")])
    assert res.returncode != 0, f"cp of {n:,} requests succeeded"
    _check_rejected(mounted, "many.jsonl", "too_many_tasks", n)
    step, err = write_close(mounted.submit_dir() / "many2.jsonl", content)
    assert (step, err) == ("close", errno.EINVAL), (step, errno.errorcode.get(err))
    _check_rejected(mounted, "many2.jsonl", "too_many_tasks", n)
    assert no_upload(mounted.emu)
    # the limit itself is fine: MAX_REQUESTS requests are accepted locally
    ok = content[: content.index(b'{"custom_id":"%d"' % MAX_REQUESTS)]
    step, err = write_close(mounted.submit_dir() / "exactly.jsonl", ok)
    assert (step, err) == (None, 0), (step, errno.errorcode.get(err))
    assert mounted.emu.state()["batches"] == 1


def test_missing_model_gets_the_deployment_inserted(mounted, tmp_path):
    content = lines(line("a", model=None), line("b"), line("c", model=None, content='{"x": 1}'))
    src = tmp_path / "nomodel.jsonl"
    src.write_bytes(content)
    res = run(["cp", str(src), str(mounted.submit_dir())])
    assert res.returncode == 0, res.stderr
    (batch,) = all_batches(mounted.emu)
    expected = content.replace(b'"body": {"messages"',
                               b'"body": {"model": "%s", "messages"' % DEPLOYMENT.encode())
    assert expected.count(DEPLOYMENT.encode()) == 3
    got = read_bytes(mounted.batch(batch["id"]) / "input.jsonl")
    assert got == expected
    assert (mounted.batch(batch["id"]) / "input.jsonl").stat().st_size == len(expected)
    # the receipt keeps what was written; the sha256 is of the written bytes
    assert read_bytes(mounted.submit_dir() / "nomodel.jsonl") == content
    assert batch["metadata"]["batchfs_sha256"] == hashlib.sha256(content).hexdigest()


def test_over_200mb_fails_with_efbig_at_write_time(mounted):
    """There is no option to lower the 200 MB limit: write 200 MB + 1 of valid lines."""
    limit = 200 * 1000 * 1000
    pad = "x" * 900
    per_chunk = 1000
    path = mounted.submit_dir() / "huge.jsonl"
    t0 = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    written, i, failure = 0, 0, None
    try:
        while written <= limit:
            chunk = "".join(
                '{"custom_id":"r%d","method":"POST","url":"/v1/chat/completions",'
                '"body":{"model":"%s","messages":[{"role":"user","content":"%s"}]}}\n'
                % (i + k, DEPLOYMENT, pad) for k in range(per_chunk)).encode()
            i += per_chunk
            view = memoryview(chunk)
            while view:
                try:
                    n = os.write(fd, view)
                except OSError as e:
                    failure = e
                    break
                written += n
                view = view[n:]
            if failure:
                break
    finally:
        try:
            os.close(fd)
            close_err = None
        except OSError as e:
            close_err = e
    took = time.monotonic() - t0
    print(f"\n[efbig] wrote {written} bytes before the failure in {took:.1f}s")
    assert failure is not None, f"{written} bytes written without an error"
    assert failure.errno == errno.EFBIG, failure
    assert limit - 2_000_000 < written <= limit, written
    assert close_err is not None, "close() of a file whose write failed returned 0"
    reason = read_text(mounted.submit_dir() / "huge.jsonl.error")
    assert "limit" in reason, reason
    assert no_upload(mounted.emu)
    assert mounted.emu.state()["batches"] == 0


# ---- reasons, receipts, cleanup of failed commits ---------------------------------------------------

def test_reason_cleared_by_a_successful_resubmission(mounted, tmp_path):
    bad = tmp_path / "fix.jsonl"
    bad.write_bytes(lines(line("a"), "not json"))
    assert run(["cp", str(bad), str(mounted.submit_dir())]).returncode != 0
    assert (mounted.submit_dir() / "fix.jsonl.error").exists()
    bad.write_bytes(CONTENT)
    res = run(["cp", str(bad), str(mounted.submit_dir())])
    assert res.returncode == 0, res.stderr
    assert "fix.jsonl.error" not in os.listdir(mounted.submit_dir())
    check_one_batch(mounted, "fix.jsonl", CONTENT)


def test_failed_create_deletes_the_uploaded_input(mounted, tmp_path):
    emu = mounted.emu
    emu.fault(method="POST", path=rf"^{API}/batches$", status=400, times=-1)
    step, err = write_close(mounted.submit_dir() / "orphan.jsonl", CONTENT)
    assert (step, err) == ("close", errno.EINVAL), (step, errno.errorcode.get(err))
    (upload,) = calls(emu, "POST", rf"{API}/files")
    deletes = calls(emu, "DELETE", rf"{API}/files/[^/]+")
    assert len(deletes) == 1, emu.requests()
    state = emu.state()
    assert state["files"] == 0 and state["batches"] == 0, state
    reason = read_text(mounted.submit_dir() / "orphan.jsonl.error")
    assert "deleted" in reason, reason
    assert "orphan.jsonl" in read_text(mounted.meta("errors"))


@pytest.mark.surfaces("azure", "azure-v1", reason="a file stuck in Azure's 'pending' state; the "
                      "OpenAI dialect has no such state")
def test_processing_timeout_fails_close_with_etimedout_and_deletes(batchfs_factory, emulator):
    emulator.config(file_stuck_pending=True)
    fs = batchfs_factory(emulator, options={"process_timeout_ms": "800"})
    step, err = write_close(fs.submit_dir() / "stuck.jsonl", CONTENT)
    assert (step, err) == ("close", errno.ETIMEDOUT), (step, errno.errorcode.get(err))
    assert len(calls(emulator, "DELETE", rf"{API}/files/[^/]+")) == 1
    assert emulator.state()["files"] == 0
    assert "stuck.jsonl" in read_text(fs.submit_dir() / "stuck.jsonl.error")


def test_removing_a_receipt_keeps_the_batch(mounted, tmp_path):
    src = tmp_path / "keep.jsonl"
    src.write_bytes(CONTENT)
    assert run(["cp", str(src), str(mounted.submit_dir())]).returncode == 0
    (batch,) = all_batches(mounted.emu)
    mounted.emu.clear_requests()
    os.unlink(mounted.submit_dir() / "keep.jsonl")
    assert "keep.jsonl" not in os.listdir(mounted.submit_dir())
    assert [r for r in mounted.emu.requests() if r["method"] in ("POST", "DELETE")] == []
    assert mounted.emu.state()["batches"] == 1
    assert os.readlink(mounted.links_dir() / "keep.jsonl") == f"../../../batches/{batch['id']}"
    assert read_text(mounted.batch(batch["id"]) / "status").strip() != "cancelling"


def test_same_name_twice_makes_two_batches_and_links(mounted, tmp_path):
    src = tmp_path / "again.jsonl"
    src.write_bytes(CONTENT)
    assert run(["cp", str(src), str(mounted.submit_dir())]).returncode == 0
    second = jsonl(2, start=50).encode()
    src.write_bytes(second)
    res = run(["cp", str(src), str(mounted.submit_dir())])
    assert res.returncode == 0, res.stderr
    newest, oldest = all_batches(mounted.emu)
    links = os.listdir(mounted.links_dir())
    assert os.readlink(mounted.links_dir() / "again.jsonl") == f"../../../batches/{newest['id']}"
    assert f"again.jsonl.{oldest['id']}" in links
    assert read_bytes(mounted.submit_dir() / "again.jsonl") == second


# ---- temporary names and renames ---------------------------------------------------------------------

TEMP_NAMES = [".x.jsonl.AbC123", "x.jsonl.part", "x.tmp", "x.jsonl~", ".x.jsonl.swp"]


def test_temporary_names_are_staged_not_submitted(mounted):
    for name in TEMP_NAMES:
        assert write_close(mounted.submit_dir() / name, CONTENT) == (None, 0), name
    listing = set(os.listdir(mounted.submit_dir()))
    assert set(TEMP_NAMES) <= listing, listing
    for name in TEMP_NAMES:
        assert read_bytes(mounted.submit_dir() / name) == CONTENT
    assert no_upload(mounted.emu), mounted.emu.requests()
    assert mounted.emu.state()["batches"] == 0


def test_rename_of_a_staged_file_submits_it(mounted):
    sub = mounted.submit_dir()
    assert write_close(sub / ".r.jsonl.AbC123", CONTENT) == (None, 0)
    assert no_upload(mounted.emu)
    os.rename(sub / ".r.jsonl.AbC123", sub / "r.jsonl")
    assert ".r.jsonl.AbC123" not in os.listdir(sub)
    check_one_batch(mounted, "r.jsonl", CONTENT)


def test_rename_of_a_part_file_submits_it(mounted):
    sub = mounted.submit_dir()
    assert write_close(sub / "p.jsonl.part", CONTENT) == (None, 0)
    os.rename(sub / "p.jsonl.part", sub / "p.jsonl")
    check_one_batch(mounted, "p.jsonl", CONTENT)


def test_rename_of_an_invalid_staged_file_fails_with_einval(mounted):
    sub = mounted.submit_dir()
    assert write_close(sub / ".bad.jsonl.XyZ789", lines(line("a"), line("a"))) == (None, 0)
    with pytest.raises(OSError) as exc:
        os.rename(sub / ".bad.jsonl.XyZ789", sub / "bad.jsonl")
    assert exc.value.errno == errno.EINVAL
    reason = read_text(sub / "bad.jsonl.error")
    assert "duplicate_custom_id" in reason and "line 2" in reason, reason
    assert no_upload(mounted.emu)


def test_random_writes_fail_with_einval(mounted):
    fd = os.open(mounted.submit_dir() / "rand.jsonl", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, CONTENT[:10])
        with pytest.raises(OSError) as exc:
            os.pwrite(fd, b"x", 100)
        assert exc.value.errno == errno.EINVAL
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    assert no_upload(mounted.emu)


def test_receipt_is_replaced_not_edited(mounted, tmp_path):
    sub = mounted.submit_dir()
    assert write_close(sub / "rc.jsonl", CONTENT) == (None, 0)
    step, err = write_close(sub / "rc.jsonl", b"more", flags=os.O_WRONLY | os.O_APPEND)
    # The open works (truncate(1) opens then ftruncates); editing does not.
    assert (step, err) == ("write", errno.EPERM), (step, errno.errorcode.get(err))
    assert read_bytes(sub / "rc.jsonl") == CONTENT
    assert mounted.emu.state()["batches"] == 1
    # cp truncates: a replacement is a new submission
    src = tmp_path / "rc.jsonl"
    src.write_bytes(jsonl(2, start=9).encode())
    assert run(["cp", str(src), str(sub)]).returncode == 0
    assert mounted.emu.state()["batches"] == 2
    assert read_bytes(sub / "rc.jsonl") == src.read_bytes()


def test_reason_files_cannot_be_created(mounted):
    step, err = write_close(mounted.submit_dir() / "z.jsonl.error", CONTENT)
    assert step == "open" and err in (errno.EPERM, errno.EACCES), (step, errno.errorcode.get(err))


# ---- the published errno table -----------------------------------------------------------------------

def test_readme_publishes_the_errno_table():
    """close()/rename()/write() fail 'with an errno from the published table (README)'."""
    text = (REPO / "README.md").read_text()
    missing = [e for e in ("EINVAL", "EFBIG", "EPERM", "ETIMEDOUT", "EACCES", "ENOENT", "EIO")
               if e not in text]
    assert not missing, f"README.md has no errno table entry for {missing}"
