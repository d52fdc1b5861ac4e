//! Compaction: the oldest L0 segments plus the L1 segments they overlap become
//! window-partitioned, non-overlapping L1 segments (or patches over them); and
//! deleted data leaves: wholly deleted segments are dropped, mostly deleted ones
//! rewritten alone, and tombstones retire once they can hide nothing.
//!
//! Selection takes a prefix of L0 (oldest first, within the caps), so every L1
//! record stays older than every remaining L0 record: that keeps equal timestamps
//! in insertion order across levels. The planner ([`plan`]) computes, per output
//! window, the intervals its records will cover and pulls in every L1 segment
//! and patch overlapping one, to a fixed point, so outputs never overlap
//! untouched L1 segments or patches. An interval whose merge would mostly
//! rewrite L1 is written as a patch instead: its L0 records alone, laid over
//! the L1 segments (see [`Patches`](crate::manifest::Patches)); L0 segments
//! that lie alone inside such an interval become patches as they are, without
//! a copy ([`adoptable`]). Each interval
//! is built in parallel on rayon; records hidden by tombstones visible to the
//! compaction's snapshot are dropped, and the outputs' `applied_seq` is that
//! snapshot's watermark (their `seqs` span, the union of the inputs'). A round
//! whose inputs an archive's fence forbids merging is put off (see
//! [`crate::store::Fence`]). Compactions are serialised by the
//! [`Compactor`]'s lock, so a long one never holds up flushes.

mod adopt;
mod plan;
mod settle;
mod tidy;
mod window;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::counters::Counters;
use crate::manifest::{Manifest, Quiet};
use crate::segment::{Level, Segment, SeqSpan, Window};
use crate::snapshot::Range;
use crate::snapshot::Snapshot;
use crate::stats::WindowReport;
use crate::store::{Fence, Store};
use crate::sync::{par_map, Arc, AtomicBool, Mutex, Ordering};
use crate::tombstone::{within, Piece, Tomb};
use crate::Value;

use super::flush::Flushed;
use super::signal::Signals;
use adopt::adoptable;
use plan::{Forced, Plan};
use window::WindowControl;

/// Longest time tombstones wait for a survey while they keep arriving (see
/// [`Compactor::survey_due`]).
const SURVEY_INTERVAL: Duration = Duration::from_secs(1);

/// A tidying or settling round takes at most this many largest L1 segments'
/// worth of records (see [`tidy`] and [`settle`]).
const ROUND_SEGMENTS: usize = 4;

/// When the last survey for dead segments ran, and how many tombstones there were.
#[derive(Default)]
struct Survey {
    tombs: usize,
    at: Option<Instant>,
}

/// The compaction stage and the state it owns.
pub(crate) struct Compactor {
    /// Serialises compactions.
    lock: Mutex<()>,
    /// The window size compaction partitions by.
    window: Mutex<WindowControl>,
    survey: Mutex<Survey>,
    /// A full compaction was asked for ([`Timelog::compact`](crate::Timelog::compact)).
    requested: AtomicBool,
    /// A flush added tombstones: look for dead segments and tombstones that can retire.
    tombs_changed: AtomicBool,
    /// Small L1 segments may have been written (or become neighbours): look for
    /// groups to tidy ([`tidy`]).
    untidy: AtomicBool,
    /// When the last flush wrote something: L0 and patches merge into L1 once
    /// the log is at rest ([`settle`]).
    clock: Mutex<settle::Clock>,
}

impl Compactor {
    pub(crate) fn new(cfg: &Config) -> Self {
        Compactor {
            lock: Mutex::new(()),
            window: Mutex::new(WindowControl::new(cfg)),
            survey: Mutex::new(Survey::default()),
            requested: AtomicBool::new(false),
            tombs_changed: AtomicBool::new(false),
            untidy: AtomicBool::new(false),
            clock: Mutex::new(settle::Clock::default()),
        }
    }

    /// Asks for a full compaction (done by the next round).
    pub(crate) fn request(&self) {
        self.requested.store(true, Ordering::Release);
    }

