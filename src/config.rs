//! Engine configuration: every knob of the C library, validated once at build time.

use std::marker::PhantomData;
use std::time::Duration;

use crate::error::{Error, Result};

/// The unit the caller's timestamps are in. It only sets the default window size
/// (one hour in this unit); the engine never converts timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimeUnit {
    /// Seconds.
    Seconds,
    /// Milliseconds (the default).
    #[default]
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

impl TimeUnit {
    /// How many ticks of this unit make one hour.
    ///
    /// ```
    /// use timelog::TimeUnit;
    /// assert_eq!(TimeUnit::Seconds.ticks_per_hour(), 3_600);
    /// assert_eq!(TimeUnit::Millis.ticks_per_hour(), 3_600_000);
    /// ```
    pub fn ticks_per_hour(self) -> i64 {
        match self {
            TimeUnit::Seconds => 3_600,
            TimeUnit::Millis => 3_600_000,
            TimeUnit::Micros => 3_600_000_000,
            TimeUnit::Nanos => 3_600_000_000_000,
        }
    }

    /// The short name used by the C library and the Python package (`"s"`, `"ms"`, `"us"`, `"ns"`);
    /// `parse` reads it back.
    ///
    /// ```
    /// use timelog::TimeUnit;
    /// assert_eq!(TimeUnit::Micros.as_str(), "us");
    /// assert_eq!("us".parse::<TimeUnit>(), Ok(TimeUnit::Micros));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Millis => "ms",
            TimeUnit::Micros => "us",
            TimeUnit::Nanos => "ns",
        }
    }
}

impl std::str::FromStr for TimeUnit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "s" => Ok(TimeUnit::Seconds),
            "ms" => Ok(TimeUnit::Millis),
            "us" => Ok(TimeUnit::Micros),
            "ns" => Ok(TimeUnit::Nanos),
            other => Err(Error::InvalidConfig {
                field: "time_unit",
                reason: format!("unknown unit {other:?}; expected \"s\", \"ms\", \"us\" or \"ns\""),
            }),
        }
    }
}

/// Who runs flushes and compactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MaintenanceMode {
    /// A background worker thread started with the log (the default).
    #[default]
    Background,
    /// Nothing runs by itself: the caller drives maintenance with
    /// [`Timelog::maint_step`](crate::Timelog::maint_step), `flush` and `compact`.
    Manual,
}

/// Caps on one compaction. `0` means "no cap" for each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactionConfig {
    /// Stop adding L0 inputs once their bytes reach this (0: unlimited).
    pub target_bytes: u64,
    /// At most this many L0 segments per compaction (0: unlimited).
    pub max_inputs: u32,
    /// At most this many L1 windows touched per compaction (0: unlimited; at least one
    /// L0 segment is always taken so that compaction makes progress).
    pub max_windows: u32,
}

/// Adaptive window sizing: the L1 window follows the ingest density so that a window
/// holds about `target_records` records. `target_records == 0` disables it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveConfig {
    /// Records a window should hold (0: adaptive sizing disabled).
    pub target_records: u64,
    /// Smallest window (0: no lower bound beyond 1).
    pub min_window: i64,
    /// Largest window (0: no upper bound).
    pub max_window: i64,
    /// Only change the window when the new size differs by more than this percentage (0..=100).
    pub hysteresis_pct: u32,
    /// Window sizes are rounded to a multiple of this (0: no rounding).
    pub window_quantum: i64,
    /// Weight of the newest density sample in the moving average (0.0..=1.0; 0 picks 0.2).
    pub alpha: f64,
    /// Flushes observed before the first adjustment.
    pub warmup_flushes: u32,
    /// Forget the density estimate after this many flushes without a sample (0: never).
    pub stale_flushes: u32,
    /// After this many failed compactions in a row, back off (0: never).
    pub failure_backoff_threshold: u32,
    /// When backing off, grow the window by this percentage.
    pub failure_backoff_pct: u32,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            target_records: 0,
            min_window: 0,
            max_window: 0,
            hysteresis_pct: 10,
            window_quantum: 0,
            alpha: 0.2,
            warmup_flushes: 4,
            stale_flushes: 0,
            failure_backoff_threshold: 0,
            failure_backoff_pct: 50,
        }
    }
}

