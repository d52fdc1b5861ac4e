//! Samples, medians and what is made of them: the table of medians with ratios
//! to the `Vec` floor, the extras, the targets, and the JSON file.

use std::collections::BTreeMap;

/// The implementations compared, in table order.
pub const IMPLS: [&str; 4] = ["engine", "vec_floor", "btree", "skiplist"];

/// One scenario of the JSON output.
pub struct Scenario {
    key: &'static str,
    unit: &'static str,
    higher_is_better: bool,
}

/// The JSON scenario keys, in order.
const SCENARIOS: [Scenario; 10] = [
    Scenario { key: "batch_ingest", unit: "records/s", higher_is_better: true },
    Scenario { key: "single_append", unit: "records/s", higher_is_better: true },
    Scenario { key: "full_scan", unit: "records/s", higher_is_better: true },
    Scenario { key: "range", unit: "ns/query", higher_is_better: false },
    Scenario { key: "point", unit: "ns/lookup", higher_is_better: false },
    Scenario { key: "delete_range", unit: "ns/call", higher_is_better: false },
    Scenario { key: "two_writers", unit: "ratio to one writer", higher_is_better: true },
    Scenario { key: "writer_under_readers", unit: "ratio to the solo writer", higher_is_better: true },
    Scenario { key: "memory", unit: "bytes/record", higher_is_better: false },
    Scenario { key: "memory_peak", unit: "bytes/record", higher_is_better: false },
];

