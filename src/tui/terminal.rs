//! Terminal setup and restore: raw mode, alternate screen, mouse capture. The restore
//! runs on normal exit, on error (a guard's `Drop`) and on panic (a hook installed
//! before the screen changes), so the user's shell is never left broken.

use std::io::{self, Stdout};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Puts the terminal back when dropped.
pub struct TerminalGuard {
    pub terminal: Term,
}

/// Undo everything `setup` did; safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

pub fn setup() -> io::Result<TerminalGuard> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    let mut out = io::stdout();
    if let Err(e) = execute!(out, EnterAlternateScreen, EnableMouseCapture) {
        restore();
        return Err(e);
    }
    let mut terminal = Terminal::new(CrosstermBackend::new(out))?;
    terminal.clear()?;
    Ok(TerminalGuard { terminal })
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
