//! `node_modules` where Node.js and the app look for it, as npm lays it out, while the
//! installed packages stay in the `modules` layer (cached on its own). In the app (the build's
//! private copy; the user's files are never written):
//! - an app folder's `node_modules` (the app's own, a workspace folder's) is a relative
//!   symlink to the layer's copy (`/workspace/node_modules -> ../layers/kiln_nodejs/modules/node_modules`),
//!   so ES module imports, `node_modules/.bin/<tool>` and paths under `node_modules` work as
//!   after `npm ci`;
//! - when the lockfile links packages into it (workspaces, `file:` dependencies), it is a real
//!   directory instead: a symlink into the layer per installed package (or per scope), npm's
//!   relative link per linked folder (`node_modules/a -> ../packages/a`), and its own `.bin`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use kiln_sdk::Error;

use crate::bins::{self, BinSource};
use crate::error::NodejsError;
use crate::lockfile::{LockedFolder, LockedLink, LockedPackage};

/// What to lay out.
#[derive(Debug, Clone, Copy)]
pub struct Tree<'a> {
    /// The app directory.
    pub app_dir: &'a Path,
    /// The `modules` layer, holding each package at its lockfile path.
    pub layer_root: &'a Path,
    /// The installed packages.
    pub packages: &'a [LockedPackage],
    /// The links to lay out.
    pub links: &'a [&'a LockedLink],
    /// The app's package folders (for the links' `bin` entries).
    pub folders: &'a BTreeMap<String, LockedFolder>,
}

/// The app folder a `node_modules` path belongs to (`""`, `packages/a`) and the rest.
fn split(path: &str) -> Option<(&str, &str)> {
    let (folder, rest) = path.split_once("node_modules/")?;
    Some((folder.trim_end_matches('/'), rest))
}

/// The package name at the start of `rest` (`@s/b` or `a`).
fn top_name(rest: &str) -> &str {
    let mut parts = rest.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(scope), Some(name)) if scope.starts_with('@') => {
            &rest[..scope.len() + 1 + name.len()]
        }
        (Some(name), _) => name,
        _ => rest,
    }
}

/// The app folders that get a `node_modules` (always the app itself).
fn folders_of(tree: &Tree<'_>) -> BTreeSet<String> {
    let mut out = BTreeSet::from([String::new()]);
    let paths = tree
        .packages
        .iter()
        .map(|p| p.path.as_str())
        .chain(tree.links.iter().map(|l| l.path.as_str()));
    out.extend(paths.filter_map(split).map(|(f, _)| f.to_owned()));
    out
}

fn in_app(app_dir: &Path, folder: &str) -> PathBuf {
    if folder.is_empty() {
        app_dir.to_path_buf()
    } else {
        app_dir.join(folder)
    }
}

/// Lay out `tree`; `previous` is what an earlier call returned (its folders that are not in
/// this tree lose their `node_modules`). `announce` logs replacing a `node_modules` the app
/// brought. Returns the folders laid out.
pub fn lay_out(
    tree: &Tree<'_>,
    previous: &BTreeSet<String>,
    announce: bool,
) -> Result<BTreeSet<String>, NodejsError> {
    let folders = folders_of(tree);
    for gone in previous.difference(&folders) {
        clear(&in_app(tree.app_dir, gone).join("node_modules"), false)?;
    }
    for folder in &folders {
        lay_out_folder(tree, folder, announce)?;
    }
    Ok(folders)
}

