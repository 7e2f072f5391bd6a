//! After the build script: the dev-only packages installed for it leave the launch layer, so
//! the image gets what a production install has, and build tools' caches in
//! `node_modules/.cache` go (they would make the layer differ from build to build).

use std::path::Path;

use kiln_sdk::Error;

fn remove_dir(dir: &Path) -> Result<bool, Error> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("remove", dir, e)),
    }
}

/// Remove the packages at `paths` (relative to `root`), and scope directories (`@s`) they
/// leave empty; returns how many were there.
pub fn remove_packages(root: &Path, paths: &[&str]) -> Result<usize, Error> {
    let mut removed = 0;
    for path in paths {
        if remove_dir(&root.join(path))? {
            removed += 1;
        }
        let Some((parent, _)) = path.rsplit_once('/') else {
            continue;
        };
        let is_scope = parent
            .rsplit('/')
            .next()
            .is_some_and(|s| s.starts_with('@'));
        let scope = root.join(parent);
        if is_scope && std::fs::read_dir(&scope).is_ok_and(|mut d| d.next().is_none()) {
            std::fs::remove_dir(&scope).map_err(|e| Error::io("remove", &scope, e))?;
        }
    }
    Ok(removed)
}

/// Remove `<root>/node_modules/.cache`.
pub fn remove_build_caches(root: &Path) -> Result<(), Error> {
    remove_dir(&root.join("node_modules/.cache")).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_packages_and_empty_scopes() {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "node_modules/@types/node",
            "node_modules/@s/keep",
            "node_modules/@s/dev",
            "node_modules/jest/node_modules/x",
            "node_modules/.cache/babel",
        ] {
            std::fs::create_dir_all(dir.path().join(p)).unwrap();
        }
        let n = remove_packages(
            dir.path(),
            &[
                "node_modules/@types/node",
                "node_modules/@s/dev",
                "node_modules/jest",
                "node_modules/jest/node_modules/x",
            ],
        )
        .unwrap();
        assert_eq!(n, 3);
        remove_build_caches(dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path().join("node_modules"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["@s"]);
        assert!(dir.path().join("node_modules/@s/keep").is_dir());
    }
}
