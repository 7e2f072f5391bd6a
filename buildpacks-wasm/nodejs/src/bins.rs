//! `node_modules/.bin`: a link `<cmd> -> ../<name>/<file>` for every `bin` entry of the
//! packages installed in that `node_modules`, as npm makes them. The first package (by path)
//! wins a command name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kiln_sdk::Error;

/// A package with `bin` entries, at `path` (relative to the tree's root).
#[derive(Debug, Clone, Copy)]
pub struct BinSource<'a> {
    /// `…/node_modules/<name>`.
    pub path: &'a str,
    /// Command name → file inside the package.
    pub bin: &'a BTreeMap<String, String>,
}

/// What [`link`] made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Linked {
    /// Links created.
    pub links: usize,
    /// The files they point at (relative to the root), to be executable.
    pub targets: Vec<String>,
}

/// `(…/node_modules/.bin, <name>)` of a package path.
fn bin_dir_of(path: &str) -> Option<(String, &str)> {
    let (parent, name) = path.rsplit_once("node_modules/")?;
    Some((format!("{parent}node_modules/.bin"), name))
}

/// Create the `.bin` links of `sources` under `root`.
pub fn link(sources: &[BinSource<'_>], root: &Path) -> Result<Linked, Error> {
    let mut made = BTreeSet::new();
    let mut out = Linked::default();
    let mut sorted: Vec<&BinSource<'_>> = sources.iter().collect();
    sorted.sort_by_key(|s| s.path);
    for s in sorted {
        let Some((bin_dir, name)) = bin_dir_of(s.path) else {
            continue;
        };
        for (cmd, file) in s.bin {
            let file = file.trim_start_matches("./");
            let safe_cmd =
                !cmd.is_empty() && !cmd.contains(['/', '\\']) && cmd != ".." && cmd != ".";
            let safe_file =
                !file.is_empty() && !file.starts_with('/') && file.split('/').all(|s| s != "..");
            if !safe_cmd || !safe_file {
                kiln_sdk::log::warn(format!(
                    "{}: ignoring unsafe bin entry {cmd:?} -> {file:?}",
                    s.path
                ));
                continue;
            }
            let link_rel = format!("{bin_dir}/{cmd}");
            if !made.insert(link_rel.clone()) {
                continue;
            }
            let dir = root.join(&bin_dir);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
            let target = format!("../{name}/{file}");
            kiln_sdk::extract::symlink(Path::new(&target), &root.join(&link_rel))?;
            out.targets.push(format!("{}/{file}", s.path));
        }
    }
    out.links = made.len();
    Ok(out)
}

/// Remove the `.bin` directories `sources` would link into (to link a different set).
pub fn remove(sources: &[BinSource<'_>], root: &Path) -> Result<(), Error> {
    let dirs: BTreeSet<String> = sources
        .iter()
        .filter(|s| !s.bin.is_empty())
        .filter_map(|s| bin_dir_of(s.path).map(|(d, _)| d))
        .collect();
    for d in dirs {
        let dir = root.join(d);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &dir, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_next_to_each_package_first_path_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = BTreeMap::from([("tool".to_owned(), "./bin/a.js".to_owned())]);
        let b = BTreeMap::from([
            ("tool".to_owned(), "b.js".to_owned()),
            ("../evil".to_owned(), "x".to_owned()),
        ]);
        let nested = BTreeMap::from([("n".to_owned(), "n.js".to_owned())]);
        let sources = [
            BinSource {
                path: "node_modules/b",
                bin: &b,
            },
            BinSource {
                path: "node_modules/a",
                bin: &a,
            },
            BinSource {
                path: "node_modules/a/node_modules/n",
                bin: &nested,
            },
        ];
        let made = link(&sources, dir.path()).unwrap();
        assert_eq!(made.links, 2);
        assert_eq!(
            made.targets,
            [
                "node_modules/a/bin/a.js",
                "node_modules/a/node_modules/n/n.js"
            ]
        );
        let tool = std::fs::read_link(dir.path().join("node_modules/.bin/tool")).unwrap();
        assert_eq!(tool, Path::new("../a/bin/a.js"));
        assert!(
            dir.path()
                .join("node_modules/a/node_modules/.bin/n")
                .symlink_metadata()
                .is_ok()
        );
        remove(&sources, dir.path()).unwrap();
        assert!(!dir.path().join("node_modules/.bin").exists());
    }
}
