//! The TUI as a pure state machine (atuin's `fsm`, STYLE.md §7): `update(&mut State,
//! Msg) -> Vec<Effect>` does no I/O; the runtime carries out the effects and answers
//! with more messages. Every transition is testable without a terminal. The state also
//! keeps the terminal's size (for the help overlay's scroll limit) and a tick clock
//! that clears a status message once it is stale.

pub mod annotate;
pub mod editor;
pub mod picker;
pub mod run;
pub mod training;

use std::sync::Arc;

use crate::data::prepared::PreparedDataset;

use super::effect::{Effect, SamplingSettings};
use super::keys::{Action, KeyBinding, KeyMap};
use super::msg::{KeyInput, Msg, WorkerEvent};
pub use annotate::AnnotateState;
pub use editor::EditorState;
pub use picker::PickerState;
pub use run::RunState;
pub use training::TrainingState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Picker,
    Editor,
    Run,
    Trace,
    Compare,
    Group,
    Prompt,
    Training,
    Lengths,
    Annotate,
}

pub const SCREENS: [Screen; 10] = [
    Screen::Picker,
    Screen::Editor,
    Screen::Run,
    Screen::Trace,
    Screen::Compare,
    Screen::Group,
    Screen::Prompt,
    Screen::Training,
    Screen::Lengths,
    Screen::Annotate,
];

impl Screen {
    /// The screen's number as its key gives it (1-9, then 0 for screen 10).
    pub fn key(self) -> char {
        let i = SCREENS.iter().position(|s| *s == self).unwrap_or(0);
        char::from_digit(((i + 1) % 10) as u32, 10).unwrap_or('?')
    }

    /// A title short enough for the tab bar of an 80-column terminal.
    pub fn short_title(self) -> &'static str {
        match self {
            Screen::Picker => "Examp",
            Screen::Editor => "Hist",
            Screen::Run => "Run",
            Screen::Trace => "Trace",
            Screen::Compare => "Comp",
            Screen::Group => "Group",
            Screen::Prompt => "Prmpt",
            Screen::Training => "Train",
            Screen::Lengths => "Len",
            Screen::Annotate => "Annot",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Screen::Picker => "Examples",
            Screen::Editor => "History",
            Screen::Run => "Run",
            Screen::Trace => "Rank trace",
            Screen::Compare => "Compare",
            Screen::Group => "Group",
            Screen::Prompt => "Prompt",
            Screen::Training => "Training",
            Screen::Lengths => "Lengths",
            Screen::Annotate => "Annotate",
        }
    }

    /// The keys shown in the footer on this screen, most useful first (a narrow
    /// footer drops them from the end).
    pub fn footer_actions(self) -> &'static [Action] {
        use Action::*;
        match self {
            Self::Picker => &[
                Run,
                Pick,
                Search,
                CycleSplit,
                CycleLength,
                CycleCold,
                ClearFilters,
            ],
            Self::Editor => &[
                Run, AddItem, RemoveItem, MoveUp, RatingUp, TimeLater, Save, Open, NewHistory,
            ],
            Self::Run => &[
                Run, Cancel, BudgetUp, BudgetDown, TempUp, TempDown, CycleTopK, RunGroup,
            ],
            Self::Trace => &[Run, Cancel, BudgetUp, BudgetDown],
            Self::Compare => &[CompareMode, Run],
            Self::Group => &[
                RunGroup, Cancel, Collect, TempUp, TempDown, BudgetUp, BudgetDown,
            ],
            Self::Prompt => &[Up, Down],
            Self::Training => &[
                Up, Down, PageDown, PageUp, Smooth, Zoom, TrainStart, TrainStop, RatingUp, Reload,
            ],
            Self::Lengths => &[Up, Down, Zoom, Reload],
            Self::Annotate => &[Pick, Skip, Accept, Note, MarkSpan, Blind, Up, Down, Cancel],
        }
    }
}

/// Where loading stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadPhase {
    Loading {
        stage: String,
        done: usize,
        total: usize,
    },
    Ready,
    Failed(String),
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    pub device: String,
    pub model: String,
    pub adapter: String,
    pub data: String,
}

#[derive(Debug)]
pub struct State {
    pub screen: Screen,
    pub help: bool,
    pub keys: KeyMap,
    pub header: Header,
    pub load: LoadPhase,
    pub data: Option<Arc<PreparedDataset>>,
    pub picker: PickerState,
    pub editor: EditorState,
    pub run: RunState,
    pub training: TrainingState,
    pub annotate: AnnotateState,
    pub sampling: SamplingSettings,
    pub top_k: usize,
    /// One line for the status bar: the last thing that happened (cleared
    /// `STATUS_TICKS` after it was last changed, unless something is under way).
    pub status: String,
    /// The status as last seen by the clock, and the tick it was first seen at.
    status_seen: (String, u64),
    /// Ticks since the start (8 a second).
    pub clock: u64,
    pub spinner: usize,
    /// Columns and rows of the terminal (for scroll limits).
    pub viewport: (u16, u16),
    /// Help overlay scroll from the top, in rows.
    pub help_scroll: u16,
    pub quit: bool,
}

