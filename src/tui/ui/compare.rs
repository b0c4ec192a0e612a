//! Two rankings side by side with the rank changes of the right one: with versus
//! without reasoning (the ranking straight after the prompt against the one after the
//! chain), or the counterfactual (the previous run against this one, after an edit of
//! the history), with the items added to or removed from the history.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{block, cut, notice, ranking};
use crate::rec::ranking::rank_changes;
use crate::tui::app::run::CompareMode;
use crate::tui::app::State;
use crate::tui::msg::RunResult;
use crate::tui::theme::Theme;

fn rank_text(r: Option<usize>) -> String {
    r.map_or("masked".into(), |r| r.to_string())
}

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let (Some(last), Some(data)) = (&state.run.last, &state.data) else {
        notice(
            f,
            area,
            " Compare ",
            "run a history first (r)",
            state,
            theme,
        );
        return;
    };
    let (before, before_title, diff) = match state.run.compare {
        CompareMode::NoReasoning => (
            &last.no_reasoning,
            format!(
                " Without reasoning · target {} ",
                rank_text(last.no_reasoning.target_rank)
            ),
            Vec::new(),
        ),
        CompareMode::Previous => {
            match &state.run.previous {
                Some(prev) => (
                    &prev.ranking,
                    format!(
                        " Previous run · target {} ",
                        rank_text(prev.ranking.target_rank)
                    ),
                    history_diff(prev, last, state),
                ),
                None => {
                    notice(f, area, " Compare · counterfactual ", "edit the history (screen 2) and run again to see the diff (v switches views)", state, theme);
                    return;
                }
            }
        }
    };
    let after_title = match state.run.compare {
        CompareMode::NoReasoning => format!(
            " With reasoning · target {} ",
            rank_text(last.ranking.target_rank)
        ),
        CompareMode::Previous => format!(
            " This run · target {} ",
            rank_text(last.ranking.target_rank)
        ),
    };
    let [top, bottom] = Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(if diff.is_empty() {
            0
        } else {
            (diff.len() as u16 + 2).min(8)
        }),
    ])
    .areas(area);
    let wide = top.width >= 90;
    let [l, r] = if wide {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top)
    } else {
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top)
    };
    let changes = rank_changes(before, &last.ranking);
    let left = ranking::lines(
        before,
        &data.catalog,
        &[],
        None,
        l.width as usize - 2,
        theme,
    );
    let right = ranking::lines(
        &last.ranking,
        &data.catalog,
        &[],
        Some(&changes),
        r.width as usize - 2,
        theme,
    );
    f.render_widget(Paragraph::new(left).block(block(before_title, theme)), l);
    f.render_widget(Paragraph::new(right).block(block(after_title, theme)), r);
    if !diff.is_empty() {
        f.render_widget(
            Paragraph::new(diff).block(block(" History edits ", theme)),
            bottom,
        );
    }
}

/// Items added to (+) and removed from (−) the history between two runs.
fn history_diff(prev: &RunResult, last: &RunResult, state: &State) -> Vec<Line<'static>> {
    let theme = crate::tui::theme::Theme::default();
    let title = |id: &str| {
        state
            .data
            .as_ref()
            .and_then(|d| d.catalog.get(id))
            .map_or(id.to_string(), |i| crate::tui::text::shown_title(&i.title))
    };
    let ids = |r: &RunResult| {
        r.request
            .history
            .iter()
            .map(|h| (h.item_id.clone(), h.rating))
            .collect::<Vec<_>>()
    };
    let (a, b) = (ids(prev), ids(last));
    let mut out = Vec::new();
    for (id, rating) in &b {
        match a.iter().find(|(x, _)| x == id) {
            None => out.push(Line::styled(
                format!("+ {} ({rating:.0}★)", cut(&title(id), 60)),
                theme.good,
            )),
            Some((_, r0)) if r0 != rating => out.push(Line::styled(
                format!("~ {} {r0:.0}★ → {rating:.0}★", cut(&title(id), 60)),
                theme.warn,
            )),
            _ => {}
        }
    }
    for (id, _) in a.iter().filter(|(x, _)| !b.iter().any(|(y, _)| y == x)) {
        out.push(Line::styled(
            format!("− {}", cut(&title(id), 60)),
            theme.bad,
        ));
    }
    if out.is_empty() && a != b {
        out.push(Line::styled("same items, new order or times", theme.dim));
    }
    out
}
