//! Drawing: one function per screen and panel, each reading `&State` and never changing
//! it. The frame is header, screen tabs, body, status bar and footer; terminals smaller
//! than `MIN_WIDTH` x `MIN_HEIGHT` get a one-line notice instead of a broken layout.
//! Every screen is laid out for 80x24 as well as for large terminals: tabs abbreviate,
//! panels stack, long lists scroll, and text is measured in cells (`text::width`).

pub mod annotate;
pub mod compare;
pub mod editor;
pub mod footer;
pub mod group;
pub mod header;
pub mod help;
pub mod picker;
pub mod prompt;
pub mod ranking;
pub mod reasoning;
pub mod trace;
pub mod training;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{LoadPhase, Screen, State};
use super::latency::Summary;
use super::theme::Theme;

pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

/// What the runtime knows that the state does not (measured, not modelled).
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    pub latency: Summary,
}

pub fn draw(f: &mut Frame, state: &State, theme: &Theme, extras: &Extras) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small ({}x{}); r2ec needs {MIN_WIDTH}x{MIN_HEIGHT} (q quits)",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [head, tabs, body, status, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(f, head, state, theme);
    header::render_tabs(f, tabs, state, theme);
    match state.screen {
        Screen::Picker => picker::render(f, body, state, theme),
        Screen::Editor => editor::render(f, body, state, theme),
        Screen::Run => reasoning::render_run(f, body, state, theme),
        Screen::Trace => trace::render(f, body, state, theme),
        Screen::Compare => compare::render(f, body, state, theme),
        Screen::Group => group::render(f, body, state, theme),
        Screen::Prompt => prompt::render(f, body, state, theme),
        Screen::Training => training::render(f, body, state, theme),
        Screen::Lengths => training::render_lengths(f, body, state, theme),
        Screen::Annotate => annotate::render(f, body, state, theme),
    }
    footer::render_status(f, status, state, theme, extras);
    footer::render_keys(f, foot, state, theme);
    if state.help {
        help::render(f, body, state, theme);
    }
}

/// A bordered block with a title.
pub fn block<'a>(title: impl Into<Line<'a>>, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(title.into().style(theme.title))
}

/// A body placeholder saying what to do (or what is loading).
pub fn notice(f: &mut Frame, area: Rect, title: &str, text: &str, state: &State, theme: &Theme) {
    let mut lines = vec![Line::from(text.to_string())];
    if let LoadPhase::Loading { stage, done, total } = &state.load {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            loading_line(stage, *done, *total, state.spinner),
            theme.warn,
        ));
    }
    if let LoadPhase::Failed(e) = &state.load {
        lines.push(Line::from(""));
        lines.push(Line::styled(format!("loading failed: {e}"), theme.bad));
    }
    f.render_widget(
        Paragraph::new(lines)
            .block(block(title.to_string(), theme))
            .wrap(Wrap { trim: false }),
        area,
    );
}

const SPINNER: [char; 8] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧'];

pub fn spinner(tick: usize) -> char {
    SPINNER[tick % SPINNER.len()]
}

pub fn loading_line(stage: &str, done: usize, total: usize, tick: usize) -> String {
    if total > 1 {
        let pct = 100.0 * done as f64 / total as f64;
        format!("{} {stage}: {done}/{total} ({pct:.0}%)", spinner(tick))
    } else {
        format!("{} {stage}…", spinner(tick))
    }
}

/// A title cut to `width` cells (display width, so wide characters count twice).
pub use super::text::cut;

/// A block title (` text `) fitted to a block `cells` wide: cut between words.
pub fn fit_title(text: &str, cells: usize) -> String {
    format!(
        " {} ",
        super::text::cut_words(text.trim(), cells.saturating_sub(4))
    )
}

#[cfg(test)]
mod tests;
