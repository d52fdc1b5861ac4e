//! Samples, medians and what is made of them: the table of medians with each
//! row's ratio to its in-run baseline, the extras, the targets, and the JSON
//! file.
//!
//! Every timed figure has one sample per repeat (the memory figures one per
//! probe run), so the `i`-th samples of two figures come from the same repeat:
//! a row's ratio is the median of the per-repeat ratios, not the ratio of the
//! medians.

use std::collections::BTreeMap;

/// The implementations compared, in table order.
pub const IMPLS: [&str; 4] = ["engine", "vec_floor", "btree", "skiplist"];

/// What a row's ratio is taken against, repeat by repeat.
enum Base {
    /// No in-run baseline.
    None,
    /// The `Vec` floor of the same row (every structure / the floor).
    Floor,
    /// The row's own `baseline` samples (engine / baseline), described.
    Own(&'static str),
    /// The row is a ratio of rates: the figure `num` over the figure `den` of
    /// the same structure (each column the ratio of the medians), described.
    Rates(&'static str, &'static str, &'static str),
}

/// What a target is checked on.
enum On {
    /// The row's ratio (median of the per-repeat ratios).
    Ratio,
    /// The engine's median.
    Engine,
    /// The engine's median over the engine's median of another row.
    EngineOver(&'static str),
    /// No target: the engine's median is reported.
    #[cfg_attr(not(feature = "arrow"), allow(dead_code))]
    Reported,
}

/// A performance target of the project, checked on the engine (the targets
/// and their reasons are listed in `docs/performance.md`).
struct Target {
    label: &'static str,
    on: On,
    /// In the row's unit (a plain number for ratios).
    value: f64,
    /// What the printed figure and target are divided by, and their suffix.
    scale: f64,
    suffix: &'static str,
}

/// A target on the row's ratio ("x").
const fn on_ratio(label: &'static str, value: f64) -> Target {
    Target { label, on: On::Ratio, value, scale: 1.0, suffix: "x" }
}

/// A figure without a target, reported in the row's unit (shown divided by
/// `scale`, with `suffix`).
#[cfg(feature = "arrow")]
const fn reported(label: &'static str, scale: f64, suffix: &'static str) -> Target {
    Target { label, on: On::Reported, value: f64::NAN, scale, suffix }
}

/// One row of the table and of the JSON output.
pub struct Scenario {
    key: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    base: Base,
    targets: &'static [Target],
}

/// The JSON scenario keys, in order.
const SCENARIOS: [Scenario; 17] = [
    Scenario {
        key: "batch_ingest",
        unit: "records/s",
        higher_is_better: true,
        base: Base::Floor,
        targets: &[on_ratio("batch ingest incl. flush vs floor", 0.75)],
    },
    Scenario {
        key: "single_append",
        unit: "records/s",
        higher_is_better: true,
        base: Base::Floor,
        targets: &[on_ratio("single append incl. flush vs floor ingest", 0.55)],
    },
    Scenario {
        key: "full_scan",
        unit: "records/s",
        higher_is_better: true,
        base: Base::Floor,
        targets: &[on_ratio("full scan after compaction vs floor", 0.4)],
    },
    Scenario {
        key: "full_scan_ts_v",
        unit: "records/s",
        higher_is_better: true,
        base: Base::Floor,
        targets: &[on_ratio("full scan of timestamps and values vs floor", 0.8)],
    },
    Scenario {
        key: "range",
        unit: "ns/query",
        higher_is_better: false,
        base: Base::Floor,
        targets: &[on_ratio("range of 1000, time vs floor", 1.25)],
    },
    Scenario {
        key: "point",
        unit: "ns/lookup",
        higher_is_better: false,
        base: Base::Floor,
        targets: &[on_ratio("point lookup, time vs floor", 0.35)],
    },
    Scenario {
        key: "delete_range",
        unit: "ns/call",
        higher_is_better: false,
        base: Base::None,
        targets: &[Target {
            label: "delete_range call",
            on: On::Engine,
            value: 300.0,
            scale: 1.0,
            suffix: " ns",
        }],
    },
    Scenario {
        key: "two_writers",
        unit: "ratio to one writer",
        higher_is_better: true,
        base: Base::Rates("two_writers_rate", "batch_ingest", "one writer"),
        targets: &[on_ratio("2 writers vs 1 writer", 1.0)],
    },
    Scenario {
        key: "writer_under_readers",
        unit: "ratio to the solo writer",
        higher_is_better: true,
        base: Base::Rates("writer_contended", "writer_solo", "the solo writer"),
        targets: &[on_ratio("writer under 2 readers vs solo", 0.7)],
    },
    Scenario {
        key: "memory",
        unit: "bytes/record",
        higher_is_better: false,
        base: Base::Floor,
        targets: &[Target {
            label: "memory after ingest + flush (V=u64)",
            on: On::Engine,
            value: 18.0,
            scale: 1.0,
            suffix: " B/rec",
        }],
    },
    Scenario {
        key: "memory_peak",
        unit: "bytes/record",
        higher_is_better: false,
        base: Base::Floor,
        targets: &[
            Target {
                label: "peak during compaction vs after ingest",
                on: On::EngineOver("memory"),
                value: 1.5,
                scale: 1.0,
                suffix: "x",
            },
            Target {
                label: "peak during compaction, absolute (1.5 x 18)",
                on: On::Engine,
                value: 27.0,
                scale: 1.0,
                suffix: " B/rec",
            },
        ],
    },
    Scenario {
        key: "shuffled_ingest",
        unit: "records/s",
        higher_is_better: true,
        base: Base::Floor,
        targets: &[on_ratio("shuffled ingest incl. flush vs sort floor", 0.5)],
    },
    Scenario {
        key: "ooo20_ingest",
        unit: "records/s",
        higher_is_better: true,
        base: Base::Floor,
        targets: &[on_ratio("20 % out of order ingest vs floor", 0.75)],
    },
    Scenario {
        key: "interleaved_scan",
        unit: "records/s",
        higher_is_better: true,
        base: Base::Floor,
        targets: &[Target {
            label: "scan of 16 interleaved L0 segments",
            on: On::Engine,
            value: 1e8,
            scale: 1e6,
            suffix: " M/s",
        }],
    },
    Scenario {
        key: "two_writers_cpu",
        unit: "ns CPU/record",
        higher_is_better: false,
        base: Base::Own("engine, one writer"),
        targets: &[on_ratio("2 writers vs 1 writer, process CPU/record", 1.1)],
    },
    Scenario {
        key: "write_amplification",
        unit: "records written per record ingested",
        higher_is_better: false,
        base: Base::None,
        targets: &[Target {
            label: "write amplification (with compact_now)",
            on: On::Engine,
            value: 1.5,
            scale: 1.0,
            suffix: "x",
        }],
    },
    Scenario {
        key: "maintenance_cpu_share",
        unit: "ns CPU/record",
        higher_is_better: false,
        base: Base::Own("engine write path (the writer thread)"),
        targets: &[on_ratio("maintenance CPU vs write-path CPU", 0.5)],
    },
];

/// The rows of the cargo feature `arrow` (see the `arrow` module), after the
/// others.
#[cfg(feature = "arrow")]
const ARROW_SCENARIOS: [Scenario; 4] = [
    Scenario {
        key: "arrow_export",
        unit: "records/s",
        higher_is_better: true,
        base: Base::Own("engine full scan summing ts + value"),
        targets: &[on_ratio("Arrow export + sum kernels vs engine scan", 0.8)],
    },
    Scenario {
        key: "parquet_export",
        unit: "records/s",
        higher_is_better: true,
        base: Base::None,
        targets: &[reported("Parquet export, Snappy, 10 windows", 1e6, " M/s")],
    },
    Scenario {
        key: "parquet_bytes",
        unit: "bytes/record",
        higher_is_better: false,
        base: Base::None,
        targets: &[reported("Parquet on disk, Snappy", 1.0, " B/rec")],
    },
    Scenario {
        key: "parquet_bytes_zstd3",
        unit: "bytes/record",
        higher_is_better: false,
        base: Base::None,
        targets: &[reported("Parquet on disk, Zstd(3)", 1.0, " B/rec")],
    },
];

/// The rows of the table and of the JSON output, in order: the scenarios of
/// every build unless `arrow_only`, then those of the cargo feature `arrow`
/// (none without it).
fn scenarios(arrow_only: bool) -> impl Iterator<Item = &'static Scenario> {
    let core: &'static [Scenario] = if arrow_only { &[] } else { &SCENARIOS };
    #[cfg(feature = "arrow")]
    let arrow: &'static [Scenario] = &ARROW_SCENARIOS;
    #[cfg(not(feature = "arrow"))]
    let arrow: &'static [Scenario] = &[];
    core.iter().chain(arrow)
}

/// The median of `v` (`None` if empty).
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// Raw samples keyed by (scenario or extra, implementation), one per repeat.
#[derive(Default)]
pub struct Samples(BTreeMap<(String, &'static str), Vec<f64>>);

impl Samples {
    /// Adds one sample of `what` for `imp`.
    pub fn add(&mut self, what: &str, imp: &'static str, x: f64) {
        self.0.entry((what.to_string(), imp)).or_default().push(x);
    }

    /// The samples of `what` for `imp`.
    fn get(&self, what: &str, imp: &'static str) -> &[f64] {
        self.0.get(&(what.to_string(), imp)).map_or(&[], |v| v)
    }

    /// The median of the samples of `what` for `imp`, if any.
    pub fn median(&self, what: &str, imp: &'static str) -> Option<f64> {
        median(self.get(what, imp).to_vec())
    }

    /// The median of the per-repeat ratios `num / den` (the `i`-th samples of
    /// each are from the same repeat).
    fn ratio(&self, num: (&str, &'static str), den: (&str, &'static str)) -> Option<f64> {
        let (a, b) = (self.get(num.0, num.1), self.get(den.0, den.1));
        median(a.iter().zip(b).filter(|(_, &d)| d > 0.0).map(|(&n, &d)| n / d).collect())
    }
}

/// One row of the table.
pub struct Row {
    sc: &'static Scenario,
    /// Medians per implementation (`None`: does not apply).
    vals: [Option<f64>; 4],
    /// Per implementation, the median of its per-repeat ratios to the row's
    /// baseline (the floor's own entry is `None`).
    ratios: [Option<f64>; 4],
    /// The median of the baseline, in the row's unit (`None` where the row
    /// has none or it is in another unit).
    baseline: Option<f64>,
}

/// The rows of the table and of the JSON output.
pub type Table = Vec<Row>;

/// The medians and ratios of every JSON scenario (only the Arrow ones if
/// `arrow_only`).
pub fn build_table(s: &Samples, arrow_only: bool) -> Table {
    scenarios(arrow_only)
        .map(|sc| {
            let key = sc.key;
            let vals = IMPLS.map(|imp| match sc.base {
                Base::Rates(num, den, _) => Some(s.median(num, imp)? / s.median(den, imp)?),
                _ => s.median(key, imp),
            });
            let ratios = IMPLS.map(|imp| match sc.base {
                Base::Floor if imp != "vec_floor" => s.ratio((key, imp), (key, "vec_floor")),
                Base::Own(_) if imp == "engine" => s.ratio((key, imp), (key, "baseline")),
                Base::Rates(num, den, _) if imp == "engine" => s.ratio((num, imp), (den, imp)),
                _ => None,
            });
            let baseline = match sc.base {
                Base::Floor => s.median(key, "vec_floor"),
                Base::Own(_) => s.median(key, "baseline"),
                _ => None,
            };
            Row { sc, vals, ratios, baseline }
        })
        .collect()
}

/// `x` as the table shows a value of `unit` ("–": does not apply).
fn fmt_value(x: Option<f64>, unit: &str) -> String {
    match x {
        None => "–".to_string(),
        Some(x) if unit == "records/s" => format!("{:.1} M/s", x / 1e6),
        Some(x) if unit.starts_with("ns") && x >= 10_000.0 => format!("{:.1} µs", x / 1e3),
        Some(x) if unit.starts_with("ns") => format!("{x:.0} ns"),
        Some(x) if unit.starts_with("bytes") => format!("{x:.1} B/rec"),
        Some(x) => format!("{x:.2}x"),
    }
}

/// A ratio as the table shows it.
fn fmt_ratio(x: Option<f64>) -> String {
    x.map_or("–".to_string(), |x| format!("{x:.2}x"))
}

/// Prints the table of medians, with each row's ratios to its baseline.
pub fn print_table(t: &Table) {
    println!(
        "\n{:<22} {:>12} {:>12} {:>12} {:>12}   {:>9} {:>9} {:>9}",
        "scenario (medians)", "engine", "vec_floor", "btree", "skiplist", "eng/base", "btr/flr", "skp/flr"
    );
    println!("{}", "-".repeat(22 + 4 * 13 + 3 + 3 * 10));
    for r in t {
        let v: Vec<String> = r.vals.iter().map(|&x| fmt_value(x, r.sc.unit)).collect();
        let q: Vec<String> = [0, 2, 3].iter().map(|&i| fmt_ratio(r.ratios[i])).collect();
        println!(
            "{:<22} {:>12} {:>12} {:>12} {:>12}   {:>9} {:>9} {:>9}",
            r.sc.key, v[0], v[1], v[2], v[3], q[0], q[1], q[2]
        );
    }
    println!(
        "(ratios: medians of the per-repeat ratios, value / baseline run back to back in the same repeat;\n \
         the baseline is the Vec floor except: two_writers / writer_under_readers, the same structure with\n \
         one writer / alone; two_writers_cpu, the engine with one writer; maintenance_cpu_share, the\n \
         engine's write path. For records/s higher is better, for ns and bytes lower is better)"
    );
    if t.iter().any(|r| r.sc.key == "arrow_export") {
        println!(
            "(arrow_export: the engine's Arrow export summed by arrow's sum kernels, against the engine's own\n \
             full scan summing ts + value; parquet_*: the export to Parquet files, no baseline)"
        );
    }
}

/// Prints the figures that are not in the JSON: the engine's extra reads, the
/// rates behind the ratio scenarios, the other memory figures and the CPU
/// breakdown.
pub fn print_extras(s: &Samples) {
    let m = |what: &str, imp: &'static str| s.median(what, imp);
    let line = |label: &str, x: Option<f64>, unit: &str| {
        if let Some(x) = x {
            println!("  {label:<44} {}", fmt_value(Some(x), unit));
        }
    };
    println!("\nextras (medians):");
    line("engine reverse scan", m("reverse_scan", "engine"), "records/s");
    line("vec_floor reverse scan", m("reverse_scan", "vec_floor"), "records/s");
    if let Some(x) = m("compaction_s", "engine") {
        println!("  {:<44} {:.1} ms", "engine compact_now after ingest + flush", x * 1e3);
    }
    line("engine count([t, t+1000))", m("count_1000", "engine"), "ns/query");
    line("engine next_ts / prev_ts", m("next_prev_ts", "engine"), "ns/call");
    line("engine full scan after 1,000 deletes", m("scan_after_deletes", "engine"), "records/s");
    for imp in ["engine", "btree", "skiplist"] {
        line(&format!("{imp} 2 writers"), m("two_writers_rate", imp), "records/s");
    }
    for imp in ["engine", "btree", "skiplist"] {
        line(&format!("{imp} writer alone"), m("writer_solo", imp), "records/s");
        line(&format!("{imp} writer under 2 readers"), m("writer_contended", imp), "records/s");
        line(&format!("{imp} 2 readers' scan rate (sum)"), m("reader_rate", imp), "records/s");
    }
    if let Some(x) = m("interleaved_l0_segments", "engine") {
        println!("  {:<44} {x:.0}", "engine L0 segments behind interleaved_scan");
    }
    line("engine CPU/record, 1 writer (process)", m("two_writers_cpu", "baseline"), "ns");
    line("engine CPU/record, 2 writers (process)", m("two_writers_cpu", "engine"), "ns");
    line("  of which the 2 writer threads", m("two_writers_cpu_writers", "engine"), "ns");
    line("1 writer: write path (writer thread)", m("maintenance_cpu_share", "baseline"), "ns");
    line("1 writer: maintenance, all of it", m("maintenance_cpu_share", "engine"), "ns");
    for ((what, _), v) in &s.0 {
        if let Some(label) = what.strip_prefix("maint_cpu ") {
            line(&format!("  {label}"), median(v.clone()), "ns");
        }
    }
    line("1 writer: unattributed (main thread)", m("cpu_unattributed", "engine"), "ns");
    line("engine scan summing ts + value (arrow base)", m("arrow_export", "baseline"), "records/s");
    if let Some(x) = m("arrow_batches", "engine") {
        println!("  {:<44} {x:.0}", "Arrow batches per export (default options)");
    }
    if let (Some(x), Some(q)) = (
        m("arrow_export_small", "engine"),
        s.ratio(("arrow_export_small", "engine"), ("arrow_export", "baseline")),
    ) {
        let label = "Arrow export + sums, batch_rows(8192)";
        println!("  {label:<44} {}, {q:.2}x the engine scan", fmt_value(Some(x), "records/s"));
    }
    if let Some(x) = m("arrow_batches_small", "engine") {
        println!("  {:<44} {x:.0}", "Arrow batches per export, batch_rows(8192)");
    }
    if let (Some(l1), Some(l0)) = (m("arrow_l1_segments", "engine"), m("arrow_l0_segments", "engine")) {
        println!("  {:<44} {l1:.0} L1, {l0:.0} L0", "segments behind the Arrow figures");
    }
    if let Some(x) = m("parquet_export_files", "engine") {
        println!("  {:<44} {x:.0}", "Parquet files per export (Snappy)");
    }
    line("Parquet, Snappy: process CPU/record", m("parquet_export_cpu", "engine"), "ns");
    line("Parquet export, Zstd(3)", m("parquet_export_zstd3", "engine"), "records/s");
    if let Some(x) = m("parquet_export_zstd3_files", "engine") {
        println!("  {:<44} {x:.0}", "Parquet files per export (Zstd(3))");
    }
    line("Parquet, Zstd(3): process CPU/record", m("parquet_export_zstd3_cpu", "engine"), "ns");
    if let Some(x) = m("write_amplification_settled", "engine") {
        println!("  {:<44} {x:.2}x", "write amplification without compact_now()");
    }
    if let (Some(a), Some(p)) = (m("memory", "engine_manual"), m("memory_peak", "engine_manual")) {
        println!(
            "  {:<44} {a:.1} B/rec after ingest + flush, peak {p:.1} B/rec",
            "engine, manual maintenance, garbage reclaimed"
        );
    }
    for imp in IMPLS.into_iter().chain(["engine_manual"]) {
        if let Some(x) = m("memory_rss", imp) {
            println!("  {:<44} {x:.1} B/rec", format!("{imp} RSS delta after ingest"));
        }
    }
}

/// The figure a target is checked on.
fn target_figure(t: &Table, r: &Row, target: &Target) -> Option<f64> {
    match target.on {
        On::Ratio => r.ratios[0],
        On::Engine => r.vals[0],
        On::EngineOver(key) => Some(r.vals[0]? / t.iter().find(|o| o.sc.key == key)?.vals[0]?),
        On::Reported => r.vals[0],
    }
}

/// Prints every target with the figure it is checked on and its verdict.
pub fn print_targets(t: &Table) {
    println!("\ntargets (engine; ratios are medians of per-repeat ratios):");
    for r in t {
        for target in r.sc.targets {
            let higher = r.sc.higher_is_better;
            if matches!(target.on, On::Reported) {
                let shown = target_figure(t, r, target)
                    .map_or("–".to_string(), |x| format!("{:.2}{}", x / target.scale, target.suffix));
                println!("  {:<44} {shown:>12}  reported", target.label);
                continue;
            }
            let (verdict, shown) = match target_figure(t, r, target) {
                None => ("n/a", "–".to_string()),
                Some(x) => {
                    let ok = if higher { x >= target.value } else { x <= target.value };
                    (if ok { "met" } else { "NOT MET" }, format!("{:.2}{}", x / target.scale, target.suffix))
                }
            };
            let op = if higher { ">=" } else { "<=" };
            println!(
                "  {:<44} {shown:>12}  target {op} {}{}  {verdict}",
                target.label,
                target.value / target.scale,
                target.suffix
            );
        }
    }
}

/// Writes the table as JSON by hand (no serialisation dependency).
pub fn write_json(path: &str, t: &Table) -> std::io::Result<()> {
    let num = |x: Option<f64>| match x {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".to_string(),
    };
    let text = |x: Option<&str>| x.map_or("null".to_string(), |x| format!("\"{x}\""));
    let mut out = String::from("{\n");
    for (k, r) in t.iter().enumerate() {
        let sc = r.sc;
        out.push_str(&format!(
            "  \"{}\": {{\"unit\": \"{}\", \"higher_is_better\": {}",
            sc.key, sc.unit, sc.higher_is_better
        ));
        for (imp, x) in IMPLS.iter().zip(r.vals) {
            out.push_str(&format!(", \"{imp}\": {}", num(x)));
        }
        let ratio_to = match sc.base {
            Base::None => None,
            Base::Floor => Some("vec_floor"),
            Base::Own(to) | Base::Rates(_, _, to) => Some(to),
        };
        // The JSON carries the target on the ratio or the engine's value.
        let target = sc.targets.iter().find(|t| !matches!(t.on, On::EngineOver(_) | On::Reported));
        let target_on = target.map(|t| if matches!(t.on, On::Ratio) { "ratio" } else { "engine" });
        out.push_str(&format!(
            ", \"ratio\": {}, \"ratio_to\": {}, \"baseline\": {}, \"target\": {}, \"target_on\": {}}}",
            num(r.ratios[0]),
            text(ratio_to),
            num(r.baseline),
            num(target.map(|t| t.value)),
            text(target_on)
        ));
        out.push_str(if k + 1 < t.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    std::fs::write(path, out)
}
