//! The Training and Lengths screens' state: the curves of one or more run folders
//! (every `metrics.jsonl` field, reward first, then the valid probe once a run logs
//! one, smoothed, zoomed to the latest steps), reasoning length over steps, and the
//! length distribution of evaluations (under `sessions/eval/` and shipped with the
//! checkpoints). Reading files is an effect; while either screen is shown the runs are
//! re-read every `FOLLOW_TICKS` ticks, so a run being trained is followed live.

use std::path::PathBuf;

use super::{Effect, Screen, State};
use crate::tui::effect::TrainSettings;
use crate::tui::keys::Action;
use crate::tui::msg::{LoadedRun, RunsSnapshot};

/// Re-read the runs every 2 s (ticks come 8 a second) while a training screen shows.
pub const FOLLOW_TICKS: usize = 16;
/// Smoothing weights `m` cycles through.
pub const SMOOTHING: [f64; 4] = [0.0, 0.3, 0.6, 0.9];

/// Rollout groups kept per run for browsing.
pub const ROLLOUTS_KEPT: usize = 64;

#[derive(Debug, Default)]
pub struct TrainingState {
    pub snapshot: Option<RunsSnapshot>,
    /// The field shown, by name, so a field appearing in a followed run does not
    /// change the chart under the reader; `None` shows the first of `fields()`.
    pub field: Option<String>,
    /// Index into `SMOOTHING`.
    pub smooth: usize,
    /// 0 shows every step; z shows the latest 1/2^z of them.
    pub zoom: u32,
    /// Which evaluation's histogram the Lengths screen shows.
    pub eval: usize,
    pub ticks: usize,
    pub loading: bool,
    /// Which rollout group the Training screen shows (0 = newest), over all runs.
    pub rollout: usize,
    /// Settings of a run started from this screen.
    pub settings: TrainSettings,
    /// The run started from this screen, while it trains.
    pub job: Option<PathBuf>,
    /// Runs started from this screen (followed with the others).
    pub started: Vec<PathBuf>,
    /// Asked to start, waiting for the runtime to name the folder.
    pub starting: bool,
}

/// Where a field comes in the list: the reward RecPO maximises first, then the valid
/// probe (`train::probe`'s `probe_*` fields, a held-out check of the policy) once a run
/// logs one, its N@10 (the model-selection metric) first, then the other step fields,
/// then evaluation fields. `advantage` is zero by construction (GRPO centres it in each
/// group), so it is never the first chart.
fn field_rank(name: &str) -> (u8, bool, String) {
    let probe = name.starts_with("probe_");
    // The probe's bookkeeping (its size, its time) is no curve to open on.
    let bookkeeping = name == "probe_n" || name.ends_with("_secs");
    let group = match () {
        _ if name == "reward" => 0,
        _ if probe && name.contains("ndcg") => 1,
        _ if probe && !bookkeeping => 2,
        _ => 3,
    };
    (group, name.contains(' '), name.to_string())
}