    /// Takes in what a flush did: densities for the window controller, and new
    /// tombstones, which may have made segments dead or tombstones redundant.
    /// Returns whether a compaction round should look now.
    pub(crate) fn note_flush(&self, done: &Flushed) -> bool {
        {
            let mut w = self.window.lock();
            for &(records, span) in &done.densities {
                w.observe(records, span);
            }
        }
        if done.new_tombs {
            self.tombs_changed.store(true, Ordering::Release);
        }
        if done.new_l1 {
            self.untidy.store(true, Ordering::Release);
        }
        if !done.densities.is_empty() {
            self.clock.lock().flushed();
        }
        done.new_tombs
    }

    /// The L1 window size in force.
    pub(crate) fn window(&self) -> i64 {
        self.window.lock().window
    }

    /// What `stats()` shows of the window controller.
    pub(crate) fn window_report(&self) -> WindowReport {
        self.window.lock().report()
    }

    /// Whether a compaction may be due (cheap; [`Compactor::compact_once`] decides).
    pub(crate) fn due<V: Value>(&self, store: &Store<V>) -> bool {
        let m = store.manifest.current();
        self.requested.load(Ordering::Acquire)
            || m.l0.len() > store.cfg.max_l0_segments
            || store.cfg.delete_debt_threshold > 0.0
            || self.tombs_changed.load(Ordering::Acquire)
            || self.untidy.load(Ordering::Acquire)
            || self.settle_due(&m)
    }

    /// Whether the background compactor should merge L0 and patches into L1
    /// now: there are some, and the log is at rest ([`settle`]).
    fn settle_due<V>(&self, m: &Manifest<V>) -> bool {
        !(m.patches.is_empty() && m.l0.is_empty()) && self.clock.lock().at_rest()
    }

    /// Whether to look for dead segments and retiring tombstones now. A survey
    /// costs O(T log T) for T tombstones (the step function of all of them, then
    /// the index rebuilt without the retired ones), so with many tombstones it runs
    /// only once their number has grown by an eighth since the last one, or
    /// [`SURVEY_INTERVAL`] has passed: amortised O(log T) per tombstone, while a
    /// stream of deletes is never left unsurveyed for long.
    fn survey_due<V: Value>(&self, snap: &Snapshot<V>) -> bool {
        let m = &snap.m;
        let t = m.tombs.len()
            + m.memruns.iter().chain(std::iter::once(&m.active)).map(|mt| mt.tomb_count()).sum::<usize>();
        let mut st = self.survey.lock();
        let now = Instant::now();
        let due = t <= 256
            || t >= st.tombs + st.tombs / 8
            || st.at.is_none_or(|at| now.duration_since(at) >= SURVEY_INTERVAL);
        if due {
            *st = Survey { tombs: t, at: Some(now) };
        }
        due
    }

