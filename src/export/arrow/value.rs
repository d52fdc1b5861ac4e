//! How payloads become Arrow columns and back: [`ArrowValue`] for value types
//! that have one Arrow type, and [`ValueEncoder`] for exports that decide the
//! column at run time (the Python package's payload rules).

use std::sync::Arc as StdArc;

use arrow_array::builder::{BinaryBuilder, BooleanBuilder, StringBuilder};
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BinaryViewArray, BooleanArray, LargeBinaryArray, LargeStringArray,
    PrimitiveArray, StringArray, StringViewArray,
};
use arrow_schema::{ArrowError, DataType, Field};

use super::memory::Shared;
use crate::error::{Error, Result};
use crate::Value;

/// A payload type with an Arrow representation: the `value` column of exports and
/// what imports read back.
///
/// Implemented for the integer and float types, `bool`, `String`, `Box<str>`,
/// `Arc<str>`, `&'static str`, `Vec<u8>`, `Box<[u8]>`, `bytes::Bytes`, `Option<T>`
/// (nulls) and `()` (no `value` column). Integer and float columns of compacted
/// segments are exported without a copy.
///
/// Implement it for your own type to export it as a `StructArray`:
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Array, ArrayRef, Float64Array, StringArray, StructArray};
/// use arrow_buffer::NullBuffer;
/// use arrow_schema::{DataType, Field, Fields};
/// use timelog::arrow::{ArrowValue, ExportOptions};
/// use timelog::{Error, Timelog};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Quote {
///     symbol: String,
///     price: f64,
/// }
///
/// fn fields() -> Fields {
///     Fields::from(vec![
///         Field::new("symbol", DataType::Utf8, false),
///         Field::new("price", DataType::Float64, false),
///     ])
/// }
///
/// impl ArrowValue for Quote {
///     fn data_type() -> DataType {
///         DataType::Struct(fields())
///     }
///
///     fn encode(values: &[Option<&Self>]) -> Result<ArrayRef, Error> {
///         // A null row (only `Option<Quote>` payloads pass `None`) gets placeholder
///         // children and a null in the struct's own null buffer.
///         let symbol: StringArray = values.iter().map(|v| Some(v.map_or("", |q| &q.symbol))).collect();
///         let price: Float64Array = values.iter().map(|v| Some(v.map_or(0.0, |q| q.price))).collect();
///         let nulls = NullBuffer::from(values.iter().map(Option::is_some).collect::<Vec<_>>());
///         let nulls = (nulls.null_count() > 0).then_some(nulls);
///         Ok(Arc::new(StructArray::new(fields(), vec![Arc::new(symbol), Arc::new(price)], nulls)))
///     }
///
///     fn decode(array: &dyn Array) -> Result<Vec<Option<Self>>, Error> {
///         let s = array
///             .as_any()
///             .downcast_ref::<StructArray>()
///             .ok_or_else(|| Error::Arrow(format!("expected a struct column, found {}", array.data_type())))?;
///         let symbol = s.column(0).as_any().downcast_ref::<StringArray>().unwrap();
///         let price = s.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
///         Ok((0..s.len())
///             .map(|i| s.is_valid(i).then(|| Quote { symbol: symbol.value(i).to_string(), price: price.value(i) }))
///             .collect())
///     }
///
///     fn data_bytes(&self) -> usize {
///         self.symbol.len()
///     }
/// }
///
/// let log = Timelog::new();
/// let _ = log.append(1, Quote { symbol: "ABC".into(), price: 9.5 });
/// let batches: Vec<_> = log.snapshot().record_batches(.., &ExportOptions::new()).collect::<Result<_, _>>().unwrap();
/// let quotes = batches[0].column(1).as_any().downcast_ref::<StructArray>().unwrap();
/// assert_eq!(quotes.column(1).as_any().downcast_ref::<Float64Array>().unwrap().value(0), 9.5);
///
/// // And back: a batch with a `ts` and a `value` column.
/// let copy = Timelog::new();
/// copy.append_record_batch(&batches[0]).unwrap();
/// assert_eq!(copy.range_vec(..), log.range_vec(..));
/// ```
pub trait ArrowValue: Value {
    /// The Arrow type of the `value` column.
    fn data_type() -> DataType;

