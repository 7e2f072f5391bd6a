//! The CNB layers directory: checking what a buildpack left in it, and writing the files the
//! CNB spec defines (`<layer>.toml`, `env*/`, `launch.toml`, `build.toml`) from its records.
//!
//! Layer directories are hostile input: they are walked without following symlinks, and files
//! are written by removing whatever is at the path first and creating a new file, so a planted
//! symlink is never followed.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::outcome::{BuildpackOutput, LayerRecord};

/// A problem found in a buildpack's layers directory.
#[derive(Debug, thiserror::Error)]
pub enum LayersDirError {
    /// A symlink points outside the buildpack's layers directory.
    #[error(
        "buildpack {buildpack} left a symlink that escapes its layers directory: {path} -> {target}"
    )]
    EscapingSymlink {
        /// Buildpack id.
        buildpack: String,
        /// Guest path of the link.
        path: String,
        /// Its target.
        target: String,
    },
    /// A device, FIFO or socket.
    #[error("buildpack {buildpack} left a special file (device, FIFO or socket): {path}")]
    SpecialFile {
        /// Buildpack id.
        buildpack: String,
        /// Guest path.
        path: String,
    },
    /// The buildpack wrote a file the host owns.
    #[error(
        "buildpack {buildpack} wrote {path} itself; return environment changes in the layer record instead"
    )]
    ReservedPath {
        /// Buildpack id.
        buildpack: String,
        /// Guest path.
        path: String,
    },
    /// I/O failure.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Host path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Metadata could not be written as TOML.
    #[error("could not encode {what} as TOML: {reason}")]
    Toml {
        /// Which file.
        what: String,
        /// Why.
        reason: String,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LayersDirError {
    let path = path.to_path_buf();
    move |source| LayersDirError::Io {
        action,
        path,
        source,
    }
}

/// Walk `host_dir` (the buildpack's layers dir, seen by the guest at `guest_root`) without
/// following symlinks. Reject escaping symlinks and special files.
pub fn verify_tree(
    host_dir: &Path,
    guest_root: &str,
    buildpack: &str,
) -> Result<(), LayersDirError> {
    let mut stack = vec![(
        host_dir.to_path_buf(),
        guest_root.trim_end_matches('/').to_owned(),
    )];
    while let Some((dir, guest_dir)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(io("read directory", &dir))?;
        for entry in entries {
            let entry = entry.map_err(io("read directory", &dir))?;
            let path = entry.path();
            let guest = format!("{guest_dir}/{}", entry.file_name().to_string_lossy());
            let meta = std::fs::symlink_metadata(&path).map_err(io("inspect", &path))?;
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = std::fs::read_link(&path).map_err(io("read symlink", &path))?;
                let target = target.to_string_lossy().into_owned();
                if !link_stays_inside(&guest_dir, &target, guest_root) {
                    return Err(LayersDirError::EscapingSymlink {
                        buildpack: buildpack.to_owned(),
                        path: guest,
                        target,
                    });
                }
            } else if ft.is_dir() {
                stack.push((path, guest));
            } else if !ft.is_file() {
                return Err(LayersDirError::SpecialFile {
                    buildpack: buildpack.to_owned(),
                    path: guest,
                });
            }
        }
    }
    Ok(())
}

/// Whether a link in `link_dir` (guest path) with `target` resolves, lexically, inside `root`.
pub fn link_stays_inside(link_dir: &str, target: &str, root: &str) -> bool {
    let joined = if target.starts_with('/') {
        PathBuf::from(target)
    } else {
        Path::new(link_dir).join(target)
    };
    let mut parts: Vec<String> = Vec::new();
    for c in joined.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return false;
                }
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::Prefix(_) => return false,
        }
    }
    let resolved = format!("/{}", parts.join("/"));
    let root = root.trim_end_matches('/');
    resolved == root || resolved.starts_with(&format!("{root}/"))
}

/// Create or replace a regular file without following a symlink at `path`.
pub fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), LayersDirError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            std::fs::remove_dir_all(path).map_err(io("remove", path))?;
        }
        Ok(_) => std::fs::remove_file(path).map_err(io("remove", path))?,
        Err(_) => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io("create", path))?;
    f.write_all(bytes).map_err(io("write", path))
}

fn to_toml<T: Serialize>(value: &T, what: &str) -> Result<String, LayersDirError> {
    toml::to_string(value).map_err(|e| LayersDirError::Toml {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

#[derive(Serialize)]
struct LayerToml<'a> {
    types: LayerTypes,
    metadata: &'a serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct LayerTypes {
    launch: bool,
    build: bool,
    cache: bool,
}

#[derive(Serialize)]
struct LaunchToml<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    labels: Vec<LabelToml<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    processes: Vec<ProcessToml<'a>>,
}

#[derive(Serialize)]
struct LabelToml<'a> {
    key: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct ProcessToml<'a> {
    #[serde(rename = "type")]
    process_type: &'a str,
    command: &'a [String],
    args: &'a [String],
    default: bool,
    #[serde(rename = "working-dir")]
    working_dir: &'a str,
}

