"""Shared fixtures for the integration suites: an emulator per test, started through control.py."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "emulator"))

from control import Emulator  # noqa: E402

# On the OpenAI surface a "deployment" is a model of /v1/models: name the emulator's
# models like the Azure deployments the tests use, so one suite runs on every surface.
SURFACE = os.environ.get("BATCHFS_SURFACE", "azure")
SURFACE_DEPLOYMENTS = "gpt-4o-batch,gpt-4o-mini-batch" if SURFACE == "openai" else None
KNOWN_SURFACES = ("azure", "azure-v1", "openai")


# Symbols (or the DT_NEEDED name) that only a binary built with a sanitizer carries: gcc links
# libasan/libtsan/libubsan dynamically, clang links its runtimes statically; either way these
# names are in the file.
SANITIZER_SIGNS = (b"__asan_init", b"__hwasan_init", b"__tsan_init", b"__msan_init",
                   b"__ubsan_handle_", b"libasan.so", b"libtsan.so", b"libubsan.so")


def native_reason():
    """Why this run's daemons are not native (None when they are): valgrind (BATCHFS_VALGRIND=1),
    a sanitizer build by meson's BATCHFS_SANITIZED (b_sanitize, "none" when off), or a batchfs
    binary (mount.batchfs_bin(): BATCHFS_BIN, else build/ or build-asan/) carrying a sanitizer
    runtime. An unbuilt binary counts as native: the tests then fail to mount, saying why."""
    if _mount.VALGRIND:
        return "BATCHFS_VALGRIND=1"
    sanitized = os.environ.get("BATCHFS_SANITIZED", "none")
    if sanitized not in ("", "none"):
        return f"BATCHFS_SANITIZED={sanitized}"
    try:
        path = _mount.batchfs_bin()
        with open(path, "rb") as f:
            data = f.read()
    except (RuntimeError, OSError):
        return None
    for sign in SANITIZER_SIGNS:
        if sign in data:
            return f"{path} is a sanitizer build ({sign.decode()})"
    return None


def pytest_collection_modifyitems(config, items):
    """Deselects (not skips: a skip counts as a failure in CI) the tests that do not apply to
    this run, so each run reports only the tests that do:
    @pytest.mark.surfaces("azure", ..., reason=...): a test that applies only on some API
    surfaces, on the others.
    @pytest.mark.native_only(reason=...): a test that measures the daemon itself (its peak RSS),
    under valgrind or with a sanitizer build (native_reason())."""
    if SURFACE not in KNOWN_SURFACES:
        raise pytest.UsageError(f"BATCHFS_SURFACE={SURFACE!r}: not one of {', '.join(KNOWN_SURFACES)}")
    keep, drop = [], []
    not_native = []  # [reason], computed once, on the first native_only test
    for item in items:
        marker = item.get_closest_marker("surfaces")
        if marker is not None:
            unknown = [s for s in marker.args if s not in KNOWN_SURFACES]
            if not marker.args or unknown or not marker.kwargs.get("reason"):
                raise pytest.UsageError(f"{item.nodeid}: @surfaces needs known surface names and a "
                                        f"reason (got {marker.args}, {marker.kwargs})")
            if SURFACE not in marker.args:
                drop.append(item)
                continue
        marker = item.get_closest_marker("native_only")
        if marker is not None:
            if marker.args or not marker.kwargs.get("reason"):
                raise pytest.UsageError(f"{item.nodeid}: @native_only takes only a reason "
                                        f"(got {marker.args}, {marker.kwargs})")
            if not not_native:
                not_native.append(native_reason())
            if not_native[0]:
                drop.append(item)
                continue
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _show_logs_if_failed(request, emulators):
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for emu in emulators:
            sys.stderr.write(f"\n----- emulator log {emu.log_path} -----\n{emu.log_text()}\n")


@pytest.fixture
def emulator_factory(request, tmp_path):
    """Start emulators with chosen options: emulator_factory(api_keys=[...], config={...})."""
    started = []

    def start(**opts):
        opts.setdefault("log_path", tmp_path / f"emulator-{len(started)}.log")
        if SURFACE_DEPLOYMENTS:
            opts.setdefault("deployments", SURFACE_DEPLOYMENTS)
        emu = Emulator.start(**opts)
        if SURFACE == "openai":
            emu.default_dialect = "openai"
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()
    _show_logs_if_failed(request, started)


@pytest.fixture
def emulator(emulator_factory):
    """A fresh emulator with default options (key test-key), stopped after the test."""
    return emulator_factory()


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory):
    """One emulator for a whole test module; pair it with the `emu` fixture, which resets it."""
    emu = Emulator.start(log_path=tmp_path_factory.mktemp("emulator") / "emulator.log",
                         deployments=SURFACE_DEPLOYMENTS)
    if SURFACE == "openai":
        emu.default_dialect = "openai"
    yield emu
    emu.stop()


@pytest.fixture
def emu(request, shared_emulator):
    """The module's emulator, reset to its start-up state (no files, batches, faults, log) for this test."""
    shared_emulator.reset()
    yield shared_emulator
    _show_logs_if_failed(request, [shared_emulator])


