//! The driver shared by the fuzz targets of `timelog-engine`.
//!
//! A fuzz input decodes (through [`arbitrary`]) into a small configuration and a
//! sequence of operations ([`Input`], see [`input`]). [`run`] applies them to a
//! real [`Timelog`] and to the test kit's oracle ([`timelog_testkit::oracle`]),
//! which is correct by construction: the list of every record ever written, each
//! with its sequence number, and the list of every delete with its own number. A
//! record is visible iff no later delete covers its timestamp. A snapshot is
//! compared against the oracle as it was when the snapshot was taken (the oracle
//! only grows, so that state is just its sequence number), with the kit's
//! checkers ([`timelog_testkit::check`]).
//!
//! Values are the kit's [`Tracked`], entered in a [`Ledger`] of the input: each
//! owns a heap cell, carries its record id (the record's sequence number) and
//! accounts for every instance, so reads of freed values (caught by
//! AddressSanitizer, and by a canary and the cell's checksum without it), double
//! drops and leaks all fail the run.
//!
//! The byte format is simple on purpose (one tag byte per operation, one class
//! byte per timestamp), so that [`encode::Enc`] can write seed inputs that reach
//! every operation; see `examples/gen_corpus.rs`.

use std::fmt::Display;
use std::time::Duration;

use timelog::{Error, MaintenanceMode, Snapshot, Timelog};
use timelog_testkit::check::{check_log_reads, pattern, Expect};
use timelog_testkit::ledger::{Ledger, Tracked};
use timelog_testkit::oracle::{Delete, Oracle, View};
use timelog_testkit::{eventually, flush_epoch};

pub mod encode;
pub mod input;

pub use input::*;

/// How many times each operation kind ran (for corpus coverage checks).
pub type Reached = [usize; OPS];

/// A snapshot held across later operations, with the oracle state it must show.
struct Held {
    snap: Snapshot<Tracked>,
    /// The oracle's sequence number when the snapshot was taken.
    seq: u64,
    /// Manual mode only: taken right after everything was flushed, so every
    /// visible record is in a segment (checked by `segment_pages`).
    all_flushed: bool,
    /// The oracle's view at `seq`, once computed.
    view: Option<View<u64>>,
}

impl Held {
    /// The checks of this snapshot against its view (computed by now).
    fn expect(&self) -> Expect<'_, Tracked, u64> {
        Expect::new(&self.snap, self.view.as_ref().expect("the view of a target"), Tracked::rec)
    }
}

/// Panics with `what` and the difference if a check failed.
fn ok(r: Result<(), String>, what: impl Display) {
    if let Err(e) = r {
        panic!("{what}: {e}");
    }
}

/// The whole snapshot against `view`.
fn check_full(snap: &Snapshot<Tracked>, view: &View<u64>, what: &str) {
    ok(Expect::new(snap, view, Tracked::rec).whole(), what);
}

struct World {
    mode: MaintenanceMode,
    log: Timelog<Tracked>,
    o: Oracle<u64>,
    ledger: Ledger,
    slots: Vec<Option<Held>>,
    last_seq: Option<u64>,
    last_watermark: u64,
    /// Manual mode: nothing written since the last flush/compact_now.
    all_flushed: bool,
    running: bool,
    sealed_max_runs: usize,
}

impl World {
    fn manual(&self) -> bool {
        self.mode == MaintenanceMode::Manual
    }

    fn fresh(&mut self) -> Held {
        let snap = self.log.snapshot();
        assert!(snap.watermark() >= self.last_watermark, "watermark went back");
        self.last_watermark = snap.watermark();
        Held { snap, seq: self.o.seq(), all_flushed: self.manual() && self.all_flushed, view: None }
    }

    /// The held snapshot a target names, or a fresh one, with its view.
    fn target(&mut self, t: Target) -> Held {
        if t.0 != 0 {
            if let Some(h) = &mut self.slots[(t.0 as usize - 1) % SLOTS] {
                let view = h.view.get_or_insert_with(|| self.o.view_at(h.seq)).clone();
                return Held {
                    snap: h.snap.clone(),
                    seq: h.seq,
                    all_flushed: h.all_flushed,
                    view: Some(view),
                };
            }
        }
        let mut h = self.fresh();
        h.view = Some(self.o.view_now().clone());
        h
    }

    /// A new record at `ts` in the oracle, and its value (the record id is its
    /// sequence number).
    fn write(&mut self, ts: i64) -> Tracked {
        let id = self.o.seq() + 1;
        self.o.append(ts, id);
        self.ledger.value(id)
    }

