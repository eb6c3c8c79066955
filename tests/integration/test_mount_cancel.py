"""batchfs batches/ID/cancel on a real FUSE mount: `echo cancel > cancel` in every state."""

import errno
import os
import subprocess

import pytest

from control import jsonl
from mount import API, all_batches, calls, poll, read_text, wait_status, write_close

CONTENT = jsonl(4).encode()


def submit(fs, name="c.jsonl"):
    assert write_close(fs.submit_dir() / name, CONTENT) == (None, 0)
    (b,) = all_batches(fs.emu)
    return b["id"]


def echo_cancel(fs, bid):
    return subprocess.run(["bash", "-c", 'echo cancel > "$1"', "sh", str(fs.batch(bid) / "cancel")],
                          capture_output=True, text=True, timeout=60)


def cancel_posts(emu, bid):
    return calls(emu, "POST", rf"{API}/batches/{bid}/cancel")


@pytest.mark.parametrize("state", ["validating", "in_progress"])
def test_cancel_running_batch(mounted, state):
    emu = mounted.emu
    emu.config(hold=state, durations={"cancelling": 2.0})
    bid = submit(mounted)
    wait_status(mounted, bid, state)
    res = echo_cancel(mounted, bid)
    assert res.returncode == 0, res.stderr
    assert len(cancel_posts(emu, bid)) == 1
    # the write's outcome shows at once, then the service finishes cancelling
    assert read_text(mounted.batch(bid) / "status") == "cancelling\n"
    assert wait_status(mounted, bid, "cancelled", timeout=15) == "cancelled"


def test_cancel_repeated_on_cancelling_and_cancelled_succeeds(mounted):
    emu = mounted.emu
    emu.config(hold="in_progress", durations={"cancelling": 60})
    bid = submit(mounted)
    wait_status(mounted, bid, "in_progress")
    assert echo_cancel(mounted, bid).returncode == 0
    assert wait_status(mounted, bid, "cancelling") == "cancelling"
    res = echo_cancel(mounted, bid)
    assert res.returncode == 0, res.stderr
    assert write_close(mounted.batch(bid) / "cancel", b"cancel", flags=os.O_WRONLY) == (None, 0)
    emu.set_batch(bid, status="cancelled")
    assert wait_status(mounted, bid, "cancelled") == "cancelled"
    res = echo_cancel(mounted, bid)
    assert res.returncode == 0, res.stderr
    assert wait_status(mounted, bid, "cancelled") == "cancelled"


@pytest.mark.parametrize("final", ["completed", "failed", "expired"])
def test_cancel_finished_batch_fails_with_eperm(mounted, final):
    emu = mounted.emu
    bid = submit(mounted)
    if final != "completed":
        emu.config(hold="in_progress")
        emu.set_batch(bid, status=final)
    assert wait_status(mounted, bid, final) == final
    emu.clear_requests()
    res = echo_cancel(mounted, bid)
    assert res.returncode != 0, "echo cancel > cancel on a finished batch succeeded"
    step, err = write_close(mounted.batch(bid) / "cancel", b"cancel\n", flags=os.O_WRONLY | os.O_TRUNC)
    assert (step, err) == ("write", errno.EPERM), (step, errno.errorcode.get(err))
    assert cancel_posts(emu, bid) == []
    assert read_text(mounted.batch(bid) / "status") == final + "\n"
    errors = read_text(mounted.meta("errors"))
    assert f"cancel {bid}" in errors and final in errors, errors


@pytest.mark.parametrize("status,code", [(403, errno.EACCES), (409, errno.EBUSY), (400, errno.EINVAL)])
def test_cancel_refused_by_the_service_fails_the_write(mounted, status, code):
    emu = mounted.emu
    emu.config(hold="in_progress")
    bid = submit(mounted)
    wait_status(mounted, bid, "in_progress")
    emu.fault(method="POST", path=r"/cancel$", status=status, times=-1)
    step, err = write_close(mounted.batch(bid) / "cancel", b"cancel\n", flags=os.O_WRONLY | os.O_TRUNC)
    assert (step, err) == ("write", code), (step, errno.errorcode.get(err))
    res = echo_cancel(mounted, bid)
    assert res.returncode != 0
    assert len(cancel_posts(emu, bid)) >= 1
    assert get_status(emu, bid) == "in_progress"
    errors = read_text(mounted.meta("errors"))
    assert f"cancel {bid}" in errors
    if status == 403:  # one line per failure, saying what to do
        assert "see .batchfs/credential" in errors, errors
        assert "see .batchfs/credential" in mounted.stderr()


def get_status(emu, bid):
    return emu.api("GET", f"{API}/batches/{bid}").json()["status"]


def test_cancel_file_is_write_only(mounted):
    bid = submit(mounted)
    st = os.stat(mounted.batch(bid) / "cancel")
    assert st.st_mode & 0o777 == 0o200
    with pytest.raises(PermissionError):
        open(mounted.batch(bid) / "cancel", "rb")
    poll(lambda: read_text(mounted.batch(bid) / "status"), lambda t: t == "completed\n")
