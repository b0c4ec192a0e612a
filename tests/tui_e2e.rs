//! The TUI end to end: the real binary in a tmux pane with the real SmolLM2 model on the
//! tiny MovieLens fixture. Picks a test example, runs it, sees the reasoning stream and
//! a ranked list, saves the history to sessions/, quits, and checks the terminal is
//! restored. Skipped with a notice when tmux or the model is missing.

mod support;

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use support::model::real_model;

fn have_tmux() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: tmux is not installed");
    }
    ok
}

/// A tmux session killed when dropped, so a failing test leaves nothing running.
struct Pane {
    name: String,
}

impl Pane {
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn capture(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.name])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Poll the pane until `pred` holds; panics with the last screen after `secs`.
    fn wait(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .output();
    }
}

#[test]
fn pick_run_stream_rank_save_quit() {
    let Some(model) = real_model() else { return };
    if !have_tmux() {
        return;
    }
    let home = support::home::tiny_with_model(&model);
    let lat = home.path().join("latency.tsv");
    let bin = support::bin::R2EC;
    let script = format!(
        "R2EC_HOME='{}' '{bin}' tui --max-new-tokens 24 --latency-log '{}'; echo R2EC_EXIT=$?; sleep 120",
        home.path().display(),
        lat.display()
    );
    let pane = Pane {
        name: format!("r2ec-e2e-{}", std::process::id()),
    };
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &pane.name,
            "-x",
            "140",
            "-y",
            "40",
            "sh",
            "-c",
            &script,
        ])
        .status()
        .expect("tmux starts");
    assert!(started.success());

    // Loading happens in the background: the header says so, then names the device.
    pane.wait("the model to load", 300, |s| {
        s.contains("device: CPU") && !s.contains("(loading)")
    });
    let s = pane.wait("the test examples", 10, |s| s.contains("test · 1 of 1"));
    assert!(s.contains("adapter: none (base model)"), "{s}");
    pane.keys(&["Enter"]);
    pane.wait("the history editor", 10, |s| {
        s.contains("History · test #0")
    });
    pane.keys(&["r"]);
    // While the model writes, keys still move between screens.
    let streaming = pane.wait("the reasoning to stream", 120, |s| {
        s.contains("reasoning…") && s.contains(" tok ·") && !s.contains(" 0 tok ·")
    });
    assert!(streaming.contains("TTFT"), "{streaming}");
    pane.keys(&["Tab"]);
    pane.wait("the rank trace screen", 10, |s| s.contains("Rank trace"));
    pane.keys(&["3"]);
    let done = pane.wait("a ranked list", 300, |s| s.contains("Ranking · target at"));
    assert!(done.contains("   1. "), "{done}");
    assert!(done.contains("masked (history"), "{done}");
    assert!(done.contains("tok/s"), "{done}");
    // Save the history to sessions/.
    pane.keys(&["2", "w"]);
    pane.wait("the save box", 10, |s| s.contains("Save to sessions/"));
    pane.keys(&["Enter"]);
    pane.wait("the saved notice", 10, |s| s.contains("saved "));
    let saved: Vec<_> = fs::read_dir(home.path().join("sessions"))
        .unwrap()
        .collect();
    assert_eq!(saved.len(), 1);

    pane.keys(&["q"]);
    let after = pane.wait("the app to exit", 30, |s| s.contains("R2EC_EXIT="));
    assert!(after.contains("R2EC_EXIT=0"), "{after}");
    assert!(
        !after.contains("Ranking ·"),
        "the alternate screen is gone:\n{after}"
    );
    let alt = pane.tmux(&["display-message", "-p", "-t", &pane.name, "#{alternate_on}"]);
    assert_eq!(alt.trim(), "0", "terminal left in the alternate screen");
    let latencies = fs::read_to_string(&lat).unwrap();
    assert!(
        latencies.lines().any(|l| l.ends_with("generating")),
        "{latencies}"
    );
}