/// Declares [`Config`] with private fields and one accessor per field (every
/// field is `Copy`), so that a configuration can be read but only made through
/// the validating builder.
macro_rules! config_fields {
    ($(#[$meta:meta])* pub struct Config { $($(#[$doc:meta])* $name:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct Config {
            $(pub(crate) $name: $ty,)*
        }

        impl Config {
            $(
                $(#[$doc])*
                #[doc = concat!(
                    "\n```\nlet cfg = timelog::Config::default();\nlet ",
                    stringify!($name),
                    " = cfg.",
                    stringify!($name),
                    "();\nassert_eq!(cfg.to_builder::<u8>().config().unwrap().",
                    stringify!($name),
                    "(), ",
                    stringify!($name),
                    ");\n```"
                )]
                pub fn $name(&self) -> $ty {
                    self.$name
                }
            )*
        }
    };
}

config_fields! {
    /// A validated configuration: the only way to make one is [`Builder::config`]
    /// (or `Config::default()`), so a `Config` in hand is always valid. Read the
    /// knobs through the accessors; to change one, go back to a builder with
    /// [`Config::to_builder`].
    ///
    /// ```
    /// use timelog::{Config, Timelog};
    /// let cfg = Timelog::<u32>::builder().max_l0_segments(4).config().unwrap();
    /// assert_eq!(cfg.max_l0_segments(), 4);
    /// let wider = cfg.to_builder::<u32>().max_l0_segments(16).config().unwrap();
    /// assert_eq!(wider.max_l0_segments(), 16);
    /// assert_eq!(Config::default().max_l0_segments(), 8);
    /// ```
    pub struct Config {
        /// Unit of the timestamps (sets the default window size).
        time_unit: TimeUnit,
        /// Bytes per segment page (at least 256).
        target_page_bytes: usize,
        /// Memtable budget in bytes; a full memtable is sealed.
        memtable_max_bytes: usize,
        /// Bytes of out-of-order records the memtable may hold before it is sealed.
        ooo_budget_bytes: usize,
        /// Sealed memtables allowed to wait for flush before writers see backpressure.
        sealed_max_runs: usize,
        /// How long a writer waits for room in the sealed queue (zero: do not wait).
        sealed_wait: Duration,
        /// How often the background worker wakes up without being asked.
        maintenance_wakeup: Duration,
        /// Sealed memtables flushed per maintenance step (0: all of them).
        drain_batch_limit: usize,
        /// L0 segments allowed before compaction runs.
        max_l0_segments: usize,
        /// L1 window size, in timestamp units.
        window_size: i64,
        /// L1 windows are aligned to `window_origin + k * window_size`.
        window_origin: i64,
        /// Compact when this fraction of the stored records is deleted (0.0: disabled).
        delete_debt_threshold: f64,
        /// A segment is rewritten (without its deleted records) once this fraction of
        /// its records is deleted; a segment whose records are all deleted is dropped
        /// whole, without a rewrite, whatever this says. Default 0.25, which keeps the
        /// memory held by deleted records below a third of the live records' memory
        /// (see `docs/architecture.md`, "Deleted data"). 1.0: only whole segments go.
        segment_dead_fraction: f64,
        /// Caps on one compaction.
        compaction: CompactionConfig,
        /// Adaptive window sizing.
        adaptive: AdaptiveConfig,
        /// Who runs maintenance.
        maintenance: MaintenanceMode,
    }
}

/// Default of [`Config::segment_dead_fraction`].
const DEFAULT_SEGMENT_DEAD_FRACTION: f64 = 0.25;

impl Default for Config {
    fn default() -> Self {
        Builder::<()>::new().config().expect("defaults are valid")
    }
}

impl Config {
    /// Records per segment page for values of `value_size` bytes.
    pub(crate) fn page_records(&self, value_size: usize) -> usize {
        (self.target_page_bytes / (8 + value_size.max(1))).max(16)
    }

