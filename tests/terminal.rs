//! The terminal is restored however the TUI ends: SIGTERM, SIGINT, a panic of the UI
//! thread, and a panic of the model thread (shown in the UI, which stays usable). The
//! real binary runs on a pseudo-terminal; the test reads the pty's settings before and
//! after (raw mode must be undone: canonical input and echo back on) and the bytes the
//! TUI wrote (the alternate screen must be left).
//!
//! The model path is deliberately missing: the model thread fails to load and the UI
//! keeps running, so these tests need no model and run everywhere.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};
use nix::sys::signal::{kill, Signal};
use nix::sys::termios::{tcgetattr, LocalFlags};
use nix::unistd::Pid;

const ENTER_ALT: &[u8] = b"\x1b[?1049h";
const LEAVE_ALT: &[u8] = b"\x1b[?1049l";

struct Tui {
    child: Child,
    slave: OwnedFd,
    master: fs::File,
    output: Receiver<Vec<u8>>,
    seen: Vec<u8>,
    answered: usize,
    _home: tempfile::TempDir,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl Tui {
    fn start(test_panic: Option<&str>) -> Self {
        // Prepare the data set first: `r2ec tui` would print its progress to the pty.
        let home = support::home::tiny_prepared(None);
        let size = Winsize {
            ws_row: 40,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).unwrap();
        // Checked before the TUI starts: once it runs, it may switch to raw mode at any
        // moment, and the check would race it.
        let t = tcgetattr(&pty.slave).unwrap();
        assert!(
            t.local_flags
                .contains(LocalFlags::ICANON | LocalFlags::ECHO),
            "the pty starts in canonical mode with echo"
        );
        let missing = home.path().join("no-such-model.gguf");
        let mut cmd = support::bin::cmd(
            home.path(),
            ["tui", "--base", "--annotator", "tester", "--model"],
        );
        cmd.arg(&missing)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::piped());
        match test_panic {
            Some(v) => cmd.env("R2EC_TEST_PANIC", v),
            None => cmd.env_remove("R2EC_TEST_PANIC"),
        };
        let child = cmd.spawn().unwrap();
        let master = fs::File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let (tx, output) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut tui = Self {
            child,
            slave: pty.slave,
            master,
            output,
            seen: Vec::new(),
            answered: 0,
            _home: home,
        };
        tui.wait_for(ENTER_ALT);
        tui
    }

    /// Canonical input and echo: the settings raw mode turns off.
    fn canonical(&self) -> bool {
        let t = tcgetattr(&self.slave).unwrap();
        t.local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO)
    }

    fn pump(&mut self, wait: Duration) {
        if let Ok(chunk) = self.output.recv_timeout(wait) {
            self.seen.extend(chunk);
        }
        while let Ok(chunk) = self.output.try_recv() {
            self.seen.extend(chunk);
        }
        // Answer cursor-position queries as a terminal would (top-left corner).
        let asked = self.seen.windows(4).filter(|w| w == b"\x1b[6n").count();
        while self.answered < asked {
            self.key(b"\x1b[1;1R");
            self.answered += 1;
        }
    }

    fn wait_for(&mut self, needle: &[u8]) {
        let start = Instant::now();
        while !contains(&self.seen, needle) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "waited 60 s for {:?}; the TUI wrote {} bytes: {}",
                String::from_utf8_lossy(needle),
                self.seen.len(),
                String::from_utf8_lossy(&self.seen)
            );
            self.pump(Duration::from_millis(100));
        }
    }

    fn key(&mut self, k: &[u8]) {
        self.master.write_all(k).unwrap();
        self.master.flush().unwrap();
    }

    /// Exit status code (None if killed by a signal) and stderr.
    fn finish(mut self) -> (Option<i32>, String, Tui) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the TUI did not exit within 30 s"
            );
            self.pump(Duration::from_millis(50));
        };
        // Whatever was written before the exit is in the pty buffer by now.
        self.pump(Duration::from_millis(200));
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code(), err, self)
    }

    fn assert_restored(&self) {
        assert!(
            self.canonical(),
            "raw mode was left on (no canonical input or no echo)"
        );
        let last_enter = self
            .seen
            .windows(ENTER_ALT.len())
            .rposition(|w| w == ENTER_ALT);
        let last_leave = self
            .seen
            .windows(LEAVE_ALT.len())
            .rposition(|w| w == LEAVE_ALT);
        assert!(
            matches!((last_enter, last_leave), (Some(e), Some(l)) if l > e),
            "the alternate screen was not left"
        );
    }
}

fn signal_restores(sig: Signal) {
    let mut tui = Tui::start(None);
    // Let it draw a frame and report the (missing) model first.
    tui.wait_for(b"loading failed");
    kill(Pid::from_raw(tui.child.id() as i32), sig).unwrap();
    let (code, err, tui) = tui.finish();
    assert_eq!(code, Some(128 + sig as i32), "stderr: {err}");
    assert!(err.contains("terminal restored"), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    tui.assert_restored();
}

#[test]
fn sigterm_restores_the_terminal() {
    signal_restores(Signal::SIGTERM);
}

#[test]
fn sigint_restores_the_terminal() {
    signal_restores(Signal::SIGINT);
}

#[test]
fn a_panic_of_the_ui_thread_restores_the_terminal() {
    let mut tui = Tui::start(Some("ui"));
    tui.wait_for(b"loading failed");
    tui.key(b"x");
    let (code, err, tui) = tui.finish();
    assert_eq!(
        code,
        Some(101),
        "a panic exits with Rust's panic status; {err}"
    );
    assert!(err.contains("test panic in the UI thread"), "stderr: {err}");
    tui.assert_restored();
}

#[test]
fn a_panic_of_the_model_thread_shows_in_the_ui_which_stays_usable() {
    let mut tui = Tui::start(Some("worker"));
    tui.wait_for(b"the model thread stopped: test panic in the model thread");
    // The UI still answers keys: open the help, then quit.
    tui.key(b"?");
    tui.pump(Duration::from_millis(300));
    tui.key(b"q");
    let (code, err, tui) = tui.finish();
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(
        err.contains("the model thread panicked during the session: test panic"),
        "stderr: {err}"
    );
    tui.assert_restored();
}
