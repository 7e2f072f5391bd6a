//! Validation of the records a buildpack returns from `build`. Nothing a buildpack returns is
//! trusted: names, types, env changes and metadata are all checked here.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use kiln_spec::{LayerName, ProcessType};

use super::env::{Action, Modification, Scope, name_problem};
use kiln_runtime::bindings::types;

/// A validated layer declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRecord {
    /// Name.
    pub name: LayerName,
    /// Exported in the image.
    pub launch: bool,
    /// Visible to later buildpacks.
    pub build: bool,
    /// Cached.
    pub cache: bool,
    /// Environment changes.
    pub env: Vec<Modification>,
    /// Metadata (a JSON object).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Layer-relative paths to mark executable.
    pub executables: Vec<String>,
    /// CycloneDX JSON SBOM of the layer, if the buildpack attached one.
    pub sbom: Option<String>,
    /// Set when the buildpack kept a launch layer by its metadata alone (no contents): the
    /// diff_id of the previous image's layer to reuse.
    pub reuse: Option<String>,
}

/// A validated process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRecord {
    /// Process type.
    pub process_type: ProcessType,
    /// Command (non-empty).
    pub command: Vec<String>,
    /// Default args.
    pub args: Vec<String>,
    /// Default process of this buildpack.
    pub default: bool,
    /// Working directory (absolute guest path; the app dir when none was given).
    pub working_dir: String,
}

/// Everything one buildpack produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildpackOutput {
    /// Layers, sorted by name.
    pub layers: Vec<LayerRecord>,
    /// Processes, in the order returned.
    pub processes: Vec<ProcessRecord>,
    /// Labels.
    pub labels: Vec<(String, String)>,
    /// App layer slices, each a list of globs relative to the app dir.
    pub slices: Vec<Vec<String>>,
    /// Unmet plan entry names.
    pub unmet: Vec<String>,
}

/// A record the buildpack returned is invalid.
#[derive(Debug, thiserror::Error)]
#[error("buildpack {buildpack} returned an invalid {what}: {reason}")]
pub struct OutcomeError {
    /// Buildpack id.
    pub buildpack: String,
    /// Which record.
    pub what: String,
    /// Why.
    pub reason: String,
}

/// Most layers, processes and labels one buildpack may return (far above real use; a
/// hostile buildpack returning 100k processes is refused instead of exported).
pub const MAX_RECORDS: usize = 1024;
/// Most env changes per layer, and most arguments per process.
pub const MAX_ITEMS_PER_RECORD: usize = 4096;
/// Most executable paths per layer.
pub const MAX_EXECUTABLES: usize = 100_000;
/// Most bytes of one value: an env value, a label value, a command or argument.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most bytes of one layer's metadata (JSON).
pub const MAX_METADATA_BYTES: usize = 4 << 20;

/// A count over its limit, as a reason.
fn too_many(what: &str, count: usize, limit: usize) -> Result<(), String> {
    if count > limit {
        return Err(format!("{count} {what} is more than the limit of {limit}"));
    }
    Ok(())
}

/// A value a process or env file will carry: no NUL (the OS cannot pass it), bounded size.
fn check_value(what: &str, value: &str) -> Result<(), String> {
    if value.contains('\0') {
        return Err(format!(
            "{what} contains a NUL byte, which no process can receive"
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "{what} has {} bytes, more than the limit of {} MiB",
            value.len(),
            MAX_VALUE_BYTES >> 20
        ));
    }
    Ok(())
}

