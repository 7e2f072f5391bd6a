//! Reading back the CNB files an inline script wrote in its layers directory, as records.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_sdk::{
    BuildContext, BuildResult, EnvChange, Error, LayerName, LayerTypes, Process, ProcessType,
};
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct LayerToml {
    #[serde(default)]
    types: Types,
    #[serde(default)]
    metadata: toml::Table,
}

#[derive(Deserialize, Default)]
struct Types {
    #[serde(default)]
    launch: bool,
    #[serde(default)]
    build: bool,
    #[serde(default)]
    cache: bool,
}

#[derive(Deserialize, Default)]
struct LaunchToml {
    #[serde(default)]
    processes: Vec<ProcessToml>,
    #[serde(default)]
    labels: Vec<LabelToml>,
    #[serde(default)]
    slices: Vec<SliceToml>,
}

#[derive(Deserialize)]
struct SliceToml {
    paths: Vec<String>,
}

#[derive(Deserialize)]
struct ProcessToml {
    r#type: String,
    command: Command,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    default: bool,
    #[serde(rename = "working-dir")]
    working_dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Command {
    Argv(Vec<String>),
    Shell(String),
}

#[derive(Deserialize)]
struct LabelToml {
    key: String,
    value: String,
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    toml::from_str(&text).map_err(|e| {
        Error::msg(format!(
            "the inline script wrote an invalid {}: {}",
            path.display(),
            e.message()
        ))
    })
}

fn remove(path: &Path) -> Result<(), Error> {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// The layers, processes and labels the script left in the layers directory.
pub fn read_back(ctx: &BuildContext) -> Result<BuildResult, Error> {
    let dir = ctx.layers_dir.clone();
    for unsupported in ["store.toml", "build.toml"] {
        if dir.join(unsupported).exists() {
            return Err(Error::msg(format!(
                "the inline script wrote {unsupported}, which Kiln's inline buildpacks do not support"
            )));
        }
    }
    let mut result = BuildResult::new();
    let launch_path = dir.join("launch.toml");
    if launch_path.is_file() {
        let launch: LaunchToml = read_toml(&launch_path)?;
        remove(&launch_path)?;
        for p in launch.processes {
            result = result.process(process(p)?);
        }
        for l in launch.labels {
            result = result.label(l.key, l.value);
        }
        for slice in launch.slices {
            result = result.slice(slice.paths);
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io("list", &dir, e))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    for name in &names {
        let path = dir.join(name);
        if let Some(layer) = name.strip_suffix(".toml") {
            let record: LayerToml = read_toml(&path)?;
            remove(&path)?;
            result = result.layer(layer_from(ctx, layer, &record)?);
        } else if path.is_dir() && !names.contains(&format!("{name}.toml")) {
            remove(&path)?;
        }
    }
    result.build()
}

fn process(p: ProcessToml) -> Result<Process, Error> {
    let kind = ProcessType::new(&p.r#type)
        .map_err(|e| Error::msg(format!("launch.toml process type {:?}: {e}", p.r#type)))?;
    let process = match p.command {
        Command::Argv(argv) => Process::new(kind, argv).args(p.args),
        Command::Shell(line) => {
            let mut script = line;
            for a in &p.args {
                script.push(' ');
                script.push_str(a);
            }
            Process::new(kind, ["/bin/sh".to_owned(), "-c".to_owned(), script])
        }
    };
    let process = process.default(p.default);
    Ok(match p.working_dir {
        Some(dir) => process.working_dir(dir),
        None => process,
    })
}

fn layer_from(
    ctx: &BuildContext,
    name: &str,
    record: &LayerToml,
) -> Result<kiln_sdk::Layer, Error> {
    let layer_name = LayerName::new(name)
        .map_err(|e| Error::msg(format!("layer {name:?} written by the inline script: {e}")))?;
    let mut types = LayerTypes::none();
    if record.types.launch {
        types = types.launch();
    }
    if record.types.build {
        types = types.build();
    }
    if record.types.cache {
        types = types.cache();
    }
    let mut layer = ctx.adopt_layer(layer_name, types)?;
    let metadata: serde_json::Value = serde_json::to_value(&record.metadata)
        .map_err(|e| Error::msg(format!("layer {name}: metadata: {e}")))?;
    layer.set_metadata(&metadata)?;
    for (subdir, scope) in [
        ("env", None),
        ("env.launch", Some(true)),
        ("env.build", Some(false)),
    ] {
        let env_dir = layer.path().join(subdir);
        if !env_dir.is_dir() {
            continue;
        }
        for change in env_changes(&env_dir)? {
            layer.add_env(match scope {
                None => change,
                Some(true) => change.launch_only(),
                Some(false) => change.build_only(),
            });
        }
        remove(&env_dir)?;
    }
    Ok(layer)
}

/// The env files of one `env*` directory, as changes (a bare `NAME` overrides).
fn env_changes(dir: &Path) -> Result<Vec<EnvChange>, Error> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let value = std::fs::read_to_string(entry.path())
            .map_err(|e| Error::io("read", &entry.path(), e))?;
        files.insert(file, value);
    }
    let mut changes = Vec::new();
    for (file, value) in &files {
        let (name, action) = file.rsplit_once('.').unwrap_or((file.as_str(), "override"));
        let change = match action {
            "override" => EnvChange::set(name, value),
            "default" => EnvChange::default_value(name, value),
            "append" => EnvChange::append(name, value),
            "prepend" => EnvChange::prepend(name, value),
            "delim" => continue,
            other => {
                return Err(Error::msg(format!(
                    "env file {file} in {}: unknown action .{other}",
                    dir.display()
                )));
            }
        };
        let change = match files.get(&format!("{name}.delim")) {
            Some(delim) if matches!(action, "append" | "prepend") => change.delimiter(delim),
            _ => change,
        };
        changes.push(change);
    }
    Ok(changes)
}
