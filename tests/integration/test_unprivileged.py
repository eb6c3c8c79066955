"""batchfs mounted by an ordinary user, the way most users mount it: fusermount3 mounts and
unmounts it, only that user can enter it (no allow_other), and an aborted connection is
detached with fusermount3 -u -z, since only root may umount2() it."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from control import jsonl
from mount import all_batches, is_mounted, mountinfo_fields

USER = "nobody"
CONTENT = jsonl(3).encode()


@pytest.fixture
def user_dir():
    """A directory the user can enter (the test's tmp_path is root's, mode 0700), on a
    machine set up as Debian sets one up for users' FUSE mounts: /dev/fuse mode 0666, as
    udev sets it (systemd's 50-udev-default.rules; a machine without udev, a container or
    this CI, leaves it 0600), and /etc/mtab; both are put back after the test."""
    dev = Path("/dev/fuse")
    mode = dev.stat().st_mode & 0o7777
    dev.chmod(0o666)
    # fusermount3 -u checks a user's mount in /etc/mtab, on Debian a link to the kernel's
    # table; a bare debootstrap root (the fresh-machine proof) has none
    mtab = Path("/etc/mtab")
    made_mtab = not os.path.lexists(mtab)
    if made_mtab:
        mtab.symlink_to("../proc/self/mounts")
    d = Path(tempfile.mkdtemp(prefix="batchfs-user-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)
    if made_mtab:
        mtab.unlink()
    dev.chmod(mode)


def as_user(argv):
    pw = pwd.getpwnam(USER)
    return subprocess.run([str(a) for a in argv], user=pw.pw_uid, group=pw.pw_gid,
                          extra_groups=[], capture_output=True, text=True, timeout=120, cwd="/")


def connection_of(mnt):
    """The FUSE connection number (the mount's minor device) from the mount table: root
    cannot stat() a mount without allow_other."""
    fields = mountinfo_fields(mnt)
    assert fields is not None, f"{mnt} is not in the mount table"
    return int(fields[2].split(":")[1])


# user_dir comes first: torn down last, after the mounts in it
def test_user_mounts_submits_reads_and_unmounts(user_dir, batchfs_factory, emulator):
    fs = batchfs_factory(emulator, workdir=user_dir, user=USER)
    src = user_dir / "in.jsonl"
    src.write_bytes(CONTENT)
    src.chmod(0o644)
    with pytest.raises(PermissionError):  # not even root enters another user's mount
        os.listdir(fs.mnt)
    res = as_user(["cp", src, fs.submit_dir()])
    assert res.returncode == 0, res.stderr
    (batch,) = all_batches(emulator)
    res = as_user(["cat", fs.batch(batch["id"]) / "status"])
    assert res.returncode == 0 and res.stdout.strip() in ("validating", "in_progress", "completed"), res
    res = as_user(["readlink", fs.links_dir() / "in.jsonl"])
    assert res.stdout.strip() == f"../../../batches/{batch['id']}", res
    res = as_user(["fusermount3", "-u", fs.mnt])
    assert res.returncode == 0, res.stderr
    assert fs.wait_exit(60) == 0, fs.stderr()
    assert not is_mounted(fs.mnt)


def test_user_mount_aborted_is_detached_by_fusermount(user_dir, fuse_connections, batchfs_factory,
                                                      emulator):
    fs = batchfs_factory(emulator, workdir=user_dir, user=USER)
    # a file, not a listing: a RELEASEDIR the abort dropped would leave libfuse's handle
    # of the directory unfreed, and root cannot read this mount's open_dirs to wait for it
    res = as_user(["cat", fs.meta("version")])
    assert res.returncode == 0 and res.stdout.startswith("batchfs "), res
    (fuse_connections / str(connection_of(fs.mnt)) / "abort").write_text("1")
    code = fs.wait_exit(60)
    text = fs.stderr()
    assert code == 1, f"exit {code} after an abort:\n{text}"
    assert "detaching the dead mount" in text and "cannot detach" not in text, text
    assert not is_mounted(fs.mnt), "the aborted mount was left behind"
    assert os.listdir(fs.mnt) == []
