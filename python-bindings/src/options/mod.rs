//! The one table of engine options of `Timelog(**options)` / `reopen(**options)`.
//!
//! [`OPTIONS`] lists every keyword: its kind (which fixes its Python type, range and
//! messages), its default, the dict it may also be given in, and its documentation.
//! Everything else comes from it: the native parser ([`Settings::from_dict`]), the
//! validation of the facade (`timelog/_api.py` reads the table as
//! `timelog._timelog._OPTIONS`), the option list of `help(timelog.Timelog)` and the
//! option table of `docs/api.md` (rendered by `_api.py`; a test keeps the docs equal
//! to it).

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use timelog::{AdaptiveConfig, CompactionConfig, Config, MaintenanceMode, TimeUnit, Timelog as Engine};

use crate::coerce::engine_err;
use crate::slab::PyVal;

mod table;

pub use table::OPTIONS;

/// What a write does when the engine reports backpressure after storing it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BusyPolicy {
    /// Raise `TimelogBusyError` (the data is stored).
    Raise,
    /// Nothing.
    Silent,
    /// Flush synchronously.
    Flush,
}

impl BusyPolicy {
    /// The option's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BusyPolicy::Raise => "raise",
            BusyPolicy::Silent => "silent",
            BusyPolicy::Flush => "flush",
        }
    }
}

/// The kind of an option: its Python type and the range `_api.py` checks.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A string among `values` (argument number `arg` of the reference, which its
    /// type error names; `message` formats the value error with `{!r}`).
    Choice { arg: u8, values: &'static [&'static str], message: &'static str },
    /// An int `>= 0` (a size: the reference converts it as `ssize_t`).
    Size,
    /// An int in `[0, 2**32-1]`.
    U32,
    /// An int in `[0, 2**63-1]`.
    I64NonNeg,
    /// Any int64.
    I64,
    /// A float in `[0.0, 1.0]`.
    Fraction,
    /// A dict of the options whose `group` names this one, or None.
    Dict,
}

impl Kind {
    /// The name `_api.py` knows the kind by.
    fn name(self) -> &'static str {
        match self {
            Kind::Choice { .. } => "choice",
            Kind::Size => "size",
            Kind::U32 => "u32",
            Kind::I64NonNeg => "i64_nonneg",
            Kind::I64 => "i64",
            Kind::Fraction => "fraction",
            Kind::Dict => "dict",
        }
    }

    /// The Python type, as the docs show it.
    fn type_name(self) -> &'static str {
        match self {
            Kind::Choice { .. } => "str",
            Kind::Fraction => "float",
            Kind::Dict => "dict or None",
            _ => "int",
        }
    }
}

/// An option's value, as the native parser takes it.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    /// Not given and no default to apply (the engine's own default stays).
    Unset,
    /// A string choice.
    Str(&'a str),
    /// A non-negative int.
    U64(u64),
    /// Any int64.
    I64(i64),
    /// A fraction.
    F64(f64),
}

impl<'a> Value<'a> {
    fn u64(&self) -> u64 {
        match *self {
            Value::U64(v) => v,
            _ => 0,
        }
    }

    fn i64(&self) -> i64 {
        match *self {
            Value::I64(v) => v,
            _ => 0,
        }
    }

    fn f64(&self) -> f64 {
        match *self {
            Value::F64(v) => v,
            _ => 0.0,
        }
    }

    fn str(&self) -> &'a str {
        match *self {
            Value::Str(s) => s,
            _ => "",
        }
    }

    /// Reads `v` as an option of `kind` (already validated by the facade).
    fn extract(kind: Kind, v: &'a Bound<'_, PyAny>) -> PyResult<Value<'a>> {
        Ok(match kind {
            Kind::Choice { .. } => Value::Str(v.cast::<PyString>()?.to_str()?),
            Kind::Size | Kind::U32 | Kind::I64NonNeg => Value::U64(v.extract()?),
            Kind::I64 => Value::I64(v.extract()?),
            Kind::Fraction => Value::F64(v.extract()?),
            Kind::Dict => Value::Unset,
        })
    }

    fn to_py<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Value::Unset => py.None().into_bound(py),
            Value::Str(s) => s.into_pyobject(py)?.into_any(),
            Value::U64(v) => v.into_pyobject(py)?.into_any(),
            Value::I64(v) => v.into_pyobject(py)?.into_any(),
            Value::F64(v) => v.into_pyobject(py)?.into_any(),
        })
    }
}

