"""Stdlib-only helpers to run batchfs on a real FUSE mount against the emulator.

start() launches the daemon in the foreground (-f) with a private spool and cache
under a test directory, the key in AZURE_OPENAI_API_KEY, and waits until the
mountpoint is mounted (failing early, with the daemon's stderr, if it exits).
BatchFS.unmount() runs `fusermount3 -u` and asserts the daemon exits 0 with no
sanitizer report; BatchFS.cleanup() is the forced path for failed tests.
With BATCHFS_VALGRIND=1 every daemon runs under valgrind's memcheck (tool_argv()):
its log goes to valgrind.PID.log beside the daemon's stderr, and any memcheck error
there (invalid access, uninitialised value, definite leak) fails the test like a
sanitizer report does.
poll() and the wait_* helpers wait on observable state with a deadline; no test
synchronises with a bare sleep.
"""

import errno
import os
import pwd
import re
import signal
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
KEY = "test-key"
DEPLOYMENT = "gpt-4o-batch"
OTHER_DEPLOYMENT = "gpt-4o-mini-batch"

# ASan/UBSan/LSan/TSan reports in the daemon's stderr, or memcheck errors in its valgrind
# log, fail the test.
VALGRIND_MARK = "VALGRIND-ERROR-BEGIN"
SANITIZER_RE = re.compile(r"==\d+==ERROR|runtime error:|LeakSanitizer|AddressSanitizer|"
                          r"UndefinedBehaviorSanitizer|ThreadSanitizer|" + VALGRIND_MARK +
                          r"|Process terminating with default action")
VALGRIND = os.environ.get("BATCHFS_VALGRIND") == "1"

# The API surface every mount of the suite uses (BATCHFS_SURFACE, default azure): the
# whole suite runs once per surface. API is the path prefix of its data-plane calls.
SURFACE = os.environ.get("BATCHFS_SURFACE", "azure")

# What differs between the surfaces where a test relies on it (shared/notes/api.md, the
# emulator's README):
#   api             the data-plane path prefix
#   endpoint        the batch `endpoint` batchfs creates with: Azure's docs send
#                   "/chat/completions" (also on v1), OpenAI's enum wants "/v1/chat/completions"
#   upload_status   POST /files answers 201 on Azure dated versions, 200 on v1 and OpenAI
#   max_requests    requests per input file: 100,000 on Azure, 50,000 on OpenAI
#   file_pending    an upload starts "pending" and is polled until "processed" (Azure's
#                   FileState); the OpenAI dialect's uploads are "processed" at once
#   empty_error_file  a batch gets an error file even when nothing failed (0 bytes, Azure);
#                   OpenAI only has one when a request failed
#   lists_models    the service's own deployment listing is GET /v1/models (models, not deployments)
#   checks_models   the service's validation fails a line whose model is no deployment
#                   (model_not_found); the OpenAI dialect does not check models
#   endpoint_env, key_env  the SDK variables batchfs reads the endpoint and key from
#   key_auth        how batchfs sends an API key: the `api-key` header on Azure, `Authorization:
#                   Bearer` on OpenAI (the kind in .batchfs/credential, `auth` in the emulator's log)
SURFACES = {
    "azure": dict(api="/openai", endpoint="/chat/completions", upload_status=201,
                  max_requests=100_000, file_pending=True, empty_error_file=True,
                  lists_models=False, checks_models=True, endpoint_env="AZURE_OPENAI_ENDPOINT",
                  key_env="AZURE_OPENAI_API_KEY", key_auth="api-key"),
    "azure-v1": dict(api="/openai/v1", endpoint="/chat/completions", upload_status=200,
                     max_requests=100_000, file_pending=True, empty_error_file=True,
                     lists_models=False, checks_models=True, endpoint_env="AZURE_OPENAI_ENDPOINT",
                     key_env="AZURE_OPENAI_API_KEY", key_auth="api-key"),
    "openai": dict(api="/v1", endpoint="/v1/chat/completions", upload_status=200,
                   max_requests=50_000, file_pending=False, empty_error_file=False,
                   lists_models=True, checks_models=False, endpoint_env="OPENAI_BASE_URL",
                   key_env="OPENAI_API_KEY", key_auth="bearer"),
}
if SURFACE not in SURFACES:
    raise RuntimeError(f"BATCHFS_SURFACE={SURFACE!r}: not one of {', '.join(SURFACES)}")
