//! The example protocol and chronological split of SPEC §3: every position i >= 1 of a
//! user's time-sorted sequence is an example whose history is the up-to-`window` items
//! before it; all examples are sorted by the target's timestamp and cut 80/10/10.
//!
//! Examples are kept as references into the user sequences (user, position) rather than
//! owned copies: a history repeats up to 20 interactions, and ml-1m has a million targets.

use std::ops::Range;

use serde::Serialize;

use super::sequences::UserSequence;
use super::types::{Example, Interaction};

/// One example: the target is `users[user].interactions[position]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExampleRef {
    pub user: u32,
    pub position: u32,
    /// The target's timestamp, the global sort key.
    pub timestamp: i64,
}

impl ExampleRef {
    /// The example as it is serialized, borrowing from the sequences.
    pub fn view<'a>(&self, users: &'a [UserSequence], window: usize) -> ExampleView<'a> {
        let user = &users[self.user as usize];
        let pos = self.position as usize;
        ExampleView {
            user_id: &user.user_id,
            history: &user.interactions[pos.saturating_sub(window)..pos],
            target: &user.interactions[pos],
        }
    }
}

/// An [`Example`] by reference; serializes to exactly the same JSON.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ExampleView<'a> {
    pub user_id: &'a str,
    pub history: &'a [Interaction],
    pub target: &'a Interaction,
}

impl ExampleView<'_> {
    pub fn to_example(&self) -> Example {
        Example {
            user_id: self.user_id.to_string(),
            history: self.history.to_vec(),
            target: self.target.clone(),
        }
    }
}

/// All examples sorted by target timestamp. Generation order is users in order of first
/// appearance, positions ascending; the sort is stable, so equal timestamps keep it.
pub fn generate(users: &[UserSequence]) -> Vec<ExampleRef> {
    let n: usize = users
        .iter()
        .map(|u| u.interactions.len().saturating_sub(1))
        .sum();
    let mut refs = Vec::with_capacity(n);
    for (u, seq) in users.iter().enumerate() {
        for (p, target) in seq.interactions.iter().enumerate().skip(1) {
            refs.push(ExampleRef {
                user: u as u32,
                position: p as u32,
                timestamp: target.timestamp,
            });
        }
    }
    refs.sort_by_key(|r| r.timestamp);
    refs
}

/// Index ranges of the chronological split over `n` sorted examples:
/// train = floor(0.8 n), valid = floor(0.9 n) - floor(0.8 n), test = the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRanges {
    pub train: Range<usize>,
    pub valid: Range<usize>,
    pub test: Range<usize>,
}

impl SplitRanges {
    pub fn new(n: usize) -> Self {
        // Integer arithmetic: floor(0.8 n) = 8n / 10 exactly, with no float rounding.
        let a = n * 8 / 10;
        let b = n * 9 / 10;
        Self {
            train: 0..a,
            valid: a..b,
            test: b..n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(user: &str, times: &[i64]) -> UserSequence {
        UserSequence {
            user_id: user.into(),
            interactions: times
                .iter()
                .enumerate()
                .map(|(i, &t)| Interaction {
                    item_id: format!("{user}{i}"),
                    rating: 3.0,
                    timestamp: t,
                })
                .collect(),
        }
    }

    #[test]
    fn split_sizes_are_exact() {
        let sizes = |n| {
            let s = SplitRanges::new(n);
            (s.train.len(), s.valid.len(), s.test.len())
        };
        assert_eq!(sizes(0), (0, 0, 0));
        assert_eq!(sizes(1), (0, 0, 1));
        assert_eq!(sizes(9), (7, 1, 1));
        assert_eq!(sizes(10), (8, 1, 1));
        assert_eq!(sizes(11), (8, 1, 2));
        assert_eq!(sizes(19), (15, 2, 2));
        assert_eq!(sizes(99_057), (79_245, 9_906, 9_906));
        for n in 0..500 {
            let s = SplitRanges::new(n);
            assert_eq!(s.train.len(), (n as f64 * 0.8 + 1e-9).floor() as usize);
            assert_eq!(s.train.end, s.valid.start);
            assert_eq!(s.valid.end, s.test.start);
            assert_eq!(s.test.end, n);
        }
    }

    #[test]
    fn every_position_after_the_first_is_a_target_with_window() {
        let times: Vec<i64> = (0..25).collect();
        let users = vec![seq("a", &times)];
        let refs = generate(&users);
        assert_eq!(refs.len(), 24);
        let first = refs[0].view(&users, 20);
        assert_eq!(first.target.item_id, "a1");
        assert_eq!(first.history.len(), 1);
        let last = refs[23].view(&users, 20);
        assert_eq!(last.target.item_id, "a24");
        assert_eq!(last.history.len(), 20);
        assert_eq!(last.history[0].item_id, "a4");
        assert_eq!(last.history[19].item_id, "a23");
        assert_eq!(refs[21].view(&users, 20).history.len(), 20);
        assert_eq!(refs[18].view(&users, 20).history.len(), 19);
        assert_eq!(refs[23].view(&users, 3).history.len(), 3);
    }

    #[test]
    fn global_order_is_by_target_time_then_generation_order() {
        let users = vec![seq("a", &[0, 5, 7]), seq("b", &[1, 5, 2]), seq("c", &[9])];
        // b's sequence is taken as given (readers sort it); targets: a@5 a@7 b@5 b@2.
        let refs = generate(&users);
        let order: Vec<(u32, u32)> = refs.iter().map(|r| (r.user, r.position)).collect();
        assert_eq!(order, [(1, 2), (0, 1), (1, 1), (0, 2)]);
    }

    #[test]
    fn view_serializes_like_the_owned_example() {
        let users = vec![seq("a", &[3, 4, 5])];
        let refs = generate(&users);
        let view = refs[1].view(&users, 20);
        assert_eq!(
            serde_json::to_string(&view).unwrap(),
            serde_json::to_string(&view.to_example()).unwrap()
        );
    }
}
