//! The CNB layers directory: checking what a buildpack left in it, and writing the files the
//! CNB spec defines (`<layer>.toml`, `env*/`, `launch.toml`, `build.toml`) from its records.
//!
//! Layer directories are hostile input: they are walked without following symlinks, and files
//! are written by removing whatever is at the path first and creating a new file, so a planted
//! symlink is never followed.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::outcome::{BuildpackOutput, LayerRecord};
use kiln_fs::long_path;

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
    /// Symlinks that point at each other without end.
    #[error(
        "buildpack {buildpack} left a symlink loop: {path} -> {target} does not resolve within {MAX_SYMLINK_HOPS} links"
    )]
    SymlinkLoop {
        /// Buildpack id.
        buildpack: String,
        /// Guest path of the link.
        path: String,
        /// Its target.
        target: String,
    },
    /// A layers directory (the buildpack's, or a declared layer's) is not a directory.
    #[error(
        "buildpack {buildpack} left a {kind} at {path}, where a layer directory must be a directory"
    )]
    NotADirectory {
        /// Buildpack id.
        buildpack: String,
        /// Guest path.
        path: String,
        /// What is there now.
        kind: &'static str,
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

/// Every declared layer's directory, where present, must be a directory (not a file or a
/// symlink the host would otherwise follow or misread).
pub fn check_layer_dirs(
    host_dir: &Path,
    guest_root: &str,
    buildpack: &str,
    output: &BuildpackOutput,
) -> Result<(), LayersDirError> {
    for layer in &output.layers {
        let path = host_dir.join(layer.name.as_str());
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() {
            return Err(LayersDirError::NotADirectory {
                buildpack: buildpack.to_owned(),
                path: format!("{}/{}", guest_root.trim_end_matches('/'), layer.name),
                kind: if meta.file_type().is_symlink() {
                    "symlink"
                } else {
                    "file"
                },
            });
        }
    }
    Ok(())
}

/// Walk `host_dir` (the buildpack's layers dir, seen by the guest at `guest_root`) without
/// following symlinks. Reject special files, and symlinks that do not resolve inside the
/// directory when followed physically (a `..` after a symlink goes to the link target's
/// parent, so lexical checks are not enough).
pub fn verify_tree(
    host_dir: &Path,
    guest_root: &str,
    buildpack: &str,
) -> Result<(), LayersDirError> {
    let guest_root = guest_root.trim_end_matches('/');
    let root_meta = std::fs::symlink_metadata(host_dir).map_err(io("inspect", host_dir))?;
    if !root_meta.is_dir() {
        return Err(LayersDirError::NotADirectory {
            buildpack: buildpack.to_owned(),
            path: guest_root.to_owned(),
            kind: if root_meta.file_type().is_symlink() {
                "symlink"
            } else {
                "file"
            },
        });
    }
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(host_dir.to_path_buf(), Vec::new())];
    while let Some((dir, rel)) = stack.pop() {
        let names = long_path::read_dir_names(&dir).map_err(io("read directory", &dir))?;
        for file_name in names {
            let path = dir.join(&file_name);
            let name = file_name.to_string_lossy().into_owned();
            let guest = format!("{guest_root}/{}", join(&rel, &name));
            let meta = long_path::symlink_metadata(&path).map_err(io("inspect", &path))?;
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = long_path::read_link(&path).map_err(io("read symlink", &path))?;
                let target = target.to_string_lossy().into_owned();
                match resolve(host_dir, guest_root, rel.clone(), &target) {
                    Resolution::Inside => {}
                    Resolution::Escapes => {
                        return Err(LayersDirError::EscapingSymlink {
                            buildpack: buildpack.to_owned(),
                            path: guest,
                            target,
                        });
                    }
                    Resolution::Loop => {
                        return Err(LayersDirError::SymlinkLoop {
                            buildpack: buildpack.to_owned(),
                            path: guest,
                            target,
                        });
                    }
                }
            } else if ft.is_dir() {
                let mut child = rel.clone();
                child.push(name);
                stack.push((path, child));
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

fn join(rel: &[String], name: &str) -> String {
    let mut parts: Vec<&str> = rel.iter().map(String::as_str).collect();
    parts.push(name);
    parts.join("/")
}

/// Most symlinks followed while resolving one link, as in Linux's `MAXSYMLINKS`.
const MAX_SYMLINK_HOPS: usize = 40;

/// Where a symlink leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Inside the root at every step.
    Inside,
    /// Out of the root (or unreadable).
    Escapes,
    /// More than [`MAX_SYMLINK_HOPS`] links deep: a loop.
    Loop,
}

/// Whether `target`, a symlink in the directory `link_dir` (components relative to the root),
/// resolves inside the root (`host_root` on the host, `guest_root` in the guest), following
/// every intermediate symlink physically. Every step must stay inside the root.
pub fn resolves_inside(
    host_root: &Path,
    guest_root: &str,
    link_dir: Vec<String>,
    target: &str,
) -> bool {
    resolve(host_root, guest_root, link_dir, target) == Resolution::Inside
}

/// [`resolves_inside`], telling an escape from a loop.
pub fn resolve(
    host_root: &Path,
    guest_root: &str,
    link_dir: Vec<String>,
    target: &str,
) -> Resolution {
    let mut stack = link_dir;
    let mut pending: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    if !push_target(&mut stack, &mut pending, target, guest_root) {
        return Resolution::Escapes;
    }
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                if stack.pop().is_none() {
                    return Resolution::Escapes;
                }
            }
            _ => {
                stack.push(part);
                let host: PathBuf = stack.iter().fold(host_root.to_path_buf(), |p, c| p.join(c));
                let is_link =
                    long_path::symlink_metadata(&host).is_ok_and(|m| m.file_type().is_symlink());
                if is_link {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Resolution::Loop;
                    }
                    let Ok(next) = long_path::read_link(&host) else {
                        return Resolution::Escapes;
                    };
                    stack.pop();
                    if !push_target(
                        &mut stack,
                        &mut pending,
                        &next.to_string_lossy(),
                        guest_root,
                    ) {
                        return Resolution::Escapes;
                    }
                }
            }
        }
    }
    Resolution::Inside
}

