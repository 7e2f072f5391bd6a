//! `package-lock.json` (lockfileVersion 2 and 3): the `packages` map, which says exactly
//! where each package goes under `node_modules`, which entries are links to folders of the app
//! (workspaces, `file:` dependencies) and what each package depends on.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What the lockfile says to lay out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lockfile {
    /// Packages installed from tarballs, sorted by path (parents before children).
    pub packages: Vec<LockedPackage>,
    /// `link: true` entries: `node_modules` paths that are symlinks to folders of the app.
    pub links: Vec<LockedLink>,
    /// Folders of the app that are packages (workspaces, `file:` targets), by path.
    pub folders: BTreeMap<String, LockedFolder>,
}

/// A `node_modules` entry that npm makes a symlink to a folder of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedLink {
    /// Link path relative to the app, e.g. `node_modules/@s/lib`.
    pub path: String,
    /// Package name (from the path).
    pub name: String,
    /// The folder it points at, relative to the app, e.g. `packages/lib`.
    pub target: String,
    /// Only needed for development.
    pub dev: bool,
}

/// A folder of the app that is a package (a workspace or a `file:` dependency's target).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockedFolder {
    /// Package name, when the lockfile gives one.
    pub name: Option<String>,
    /// Names it depends on (`dependencies`, `optionalDependencies`, `peerDependencies`).
    pub dependencies: Vec<String>,
    /// `bin` entries: command name → path inside the folder.
    pub bin: BTreeMap<String, String>,
}

/// One installable package of the lockfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Names it depends on (`dependencies`, `optionalDependencies`, `peerDependencies`),
    /// sorted; where each resolves is decided by the `node_modules` layout.
    pub dependencies: Vec<String>,
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
    #[serde(default)]
    dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    peer_dependencies: BTreeMap<String, serde_json::Value>,
}

impl RawPackage {
    fn dependency_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .dependencies
            .keys()
            .chain(self.optional_dependencies.keys())
            .chain(self.peer_dependencies.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }
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
    /// A link (workspace or `file:` dependency) to a folder outside the app.
    #[error(
        "package-lock.json entry {path} links to {target:?}, which is not a folder inside the app; only workspaces and file: dependencies inside the app directory can be installed"
    )]
    LinkOutsideApp {
        /// The link's path.
        path: String,
        /// Its `resolved` folder.
        target: String,
    },
    /// A link inside an installed package's `node_modules`.
    #[error(
        "package-lock.json entry {0} is a link inside an installed package's node_modules, which Kiln cannot lay out; publish the linked package or make it a top-level workspace dependency"
    )]
    NestedLink(String),
    /// A path that could escape `node_modules`.
    #[error("package-lock.json entry {0:?} is not a safe node_modules path")]
    UnsafePath(String),
    /// An entry without a version.
    #[error("package-lock.json entry {0} has no version; regenerate the lockfile")]
    NoVersion(String),
}

