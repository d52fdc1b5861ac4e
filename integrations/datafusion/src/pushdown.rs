//! Filter pushdown: which predicates on `ts` become the range a scan reads.
//!
//! A filter is a DataFusion [`Expr`] after type coercion and simplification. The
//! ones understood here compare the `ts` column — bare, or under the casts that
//! DataFusion inserts to make both sides of a comparison one type — with a
//! literal:
//!
//! - `ts >= a`, `ts > a`, `ts < b`, `ts <= b`, `ts = a`, `ts IS NOT DISTINCT FROM
//!   a`, with the literal on either side;
//! - `ts BETWEEN a AND b`, `ts IN (a, b, ...)`;
//! - `AND` and `OR` of those, `ts IS NOT NULL`, `ts IS NULL`, `true`, `false`.
//!
//! Literals are `Int64` (or any integer type) for an `Int64` column, and
//! `Timestamp` of any unit for a `Timestamp` column: a literal of another unit is
//! converted exactly (`ts >= 1.5 s` in a millisecond log reads from 1500 ms, `ts >
//! 1.5 s` in a second log from 2 s). Casts of the column — between timestamp units
//! (scaling, with the truncating division of Arrow's cast), between `Int64` and
//! `Timestamp`, to `Float64` — are evaluated as Arrow evaluates them, values the
//! cast cannot represent being NULL: any monotone chain of them is turned into the
//! exact interval of raw timestamps by binary search over `i64`.
//!
//! Everything else (`value` predicates, arithmetic on `ts`, `NOT`, `!=`, casts
//! that are not monotone or that reinterpret local times) is left to DataFusion.
//! Nothing here can drop a row that the filter keeps: a predicate is reported as
//! exact only when the interval is exactly the set of timestamps it keeps.
//!
//! Note: the filters come after DataFusion's own simplification. DataFusion 55
//! rewrites `CAST(ts AS Timestamp(ns)) >= '…00.5'` on a column coarser than the
//! literal into `ts >= '…00'` (the literal truncated to the column's unit), so
//! such a query keeps the rows DataFusion's rewritten filter keeps — with or
//! without pushdown: the scan never changes an answer.

use std::cmp::Ordering;

use datafusion::arrow::datatypes::{DataType, TimeUnit as ArrowTimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};

use crate::range::TsRange;

/// The name of the timestamp column.
pub const TS: &str = "ts";

/// What a filter contributes to a scan's range.
///
/// ```
/// use datafusion::arrow::datatypes::DataType;
/// use datafusion::prelude::{col, lit};
/// use timelog_datafusion::pushdown::filter_range;
/// use timelog_datafusion::TsRange;
///
/// let r = filter_range(&col("ts").gt_eq(lit(10i64)).and(col("ts").lt(lit(20i64))), &DataType::Int64).unwrap();
/// assert_eq!((r.range, r.exact), (TsRange::new(10, 19), true));
///
/// // A predicate on `value` narrows nothing; an AND with one keeps the `ts` part.
/// assert!(filter_range(&col("value").gt(lit(5i64)), &DataType::Int64).is_none());
/// let r = filter_range(&col("ts").lt(lit(0i64)).and(col("value").gt(lit(5i64))), &DataType::Int64).unwrap();
/// assert_eq!((r.range, r.exact), (TsRange::new(i64::MIN, -1), false));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterRange {
    /// Every row the filter keeps has its timestamp in this range.
    pub range: TsRange,
    /// Whether the filter keeps exactly the rows whose timestamp lies in `range`
    /// (then DataFusion need not evaluate it again).
    pub exact: bool,
}

impl FilterRange {
    fn exact(range: TsRange) -> Self {
        FilterRange { range, exact: true }
    }
}

