//! Transitions of the state machine, driven by messages alone.

use crossterm::event::{KeyCode, KeyModifiers};

use super::editor::EditorMode;
use super::picker::{ColdFilter, LengthFilter};
use super::*;
use crate::tui::msg::KeyInput;
use crate::tui::testing::{code, key, opened_set, ready_state, result_for, run_request, tiny_data};

#[test]
fn loading_progress_then_ready() {
    let mut s = State::new(Header::default(), KeyMap::default());
    assert_eq!(
        update(&mut s, Msg::Tick),
        vec![Effect::Render],
        "spinner animates while loading"
    );
    update(
        &mut s,
        Msg::Worker(WorkerEvent::Progress {
            stage: "encoding items".into(),
            done: 3,
            total: 8,
        }),
    );
    assert_eq!(
        s.load,
        LoadPhase::Loading {
            stage: "encoding items".into(),
            done: 3,
            total: 8
        }
    );
    // Running before the model is there only says so.
    s.editor.history = tiny_data().test[0].history.clone();
    assert!(run_request(&key(&mut s, 'r')).is_none());
    assert!(s.status.contains("loading"));
    update(
        &mut s,
        Msg::Worker(WorkerEvent::ModelReady {
            model: "m".into(),
            device: "CPU".into(),
            table: "t".into(),
        }),
    );
    assert!(s.model_ready());
    assert_eq!(s.header.device, "CPU");
    assert!(
        update(&mut s, Msg::Tick).is_empty(),
        "nothing moves: no frame"
    );
    update(
        &mut s,
        Msg::Worker(WorkerEvent::LoadFailed("no file".into())),
    );
    assert_eq!(s.load, LoadPhase::Failed("no file".into()));
}

#[test]
fn picker_filters_search_and_pick() {
    let mut s = ready_state();
    assert_eq!(s.picker.matches, vec![0, 1, 2]);
    key(&mut s, 'c'); // cold targets only: items with < 5 training interactions
    assert_eq!(s.picker.cold, ColdFilter::Cold);
    assert_eq!(s.picker.matches, vec![1, 2]);
    key(&mut s, 'c');
    assert_eq!(s.picker.matches, vec![0]);
    key(&mut s, 'x');
    key(&mut s, 'l');
    assert_eq!(s.picker.length, LengthFilter::Short);
    assert_eq!(s.picker.matches, vec![0, 1]);
    key(&mut s, 'x');
    key(&mut s, '/');
    for c in "aliens".chars() {
        key(&mut s, c);
    }
    assert!(s.picker.searching);
    assert_eq!(s.picker.matches, vec![2], "the target's title matches");
    // While searching, `q` is text, not quit.
    code(&mut s, KeyCode::Esc);
    assert!(!s.quit && s.picker.query.is_empty());
    key(&mut s, '/');
    key(&mut s, '8');
    code(&mut s, KeyCode::Enter);
    assert_eq!(s.picker.matches, vec![1], "a user id matches");
    key(&mut s, 'x');
    key(&mut s, 'j');
    key(&mut s, 'j');
    key(&mut s, 'j');
    assert_eq!(s.picker.selected, 2, "selection stops at the end");
    key(&mut s, 's');
    assert_eq!(s.picker.split, crate::data::prepared::Split::Train);
    assert_eq!(s.picker.matches.len(), 5);
    key(&mut s, 's');
    key(&mut s, 's');
    key(&mut s, 'j');
    code(&mut s, KeyCode::Enter);
    assert_eq!(s.screen, Screen::Editor);
    assert_eq!(s.editor.history, tiny_data().test[1].history);
    assert_eq!(s.editor.target.as_ref().unwrap().item_id, "4");
    assert_eq!(s.editor.now, tiny_data().test[1].target.timestamp);
}

