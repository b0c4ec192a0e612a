//! Fuzzy title search for the history editor: the query's characters must appear in
//! order in the title (case-insensitive); consecutive runs and word starts score higher,
//! as in fzf-style matchers, so "godfa" finds "Godfather, The" first.

/// Score of `query` against `text`, or `None` when it does not match. Higher is better.
pub fn score(query: &str, text: &str) -> Option<i64> {
    let q: Vec<char> = query
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if q.is_empty() {
        return Some(0);
    }
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let mut qi = 0;
    let mut total = 0i64;
    let mut run = 0i64;
    let mut prev_match: Option<usize> = None;
    for (i, c) in t.iter().enumerate() {
        if qi == q.len() {
            break;
        }
        if *c == q[qi] {
            let word_start = i == 0 || !t[i - 1].is_alphanumeric();
            run = if prev_match == Some(i.wrapping_sub(1)) {
                run + 1
            } else {
                1
            };
            total += 1 + 2 * run + if word_start { 4 } else { 0 };
            prev_match = Some(i);
            qi += 1;
        }
    }
    // Shorter titles win ties: the match covers more of them.
    (qi == q.len()).then(|| total * 100 - t.len() as i64)
}

/// Indices of `titles` matching `query`, best first, at most `limit`.
pub fn search<'a>(query: &str, titles: impl Iterator<Item = &'a str>, limit: usize) -> Vec<usize> {
    let mut hits: Vec<(i64, usize)> = titles
        .enumerate()
        .filter_map(|(i, t)| score(query, t).map(|s| (s, i)))
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    hits.into_iter().take(limit).map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_misses() {
        let titles = [
            "Star Wars",
            "Godfather, The",
            "Godfather: Part II, The",
            "Toy Story",
        ];
        assert_eq!(search("godfa", titles.iter().copied(), 10), vec![1, 2]);
        assert_eq!(search("sw", titles.iter().copied(), 10), vec![0]);
        assert_eq!(search("ts", titles.iter().copied(), 10)[0], 3);
        assert!(score("xyz", "Star Wars").is_none());
        assert!(score("war", "Star Wars").unwrap() > score("war", "Toward a new day").unwrap());
    }
}