/// How `filter` narrows the timestamps of a table whose `ts` column has type
/// `ts_type`: `None` when it says nothing usable about `ts`.
pub fn filter_range(filter: &Expr, ts_type: &DataType) -> Option<FilterRange> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            match (filter_range(left, ts_type), filter_range(right, ts_type)) {
                (Some(l), Some(r)) => {
                    Some(FilterRange { range: l.range.intersect(r.range), exact: l.exact && r.exact })
                }
                (Some(one), None) | (None, Some(one)) => Some(FilterRange { range: one.range, exact: false }),
                (None, None) => None,
            }
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            let (l, r) = (filter_range(left, ts_type)?, filter_range(right, ts_type)?);
            let exact = l.exact && r.exact && l.range.union_is_interval(r.range);
            Some(FilterRange { range: l.range.hull(r.range), exact })
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if let (Some(c), Expr::Literal(v, _)) = (ColExpr::parse(left, ts_type), right.as_ref()) {
                compare(&c, *op, v).map(FilterRange::exact)
            } else if let (Expr::Literal(v, _), Some(c)) = (left.as_ref(), ColExpr::parse(right, ts_type)) {
                compare(&c, op.swap()?, v).map(FilterRange::exact)
            } else {
                None
            }
        }
        Expr::Between(Between { expr, negated: false, low, high }) => {
            let c = ColExpr::parse(expr, ts_type)?;
            let (Expr::Literal(lo, _), Expr::Literal(hi, _)) = (low.as_ref(), high.as_ref()) else {
                return None;
            };
            let range = compare(&c, Operator::GtEq, lo)?.intersect(compare(&c, Operator::LtEq, hi)?);
            Some(FilterRange::exact(range))
        }
        Expr::InList(InList { expr, list, negated: false }) => {
            let c = ColExpr::parse(expr, ts_type)?;
            let mut out = FilterRange::exact(TsRange::EMPTY);
            for item in list {
                let Expr::Literal(v, _) = item else { return None };
                let r = compare(&c, Operator::Eq, v)?;
                out.exact &= out.range.union_is_interval(r);
                out.range = out.range.hull(r);
            }
            Some(out)
        }
        // `ts` itself is never NULL (casts of it can be).
        Expr::IsNotNull(e) if is_ts(e) => Some(FilterRange::exact(TsRange::ALL)),
        Expr::IsNull(e) if is_ts(e) => Some(FilterRange::exact(TsRange::EMPTY)),
        Expr::Literal(ScalarValue::Boolean(b), _) => {
            Some(FilterRange::exact(if *b == Some(true) { TsRange::ALL } else { TsRange::EMPTY }))
        }
        _ => None,
    }
}

/// The range of a list of filters, ANDed as a scan receives them: the
/// intersection of the ranges of those that say something about `ts`.
pub fn filters_range(filters: &[Expr], ts_type: &DataType) -> TsRange {
    filters
        .iter()
        .filter_map(|f| filter_range(f, ts_type))
        .fold(TsRange::ALL, |acc, f| acc.intersect(f.range))
}

fn is_ts(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == TS)
}

/// One step of a cast chain applied to the raw `i64` timestamp.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Multiply (a cast to a finer unit); NULL where it overflows `i64`.
    Mul(i64),
    /// Divide, truncating toward zero (a cast to a coarser unit).
    Div(i64),
    /// To `Float64` (rounding to nearest; monotone).
    Float,
}

/// A value of the column expression.
#[derive(Debug, Clone, Copy)]
enum Val {
    Int(i64),
    Float(f64),
}

/// The `ts` column under a chain of casts: `ty` is the type of the result.
#[derive(Debug)]
struct ColExpr {
    steps: Vec<Step>,
    ty: DataType,
}

impl ColExpr {
    fn parse(e: &Expr, ts_type: &DataType) -> Option<ColExpr> {
        match e {
            Expr::Column(c) if c.name == TS => Some(ColExpr { steps: Vec::new(), ty: ts_type.clone() }),
            Expr::Cast(c) => ColExpr::parse(&c.expr, ts_type)?.cast(c.field.data_type()),
            Expr::TryCast(c) => ColExpr::parse(&c.expr, ts_type)?.cast(c.field.data_type()),
            _ => None,
        }
    }

