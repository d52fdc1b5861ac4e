//! Configuration validation: every invalid builder field is rejected by
//! `config()` and `build()` with `Error::InvalidConfig` naming the field (and a
//! reason, shown by `Display`), the documented boundaries are accepted and stored
//! as given, and defaults follow the time unit.

use std::time::Duration;

use timelog::{AdaptiveConfig, Builder, Error, TimeUnit, Timelog};

fn base() -> Builder<u64> {
    Timelog::builder()
}

fn adaptive(f: impl FnOnce(&mut AdaptiveConfig)) -> Builder<u64> {
    let mut a = AdaptiveConfig::default();
    f(&mut a);
    base().adaptive(a)
}

fn enabled(f: impl FnOnce(&mut AdaptiveConfig)) -> Builder<u64> {
    adaptive(|a| {
        a.target_records = 1000;
        f(a)
    })
}

#[test]
fn every_invalid_config_field_is_named() {
    let ms = |n: u64| Duration::from_millis(n);
    let cases: Vec<(Builder<u64>, &str)> = vec![
        (base().memtable_max_bytes(0), "memtable_max_bytes"),
        (base().target_page_bytes(0), "target_page_bytes"),
        (base().target_page_bytes(255), "target_page_bytes"),
        (base().target_page_bytes((1 << 40) + 1), "target_page_bytes"),
        (base().target_page_bytes(usize::MAX), "target_page_bytes"),
        (base().ooo_budget_bytes(0), "ooo_budget_bytes"),
        (base().sealed_max_runs(0), "sealed_max_runs"),
        (base().sealed_max_runs((1 << 20) + 1), "sealed_max_runs"),
        (base().sealed_max_runs(usize::MAX), "sealed_max_runs"),
        (base().sealed_wait(ms(u32::MAX as u64 + 1)), "sealed_wait"),
        (base().sealed_wait(Duration::MAX), "sealed_wait"),
        (base().maintenance_wakeup(Duration::ZERO), "maintenance_wakeup"),
        (base().maintenance_wakeup(ms(u32::MAX as u64 + 1)), "maintenance_wakeup"),
        (base().maintenance_wakeup(Duration::MAX), "maintenance_wakeup"),
        (base().max_l0_segments(0), "max_l0_segments"),
        (base().window_size(0), "window_size"),
        (base().window_size(-1), "window_size"),
        (base().window_size(i64::MIN), "window_size"),
        (base().delete_debt_threshold(f64::NAN), "delete_debt_threshold"),
        (base().delete_debt_threshold(f64::INFINITY), "delete_debt_threshold"),
        (base().delete_debt_threshold(f64::NEG_INFINITY), "delete_debt_threshold"),
        (base().delete_debt_threshold(-0.001), "delete_debt_threshold"),
        (base().delete_debt_threshold(1.001), "delete_debt_threshold"),
        (adaptive(|a| a.alpha = f64::NAN), "adaptive_alpha"),
        (adaptive(|a| a.alpha = f64::INFINITY), "adaptive_alpha"),
        (adaptive(|a| a.alpha = -0.1), "adaptive_alpha"),
        (adaptive(|a| a.alpha = 1.5), "adaptive_alpha"),
        (enabled(|a| a.alpha = -0.1), "adaptive_alpha"),
        (adaptive(|a| a.min_window = -1), "adaptive_min_window"),
        (enabled(|a| a.min_window = i64::MIN), "adaptive_min_window"),
        (adaptive(|a| a.max_window = -1), "adaptive_max_window"),
        (enabled(|a| a.max_window = -5), "adaptive_max_window"),
        (adaptive(|a| a.window_quantum = -1), "adaptive_window_quantum"),
        (enabled(|a| a.window_quantum = -1), "adaptive_window_quantum"),
        (
            enabled(|a| {
                a.min_window = 10;
                a.max_window = 5
            }),
            "adaptive_min_window",
        ),
        (enabled(|a| a.hysteresis_pct = 101), "adaptive_hysteresis_pct"),
        (enabled(|a| a.hysteresis_pct = u32::MAX), "adaptive_hysteresis_pct"),
    ];
    for (b, field) in cases {
        let desc = format!("{b:?}");
        match b.config() {
            Err(Error::InvalidConfig { field: f, reason }) => {
                assert_eq!(f, field, "wrong field named for {desc}");
                assert!(!reason.is_empty(), "empty reason for {desc}");
                let shown = Error::InvalidConfig { field: f, reason }.to_string();
                assert!(shown.contains(field), "{shown:?} does not name {field}");
            }
            other => panic!("{desc}: expected InvalidConfig({field}), got {other:?}"),
        }
        match b.build() {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field, "build() {desc}"),
            other => panic!("build() {desc}: expected InvalidConfig({field}), got {other:?}"),
        }
    }
    match "xs".parse::<TimeUnit>() {
        Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, "time_unit"),
        other => panic!("expected InvalidConfig(time_unit), got {other:?}"),
    }
}

