"""batchfs mounting and unmounting: preflight failures, clean exits, options and SDK
environment variables, deployments, private spool/cache, no secret anywhere."""

import os
import secrets
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from control import jsonl
from mount import (API, closed_port, DEPLOYMENT, ENDPOINT_ENV, LISTS_MODELS, all_batches, assert_no_sanitizer_report,
                   batchfs_bin, calls, daemon_env, is_mounted, poll, service_deployments,
                   slow_submissions, tool_argv, tool_logs,
                   read_bytes, read_text, run_batchfs, wait_status, write_close)

CONTENT = jsonl(3).encode()


def assert_failed_preflight(fs, *words):
    assert fs.exit_code not in (0, None), f"batchfs exited {fs.exit_code}:\n{fs.stderr()}"
    assert not is_mounted(fs.mnt), "a failed preflight left a mount"
    text = fs.stderr()
    assert text.strip(), "no message on a failed preflight"
    for w in words:
        assert w.lower() in text.lower(), text
    assert os.listdir(fs.mnt) == []


# ---- preflight -----------------------------------------------------------------------------------

@pytest.mark.parametrize("foreground", [True, False], ids=["fg", "bg"])
def test_bad_key_exits_nonzero_with_nothing_mounted(emulator, tmp_path, foreground):
    fs = run_batchfs(emulator, tmp_path, key="not-the-key", foreground=foreground)
    assert_failed_preflight(fs, "cannot use")
    assert "401" in fs.stderr() or "denied" in fs.stderr().lower() or "auth" in fs.stderr().lower()


@pytest.mark.parametrize("foreground", [True, False], ids=["fg", "bg"])
def test_unreachable_endpoint_exits_nonzero_with_nothing_mounted(tmp_path, foreground):
    class Nowhere:
        url = f"http://127.0.0.1:{closed_port()}"

    t0 = time.monotonic()
    fs = run_batchfs(Nowhere, tmp_path, foreground=foreground,
                     options={"max_retries": "0", "connect_timeout_ms": "1000", "deadline_ms": "3000"})
    assert_failed_preflight(fs, "cannot use", "127.0.0.1")
    assert time.monotonic() - t0 < 30


@pytest.mark.surfaces("azure", "azure-v1", reason="the Entra ID credential chain is Azure's; "
                      "test_missing_key_on_openai_exits_nonzero is OpenAI's case")
def test_missing_key_exits_nonzero(emulator, tmp_path):
    """No key and no Entra ID source anywhere: the DefaultAzureCredential chain finds
    nothing, and the message says what was tried and what to set."""
    fs = run_batchfs(emulator, tmp_path, key=None,
                     options={"imds_endpoint": f"http://127.0.0.1:{closed_port()}",
                              "az_command": str(tmp_path / "no-az")})
    assert_failed_preflight(fs, "no credential found", "managed-identity", "azure-cli",
                            "AZURE_OPENAI_API_KEY", "az login")


def test_missing_key_on_openai_exits_nonzero(emulator, tmp_path):
    fs = run_batchfs(emulator, tmp_path, key=None, options={"surface": "openai"})
    assert_failed_preflight(fs, "no API key", "OPENAI_API_KEY")


@pytest.mark.parametrize("name", ["api_key", "key", "token", "ad_token", "client_secret", "password",
                                  "certificate_password", "identity_header"])
def test_secret_as_an_option_is_refused(emulator, tmp_path, name):
    fs = run_batchfs(emulator, tmp_path, options={name: "sk-visible-in-ps"})
    assert_failed_preflight(fs, "secrets are not accepted")
    assert "sk-visible-in-ps" not in fs.stderr()
    assert emulator.requests() == []


@pytest.mark.parametrize("value", ["65", "-1"])
def test_max_downloads_out_of_range_is_refused_by_name(emulator, tmp_path, value):
    fs = run_batchfs(emulator, tmp_path, options={"max_downloads": value})
    assert_failed_preflight(fs, "max_downloads=", "1 to 64")


