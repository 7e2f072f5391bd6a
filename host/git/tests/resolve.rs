//! Resolving revisions through the mirror, against repositories built with gix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::pedantic,
    missing_docs
)]

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, Item, cache, mirrors};
use kiln_git::GitError;

fn simple(fx: &Fixture, branch: &str, content: &str) -> gix::ObjectId {
    fx.commit(branch, &[("README", Item::File(content.as_bytes()))])
}

#[test]
fn resolves_a_branch() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    let (_d, sources) = cache();
    let r = sources
        .resolve(fx.path().to_str().unwrap(), "main")
        .unwrap();
    assert_eq!(r.commit, c1.to_string());
    assert_eq!(r.revision, "main");
    assert_eq!(r.url, fx.path().to_str().unwrap());
}

#[test]
fn resolves_annotated_and_lightweight_tags() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    let c2 = simple(&fx, "main", "two");
    let tag_object = fx.annotated_tag("v1.0", c1);
    fx.lightweight_tag("light", c2);
    let (_d, sources) = cache();
    let url = fx.path().to_str().unwrap();
    assert_eq!(sources.resolve(url, "v1.0").unwrap().commit, c1.to_string());
    assert_eq!(
        sources.resolve(url, "refs/tags/v1.0").unwrap().commit,
        c1.to_string()
    );
    assert_eq!(
        sources.resolve(url, "light").unwrap().commit,
        c2.to_string()
    );
    // The id of an annotated tag object is peeled to its commit as well.
    assert_eq!(
        sources
            .resolve(url, &tag_object.to_string())
            .unwrap()
            .commit,
        c1.to_string()
    );
}

#[test]
fn branch_wins_over_tag_of_the_same_name() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    let c2 = simple(&fx, "main", "two");
    fx.branch("both", c2);
    fx.lightweight_tag("both", c1);
    let (_d, sources) = cache();
    let url = fx.path().to_str().unwrap();
    assert_eq!(sources.resolve(url, "both").unwrap().commit, c2.to_string());
    assert_eq!(
        sources.resolve(url, "refs/tags/both").unwrap().commit,
        c1.to_string()
    );
}

#[test]
fn resolves_full_ref_names_and_head() {
    let fx = Fixture::new();
    let main = simple(&fx, "main", "main");
    let x = simple(&fx, "x", "x");
    let (_d, sources) = cache();
    let url = fx.path().to_str().unwrap();
    assert_eq!(
        sources.resolve(url, "refs/heads/x").unwrap().commit,
        x.to_string()
    );
    assert_eq!(
        sources.resolve(url, "HEAD").unwrap().commit,
        main.to_string()
    );
    // Refs outside branches and tags are fetched on demand.
    fx.repo
        .reference(
            "refs/pull/7/head",
            x,
            gix::refs::transaction::PreviousValue::Any,
            "pr",
        )
        .unwrap();
    assert_eq!(
        sources.resolve(url, "refs/pull/7/head").unwrap().commit,
        x.to_string()
    );
}

#[test]
fn resolves_a_full_commit_id() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    let _c2 = simple(&fx, "main", "two");
    let (_d, sources) = cache();
    let url = fx.path().to_str().unwrap();
    // Not at any ref tip, but reachable: the first resolve has to fetch.
    assert_eq!(
        sources.resolve(url, &c1.to_string()).unwrap().commit,
        c1.to_string()
    );
    // Upper case is accepted and normalised.
    let upper = c1.to_string().to_uppercase();
    assert_eq!(sources.resolve(url, &upper).unwrap().commit, c1.to_string());
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let err = sources.resolve(url, unknown).unwrap_err();
    assert!(matches!(err, GitError::RevisionNotFound { .. }), "{err}");
}

#[test]
fn a_new_commit_is_seen_through_the_mirror() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    let (dir, sources) = cache();
    let url = fx.path().to_str().unwrap();
    assert_eq!(sources.resolve(url, "main").unwrap().commit, c1.to_string());
    let c2 = simple(&fx, "main", "two");
    assert_eq!(sources.resolve(url, "main").unwrap().commit, c2.to_string());
    // A different `GitSources` on the same cache reuses the same mirror.
    let again = kiln_git::GitSources::new(sources.cache_dir());
    assert_eq!(again.resolve(url, "main").unwrap().commit, c2.to_string());
    assert_eq!(mirrors(&dir.path().join("cache")).len(), 1);
}

