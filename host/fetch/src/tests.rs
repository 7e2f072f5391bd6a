//! Fetcher tests against a one-file-per-path HTTP server on 127.0.0.1.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Serves `files` (path → body); anything else is 404. Counts requests.
fn serve(files: BTreeMap<String, Vec<u8>>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, body) = match files.get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", Vec::new()),
            };
            // A body `REDIRECT <url>` answers 302 to that URL.
            let (status, location, body) = match body.strip_prefix(b"REDIRECT ") {
                Some(to) => (
                    "302 Found",
                    format!("location: {}\r\n", String::from_utf8_lossy(to)),
                    Vec::new(),
                ),
                None => (status, String::new(), body),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\n{location}content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (format!("http://{addr}"), hits)
}

fn sha256(data: &[u8]) -> String {
    let mut h = digest::Hasher::new(Algorithm::Sha256).unwrap();
    h.update(data);
    h.finish().to_string()
}

fn request(url: &str, integrity: Option<&str>) -> FetchRequest {
    FetchRequest {
        url: url.into(),
        integrity: integrity.map(str::to_owned),
    }
}

/// A fetcher for `policy`; the test server on 127.0.0.1 is allowed unless the test gives its
/// own allowlist.
fn fetcher(dir: &std::path::Path, mut policy: Policy) -> Fetcher {
    if policy.network_allow.is_empty() {
        policy.network_allow.push("127.0.0.1".into());
    }
    exact_fetcher(dir, policy)
}

/// A fetcher for exactly `policy`.
fn exact_fetcher(dir: &std::path::Path, policy: Policy) -> Fetcher {
    Fetcher::new(
        &FetchOptions {
            policy,
            ..FetchOptions::default()
        },
        dir.to_path_buf(),
        runtime(),
    )
}

/// One async runtime for the tests' fetchers.
fn runtime() -> tokio::runtime::Handle {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
    .handle()
    .clone()
}

