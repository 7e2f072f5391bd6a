//! Test fixtures: repositories built with gix itself (no `git` binary needed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::pedantic,
    missing_docs
)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::actor::SignatureRef;
use gix::objs::tree::EntryKind;
use gix::refs::transaction::PreviousValue;

/// One entry of a fixture tree.
pub enum Item<'a> {
    File(&'a [u8]),
    Exec(&'a [u8]),
    Link(&'a str),
    Gitlink(&'a str),
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub repo: gix::Repository,
    /// Bumped per commit so that commits with equal trees still differ.
    counter: std::cell::Cell<u32>,
}

pub fn sig() -> SignatureRef<'static> {
    SignatureRef {
        name: "Kiln Test".into(),
        email: "test@kiln.invalid".into(),
        time: "1700000000 +0000",
    }
}

impl Fixture {
    /// A repository with a work tree (`.git` inside).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = gix::init(dir.path()).unwrap();
        Fixture {
            dir,
            repo,
            counter: 0.into(),
        }
    }

    /// A bare repository.
    pub fn new_bare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = gix::init_bare(dir.path()).unwrap();
        Fixture {
            dir,
            repo,
            counter: 0.into(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    pub fn tree(&self, items: &[(&str, Item<'_>)]) -> ObjectId {
        let mut editor = self
            .repo
            .edit_tree(ObjectId::empty_tree(gix::hash::Kind::Sha1))
            .unwrap();
        for (path, item) in items {
            let (kind, id) = match item {
                Item::File(data) => (
                    EntryKind::Blob,
                    self.repo.write_blob(data).unwrap().detach(),
                ),
                Item::Exec(data) => (
                    EntryKind::BlobExecutable,
                    self.repo.write_blob(data).unwrap().detach(),
                ),
                Item::Link(target) => (
                    EntryKind::Link,
                    self.repo.write_blob(target.as_bytes()).unwrap().detach(),
                ),
                Item::Gitlink(hex) => (
                    EntryKind::Commit,
                    ObjectId::from_hex(hex.as_bytes()).unwrap(),
                ),
            };
            editor.upsert(*path, kind, id).unwrap();
        }
        editor.write().unwrap().detach()
    }

    /// Commit `items` onto `branch` (created if needed), returning the commit id.
    pub fn commit(&self, branch: &str, items: &[(&str, Item<'_>)]) -> ObjectId {
        let tree = self.tree(items);
        self.commit_tree(branch, tree)
    }

    pub fn commit_tree(&self, branch: &str, tree: ObjectId) -> ObjectId {
        let name = format!("refs/heads/{branch}");
        let parent = self
            .repo
            .try_find_reference(name.as_str())
            .unwrap()
            .map(|mut r| r.peel_to_id().unwrap().detach());
        let n = self.counter.get() + 1;
        self.counter.set(n);
        self.repo
            .commit_as(
                sig(),
                sig(),
                name.as_str(),
                format!("commit {n}"),
                tree,
                parent,
            )
            .unwrap()
            .detach()
    }

    pub fn branch(&self, name: &str, target: ObjectId) {
        self.repo
            .reference(
                format!("refs/heads/{name}").as_str(),
                target,
                PreviousValue::Any,
                "branch",
            )
            .unwrap();
    }

    pub fn delete_ref(&self, name: &str) {
        let r = self.repo.find_reference(name).unwrap();
        r.delete().unwrap();
    }

    pub fn lightweight_tag(&self, name: &str, target: ObjectId) {
        self.repo
            .tag_reference(name, target, PreviousValue::MustNotExist)
            .unwrap();
    }

    /// Returns the id of the tag object.
    pub fn annotated_tag(&self, name: &str, target: ObjectId) -> ObjectId {
        let r = self
            .repo
            .tag(
                name,
                target,
                gix::objs::Kind::Commit,
                Some(sig()),
                "release",
                PreviousValue::MustNotExist,
            )
            .unwrap();
        r.id().detach()
    }
}

/// A fresh cache directory.
pub fn cache() -> (tempfile::TempDir, kiln_git::GitSources) {
    let dir = tempfile::tempdir().unwrap();
    let sources = kiln_git::GitSources::new(dir.path().join("cache"));
    (dir, sources)
}

/// All mirror directories in a cache.
pub fn mirrors(cache_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect()
}
