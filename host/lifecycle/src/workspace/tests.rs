use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;

const EPOCH: u64 = 315_532_801;

fn app(dir: &Path) {
    std::fs::create_dir_all(dir.join("src/deep")).unwrap();
    std::fs::write(dir.join("Procfile"), "web: ./run\n").unwrap();
    std::fs::write(dir.join("run"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("src/a.txt"), "alpha").unwrap();
    std::fs::write(dir.join("src/deep/b.txt"), "beta").unwrap();
    std::os::unix::fs::symlink("a.txt", dir.join("src/link")).unwrap();
}

fn snapshot(src: &Path, snap: &Path) -> Workspace {
    Workspace::create_with_snapshot(src, Some(snap), &Env::default(), None, EPOCH, &|_, _| true)
        .unwrap()
}

/// Every entry of a tree: (relative path, kind, content or target, mode bits).
fn listing(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("l {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                "d".to_owned()
            } else {
                format!(
                    "f {:o} {}",
                    m.mode() & 0o777,
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap())
                )
            };
            out.push((rel, what));
        }
    }
    out.sort();
    out
}

fn ino(p: &Path) -> u64 {
    std::fs::symlink_metadata(p).unwrap().ino()
}

#[test]
fn a_fresh_copy_matches_the_app_and_is_stamped() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("app");
    app(&src);
    let ws = Workspace::create(&src, &Env::default(), None, EPOCH).unwrap();
    assert!(!ws.persistent);
    assert_eq!(listing(&ws.app), listing(&src));
    let m = std::fs::metadata(ws.app.join("src/a.txt")).unwrap();
    assert_eq!(m.mtime(), i64::try_from(EPOCH).unwrap());
    assert_eq!(
        std::fs::metadata(&ws.app).unwrap().mtime(),
        i64::try_from(EPOCH).unwrap()
    );
    assert_eq!(ws.sync.copied, 5);
}

#[test]
fn an_unchanged_app_copies_nothing_and_keeps_its_inodes() {
    let t = tempfile::tempdir().unwrap();
    let (src, snap) = (t.path().join("app"), t.path().join("snap"));
    app(&src);
    let first = snapshot(&src, &snap);
    assert!(first.persistent);
    let (fp, before) = (first.app_fingerprint, ino(&first.app.join("src/a.txt")));
    drop(first);
    let second = snapshot(&src, &snap);
    assert_eq!(second.sync.copied, 0);
    assert_eq!(second.sync.kept, 5);
    assert_eq!(ino(&second.app.join("src/a.txt")), before);
    assert_eq!(second.app_fingerprint, fp);
    assert_eq!(listing(&second.app), listing(&src));
    let fresh = Workspace::create(&src, &Env::default(), None, EPOCH).unwrap();
    assert_eq!(
        fresh.app_fingerprint, fp,
        "same fingerprint as a fresh copy"
    );
}

#[test]
fn a_changed_file_is_copied_even_with_its_size_and_mtime_restored() {
    let t = tempfile::tempdir().unwrap();
    let (src, snap) = (t.path().join("app"), t.path().join("snap"));
    app(&src);
    drop(snapshot(&src, &snap));
    let f = src.join("src/a.txt");
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::fs::write(&f, "ALPHA").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::remove_file(src.join("src/deep/b.txt")).unwrap();
    std::fs::write(src.join("new.txt"), "new").unwrap();
    let ws = snapshot(&src, &snap);
    assert_eq!(ws.sync.copied, 2);
    assert_eq!(ws.sync.removed, 1);
    assert_eq!(listing(&ws.app), listing(&src));
}

#[test]
fn what_a_buildpack_did_to_the_copy_is_undone() {
    let t = tempfile::tempdir().unwrap();
    let (src, snap) = (t.path().join("app"), t.path().join("snap"));
    let outside = t.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    app(&src);
    let ws = snapshot(&src, &snap);
    let copy = ws.app.clone();
    // A buildpack writes a file, adds files, swaps a directory for a link out of the copy,
    // hard-links two files and makes a directory read-only.
    std::fs::write(copy.join("Procfile"), "web: evil\n").unwrap();
    std::fs::write(copy.join("built.bin"), "output").unwrap();
    std::fs::create_dir_all(copy.join("cache/x")).unwrap();
    std::fs::remove_dir_all(copy.join("src/deep")).unwrap();
    std::os::unix::fs::symlink(&outside, copy.join("src/deep")).unwrap();
    std::fs::remove_file(copy.join("run")).unwrap();
    std::fs::hard_link(copy.join("src/a.txt"), copy.join("run")).unwrap();
    std::fs::set_permissions(copy.join("cache"), std::fs::Permissions::from_mode(0o500)).unwrap();
    drop(ws);
    let ws = snapshot(&src, &snap);
    assert_eq!(listing(&ws.app), listing(&src));
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written through the link"
    );
    assert_eq!(
        std::fs::read_to_string(src.join("src/a.txt")).unwrap(),
        "alpha"
    );
}

#[test]
fn a_damaged_index_means_a_full_copy() {
    let t = tempfile::tempdir().unwrap();
    let (src, snap) = (t.path().join("app"), t.path().join("snap"));
    app(&src);
    drop(snapshot(&src, &snap));
    std::fs::write(snap.join("index"), b"kiln-ws-index-1\ngarbage").unwrap();
    std::fs::write(snap.join("tree/src/a.txt"), "stale").unwrap();
    let ws = snapshot(&src, &snap);
    assert_eq!(ws.sync.copied, 5);
    assert_eq!(listing(&ws.app), listing(&src));
}

#[test]
fn another_epoch_or_filter_is_honoured() {
    let t = tempfile::tempdir().unwrap();
    let (src, snap) = (t.path().join("app"), t.path().join("snap"));
    app(&src);
    drop(snapshot(&src, &snap));
    let ws = Workspace::create_with_snapshot(
        &src,
        Some(&snap),
        &Env::default(),
        None,
        1000,
        &|rel, _| !rel.starts_with("src"),
    )
    .unwrap();
    assert!(!ws.app.join("src").exists(), "excluded now, so removed");
    assert_eq!(
        std::fs::metadata(ws.app.join("Procfile")).unwrap().mtime(),
        1000
    );
}

#[test]
fn a_snapshot_in_use_gives_a_fresh_copy() {
    let t = tempfile::tempdir().unwrap();
    let (src, snap) = (t.path().join("app"), t.path().join("snap"));
    app(&src);
    let held = snapshot(&src, &snap);
    let other = snapshot(&src, &snap);
    assert!(held.persistent);
    assert!(!other.persistent);
    assert_ne!(other.app, held.app);
    assert_eq!(listing(&other.app), listing(&src));
}
