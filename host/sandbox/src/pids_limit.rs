//! A process-count limit for one step: a fresh cgroup with `pids.max`, where this process may
//! create one (cgroup v2 with the `pids` controller delegated, or cgroup v1's `pids`
//! hierarchy, as root usually can). Elsewhere steps run without it; the time limit and the
//! pid namespace still end every process of a step.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A cgroup made for one step, removed on drop once its processes are gone.
#[derive(Debug)]
pub(crate) struct PidsCgroup {
    dir: PathBuf,
}

impl PidsCgroup {
    /// A new cgroup allowing `max` processes, or `None` when none can be made here.
    pub(crate) fn create(max: u32) -> Option<Self> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let name = format!(
            "kiln-step-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        candidates(&own)
            .into_iter()
            .find_map(|parent| Self::create_in(&parent.join(&name), max))
    }

    fn create_in(dir: &Path, max: u32) -> Option<Self> {
        std::fs::create_dir(dir).ok()?;
        let made = Self {
            dir: dir.to_path_buf(),
        };
        std::fs::write(dir.join("pids.max"), max.to_string()).ok()?;
        Some(made)
    }

    /// The file a process writes its pid to in order to join.
    pub(crate) fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    fn is_empty(&self) -> bool {
        std::fs::read_to_string(self.procs_file()).is_ok_and(|s| s.trim().is_empty())
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // The kernel ends a pid namespace's processes when its init dies; wait for that.
        for _ in 0..2000 {
            if self.is_empty() && std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        tracing::warn!(cgroup = %self.dir.display(), "could not remove a step's cgroup");
    }
}

/// Parent directories to try, from `/proc/self/cgroup`: the v1 `pids` hierarchy, then v2.
fn candidates(own: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "pids") {
            out.insert(0, Path::new(CGROUP_ROOT).join("pids").join(relative));
        } else if id == "0" && controllers.is_empty() {
            let v2 = Path::new(CGROUP_ROOT);
            let base = if v2.join("cgroup.controllers").is_file() {
                v2.to_path_buf()
            } else {
                v2.join("unified")
            };
            out.push(base.join(relative));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_pids_hierarchy_is_tried_before_v2() {
        let own = "9:name=systemd:/\n8:pids:/a/b\n0::/u\n";
        let c = candidates(own);
        assert_eq!(c[0], Path::new("/sys/fs/cgroup/pids/a/b"));
        assert!(c[1].ends_with("u"));
    }
}
