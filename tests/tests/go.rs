//! The Go buildpack end to end, with no internet: the machine's own Go (Debian's
//! `golang-go`) packaged as a go.dev-style release, a module proxy on 127.0.0.1 with two
//! modules (one requiring the other), and the Debian image as build and run image.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod go_support;
mod support;

use go_support::*;
use support::*;

fn all_output(o: &Output) -> String {
    format!("{}\n{}", o.stdout, o.stderr)
}

/// A URL on 127.0.0.1 where nothing listens.
fn dead_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn go_app_builds_offline_runs_is_reproducible_and_rebuilds_from_cache() {
    let w = World::new();
    let image = debian();
    let images = [
        "--build-image",
        image.as_str(),
        "--run-image",
        image.as_str(),
    ];
    let base = w.server.base.clone();

    let started = std::time::Instant::now();
    let cold = w
        .build(&w.app, &w.layout("image"), "cache", &base, &images)
        .success();
    let cold_time = started.elapsed();
    let text = all_output(&cold);
    assert!(
        text.contains(&format!("Go {} for linux/amd64 (go 1.19)", w.version)),
        "{text}"
    );
    assert!(text.contains("Downloads: fetched 5 "), "{text}");
    assert_eq!(w.server.hits("/proxy/example.com/words/@v/v1.0.0.zip"), 1);
    assert_eq!(w.server.hits("/proxy/example.com/greet/@v/v1.0.0.mod"), 1);

    // The web process serves the greeting of the two modules over HTTP.
    let ran = run_image(&w.layout("image"), "latest", &["-e", "SELFTEST=1"], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("response: Hello, kiln! (http)"),
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
    // The second main package is a binary on the launch PATH.
    let hello = run_image(
        &w.layout("image"),
        "latest",
        &["--entrypoint", "/cnb/lifecycle/launcher"],
        &["--", "hello"],
    );
    assert_eq!(
        hello.stdout.trim(),
        "hello binary: Hello, cmd!",
        "{}",
        hello.stderr
    );
    let info = inspect_json(&w.layout("image"), "latest");
    let types: Vec<&str> = info["build"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["hello", "web"], "{info}");

    // The same app at another path, built from scratch (empty layer cache): the same image.
    let copy = w.work.path().join("elsewhere/app");
    copy_dir(&w.app, &copy);
    let again = w
        .build(&copy, &w.layout("image-2"), "cache-2", &base, &images)
        .success();
    assert_eq!(
        digest_of(&again),
        digest_of(&cold),
        "same inputs, same image"
    );

    // Offline, with the mirror and the proxy unreachable, and go.sum unchanged: everything
    // comes from the layer cache and nothing is downloaded.
    let hits = w.server.total();
    let started = std::time::Instant::now();
    let warm = w
        .build(
            &w.app,
            &w.layout("image"),
            "cache",
            &dead_base(),
            &[&images[..], &["--offline"]].concat(),
        )
        .success();
    let warm_time = started.elapsed();
    let text = all_output(&warm);
    assert_eq!(w.server.total(), hits);
    assert!(!text.contains("Downloads:"), "{text}");
    assert!(
        text.contains("goproxy: cache kept: go.sum is unchanged"),
        "{text}"
    );
    assert!(
        text.contains(&format!("go: cache kept: Go {} is unchanged", w.version)),
        "{text}"
    );
    assert_eq!(digest_of(&warm), digest_of(&cold));
    let ran = run_image(&w.layout("image"), "latest", &["-e", "SELFTEST=1"], &[]);
    assert!(
        ran.stdout.contains("response: Hello, kiln!"),
        "{}",
        ran.stderr
    );

    // One changed file: rebuilt from the kept caches, and the image has the change.
    let main = std::fs::read_to_string(w.app.join("main.go")).unwrap();
    std::fs::write(
        w.app.join("main.go"),
        main.replace(
            r#"greet.Hello("kiln"))"#,
            r#"greet.Hello("kiln")+" again")"#,
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let edited = w
        .build(&w.app, &w.layout("image"), "cache", &base, &images)
        .success();
    let edited_time = started.elapsed();
    assert!(
        all_output(&edited).contains("gocache: cache kept"),
        "{}",
        all_output(&edited)
    );
    assert_ne!(digest_of(&edited), digest_of(&cold));
    let ran = run_image(&w.layout("image"), "latest", &["-e", "SELFTEST=1"], &[]);
    assert!(
        ran.stdout.contains("response: Hello, kiln! again (http)"),
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
    eprintln!(
        "go e2e: cold build {cold_time:?}, warm offline build {warm_time:?}, one file changed {edited_time:?}"
    );
}

#[test]
fn a_tampered_module_fails_with_an_integrity_error_naming_its_url() {
    let w = World::new();
    let path = w.server.root.join("proxy/example.com/words/@v/v1.0.0.zip");
    let evil = zip(&[(
        "example.com/words@v1.0.0/words.go".to_owned(),
        b"package words\n\nconst Hello = \"Owned\"\n".to_vec(),
    )]);
    std::fs::write(&path, evil).unwrap();
    let out = w.build(&w.app, &w.layout("image"), "cache", &w.server.base, &[]);
    assert_ne!(out.code, 0);
    let text = all_output(&out);
    assert!(
        text.contains(&format!(
            "{}/proxy/example.com/words/@v/v1.0.0.zip",
            w.server.base
        )),
        "{text}"
    );
    assert!(text.contains("integrity mismatch"), "{text}");
    assert!(text.contains("module example.com/words@v1.0.0"), "{text}");
    assert!(!w.layout("image").exists());
}
