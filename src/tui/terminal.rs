//! Terminal setup and restore: raw mode, alternate screen, mouse capture. The restore
//! runs on normal exit, on error (a guard's `Drop`), on a panic of the UI thread (a
//! hook installed before the screen changes) and on SIGINT, SIGTERM, SIGHUP and SIGQUIT
//! (a signal thread that asks the app to quit), so the user's shell is never left
//! broken. A panic of any other thread leaves the screen alone: its message is kept
//! for the UI to show (`take_thread_panic`) instead of being printed over the frame.

use std::io::{self, Stdout};
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;

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

/// The thread that owns the screen; only its panics restore the terminal.
static UI_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// The last panic of another thread: (thread name, message with location).
static THREAD_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

/// The message of the last panic in a thread other than the UI's, once.
pub fn take_thread_panic() -> Option<(String, String)> {
    THREAD_PANIC.lock().ok().and_then(|mut p| p.take())
}

fn panic_message(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    match info.location() {
        Some(l) => format!("{text} at {}:{}", l.file(), l.line()),
        None => text,
    }
}

pub fn setup() -> io::Result<TerminalGuard> {
    let _ = UI_THREAD.set(std::thread::current().id());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let here = std::thread::current();
        if UI_THREAD.get() == Some(&here.id()) {
            restore();
            previous(info);
        } else if let Ok(mut slot) = THREAD_PANIC.lock() {
            let name = here.name().unwrap_or("unnamed").to_string();
            *slot = Some((name, panic_message(info)));
        }
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

/// Signals that end the TUI; the terminal is restored before the process exits.
pub const QUIT_SIGNALS: [i32; 4] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGQUIT,
];

/// Watch the quit signals on a thread of their own: the first one calls `on_signal`
/// (the app quits through its own loop and drops the guard); a second one, should the
/// loop not get there, restores the terminal and exits at once with 128 + the signal.
pub fn watch_signals(on_signal: impl Fn(i32) + Send + 'static) -> io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new(QUIT_SIGNALS)?;
    std::thread::Builder::new()
        .name("r2ec-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                if seen > 1 {
                    restore();
                    std::process::exit(128 + sig);
                }
                on_signal(sig);
            }
        })?;
    Ok(())
}
