//! Transitions of the state machine, driven by messages alone.

use crossterm::event::{KeyCode, KeyModifiers};

use super::editor::EditorMode;
use super::picker::{ColdFilter, LengthFilter};
use super::*;
use crate::tui::msg::KeyInput;
use crate::tui::testing::{code, key, ready_state, result_for, run_request, tiny_data};

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
    assert!(s.run.live.is_none() && s.status == "cancelled");
    key(&mut s, '?');
    assert!(s.help);
    code(&mut s, KeyCode::Esc);
    assert!(!s.help);
    key(&mut s, 't');
    key(&mut s, 't');
    key(&mut s, 'p');
    assert_eq!(s.sampling.temperature, 0.7);
    assert_eq!(s.sampling.top_k, Some(10));
    assert_eq!(run::sampling_label(&s), "T=0.7 top-k 10 seed 0");
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
