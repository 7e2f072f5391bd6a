//! `<layers>/config/metadata.toml`: the buildpack group and the processes, as Kiln writes
//! them (Platform API 0.15 §2.4). Keys the launcher does not use are ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The parts of `config/metadata.toml` the launcher uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    /// The process type run when no process is named (`buildpack-default-process-type`).
    #[serde(rename = "buildpack-default-process-type", default)]
    pub default_process: Option<String>,
    /// The buildpack group, in build order.
    #[serde(default)]
    pub buildpacks: Vec<Buildpack>,
    /// The processes buildpacks declared.
    #[serde(default)]
    pub processes: Vec<Process>,
}

/// A buildpack of the group (`[[buildpacks]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Buildpack {
    /// Buildpack id, e.g. `kiln/procfile`.
    pub id: String,
}

impl Buildpack {
    /// The id as a directory name under the layers dir: every `/` becomes `_`.
    pub fn escaped_id(&self) -> String {
        self.id.replace('/', "_")
    }
}

/// A process (`[[processes]]`). Kiln writes only direct processes (`direct = true`), so the
/// `direct` key is not read: every process is executed without a shell.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Process {
    /// Process type, e.g. `web`.
    #[serde(rename = "type")]
    pub process_type: String,
    /// The executable and its fixed leading arguments.
    pub command: Vec<String>,
    /// Default arguments, replaced by the user's arguments when there are any.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory; the app dir when absent.
    #[serde(rename = "working-dir", default)]
    pub working_dir: Option<String>,
    /// The buildpack that declared the process.
    #[serde(rename = "buildpack-id", default)]
    pub buildpack_id: String,
    /// Execution environments the process is eligible for; absent means all.
    #[serde(rename = "exec-env", default)]
    pub exec_env: Option<Vec<String>>,
}

impl Process {
    /// Whether the process may run in execution environment `exec_env` (`CNB_EXEC_ENV`).
    pub fn eligible(&self, exec_env: &str) -> bool {
        self.exec_env
            .as_ref()
            .is_none_or(|envs| envs.iter().any(|e| e == "*" || e == exec_env))
    }
}

impl Metadata {
    /// The process of type `process_type`, if there is one.
    pub fn process(&self, process_type: &str) -> Option<&Process> {
        self.processes
            .iter()
            .find(|p| p.process_type == process_type)
    }

    /// The default process type, if one is set (an empty value counts as unset).
    pub fn default_process(&self) -> Option<&str> {
        self.default_process.as_deref().filter(|t| !t.is_empty())
    }
}

/// Where the metadata lives under `layers`.
pub fn path(layers: &Path) -> PathBuf {
    layers.join("config").join("metadata.toml")
}

/// Parse metadata text; `path` is only used in the error.
pub fn parse(text: &str, path: &Path) -> Result<Metadata, Error> {
    toml::from_str(text).map_err(|e| Error::Metadata {
        path: path.to_path_buf(),
        reason: e.message().to_owned(),
    })
}

/// Read and parse `<layers>/config/metadata.toml`.
pub fn read(layers: &Path) -> Result<Metadata, Error> {
    let path = path(layers);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    parse(&text, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KILN: &str = r#"
buildpack-default-process-type = "web"

[[buildpacks]]
id = "kiln/procfile"
version = "0.1.0"
api = "0.12"

[[processes]]
type = "web"
command = ["node"]
args = ["server.js"]
direct = true
working-dir = "/workspace"
buildpack-id = "kiln/procfile"

[[processes]]
type = "worker"
command = ["bin/worker", "--queue"]
args = []
direct = true
working-dir = "/workspace/jobs"
buildpack-id = "kiln/procfile"
exec-env = ["test"]
"#;

    #[test]
    fn parses_what_kiln_writes() {
        let m = parse(KILN, Path::new("m.toml")).unwrap();
        assert_eq!(m.default_process(), Some("web"));
        assert_eq!(m.buildpacks[0].escaped_id(), "kiln_procfile");
        let web = m.process("web").unwrap();
        assert_eq!(web.command, ["node"]);
        assert_eq!(web.args, ["server.js"]);
        assert_eq!(web.working_dir.as_deref(), Some("/workspace"));
        assert_eq!(web.buildpack_id, "kiln/procfile");
        assert!(web.eligible("production"));
        let worker = m.process("worker").unwrap();
        assert!(!worker.eligible("production"));
        assert!(worker.eligible("test"));
        assert!(m.process("nope").is_none());
    }

    #[test]
    fn everything_is_optional_but_the_process_fields() {
        let m = parse("", Path::new("m.toml")).unwrap();
        assert_eq!(m, Metadata::default());
        let m = parse(
            "buildpack-default-process-type = \"\"\n",
            Path::new("m.toml"),
        )
        .unwrap();
        assert_eq!(m.default_process(), None);
    }

    #[test]
    fn bad_metadata_names_the_file() {
        let e = parse(
            "[[processes]]\ntype = \"web\"\n",
            Path::new("/l/config/metadata.toml"),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("invalid /l/config/metadata.toml: "),
            "{msg}"
        );
        assert!(msg.contains("command"), "{msg}");
        assert!(!msg.contains('\n'));
        let e = read(Path::new("/nonexistent-kiln-layers")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read /nonexistent-kiln-layers/config/metadata.toml: ")
        );
    }
}