    fn tracked(&mut self, w: timelog::Written, n: u64) {
        assert_eq!(w.count, n, "Written::count");
        if n == 0 {
            return;
        }
        if let Some(last) = self.last_seq {
            assert!(w.first_seq > last, "sequence numbers went back: {} after {last}", w.first_seq);
        }
        self.last_seq = Some(w.last_seq());
        assert!(w.visible_in(&self.log.snapshot()), "a completed write is not visible");
        for h in self.slots.iter().flatten() {
            assert!(!w.visible_in(&h.snap), "an older snapshot sees a later write");
        }
        self.all_flushed = false;
    }

    fn batch(&mut self, ts: &[i64], columns: bool) {
        let vals: Vec<Tracked> = ts.iter().map(|&t| self.write(t)).collect();
        let w = if columns {
            self.log.append_columns(ts.to_vec(), vals)
        } else {
            self.log.append_batch(ts.iter().copied().zip(vals))
        };
        self.tracked(w, ts.len() as u64);
    }

    /// A delete, answered as the oracle says the range's shape requires.
    fn delete(&mut self, r: timelog::Result<timelog::Written>, want: Delete, what: impl Display) {
        ok(want.check(&r), what);
        if want == Delete::Recorded {
            self.tracked(r.expect("checked"), 1);
        }
    }

    fn validate(&mut self) {
        if let Err(e) = self.log.validate() {
            panic!("validate: {e}");
        }
        let n = self.o.view_now().len();
        assert_eq!(self.log.stats().records, n, "stats().records");
        assert_eq!(self.log.len(), n, "len()");
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(ts) => {
                let v = self.write(*ts);
                let w = self.log.append(*ts, v);
                self.tracked(w, 1);
            }
            Op::SmallBatch(ts) | Op::LargeBatch(ts) => self.batch(ts, false),
            Op::Columns(ts) => self.batch(ts, true),
            Op::Delete(span) => {
                let r = self.log.delete_range(span.bounds());
                let want = self.o.delete(span.bounds());
                self.delete(r, want, format_args!("delete_range({span:?})"));
            }
            Op::DeleteBefore(ts) => {
                let r = self.log.delete_before(*ts);
                let want = self.o.delete_before(*ts);
                self.delete(r, want, format_args!("delete_before({ts})"));
            }
            Op::Flush => {
                self.log.flush();
                self.all_flushed = true;
                assert_eq!(self.log.sealed_queue_len(), 0, "flush() left sealed memtables");
            }
            Op::Compact => self.log.compact(),
            Op::CompactNow => {
                self.log.compact_now();
                self.all_flushed = true;
            }
            Op::Step(n) => {
                for _ in 0..*n {
                    match self.log.maint_step() {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            assert!(!self.manual() && e == Error::WrongMode, "maint_step: {e}");
                            break;
                        }
                    }
                    assert!(self.manual(), "maint_step succeeded in background mode");
                }
            }
            Op::TakeSnapshot(slot) => {
                let h = self.fresh();
                self.slots[*slot as usize % SLOTS] = Some(h);
            }
            Op::CheckSnapshot(slot) => {
                if let Some(h) = &mut self.slots[*slot as usize % SLOTS] {
                    let view = h.view.get_or_insert_with(|| self.o.view_at(h.seq));
                    check_full(&h.snap, view, "held snapshot");
                }
            }
            Op::DropSnapshot(slot) => self.slots[*slot as usize % SLOTS] = None,
            Op::Range(t, span, p) => {
                let h = self.target(*t);
                ok(h.expect().range(span.bounds(), pattern(*p)), format_args!("pattern {p:#04x}"));
            }
            Op::Point(t, ts) => ok(self.target(*t).expect().probe(*ts), "point"),
            Op::Count(t, span) => ok(self.target(*t).expect().count(span.bounds()), "count"),
            Op::Nav(t, ts) => ok(self.target(*t).expect().nav(*ts), "navigation"),
            Op::Validate => self.validate(),
            Op::Cursor(t, span, p) => {
                let h = self.target(*t);
                ok(h.expect().cursor(span.bounds(), pattern(*p)), format_args!("pattern {p:#04x}"));
            }
            Op::Pages(t, span) => {
                let h = self.target(*t);
                // Ids are sequence numbers: a record this snapshot knows has one
                // up to the snapshot's.
                let known = |&id: &u64| if id <= h.seq { self.o.record(id).map(|r| r.0) } else { None };
                ok(h.expect().pages(span.bounds(), known, h.all_flushed), "segment_pages");
            }
            Op::Toggle(start) => {
                let r = if *start { self.log.start_maintenance() } else { self.log.stop_maintenance() };
                if self.manual() {
                    assert_eq!(r, Err(Error::WrongMode), "toggling maintenance in manual mode");
                } else {
                    assert_eq!(r, Ok(()), "toggling maintenance");
                    self.running = *start;
                }
                assert_eq!(self.log.maintenance_running(), self.running, "maintenance_running()");
            }
            Op::LogReads(span, ts) => {
                let want = self.o.view_now();
                ok(check_log_reads(&self.log, want, Tracked::rec, span.bounds(), *ts), "log reads");
            }
            Op::Room => {
                let queued = self.log.sealed_queue_len();
                if !self.running {
                    // Manual mode, or workers stopped: nothing would make room, so it
                    // answers at once whether the sealed queue is within its limit.
                    let room = self.log.wait_for_room(Duration::from_secs(3600));
                    assert_eq!(
                        room,
                        queued <= self.sealed_max_runs,
                        "wait_for_room with {queued} sealed memtables"
                    );
                } else {
                    let _ = self.log.wait_for_room(Duration::from_millis(1));
                }
            }
        }
    }
}

