//! What the user said about install scripts (`preinstall`/`install`/`postinstall`,
//! `binding.gyp`): which packages' scripts are skipped, and, when scripts cannot run in this
//! build (no build image, or `KILN_NODEJS_IGNORE_SCRIPTS=true`), whether it may go on without
//! them.
//!
//! - `KILN_NODEJS_SCRIPTS_SKIP=c`: `c`'s scripts never run and do not matter (no warning);
//! - `KILN_NODEJS_SCRIPTS_REQUIRED=a,b`: fail a build that cannot run `a`'s or `b`'s scripts;
//! - `KILN_NODEJS_STRICT_SCRIPTS=true`: every script not skipped is required.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::error::NodejsError;
use crate::lockfile::LockedPackage;

/// What the user said about install scripts.
#[derive(Debug, Clone, Default)]
pub struct ScriptPolicy {
    required: Vec<String>,
    skipped: Vec<String>,
    strict: bool,
}

/// Package names in a `,`- or space-separated list.
fn names(list: Option<&String>) -> Vec<String> {
    list.map(|l| {
        l.split([',', ' '])
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

impl ScriptPolicy {
    /// Read the policy from the platform env.
    pub fn from_env(env: &BTreeMap<String, String>) -> Self {
        Self {
            required: names(env.get("KILN_NODEJS_SCRIPTS_REQUIRED")),
            skipped: names(env.get("KILN_NODEJS_SCRIPTS_SKIP")),
            strict: env
                .get("KILN_NODEJS_STRICT_SCRIPTS")
                .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes")),
        }
    }

    /// Whether `name`'s scripts are skipped (`KILN_NODEJS_SCRIPTS_SKIP`).
    pub fn skips(&self, name: &str) -> bool {
        self.skipped.iter().any(|n| n == name)
    }

    /// For a build whose install scripts do not run, because of `reason`: fail when a
    /// package whose script is required is going to be installed; return the packages whose
    /// scripts will be left out (to warn about after the install).
    pub fn check<'a>(
        &self,
        packages: &'a [LockedPackage],
        reason: &str,
    ) -> Result<Vec<&'a LockedPackage>, NodejsError> {
        let with_scripts: Vec<&LockedPackage> =
            packages.iter().filter(|p| p.has_install_script).collect();
        let (required, rest): (Vec<&LockedPackage>, Vec<&LockedPackage>) =
            with_scripts.into_iter().partition(|p| {
                self.required.contains(&p.name) || (self.strict && !self.skipped.contains(&p.name))
            });
        if !required.is_empty() {
            return Err(NodejsError::ScriptsRequired {
                count: required.len(),
                list: label(&required),
                reason: reason.to_owned(),
            });
        }
        Ok(rest
            .into_iter()
            .filter(|p| !self.skipped.contains(&p.name))
            .collect())
    }
}

fn label(packages: &[&LockedPackage]) -> String {
    packages
        .iter()
        .map(|p| format!("{}@{}", p.name, p.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The warning for packages installed without their scripts (not run because of `reason`);
/// `layer_root` holds the installed tree, where a `binding.gyp` marks a native addon that
/// cannot work without its build.
pub fn warning(unrun: &[&LockedPackage], layer_root: &Path, reason: &str) -> Option<String> {
    if unrun.is_empty() {
        return None;
    }
    let native: Vec<&LockedPackage> = unrun
        .iter()
        .copied()
        .filter(|p| layer_root.join(&p.path).join("binding.gyp").is_file())
        .collect();
    let mut text = format!(
        "{} package(s) have install scripts, which are not run ({reason}): {}.",
        unrun.len(),
        label(unrun)
    );
    if !native.is_empty() {
        let _ = write!(
            text,
            " Native addons among them (binding.gyp: {}) will fail at run time (\"Could not \
             locate the bindings file\"): run their scripts in a build image with the \
             toolchain (`kiln build --build-image REF`), or use a version or an alternative \
             with prebuilt binaries or pure JavaScript.",
            label(&native)
        );
    }
    text.push_str(
        " To fail the build instead, list the packages that need their script in \
         KILN_NODEJS_SCRIPTS_REQUIRED=a,b; to silence scripts that do not matter (such as \
         esbuild's postinstall), list them in KILN_NODEJS_SCRIPTS_SKIP=c,d.",
    );
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, script: bool) -> LockedPackage {
        LockedPackage {
            path: format!("node_modules/{name}"),
            name: name.into(),
            version: "1.0.0".into(),
            has_install_script: script,
            ..LockedPackage::default()
        }
    }

    fn policy(pairs: &[(&str, &str)]) -> ScriptPolicy {
        ScriptPolicy::from_env(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn required_packages_fail_and_others_are_listed() {
        let all = [
            pkg("sqlite", true),
            pkg("esbuild", true),
            pkg("plain", false),
        ];
        let err = policy(&[("KILN_NODEJS_SCRIPTS_REQUIRED", "sqlite")])
            .check(&all, "no build image")
            .unwrap_err();
        assert!(err.to_string().contains("sqlite@1.0.0"), "{err}");
        assert!(err.to_string().contains("no build image"), "{err}");
        let unrun = policy(&[]).check(&all, "r").unwrap();
        assert_eq!(unrun.len(), 2);
        let skip = policy(&[("KILN_NODEJS_SCRIPTS_SKIP", "esbuild")]);
        assert!(skip.skips("esbuild") && !skip.skips("sqlite"));
        let skipped = skip.check(&all, "r").unwrap();
        assert_eq!(
            skipped.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["sqlite"]
        );
    }

    #[test]
    fn strict_spares_only_skipped_packages() {
        let all = [pkg("sqlite", true), pkg("esbuild", true)];
        let strict = [
            ("KILN_NODEJS_STRICT_SCRIPTS", "true"),
            ("KILN_NODEJS_SCRIPTS_SKIP", "esbuild,sqlite"),
        ];
        assert!(policy(&strict).check(&all, "r").unwrap().is_empty());
        assert!(policy(&strict[..1]).check(&all, "r").is_err());
    }

    #[test]
    fn warning_names_the_remedy() {
        let p = pkg("esbuild", true);
        let text = warning(
            &[&p],
            Path::new("/nonexistent"),
            "KILN_NODEJS_IGNORE_SCRIPTS=true",
        )
        .unwrap();
        assert!(
            text.contains("not run (KILN_NODEJS_IGNORE_SCRIPTS=true)"),
            "{text}"
        );
        assert!(text.contains("KILN_NODEJS_SCRIPTS_REQUIRED"), "{text}");
        assert!(text.contains("KILN_NODEJS_SCRIPTS_SKIP"), "{text}");
        assert!(!text.contains("binding.gyp"), "{text}");
    }
}
