"""Ctrl-C during cp: a complete submission or nothing, never half."""
import os
import signal
import subprocess

import mount as m
from mount import API


def test_ctrl_c_while_close_waits_leaves_a_complete_submission(batchfs_factory, emulator, tmp_path):
    m.slow_submissions(emulator, 2.0)
    fs = batchfs_factory(emulator)
    src = tmp_path / "intr.jsonl"
    src.write_bytes(m.lines(*[m.line(f"t{i}") for i in range(50)]))
    cp = subprocess.Popen(["cp", str(src), str(fs.submit_dir())])
    m.poll(lambda: m.calls(emulator, "POST", rf"{API}/files"), what="the upload")
    cp.send_signal(signal.SIGINT)
    cp.wait(timeout=30)
    # The daemon finishes what reached the service: one whole batch, no orphan.
    m.poll(lambda: emulator.state()["batches"] == 1, timeout=30, what="the batch")
    batch = m.all_batches(emulator)[0]
    assert batch["metadata"]["batchfs_name"] == "intr.jsonl"
    link = fs.links_dir() / "intr.jsonl"
    m.poll(lambda: m.read_text(link / "status") == "completed\n", what="completion")
    assert m.read_bytes(link / "input.jsonl") == src.read_bytes()


def test_ctrl_c_while_cp_writes_submits_nothing(batchfs_factory, emulator, tmp_path):
    """cp reads from a FIFO we feed: after some whole lines, Ctrl-C. The kernel
    then closes cp's files as it dies, which looks like a close; batchfs must
    not submit the part written."""
    fs = batchfs_factory(emulator)
    fifo = tmp_path / "slow.jsonl"
    os.mkfifo(fifo)
    target = fs.submit_dir() / "cut.jsonl"
    cp = subprocess.Popen(["cp", str(fifo), str(target)])
    with open(fifo, "wb") as feed:
        feed.write(m.lines(*[m.line(f"t{i}") for i in range(10)]))  # whole, valid lines
        feed.flush()
        m.poll(lambda: target.exists() and target.stat().st_size > 0, what="cp to write")
        cp.send_signal(signal.SIGINT)
        assert cp.wait(timeout=30) == -signal.SIGINT
    reason = fs.submit_dir() / "cut.jsonl.error"
    m.poll(lambda: reason.exists(), what="the reason file")
    assert "interrupted by a signal" in m.read_text(reason)
    assert emulator.state()["batches"] == 0
    assert not m.calls(emulator, "POST", rf"{API}/files")
