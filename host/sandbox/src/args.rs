//! The bubblewrap command line of one step. The options (mounts and the environment) are
//! passed NUL-separated on bwrap's stdin (`--args 0`), so the environment never shows in the
//! host's process list; only `-- argv` is on bwrap's own command line.

use std::io;
use std::path::Path;

use crate::{Sandbox, Step};

/// Paths the sandbox itself provides; a rootfs entry of the same name is not shown.
const PROVIDED: &[&str] = &["proc", "dev", "tmp"];

impl Sandbox {
    /// Every option `bwrap --args 0` reads from its stdin, in order (the command follows
    /// `--` on the command line).
    pub(crate) fn options(&self, step: &Step) -> io::Result<Vec<String>> {
        let mut args: Vec<String> = [
            "--unshare-all",
            "--unshare-user",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
        push(&[
            "--uid",
            &self.uid.to_string(),
            "--gid",
            &self.gid.to_string(),
        ]);
        push(&["--hostname", &self.hostname]);
        push(&["--tmpfs", "/"]);
        let taken: Vec<&str> = step
            .mounts
            .iter()
            .filter_map(|m| m.guest.trim_start_matches('/').split('/').next())
            .collect();
        for entry in rootfs_entries(&self.rootfs)? {
            if PROVIDED.contains(&entry.name.as_str()) || taken.contains(&entry.name.as_str()) {
                continue;
            }
            let guest = format!("/{}", entry.name);
            match entry.kind {
                EntryKind::Symlink(target) => push(&["--symlink", &target, &guest]),
                EntryKind::Bound => {
                    let host = self.rootfs.join(&entry.name);
                    push(&["--ro-bind", &host.to_string_lossy(), &guest]);
                }
            }
        }
        push(&["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
        push(&["--dir", crate::step::DEFAULT_HOME]);
        let mut mounts: Vec<_> = step.mounts.iter().collect();
        mounts.sort_by(|a, b| {
            let depth = |p: &str| p.matches('/').count();
            depth(&a.guest)
                .cmp(&depth(&b.guest))
                .then_with(|| a.guest.cmp(&b.guest))
        });
        for m in mounts {
            let kind = if m.writable { "--bind" } else { "--ro-bind" };
            push(&[kind, &m.host.to_string_lossy(), &m.guest]);
        }
        push(&["--remount-ro", "/", "--chdir", &step.cwd, "--clearenv"]);
        for (name, value) in step.effective_env() {
            push(&["--setenv", &name, &value]);
        }
        Ok(args)
    }
}

/// The arguments as bwrap's `--args` reads them: each followed by a NUL byte.
pub(crate) fn nul_separated(args: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(args.iter().map(|a| a.len() + 1).sum());
    for a in args {
        out.extend_from_slice(a.as_bytes());
        out.push(0);
    }
    out
}

enum EntryKind {
    Symlink(String),
    Bound,
}

struct RootEntry {
    name: String,
    kind: EntryKind,
}

/// The top-level entries of the rootfs, sorted: each becomes a bind (or a symlink) on the
/// sandbox's own root, so the sandbox can add its mount points without writing the rootfs.
fn rootfs_entries(rootfs: &Path) -> io::Result<Vec<RootEntry>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(rootfs)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let file_type = entry.file_type()?;
        let kind = if file_type.is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            EntryKind::Symlink(target.to_string_lossy().into_owned())
        } else if file_type.is_dir() || file_type.is_file() {
            EntryKind::Bound
        } else {
            continue;
        };
        out.push(RootEntry { name, kind });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Mount;
    use std::time::Duration;

    #[test]
    fn mounts_come_parents_first_and_rootfs_entries_under_them_are_hidden() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("usr")).unwrap();
        std::fs::create_dir(root.path().join("workspace")).unwrap();
        std::fs::create_dir(root.path().join("proc")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.path().join("bin")).unwrap();
        let sandbox = Sandbox {
            bwrap: "/usr/bin/bwrap".into(),
            rootfs: root.path().to_path_buf(),
            uid: 1000,
            gid: 1001,
            hostname: "kiln".into(),
            max_processes: 10,
        };
        let step = Step {
            argv: vec!["go".into(), "build".into()],
            env: vec![("A".into(), "b c".into())],
            cwd: "/workspace".into(),
            timeout: Duration::from_secs(1),
            mounts: vec![
                Mount {
                    host: "/h/own".into(),
                    guest: "/layers/me".into(),
                    writable: true,
                },
                Mount {
                    host: "/h/app".into(),
                    guest: "/workspace".into(),
                    writable: true,
                },
            ],
            source_date_epoch: 0,
            capture_stdout: None,
        };
        let args = sandbox.options(&step).unwrap().join(" ");
        assert!(args.contains("--uid 1000 --gid 1001"), "{args}");
        assert!(args.contains("--symlink usr/bin /bin"), "{args}");
        assert!(args.contains(&format!("--ro-bind {}/usr /usr", root.path().display())));
        assert!(!args.contains("/workspace /workspace") && !args.contains("/proc /proc --ro"));
        let ws = args.find("--bind /h/app /workspace").unwrap();
        let layer = args.find("--bind /h/own /layers/me").unwrap();
        assert!(ws < layer, "{args}");
        assert!(args.ends_with("--setenv A b c --setenv HOME /tmp/home --setenv PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --setenv TZ UTC --setenv LC_ALL C.UTF-8 --setenv SOURCE_DATE_EPOCH 0"), "{args}");
    }
}
