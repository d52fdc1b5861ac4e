"""Private helpers of the ``timelog`` facade: timestamp coercion and option parsing.

Not a public API; imported by ``timelog/__init__.py`` (and by code written for the
reference implementation, which imports ``_coerce_ts`` and the two constants).
"""

from __future__ import annotations

import datetime as _datetime
import math
import operator
from typing import Any

TL_TS_MIN = -(2**63)
TL_TS_MAX = 2**63 - 1

_U32_MAX = 2**32 - 1


def _coerce_ts(x: object) -> int:
    """Strictly coerce ``x`` to an int64 timestamp (contract section 2.1).

    ``bool`` is rejected, anything with ``__index__`` is accepted.

    Raises:
        TypeError: ``x`` is a bool or has no ``__index__`` (floats and datetimes get
            an explanatory message).
        OverflowError: the value is outside the int64 range.
    """
    if isinstance(x, bool):
        raise TypeError("timestamp must be an int, not bool")
    try:
        ts = operator.index(x)  # type: ignore[arg-type]
    except TypeError:
        if isinstance(x, _datetime.date):
            raise TypeError(
                "timestamps are integers in the log's time_unit; convert a datetime with "
                "e.g. int(dt.timestamp() * 1000) for time_unit='ms'"
            ) from None
        if isinstance(x, float) or type(x).__name__.startswith("float"):
            raise TypeError(
                f"timestamps are integers in the log's time_unit, not float ({x!r}); use "
                "int(x), or a finer time_unit ('us'/'ns') for sub-unit precision"
            ) from None
        raise
    if ts < TL_TS_MIN or ts > TL_TS_MAX:
        raise OverflowError(
            f"timestamp {ts} is outside int64 range [{TL_TS_MIN}, {TL_TS_MAX}]"
        )
    return ts


# --------------------------------------------------------------------------------------
# Option parsing


def _int_option(name: str, value: object, lo: int, hi: int) -> int:
    """An int-like option: ``__index__`` required (so ``True`` is 1), int64 range
    (OverflowError), then ``lo..hi`` (ValueError)."""
    if isinstance(value, (float, str, bytes)) or value is None:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    try:
        v = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None
    if v < TL_TS_MIN or v > TL_TS_MAX:
        raise OverflowError(f"{name}={v} does not fit in int64")
    if v < lo or v > hi:
        raise ValueError(f"invalid argument: {name}={v} is outside [{lo}, {hi}]")
    return v


