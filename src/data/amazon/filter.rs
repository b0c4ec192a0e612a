//! The two row filters of the Amazon protocol (SPEC §3): a time window, 2022-10-01 ..
//! 2023-10-01 UTC, widened by three months at each end until it holds enough distinct
//! items or covers all the data; then an iterative K-core filter on users and items.

use super::{Review, Reviews};
use crate::data::calendar::{add_months, unix_at};

/// The initial window, `[start, end)` in Unix seconds (UTC midnights).
pub const WINDOW_START: (i64, u32, u32) = (2022, 10, 1);
pub const WINDOW_END: (i64, u32, u32) = (2023, 10, 1);

/// Keep (`alive`) only rows inside the final window; return that window `[start, end)`.
pub fn time_window(rows: &[Review], alive: &mut [bool], min_items: usize) -> (i64, i64) {
    let (sy, sm, sd) = WINDOW_START;
    let (ey, em, ed) = WINDOW_END;
    let mut start = unix_at(sy, sm, sd);
    let mut end = unix_at(ey, em, ed);
    let first = rows.iter().map(|r| r.timestamp).min().unwrap_or(start);
    let last = rows.iter().map(|r| r.timestamp).max().unwrap_or(start);
    let items = rows.iter().map(|r| r.item as usize + 1).max().unwrap_or(0);
    let mut present = vec![false; items];
    loop {
        present.iter_mut().for_each(|p| *p = false);
        let mut distinct = 0usize;
        for r in rows.iter().filter(|r| (start..end).contains(&r.timestamp)) {
            if !present[r.item as usize] {
                present[r.item as usize] = true;
                distinct += 1;
            }
        }
        let covers_all = start <= first && end > last;
        if distinct >= min_items || covers_all {
            break;
        }
        start = add_months(start, -3);
        end = add_months(end, 3);
    }
    for (r, a) in rows.iter().zip(alive.iter_mut()) {
        *a = *a && (start..end).contains(&r.timestamp);
    }
    (start, end)
}

/// Drop rows of users or items with fewer than `k` live rows, repeatedly, until every
/// remaining user and item has at least `k`. `k` <= 1 changes nothing.
pub fn k_core(reviews: &Reviews, alive: &mut [bool], k: usize) {
    if k <= 1 {
        return;
    }
    let mut user_count = vec![0usize; reviews.users.len()];
    let mut item_count = vec![0usize; reviews.items.len()];
    loop {
        user_count.iter_mut().for_each(|c| *c = 0);
        item_count.iter_mut().for_each(|c| *c = 0);
        for (r, _) in reviews.rows.iter().zip(alive.iter()).filter(|(_, &a)| a) {
            user_count[r.user as usize] += 1;
            item_count[r.item as usize] += 1;
        }
        let mut changed = false;
        for (r, a) in reviews.rows.iter().zip(alive.iter_mut()) {
            if *a && (user_count[r.user as usize] < k || item_count[r.item as usize] < k) {
                *a = false;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::calendar::utc_date;

    fn row(user: u32, item: u32, timestamp: i64) -> Review {
        Review {
            user,
            item,
            rating: 5.0,
            timestamp,
        }
    }

    #[test]
    fn window_widens_by_three_months_until_enough_items() {
        let inside = unix_at(2023, 1, 1);
        let rows = vec![
            row(0, 0, inside),
            row(0, 1, unix_at(2022, 8, 15)), // needs one widening
            row(0, 2, unix_at(2024, 3, 31)), // needs two
            row(0, 3, unix_at(2020, 1, 1)),  // never reached with min_items 3
        ];
        let mut alive = vec![true; rows.len()];
        let (s, e) = time_window(&rows, &mut alive, 3);
        assert_eq!(
            (utc_date(s).as_str(), utc_date(e).as_str()),
            ("2022-04-01", "2024-04-01")
        );
        assert_eq!(alive, [true, true, true, false]);

        let mut alive = vec![true; rows.len()];
        let (s, _) = time_window(&rows, &mut alive, 1);
        assert_eq!(utc_date(s), "2022-10-01");
        assert_eq!(alive, [true, false, false, false]);
    }

    #[test]
    fn window_stops_once_it_covers_all_data() {
        let rows = vec![
            row(0, 0, unix_at(2021, 12, 31)),
            row(0, 0, unix_at(2023, 2, 1)),
        ];
        let mut alive = vec![true; 2];
        let (s, e) = time_window(&rows, &mut alive, 10_000);
        assert_eq!(
            (utc_date(s).as_str(), utc_date(e).as_str()),
            ("2021-10-01", "2024-10-01")
        );
        assert_eq!(alive, [true, true]);
    }

    #[test]
    fn k_core_iterates_until_stable() {
        // Users 0 and 1 rate items 0 and 1 (a 2-core); user 2 rates items 1 and 2, and
        // item 2 has one rating, so user 2 falls, which leaves user 2's item 1 row gone too.
        let rows = vec![
            row(0, 0, 1),
            row(0, 1, 2),
            row(1, 0, 3),
            row(1, 1, 4),
            row(2, 1, 5),
            row(2, 2, 6),
        ];
        let reviews = Reviews {
            rows,
            users: vec!["a".into(), "b".into(), "c".into()],
            items: vec!["x".into(), "y".into(), "z".into()],
            item_lines: vec![2, 3, 7],
        };
        let mut alive = vec![true; 6];
        k_core(&reviews, &mut alive, 2);
        assert_eq!(alive, [true, true, true, true, false, false]);
        let mut alive = vec![true; 6];
        k_core(&reviews, &mut alive, 3);
        assert_eq!(alive, [false; 6]);
        let mut alive = vec![true; 6];
        k_core(&reviews, &mut alive, 0);
        assert_eq!(alive, [true; 6]);
    }
}