impl TrainingState {
    /// Every field of any run, in a stable order (see `field_rank`).
    pub fn fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.snapshot.iter().flat_map(|s| &s.runs) {
            for f in r.series.fields() {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        out.sort_by_key(|k| field_rank(k));
        out
    }

    /// The position of the field shown in `fields()`.
    pub fn field_index(&self) -> usize {
        let f = self.fields();
        self.field
            .as_ref()
            .and_then(|name| f.iter().position(|x| x == name))
            .unwrap_or(0)
    }

    pub fn field_name(&self) -> Option<String> {
        self.fields().get(self.field_index()).cloned()
    }

    /// Show the field `delta` places on, wrapping around.
    fn move_field(&mut self, delta: isize) {
        let f = self.fields();
        if f.is_empty() {
            return;
        }
        let n = f.len() as isize;
        let i = (self.field_index() as isize + delta).rem_euclid(n);
        self.field = Some(f[i as usize].clone());
    }

    pub fn smoothing(&self) -> f64 {
        SMOOTHING[self.smooth % SMOOTHING.len()]
    }

    /// The step range shown: the latest 1/2^zoom of [first, last].
    pub fn x_range(&self, first: f64, last: f64) -> (f64, f64) {
        let span = (last - first).max(1.0);
        let shown = span / f64::from(1u32 << self.zoom.min(6));
        (last - shown, last.max(first + 1.0))
    }

    /// The step range shown, on whole steps with a whole middle step, so the axis
    /// labels (first, middle, last) are the steps they stand at.
    pub fn step_range(&self, first: f64, last: f64) -> (f64, f64) {
        let (a, b) = self.x_range(first, last);
        let (a, mut b) = (a.floor(), b.ceil().max(a.floor() + 2.0));
        if (b - a) as i64 % 2 == 1 {
            b += 1.0;
        }
        (a, b)
    }
}

fn on_training_screen(state: &State) -> bool {
    matches!(state.screen, Screen::Training | Screen::Lengths)
}

/// Ask for a (re)read of the runs unless one is under way.
fn reload(state: &mut State) -> Vec<Effect> {
    if state.training.loading {
        return Vec::new();
    }
    state.training.loading = true;
    vec![Effect::LoadRuns]
}

/// Entering a training screen reads the runs at once.
pub fn on_enter(state: &mut State) -> Vec<Effect> {
    if on_training_screen(state) {
        reload(state)
    } else {
        Vec::new()
    }
}

/// Every tick on a training screen counts towards the next re-read.
pub fn on_tick(state: &mut State) -> Vec<Effect> {
    if !on_training_screen(state) {
        return Vec::new();
    }
    state.training.ticks += 1;
    if state.training.ticks.is_multiple_of(FOLLOW_TICKS) {
        reload(state)
    } else {
        Vec::new()
    }
}

pub fn on_loaded(state: &mut State, snap: RunsSnapshot) {
    let t = &mut state.training;
    t.loading = false;
    let first = t.snapshot.is_none();
    if t.snapshot.as_ref() != Some(&snap) {
        // Only the first read speaks in the status bar: later reads of a followed run
        // must not hide what the training job says.
        if first || !snap.errors.is_empty() {
            let steps: usize = snap
                .runs
                .iter()
                .map(|r| r.series.get("reward").map_or(0, Vec::len))
                .sum();
            state.status = format!(
                "{} runs, {} logged steps{}",
                snap.runs.len(),
                steps,
                if snap.errors.is_empty() {
                    String::new()
                } else {
                    format!("; {}", snap.errors.join("; "))
                }
            );
        }
        t.snapshot = Some(snap);
    }
}

pub fn on_action(state: &mut State, action: Action) -> Vec<Effect> {
    let t = &mut state.training;
    let n_evals = t.snapshot.as_ref().map_or(0, |s| s.evals.len()).max(1);
    match (state.screen, action) {
        (Screen::Training, Action::Down) => t.move_field(1),
        (Screen::Training, Action::Up) => t.move_field(-1),
        (Screen::Training, Action::PageDown) => {
            let n = t
                .snapshot
                .as_ref()
                .map_or(0, |s| s.runs.iter().map(|r| r.rollouts.len()).sum());
            t.rollout = (t.rollout + 1).min(n.saturating_sub(1));
        }
        (Screen::Training, Action::PageUp) => t.rollout = t.rollout.saturating_sub(1),
        (Screen::Lengths, Action::Down) => t.eval = (t.eval + 1) % n_evals,
        (Screen::Lengths, Action::Up) => t.eval = (t.eval + n_evals - 1) % n_evals,
        (Screen::Training, Action::RatingUp) if t.job.is_none() => t.settings.steps += 5,
        (Screen::Training, Action::RatingDown) if t.job.is_none() => {
            t.settings.steps = t.settings.steps.saturating_sub(5).max(1)
        }
        (Screen::Training, Action::TrainStart) => {
            if t.job.is_some() || t.starting {
                state.status = "a training run is under way (shift-x stops it)".into();
            } else if !state.load.eq(&super::LoadPhase::Ready) {
                state.status = "the model is still loading".into();
            } else {
                t.starting = true;
                return vec![Effect::StartTraining(t.settings)];
            }
        }
        (Screen::Training, Action::TrainStop) if t.job.is_some() => {
            state.status = "stopping after the current step…".into();
            return vec![Effect::StopTraining];
        }
        (_, Action::Smooth) => t.smooth = (t.smooth + 1) % SMOOTHING.len(),
        (_, Action::Zoom) => t.zoom = (t.zoom + 1) % 4,
        (_, Action::Reload) => return reload(state),
        _ => {}
    }
    Vec::new()
}

/// Read every run folder and evaluation report, given as (name, examples.jsonl) (the
/// runtime calls this for `LoadRuns`).
pub fn read_runs(dirs: &[PathBuf], reports: &[(String, PathBuf)]) -> RunsSnapshot {
    let mut snap = RunsSnapshot::default();
    for d in dirs {
        // A run just started has its folder before its first logged step.
        if d.join("config.json").is_file() && !d.join("metrics.jsonl").exists() {
            continue;
        }
        match crate::plot::read_run(d) {
            Ok(series) => {
                let lengths =
                    crate::plot::lengths::of_run(d, series.get("reasoning_len").map(Vec::as_slice))
                        .unwrap_or_default();
                let rollouts = read_rollouts(&d.join("rollouts.jsonl"));
                snap.runs.push(LoadedRun {
                    series,
                    lengths,
                    rollouts,
                });
            }
            Err(e) => snap.errors.push(e.to_string()),
        }
    }
    for (name, p) in reports {
        // Reports without reasoning (baselines, the w/o-reasoning ablation) have no
        // lengths and no histogram.
        if let Ok(l) = crate::plot::lengths::from_examples(p) {
            if !l.is_empty() {
                snap.evals.push((name.clone(), l));
            }
        }
    }
    snap
}

/// The newest `ROLLOUTS_KEPT` groups of a rollouts.jsonl (unreadable lines, such as one
/// being written, are passed over: this is for browsing, not for numbers).
fn read_rollouts(path: &std::path::Path) -> Vec<crate::train::report::RolloutSample> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str(l).ok())
        .take(ROLLOUTS_KEPT)
        .collect()
}

/// The runtime named the new run's folder and handed the job to the model thread.
pub fn on_started(state: &mut State, dir: PathBuf) {
    let t = &mut state.training;
    t.starting = false;
    state.status = format!("training into {} (shift-x stops)", dir.display());
    t.started.push(dir.clone());
    t.job = Some(dir);
}

pub fn on_progress(state: &mut State, line: String) {
    state.status = line;
}

pub fn on_ended(state: &mut State, r: Result<String, String>) {
    let t = &mut state.training;
    t.job = None;
    t.starting = false;
    state.status = match r {
        Ok(line) => line,
        Err(e) => format!("training failed: {e}"),
    };
}
