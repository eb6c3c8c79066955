"""Fidelity: the official npm `openai` SDK (v6) runs a whole batch sequence against the emulator."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NPM_DIR = REPO / "tests" / "npm"
SCRIPT = NPM_DIR / "sdk_sequence.mjs"
# Long enough in_progress that the second batch can be cancelled before it finishes.
DURATIONS = {"validating": 0.1, "in_progress": 1.5, "finalizing": 0.1, "cancelling": 0.2}


def node_or_fail():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: install Node.js (Debian: apt-get install nodejs npm), then run "
                    "`npm ci --prefix tests/npm`", pytrace=False)
    if not (NPM_DIR / "node_modules" / "openai" / "package.json").is_file():
        pytest.fail("the openai npm package is missing: run `npm ci --prefix tests/npm`", pytrace=False)
    return node


def run_sequence(emu, dialect):
    node = node_or_fail()
    proc = subprocess.run([node, str(SCRIPT), "--url", emu.url, "--dialect", dialect, "--key", emu.api_key],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env=dict(os.environ, NODE_NO_WARNINGS="1"))
    assert proc.returncode == 0, f"sdk_sequence failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.splitlines()


@pytest.fixture
def sdk_emulator(emulator_factory):
    return emulator_factory(config={"durations": DURATIONS})


def test_azure_openai_sdk_sequence(sdk_emulator):
    out = run_sequence(sdk_emulator, "azure")
    assert re.fullmatch(r"upload: file-[0-9a-f]{32} pending \d+ bytes", out[0]), out
    assert out[1:] == ["file: processed", "create: validating", "batch: completed 3/3", "output: 3 lines",
                       "cancel: cancelling", "cancelled: cancelled", "list: 5 batches in 3 pages",
                       "delete: deleted", "OK"]
    log = sdk_emulator.requests()
    assert all(e["path"].startswith("/openai/") and "/v1/" not in e["path"] for e in log)
    assert all(e["query"].get("api-version") == "2024-10-21" and e["auth"] == "api-key" for e in log)
    lists = [e for e in log if e["method"] == "GET" and e["path"] == "/openai/batches"]
    assert [e["query"].get("limit") for e in lists] == ["2"] * 6          # two passes over 3 pages
    assert sum("after" in e["query"] for e in lists) == 4
    assert any(e["path"].endswith("/content") and e["status"] == 200 for e in log)
    assert sdk_emulator.state()["batches"] == 5


def test_openai_sdk_sequence_on_v1(sdk_emulator):
    out = run_sequence(sdk_emulator, "openai")
    assert re.fullmatch(r"upload: file-[0-9a-f]+ processed \d+ bytes", out[0]), out
    assert out[1:] == ["file: processed", "create: validating", "batch: completed 3/3", "output: 3 lines",
                       "cancel: cancelling", "cancelled: cancelled", "list: 5 batches in 3 pages",
                       "delete: deleted", "OK"]
    log = sdk_emulator.requests()
    assert all(e["path"].startswith("/v1/") and e["auth"] == "bearer" for e in log)