THIS = SURFACES[SURFACE]
API = THIS["api"]
BATCH_ENDPOINT = THIS["endpoint"]
UPLOAD_STATUS = THIS["upload_status"]
MAX_REQUESTS = THIS["max_requests"]
FILE_PENDING = THIS["file_pending"]
EMPTY_ERROR_FILE = THIS["empty_error_file"]
LISTS_MODELS = THIS["lists_models"]
CHECKS_MODELS = THIS["checks_models"]
ENDPOINT_ENV = THIS["endpoint_env"]
KEY_ENV = THIS["key_env"]
KEY_AUTH = THIS["key_auth"]

# Options that keep the tests fast; a test overrides any of them.
FAST_OPTIONS = {
    "list_ttl_ms": "300",
    "status_ttl_ms": "200",
    "process_timeout_ms": "20000",
    "attr_timeout": "0.2",
    "max_retries": "1",
}


def batchfs_bin():
    path = os.environ.get("BATCHFS_BIN")
    if path:
        return path
    for cand in ("build/fs/batchfs", "build-asan/fs/batchfs"):
        full = REPO / cand
        if full.exists():
            return str(full)
    raise RuntimeError("batchfs not built: run `ninja -C build` or set BATCHFS_BIN")


def tool_argv(argv, logdir):
    """argv as is, or under valgrind's memcheck (BATCHFS_VALGRIND=1) logging to
    logdir/valgrind.PID.log; every error is framed by VALGRIND_MARK and counts."""
    if not VALGRIND:
        return list(argv)
    return ["valgrind", "--tool=memcheck", f"--log-file={logdir}/valgrind.%p.log",
            f"--error-markers={VALGRIND_MARK},VALGRIND-ERROR-END",
            "--leak-check=full", "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
            f"--suppressions={REPO / 'tests' / 'valgrind.supp'}", "--num-callers=30",
            "--child-silent-after-fork=no"] + list(argv)


def tool_logs(logdir):
    """The text of every valgrind log under logdir ("" without valgrind)."""
    text = []
    for log in sorted(Path(logdir).glob("valgrind.*.log")):
        try:
            text.append(f"--- {log} ---\n" + log.read_text(errors="replace"))
        except OSError:
            pass
    return "\n".join(text)