/// Parse a lockfile. Packages come sorted by path (parents before children); the root entry
/// (`""`) is skipped.
pub fn parse(text: &str) -> Result<Lockfile, LockfileError> {
    let raw: RawLock = serde_json::from_str(text).map_err(LockfileError::Json)?;
    let version = raw.lockfile_version.unwrap_or(1);
    if !(2..=3).contains(&version) {
        return Err(LockfileError::Version(version));
    }
    let packages = raw.packages.ok_or(LockfileError::NoPackages)?;
    let mut out = Lockfile::default();
    for (path, p) in packages {
        if path.is_empty() {
            continue;
        }
        check_path(&path)?;
        if !path.contains("node_modules/") {
            // A folder of the app that is a package (a workspace): not installed from a tarball.
            let bin = bin_map(p.bin.as_ref(), p.name.as_deref().unwrap_or(&path));
            out.folders.insert(
                path,
                LockedFolder {
                    dependencies: p.dependency_names(),
                    name: p.name,
                    bin,
                },
            );
            continue;
        }
        if p.link {
            out.links.push(link(path, &p)?);
            continue;
        }
        let name = p.name.clone().unwrap_or_else(|| name_from_path(&path));
        let version = p
            .version
            .clone()
            .ok_or_else(|| LockfileError::NoVersion(path.clone()))?;
        out.packages.push(LockedPackage {
            bin: bin_map(p.bin.as_ref(), &name),
            dependencies: p.dependency_names(),
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

/// A `link: true` entry: it must sit directly in an app folder's `node_modules` and point at
/// a folder inside the app.
fn link(path: String, p: &RawPackage) -> Result<LockedLink, LockfileError> {
    let below_app_folder = path
        .split_once("node_modules/")
        .map_or("", |(_, rest)| rest);
    if below_app_folder.contains("node_modules/") {
        return Err(LockfileError::NestedLink(path));
    }
    let target = p
        .resolved
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches("file:")
        .trim_end_matches('/')
        .to_owned();
    let inside = !target.is_empty()
        && !target.starts_with('/')
        && target
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
    if !inside {
        return Err(LockfileError::LinkOutsideApp { path, target });
    }
    Ok(LockedLink {
        name: name_from_path(&path),
        path,
        target,
        dev: p.dev,
    })
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
          "integrity": "sha512-AAAA", "bin": {"acli": "bin/cli.js"},
          "dependencies": {"@s/b": "^2"}, "peerDependencies": {"c": "*"}, "optionalDependencies": {"@s/b": "^2"}},
        "node_modules/a/node_modules/@s/b": {"version": "2.0.0", "integrity": "sha512-BBBB", "hasInstallScript": true},
        "node_modules/dev-only": {"version": "0.1.0", "dev": true, "bin": "./x.js"}
      }
    }"#;

    #[test]
    fn reads_v3_packages() {
        let p = parse(LOCK).unwrap().packages;
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].path, "node_modules/a");
        assert_eq!(p[0].bin["acli"], "bin/cli.js");
        assert_eq!(p[0].dependencies, ["@s/b", "c"]);
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

    #[test]
    fn reads_workspace_links_and_folders() {
        let lock = parse(
            r#"{"lockfileVersion": 3, "packages": {
              "": {"name": "root", "workspaces": ["packages/*"]},
              "node_modules/@s/lib": {"resolved": "packages/lib", "link": true},
              "node_modules/app-a": {"resolved": "packages/a", "link": true, "dev": true},
              "packages/a": {"name": "app-a", "version": "1.0.0", "dependencies": {"@s/lib": "*"}},
              "packages/a/node_modules/x": {"version": "1.0.0"},
              "packages/lib": {"name": "@s/lib", "version": "1.0.0", "bin": "cli.js"}
            }}"#,
        )
        .unwrap();
        assert_eq!(lock.links.len(), 2);
        assert_eq!(lock.links[0].name, "@s/lib");
        assert_eq!(lock.links[0].target, "packages/lib");
        assert!(lock.links[1].dev);
        assert_eq!(lock.folders["packages/a"].dependencies, ["@s/lib"]);
        assert_eq!(lock.folders["packages/lib"].bin["lib"], "cli.js");
        assert_eq!(lock.packages.len(), 1);
        assert_eq!(lock.packages[0].path, "packages/a/node_modules/x");
    }

    #[test]
    fn refuses_links_out_of_the_app_or_nested() {
        let err = parse(
            r#"{"lockfileVersion": 3, "packages": {"node_modules/x": {"resolved": "../x", "link": true}}}"#,
        )
        .unwrap_err();
        assert!(matches!(err, LockfileError::LinkOutsideApp { .. }), "{err}");
        let err = parse(
            r#"{"lockfileVersion": 3, "packages": {"node_modules/a/node_modules/x": {"resolved": "x", "link": true}}}"#,
        )
        .unwrap_err();
        assert!(matches!(err, LockfileError::NestedLink(_)), "{err}");
    }
}
