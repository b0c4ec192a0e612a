//! Runs: starting one (or a group of G chains) for the editor's history (on the
//! Examples screen, for the highlighted example), the live stream of the reasoning with
//! the ranking so far, results coming back, a cancelled run kept under its own title,
//! sampling settings and the reasoning budget, and scrolling of the result screens.
//! The previous result is kept for the counterfactual diff.

use ratatui::text::Text;

use super::{Screen, State};
use crate::rec::ranking::Ranking;
use crate::train::config::RecPoConfig;
use crate::tui::effect::{Effect, RunRequest, SamplingSettings};
use crate::tui::highlight;
use crate::tui::keys::Action;
use crate::tui::msg::{GroupResult, RunResult, WorkerEvent};
use crate::tui::text::plural;

const TEMPERATURES: [f64; 7] = [0.0, 0.3, 0.7, 1.0, 1.5, 2.0, 3.0];
const TOP_KS: [Option<usize>; 4] = [None, Some(10), Some(50), Some(200)];
/// Reasoning budgets `>` and `<` step through (a budget set elsewhere steps to the
/// nearest one).
pub const BUDGETS: [usize; 13] = [8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 640, 1024];

/// The run being generated.
#[derive(Debug, Clone, Default)]
pub struct LiveRun {
    pub id: u64,
    pub group: Option<usize>,
    /// Where the history came from (the request's `source`).
    pub source: String,
    /// Text so far, one per sample.
    pub texts: Vec<String>,
    /// Streamed pieces (about one per token).
    pub pieces: usize,
    pub prefill: Option<(f64, usize)>,
    pub elapsed: f64,
    /// The ranking from the latest hidden state, and after how many tokens.
    pub ranking: Option<(usize, Box<Ranking>)>,
}

