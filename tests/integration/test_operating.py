"""Operating batchfs like other mounts: `mount -t fuse.batchfs` with the options an
/etc/fstab line passes (on the suite's surface: the endpoint is the line's first field,
-o surface= as an option), the systemd unit's command line with readiness notification,
--help, and the man page."""

import os
import re
import shlex
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from control import jsonl
from mount import (DEPLOYMENT, all_batches, FAST_OPTIONS, KEY_AUTH, REPO, VALGRIND, assert_no_sanitizer_report,
                   batchfs_bin, daemon_env, endpoint_url, fusermount, is_mounted, poll, read_text,
                   surface_options, tool_argv, tool_logs, write_close)

CONTENT = jsonl(2).encode()
UNIT = REPO / "scripts" / "batchfs.service"


def private_key_file(tmp_path, key="test-key"):
    path = tmp_path / "key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return path


def bin_dir_with_batchfs(tmp_path):
    """A directory holding `batchfs` (what mount.fuse3 runs through /bin/sh) that
    execs the built daemon, under valgrind when the suite runs under it."""
    d = tmp_path / "bin"
    d.mkdir()
    wrapper = d / "batchfs"
    argv = tool_argv([batchfs_bin()], tmp_path)
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in argv) + ' "$@"\n')
    wrapper.chmod(0o755)
    return d


