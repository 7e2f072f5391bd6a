//! The parts of `package.json` the buildpack uses.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `package.json` is not valid JSON.
#[derive(Debug, thiserror::Error)]
#[error("{origin} is not valid JSON; fix the file (npm would reject it too)")]
pub struct PackageJsonError {
    /// Which file.
    pub origin: String,
    /// The JSON error.
    #[source]
    pub source: serde_json::Error,
}

/// `package.json`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PackageJson {
    /// `engines` (only `node` is used).
    #[serde(default)]
    pub engines: BTreeMap<String, serde_json::Value>,
    /// `scripts`.
    #[serde(default)]
    pub scripts: BTreeMap<String, serde_json::Value>,
    /// `dependencies`.
    #[serde(default)]
    pub dependencies: BTreeMap<String, serde_json::Value>,
    /// `devDependencies`.
    #[serde(default, rename = "devDependencies")]
    pub dev_dependencies: BTreeMap<String, serde_json::Value>,
}

impl PackageJson {
    /// Parse; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PackageJsonError> {
        serde_json::from_str(text).map_err(|source| PackageJsonError {
            origin: origin.to_owned(),
            source,
        })
    }

    /// Whether the package declares any dependencies.
    pub fn has_dependencies(&self) -> bool {
        !self.dependencies.is_empty() || !self.dev_dependencies.is_empty()
    }

    /// `engines.node`, if it is a string.
    pub fn node_range(&self) -> Option<&str> {
        self.engines.get("node").and_then(serde_json::Value::as_str)
    }

    /// `scripts.start`, if it is a non-empty string.
    pub fn start_script(&self) -> Option<&str> {
        self.script("start")
    }

    /// `scripts.<name>`, if it is a non-empty string.
    pub fn script(&self, name: &str) -> Option<&str> {
        self.scripts
            .get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// The names of the non-empty scripts, sorted.
    pub fn script_names(&self) -> Vec<&str> {
        self.scripts
            .keys()
            .map(String::as_str)
            .filter(|n| self.script(n).is_some())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_engines_and_start() {
        let p = PackageJson::parse(
            r#"{"name":"a","engines":{"node":">=20"},"scripts":{"start":"node app.js"}}"#,
            "package.json",
        )
        .unwrap();
        assert_eq!(p.node_range(), Some(">=20"));
        assert_eq!(p.start_script(), Some("node app.js"));
        assert_eq!(p.script_names(), ["start"]);
        assert_eq!(p.script("build"), None);
        let p = PackageJson::parse("{}", "package.json").unwrap();
        assert_eq!(p.node_range(), None);
        assert!(PackageJson::parse("{", "package.json").is_err());
    }
}