# ---- batchfs mounts (tests/integration/mount.py) -------------------------------------------------

import mount as _mount  # noqa: E402


@pytest.fixture
def batchfs_factory(request, tmp_path, emulator_factory):
    """Mount batchfs: batchfs_factory(emu=None, options={...}, env={...}, key=..., ...);
    workdir=DIR puts its directories under DIR instead of the test's tmp_path.

    Without emu, a default emulator is started for it. Every mount still running at the
    end is unmounted with fusermount3 -u and must exit 0; every daemon's stderr must be
    free of sanitizer reports. A failed test gets the daemons' stderr printed."""
    mounts = []
    default = []

    def start(emu=None, **kw):
        if emu is None:
            if not default:
                default.append(emulator_factory())
            emu = default[0]
        kw.setdefault("timeout", 60)
        fs = _mount.start(emu, kw.pop("workdir", tmp_path), **kw)
        mounts.append(fs)
        return fs

    start.mounts = mounts
    yield start

    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    problems = []
    for fs in mounts:
        if failed:
            sys.stderr.write(f"\n----- batchfs stderr {fs.stderr_path} (exit {fs.proc.poll()}) -----\n"
                             f"{fs.reports()}\n")
        try:
            if fs.proc.poll() is None or _mount.is_mounted(fs.mnt):
                if failed:
                    fs.cleanup()
                else:
                    fs.unmount()
            _mount.assert_no_sanitizer_report(fs.reports())
        except AssertionError as e:
            fs.cleanup()
            problems.append(str(e))
        except Exception as e:  # noqa: BLE001
            fs.cleanup()
            problems.append(repr(e))
    if problems and not failed:
        pytest.fail("batchfs teardown: " + "\n".join(problems))


@pytest.fixture
def mounted(batchfs_factory):
    """An emulator (default options) and batchfs mounted on it with fast TTLs:
    .mnt, .emu, .proc, .stderr(), .submit_dir(), .batch(id), ..."""
    return batchfs_factory()


@pytest.fixture
def fuse_connections():
    """/sys/fs/fuse/connections, with the fusectl filesystem mounted there for the test
    when it is not already (a root-only step; the suite runs as root)."""
    path = Path("/sys/fs/fuse/connections")
    mounted_here = False
    if not _mount.is_mounted(path):
        res = subprocess.run(["mount", "-t", "fusectl", "fusectl", str(path)],
                             capture_output=True, text=True)
        assert res.returncode == 0, f"cannot mount fusectl on {path}: {res.stderr}"
        mounted_here = True
    yield path
    if mounted_here:
        subprocess.run(["umount", str(path)], capture_output=True)
