//! Runs fuzz inputs outside libFuzzer (no sanitizer needed), for debugging a crash
//! with a plain build and a readable backtrace:
//!
//! ```sh
//! cargo run --release --manifest-path fuzz/Cargo.toml --example replay -- manual|background [-v] FILE...
//! ```
//!
//! `-v` prints each decoded input first.

use std::time::Instant;

use timelog::MaintenanceMode;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("manual") => MaintenanceMode::Manual,
        Some("background") => MaintenanceMode::Background,
        _ => {
            eprintln!("usage: replay manual|background [-v] FILE...");
            std::process::exit(2);
        }
    };
    let mut verbose = false;
    for arg in args {
        if arg == "-v" {
            verbose = true;
            continue;
        }
        let input = timelog_fuzz::decode(&std::fs::read(&arg).expect("read input"));
        if verbose {
            println!("{input:#?}");
        }
        let t = Instant::now();
        timelog_fuzz::run(mode, &input);
        println!("{arg}: {} ops, ok in {:?}", input.ops.len(), t.elapsed());
    }
}