/// A status message is cleared 10 s after it last changed (ticks come 8 a second).
pub const STATUS_TICKS: u64 = 80;

impl State {
    pub fn new(header: Header, keys: KeyMap) -> Self {
        Self {
            screen: Screen::Picker,
            help: false,
            keys,
            header,
            load: LoadPhase::Loading {
                stage: "starting".into(),
                done: 0,
                total: 1,
            },
            data: None,
            picker: PickerState::default(),
            editor: EditorState::default(),
            run: RunState::default(),
            training: TrainingState::default(),
            annotate: AnnotateState::default(),
            sampling: SamplingSettings::default(),
            top_k: 20,
            status: String::new(),
            status_seen: (String::new(), 0),
            clock: 0,
            spinner: 0,
            viewport: (80, 24),
            help_scroll: 0,
            quit: false,
        }
    }

    pub fn model_ready(&self) -> bool {
        self.load == LoadPhase::Ready
    }

    /// Something moves on screen, so ticks redraw.
    fn animating(&self) -> bool {
        matches!(self.load, LoadPhase::Loading { .. }) || self.run.live.is_some()
    }

    /// Whether something is under way whose status line must stay (a run, a training
    /// run, a failed load).
    fn busy(&self) -> bool {
        self.run.live.is_some()
            || self.training.job.is_some()
            || self.training.starting
            || matches!(self.load, LoadPhase::Loading { .. } | LoadPhase::Failed(_))
    }

    /// Count a tick; a status line unchanged for `STATUS_TICKS` is stale and cleared.
    /// True when the status changed.
    fn age_status(&mut self) -> bool {
        self.clock += 1;
        if self.status != self.status_seen.0 {
            self.status_seen = (self.status.clone(), self.clock);
            return false;
        }
        let stale = self.clock.saturating_sub(self.status_seen.1) >= STATUS_TICKS;
        if stale && !self.status.is_empty() && !self.busy() {
            self.status.clear();
            return true;
        }
        false
    }

    fn go(&mut self, screen: Screen) {
        self.screen = screen;
    }
}

/// The single transition function.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Tick => {
            let mut out = training::on_tick(state);
            let cleared = state.age_status();
            if state.animating() {
                state.spinner = state.spinner.wrapping_add(1);
            }
            if state.animating() || cleared {
                out.push(Effect::Render);
            }
            out
        }
        Msg::RunsLoaded(snap) => {
            training::on_loaded(state, snap);
            vec![Effect::Render]
        }
        Msg::TrainingStarted(dir) => {
            training::on_started(state, dir);
            let mut out = training::on_enter(state);
            out.push(Effect::Render);
            out
        }
        Msg::AnnotationSets(c) => {
            annotate::on_choices(state, c);
            vec![Effect::Render]
        }
        Msg::AnnotationSetOpened(r) => {
            annotate::on_opened(state, r);
            vec![Effect::Render]
        }
        Msg::ChainsCollected(r) => {
            state.status = match r {
                Ok((set, n)) => {
                    format!("{n} chains added to the annotation set `{set}` (screen 10)")
                }
                Err(e) => format!("chains not added: {e}"),
            };
            // The chooser lists the set next time; an open copy of it is stale.
            if state
                .annotate
                .set
                .as_ref()
                .is_some_and(|s| s.name == annotate::LIVE_SET)
            {
                state.annotate.set = None;
            }
            vec![Effect::Render]
        }
        Msg::TagSaved(r) => {
            annotate::on_saved(state, r);
            vec![Effect::Render]
        }
        Msg::Resize { width, height } => {
            state.viewport = (width, height);
            state.help_scroll = state.help_scroll.min(super::ui::help::max_scroll(state));
            vec![Effect::Render]
        }
        Msg::Signal(sig) => {
            // Like `q`: a run under way is cancelled, the loop ends and the guard
            // restores the terminal.
            state.quit = true;
            state.status = format!("signal {sig}: quitting");
            let mut out = vec![Effect::Quit];
            if state.run.live.is_some() {
                out.insert(0, Effect::Cancel);
            }
            out
        }
        Msg::Scroll { up, .. } => {
            let action = if up { Action::Up } else { Action::Down };
            if state.help {
                scroll_help(state, action);
                return vec![Effect::Render];
            }
            let mut out = screen_action(state, action);
            out.push(Effect::Render);
            out
        }
        Msg::Key(k) => {
            let mut out = on_key(state, k);
            out.push(Effect::Render);
            out
        }
        Msg::Worker(e) => {
            let mut out = on_worker(state, e);
            out.push(Effect::Render);
            out
        }
        Msg::SessionList(files) => {
            editor::on_session_list(state, files);
            vec![Effect::Render]
        }
        Msg::SessionOpened(r) => {
            editor::on_session_opened(state, r);
            vec![Effect::Render]
        }
        Msg::SessionSaved(r) => {
            state.status = match r {
                Ok(p) => format!("saved {}", p.display()),
                Err(e) => format!("not saved: {e}"),
            };
            vec![Effect::Render]
        }
    }
}