    /// A builder holding every knob of this configuration, to change some of them.
    ///
    /// ```
    /// use timelog::{Config, Timelog};
    /// let cfg = Timelog::<u8>::builder().window_size(10).config().unwrap();
    /// let more = cfg.to_builder::<u8>().max_l0_segments(2).config().unwrap();
    /// assert_eq!((more.window_size(), more.max_l0_segments()), (10, 2));
    /// ```
    pub fn to_builder<V>(&self) -> Builder<V> {
        Builder {
            k: Knobs {
                time_unit: self.time_unit,
                target_page_bytes: Some(self.target_page_bytes),
                memtable_max_bytes: Some(self.memtable_max_bytes),
                ooo_budget_bytes: Some(self.ooo_budget_bytes),
                sealed_max_runs: Some(self.sealed_max_runs),
                sealed_wait: Some(self.sealed_wait),
                maintenance_wakeup: Some(self.maintenance_wakeup),
                drain_batch_limit: self.drain_batch_limit,
                max_l0_segments: Some(self.max_l0_segments),
                window_size: Some(self.window_size),
                window_origin: self.window_origin,
                delete_debt_threshold: self.delete_debt_threshold,
                segment_dead_fraction: Some(self.segment_dead_fraction),
                compaction: self.compaction,
                adaptive: Some(self.adaptive),
                maintenance: self.maintenance,
            },
            _v: PhantomData,
        }
    }
}

/// Builder for [`Timelog`](crate::Timelog): every knob of the C library's
/// configuration. `V` is the value type of the log [`Builder::build`] makes (it
/// is usually inferred from the binding the log goes into).
///
/// ```
/// use timelog::{Timelog, TimeUnit, MaintenanceMode};
/// let log: Timelog<u64> = Timelog::builder()
///     .time_unit(TimeUnit::Micros)
///     .memtable_max_bytes(4 << 20)
///     .maintenance(MaintenanceMode::Manual)
///     .build()
///     .unwrap();
/// assert!(log.is_empty());
/// ```
#[must_use]
pub struct Builder<V> {
    k: Knobs,
    _v: PhantomData<fn() -> V>,
}

impl<V> Clone for Builder<V> {
    fn clone(&self) -> Self {
        Builder { k: self.k.clone(), _v: PhantomData }
    }
}

impl<V> std::fmt::Debug for Builder<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.k.fmt(f)
    }
}

impl<V> Default for Builder<V> {
    fn default() -> Self {
        Builder { k: Knobs::default(), _v: PhantomData }
    }
}

/// The builder's settings (`None`: the default).
#[derive(Debug, Clone, Default)]
struct Knobs {
    time_unit: TimeUnit,
    target_page_bytes: Option<usize>,
    memtable_max_bytes: Option<usize>,
    ooo_budget_bytes: Option<usize>,
    sealed_max_runs: Option<usize>,
    sealed_wait: Option<Duration>,
    maintenance_wakeup: Option<Duration>,
    drain_batch_limit: usize,
    max_l0_segments: Option<usize>,
    window_size: Option<i64>,
    window_origin: i64,
    delete_debt_threshold: f64,
    segment_dead_fraction: Option<f64>,
    compaction: CompactionConfig,
    adaptive: Option<AdaptiveConfig>,
    maintenance: MaintenanceMode,
}

fn invalid<T>(field: &'static str, reason: impl Into<String>) -> Result<T> {
    Err(Error::InvalidConfig { field, reason: reason.into() })
}

