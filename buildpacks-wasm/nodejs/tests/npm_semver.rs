//! Differential test: Kiln's `engines.node` range matching against npm's own `semver`
//! package (the one bundled with npm), over a table of ranges × versions.
//!
//! Needs `node` and `npm` on PATH (Debian/Ubuntu: `apt-get install nodejs npm`). Without
//! them the test fails with that hint instead of passing silently.

// The range module is private to the buildpack crate; compile its source here directly.
#[path = "../src/range.rs"]
#[allow(dead_code)]
mod range;

use std::io::Write as _;
use std::process::{Command, Stdio};

use range::NpmRange;

/// Ranges: every form npm documents, plus whitespace variants and invalid ones.
const RANGES: &[&str] = &[
    // exact versions, `=`, `v`
    "20.11.0",
    "=20.11.0",
    "v20.11.0",
    "=v1.2.3",
    "= 1.2.3",
    "1.2.3",
    "1.2.3+build.7",
    // tilde
    "~1.2.3",
    "~1.2",
    "~1",
    "~0.2.3",
    "~0.2",
    "~0",
    "~>1.2",
    "~1.2.x",
    "~v1.2.3",
    "~ 1.2.3",
    // caret
    "^1.2.3",
    "^1.2",
    "^1.x",
    "^0.2.3",
    "^0.0.3",
    "^0.0",
    "^0.x",
    "^0",
    "^0.0.x",
    "^v1.2.3",
    "^ 1.2.3",
    // x-ranges and partials
    "1.x",
    "1.X",
    "1.2.*",
    "1.2.x",
    "x.x.x",
    "1.*.3",
    "*",
    "",
    "x",
    "X",
    "1",
    "1.2",
    "20",
    "=*",
    ">=*",
    ">*",
    "<*",
    // hyphen ranges
    "1.2 - 2.3.4",
    "1.2.3 - 2",
    "1.2.3 - 2.3",
    "1 - 2",
    "18 - 20",
    "1.2.3 - 2.3.4",
    "1.2.3 - v2.3.4",
    "1.2.3-alpha.3 - 2",
    "1.2.3 - 2.3.4 || 3.x",
    "* - 2",
    // alternatives and comparator sets
    "^20 || ^22",
    "1.2.7 || >=1.2.9 <2.0.0",
    "<1.2 || >=3",
    "1.2.3  ||  2.x",
    ">=1.2.3 <2 ||",
    "|| 1.2.3",
    ">=1.2.3 <2",
    ">=18 <21",
    ">=1.0.0 <=1.0.0",
    ">2 <1",
    // comparators with partials
    ">1.2",
    ">1",
    ">1.2.3",
    "<=1.2",
    "<=1",
    "<1.2",
    "<1.2.3",
    ">=1.2",
    ">=1",
    "<2",
    ">=1.x",
    "<1.x",
    ">1.x.x",
    ">=v1.2.3",
    // whitespace between operator and version
    ">= 1.2.3",
    ">=  1.2.3  <  2",
    "> 1.2",
    "<= 1.2",
    " 1.2.3 ",
    "\t>=1.2.3\t<2 ",
    // prereleases in ranges
    ">=1.2.3-alpha.3",
    "1.2.3-alpha.3",
    "=1.2.3-alpha.7",
    "^1.2.3-alpha.3",
    "~1.2.3-beta",
    ">1.2.3-alpha.3 <1.2.4",
    "<1.2.3-beta",
    "<=1.2.3-alpha.7",
    ">=3.4.5-alpha.1 <4",
    "^0.0.3-beta",
    ">=1.2.3-alpha.3 >=1.0.0",
    // node-semver quirks (what its regex rewriting accepts and rejects)
    "1.2.3*",
    "*>= 1.2.3",
    "=1.2.3 - 2",
    "v 1.2 - 2",
    "1 - v 2",
    "1 - =2.3.4-beta",
    "~>=1.2",
    "^x.1",
    "> = 1.2",
    "v= 1.2",
    ">= =1.2",
    ">= v1.2",
    ">=v 1.2",
    "v 1.2.3",
    "1.2.3 +build",
    "1.2.3 +b - 2",
    "1 - 2 +b +c",
    "1.2.x-beta",
    "^1.x.3",
    ">=0.0.0",
    "<=0.0.0-beta >=0.0.0",
    "~> 1.2",
    "= 1.2",
    "1.2.3-0a",
    ">x",
    "<=x",
    "1.2.3 - *",
    "* - *",
    ">=1.2.3||<1",
    "9007199254740991",
    ">=1.2.3-alpha.3 || *",
    "1.2.3-alpha.7 ||",
    "1.2.31+*a",
    // invalid
    ">=banana",
    "latest",
    "1.2.3.4",
    "^1.2.3 >",
    "1 - ",
    "a.b.c",
    ">=1.2.3 || banana",
    ">>1",
    "=>1.2",
    "1.2.3-",
    "01.2.3",
    "V1.2.3",
    "1.2.3 - 2.3.4 - 3",
    "~",
    "^",
    "1.2.3+",
    "1.2.3-01",
    "~1.2.3-beta.01",
    "9007199254740991.x",
    "9007199254740992",
    "1.2.3 -2",
    "1.2.3- 2",
    "^1.2.3.4",
    "|||",
    "**",
    "*>=*",
];

