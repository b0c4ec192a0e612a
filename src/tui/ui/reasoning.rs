//! The run screen: the reasoning chain as it streams (following the end unless scrolled
//! back) beside the ranking: while the chain is written, the ranking from its latest
//! hidden state; when it ends, the rec_head's ranking. A cancelled run is shown under
//! its own title. Stacked when the terminal is narrow.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{block, notice, ranking};
use crate::model::generate::StopReason;
use crate::rec::ranking::Ranking;
use crate::tui::app::State;
use crate::tui::text::plural;
use crate::tui::theme::Theme;

/// Rows a text takes when wrapped at `width` cells (a close estimate: wrapping is by
/// words; wide characters count two cells).
pub fn wrapped_rows(text: &str, width: u16) -> u16 {
    let w = width.max(1) as usize;
    text.split('\n')
        .map(|l| crate::tui::text::width(l).div_ceil(w).max(1))
        .sum::<usize>()
        .min(u16::MAX as usize) as u16
}

/// Text in a block that shows its end, `back` rows up from the bottom.
pub fn tail_paragraph(
    f: &mut Frame,
    area: Rect,
    title: String,
    text: &str,
    back: u16,
    theme: &Theme,
) {
    let inner_h = area.height.saturating_sub(2);
    let rows = wrapped_rows(text, area.width.saturating_sub(2));
    let offset = rows.saturating_sub(inner_h).saturating_sub(back);
    f.render_widget(
        Paragraph::new(text)
            .block(block(title, theme))
            .wrap(Wrap { trim: false })
            .scroll((offset, 0)),
        area,
    );
}

pub fn render_run(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let r = &state.run;
    // What the left pane shows: the chain being written, a cancelled one (under its own
    // title, so it is never taken for the last finished run), or the last finished one.
    let (text, title) = match (&r.live, &r.cancelled, &r.last) {
        (Some(l), _, _) if l.group.is_none() => (
            l.texts.first().map(String::as_str).unwrap_or(""),
            format!(
                " Reasoning {} {} · {} · budget {} ",
                super::spinner(state.spinner),
                if l.prefill.is_none() {
                    "reading the prompt".to_string()
                } else {
                    plural(l.pieces, "token", "tokens")
                },
                l.source,
                state.sampling.max_new_tokens,
            ),
        ),
        (_, Some(c), _) if c.group.is_none() => (
            c.texts.first().map(String::as_str).unwrap_or(""),
            format!(
                " Reasoning · cancelled after {} · {} ",
                plural(c.pieces, "token", "tokens"),
                c.source
            ),
        ),
        (_, _, Some(last)) => (
            last.reasoning.as_str(),
            format!(
                " Reasoning · {} · {} · {} ",
                plural(last.tokens, "token", "tokens"),
                stop_words(last.stop),
                last.request.source
            ),
        ),
        _ => {
            let msg = if state.model_ready() {
                "press r on screen 1 (Examples) to run the highlighted example, or r here to run the history of screen 2"
            } else {
                "the model is loading; pick an example meanwhile (screen 1)"
            };
            notice(f, area, " Run ", msg, state, theme);
            return;
        }
    };
    let wide = area.width >= 90;
    let [left, right] = if wide {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    };
    tail_paragraph(f, left, title, text, r.scroll_back, theme);
    let Some(data) = &state.data else { return };
    let inner = (right.width as usize).saturating_sub(2);
    let live = r.live.as_ref().filter(|l| l.group.is_none());
    let cancelled = r.cancelled.as_ref().filter(|c| c.group.is_none());
    let (ranking, history, t) = match (live, cancelled, &r.last) {
        (Some(l), _, _) => match &l.ranking {
            Some((steps, ranking)) => (
                ranking.as_ref(),
                Vec::new(),
                format!(
                    " Ranking so far · after {} · {} ",
                    plural(*steps, "token", "tokens"),
                    target_words(ranking)
                ),
            ),
            None => {
                let msg = Line::styled("the ranking so far shows after the first token", theme.dim);
                f.render_widget(
                    Paragraph::new(msg)
                        .block(block(" Ranking ", theme))
                        .wrap(Wrap { trim: true }),
                    right,
                );
                return;
            }
        },
        (None, Some(c), _) => match &c.ranking {
            Some((steps, ranking)) => (
                ranking.as_ref(),
                Vec::new(),
                format!(
                    " Ranking when cancelled · after {} · {} ",
                    plural(*steps, "token", "tokens"),
                    target_words(ranking)
                ),
            ),
            None => {
                let msg = Line::styled(
                    "cancelled before any ranking; screens 4, 5 and 7 keep the last finished run",
                    theme.dim,
                );
                f.render_widget(
                    Paragraph::new(msg)
                        .block(block(" Ranking ", theme))
                        .wrap(Wrap { trim: true }),
                    right,
                );
                return;
            }
        },
        (None, None, Some(last)) => {
            let history: Vec<String> = last
                .request
                .history
                .iter()
                .map(|h| {
                    data.catalog
                        .get(&h.item_id)
                        .map_or(h.item_id.clone(), |i| i.title.clone())
                })
                .collect();
            let t = match last.ranking.target_rank {
                Some(k) => format!(
                    " Ranking · target at {k} of {} ",
                    last.ranking.scores.len() - last.ranking.masked.len()
                ),
                None => " Ranking ".to_string(),
            };
            (&last.ranking, history, t)
        }
        (None, None, None) => return,
    };
    let lines = ranking::lines(ranking, &data.catalog, &history, None, inner, theme);
    f.render_widget(Paragraph::new(lines).block(block(t, theme)), right);
}

/// Where the target stands in a ranking, in words.
fn target_words(r: &Ranking) -> String {
    match (r.target_pos, r.target_rank) {
        (Some(_), Some(k)) => format!("target at {k}"),
        (Some(_), None) => "target in the history".into(),
        _ => "no target".into(),
    }
}

/// Why a chain ended, in words.
pub fn stop_words(stop: StopReason) -> &'static str {
    match stop {
        StopReason::StopString => "reached <answer>",
        StopReason::EndOfTurn => "ended its turn",
        StopReason::MaxTokens => "budget used up",
        StopReason::Cancelled => "cancelled",
    }
}
