//! Operation sequences against the oracle, with background maintenance
//! (see the `timelog_fuzz` crate for the input format and the checks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use timelog::MaintenanceMode;
use timelog_fuzz::{run, Input};

fuzz_target!(|input: Input| {
    run(MaintenanceMode::Background, &input);
});
