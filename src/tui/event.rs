//! The one event channel of the TUI (ratatui templates, `event-driven-async`): terminal
//! input, ticks and worker reports all arrive as `Event`s stamped with the moment they
//! happened, so key-to-frame latency can be measured from the key's own timestamp.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use crossterm::event::{self as ct, Event as CtEvent, KeyEventKind, MouseEventKind};

use super::msg::{KeyInput, Msg};

/// Ticks per second; only spinners use them (the template's tick bug: a rate of R per
/// second is a period of `1.0 / R` seconds).
pub const TICK_RATE: f64 = 8.0;

#[derive(Debug)]
pub struct Event {
    pub msg: Msg,
    pub at: Instant,
}

/// Cloneable sending end, handed to every producer.
#[derive(Debug, Clone)]
pub struct EventSender(Sender<Event>);

impl EventSender {
    /// False once the receiving side is gone (the app is quitting).
    pub fn send(&self, msg: Msg) -> bool {
        self.0
            .send(Event {
                msg,
                at: Instant::now(),
            })
            .is_ok()
    }
}

pub fn channel() -> (EventSender, Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    (EventSender(tx), rx)
}

/// Translate a terminal event; `None` for those the app ignores (key releases, moves).
pub fn from_terminal(ev: CtEvent) -> Option<Msg> {
    match ev {
        CtEvent::Key(k) if k.kind != KeyEventKind::Release => Some(Msg::Key(KeyInput {
            code: k.code,
            mods: k.modifiers,
        })),
        CtEvent::Mouse(m) => match m.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => Some(Msg::Scroll {
                up: m.kind == MouseEventKind::ScrollUp,
                column: m.column,
                row: m.row,
            }),
            _ => None,
        },
        CtEvent::Resize(width, height) => Some(Msg::Resize { width, height }),
        _ => None,
    }
}

/// Threads reading the terminal and ticking; they end when the channel closes.
pub fn spawn_input_and_ticks(tx: EventSender) {
    let input = tx.clone();
    thread::spawn(move || loop {
        // Polling with a timeout lets the thread notice a closed channel and exit.
        match ct::poll(Duration::from_millis(250)) {
            Ok(true) => match ct::read() {
                Ok(ev) => {
                    if let Some(msg) = from_terminal(ev) {
                        if !input.send(msg) {
                            return;
                        }
                    }
                }
                Err(_) => return,
            },
            Ok(false) => {}
            Err(_) => return,
        }
    });
    thread::spawn(move || {
        let period = Duration::from_secs_f64(1.0 / TICK_RATE);
        loop {
            thread::sleep(period);
            if !tx.send(Msg::Tick) {
                return;
            }
        }
    });
}