def test_max_downloads_in_range_mounts(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, options={"max_downloads": "64"})
    assert {"batches", "deployments", "files"} <= set(os.listdir(fs.mnt))


def test_relative_paths_are_taken_from_the_start_directory(batchfs_factory, emulator, tmp_path):
    """The daemon changes directory to / once mounted: relative spool_dir, cache_dir and
    key_file still mean what they meant where batchfs was started."""
    key = tmp_path / "rel-key"
    key.write_text("test-key\n")
    key.chmod(0o600)
    fs = batchfs_factory(emulator, key=None, cwd=str(tmp_path), spool="rel-spool", cache="rel-cache",
                         options={"key_file": "rel-key"})
    assert write_close(fs.submit_dir() / "rel.jsonl", CONTENT) == (None, 0)
    link = fs.links_dir() / "rel.jsonl"
    poll(lambda: read_text(link / "status") == "completed\n", what="completion")
    assert read_bytes(link / "output.jsonl").count(b"\n") == CONTENT.count(b"\n")
    assert (tmp_path / "rel-spool").is_dir() and (tmp_path / "rel-cache").is_dir()
    assert not os.path.exists("/rel-spool") and not os.path.exists("/rel-cache")
    config = read_text(fs.meta("config"))
    assert f"spool_dir {tmp_path}/rel-spool" in config and f"cache_dir {tmp_path}/rel-cache" in config