#[test]
fn editor_add_remove_move_rate_and_save() {
    let mut s = ready_state();
    code(&mut s, KeyCode::Enter); // test #0: items 1, 2, 3
    key(&mut s, 'a');
    for c in "godfii".chars() {
        key(&mut s, c);
    }
    let EditorMode::Add { hits, .. } = &s.editor.mode else {
        panic!("add mode")
    };
    assert_eq!(hits, &vec![5], "fuzzy match on 'Godfather: Part II'");
    code(&mut s, KeyCode::Enter);
    let ids: Vec<&str> = s
        .editor
        .history
        .iter()
        .map(|h| h.item_id.as_str())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "5"]);
    assert!(s.editor.edited);
    let times: Vec<i64> = s.editor.history.iter().map(|h| h.timestamp).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "added after the last item"
    );
    assert!(s.editor.now >= times[3]);
    // Moving swaps items but keeps time slots.
    update(
        &mut s,
        Msg::Key(KeyInput {
            code: KeyCode::Up,
            mods: KeyModifiers::SHIFT,
        }),
    );
    let ids: Vec<&str> = s
        .editor
        .history
        .iter()
        .map(|h| h.item_id.as_str())
        .collect();
    assert_eq!(ids, ["1", "2", "5", "3"]);
    assert_eq!(
        s.editor
            .history
            .iter()
            .map(|h| h.timestamp)
            .collect::<Vec<_>>(),
        times
    );
    assert_eq!(s.editor.selected, 2);
    for _ in 0..3 {
        key(&mut s, '+');
    }
    assert_eq!(s.editor.history[2].rating, 5.0, "ratings stop at 5");
    key(&mut s, ']');
    assert_eq!(s.editor.history[2].timestamp, times[2] + 86_400);
    key(&mut s, 'd');
    assert_eq!(s.editor.history.len(), 3);
    key(&mut s, 'w');
    assert_eq!(
        s.editor.mode,
        EditorMode::Save {
            name: "user7-3".into()
        }
    );
    key(&mut s, 'x');
    let out = code(&mut s, KeyCode::Enter);
    let saved = out.iter().find_map(|e| match e {
        Effect::SaveSession { name, file } => Some((name.clone(), file.clone())),
        _ => None,
    });
    let (name, file) = saved.expect("a save effect");
    assert_eq!(name, "user7-3x");
    assert_eq!(file.history, s.editor.history);
    update(
        &mut s,
        Msg::SessionSaved(Ok("sessions/user7-3x.json".into())),
    );
    assert!(s.status.contains("saved"));
    // Opening lists sessions, then opens the chosen one.
    assert_eq!(key(&mut s, 'o'), vec![Effect::ListSessions, Effect::Render]);
    update(&mut s, Msg::SessionList(vec!["sessions/a.json".into()]));
    let out = code(&mut s, KeyCode::Enter);
    assert!(out.contains(&Effect::OpenSession("sessions/a.json".into())));
    update(
        &mut s,
        Msg::SessionOpened(Ok(("sessions/a.json".into(), file))),
    );
    assert_eq!(s.editor.source, "sessions/a.json");
    assert!(!s.editor.edited);
}

#[test]
fn run_streams_finishes_and_keeps_the_previous_result() {
    let mut s = ready_state();
    code(&mut s, KeyCode::Enter);
    let req = run_request(&key(&mut s, 'r')).expect("run effect");
    assert_eq!(req.history, tiny_data().test[0].history);
    assert_eq!(req.group, None);
    assert_eq!(s.screen, Screen::Run);
    assert!(
        run_request(&key(&mut s, 'r')).is_none(),
        "one run at a time"
    );
    let id = req.id;
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunStarted {
            id,
            prompt: "<|im_start|>user".into(),
            notice: None,
        }),
    );
    assert!(s.run.prompt_view.is_some());
    update(
        &mut s,
        Msg::Worker(WorkerEvent::Prefill {
            id,
            secs: 0.5,
            prompt_tokens: 40,
        }),
    );
    for (i, p) in ["The user ", "likes ", "drama."].iter().enumerate() {
        update(
            &mut s,
            Msg::Worker(WorkerEvent::Text {
                id,
                sample: 0,
                piece: p.to_string(),
                elapsed: 0.5 + 0.1 * (i + 1) as f64,
            }),
        );
    }
    assert_eq!(
        s.run.live.as_ref().unwrap().texts[0],
        "The user likes drama."
    );
    let sp = s.run.speed.unwrap();
    assert!(sp.live && (sp.first_token_secs - 0.5).abs() < 1e-9);
    assert!((sp.tokens_per_sec - 2.0 / 0.3).abs() < 1e-6, "{sp:?}");
    // A stale run's text is dropped.
    update(
        &mut s,
        Msg::Worker(WorkerEvent::Text {
            id: id + 7,
            sample: 0,
            piece: "x".into(),
            elapsed: 1.0,
        }),
    );
    assert_eq!(
        s.run.live.as_ref().unwrap().texts[0],
        "The user likes drama."
    );
    let res = result_for(&req, "Star Wars", "The user likes drama.");
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunDone {
            id,
            result: Box::new(res),
        }),
    );
    assert!(s.run.live.is_none());
    assert_eq!(s.run.last.as_ref().unwrap().ranking.target_rank, Some(1));
    assert!(s.status.contains("target ranked 1"));
    assert!(s.run.record_view.is_some());
    // A counterfactual: edit, run again; the first result becomes `previous`.
    key(&mut s, '2');
    key(&mut s, 'd');
    let req2 = run_request(&key(&mut s, 'r')).unwrap();
    assert_eq!(req2.history.len(), 2);
    let res2 = result_for(&req2, "Fargo", "");
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunDone {
            id: req2.id,
            result: Box::new(res2),
        }),
    );
    assert_eq!(s.run.previous.as_ref().unwrap().request.id, id);
    key(&mut s, '5');
    key(&mut s, 'v');
    assert_eq!(s.run.compare, run::CompareMode::Previous);
}