/// Queue the components of `target` in front of `pending`; an absolute target must lie under
/// `guest_root` and restarts from the root.
fn push_target(
    stack: &mut Vec<String>,
    pending: &mut std::collections::VecDeque<String>,
    target: &str,
    guest_root: &str,
) -> bool {
    let relative = if target.starts_with('/') {
        let Some(rest) = target.strip_prefix(guest_root) else {
            return false;
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return false;
        }
        stack.clear();
        rest.to_owned()
    } else {
        target.to_owned()
    };
    for part in relative.split('/').rev() {
        pending.push_front(part.to_owned());
    }
    true
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

/// Remove any `*.toml` or `*.sbom.*` the guest left in its layers root: those files are the
/// host's to write.
fn remove_guest_bookkeeping(host_dir: &Path) -> Result<(), LayersDirError> {
    let entries = std::fs::read_dir(host_dir).map_err(io("read directory", host_dir))?;
    for entry in entries {
        let entry = entry.map_err(io("read directory", host_dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_toml = path.extension().is_some_and(|e| e == "toml") || name.contains(".sbom.");
        let meta = std::fs::symlink_metadata(&path).map_err(io("inspect", &path))?;
        if is_toml && !meta.is_dir() {
            std::fs::remove_file(&path).map_err(io("remove", &path))?;
        }
    }
    Ok(())
}

fn write_layer_toml(host_dir: &Path, layer: &LayerRecord) -> Result<(), LayersDirError> {
    let name = layer.name.as_str();
    if let Some(sbom) = &layer.sbom {
        write_new_file(
            &host_dir.join(format!("{name}.sbom.cdx.json")),
            sbom.as_bytes(),
        )?;
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
    write_new_file(&host_dir.join(format!("{name}.toml")), text.as_bytes())
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    slices: Vec<SliceToml<'a>>,
}

#[derive(Serialize)]
struct SliceToml<'a> {
    paths: &'a [String],
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
    remove_guest_bookkeeping(host_dir)?;
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
        slices: output
            .slices
            .iter()
            .map(|paths| SliceToml { paths })
            .collect(),
    };
    if !launch.labels.is_empty() || !launch.processes.is_empty() || !launch.slices.is_empty() {
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
    if layer.reuse.is_some() {
        // Kept by metadata: no contents here; the previous image's layer is reused.
        return write_layer_toml(host_dir, layer);
    }
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
    write_layer_toml(host_dir, layer)?;
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

    #[cfg(unix)]
    #[test]
    fn symlink_containment_is_physical() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("l/d1/d2")).unwrap();
        let inside = |rel: &[&str], target: &str| {
            resolves_inside(
                root,
                "/layers/bp",
                rel.iter().map(|s| (*s).to_owned()).collect(),
                target,
            )
        };
        assert!(inside(&["l"], "x"));
        assert!(inside(&["l", "d1"], "../d1/d2"));
        assert!(inside(&["l"], "/layers/bp/l/y"));
        assert!(!inside(&["l"], "../../../../etc"));
        assert!(!inside(&["l"], "/etc/passwd"));
        assert!(!inside(&["l"], "../../bp2/x"));
        assert!(!inside(&[], "../bpx"));
        assert!(!inside(&["l"], "/layers/bpx/y"));
        // `a -> ..` is inside, but `..` after it goes to the parent of the link's target.
        symlink("..", root.join("l/a")).unwrap();
        assert!(inside(&["l"], "a"));
        assert!(!inside(&["l", "d1", "d2"], "../../a/../../x"));
        // Loops end.
        symlink("loop", root.join("l/loop")).unwrap();
        assert!(!inside(&["l"], "loop"));
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
