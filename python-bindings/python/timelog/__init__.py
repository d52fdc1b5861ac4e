"""timelog: an in-memory, time-indexed multimap of ``(timestamp, object)`` records.

A drop-in replacement for ``timelog-lib`` 1.4.0, backed by the lock-free Rust
engine ``timelog-engine``.

Example::

    >>> from timelog import Timelog
    >>> log = Timelog(maintenance="disabled")
    >>> log[1000] = "a"
    >>> log.extend([(999, "b"), (1001, "c")])
    >>> [ts for ts, _ in log[1000:]]
    [1000, 1001]
    >>> log.close()
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import Any, Iterator

try:
    from timelog._timelog import (
        PageSpan,
        PageSpanIter,
        PageSpanObjectsView,
        TimelogArrowStream,  # not in __all__ (the reference's list); returned by to_arrow()
        TimelogBusyError,
        TimelogError,
        TimelogIter,
    )
    from timelog._timelog import Timelog as _NativeTimelog
except ImportError as e:  # pragma: no cover - only on a broken install
    raise ImportError(
        "timelog: the native extension timelog._timelog could not be imported; "
        "reinstall the timelog-engine package"
    ) from e

from timelog._api import TL_TS_MAX, TL_TS_MIN, _coerce_ts, _options_help, _parse_options

Record = tuple[int, object]
RecordIter = Iterator[Record]
RecordBatch = list[Record]

_KEEP = object()


def _resolve_version() -> str:
    """The installed version: this distribution first, then the reference's names."""
    for dist in ("timelog-engine", "timelog-lib", "timelog"):
        try:
            return _metadata.version(dist)
        except _metadata.PackageNotFoundError:
            continue
    return "0+unknown"


__version__ = _resolve_version()


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be bool, not {type(value).__name__}")
    return value


