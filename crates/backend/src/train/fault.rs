//! Fault injection, for tests only: crash a run at an exact point, or make a checkpoint
//! write fail as a full disk does, so that tests can check what a crash leaves on disk and
//! that `--resume` goes on bit-exactly from it (tests/fault_injection.rs).
//!
//! Nothing is injected unless [`install`] was called; the `deitc` binary calls it with the
//! value of the `DEITC_FAULT` environment variable (`src/cli/run.rs`), a comma-separated
//! list of `point:N`:
//!
//! | point | what happens |
//! |---|---|
//! | `step:N` | the process aborts right after optimizer step `N` (counted from the start of the run, as `steps` in `metrics.jsonl`), before anything is saved for that step |
//! | `checkpoint_write:N` | the process aborts in the middle of the `N`-th checkpoint file this process writes (`checkpoint.safetensors` and `best.safetensors` alike, from 1): half of the temporary file is written, nothing is renamed |
//! | `disk_full:N` | the `N`-th checkpoint write fails half-way with "no space left on device" (`StorageFull`), as a full disk does |
//! | `hold:N` | after optimizer step `N` the process sleeps until it is killed (a run that holds its directory's lock, for tests of a second writer) |
//!
//! An abort is `std::process::abort`: no destructor, no flush, no cleanup runs, as with
//! `kill -9` (the OS drops the process's file locks either way).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Abort after optimizer step `N`.
    AbortAfterStep(u64),
    /// Abort half-way through the `N`-th checkpoint write.
    AbortInCheckpointWrite(u64),
    /// The `N`-th checkpoint write fails with `StorageFull` half-way.
    DiskFull(u64),
    /// Sleep forever after optimizer step `N`.
    HoldAfterStep(u64),
}

static FAULTS: OnceLock<Vec<Fault>> = OnceLock::new();
static CHECKPOINT_WRITES: AtomicU64 = AtomicU64::new(0);

/// Parses a `DEITC_FAULT` value: `step:7`, `checkpoint_write:3,disk_full:5`, ….
pub fn parse(spec: &str) -> Result<Vec<Fault>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (point, n) = item
                .split_once(':')
                .ok_or_else(|| format!("`{item}`: expected `point:N`"))?;
            let n: u64 = n
                .trim()
                .parse()
                .map_err(|_| format!("`{item}`: `{n}` is not a whole number"))?;
            Ok(match point.trim() {
                "step" => Fault::AbortAfterStep(n),
                "checkpoint_write" => Fault::AbortInCheckpointWrite(n),
                "disk_full" => Fault::DiskFull(n),
                "hold" => Fault::HoldAfterStep(n),
                other => {
                    return Err(format!(
                        "`{other}`: the points are step, checkpoint_write, disk_full and hold"
                    ))
                }
            })
        })
        .collect()
}

/// Installs the faults of `spec` for the rest of the process (the first call wins).
pub fn install(spec: &str) -> Result<(), String> {
    let faults = parse(spec)?;
    let _ = FAULTS.set(faults);
    Ok(())
}

fn faults() -> &'static [Fault] {
    FAULTS.get().map_or(&[], Vec::as_slice)
}

/// Called after each optimizer step, with the steps taken so far.
pub fn after_step(steps: u64) {
    for f in faults() {
        match *f {
            Fault::AbortAfterStep(n) if n == steps => std::process::abort(),
            Fault::HoldAfterStep(n) if n == steps => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            _ => {}
        }
    }
}

/// Writes a checkpoint's bytes into its temporary file, unless a fault says otherwise.
pub fn checkpoint_write(file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    if faults().is_empty() {
        return file.write_all(bytes);
    }
    let n = CHECKPOINT_WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    for f in faults() {
        match *f {
            Fault::AbortInCheckpointWrite(k) if k == n => {
                file.write_all(&bytes[..bytes.len() / 2])?;
                file.sync_all()?;
                std::process::abort();
            }
            Fault::DiskFull(k) if k == n => {
                file.write_all(&bytes[..bytes.len() / 2])?;
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "No space left on device (injected by DEITC_FAULT)",
                ));
            }
            _ => {}
        }
    }
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse("step:7, checkpoint_write:3,disk_full:1,hold:2"),
            Ok(vec![
                Fault::AbortAfterStep(7),
                Fault::AbortInCheckpointWrite(3),
                Fault::DiskFull(1),
                Fault::HoldAfterStep(2),
            ])
        );
        assert_eq!(parse(""), Ok(vec![]));
        assert!(parse("step").is_err_and(|e| e.contains("point:N")));
        assert!(parse("step:x").is_err_and(|e| e.contains("whole number")));
        assert!(parse("crash:1").is_err_and(|e| e.contains("the points are")));
    }

    #[test]
    fn without_an_installed_fault_the_hooks_do_nothing() {
        // Lib tests never install one: the hooks are plain writes and no-ops.
        after_step(1);
        let dir = std::env::temp_dir().join(format!("deitc-fault-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("f");
        let mut f = std::fs::File::create(&path).expect("create");
        checkpoint_write(&mut f, b"abc").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"abc");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
