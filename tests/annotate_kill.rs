//! The annotation store against a real `kill -9`: `r2ec annotate tag` is fed tags and
//! killed at a random moment, many times; every tag it confirmed before the kill is in
//! the log afterwards, the log still reads, and tagging resumes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use r2ec::annotate::{store::read_log, Behaviour};

fn r2ec(root: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_r2ec"));
    c.current_dir(root).env("R2EC_HOME", root);
    c
}

#[test]
fn confirmed_tags_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let examples = root.join("examples.jsonl");
    let lines: String = (0..200)
        .map(|i| format!("{{\"index\":{i},\"reasoning\":\"chain number {i}, recently watched\",\"rank\":{}}}\n", i + 1))
        .collect();
    std::fs::write(&examples, lines).unwrap();
    let out = r2ec(root)
        .args(["annotate", "open", "--name", "kill", "--from"])
        .arg(&examples)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = root.join("sessions/annotations/kill/ann.jsonl");
    // Per chain, the feed number k of its last confirmed tag line.
    let mut confirmed: std::collections::BTreeMap<String, usize> = Default::default();
    let mut next = 0usize;
    for round in 0..8u64 {
        let mut child = r2ec(root)
            .args(["annotate", "tag", "--set", "kill", "--annotator", "ann"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        // A feeder thread writes tags as fast as the pipe takes them; the kill lands
        // between, or in the middle of, saves.
        let start = next;
        let feeder = std::thread::spawn(move || {
            for k in start..start + 400 {
                let keys = ["1", "2,4", "-", "357", "6"][k % 5];
                if writeln!(stdin, "ex{} {keys} note {k}", k % 200).is_err() {
                    break;
                }
            }
        });
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for l in BufReader::new(stdout).lines() {
                match l {
                    Ok(l) => acks.push(l),
                    Err(_) => break,
                }
            }
            acks
        });
        // Pseudo-random kill time, 20..120 ms, different each round.
        let wait = 20 + (round * 37 + 11) % 100;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(wait) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let pid = child.id().to_string();
        Command::new("kill").args(["-9", &pid]).status().unwrap();
        let _ = child.wait();
        let acks = reader.join().unwrap();
        let _ = feeder.join();
        for (j, a) in acks.iter().enumerate() {
            let k = start + j;
            assert_eq!(a, &format!("saved ex{}", k % 200), "acks come in order");
            confirmed.insert(format!("ex{}", k % 200), k);
        }
        // A save whose ack was not yet read when the kill came is in the log too: the
        // next round goes on after it.
        let latest = read_log(&log).unwrap();
        next = latest
            .values()
            .filter_map(|r| r.note.strip_prefix("note ")?.parse::<usize>().ok())
            .max()
            .map_or(next, |k| k + 1)
            .max(start + acks.len());
        // After every kill the log reads, and holds for each confirmed chain its last
        // confirmed tags, or a later line's (saved just before the kill, not yet acked).
        for (c, &k) in &confirmed {
            let got = latest
                .get(c)
                .unwrap_or_else(|| panic!("round {round}: confirmed {c} lost"));
            let kk: usize = got
                .note
                .strip_prefix("note ")
                .and_then(|n| n.parse().ok())
                .unwrap();
            assert!(
                kk >= k,
                "round {round}: {c} went back from line {k} to {kk}"
            );
            assert!(
                kk < next,
                "round {round}: {c} holds line {kk} that was never sent"
            );
            let want: Vec<Behaviour> = {
                let mut t: Vec<Behaviour> = ["1", "2,4", "-", "357", "6"][kk % 5]
                    .chars()
                    .filter_map(Behaviour::from_key)
                    .collect();
                t.sort();
                t
            };
            assert_eq!(got.tags, want, "round {round}: {c}");
        }
    }
    assert!(next > 0, "no tag was ever confirmed");
    // The kills must have landed mid-stream, not after the feed ran dry.
    assert!(next < 8 * 400, "every round finished before its kill");
    eprintln!("{} tag lines confirmed or saved over 8 kills", next);
    // Resuming after the kills: tagging goes on and the stats read the log.
    let mut child = r2ec(root)
        .args(["annotate", "tag", "--set", "kill", "--annotator", "ann"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "ex199 7 last").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "saved ex199");
    let stats = r2ec(root)
        .args(["annotate", "stats", "--set", "kill"])
        .output()
        .unwrap();
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    assert!(String::from_utf8_lossy(&stats.stdout).contains("temporal reasoning"));
}
