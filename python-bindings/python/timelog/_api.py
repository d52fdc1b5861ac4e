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
    """Strictly coerce ``x`` to an int64 timestamp (see docs/api.md, "Timestamps").

    ``bool`` is rejected, anything with ``__index__`` is accepted.

    Raises:
        TypeError: ``x`` is a bool or has no ``__index__`` (floats and datetimes get
            an explanatory message).
        OverflowError: the value is outside the int64 range.
    """
    if isinstance(x, bool):
        raise TypeError("timestamp must be int (bool not allowed)")
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
                "int(x), or a finer time_unit ('us'/'ns') if you need sub-unit precision "
                f"('{type(x).__name__}' object cannot be interpreted as an integer)"
            ) from None
        raise
    if ts < TL_TS_MIN or ts > TL_TS_MAX:
        raise OverflowError(
            f"timestamp {ts} is outside int64 range [{TL_TS_MIN}, {TL_TS_MAX}]"
        )
    return ts


# --------------------------------------------------------------------------------------
# Option parsing
#
# The messages embed, verbatim, the text timelog-lib 1.4.0 raises for the same mistake
# (code written for the reference matches on it), and the checks run in the same order:
# unknown keywords, then the type of every flat option (in the reference's argument
# order), then the ``adaptive`` and ``compaction`` dicts, then the three string choices,
# then the ranges, and last the engine's own cross-field validation.

# Messages of the value classes, keyed by how the reference converts the option.
_OVERFLOW_SSIZE = "Python int too large to convert to C ssize_t"
_OVERFLOW_INT64 = "int too big to convert"

# Range kinds: (lo, hi, wording of the ValueError, overflow text).
_NONNEG = (0, TL_TS_MAX, ">= 0", _OVERFLOW_SSIZE)
_U32 = (0, _U32_MAX, "0-4294967295", _OVERFLOW_SSIZE)
_I64_NONNEG = (0, TL_TS_MAX, "in [0, INT64_MAX]", _OVERFLOW_INT64)
_I64_ANY = (TL_TS_MIN, TL_TS_MAX, "", _OVERFLOW_INT64)
_FRACTION = "fraction"  # a float option in [0.0, 1.0]

# Every engine keyword, in the reference's argument order: name -> kind. (time_unit,
# maintenance and busy_policy are its string arguments 1, 2 and 7.)
_OPTIONS: dict[str, Any] = {
    "time_unit": 1,
    "maintenance": 2,
    "memtable_max_bytes": _NONNEG,
    "target_page_bytes": _NONNEG,
    "sealed_max_runs": _NONNEG,
    "ooo_budget_bytes": _NONNEG,
    "busy_policy": 7,
    "sealed_wait_ms": _U32,
    "maintenance_wakeup_ms": _U32,
    "drain_batch_limit": _U32,
    "max_delta_segments": _NONNEG,
    "window_size": _I64_NONNEG,
    "window_origin": _I64_ANY,
    "delete_debt_threshold": _FRACTION,
    "compaction_target_bytes": _NONNEG,
    "max_compaction_inputs": _U32,
    "max_compaction_windows": _U32,
    "adaptive_target_records": _NONNEG,
    "adaptive_min_window": _I64_NONNEG,
    "adaptive_max_window": _I64_NONNEG,
    "adaptive_hysteresis_pct": _U32,
    "adaptive_window_quantum": _I64_NONNEG,
    "adaptive_alpha": _FRACTION,
    "adaptive_warmup_flushes": _U32,
    "adaptive_stale_flushes": _U32,
    "adaptive_failure_backoff_threshold": _U32,
    "adaptive_failure_backoff_pct": _U32,
}

_CHOICES: dict[str, tuple[str, tuple[str, ...], str]] = {
    # name -> (default, allowed, message template)
    "time_unit": ("ms", ("s", "ms", "us", "ns"), "Invalid time_unit: {!r} (expected 's', 'ms', 'us', or 'ns')"),
    "maintenance": (
        "background",
        ("background", "disabled"),
        "Invalid maintenance mode: {!r} (expected 'disabled' or 'background')",
    ),
    "busy_policy": (
        "raise",
        ("raise", "silent", "flush"),
        "Invalid busy_policy: {!r} (expected 'raise', 'silent', or 'flush')",
    ),
}

# dict name -> {dict key: flat spelling}, in the order the reference checks the dicts.
_GROUPS: dict[str, dict[str, str]] = {
    "adaptive": {
        "target_records": "adaptive_target_records",
        "min_window": "adaptive_min_window",
        "max_window": "adaptive_max_window",
        "hysteresis_pct": "adaptive_hysteresis_pct",
        "window_quantum": "adaptive_window_quantum",
        "alpha": "adaptive_alpha",
        "warmup_flushes": "adaptive_warmup_flushes",
        "stale_flushes": "adaptive_stale_flushes",
        "failure_backoff_threshold": "adaptive_failure_backoff_threshold",
        "failure_backoff_pct": "adaptive_failure_backoff_pct",
    },
    "compaction": {
        "target_bytes": "compaction_target_bytes",
        "max_inputs": "max_compaction_inputs",
        "max_windows": "max_compaction_windows",
    },
}

