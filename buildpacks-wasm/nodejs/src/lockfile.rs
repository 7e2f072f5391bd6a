//! `package-lock.json` (lockfileVersion 2 and 3): the `packages` map, which says exactly
//! where each package goes under `node_modules`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One installable package of the lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // mirrors the lockfile's flags
pub struct LockedPackage {
    /// Install path relative to the app, e.g. `node_modules/a/node_modules/b`.
    pub path: String,
    /// Package name (from `name`, else the path).
    pub name: String,
    /// Version.
    pub version: String,
    /// Tarball URL as locked (may be absent for registry packages).
    pub resolved: Option<String>,
    /// SRI integrity.
    pub integrity: Option<String>,
    /// Only needed for development.
    pub dev: bool,
    /// Needs install scripts (`preinstall`/`install`/`postinstall`).
    pub has_install_script: bool,
    /// `bin` entries: command name → path inside the package.
    pub bin: BTreeMap<String, String>,
    /// `os` restriction (empty: any).
    pub os: Vec<String>,
    /// `cpu` restriction (empty: any).
    pub cpu: Vec<String>,
    /// Optional dependency (skipped on a platform mismatch).
    pub optional: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLock {
    #[serde(default)]
    lockfile_version: Option<u64>,
    #[serde(default)]
    packages: Option<BTreeMap<String, RawPackage>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::struct_excessive_bools)] // mirrors the lockfile's flags
struct RawPackage {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    resolved: Option<String>,
    #[serde(default)]
    integrity: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    has_install_script: bool,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    bin: Option<serde_json::Value>,
    #[serde(default)]
    os: Vec<String>,
    #[serde(default)]
    cpu: Vec<String>,
}

/// A `package-lock.json` Kiln cannot install from.
#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    /// Not JSON of the expected shape.
    #[error("package-lock.json is not valid JSON; regenerate it with `npm install`")]
    Json(#[source] serde_json::Error),
    /// `lockfileVersion` other than 2 or 3.
    #[error(
        "package-lock.json has lockfileVersion {0}; only versions 2 and 3 are supported. Regenerate it with npm 7 or newer: `npm install --package-lock-only`"
    )]
    Version(u64),
    /// No `packages` map.
    #[error("package-lock.json has no `packages` map; regenerate it with npm 7 or newer")]
    NoPackages,
    /// A workspace or `file:` link.
    #[error(
        "package-lock.json entry {0} is a link to a local package (workspaces / file: dependencies); these are not supported yet: publish the package or vendor it"
    )]
    Link(String),
    /// A path that could escape `node_modules`.
    #[error("package-lock.json entry {0:?} is not a safe node_modules path")]
    UnsafePath(String),
    /// An entry without a version.
    #[error("package-lock.json entry {0} has no version; regenerate the lockfile")]
    NoVersion(String),
}

/// Parse a lockfile into its packages, sorted by path (parents before children). The root
/// entry (`""`) is skipped.
pub fn parse(text: &str) -> Result<Vec<LockedPackage>, LockfileError> {
    let raw: RawLock = serde_json::from_str(text).map_err(LockfileError::Json)?;
    let version = raw.lockfile_version.unwrap_or(1);
    if !(2..=3).contains(&version) {
        return Err(LockfileError::Version(version));
    }
    let packages = raw.packages.ok_or(LockfileError::NoPackages)?;
    let mut out = Vec::new();
    for (path, p) in packages {
        if path.is_empty() || !path.contains("node_modules/") {
            // The root, and workspace package sources (they are not installed from tarballs).
            continue;
        }
        if p.link {
            return Err(LockfileError::Link(path));
        }
        check_path(&path)?;
        let name = p.name.clone().unwrap_or_else(|| name_from_path(&path));
        let version = p
            .version
            .clone()
            .ok_or_else(|| LockfileError::NoVersion(path.clone()))?;
        out.push(LockedPackage {
            bin: bin_map(p.bin.as_ref(), &name),
            path,
            name,
            version,
            resolved: p.resolved,
            integrity: p.integrity,
            dev: p.dev,
            has_install_script: p.has_install_script,
            os: p.os,
            cpu: p.cpu,
            optional: p.optional,
        });
    }
    Ok(out)
}

/// Each path segment must be a plain name; scoped names take two segments.
fn check_path(path: &str) -> Result<(), LockfileError> {
    let bad = path.starts_with('/')
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\\'));
    if bad {
        Err(LockfileError::UnsafePath(path.to_owned()))
    } else {
        Ok(())
    }
}

/// `node_modules/a/node_modules/@s/b` → `@s/b`.
pub fn name_from_path(path: &str) -> String {
    path.rsplit_once("node_modules/")
        .map_or(path, |(_, n)| n)
        .to_owned()
}

fn bin_map(bin: Option<&serde_json::Value>, name: &str) -> BTreeMap<String, String> {
    match bin {
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect(),
        Some(serde_json::Value::String(s)) => {
            let short = name.rsplit('/').next().unwrap_or(name);
            BTreeMap::from([(short.to_owned(), s.clone())])
        }
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
      "name": "app", "lockfileVersion": 3,
      "packages": {
        "": {"name": "app", "dependencies": {"a": "^1"}},
        "node_modules/a": {"version": "1.0.0", "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz",
          "integrity": "sha512-AAAA", "bin": {"acli": "bin/cli.js"}},
        "node_modules/a/node_modules/@s/b": {"version": "2.0.0", "integrity": "sha512-BBBB", "hasInstallScript": true},
        "node_modules/dev-only": {"version": "0.1.0", "dev": true, "bin": "./x.js"}
      }
    }"#;

    #[test]
    fn reads_v3_packages() {
        let p = parse(LOCK).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].path, "node_modules/a");
        assert_eq!(p[0].bin["acli"], "bin/cli.js");
        assert_eq!(p[1].name, "@s/b");
        assert!(p[1].has_install_script);
        assert!(p[2].dev);
        assert_eq!(p[2].bin["dev-only"], "./x.js");
    }

    #[test]
    fn rejects_v1_and_bad_paths() {
        let err = parse(r#"{"lockfileVersion": 1, "dependencies": {}}"#).unwrap_err();
        assert!(matches!(err, LockfileError::Version(1)), "{err}");
        assert!(err.to_string().contains("lockfileVersion 1"), "{err}");
        let err = parse(
            r#"{"lockfileVersion": 2, "packages": {"node_modules/../../x": {"version": "1"}}}"#,
        )
        .unwrap_err();
        assert!(matches!(err, LockfileError::UnsafePath(_)), "{err}");
        assert!(parse("nope").is_err());
    }
}