    /// Runs one compaction if one is due (or `force`d: compact every L0 segment and
    /// every L1 segment holding deleted records); `true` if it did.
    ///
    /// Deleted data goes first: segments whose records are all deleted are dropped
    /// whole ([`prune`]), and segments with at least
    /// `segment_dead_fraction` of their records deleted are rewritten, each alone
    /// (one window's worth of work, not the whole log). A round with none of that
    /// to do tidies L1 instead ([`tidy`]), if small segments were written; and
    /// with nothing to tidy, a `background` round merges patches into L1 once
    /// the log is at rest ([`settle`]).
    pub(crate) fn compact_once<V: Value>(
        &self,
        store: &Store<V>,
        signals: &Signals,
        force: bool,
        background: bool,
    ) -> bool {
        let _c = self.lock.lock();
        let _quiet = Quiet::enter();
        // Take the requests before the snapshot: a request made after this point is
        // seen by the next round.
        let requested = force || self.requested.swap(false, Ordering::AcqRel);
        let tombs_changed = self.tombs_changed.swap(false, Ordering::AcqRel);
        let untidy = self.untidy.swap(false, Ordering::AcqRel);
        let mut snap = store.snapshot();
        let survey = requested || (tombs_changed && self.survey_due(&snap));
        if tombs_changed && !survey {
            // Not yet worth it: look again at the next wake-up.
            self.tombs_changed.store(true, Ordering::Release);
        }
        let settle = background && self.settle_due(&snap.m);
        if !(survey
            || untidy
            || settle
            || snap.m.l0.len() > store.cfg.max_l0_segments
            || store.cfg.delete_debt_threshold > 0.0)
        {
            // Nothing can be due: return before building the step function of every
            // tombstone (O(T log T)).
            return false;
        }
        // The step function of every tombstone, for the survey and for the debt
        // rules (the build itself takes each stretch's own pieces).
        let whole = survey || store.cfg.delete_debt_threshold > 0.0;
        let all_pieces =
            |snap: &Snapshot<V>| if whole { snap.pieces(i64::MIN, i64::MAX) } else { Vec::new() };
        let mut pieces = all_pieces(&snap);
        let mut pruned = false;
        if survey && prune(store, signals, &snap, &pieces) {
            pruned = true;
            // Dropped segments may leave small ones next to each other.
            self.untidy.store(true, Ordering::Release);
            snap = store.snapshot();
            pieces = all_pieces(&snap);
        }
        // The archives' fences this round respects (read after its last snapshot).
        let fences = store.round_fences(snap.w);
        let m = &snap.m;
        // Partly deleted segments worth a rewrite.
        let mut dead_l1: Vec<usize> = Vec::new();
        let mut dead_patches: Vec<usize> = Vec::new();
        let mut dead_l0 = 0; // L0 segments to take (a prefix) so that the dead ones are rewritten
        if survey && !pieces.is_empty() {
            let f = store.cfg.segment_dead_fraction;
            let worth = |s: &Segment<V>| {
                let dead = s.len() - s.count(i64::MIN, i64::MAX, &pieces);
                dead > 0 && dead as f64 >= f * s.len() as f64
            };
            dead_l1 = (0..m.l1.len()).filter(|&i| worth(&m.l1[i])).collect();
            dead_patches = m.patches.iter().enumerate().filter(|(_, s)| worth(s)).map(|(i, _)| i).collect();
            dead_l0 = m.l0.iter().rposition(|s| worth(s)).map_or(0, |i| i + 1);
        }
        // (A log at rest compacts what L0 holds, however little.)
        let over = m.l0.len() > store.cfg.max_l0_segments || (settle && !m.l0.is_empty());
        let debt = store.cfg.delete_debt_threshold > 0.0 && {
            let d = delete_debt(&snap, &pieces);
            d > 0.0 && d >= store.cfg.delete_debt_threshold
        };
        let regular =
            requested || over || debt || dead_l0 > 0 || !dead_l1.is_empty() || !dead_patches.is_empty();
        if !(regular || untidy || settle) {
            return pruned;
        }
        Counters::bump(&store.counters.select_calls, 1);
        // L0 inputs: the oldest ones (a prefix, so that all remaining L0 segments stay
        // newer than all L1 records), within the caps.
        let caps = store.cfg.compaction;
        let mut k = if requested || over || debt { m.l0.len() } else { dead_l0 };
        if caps.max_inputs > 0 {
            k = k.min(caps.max_inputs as usize);
        }
        // While an archive runs, only the L0 segments written before its seal point
        // (a prefix: L0 is in write order) may merge; the rest wait for its delete.
        k = k.min(Fence::l0_cap(&fences, &m.l0));
        if caps.target_bytes > 0 {
            let mut bytes = 0u64;
            let mut take = 0;
            for s in &m.l0[..k] {
                take += 1;
                bytes += s.bytes() as u64;
                if bytes >= caps.target_bytes {
                    break;
                }
            }
            k = take;
        }
        // With debt, L1 segments and patches holding deleted records are rewritten
        // as well; a full compaction also merges every patch into L1.
        let mut forced_l1: Vec<usize> = dead_l1;
        let mut forced_patches: Vec<usize> = dead_patches;
        if (debt || requested) && !pieces.is_empty() {
            let holes = |s: &Segment<V>| s.count(i64::MIN, i64::MAX, &pieces) < s.len();
            forced_l1 = (0..m.l1.len()).filter(|&i| holes(&m.l1[i])).collect();
            forced_patches = m.patches.iter().enumerate().filter(|(_, s)| holes(s)).map(|(i, _)| i).collect();
        }
        if requested {
            forced_patches = (0..m.patches.len()).collect();
        }
        let window = self.window.lock().window;
        let max_records = store.l1_segment_records();
        // Tidying is a round of its own, when nothing else is due.
        let mut tidy_groups = Vec::new();
        if k == 0 && forced_l1.is_empty() && forced_patches.is_empty() {
            if untidy || requested {
                let budget = ROUND_SEGMENTS * max_records;
                let (groups, left) =
                    tidy::plan(m, max_records, budget, window, store.cfg.window_origin, &fences);
                if left {
                    self.untidy.store(true, Ordering::Release);
                }
                tidy_groups = groups;
            }
            if tidy_groups.is_empty() && settle {
                forced_patches = settle::pick(m, ROUND_SEGMENTS * max_records);
            }
            if tidy_groups.is_empty() && forced_patches.is_empty() {
                Counters::bump(&store.counters.select_no_work, 1);
                return pruned;
            }
        } else if untidy {
            self.untidy.store(true, Ordering::Release);
        }
        let forced = Forced {
            l1: &forced_l1,
            patches: &forced_patches,
            tidy: &tidy_groups,
            allow_patches: !requested,
        };
        let mut plan = Plan::new(m, k, &forced, window, store.cfg.window_origin);
        let mut capped = false;
        while caps.max_windows > 0 && plan.windows > caps.max_windows as usize && k > 1 {
            k -= 1;
            plan = Plan::new(m, k, &forced, window, store.cfg.window_origin);
            capped = true;
        }
        {
            let mut st = self.window.lock();
            if capped {
                st.compaction_failed();
            } else {
                st.failures = 0;
            }
        }
        Counters::bump(&store.counters.select_l0_inputs, k as u64);
        Counters::bump(&store.counters.select_l1_inputs, plan.l1.len() as u64);
        let l0_in = &m.l0[..k];
        let l1_in: Vec<&Arc<Segment<V>>> = plan.l1.iter().map(|&i| &m.l1[i]).collect();
        let patches_in: Vec<(&Arc<Segment<V>>, u32)> =
            plan.patches.iter().map(|&i| m.patches.get(i)).collect();
        let inputs = || l0_in.iter().chain(l1_in.iter().copied()).chain(patches_in.iter().map(|&(s, _)| s));
        if Fence::forbid(&fences, inputs()) {
            // An archive is between its export and its delete over these inputs:
            // the next round after it finishes does this work.
            Counters::bump(&store.counters.compactions_fenced, 1);
            if requested && !force {
                self.requested.store(true, Ordering::Release);
            }
            if !tidy_groups.is_empty() {
                self.untidy.store(true, Ordering::Release);
            }
            return pruned;
        }
        let seqs = inputs().map(|s| s.seqs).reduce(SeqSpan::union);
        let seqs = seqs.unwrap_or(SeqSpan { first: 0, last: 0 });
        let patch_seqs = l0_in.iter().map(|s| s.seqs).reduce(SeqSpan::union);
        let patch_seqs = patch_seqs.unwrap_or(SeqSpan { first: 0, last: 0 });
        // The step function over the span of every stretch, built once (per stretch it
        // would walk every memrun's tombstones once per stretch).
        let span = plan.stretches.iter().chain(&plan.patch_stretches).fold(
            None,
            |acc: Option<(i64, i64)>, &(_, lo, hi)| {
                Some(acc.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))))
            },
        );
        let span_pieces = span.map_or_else(Vec::new, |(lo, hi)| snap.pieces(lo, hi));
        // L0 inputs laid over L1 as they are, and the patches left to write.
        let adopted = adoptable(m, l0_in, &plan.patch_stretches, &span_pieces);
        // Merged stretches first, then the patches (L0 records only).
        let jobs: Vec<(Window, i64, i64, bool)> = plan
            .stretches
            .iter()
            .map(|&(w, lo, hi)| (w, lo, hi, false))
            .chain(plan.patch_stretches.iter().map(|&(w, lo, hi)| (w, lo, hi, true)))
            .collect();
        let l0_rank = 1 + m.patches.rank_max();
        let built: Vec<(bool, Vec<Segment<V>>)> = par_map(&jobs, |&(w, lo, hi, patch)| {
            let pieces = within(&span_pieces, lo, hi);
            let mut srcs = Vec::new();
            if !patch {
                for s in &l1_in {
                    s.sources(lo, hi, &pieces, 0, &mut srcs);
                }
                for &(s, rank) in &patches_in {
                    s.sources(lo, hi, &pieces, rank, &mut srcs);
                }
            }
            for (i, s) in l0_in.iter().enumerate().filter(|&(i, _)| !adopted[i]) {
                s.sources(lo, hi, &pieces, l0_rank + i as u32, &mut srcs);
            }
            let it = Range::new(srcs, Vec::new(), snap.w);
            let seqs = if patch { patch_seqs } else { seqs };
            (patch, store.collect_segments(it, max_records, snap.w, seqs, Level::L1, Some(w)))
        });
        let mut outputs: Vec<Arc<Segment<V>>> = Vec::new();
        let mut new_patches: Vec<Arc<Segment<V>>> = Vec::new();
        for (patch, segs) in built {
            let to = if patch { &mut new_patches } else { &mut outputs };
            to.extend(segs.into_iter().map(Arc::new));
        }
        // After the written ones: in a stretch with both, each adopted segment
        // ranks one above the written patch whose span it lies in (see
        // `adoptable` for the bound).
        new_patches.extend(l0_in.iter().zip(&adopted).filter(|&(_, &a)| a).map(|(s, _)| s.clone()));
        let adopted_records: u64 =
            l0_in.iter().zip(&adopted).filter(|&(_, &a)| a).map(|(s, _)| s.len() as u64).sum();
        let gone_patches: Vec<&Arc<Segment<V>>> = patches_in.iter().map(|&(s, _)| s).collect();
        let (gone_l0, gone_l1) = (addrs(l0_in.iter()), addrs(l1_in.iter().copied()));
        let retries = store.manifest.update(|cur| {
            let mut n: Manifest<V> = cur.clone();
            n.l0.retain(|s| !gone_l0.contains(&addr(s)));
            let mut l1: Vec<Arc<Segment<V>>> =
                n.l1.iter().filter(|s| !gone_l1.contains(&addr(s))).cloned().collect();
            l1.extend(outputs.iter().cloned());
            n.set_l1(l1);
            if !gone_patches.is_empty() || !new_patches.is_empty() {
                n.patches = n.patches.replaced(&gone_patches, &new_patches);
            }
            if survey {
                // (Otherwise the next survey retires what this made retirable.)
                retire_tombs(&mut n);
            }
            Some(n)
        });
        signals.notify_room();
        if outputs.iter().any(|s| s.len() < tidy::small_records(max_records)) {
            self.untidy.store(true, Ordering::Release);
        }
        let patched = new_patches.iter().map(|s| s.len() as u64).sum::<u64>() - adopted_records;
        let written = outputs.iter().map(|s| s.len() as u64).sum::<u64>() + patched;
        Counters::bump(&store.counters.compacted_records, written);
        Counters::bump(&store.counters.patched_records, patched);
        Counters::bump(&store.counters.adopted_records, adopted_records);
        if !tidy_groups.is_empty() {
            Counters::bump(&store.counters.tidied_records, written);
        }
        Counters::bump(&store.counters.compaction_retries, retries.unwrap_or(0));
        Counters::bump(&store.counters.compactions, 1);
        // A request is satisfied once every L0 segment of its snapshot was compacted;
        // when the caps cut it short, keep it pending.
        if requested && !force && k < m.l0.len() {
            self.requested.store(true, Ordering::Release);
        }
        true
    }
}

