//! Crash points for tests: when `KILN_FAULT_INJECT` names a point, the process aborts there,
//! the way `kill -9` would stop it (no destructors, no cleanup). Tests use it to prove that a
//! crash at any of these points leaves the previous image and the cache usable.

/// Environment variable naming the crash point.
pub const FAULT_ENV: &str = "KILN_FAULT_INJECT";

/// Abort the process if `KILN_FAULT_INJECT` equals `name`.
pub fn point(name: &str) {
    if std::env::var_os(FAULT_ENV).is_some_and(|v| v == name) {
        eprintln!("kiln: fault injected at {name}");
        std::process::abort();
    }
}