    /// The expression cast to `to`, if the cast is one modelled here.
    fn cast(mut self, to: &DataType) -> Option<ColExpr> {
        use DataType::*;
        if self.steps.last().is_some_and(|s| matches!(s, Step::Float)) {
            // Float64 -> anything else: not modelled.
            return (to == &Float64).then_some(self);
        }
        match (&self.ty, to) {
            (a, b) if a == b => {}
            (Int64, Timestamp(..)) | (Timestamp(..), Int64) => {}
            (Int64 | Timestamp(..), Float64) => self.steps.push(Step::Float),
            (Timestamp(u1, tz1), Timestamp(u2, tz2)) => {
                // From a local (zone-less) time to a zoned one Arrow shifts each value
                // by the zone's offset at that instant: not modelled.
                if tz1.is_none() && tz2.is_some() {
                    return None;
                }
                let (f1, f2) = (per_second(*u1), per_second(*u2));
                match f1.cmp(&f2) {
                    Ordering::Less => self.steps.push(Step::Mul(f2 / f1)),
                    Ordering::Greater => self.steps.push(Step::Div(f1 / f2)),
                    Ordering::Equal => {}
                }
            }
            _ => return None,
        }
        self.ty = to.clone();
        Some(self)
    }

    /// The expression's value at raw timestamp `ts`, `None` for NULL.
    fn eval(&self, ts: i64) -> Option<Val> {
        let mut v = Val::Int(ts);
        for s in &self.steps {
            v = match (v, s) {
                (Val::Int(x), Step::Mul(k)) => Val::Int(x.checked_mul(*k)?),
                (Val::Int(x), Step::Div(k)) => Val::Int(x / k),
                (Val::Int(x), Step::Float) => Val::Float(x as f64),
                (Val::Float(_), _) => return None,
            };
        }
        Some(v)
    }
}

