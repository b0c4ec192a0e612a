//! Messages into the state machine: keys, mouse scrolls, resizes, ticks, and what the
//! model worker and session files report back. Everything the app reacts to is one.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyModifiers};

use super::session::SessionFile;
use super::worker::WorkerEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInput {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeyInput {
    pub fn plain(code: KeyCode) -> Self {
        Self {
            code,
            mods: KeyModifiers::NONE,
        }
    }

    pub fn char(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }
}

#[derive(Debug)]
pub enum Msg {
    Key(KeyInput),
    /// Mouse wheel over the screen cell (column, row).
    Scroll {
        up: bool,
        column: u16,
        row: u16,
    },
    Resize,
    /// Animation clock (spinners); changes nothing when nothing animates.
    Tick,
    Worker(WorkerEvent),
    /// A quit signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) arrived.
    Signal(i32),
    /// The files of `sessions/`, newest first.
    SessionList(Vec<PathBuf>),
    SessionOpened(Result<(PathBuf, SessionFile), String>),
    SessionSaved(Result<PathBuf, String>),
    /// The run folders and evaluation reports, as just read.
    RunsLoaded(crate::tui::app::training::RunsSnapshot),
    TrainingStarted(PathBuf),
    AnnotationSets(crate::tui::app::annotate::SetChoices),
    AnnotationSetOpened(Result<crate::tui::app::annotate::OpenedSet, String>),
    /// (set name, chains added) or why not.
    ChainsCollected(Result<(String, usize), String>),
    TagSaved(Result<crate::annotate::Record, String>),
}
