//! A package's install-time lifecycle scripts as npm finds them in its `package.json`:
//! `preinstall`, `install` and `postinstall` (workspace folders also `prepare`, as npm runs it
//! for links), and node-gyp's default `install` (`node-gyp rebuild`) for a package with a
//! `binding.gyp` and neither an `install` nor a `preinstall` script (unless `gypfile: false`).

use std::path::Path;

/// What `npm ci` runs for a package installed from a tarball, in order.
pub const PACKAGE_EVENTS: &[&str] = &["preinstall", "install", "postinstall"];

/// What `npm ci` runs for a workspace folder (a link), in order.
pub const LINK_EVENTS: &[&str] = &["preinstall", "prepare", "install", "postinstall"];

/// npm's default `install` script of a package with a `binding.gyp`.
pub const DEFAULT_GYP_INSTALL: &str = "node-gyp rebuild";

/// One script to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The lifecycle event (`install`, …).
    pub event: String,
    /// The shell command.
    pub command: String,
}

/// A package's scripts for a list of events.
#[derive(Debug, Clone, PartialEq)]
pub struct Scripts {
    /// Its parsed `package.json`.
    pub manifest: serde_json::Value,
    /// The scripts, in event order.
    pub steps: Vec<Step>,
}

impl Scripts {
    /// Whether a script runs node-gyp (which needs npm's copy and the runtime's headers).
    pub fn uses_node_gyp(&self) -> bool {
        self.steps.iter().any(|s| s.command.contains("node-gyp"))
    }

    /// `name@version` from the manifest.
    pub fn label(&self) -> String {
        let field = |k: &str| {
            self.manifest
                .get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        format!("{}@{}", field("name"), field("version"))
    }
}

/// The scripts for `events` of the package in `dir`; `None` when it has no `package.json`
/// or none of them. A `package.json` that is not JSON counts as none, as for npm.
pub fn read(dir: &Path, events: &[&str]) -> Result<Option<Scripts>, kiln_sdk::Error> {
    let file = dir.join("package.json");
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(kiln_sdk::Error::io("read", &file, e)),
    };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
        kiln_sdk::log::warn(format!(
            "{} is not valid JSON; its scripts are not run",
            file.display()
        ));
        return Ok(None);
    };
    let script = |event: &str| {
        manifest
            .get("scripts")
            .and_then(|s| s.get(event))
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    };
    let gyp_default = script("install").is_none()
        && script("preinstall").is_none()
        && manifest.get("gypfile") != Some(&serde_json::Value::Bool(false))
        && dir.join("binding.gyp").is_file();
    let steps: Vec<Step> = events
        .iter()
        .filter_map(|&event| {
            let command = script(event).or_else(|| {
                (event == "install" && gyp_default).then(|| DEFAULT_GYP_INSTALL.to_owned())
            })?;
            Some(Step {
                event: event.to_owned(),
                command,
            })
        })
        .collect();
    Ok((!steps.is_empty()).then_some(Scripts { manifest, steps }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn scripts_in_event_order_and_the_gyp_default() {
        let dir = package(&[(
            "package.json",
            r#"{"name":"a","version":"1.0.0","scripts":{"postinstall":"node post.js","preinstall":"echo pre","test":"x"}}"#,
        )]);
        let s = read(dir.path(), PACKAGE_EVENTS).unwrap().unwrap();
        assert_eq!(
            s.steps,
            [
                Step {
                    event: "preinstall".into(),
                    command: "echo pre".into()
                },
                Step {
                    event: "postinstall".into(),
                    command: "node post.js".into()
                }
            ]
        );
        assert_eq!(s.label(), "a@1.0.0");

        let gyp = package(&[
            ("package.json", r#"{"name":"g","version":"1.0.0"}"#),
            ("binding.gyp", "{}"),
        ]);
        let s = read(gyp.path(), PACKAGE_EVENTS).unwrap().unwrap();
        assert_eq!(s.steps[0].command, DEFAULT_GYP_INSTALL);
        assert!(s.uses_node_gyp());

        let off = package(&[
            ("package.json", r#"{"name":"g","gypfile":false}"#),
            ("binding.gyp", "{}"),
        ]);
        assert_eq!(read(off.path(), PACKAGE_EVENTS).unwrap(), None);
        let preinstall_only = package(&[
            ("package.json", r#"{"scripts":{"preinstall":"true"}}"#),
            ("binding.gyp", "{}"),
        ]);
        let s = read(preinstall_only.path(), PACKAGE_EVENTS)
            .unwrap()
            .unwrap();
        assert_eq!(s.steps.len(), 1);
        assert_eq!(
            read(Path::new("/nonexistent"), PACKAGE_EVENTS).unwrap(),
            None
        );
    }
}
