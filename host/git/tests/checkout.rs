//! Checking out trees exactly and safely.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::pedantic,
    missing_docs
)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Fixture, Item, cache};
use gix::ObjectId;
use gix::objs::Write as _;
use kiln_git::GitError;

/// What a checked-out path is: a file (content, mode), a directory, or a symlink (target).
#[derive(Debug, PartialEq, Eq)]
enum Node {
    File(Vec<u8>, u32),
    Dir,
    Link(String),
}

fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let node = if meta.file_type().is_symlink() {
                Node::Link(
                    std::fs::read_link(&path)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned(),
                )
            } else if meta.is_dir() {
                stack.push(path.clone());
                Node::Dir
            } else {
                Node::File(
                    std::fs::read(&path).unwrap(),
                    meta.permissions().mode() & 0o7777,
                )
            };
            out.insert(rel, node);
        }
    }
    out
}

const BINARY: &[u8] = b"\x00\x01\xffline one\r\nline two\n\x00";
const GITLINK: &str = "1111111111111111111111111111111111111111";

fn rich_tree(fx: &Fixture) -> ObjectId {
    fx.commit(
        "main",
        &[
            ("README.md", Item::File(b"# hello\n")),
            ("empty", Item::File(b"")),
            ("data.bin", Item::File(BINARY)),
            (
                ".gitattributes",
                Item::File(b"* text eol=crlf filter=lfs\n"),
            ),
            ("bin/run.sh", Item::Exec(b"#!/bin/sh\necho hi\n")),
            ("src/a/b/c.txt", Item::File(b"deep\n")),
            ("link", Item::Link("src/a/b/c.txt")),
            ("abs-link", Item::Link("/etc/passwd")),
            ("dangling", Item::Link("../../nowhere")),
            ("vendor/sub", Item::Gitlink(GITLINK)),
        ],
    )
}

#[test]
fn checkout_is_exact() {
    let fx = Fixture::new();
    rich_tree(&fx);
    let (dir, sources) = cache();
    let url = fx.path().to_str().unwrap();
    let r = sources.resolve(url, "main").unwrap();
    let dest = dir.path().join("out/nested/dest");
    sources.checkout(url, &r.commit, &dest).unwrap();

    let got = snapshot(&dest);
    let file = |c: &[u8], m| Node::File(c.to_vec(), m);
    let want: BTreeMap<String, Node> = [
        ("README.md", file(b"# hello\n", 0o644)),
        ("empty", file(b"", 0o644)),
        ("data.bin", file(BINARY, 0o644)),
        (
            ".gitattributes",
            file(b"* text eol=crlf filter=lfs\n", 0o644),
        ),
        ("bin", Node::Dir),
        ("bin/run.sh", file(b"#!/bin/sh\necho hi\n", 0o755)),
        ("src", Node::Dir),
        ("src/a", Node::Dir),
        ("src/a/b", Node::Dir),
        ("src/a/b/c.txt", file(b"deep\n", 0o644)),
        ("link", Node::Link("src/a/b/c.txt".into())),
        ("abs-link", Node::Link("/etc/passwd".into())),
        ("dangling", Node::Link("../../nowhere".into())),
        ("vendor", Node::Dir),
        ("vendor/sub", Node::Dir),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, want);
    assert!(!dest.join(".git").exists());
    assert_eq!(
        std::fs::read_dir(dest.join("vendor/sub")).unwrap().count(),
        0
    );
}

#[test]
fn checkout_into_an_existing_empty_directory() {
    let fx = Fixture::new();
    let c = fx.commit("main", &[("a", Item::File(b"a"))]);
    let (dir, sources) = cache();
    let dest = dir.path().join("empty");
    std::fs::create_dir(&dest).unwrap();
    sources
        .checkout(fx.path().to_str().unwrap(), &c.to_string(), &dest)
        .unwrap();
    assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"a");
}

#[test]
fn checkout_refuses_non_empty_destinations() {
    let fx = Fixture::new();
    let c = fx.commit("main", &[("a", Item::File(b"a"))]);
    let (dir, sources) = cache();
    let url = fx.path().to_str().unwrap();
    let dest = dir.path().join("busy");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("keep"), "mine").unwrap();
    let err = sources.checkout(url, &c.to_string(), &dest).unwrap_err();
    assert!(matches!(err, GitError::DestinationNotEmpty { .. }), "{err}");
    assert_eq!(std::fs::read(dest.join("keep")).unwrap(), b"mine");
    assert!(!dest.join("a").exists());
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = sources.checkout(url, &c.to_string(), &file).unwrap_err();
    assert!(matches!(err, GitError::DestinationNotEmpty { .. }), "{err}");
}

#[test]
fn checkout_of_an_older_commit_gives_its_tree() {
    let fx = Fixture::new();
    let a = fx.commit(
        "main",
        &[("keep", Item::File(b"v1")), ("old", Item::File(b"old"))],
    );
    let (dir, sources) = cache();
    let url = fx.path().to_str().unwrap();
    assert_eq!(sources.resolve(url, "main").unwrap().commit, a.to_string());
    let b = fx.commit(
        "main",
        &[("keep", Item::Exec(b"v2")), ("new", Item::File(b"new"))],
    );
    assert_eq!(sources.resolve(url, "main").unwrap().commit, b.to_string());

    let dest_a = dir.path().join("a");
    sources.checkout(url, &a.to_string(), &dest_a).unwrap();
    let got = snapshot(&dest_a);
    assert_eq!(got.len(), 2);
    assert_eq!(got["keep"], Node::File(b"v1".to_vec(), 0o644));
    assert_eq!(got["old"], Node::File(b"old".to_vec(), 0o644));

    let dest_b = dir.path().join("b");
    sources.checkout(url, &b.to_string(), &dest_b).unwrap();
    let got = snapshot(&dest_b);
    assert_eq!(got.len(), 2);
    assert_eq!(got["keep"], Node::File(b"v2".to_vec(), 0o755));
    assert_eq!(got["new"], Node::File(b"new".to_vec(), 0o644));
}