/// Defines a builder setter, with a doctest that sets `$sample` and reads it back
/// from the validated [`Config`]. `opt` knobs are stored as `Some` (their default
/// depends on other knobs), `plain` ones as they are.
macro_rules! setter {
    (@doc $name:ident, $sample:expr) => {
        concat!(
            "\n```\nuse timelog::Timelog;\nlet cfg = Timelog::<u8>::builder().",
            stringify!($name),
            "(",
            stringify!($sample),
            ").config().unwrap();\nassert_eq!(cfg.",
            stringify!($name),
            "(), ",
            stringify!($sample),
            ");\n```"
        )
    };
    ($(#[$m:meta])* opt $name:ident: $ty:ty = $sample:expr) => {
        $(#[$m])*
        #[doc = setter!(@doc $name, $sample)]
        pub fn $name(mut self, value: $ty) -> Self {
            self.k.$name = Some(value);
            self
        }
    };
    ($(#[$m:meta])* plain $name:ident: $ty:ty = $sample:expr) => {
        $(#[$m])*
        #[doc = setter!(@doc $name, $sample)]
        pub fn $name(mut self, value: $ty) -> Self {
            self.k.$name = value;
            self
        }
    };
}

impl<V> Builder<V> {
    /// A builder with every knob at its default.
    ///
    /// ```
    /// use timelog::{Builder, Config};
    /// assert_eq!(Builder::<u8>::new().config().unwrap(), Config::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    setter!(
        /// Timestamp unit (default milliseconds). Sets the default window size to one hour.
        plain time_unit: TimeUnit = timelog::TimeUnit::Micros
    );
    setter!(
        /// Bytes per segment page (default 64 KiB, at least 256).
        opt target_page_bytes: usize = 4096
    );
    setter!(
        /// Memtable budget in bytes (default 1 MiB, at least 1).
        opt memtable_max_bytes: usize = 1 << 16
    );
    setter!(
        /// Out-of-order budget in bytes (default a tenth of the memtable budget).
        opt ooo_budget_bytes: usize = 1 << 12
    );
    setter!(
        /// Sealed memtables that may wait for flush before backpressure (default 4, at least 1).
        opt sealed_max_runs: usize = 2
    );
    setter!(
        /// How long a writer waits for the sealed queue to drain (default 100 ms; zero: no wait).
        opt sealed_wait: Duration = std::time::Duration::ZERO
    );
    setter!(
        /// Background worker wake-up period (default 100 ms, must be non-zero).
        opt maintenance_wakeup: Duration = std::time::Duration::from_millis(10)
    );
    setter!(
        /// Sealed memtables flushed per maintenance step (default 0: all).
        plain drain_batch_limit: usize = 1
    );
    setter!(
        /// L0 segments allowed before compaction (default 8, at least 1).
        opt max_l0_segments: usize = 4
    );
    setter!(
        /// L1 window size in timestamp units (default one hour in the unit, positive).
        opt window_size: i64 = 60_000
    );
    setter!(
        /// Origin the L1 windows are aligned to (default 0).
        plain window_origin: i64 = -5
    );
    setter!(
        /// Fraction of deleted records that triggers compaction (default 0.0: disabled; 0.0..=1.0).
        plain delete_debt_threshold: f64 = 0.5
    );
    setter!(
        /// Fraction of a segment's records that, once deleted, gets the segment
        /// rewritten without them (default 0.25; within `0.0 < f <= 1.0`, where 1.0
        /// leaves partly deleted segments alone). Segments whose records are all
        /// deleted are dropped whole in any case.
        opt segment_dead_fraction: f64 = 1.0
    );
    setter!(
        /// Compaction caps (default: none).
        plain compaction: CompactionConfig = timelog::CompactionConfig { max_inputs: 2, ..Default::default() }
    );
    setter!(
        /// Adaptive window sizing (default: disabled).
        opt adaptive: AdaptiveConfig = timelog::AdaptiveConfig { target_records: 10_000, ..Default::default() }
    );
    setter!(
        /// Maintenance mode (default: a background worker).
        plain maintenance: MaintenanceMode = timelog::MaintenanceMode::Manual
    );

    /// Validates every field and returns the configuration, or
    /// [`Error::InvalidConfig`] naming the first field that is out of range.
    ///
    /// ```
    /// use timelog::{Error, Timelog};
    /// let err = Timelog::<u8>::builder().max_l0_segments(0).config().unwrap_err();
    /// assert!(matches!(err, Error::InvalidConfig { field: "max_l0_segments", .. }));
    /// ```
    pub fn config(&self) -> Result<Config> {
        let k = &self.k;
        let memtable_max_bytes = k.memtable_max_bytes.unwrap_or(1 << 20);
        if memtable_max_bytes == 0 {
            return invalid("memtable_max_bytes", "must be at least 1");
        }
        let target_page_bytes = k.target_page_bytes.unwrap_or(64 << 10);
        if target_page_bytes < 256 {
            return invalid("target_page_bytes", format!("{target_page_bytes} is below 256"));
        }
        if target_page_bytes > (1 << 40) {
            return invalid("target_page_bytes", "must be at most 2^40");
        }
        let ooo_budget_bytes = k.ooo_budget_bytes.unwrap_or((memtable_max_bytes / 10).max(1));
        if ooo_budget_bytes == 0 {
            return invalid("ooo_budget_bytes", "must be at least 1");
        }
        let sealed_max_runs = k.sealed_max_runs.unwrap_or(4);
        if sealed_max_runs == 0 {
            return invalid("sealed_max_runs", "must be at least 1");
        }
        if sealed_max_runs > 1 << 20 {
            return invalid("sealed_max_runs", "must be at most 2^20");
        }
        let sealed_wait = k.sealed_wait.unwrap_or(Duration::from_millis(100));
        if sealed_wait > Duration::from_millis(u32::MAX as u64) {
            return invalid("sealed_wait", "must be at most 2^32-1 ms");
        }
        let maintenance_wakeup = k.maintenance_wakeup.unwrap_or(Duration::from_millis(100));
        if maintenance_wakeup.is_zero() {
            return invalid("maintenance_wakeup", "must be non-zero");
        }
        if maintenance_wakeup > Duration::from_millis(u32::MAX as u64) {
            return invalid("maintenance_wakeup", "must be at most 2^32-1 ms");
        }
        let max_l0_segments = k.max_l0_segments.unwrap_or(8);
        if max_l0_segments == 0 {
            return invalid("max_l0_segments", "must be at least 1");
        }
        let window_size = k.window_size.unwrap_or(k.time_unit.ticks_per_hour());
        if window_size <= 0 {
            return invalid("window_size", format!("{window_size} is not positive"));
        }
        let d = k.delete_debt_threshold;
        if !d.is_finite() || !(0.0..=1.0).contains(&d) {
            return invalid("delete_debt_threshold", format!("{d} is not within 0.0..=1.0"));
        }
        let f = k.segment_dead_fraction.unwrap_or(DEFAULT_SEGMENT_DEAD_FRACTION);
        if !(f.is_finite() && f > 0.0 && f <= 1.0) {
            return invalid("segment_dead_fraction", format!("{f} is not within 0.0 < f <= 1.0"));
        }
        let adaptive = k.adaptive.unwrap_or_default();
        if !adaptive.alpha.is_finite() || !(0.0..=1.0).contains(&adaptive.alpha) {
            return invalid("adaptive_alpha", format!("{} is not within 0.0..=1.0", adaptive.alpha));
        }
        if adaptive.min_window < 0 {
            return invalid("adaptive_min_window", "must not be negative");
        }
        if adaptive.max_window < 0 {
            return invalid("adaptive_max_window", "must not be negative");
        }
        if adaptive.window_quantum < 0 {
            return invalid("adaptive_window_quantum", "must not be negative");
        }
        if adaptive.target_records > 0 {
            if adaptive.max_window != 0 && adaptive.min_window > adaptive.max_window {
                return invalid("adaptive_min_window", "is above adaptive_max_window");
            }
            if adaptive.hysteresis_pct > 100 {
                return invalid("adaptive_hysteresis_pct", "must be at most 100");
            }
        }
        Ok(Config {
            time_unit: k.time_unit,
            target_page_bytes,
            memtable_max_bytes,
            ooo_budget_bytes,
            sealed_max_runs,
            sealed_wait,
            maintenance_wakeup,
            drain_batch_limit: k.drain_batch_limit,
            max_l0_segments,
            window_size,
            window_origin: k.window_origin,
            delete_debt_threshold: d,
            segment_dead_fraction: f,
            compaction: k.compaction,
            adaptive,
            maintenance: k.maintenance,
        })
    }

    /// Validates the configuration and creates the log.
    ///
    /// ```
    /// use timelog::{MaintenanceMode, Timelog};
    /// let log: Timelog<&str> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    /// let _ = log.append(1, "one");
    /// assert_eq!(log.len(), 1);
    /// ```
    pub fn build(self) -> Result<crate::Timelog<V>>
    where
        V: crate::Value,
    {
        Ok(crate::Timelog::with_config(self.config()?))
    }
}
