//! The smart-HTTP path, against `git http-backend` behind a tiny loopback HTTP server.
//!
//! These tests need the `git` binary as the *server* side only (the crate never runs it);
//! they print a note and pass when `git` is not installed. Everything stays on 127.0.0.1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::pedantic,
    missing_docs
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, Item, cache};
use kiln_git::GitError;

fn git_available() -> bool {
    Command::new("git")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[derive(Clone, Copy)]
enum Mode {
    Serve,
    RequireAuth,
}

/// Serve the repositories under `root` on a loopback port until the process ends.
fn serve(root: PathBuf, mode: Mode) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(stream) = stream else { continue };
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, &root, mode);
            });
        }
    });
    format!("http://{addr}")
}

fn handle(stream: TcpStream, root: &Path, mode: Mode) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end().to_owned();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length") {
        let len: usize = len.parse().unwrap_or(0);
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let mut out = stream;
    if matches!(mode, Mode::RequireAuth) {
        return out.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", root)
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, env) in [
        ("content-type", "CONTENT_TYPE"),
        ("git-protocol", "GIT_PROTOCOL"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
    ] {
        if let Some(v) = header(k) {
            cmd.env(env, v);
        }
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let output = child.wait_with_output()?;
    let _ = writer.join();
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let (head, body) = match split {
        Some((i, n)) => (
            String::from_utf8_lossy(&raw[..i]).into_owned(),
            &raw[i + n..],
        ),
        None => (String::new(), &raw[..]),
    };
    let mut status = "200 OK".to_owned();
    let mut response = String::new();
    for h in head.lines() {
        if let Some(s) = h.strip_prefix("Status:") {
            status = s.trim().to_owned();
        } else if !h.trim().is_empty() {
            response.push_str(h.trim());
            response.push_str("\r\n");
        }
    }
    out.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    out.write_all(body)
}

fn served_repo() -> (Fixture, String) {
    let fx = Fixture::new_bare();
    let root = fx.path().parent().unwrap().to_owned();
    let name = fx.path().file_name().unwrap().to_str().unwrap().to_owned();
    let base = serve(root, Mode::Serve);
    (fx, format!("{base}/{name}"))
}

#[test]
fn resolves_and_checks_out_over_http() {
    if !git_available() {
        eprintln!("note: `git` is not installed, skipping the http-backend test");
        return;
    }
    let (fx, url) = served_repo();
    let c1 = fx.commit(
        "main",
        &[
            ("a.txt", Item::File(b"one")),
            ("run", Item::Exec(b"#!/bin/sh\n")),
        ],
    );
    fx.annotated_tag("v1", c1);
    let (dir, sources) = cache();

    assert_eq!(
        sources.resolve(&url, "main").unwrap().commit,
        c1.to_string()
    );
    assert_eq!(sources.resolve(&url, "v1").unwrap().commit, c1.to_string());
    assert_eq!(
        sources.resolve(&url, "HEAD").unwrap().commit,
        c1.to_string()
    );

    let c2 = fx.commit(
        "main",
        &[("a.txt", Item::File(b"two")), ("link", Item::Link("a.txt"))],
    );
    fx.branch("feature", c1);
    assert_eq!(
        sources.resolve(&url, "main").unwrap().commit,
        c2.to_string()
    );
    assert_eq!(
        sources.resolve(&url, "refs/heads/feature").unwrap().commit,
        c1.to_string()
    );
    assert_eq!(
        sources.resolve(&url, &c1.to_string()).unwrap().commit,
        c1.to_string()
    );

    let err = sources.resolve(&url, "missing").unwrap_err();
    match err {
        GitError::RevisionNotFound { known, .. } => assert_eq!(known, ["feature", "main", "v1"]),
        other => panic!("{other}"),
    }

    let dest = dir.path().join("c1");
    sources.checkout(&url, &c1.to_string(), &dest).unwrap();
    assert_eq!(std::fs::read(dest.join("a.txt")).unwrap(), b"one");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dest.join("run"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    let dest = dir.path().join("c2");
    sources.checkout(&url, &c2.to_string(), &dest).unwrap();
    assert_eq!(
        std::fs::read_link(dest.join("link")).unwrap(),
        Path::new("a.txt")
    );

    fx.delete_ref("refs/heads/feature");
    let err = sources.resolve(&url, "feature").unwrap_err();
    assert!(matches!(err, GitError::RevisionNotFound { .. }), "{err}");
}

#[test]
fn a_commit_no_ref_reaches_is_not_found_over_http() {
    if !git_available() {
        eprintln!("note: `git` is not installed, skipping the http-backend test");
        return;
    }
    let (fx, url) = served_repo();
    fx.commit("main", &[("a", Item::File(b"a"))]);
    let (_d, sources) = cache();
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let err = sources.resolve(&url, unknown).unwrap_err();
    assert!(matches!(err, GitError::RevisionNotFound { .. }), "{err}");
}

#[test]
fn authentication_is_never_prompted_for() {
    let dir = tempfile::tempdir().unwrap();
    let base = serve(dir.path().to_owned(), Mode::RequireAuth);
    let (_d, sources) = cache();
    let start = Instant::now();
    let err = sources
        .resolve(&format!("{base}/private.git"), "main")
        .unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_missing_http_repository_is_unreachable() {
    if !git_available() {
        eprintln!("note: `git` is not installed, skipping the http-backend test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = serve(dir.path().to_owned(), Mode::Serve);
    let (_d, sources) = cache();
    let err = sources
        .resolve(&format!("{base}/nothing.git"), "main")
        .unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
}
