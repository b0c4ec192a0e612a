//! Colours and text styles of the TUI in one place, so panels never pick colours
//! themselves and a monochrome terminal still reads (emphasis also uses modifiers).

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone)]
pub struct Theme {
    pub text: Style,
    pub dim: Style,
    pub title: Style,
    pub border: Style,
    pub border_focus: Style,
    pub selected: Style,
    pub key: Style,
    pub header: Style,
    pub target: Style,
    pub masked: Style,
    pub good: Style,
    pub bad: Style,
    pub warn: Style,
    /// Series colours of charts (target first).
    pub series: [Color; 5],
}

impl Default for Theme {
    fn default() -> Self {
        Self {
            text: Style::default(),
            dim: Style::default().fg(Color::DarkGray),
            title: Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            border: Style::default().fg(Color::DarkGray),
            border_focus: Style::default().fg(Color::Cyan),
            selected: Style::default()
                .bg(Color::Blue)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            key: Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            header: Style::default().bg(Color::Indexed(236)).fg(Color::White),
            target: Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD),
            masked: Style::default()
                .fg(Color::DarkGray)
                .add_modifier(Modifier::CROSSED_OUT),
            good: Style::default().fg(Color::Green),
            bad: Style::default().fg(Color::Red),
            warn: Style::default().fg(Color::Yellow),
            series: [
                Color::Green,
                Color::Cyan,
                Color::Magenta,
                Color::Yellow,
                Color::Blue,
            ],
        }
    }
}
