//! Adoption: which L0 inputs of a compaction become patches as they are,
//! without a copy (see [`Patches`](crate::manifest::Patches)).

use crate::manifest::{Manifest, MAX_PATCH_DEPTH};
use crate::segment::{Segment, Window};
use crate::sync::Arc;
use crate::tombstone::{within, Piece};

/// Which of the L0 inputs `l0` become patches as they are, without a copy, in
/// each of the plan's patch stretches (`[lo, hi]` spanning the L0 records
/// there). A segment is *clean* there if it lies wholly inside the stretch and
/// holds no record a tombstone in `pieces` (the round's step function) hides.
///
/// - When every input with records in the stretch is clean, all of them are
///   adopted: installed in L0 order, each ranks above every patch it overlaps,
///   so overlapping ones stack oldest lowest, as equal timestamps need; unless
///   a rank would pass [`MAX_PATCH_DEPTH`].
/// - Otherwise the clean segments that share no timestamp range with another
///   input (so that the rest, written as one patch, does not interleave with
///   them) are adopted. Written and adopted patches of one stretch overlap in
///   span, so the adopted ones rank one above the written one: a stretch whose
///   new patch would take the highest rank allowed adopts only when nothing is
///   left to write, so no patch ranks above [`MAX_PATCH_DEPTH`].
pub(super) fn adoptable<V>(
    m: &Manifest<V>,
    l0: &[Arc<Segment<V>>],
    patch_stretches: &[(Window, i64, i64)],
    pieces: &[Piece],
) -> Vec<bool> {
    let mut adopted = vec![false; l0.len()];
    for &(_, lo, hi) in patch_stretches {
        let here: Vec<usize> = (0..l0.len()).filter(|&i| l0[i].has_records_in(lo, hi)).collect();
        let clean = |i: usize| {
            let s = &l0[i];
            let (a, b) = (s.min_ts(), s.max_ts());
            lo <= a && b <= hi && within(pieces, a, b).iter().all(|p| !s.hidden_by(p.lo, p.hi, p.seq))
        };
        if here.len() > 1 && here.iter().all(|&i| clean(i)) {
            // Every input of the stretch can be adopted: overlapping ones stack,
            // oldest lowest (they are added in L0 order, each ranked above the
            // patches it overlaps), if no rank goes over the bound.
            let mut ranked: Vec<(i64, i64, u32)> = Vec::new();
            let fits = here.iter().all(|&i| {
                let (a, b) = (l0[i].min_ts(), l0[i].max_ts());
                let below = ranked.iter().filter(|&&(x, y, _)| x <= b && a <= y).map(|&(_, _, r)| r + 1);
                let r = below.fold(m.patches.rank_for(a, b), u32::max);
                ranked.push((a, b, r));
                r as usize <= MAX_PATCH_DEPTH
            });
            if fits {
                here.iter().for_each(|&i| adopted[i] = true);
                continue;
            }
        }
        let alone = |i: usize| {
            let (a, b) = (l0[i].min_ts(), l0[i].max_ts());
            clean(i) && here.iter().all(|&o| o == i || !l0[o].has_records_in(a, b))
        };
        let take: Vec<usize> = here.iter().copied().filter(|&i| alone(i)).collect();
        let mixed = take.len() < here.len();
        if take.is_empty() || (mixed && m.patches.rank_for(lo, hi) as usize >= MAX_PATCH_DEPTH) {
            continue;
        }
        for i in take {
            adopted[i] = true;
        }
    }
    adopted
}