#[test]
fn checkout_without_a_prior_resolve_fetches() {
    let fx = Fixture::new();
    let c = fx.commit("main", &[("a", Item::File(b"a"))]);
    let (dir, sources) = cache();
    let dest = dir.path().join("d");
    sources
        .checkout(&fx.file_url(), &c.to_string(), &dest)
        .unwrap();
    assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"a");
}

#[test]
fn checkout_of_an_unknown_or_short_commit_fails() {
    let fx = Fixture::new();
    let c = fx.commit("main", &[("a", Item::File(b"a"))]);
    let (dir, sources) = cache();
    let url = fx.path().to_str().unwrap();
    let dest = dir.path().join("d");
    let err = sources
        .checkout(url, "0123456789abcdef0123456789abcdef01234567", &dest)
        .unwrap_err();
    assert!(matches!(err, GitError::Checkout { .. }), "{err}");
    let err = sources
        .checkout(url, &c.to_string()[..10], &dest)
        .unwrap_err();
    assert!(matches!(err, GitError::ShortCommitId { .. }), "{err}");
    let err = sources.checkout(url, "main", &dest).unwrap_err();
    assert!(matches!(err, GitError::Checkout { .. }), "{err}");
    assert!(!dest.exists());
}

// --- hostile trees, written as raw tree objects (gix's tree editor would refuse them) ---

enum Raw<'a> {
    Blob(&'a [u8]),
    Link(&'a str),
    Tree(ObjectId),
}

fn raw_tree(fx: &Fixture, entries: &[(&str, Raw<'_>)]) -> ObjectId {
    let mut bytes = Vec::new();
    for (name, raw) in entries {
        let (mode, id) = match raw {
            Raw::Blob(data) => ("100644", fx.repo.write_blob(data).unwrap().detach()),
            Raw::Link(target) => (
                "120000",
                fx.repo.write_blob(target.as_bytes()).unwrap().detach(),
            ),
            Raw::Tree(id) => ("40000", *id),
        };
        bytes.extend_from_slice(mode.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(id.as_bytes());
    }
    fx.repo
        .objects
        .write_buf(gix::objs::Kind::Tree, &bytes)
        .unwrap()
}

/// Check out a hostile tree: it must fail, leave `outside` untouched and clean up `dest`.
fn assert_refused(build: impl FnOnce(&Fixture, &Path) -> ObjectId) {
    let fx = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    let tree = build(&fx, outside.path());
    let commit = fx.commit_tree("main", tree);
    let (dir, sources) = cache();
    let url = fx.path().to_str().unwrap();
    let dest = dir.path().join("root/dest");
    let err = sources
        .checkout(url, &commit.to_string(), &dest)
        .unwrap_err();
    assert!(
        matches!(err, GitError::Checkout { .. } | GitError::Io { .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "wrote outside: {err}"
    );
    assert!(!dest.exists(), "partial checkout left behind");
    let root: Vec<_> = std::fs::read_dir(dir.path().join("root"))
        .unwrap()
        .collect();
    assert!(root.is_empty(), "wrote next to dest: {err}");
}

#[test]
fn refuses_dot_dot_entries() {
    assert_refused(|fx, _| {
        let inner = raw_tree(fx, &[("evil", Raw::Blob(b"x"))]);
        raw_tree(fx, &[("..", Raw::Tree(inner))])
    });
}

#[test]
fn refuses_dot_git_entries() {
    for name in [".git", ".GIT", "git~1", ".git."] {
        assert_refused(|fx, _| {
            let inner = raw_tree(fx, &[("config", Raw::Blob(b"[core]\n"))]);
            raw_tree(fx, &[("ok", Raw::Blob(b"fine")), (name, Raw::Tree(inner))])
        });
    }
}

#[test]
fn refuses_names_with_slashes() {
    assert_refused(|fx, outside| {
        let name = format!("..{}", outside.join("evil").display());
        let name: &'static str = Box::leak(name.into_boxed_str());
        raw_tree(fx, &[(name, Raw::Blob(b"x")), ("a/b", Raw::Blob(b"x"))])
    });
}

#[test]
fn never_writes_through_its_own_symlinks() {
    // A symlink `a` to outside, then a directory `a` with a file: must not land outside.
    assert_refused(|fx, outside| {
        let target: &'static str = Box::leak(outside.display().to_string().into_boxed_str());
        let inner = raw_tree(fx, &[("pwned", Raw::Blob(b"x"))]);
        raw_tree(fx, &[("a", Raw::Link(target)), ("a", Raw::Tree(inner))])
    });
    // A symlink `f` to a file outside, then a blob `f`: must not overwrite the target.
    assert_refused(|fx, outside| {
        let target: &'static str = Box::leak(
            outside
                .join("victim")
                .display()
                .to_string()
                .into_boxed_str(),
        );
        raw_tree(fx, &[("f", Raw::Link(target)), ("f", Raw::Blob(b"x"))])
    });
}
