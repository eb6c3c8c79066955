"""Uploads that run while the file is still being written (-o stream_after): when they start, what reaches the service."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import mount as m

# Stream anything past 64 KiB (the default is 8 MiB) so that ~1 MB files exercise it.
STREAM = {"stream_after": "64k"}
FILES = rf"^{re.escape(m.API)}/files$"


def big_input(n=1500, model=m.DEPLOYMENT, prefix="r"):
    """About n KB of valid lines."""
    return m.lines(*[m.line(f"{prefix}{i}", model=model, content="x" * 900) for i in range(n)])


def halves(data):
    """The data cut in two at a line end."""
    cut = data.index(b"\n", len(data) // 2) + 1
    return data[:cut], data[cut:]


def stats(fs):
    return dict(row.split(" ", 1) for row in m.read_text(fs.meta("stats")).splitlines())


def uploads(emu):
    return m.calls(emu, "POST", FILES)


def service_files(emu):
    return [f for f in emu.api("GET", f"{m.API}/files").json()["data"] if f["purpose"] == "batch"]


def receiving(emu, at_least):
    """The emulator is receiving an upload whose file part has at least this many bytes."""
    return m.poll(emu.uploads_in_progress, lambda ups: any(u["received"] >= at_least for u in ups),
                  what=f"an upload in progress with >= {at_least} bytes received")


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def writer_holding_open(path, data):
    """A process that writes data to path and keeps it open (until killed)."""
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys\n"
         "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n"
         "data = sys.stdin.buffer.read(int(sys.argv[2]))\n"
         "view = memoryview(data)\n"
         "while view:\n"
         "    view = view[os.write(fd, view):]\n"
         "print('written', flush=True)\n"
         "sys.stdin.read()\n",
         str(path), str(len(data))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    writer.stdin.write(data)
    writer.stdin.flush()
    assert writer.stdout.readline() == b"written\n"
    return writer


def only_batch(emu):
    [b] = m.all_batches(emu)
    return b


def test_upload_runs_while_the_file_is_still_open(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, options=STREAM)
    data = big_input()
    first, rest = halves(data)
    fd = os.open(fs.submit_dir() / "big.jsonl", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, first)
        # The file is still open: its first half is already on the wire...
        receiving(emulator, len(first) // 2)
        assert stats(fs)["uploads_while_written_active"] == "1"
        # ...but the service has created nothing (the body is not closed).
        assert service_files(emulator) == []
        write_all(fd, rest)
    finally:
        os.close(fd)
    [up] = uploads(emulator)
    assert up["headers"].get("Transfer-Encoding") == "chunked"
    batch = only_batch(emulator)
    assert m.file_content(emulator, batch["input_file_id"]) == data
    assert stats(fs)["uploads_while_written"] == "1"
    assert stats(fs)["uploads_while_written_active"] == "0"


def test_small_files_and_stream_after_0_upload_at_close(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, options={"stream_after": "0"})
    data = big_input(300)
    assert m.write_close(fs.submit_dir() / "a.jsonl", data) == (None, 0)
    fs2 = batchfs_factory(emulator)  # default: 8 MiB
    assert m.write_close(fs2.submit_dir() / "b.jsonl", big_input(300, prefix="s")) == (None, 0)
    for up in uploads(emulator):
        assert "Transfer-Encoding" not in up["headers"]
    assert len(uploads(emulator)) == 2
    assert stats(fs)["uploads_while_written"] == "0" and stats(fs2)["uploads_while_written"] == "0"


def test_a_late_invalid_line_cuts_the_upload(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, options=STREAM)
    first, rest = halves(big_input())
    path = fs.submit_dir() / "bad.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    closed = False
    try:
        write_all(fd, first)
        receiving(emulator, 1)
        write_all(fd, b'{"custom_id": "broken", "method": "POST"\n' + rest)
        # The finding cut the upload at once, before close: nothing waits on the wire.
        m.poll(lambda: stats(fs)["uploads_while_written_active"], lambda v: v == "0",
               what="the upload under way to be cut")
        m.poll(emulator.uploads_in_progress, lambda ups: ups == [], what="the emulator to see the cut")
        try:
            os.close(fd)
            raise AssertionError("close() of an invalid file succeeded")
        except OSError as e:
            assert e.errno == 22  # EINVAL
        closed = True
    finally:
        if not closed:
            os.close(fd)
    assert service_files(emulator) == []
    assert m.all_batches(emulator) == []
    reason = m.read_text(fs.submit_dir() / "bad.jsonl.error")
    assert "line" in reason and "nothing was" in reason


def test_a_writer_killed_mid_stream_leaves_nothing(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, options=STREAM)
    first, _ = halves(big_input())
    writer = writer_holding_open(fs.submit_dir() / "killed.jsonl", first)
    receiving(emulator, len(first) // 2)
    writer.kill()
    writer.wait()
    m.poll(lambda: stats(fs)["uploads_while_written_active"], lambda v: v == "0",
           what="the upload under way to be abandoned")
    m.poll(emulator.uploads_in_progress, lambda ups: ups == [], what="the emulator to see the cut")
    assert service_files(emulator) == []
    assert m.all_batches(emulator) == []
    assert "interrupted" in m.read_text(fs.submit_dir() / "killed.jsonl.error")


def test_a_writer_pausing_longer_than_the_stall_timeout(batchfs_factory, emulator):
    """Time spent waiting for the writer is not a stalled transfer."""
    fs = batchfs_factory(emulator, options=dict(STREAM, stall_timeout_ms="1000"))
    data = big_input()
    first, rest = halves(data)
    fd = os.open(fs.submit_dir() / "slow.jsonl", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, first)
        receiving(emulator, len(first))  # everything written so far was sent: it waits
        time.sleep(2.5)  # the writer pauses (the scenario, not a synchronisation)
        write_all(fd, rest)
    finally:
        os.close(fd)
    assert len(uploads(emulator)) == 1
    assert m.file_content(emulator, only_batch(emulator)["input_file_id"]) == data


def test_a_reset_mid_stream_is_resent_without_a_lookup(batchfs_factory, emulator):
    """A body cut before its closing boundary created nothing: send again, no need to ask."""
    fs = batchfs_factory(emulator, options=STREAM)
    emulator.fault(method="POST", path=FILES, action="reset_request", after_bytes=200000, times=1)
    data = big_input()
    first, rest = halves(data)
    fd = os.open(fs.submit_dir() / "reset.jsonl", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, first)  # the file stays open: the body cannot have reached its end
        m.poll(lambda: len(uploads(emulator)), lambda n: n == 2, what="the cut upload to be resent")
        write_all(fd, rest)
    finally:
        os.close(fd)
    assert len(uploads(emulator)) == 2
    assert m.calls(emulator, "GET", FILES) == []  # no "did it land?" listing
    assert m.file_content(emulator, only_batch(emulator)["input_file_id"]) == data
    assert len(service_files(emulator)) == 1


def test_an_upload_that_failed_before_the_end_is_redone_at_close(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, options=dict(STREAM, max_retries="1"))
    emulator.fault(method="POST", path=FILES, status=500, times=2)
    data = big_input()
    first, rest = halves(data)
    fd = os.open(fs.submit_dir() / "again.jsonl", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, first)
        # Both attempts of the streamed upload fail while the file is still open.
        m.poll(lambda: stats(fs), lambda s: s["uploads_while_written"] == "1" and
               s["uploads_while_written_active"] == "0", what="the streamed upload to give up")
        write_all(fd, rest)
    finally:
        os.close(fd)
    ups = uploads(emulator)
    assert len(ups) == 3
    assert "Transfer-Encoding" not in ups[-1]["headers"]  # the ordinary upload, at close
    assert m.file_content(emulator, only_batch(emulator)["input_file_id"]) == data


def test_model_inserted_while_streaming(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, options=STREAM)
    data = big_input(model=None)
    assert m.write_close(fs.submit_dir() / "nomodel.jsonl", data) == (None, 0)
    [up] = uploads(emulator)
    assert up["headers"].get("Transfer-Encoding") == "chunked"
    sent = m.file_content(emulator, only_batch(emulator)["input_file_id"]).decode().splitlines()
    assert len(sent) == data.count(b"\n")
    assert all(json.loads(x)["body"]["model"] == m.DEPLOYMENT for x in sent)


def test_identical_copies_streaming_at_once_make_one_batch(batchfs_factory, emulator, tmp_path):
    fs = batchfs_factory(emulator, options=STREAM)
    src = tmp_path / "same.jsonl"
    src.write_bytes(big_input())
    m.slow_submissions(emulator, 3.0)  # the first commit stays in flight while the second ends
    # `cat > NAME` (O_CREAT|O_TRUNC): two cp would race on O_EXCL, any filesystem would say EEXIST
    dest = fs.submit_dir() / "same.jsonl"
    cps = [subprocess.Popen(["sh", "-c", 'cat "$1" > "$2"', "sh", str(src), str(dest)], stderr=subprocess.PIPE)
           for _ in range(2)]
    assert [(p.wait(60), p.stderr.read()) for p in cps] == [(0, b""), (0, b"")]
    assert len(m.all_batches(emulator)) == 1
    m.poll(lambda: stats(fs)["uploads_while_written_active"], lambda v: v == "0",
           what="every upload under way to end")
    assert len(service_files(emulator)) == 1  # the second copy's upload was cut, not kept


def test_killed_at_begun_while_streaming_creates_nothing(batchfs_factory, emulator, tmp_path):
    """The journal is written before the body is closed: a kill there leaves no file."""
    spool = tmp_path / "spool"
    fs = batchfs_factory(emulator, spool=spool, options=STREAM, env={"BATCHFS_CRASH_AT": "begun"})
    src = tmp_path / "crash.jsonl"
    src.write_bytes(big_input())
    res = subprocess.run(["cp", str(src), str(fs.submit_dir())], capture_output=True, timeout=60)
    assert res.returncode != 0
    assert fs.wait_exit(30) == -signal.SIGKILL
    m.fusermount(fs.mnt, lazy=True)
    assert uploads(emulator), "the upload had not started while cp wrote"
    m.poll(emulator.uploads_in_progress, lambda ups: ups == [], what="the cut upload to end")
    assert service_files(emulator) == []
    assert next(spool.glob("*.journal")).read_text().startswith("begin name=crash.jsonl ")


def test_a_staged_name_does_not_stream_and_its_rename_uploads_once(batchfs_factory, emulator):
    """rsync writes .NAME.jsonl.XXXX then renames: streaming the staged name would send it
    under the wrong filename and upload everything twice."""
    fs = batchfs_factory(emulator, options=STREAM)
    data = big_input()
    staged = fs.submit_dir() / ".big.jsonl.Ab12Cd"
    assert m.write_close(staged, data) == (None, 0)
    assert uploads(emulator) == [] and stats(fs)["uploads_while_written"] == "0"
    os.rename(staged, fs.submit_dir() / "big.jsonl")
    [up] = uploads(emulator)
    assert "Transfer-Encoding" not in up["headers"]
    batch = only_batch(emulator)
    assert m.file_content(emulator, batch["input_file_id"]) == data
    [f] = service_files(emulator)
    assert f["filename"] == "big.jsonl"


def test_unmount_right_after_a_writer_is_killed_mid_stream(batchfs_factory, emulator):
    """The abandoned upload ends on its own thread; the daemon still exits cleanly (the
    fixture checks exit 0 and sanitizer reports) and creates nothing."""
    fs = batchfs_factory(emulator, options=STREAM)
    first, _ = halves(big_input())
    writer = writer_holding_open(fs.submit_dir() / "gone.jsonl", first)
    receiving(emulator, 1)
    writer.kill()
    writer.wait()
    fs.unmount()
    assert fs.wait_exit(30) == 0
    m.poll(emulator.uploads_in_progress, lambda ups: ups == [], what="the cut upload to end")
    assert service_files(emulator) == []


def test_the_hash_of_a_large_file_is_taken_by_its_own_thread(batchfs_factory, emulator):
    """Past 4 MiB SHA-256 is computed by a thread reading the spool: the digest in the
    batch's metadata is still that of every byte as written (model insertion aside)."""
    import hashlib
    fs = batchfs_factory(emulator, options=STREAM)
    data = big_input(6000)  # ~6 MB
    assert len(data) > 5 << 20
    assert m.write_close(fs.submit_dir() / "hashed.jsonl", data) == (None, 0)
    batch = only_batch(emulator)
    assert batch["metadata"]["batchfs_sha256"] == hashlib.sha256(data).hexdigest()
    assert m.file_content(emulator, batch["input_file_id"]) == data
