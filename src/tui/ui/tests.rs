//! Every screen drawn into ratatui's `TestBackend` and read back as text.

use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::{draw, Extras};
use crate::rec::ranking::Ranking;
use crate::train::reward::Reward;
use crate::tui::analysis::GroupMember;
use crate::tui::app::{update, Header, State};
use crate::tui::keys::KeyMap;
use crate::tui::msg::{GroupResult, Msg, WorkerEvent};
use crate::tui::testing::{
    code, key, opened_set, ready_state, result_for, run_request, tiny_data, tiny_table,
};
use crate::tui::theme::Theme;

fn screen(s: &State, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, s, &Theme::default(), &Extras::default()))
        .unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| {
            let mut row = String::new();
            let mut x = 0;
            while x < w {
                let sym = buf[(x, y)].symbol();
                row.push_str(sym);
                // A wide character covers the next cell too: read it once.
                x += crate::tui::text::width(sym).max(1) as u16;
            }
            row.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "`{needle}` not on screen:\n{text}");
}

/// A state with a finished run of test example 0.
fn ran() -> State {
    let mut s = ready_state();
    code(&mut s, KeyCode::Enter);
    let req = run_request(&key(&mut s, 'r')).unwrap();
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunStarted {
            id: req.id,
            prompt: "<|im_start|>user\nWatched [Heat] (4)<|im_end|>".into(),
            notice: None,
        }),
    );
    let res = result_for(&req, "Star Wars", "They like old classics.");
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunDone {
            id: req.id,
            result: Box::new(res),
        }),
    );
    s
}

#[test]
fn loading_screen_shows_progress_and_header() {
    let mut s = State::new(
        Header {
            device: "auto".into(),
            model: "m.gguf".into(),
            adapter: "none (base model)".into(),
            data: "ml-100k".into(),
        },
        KeyMap::default(),
    );
    update(
        &mut s,
        Msg::Worker(WorkerEvent::Progress {
            stage: "encoding items".into(),
            done: 3,
            total: 8,
        }),
    );
    let t = screen(&s, 120, 20);
    has(&t, "device: auto");
    has(&t, "model: m.gguf (loading)");
    has(&t, "adapter: none (base model)");
    has(&t, "encoding items: 3/8 (38%)");
    has(&t, "reading the data set");
}

#[test]
fn picker_lists_examples_with_detail_and_footer_keys() {
    let s = ready_state();
    let t = screen(&s, 120, 20);
    has(&t, "test · 3 of 3 · any length · cold+warm");
    has(&t, "user 7");
    has(&t, "→ Star Wars");
    has(&t, "user 7 · 3 items, newest first");
    has(&t, "enter pick / edit");
    has(&t, "q quit");
    // Narrow terminals drop the detail pane but keep the list.
    let t = screen(&s, 60, 20);
    has(&t, "user 9");
    assert!(!t.contains("newest first"));
}

#[test]
fn editor_and_add_popup() {
    let mut s = ready_state();
    code(&mut s, KeyCode::Enter);
    let t = screen(&s, 100, 24);
    has(&t, "History · test #0, user 7 · 3 items");
    has(&t, "Godfather, The");
    has(&t, "target → Star Wars");
    key(&mut s, 'a');
    for c in "god".chars() {
        key(&mut s, c);
    }
    let t = screen(&s, 100, 24);
    has(&t, "Add an item");
    has(&t, "title: god");
    has(&t, "Godfather: Part II, The (1975)");
}

#[test]
fn run_screen_streams_then_ranks() {
    let mut s = ready_state();
    code(&mut s, KeyCode::Enter);
    let req = run_request(&key(&mut s, 'r')).unwrap();
    update(
        &mut s,
        Msg::Worker(WorkerEvent::Prefill {
            id: req.id,
            secs: 0.5,
            prompt_tokens: 9,
        }),
    );
    update(
        &mut s,
        Msg::Worker(WorkerEvent::Text {
            id: req.id,
            sample: 0,
            piece: "Thinking about Heat".into(),
            elapsed: 0.6,
        }),
    );
    let t = screen(&s, 120, 20);
    has(&t, "Thinking about Heat");
    has(&t, "the ranking so far shows after the first token");
    has(&t, "TTFT 0.50 s");
    let s = ran();
    let t = screen(&s, 120, 24);
    has(&t, "They like old classics.");
    has(&t, "Ranking · target at 1 of 5");
    has(&t, "1. Star Wars");
    has(&t, "◀ target");
    has(&t, "masked (history, 3 items):");
    has(&t, "TTFT 0.12 s · 30.0 tok/s · 3 tok · greedy");
    // Stacked on a narrow terminal, still both panels.
    let t = screen(&s, 60, 30);
    has(&t, "They like old classics.");
    has(&t, "Ranking");
}

