//! Empty ranges (`5..5`, `5..=4`, `..i64::MIN`, ...) and inverted ones (`5..3`)
//! read nothing through every read method; deleting an empty range succeeds and
//! records nothing (no sequence number, no tombstone), deleting an inverted one is
//! `Error::InvalidRange`, and neither changes anything — in the memtable, after
//! flush and after compaction. The smallest non-empty deletes work.

use std::ops::Bound::{Excluded, Included, Unbounded};

use timelog::{Accepted, Error, MaintenanceMode, Timelog};
use timelog_testkit::bounds::{self, Bounds};
use timelog_testkit::check::scan;
use timelog_testkit::oracle::{Delete, Oracle};
use timelog_testkit::tiny;

#[test]
#[allow(clippy::reversed_empty_ranges)]
fn empty_and_inverted_ranges() {
    let log: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    let mut o = Oracle::new();
    for (i, t) in [i64::MIN, 3, 4, 5, 6, i64::MAX].into_iter().enumerate() {
        let _ = log.append(t, i as u32);
        o.append(t, i as u32);
    }
    let empties: Vec<Bounds> = vec![
        (Included(5), Excluded(3)),
        (Included(5), Excluded(5)),
        (Included(5), Included(4)),
        (Excluded(5), Included(5)),
        (Excluded(5), Excluded(6)),
        (Excluded(i64::MAX), Unbounded),
        (Unbounded, Excluded(i64::MIN)),
        (Included(i64::MAX), Excluded(i64::MAX)),
        (Included(i64::MAX), Included(i64::MIN)),
        (Excluded(i64::MIN), Excluded(i64::MIN)),
    ];
    for stage in 0..3 {
        let snap = log.snapshot();
        for &b in &empties {
            assert!(bounds::is_empty(&b));
            assert!(scan(&snap, b).is_empty(), "range {b:?}");
            assert!(snap.range(b).next_back().is_none(), "range {b:?}");
            assert_eq!(snap.count(b), 0, "count {b:?}");
            assert!(log.range_vec(b).is_empty());
        }
        assert!(scan(&snap, 5..3).is_empty());
        assert_eq!(log.count(5..3), 0);
        assert_eq!(log.count(5..5), 0);
        assert!(log.range_vec(5..=4).is_empty());
        // Deletes of empty ranges succeed and record nothing (as `Vec::drain(a..a)`);
        // inverted ones are rejected. Neither changes anything.
        assert_eq!(log.delete_range(5..5).map(|w| w.accepted), Ok(Accepted::Clean));
        assert_eq!(log.delete_range(5..3), Err(Error::InvalidRange));
        assert_eq!(log.delete_range(5..=4).map(|w| w.accepted), Ok(Accepted::Clean));
        assert_eq!(log.delete_range(..i64::MIN).map(|w| w.accepted), Ok(Accepted::Clean));
        assert_eq!(log.delete_before(i64::MIN).map(|w| w.accepted), Ok(Accepted::Clean));
        for &b in &empties {
            let want = if bounds::is_inverted(&b) { Err(Error::InvalidRange) } else { Ok(Accepted::Clean) };
            let got = log.delete_range(b);
            assert_eq!(got.clone().map(|w| w.accepted), want, "{b:?}");
            // The oracle agrees, and records nothing either.
            let expect = o.delete(b);
            assert_ne!(expect, Delete::Recorded, "{b:?}");
            expect.assert(&got);
        }
        let w = log.delete_range(7..7).unwrap();
        assert_eq!(w.count, 0, "an empty delete takes no sequence number");
        assert!(w.visible_in(&log.snapshot()));
        assert_eq!(log.stats().tombstones, 0, "an empty or rejected delete left a tombstone");
        assert_eq!(scan(&log.snapshot(), ..), o.visible());
        match stage {
            0 => log.flush(),
            1 => log.compact_now(),
            _ => {}
        }
    }
    // The smallest non-empty ranges work.
    log.delete_range(5..=5).unwrap();
    o.delete(5..=5);
    log.delete_range((Excluded(3), Excluded(5))).unwrap();
    o.delete((Excluded(3), Excluded(5)));
    assert_eq!(scan(&log.snapshot(), ..), o.visible());
    assert_eq!(log.count(..), 4);
    log.delete_before(i64::MIN + 1).unwrap();
    o.delete_before(i64::MIN + 1);
    assert_eq!(scan(&log.snapshot(), ..), o.visible());
    assert_eq!(log.first_ts(), Some(3));
    log.validate().unwrap();
}
