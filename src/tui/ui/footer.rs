//! The status bar (last event, time to first token, tokens/s, sampling and reasoning
//! budget, key-to-frame latency) and the footer with the current screen's keys. Both
//! fit the width: the status bar drops its least useful figures first and cuts the
//! message between words, always leaving a gap between the two; the footer keeps its
//! first keys and always ends with help and quit.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{loading_line, Extras};
use crate::tui::app::run::sampling_label;
use crate::tui::app::{LoadPhase, Screen, State};
use crate::tui::keys::{Action, ACTIONS};
use crate::tui::text::{cut_words, width};
use crate::tui::theme::Theme;

/// Cells kept free between the message and the figures.
const GAP: usize = 3;

/// The figures on the right of the status bar in the order shown, each with how much
/// it matters (what the next run does matters most, then the tokens written).
fn figures(state: &State, extras: &Extras) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    if let Some(s) = &state.run.speed {
        out.push((3, format!("TTFT {:.2} s", s.first_token_secs)));
        out.push((2, format!("{:.1} tok/s", s.tokens_per_sec)));
        out.push((4, format!("{} tok", s.tokens)));
    }
    out.push((5, sampling_label(state)));
    if extras.latency.count > 0 {
        out.push((1, format!("key→frame p95 {:.1} ms", extras.latency.p95)));
    }
    out
}

fn joined(figs: &[(u8, String)]) -> String {
    figs.iter()
        .map(|(_, f)| f.as_str())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The status bar as (message, figures), fitted to `cells` so they never touch: the
/// message (what just happened) comes first, so the least important figures go until
/// it fits or only the sampling label is left; then the message is cut between words.
pub fn status_parts(state: &State, extras: &Extras, cells: usize) -> (String, String) {
    let left = match &state.load {
        LoadPhase::Loading { stage, done, total } => {
            loading_line(stage, *done, *total, state.spinner)
        }
        _ if state.run.live.is_some() => {
            format!("{} {}", super::spinner(state.spinner), state.status)
        }
        _ => state.status.clone(),
    };
    let mut figs = figures(state, extras);
    let wanted = width(&left) + GAP;
    while figs.len() > 1 && width(&joined(&figs)) + wanted > cells {
        let least = figs
            .iter()
            .enumerate()
            .min_by_key(|(_, (p, _))| *p)
            .map_or(0, |(i, _)| i);
        figs.remove(least);
    }
    let right = crate::tui::text::cut(&joined(&figs), cells);
    let room = cells.saturating_sub(width(&right) + GAP);
    (cut_words(&left, room), right)
}

pub fn render_status(f: &mut Frame, area: Rect, state: &State, theme: &Theme, extras: &Extras) {
    let (left, right) = status_parts(state, extras, area.width as usize);
    let pad = (area.width as usize).saturating_sub(width(&left) + width(&right));
    let line = Line::from(vec![
        Span::styled(left, theme.warn),
        Span::raw(" ".repeat(pad)),
        Span::styled(right, theme.dim),
    ]);
    f.render_widget(Paragraph::new(line), area);
}

fn help_text(a: Action) -> &'static str {
    ACTIONS.iter().find(|x| x.0 == a).map_or("", |x| x.3)
}

/// A footer entry's words: the first of the help text's words, kept short.
fn short_help(a: Action) -> &'static str {
    match a {
        Action::Pick => "pick/edit",
        Action::Collect => "to annotation",
        Action::BudgetUp => "budget+",
        Action::BudgetDown => "budget-",
        Action::TempUp => "temp+",
        Action::TempDown => "temp-",
        Action::CycleTopK => "top-k",
        Action::RunGroup => "group",
        Action::Cancel => "cancel",
        Action::CompareMode => "switch view",
        Action::TrainStart => "train",
        Action::TrainStop => "stop training",
        Action::Skip => "skip",
        Action::Accept => "accept",
        Action::MarkSpan => "span",
        Action::Note => "note",
        Action::Blind => "blind",
        Action::RatingUp => "rating +",
        _ => help_text(a),
    }
}

/// What a key does on one screen, where that differs from its general help text.
fn screen_words(screen: Screen, a: Action) -> Option<&'static str> {
    match (screen, a) {
        (Screen::Picker, Action::Run) => Some("run it"),
        (Screen::Annotate, Action::Pick) => Some("save"),
        (Screen::Annotate, Action::Cancel) => Some("sets"),
        (Screen::Annotate, Action::Up) => Some("previous"),
        (Screen::Annotate, Action::Down) => Some("next"),
        (Screen::Training, Action::RatingUp) => Some("more steps"),
        (Screen::Training, Action::Up) => Some("previous chart"),
        (Screen::Training, Action::Down) => Some("next chart"),
        (Screen::Training, Action::PageDown) => Some("older group"),
        (Screen::Training, Action::PageUp) => Some("newer group"),
        (Screen::Lengths, Action::Up) => Some("previous evaluation"),
        (Screen::Lengths, Action::Down) => Some("next evaluation"),
        (Screen::Prompt, Action::Up | Action::Down) => Some("scroll"),
        _ => None,
    }
}

/// The footer's (key, words) entries for the current screen, fitted to `cells`: the
/// screen's own hints, then its keys in order, and help and quit always at the end.
pub fn key_entries(state: &State, cells: usize) -> Vec<(String, String)> {
    let mut first: Vec<(String, String)> = Vec::new();
    if state.screen == Screen::Annotate {
        // Digits tag here, so the footer says how screens are switched instead.
        if state.annotate.set.is_some() {
            first.push(("1-7".into(), "tag".into()));
        }
        let jump = state.keys.screen_jump_label();
        if !jump.is_empty() {
            first.push((jump, "screens".into()));
        }
    }
    let entry = |a: &Action| {
        let key = state.keys.label(*a);
        let words = screen_words(state.screen, *a).unwrap_or(if cells < 120 {
            short_help(*a)
        } else {
            help_text(*a)
        });
        (!key.is_empty()).then(|| (key, words.to_string()))
    };
    // The Annotate chooser only moves and opens.
    let actions: &[Action] = if state.screen == Screen::Annotate && state.annotate.set.is_none() {
        &[Action::Pick, Action::Up, Action::Down]
    } else {
        state.screen.footer_actions()
    };
    let mut rest: Vec<(String, String)> = actions.iter().filter_map(entry).collect();
    if state.screen == Screen::Annotate && state.annotate.set.is_none() {
        if let Some(open) = rest.first_mut() {
            open.1 = "open".into();
        }
    }
    let tail: Vec<(String, String)> = [Action::Help, Action::Quit]
        .iter()
        .filter_map(entry)
        .collect();
    let cost =
        |v: &[(String, String)]| -> usize { v.iter().map(|(k, w)| width(k) + width(w) + 3).sum() };
    // The last entry needs no gap after it.
    while !rest.is_empty() && cost(&first) + cost(&rest) + cost(&tail) - 2 > cells {
        rest.pop();
    }
    first.extend(rest);
    first.extend(tail);
    first
}

pub fn render_keys(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut spans = Vec::new();
    for (key, words) in key_entries(state, area.width as usize) {
        spans.push(Span::styled(key, theme.key));
        spans.push(Span::raw(format!(" {words}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