    /// Whether the column can hold nulls (`Option<T>`).
    fn nullable() -> bool {
        false
    }

    /// Whether the type has a `value` column at all (`false` only for `()`).
    fn has_column() -> bool {
        true
    }

    /// Builds the column of `values`, in row order; `None` rows are nulls (only
    /// `Option<T>` payloads pass them). The array's type must be
    /// [`data_type`](ArrowValue::data_type).
    fn encode(values: &[Option<&Self>]) -> Result<ArrayRef>;

    /// Reads a column back: one entry per row, `None` for a null. Errors name the
    /// type found where it is not the one expected.
    fn decode(array: &dyn Array) -> Result<Vec<Option<Self>>>;

    /// Bytes of variable-width data this value adds to its column (string or binary
    /// bytes): batches are cut before the column's 32-bit offsets would overflow.
    fn data_bytes(&self) -> usize {
        0
    }

    /// A column over `values` that shares their memory, where the type's layout is
    /// Arrow's (integers and floats); `None` to copy.
    fn share(values: Shared<'_, Self>) -> Option<ArrayRef> {
        let _ = values;
        None
    }
}

/// Turns the values of an export into its `value` column: [`ArrowValue`] types
/// use [`Native`]; an encoder of your own can choose the column at run time (as
/// the Python package does for its payload rules).
pub trait ValueEncoder<V>: Send + 'static {
    /// The `value` column's field (named `value`), or `None` for exports of
    /// timestamps only.
    fn field(&self) -> Option<Field>;

    /// Builds the column of `values`, in row order, of the field's type.
    fn encode(&mut self, values: &[&V]) -> Result<ArrayRef>;

    /// A column sharing the values' memory, or `None` to have them copied through
    /// [`encode`](ValueEncoder::encode).
    fn share(&mut self, values: Shared<'_, V>) -> Option<ArrayRef> {
        let _ = values;
        None
    }

    /// Whether [`share`](ValueEncoder::share) may succeed (`false`: it is not
    /// called, and the values are copied through [`encode`](ValueEncoder::encode)
    /// while the timestamps of long segment stretches are still shared).
    fn can_share(&self) -> bool {
        false
    }

    /// Variable-width bytes `v` adds to the column (see [`ArrowValue::data_bytes`]).
    fn data_bytes(&self, v: &V) -> usize {
        let _ = v;
        0
    }
}

/// The encoder of an [`ArrowValue`] type: its own column type, shared where the
/// type allows.
pub struct Native<V>(std::marker::PhantomData<fn() -> V>);

impl<V> Default for Native<V> {
    fn default() -> Self {
        Native(std::marker::PhantomData)
    }
}

impl<V> std::fmt::Debug for Native<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Native")
    }
}

impl<V: ArrowValue> ValueEncoder<V> for Native<V> {
    fn field(&self) -> Option<Field> {
        V::has_column().then(|| Field::new("value", V::data_type(), V::nullable()))
    }

    fn encode(&mut self, values: &[&V]) -> Result<ArrayRef> {
        let opt: Vec<Option<&V>> = values.iter().map(|&v| Some(v)).collect();
        V::encode(&opt)
    }

    fn share(&mut self, values: Shared<'_, V>) -> Option<ArrayRef> {
        V::share(values)
    }

    fn can_share(&self) -> bool {
        // A type that never shares returns `None` at once; asking costs one call per
        // long stretch, so saying yes is cheap.
        V::has_column()
    }

    fn data_bytes(&self, v: &V) -> usize {
        v.data_bytes()
    }
}

pub(crate) fn arrow_err(e: ArrowError) -> Error {
    Error::Arrow(e.to_string())
}

fn wrong_type(expected: &str, found: &DataType) -> Error {
    Error::Arrow(format!("the value column is {found}, expected {expected}"))
}