#[test]
fn cancel_quit_help_and_sampling() {
    let mut s = ready_state();
    code(&mut s, KeyCode::Enter);
    let req = run_request(&key(&mut s, 'R')).unwrap();
    assert_eq!(req.group, Some(4));
    assert_eq!(s.screen, Screen::Group);
    assert!(code(&mut s, KeyCode::Esc).contains(&Effect::Cancel));
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunCancelled { id: req.id }),
    );
    assert!(s.run.live.is_none());
    assert_eq!(s.status, "cancelled after 0 tokens (test #0, user 7)");
    assert_eq!(s.run.cancelled.as_ref().unwrap().group, Some(4));
    key(&mut s, '?');
    assert!(s.help);
    code(&mut s, KeyCode::Esc);
    assert!(!s.help);
    key(&mut s, 't');
    key(&mut s, 't');
    key(&mut s, 'p');
    assert_eq!(s.sampling.temperature, 0.7);
    assert_eq!(s.sampling.top_k, Some(10));
    assert_eq!(run::describe(&s.sampling), "T=0.7 top-k 10 seed 0");
    // On the Group screen the status bar names the group's sampling.
    assert_eq!(
        run::sampling_label(&s),
        "group T=0.7 top-k 10 seed 0 · budget 640"
    );
    key(&mut s, 'T');
    assert_eq!(s.sampling.temperature, 0.3);
    let req = run_request(&key(&mut s, 'r')).unwrap();
    assert_eq!(req.sampling.temperature, 0.3);
    assert_eq!(
        key(&mut s, 'q'),
        vec![Effect::Cancel, Effect::Quit, Effect::Render]
    );
    assert!(s.quit);
}

#[test]
fn tab_cycles_screens_and_scroll_moves() {
    let mut s = ready_state();
    code(&mut s, KeyCode::BackTab);
    assert_eq!(s.screen, Screen::Annotate);
    code(&mut s, KeyCode::Tab);
    assert_eq!(s.screen, Screen::Picker);
    update(
        &mut s,
        Msg::Scroll {
            up: false,
            column: 3,
            row: 5,
        },
    );
    assert_eq!(s.picker.selected, 1);
    key(&mut s, '3');
    update(
        &mut s,
        Msg::Scroll {
            up: true,
            column: 3,
            row: 5,
        },
    );
    assert_eq!(s.run.scroll_back, 1);
}

#[test]
fn a_cut_history_is_told_in_the_status_bar() {
    let mut s = ready_state();
    code(&mut s, KeyCode::Enter);
    let req = run_request(&key(&mut s, 'r')).expect("run effect");
    let note = "history of 200 items: the prompt shows the last 20 (the history window)";
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunStarted {
            id: req.id,
            prompt: "<|im_start|>user".into(),
            notice: Some(note.into()),
        }),
    );
    assert!(s.status.ends_with(note), "{}", s.status);
    assert_eq!(s.run.notice.as_deref(), Some(note));
}

