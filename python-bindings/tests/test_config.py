"""Creating a log (docs/api.md, section 4): construction, options, presets, properties."""

import gc
import weakref

import pytest

from timelog import Timelog, TimelogError

TS_MIN, TS_MAX = -(2**63), 2**63 - 1


def ok(**kw):
    Timelog(maintenance="disabled", **kw).close()


def test_defaults():
    log = Timelog()
    try:
        assert log.time_unit == "ms"
        assert log.maintenance_mode == "background"
        assert log.busy_policy == "raise"
        assert log.min_ts_floor is None
        assert log.busy_events == 0 and log.extend_skipped == 0
        assert log.alloc_failures == 0
        assert isinstance(log.retired_queue_len, int)
        assert log.stats()["config"]["mostly_ordered_default"] is True
    finally:
        log.close()


def test_positional_and_unknown_keyword():
    with pytest.raises(TypeError):
        Timelog("ms")
    with pytest.raises(TypeError):
        Timelog(bogus=1)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_time_units(unit):
    log = Timelog(time_unit=unit, maintenance="disabled")
    assert log.time_unit == unit and log.stats()["config"]["time_unit"] == unit
    log.close()


@pytest.mark.parametrize(
    "kw,exc",
    [
        ({"time_unit": "MS"}, ValueError),
        ({"time_unit": None}, TypeError),
        ({"time_unit": b"ms"}, TypeError),
        ({"maintenance": "manual"}, ValueError),
        ({"maintenance": 1}, TypeError),
        ({"busy_policy": "ignore"}, ValueError),
        ({"busy_policy": None}, TypeError),
        ({"mostly_ordered_default": 1}, TypeError),
        ({"mostly_ordered_default": None}, TypeError),
        ({"min_ts": 1.5}, TypeError),
        ({"min_ts": True}, TypeError),
        ({"min_ts": 2**63}, OverflowError),
    ],
)
def test_enum_and_type_errors(kw, exc):
    with pytest.raises(exc):
        Timelog(**kw)


INT_OPTIONS = [
    "memtable_max_bytes", "target_page_bytes", "sealed_max_runs", "ooo_budget_bytes",
    "max_delta_segments", "window_size",
]
U32_OPTIONS = ["sealed_wait_ms", "maintenance_wakeup_ms", "drain_batch_limit"]


@pytest.mark.parametrize("name", INT_OPTIONS + U32_OPTIONS)
def test_int_option_rules(name):
    with pytest.raises(ValueError):
        Timelog(**{name: -1})
    with pytest.raises(TypeError):
        Timelog(**{name: 1.5})
    with pytest.raises(TypeError):
        Timelog(**{name: "1"})
    with pytest.raises(OverflowError):
        Timelog(**{name: 2**63})
    # The reference's sentinel leak (quirk 5) is fixed: -2**63 is validated.
    with pytest.raises(ValueError):
        Timelog(**{name: -(2**63)})
    ok(**{name: 0})


@pytest.mark.parametrize("name", U32_OPTIONS)
def test_u32_option_range(name):
    with pytest.raises(ValueError):
        Timelog(**{name: 2**32})
    ok(**{name: 2**32 - 1})


def test_bool_is_an_int_for_int_options():
    ok(sealed_max_runs=True)


def test_target_page_bytes_engine_minimum():
    with pytest.raises(ValueError):
        Timelog(target_page_bytes=100)
    with pytest.raises(ValueError):
        Timelog(target_page_bytes=255)
    ok(target_page_bytes=256)


def test_odd_but_accepted_values():
    ok(memtable_max_bytes=1)
    ok(ooo_budget_bytes=10 << 20, memtable_max_bytes=1 << 20)
    ok(window_size=1)


def test_window_origin():
    ok(window_origin=-(2**63))
    ok(window_origin=2**63 - 1)
    with pytest.raises(OverflowError):
        Timelog(window_origin=2**63)