#[test]
fn target_below_the_top_k_is_still_shown_with_its_rank() {
    let data = tiny_data();
    let table = tiny_table();
    let scores = vec![8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
    let r = Ranking::from_scores(scores, &table, &data.catalog, &[1], Some("6"), 2);
    assert_eq!(r.target_rank, Some(6));
    let lines = super::ranking::lines(
        &r,
        &data.catalog,
        &["Godfather, The".into()],
        None,
        60,
        &Theme::default(),
    );
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    assert!(text[0].contains("1. Star Wars"), "{text:?}");
    assert!(text[1].contains("2. Toy Story"), "{text:?}");
    assert!(
        text[3].contains("6. Aliens") && text[3].contains("◀ target"),
        "{text:?}"
    );
    assert!(text.last().unwrap().contains("Godfather, The"));
}

#[test]
fn trace_compare_prompt_screens() {
    let mut s = ran();
    key(&mut s, '4');
    let t = screen(&s, 120, 24);
    has(&t, "Rank trace");
    has(&t, "target (#1)");
    has(&t, "token");
    key(&mut s, '5');
    let t = screen(&s, 120, 24);
    has(&t, "Without reasoning · target");
    has(&t, "With reasoning · target 1");
    key(&mut s, 'v');
    let t = screen(&s, 120, 24);
    has(&t, "edit the history");
    key(&mut s, '7');
    let t = screen(&s, 120, 24);
    has(&t, "Prompt (with chat template)");
    has(&t, "<|im_start|>user");
    has(&t, "\"target_rank\": 1");
}

#[test]
fn counterfactual_shows_history_edits_and_rank_moves() {
    let mut s = ran();
    key(&mut s, '2');
    key(&mut s, 'd');
    let req = run_request(&key(&mut s, 'r')).unwrap();
    let res = result_for(&req, "Fargo", "");
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunDone {
            id: req.id,
            result: Box::new(res),
        }),
    );
    key(&mut s, '5');
    key(&mut s, 'v');
    let t = screen(&s, 120, 30);
    has(&t, "Previous run · target 1");
    has(&t, "History edits");
    has(&t, "− Heat");
    assert!(
        t.contains('↑') || t.contains('↓') || t.contains("masked before"),
        "{t}"
    );
}

#[test]
fn group_view_shows_chains_rewards_and_advantages() {
    let mut s = ready_state();
    code(&mut s, KeyCode::Enter);
    let req = run_request(&key(&mut s, 'R')).unwrap();
    for i in 0..4 {
        update(
            &mut s,
            Msg::Worker(WorkerEvent::Text {
                id: req.id,
                sample: i,
                piece: format!("chain text {i}"),
                elapsed: 0.1,
            }),
        );
    }
    let t = screen(&s, 120, 20);
    has(&t, "chain text 3");
    let member = |i: usize, reward: f64, adv: f64| GroupMember {
        text: format!("chain text {i}"),
        tokens: 10 + i,
        top_title: "Star Wars".into(),
        reward: Some(Reward {
            reward,
            ndcg: reward,
            softmax: 0.01,
            rank: Some(i + 1),
        }),
        advantage: Some(adv),
    };
    let g = GroupResult {
        request: req.clone(),
        sampling: crate::tui::app::run::describe(&req.sampling),
        members: (0..4)
            .map(|i| member(i, 1.0 / (i + 1) as f64, 1.0 - i as f64 * 0.5))
            .collect(),
        timings: Default::default(),
    };
    update(
        &mut s,
        Msg::Worker(WorkerEvent::GroupDone {
            id: req.id,
            result: Box::new(g),
        }),
    );
    let t = screen(&s, 120, 24);
    has(&t, "advantage: GRPO in group");
    has(&t, "sampled T=2 top-k 50 seed 0");
    has(&t, "group T=2 top-k 50 seed 0 · budget 640");
    assert!(!t.contains("TopK {"), "no debug form:\n{t}");
    has(&t, "advantage");
    has(&t, "+1.000");
    has(&t, "-0.500");
    // The sampled chains go to the live annotation set from the Group screen.
    assert_eq!(s.screen, crate::tui::app::Screen::Group);
    let out = code(&mut s, KeyCode::Char('C'));
    let chains = out
        .iter()
        .find_map(|e| match e {
            crate::tui::effect::Effect::CollectChains(c) => Some(c.clone()),
            _ => None,
        })
        .expect("shift-c collects the chains");
    assert_eq!(chains.len(), 4);
    assert_eq!(chains[1].text, "chain text 1");
    assert_eq!(chains[1].rank, Some(2));
    update(&mut s, Msg::ChainsCollected(Ok(("live".into(), 4))));
    has(&s.status, "4 chains added to the annotation set `live`");
}

