//! The test kit under its former name, for test files that still include it as
//! `mod common;`: everything of `timelog_testkit`, re-exported.

#[allow(unused_imports)]
pub use timelog_testkit::*;