/// A run cancelled before it finished: what it had written, shown under its own title
/// so it is never taken for the last finished run.
#[derive(Debug, Clone)]
pub struct CancelledRun {
    pub source: String,
    pub group: Option<usize>,
    pub texts: Vec<String>,
    pub pieces: usize,
    pub ranking: Option<(usize, Box<Ranking>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompareMode {
    /// The ranking straight after the prompt against the one after the chain.
    #[default]
    NoReasoning,
    /// The previous run (before an edit) against this one.
    Previous,
}

/// Time to first token and decode speed for the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Speed {
    pub first_token_secs: f64,
    pub tokens_per_sec: f64,
    pub tokens: usize,
    pub live: bool,
}

#[derive(Debug, Default)]
pub struct RunState {
    pub next_id: u64,
    pub live: Option<LiveRun>,
    /// The run cancelled since the last finished one, if any.
    pub cancelled: Option<CancelledRun>,
    pub last: Option<Box<RunResult>>,
    pub previous: Option<Box<RunResult>>,
    pub group: Option<Box<GroupResult>>,
    pub prompt: String,
    /// Highlighted once when they arrive, not at every frame.
    pub prompt_view: Option<Text<'static>>,
    pub record_view: Option<Text<'static>>,
    /// Reasoning scroll, in lines up from the bottom (0 follows the stream).
    pub scroll_back: u16,
    /// Prompt screen scroll from the top.
    pub prompt_scroll: u16,
    pub compare: CompareMode,
    pub speed: Option<Speed>,
    pub error: Option<String>,
    /// How the history was cut for the prompt of the current run, if it was.
    pub notice: Option<String>,
}

pub fn start(state: &mut State, group: bool) -> Vec<Effect> {
    if !state.model_ready() {
        state.status = "the model is still loading".into();
        return Vec::new();
    }
    if state.run.live.is_some() {
        state.status = "a run is in progress (esc cancels it)".into();
        return Vec::new();
    }
    // On Examples the highlighted example is what the user sees, so it is what runs.
    if state.screen == Screen::Picker && !super::picker::load_selected(state) {
        state.status = "no example passes the filters (x clears them)".into();
        return Vec::new();
    }
    if state.editor.history.is_empty() {
        state.status = "the history is empty: pick an example or add items first".into();
        return Vec::new();
    }
    let source = source_label(state);
    let r = &mut state.run;
    r.next_id += 1;
    let g = group.then_some(state.sampling.group_size);
    let req = RunRequest {
        id: r.next_id,
        history: state.editor.history.clone(),
        now: state.editor.now,
        target: state.editor.target.clone(),
        sampling: if group {
            group_settings(&state.sampling)
        } else {
            state.sampling
        },
        group: g,
        top_k: state.top_k,
        source: source.clone(),
    };
    r.live = Some(LiveRun {
        id: req.id,
        group: g,
        source: source.clone(),
        texts: vec![String::new(); g.unwrap_or(1)],
        ..Default::default()
    });
    r.cancelled = None;
    r.scroll_back = 0;
    r.error = None;
    r.speed = None;
    state.status = match g {
        Some(g) => format!("sampling a group of {g} chains… ({source})"),
        None => format!("reasoning… ({source})"),
    };
    state.help = false;
    state.screen = if group { Screen::Group } else { Screen::Run };
    vec![Effect::Run(Box::new(req))]
}

/// Where the editor's history came from, as runs are titled ("test #0, user 7").
fn source_label(state: &State) -> String {
    let ed = &state.editor;
    let base = if ed.source.is_empty() {
        "hand-written history"
    } else {
        ed.source.as_str()
    };
    if ed.edited && ed.source != "new history" {
        format!("{base}, edited")
    } else {
        base.to_string()
    }
}

/// The budget after `budget` in `BUDGETS` (up) or before it (down); the ends stay.
pub fn step_budget(budget: usize, up: bool) -> usize {
    if up {
        BUDGETS
            .iter()
            .copied()
            .find(|&b| b > budget)
            .unwrap_or(budget.max(BUDGETS[BUDGETS.len() - 1]))
    } else {
        BUDGETS
            .iter()
            .rev()
            .copied()
            .find(|&b| b < budget)
            .unwrap_or(budget.min(BUDGETS[0]))
    }
}

pub fn adjust_sampling(state: &mut State, action: Action) {
    let s = &mut state.sampling;
    let i = TEMPERATURES
        .iter()
        .position(|t| (*t - s.temperature).abs() < 1e-9)
        .unwrap_or(0);
    match action {
        Action::TempUp => s.temperature = TEMPERATURES[(i + 1).min(TEMPERATURES.len() - 1)],
        Action::TempDown => s.temperature = TEMPERATURES[i.saturating_sub(1)],
        Action::BudgetUp | Action::BudgetDown => {
            s.max_new_tokens = step_budget(s.max_new_tokens, action == Action::BudgetUp);
            state.status = format!(
                "reasoning budget: {} (from the next run)",
                plural(s.max_new_tokens, "token", "tokens")
            );
            return;
        }
        _ => {
            let j = TOP_KS.iter().position(|k| *k == s.top_k).unwrap_or(0);
            s.top_k = TOP_KS[(j + 1) % TOP_KS.len()];
        }
    }
    state.status = format!("sampling: {}", describe(&state.sampling));
}

/// The settings a group is sampled with: greedy chains would all be equal, so a
/// greedy setting samples as RecPO's rollouts do (temperature and top-k of its config).
pub fn group_settings(s: &SamplingSettings) -> SamplingSettings {
    if s.temperature > 0.0 {
        return *s;
    }
    let rollout = RecPoConfig::default();
    SamplingSettings {
        temperature: rollout.temperature,
        top_k: (rollout.top_k > 0).then_some(rollout.top_k),
        ..*s
    }
}

/// Sampling in words: "greedy", "T=2 top-k 50 seed 0".
pub fn describe(s: &SamplingSettings) -> String {
    if s.temperature <= 0.0 {
        return "greedy".into();
    }
    match s.top_k {
        Some(k) => format!("T={} top-k {k} seed {}", s.temperature, s.seed),
        None => format!("T={} seed {}", s.temperature, s.seed),
    }
}

/// What the status bar says about sampling: the settings the next run (or, on the
/// Group screen, the next group) uses, and the reasoning budget.
pub fn sampling_label(state: &State) -> String {
    let group =
        state.screen == Screen::Group || state.run.live.as_ref().is_some_and(|l| l.group.is_some());
    let s = &state.sampling;
    if group {
        format!(
            "group {} · budget {}",
            describe(&group_settings(s)),
            s.max_new_tokens
        )
    } else {
        format!("{} · budget {}", describe(s), s.max_new_tokens)
    }
}

fn is_live(state: &State, id: u64) -> bool {
    state.run.live.as_ref().is_some_and(|l| l.id == id)
}

pub fn on_worker(state: &mut State, e: WorkerEvent) {
    match e {
        WorkerEvent::RunStarted { id, prompt, notice } if is_live(state, id) => {
            state.run.prompt_view = Some(highlight::chat_prompt(&prompt));
            state.run.prompt = prompt;
            if let Some(n) = &notice {
                state.status = format!("{}: {n}", state.status);
            }
            state.run.notice = notice;
        }
        WorkerEvent::Prefill {
            id,
            secs,
            prompt_tokens,
        } if is_live(state, id) => {
            if let Some(l) = &mut state.run.live {
                l.prefill = Some((secs, prompt_tokens));
            }
        }
        WorkerEvent::Text {
            id,
            sample,
            piece,
            elapsed,
        } if is_live(state, id) => {
            let Some(l) = &mut state.run.live else { return };
            if let Some(t) = l.texts.get_mut(sample) {
                t.push_str(&piece);
            }
            l.pieces += 1;
            l.elapsed = elapsed;
            let (ttft, _) = l.prefill.unwrap_or((elapsed, 0));
            let decode = (elapsed - ttft).max(1e-6);
            let rows = l.texts.len().max(1);
            state.run.speed = Some(Speed {
                first_token_secs: ttft,
                tokens_per_sec: if l.pieces > rows {
                    (l.pieces - rows) as f64 / decode
                } else {
                    0.0
                },
                tokens: l.pieces,
                live: true,
            });
        }
        WorkerEvent::LiveRanking { id, steps, ranking } if is_live(state, id) => {
            if let Some(l) = &mut state.run.live {
                l.ranking = Some((steps, ranking));
            }
        }
        WorkerEvent::RunDone { id, result } if is_live(state, id) => {
            state.run.live = None;
            state.run.cancelled = None;
            let t = &result.timings;
            state.run.speed = Some(Speed {
                first_token_secs: t.first_token_secs,
                tokens_per_sec: t.decode_tokens_per_sec(),
                tokens: result.tokens,
                live: false,
            });
            state.status = match result.ranking.target_rank {
                Some(r) => format!("done: target ranked {r}"),
                None => "done".into(),
            };
            if let Some(n) = &state.run.notice {
                state.status = format!("{}; {n}", state.status);
            }
            state.run.record_view = Some(highlight::json(&result.record));
            state.run.previous = state.run.last.take();
            state.run.last = Some(result);
        }
        WorkerEvent::GroupDone { id, result } if is_live(state, id) => {
            state.run.live = None;
            state.run.cancelled = None;
            let t = &result.timings;
            state.run.speed = Some(Speed {
                first_token_secs: t.first_token_secs,
                tokens_per_sec: t.decode_tokens_per_sec(),
                tokens: t.generated_tokens,
                live: false,
            });
            state.status = format!("group of {} done", result.members.len());
            if let Some(n) = &state.run.notice {
                state.status = format!("{}; {n}", state.status);
            }
            state.run.group = Some(result);
        }
        WorkerEvent::RunCancelled { id } if is_live(state, id) => {
            let Some(l) = state.run.live.take() else {
                return;
            };
            state.status = format!(
                "cancelled after {} ({})",
                plural(l.pieces, "token", "tokens"),
                l.source
            );
            state.run.cancelled = Some(CancelledRun {
                source: l.source,
                group: l.group,
                texts: l.texts,
                pieces: l.pieces,
                ranking: l.ranking,
            });
        }
        WorkerEvent::RunFailed { id, error } if is_live(state, id) => {
            state.run.live = None;
            state.status = format!("run failed: {error}");
            state.run.error = Some(error);
        }
        // Reports of a run that is no longer current (cancelled, superseded) are dropped.
        _ => {}
    }
}

pub fn on_action(state: &mut State, action: Action) -> Vec<Effect> {
    let r = &mut state.run;
    let prompt = state.screen == Screen::Prompt;
    let (up, down) = match action {
        Action::Up => (1, 0),
        Action::Down => (0, 1),
        Action::PageUp => (10, 0),
        Action::PageDown => (0, 10),
        Action::Top => (u16::MAX / 2, 0),
        Action::Bottom => (0, u16::MAX / 2),
        Action::Collect if state.screen == Screen::Group => {
            let Some(g) = &r.group else {
                state.status = "sample a group first (shift-r)".into();
                return Vec::new();
            };
            let chains: Vec<crate::annotate::Chain> = g
                .members
                .iter()
                .filter(|m| !m.text.trim().is_empty())
                .map(|m| crate::annotate::Chain {
                    // The runtime gives collected chains their ids in the set.
                    id: String::new(),
                    text: m.text.clone(),
                    reward: m.reward.as_ref().map(|w| w.reward),
                    rank: m.reward.as_ref().and_then(|w| w.rank).map(|x| x as u64),
                })
                .collect();
            if chains.is_empty() {
                state.status = "these chains are empty: nothing to annotate".into();
                return Vec::new();
            }
            return vec![Effect::CollectChains(chains)];
        }
        Action::CompareMode => {
            r.compare = match r.compare {
                CompareMode::NoReasoning => CompareMode::Previous,
                CompareMode::Previous => CompareMode::NoReasoning,
            };
            return Vec::new();
        }
        _ => return Vec::new(),
    };
    if prompt {
        r.prompt_scroll = r.prompt_scroll.saturating_add(down).saturating_sub(up);
    } else {
        r.scroll_back = r.scroll_back.saturating_add(up).saturating_sub(down);
    }
    Vec::new()
}