#[test]
fn deleted_branches_disappear() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    fx.branch("gone", c1);
    let (_d, sources) = cache();
    let url = fx.path().to_str().unwrap();
    assert_eq!(sources.resolve(url, "gone").unwrap().commit, c1.to_string());
    fx.delete_ref("refs/heads/gone");
    let err = sources.resolve(url, "gone").unwrap_err();
    assert!(matches!(err, GitError::RevisionNotFound { .. }), "{err}");
}

#[test]
fn local_path_relative_path_and_file_url_agree() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    let (dir, sources) = cache();
    let abs = fx.path().to_str().unwrap().to_owned();
    let by_path = sources.resolve(&abs, "main").unwrap();
    let by_url = sources.resolve(&fx.file_url(), "main").unwrap();
    let cwd = std::env::current_dir().unwrap();
    let relative = pathdiff(fx.path(), &cwd);
    let by_relative = sources.resolve(&relative, "main").unwrap();
    assert_eq!(by_path.commit, c1.to_string());
    assert_eq!(by_url.commit, by_path.commit);
    assert_eq!(by_relative.commit, by_path.commit);
    assert_eq!(
        mirrors(&dir.path().join("cache")).len(),
        1,
        "one mirror for all spellings"
    );
}

/// `path` relative to `base` (both absolute), using `..` as needed.
fn pathdiff(path: &std::path::Path, base: &std::path::Path) -> String {
    let path = path.canonicalize().unwrap();
    let base = base.canonicalize().unwrap();
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = std::path::PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out.to_str().unwrap().to_owned()
}

#[test]
fn bare_repositories_work() {
    let fx = Fixture::new_bare();
    let c1 = simple(&fx, "main", "bare");
    let (_d, sources) = cache();
    assert_eq!(
        sources.resolve(&fx.file_url(), "main").unwrap().commit,
        c1.to_string()
    );
    assert_eq!(
        sources
            .resolve(fx.path().to_str().unwrap(), "refs/heads/main")
            .unwrap()
            .commit,
        c1.to_string()
    );
}

#[test]
fn a_missing_revision_lists_known_names() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    fx.branch("develop", c1);
    fx.lightweight_tag("v1", c1);
    let (_d, sources) = cache();
    let url = fx.path().to_str().unwrap();
    let err = sources.resolve(url, "nope").unwrap_err();
    match &err {
        GitError::RevisionNotFound {
            url: u,
            revision,
            known,
        } => {
            assert_eq!(u, url);
            assert_eq!(revision, "nope");
            assert_eq!(known, &["develop", "main", "v1"]);
        }
        other => panic!("unexpected {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("nope") && text.contains(url) && text.contains("develop"),
        "{text}"
    );
}

#[test]
fn known_names_are_capped() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    for i in 0..15 {
        fx.branch(&format!("b{i:02}"), c1);
    }
    let (_d, sources) = cache();
    let err = sources
        .resolve(fx.path().to_str().unwrap(), "nope")
        .unwrap_err();
    let GitError::RevisionNotFound { known, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(known.len(), 11);
    assert_eq!(known[10], "… and 6 more");
}

#[test]
fn short_commit_ids_are_refused() {
    let fx = Fixture::new();
    let c1 = simple(&fx, "main", "one");
    let (_d, sources) = cache();
    let url = fx.path().to_str().unwrap();
    let short = &c1.to_string()[..7];
    let err = sources.resolve(url, short).unwrap_err();
    assert!(matches!(err, GitError::ShortCommitId { .. }), "{err}");
    assert!(
        err.to_string().contains("full 40-character commit id"),
        "{err}"
    );
    // A branch whose name looks like hex is still a branch.
    fx.branch("cafe1234", c1);
    assert_eq!(
        sources.resolve(url, "cafe1234").unwrap().commit,
        c1.to_string()
    );
}