def daemon_pids(mnt):
    """Pids of batchfs daemons whose command line names mnt."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            args = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(mnt).encode() in args and b"mount" not in Path(args[0].decode(errors="replace")).name.encode() \
                and any(a.endswith(b"batchfs") for a in args):
            pids.append(int(p.name))
    return pids


WRAPPER_MARK = "# batchfs integration-test wrapper"


def private_namespaces_work():
    if os.environ.get("BATCHFS_TEST_NO_NAMESPACE"):
        return False
    res = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                         capture_output=True, timeout=30)
    return res.returncode == 0


class Namespace:
    """Where `batchfs` is on mount(8)'s own PATH, for running mount(8) itself.

    mount(8) runs helpers with PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:...,
    so `mount -t fuse.batchfs` needs batchfs installed there. Rather than touch the
    machine, a private mount namespace bind-mounts a directory holding `batchfs` over
    /usr/local/bin, runs mount(8) in it, and stays alive (sleep) so the test reaches
    the mount through /proc/PID/root. Where private namespaces do not work (a chroot
    whose / is not a mount point), the wrapper is put in /usr/local/bin for the test
    and removed after; a real batchfs found there is never replaced."""

    def __init__(self, tmp_path, script):
        bindir = bin_dir_with_batchfs(tmp_path)
        self.installed = None
        if private_namespaces_work():
            inner = (f"mount --bind {shlex.quote(str(bindir))} /usr/local/bin && {script} && "
                     "echo mounted && exec sleep 3600")
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]
            self.root = None
        else:
            target = Path("/usr/local/bin/batchfs")
            if target.exists() and WRAPPER_MARK not in target.read_text(errors="replace"):
                raise AssertionError("no private mount namespace here, and /usr/local/bin/batchfs "
                                     "is a real install: not replacing it")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text((bindir / "batchfs").read_text().replace("#!/bin/sh\n",
                                                                      f"#!/bin/sh\n{WRAPPER_MARK}\n", 1))
            target.chmod(0o755)
            self.installed = target
            argv = ["sh", "-c", f"{script} && echo mounted && exec sleep 3600"]
            self.root = Path("/")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=daemon_env(), start_new_session=True)
        first = self.proc.stdout.readline().decode()
        if first.strip() != "mounted":
            self.proc.wait(timeout=60)
            self.uninstall()
            raise AssertionError(f"mount failed: {self.proc.stderr.read().decode()}")

    def uninstall(self):
        if self.installed is not None:
            self.installed.unlink(missing_ok=True)
            self.installed = None

    def path(self, p):
        if self.root is not None:
            return Path(p)
        return Path(f"/proc/{self.proc.pid}/root") / Path(p).relative_to("/")

    def mountinfo(self, mnt):
        for line in Path(f"/proc/{self.proc.pid}/mountinfo").read_text().splitlines():
            f = line.split()
            if f[4] == str(mnt):
                return f[5] + "," + line.split(" - ")[1]
        return None

    def run(self, *argv):
        prefix = [] if self.root is not None else ["nsenter", "-t", str(self.proc.pid), "-m", "--"]
        return subprocess.run(prefix + list(argv), capture_output=True, text=True, timeout=60)

    def close(self, mnt):
        if self.proc.poll() is None:
            if self.mountinfo(mnt):
                self.run("fusermount3", "-u", "-z", str(mnt))
            self.proc.kill()
        self.proc.wait()
        self.uninstall()


def fstab_options(tmp_path, key_file, extra):
    opts = dict(FAST_OPTIONS)
    opts.update({"key_file": str(key_file), "spool_dir": str(tmp_path / "spool"),
                 "cache_dir": str(tmp_path / "cache")})
    opts.update(surface_options())
    return ",".join(list(extra) + [f"{k}={v}" for k, v in opts.items()])


def test_mount_t_fuse_batchfs_with_fstab_options(emulator, tmp_path):
    """What `mount -a` does for the line
    URL /mnt fuse.batchfs _netdev,nofail,auto_unmount,allow_other,uid=,gid=,umask=,key_file=  0 0"""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    key = private_key_file(tmp_path)
    opts = fstab_options(tmp_path, key, ["_netdev", "nofail", "auto_unmount", "allow_other",
                                         "uid=4321", "gid=4322", "umask=027",
                                         "x-systemd.requires=network-online.target"])
    ns = Namespace(tmp_path, f"mount -t fuse.batchfs {endpoint_url(emulator)} {shlex.quote(str(mnt))} -o {shlex.quote(opts)}")
    try:
        info = ns.mountinfo(mnt)
        assert info and "fuse.batchfs" in info, info
        assert "allow_other" in info and "default_permissions" in info, info
        root = ns.path(mnt)
        st = os.stat(root / "deployments")
        assert (st.st_uid, st.st_gid) == (4321, 4322)
        assert st.st_mode & 0o777 == 0o750, oct(st.st_mode)
        # the mount works: submit, and see the batch
        assert write_close(root / "deployments" / DEPLOYMENT / "submit" / "f.jsonl", CONTENT) == (None, 0)
        assert len(all_batches(emulator)) == 1
        assert len(os.listdir(root / "batches")) == 1
        pids = daemon_pids(mnt)
        assert pids, "no daemon found for the mount"
        for pid in pids:  # the key came from the file: never on a command line
            assert b"test-key" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        # auto_unmount: a daemon killed outright leaves no dead mount behind. fusermount3
        # checks the mount from a private copy of the mount table first, which a chroot
        # whose / is not a mount point cannot make (the same limit as Namespace's): there
        # the kernel keeps the dead mount and only `fusermount3 -u -z` clears it.
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        if ns.root is None:
            poll(lambda: ns.mountinfo(mnt) is None, timeout=30, what="auto_unmount to remove the mount")
        else:
            print("auto_unmount not checkable here: no private mount namespace (a chroot)")
    finally:
        ns.close(mnt)
    assert_no_sanitizer_report(tool_logs(tmp_path))


def test_mount_t_fuse_batchfs_then_umount(emulator, tmp_path):
    """mount(8) then umount(8): the daemon exits by itself, nothing left."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    key = private_key_file(tmp_path)
    opts = fstab_options(tmp_path, key, ["_netdev", "nofail", "defaults"])
    ns = Namespace(tmp_path, f"mount -t fuse.batchfs {endpoint_url(emulator)} {shlex.quote(str(mnt))} -o {shlex.quote(opts)}")
    try:
        pids = daemon_pids(mnt)
        assert pids
        assert read_text(ns.path(mnt) / ".batchfs" / "credential").startswith(f"kind {KEY_AUTH}\n")
        res = ns.run("umount", str(mnt))
        assert res.returncode == 0, res.stderr
        for pid in pids:
            poll(lambda: not Path(f"/proc/{pid}").exists() or
                 Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z",
                 timeout=60, what=f"daemon {pid} to exit after umount")
        assert ns.mountinfo(mnt) is None
    finally:
        ns.close(mnt)
    assert_no_sanitizer_report(tool_logs(tmp_path))


