//! Running pip: `python3 -m pip download --no-deps -d <cache> name==version`, with pip's
//! output streamed line by line as progress and its last lines kept for the error.
//! The interpreter is `$R2EC_PYTHON`, else `python3`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use super::assets::Package;
use super::error::{ByHand, SetupError};

/// How many of pip's last lines an error shows.
const TAIL_LINES: usize = 12;

/// A Python interpreter expected to have pip.
#[derive(Debug, Clone)]
pub struct Pip {
    python: OsString,
}

impl Pip {
    pub fn new(python: impl Into<OsString>) -> Self {
        Self {
            python: python.into(),
        }
    }

    /// `$R2EC_PYTHON` when set and not empty, else `python3`.
    pub fn from_env() -> Self {
        match std::env::var_os("R2EC_PYTHON") {
            Some(p) if !p.is_empty() => Self::new(p),
            _ => Self::new("python3"),
        }
    }

    fn python_name(&self) -> String {
        self.python.to_string_lossy().into_owned()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        // pip's self-update notice is noise here; unbuffered so progress arrives live.
        cmd.env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PYTHONUNBUFFERED", "1");
        cmd.stdin(Stdio::null());
        cmd
    }

    fn spawn_error(&self, err: io::Error) -> SetupError {
        if matches!(
            err.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
        ) {
            SetupError::PythonMissing {
                python: self.python_name(),
            }
        } else {
            SetupError::io(&self.python, err)
        }
    }

    /// Checks that the interpreter runs and has pip, so that a missing pip is reported
    /// as such rather than as a failed download.
    pub fn check(&self) -> Result<(), SetupError> {
        let out = self
            .command()
            .args(["-m", "pip", "--version"])
            .output()
            .map_err(|e| self.spawn_error(e))?;
        if out.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let output = match text.lines().last() {
            Some(line) => line.to_string(),
            None => out.status.to_string(),
        };
        Err(SetupError::PipMissing {
            python: self.python_name(),
            output,
        })
    }

    /// Downloads one package's wheel into `dir`. Every line pip prints goes to
    /// `progress`; on failure the error carries pip's last lines and `by_hand`.
    pub fn download(
        &self,
        package: &Package,
        dir: &Path,
        by_hand: &ByHand,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), SetupError> {
        let requirement = package.requirement();
        let mut child = self
            .command()
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "-d",
            ])
            .arg(dir)
            .arg(&requirement)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        let (tx, rx) = mpsc::channel();
        let mut readers = Vec::new();
        // Both pipes were requested as piped just above, so they are present.
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        readers.push(forward_lines(stdout, tx.clone()));
        readers.push(forward_lines(stderr, tx));
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        for line in rx {
            let line = tidy(&line);
            if line.is_empty() {
                continue;
            }
            progress(&format!("pip: {line}"));
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_string());
        }
        for reader in readers {
            // A reader thread only ends by itself; a panic there would be a bug in it.
            let _ = reader.join();
        }
        let status = child.wait().map_err(|e| SetupError::io(&self.python, e))?;
        if status.success() {
            return Ok(());
        }
        let tail: Vec<String> = tail.into_iter().map(|l| format!("  {l}")).collect();
        Err(SetupError::PipFailed {
            requirement,
            status: status.to_string(),
            tail: tail.join("\n"),
            by_hand: Box::new(by_hand.clone()),
        })
    }
}

/// Sends each line of `reader` down `tx`; lines end at `\n` or `\r`, since progress
/// bars redraw themselves with `\r`.
fn forward_lines(
    reader: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            let buf = match reader.fill_buf() {
                Ok([]) | Err(_) => break,
                Ok(buf) => buf,
            };
            let (used, ended) = match buf.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    line.extend_from_slice(&buf[..i]);
                    (i + 1, true)
                }
                None => {
                    line.extend_from_slice(buf);
                    (buf.len(), false)
                }
            };
            reader.consume(used);
            if ended
                && tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
            {
                return;
            }
            if ended {
                line.clear();
            }
        }
        if !line.is_empty() {
            let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
        }
    })
}

/// Drops surrounding blanks and the bar glyphs pip draws before its byte counts.
fn tidy(line: &str) -> &str {
    line.trim().trim_start_matches(['━', '╸', '╺', ' ']).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_newline_and_carriage_return() {
        let (tx, rx) = mpsc::channel();
        let input: &'static [u8] = b"Collecting a\r\n  10%\r 50%\rSaved ./a.whl\nlast";
        forward_lines(input, tx).join().unwrap();
        let lines: Vec<String> = rx.into_iter().collect();
        assert_eq!(
            lines,
            ["Collecting a", "", "  10%", " 50%", "Saved ./a.whl", "last"]
        );
    }

    #[test]
    fn tidy_strips_bars() {
        assert_eq!(
            tidy("   ━━━━━━━╸ 2.1/2.1 MB 275.9 MB/s eta 0:00:00"),
            "2.1/2.1 MB 275.9 MB/s eta 0:00:00"
        );
        assert_eq!(
            tidy("  Downloading x.whl (2 MB)"),
            "Downloading x.whl (2 MB)"
        );
    }

    #[test]
    fn missing_interpreter_is_reported_as_such() {
        let pip = Pip::new("/nonexistent/r2ec-test/python3");
        let err = pip.check().unwrap_err();
        assert!(matches!(err, SetupError::PythonMissing { .. }), "{err}");
        assert!(err.to_string().contains("install Python 3 with pip"));
    }
}