#[test]
fn invalid_revisions_are_refused() {
    let fx = Fixture::new();
    simple(&fx, "main", "one");
    let (_d, sources) = cache();
    let url = fx.path().to_str().unwrap();
    for bad in ["", "a..b", "bad name", "x~1"] {
        let err = sources.resolve(url, bad).unwrap_err();
        assert!(
            matches!(err, GitError::InvalidRevision { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn empty_repository_has_nothing_to_resolve() {
    let fx = Fixture::new();
    let (_d, sources) = cache();
    let err = sources
        .resolve(fx.path().to_str().unwrap(), "main")
        .unwrap_err();
    assert!(
        matches!(err, GitError::RevisionNotFound { ref known, .. } if known.is_empty()),
        "{err}"
    );
}

#[test]
fn not_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let (_d, sources) = cache();
    let err = sources
        .resolve(dir.path().to_str().unwrap(), "main")
        .unwrap_err();
    assert!(matches!(err, GitError::NotARepository { .. }), "{err}");
}

#[test]
fn unreachable_file_url_fails_fast() {
    let (_d, sources) = cache();
    let start = Instant::now();
    let err = sources
        .resolve("file:///nonexistent/repo", "main")
        .unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains("file:///nonexistent/repo"),
        "{err}"
    );
    let err = sources.resolve("/nonexistent/repo", "main").unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn refused_http_connection_fails_fast() {
    let (_d, sources) = cache();
    let start = Instant::now();
    let url = "http://127.0.0.1:9/x.git";
    let err = sources.resolve(url, "main").unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(url) && text.contains("check the URL"),
        "{text}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn unsupported_schemes_are_refused() {
    let (_d, sources) = cache();
    for url in [
        "ssh://git@example.com/r.git",
        "git://example.com/r.git",
        "git@example.com:org/r.git",
    ] {
        let err = sources.resolve(url, "main").unwrap_err();
        assert!(
            matches!(err, GitError::UnsupportedUrl { .. }),
            "{url}: {err}"
        );
    }
}

#[test]
fn concurrent_resolves_share_one_mirror() {
    let fx = Fixture::new();
    let mut last = gix::ObjectId::null(gix::hash::Kind::Sha1);
    for i in 0..20 {
        last = fx.commit(
            "main",
            &[(&format!("f{i}"), Item::File(format!("{i}").as_bytes()))],
        );
    }
    let (dir, _sources) = cache();
    let cache_dir = dir.path().join("cache");
    let url = fx.path().to_str().unwrap().to_owned();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cache_dir = cache_dir.clone();
            let url = url.clone();
            std::thread::spawn(move || kiln_git::GitSources::new(cache_dir).resolve(&url, "main"))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap().commit, last.to_string());
    }
    assert_eq!(mirrors(&cache_dir).len(), 1);
}

#[test]
fn concurrent_processes_share_one_mirror() {
    let fx = Fixture::new();
    let mut last = gix::ObjectId::null(gix::hash::Kind::Sha1);
    for i in 0..30 {
        last = fx.commit(
            "main",
            &[(&format!("f{i}"), Item::File(format!("{i}").as_bytes()))],
        );
    }
    let (dir, _sources) = cache();
    let cache_dir = dir.path().join("cache");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "child_process_resolve",
                    "--ignored",
                    "--nocapture",
                ])
                .env("KILN_GIT_CHILD_CACHE", &cache_dir)
                .env("KILN_GIT_CHILD_URL", fx.path())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("RESOLVED {last}")), "{stdout}");
    }
    assert_eq!(mirrors(&cache_dir).len(), 1);
    // The mirror is intact: a fresh resolve and checkout from it work.
    let sources = kiln_git::GitSources::new(&cache_dir);
    let r = sources
        .resolve(fx.path().to_str().unwrap(), "main")
        .unwrap();
    assert_eq!(r.commit, last.to_string());
    let dest = dir.path().join("out");
    sources.checkout(&r.url, &r.commit, &dest).unwrap();
    assert_eq!(std::fs::read(dest.join("f29")).unwrap(), b"29");
}

/// Runs in a child process of `concurrent_processes_share_one_mirror`; a no-op otherwise.
#[test]
#[ignore = "child process only: concurrent_processes_share_one_mirror runs it with --ignored in CI"]
fn child_process_resolve() {
    let (Some(cache_dir), Some(url)) = (
        std::env::var_os("KILN_GIT_CHILD_CACHE"),
        std::env::var("KILN_GIT_CHILD_URL").ok(),
    ) else {
        return;
    };
    let r = kiln_git::GitSources::new(cache_dir)
        .resolve(&url, "main")
        .unwrap();
    println!("RESOLVED {}", r.commit);
}