/// The rows of `array` as `Option`s, via the typed array `A` and a getter.
fn rows<A: Array + 'static, T>(
    array: &dyn Array,
    expected: &str,
    get: impl Fn(&A, usize) -> T,
) -> Result<Vec<Option<T>>> {
    let a = array.as_any().downcast_ref::<A>().ok_or_else(|| wrong_type(expected, array.data_type()))?;
    Ok((0..a.len()).map(|i| a.is_valid(i).then(|| get(a, i))).collect())
}

macro_rules! primitive {
    ($($t:ty => $arrow:ty, $dt:expr);* $(;)?) => {$(
        impl ArrowValue for $t {
            fn data_type() -> DataType {
                $dt
            }

            fn encode(values: &[Option<&Self>]) -> Result<ArrayRef> {
                let a: PrimitiveArray<$arrow> = values.iter().map(|v| v.copied()).collect();
                Ok(StdArc::new(a))
            }

            fn decode(array: &dyn Array) -> Result<Vec<Option<Self>>> {
                rows::<PrimitiveArray<$arrow>, $t>(array, stringify!($dt), |a, i| a.value(i))
            }

            fn share(values: Shared<'_, Self>) -> Option<ArrayRef> {
                Some(StdArc::new(PrimitiveArray::<$arrow>::new(values.buffer(), None)))
            }
        }
    )*};
}

primitive! {
    i8 => Int8Type, DataType::Int8;
    i16 => Int16Type, DataType::Int16;
    i32 => Int32Type, DataType::Int32;
    i64 => Int64Type, DataType::Int64;
    u8 => UInt8Type, DataType::UInt8;
    u16 => UInt16Type, DataType::UInt16;
    u32 => UInt32Type, DataType::UInt32;
    u64 => UInt64Type, DataType::UInt64;
    f32 => Float32Type, DataType::Float32;
    f64 => Float64Type, DataType::Float64;
}

impl ArrowValue for bool {
    fn data_type() -> DataType {
        DataType::Boolean
    }

    fn encode(values: &[Option<&Self>]) -> Result<ArrayRef> {
        let mut b = BooleanBuilder::with_capacity(values.len());
        for v in values {
            b.append_option(v.copied());
        }
        Ok(StdArc::new(b.finish()))
    }

    fn decode(array: &dyn Array) -> Result<Vec<Option<Self>>> {
        rows::<BooleanArray, bool>(array, "Boolean", |a, i| a.value(i))
    }
}

/// Strings from any of Arrow's three string layouts.
fn decode_str<T>(array: &dyn Array, make: impl Fn(&str) -> T) -> Result<Vec<Option<T>>> {
    const E: &str = "Utf8";
    match array.data_type() {
        DataType::Utf8 => rows::<StringArray, T>(array, E, |a, i| make(a.value(i))),
        DataType::LargeUtf8 => rows::<LargeStringArray, T>(array, E, |a, i| make(a.value(i))),
        DataType::Utf8View => rows::<StringViewArray, T>(array, E, |a, i| make(a.value(i))),
        other => Err(wrong_type(E, other)),
    }
}

/// Byte strings from any of Arrow's three binary layouts.
fn decode_bin<T>(array: &dyn Array, make: impl Fn(&[u8]) -> T) -> Result<Vec<Option<T>>> {
    const E: &str = "Binary";
    match array.data_type() {
        DataType::Binary => rows::<BinaryArray, T>(array, E, |a, i| make(a.value(i))),
        DataType::LargeBinary => rows::<LargeBinaryArray, T>(array, E, |a, i| make(a.value(i))),
        DataType::BinaryView => rows::<BinaryViewArray, T>(array, E, |a, i| make(a.value(i))),
        other => Err(wrong_type(E, other)),
    }
}

fn encode_str<'a>(values: impl ExactSizeIterator<Item = Option<&'a str>>, bytes: usize) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(values.len(), bytes);
    for v in values {
        b.append_option(v);
    }
    StdArc::new(b.finish())
}

