"""The module (docs/api.md, section 2): module surface, layout and exception mapping basics."""

import copy
import pickle
import typing

import pytest

import timelog
import timelog._api as api
import timelog._timelog as native
from timelog import (
    PageSpan,
    PageSpanIter,
    PageSpanObjectsView,
    Timelog,
    TimelogBusyError,
    TimelogError,
    TimelogIter,
)


def test_all_is_exact():
    assert sorted(timelog.__all__) == sorted(
        [
            "Timelog",
            "TimelogError",
            "TimelogBusyError",
            "TimelogIter",
            "PageSpan",
            "PageSpanIter",
            "PageSpanObjectsView",
            "Record",
            "RecordIter",
            "RecordBatch",
            "__version__",
        ]
    )
    for name in timelog.__all__:
        assert hasattr(timelog, name)


def test_constants():
    assert timelog.TL_TS_MIN == -(2**63) == api.TL_TS_MIN
    assert timelog.TL_TS_MAX == 2**63 - 1 == api.TL_TS_MAX
    assert "TL_TS_MIN" not in timelog.__all__


def test_type_aliases():
    assert timelog.Record == tuple[int, object]
    assert timelog.RecordBatch == list[tuple[int, object]]
    assert typing.get_origin(timelog.RecordIter) is not None


def test_version():
    assert isinstance(timelog.__version__, str) and timelog.__version__
    assert timelog._resolve_version() == timelog.__version__


def test_timelog_class_layout():
    assert Timelog.__module__ == "timelog"
    assert issubclass(Timelog, native.Timelog)
    log = Timelog()
    try:
        assert isinstance(log, native.Timelog)
    finally:
        log.close()


def test_native_identity():
    for name in ("TimelogError", "TimelogBusyError", "TimelogIter", "PageSpan", "PageSpanIter",
                 "PageSpanObjectsView"):
        assert getattr(timelog, name) is getattr(native, name)
        assert getattr(native, name).__module__ == "timelog._timelog"
    # The objects-view iterator type exists but is not exported (as in the reference).
    assert not hasattr(native, "PageSpanObjectsViewIter")


def test_exception_hierarchy_and_pickle():
    assert TimelogError.__bases__ == (Exception,)
    assert TimelogBusyError.__bases__ == (TimelogError,)
    for cls in (TimelogError, TimelogBusyError):
        e = pickle.loads(pickle.dumps(cls("x")))
        assert type(e) is cls and e.args == ("x",)
        assert not [a for a in vars(e) if not a.startswith("_")]


@pytest.mark.parametrize("cls", [TimelogIter, PageSpan, PageSpanIter, PageSpanObjectsView])
def test_helper_types_not_constructible_nor_subclassable(cls):
    with pytest.raises(TypeError):
        cls()
    with pytest.raises(TypeError):
        type("Sub", (cls,), {})


def test_timelog_is_subclassable():
    class Sub(Timelog):
        __slots__ = ()

    s = Sub(maintenance="disabled")
    assert repr(s).startswith("<Sub len~0")
    s.close()
    assert repr(s) == "<Sub closed>"


def test_coerce_ts_helper():
    assert api._coerce_ts(5) == 5
    with pytest.raises(TypeError):
        api._coerce_ts(True)
    with pytest.raises(TypeError, match="float"):
        api._coerce_ts(1.5)
    with pytest.raises(OverflowError):
        api._coerce_ts(2**63)
    with pytest.raises(OverflowError):
        api._coerce_ts(-(2**63) - 1)
    assert api._coerce_ts(-(2**63)) == -(2**63)


def test_instances_have_slots_weakref_identity():
    import weakref

    log = Timelog()
    try:
        with pytest.raises(AttributeError):
            log.anything = 1
        assert not hasattr(log, "__dict__")
        assert weakref.ref(log)() is log
        assert hash(log) == hash(log) and log == log and log != Timelog.__new__(Timelog)
        with pytest.raises(TypeError):
            pickle.dumps(log)
        with pytest.raises(TypeError):
            copy.copy(log)
        with pytest.raises(TypeError):
            copy.deepcopy(log)
    finally:
        log.close()


@pytest.mark.parametrize(
    "prop",
    ["closed", "time_unit", "maintenance_mode", "busy_policy", "busy_events", "extend_skipped",
     "min_ts_floor", "retired_queue_len", "alloc_failures"],
)
def test_properties_are_read_only(prop):
    log = Timelog()
    try:
        with pytest.raises(AttributeError):
            setattr(log, prop, 1)
    finally:
        log.close()


def test_stub_and_marker_files_are_installed():
    import pathlib

    pkg = pathlib.Path(timelog.__file__).parent
    assert (pkg / "py.typed").exists()
    assert (pkg / "_timelog.pyi").exists()