/// Versions: releases, 0.x boundaries, prereleases on both sides of range bounds.
const VERSIONS: &[&str] = &[
    "0.0.0-alpha",
    "0.0.0",
    "0.0.1",
    "0.0.3",
    "0.0.3-beta",
    "0.0.3-gamma",
    "0.0.4",
    "0.1.0",
    "0.2.0",
    "0.2.3",
    "0.2.9",
    "0.3.0",
    "1.0.0-alpha",
    "1.0.0",
    "1.1.9",
    "1.2.0",
    "1.2.2",
    "1.2.3-alpha.3",
    "1.2.3-alpha.7",
    "1.2.3-beta",
    "1.2.3",
    "1.2.3+build.5",
    "1.2.4-beta.1",
    "1.2.4",
    "1.2.7",
    "1.2.9",
    "1.3.0-0",
    "1.3.0",
    "1.9.9",
    "2.0.0-rc.1",
    "2.0.0",
    "2.3.4",
    "2.3.5",
    "2.9.9",
    "3.0.0",
    "3.4.5-alpha.9",
    "18.20.0",
    "20.0.0",
    "20.11.0",
    "20.11.1",
    "20.12.0",
    "21.0.0",
    "22.12.0",
];

/// Run by `node`: load npm's bundled semver and answer `validRange`/`satisfies` for the
/// table read from stdin as `{"ranges": [...], "versions": [...]}`.
const NODE_SCRIPT: &str = r"
const path = require('path');
const root = process.env.KILN_NPM_ROOT;
const candidates = [
  path.join(root, 'npm', 'node_modules', 'semver'),
  path.join(root, 'semver'),
  'semver',
];
let semver, from;
for (const c of candidates) {
  try { semver = require(c); from = require.resolve(c); break; } catch (e) {}
}
if (!semver) {
  console.error('npm semver package not found under ' + root + ' (tried ' + candidates.join(', ') + ')');
  process.exit(3);
}
let input = '';
process.stdin.on('data', d => { input += d; });
process.stdin.on('end', () => {
  const { ranges, versions } = JSON.parse(input);
  const out = {
    semver: require(path.join(path.dirname(from), 'package.json')).version,
    from,
    results: ranges.map(r => ({
      valid: semver.validRange(r) !== null,
      satisfies: versions.map(v => semver.satisfies(v, r)),
    })),
  };
  process.stdout.write(JSON.stringify(out));
});
";

const INSTALL_HINT: &str = "install Node.js and npm (Debian/Ubuntu: `apt-get install nodejs npm`); \
     this test compares Kiln's engines.node ranges with npm's bundled semver package";

/// npm's verdict on the table: `(semver version, per range (valid, per version satisfies))`.
fn npm_answers() -> (String, Vec<(bool, Vec<bool>)>) {
    let root = Command::new("npm")
        .args(["root", "-g"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `npm root -g` ({e}): {INSTALL_HINT}"));
    assert!(
        root.status.success(),
        "`npm root -g` failed ({}): {INSTALL_HINT}",
        String::from_utf8_lossy(&root.stderr)
    );
    let root = String::from_utf8_lossy(&root.stdout).trim().to_string();

    let mut child = Command::new("node")
        .args(["-e", NODE_SCRIPT])
        .env("KILN_NPM_ROOT", &root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` ({e}): {INSTALL_HINT}"));
    let input = serde_json::json!({ "ranges": RANGES, "versions": VERSIONS });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to node");
    let out = child.wait_with_output().expect("node output");
    assert!(
        out.status.success(),
        "node could not evaluate npm's semver: {}\n{INSTALL_HINT}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("node JSON");
    let results = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let valid = r["valid"].as_bool().expect("valid");
            let sat = r["satisfies"]
                .as_array()
                .expect("satisfies")
                .iter()
                .map(|b| b.as_bool().expect("bool"))
                .collect();
            (valid, sat)
        })
        .collect::<Vec<_>>();
    assert_eq!(results.len(), RANGES.len());
    let version = format!(
        "semver {} ({})",
        json["semver"].as_str().unwrap_or("?"),
        json["from"].as_str().unwrap_or("?")
    );
    (version, results)
}

#[test]
fn ranges_agree_with_npm_semver() {
    let (npm_semver, answers) = npm_answers();
    let versions: Vec<semver::Version> = VERSIONS
        .iter()
        .map(|v| semver::Version::parse(v).expect("table version"))
        .collect();

    let mut disagreements = Vec::new();
    let mut pairs = 0;
    for (range, (valid, satisfies)) in RANGES.iter().zip(&answers) {
        match (NpmRange::parse(range), valid) {
            (Err(e), true) => disagreements.push(format!("{range:?}: npm accepts, Kiln: {e}")),
            (Ok(_), false) => disagreements.push(format!("{range:?}: npm rejects, Kiln accepts")),
            (Err(e), false) => {
                if !e.to_string().contains(range.trim()) {
                    disagreements
                        .push(format!("{range:?}: the error does not name the range: {e}"));
                }
            }
            (Ok(parsed), true) => {
                for ((text, v), npm) in VERSIONS.iter().zip(&versions).zip(satisfies) {
                    pairs += 1;
                    let kiln = parsed.matches(v);
                    if kiln != *npm {
                        disagreements.push(format!("{range:?} vs {text}: npm {npm}, Kiln {kiln}"));
                    }
                }
            }
        }
    }
    eprintln!(
        "compared {} ranges ({pairs} range/version pairs) with npm's {npm_semver}",
        RANGES.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s) with npm's {npm_semver}:\n  {}",
        disagreements.len(),
        disagreements.join("\n  ")
    );
}