#[test]
fn config_boundaries_are_accepted() {
    let ok: Vec<Builder<u64>> = vec![
        base().memtable_max_bytes(1),
        base().target_page_bytes(256),
        base().target_page_bytes(1 << 40),
        base().ooo_budget_bytes(1),
        base().memtable_max_bytes(1).ooo_budget_bytes(usize::MAX),
        base().sealed_max_runs(1),
        base().sealed_max_runs(1 << 20),
        base().sealed_wait(Duration::ZERO),
        base().maintenance_wakeup(Duration::from_nanos(1)),
        base().max_l0_segments(1),
        base().max_l0_segments(usize::MAX),
        base().window_size(1),
        base().window_size(i64::MAX),
        base().window_origin(i64::MIN),
        base().window_origin(i64::MAX),
        base().delete_debt_threshold(0.0),
        base().delete_debt_threshold(1.0),
        adaptive(|a| a.alpha = 0.0),
        adaptive(|a| a.alpha = 1.0),
        // Disabled adaptive sizing does not check the cross-field rules.
        adaptive(|a| {
            a.min_window = 10;
            a.max_window = 5;
            a.hysteresis_pct = 1000
        }),
        // Enabled with no upper bound: any minimum is fine.
        enabled(|a| {
            a.min_window = i64::MAX;
            a.max_window = 0
        }),
        enabled(|a| {
            a.min_window = 5;
            a.max_window = 5;
            a.hysteresis_pct = 100
        }),
    ];
    for b in ok {
        let desc = format!("{b:?}");
        let cfg = b.config().unwrap_or_else(|e| panic!("{desc} rejected: {e}"));
        let log: Timelog<u64> = b.build().unwrap_or_else(|e| panic!("{desc}: {e}"));
        assert_eq!(log.config(), &cfg);
        drop(log);
    }
    // Values are stored as given, defaults follow the time unit.
    let cfg = base().memtable_max_bytes(1234).target_page_bytes(4096).window_origin(-5).config().unwrap();
    assert_eq!(cfg.memtable_max_bytes(), 1234);
    assert_eq!(cfg.target_page_bytes(), 4096);
    assert_eq!(cfg.window_origin(), -5);
    for unit in [TimeUnit::Seconds, TimeUnit::Millis, TimeUnit::Micros, TimeUnit::Nanos] {
        let cfg = base().time_unit(unit).config().unwrap();
        assert_eq!(cfg.window_size(), unit.ticks_per_hour());
        assert_eq!(unit.as_str().parse::<TimeUnit>(), Ok(unit));
    }
}

/// The error messages say "must be at most 2^32-1 ms": exactly `u32::MAX` ms is allowed.
#[test]
fn durations_of_exactly_u32_max_millis_are_accepted() {
    let d = Duration::from_millis(u32::MAX as u64);
    let r = base().sealed_wait(d).config();
    assert!(r.is_ok(), "sealed_wait(u32::MAX ms): {r:?}");
    let r = base().maintenance_wakeup(d).config();
    assert!(r.is_ok(), "maintenance_wakeup(u32::MAX ms): {r:?}");
}
