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


def pytest_sessionstart(session):
    """Under ci.sh: fail at once unless `timelog` comes from the installed wheel."""
    import os

    venv = os.environ.get("TIMELOG_REQUIRE_INSTALLED")
    if venv:
        import timelog
        import timelog._timelog

        for mod in (timelog, timelog._timelog):
            path = os.path.realpath(mod.__file__)
            if not path.startswith(os.path.realpath(venv) + os.sep):
                raise pytest.UsageError(f"{mod.__name__} imported from {path}, not from {venv}")
