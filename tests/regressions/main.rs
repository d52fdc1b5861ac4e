//! Named regression tests, one file each: every file reproduces one bug found
//! earlier (or guards one change), and its doc comment tells what broke and how
//! it was found. One test binary for all of them, since each binary of its own
//! costs a link of the engine.

mod clipped_window_validates;
mod compact_now_race;
mod late_piles_budget;
mod segment_cuts_equal_timestamps;
mod small_memtable_late_records;
mod wait_for_room;