#[test]
fn a_crashed_model_thread_stops_the_run_and_says_why() {
    let mut s = ready_state();
    code(&mut s, KeyCode::Enter);
    run_request(&key(&mut s, 'r')).expect("run effect");
    assert!(s.run.live.is_some());
    update(
        &mut s,
        Msg::Worker(WorkerEvent::Crashed(
            "index out of bounds at src/x.rs:1".into(),
        )),
    );
    assert!(s.run.live.is_none(), "the run no longer waits");
    assert!(s
        .status
        .starts_with("the model thread stopped: index out of bounds"));
    assert!(matches!(s.load, LoadPhase::Failed(_)));
    // Still usable: a new run is refused with a reason, quitting works.
    assert!(run_request(&key(&mut s, 'r')).is_none());
    assert!(key(&mut s, 'q').contains(&Effect::Quit));
}

#[test]
fn a_signal_quits_like_q() {
    let mut s = ready_state();
    let out = update(&mut s, Msg::Signal(15));
    assert!(s.quit);
    assert!(out.contains(&Effect::Quit));
}

#[test]
fn r_on_examples_runs_the_highlighted_example() {
    let mut s = ready_state();
    assert_eq!(s.screen, Screen::Picker);
    assert!(s.editor.history.is_empty(), "nothing picked yet");
    key(&mut s, 'j');
    let req = run_request(&key(&mut s, 'r')).expect("r runs the highlighted example");
    let ex = &tiny_data().test[1];
    assert_eq!(req.history, ex.history);
    assert_eq!(req.target.as_ref(), Some(&ex.target));
    assert_eq!(req.now, ex.target.timestamp);
    assert_eq!(req.group, None);
    assert_eq!(req.source, "test #1, user 8");
    assert_eq!(s.screen, Screen::Run);
    assert!(
        s.status.starts_with("reasoning… (test #1, user 8)"),
        "{}",
        s.status
    );
    // The editor holds what ran, so it can be edited and run again.
    assert_eq!(s.editor.history, ex.history);
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunCancelled { id: req.id }),
    );
    // R samples a group of the highlighted example; enter still opens it for editing.
    key(&mut s, '1');
    key(&mut s, 'j');
    let req = run_request(&key(&mut s, 'R')).unwrap();
    assert_eq!(req.history, tiny_data().test[2].history);
    assert_eq!(req.group, Some(4));
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunCancelled { id: req.id }),
    );
    key(&mut s, '1');
    key(&mut s, 'k');
    assert!(run_request(&code(&mut s, KeyCode::Enter)).is_none());
    assert_eq!(s.screen, Screen::Editor);
    assert_eq!(s.editor.history, tiny_data().test[1].history);
    // With no example passing the filters, r says why.
    key(&mut s, '1');
    key(&mut s, '/');
    for c in "zzz".chars() {
        key(&mut s, c);
    }
    code(&mut s, KeyCode::Enter);
    assert!(run_request(&key(&mut s, 'r')).is_none());
    assert!(
        s.status.contains("no example passes the filters"),
        "{}",
        s.status
    );
}

#[test]
fn a_digit_on_annotate_never_both_switches_and_tags() {
    let mut s = ready_state();
    s.annotate.annotator = "ann".into();
    key(&mut s, '0');
    assert_eq!(s.screen, Screen::Annotate, "0 is screen 10");
    // The chooser: a digit neither tags nor switches.
    key(&mut s, '3');
    assert_eq!(s.screen, Screen::Annotate);
    assert_eq!(
        s.status,
        "3: open a set first; F1-F10 or tab switch screens"
    );
    update(&mut s, Msg::AnnotationSetOpened(Ok(opened_set())));
    for d in ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0'] {
        let before = s.annotate.draft.clone();
        let out = key(&mut s, d);
        assert_eq!(s.screen, Screen::Annotate, "{d} switched screens");
        assert!(!out.contains(&Effect::ListAnnotationSets) && !out.contains(&Effect::LoadRuns));
        let toggled = s.annotate.draft != before;
        match crate::annotate::Behaviour::from_key(d) {
            Some(b) => {
                assert!(toggled, "{d} tags");
                assert_eq!(s.annotate.draft.contains(&b), !before.contains(&b));
            }
            None => {
                assert!(!toggled, "{d} tagged");
                assert_eq!(
                    s.status,
                    format!("{d}: no behaviour; F1-F10 or tab switch screens")
                );
            }
        }
    }
    // F-keys and alt-digits switch without tagging; tab too.
    let draft = s.annotate.draft.clone();
    code(&mut s, KeyCode::F(3));
    assert_eq!(s.screen, Screen::Run);
    code(&mut s, KeyCode::F(10));
    assert_eq!(s.screen, Screen::Annotate);
    update(
        &mut s,
        Msg::Key(KeyInput {
            code: KeyCode::Char('8'),
            mods: KeyModifiers::ALT,
        }),
    );
    assert_eq!(s.screen, Screen::Training);
    assert_eq!(s.annotate.draft, draft, "switching never tags");
    // Elsewhere digits switch screens as before.
    key(&mut s, '3');
    assert_eq!(s.screen, Screen::Run);
}