#[derive(Serialize)]
struct BuildToml<'a> {
    unmet: Vec<NameToml<'a>>,
}

#[derive(Serialize)]
struct NameToml<'a> {
    name: &'a str,
}

/// Write the CNB files for one buildpack's output into its layers dir (`host_dir`).
pub fn write_buildpack_files(
    host_dir: &Path,
    guest_root: &str,
    buildpack: &str,
    output: &BuildpackOutput,
) -> Result<(), LayersDirError> {
    for layer in &output.layers {
        write_layer(host_dir, guest_root, buildpack, layer)?;
    }
    let launch = LaunchToml {
        labels: output
            .labels
            .iter()
            .map(|(k, v)| LabelToml { key: k, value: v })
            .collect(),
        processes: output
            .processes
            .iter()
            .map(|p| ProcessToml {
                process_type: p.process_type.as_str(),
                command: &p.command,
                args: &p.args,
                default: p.default,
                working_dir: &p.working_dir,
            })
            .collect(),
    };
    if !launch.labels.is_empty() || !launch.processes.is_empty() {
        let text = to_toml(&launch, "launch.toml")?;
        write_new_file(&host_dir.join("launch.toml"), text.as_bytes())?;
    }
    if !output.unmet.is_empty() {
        let build = BuildToml {
            unmet: output.unmet.iter().map(|n| NameToml { name: n }).collect(),
        };
        write_new_file(
            &host_dir.join("build.toml"),
            to_toml(&build, "build.toml")?.as_bytes(),
        )?;
    }
    Ok(())
}

fn write_layer(
    host_dir: &Path,
    guest_root: &str,
    buildpack: &str,
    layer: &LayerRecord,
) -> Result<(), LayersDirError> {
    let name = layer.name.as_str();
    let dir = host_dir.join(name);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(LayersDirError::ReservedPath {
                buildpack: buildpack.to_owned(),
                path: format!("{guest_root}/{name} (not a directory)"),
            });
        }
        Err(_) => std::fs::create_dir_all(&dir).map_err(io("create", &dir))?,
    }
    for reserved in ["env", "env.build", "env.launch"] {
        if std::fs::symlink_metadata(dir.join(reserved)).is_ok() {
            return Err(LayersDirError::ReservedPath {
                buildpack: buildpack.to_owned(),
                path: format!("{guest_root}/{name}/{reserved}"),
            });
        }
    }
    for m in &layer.env {
        let env_dir = dir.join(m.scope.dir());
        std::fs::create_dir_all(&env_dir).map_err(io("create", &env_dir))?;
        write_new_file(
            &env_dir.join(format!("{}.{}", m.name, m.action.suffix())),
            m.value.as_bytes(),
        )?;
        if let Some(d) = &m.delimiter {
            write_new_file(&env_dir.join(format!("{}.delim", m.name)), d.as_bytes())?;
        }
    }
    let toml = LayerToml {
        types: LayerTypes {
            launch: layer.launch,
            build: layer.build,
            cache: layer.cache,
        },
        metadata: &layer.metadata,
    };
    let text = to_toml(&toml, &format!("{name}.toml"))?;
    write_new_file(&host_dir.join(format!("{name}.toml")), text.as_bytes())?;
    if !(layer.launch || layer.build || layer.cache) {
        // CNB: a layer with no types is ignored and renamed after the buildpack's build.
        let ignored = host_dir.join(format!("{name}.ignore"));
        let _ = std::fs::remove_dir_all(&ignored);
        std::fs::rename(&dir, &ignored).map_err(io("rename", &dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_containment() {
        let root = "/layers/bp";
        assert!(link_stays_inside("/layers/bp/l", "x", root));
        assert!(link_stays_inside("/layers/bp/l/bin", "../lib/x", root));
        assert!(link_stays_inside("/layers/bp/l", "/layers/bp/l/y", root));
        assert!(!link_stays_inside("/layers/bp/l", "../../../../etc", root));
        assert!(!link_stays_inside("/layers/bp/l", "/etc/passwd", root));
        assert!(!link_stays_inside("/layers/bp/l", "../../bp2/x", root));
        assert!(!link_stays_inside("/layers/bp", "../bpx", root));
    }

    #[cfg(unix)]
    #[test]
    fn verify_rejects_escaping_link_and_fifo() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("l/bin")).unwrap();
        std::os::unix::fs::symlink("../x", dir.path().join("l/bin/ok")).unwrap();
        verify_tree(dir.path(), "/layers/bp", "bp").unwrap();
        std::os::unix::fs::symlink("../../../etc", dir.path().join("l/evil")).unwrap();
        let e = verify_tree(dir.path(), "/layers/bp", "bp").unwrap_err();
        assert!(e.to_string().contains("/layers/bp/l/evil"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn write_new_file_replaces_a_symlink_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("x.toml");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_new_file(&link, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "new");
    }
}