fn on_worker(state: &mut State, e: WorkerEvent) -> Vec<Effect> {
    match e {
        WorkerEvent::Progress { stage, done, total } => {
            state.load = LoadPhase::Loading { stage, done, total };
        }
        WorkerEvent::DataReady(data) => {
            state.picker.set_data(&data);
            state.data = Some(data);
        }
        WorkerEvent::ModelReady {
            model,
            device,
            table,
        } => {
            state.header.model = model;
            state.header.device = device;
            state.load = LoadPhase::Ready;
            state.status = table;
        }
        WorkerEvent::TrainProgress(line) => training::on_progress(state, line),
        WorkerEvent::TrainEnded(r) => training::on_ended(state, r),
        WorkerEvent::LoadFailed(e) => {
            state.status = format!("loading failed: {e}");
            state.load = LoadPhase::Failed(e);
        }
        WorkerEvent::Crashed(e) => {
            // Nothing more will come from the model thread: whatever waits on it stops.
            let line = format!("the model thread stopped: {e}");
            if state.run.live.take().is_some() {
                state.run.error = Some(line.clone());
            }
            if state.training.job.is_some() || state.training.starting {
                training::on_ended(state, Err(line.clone()));
            }
            state.status = line.clone();
            state.load = LoadPhase::Failed(line);
        }
        other => run::on_worker(state, other),
    }
    Vec::new()
}

fn on_key(state: &mut State, k: KeyInput) -> Vec<Effect> {
    // Text inputs take the keys first.
    if let Some(out) = picker::text_input(state, k)
        .or_else(|| editor::text_input(state, k))
        .or_else(|| annotate::key_input(state, k))
    {
        return out;
    }
    let Some(action) = KeyBinding::from_event(k.code, k.mods).and_then(|b| state.keys.action(&b))
    else {
        return Vec::new();
    };
    if state.help {
        // The overlay closes on these and scrolls on the moving keys; other keys act
        // below it.
        if matches!(action, Action::Help | Action::Cancel) {
            state.help = false;
            return Vec::new();
        }
        if scroll_help(state, action) {
            return Vec::new();
        }
    }
    match action {
        Action::Quit => {
            state.quit = true;
            let mut out = Vec::new();
            if state.run.live.is_some() {
                out.push(Effect::Cancel);
            }
            out.push(Effect::Quit);
            out
        }
        Action::Help => {
            state.help = true;
            state.help_scroll = 0;
            Vec::new()
        }
        Action::Screen(i) => {
            state.help = false;
            state.go(SCREENS[usize::from(i).min(SCREENS.len() - 1)]);
            entered(state)
        }
        Action::NextScreen | Action::PrevScreen => {
            let i = SCREENS.iter().position(|s| *s == state.screen).unwrap_or(0);
            let n = SCREENS.len();
            let j = if action == Action::NextScreen {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            state.go(SCREENS[j]);
            entered(state)
        }
        Action::Run | Action::RunGroup => run::start(state, action == Action::RunGroup),
        Action::TempUp
        | Action::TempDown
        | Action::CycleTopK
        | Action::BudgetUp
        | Action::BudgetDown => {
            run::adjust_sampling(state, action);
            Vec::new()
        }
        Action::Cancel if state.run.live.is_some() => {
            state.status = "cancelling…".into();
            vec![Effect::Cancel]
        }
        other => screen_action(state, other),
    }
}

/// Moving keys scroll the help overlay; false for other actions.
fn scroll_help(state: &mut State, action: Action) -> bool {
    let max = super::ui::help::max_scroll(state);
    let s = &mut state.help_scroll;
    *s = match action {
        Action::Up => s.saturating_sub(1),
        Action::Down => s.saturating_add(1),
        Action::PageUp => s.saturating_sub(10),
        Action::PageDown => s.saturating_add(10),
        Action::Top => 0,
        Action::Bottom => max,
        _ => return false,
    }
    .min(max);
    true
}

/// What a screen asks for when it is entered (reading runs, listing annotation sets).
fn entered(state: &mut State) -> Vec<Effect> {
    let mut out = training::on_enter(state);
    out.extend(annotate::on_enter(state));
    out
}

/// Actions whose meaning depends on the screen (moving, picking, editing).
fn screen_action(state: &mut State, action: Action) -> Vec<Effect> {
    match state.screen {
        Screen::Picker => picker::on_action(state, action),
        Screen::Editor => editor::on_action(state, action),
        Screen::Training | Screen::Lengths => training::on_action(state, action),
        Screen::Annotate => annotate::on_action(state, action),
        _ => run::on_action(state, action),
    }
}

#[cfg(test)]
mod tests;
