//! `timelog-compare`: runs the canonical workload
//! ([`timelog_compare::workload`]) on the engine and, in the same process, on
//! the baselines (the `Vec` floor, `std::collections::BTreeMap`,
//! `parking_lot::RwLock<BTreeMap>` for the two-thread scenarios and
//! `crossbeam_skiplist::SkipMap`), prints a table of medians and ratios to the
//! in-run `Vec` floor, and optionally writes them as JSON. From the repository
//! root:
//!
//! ```text
//! cargo run --release --bin timelog-compare -- --records 5000000 --json docs/performance.json
//! ```
//!
//! Modules: [`baselines`] (the structures under test), [`scenarios`] (what is
//! timed), [`cpu`] (the CPU-time figures), [`memory`] (the memory probes),
//! [`measure`] (timing, CPU clocks, the counting allocator, RSS), [`report`]
//! (medians, per-repeat ratios, table, targets, JSON), and, with the cargo
//! feature `arrow` of this package, `arrow` (the Arrow and Parquet export
//! figures):
//!
//! ```text
//! cargo run --release -p timelog-compare --features arrow --bin timelog-compare -- --only arrow
//! ```

#[cfg(feature = "arrow")]
mod arrow;
mod baselines;
mod cpu;
mod measure;
mod memory;
mod report;
mod scenarios;

use std::time::Instant;

use timelog_compare::workload::{Workload, BATCH};

use crate::measure::{load_average, timed};
use crate::scenarios::{Checks, Inputs};

/// The data the scenarios run on (`--dataset`).
#[derive(Clone, Copy, PartialEq)]
enum Dataset {
    /// The canonical workload (timestamps 1, 2, 3, ..., some moved back).
    Canonical,
    /// Nanosecond timestamps of Poisson arrivals ([`Workload::realistic`]).
    Realistic,
}

impl Dataset {
    fn name(self) -> &'static str {
        match self {
            Dataset::Canonical => "canonical",
            Dataset::Realistic => "realistic",
        }
    }
}

/// Command-line options.
struct Opts {
    records: usize,
    dataset: Dataset,
    repeats: usize,
    ooo: f64,
    json: Option<String>,
    mem_probe: Option<String>,
    skip_memory: bool,
    /// `--only arrow`: only the Arrow scenarios and their baselines.
    arrow_only: bool,
}

/// The `--help` text.
const USAGE: &str =
    "usage: timelog-compare [--records N] [--repeats R] [--ooo RATE] [--json FILE] [--skip-memory]
                       [--only arrow] [--dataset canonical|realistic]
  --records N    records of the canonical workload (default 5000000)
  --dataset D    `canonical` (default) or `realistic`: nanosecond timestamps of
                 Poisson arrivals at 100,000 records/s, 5 % late by up to 100 ms;
                 the engine's logs are built with time_unit(Nanos) (--ooo then
                 applies only to the secondary scenario inputs)
  --repeats R    runs of every timed scenario; medians are reported (default 3)
  --ooo RATE     out-of-order rate (default 0.05, the canonical workload)
  --json FILE    also write the medians as JSON to FILE
  --skip-memory  do not run the memory probes (child processes)
  --only arrow   run only the Arrow scenarios (arrow_export, parquet_export) and
                 their baselines, no memory probes. The Arrow scenarios need the
                 package's `arrow` feature (cargo run -p timelog-compare --features
                 arrow ...); built with it, a run without --only adds them to the others";

