//! Suggested tags: word patterns per behaviour, matched case-insensitively on word
//! boundaries, each suggestion with the span that triggered it. The annotator accepts or
//! rejects them; `stats` shows how often people agree with the tagger.

use super::behaviour::Behaviour;
use super::store::Span;

/// Cue phrases per behaviour. Short and literal on purpose: a suggestion must be easy to
/// check against its span.
const PATTERNS: [(Behaviour, &[&str]); 7] = [
    (
        Behaviour::AttributeAbstraction,
        &[
            "genre", "genres", "style", "theme", "themes", "director", "actor", "starring", "tone",
            "drama", "comedy", "thriller", "sci-fi", "action", "animated",
        ],
    ),
    (
        Behaviour::PatternClustering,
        &[
            "pattern",
            "tends to",
            "often",
            "mostly",
            "cluster",
            "consistently",
            "repeatedly",
            "many of",
            "several",
            "a lot of",
        ],
    ),
    (
        Behaviour::RoleBased,
        &[
            "as a fan",
            "fan of",
            "enthusiast",
            "parent",
            "student",
            "collector",
            "cinephile",
            "lover of",
            "someone who",
            "kind of viewer",
            "type of viewer",
        ],
    ),
    (
        Behaviour::Temporal,
        &[
            "recent",
            "recently",
            "lately",
            "latest",
            "earlier",
            "before",
            "after",
            "ago",
            "over time",
            "now",
            "last watched",
            "most recent",
        ],
    ),
    (
        Behaviour::SelfExplanation,
        &[
            "because",
            "therefore",
            "so i",
            "which is why",
            "this suggests",
            "thus",
            "hence",
            "i recommend",
            "would enjoy",
            "would like",
        ],
    ),
    (
        Behaviour::NegativeExclusion,
        &[
            "disliked",
            "didn't like",
            "did not like",
            "rated low",
            "low rating",
            "avoid",
            "not enjoy",
            "not a fan",
            "poorly rated",
            "hated",
        ],
    ),
    (
        Behaviour::MultiObjective,
        &[
            "balance",
            "both",
            "mix of",
            "while also",
            "on the other hand",
            "but also",
            "trade-off",
            "tradeoff",
            "variety",
            "diverse",
        ],
    ),
];

/// Suggested behaviours (sorted, unique) with the first matching span of each.
pub fn suggest(text: &str) -> Vec<Span> {
    let lower = text.to_lowercase();
    // Lowercasing can change byte lengths outside ASCII; spans are then found on the
    // lowered text, and only kept when they land on the original's char boundaries.
    let mut out = Vec::new();
    for (b, cues) in PATTERNS {
        let hit = cues.iter().filter_map(|cue| find_word(&lower, cue)).min();
        if let Some((start, end)) = hit {
            if text.is_char_boundary(start) && text.is_char_boundary(end.min(text.len())) {
                out.push(Span {
                    behaviour: b,
                    start,
                    end: end.min(text.len()),
                });
            }
        }
    }
    out
}

/// First occurrence of `cue` in `hay` that starts and ends on word boundaries.
fn find_word(hay: &str, cue: &str) -> Option<(usize, usize)> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let mut from = 0;
    while let Some(i) = hay[from..].find(cue) {
        let s = from + i;
        let e = s + cue.len();
        if !word(hay[..s].chars().next_back()) && !word(hay[e..].chars().next()) {
            return Some((s, e));
        }
        from = s + cue.len().max(1);
        while !hay.is_char_boundary(from) {
            from += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_give_behaviours_with_their_spans() {
        let t =
            "Recently they watched comedies. Because they disliked horror, I recommend a drama.";
        let s = suggest(t);
        let tags: Vec<Behaviour> = s.iter().map(|x| x.behaviour).collect();
        assert!(tags.contains(&Behaviour::Temporal));
        assert!(tags.contains(&Behaviour::SelfExplanation));
        assert!(tags.contains(&Behaviour::NegativeExclusion));
        assert!(tags.contains(&Behaviour::AttributeAbstraction), "drama");
        let temporal = s
            .iter()
            .find(|x| x.behaviour == Behaviour::Temporal)
            .unwrap();
        assert_eq!(&t[temporal.start..temporal.end], "Recently");
        // Word boundaries: "nowhere" is not "now", "beforehand" is not "before".
        assert!(suggest("nowhere beforehand").is_empty());
        assert!(suggest("").is_empty());
    }
}
