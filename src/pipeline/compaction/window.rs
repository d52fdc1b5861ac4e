//! The L1 window controller: the window size compaction partitions by, which
//! follows the ingest density (records per time unit, a moving average over
//! flushed segments) when adaptive sizing is configured, and backs off after
//! compactions cut short by their caps.

use crate::config::{AdaptiveConfig, Config};
use crate::stats::WindowReport;

/// The window controller: the L1 window size in force, adapted to the ingest
/// density when adaptive sizing is on.
pub(crate) struct WindowControl {
    pub(crate) window: i64,
    adaptive: AdaptiveConfig,
    adaptive_on: bool,
    ewma: f64,
    flushes: u64,
    since_sample: u64,
    pub(crate) failures: u64,
}

impl WindowControl {
    pub(crate) fn new(cfg: &Config) -> Self {
        WindowControl {
            window: cfg.window_size,
            adaptive: cfg.adaptive,
            adaptive_on: cfg.adaptive.target_records > 0,
            ewma: 0.0,
            flushes: 0,
            since_sample: 0,
            failures: 0,
        }
    }

    pub(crate) fn report(&self) -> WindowReport {
        WindowReport {
            window: if self.adaptive_on { self.window } else { 0 },
            ewma_density: self.ewma,
            flushes: self.flushes,
            failures: self.failures,
        }
    }

    /// Feeds one flushed segment's density (records per time unit) to the controller.
    pub(crate) fn observe(&mut self, records: usize, span: i128) {
        if !self.adaptive_on {
            return;
        }
        self.flushes += 1;
        let a = &self.adaptive;
        // A flush of fewer than two records, or of a single timestamp, says nothing
        // about density; after `stale_flushes` of those in a row the estimate is
        // forgotten and rebuilt from the next real sample.
        if records < 2 || span <= 1 {
            self.since_sample += 1;
            if a.stale_flushes > 0 && self.since_sample >= a.stale_flushes as u64 {
                self.ewma = 0.0;
            }
            return;
        }
        self.since_sample = 0;
        let sample = records as f64 / (span.max(1) as f64);
        let alpha = if a.alpha > 0.0 { a.alpha } else { 0.2 };
        self.ewma = if self.ewma == 0.0 { sample } else { alpha * sample + (1.0 - alpha) * self.ewma };
        if self.flushes < a.warmup_flushes as u64 || self.ewma <= 0.0 {
            return;
        }
        let mut want = (a.target_records as f64 / self.ewma).clamp(1.0, i64::MAX as f64 / 4.0) as i64;
        if a.min_window > 0 {
            want = want.max(a.min_window);
        }
        if a.max_window > 0 {
            want = want.min(a.max_window);
        }
        if a.window_quantum > 1 {
            want = ((want + a.window_quantum - 1) / a.window_quantum).max(1) * a.window_quantum;
        }
        let cur = self.window as f64;
        let change = ((want as f64 - cur) / cur).abs() * 100.0;
        if change > a.hysteresis_pct as f64 {
            self.window = want.max(1);
        }
    }

    pub(crate) fn compaction_failed(&mut self) {
        self.failures += 1;
        let a = &self.adaptive;
        if self.adaptive_on
            && a.failure_backoff_threshold > 0
            && self.failures >= a.failure_backoff_threshold as u64
        {
            let grown = self.window as i128 * (100 + a.failure_backoff_pct as i128) / 100;
            let mut w = grown.clamp(1, i64::MAX as i128 / 4) as i64;
            if a.max_window > 0 {
                w = w.min(a.max_window);
            }
            self.window = w;
            self.failures = 0;
        }
    }
}