def daemon_env(extra=None, drop_sdk_vars=True):
    """The environment for a batchfs process: no inherited SDK variables, sanitizer
    options that report (and fail) instead of hanging, plus `extra`."""
    env = dict(os.environ)
    if drop_sdk_vars:
        for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION",
                     "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
            env.pop(name, None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    env.setdefault("LSAN_OPTIONS", f"suppressions={REPO / 'tests' / 'lsan.supp'}")
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def sanitizer_report(text):
    """The first sanitizer line in `text`, or None."""
    m = SANITIZER_RE.search(text or "")
    if not m:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    return text[start:start + 2000]


def assert_no_sanitizer_report(text, who="batchfs"):
    rep = sanitizer_report(text)
    assert rep is None, f"{who} stderr has a sanitizer report:\n{rep}"


def option_args(options):
    """-o a=b,c from a dict (None value: a bare flag) or a list of strings."""
    if not options:
        return []
    if isinstance(options, dict):
        items = [k if v is None else f"{k}={v}" for k, v in options.items()]
    else:
        items = list(options)
    return ["-o", ",".join(items)] if items else []


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mountinfo_fields(path):
    """The fields of the last /proc/self/mountinfo line for mountpoint `path` (the top
    mount there), or None. Raises OSError when the table cannot be read."""
    target = os.path.realpath(str(path))
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and fields[4].replace("\\040", " ") == target:
                found = fields
    return found


def is_mounted(path):
    """True when `path` is a mountpoint (by /proc/self/mountinfo, which never blocks
    on a dead FUSE daemon the way stat() can)."""
    try:
        return mountinfo_fields(path) is not None
    except OSError:
        return os.path.ismount(os.path.realpath(str(path)))


def fusermount(path, lazy=False, timeout=20):
    cmd = ["fusermount3", "-u"] + (["-z"] if lazy else []) + [str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class BatchFS:
    """A running batchfs: .mnt (Path), .emu, .proc, .stderr(), .unmount(), .cleanup()."""

    def __init__(self, proc, mnt, emu, stderr_path, spool, cache, key, argv):
        self.proc = proc
        self.mnt = Path(mnt)
        self.emu = emu
        self.stderr_path = Path(stderr_path)
        self.spool = Path(spool) if spool else None
        self.cache = Path(cache) if cache else None
        self.key = key
        self.argv = argv
        self.exit_code = None

    # -- output -------------------------------------------------------------------------------
    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def reports(self):
        """stderr plus any valgrind logs: what assert_no_sanitizer_report() checks."""
        return self.stderr() + tool_logs(self.stderr_path.parent)

    @property
    def pid(self):
        return self.proc.pid

    # -- tree paths ----------------------------------------------------------------------------
    def dep(self, name=DEPLOYMENT):
        return self.mnt / "deployments" / name

    def submit_dir(self, name=DEPLOYMENT):
        return self.dep(name) / "submit"

    def links_dir(self, name=DEPLOYMENT):
        return self.dep(name) / "batches"

    def batch(self, batch_id):
        return self.mnt / "batches" / batch_id

    def meta(self, name):
        return self.mnt / ".batchfs" / name

    # -- lifecycle -----------------------------------------------------------------------------
    def wait_exit(self, timeout=20):
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"batchfs did not exit within {timeout}s; stderr:\n{self.stderr()}")
        return self.exit_code

    def wait_dirs_released(self, timeout=10.0):
        """Waits until the daemon has had every directory's RELEASEDIR (.batchfs/stats
        open_dirs 0). The kernel sends it after close() returned, and one still queued
        at unmount is dropped: libfuse then never frees its handle of that directory,
        which the sanitizers report as a leak at exit. Best effort: returns quietly on
        a mount that cannot be read."""
        def stats():
            try:
                return read_text(self.meta("stats"))
            except OSError:
                return ""  # unreadable: nothing to wait for

        try:
            poll(stats, lambda t: "\nopen_dirs 0\n" in t or "open_dirs" not in t,
                 timeout=timeout, interval=0.02, what="open_dirs 0")
        except AssertionError:
            pass  # best effort: unmount all the same

    def unmount(self, timeout=30):
        """fusermount3 -u once every directory handle is released (wait_dirs_released());
        the daemon must exit 0 with a clean stderr. Returns the exit code."""
        if self.proc.poll() is None or is_mounted(self.mnt):
            if self.proc.poll() is None:
                self.wait_dirs_released()
            res = fusermount(self.mnt, timeout=timeout)
            assert res.returncode == 0, f"fusermount3 -u failed: {res.stderr}\n{self.stderr()}"
        code = self.wait_exit(timeout)
        assert not is_mounted(self.mnt), f"{self.mnt} still mounted after unmount"
        text = self.stderr()
        assert_no_sanitizer_report(self.reports())
        assert code == 0, f"batchfs exited {code} after fusermount3 -u; stderr:\n{text}"
        return code

    def cleanup(self):
        """Forced teardown: lazy unmount, then kill. Never raises."""
        try:
            if is_mounted(self.mnt):
                fusermount(self.mnt, lazy=True, timeout=10)
        except Exception:  # noqa: BLE001 - best effort
            pass
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except OSError:
                pass
        if self.exit_code is None:
            self.exit_code = self.proc.returncode


def endpoint_url(emu, surface=SURFACE):
    """What a user gives batchfs as the endpoint of `surface`: the resource's URL on Azure
    (dated and v1), the base URL with its /v1 on OpenAI."""
    return emu.url + "/v1" if surface == "openai" else emu.url


def surface_options():
    """The -o options every mount of the suite adds for SURFACE (none on azure, where
    batchfs is left to choose, as a user who sets nothing gets)."""
    return {} if SURFACE == "azure" else {"surface": SURFACE}


def start(emu, workdir, options=None, env=None, key=KEY, endpoint="option", mountpoint=None,
          foreground=True, wait=True, timeout=30, fast=True, spool=None, cache=None, args=(),
          cwd=None, user=None):
    """Starts batchfs against `emu` with a private spool/cache under `workdir`.

    options: dict or list for -o (merged over FAST_OPTIONS when fast). env: extra
    environment (None values remove a variable). key: put in AZURE_OPENAI_API_KEY
    (None: no key). endpoint: "option" (-o endpoint=), "env" (AZURE_OPENAI_ENDPOINT)
    or None (neither). spool/cache: a path, or False for no -o spool_dir/cache_dir.
    mountpoint: given as is (relative to cwd if relative). user: run the daemon as this
    (non-root) user, who then owns the mount; workdir must be one it can enter. Returns a
    BatchFS once mounted (wait=True)."""
    workdir = Path(workdir)
    n = 0
    while (workdir / f"bfs{n}").exists():
        n += 1
    base = workdir / f"bfs{n}"
    base.mkdir(parents=True)
    mnt_arg = str(mountpoint) if mountpoint is not None else str(base / "mnt")
    mnt = Path(cwd or ".") / mnt_arg if not os.path.isabs(mnt_arg) else Path(mnt_arg)
    mnt = Path(os.path.abspath(mnt))
    mnt.mkdir(exist_ok=True)
    if user is not None:
        pw = pwd.getpwnam(user)
        for d in (base, mnt):
            os.chown(d, pw.pw_uid, pw.pw_gid)
    spool = base / "spool" if spool is None else spool
    cache = base / "cache" if cache is None else cache
    opts = dict(FAST_OPTIONS) if fast else {}
    if isinstance(options, dict):
        opts.update(options)
    elif options:
        for item in options:
            k, _, v = item.partition("=")
            opts[k] = v if _ else None
    if spool is not False:
        opts.setdefault("spool_dir", str(spool))
    if cache is not False:
        opts.setdefault("cache_dir", str(cache))
    extra_env = {}
    surface = opts.get("surface") or SURFACE
    for k, v in surface_options().items():
        opts.setdefault(k, v)
    url = endpoint_url(emu, surface) if emu is not None else None
    if key is not None:
        extra_env[SURFACES[surface]["key_env"]] = key
    if endpoint == "option" and emu is not None:
        opts.setdefault("endpoint", url)
    elif endpoint == "env" and emu is not None:
        extra_env[SURFACES[surface]["endpoint_env"]] = url
    extra_env.update(env or {})
    argv = tool_argv([batchfs_bin()] + (["-f"] if foreground else []) + option_args(opts) + list(args)
                     + [mnt_arg], base)
    stderr_path = base / "batchfs.stderr"
    with open(stderr_path, "wb") as errf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                                env=daemon_env(extra_env), start_new_session=True, cwd=cwd,
                                user=user, group=pw.pw_gid if user is not None else None,
                                extra_groups=[] if user is not None else None)
    fs = BatchFS(proc, mnt, emu, stderr_path, spool or None, cache or None, key, argv)
    if wait:
        try:
            wait_mounted(fs, timeout=timeout, foreground=foreground)
        except BaseException:
            fs.cleanup()
            raise
    return fs


