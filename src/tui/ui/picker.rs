//! The example picker: a scrolling list of the split's examples that pass the filters,
//! and the selected example's history beside it when the terminal is wide enough.
//! Items with no real title in the data are marked (`text::shown_title`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use super::{block, cut, notice};
use crate::tui::app::State;
use crate::tui::text::shown_title;
use crate::tui::theme::Theme;

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(data) = &state.data else {
        notice(f, area, " Examples ", "reading the data set…", state, theme);
        return;
    };
    let p = &state.picker;
    let examples = data.split(p.split);
    let wide = area.width >= 100;
    let [list_area, detail] = if wide {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    } else {
        [area, Rect::default()]
    };
    let search = if p.searching {
        format!(" search: {}▏", p.query)
    } else if !p.query.is_empty() {
        format!(" search: {}", p.query)
    } else {
        String::new()
    };
    let title = format!(
        " {} · {} of {} · {} · {}{search} ",
        p.split.name(),
        p.matches.len(),
        examples.len(),
        p.length.label(),
        p.cold.label()
    );
    let width = list_area.width.saturating_sub(30) as usize;
    // Only the visible window is built: splits hold tens of thousands of examples.
    let height = list_area.height.saturating_sub(2) as usize;
    let start = p.selected.saturating_sub(height.saturating_sub(1));
    let items: Vec<ListItem> = p
        .matches
        .iter()
        .enumerate()
        .skip(start)
        .take(height.max(1))
        .map(|(_, &i)| {
            let e = &examples[i];
            let title = data
                .catalog
                .get(&e.target.item_id)
                .map_or("?".to_string(), |it| shown_title(&it.title));
            let cold = if p.is_cold(&e.target.item_id) {
                "cold"
            } else {
                "warm"
            };
            ListItem::new(Line::from(vec![
                Span::styled(format!("#{i:<6}"), theme.dim),
                Span::raw(format!("user {:<5} ", e.user_id)),
                Span::styled(format!("h{:<3}", e.history.len()), theme.dim),
                Span::styled(format!("{cold} "), theme.dim),
                Span::raw(format!("→ {}", cut(&title, width))),
            ]))
        })
        .collect();
    let mut ls = ListState::default().with_selected(Some(p.selected - start.min(p.selected)));
    if p.matches.is_empty() {
        let msg = "no example passes the filters (x clears them)";
        f.render_widget(Paragraph::new(msg).block(block(title, theme)), list_area);
    } else {
        let list = List::new(items)
            .block(block(title, theme))
            .highlight_style(theme.selected);
        f.render_stateful_widget(list, list_area, &mut ls);
    }
    if wide {
        render_detail(f, detail, state, theme);
    }
}

fn render_detail(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let (Some(data), p) = (&state.data, &state.picker) else {
        return;
    };
    let Some(&i) = p.matches.get(p.selected) else {
        f.render_widget(block(" Example ", theme), area);
        return;
    };
    let e = &data.split(p.split)[i];
    let title = |id: &str| {
        data.catalog
            .get(id)
            .map_or(id.to_string(), |it| shown_title(&it.title))
    };
    let w = area.width.saturating_sub(10) as usize;
    let mut lines: Vec<Line> = e
        .history
        .iter()
        .rev()
        .map(|h| Line::from(format!("{:>3.0}★ {}", h.rating, cut(&title(&h.item_id), w))))
        .collect();
    lines.insert(
        0,
        Line::styled(
            format!("→ {}", cut(&title(&e.target.item_id), w)),
            theme.target,
        ),
    );
    let head = format!(
        " user {} · {} items, newest first ",
        e.user_id,
        e.history.len()
    );
    f.render_widget(Paragraph::new(lines).block(block(head, theme)), area);
}
