//! The payload rules of the Arrow export (`docs/api.md`, "Arrow"): which Arrow type
//! the `value` column gets and how each payload object converts to it.
//!
//! Everything runs with the GIL held (payloads are Python objects). The `ts` column
//! comes from the engine's timestamps-only export (shared, not copied, where the
//! range lies in compacted segments). An explicit type (or pickle) is then one
//! conversion pass (`arrow_col::convert`). `auto` converts
//! with the kind of the first payload that is not None, and only when a row does not
//! fit that kind applies the rule over every row ([`infer`], which names the first row
//! that fits no kind) and converts again with the inferred kind.

use std::ops::Bound as RBound;
use std::ptr::addr_of_mut;

use arrow_schema::DataType;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;
use timelog::Snapshot;

use crate::arrow_ffi::{read_schema, schema_capsule};
use crate::coerce::Arg;
use crate::slab::PyVal;

/// The Arrow type of a `value` column.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Null,
    Int64,
    Float64,
    Utf8,
    Binary,
    Bool,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Null => DataType::Null,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Utf8 => DataType::Utf8,
            Kind::Binary => DataType::Binary,
            Kind::Bool => DataType::Boolean,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Int64 => "int64",
            Kind::Float64 => "float64",
            Kind::Utf8 => "utf8",
            Kind::Binary => "binary",
            Kind::Bool => "bool",
        }
    }

    fn of(dt: &DataType) -> Option<Kind> {
        Some(match dt {
            DataType::Null => Kind::Null,
            DataType::Int64 => Kind::Int64,
            DataType::Float64 => Kind::Float64,
            DataType::Utf8 => Kind::Utf8,
            DataType::Binary => Kind::Binary,
            DataType::Boolean => Kind::Bool,
            _ => return None,
        })
    }
}

/// What `to_arrow(payload=...)` asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Payload {
    /// One type inferred over the range.
    Auto,
    /// No `value` column.
    TsOnly,
    /// Every object pickled into a binary column.
    Pickle,
    /// This type, whatever the range holds.
    Fixed(Kind),
}

impl Payload {
    /// How messages name the option.
    pub fn shown(self) -> String {
        match self {
            Payload::Auto => "payload='auto'".into(),
            Payload::TsOnly => "payload='none'".into(),
            Payload::Pickle => "payload='pickle'".into(),
            Payload::Fixed(k) => format!("payload={}", k.name()),
        }
    }
}

const PAYLOAD_HELP: &str = "'auto', 'none', 'pickle', an Arrow type name ('int64', 'float64', \
                            'utf8', 'binary', 'bool', 'null') or an Arrow type (an object with \
                            __arrow_c_schema__, e.g. pyarrow.int64())";

/// Parses `to_arrow(payload=...)`.
pub fn parse_payload(arg: &Arg<'_>) -> PyResult<Payload> {
    let Arg::Given(v) = arg else { return Ok(Payload::Auto) };
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(match s.to_str()? {
            "auto" => Payload::Auto,
            "none" => Payload::TsOnly,
            "pickle" => Payload::Pickle,
            "int64" => Payload::Fixed(Kind::Int64),
            "float64" | "double" => Payload::Fixed(Kind::Float64),
            "utf8" | "string" => Payload::Fixed(Kind::Utf8),
            "binary" => Payload::Fixed(Kind::Binary),
            "bool" | "boolean" => Payload::Fixed(Kind::Bool),
            "null" => Payload::Fixed(Kind::Null),
            other => {
                return Err(PyValueError::new_err(format!(
                    "to_arrow(): unknown payload {other:?}; expected {PAYLOAD_HELP}"
                )))
            }
        });
    }
    if v.is_none() || !v.hasattr(pyo3::intern!(v.py(), "__arrow_c_schema__"))? {
        return Err(PyTypeError::new_err(format!(
            "to_arrow(): payload must be {PAYLOAD_HELP}, not {}",
            if v.is_none() { "None".to_string() } else { v.get_type().name()?.to_string() }
        )));
    }
    let cap = schema_capsule(v, "payload")?;
    let dt = read_schema(&cap, |s| DataType::try_from(s))?;
    match Kind::of(&dt) {
        Some(k) => Ok(Payload::Fixed(k)),
        None => Err(PyValueError::new_err(format!(
            "to_arrow(): payload type {dt} is not supported; the value column can be int64, \
             float64, utf8, binary, bool or null (or use payload='pickle')"
        ))),
    }
}

/// The class of a payload object under the `auto` rule.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    None,
    Int,
    Float,
    Str,
    Bytes,
    Bool,
    Other,
}

/// The class of `p` (exact types first, by pointer, then subclasses).
///
/// # Safety
/// `p` is a live object and the caller is attached to the interpreter.
#[inline]
pub unsafe fn class_of(p: *mut ffi::PyObject) -> Class {
    // SAFETY: per the contract; the type objects are static.
    unsafe {
        let ty = ffi::Py_TYPE(p);
        if ty == addr_of_mut!(ffi::PyLong_Type) {
            Class::Int
        } else if ty == addr_of_mut!(ffi::PyFloat_Type) {
            Class::Float
        } else if ty == addr_of_mut!(ffi::PyUnicode_Type) {
            Class::Str
        } else if p == ffi::Py_None() {
            Class::None
        } else if ty == addr_of_mut!(ffi::PyBool_Type) {
            Class::Bool
        } else if ty == addr_of_mut!(ffi::PyBytes_Type) {
            Class::Bytes
        } else {
            subclass_of(ty)
        }
    }
}