#[test]
fn help_overlay_and_tiny_terminal() {
    let mut s = ready_state();
    key(&mut s, '?');
    update(
        &mut s,
        Msg::Resize {
            width: 120,
            height: 50,
        },
    );
    let t = screen(&s, 120, 50);
    has(&t, "Help (? or esc closes)");
    has(&t, "R             sample a group");
    has(&t, "r2ec tui --keys FILE.toml");
    // Screens 8, 9 and 10 are listed, and what 0 means.
    has(&t, "keys 1-9 and 0 (screen 10), F1-F10, alt-1…alt-0");
    has(
        &t,
        "6 Group · 7 Prompt · 8 Training · 9 Lengths · 0 Annotate",
    );
    has(
        &t,
        "on 0 Annotate digits only tag (1-7): switch with F1-F10 or tab",
    );
    has(
        &t,
        "* on Training's rollouts: the chain of its group given the item loss",
    );
    has(&t, "kappa: agreement between people");
    let t = screen(&s, 30, 8);
    has(&t, "terminal too small (30x8)");
}

#[test]
fn help_scrolls_on_a_small_terminal() {
    let mut s = ready_state();
    update(
        &mut s,
        Msg::Resize {
            width: 80,
            height: 24,
        },
    );
    key(&mut s, '?');
    let t = screen(&s, 80, 24);
    has(&t, "Help · ↑↓ pgup pgdn scroll (1/");
    has(&t, "Screens");
    assert!(
        !t.contains("add the chains to the live"),
        "the end is below:\n{t}"
    );
    // Down scrolls the overlay, not the list below it.
    code(&mut s, KeyCode::Down);
    assert_eq!((s.help_scroll, s.picker.selected), (1, 0));
    // The last row can be reached, and no further.
    code(&mut s, KeyCode::End);
    let max = crate::tui::ui::help::max_scroll(&s);
    assert_eq!(s.help_scroll, max);
    code(&mut s, KeyCode::PageDown);
    assert_eq!(s.help_scroll, max);
    let t = screen(&s, 80, 24);
    has(&t, "add the chains to the live annotation set");
    assert!(!t.contains("Screens"), "{t}");
    code(&mut s, KeyCode::Esc);
    assert!(!s.help);
}

/// Two runs and an evaluation, as the runtime's `read_runs` would give them.
fn training_snapshot() -> crate::tui::msg::RunsSnapshot {
    use crate::plot::lengths::StepLength;
    use crate::tui::msg::{LoadedRun, RunsSnapshot};
    let run = |name: &str, shift: f64| {
        let mut series = std::collections::BTreeMap::new();
        series.insert(
            "reward".to_string(),
            (1..=20)
                .map(|s| (s as f64, 0.01 * s as f64 + shift))
                .collect(),
        );
        series.insert(
            "loss".to_string(),
            (1..=20).map(|s| (s as f64, -(s as f64))).collect(),
        );
        LoadedRun {
            series: crate::plot::RunSeries {
                name: name.into(),
                dir: name.into(),
                series,
            },
            lengths: (1..=5)
                .map(|s| StepLength {
                    step: (4 * s) as f64,
                    mean: 30.0 + s as f64,
                    min: 10.0,
                    max: 48.0,
                })
                .collect(),
            rollouts: vec![crate::train::report::RolloutSample {
                step: 20,
                user_id: "7".into(),
                target: "50".into(),
                chains: vec![crate::train::report::ChainSample {
                    text: "They liked Star Wars".into(),
                    tokens: 5,
                    reward: 0.25,
                    ndcg: 0.2,
                    softmax: 0.05,
                    rank: Some(3),
                    advantage: 1.5,
                    top: true,
                    greedy: false,
                }],
            }],
        }
    };
    RunsSnapshot {
        runs: vec![run("r2ec-run", 0.0), run("wo-run", 0.2)],
        evals: vec![("r2ec-cpu".into(), vec![12, 40, 46, 48, 48])],
        errors: vec![],
    }
}

