"""Private helpers of the ``timelog`` facade: timestamp coercion and option parsing.

Not a public API; imported by ``timelog/__init__.py`` (and by code written for the
reference implementation, which imports ``_coerce_ts`` and the two constants).
The options come from the native table ``timelog._timelog._OPTIONS``: this module
validates them, and renders their list for ``help(timelog.Timelog)`` and the docs.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from timelog._timelog import _OPTIONS as _TABLE
from timelog._timelog import TL_TS_MAX, TL_TS_MIN
from timelog._timelog import _coerce_ts as _coerce_ts

_U32_MAX = 2**32 - 1

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
_FRACTION = "fraction"  # a float option in [0.0, 1.0]
_KINDS: dict[str, Any] = {
    "size": (0, TL_TS_MAX, ">= 0", _OVERFLOW_SSIZE),
    "u32": (0, _U32_MAX, "0-4294967295", _OVERFLOW_SSIZE),
    "i64_nonneg": (0, TL_TS_MAX, "in [0, INT64_MAX]", _OVERFLOW_INT64),
    "i64": (TL_TS_MIN, TL_TS_MAX, "", _OVERFLOW_INT64),
    "fraction": _FRACTION,
}

# Every flat engine keyword, in the reference's argument order: name -> kind (the
# string options: their argument number in the reference, which its type error names).
_OPTIONS: dict[str, Any] = {
    row["name"]: row["arg"] if row["kind"] == "choice" else _KINDS[row["kind"]]
    for row in _TABLE
    if row["kind"] != "dict"
}

# name -> (default, allowed, message template), in the order they are checked.
_CHOICES: dict[str, tuple[str, tuple[str, ...], str]] = {
    row["name"]: (row["default"], tuple(row["values"]), row["message"])
    for row in _TABLE
    if row["kind"] == "choice"
}

# dict name -> {dict key: flat spelling}, in the order the reference checks the dicts.
_GROUPS: dict[str, dict[str, str]] = {
    row["name"]: {m["key"]: m["name"] for m in _TABLE if m["group"] == row["name"]}
    for row in _TABLE
    if row["kind"] == "dict"
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
    # The native side takes the flat names (the dict settings included).
    for name, v in values.items():
        if name not in _CHOICES:
            out[name] = v
    return out


# --------------------------------------------------------------------------------------
# The option list, rendered from the table for help(timelog.Timelog) and docs/api.md.


def _options_help() -> str:
    """The engine options as the ``Timelog`` docstring lists them."""
    lines = []
    for row in _TABLE:
        if row["group"] is not None:
            continue
        lines.append(f"        {row['name']} ({row['type']}, default {row['shown_default'].replace('`', '')}):")
        lines.append(f"            {row['doc']}.")
    flat = ", ".join(row["name"] for row in _TABLE if row["group"] is not None)
    lines.append(f"        The dict settings may also be given flat: {flat}.")
    return "\n".join(lines)


def _options_markdown() -> str:
    """The option table of docs/api.md, section 4 (a test keeps the docs equal to it)."""
    lines = ["| option | type | default | allowed |", "|---|---|---|---|"]
    for row in _TABLE:
        if row["group"] is not None:
            continue
        allowed = row["allowed"]
        if row["kind"] == "dict":
            members = [m for m in _TABLE if m["group"] == row["name"]]
            allowed = "keys " + ", ".join(f"`{m['key']}` ({m['allowed']})" for m in members)
        lines.append(f"| `{row['name']}` | {row['type']} | {row['shown_default']} | {allowed} |")
    flat = ", ".join(f"`{row['name']}`" for row in _TABLE if row["group"] is not None)
    lines += [
        "",
        "The dict settings may also be spelled flat, as the reference allows: "
        f"{flat}. Giving one setting both ways is a `ValueError`.",
    ]
    return "\n".join(lines)