fn encode_bin<'a>(values: impl ExactSizeIterator<Item = Option<&'a [u8]>>, bytes: usize) -> ArrayRef {
    let mut b = BinaryBuilder::with_capacity(values.len(), bytes);
    for v in values {
        b.append_option(v);
    }
    StdArc::new(b.finish())
}

macro_rules! string_like {
    ($($t:ty => $make:expr);* $(;)?) => {$(
        impl ArrowValue for $t {
            fn data_type() -> DataType {
                DataType::Utf8
            }

            fn encode(values: &[Option<&Self>]) -> Result<ArrayRef> {
                let bytes = values.iter().map(|v| v.map_or(0, |s| s.len())).sum();
                Ok(encode_str(values.iter().map(|v| v.map(|s| &**s)), bytes))
            }

            fn decode(array: &dyn Array) -> Result<Vec<Option<Self>>> {
                decode_str(array, $make)
            }

            fn data_bytes(&self) -> usize {
                self.len()
            }
        }
    )*};
}

string_like! {
    String => |s: &str| s.to_string();
    Box<str> => |s: &str| Box::from(s);
    std::sync::Arc<str> => |s: &str| std::sync::Arc::from(s);
}

/// `&'static str` exports as `Utf8`; decoding leaks each string (it has to be
/// `'static`), so imports into a `Timelog<&'static str>` are meant for tests and
/// small, bounded data.
impl ArrowValue for &'static str {
    fn data_type() -> DataType {
        DataType::Utf8
    }

    fn encode(values: &[Option<&Self>]) -> Result<ArrayRef> {
        let bytes = values.iter().map(|v| v.map_or(0, |s| s.len())).sum();
        Ok(encode_str(values.iter().map(|v| v.copied()), bytes))
    }

    fn decode(array: &dyn Array) -> Result<Vec<Option<Self>>> {
        decode_str(array, |s| &*Box::leak(Box::<str>::from(s)))
    }

    fn data_bytes(&self) -> usize {
        self.len()
    }
}

macro_rules! binary_like {
    ($($t:ty => $make:expr);* $(;)?) => {$(
        impl ArrowValue for $t {
            fn data_type() -> DataType {
                DataType::Binary
            }

            fn encode(values: &[Option<&Self>]) -> Result<ArrayRef> {
                let bytes = values.iter().map(|v| v.map_or(0, |s| s.len())).sum();
                Ok(encode_bin(values.iter().map(|v| v.map(|s| &s[..])), bytes))
            }

            fn decode(array: &dyn Array) -> Result<Vec<Option<Self>>> {
                decode_bin(array, $make)
            }

            fn data_bytes(&self) -> usize {
                self.len()
            }
        }
    )*};
}

binary_like! {
    Vec<u8> => |s: &[u8]| s.to_vec();
    Box<[u8]> => |s: &[u8]| Box::from(s);
    bytes::Bytes => |s: &[u8]| bytes::Bytes::copy_from_slice(s);
}

impl<T: ArrowValue> ArrowValue for Option<T> {
    fn data_type() -> DataType {
        T::data_type()
    }

    fn nullable() -> bool {
        true
    }

    fn encode(values: &[Option<&Self>]) -> Result<ArrayRef> {
        let inner: Vec<Option<&T>> = values.iter().map(|v| v.and_then(Option::as_ref)).collect();
        T::encode(&inner)
    }

    fn decode(array: &dyn Array) -> Result<Vec<Option<Self>>> {
        // A null row is the value `None`, never a missing one.
        Ok(T::decode(array)?.into_iter().map(Some).collect())
    }

    fn data_bytes(&self) -> usize {
        self.as_ref().map_or(0, T::data_bytes)
    }
}

/// No `value` column: exports hold timestamps only, and imports need none.
impl ArrowValue for () {
    fn data_type() -> DataType {
        DataType::Null
    }

    fn has_column() -> bool {
        false
    }

    fn encode(values: &[Option<&Self>]) -> Result<ArrayRef> {
        Ok(StdArc::new(arrow_array::NullArray::new(values.len())))
    }

    fn decode(array: &dyn Array) -> Result<Vec<Option<Self>>> {
        Ok(vec![Some(()); array.len()])
    }
}
