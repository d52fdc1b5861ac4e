//! The Arrow C interfaces at the Python boundary: the PyCapsule names, reading an
//! `arrow_schema` capsule, the pyarrow spelling of types and the mapping of Arrow
//! errors.

use std::ffi::CStr;

use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{ArrowError, DataType, TimeUnit as ArrowUnit};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods};

/// Capsule names of the Arrow PyCapsule interface.
pub const STREAM_CAPSULE: &CStr = c"arrow_array_stream";
pub const SCHEMA_CAPSULE: &CStr = c"arrow_schema";
pub const ARRAY_CAPSULE: &CStr = c"arrow_array";

/// An Arrow error as a Python ValueError.
pub fn arrow_py_err(e: ArrowError) -> PyErr {
    PyValueError::new_err(format!("arrow: {e}"))
}

/// The `arrow_schema` capsule behind `obj`: the capsule itself, or what its
/// `__arrow_c_schema__()` returns.
pub fn schema_capsule<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyCapsule>> {
    let cap = if let Ok(c) = obj.cast::<PyCapsule>() {
        c.clone()
    } else if obj.hasattr(pyo3::intern!(obj.py(), "__arrow_c_schema__"))? {
        obj.call_method0(pyo3::intern!(obj.py(), "__arrow_c_schema__"))?.cast_into::<PyCapsule>()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an Arrow schema: an object with __arrow_c_schema__ or an \
             'arrow_schema' PyCapsule, not {}",
            obj.get_type().name()?
        )));
    };
    if !cap.is_valid_checked(Some(SCHEMA_CAPSULE)) {
        return Err(PyTypeError::new_err(format!("{what}: expected a PyCapsule named 'arrow_schema'")));
    }
    Ok(cap)
}

/// Reads the ArrowSchema held by an `arrow_schema` capsule with `f` (the capsule
/// keeps it; nothing is moved out).
pub fn read_schema<R>(
    cap: &Bound<'_, PyCapsule>,
    f: impl FnOnce(&FFI_ArrowSchema) -> Result<R, ArrowError>,
) -> PyResult<R> {
    let p = cap.pointer_checked(Some(SCHEMA_CAPSULE))?;
    // SAFETY: by the Arrow PyCapsule interface, a capsule named "arrow_schema" points
    // to an ArrowSchema struct that the capsule owns and keeps alive; we hold a
    // reference to the capsule and run no Python code while `f` reads it (a shared
    // borrow: nothing is moved out or released). A released struct (null `release`)
    // is refused before any other field is read.
    let s = unsafe { p.cast::<FFI_ArrowSchema>().as_ref() };
    if s.release.is_none() {
        return Err(PyValueError::new_err("the 'arrow_schema' capsule holds a released schema"));
    }
    f(s).map_err(arrow_py_err)
}

/// The pyarrow spelling of a data type (for `schema` and messages).
pub fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Null => "null".into(),
        DataType::Boolean => "bool".into(),
        DataType::Int64 => "int64".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 => "string".into(),
        DataType::Binary => "binary".into(),
        DataType::Timestamp(u, tz) => {
            let u = match u {
                ArrowUnit::Second => "s",
                ArrowUnit::Millisecond => "ms",
                ArrowUnit::Microsecond => "us",
                ArrowUnit::Nanosecond => "ns",
            };
            match tz {
                None => format!("timestamp[{u}]"),
                Some(tz) => format!("timestamp[{u}, tz={tz}]"),
            }
        }
        other => other.to_string(),
    }
}