/// Check a build outcome. `plan_names` are the plan entries given to the buildpack.
pub fn validate(
    outcome: types::BuildOutcome,
    buildpack: &str,
    plan_names: &[String],
) -> Result<BuildpackOutput, OutcomeError> {
    let err = |what: String, reason: String| OutcomeError {
        buildpack: buildpack.to_owned(),
        what,
        reason,
    };
    for (what, count) in [
        ("layers", outcome.layers.len()),
        ("processes", outcome.processes.len()),
        ("labels", outcome.labels.len()),
        ("slices", outcome.slices.len()),
        ("unmet entries", outcome.unmet.len()),
    ] {
        too_many(what, count, MAX_RECORDS).map_err(|reason| err("outcome".into(), reason))?;
    }
    let mut layers = Vec::new();
    let mut seen_layers = BTreeSet::new();
    for l in outcome.layers {
        let name = LayerName::new(l.name.clone())
            .map_err(|e| err(format!("layer name {:?}", l.name), e.rule.to_owned()))?;
        if !seen_layers.insert(name.clone()) {
            return Err(err(format!("layer {name}"), "it is declared twice".into()));
        }
        let what = || format!("layer {name}");
        too_many("env changes", l.env.len(), MAX_ITEMS_PER_RECORD)
            .and_then(|()| too_many("executables", l.executables.len(), MAX_EXECUTABLES))
            .map_err(|reason| err(what(), reason))?;
        if l.metadata.len() > MAX_METADATA_BYTES {
            return Err(err(
                what(),
                format!(
                    "metadata has {} bytes, more than the limit of {} MiB",
                    l.metadata.len(),
                    MAX_METADATA_BYTES >> 20
                ),
            ));
        }
        let metadata = match serde_json::from_str::<serde_json::Value>(&l.metadata) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => return Err(err(what(), "metadata must be a JSON object".into())),
            Err(e) => return Err(err(what(), format!("metadata is not JSON: {e}"))),
        };
        if let Err(e) = toml::Value::try_from(&metadata) {
            return Err(err(
                what(),
                format!("metadata cannot be stored as TOML (null values are not allowed): {e}"),
            ));
        }
        let mut env = Vec::new();
        for m in l.env {
            env.push(modification(m).map_err(|reason| err(what(), reason))?);
        }
        check_env_files(&env).map_err(|reason| err(what(), reason))?;
        for path in &l.executables {
            if !is_relative_inside(path) {
                return Err(err(
                    what(),
                    format!("executable path {path:?} must be relative and stay inside the layer"),
                ));
            }
        }
        let sbom = match l.sbom {
            Some(text) => Some(check_sbom(text).map_err(|reason| err(what(), reason))?),
            None => None,
        };
        layers.push(LayerRecord {
            name,
            launch: l.launch,
            build: l.build,
            cache: l.cache,
            env,
            metadata,
            executables: l.executables,
            sbom,
            reuse: None,
        });
    }
    layers.sort_by(|a, b| a.name.cmp(&b.name));

    let mut processes = Vec::new();
    let mut seen_types = BTreeSet::new();
    for p in outcome.processes {
        let process_type = ProcessType::new(p.type_.clone())
            .map_err(|e| err(format!("process type {:?}", p.type_), e.rule.to_owned()))?;
        if !seen_types.insert(process_type.clone()) {
            return Err(err(
                format!("process {process_type}"),
                "the process type is declared twice".into(),
            ));
        }
        let what = || format!("process {process_type}");
        too_many(
            "arguments",
            p.command.len() + p.args.len(),
            MAX_ITEMS_PER_RECORD,
        )
        .map_err(|reason| err(what(), reason))?;
        for (i, word) in p.command.iter().enumerate() {
            check_value(&format!("command word {i}"), word).map_err(|r| err(what(), r))?;
        }
        for (i, arg) in p.args.iter().enumerate() {
            check_value(&format!("argument {i}"), arg).map_err(|r| err(what(), r))?;
        }
        check_value("the working directory", &p.working_dir).map_err(|r| err(what(), r))?;
        if p.command.first().is_none_or(String::is_empty) {
            return Err(err(
                format!("process {process_type}"),
                "the command is empty".into(),
            ));
        }
        let working_dir = if p.working_dir.is_empty() {
            kiln_spec::APP_DIR.to_owned()
        } else if p.working_dir.starts_with('/') {
            p.working_dir
        } else {
            format!("{}/{}", kiln_spec::APP_DIR, p.working_dir)
        };
        processes.push(ProcessRecord {
            process_type,
            command: p.command,
            args: p.args,
            default: p.default,
            working_dir,
        });
    }
    if processes.iter().filter(|p| p.default).count() > 1 {
        return Err(err(
            "process list".into(),
            "more than one process is marked default".into(),
        ));
    }
    let mut labels = Vec::new();
    for kv in outcome.labels {
        if kv.key.is_empty() || kv.key.contains(['\0', '=']) {
            return Err(err(
                format!("label {:?}", kv.key),
                "keys must be non-empty and contain no '=' or NUL".into(),
            ));
        }
        check_value("the key", &kv.key)
            .and_then(|()| check_value("the value", &kv.value))
            .map_err(|reason| {
                let key = kiln_runtime::guest_text::capped(kv.key.clone(), 100);
                err(format!("label {key:?}"), reason)
            })?;
        labels.push((kv.key, kv.value));
    }
    for (i, globs) in outcome.slices.iter().enumerate() {
        let what = || format!("slice {}", i + 1);
        if globs.is_empty() || globs.len() > MAX_ITEMS_PER_RECORD {
            return Err(err(
                what(),
                format!("must list 1 to {MAX_ITEMS_PER_RECORD} globs"),
            ));
        }
        for g in globs {
            check_value("a glob", g).map_err(|reason| err(what(), reason))?;
            if g.trim().is_empty() || globset::Glob::new(g.trim_start_matches("./")).is_err() {
                let shown = kiln_runtime::guest_text::capped(g.clone(), 100);
                return Err(err(what(), format!("{shown:?} is not a valid glob")));
            }
        }
    }
    for name in &outcome.unmet {
        if !plan_names.contains(name) {
            return Err(err(
                format!("unmet entry {name:?}"),
                "it is not in the buildpack's plan".into(),
            ));
        }
    }
    Ok(BuildpackOutput {
        layers,
        processes,
        labels,
        slices: outcome.slices,
        unmet: outcome.unmet,
    })
}

