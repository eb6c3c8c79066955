"""Runs tests/tools/bfcore (the core library's test driver) against the emulator."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

from mount import VALGRIND, assert_no_sanitizer_report, tool_argv, tool_logs

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
KEY = "test-key"


def bfcore_bin():
    path = os.environ.get("BFCORE_BIN")
    if path:
        return path
    for cand in ("build/tests/bfcore", "build-asan/tests/bfcore"):
        full = os.path.join(REPO, cand)
        if os.path.exists(full):
            return full
    found = shutil.which("bfcore")
    if not found:
        raise RuntimeError("bfcore not built: run meson/ninja or set BFCORE_BIN")
    return found


def endpoint_for(emu, surface):
    if surface == "openai":
        return emu.url + "/v1"
    return emu.url


class Result:
    """What one bfcore run produced: exit code, parsed JSON, stderr, rusage."""

    def __init__(self, code, doc, stdout, stderr, rusage, elapsed):
        self.code = code
        self.doc = doc
        self.stdout = stdout
        self.stderr = stderr
        self.rusage = rusage
        self.elapsed = elapsed

    @property
    def result(self):
        assert self.code == 0, f"bfcore failed: {self.stdout} {self.stderr}"
        return self.doc["result"]

    @property
    def error(self):
        assert self.code == 1, f"bfcore did not fail: {self.stdout} {self.stderr}"
        return self.doc["error"]

    @property
    def stats(self):
        return self.doc["stats"]

    @property
    def peak_rss_kb(self):
        """The process's own peak RSS (VmHWM, read by bfcore at exit). wait4's
        ru_maxrss is not usable: Linux carries the forking parent's peak across exec."""
        return self.doc["stats"]["vmhwm_kb"]


def run(emu, *args, surface="azure", key=KEY, opts=(), timeout=300,
        endpoint=None, env_extra=None):
    """Runs bfcore as its own process, reaped with wait4() for its true peak RSS.
    Under BATCHFS_VALGRIND=1 it runs in memcheck and any memcheck error fails the call."""
    cmd = [bfcore_bin(), "--surface", surface,
           "--endpoint", endpoint or endpoint_for(emu, surface)]
    cmd += list(opts) + [str(a) for a in args]
    logdir = tempfile.mkdtemp(prefix="bfcore-vg-") if VALGRIND else None
    if logdir:
        cmd = tool_argv(cmd, logdir)
    env = dict(os.environ)
    for name in ("AZURE_OPENAI_API_KEY", "OPENAI_API_KEY", "BFCORE_KEY"):
        env.pop(name, None)
    if key is not None:
        env["BFCORE_KEY"] = key
    env.update(env_extra or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        elapsed = time.monotonic() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if logdir:
        reports = tool_logs(logdir)
        shutil.rmtree(logdir, ignore_errors=True)
        assert_no_sanitizer_report(reports, who="bfcore")
    if code == -9 and elapsed >= timeout:
        raise AssertionError(f"bfcore hung past {timeout}s: {cmd}")
    doc = None
    if code in (0, 1) and stdout.strip():
        doc = json.loads(stdout.strip().splitlines()[-1])
    return Result(code, doc, stdout, stderr, rusage, elapsed)