class Timelog(_NativeTimelog):
    """Time-indexed multimap of ``(timestamp, object)`` records.

    Timestamps are signed 64-bit integers in the log's ``time_unit``; records are
    never replaced (many may share a timestamp); objects are stored by reference.
    Ranges are half-open ``[t1, t2)``. Reads run on immutable snapshots: an
    iterator never sees writes made after it was created. Deletes are range
    tombstones that hide only records written before them.

    Keyword-only arguments:
        min_ts: a floor; writes below it raise ValueError (and a tombstone covering
            ``[TL_TS_MIN, min_ts)`` is written at open). ``None``: no floor.
        mostly_ordered_default: default of ``extend(mostly_ordered=...)`` (a hint
            with no observable effect). Must be a bool.

    Engine options (keyword-only; the list below comes from the native option table,
    ``timelog._timelog._OPTIONS``, as do the checks of ``timelog._api``)::

<OPTIONS>

    Thread safety: any number of threads may read (iterate, export, navigate)
    while one thread writes; writes from several threads are also safe (the engine
    is lock-free) but their relative order is unspecified. ``close()``/``reopen()``
    must not run concurrently with other calls (they raise TimelogError instead
    of waiting if another thread is inside the log).
    """

    __slots__ = ()

    def __init__(self, *, min_ts: Any = None, mostly_ordered_default: bool = True, **options: Any) -> None:
        """Opens the log (keyword-only options: see the class documentation)."""
        if not self.closed:
            raise TypeError("Timelog.__init__() called on an already initialised, open log")
        _check_bool("mostly_ordered_default", mostly_ordered_default)
        floor = None if min_ts is None else _coerce_ts(min_ts)
        parsed = _parse_options(options)
        self._open(parsed, floor, mostly_ordered_default)

    def reopen(self, *, min_ts: Any = _KEEP, mostly_ordered_default: Any = _KEEP, **options: Any) -> None:
        """Opens a fresh, empty engine on this (closed) log.

        Engine options are not inherited (anything not passed gets its default);
        ``min_ts`` and ``mostly_ordered_default`` are kept unless passed
        (``min_ts=None`` clears the floor). Raises TimelogError if the log is open.
        """
        if not self.closed:
            raise TimelogError("Timelog must be closed to reopen")
        if mostly_ordered_default is _KEEP:
            mostly = self._mostly_ordered_default
        else:
            mostly = _check_bool("mostly_ordered_default", mostly_ordered_default)
        if min_ts is _KEEP:
            floor = self.min_ts_floor
        else:
            floor = None if min_ts is None else _coerce_ts(min_ts)
        parsed = _parse_options(options)
        self._open(parsed, floor, mostly)

    def configure(self, *, min_ts: Any = _KEEP, mostly_ordered_default: Any = _KEEP, **options: Any) -> None:
        """Alias of :meth:`reopen`."""
        self.reopen(min_ts=min_ts, mostly_ordered_default=mostly_ordered_default, **options)

    # ----- presets -----------------------------------------------------------------------

    @classmethod
    def for_streaming(cls, **overrides: Any) -> "Timelog":
        """A log for streaming writes: background maintenance, ``busy_policy="flush"``."""
        return cls(**({"maintenance": "background", "busy_policy": "flush"} | overrides))

    @classmethod
    def for_bulk_ingest(cls, **overrides: Any) -> "Timelog":
        """A log for bulk loads: no background maintenance, 16 MiB memtable,
        ``busy_policy="flush"``. Call ``flush()`` after loading."""
        return cls(
            **(
                {
                    "maintenance": "disabled",
                    "busy_policy": "flush",
                    "memtable_max_bytes": 16 * 1024 * 1024,
                }
                | overrides
            )
        )

    @classmethod
    def for_low_latency(cls, **overrides: Any) -> "Timelog":
        """A log for low latency: 256 KiB memtable, no backpressure wait,
        ``busy_policy="raise"``."""
        return cls(
            **(
                {
                    "maintenance": "background",
                    "busy_policy": "raise",
                    "memtable_max_bytes": 256 * 1024,
                    "sealed_wait_ms": 0,
                }
                | overrides
            )
        )

    # ----- context manager, repr, copying --------------------------------------------

    def __enter__(self) -> "Timelog":
        """``with Timelog(...) as log:`` returns the log (TimelogError if it is closed)."""
        if self.closed:
            raise TimelogError("Timelog is closed")
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        """Closes the log. If the block raised and ``close()`` fails too (e.g. a live
        iterator), the block's exception propagates with a note saying why."""
        if exc is None:
            self.close()
            return False
        try:
            self.close()
        except TimelogError as close_err:
            # The body's exception propagates; record why the log is still open.
            exc.add_note(f"Timelog.close() failed while handling this exception: {close_err}")
        return False

    def __repr__(self) -> str:
        """``<Timelog len~N time_unit='ms' [min..max]>`` (``<Timelog closed>`` once closed)."""
        name = type(self).__name__
        try:
            if self.closed:
                return f"<{name} closed>"
            s = self.stats()["storage"]
            lo, hi = s["min_ts"], s["max_ts"]
            span = f" [{lo}..{hi}]" if lo is not None and hi is not None else ""
            return f"<{name} len~{s['records_estimate']} time_unit={self.time_unit!r}{span}>"
        except Exception:
            return object.__repr__(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")

    def __copy__(self) -> Any:
        raise TypeError(f"cannot copy {type(self).__name__!r} object")

    def __deepcopy__(self, memo: Any) -> Any:
        raise TypeError(f"cannot deepcopy {type(self).__name__!r} object")

    # ----- private helpers of the reference, kept for code that uses them ------------

    @property
    def _min_ts(self) -> int | None:
        """The min_ts floor (alias kept from the reference implementation)."""
        return self.min_ts_floor

    def _check_min_ts(self, ts: int) -> None:
        """Raises ValueError if ``ts`` is below the min_ts floor."""
        floor = self.min_ts_floor
        if floor is not None and ts < floor:
            raise ValueError(f"timestamp {ts} is below min_ts boundary ({floor})")

    def _coerce_and_guard(self, ts: Any) -> int:
        """Strictly coerces ``ts`` and checks it against the floor."""
        t = _coerce_ts(ts)
        self._check_min_ts(t)
        return t

    # ----- exports -----------------------------------------------------------------------

    def to_numpy(self, t1: Any = None, t2: Any = None, *, dtype: Any = None) -> tuple[Any, Any]:
        """Exports ``[t1, t2)`` (slicing bounds) as ``(timestamps, values)``: two new
        1-D, C-contiguous, writeable numpy arrays of equal length.

        ``timestamps`` is int64; ``values`` is float64 unless ``dtype`` (an integer or
        float numpy dtype) is given. Values convert as numpy converts them (``True`` ->
        1.0, ``None`` -> NaN for floats / TypeError for integers, numeric strings,
        Decimal, ...). A value that cannot be converted raises its original exception
        with a note naming the row. Requires numpy.
        """
        try:
            import numpy as np
        except ImportError as e:
            raise ImportError(
                "Timelog.to_numpy() requires numpy; install it with `pip install numpy` "
                "(to_dict() and iteration work without it)"
            ) from e
        value_dtype = np.dtype(np.float64 if dtype is None else dtype)
        if value_dtype.kind not in "iuf":
            raise TypeError(
                "to_numpy() dtype must be a numeric dtype (signed/unsigned integer or "
                f"float), not {value_dtype!r}"
            )
        if value_dtype == np.dtype(np.float64):
            kind = "f8"
        elif value_dtype == np.dtype(np.int64):
            kind = "i8"
        else:
            kind = "obj"
        ts_buf, vals, slow_rows, slow_objs = self._to_numpy_raw(t1, t2, kind)
        timestamps = np.frombuffer(ts_buf, dtype=np.int64)
        n = len(timestamps)
        if kind == "obj":
            values = np.empty(n, dtype=value_dtype)
            rows = range(n)
            objs = vals
        else:
            values = np.frombuffer(vals, dtype=value_dtype)
            rows = slow_rows
            objs = slow_objs
        if objs:
            try:
                values[np.asarray(rows, dtype=np.intp)] = np.fromiter(objs, dtype=object, count=len(objs))
            except Exception:
                # Find the first row that fails, and raise its error with the row.
                for row, obj in zip(rows, objs):
                    try:
                        values[row] = obj
                    except Exception as exc:
                        exc.add_note(f"to_numpy(): raised at row {row} of {n}")
                        raise
                raise
        return timestamps, values


Timelog.__doc__ = (Timelog.__doc__ or "").replace("<OPTIONS>", _options_help())


__all__ = [
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