/// Lets the epoch-based reclamation catch up until no value of `ledger` is alive
/// (at most 10 s), then fails on any value left or any drop accounting error.
fn settle_leaks(ledger: &Ledger) {
    eventually(Duration::from_secs(10), || {
        flush_epoch(16);
        ledger.count() == 0
    });
    ledger.assert_no_errors();
    let live = ledger.count();
    assert_eq!(live, 0, "{live} values still alive after the log and every snapshot were dropped");
}

/// Applies `input` to a log in `mode` and to the oracle, checking as it goes,
/// then checks everything once more (also after a full compaction), drops the
/// log and every snapshot, and checks that every value was dropped exactly once.
/// Returns how often each operation kind ran.
pub fn run(mode: MaintenanceMode, input: &Input) -> Reached {
    let mut reached = [0; OPS];
    let cfg = input.setup.builder(mode).config().expect("every setup is a valid configuration");
    let sealed_max_runs = cfg.sealed_max_runs();
    let log: Timelog<Tracked> = Timelog::with_config(cfg);
    let ledger = Ledger::new();
    let mut w = World {
        mode,
        log,
        o: Oracle::new(),
        ledger: ledger.clone(),
        slots: (0..SLOTS).map(|_| None).collect(),
        last_seq: None,
        last_watermark: 0,
        all_flushed: true,
        running: mode == MaintenanceMode::Background,
        sealed_max_runs,
    };
    for op in &input.ops {
        reached[op.tag()] += 1;
        w.apply(op);
    }
    let view = w.o.view_now().clone();
    check_full(&w.log.snapshot(), &view, "final state");
    w.validate();
    for h in w.slots.iter_mut().flatten() {
        let v = h.view.get_or_insert_with(|| w.o.view_at(h.seq));
        check_full(&h.snap, v, "held snapshot at the end");
    }
    w.log.compact_now();
    check_full(&w.log.snapshot(), &view, "after a final compact_now");
    w.validate();
    for h in w.slots.iter().flatten() {
        check_full(
            &h.snap,
            h.view.as_ref().expect("computed above"),
            "held snapshot after the final compact_now",
        );
    }
    drop(w);
    settle_leaks(&ledger);
    reached
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seeds decode, reach every operation kind, and pass in both modes.
    #[test]
    fn seeds_reach_every_op_and_pass() {
        for (target, mode) in
            [("ops_manual", MaintenanceMode::Manual), ("ops_background", MaintenanceMode::Background)]
        {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
            let mut reached = [0; OPS];
            let mut seeds = 0;
            for entry in std::fs::read_dir(&dir).expect("corpus dir") {
                let path = entry.unwrap().path();
                if !path.file_name().unwrap().to_string_lossy().starts_with("seed-") {
                    continue;
                }
                seeds += 1;
                let input = decode(&std::fs::read(&path).unwrap());
                for (r, n) in reached.iter_mut().zip(run(mode, &input)) {
                    *r += n;
                }
            }
            assert!(seeds > 0, "no seeds in {}", dir.display());
            for (name, n) in OP_NAMES.iter().zip(reached) {
                assert!(n > 0, "{target}: no seed reaches {name}");
            }
        }
    }
}
