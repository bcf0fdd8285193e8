//! Run directories: `<train.output>/<recipe>/<NNN>/` holding `resolved.ron` (the exact IR
//! and its hash), `metrics.jsonl`, `metrics.csv`, `checkpoint.safetensors` (the last) and
//! `best.safetensors` (best validation top-1), and `.lock`: the advisory lock of the one
//! process that writes the directory ([`Lock`]).

use super::tensor_io::WriteFailure;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file of a run directory.
pub const LOCK_FILE: &str = ".lock";

/// FNV-1a 64 of the resolved recipe text: identifies "the same recipe" for `--resume`.
pub fn recipe_hash(resolved: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in resolved.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `<output>/<name>`: where this recipe's runs live.
pub fn runs_of(output: &str, name: &str) -> PathBuf {
    Path::new(output).join(name)
}

/// The numbered run directories under `root`, in order.
pub fn existing(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.parse::<u32>().ok())
                        .map(|n| (n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// Creates the next numbered run directory (`001`, `002`, …), locks it for this process and
/// writes `resolved.ron`. Two processes starting at once get two directories.
pub fn create(root: &Path, resolved: &str) -> Result<(PathBuf, Lock), WriteFailure> {
    std::fs::create_dir_all(root).map_err(|e| WriteFailure::new(root, None, e))?;
    let dir = loop {
        let next = existing(root)
            .last()
            .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok())
            .map_or(1, |n| n + 1);
        let dir = root.join(format!("{next:03}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => break dir,
            // Another process took this number first: take the next one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(WriteFailure::new(&dir, None, e)),
        }
    };
    let lock = match lock(&dir) {
        Ok(l) => l,
        Err(LockError::Io(f)) => return Err(f),
        // Nobody else can know a directory created a moment ago.
        Err(LockError::Held { .. }) => {
            return Err(WriteFailure::new(
                &dir.join(LOCK_FILE),
                None,
                std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "locked by another process as it was created",
                ),
            ))
        }
    };
    let text = format!("// hash {}\n{resolved}", recipe_hash(resolved));
    write_resolved(&dir, &text)?;
    Ok((dir, lock))
}

/// Writes `resolved.ron` (`text` with its hash line) into `dir`.
pub fn write_resolved(dir: &Path, text: &str) -> Result<(), WriteFailure> {
    let path = dir.join("resolved.ron");
    super::tensor_io::write_atomically(&path, text.as_bytes())
        .map_err(|e| WriteFailure::new(&path, Some(text.len()), e))
}

/// The advisory lock a process holds on a run directory while it writes it: an exclusive
/// lock (`flock` on Unix, through std's `File::try_lock`) on `<dir>/.lock`, whose text is
/// the holder's PID. The OS releases it when the process ends, however it ends (a crash,
/// `kill -9`), so the next process takes over the lock of a dead one; the file itself stays
/// (removing it would let two processes lock two different files of the same name).
#[derive(Debug)]
pub struct Lock {
    _file: std::fs::File,
}

/// Why a run directory could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another live process holds it (its PID, when it could be read).
    Held { pid: Option<u32> },
    /// The lock file could not be opened or written.
    Io(WriteFailure),
}

/// Locks `dir` for this process, or says who holds it.
pub fn lock(dir: &Path) -> Result<Lock, LockError> {
    let path = dir.join(LOCK_FILE);
    let io = |e| LockError::Io(WriteFailure::new(&path, None, e));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(LockError::Held {
                pid: read_pid(&mut file),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    let pid = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(pid.as_bytes()))
        .map_err(|e| LockError::Io(WriteFailure::new(&path, Some(pid.len()), e)))?;
    Ok(Lock { _file: file })
}

fn read_pid(file: &mut std::fs::File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Whether another process holds `dir`'s lock: `Some(its PID, when known)`. Looks without
/// taking the lock (a shared lock, released at once).
pub fn holder(dir: &Path) -> Option<Option<u32>> {
    let mut file = std::fs::File::open(dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(std::fs::TryLockError::WouldBlock) => Some(read_pid(&mut file)),
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

/// Removes the temporary files (`.<name>.tmp`) a crashed writer left in `dir`; call it
/// holding the directory's lock.
pub fn remove_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The hash recorded in a run's `resolved.ron`.
pub fn recorded_hash(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("resolved.ron")).ok()?;
    text.lines()
        .next()?
        .strip_prefix("// hash ")
        .map(str::to_string)
}

/// What a run that reached the end of its schedule records in `summary.json`; its presence
/// marks the run finished (a pipeline stage with one is not run again).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub epochs: u64,
    pub steps: u64,
    pub final_top1: Option<f64>,
    pub best_top1: Option<f64>,
}

impl Summary {
    pub fn write(&self, dir: &Path) -> Result<(), WriteFailure> {
        let path = dir.join("summary.json");
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| WriteFailure::new(&path, None, std::io::Error::other(e)))?;
        super::tensor_io::write_atomically(&path, text.as_bytes())
            .map_err(|e| WriteFailure::new(&path, Some(text.len()), e))
    }

    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The latest run under `root` of the recipe with `hash` that finished, with its summary.
pub fn finished(root: &Path, hash: &str) -> Option<(PathBuf, Summary)> {
    existing(root)
        .into_iter()
        .rev()
        .filter(|d| recorded_hash(d).as_deref() == Some(hash))
        .find_map(|d| Summary::read(&d).map(|s| (d, s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("deitc-run-dir-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_locked_directory_refuses_a_second_lock_naming_the_holder_until_released() {
        let root = temp("lock");
        let (dir, held) = create(&root, "()").expect("create");
        assert_eq!(dir, root.join("001"));
        let pid = std::process::id();
        let text = std::fs::read_to_string(dir.join(LOCK_FILE)).expect("lock file");
        assert_eq!(text.trim(), pid.to_string());
        // flock locks belong to the open file, so a second open in this very process
        // conflicts like another process would.
        assert!(matches!(lock(&dir), Err(LockError::Held { pid: Some(p) }) if p == pid));
        assert_eq!(holder(&dir), Some(Some(pid)));
        // The next run of the recipe gets its own directory, and its own lock.
        let (next, _next_lock) = create(&root, "()").expect("create");
        assert_eq!(next, root.join("002"));
        drop(held);
        assert_eq!(holder(&dir), None);
        let again = lock(&dir).expect("released");
        assert_eq!(
            std::fs::read_to_string(dir.join(LOCK_FILE))
                .expect("lock file")
                .trim(),
            pid.to_string()
        );
        drop(again);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_directory_without_a_lock_file_has_no_holder_and_temporaries_are_removed() {
        let dir = temp("tmp");
        assert_eq!(holder(&dir), None);
        for f in [
            ".checkpoint.safetensors.tmp",
            ".best.safetensors.tmp",
            "metrics.jsonl",
        ] {
            std::fs::write(dir.join(f), b"x").expect("write");
        }
        remove_temporaries(&dir);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["metrics.jsonl"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_run_directory_under_a_file_fails_with_the_path() {
        let root = temp("under-file");
        std::fs::write(root.join("out"), b"x").expect("write");
        let err = create(&root.join("out").join("tiny"), "()").expect_err("not a folder");
        assert_eq!(err.path, root.join("out").join("tiny"));
        assert_eq!(err.error.kind(), std::io::ErrorKind::NotADirectory);
        let _ = std::fs::remove_dir_all(&root);
    }
}