/// Ticks of `u` in one second.
fn per_second(u: ArrowTimeUnit) -> i64 {
    match u {
        ArrowTimeUnit::Second => 1,
        ArrowTimeUnit::Millisecond => 1_000,
        ArrowTimeUnit::Microsecond => 1_000_000,
        ArrowTimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// A literal, made comparable with values of the column expression.
enum Lit {
    Null,
    /// An integer, in ticks of `1 / per_second` seconds (1 for plain integers).
    Int(i128, i64),
    Float(f64),
}

impl Lit {
    /// The literal `v` as compared with an expression of type `ty`; `None` if the
    /// pair is not one modelled here.
    fn of(v: &ScalarValue, ty: &DataType) -> Option<Lit> {
        use ScalarValue as S;
        if v.is_null() {
            return Some(Lit::Null);
        }
        let int = |x: Option<i128>| x.map(|x| Lit::Int(x, 1));
        match ty {
            DataType::Int64 => match v {
                S::Int8(x) => int(x.map(i128::from)),
                S::Int16(x) => int(x.map(i128::from)),
                S::Int32(x) => int(x.map(i128::from)),
                S::Int64(x) => int(x.map(i128::from)),
                S::UInt8(x) => int(x.map(i128::from)),
                S::UInt16(x) => int(x.map(i128::from)),
                S::UInt32(x) => int(x.map(i128::from)),
                S::UInt64(x) => int(x.map(i128::from)),
                _ => None,
            },
            DataType::Timestamp(_, tz) => {
                let (x, unit, ltz) = match v {
                    S::TimestampSecond(x, z) => (x, ArrowTimeUnit::Second, z),
                    S::TimestampMillisecond(x, z) => (x, ArrowTimeUnit::Millisecond, z),
                    S::TimestampMicrosecond(x, z) => (x, ArrowTimeUnit::Microsecond, z),
                    S::TimestampNanosecond(x, z) => (x, ArrowTimeUnit::Nanosecond, z),
                    _ => return None,
                };
                // Zoned values count from the UTC epoch, local ones from a local
                // epoch: only like compares with like.
                if tz.is_some() != ltz.is_some() {
                    return None;
                }
                x.map(|x| Lit::Int(i128::from(x), per_second(unit)))
            }
            DataType::Float64 => match v {
                S::Float64(x) => x.map(Lit::Float),
                S::Float32(x) => x.map(|x| Lit::Float(f64::from(x))),
                _ => None,
            },
            _ => None,
        }
    }
}

/// How the expression's value `v` compares with the literal; the expression has
/// type `ty`.
fn cmp_val(v: Val, lit: &Lit, ty: &DataType) -> Option<Ordering> {
    match (v, lit) {
        (Val::Int(x), Lit::Int(y, lit_per_sec)) => {
            let own = match ty {
                DataType::Timestamp(u, _) => per_second(*u),
                _ => 1,
            };
            // Both scaled to a common tick (exact in i128: |x| < 2^63, factors <= 1e9).
            let (num, den) = (i128::from(*lit_per_sec), i128::from(own));
            Some((i128::from(x) * num).cmp(&(y * den)))
        }
        // Arrow orders floats by IEEE 754 totalOrder.
        (Val::Float(x), Lit::Float(y)) => Some(x.total_cmp(y)),
        _ => None,
    }
}

/// The timestamps at which `c op v` is true, or `None` if that is not
/// modelled.
fn compare(c: &ColExpr, op: Operator, v: &ScalarValue) -> Option<TsRange> {
    let lit = Lit::of(v, &c.ty)?;
    match op {
        Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {}
        // Equal to a non-NULL literal: `=` (the expression cannot be NULL where it matches).
        Operator::IsNotDistinctFrom if !matches!(lit, Lit::Null) => {}
        _ => return None,
    }
    if matches!(lit, Lit::Null) {
        // A comparison with NULL is never true.
        return Some(TsRange::EMPTY);
    }
    // Where the expression is not NULL: an interval around 0 (every step maps 0
    // to 0, and only multiplications overflow, at both ends).
    let dom_lo = first_true(i64::MIN, 0, |t| c.eval(t).is_some()) as i64;
    let dom_hi = (first_true(0, i64::MAX, |t| c.eval(t).is_none()) - 1) as i64;
    // In there the expression is monotone, so `cmp` goes Less.., Equal.., Greater..
    let cmp = |t: i64| cmp_val(c.eval(t).expect("in the domain"), &lit, &c.ty);
    // Check the pair compares at all before searching.
    cmp(0)?;
    let first_not_less = first_true(dom_lo, dom_hi, |t| cmp(t) != Some(Ordering::Less));
    let first_greater = first_true(dom_lo, dom_hi, |t| cmp(t) == Some(Ordering::Greater));
    let (lo, hi) = (dom_lo as i128, dom_hi as i128);
    Some(match op {
        Operator::Gt => TsRange::from_i128(first_greater, hi),
        Operator::GtEq => TsRange::from_i128(first_not_less, hi),
        Operator::Lt => TsRange::from_i128(lo, first_not_less - 1),
        Operator::LtEq => TsRange::from_i128(lo, first_greater - 1),
        _ => TsRange::from_i128(first_not_less, first_greater - 1),
    })
}

/// The smallest `t` in `[lo, hi]` where the monotone `pred` (false, then true)
/// holds, or `hi + 1` if it holds nowhere.
fn first_true(lo: i64, hi: i64, pred: impl Fn(i64) -> bool) -> i128 {
    let (mut a, mut b) = (lo as i128, hi as i128 + 1);
    while a < b {
        let mid = a + (b - a) / 2;
        if pred(mid as i64) {
            b = mid;
        } else {
            a = mid + 1;
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{cast, try_cast};
    use datafusion::prelude::{col, lit};
    use std::sync::Arc;

    fn ts_ns(v: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(Some(v), None))
    }
    fn ts_s(v: i64) -> Expr {
        lit(ScalarValue::TimestampSecond(Some(v), None))
    }
    fn range(e: Expr, ty: &DataType) -> Option<(TsRange, bool)> {
        filter_range(&e, ty).map(|f| (f.range, f.exact))
    }
    const I64: DataType = DataType::Int64;

    #[test]
    fn comparisons_on_int64() {
        let t = || col("ts");
        assert_eq!(range(t().gt(lit(5i64)), &I64), Some((TsRange::new(6, i64::MAX), true)));
        assert_eq!(range(t().gt_eq(lit(5i64)), &I64), Some((TsRange::new(5, i64::MAX), true)));
        assert_eq!(range(t().lt(lit(5i64)), &I64), Some((TsRange::new(i64::MIN, 4), true)));
        assert_eq!(range(t().lt_eq(lit(5i64)), &I64), Some((TsRange::new(i64::MIN, 5), true)));
        assert_eq!(range(t().eq(lit(5i64)), &I64), Some((TsRange::new(5, 5), true)));
        assert_eq!(range(lit(5i64).lt(t()), &I64), Some((TsRange::new(6, i64::MAX), true)));
        assert_eq!(range(t().gt(lit(i64::MAX)), &I64), Some((TsRange::EMPTY, true)));
        assert_eq!(range(t().lt(lit(i64::MIN)), &I64), Some((TsRange::EMPTY, true)));
        assert_eq!(range(t().lt_eq(lit(i64::MAX)), &I64), Some((TsRange::ALL, true)));
        assert_eq!(range(t().lt(lit(u64::MAX)), &I64), Some((TsRange::ALL, true)));
        assert_eq!(range(t().gt(lit(ScalarValue::Int64(None))), &I64), Some((TsRange::EMPTY, true)));
        assert_eq!(range(t().not_eq(lit(5i64)), &I64), None);
        assert_eq!(range(t().between(lit(3i64), lit(7i64)), &I64), Some((TsRange::new(3, 7), true)));
        assert_eq!(range(t().not_between(lit(3i64), lit(7i64)), &I64), None);
        assert_eq!(range(t().between(lit(7i64), lit(3i64)), &I64), Some((TsRange::EMPTY, true)));
        assert_eq!(
            range(t().in_list(vec![lit(3i64), lit(9i64)], false), &I64),
            Some((TsRange::new(3, 9), false))
        );
        assert_eq!(
            range(t().in_list(vec![lit(3i64), lit(4i64)], false), &I64),
            Some((TsRange::new(3, 4), true))
        );
        // Arithmetic on the column is not modelled.
        assert_eq!(range((t() + lit(1i64)).gt(lit(5i64)), &I64), None);
    }

    #[test]
    fn and_or() {
        let t = || col("ts");
        let r = t().gt(lit(0i64)).and(t().lt(lit(10i64)));
        assert_eq!(range(r, &I64), Some((TsRange::new(1, 9), true)));
        let r = t().lt(lit(0i64)).or(t().gt(lit(10i64)));
        assert_eq!(range(r, &I64), Some((TsRange::ALL, false)));
        let r = t().lt(lit(5i64)).or(t().between(lit(5i64), lit(8i64)));
        assert_eq!(range(r, &I64), Some((TsRange::new(i64::MIN, 8), true)));
        let r = t().lt(lit(5i64)).or(col("value").gt(lit(1i64)));
        assert_eq!(range(r, &I64), None);
        let r = t().lt(lit(5i64)).and(col("value").gt(lit(1i64)));
        assert_eq!(range(r, &I64), Some((TsRange::new(i64::MIN, 4), false)));
    }

    #[test]
    fn timestamp_literals_of_other_units() {
        let ms = DataType::Timestamp(ArrowTimeUnit::Millisecond, None);
        let t = || col("ts");
        // 1.5 s = 1500 ms exactly; 1_500_000_001 ns is past 1500 ms.
        assert_eq!(range(t().gt_eq(ts_ns(1_500_000_000)), &ms), Some((TsRange::new(1500, i64::MAX), true)));
        assert_eq!(range(t().gt_eq(ts_ns(1_500_000_001)), &ms), Some((TsRange::new(1501, i64::MAX), true)));
        assert_eq!(range(t().gt(ts_ns(1_500_000_001)), &ms), Some((TsRange::new(1501, i64::MAX), true)));
        assert_eq!(range(t().lt(ts_ns(1_500_000_001)), &ms), Some((TsRange::new(i64::MIN, 1500), true)));
        assert_eq!(range(t().lt_eq(ts_ns(-1)), &ms), Some((TsRange::new(i64::MIN, -1), true)));
        assert_eq!(range(t().eq(ts_ns(1_500_000_001)), &ms), Some((TsRange::EMPTY, true)));
        assert_eq!(range(t().eq(ts_s(2)), &ms), Some((TsRange::new(2000, 2000), true)));
        // Seconds literals beyond what a nanosecond column holds.
        let ns = DataType::Timestamp(ArrowTimeUnit::Nanosecond, None);
        assert_eq!(range(t().lt(ts_s(i64::MAX)), &ns), Some((TsRange::ALL, true)));
        assert_eq!(range(t().gt(ts_s(i64::MIN)), &ns), Some((TsRange::ALL, true)));
        // Zoned against local: not comparable without a cast.
        let z = lit(ScalarValue::TimestampMillisecond(Some(1), Some(Arc::from("UTC"))));
        assert_eq!(range(t().gt(z.clone()), &ms), None);
        let zoned = DataType::Timestamp(ArrowTimeUnit::Millisecond, Some(Arc::from("+02:00")));
        assert_eq!(range(t().gt(z), &zoned), Some((TsRange::new(2, i64::MAX), true)));
        // Integers against a timestamp column: DataFusion casts one side first.
        assert_eq!(range(t().gt(lit(1i64)), &ms), None);
    }

    #[test]
    fn casts_of_the_column() {
        let ms = DataType::Timestamp(ArrowTimeUnit::Millisecond, None);
        let ns = DataType::Timestamp(ArrowTimeUnit::Nanosecond, None);
        let s = DataType::Timestamp(ArrowTimeUnit::Second, None);
        // ms -> ns multiplies by 1e6: NULL outside +-9.2e12 ms.
        let lim = i64::MAX / 1_000_000;
        let r = range(cast(col("ts"), ns.clone()).gt_eq(ts_ns(1_500_000_001)), &ms);
        assert_eq!(r, Some((TsRange::new(1501, lim), true)));
        let r = range(cast(col("ts"), ns.clone()).lt(ts_ns(0)), &ms);
        assert_eq!(r, Some((TsRange::new(-lim, -1), true)));
        // ms -> s truncates toward zero: CAST(ts AS s) = 0 for -999..=999 ms.
        let r = range(try_cast(col("ts"), s.clone()).eq(ts_s(0)), &ms);
        assert_eq!(r, Some((TsRange::new(-999, 999), true)));
        let r = range(cast(col("ts"), s.clone()).gt(ts_s(1)), &ms);
        assert_eq!(r, Some((TsRange::new(2000, i64::MAX), true)));
        let r = range(cast(col("ts"), s).lt(ts_s(-1)), &ms);
        assert_eq!(r, Some((TsRange::new(i64::MIN, -2000), true)));
        // Int64 <-> Timestamp casts keep the raw value.
        let r = range(cast(col("ts"), ns.clone()).gt(ts_ns(7)), &I64);
        assert_eq!(r, Some((TsRange::new(8, i64::MAX), true)));
        let r = range(cast(col("ts"), I64).lt_eq(lit(7i64)), &ms);
        assert_eq!(r, Some((TsRange::new(i64::MIN, 7), true)));
        // Float64: rounding is monotone; 2^53 + 1 rounds (to even) to 2^53.
        let r = range(cast(col("ts"), DataType::Float64).gt(lit(5.5f64)), &I64);
        assert_eq!(r, Some((TsRange::new(6, i64::MAX), true)));
        let big = (1i64 << 53) as f64;
        let r = range(cast(col("ts"), DataType::Float64).eq(lit(big)), &I64);
        assert_eq!(r, Some((TsRange::new(1 << 53, (1 << 53) + 1), true)));
        // -2^63 as f64 is i64::MIN exactly; i64::MIN + 1 rounds to it.
        let r = range(cast(col("ts"), DataType::Float64).gt(lit(i64::MIN as f64)), &I64);
        assert_eq!(r, Some((TsRange::new(i64::MIN + 513, i64::MAX), true)));
        // Local -> zoned shifts by an offset: not modelled; nor are other casts.
        let zoned = DataType::Timestamp(ArrowTimeUnit::Millisecond, Some(Arc::from("UTC")));
        let z = lit(ScalarValue::TimestampMillisecond(Some(1), Some(Arc::from("UTC"))));
        assert_eq!(range(cast(col("ts"), zoned).gt(z), &ms), None);
        assert_eq!(range(cast(col("ts"), DataType::Int32).gt(lit(1i32)), &I64), None);
        assert_eq!(range(cast(col("ts"), DataType::Utf8).gt(lit("1")), &I64), None);
    }

    #[test]
    fn null_checks_and_booleans() {
        assert_eq!(range(col("ts").is_not_null(), &I64), Some((TsRange::ALL, true)));
        assert_eq!(range(col("ts").is_null(), &I64), Some((TsRange::EMPTY, true)));
        assert_eq!(range(lit(false), &I64), Some((TsRange::EMPTY, true)));
        assert_eq!(range(col("value").is_null(), &I64), None);
    }
}