#[test]
fn downloads_verifies_and_then_serves_from_cache() {
    let (base, hits) = serve(BTreeMap::from([
        ("/a".to_owned(), b"alpha".to_vec()),
        ("/b".to_owned(), b"beta".to_vec()),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    let reqs = [
        request(&format!("{base}/a"), Some(&sha256(b"alpha"))),
        request(&format!("{base}/b"), Some(&sha256(b"beta"))),
    ];
    let f = fetcher(tmp.path(), Policy::default());
    let out = f.fetch("bp", &reqs);
    let a = out[0].as_ref().unwrap();
    assert!(!a.cached);
    assert_eq!(a.size, 5);
    assert!(a.guest_path.starts_with("/downloads/sha256/"));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(f.stats().fetched, 2);

    let again = fetcher(tmp.path(), Policy::default());
    let out = again.fetch("bp", &reqs);
    assert!(out.iter().all(|r| r.as_ref().unwrap().cached));
    assert_eq!(hits.load(Ordering::SeqCst), 2, "no network on a warm cache");
    assert_eq!(again.stats().cached, 2);
}

#[test]
fn mismatch_fails_and_keeps_nothing() {
    let (base, _) = serve(BTreeMap::from([("/a".to_owned(), b"evil".to_vec())]));
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{base}/a");
    let want = sha256(b"good");
    let out = fetcher(tmp.path(), Policy::default()).fetch("bp", &[request(&url, Some(&want))]);
    let err = out[0].as_ref().unwrap_err();
    assert_eq!(err.kind, FetchErrorKind::IntegrityMismatch);
    assert!(err.message.contains(&url), "{}", err.message);
    assert!(err.message.contains(&want), "{}", err.message);
    // The SRI form too (what lockfiles hold), and never the digest of what arrived.
    let sri = super::digest::Digest::parse(&want).unwrap().sri();
    assert!(err.message.contains(&sri), "{}", err.message);
    assert!(!err.message.contains(&sha256(b"evil")), "{}", err.message);
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("sha256"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "partial files left: {left:?}");
}

#[test]
fn offline_miss_names_the_url_and_missing_file_is_not_found() {
    let (base, hits) = serve(BTreeMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{base}/missing");
    let offline = Policy {
        offline: true,
        ..Policy::default()
    };
    let out = fetcher(tmp.path(), offline).fetch("bp", &[request(&url, Some(&sha256(b"x")))]);
    let err = out[0].as_ref().unwrap_err();
    assert_eq!(err.kind, FetchErrorKind::OfflineMiss);
    assert!(err.message.contains(&url));
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    let out =
        fetcher(tmp.path(), Policy::default()).fetch("bp", &[request(&url, Some(&sha256(b"x")))]);
    assert_eq!(out[0].as_ref().unwrap_err().kind, FetchErrorKind::NotFound);
}

#[test]
fn unpinned_is_refused_unless_allowed_and_then_counted() {
    let (base, _) = serve(BTreeMap::from([("/u".to_owned(), b"free".to_vec())]));
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{base}/u");
    let out = fetcher(tmp.path(), Policy::default()).fetch("bp", &[request(&url, None)]);
    assert_eq!(out[0].as_ref().unwrap_err().kind, FetchErrorKind::Denied);

    let allow = Policy {
        allow_unpinned: true,
        ..Policy::default()
    };
    let f = fetcher(tmp.path(), allow.clone());
    let got = f.fetch("bp", &[request(&url, None)]).remove(0).unwrap();
    assert_eq!(got.digest.to_string(), sha256(b"free"));
    assert_eq!(f.stats().unpinned, vec![url.clone()]);

    // Offline, the URL→digest hint finds it.
    let offline = Policy {
        offline: true,
        ..allow
    };
    let got = fetcher(tmp.path(), offline)
        .fetch("bp", &[request(&url, None)])
        .remove(0)
        .unwrap();
    assert!(got.cached);
}

#[test]
fn index_pages_need_no_pin_are_asked_again_and_served_offline() {
    let (base, hits) = serve(BTreeMap::from([(
        "/simple/a/".to_owned(),
        b"<a href='a-1.whl#sha256=00'>a</a>".to_vec(),
    )]));
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{base}/simple/a/");
    let f = fetcher(tmp.path(), Policy::default());
    let got = f
        .fetch_index("bp", std::slice::from_ref(&url))
        .remove(0)
        .unwrap();
    assert!(!got.cached);
    assert!(
        f.stats().unpinned.is_empty(),
        "an index page is not an unpinned download"
    );
    assert_eq!(f.stats().index_pages, 1);
    // A view shows it to the buildpack that asked.
    assert!(
        f.view("bp")
            .unwrap()
            .root()
            .join(got.guest_path.trim_start_matches("/downloads/"))
            .exists()
    );

    // Online, the server is asked again (pages change); offline, the last page is served.
    f.fetch_index("bp", std::slice::from_ref(&url))
        .remove(0)
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let offline = Policy {
        offline: true,
        ..Policy::default()
    };
    let again = fetcher(tmp.path(), offline)
        .fetch_index("bp", std::slice::from_ref(&url))
        .remove(0)
        .unwrap();
    assert!(again.cached);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // The allowlist still applies.
    let other = Policy {
        network_allow: vec!["mirror.example".into()],
        ..Policy::default()
    };
    let err = exact_fetcher(tmp.path(), other)
        .fetch_index("bp", std::slice::from_ref(&url))
        .remove(0)
        .unwrap_err();
    assert_eq!(err.kind, FetchErrorKind::Denied);
}

#[test]
fn allowlist_blocks_other_hosts_before_any_request() {
    let (base, hits) = serve(BTreeMap::from([("/a".to_owned(), b"alpha".to_vec())]));
    let tmp = tempfile::tempdir().unwrap();
    let policy = Policy {
        network_allow: vec!["mirror.example".into()],
        ..Policy::default()
    };
    let out = fetcher(tmp.path(), policy).fetch(
        "bp",
        &[request(&format!("{base}/a"), Some(&sha256(b"alpha")))],
    );
    let err = out[0].as_ref().unwrap_err();
    assert_eq!(err.kind, FetchErrorKind::Denied);
    assert!(err.message.contains("--network-allow 127.0.0.1"));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn bad_digest_is_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fetcher(tmp.path(), Policy::default())
        .fetch("bp", &[request("http://127.0.0.1:1/a", Some("md5:00"))]);
    assert_eq!(out[0].as_ref().unwrap_err().kind, FetchErrorKind::Invalid);
}

#[test]
fn loopback_is_refused_unless_allowed_before_any_request() {
    let (base, hits) = serve(BTreeMap::from([("/a".to_owned(), b"alpha".to_vec())]));
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{base}/a");
    let out = exact_fetcher(tmp.path(), Policy::default())
        .fetch("bp", &[request(&url, Some(&sha256(b"alpha")))]);
    let err = out[0].as_ref().unwrap_err();
    assert_eq!(err.kind, FetchErrorKind::Denied, "{}", err.message);
    assert!(
        err.message.contains("--network-allow 127.0.0.1"),
        "{}",
        err.message
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no request to a refused address"
    );
    // The same for names that resolve to loopback, and for IPv6 loopback.
    let port = base.rsplit(':').next().unwrap();
    for other in [
        format!("http://localhost:{port}/a"),
        format!("http://[::1]:{port}/a"),
        // Other spellings of 127.0.0.1 that URL parsers accept.
        format!("http://2130706433:{port}/a"),
        format!("http://127.1:{port}/a"),
        format!("http://0x7f.0.0.1:{port}/a"),
        format!("http://[::ffff:127.0.0.1]:{port}/a"),
    ] {
        let out = exact_fetcher(tmp.path(), Policy::default())
            .fetch("bp", &[request(&other, Some(&sha256(b"alpha")))]);
        let err = out[0].as_ref().unwrap_err();
        assert!(
            err.message.contains("not a public address"),
            "{other}: {}",
            err.message
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    let allowed = Policy {
        network_allow: vec!["127.0.0.1".into()],
        ..Policy::default()
    };
    let out =
        exact_fetcher(tmp.path(), allowed).fetch("bp", &[request(&url, Some(&sha256(b"alpha")))]);
    assert!(out[0].is_ok(), "{:?}", out[0]);
}

#[test]
fn redirects_are_followed_only_to_allowed_hosts() {
    let (target, target_hits) = serve(BTreeMap::from([("/a".to_owned(), b"alpha".to_vec())]));
    let target_port = target.rsplit(':').next().unwrap().to_owned();
    let (base, _) = serve(BTreeMap::from([
        (
            "/to-other-port".to_owned(),
            format!("REDIRECT {target}/a").into_bytes(),
        ),
        (
            "/to-localhost".to_owned(),
            format!("REDIRECT http://localhost:{target_port}/a").into_bytes(),
        ),
        (
            "/to-file".to_owned(),
            b"REDIRECT file:///etc/passwd".to_vec(),
        ),
        (
            "/to-self".to_owned(),
            format!("REDIRECT {target}/a").into_bytes(),
        ),
    ]));
    let base_authority = base.trim_start_matches("http://").to_owned();
    let tmp = tempfile::tempdir().unwrap();
    // Only this one server (host and port) is allowed.
    let only_base = Policy {
        network_allow: vec![base_authority],
        ..Policy::default()
    };
    for path in ["/to-other-port", "/to-localhost", "/to-file"] {
        let out = exact_fetcher(tmp.path(), only_base.clone()).fetch(
            "bp",
            &[request(&format!("{base}{path}"), Some(&sha256(b"alpha")))],
        );
        let err = out[0].as_ref().unwrap_err();
        // Not followed: refused by the policy, or (non-http schemes) left as the 302 itself.
        assert!(
            err.message.contains("redirect") || err.message.contains("302"),
            "{path}: {}",
            err.message
        );
    }
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "no redirect was followed"
    );
    // With the target's host allowed too, the redirect is followed.
    let out = fetcher(tmp.path(), Policy::default()).fetch(
        "bp",
        &[request(&format!("{base}/to-self"), Some(&sha256(b"alpha")))],
    );
    assert!(out[0].is_ok(), "{:?}", out[0]);
}

#[test]
fn a_build_sees_only_what_it_fetched() {
    let (base, _) = serve(BTreeMap::from([
        ("/a".to_owned(), b"alpha".to_vec()),
        ("/b".to_owned(), b"beta".to_vec()),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    let earlier = fetcher(tmp.path(), Policy::default());
    earlier.fetch(
        "bp",
        &[request(&format!("{base}/a"), Some(&sha256(b"alpha")))],
    )[0]
    .as_ref()
    .unwrap();
    let later = fetcher(tmp.path(), Policy::default());
    let got = later.fetch(
        "bp",
        &[request(&format!("{base}/b"), Some(&sha256(b"beta")))],
    );
    let got = got[0].as_ref().unwrap();
    let view = later.view("bp").unwrap().root().to_path_buf();
    let listed: Vec<String> = std::fs::read_dir(view.join("sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(listed, vec![got.digest.hex()], "only this build's file");
    assert_eq!(
        std::fs::read(view.join("sha256").join(got.digest.hex())).unwrap(),
        b"beta"
    );
}

#[test]
fn a_buildpack_sees_only_what_was_fetched_for_it() {
    let (base, _) = serve(BTreeMap::from([("/a".to_owned(), b"alpha".to_vec())]));
    let tmp = tempfile::tempdir().unwrap();
    let f = fetcher(tmp.path(), Policy::default());
    f.fetch(
        "first",
        &[request(&format!("{base}/a"), Some(&sha256(b"alpha")))],
    )[0]
    .as_ref()
    .unwrap();
    let other = f.view("second").unwrap();
    assert!(
        std::fs::read_dir(other.root()).unwrap().next().is_none(),
        "another buildpack of the same build sees nothing"
    );
    assert!(f.view("first").unwrap().root().join("sha256").is_dir());
}

/// A zip of stored `files` (name, content), as a GOPROXY serves `<version>.zip`.
fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    /// CRC-32 (IEEE), bit by bit: fine for test files.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let offset = u32::try_from(out.len()).unwrap();
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes()); // version needed
        common.extend_from_slice(&[0; 4]); // flags, method (stored)
        common.extend_from_slice(&[0; 4]); // time, date
        common.extend_from_slice(&crc32(data).to_le_bytes());
        let len = u32::try_from(data.len()).unwrap().to_le_bytes();
        common.extend_from_slice(&len);
        common.extend_from_slice(&len);
        common.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes()); // made by (MS-DOS)
        central.extend_from_slice(&common);
        central.extend_from_slice(&[0; 10]); // comment length, disk, attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let count = u16::try_from(files.len()).unwrap().to_le_bytes();
    let cd_offset = u32::try_from(out.len()).unwrap();
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count);
    out.extend_from_slice(&count);
    out.extend_from_slice(&u32::try_from(central.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The `h1:` pin of `files`, from the summary lines (`<hex sha256>  <name>\n`, sorted).
fn h1_of(files: &[(&str, &[u8])]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut sorted = files.to_vec();
    sorted.sort_by_key(|(name, _)| *name);
    let mut summary = String::new();
    for (name, data) in sorted {
        summary += &hex::encode(sha2::Sha256::digest(data));
        summary += "  ";
        summary += name;
        summary += "\n";
    }
    let hash = sha2::Sha256::digest(summary.as_bytes());
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

const MODULE_FILES: &[(&str, &[u8])] = &[
    (
        "example.com/hello@v1.0.0/go.mod",
        b"module example.com/hello\n\ngo 1.19\n",
    ),
    (
        "example.com/hello@v1.0.0/hello.go",
        b"package hello\n\nfunc Hello() string { return \"hello\" }\n",
    ),
];

#[test]
fn h1_pinned_module_zip_is_verified_and_then_cached() {
    let zip = stored_zip(MODULE_FILES);
    let (base, hits) = serve(BTreeMap::from([(
        "/example.com/hello/@v/v1.0.0.zip".to_owned(),
        zip.clone(),
    )]));
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{base}/example.com/hello/@v/v1.0.0.zip");
    let pin = h1_of(MODULE_FILES);
    let reqs = [request(&url, Some(&pin))];
    let f = fetcher(tmp.path(), Policy::default());
    let got = f.fetch("go", &reqs).remove(0).unwrap();
    assert!(!got.cached);
    assert_eq!(got.digest.to_string(), pin);
    assert_eq!(got.size, zip.len() as u64);
    assert_eq!(
        got.guest_path,
        format!("/downloads/h1/{}", got.digest.hex())
    );
    assert!(f.stats().unpinned.is_empty(), "an h1 pin is a pin");
    let view = f.view("go").unwrap().root().to_path_buf();
    assert_eq!(
        std::fs::read(view.join("h1").join(got.digest.hex())).unwrap(),
        zip
    );

    let again = fetcher(tmp.path(), Policy::default());
    let hit = again.fetch("go", &reqs).remove(0).unwrap();
    assert!(hit.cached);
    assert_eq!(hit.guest_path, got.guest_path);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no network on a warm cache");
    assert_eq!(again.stats().cached, 1);
    // Offline too.
    let offline = Policy {
        offline: true,
        ..Policy::default()
    };
    let hit = fetcher(tmp.path(), offline).fetch("go", &reqs).remove(0);
    assert!(hit.unwrap().cached);
}

#[test]
fn wrong_h1_pin_is_a_mismatch_and_keeps_nothing() {
    let (base, _) = serve(BTreeMap::from([
        ("/m.zip".to_owned(), stored_zip(MODULE_FILES)),
        (
            "/fake.zip".to_owned(),
            b"PK\x03\x04 not really a zip".to_vec(),
        ),
    ]));
    let tmp = tempfile::tempdir().unwrap();
    let tampered: &[(&str, &[u8])] = &[
        MODULE_FILES[0],
        ("example.com/hello@v1.0.0/hello.go", b"package hello\n"),
    ];
    let pin = h1_of(tampered);
    let f = fetcher(tmp.path(), Policy::default());
    for path in ["/m.zip", "/fake.zip"] {
        let url = format!("{base}{path}");
        let out = f.fetch("go", &[request(&url, Some(&pin))]);
        let err = out[0].as_ref().unwrap_err();
        assert_eq!(
            err.kind,
            FetchErrorKind::IntegrityMismatch,
            "{}",
            err.message
        );
        assert!(err.message.contains(&url), "{}", err.message);
        assert!(err.message.contains(&pin), "{}", err.message);
        assert!(!err.message.contains("SRI"), "{}", err.message);
        assert!(
            !err.message.contains(&h1_of(MODULE_FILES)),
            "never the actual hash: {}",
            err.message
        );
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("h1")).unwrap().collect();
    assert!(left.is_empty(), "partial files left: {left:?}");
}

#[test]
fn h1_pinned_go_mod_is_verified() {
    let go_mod: &[u8] = b"module example.com/hello\n\ngo 1.19\n";
    let (base, _) = serve(BTreeMap::from([(
        "/example.com/hello/@v/v1.0.0.mod".to_owned(),
        go_mod.to_vec(),
    )]));
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{base}/example.com/hello/@v/v1.0.0.mod");
    let pin = h1_of(&[("go.mod", go_mod)]);
    let got = fetcher(tmp.path(), Policy::default())
        .fetch("go", &[request(&url, Some(&pin))])
        .remove(0)
        .unwrap();
    assert_eq!(got.digest.to_string(), pin);
    assert!(got.guest_path.starts_with("/downloads/h1/"));
    assert_eq!(
        std::fs::read(tmp.path().join("h1").join(got.digest.hex())).unwrap(),
        go_mod
    );
    // The module zip's hash is no pin for the go.mod.
    let out = fetcher(tmp.path(), Policy::default())
        .fetch("go", &[request(&url, Some(&h1_of(MODULE_FILES)))]);
    assert_eq!(
        out[0].as_ref().unwrap_err().kind,
        FetchErrorKind::IntegrityMismatch
    );
}