fn lay_out_folder(tree: &Tree<'_>, folder: &str, announce: bool) -> Result<(), NodejsError> {
    let dir = in_app(tree.app_dir, folder);
    let app_nm = dir.join("node_modules");
    let layer_nm = in_app(tree.layer_root, folder).join("node_modules");
    clear(&app_nm, announce)?;
    let links: Vec<&LockedLink> = tree
        .links
        .iter()
        .copied()
        .filter(|l| split(&l.path).is_some_and(|(f, _)| f == folder))
        .collect();
    if links.is_empty() {
        create_dir(&dir)?;
        kiln_sdk::extract::symlink(&relative_target(&dir, &layer_nm), &app_nm)?;
        return Ok(());
    }
    create_dir(&app_nm)?;
    let linked: BTreeSet<&str> = links.iter().map(|l| l.name.as_str()).collect();
    let linked_scopes: BTreeSet<&str> = linked.iter().filter_map(|n| scope_of(n)).collect();
    // Installed packages directly in this `node_modules`, with the name they have there.
    let top_level: Vec<(&LockedPackage, &str)> = tree
        .packages
        .iter()
        .filter_map(|p| {
            let (f, rest) = split(&p.path)?;
            (f == folder && top_name(rest) == rest).then_some((p, rest))
        })
        .collect();
    let mut scopes_linked = BTreeSet::new();
    for &(_, name) in &top_level {
        if linked.contains(name) {
            continue;
        }
        if let Some(scope) = scope_of(name).filter(|s| !linked_scopes.contains(s)) {
            if scopes_linked.insert(scope) {
                let to = layer_nm.join(scope);
                kiln_sdk::extract::symlink(&relative_target(&app_nm, &to), &app_nm.join(scope))?;
            }
            continue;
        }
        link_into(&app_nm.join(name), &layer_nm.join(name))?;
    }
    for l in &links {
        let target = tree.app_dir.join(&l.target);
        if !target.is_dir() {
            return Err(NodejsError::LinkTargetMissing {
                path: l.path.clone(),
                target: l.target.clone(),
            });
        }
        link_into(&tree.app_dir.join(&l.path), &target)?;
    }
    let no_bins = BTreeMap::new();
    let sources: Vec<BinSource<'_>> = top_level
        .iter()
        .map(|(p, _)| BinSource {
            path: &p.path,
            bin: &p.bin,
        })
        .chain(links.iter().map(|l| BinSource {
            path: &l.path,
            bin: tree.folders.get(&l.target).map_or(&no_bins, |f| &f.bin),
        }))
        .collect();
    bins::link(&sources, tree.app_dir)?;
    Ok(())
}

fn scope_of(name: &str) -> Option<&str> {
    name.split_once('/')
        .map(|(scope, _)| scope)
        .filter(|s| s.starts_with('@'))
}

/// A relative symlink at `link` to `to`, creating `link`'s parent.
fn link_into(link: &Path, to: &Path) -> Result<(), Error> {
    let parent = link.parent().unwrap_or(link);
    create_dir(parent)?;
    kiln_sdk::extract::symlink(&relative_target(parent, to), link)
}

fn create_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))
}

/// Remove whatever is at `path`; `announce` logs replacing a directory the app brought.
fn clear(path: &Path, announce: bool) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            if announce {
                kiln_sdk::log::info(format!(
                    "Replacing the app's own {} with the one installed from package-lock.json",
                    path.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                ));
            }
            std::fs::remove_dir_all(path).map_err(|e| Error::io("remove", path, e))
        }
        Ok(_) => std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspect", path, e)),
    }
}

/// The path from inside `from` to `to`, both absolute: `/workspace` and
/// `/layers/x/modules/node_modules` give `../layers/x/modules/node_modules`.
fn relative_target(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c.as_os_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_relative_to_the_app_dir() {
        assert_eq!(
            relative_target(
                Path::new("/workspace"),
                Path::new("/layers/kiln_nodejs/modules/node_modules")
            ),
            PathBuf::from("../layers/kiln_nodejs/modules/node_modules")
        );
        assert_eq!(
            relative_target(Path::new("/a/b"), Path::new("/a/c/d")),
            PathBuf::from("../c/d")
        );
    }

    #[test]
    fn names_and_folders_of_paths() {
        assert_eq!(split("node_modules/a"), Some(("", "a")));
        assert_eq!(
            split("packages/w/node_modules/@s/b"),
            Some(("packages/w", "@s/b"))
        );
        assert_eq!(top_name("@s/b"), "@s/b");
        assert_eq!(top_name("@s/b/node_modules/c"), "@s/b");
        assert_eq!(top_name("a/node_modules/c"), "a");
    }
}