impl Opts {
    /// The options of this process's command line; exits with the usage on an error.
    fn parse() -> Opts {
        let mut o = Opts {
            records: 5_000_000,
            dataset: Dataset::Canonical,
            repeats: 3,
            ooo: 0.05,
            json: None,
            mem_probe: None,
            skip_memory: false,
            arrow_only: false,
        };
        let mut args = std::env::args().skip(1);
        let fail = |m: &str| -> ! {
            eprintln!("timelog-compare: {m}\n{USAGE}");
            std::process::exit(2)
        };
        while let Some(a) = args.next() {
            let mut value =
                |name: &str| args.next().unwrap_or_else(|| fail(&format!("{name} needs a value")));
            match a.as_str() {
                "--records" => {
                    o.records = value("--records")
                        .replace('_', "")
                        .parse()
                        .unwrap_or_else(|_| fail("--records takes a positive integer"))
                }
                "--repeats" => {
                    o.repeats = value("--repeats")
                        .parse()
                        .unwrap_or_else(|_| fail("--repeats takes a positive integer"))
                }
                "--ooo" => {
                    o.ooo = value("--ooo").parse().unwrap_or_else(|_| fail("--ooo takes a number in [0, 1]"))
                }
                "--json" => o.json = Some(value("--json")),
                "--dataset" => {
                    o.dataset = match value("--dataset").as_str() {
                        "canonical" => Dataset::Canonical,
                        "realistic" => Dataset::Realistic,
                        other => fail(&format!("--dataset takes `canonical` or `realistic`, not {other:?}")),
                    }
                }
                "--mem-probe" => o.mem_probe = Some(value("--mem-probe")),
                "--skip-memory" => o.skip_memory = true,
                "--only" => match value("--only").as_str() {
                    "arrow" if cfg!(feature = "arrow") => o.arrow_only = true,
                    "arrow" => fail("--only arrow needs the `arrow` feature: cargo run -p timelog-compare --features arrow"),
                    other => fail(&format!("--only takes `arrow`, not {other:?}")),
                },
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0)
                }
                other => fail(&format!("unknown argument {other:?}")),
            }
        }
        if o.records < 2 * BATCH || o.repeats == 0 || !(0.0..=1.0).contains(&o.ooo) {
            fail(&format!("need --records >= {}, --repeats >= 1 and --ooo in [0, 1]", 2 * BATCH));
        }
        o
    }

    /// The main workload of the run.
    fn workload(&self) -> Workload {
        match self.dataset {
            Dataset::Canonical => Workload::new(self.records, self.ooo),
            Dataset::Realistic => Workload::realistic(self.records),
        }
    }
}

fn main() {
    let o = Opts::parse();
    if o.dataset == Dataset::Realistic {
        baselines::set_time_unit(timelog::TimeUnit::Nanos);
    }
    if let Some(which) = &o.mem_probe {
        measure::start_counting();
        memory::mem_probe(which, &o);
        return;
    }
    let (w, secs) = timed(|| o.workload());
    println!(
        "timelog-compare: {} records ({} dataset), {} % out of order, {} repeats (medians), {} cores",
        o.records,
        o.dataset.name(),
        o.ooo * 100.0,
        o.repeats,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    print!("generator check: {} records moved back (generated in {secs:.2} s)", w.moved_back);
    if o.records == 5_000_000 && o.ooo == 0.05 && o.dataset == Dataset::Canonical {
        assert_eq!(w.moved_back, 250_117, "the generator does not match the canonical workload");
        println!(" = 250,117, the canonical workload's check figure");
    } else {
        println!(" (the canonical check figure, 250,117, is for 5 M at 5 %)");
    }
    // Other work on the machine skews every figure: say how busy it was.
    let load0 = load_average();
    let inputs = Inputs::new(w, o.ooo);
    let mut s = report::Samples::default();
    let mut check = Checks::default();
    for r in 0..o.repeats {
        let t = Instant::now();
        if !o.arrow_only {
            scenarios::run_all(&inputs, &mut s, &mut check);
        }
        #[cfg(feature = "arrow")]
        {
            measure::trim_heap();
            arrow::run_arrow(&inputs.w, &mut s, &mut check);
        }
        eprintln!("  repeat {}/{} done in {:.1} s", r + 1, o.repeats, t.elapsed().as_secs_f64());
    }
    if !o.skip_memory && !o.arrow_only {
        memory::run_memory(&o, &mut s);
    }
    println!("load average at the start: {load0}, at the end: {}", load_average());
    let table = report::build_table(&s, o.arrow_only);
    report::print_table(&table);
    report::print_extras(&s);
    report::print_targets(&table);
    if let Some(path) = &o.json {
        report::write_json(path, &table).expect("write the JSON file");
        println!("\nwrote {path}");
    }
}
