//! Every screen drawn into ratatui's `TestBackend` and read back as text.

use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::{draw, Extras};
use crate::train::reward::Reward;
use crate::rec::ranking::Ranking;
use crate::tui::analysis::GroupMember;
use crate::tui::app::{update, Header, State};
use crate::tui::keys::KeyMap;
use crate::tui::msg::{GroupResult, Msg, WorkerEvent};
use crate::tui::testing::{code, key, ready_state, result_for, run_request, tiny_data, tiny_table};
use crate::tui::theme::Theme;

fn screen(s: &State, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, s, &Theme::default(), &Extras::default()))
        .unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
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
    has(&t, "the ranking appears when the chain reaches <answer>");
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
        sampling: "TopK { k: 50, temperature: 2.0 }".into(),
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
    has(&t, "GRPO advantage");
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
    let t = screen(&s, 100, 40);
    has(&t, "Help (? or esc closes)");
    has(&t, "shift-r".replace("shift-r", "R").as_str());
    has(&t, "keys can be changed in a TOML file");
    let t = screen(&s, 30, 8);
    has(&t, "terminal too small (30x8)");
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
    has(&text, "Training · loss (1/2");
    has(&text, "r2ec-run");
    has(&text, "wo-run");
    key(&mut s, 'j');
    let text = screen(&s, 110, 26);
    has(&text, "reward (2/2");
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

fn opened_set() -> crate::tui::msg::OpenedSet {
    use crate::annotate::{Behaviour, Chain, Record};
    let chain = |i: usize, text: &str| Chain {
        id: format!("ex{i}"),
        text: text.into(),
        reward: Some(0.1 * i as f64),
        rank: Some(10 + i as u64),
    };
    let rec = |c: &str, tags: &[Behaviour]| Record {
        chain: c.into(),
        tags: tags.to_vec(),
        spans: crate::annotate::tagger::suggest("Recently they liked comedies"),
        note: String::new(),
        skipped: false,
        time: 1,
    };
    let mut records = std::collections::BTreeMap::new();
    records.insert(
        "tagger".to_string(),
        [("ex0".to_string(), rec("ex0", &[Behaviour::Temporal]))]
            .into_iter()
            .collect(),
    );
    records.insert(
        "bob".to_string(),
        [(
            "ex0".to_string(),
            rec("ex0", &[Behaviour::PatternClustering]),
        )]
        .into_iter()
        .collect(),
    );
    records.insert(
        "ann".to_string(),
        [("ex0".to_string(), rec("ex0", &[Behaviour::Temporal]))]
            .into_iter()
            .collect(),
    );
    crate::tui::msg::OpenedSet {
        name: "r2ec-test".into(),
        chains: vec![
            chain(0, "Recently they liked comedies"),
            chain(1, "A second chain about dramas"),
            chain(2, "A third one"),
        ],
        records,
    }
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
            reports: vec!["zero-shot".into()],
        }),
    );
    let text = screen(&s, 110, 30);
    has(&text, "Annotate as ann");
    has(&text, "report  zero-shot");
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
    assert!(!text.contains("suggested"));
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