#[test]
fn training_screen_reads_runs_and_draws_curves() {
    let mut s = ready_state();
    // Screen 8 is Training: entering it asks for the runs, once.
    assert_eq!(
        key(&mut s, '8'),
        vec![
            crate::tui::effect::Effect::LoadRuns,
            crate::tui::effect::Effect::Render
        ]
    );
    assert!(
        !key(&mut s, '8').contains(&crate::tui::effect::Effect::LoadRuns),
        "one read at a time"
    );
    let text = screen(&s, 100, 24);
    has(&text, "reading the runs");
    update(&mut s, Msg::RunsLoaded(training_snapshot()));
    has(&s.status, "2 runs, 40 logged steps");
    let text = screen(&s, 110, 26);
    // It opens on the reward, with whole steps on the x axis.
    has(&text, "Training · reward (1/2");
    has(&text, "━ r2ec-run = 0.200");
    assert!(
        text.lines().any(|r| {
            let words: Vec<&str> = r.trim_matches(['│', ' ']).split_whitespace().collect();
            words == ["1", "11", "21"]
        }),
        "step labels are whole steps:\n{text}"
    );
    has(&text, "r2ec-run");
    has(&text, "wo-run");
    key(&mut s, 'j');
    let text = screen(&s, 110, 26);
    has(&text, "loss (2/2");
    has(&text, "EMA 0");
    key(&mut s, 'm');
    key(&mut s, 'z');
    let text = screen(&s, 110, 26);
    has(&text, "EMA 0.3");
    has(&text, "zoom 1/2");
    has(
        &text,
        "Rollouts 1/2 (pgdn/pgup) · r2ec-run · step 20 · user 7",
    );
    has(
        &text,
        "*0 reward 0.2500 adv +1.50 rank     3   5 tok  They liked Star Wars",
    );
    code(&mut s, KeyCode::PageDown);
    has(&screen(&s, 110, 26), "Rollouts 2/2 (pgdn/pgup) · wo-run");
    // While the screen shows, ticks re-read the runs (a live run is followed).
    let effects: Vec<_> = (0..crate::tui::app::training::FOLLOW_TICKS)
        .flat_map(|_| update(&mut s, Msg::Tick))
        .collect();
    assert!(effects.contains(&crate::tui::effect::Effect::LoadRuns));
}

#[test]
fn lengths_screen_shows_growth_and_the_eval_histogram() {
    let mut s = ready_state();
    key(&mut s, '9');
    update(&mut s, Msg::RunsLoaded(training_snapshot()));
    let text = screen(&s, 110, 30);
    has(&text, "Reasoning length over training steps");
    has(&text, "mean 35.0 [10, 48]");
    has(&text, "Evaluation r2ec-cpu (1/1");
    has(&text, "mean 38.8 tokens");
    // No runs at all: the screen says how to get one.
    update(
        &mut s,
        Msg::RunsLoaded(crate::tui::msg::RunsSnapshot::default()),
    );
    has(&screen(&s, 110, 30), "no run folders");
}

#[test]
fn annotate_screen_tags_saves_and_goes_blind() {
    use crate::annotate::Behaviour;
    use crate::tui::effect::Effect;
    use crate::tui::msg::SetChoices;
    let mut s = ready_state();
    s.annotate.annotator = "ann".into();
    // The last screen; entering it lists the sets once.
    assert!(code(&mut s, KeyCode::BackTab).contains(&Effect::ListAnnotationSets));
    update(
        &mut s,
        Msg::AnnotationSets(SetChoices {
            sets: vec!["r2ec-test".into()],
            reports: vec![crate::tui::msg::ReportChoice {
                name: "zero-shot".into(),
                path: "sessions/eval/zero-shot/examples.jsonl".into(),
                shipped: false,
                chains: 96,
            }],
        }),
    );
    let text = screen(&s, 110, 30);
    has(&text, "Annotate as ann");
    has(&text, "report  zero-shot · 96 chains · sessions/eval");
    let open = code(&mut s, KeyCode::Enter);
    assert!(open.contains(&Effect::OpenAnnotationSet {
        name: "r2ec-test".into(),
        from_report: None
    }));
    update(&mut s, Msg::AnnotationSetOpened(Ok(opened_set())));
    // ex0 is judged by ann already: the session resumes at ex1.
    assert_eq!(s.annotate.index, 1);
    has(&s.status, "resuming at 2 as ann");
    key(&mut s, 'k');
    let text = screen(&s, 120, 32);
    has(&text, "chain 1/3 (ex0) · 1/3 judged by ann");
    has(&text, "[x] temporal reasoning");
    has(&text, "← suggested");
    has(&text, "bob: 2");
    has(&text, "target rank 10");
    has(&text, "Behaviour shares and agreement");
    // Toggle 4 off and 1 on, add a note, save with enter.
    key(&mut s, '4');
    key(&mut s, '1');
    code(&mut s, KeyCode::Char('N'));
    for c in "genres".chars() {
        key(&mut s, c);
    }
    has(&screen(&s, 120, 32), "note: genres");
    let saved = code(&mut s, KeyCode::Enter);
    let rec = saved
        .iter()
        .find_map(|e| match e {
            Effect::SaveTag(r) => Some(r.clone()),
            _ => None,
        })
        .expect("enter saves");
    assert_eq!(rec.chain, "ex0");
    assert_eq!(rec.tags, vec![Behaviour::AttributeAbstraction]);
    assert_eq!(rec.note, "genres");
    assert_eq!(s.annotate.index, 1, "saving moves on");
    update(&mut s, Msg::TagSaved(Ok(rec)));
    has(&s.status, "saved ex0");
    // Skip is a record too; accept takes the tagger's tags into the draft.
    key(&mut s, 'k');
    code(&mut s, KeyCode::Char('A'));
    assert_eq!(
        s.annotate.draft,
        vec![Behaviour::AttributeAbstraction, Behaviour::Temporal]
    );
    key(&mut s, 'j');
    let skip = key(&mut s, ' ');
    assert!(skip
        .iter()
        .any(|e| matches!(e, Effect::SaveTag(r) if r.skipped && r.chain == "ex1")));
    // Blind mode hides others' tags, suggestions and the model's figures.
    key(&mut s, 'k');
    key(&mut s, 'k');
    key(&mut s, 'b');
    let text = screen(&s, 120, 32);
    has(&text, "BLIND");
    assert!(
        !text.contains("bob:"),
        "blind shows another annotator:\n{text}"
    );
    assert!(!text.contains("suggested"), "{text}");
    assert!(!text.contains("target rank"));
}

