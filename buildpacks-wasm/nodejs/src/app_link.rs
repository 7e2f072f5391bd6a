//! `<app>/node_modules` where Node.js and the app look for it: a relative symlink into the
//! `modules` layer, so the installed tree stays in its own cached layer while ES module
//! imports, `node_modules/.bin/<tool>` and paths under `node_modules` work as after `npm ci`.

use std::path::{Component, Path, PathBuf};

use kiln_sdk::Error;

/// Replace `<app_dir>/node_modules` (the buildpack's private copy; the user's files are never
/// written) with a symlink to `modules_dir`.
pub fn link_node_modules(app_dir: &Path, modules_dir: &Path) -> Result<(), Error> {
    let link = app_dir.join("node_modules");
    match std::fs::symlink_metadata(&link) {
        Ok(meta) if meta.is_dir() => {
            kiln_sdk::log::info(
                "Replacing the app's own node_modules with the one installed from package-lock.json",
            );
            std::fs::remove_dir_all(&link).map_err(|e| Error::io("remove", &link, e))?;
        }
        Ok(_) => std::fs::remove_file(&link).map_err(|e| Error::io("remove", &link, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("inspect", &link, e)),
    }
    kiln_sdk::extract::symlink(&relative_target(app_dir, modules_dir), &link)
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
}
