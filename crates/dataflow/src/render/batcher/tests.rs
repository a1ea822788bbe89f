//! The batcher against a plain reference: what it releases is what sorting and consolidating the
//! inserted updates gives, split by the frontier, and what it holds stays consolidated.

use differential_dataflow::batcher::merge::Sealer;
use differential_dataflow::batcher::{Batcher, Extract};
use timely::progress::frontier::Antichain;

use super::{consolidate_sorted, SortBatcher, MIN_CONSOLIDATION};

type Update = (u64, u64, i64);

/// A sealer that hands back the chain it was given, flattened.
struct Collect;

impl Sealer<Vec<Update>> for Collect {
    type Output = Vec<Update>;
    fn seal(chain: &mut Vec<Vec<Update>>) -> Option<Self::Output> {
        Some(chain.drain(..).flatten().collect())
    }
}

fn batcher() -> SortBatcher<u64, u64, i64, Collect> {
    SortBatcher::new(None, 0)
}

fn extract(batcher: &mut SortBatcher<u64, u64, i64, Collect>, upper: u64) -> (Vec<Update>, Vec<u64>) {
    let (batch, frontier) = batcher.extract(Antichain::from_elem(upper).borrow());
    (batch.unwrap_or_default(), frontier.to_vec())
}

#[test]
fn consolidation_sums_equal_updates_and_drops_zeros_anywhere() {
    let mut updates = vec![(1, 0, 1), (1, 0, -1), (2, 0, 1), (2, 0, 2), (2, 1, 1), (3, 0, 5), (3, 0, -5)];
    consolidate_sorted(&mut updates);
    assert_eq!(updates, vec![(2, 0, 3), (2, 1, 1)]);
    let mut cancelled = vec![(1, 0, 1), (1, 0, -1)];
    consolidate_sorted(&mut cancelled);
    assert!(cancelled.is_empty());
}

#[test]
fn releases_sorted_consolidated_updates_before_the_frontier_and_keeps_the_rest() {
    let mut b = batcher();
    b.insert(&mut vec![(5, 2, 1), (3, 0, 1), (9, 1, 1), (3, 0, 1)]);
    b.insert(&mut vec![(1, 0, 1), (9, 1, -1), (4, 3, 1), (1, 0, -1)]);
    assert_eq!(extract(&mut b, 1), (vec![(3, 0, 2)], vec![2]));
    b.insert(&mut vec![(0, 2, 1)]);
    assert_eq!(extract(&mut b, 3), (vec![(0, 2, 1), (5, 2, 1)], vec![3]));
    assert_eq!(extract(&mut b, 4), (vec![(4, 3, 1)], vec![]));
    assert_eq!(extract(&mut b, 5), (vec![], vec![]));
}

#[test]
fn updates_that_cancel_do_not_accumulate_between_releases() {
    let mut b = batcher();
    for round in 0..(8 * MIN_CONSOLIDATION as u64 / 1000) {
        let mut inserted: Vec<Update> = (0..500).map(|k| (k, 0, 1)).collect();
        inserted.extend((0..500).map(|k| (k, 0, -1)));
        inserted.push((round, 0, 1));
        b.insert(&mut inserted);
        assert!(b.updates.len() < 2 * MIN_CONSOLIDATION, "{} updates held", b.updates.len());
    }
    let (released, frontier) = extract(&mut b, 1);
    let expected: Vec<Update> = (0..(8 * MIN_CONSOLIDATION as u64 / 1000)).map(|k| (k, 0, 1)).collect();
    assert_eq!((released, frontier), (expected, vec![]));
}