def test_check_only(emulator, tmp_path):
    env = daemon_env({"AZURE_OPENAI_ENDPOINT": emulator.url, "AZURE_OPENAI_API_KEY": "test-key"})
    ok = subprocess.run(tool_argv([batchfs_bin(), "--check"], tmp_path), env=env, capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert_no_sanitizer_report(ok.stderr + tool_logs(tmp_path))
    assert "credential accepted" in ok.stdout
    env["AZURE_OPENAI_API_KEY"] = "wrong"
    bad = subprocess.run(tool_argv([batchfs_bin(), "--check"], tmp_path), env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "cannot use" in bad.stderr
    assert_no_sanitizer_report(bad.stderr + tool_logs(tmp_path))


# ---- unmounting ----------------------------------------------------------------------------------

def test_fusermount_unmounts_cleanly(mounted):
    assert write_close(mounted.submit_dir() / "u.jsonl", CONTENT) == (None, 0)
    assert mounted.unmount() == 0
    assert not is_mounted(mounted.mnt)
    assert os.listdir(mounted.mnt) == []


def fusedev_fault_env():
    """Environment that preloads tests/tools/fusedev_econnaborted.c (built beside batchfs):
    the FUSE device's ENODEV becomes ECONNABORTED, what Linux answers a daemon thread that
    was taking a request off the queue when the connection ended."""
    lib = Path(batchfs_bin()).resolve().parent.parent / "tests" / "libfusedev_econnaborted.so"
    assert lib.is_file(), f"{lib} is not built (ninja -C build)"
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    # the preloaded library comes before an ASan build's runtime in the library list
    return {"LD_PRELOAD": str(lib), "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"}


def test_unmount_with_a_request_queued_exits_0(batchfs_factory, emulator):
    # CI once saw "fuse: reading device: Software caused connection abort" and exit 1 after a
    # plain fusermount3 -u: the kernel's answer when the unmount races a queued request.
    fs = batchfs_factory(emulator, options={"log_level": "info"}, env=fusedev_fault_env())
    assert "batches" in os.listdir(fs.mnt)
    assert fs.unmount() == 0
    assert not is_mounted(fs.mnt)
    assert "ECONNABORTED at unmount" in fs.stderr(), fs.stderr()
    # libfuse never sees it: it would perror() it from a worker it then cancels
    assert "fuse: reading device" not in fs.stderr(), fs.stderr()


def test_umount_force_is_an_unmount(batchfs_factory, emulator):
    # umount -f aborts the connection a moment before it removes the mount: still an unmount
    fs = batchfs_factory(emulator)
    assert "batches" in os.listdir(fs.mnt)
    fs.wait_dirs_released()
    res = subprocess.run(["umount", "-f", str(fs.mnt)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert fs.wait_exit(60) == 0, fs.stderr()
    assert "aborted" not in fs.stderr(), fs.stderr()
    assert not is_mounted(fs.mnt)


def test_umount_force_on_a_busy_mount_is_an_abort(batchfs_factory, emulator):
    # on a busy mount umount -f aborts the connection and fails: the dead mount stays
    fs = batchfs_factory(emulator)
    # a file, not a directory: libfuse would leak its handle of a directory never released
    fd = os.open(fs.meta("version"), os.O_RDONLY)
    try:
        res = subprocess.run(["umount", "-f", str(fs.mnt)], capture_output=True, text=True)
        assert res.returncode != 0, "umount -f of a busy mount succeeded"
        assert fs.wait_exit(60) == 1, fs.stderr()
    finally:
        try:
            os.close(fd)  # its flush goes to the dead connection: ENOTCONN, closed all the same
        except OSError:
            pass
    assert "was aborted" in fs.stderr() and "cannot detach" not in fs.stderr(), fs.stderr()
    assert not is_mounted(fs.mnt), "the dead mount was left behind"


@pytest.mark.parametrize("fault", [False, True], ids=["enodev", "econnaborted"])
def test_aborted_connection_is_detached_and_exits_1(fuse_connections, batchfs_factory, emulator,
                                                    fault):
    fs = batchfs_factory(emulator, env=fusedev_fault_env() if fault else None)
    assert "batches" in os.listdir(fs.mnt)
    fs.wait_dirs_released()  # a RELEASEDIR the abort drops leaves libfuse's handle unfreed
    conn = os.minor(os.stat(fs.mnt).st_dev)
    (fuse_connections / str(conn) / "abort").write_text("1")
    code = fs.wait_exit(60)
    text = fs.stderr()
    assert code == 1, f"exit {code} after an abort:\n{text}"
    assert "was aborted" in text and "detaching the dead mount" in text, text
    # libfuse alone leaves the dead mount: every access fails with ENOTCONN
    assert not is_mounted(fs.mnt), "the aborted mount was left behind"
    assert os.listdir(fs.mnt) == []


def submission_in_flight(batchfs_factory, emulator, tmp_path, seconds=2.0):
    """A mount whose cp into submit/ has uploaded and now waits in close() (about
    `seconds`): returns (fs, the cp process)."""
    slow_submissions(emulator, seconds)
    fs = batchfs_factory(emulator)
    src = tmp_path / "inflight.jsonl"
    src.write_bytes(CONTENT)
    cp = subprocess.Popen(["cp", str(src), str(fs.submit_dir())], stderr=subprocess.PIPE)
    poll(lambda: calls(emulator, "POST", rf"{API}/files"), what="the upload")
    return fs, cp


def test_a_new_mount_on_the_path_is_not_taken_for_the_old_one(batchfs_factory, emulator, tmp_path):
    """fusermount3 -u -z while a close() waits for its submission, then a new mount on the
    same path (a restart): when the old connection finally ends, the old daemon sees a fuse
    mount on its path, but not its own (another device): a clean stop, the new mount kept."""
    old, cp = submission_in_flight(batchfs_factory, emulator, tmp_path, seconds=8.0)
    res = subprocess.run(["fusermount3", "-u", "-z", str(old.mnt)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    new = batchfs_factory(emulator, mountpoint=old.mnt)
    # the old connection must end only now, with the new mount on the path
    assert cp.poll() is None, "the submission ended before the new mount was up"
    assert cp.wait(timeout=60) == 0, cp.stderr.read()
    assert old.wait_exit(60) == 0, old.stderr()
    assert "aborted" not in old.stderr(), old.stderr()
    assert is_mounted(new.mnt) and "batches" in os.listdir(new.mnt), "the new mount was detached"
    assert new.proc.poll() is None
    assert new.unmount() == 0  # both share the path: the new one goes first


FUSE_SYSCTL = Path("/proc/sys/fs/fuse")


def kernel_timeout_for(default, maximum):
    """The timeout Linux gives a daemon that asks none (fs/fuse init_server_timeout)."""
    t = default
    if maximum:
        t = min(t, maximum) if t else maximum
    return max(t, 15) if t else 0


@pytest.fixture
def fuse_default_request_timeout():
    """Sets fs.fuse.default_request_timeout for one test (Linux 6.14+, root) and puts the
    old value back after it; yields a setter that returns the timeout a new mount gets."""
    path = FUSE_SYSCTL / "default_request_timeout"
    if not path.exists():
        pytest.skip("this kernel has no FUSE request timeout (Linux before 6.14)")
    old = path.read_text().strip()

    def set_timeout(seconds):
        path.write_text(str(seconds))
        return kernel_timeout_for(seconds, int((FUSE_SYSCTL / "max_request_timeout").read_text()))

    yield set_timeout
    path.write_text(old)


@pytest.mark.parametrize("seconds", [0, 900])
def test_kernel_request_timeout_is_warned_and_shown(batchfs_factory, emulator,
                                                    fuse_default_request_timeout, seconds):
    # a close() in submit/ can wait minutes for its upload: a kernel FUSE request timeout
    # shorter than that would abort the whole mount, so batchfs says so when mounting
    expected = fuse_default_request_timeout(seconds)
    fs = batchfs_factory(emulator)
    config = read_text(fs.meta("config"))
    assert f"kernel_request_timeout_s {expected}\n" in config, config
    if expected:
        assert f"the kernel aborts a FUSE mount whose request waits {expected} s" in fs.stderr()
    else:
        assert "request_timeout" not in fs.stderr(), fs.stderr()


def test_sigterm_unmounts_cleanly(mounted):
    # no file handles here: the kernel releases them asynchronously after close(), so a
    # SIGTERM right after a close races with the release (see the next test)
    assert (mounted.mnt / "batches").is_dir() and mounted.submit_dir().is_dir()
    mounted.proc.send_signal(signal.SIGTERM)
    code = mounted.wait_exit(30)
    assert code == 0, f"exit {code} after SIGTERM:\n{mounted.stderr()}"
    assert not is_mounted(mounted.mnt), "SIGTERM left the mount behind"


def test_sigterm_with_a_file_open_in_submit(mounted):
    """Stopping the daemon while a writer still has a submit file open (its release never
    comes): exit 0, unmounted, nothing submitted, and no leak reported under ASan."""
    fd = os.open(mounted.submit_dir() / "open.jsonl", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, CONTENT)
        mounted.proc.send_signal(signal.SIGTERM)
        code = mounted.wait_exit(30)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    assert code == 0, f"exit {code} after SIGTERM:\n{mounted.stderr()}"
    assert not is_mounted(mounted.mnt)
    assert mounted.emu.state()["batches"] == 0


def test_sigterm_unmounts_a_relative_mountpoint(batchfs_factory, emulator, tmp_path):
    """`batchfs mnt` (relative path), then SIGTERM: the daemon chdir()s to / when it starts,
    so the unmount must not use the relative path."""
    (tmp_path / "rel").mkdir()
    fs = batchfs_factory(emulator, mountpoint="rel", cwd=str(tmp_path))
    assert is_mounted(tmp_path / "rel")
    fs.proc.send_signal(signal.SIGTERM)
    code = fs.wait_exit(30)
    still = is_mounted(tmp_path / "rel")
    assert code == 0 and not still, f"exit {code}, still mounted: {still}; stderr:\n{fs.stderr()}"


def _daemon_pids(mnt, exclude):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == exclude:
            continue
        try:
            argv = read_bytes(f"/proc/{d}/cmdline").split(b"\0")
        except OSError:
            continue
        # argv[0] is batchfs, or valgrind when the suite runs under it
        if str(mnt).encode() in argv and any(a.endswith(b"batchfs") for a in argv):
            pids.append(int(d))
    return pids


def test_background_mount_and_unmount(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, foreground=False)
    assert fs.wait_exit(30) == 0, fs.stderr()   # the parent returns once mounted
    assert is_mounted(fs.mnt)
    daemons = _daemon_pids(fs.mnt, fs.proc.pid)
    assert len(daemons) == 1, daemons
    assert write_close(fs.submit_dir() / "bg.jsonl", CONTENT) == (None, 0)
    assert emulator.state()["batches"] == 1
    # Downloads run on worker threads: they must exist in the daemonized child.
    link = fs.links_dir() / "bg.jsonl"
    poll(lambda: read_text(link / "status") == "completed\n", what="completion")
    assert read_bytes(link / "output.jsonl").count(b"\n") == CONTENT.count(b"\n")
    assert fs.unmount() == 0
    poll(lambda: not os.path.exists(f"/proc/{daemons[0]}"), timeout=20, what="the daemon to exit")


# ---- options and environment ---------------------------------------------------------------------

def test_endpoint_from_environment(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, endpoint="env")
    assert write_close(fs.submit_dir() / "env.jsonl", CONTENT) == (None, 0)
    assert emulator.state()["batches"] == 1
    assert f"endpoint {emulator.url}" in read_text(fs.meta("config"))


def test_option_endpoint_wins_over_environment(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, env={ENDPOINT_ENV: f"http://127.0.0.1:{closed_port()}"})
    assert f"endpoint {emulator.url}" in read_text(fs.meta("config"))
    assert os.listdir(fs.mnt / "batches") == []


@pytest.mark.surfaces("azure", reason="OPENAI_API_VERSION picks the Azure dated api-version; "
                      "v1 and OpenAI have none")
def test_api_version_from_environment(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, env={"OPENAI_API_VERSION": "2024-08-01-preview"})
    assert write_close(fs.submit_dir() / "v.jsonl", CONTENT) == (None, 0)
    data_plane = [r for r in emulator.requests()
                  if r["path"].startswith(f"{API}/") and not r["path"].startswith("/openai/deployments")
                  and not r["path"].startswith(f"{API}/models")]
    assert data_plane
    assert {r["query"].get("api-version") for r in data_plane} == {"2024-08-01-preview"}
    assert "api_version 2024-08-01-preview" in read_text(fs.meta("config"))


@pytest.mark.surfaces("azure", "azure-v1", reason="the OPENAI_API_KEY fallback sent as api-key is "
                      "Azure's; on OpenAI OPENAI_API_KEY is the key itself")
def test_openai_api_key_on_azure(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, key=None, endpoint="env", env={"OPENAI_API_KEY": "test-key"})
    assert write_close(fs.submit_dir() / "k.jsonl", CONTENT) == (None, 0)
    assert {r["auth"] for r in emulator.requests()} == {"api-key"}


@pytest.mark.surfaces("azure", reason="surface detection from the environment: only the default "
                      "run leaves the surface to batchfs (the others pass -o surface=)")
def test_openai_surface_from_environment(batchfs_factory, emulator):
    fs = batchfs_factory(emulator, key=None, endpoint=None,
                         env={"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": emulator.url + "/v1"})
    assert "surface openai" in read_text(fs.meta("config"))
    deps = os.listdir(fs.mnt / "deployments")
    assert "gpt-4o-mini" in deps, deps
    content = jsonl(3, model="gpt-4o-mini").encode()
    assert write_close(fs.submit_dir("gpt-4o-mini") / "oa.jsonl", content) == (None, 0)
    assert len(calls(emulator, "POST", r"/v1/batches")) == 1
    assert {r["auth"] for r in emulator.requests()} == {"bearer"}
    assert all(r["path"].startswith("/v1/") for r in emulator.requests())


# ---- deployments ---------------------------------------------------------------------------------

def test_deployments_from_the_service_listing(batchfs_factory, emulator_factory):
    emu = emulator_factory(deployments="alpha-batch=gpt-4o,beta-batch=gpt-4o-mini")
    fs = batchfs_factory(emu)
    # Azure lists deployment names; OpenAI (GET /v1/models) lists models, its "deployments"
    expected = ["gpt-4o", "gpt-4o-mini"] if LISTS_MODELS else ["alpha-batch", "beta-batch"]
    assert sorted(os.listdir(fs.mnt / "deployments")) == expected


def test_deployments_option(batchfs_factory, emulator_factory):
    emu = emulator_factory(config={"legacy_deployments_api": False})
    fs = batchfs_factory(emu, options={"deployments": "gpt-4o-batch,other-batch"})
    # the names given, added to what the service lists (nothing on Azure without the legacy
    # listing; OpenAI's models)
    listed = service_deployments(emu)
    assert sorted(os.listdir(fs.mnt / "deployments")) == sorted({"gpt-4o-batch", "other-batch", *listed})
    assert write_close(fs.submit_dir() / "d.jsonl", CONTENT) == (None, 0)
    assert all_batches(emu)[0]["metadata"]["batchfs_deployment"] == DEPLOYMENT


def test_mkdir_deployment(batchfs_factory, emulator_factory):
    emu = emulator_factory(deployments="gpt-4o-batch,made-batch=gpt-4o",
                           config={"legacy_deployments_api": False})
    fs = batchfs_factory(emu)
    # what the service lists: nothing on Azure without the legacy listing; OpenAI's models
    listed = service_deployments(emu)
    assert "made-batch" not in listed
    assert sorted(os.listdir(fs.mnt / "deployments")) == listed
    os.mkdir(fs.mnt / "deployments" / "made-batch")
    assert sorted(os.listdir(fs.mnt / "deployments")) == sorted(listed + ["made-batch"])
    assert sorted(os.listdir(fs.dep("made-batch"))) == ["batches", "submit"]
    with pytest.raises(FileExistsError):
        os.mkdir(fs.mnt / "deployments" / "made-batch")
    with pytest.raises(PermissionError):
        os.mkdir(fs.mnt / "batches" / "nope")
    content = jsonl(3, model="made-batch").encode()
    assert write_close(fs.submit_dir("made-batch") / "m.jsonl", content) == (None, 0)
    (b,) = all_batches(emu)
    assert b["metadata"]["batchfs_deployment"] == "made-batch"
    assert os.readlink(fs.links_dir("made-batch") / "m.jsonl") == f"../../../batches/{b['id']}"
    wait_status(fs, b["id"], "completed")
    # an empty deployment directory can be removed again
    os.mkdir(fs.mnt / "deployments" / "spare-batch")
    os.rmdir(fs.mnt / "deployments" / "spare-batch")
    assert "spare-batch" not in os.listdir(fs.mnt / "deployments")


def test_deployments_learnt_from_batch_metadata(batchfs_factory, emulator_factory):
    emu = emulator_factory(config={"legacy_deployments_api": False})
    (old,) = emu.create_batches(1, metadata={"batchfs_deployment": "learnt-batch",
                                             "batchfs_name": "old.jsonl"})
    fs = batchfs_factory(emu)
    assert "learnt-batch" in os.listdir(fs.mnt / "deployments")
    assert os.readlink(fs.links_dir("learnt-batch") / "old.jsonl") == f"../../../batches/{old}"
    emu.create_batches(1, metadata={"batchfs_deployment": "later-batch", "batchfs_name": "new.jsonl"})
    poll(lambda: (os.listdir(fs.mnt / "batches"), os.listdir(fs.mnt / "deployments"))[1],
         lambda deps: "later-batch" in deps, timeout=10, what="deployments/later-batch")
    assert os.listdir(fs.links_dir("later-batch")) == ["new.jsonl"]


# ---- private directories and secrets --------------------------------------------------------------

def _modes(root):
    out = {}
    for r, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(r, n)
            out[p] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def test_spool_and_cache_dirs_are_private(mounted):
    bid = None
    assert write_close(mounted.submit_dir() / "priv.jsonl", CONTENT) == (None, 0)
    bid = all_batches(mounted.emu)[0]["id"]
    wait_status(mounted, bid, "completed")
    read_bytes(mounted.batch(bid) / "output.jsonl")
    # a file being written sits in the spool
    fd = os.open(mounted.submit_dir() / "open.jsonl", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, CONTENT)
        for d in (mounted.spool, mounted.cache):
            assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
        entries = {**_modes(mounted.spool), **_modes(mounted.cache)}
        assert any(m for p, m in entries.items() if os.path.isfile(p)), entries
        bad = {p: oct(m) for p, m in entries.items() if m & 0o077}
        assert not bad, bad
    finally:
        os.close(fd)


def test_default_dirs_from_xdg_are_private(batchfs_factory, emulator, tmp_path):
    state, cache = tmp_path / "state", tmp_path / "cachehome"
    fs = batchfs_factory(emulator, spool=False, cache=False,
                         env={"XDG_STATE_HOME": str(state), "XDG_CACHE_HOME": str(cache)})
    config = read_text(fs.meta("config"))
    assert f"spool_dir {state}/batchfs/spool" in config, config
    assert f"cache_dir {cache}/batchfs/downloads" in config, config
    assert stat.S_IMODE(os.stat(state / "batchfs" / "spool").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(cache / "batchfs" / "downloads").st_mode) == 0o700


def test_spool_open_to_others_is_refused(emulator, tmp_path):
    spool = tmp_path / "open-spool"
    spool.mkdir()
    os.chmod(spool, 0o755)
    fs = run_batchfs(emulator, tmp_path, options={"spool_dir": str(spool)})
    assert_failed_preflight(fs, "chmod 700")


def test_no_secret_in_meta_files_stderr_or_cmdline(batchfs_factory, emulator_factory):
    key = "sk-secret-" + secrets.token_hex(16)
    emu = emulator_factory(api_keys=[key])
    fs = batchfs_factory(emu, key=key, options={"debug": None})
    assert write_close(fs.submit_dir() / "s.jsonl", CONTENT) == (None, 0)
    assert write_close(fs.submit_dir() / "bad.jsonl", b"nope\n")[0] == "close"
    bid = all_batches(emu)[0]["id"]
    wait_status(fs, bid, "completed")
    write_close(fs.batch(bid) / "cancel", b"cancel\n", flags=os.O_WRONLY)  # fails: EPERM
    read_bytes(fs.batch(bid) / "output.jsonl")
    meta = {n: read_text(fs.meta(n)) for n in os.listdir(fs.mnt / ".batchfs")}
    assert sorted(meta) == ["config", "credential", "errors", "recovery", "stats", "version"]
    assert "bad.jsonl" in meta["errors"]
    for name, text in meta.items():
        assert key not in text, f".batchfs/{name} shows the key"
    grep = subprocess.run(["grep", "-r", "-l", key, str(fs.mnt / ".batchfs")], capture_output=True, text=True)
    assert grep.returncode == 1, grep.stdout
    cmdline = read_bytes(f"/proc/{fs.pid}/cmdline")
    assert key.encode() not in cmdline
    assert fs.stderr(), "debug logging wrote nothing"
    assert fs.unmount() == 0
    assert key not in fs.stderr()
    for root in (fs.spool, fs.cache):
        for r, _, files in os.walk(root):
            for f in files:
                assert key.encode() not in read_bytes(os.path.join(r, f)), f


def test_sigterm_waits_for_a_submission_in_flight(batchfs_factory, emulator, tmp_path):
    """Stopping the daemon while a close() waits for its upload to be processed (on
    OpenAI: for its slow create) lets that submission finish: cp succeeds, the batch
    exists, exit 0."""
    fs, cp = submission_in_flight(batchfs_factory, emulator, tmp_path)
    fs.proc.send_signal(signal.SIGTERM)
    assert cp.wait(timeout=60) == 0, cp.stderr.read()
    assert emulator.state()["batches"] == 1
    assert fs.wait_exit(30) == 0, fs.stderr()
    assert "waiting for submissions in flight" in fs.stderr()
    poll(lambda: not is_mounted(fs.mnt), what="the unmount")
