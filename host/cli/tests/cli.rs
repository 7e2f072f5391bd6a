//! The `kiln` command line itself: help, version, usage errors and their exit code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn kiln(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_commands() {
    let (code, stdout, _) = kiln(&["--help"]);
    assert_eq!(code, 0);
    for command in ["build", "detect", "inspect", "rebase", "gc", "sbom"] {
        assert!(
            stdout.contains(command),
            "{command} missing from:\n{stdout}"
        );
    }
}

#[test]
fn version_is_the_crate_version() {
    let (code, stdout, _) = kiln(&["--version"]);
    assert_eq!(code, 0);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
}

#[test]
fn usage_errors_exit_with_code_3() {
    let (code, _, stderr) = kiln(&["build"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("IMAGE"), "{stderr}");
    let (code, _, stderr) = kiln(&["frobnicate"]);
    assert_eq!(code, 3, "{stderr}");
    let (code, _, stderr) = kiln(&["build", "oci:/tmp/x", "--detect-timeout", "-1"]);
    assert_eq!(code, 3, "{stderr}");
}