#[test]
fn a_span_is_marked_by_hand_and_saved_with_its_tag() {
    use crate::annotate::Behaviour;
    use crate::tui::effect::Effect;
    use crate::tui::msg::KeyInput;
    use crossterm::event::KeyModifiers;
    let mut s = ready_state();
    s.annotate.annotator = "ann".into();
    code(&mut s, KeyCode::BackTab);
    update(&mut s, Msg::AnnotationSetOpened(Ok(opened_set())));
    assert_eq!(
        s.annotate.chain().unwrap().text,
        "A second chain about dramas"
    );
    // No tag yet: nothing to mark.
    code(&mut s, KeyCode::Char('M'));
    assert!(s.annotate.marking.is_none());
    has(&s.status, "tag a behaviour");
    key(&mut s, '1');
    code(&mut s, KeyCode::Char('M'));
    code(&mut s, KeyCode::Right);
    code(&mut s, KeyCode::Right);
    update(
        &mut s,
        Msg::Key(KeyInput {
            code: KeyCode::Right,
            mods: KeyModifiers::SHIFT,
        }),
    );
    assert_eq!(
        s.annotate.marking_range(),
        Some((2, 14)),
        "\"second chain\""
    );
    has(
        &screen(&s, 120, 32),
        "marking a span for attribute abstraction",
    );
    code(&mut s, KeyCode::Enter);
    assert!(s.annotate.marking.is_none());
    has(
        &screen(&s, 120, 32),
        "span for attribute abstraction: \"second chain\"",
    );
    let saved = code(&mut s, KeyCode::Enter);
    let rec = saved
        .iter()
        .find_map(|e| match e {
            Effect::SaveTag(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(rec.tags, vec![Behaviour::AttributeAbstraction]);
    assert_eq!(rec.spans.len(), 1);
    assert_eq!((rec.spans[0].start, rec.spans[0].end), (2, 14));
}

#[test]
fn training_starts_and_stops_from_the_training_screen() {
    use crate::tui::effect::Effect;
    let mut s = ready_state();
    key(&mut s, '8');
    update(&mut s, Msg::RunsLoaded(training_snapshot()));
    has(&screen(&s, 140, 26), "shift-s trains 20 steps (+/-)");
    key(&mut s, '+');
    let start = code(&mut s, KeyCode::Char('S'));
    let settings = start
        .iter()
        .find_map(|e| match e {
            Effect::StartTraining(t) => Some(*t),
            _ => None,
        })
        .expect("shift-s starts training");
    assert_eq!(settings.steps, 25);
    // A second press while it starts does not start another.
    assert!(!code(&mut s, KeyCode::Char('S'))
        .iter()
        .any(|e| matches!(e, Effect::StartTraining(_))));
    let dir = std::path::PathBuf::from("runs/tui-1");
    let out = update(&mut s, Msg::TrainingStarted(dir.clone()));
    assert!(
        out.contains(&Effect::LoadRuns),
        "the new run is read at once"
    );
    assert_eq!(s.training.started, vec![dir]);
    has(&screen(&s, 140, 26), "training runs/tui-1 (shift-x stops)");
    update(
        &mut s,
        Msg::Worker(WorkerEvent::TrainProgress(
            "training step 1/25: reward 0.1".into(),
        )),
    );
    has(&s.status, "training step 1/25");
    assert_eq!(
        code(&mut s, KeyCode::Char('X')),
        vec![Effect::StopTraining, Effect::Render]
    );
    update(
        &mut s,
        Msg::Worker(WorkerEvent::TrainEnded(Ok(
            "training stopped after step 1: runs/tui-1".into(),
        ))),
    );
    assert!(s.training.job.is_none());
    has(&s.status, "stopped after step 1");
    // Stopping with nothing running does nothing.
    assert_eq!(code(&mut s, KeyCode::Char('X')), vec![Effect::Render]);
}

/// A state with something to show on every screen: a finished run of test #0, a
/// sampled group, two training runs with an evaluation, and an open annotation set.
fn everything() -> State {
    let mut s = ran();
    s.annotate.annotator = "ann".into();
    let req = run_request(&key(&mut s, 'R')).unwrap();
    let member = |i: usize| GroupMember {
        text: format!("chain text {i}"),
        tokens: 10 + i,
        top_title: "Star Wars".into(),
        reward: Some(Reward {
            reward: 0.5,
            ndcg: 0.5,
            softmax: 0.01,
            rank: Some(i + 1),
        }),
        advantage: Some(0.5 - i as f64 * 0.5),
    };
    let g = GroupResult {
        request: req.clone(),
        sampling: crate::tui::app::run::describe(&req.sampling),
        members: (0..4).map(member).collect(),
        timings: Default::default(),
    };
    update(
        &mut s,
        Msg::Worker(WorkerEvent::GroupDone {
            id: req.id,
            result: Box::new(g),
        }),
    );
    update(&mut s, Msg::RunsLoaded(training_snapshot()));
    update(&mut s, Msg::AnnotationSetOpened(Ok(opened_set())));
    s
}

/// The status row shows the status whole or cut between words, and never runs into
/// the figures on its right.
fn status_row_is_clean(row: &str, status: &str) {
    let left = row.split("   ").next().unwrap_or("");
    let stem = left.trim_end_matches('…');
    assert!(
        status.starts_with(stem),
        "status row `{row}` for `{status}`"
    );
    if left.ends_with('…') {
        let rest = &status[stem.len()..];
        assert!(
            rest.starts_with([' ', ',', ';', ':', '·']),
            "cut inside a word: `{row}` for `{status}`"
        );
    } else {
        assert_eq!(left, status, "status row `{row}`");
    }
}

#[test]
fn every_screen_at_80x24_and_200x50() {
    use crate::tui::app::{Screen, SCREENS};
    let mut s = everything();
    let long = "saved live-1 (2 tags), and a status long enough to be cut on a small terminal";
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        update(
            &mut s,
            Msg::Resize {
                width: w,
                height: h,
            },
        );
        for screen_now in SCREENS {
            s.screen = screen_now;
            s.status = long.into();
            let t = screen(&s, w, h);
            let rows: Vec<&str> = t.lines().collect();
            assert!(rows[0].starts_with(" R²ec │"), "{t}");
            // The tab bar lists all ten screens (abbreviated when narrow).
            for sc in SCREENS {
                let full = format!("{} {}", sc.key(), sc.title());
                let short = format!("{} {}", sc.key(), sc.short_title());
                assert!(
                    rows[1].contains(&full) || rows[1].contains(&short),
                    "tab {full} missing at {w}x{h}: `{}`",
                    rows[1]
                );
            }
            assert!(
                // (the row is read back without its trailing spaces)
                format!("{} ", rows[1]).contains(&format!(
                    " {} {} ",
                    screen_now.key(),
                    screen_now.title()
                )),
                "the current tab at {w}x{h}: `{}`",
                rows[1]
            );
            status_row_is_clean(rows[h as usize - 2], long);
            assert!(
                rows[h as usize - 2].ends_with("budget 640"),
                "{}",
                rows[h as usize - 2]
            );
            // The footer always ends with help and quit.
            assert!(rows[h as usize - 1].ends_with("? help  q quit"), "{t}");
            let expect: &[&str] = match screen_now {
                Screen::Picker => &["test · 3 of 3", "user 7", "→ Star Wars"],
                Screen::Editor => &["History · test #0, user 7", "target → Star Wars"],
                Screen::Run => &[
                    "Reasoning · 3 tokens · reached <answer> · test #0, user 7",
                    "They like old classics.",
                    "Ranking · target at 1 of 5",
                    "1. Star Wars",
                ],
                Screen::Trace => &["Rank trace · test #0, user 7", "━ target (#1)"],
                Screen::Compare => &["Without reasoning · target", "With reasoning · target 1"],
                Screen::Group => &[
                    "chain text 3",
                    "sampled T=2 top-k 50 seed 0",
                    "advantage",
                    "reward = 0.95 R_d (NDCG@1000) + 0.05 R_c (softmax) · advantage: GRPO in group",
                ],
                Screen::Prompt => &["Prompt (with chat template)", "\"target_rank\": 1"],
                Screen::Training => &[
                    "reward (1/2, ↑↓)",
                    "* marks the chain given the item loss",
                    "*0 reward 0.2500 adv +1.50",
                ],
                Screen::Lengths => &["Reasoning length", "Evaluation r2ec-cpu (1/1"],
                Screen::Annotate => &[
                    "chain 2/3",
                    "1 [ ] attribute abstraction",
                    "6 [ ] negative preference exclusion",
                    "7 [ ] multi-objective balancing",
                    "Behaviour shares and agreement",
                    "kappa: people agree · tagger: vs people",
                ],
            };
            for needle in expect {
                assert!(
                    t.contains(needle),
                    "`{needle}` not on {screen_now:?} at {w}x{h}:\n{t}"
                );
            }
            if screen_now == Screen::Annotate {
                // All seven rows of the agreement table fit, at 80x24 too: below its
                // header, in the same column, behaviours 1 to 7.
                let head = rows
                    .iter()
                    .position(|r| r.contains("│behaviour") && r.contains("tagger"))
                    .unwrap_or_else(|| panic!("no table header at {w}x{h}:\n{t}"));
                let col = rows[head].chars().position(|c| c == 'b').unwrap();
                for k in 1..=7u32 {
                    let row: Vec<char> = rows[head + k as usize].chars().collect();
                    assert_eq!(
                        row.get(col),
                        char::from_digit(k, 10).as_ref(),
                        "table row {k} at {w}x{h}:\n{t}"
                    );
                }
            }
        }
    }
}

#[test]
fn tabs_abbreviate_and_the_status_never_runs_into_the_figures() {
    let mut s = ran();
    s.status = "saved live-1".into();
    let t = screen(&s, 80, 24);
    let rows: Vec<&str> = t.lines().collect();
    assert_eq!(
        rows[1],
        "1 Examp 2 Hist  3 Run  4 Trace 5 Comp 6 Group 7 Prmpt 8 Train 9 Len 0 Annot"
    );
    // A short message and every figure fit, with a gap between them.
    let status = rows[22];
    assert!(status.starts_with("saved live-1   "), "`{status}`");
    assert!(
        status.ends_with("TTFT 0.12 s · 30.0 tok/s · 3 tok · greedy · budget 640"),
        "`{status}`"
    );
    // A long one comes first: the figures go (speed first) down to the sampling label,
    // and the message is cut between words.
    s.status =
        "saved live-1 to sessions/annotations/live with suggested tags for every chain".into();
    let t = screen(&s, 80, 24);
    let status = t.lines().nth(22).unwrap().to_string();
    assert_eq!(
        status,
        "saved live-1 to sessions/annotations/live with suggested…    greedy · budget 640"
    );
    let t = screen(&s, 200, 50);
    let rows: Vec<&str> = t.lines().collect();
    assert!(
        rows[1].starts_with(" 1 Examples   2 History   3 Run "),
        "`{}`",
        rows[1]
    );
    assert!(rows[1].ends_with(" 0 Annotate"), "`{}`", rows[1]);
    assert!(rows[48].ends_with("TTFT 0.12 s · 30.0 tok/s · 3 tok · greedy · budget 640"));
}

#[test]
fn the_ranking_so_far_streams_and_a_cancel_keeps_its_own_title() {
    let mut s = ready_state();
    let req = run_request(&key(&mut s, 'r')).unwrap();
    update(
        &mut s,
        Msg::Worker(WorkerEvent::Prefill {
            id: req.id,
            secs: 0.5,
            prompt_tokens: 9,
        }),
    );
    update(
        &mut s,
        Msg::Worker(WorkerEvent::Text {
            id: req.id,
            sample: 0,
            piece: "Thinking about".into(),
            elapsed: 0.6,
        }),
    );
    let t = screen(&s, 120, 24);
    has(&t, "the ranking so far shows after the first token");
    let so_far = result_for(&req, "Fargo", "").ranking;
    update(
        &mut s,
        Msg::Worker(WorkerEvent::LiveRanking {
            id: req.id,
            steps: 2,
            ranking: Box::new(so_far),
        }),
    );
    let t = screen(&s, 120, 24);
    has(&t, "Ranking so far · after 2 tokens · target at");
    has(&t, "1. Fargo");
    has(&t, "Reasoning");
    has(&t, "test #0, user 7 · budget 640");
    // Cancelled: the partial chain and its ranking stay, titled as cancelled.
    code(&mut s, KeyCode::Esc);
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunCancelled { id: req.id }),
    );
    let t = screen(&s, 120, 24);
    has(&t, "Reasoning · cancelled after 1 token · test #0, user 7");
    has(&t, "Thinking about");
    has(&t, "Ranking when cancelled · after 2 tokens");
    has(&s.status, "cancelled after 1 token (test #0, user 7)");
}