@pytest.mark.parametrize("v,exc", [(1.01, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
                                   (float("inf"), ValueError), ("0.5", TypeError), (None, TypeError)])
def test_delete_debt_threshold_errors(v, exc):
    with pytest.raises(exc):
        Timelog(delete_debt_threshold=v)


def test_delete_debt_threshold_accepts_int_and_bool():
    ok(delete_debt_threshold=0.5)
    ok(delete_debt_threshold=1)
    ok(delete_debt_threshold=True)


def test_compaction_dict():
    ok(compaction={"target_bytes": 1 << 20, "max_inputs": 4, "max_windows": 2})
    ok(compaction=None)
    with pytest.raises(TypeError):
        Timelog(compaction=[("max_inputs", 1)])
    with pytest.raises(TypeError):
        Timelog(compaction={1: 2})
    with pytest.raises(ValueError):
        Timelog(compaction={"bogus": 1})
    with pytest.raises(TypeError):
        Timelog(compaction={"max_inputs": 1.0})
    with pytest.raises(ValueError):
        Timelog(compaction={"max_inputs": 2**32})
    with pytest.raises(ValueError):
        Timelog(compaction={"target_bytes": -1})


def test_adaptive_dict():
    ok(adaptive={"target_records": 1000, "alpha": 0.3, "min_window": 10, "max_window": 10**6,
                 "hysteresis_pct": 20, "window_quantum": 5, "warmup_flushes": 2,
                 "stale_flushes": 3, "failure_backoff_threshold": 2, "failure_backoff_pct": 25})
    ok(adaptive={"alpha": 1})
    with pytest.raises(ValueError):
        Timelog(adaptive={"bogus": 1})
    with pytest.raises(TypeError):
        Timelog(adaptive=5)
    with pytest.raises(ValueError):
        Timelog(adaptive={"alpha": 1.5})
    with pytest.raises(ValueError):
        Timelog(adaptive={"alpha": float("nan")})
    with pytest.raises(TypeError):
        Timelog(adaptive={"alpha": "0.5"})
    with pytest.raises(TypeError):
        Timelog(adaptive={"target_records": 1.5})
    with pytest.raises(ValueError):
        Timelog(adaptive={"hysteresis_pct": 2**32})


def test_adaptive_cross_field_validation():
    with pytest.raises(ValueError):
        Timelog(adaptive={"target_records": 10, "min_window": 100, "max_window": 10})
    with pytest.raises(ValueError):
        Timelog(adaptive={"target_records": 10, "hysteresis_pct": 101})
    # Disabled adaptive: no cross-field checks.
    ok(adaptive={"target_records": 0, "min_window": 100, "max_window": 10})


def test_flat_spellings_and_conflicts():
    ok(compaction_target_bytes=1, max_compaction_inputs=2, max_compaction_windows=3)
    ok(adaptive_target_records=5, adaptive_alpha=0.5, adaptive_min_window=1,
       adaptive_max_window=2, adaptive_hysteresis_pct=3, adaptive_window_quantum=1,
       adaptive_warmup_flushes=1, adaptive_stale_flushes=1,
       adaptive_failure_backoff_threshold=1, adaptive_failure_backoff_pct=1)
    with pytest.raises(ValueError):
        Timelog(compaction={"max_inputs": 4}, max_compaction_inputs=4)
    with pytest.raises(ValueError):
        Timelog(adaptive={"alpha": 0.5}, adaptive_alpha=0.5)
    with pytest.raises(ValueError, match="adaptive_alpha"):
        Timelog(adaptive_alpha=2.0)
    with pytest.raises(ValueError, match="max_compaction_inputs"):
        Timelog(max_compaction_inputs=2**40)


def test_adaptive_window_in_stats():
    log = Timelog(maintenance="disabled")
    assert log.stats()["adaptive"]["window"] == 0
    log.close()
    log = Timelog(maintenance="disabled", adaptive={"target_records": 100})
    assert log.stats()["adaptive"]["window"] == 3_600_000
    log.close()


def test_validation_failure_leaves_no_open_log():
    log = Timelog(maintenance="disabled")
    log.close()
    with pytest.raises(ValueError):
        log.reopen(memtable_max_bytes=-1)
    assert log.closed


def test_min_ts_floor_writes_a_tombstone():
    log = Timelog(maintenance="disabled", min_ts=100)
    assert log.min_ts_floor == 100
    assert log.stats()["storage"]["tombstone_count"] == 1
    assert log.stats()["config"]["min_ts"] == 100
    log.close()
    log = Timelog(maintenance="disabled", min_ts=TS_MIN)
    assert log.min_ts_floor == TS_MIN
    log.append(TS_MIN, "x")
    assert len(log) == 1
    log.close()


def test_presets_and_subclasses():
    class Sub(Timelog):
        __slots__ = ()

    for preset, mode, policy in [
        ("for_streaming", "background", "flush"),
        ("for_bulk_ingest", "disabled", "flush"),
        ("for_low_latency", "background", "raise"),
    ]:
        log = getattr(Sub, preset)()
        assert type(log) is Sub
        assert (log.maintenance_mode, log.busy_policy) == (mode, policy)
        log.close()
        with pytest.raises(TypeError):
            getattr(Sub, preset)(1)
    log = Timelog.for_low_latency(time_unit="ns")
    assert log.time_unit == "ns"
    log.close()


def test_mostly_ordered_default_in_stats():
    log = Timelog(maintenance="disabled", mostly_ordered_default=False)
    assert log.stats()["config"]["mostly_ordered_default"] is False
    log.close()


def test_init_twice_on_open_log():
    log = Timelog(maintenance="disabled")
    with pytest.raises(TypeError):
        log.__init__()
    log.close()


def test_self_referencing_log_is_collected():
    log = Timelog(maintenance="disabled")
    log[1] = log
    log[2] = [log]
    ref = weakref.ref(log)
    del log
    gc.collect()
    assert ref() is None


def test_log_is_closed_by_gc():
    import weakref as w

    class P:
        pass

    p = P()
    ref = w.ref(p)
    log = Timelog()
    log[1] = p
    del p, log
    gc.collect()
    assert ref() is None


def test_properties_after_close():
    log = Timelog(time_unit="us", busy_policy="silent", min_ts=5, maintenance="disabled")
    log.close()
    assert log.closed
    assert (log.time_unit, log.busy_policy, log.maintenance_mode, log.min_ts_floor) == (
        "us", "silent", "disabled", 5)
    assert log.busy_events == 0 and log.extend_skipped == 0
    with pytest.raises(TimelogError):
        log.stats()