/// One engine option.
pub struct Opt {
    /// The keyword.
    pub name: &'static str,
    /// Its type and range.
    pub kind: Kind,
    /// `(dict, key)`: the option may also be given as `dict={key: value}`.
    pub group: Option<(&'static str, &'static str)>,
    /// The value when the option is not given.
    pub default: Value<'static>,
    /// The default as the docs show it (with what 0 means, where it means the
    /// engine's default).
    pub shown_default: &'static str,
    /// The allowed values as the docs show them (the engine's own checks included).
    pub allowed: &'static str,
    /// What the option does (`help(timelog.Timelog)`).
    pub doc: &'static str,
    /// Stores the value into the settings.
    set: fn(&mut Settings, &Value<'_>) -> PyResult<()>,
}

/// A size option as `usize` (saturating).
fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The table as Python data (`timelog._timelog._OPTIONS`): a tuple of dicts with the
/// keys `name`, `kind`, `type`, `default`, `group`, `key`, `shown_default`,
/// `allowed`, `doc`, and for a choice `arg`, `values` and `message`.
pub fn to_python(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let mut rows = Vec::with_capacity(OPTIONS.len());
    for o in OPTIONS {
        let d = PyDict::new(py);
        d.set_item("name", o.name)?;
        d.set_item("kind", o.kind.name())?;
        d.set_item("type", o.kind.type_name())?;
        d.set_item("default", o.default.to_py(py)?)?;
        d.set_item("group", o.group.map(|g| g.0))?;
        d.set_item("key", o.group.map(|g| g.1))?;
        d.set_item("shown_default", o.shown_default)?;
        d.set_item("allowed", o.allowed)?;
        d.set_item("doc", o.doc)?;
        if let Kind::Choice { arg, values, message } = o.kind {
            d.set_item("arg", arg)?;
            d.set_item("values", PyTuple::new(py, values)?)?;
            d.set_item("message", message)?;
        }
        rows.push(d);
    }
    PyTuple::new(py, rows)
}

/// The options of one open, parsed from the flat dict the facade validated
/// (`timelog._api._parse_options`): what the engine is built with and what the
/// binding keeps for itself.
pub struct Settings {
    /// `time_unit`.
    pub unit: TimeUnit,
    /// `maintenance="background"`.
    pub background: bool,
    /// `busy_policy`.
    pub policy: BusyPolicy,
    /// How long a writer waits for room (the binding waits, without the GIL).
    pub sealed_wait: Duration,
    /// `drain_batch_limit` (0: no limit).
    pub drain_limit: usize,
    memtable_max_bytes: u64,
    target_page_bytes: u64,
    sealed_max_runs: u64,
    ooo_budget_bytes: u64,
    maintenance_wakeup_ms: u64,
    max_delta_segments: u64,
    window_size: i64,
    window_origin: i64,
    delete_debt_threshold: f64,
    compaction: CompactionConfig,
    adaptive: Option<AdaptiveConfig>,
}

impl Settings {
    /// Every option of [`OPTIONS`] from `options` (an absent or None entry: the
    /// option's default).
    pub fn from_dict(options: &Bound<'_, PyDict>) -> PyResult<Settings> {
        let mut s = Settings {
            unit: TimeUnit::Millis,
            background: true,
            policy: BusyPolicy::Raise,
            sealed_wait: Duration::ZERO,
            drain_limit: 0,
            memtable_max_bytes: 0,
            target_page_bytes: 0,
            sealed_max_runs: 0,
            ooo_budget_bytes: 0,
            maintenance_wakeup_ms: 0,
            max_delta_segments: 0,
            window_size: 0,
            window_origin: 0,
            delete_debt_threshold: 0.0,
            compaction: CompactionConfig::default(),
            adaptive: None,
        };
        for o in OPTIONS {
            let given = options.get_item(o.name)?.filter(|v| !v.is_none());
            let v = match &given {
                Some(v) => Value::extract(o.kind, v)?,
                None => o.default,
            };
            if !matches!(v, Value::Unset) {
                (o.set)(&mut s, &v)?;
            }
        }
        Ok(s)
    }

    /// The engine configuration ("0 = engine default" where the docs say so).
    pub fn engine_config(&self) -> PyResult<Config> {
        let mut b = Engine::<PyVal>::builder().time_unit(self.unit).maintenance(if self.background {
            MaintenanceMode::Background
        } else {
            MaintenanceMode::Manual
        });
        if self.memtable_max_bytes != 0 {
            b = b.memtable_max_bytes(to_usize(self.memtable_max_bytes));
        }
        if self.target_page_bytes != 0 {
            b = b.target_page_bytes(to_usize(self.target_page_bytes));
        }
        b = b.sealed_max_runs(if self.sealed_max_runs != 0 { to_usize(self.sealed_max_runs) } else { 4 });
        if self.ooo_budget_bytes != 0 {
            b = b.ooo_budget_bytes(to_usize(self.ooo_budget_bytes));
        }
        if self.maintenance_wakeup_ms != 0 {
            // The engine caps the period at (2^32-1)/1000 whole seconds; the option
            // accepts up to 2^32-1 ms. Clamp (a 49.7-day wake-up is "never" anyway).
            let ms = self.maintenance_wakeup_ms.min(u64::from(u32::MAX) / 1000 * 1000);
            b = b.maintenance_wakeup(Duration::from_millis(ms));
        }
        b = b.drain_batch_limit(self.drain_limit);
        if self.max_delta_segments != 0 {
            b = b.max_l0_segments(to_usize(self.max_delta_segments));
        }
        if self.window_size != 0 {
            b = b.window_size(self.window_size);
        }
        b = b.window_origin(self.window_origin);
        b = b.delete_debt_threshold(self.delete_debt_threshold);
        // The engine never waits for room itself: the binding does, without the GIL.
        b = b.sealed_wait(Duration::ZERO);
        b = b.compaction(self.compaction);
        if let Some(a) = self.adaptive {
            b = b.adaptive(a);
        }
        b.config().map_err(engine_err)
    }
}
