//! The history editor: the items a run will read (oldest first, as the prompt lists
//! them) with rating and date, the target, and the add / save / open popups. Items with
//! no real title in the data are marked (`text::shown_title`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use super::{block, cut, notice};
use crate::data::calendar::utc_date as date_of;
use crate::tui::app::editor::EditorMode;
use crate::tui::app::State;
use crate::tui::text::shown_title;
use crate::tui::theme::Theme;

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(data) = &state.data else {
        notice(f, area, " History ", "reading the data set…", state, theme);
        return;
    };
    let ed = &state.editor;
    let title_of = |id: &str| {
        data.catalog
            .get(id)
            .map_or(id.to_string(), |it| shown_title(&it.title))
    };
    let w = area.width.saturating_sub(26) as usize;
    let items: Vec<ListItem> = ed
        .history
        .iter()
        .enumerate()
        .map(|(i, h)| {
            ListItem::new(Line::from(vec![
                Span::styled(format!("{:>3}. ", i + 1), theme.dim),
                Span::styled(format!("{} ", date_of(h.timestamp)), theme.dim),
                Span::styled(format!("{:.0}★ ", h.rating), theme.warn),
                Span::raw(cut(&title_of(&h.item_id), w)),
            ]))
        })
        .collect();
    let edited = if ed.edited { " (edited)" } else { "" };
    let source = if ed.source.is_empty() {
        "empty: pick an example, or n / a"
    } else {
        &ed.source
    };
    let title = format!(" History · {source}{edited} · {} items ", ed.history.len());
    let [list_area, target_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(area);
    let mut ls =
        ListState::default().with_selected((!ed.history.is_empty()).then_some(ed.selected));
    f.render_stateful_widget(
        List::new(items)
            .block(block(title, theme))
            .highlight_style(theme.selected),
        list_area,
        &mut ls,
    );
    let target = match &ed.target {
        Some(t) => Line::from(vec![
            Span::styled("target → ", theme.dim),
            Span::styled(title_of(&t.item_id), theme.target),
            Span::styled(format!("  (recommended at {})", date_of(ed.now)), theme.dim),
        ]),
        None => Line::styled(
            format!("no target (recommended at {})", date_of(ed.now)),
            theme.dim,
        ),
    };
    f.render_widget(
        Paragraph::new(target).block(block(" Target ", theme)),
        target_area,
    );
    render_popup(f, area, state, theme);
}

fn render_popup(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(data) = &state.data else { return };
    let [_, mid, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Percentage(70),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, pop, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Max(16),
        Constraint::Fill(1),
    ])
    .areas(mid);
    let w = pop.width.saturating_sub(4) as usize;
    let (title, lines, selected): (String, Vec<Line>, Option<usize>) = match &state.editor.mode {
        EditorMode::Normal => return,
        EditorMode::Add {
            query,
            hits,
            selected,
        } => {
            let mut lines = vec![Line::styled(format!("title: {query}▏"), theme.key)];
            lines.extend(hits.iter().map(|&pos| {
                let it = &data.catalog.items()[pos];
                let year = it.year.map(|y| format!(" ({y})")).unwrap_or_default();
                Line::from(cut(&format!("{}{year}", shown_title(&it.title)), w))
            }));
            (
                " Add an item (enter adds, esc closes) ".into(),
                lines,
                Some(*selected + 1),
            )
        }
        EditorMode::Save { name } => (
            " Save to sessions/ (enter saves) ".into(),
            vec![
                Line::styled(format!("name: {name}▏"), theme.key),
                Line::styled("written as sessions/<name>.json", theme.dim),
            ],
            None,
        ),
        EditorMode::Open { files, selected } => {
            let lines = if files.is_empty() {
                vec![Line::from("listing sessions/…")]
            } else {
                files
                    .iter()
                    .map(|p| Line::from(cut(&p.display().to_string(), w)))
                    .collect()
            };
            (
                " Open from sessions/ (enter opens) ".into(),
                lines,
                (!files.is_empty()).then_some(*selected),
            )
        }
    };
    let lines: Vec<Line> = lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if Some(i) == selected {
                l.style(theme.selected)
            } else {
                l
            }
        })
        .collect();
    f.render_widget(Clear, pop);
    f.render_widget(Paragraph::new(lines).block(block(title, theme)), pop);
}
