//! A ranking as lines: the top-K with scores, the target marked with its rank (also
//! below the top-K), optional rank changes against another ranking, and the history
//! items listed as masked. Titles are padded by display width, so a wide (CJK) title
//! keeps the score column in place, and items with no real title are marked.

use ratatui::text::{Line, Span};

use crate::data::Catalog;
use crate::rec::ranking::{RankChange, Ranking};
use crate::tui::text::{cut, pad, shown_title};
use crate::tui::theme::Theme;

fn change_span(c: &RankChange, theme: &Theme) -> Span<'static> {
    match c.delta() {
        None => Span::styled(" masked before", theme.dim),
        Some(0) => Span::styled("    =", theme.dim),
        Some(d) if d > 0 => Span::styled(format!(" ↑{d:<4}"), theme.good),
        Some(d) => Span::styled(format!(" ↓{:<4}", -d), theme.bad),
    }
}

/// Lines of a ranking `width` characters wide. `changes` (one per top item) adds a
/// column of rank moves; `history` lists the masked items at the end.
pub fn lines(
    r: &Ranking,
    catalog: &Catalog,
    history: &[String],
    changes: Option<&[RankChange]>,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    // Rank (6), score (8), the target mark (9) and the change column (14) around the title.
    let tw = width
        .saturating_sub(if changes.is_some() { 37 } else { 23 })
        .max(8);
    let mut out = Vec::new();
    for (i, it) in r.top.iter().enumerate() {
        let is_target = Some(it.pos) == r.target_pos;
        let style = if is_target { theme.target } else { theme.text };
        let mut spans = vec![
            Span::styled(format!("{:>4}. ", i + 1), theme.dim),
            Span::styled(pad(&shown_title(&it.title), tw), style),
            Span::styled(format!(" {:>7.2}", it.score), theme.dim),
        ];
        if let Some(c) = changes.and_then(|c| c.get(i)) {
            spans.push(change_span(c, theme));
        }
        if is_target {
            spans.push(Span::styled(" ◀ target", theme.target));
        }
        out.push(Line::from(spans));
    }
    if let Some(pos) = r.target_pos {
        let title = catalog
            .get(&catalog.items()[pos].item_id)
            .map_or("?", |i| i.title.as_str())
            .to_string();
        match r.target_rank {
            Some(rank) if rank > r.top.len() => {
                out.push(Line::styled("     …", theme.dim));
                out.push(Line::from(vec![
                    Span::styled(format!("{rank:>4}. "), theme.target),
                    Span::styled(pad(&shown_title(&title), tw), theme.target),
                    Span::styled(format!(" {:>7.2}", r.scores[pos]), theme.dim),
                    Span::styled(" ◀ target", theme.target),
                ]));
            }
            None => out.push(Line::styled(
                format!(
                    "target {} is in the history (masked)",
                    cut(&shown_title(&title), tw)
                ),
                theme.warn,
            )),
            _ => {}
        }
    }
    if !history.is_empty() {
        out.push(Line::from(""));
        out.push(Line::styled(
            format!("masked (history, {} items):", history.len()),
            theme.dim,
        ));
        for t in history.iter().rev() {
            out.push(Line::styled(
                format!("      {}", cut(&shown_title(t), tw)),
                theme.masked,
            ));
        }
    }
    out
}