/// Raw samples keyed by (scenario or extra, implementation).
#[derive(Default)]
pub struct Samples(BTreeMap<(String, &'static str), Vec<f64>>);

impl Samples {
    /// Adds one sample of `what` for `imp`.
    pub fn add(&mut self, what: &str, imp: &'static str, x: f64) {
        self.0.entry((what.to_string(), imp)).or_default().push(x);
    }

    /// The median of the samples of `what` for `imp`, if any.
    pub fn median(&self, what: &str, imp: &'static str) -> Option<f64> {
        let mut v = self.0.get(&(what.to_string(), imp))?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let m = v.len() / 2;
        Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
    }
}

/// The median table: scenario -> implementation -> value (`None`: does not apply).
pub type Table = Vec<(&'static Scenario, [Option<f64>; 4])>;

/// The medians of every JSON scenario (the two ratio scenarios from their rates).
pub fn build_table(s: &Samples) -> Table {
    let ratio = |num: &str, den: &str, imp: &'static str| -> Option<f64> {
        Some(s.median(num, imp)? / s.median(den, imp)?)
    };
    SCENARIOS
        .iter()
        .map(|sc| {
            let row = IMPLS.map(|imp| match sc.key {
                "two_writers" => ratio("two_writers_rate", "batch_ingest", imp),
                "writer_under_readers" => ratio("writer_contended", "writer_solo", imp),
                key => s.median(key, imp),
            });
            (sc, row)
        })
        .collect()
}

/// `x` as the table shows a value of `unit` ("–": does not apply).
fn fmt_value(x: Option<f64>, unit: &str) -> String {
    match x {
        None => "–".to_string(),
        Some(x) if unit == "records/s" => format!("{:.1} M/s", x / 1e6),
        Some(x) if unit.starts_with("ratio") => format!("{x:.2}x"),
        Some(x) if unit.starts_with("ns") && x >= 10_000.0 => format!("{:.1} µs", x / 1e3),
        Some(x) if unit.starts_with("ns") => format!("{x:.0} ns"),
        Some(x) => format!("{x:.1} B/rec"),
    }
}

/// Prints the table of medians, with each structure's ratio to the `Vec` floor.
pub fn print_table(t: &Table) {
    println!(
        "\n{:<22} {:>12} {:>12} {:>12} {:>12}   {:>9} {:>9} {:>9}",
        "scenario (medians)", "engine", "vec_floor", "btree", "skiplist", "eng/flr", "btr/flr", "skp/flr"
    );
    println!("{}", "-".repeat(22 + 4 * 13 + 3 + 3 * 10));
    for (sc, row) in t {
        let vals: Vec<String> = row.iter().map(|&x| fmt_value(x, sc.unit)).collect();
        let floor = row[1];
        let rat: Vec<String> = [0, 2, 3]
            .iter()
            .map(|&i| match (row[i], floor) {
                (Some(x), Some(f)) if f > 0.0 => format!("{:.2}x", x / f),
                _ => "–".to_string(),
            })
            .collect();
        println!(
            "{:<22} {:>12} {:>12} {:>12} {:>12}   {:>9} {:>9} {:>9}",
            sc.key, vals[0], vals[1], vals[2], vals[3], rat[0], rat[1], rat[2]
        );
    }
    println!("(ratios: value / Vec floor; for records/s higher is better, for ns and bytes lower is better)");
}

/// Prints the figures that are not in the JSON: the engine's extra reads, the
/// rates behind the ratio scenarios, and the other memory figures.
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

/// Targets of the issue "Performance: benches on the canonical workload".
pub fn print_targets(t: &Table) {
    let get = |key: &str, i: usize| t.iter().find(|(sc, _)| sc.key == key).and_then(|(_, row)| row[i]);
    let vs_floor = |key: &str| Some(get(key, 0)? / get(key, 1)?);
    let single_vs_ingest = get("single_append", 0).zip(get("batch_ingest", 1)).map(|(a, b)| a / b);
    let peak_ratio = get("memory_peak", 0).zip(get("memory", 0)).map(|(a, b)| a / b);
    let rows: [(&str, Option<f64>, bool, f64, &str); 11] = [
        ("batch ingest incl. flush vs floor", vs_floor("batch_ingest"), true, 0.75, "x"),
        ("single append incl. flush vs floor ingest", single_vs_ingest, true, 0.55, "x"),
        ("full scan after compaction vs floor", vs_floor("full_scan"), true, 0.4, "x"),
        ("range of 1000, time vs floor", vs_floor("range"), false, 1.25, "x"),
        ("point lookup, time vs floor", vs_floor("point"), false, 0.35, "x"),
        ("delete_range call", get("delete_range", 0), false, 300.0, " ns"),
        ("memory after ingest + flush (V=u64)", get("memory", 0), false, 18.0, " B/rec"),
        ("peak during compaction vs after ingest", peak_ratio, false, 1.5, "x"),
        ("peak during compaction, absolute (1.5 x 18)", get("memory_peak", 0), false, 27.0, " B/rec"),
        ("2 writers vs 1 writer", get("two_writers", 0), true, 1.6, "x"),
        ("writer under 2 readers vs solo", get("writer_under_readers", 0), true, 0.7, "x"),
    ];
    println!("\ntargets (engine):");
    for (label, x, higher, target, unit) in rows {
        let (verdict, shown) = match x {
            None => ("n/a", "–".to_string()),
            Some(x) => {
                let ok = if higher { x >= target } else { x <= target };
                (if ok { "met" } else { "NOT MET" }, format!("{x:.2}{unit}"))
            }
        };
        let op = if higher { ">=" } else { "<=" };
        println!("  {label:<44} {shown:>12}  target {op} {target}{unit}  {verdict}");
    }
}

/// Writes the table as JSON by hand (no serialisation dependency).
pub fn write_json(path: &str, t: &Table) -> std::io::Result<()> {
    let num = |x: Option<f64>| match x {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".to_string(),
    };
    let mut out = String::from("{\n");
    for (k, (sc, row)) in t.iter().enumerate() {
        out.push_str(&format!(
            "  \"{}\": {{\"unit\": \"{}\", \"higher_is_better\": {}",
            sc.key, sc.unit, sc.higher_is_better
        ));
        for (imp, x) in IMPLS.iter().zip(row) {
            out.push_str(&format!(", \"{imp}\": {}", num(*x)));
        }
        out.push('}');
        out.push_str(if k + 1 < t.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    std::fs::write(path, out)
}