impl Compactor {
    /// Runs `f` between two compaction rounds (holding the lock that serialises
    /// them), if no round runs now: a round that starts afterwards takes its
    /// snapshot afterwards.
    pub(crate) fn between_rounds<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let _c = self.lock.try_lock()?;
        Some(f())
    }
}

/// A segment's identity (its address), for sets of segments to remove from a
/// manifest's lists in one pass (a compaction of many L0 segments would
/// otherwise compare every listed segment with every input).
fn addr<V>(s: &Arc<Segment<V>>) -> usize {
    &**s as *const Segment<V> as usize
}

/// The identities of `segs` (see [`addr`]).
fn addrs<'a, V: 'a>(segs: impl Iterator<Item = &'a Arc<Segment<V>>>) -> HashSet<usize> {
    segs.map(addr).collect()
}

/// Fraction of stored segment records hidden by tombstones.
fn delete_debt<V>(snap: &Snapshot<V>, pieces: &[Piece]) -> f64 {
    let m = &snap.m;
    let total: usize = m.segments().map(|s| s.len()).sum();
    if total == 0 {
        return 0.0;
    }
    if pieces.is_empty() {
        return 0.0;
    }
    let visible: usize = m.segments().map(|s| s.count(i64::MIN, i64::MAX, pieces)).sum();
    (total - visible) as f64 / total as f64
}

