//! The run screen: the reasoning chain as it streams (following the end unless scrolled
//! back) beside the rec_head's ranking; stacked when the terminal is narrow.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{block, notice, ranking};
use crate::tui::app::State;
use crate::tui::theme::Theme;

/// Rows a text takes when wrapped at `width` (a close estimate: wrapping is by words).
pub fn wrapped_rows(text: &str, width: u16) -> u16 {
    let w = width.max(1) as usize;
    text.split('\n')
        .map(|l| l.chars().count().div_ceil(w).max(1))
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
    let (text, title) = match (&r.live, &r.last) {
        (Some(l), _) if l.group.is_none() => (
            l.texts.first().map(String::as_str).unwrap_or(""),
            format!(
                " Reasoning {} {} ",
                super::spinner(state.spinner),
                if l.prefill.is_none() {
                    "(reading the prompt)"
                } else {
                    ""
                }
            ),
        ),
        (_, Some(last)) => (
            last.reasoning.as_str(),
            format!(" Reasoning · {} tokens · {:?} ", last.tokens, last.stop),
        ),
        _ => {
            let msg = if state.model_ready() {
                "press r to run the history in the editor (pick one on screen 1)"
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
    match (&r.last, &r.live) {
        (Some(last), None) => {
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
            let lines = ranking::lines(
                &last.ranking,
                &data.catalog,
                &history,
                None,
                right.width as usize - 2,
                theme,
            );
            let t = match last.ranking.target_rank {
                Some(k) => format!(
                    " Ranking · target at {k} of {} ",
                    last.ranking.scores.len() - last.ranking.masked.len()
                ),
                None => " Ranking ".to_string(),
            };
            f.render_widget(Paragraph::new(lines).block(block(t, theme)), right);
        }
        _ => {
            let msg = Line::styled(
                "the ranking appears when the chain reaches <answer>",
                theme.dim,
            );
            f.render_widget(
                Paragraph::new(msg)
                    .block(block(" Ranking ", theme))
                    .wrap(Wrap { trim: true }),
                right,
            );
        }
    }
}