#[test]
fn the_reasoning_budget_is_a_setting_like_temperature() {
    let mut s = ready_state();
    s.sampling.max_new_tokens = 48;
    key(&mut s, '>');
    assert_eq!(s.sampling.max_new_tokens, 64);
    assert_eq!(s.status, "reasoning budget: 64 tokens (from the next run)");
    key(&mut s, '<');
    key(&mut s, '<');
    assert_eq!(s.sampling.max_new_tokens, 32);
    // A budget off the list steps to its neighbours; the ends stay.
    assert_eq!(run::step_budget(50, true), 64);
    assert_eq!(run::step_budget(50, false), 48);
    assert_eq!(run::step_budget(8, false), 8);
    assert_eq!(run::step_budget(1024, true), 1024);
    let req = run_request(&key(&mut s, 'r')).unwrap();
    assert_eq!(req.sampling.max_new_tokens, 32);
    assert_eq!(run::sampling_label(&s), "greedy · budget 32");
}

#[test]
fn the_group_is_sampled_and_labelled_as_the_status_bar_says() {
    let mut s = ready_state();
    assert_eq!(run::sampling_label(&s), "greedy · budget 640");
    let req = run_request(&key(&mut s, 'R')).unwrap();
    // Greedy chains would all be equal: the group samples as RecPO's rollouts do.
    assert_eq!(
        (req.sampling.temperature, req.sampling.top_k),
        (2.0, Some(50))
    );
    assert_eq!(s.screen, Screen::Group);
    assert_eq!(
        run::sampling_label(&s),
        "group T=2 top-k 50 seed 0 · budget 640"
    );
    assert_eq!(run::describe(&req.sampling), "T=2 top-k 50 seed 0");
    // A sampled setting is kept as it is.
    let mut t = s.sampling;
    t.temperature = 0.7;
    assert_eq!(run::group_settings(&t), t);
}

#[test]
fn stale_status_messages_expire_but_not_while_a_run_is_under_way() {
    let mut s = ready_state();
    s.status = "saved sessions/a.json".into();
    for _ in 0..STATUS_TICKS {
        update(&mut s, Msg::Tick);
    }
    assert_eq!(s.status, "saved sessions/a.json", "not stale yet");
    let out = update(&mut s, Msg::Tick);
    assert!(s.status.is_empty());
    assert!(out.contains(&Effect::Render), "the cleared line is drawn");
    let req = run_request(&key(&mut s, 'r')).unwrap();
    for _ in 0..2 * STATUS_TICKS {
        update(&mut s, Msg::Tick);
    }
    assert!(s.status.starts_with("reasoning…"), "{}", s.status);
    update(
        &mut s,
        Msg::Worker(WorkerEvent::RunCancelled { id: req.id }),
    );
    assert!(s.status.starts_with("cancelled after 0 tokens"));
}

