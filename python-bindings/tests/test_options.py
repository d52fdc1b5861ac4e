"""The engine options have one table, the native ``timelog._timelog._OPTIONS``: the
facade's validation, ``help(timelog.Timelog)`` and the option table of docs/api.md all
come from it, and the native parser reads every option of it. These tests fail when one
of them drifts from the table.

To update the docs after a change of the table, replace the text between the two
markers of docs/api.md with the output of
``python -c "import timelog._api as a; print(a._options_markdown())"``.
"""

import pathlib
import re

import pytest

import timelog
from timelog import Timelog, _api
from timelog import _timelog as native

ROOT = pathlib.Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"
STUB = ROOT / "python" / "timelog" / "_timelog.pyi"
BEGIN = "<!-- options: begin (generated: print(timelog._api._options_markdown())) -->"
END = "<!-- options: end -->"

TABLE = native._OPTIONS
NAMES = [row["name"] for row in TABLE]
FLAT = [row["name"] for row in TABLE if row["kind"] != "dict"]
DICTS = [row["name"] for row in TABLE if row["kind"] == "dict"]
TOP = [row["name"] for row in TABLE if row["group"] is None]


def test_table_is_well_formed():
    assert len(NAMES) == len(set(NAMES))
    keys = {"name", "kind", "type", "default", "group", "key", "shown_default", "allowed", "doc"}
    for row in TABLE:
        assert keys <= set(row), row["name"]
        assert row["doc"], row["name"]
        if row["group"] is not None:
            assert row["group"] in DICTS and row["key"], row["name"]
        if row["kind"] == "choice":
            assert row["default"] in row["values"], row["name"]
    assert DICTS == ["adaptive", "compaction"]  # the order the reference checks them


def test_facade_validates_exactly_the_table():
    assert list(_api._OPTIONS) == FLAT
    assert _api.KNOWN_OPTIONS == frozenset(NAMES)
    assert list(_api._CHOICES) == [row["name"] for row in TABLE if row["kind"] == "choice"]
    for group, keys in _api._GROUPS.items():
        assert list(keys.values()) == [row["name"] for row in TABLE if row["group"] == group]


def test_native_parser_reads_every_flat_option():
    # Each flat option given alone at its default (or a valid value for the unset
    # adaptive ones) opens a log: the native parser knows its name and type.
    for row in TABLE:
        if row["kind"] == "dict":
            continue
        value = row["default"]
        if value is None:
            value = 0.5 if row["kind"] == "fraction" else 1
        parsed = _api._parse_options({row["name"]: value})
        assert parsed[row["name"]] == value
        log = Timelog(**({"maintenance": "disabled"} | {row["name"]: value}))
        log.close()


def test_native_parser_applies_the_options():
    log = Timelog(time_unit="us", maintenance="disabled", busy_policy="flush")
    try:
        assert (log.time_unit, log.maintenance_mode, log.busy_policy) == ("us", "disabled", "flush")
    finally:
        log.close()
    # An adaptive setting given flat reaches the engine (its own cross-field check).
    with pytest.raises(ValueError, match="adaptive_min_window"):
        Timelog(adaptive_target_records=10, adaptive_min_window=5, adaptive_max_window=1)
    with pytest.raises(ValueError, match="adaptive_min_window"):
        Timelog(adaptive={"target_records": 10, "min_window": 5, "max_window": 1})


def test_docs_option_table_is_the_rendered_table():
    text = API_MD.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    between = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert between == _api._options_markdown(), (
        "docs/api.md's option table differs from the native table; replace it with the "
        "output of `timelog._api._options_markdown()`"
    )


def test_docs_table_names_every_option():
    rendered = _api._options_markdown()
    for name in NAMES:
        assert f"`{name}`" in rendered, name


def test_help_lists_every_option():
    doc = Timelog.__doc__
    assert "<OPTIONS>" not in doc
    for name in TOP:
        assert re.search(rf"^\s+{name} \(", doc, re.M), name
    for name in NAMES:
        assert name in doc, name


def test_stub_declares_the_table():
    stub = STUB.read_text()
    assert "_OPTIONS: tuple[dict[str, Any], ...]" in stub
    assert "def _coerce_ts(x: object) -> int:" in stub


def test_one_timestamp_coercion():
    # The facade's `_coerce_ts` is the native coercion every method uses.
    assert _api._coerce_ts is native._coerce_ts
    assert timelog._coerce_ts is native._coerce_ts
