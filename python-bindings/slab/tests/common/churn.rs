//! A randomized churn of the whole protocol on a tiny slab (4 chunks of 2 slots, so
//! that the slab fills up, chunks are installed and released all the time, and slots
//! are reused across owners): each thread inserts (one or a batch), clones, drops,
//! reads, drains and passes handles to other threads through a mailbox (a mutex, as
//! the engine's publication is); the last thread force-releases its owner every
//! other step while still holding handles (it never shares them, which is `force_release`'s
//! contract) and then reads them as null. Every thread's choices come from a seeded
//! generator, so a schedule is reproducible from the checker's seed alone.
//!
//! Run by the shuttle schedules (`--cfg timelog_shuttle`) and, with std threads, by
//! the unit tests.

use super::{assert_all_released, Handle, Ledger, TestSlab};
use timelog_slab::sync::{thread, Arc, Mutex};

const C: usize = 2;
const D: usize = 4;
type H = Handle<C, D>;

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Runs `threads` threads of `steps` steps each (seeded by `seed`) and checks the end
/// state: every stored object released exactly once, the others never; no slot in use;
/// at most the spare chunk installed.
pub fn churn(threads: usize, steps: usize, seed: u64) {
    let per = steps * 2 + 2;
    let ledger = Arc::new(Ledger::new(threads * per));
    let slab = Arc::new(TestSlab::<C, D>::new());
    let mailbox: Arc<Mutex<Vec<H>>> = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (ledger, slab, mailbox) = (ledger.clone(), slab.clone(), mailbox.clone());
            thread::spawn(move || {
                let owner = t as u32 + 1;
                let forcer = t == threads - 1 && threads > 1;
                let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (t as u64 + 1) << 32 | 1;
                let (mut mine, mut stored, mut obj): (Vec<H>, Vec<usize>, usize) = (vec![], vec![], t * per);
                // Handles whose objects were force-released (they read null).
                let mut ghosts: Vec<H> = vec![];
                for step in 0..steps {
                    if forcer && step % 2 == 1 {
                        // SAFETY: this thread's objects are never shared, and it reads
                        // none of them while this runs.
                        unsafe { slab.force_release((), owner) };
                        ghosts.append(&mut mine);
                        for g in &ghosts {
                            assert_eq!(g.read_opt(), None, "a force-released handle reads null");
                        }
                    }
                    let r = next(&mut rng);
                    let pick = (r >> 8) as usize;
                    match r % 10 {
                        0 | 1 => {
                            if let Some(h) = H::insert(&slab, &ledger, owner, obj) {
                                stored.push(obj);
                                mine.push(h);
                            }
                            obj += 1;
                        }
                        2 => {
                            if let Some(hs) = H::insert_many(&slab, &ledger, owner, vec![obj, obj + 1]) {
                                stored.extend([obj, obj + 1]);
                                mine.extend(hs);
                            }
                            obj += 2;
                        }
                        3 if !mine.is_empty() => {
                            let c = mine[pick % mine.len()].clone();
                            mine.push(c);
                        }
                        4 | 5 if !ghosts.is_empty() => drop(ghosts.pop()),
                        4 | 5 if !mine.is_empty() => drop(mine.swap_remove(pick % mine.len())),
                        6 if !mine.is_empty() => {
                            mine[pick % mine.len()].read();
                        }
                        7 => slab.drain((), pick % 3),
                        8 | 9 if !forcer => {
                            let mut m = mailbox.lock();
                            if r % 10 == 8 && !mine.is_empty() {
                                m.push(mine.swap_remove(pick % mine.len()));
                            } else if let Some(h) = m.pop() {
                                h.read();
                                mine.push(h);
                            }
                        }
                        _ => {}
                    }
                    assert!(slab.retired_len() <= C * D, "the retire queue holds more than the slots");
                }
                drop((mine, ghosts));
                slab.drain((), 0);
                stored
            })
        })
        .collect();
    let mut stored = vec![false; ledger.len()];
    for w in workers {
        for k in w.join().expect("a churn thread failed") {
            stored[k] = true;
        }
    }
    drop(std::mem::take(&mut *mailbox.lock()));
    assert_all_released(&slab, &ledger, |k| stored[k]);
}