#[test]
fn a_cancel_after_a_finished_run_does_not_show_that_run_under_its_title() {
    let mut s = ran();
    key(&mut s, '1');
    key(&mut s, 'j');
    let req = run_request(&key(&mut s, 'r')).unwrap();
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunCancelled { id: req.id }),
    );
    let t = screen(&s, 120, 24);
    has(&t, "Reasoning · cancelled after 0 tokens · test #1, user 8");
    has(&t, "cancelled before any ranking; screens 4, 5 and 7");
    assert!(!t.contains("They like old classics."), "{t}");
    // The screens of the last finished run name whose run it is.
    key(&mut s, '4');
    has(&screen(&s, 120, 24), "Rank trace · test #0, user 7");
}

#[test]
fn wide_titles_keep_the_columns_and_placeholder_titles_are_marked() {
    use crate::data::{Catalog, Item};
    let data = tiny_data();
    let items: Vec<Item> = data
        .catalog
        .items()
        .iter()
        .map(|it| {
            let mut it = it.clone();
            it.title = match it.item_id.as_str() {
                "0" => "千と千尋の神隠し (Spirited Away) and a long tail".into(),
                "1" => "unkonwn".into(),
                _ => it.title,
            };
            it
        })
        .collect();
    let catalog = Catalog::new(items);
    let table = tiny_table();
    let scores = vec![8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
    let r = Ranking::from_scores(scores, &table, &catalog, &[], Some("2"), 3);
    let lines = super::ranking::lines(&r, &catalog, &[], None, 40, &Theme::default());
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    // The score column starts at the same cell whatever the script of the title.
    let score_at =
        |row: &str, score: &str| crate::tui::text::width(&row[..row.find(score).unwrap()]);
    assert_eq!(
        score_at(&text[0], "8.00"),
        score_at(&text[1], "7.00"),
        "{text:?}"
    );
    assert_eq!(
        score_at(&text[0], "8.00"),
        score_at(&text[2], "6.00"),
        "{text:?}"
    );
    assert!(text[0].contains("千と千尋の神隠し"), "{text:?}");
    assert!(text[1].contains("unkonwn ⚠no title"), "{text:?}");
    assert!(text[2].contains("◀ target"), "{text:?}");
    // A wide title in the group table does not push its border.
    let mut s = everything();
    if let Some(g) = &mut s.run.group {
        g.members[0].top_title = "千と千尋の神隠し千と千尋の神隠し千と千尋の神隠し".into();
    }
    s.screen = crate::tui::app::Screen::Group;
    let t = screen(&s, 80, 24);
    for row in t.lines().filter(|r| r.contains("千")) {
        assert!(row.ends_with('│'), "border pushed: `{row}`");
        assert_eq!(crate::tui::text::width(row), 80, "`{row}`");
    }
}

#[test]
fn screen_ten_lists_a_shipped_report_and_digits_there_only_tag() {
    use crate::tui::effect::Effect;
    use crate::tui::msg::{ReportChoice, SetChoices};
    let mut s = ready_state();
    s.annotate.annotator = "ann".into();
    assert!(
        key(&mut s, '0').contains(&Effect::ListAnnotationSets),
        "0 is screen 10"
    );
    update(
        &mut s,
        Msg::AnnotationSets(SetChoices {
            sets: vec![],
            reports: vec![ReportChoice {
                name: "r2ec-smollm2-135m-ml100k-cpu".into(),
                path: "assets/checkpoints/r2ec-smollm2-135m-ml100k-cpu/eval/examples.jsonl".into(),
                shipped: true,
                chains: 96,
            }],
        }),
    );
    let t = screen(&s, 80, 24);
    has(
        &t,
        "report  r2ec-smollm2-135m-ml100k-cpu · 96 chains · shipped",
    );
    has(&t, "F1-F10 screens");
    let open = code(&mut s, KeyCode::Enter);
    assert!(open.contains(&Effect::OpenAnnotationSet {
        name: "r2ec-smollm2-135m-ml100k-cpu".into(),
        from_report: Some(
            "assets/checkpoints/r2ec-smollm2-135m-ml100k-cpu/eval/examples.jsonl".into()
        ),
    }));
    update(&mut s, Msg::AnnotationSetOpened(Ok(opened_set())));
    let t = screen(&s, 80, 24);
    let footer = t.lines().last().unwrap().to_string();
    assert_eq!(
        footer,
        "1-7 tag  F1-F10 screens  enter save  space skip  A accept  ? help  q quit"
    );
}
