//! `_OwnedBuffer`: a writable, 1-D, 8-byte-item buffer owned by Rust, exported
//! through the buffer protocol so that numpy can wrap it without a copy
//! (`np.frombuffer(buf, np.int64)` gives a writeable array whose base is the buffer).

use std::ffi::{c_int, c_void};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

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
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("view is null"));
        }
        let me = slf.get();
        let fmt: &'static std::ffi::CStr = match me.kind {
            Kind::I64 => c"q",
            Kind::F64 => c"d",
        };
        // SAFETY: `view` is a valid Py_buffer to fill (buffer protocol contract);
        // the pointers stored in it (block, shape, strides, format) live as long as
        // this object, which the view keeps alive through `obj`.
        unsafe {
            (*view).buf = me.ptr.cast::<c_void>();
            (*view).len = (me.len * 8) as ffi::Py_ssize_t;
            (*view).readonly = 0;
            (*view).itemsize = 8;
            (*view).format =
                if flags & ffi::PyBUF_FORMAT != 0 { fmt.as_ptr().cast_mut() } else { std::ptr::null_mut() };
            (*view).ndim = 1;
            (*view).shape =
                if flags & ffi::PyBUF_ND != 0 { me.shape.as_ptr().cast_mut() } else { std::ptr::null_mut() };
            (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                me.strides.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
            (*view).obj = slf.into_any().into_ptr();
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.len
    }
}