/// The class of an object of type `ty` that is none of the exact types.
///
/// # Safety
/// `ty` is the type of a live object and the caller is attached to the interpreter.
#[cold]
unsafe fn subclass_of(ty: *mut ffi::PyTypeObject) -> Class {
    // SAFETY: `ty` is the live type of a live object; we are attached.
    unsafe {
        let flags = ffi::PyType_GetFlags(ty);
        // (`bool` cannot be subclassed: its exact type was checked already.)
        if flags & ffi::Py_TPFLAGS_LONG_SUBCLASS != 0 {
            Class::Int
        } else if flags & ffi::Py_TPFLAGS_UNICODE_SUBCLASS != 0 {
            Class::Str
        } else if flags & ffi::Py_TPFLAGS_BYTES_SUBCLASS != 0 {
            Class::Bytes
        } else if ffi::PyType_IsSubtype(ty, addr_of_mut!(ffi::PyFloat_Type)) != 0 {
            Class::Float
        } else {
            Class::Other
        }
    }
}

fn kind_of(c: Class) -> Kind {
    match c {
        Class::Int => Kind::Int64,
        Class::Float => Kind::Float64,
        Class::Str => Kind::Utf8,
        Class::Bytes => Kind::Binary,
        Class::Bool => Kind::Bool,
        Class::None | Class::Other => Kind::Null,
    }
}

/// `type(obj).__name__` of a live object.
pub fn type_name(py: Python<'_>, p: *mut ffi::PyObject) -> String {
    // SAFETY: `p` is a live object (kept by the snapshot) and we are attached; a new
    // reference is taken for the lookup.
    let o = unsafe { Bound::from_borrowed_ptr(py, p) };
    o.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// The `auto` inference: the column's class so far and the row that set it.
struct Infer {
    class: Class,
    first: (usize, i64),
}

impl Infer {
    /// Merges one row's class; `Err` if the row does not fit.
    #[inline]
    fn add(&mut self, c: Class, row: usize, ts: i64) -> Result<(), ()> {
        if c == self.class || c == Class::None {
            return Ok(());
        }
        match (self.class, c) {
            (_, Class::Other) => Err(()),
            (Class::None, _) => {
                self.class = c;
                self.first = (row, ts);
                Ok(())
            }
            (Class::Float, Class::Int) => Ok(()),
            (Class::Int, Class::Float) => {
                self.class = Class::Float;
                Ok(())
            }
            _ => Err(()),
        }
    }
}

/// The kind of the first payload of the range that is not None: the guess the
/// `auto` rule converts with first (an empty or all-None range: null).
pub fn first_kind(snap: &Snapshot<PyVal>, range: (RBound<i64>, RBound<i64>)) -> Kind {
    for (_, v) in snap.range(range) {
        let p = crate::slab::raw(v);
        if p.is_null() {
            continue; // force-released: reads as None
        }
        // SAFETY: `p` is a live payload (the snapshot keeps it); the caller is attached.
        match unsafe { class_of(p) } {
            Class::None => continue,
            c => return kind_of(c),
        }
    }
    Kind::Null
}

/// The `auto` rule over every row of the range: the column's kind, or the error
/// naming the first row that does not fit.
pub fn infer(
    py: Python<'_>,
    op: &str,
    snap: &Snapshot<PyVal>,
    range: (RBound<i64>, RBound<i64>),
) -> PyResult<Kind> {
    let mut inf = Infer { class: Class::None, first: (0, 0) };
    let mut err: Option<PyErr> = None;
    crate::export::each(py, snap, range, |row, t, p| {
        if err.is_some() {
            return;
        }
        // SAFETY: `p` is a live payload (the snapshot keeps it); we are attached.
        let c = unsafe { class_of(p) };
        if inf.add(c, row, t).is_err() {
            err = Some(auto_mismatch(py, op, p, c, row, t, &inf));
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(kind_of(inf.class)),
    }
}

fn auto_mismatch(
    py: Python<'_>,
    op: &str,
    p: *mut ffi::PyObject,
    c: Class,
    row: usize,
    ts: i64,
    inf: &Infer,
) -> PyErr {
    let tn = type_name(py, p);
    if c == Class::Other {
        return PyTypeError::new_err(format!(
            "{op}(payload='auto'): the payload at row {row} (ts={ts}) is a {tn}, which has \
             no Arrow type here (int, float, str, bytes, bool and None have one); export such \
             payloads with payload='pickle'"
        ));
    }
    let (r0, t0) = inf.first;
    PyTypeError::new_err(format!(
        "{op}(payload='auto'): the payload at row {row} (ts={ts}) is a {tn}, which does not \
         fit the value column's type {} (set by row {r0}, ts={t0}); one column holds one type \
         (int and float mix as float64, None fits any); use payload='pickle' or convert the \
         payloads",
        kind_of(inf.class).name()
    ))
}
