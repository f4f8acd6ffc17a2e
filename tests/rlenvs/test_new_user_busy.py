"""Issue 30, item 3: on a busy machine the quick tour says why generation is slow.

The 1-minute load average is patched: a test cannot make the machine reliably busy (or quiet)
for a minute, and the suite itself may be running beside other jobs."""

from __future__ import annotations

import os
import warnings

import pytest

import rlenvs.policies as policies
from rlenvs.policies import BusyMachineWarning, load_policy, warn_if_busy


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(policies, "_BUSY_WARNED", False)


def _load(monkeypatch, value: float) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (value, value, value))


def test_warns_once_when_the_load_reaches_the_cores(fresh, monkeypatch):
    _load(monkeypatch, (os.cpu_count() or 1) + 2.0)
    with pytest.warns(BusyMachineWarning, match=r"busy \(1-minute load average .* cores\)"):
        assert warn_if_busy() is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_busy() is False  # once per process


def test_quiet_machine_says_nothing(fresh, monkeypatch):
    _load(monkeypatch, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_busy() is False
    _load(monkeypatch, (os.cpu_count() or 1) + 2.0)  # still able to warn later
    with pytest.warns(BusyMachineWarning):
        warn_if_busy()


@pytest.mark.slow  # loads SmolLM2: seconds on a quiet machine, 30 s under load
def test_load_policy_of_a_local_model_warns_and_points_at_the_caller(fresh, monkeypatch):
    _load(monkeypatch, (os.cpu_count() or 1) + 2.0)
    with pytest.warns(BusyMachineWarning) as caught:
        policy = load_policy("smollm2")
    assert caught[0].filename == __file__  # the user's line, not the library's
    assert callable(policy.generate)


def test_a_remote_policy_does_not_warn(fresh, monkeypatch):
    _load(monkeypatch, (os.cpu_count() or 1) + 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BusyMachineWarning)
        load_policy("http://127.0.0.1:9/v1", model="x")  # generation happens elsewhere
