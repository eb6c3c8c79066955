"""kill -9 at each step of a submission: the next mount finishes or rolls it back; nothing is lost or doubled."""
import os
import subprocess

import pytest

import mount as m
from mount import API


def sample(tmp_path, n=3):
    path = tmp_path / "crash.jsonl"
    path.write_bytes(m.lines(*[m.line(f"task-{i}") for i in range(n)]))
    return path


def crash_submission(batchfs_factory, emu, tmp_path, spool, step):
    """Mounts with BATCHFS_CRASH_AT=step, copies a file in: the daemon dies by SIGKILL."""
    fs = batchfs_factory(emu, spool=spool, env={"BATCHFS_CRASH_AT": step})
    res = subprocess.run(["cp", str(sample(tmp_path)), str(fs.submit_dir())],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0, "cp succeeded although the daemon was killed"
    assert fs.wait_exit(30) == -9, fs.stderr()
    m.fusermount(fs.mnt, lazy=True)  # the dead mount ("Transport endpoint is not connected")
    assert not m.is_mounted(fs.mnt)
    assert list(spool.glob("*.journal")), "no journal left by the killed daemon"
    return fs


@pytest.mark.parametrize("step,batches,inputs,outcome", [
    ("begun", 0, 0, "nothing had reached the service"),
    ("uploaded", 0, 0, "the uploaded input was deleted"),
    ("processed", 0, 0, "the uploaded input was deleted"),
    ("created", 1, 1, "finished after a restart: batch"),
])
def test_kill_at_each_step_is_recovered(batchfs_factory, emulator, tmp_path, step, batches,
                                         inputs, outcome):
    emulator.config(file_process_delay=0)
    spool = tmp_path / "spool"
    crash_submission(batchfs_factory, emulator, tmp_path, spool, step)
    state = emulator.state()
    # What reached the service before the kill (the recovery has not run yet).
    assert state["batches"] == (1 if step == "created" else 0)

    fs = batchfs_factory(emulator, spool=spool)
    report = m.read_text(fs.meta("recovery"))
    assert "crash.jsonl" in report and outcome in report, report
    assert "recovered 1 submission" in fs.stderr()
    assert not list(spool.glob("*.journal")), "journal not settled"
    assert not [p for p in os.listdir(spool) if p.startswith(("input-", "upload-"))], \
        "stale spool data left"
    batch_ids = [b["id"] for b in m.all_batches(emulator)]
    assert len(batch_ids) == batches
    files = emulator.api("GET", f"{m.API}/files", query={"purpose": "batch"}).json()["data"]
    assert len([f for f in files if f["filename"] == "crash.jsonl"]) == inputs
    if batches:
        assert batch_ids[0] in report
        # The batch shows in the tree as any other; nothing was created twice.
        assert (fs.links_dir() / "crash.jsonl").is_symlink()


def test_recovery_is_idempotent_and_a_retry_submits_once(batchfs_factory, emulator, tmp_path):
    emulator.config(file_process_delay=0)
    spool = tmp_path / "spool"
    crash_submission(batchfs_factory, emulator, tmp_path, spool, "uploaded")
    fs = batchfs_factory(emulator, spool=spool)
    assert "rolled back" in m.read_text(fs.meta("recovery"))
    fs.unmount()
    # A second restart finds nothing left to do.
    fs2 = batchfs_factory(emulator, spool=spool)
    assert m.read_text(fs2.meta("recovery")) == ""
    # Copying again (the writer was told it failed) creates exactly one batch.
    subprocess.run(["cp", str(sample(tmp_path)), str(fs2.submit_dir())], check=True, timeout=60)
    assert len(m.all_batches(emulator)) == 1
    assert emulator.state()["batches"] == 1


def test_journal_written_before_anything_is_sent(batchfs_factory, emulator, tmp_path):
    """The journal is durable before the upload starts: a kill right after it
    leaves a journal and no request to the service."""
    spool = tmp_path / "spool"
    emulator.clear_requests()
    crash_submission(batchfs_factory, emulator, tmp_path, spool, "begun")
    assert not m.calls(emulator, "POST", rf"^{API}/files$")
    journal = next(spool.glob("*.journal")).read_text()
    assert journal.startswith("begin name=crash.jsonl deployment=gpt-4o-batch ")
    assert " sha256=" in journal and " submit=" in journal