/// Drops, in one manifest update and without rewriting anything, the segments
/// of `snap` all of whose records `pieces` (its step function) hides, and the
/// tombstones that can hide nothing any more. Returns whether the manifest
/// changed.
fn prune<V: Value>(store: &Store<V>, signals: &Signals, snap: &Snapshot<V>, pieces: &[Piece]) -> bool {
    let m = &snap.m;
    let dead: Vec<&Arc<Segment<V>>> = if pieces.is_empty() {
        Vec::new()
    } else {
        m.segments().filter(|s| s.count(i64::MIN, i64::MAX, pieces) == 0).collect()
    };
    if dead.is_empty() && m.tombs.is_empty() {
        return false;
    }
    let mut changed = false;
    let gone = addrs(dead.iter().copied());
    store.manifest.update(|cur| {
        let mut n: Manifest<V> = cur.clone();
        let before = n.l0.len() + n.l1.len() + n.patches.len();
        n.l0.retain(|s| !gone.contains(&addr(s)));
        if n.l1.iter().any(|s| gone.contains(&addr(s))) {
            let l1 = n.l1.iter().filter(|s| !gone.contains(&addr(s))).cloned().collect();
            n.set_l1(l1);
        }
        if n.patches.iter().any(|s| gone.contains(&addr(s))) {
            n.patches = n.patches.replaced(&dead, &[]);
        }
        let dropped = before - n.l0.len() - n.l1.len() - n.patches.len();
        let retired = retire_tombs(&mut n);
        changed = dropped > 0 || retired;
        if !changed {
            return None;
        }
        Counters::bump(&store.counters.segments_dropped, dropped as u64);
        Some(n)
    });
    if changed {
        signals.notify_room();
    }
    changed
}

