//! The two prompts of SPEC §2, rendered through the backbone's chat template:
//! the user prompt (history → reasoning → `<answer>`) and the item prompt (item text,
//! assistant turn pre-filled with `<answer>` and left open).
//!
//! Wording follows the reference implementation of R²ec (arXiv 2505.16994).

use std::fmt::Write as _;

use super::catalog::Catalog;
use super::domain::Domain;
use super::error::DataError;
use super::time_ago::time_ago;
use super::types::{Example, Interaction, Item};
use crate::model::chat_template::{ChatTemplate, Message, ANSWER_TAG};

/// Bumped whenever the prompt text changes, so item tables cached with an older
/// prompt are never used silently.
pub const PROMPT_VERSION: u32 = 1;

/// Default history window (SPEC §2).
pub const HISTORY_WINDOW: usize = 20;

/// Descriptions are cut to this many words in the item prompt.
pub const DESCRIPTION_WORDS: usize = 100;

/// A rating as the prompt shows it: "4", "4.5".
fn rating_text(r: f32) -> String {
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// The user turn's text for a history, seen at time `now` (the target's timestamp).
/// Only the last `window` interactions are shown, oldest first.
pub fn user_prompt_text(
    domain: &Domain,
    history: &[Interaction],
    now: i64,
    catalog: &Catalog,
    window: usize,
) -> Result<String, DataError> {
    let start = history.len().saturating_sub(window);
    let mut s = String::new();
    let _ = write!(
        s,
        "Analyze in depth and finally recommend next {} I might {} inside <answer> and </answer>.\n\
         For example, <answer>{}</answer>.\n\n\
         Below is my historical {} {} and ratings (out of 5):\n",
        domain.singular, domain.verb, domain.example, domain.category, domain.acts
    );
    for it in &history[start..] {
        let item = catalog.get(&it.item_id).ok_or_else(|| {
            DataError::Other(format!(
                "history item `{}` is not in the catalogue",
                it.item_id
            ))
        })?;
        let _ = writeln!(
            s,
            "{}: [{}] ({})",
            time_ago(now, it.timestamp),
            item.title,
            rating_text(it.rating)
        );
    }
    // The reference joins lines with newlines and ends without a trailing one.
    Ok(s.trim_end_matches('\n').to_string())
}

/// The full user prompt of an example, with the assistant turn opened.
pub fn user_prompt(
    template: &ChatTemplate,
    domain: &Domain,
    example: &Example,
    catalog: &Catalog,
    window: usize,
) -> Result<String, DataError> {
    let text = user_prompt_text(
        domain,
        &example.history,
        example.target.timestamp,
        catalog,
        window,
    )?;
    Ok(template.render(&[Message::user(text)], true))
}

/// The item turn's text: title, then whatever the data set has.
pub fn item_prompt_text(domain: &Domain, item: &Item) -> String {
    let mut s = format!(
        "Summarize key attributes of the following {} inside <answer> and </answer>.\n\nTitle: {}",
        domain.singular, item.title
    );
    if let Some(y) = item.year {
        let _ = write!(s, "\nYear: {y}");
    }
    if !item.genres.is_empty() {
        let _ = write!(s, "\nGenres: {}", item.genres.join(", "));
    }
    if let Some(r) = item.average_rating {
        let _ = write!(s, "\nAverage rating: {r:.1}");
    }
    if let Some(n) = item.rating_number {
        let _ = write!(s, "\nNumber of ratings: {n}");
    }
    if let Some(d) = &item.description {
        let words: Vec<&str> = d.split_whitespace().take(DESCRIPTION_WORDS).collect();
        if !words.is_empty() {
            let _ = write!(s, "\nDescription: {}", words.join(" "));
        }
    }
    s
}

/// The full item prompt: the assistant turn is pre-filled with `<answer>` and left open.
pub fn item_prompt(template: &ChatTemplate, domain: &Domain, item: &Item) -> String {
    template.render_prefilled(&[Message::user(item_prompt_text(domain, item))], ANSWER_TAG)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movie(id: &str, title: &str, year: i32, genres: &[&str]) -> Item {
        Item {
            item_id: id.into(),
            title: title.into(),
            domain: "movies".into(),
            year: Some(year),
            genres: genres.iter().map(|g| g.to_string()).collect(),
            average_rating: None,
            rating_number: None,
            description: None,
        }
    }

    fn catalog() -> Catalog {
        Catalog::new(vec![
            movie(
                "1",
                "Toy Story",
                1995,
                &["Animation", "Children's", "Comedy"],
            ),
            movie("2", "GoldenEye", 1995, &["Action", "Adventure", "Thriller"]),
            movie("3", "Four Rooms", 1995, &["Thriller"]),
        ])
    }

    fn inter(id: &str, rating: f32, ts: i64) -> Interaction {
        Interaction {
            item_id: id.into(),
            rating,
            timestamp: ts,
        }
    }

    #[test]
    fn user_prompt_exact_text_for_fixture_user() {
        let ex = Example {
            user_id: "196".into(),
            history: vec![
                inter("1", 5.0, 1_000_000 - 86_400 * 40),
                inter("2", 3.0, 1_000_000 - 7200),
            ],
            target: inter("3", 4.0, 1_000_000),
        };
        let p = user_prompt(
            &ChatTemplate::smollm2(),
            &Domain::movies(),
            &ex,
            &catalog(),
            20,
        )
        .unwrap();
        assert_eq!(
            p,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
<|im_start|>user\n\
Analyze in depth and finally recommend next movie I might watch inside <answer> and </answer>.\n\
For example, <answer>a movie</answer>.\n\
\n\
Below is my historical movies watches and ratings (out of 5):\n\
1 month ago: [Toy Story] (5)\n\
2 hours ago: [GoldenEye] (3)<|im_end|>\n\
<|im_start|>assistant\n"
        );
    }

    #[test]
    fn window_keeps_the_latest_items() {
        let hist: Vec<_> = (0..5)
            .map(|i| inter(if i % 2 == 0 { "1" } else { "2" }, 4.5, 100 + i))
            .collect();
        let text = user_prompt_text(&Domain::movies(), &hist, 10_000, &catalog(), 2).unwrap();
        let lines: Vec<_> = text.lines().skip(4).collect();
        assert_eq!(
            lines,
            vec![
                "2 hours ago: [GoldenEye] (4.5)",
                "2 hours ago: [Toy Story] (4.5)"
            ]
        );
    }

    #[test]
    fn unknown_history_item_is_an_error() {
        let err = user_prompt_text(
            &Domain::movies(),
            &[inter("99", 1.0, 0)],
            10,
            &catalog(),
            20,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`99`"));
    }

    #[test]
    fn item_prompt_exact_text() {
        let mut it = movie("1", "Toy Story", 1995, &["Animation", "Comedy"]);
        it.description = Some(format!("{} end", "word ".repeat(120)));
        let p = item_prompt(
            &ChatTemplate::ChatMl {
                default_system: None,
            },
            &Domain::movies(),
            &it,
        );
        let expected_desc = vec!["word"; 100].join(" ");
        assert_eq!(
            p,
            format!(
                "<|im_start|>user\nSummarize key attributes of the following movie inside <answer> and </answer>.\n\n\
Title: Toy Story\nYear: 1995\nGenres: Animation, Comedy\nDescription: {expected_desc}<|im_end|>\n\
<|im_start|>assistant\n<answer>"
            )
        );
    }

    #[test]
    fn amazon_wording() {
        let d = Domain::amazon("Musical_Instruments");
        let text = user_prompt_text(&d, &[], 0, &catalog(), 20).unwrap();
        assert!(text.starts_with(
            "Analyze in depth and finally recommend next instrument I might purchase"
        ));
        assert!(text.contains("For example, <answer>a product</answer>."));
        assert!(
            text.ends_with("Below is my historical instruments purchases and ratings (out of 5):")
        );
    }
}