def unit_exec_start():
    text = UNIT.read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("ExecStart=")]
    assert len(lines) == 1, lines
    assert re.search(r"^Type=notify$", text, re.M), "the unit must wait for READY=1"
    assert re.search(r"^Restart=on-failure$", text, re.M)
    assert "EnvironmentFile=" in text  # secrets from a root-only file, not the unit
    return shlex.split(lines[0][len("ExecStart="):])


@pytest.mark.surfaces("azure", reason="runs the shipped unit's command line as is: an Azure "
                      "endpoint from AZURE_OPENAI_ENDPOINT, no -o surface=")
def test_systemd_unit_command_line_notifies_ready_and_stops_cleanly(emulator, tmp_path):
    argv = unit_exec_start()
    assert argv[0] == "/usr/local/bin/batchfs" and "-f" in argv
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # What systemd would do: the EnvironmentFile's variables, ${VAR} expanded,
    # our paths for the binary, mount point and state directories.
    env = daemon_env({"AZURE_OPENAI_ENDPOINT": emulator.url, "AZURE_OPENAI_API_KEY": "test-key"})
    argv = [a.replace("${AZURE_OPENAI_ENDPOINT}", emulator.url)
             .replace("/var/lib/batchfs/spool", str(tmp_path / "spool"))
             .replace("/var/cache/batchfs", str(tmp_path / "cache"))
             .replace("/mnt/aoai", str(mnt)) for a in argv[1:]]
    argv = tool_argv([batchfs_bin()] + argv + ["-o", "list_ttl_ms=300,status_ttl_ms=200"], tmp_path)
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(120)
    env["NOTIFY_SOCKET"] = str(sock_path)
    errf = open(tmp_path / "stderr", "wb")
    proc = subprocess.Popen(argv, env=env, stdout=errf, stderr=errf, start_new_session=True)
    try:
        msg = sock.recv(4096).decode()
        fields = dict(x.split("=", 1) for x in msg.split("\n") if "=" in x)
        assert fields.get("READY") == "1", msg
        assert int(fields["MAINPID"]) == proc.pid
        # ready means mounted and usable, right now
        assert is_mounted(mnt)
        assert write_close(mnt / "deployments" / DEPLOYMENT / "submit" / "s.jsonl", CONTENT) == (None, 0)
        assert "log_level=info" in " ".join(argv)
        # systemctl stop: SIGTERM to the main process
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        sock.settimeout(5)
        assert "STOPPING=1" in sock.recv(4096).decode()
        assert not is_mounted(mnt)
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if is_mounted(mnt):
            fusermount(mnt, lazy=True)
        errf.close()
    text = (tmp_path / "stderr").read_text(errors="replace")
    assert "test-key" not in text
    assert_no_sanitizer_report(text + tool_logs(tmp_path))


def test_stats_count_open_directories(mounted):
    # the test harness waits for 0 before unmounting: a RELEASEDIR dropped at unmount leaves
    # libfuse's handle of the directory unfreed
    fd = os.open(mounted.mnt / "batches", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert "\nopen_dirs 1\n" in read_text(mounted.meta("stats"))
    finally:
        os.close(fd)
    poll(lambda: read_text(mounted.meta("stats")), lambda t: "\nopen_dirs 0\n" in t,
         what="the directory's RELEASEDIR")
