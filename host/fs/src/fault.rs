//! Fault points for tests.
//!
//! - `KILN_FAULT_INJECT=NAME`: the process aborts at point NAME, the way `kill -9` would stop
//!   it (no destructors, no cleanup). Tests use it to prove that a crash at any of these points
//!   leaves the previous image and the cache usable.
//! - `KILN_FAULT_PAUSE=NAME:DIR`: at point NAME the process creates `DIR/paused` and waits
//!   (up to ten minutes) until `DIR/resume` exists. Tests use it to change the world at an
//!   exact moment, e.g. stop a registry in the middle of a push.

/// Environment variable naming the crash point.
pub const FAULT_ENV: &str = "KILN_FAULT_INJECT";
/// Environment variable naming the pause point and its handshake directory.
pub const PAUSE_ENV: &str = "KILN_FAULT_PAUSE";

/// Abort the process if `KILN_FAULT_INJECT` equals `name`; wait if `KILN_FAULT_PAUSE` names it.
pub fn point(name: &str) {
    if std::env::var_os(FAULT_ENV).is_some_and(|v| v == name) {
        eprintln!("kiln: fault injected at {name}");
        std::process::abort();
    }
    let Some(pause) = std::env::var_os(PAUSE_ENV) else {
        return;
    };
    let pause = pause.to_string_lossy().into_owned();
    let Some((point, dir)) = pause.split_once(':') else {
        return;
    };
    if point != name {
        return;
    }
    let dir = std::path::Path::new(dir);
    let _ = std::fs::write(dir.join("paused"), name);
    for _ in 0..12_000 {
        if dir.join("resume").exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