def _float_option(name: str, value: object) -> float:
    """A fraction option in [0.0, 1.0] (ints and bools accepted)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a float, not {type(value).__name__}")
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a float, not {type(value).__name__}") from None
    if not math.isfinite(f):
        raise ValueError(f"invalid argument: {name} must be finite, got {f}")
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"invalid argument: {name}={f} is outside [0.0, 1.0]")
    return f


def _enum_option(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if value not in allowed:
        raise ValueError(
            f"invalid argument: {name} must be one of {', '.join(map(repr, allowed))}, "
            f"not {value!r}"
        )
    return value


_I63 = TL_TS_MAX

# name -> (lo, hi) for the plain integer options.
_INT_OPTIONS: dict[str, tuple[int, int]] = {
    "memtable_max_bytes": (0, _I63),
    "target_page_bytes": (0, _I63),
    "sealed_max_runs": (0, _I63),
    "ooo_budget_bytes": (0, _I63),
    "sealed_wait_ms": (0, _U32_MAX),
    "maintenance_wakeup_ms": (0, _U32_MAX),
    "drain_batch_limit": (0, _U32_MAX),
    "max_delta_segments": (0, _I63),
    "window_size": (0, _I63),
    "window_origin": (TL_TS_MIN, TL_TS_MAX),
}

# dict key -> (flat spelling, lo, hi)
_COMPACTION_KEYS: dict[str, tuple[str, int, int]] = {
    "target_bytes": ("compaction_target_bytes", 0, _I63),
    "max_inputs": ("max_compaction_inputs", 0, _U32_MAX),
    "max_windows": ("max_compaction_windows", 0, _U32_MAX),
}

# dict key -> (flat spelling, lo, hi); alpha is the float one (lo/hi unused).
_ADAPTIVE_KEYS: dict[str, tuple[str, int, int]] = {
    "target_records": ("adaptive_target_records", 0, _I63),
    "min_window": ("adaptive_min_window", 0, _I63),
    "max_window": ("adaptive_max_window", 0, _I63),
    "window_quantum": ("adaptive_window_quantum", 0, _I63),
    "hysteresis_pct": ("adaptive_hysteresis_pct", 0, _U32_MAX),
    "warmup_flushes": ("adaptive_warmup_flushes", 0, _U32_MAX),
    "stale_flushes": ("adaptive_stale_flushes", 0, _U32_MAX),
    "failure_backoff_threshold": ("adaptive_failure_backoff_threshold", 0, _U32_MAX),
    "failure_backoff_pct": ("adaptive_failure_backoff_pct", 0, _U32_MAX),
    "alpha": ("adaptive_alpha", 0, 0),
}

_FLAT_COMPACTION = {flat: key for key, (flat, _, _) in _COMPACTION_KEYS.items()}
_FLAT_ADAPTIVE = {flat: key for key, (flat, _, _) in _ADAPTIVE_KEYS.items()}

KNOWN_OPTIONS = frozenset(
    {"time_unit", "maintenance", "busy_policy", "delete_debt_threshold", "compaction", "adaptive"}
    | set(_INT_OPTIONS)
    | set(_FLAT_COMPACTION)
    | set(_FLAT_ADAPTIVE)
)


def _group(
    name: str,
    given: object,
    keys: dict[str, tuple[str, int, int]],
    flat: dict[str, str],
    options: dict[str, Any],
) -> dict[str, Any] | None:
    """Merges the ``compaction``/``adaptive`` dict with its deprecated flat spellings."""
    out: dict[str, Any] = {}
    if given is not None:
        if not isinstance(given, dict):
            raise TypeError(f"{name} must be a dict or None, not {type(given).__name__}")
        for k, v in given.items():
            if not isinstance(k, str):
                raise TypeError(f"{name} keys must be str, not {type(k).__name__}")
            if k not in keys:
                raise ValueError(
                    f"invalid argument: unknown {name} key {k!r} (known: {', '.join(keys)})"
                )
            out[k] = v
    for flat_name, key in flat.items():
        if flat_name in options:
            if key in out:
                raise ValueError(
                    f"invalid argument: {flat_name} given both flat and in {name}[{key!r}]"
                )
            out[key] = options[flat_name]
    parsed: dict[str, Any] = {}
    for k, v in out.items():
        flat_name, lo, hi = keys[k]
        if k == "alpha":
            parsed[k] = _float_option(flat_name, v)
        else:
            parsed[k] = _int_option(flat_name, v, lo, hi)
    if given is None and not out:
        return None
    return parsed


def _parse_options(options: dict[str, Any]) -> dict[str, Any]:
    """Validates the engine keyword options of ``Timelog(...)`` / ``reopen(...)``.

    Returns a dict for the native ``_open``. Raises TypeError for an unknown keyword
    or a wrong type, ValueError / OverflowError for a value out of range.
    """
    for k in options:
        if k not in KNOWN_OPTIONS:
            raise TypeError(f"Timelog() got an unexpected keyword argument {k!r}")
    out: dict[str, Any] = {
        "time_unit": _enum_option("time_unit", options.get("time_unit", "ms"), ("s", "ms", "us", "ns")),
        "maintenance": _enum_option(
            "maintenance", options.get("maintenance", "background"), ("background", "disabled")
        ),
        "busy_policy": _enum_option(
            "busy_policy", options.get("busy_policy", "raise"), ("raise", "silent", "flush")
        ),
    }
    for name, (lo, hi) in _INT_OPTIONS.items():
        if name in options:
            out[name] = _int_option(name, options[name], lo, hi)
    if "delete_debt_threshold" in options:
        out["delete_debt_threshold"] = _float_option(
            "delete_debt_threshold", options["delete_debt_threshold"]
        )
    comp = _group("compaction", options.get("compaction"), _COMPACTION_KEYS, _FLAT_COMPACTION, options)
    if comp:
        for key, v in comp.items():
            out[_COMPACTION_KEYS[key][0]] = v
    out["adaptive"] = _group("adaptive", options.get("adaptive"), _ADAPTIVE_KEYS, _FLAT_ADAPTIVE, options)
    return out
