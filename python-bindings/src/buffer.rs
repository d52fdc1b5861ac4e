//! The buffer protocol: [`fill_view`], the one fill of a `Py_buffer` for the 1-D,
//! 8-byte-item exports (this `_OwnedBuffer` and `PageSpan`), and `_OwnedBuffer`: a
//! writable buffer owned by Rust, exported so that numpy can wrap it without a copy
//! (`np.frombuffer(buf, np.int64)` gives a writeable array whose base is the buffer).

use std::ffi::{c_int, c_void, CStr};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

/// A 1-D export of 8-byte items: what [`fill_view`] writes into a `Py_buffer`.
pub struct Export<'a> {
    /// The first item.
    pub buf: *mut c_void,
    /// Number of items.
    pub items: usize,
    pub readonly: bool,
    /// The struct-module format of an item (`q` or `d`).
    pub format: &'static CStr,
    /// `[items]` and `[8]`, stored in the exporting object.
    pub shape: &'a [ffi::Py_ssize_t; 1],
    pub strides: &'a [ffi::Py_ssize_t; 1],
}

/// Fills `view` with `e` as the buffer protocol asks for `flags` (format, shape and
/// strides only when requested) and hands it a new reference to `owner`, the
/// exporting object.
///
/// # Safety
/// `view` points to a writable `Py_buffer` (the buffer protocol's contract for
/// `__getbuffer__`). `e.buf` is valid for `e.items * 8` bytes, and `e.shape` and
/// `e.strides` stay where they are, for as long as `owner` lives (the view keeps it
/// alive through `obj`); if `e.readonly`, nothing writes the memory meanwhile.
pub unsafe fn fill_view(view: *mut ffi::Py_buffer, flags: c_int, owner: Bound<'_, PyAny>, e: Export<'_>) {
    // SAFETY: per the function contract; every pointer stored lives as long as `owner`,
    // which `obj` keeps alive; Python never writes through format, shape or strides.
    unsafe {
        (*view).buf = e.buf;
        (*view).len = (e.items * 8) as ffi::Py_ssize_t;
        (*view).readonly = c_int::from(e.readonly);
        (*view).itemsize = 8;
        (*view).format =
            if flags & ffi::PyBUF_FORMAT != 0 { e.format.as_ptr().cast_mut() } else { std::ptr::null_mut() };
        (*view).ndim = 1;
        (*view).shape =
            if flags & ffi::PyBUF_ND != 0 { e.shape.as_ptr().cast_mut() } else { std::ptr::null_mut() };
        (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
            e.strides.as_ptr().cast_mut()
        } else {
            std::ptr::null_mut()
        };
        (*view).suboffsets = std::ptr::null_mut();
        (*view).internal = std::ptr::null_mut();
        (*view).obj = owner.into_ptr();
    }
}

/// Item type of an owned buffer.
#[derive(Clone, Copy)]
pub enum Kind {
    I64,
    F64,
}

/// A heap block of `len` 8-byte items, exported read-write.
#[pyclass(frozen, module = "timelog._timelog", name = "_OwnedBuffer")]
pub struct OwnedBuffer {
    ptr: *mut u64,
    len: usize,
    kind: Kind,
    shape: [ffi::Py_ssize_t; 1],
    strides: [ffi::Py_ssize_t; 1],
}

// SAFETY: the block is owned exclusively by this object (a raw pointer obtained from
// `Box::into_raw`, freed in `Drop`); Rust never reads or writes it after
// construction, so sharing the object between threads cannot race in Rust code.
// Python writers of the exported memory synchronise like for any writable buffer.
unsafe impl Send for OwnedBuffer {}
// SAFETY: see `Send`.
unsafe impl Sync for OwnedBuffer {}

impl OwnedBuffer {
    pub fn from_i64(v: Vec<i64>) -> Self {
        Self::new(v.into_iter().map(|x| x as u64).collect(), Kind::I64)
    }

    pub fn from_f64(v: Vec<f64>) -> Self {
        Self::new(v.into_iter().map(f64::to_bits).collect(), Kind::F64)
    }

    fn new(v: Vec<u64>, kind: Kind) -> Self {
        let len = v.len();
        let ptr = Box::into_raw(v.into_boxed_slice()).cast::<u64>();
        OwnedBuffer { ptr, len, kind, shape: [len as ffi::Py_ssize_t], strides: [8] }
    }
}

impl Drop for OwnedBuffer {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` come from `Box::into_raw` of a boxed slice of `len`
        // items (in `new`), and the block is freed only here.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len)) });
    }
}

#[pymethods]
impl OwnedBuffer {
    /// Exports the block (buffer protocol).
    ///
    /// # Safety
    /// Called by Python only, with `view` a `Py_buffer` to fill (or null).
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("view is null"));
        }
        let me = slf.get();
        let format: &'static CStr = match me.kind {
            Kind::I64 => c"q",
            Kind::F64 => c"d",
        };
        let e = Export {
            buf: me.ptr.cast::<c_void>(),
            items: me.len,
            readonly: false,
            format,
            shape: &me.shape,
            strides: &me.strides,
        };
        // SAFETY: `view` is a valid Py_buffer to fill (the caller's contract); the block,
        // shape and strides live as long as this object, which the view keeps alive.
        unsafe { fill_view(view, flags, slf.clone().into_any(), e) };
        Ok(())
    }

    /// Nothing to release: the block lives as long as this object.
    ///
    /// # Safety
    /// Called by Python only, with a view this object filled.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.len
    }
}
