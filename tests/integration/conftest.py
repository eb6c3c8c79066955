"""Shared fixtures for the integration suites: an emulator per test, started through control.py."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "emulator"))

from control import Emulator  # noqa: E402


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
        emu = Emulator.start(**opts)
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
    emu = Emulator.start(log_path=tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield emu
    emu.stop()


@pytest.fixture
def emu(request, shared_emulator):
    """The module's emulator, reset to its start-up state (no files, batches, faults, log) for this test."""
    shared_emulator.reset()
    yield shared_emulator
    _show_logs_if_failed(request, [shared_emulator])
