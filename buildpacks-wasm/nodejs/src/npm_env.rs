//! The environment npm gives a lifecycle script: on `PATH` the `node_modules/.bin` of the
//! script's directory and of every parent (as `npm run` does), npm's `node-gyp` command and
//! the runtime's `bin`, before the inherited `PATH`; `npm_package_*` from the package's
//! `package.json` (name, version, config, engines and bin, as npm's run-script sets them);
//! `npm_lifecycle_event` and `npm_lifecycle_script`; and node-gyp pointed at the runtime's own
//! headers (`npm_config_nodedir`), so a native addon builds without any download; no
//! Python bytecode caches (`PYTHONDONTWRITEBYTECODE=1`).

use std::path::Path;

use crate::runtime::NodeRuntime;

/// `PATH` of a build image that sets none (the sandbox's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The variables shared by every script of one build.
#[derive(Debug, Clone)]
pub struct ScriptEnv {
    common: Vec<(String, String)>,
    path_tail: String,
}

impl ScriptEnv {
    /// Scripts of `npm_command` (`ci` for install scripts, `run-script` for the build) with
    /// `runtime`, started from `app_dir`.
    pub fn new(runtime: &NodeRuntime, app_dir: &Path, npm_command: &str) -> Self {
        let mut common = vec![
            ("INIT_CWD".to_owned(), display(app_dir)),
            ("npm_command".to_owned(), npm_command.to_owned()),
            ("npm_config_nodedir".to_owned(), display(&runtime.dir)),
            ("npm_node_execpath".to_owned(), display(&runtime.node())),
            ("NODE".to_owned(), display(&runtime.node())),
            // Python's bytecode caches (node-gyp's gyp is Python) embed file times: keep them
            // out of the layers, which must come out the same on every build.
            ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
        ];
        if let Some(gyp) = runtime.node_gyp() {
            common.push(("npm_config_node_gyp".to_owned(), display(&gyp)));
        }
        if let Some(npm) = runtime.npm_cli() {
            common.push(("npm_execpath".to_owned(), display(&npm)));
        }
        let inherited = std::env::var("PATH")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_PATH.to_owned());
        let mut tail: Vec<String> = runtime
            .node_gyp_bin_dir()
            .iter()
            .map(|d| display(d))
            .collect();
        tail.push(display(&runtime.bin_dir()));
        tail.push(inherited);
        Self {
            common,
            path_tail: tail.join(":"),
        }
    }

    /// The variables of `event`'s `script` of the package in `dir` with `manifest` (its
    /// parsed `package.json`).
    pub fn for_script(
        &self,
        dir: &Path,
        manifest: &serde_json::Value,
        event: &str,
        script: &str,
    ) -> Vec<(String, String)> {
        let mut path: Vec<String> = bin_dirs(dir);
        path.push(self.path_tail.clone());
        let mut vars = self.common.clone();
        vars.push(("PATH".to_owned(), path.join(":")));
        vars.push((
            "npm_package_json".to_owned(),
            display(&dir.join("package.json")),
        ));
        vars.push(("npm_lifecycle_event".to_owned(), event.to_owned()));
        vars.push(("npm_lifecycle_script".to_owned(), script.to_owned()));
        vars.extend(package_vars(manifest));
        vars
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// `<dir>/node_modules/.bin` for `dir` and each of its parents, nearest first.
fn bin_dirs(dir: &Path) -> Vec<String> {
    dir.ancestors()
        .map(|d| display(&d.join("node_modules/.bin")))
        .collect()
}

/// `npm_package_*` of a manifest: `name`, `version`, `config`, `engines` and `bin`, objects
/// flattened with `_` and arrays indexed (`npm_package_config_port`, `npm_package_bin_x`).
pub fn package_vars(manifest: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in ["name", "version", "config", "engines", "bin"] {
        let Some(value) = manifest.get(key) else {
            continue;
        };
        let value = match (key, value) {
            // npm reads `"bin": "cli.js"` as `{"<name without scope>": "cli.js"}`.
            ("bin", serde_json::Value::String(file)) => {
                let name = manifest
                    .get("name")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                let short = name.rsplit('/').next().unwrap_or(name);
                serde_json::json!({ short: file })
            }
            _ => value.clone(),
        };
        flatten(&format!("npm_package_{key}"), &value, &mut out);
    }
    out
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(false) => out.push((prefix.to_owned(), String::new())),
        Value::Bool(true) => out.push((prefix.to_owned(), "true".to_owned())),
        Value::Number(n) => out.push((prefix.to_owned(), n.to_string())),
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}_{i}"), item, out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}_{k}"), v, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_fields_become_variables_as_npm_sets_them() {
        let manifest = serde_json::json!({
            "name": "@s/tool", "version": "1.2.3", "description": "not exported",
            "config": {"port": 8080, "tags": ["a", "b"], "off": false},
            "engines": {"node": ">=20"}, "bin": "cli.js"
        });
        let vars = package_vars(&manifest);
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("npm_package_name"), Some("@s/tool"));
        assert_eq!(get("npm_package_version"), Some("1.2.3"));
        assert_eq!(get("npm_package_config_port"), Some("8080"));
        assert_eq!(get("npm_package_config_tags_1"), Some("b"));
        assert_eq!(get("npm_package_config_off"), Some(""));
        assert_eq!(get("npm_package_engines_node"), Some(">=20"));
        assert_eq!(get("npm_package_bin_tool"), Some("cli.js"));
        assert_eq!(get("npm_package_description"), None);
    }

    #[test]
    fn path_has_every_parent_bin_dir_then_the_tools() {
        let runtime = NodeRuntime {
            dir: "/layers/n/node".into(),
            version: "22.0.0".into(),
            fresh_executables: Vec::new(),
        };
        let env = ScriptEnv::new(&runtime, Path::new("/workspace"), "ci");
        let vars = env.for_script(
            Path::new("/layers/n/modules/node_modules/a"),
            &serde_json::json!({"name": "a", "version": "1.0.0"}),
            "install",
            "node build.js",
        );
        let path = &vars.iter().find(|(k, _)| k == "PATH").unwrap().1;
        let expected = [
            "/layers/n/modules/node_modules/a/node_modules/.bin",
            "/layers/n/modules/node_modules/node_modules/.bin",
            "/layers/n/modules/node_modules/.bin",
            "/layers/n/node_modules/.bin",
            "/layers/node_modules/.bin",
            "/node_modules/.bin",
            "/layers/n/node/bin",
        ]
        .join(":");
        assert!(path.starts_with(&format!("{expected}:")), "{path}");
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("npm_config_nodedir"), Some("/layers/n/node"));
        assert_eq!(get("npm_lifecycle_event"), Some("install"));
        assert_eq!(get("INIT_CWD"), Some("/workspace"));
    }
}