#[test]
fn live_rankings_of_the_current_run_only() {
    let mut s = ready_state();
    let req = run_request(&key(&mut s, 'r')).unwrap();
    let r = result_for(&req, "Fargo", "").ranking;
    update(
        &mut s,
        Msg::Worker(WorkerEvent::LiveRanking {
            id: req.id + 1,
            steps: 3,
            ranking: Box::new(r.clone()),
        }),
    );
    assert!(
        s.run.live.as_ref().unwrap().ranking.is_none(),
        "another run's"
    );
    update(
        &mut s,
        Msg::Worker(WorkerEvent::LiveRanking {
            id: req.id,
            steps: 3,
            ranking: Box::new(r),
        }),
    );
    let (steps, ranking) = s.run.live.as_ref().unwrap().ranking.as_ref().unwrap();
    assert_eq!(*steps, 3);
    assert_eq!(ranking.top[0].title, "Fargo");
}

#[test]
fn accept_with_no_suggestions_and_saved_tags_say_so() {
    let mut s = ready_state();
    s.annotate.annotator = "ann".into();
    key(&mut s, '0');
    update(&mut s, Msg::AnnotationSetOpened(Ok(opened_set())));
    // ex1 has no suggestion in the fixture.
    assert_eq!(s.annotate.chain().unwrap().id, "ex1");
    code(&mut s, KeyCode::Char('A'));
    assert!(s.annotate.draft.is_empty());
    assert!(
        s.status.starts_with("no suggestions for this chain"),
        "{}",
        s.status
    );
    code(&mut s, KeyCode::Up);
    code(&mut s, KeyCode::Char('A'));
    assert_eq!(s.status, "the suggested tags are ticked already");
    key(&mut s, '1');
    code(&mut s, KeyCode::Char('A'));
    assert_eq!(s.status, "the suggested tags are ticked already");
    let rec = crate::annotate::Record {
        chain: "ex0".into(),
        tags: vec![crate::annotate::Behaviour::Temporal],
        spans: vec![],
        note: String::new(),
        skipped: false,
        time: 1,
    };
    update(&mut s, Msg::TagSaved(Ok(rec.clone())));
    assert_eq!(s.status, "saved ex0 (1 tag)");
    update(
        &mut s,
        Msg::TagSaved(Ok(crate::annotate::Record {
            skipped: true,
            tags: vec![],
            ..rec
        })),
    );
    assert_eq!(s.status, "saved ex0 (skipped)");
}

#[test]
fn training_opens_on_reward_then_the_valid_probe() {
    use crate::tui::msg::{LoadedRun, RunsSnapshot};
    let run = |fields: &[&str]| LoadedRun {
        series: crate::plot::RunSeries {
            name: "r".into(),
            dir: "r".into(),
            series: fields
                .iter()
                .map(|f| (f.to_string(), vec![(1.0, 0.5), (2.0, 0.6)]))
                .collect(),
        },
        lengths: vec![],
        rollouts: vec![],
    };
    let mut s = ready_state();
    key(&mut s, '8');
    let snap = |fields: &[&str]| RunsSnapshot {
        runs: vec![run(fields)],
        ..Default::default()
    };
    update(
        &mut s,
        Msg::RunsLoaded(snap(&["advantage", "loss", "reward", "valid ndcg@10"])),
    );
    assert_eq!(s.training.field_name().as_deref(), Some("reward"));
    assert_eq!(
        s.training.fields(),
        ["reward", "advantage", "loss", "valid ndcg@10"]
    );
    key(&mut s, 'j');
    assert_eq!(s.training.field_name().as_deref(), Some("advantage"));
    // The valid probe logged later comes second (its N@10 first), and the chart shown
    // stays where it was.
    update(
        &mut s,
        Msg::RunsLoaded(snap(&[
            "advantage",
            "loss",
            "probe_mrr",
            "probe_n",
            "probe_ndcg@10",
            "probe_secs",
            "reward",
        ])),
    );
    assert_eq!(
        s.training.fields(),
        [
            "reward",
            "probe_ndcg@10",
            "probe_mrr",
            "advantage",
            "loss",
            "probe_n",
            "probe_secs"
        ]
    );
    assert_eq!(s.training.field_name().as_deref(), Some("advantage"));
    key(&mut s, 'k');
    key(&mut s, 'k');
    assert_eq!(s.training.field_name().as_deref(), Some("probe_ndcg@10"));
    // Steps on the axis are whole, with a whole middle step.
    assert_eq!(s.training.step_range(1.0, 24.0), (1.0, 25.0));
    assert_eq!(s.training.step_range(0.0, 24.0), (0.0, 24.0));
}
