//! The table itself: every engine option with its kind, default, documentation and
//! setter (see the parent module).

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use timelog::AdaptiveConfig;

use super::{to_usize, BusyPolicy, Kind, Opt, Settings, Value};

/// A setter storing the value into a field of the settings.
macro_rules! set {
    ($($field:ident).+ : $conv:ident) => {
        |s, v| {
            s.$($field).+ = v.$conv();
            Ok(())
        }
    };
}

const U0: Value<'static> = Value::U64(0);
const I0: Value<'static> = Value::I64(0);

const fn opt(
    name: &'static str,
    kind: Kind,
    default: Value<'static>,
    (shown_default, allowed): (&'static str, &'static str),
    doc: &'static str,
    set: fn(&mut Settings, &Value<'_>) -> PyResult<()>,
) -> Opt {
    Opt { name, kind, group: None, default, shown_default, allowed, doc, set }
}

const fn grouped(group: &'static str, key: &'static str, o: Opt) -> Opt {
    let Opt { name, kind, default, shown_default, allowed, doc, set, .. } = o;
    Opt { name, kind, group: Some((group, key)), default, shown_default, allowed, doc, set }
}

/// An adaptive setting (given flat as `adaptive_<key>` or in the `adaptive` dict).
macro_rules! adaptive {
    ($key:literal, $field:ident, $kind:expr, $conv:ident, $allowed:literal, $doc:literal) => {
        grouped(
            "adaptive",
            $key,
            opt(
                concat!("adaptive_", $key),
                $kind,
                Value::Unset,
                ("engine default", $allowed),
                $doc,
                |s, v| {
                    s.adaptive.get_or_insert_with(AdaptiveConfig::default).$field = adaptive!(@conv $conv, v)?;
                    Ok(())
                },
            ),
        )
    };
    (@conv u64, $v:ident) => { PyResult::Ok($v.u64()) };
    (@conv i64, $v:ident) => { i64::try_from($v.u64()).map_err(|e| PyValueError::new_err(e.to_string())) };
    (@conv u32, $v:ident) => { u32::try_from($v.u64()).map_err(|e| PyValueError::new_err(e.to_string())) };
    (@conv f64, $v:ident) => { PyResult::Ok($v.f64()) };
}

/// Every option, in the reference's argument order (the order in which the facade
/// checks their types and ranges); the dicts last, in the order they are checked.
pub static OPTIONS: &[Opt] = &[
    opt(
        "time_unit",
        Kind::Choice {
            arg: 1,
            values: &["s", "ms", "us", "ns"],
            message: "Invalid time_unit: {!r} (expected 's', 'ms', 'us', or 'ns')",
        },
        Value::Str("ms"),
        ("`\"ms\"`", "`\"s\"`, `\"ms\"`, `\"us\"`, `\"ns\"`"),
        "the unit of the timestamps",
        |s, v| {
            s.unit = v
                .str()
                .parse()
                .map_err(|_| PyValueError::new_err(format!("invalid time_unit {:?}", v.str())))?;
            Ok(())
        },
    ),
    opt(
        "maintenance",
        Kind::Choice {
            arg: 2,
            values: &["background", "disabled"],
            message: "Invalid maintenance mode: {!r} (expected 'disabled' or 'background')",
        },
        Value::Str("background"),
        ("`\"background\"`", "`\"background\"`, `\"disabled\"`"),
        "\"background\" (a worker flushes and compacts) or \"disabled\" (drive it with flush(), \
         compact() and maint_step())",
        |s, v| {
            s.background = match v.str() {
                "background" => true,
                "disabled" => false,
                other => return Err(PyValueError::new_err(format!("invalid maintenance {other:?}"))),
            };
            Ok(())
        },
    ),
    opt(
        "memtable_max_bytes",
        Kind::Size,
        U0,
        ("0 (1 MiB)", ">= 0"),
        "memtable size that triggers a seal (0 = engine default)",
        set!(memtable_max_bytes: u64),
    ),
    opt(
        "target_page_bytes",
        Kind::Size,
        U0,
        ("0 (64 KiB)", "0 or >= 256"),
        "target size of a segment page (0 = engine default)",
        set!(target_page_bytes: u64),
    ),
    opt(
        "sealed_max_runs",
        Kind::Size,
        U0,
        ("0 (4)", "0 to 2**20"),
        "sealed memtables queued for flushing before writes report backpressure (0 = 4)",
        set!(sealed_max_runs: u64),
    ),
    opt(
        "ooo_budget_bytes",
        Kind::Size,
        U0,
        ("0 (a tenth of the memtable)", ">= 0"),
        "bytes of out-of-order records a memtable takes before it seals (0 = engine default)",
        set!(ooo_budget_bytes: u64),
    ),
    opt(
        "busy_policy",
        Kind::Choice {
            arg: 7,
            values: &["raise", "silent", "flush"],
            message: "Invalid busy_policy: {!r} (expected 'raise', 'silent', or 'flush')",
        },
        Value::Str("raise"),
        ("`\"raise\"`", "`\"raise\"`, `\"silent\"`, `\"flush\"` (section 6.6)"),
        "what a write does when the engine reports backpressure after storing it: \"raise\" \
         (TimelogBusyError; the data IS stored), \"silent\" or \"flush\" (flush synchronously)",
        |s, v| {
            s.policy = match v.str() {
                "raise" => BusyPolicy::Raise,
                "silent" => BusyPolicy::Silent,
                "flush" => BusyPolicy::Flush,
                other => return Err(PyValueError::new_err(format!("invalid busy_policy {other:?}"))),
            };
            Ok(())
        },
    ),
    opt(
        "sealed_wait_ms",
        Kind::U32,
        Value::U64(100),
        ("100", "0 to 2**32-1; 0 = never wait"),
        "how long a writer waits for room in background mode before reporting backpressure \
         (0 = do not wait); the wait runs without the GIL",
        |s, v| {
            s.sealed_wait = Duration::from_millis(v.u64());
            Ok(())
        },
    ),
    opt(
        "maintenance_wakeup_ms",
        Kind::U32,
        U0,
        ("0 (100 ms)", "0 to 2**32-1"),
        "period of the background worker's wake-ups (0 = engine default)",
        set!(maintenance_wakeup_ms: u64),
    ),
    opt(
        "drain_batch_limit",
        Kind::U32,
        U0,
        ("0 (no limit)", "0 to 2**32-1 (section 11)"),
        "payload objects released per call (0 = all)",
        |s, v| {
            s.drain_limit = to_usize(v.u64());
            Ok(())
        },
    ),
    opt(
        "max_delta_segments",
        Kind::Size,
        U0,
        ("0 (8)", ">= 0"),
        "L0 segments that trigger a compaction (0 = engine default)",
        set!(max_delta_segments: u64),
    ),
    opt(
        "window_size",
        Kind::I64NonNeg,
        U0,
        ("0 (one hour in `time_unit`)", "0 to 2**63-1"),
        "width of the L1 windows in time_unit (0 = engine default)",
        |s, v| {
            s.window_size = i64::try_from(v.u64()).map_err(|e| PyValueError::new_err(e.to_string()))?;
            Ok(())
        },
    ),
    opt("window_origin", Kind::I64, I0, ("0", "any int64"), "alignment of the L1 windows", |s, v| {
        s.window_origin = v.i64();
        Ok(())
    }),
    opt(
        "delete_debt_threshold",
        Kind::Fraction,
        Value::F64(0.0),
        ("0.0 (off)", "0.0 to 1.0"),
        "fraction of deleted records that triggers a compaction (0.0 = disabled)",
        set!(delete_debt_threshold: f64),
    ),
    grouped(
        "compaction",
        "target_bytes",
        opt(
            "compaction_target_bytes",
            Kind::Size,
            U0,
            ("0 (no cap)", ">= 0"),
            "bytes one compaction aims to write (0 = no cap)",
            set!(compaction.target_bytes: u64),
        ),
    ),
    grouped(
        "compaction",
        "max_inputs",
        opt(
            "max_compaction_inputs",
            Kind::U32,
            U0,
            ("0 (no cap)", "0 to 2**32-1"),
            "segments one compaction reads at most (0 = no cap)",
            |s, v| {
                s.compaction.max_inputs = u32::try_from(v.u64()).unwrap_or(u32::MAX);
                Ok(())
            },
        ),
    ),
    grouped(
        "compaction",
        "max_windows",
        opt(
            "max_compaction_windows",
            Kind::U32,
            U0,
            ("0 (no cap)", "0 to 2**32-1"),
            "L1 windows one compaction writes at most (0 = no cap)",
            |s, v| {
                s.compaction.max_windows = u32::try_from(v.u64()).unwrap_or(u32::MAX);
                Ok(())
            },
        ),
    ),
    adaptive!(
        "target_records",
        target_records,
        Kind::Size,
        u64,
        ">= 0; 0 = off",
        "records per window the adaptive window sizing aims at (0 = off)"
    ),
    adaptive!("min_window", min_window, Kind::I64NonNeg, i64, "0 to 2**63-1", "smallest adaptive window"),
    adaptive!("max_window", max_window, Kind::I64NonNeg, i64, "0 to 2**63-1", "largest adaptive window"),
    adaptive!(
        "hysteresis_pct",
        hysteresis_pct,
        Kind::U32,
        u32,
        "0 to 100 when on",
        "change (percent) below which the window is kept"
    ),
    adaptive!(
        "window_quantum",
        window_quantum,
        Kind::I64NonNeg,
        i64,
        "0 to 2**63-1",
        "the window is a multiple of this"
    ),
    adaptive!("alpha", alpha, Kind::Fraction, f64, "0.0 to 1.0", "smoothing factor of the density average"),
    adaptive!(
        "warmup_flushes",
        warmup_flushes,
        Kind::U32,
        u32,
        "0 to 2**32-1",
        "flushes before the first adjustment"
    ),
    adaptive!(
        "stale_flushes",
        stale_flushes,
        Kind::U32,
        u32,
        "0 to 2**32-1",
        "flushes after which a density reading is stale"
    ),
    adaptive!(
        "failure_backoff_threshold",
        failure_backoff_threshold,
        Kind::U32,
        u32,
        "0 to 2**32-1",
        "failed adjustments before backing off"
    ),
    adaptive!(
        "failure_backoff_pct",
        failure_backoff_pct,
        Kind::U32,
        u32,
        "0 to 2**32-1",
        "how much (percent) a back-off widens the window"
    ),
    opt(
        "adaptive",
        Kind::Dict,
        Value::Unset,
        ("None (off)", ""),
        "the adaptive window sizing settings as a dict (keys: the adaptive_ options without \
         the prefix)",
        |_, _| Ok(()),
    ),
    opt(
        "compaction",
        Kind::Dict,
        Value::Unset,
        ("None", ""),
        "the compaction caps as a dict (keys target_bytes, max_inputs, max_windows)",
        |_, _| Ok(()),
    ),
];