/// Removes from `m`'s tombstone index every tombstone that can hide nothing any
/// more, and every one that newer tombstones make redundant; `true` if any went.
///
/// An indexed tombstone can only hide records of segments: it came from a flushed
/// memtable, and every memtable still unflushed holds only newer records. In a
/// segment it hides records only if it is not applied there yet and the segment
/// has records in its range ([`Segment::hidden_by`]). Called inside manifest
/// updates, on the manifest about to be published, so a segment added
/// concurrently is always taken into account.
fn retire_tombs<V>(m: &mut Manifest<V>) -> bool {
    if m.tombs.is_empty() {
        return false;
    }
    let (l0, l1) = (&m.l0, &m.l1);
    let live = |t: &Tomb| {
        l0.iter().any(|s| s.hidden_by(t.lo, t.hi, t.seq))
            || l1[m.l1_from(t.lo)..]
                .iter()
                .take_while(|s| s.min_ts() <= t.hi)
                .any(|s| s.hidden_by(t.lo, t.hi, t.seq))
            || m.patches.overlapping(t.lo, t.hi).any(|(s, _)| s.hidden_by(t.lo, t.hi, t.seq))
    };
    match m.tombs.retained(live) {
        Some(index) => {
            let fewer = index.len() < m.tombs.len();
            m.tombs = Arc::new(index);
            fewer
        }
        None => false,
    }
}