def wait_mounted(fs, timeout=30, foreground=True):
    """Polls until fs.mnt is a mountpoint; fails early if the daemon exited (a
    background start's parent exits 0 once mounted, which is fine)."""
    deadline = time.monotonic() + timeout
    while True:
        if is_mounted(fs.mnt):
            return
        code = fs.proc.poll()
        if code is not None and (foreground or code != 0):
            raise AssertionError(f"batchfs exited with {code} before mounting {fs.mnt}:\n{fs.stderr()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{fs.mnt} not mounted after {timeout}s; stderr:\n{fs.stderr()}")
        time.sleep(0.02)


def run_batchfs(emu, workdir, options=None, env=None, key=KEY, endpoint="option", timeout=60,
                foreground=True, fast=True):
    """Runs batchfs expecting it to exit on its own (a failed preflight); its stderr must
    hold no sanitizer report. Returns the BatchFS, with exit_code set."""
    fs = start(emu, workdir, options=options, env=env, key=key, endpoint=endpoint,
               foreground=foreground, wait=False, fast=fast)
    try:
        fs.wait_exit(timeout)
    finally:
        if fs.proc.poll() is None or is_mounted(fs.mnt):
            fs.cleanup()
    assert_no_sanitizer_report(fs.reports())
    return fs


# -- polling --------------------------------------------------------------------------------------
def poll(fn, pred=bool, timeout=20.0, interval=0.05, what="condition"):
    """Calls fn() until pred(value) holds; fails after `timeout` s with the last value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
            err = None
        except OSError as e:  # a file that does not exist yet
            value, err = None, e
        if err is None and pred(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: "
                                 f"{value if err is None else err!r}")
        time.sleep(interval)


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def wait_status(fs, batch_id, statuses, timeout=20.0):
    """Polls `cat batches/ID/status` until it is one of `statuses`; returns it."""
    wanted = {statuses} if isinstance(statuses, str) else set(statuses)
    text = poll(lambda: read_text(fs.batch(batch_id) / "status"),
                lambda t: t.strip() in wanted, timeout=timeout,
                what=f"batches/{batch_id}/status in {sorted(wanted)}")
    return text.strip()


# -- writing files the way programs do -------------------------------------------------------------
def write_close(path, data, mode=0o644, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    """open/write/close with the errno of each step. Returns (step, errno) of the first
    failure or (None, 0)."""
    try:
        fd = os.open(str(path), flags, mode)
    except OSError as e:
        return "open", e.errno
    try:
        view = memoryview(data if isinstance(data, bytes) else data.encode())
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as e:
        try:
            os.close(fd)
        except OSError:
            pass
        return "write", e.errno
    try:
        os.close(fd)
    except OSError as e:
        return "close", e.errno
    return None, 0


def errno_name(code):
    return errno.errorcode.get(code, str(code))


# -- the emulator's side ----------------------------------------------------------------------------
def calls(emu, method=None, path_re=".*"):
    """Logged API requests whose method matches and whose path fully matches path_re."""
    rx = re.compile(path_re)
    return [r for r in emu.requests()
            if (method is None or r["method"] == method) and rx.fullmatch(r["path"])]


def all_batches(emu):
    """Every batch on the emulator, newest first, through the surface under test (this
    adds one GET {API}/batches to the request log)."""
    out, after = [], None
    while True:
        query = {"limit": "100"} if SURFACE == "openai" else {"limit": "100000"}
        if after:
            query["after"] = after
        resp = emu.api("GET", f"{API}/batches", query=query)
        assert resp.status == 200, resp
        page = resp.json()
        out += page["data"]
        if not page.get("has_more") or not page["data"]:
            return out
        after = page["data"][-1]["id"]


def get_batch(emu, batch_id):
    resp = emu.api("GET", f"{API}/batches/{batch_id}")
    assert resp.status == 200, resp
    return resp.json()


def file_content(emu, file_id):
    resp = emu.api("GET", f"{API}/files/{file_id}/content")
    assert resp.status == 200, resp
    return resp.body


def slow_submissions(emu, seconds):
    """Keeps every submission in flight (its close() waiting) for about `seconds` after its
    upload: where uploads start "pending" the emulator keeps them pending that long
    (file_process_delay); the OpenAI dialect has no such state, so there every batch create
    answers that late instead (a latency fault on POST {API}/batches that stays)."""
    if FILE_PENDING:
        emu.config(file_process_delay=seconds)
    else:
        emu.fault(method="POST", path=rf"^{re.escape(API)}/batches$", action="latency",
                  seconds=seconds, times=-1)


def service_deployments(emu):
    """The names the surface's own listing offers batchfs (ARM aside), sorted: the legacy
    GET /openai/deployments (api-version 2022-12-01) on Azure, none where the resource has
    no such listing (404); the model ids of GET /v1/models on OpenAI, where a model is what
    a deployment is on Azure. Adds one request to the emulator's log."""
    if LISTS_MODELS:
        resp = emu.api("GET", f"{API}/models")
        assert resp.status == 200, resp
        return sorted(m["id"] for m in resp.json()["data"])
    resp = emu.api("GET", "/openai/deployments", api_version="2022-12-01")
    if resp.status == 404:
        return []
    assert resp.status == 200, resp
    return sorted(d["id"] for d in resp.json()["data"])


def line(cid, model=DEPLOYMENT, url="/v1/chat/completions", content=None, body=None):
    """One batch request line (no newline). model=None: a body without "model"."""
    if body is None:
        body = {}
        if model is not None:
            body["model"] = model
        body["messages"] = [{"role": "user", "content": content or f"Q {cid}?"}]
    import json as _json
    return _json.dumps({"custom_id": cid, "method": "POST", "url": url, "body": body})


def lines(*items):
    """bytes of the given lines, each followed by a newline."""
    return "".join(x + "\n" for x in items).encode()
