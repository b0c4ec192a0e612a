//! Atomic writes: data goes to a temporary file beside the target, is flushed and
//! synced, then renamed over the target, so a reader (or a crash) never sees half a file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written under a temporary name; `commit` renames it into place.
/// Dropped without `commit`, the temporary file is removed.
pub struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(target: impl AsRef<Path>) -> io::Result<Self> {
        let target = target.as_ref().to_path_buf();
        if let Some(dir) = target.parent() {
            if !dir.as_os_str().is_empty() {
                fs::create_dir_all(dir)?;
            }
        }
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "target has no file name"))?
            .to_string_lossy()
            .into_owned();
        let tmp = target.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&tmp)?;
        Ok(Self {
            target,
            tmp,
            writer: Some(BufWriter::new(file)),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flush, fsync and rename into place.
    pub fn commit(mut self) -> io::Result<()> {
        // The writer is only taken here and in Drop, so it is present.
        let writer = self.writer.take().expect("writer present until commit");
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.target)?;
        if let Some(dir) = self.target.parent() {
            // Persist the rename itself; not every filesystem supports syncing a folder.
            if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer
            .as_mut()
            .expect("writer present until commit")
            .write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer
            .as_mut()
            .expect("writer present until commit")
            .flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Write `bytes` to `target` atomically.
pub fn write_atomic(target: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(target)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Removes temporary files that an interrupted writer of `target` left behind (a killed
/// process never runs `Drop`). Returns how many were removed.
pub fn remove_stale_temps(target: impl AsRef<Path>) -> io::Result<usize> {
    let target = target.as_ref();
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Ok(0);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = file.strip_prefix(&prefix) {
            if writer_alive(pid) {
                continue;
            }
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether the process that named a temporary file (`…tmp-<pid>`) is still running, so
/// its file is still being written. Where `/proc` is missing it cannot be told, and
/// only this process's own files count as live.
fn writer_alive(pid: &str) -> bool {
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if pid == std::process::id() {
        return true;
    }
    Path::new("/proc/self").exists() && Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_and_drop_discards() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"one").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"two, unfinished").unwrap();
            // dropped without commit
        }
        assert_eq!(fs::read(&p).unwrap(), b"one");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file removed");
    }

    #[test]
    fn stale_temps_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        fs::write(dir.path().join(".m.gguf.tmp-99999999"), b"partial").unwrap();
        fs::write(dir.path().join(".other.tmp-99999999"), b"keep").unwrap();
        fs::write(&p, b"keep").unwrap();
        assert_eq!(remove_stale_temps(&p).unwrap(), 1);
        assert!(!dir.path().join(".m.gguf.tmp-99999999").exists());
        assert!(dir.path().join(".other.tmp-99999999").exists() && p.exists());
        assert_eq!(remove_stale_temps(dir.path().join("absent/x")).unwrap(), 0);
        // A file of a writer still running (this process) is left alone.
        let live = dir
            .path()
            .join(format!(".m.gguf.tmp-{}", std::process::id()));
        fs::write(&live, b"being written").unwrap();
        assert_eq!(remove_stale_temps(&p).unwrap(), 0);
        assert!(live.exists());
    }
}