fn modification(m: types::EnvModification) -> Result<Modification, String> {
    if let Some(rule) = name_problem(&m.name) {
        return Err(format!("environment variable name {:?} {rule}", m.name));
    }
    check_value(&format!("the value of {}", m.name), &m.value)?;
    if let Some(d) = &m.delimiter {
        check_value(&format!("the delimiter of {}", m.name), d)?;
    }
    let scope = match m.scope {
        types::EnvScope::All => Scope::All,
        types::EnvScope::Build => Scope::Build,
        types::EnvScope::Launch => Scope::Launch,
        types::EnvScope::Process(t) => {
            let t = ProcessType::new(t).map_err(|e| e.to_string())?;
            Scope::Process(t.as_str().to_owned())
        }
    };
    let action = match m.action {
        types::EnvAction::Override => Action::Override,
        types::EnvAction::Default => Action::Default,
        types::EnvAction::Append => Action::Append,
        types::EnvAction::Prepend => Action::Prepend,
    };
    if m.delimiter.is_some() && matches!(action, Action::Override | Action::Default) {
        return Err(format!(
            "a delimiter only applies to append/prepend (variable {})",
            m.name
        ));
    }
    Ok(Modification {
        name: m.name,
        action,
        value: m.value,
        delimiter: m.delimiter,
        scope,
    })
}

/// CNB stores env changes as one file per (scope, name, action) with one shared `.delim` file,
/// so a layer cannot hold two changes that would map to the same file.
fn check_env_files(env: &[Modification]) -> Result<(), String> {
    let mut files = BTreeSet::new();
    let mut delims: Vec<(String, String, String)> = Vec::new();
    for m in env {
        if !files.insert((m.scope.dir(), m.name.clone(), m.action)) {
            return Err(format!(
                "variable {} has two {} changes in {}",
                m.name,
                m.action.suffix(),
                m.scope.dir()
            ));
        }
        if let Some(d) = &m.delimiter {
            let key = (m.scope.dir(), m.name.clone());
            if let Some((_, _, other)) = delims.iter().find(|(s, n, _)| (s, n) == (&key.0, &key.1))
            {
                if other != d {
                    return Err(format!("variable {} uses two different delimiters", m.name));
                }
            } else {
                delims.push((key.0, key.1, d.clone()));
            }
        }
    }
    Ok(())
}

/// Most bytes one layer's SBOM may have.
const MAX_SBOM_BYTES: usize = 16 << 20;

/// An SBOM must be a CycloneDX JSON document.
fn check_sbom(text: String) -> Result<String, String> {
    if text.len() > MAX_SBOM_BYTES {
        return Err(format!(
            "its SBOM is larger than {} MiB",
            MAX_SBOM_BYTES >> 20
        ));
    }
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("its SBOM is not JSON: {e}"))?;
    if doc.get("bomFormat").and_then(serde_json::Value::as_str) != Some("CycloneDX") {
        return Err("its SBOM is not CycloneDX JSON (bomFormat must be \"CycloneDX\")".into());
    }
    Ok(text)
}

/// True for a non-empty relative path without `..`, root or prefix components.
pub fn is_relative_inside(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}
