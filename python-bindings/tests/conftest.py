"""Shared fixtures for the timelog test suite."""

import gc

import pytest

from _util import manual


@pytest.fixture
def log():
    """A manual-mode log, closed after the test (readers are collected first)."""
    lg = manual()
    yield lg
    gc.collect()
    if not lg.closed:
        lg.close()


@pytest.fixture
def np():
    return pytest.importorskip("numpy")
