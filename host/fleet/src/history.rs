//! Each image's build history: the last N successes and failures with their reasons,
//! inputs, digest, duration and log file, in `<state>/history/<name>.json`. Entries that
//! fall out of the limits lose their log files too.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decision::Reason;
use crate::error::StoreError;
use crate::inputs::BuildInputs;
use crate::spec::HistoryLimits;

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Result {
    /// Built from source.
    Built,
    /// Rebased onto a new run image.
    Rebased,
    /// Failed (resolving its inputs, building or rebasing).
    Failed,
}

/// One build of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// Its number in this image's history (1, 2, ...).
    pub number: u64,
    /// When it started, seconds since the Unix epoch.
    pub started: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Why it ran.
    pub reasons: Vec<Reason>,
    /// How it ended.
    pub result: Result,
    /// The image's manifest digest (successes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The error (failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resolved inputs (when they could be resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<BuildInputs>,
    /// Its log file.
    pub log: PathBuf,
}

/// The history file of one image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The number the next build gets.
    pub next: u64,
    /// Builds, oldest first.
    pub builds: Vec<BuildRecord>,
}

impl History {
    /// Read `file`; an absent file is an empty history.
    pub fn read(file: &Path) -> std::result::Result<Self, StoreError> {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    next: 1,
                    builds: Vec::new(),
                });
            }
            Err(e) => return Err(StoreError::io(file)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| StoreError::History {
            path: file.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Take the next build number.
    pub fn take_number(&mut self) -> u64 {
        let n = self.next.max(1);
        self.next = n + 1;
        n
    }

    /// Add `record`, drop what is over `limits` (deleting those builds' logs), and write
    /// the history to `file`.
    pub fn record(
        &mut self,
        record: BuildRecord,
        limits: HistoryLimits,
        file: &Path,
    ) -> std::result::Result<(), StoreError> {
        self.builds.push(record);
        let mut kept_ok = 0;
        let mut kept_failed = 0;
        let mut keep = vec![false; self.builds.len()];
        for (i, b) in self.builds.iter().enumerate().rev() {
            let (kept, limit) = if b.result == Result::Failed {
                (&mut kept_failed, limits.failures)
            } else {
                (&mut kept_ok, limits.successes)
            };
            if *kept < limit {
                *kept += 1;
                keep[i] = true;
            }
        }
        let mut i = 0;
        self.builds.retain(|b| {
            let k = keep[i];
            i += 1;
            if !k {
                let _ = std::fs::remove_file(&b.log);
            }
            k
        });
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
        }
        let text = serde_json::to_vec_pretty(self).map_err(|e| StoreError::History {
            path: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        kiln_fs::atomic_file::write(file, &text).map_err(StoreError::io(file))
    }

    /// The newest build.
    pub fn last(&self) -> Option<&BuildRecord> {
        self.builds.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(number: u64, result: Result, log: PathBuf) -> BuildRecord {
        BuildRecord {
            number,
            started: 1,
            duration_ms: 2,
            reasons: vec![Reason::Commit],
            result,
            digest: None,
            error: None,
            inputs: None,
            log,
        }
    }

    #[test]
    fn limits_keep_the_newest_of_each_kind_and_remove_their_logs() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("h/web.json");
        let mut history = History::read(&file).unwrap();
        let limits = HistoryLimits {
            successes: 2,
            failures: 1,
        };
        let mut logs = Vec::new();
        for result in [
            Result::Built,
            Result::Failed,
            Result::Built,
            Result::Failed,
            Result::Rebased,
        ] {
            let n = history.take_number();
            let log = tmp.path().join(format!("{n}.log"));
            std::fs::write(&log, "x").unwrap();
            logs.push(log.clone());
            history
                .record(record(n, result, log), limits, &file)
                .unwrap();
        }
        let again = History::read(&file).unwrap();
        let numbers: Vec<u64> = again.builds.iter().map(|b| b.number).collect();
        assert_eq!(numbers, [3, 4, 5]);
        assert_eq!(again.next, 6);
        assert!(!logs[0].exists() && !logs[1].exists());
        assert!(logs[2].exists() && logs[3].exists() && logs[4].exists());
    }

    #[test]
    fn a_damaged_history_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("web.json");
        std::fs::write(&file, "{not json").unwrap();
        let err = History::read(&file).unwrap_err().to_string();
        assert!(err.contains("web.json") && err.contains("damaged"), "{err}");
    }
}