KNOWN_OPTIONS = frozenset(set(_OPTIONS) | set(_GROUPS))


def _type_name(value: object) -> str:
    return type(value).__name__


def _int_value(name: str, value: object, kind: tuple[int, int, str, str], in_dict: str | None) -> int:
    """Type and int64 checks of an int option (``in_dict``: the dict it came from)."""
    lo, hi, wording, overflow = kind
    try:
        if isinstance(value, (float, str, bytes)):
            raise TypeError
        v = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        if in_dict is not None:
            raise TypeError(
                f"{in_dict}: an integer is required, not {_type_name(value)} "
                f"(the value of {name})"
            ) from None
        raise TypeError(
            f"{name}: '{_type_name(value)}' object cannot be interpreted as an integer"
        ) from None
    if v < TL_TS_MIN or v > TL_TS_MAX:
        raise OverflowError(f"{name}={v} does not fit in int64: {overflow}")
    return v


def _float_value(name: str, value: object) -> float:
    """Type check of a float option (int and bool accepted, as float() would)."""
    if isinstance(value, (int, float)) or hasattr(value, "__float__") or hasattr(value, "__index__"):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
    raise TypeError(f"{name}: must be real number, not {_type_name(value)}")


def _check_range(name: str, value: Any) -> None:
    kind = _OPTIONS[name]
    if kind == _FRACTION:
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite (got {value})")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0.0, 1.0] (got {value})")
        return
    lo, hi, wording, _ = kind
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be {wording} (got {value})")


def _parse_options(options: dict[str, Any]) -> dict[str, Any]:
    """Validates the engine keyword options of ``Timelog(...)`` / ``reopen(...)``.

    Returns a dict for the native ``_open``. Raises TypeError for an unknown keyword
    or a wrong type, OverflowError for an int outside int64, ValueError for a value
    outside its range (see the order above).
    """
    for k in options:
        if k not in KNOWN_OPTIONS:
            raise TypeError(
                f"{k!r} is an invalid keyword argument for this function (Timelog(); known "
                "options are listed in help(timelog.Timelog))"
            )
    values: dict[str, Any] = {}
    # 1. Types of the flat options, in argument order.
    for name, kind in _OPTIONS.items():
        if name not in options:
            continue
        value = options[name]
        if isinstance(kind, int):
            if not isinstance(value, str):
                shown = "None" if value is None else _type_name(value)
                raise TypeError(f"{name}: argument {kind} must be str, not {shown}")
            values[name] = value
        elif kind == _FRACTION:
            values[name] = _float_value(name, value)
        else:
            values[name] = _int_value(name, value, kind, None)
    # 2. The dicts: type, keys, value types, then a setting given both ways.
    groups: dict[str, dict[str, Any] | None] = {}
    for group, keys in _GROUPS.items():
        given = options.get(group)
        if given is None:
            groups[group] = None
            continue
        if not isinstance(given, dict):
            raise TypeError(f"{group} must be a dict or None, not {_type_name(given)}")
        for k in given:
            if not isinstance(k, str):
                raise TypeError(f"{group} keys must be str, not {_type_name(k)}")
            if k not in keys:
                raise ValueError(
                    f"Unknown key {k!r} in {group} dict (known keys: {', '.join(keys)})"
                )
        parsed: dict[str, Any] = {}
        for k, v in given.items():
            flat = keys[k]
            kind = _OPTIONS[flat]
            if kind == _FRACTION:
                parsed[k] = _float_value(flat, v)
            else:
                parsed[k] = _int_value(flat, v, kind, f"{group}[{k!r}]")
        for k in parsed:
            if keys[k] in options:
                raise ValueError(
                    f"Cannot specify both {keys[k]} and {group}={{{k!r}: ...}}"
                )
        groups[group] = parsed
        for k, v in parsed.items():
            values[keys[k]] = v
    # 3. The string choices.
    out: dict[str, Any] = {}
    for name, (default, allowed, template) in _CHOICES.items():
        value = values.get(name, default)
        if value not in allowed:
            raise ValueError(template.format(value))
        out[name] = value
    # 4. Ranges, in argument order.
    for name in _OPTIONS:
        if name in values and name not in _CHOICES:
            _check_range(name, values[name])
    # The native side takes the flat names, except the adaptive settings (a dict).
    for name, v in values.items():
        if name in _CHOICES or name.startswith("adaptive_"):
            continue
        out[name] = v
    adaptive: dict[str, Any] | None = None
    if groups["adaptive"] is not None or any(f in values for f in _GROUPS["adaptive"].values()):
        adaptive = {k: values[f] for k, f in _GROUPS["adaptive"].items() if f in values}
    out["adaptive"] = adaptive
    return out
