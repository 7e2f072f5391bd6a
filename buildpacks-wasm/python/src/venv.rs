//! The virtual environment in the `venv` layer, laid out as `python -m venv` makes it on
//! Linux, without running Python: `pyvenv.cfg`, `bin/python*` links to the runtime's
//! interpreter, `lib/pythonX.Y/site-packages` and the `lib64` link.

use std::path::{Path, PathBuf};

use kiln_sdk::Error;

/// A virtual environment at `root` (a guest path that is also its path in the image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venv {
    /// The environment's directory.
    pub root: PathBuf,
    /// The interpreter's `(major, minor)`.
    pub python: (u32, u32),
}

impl Venv {
    /// `lib/pythonX.Y/site-packages`, relative to the root.
    pub fn site_packages_rel(&self) -> String {
        format!(
            "lib/python{}.{}/site-packages",
            self.python.0, self.python.1
        )
    }

    /// The site-packages directory.
    pub fn site_packages(&self) -> PathBuf {
        self.root.join(self.site_packages_rel())
    }

    /// `bin`.
    pub fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// `bin/python`, the interpreter scripts name in their `#!` line.
    pub fn interpreter(&self) -> String {
        self.bin().join("python").to_string_lossy().into_owned()
    }

    /// `include/site/pythonX.Y/<dist>`, relative to the root: where a wheel's headers go.
    pub fn headers_rel(&self, dist: &str) -> String {
        format!(
            "include/site/python{}.{}/{dist}",
            self.python.0, self.python.1
        )
    }

    /// Create the environment for the interpreter at `<home>/python<X.Y>` (`version` is its
    /// full version).
    pub fn create(&self, home: &Path, version: &str) -> Result<(), Error> {
        let (major, minor) = self.python;
        let exe = home.join(format!("python{major}.{minor}"));
        let cfg = format!(
            "home = {}\ninclude-system-site-packages = false\nversion = {version}\nexecutable = {}\n",
            home.display(),
            exe.display()
        );
        let bin = self.bin();
        for dir in [bin.clone(), self.site_packages()] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        }
        let path = self.root.join("pyvenv.cfg");
        std::fs::write(&path, cfg).map_err(|e| Error::io("write", &path, e))?;
        // The sandbox allows only relative links; both layers sit under the same directory.
        kiln_sdk::extract::symlink(&relative(&bin, &exe), &bin.join("python"))?;
        kiln_sdk::extract::symlink(Path::new("python"), &bin.join("python3"))?;
        kiln_sdk::extract::symlink(
            Path::new("python"),
            &bin.join(format!("python{major}.{minor}")),
        )?;
        kiln_sdk::extract::symlink(Path::new("lib"), &self.root.join("lib64"))?;
        Ok(())
    }
}

/// The relative path from directory `from` to `to` (both absolute).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_that_of_python_m_venv() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = Venv {
            root: tmp.path().join("venv"),
            python: (3, 12),
        };
        venv.create(Path::new("/layers/kiln_python/python/bin"), "3.12.12")
            .unwrap();
        let cfg = std::fs::read_to_string(venv.root.join("pyvenv.cfg")).unwrap();
        assert!(
            cfg.starts_with("home = /layers/kiln_python/python/bin\n"),
            "{cfg}"
        );
        assert!(cfg.contains("version = 3.12.12\n"));
        assert!(venv.root.join("lib/python3.12/site-packages").is_dir());
        assert_eq!(
            relative(
                Path::new("/layers/kiln_python/venv/bin"),
                Path::new("/layers/kiln_python/python/bin/python3.12")
            ),
            Path::new("../../python/bin/python3.12")
        );
        assert!(
            std::fs::read_link(venv.root.join("bin/python"))
                .unwrap()
                .is_relative()
        );
        assert_eq!(
            std::fs::read_link(venv.root.join("bin/python3")).unwrap(),
            Path::new("python")
        );
        assert_eq!(
            std::fs::read_link(venv.root.join("lib64")).unwrap(),
            Path::new("lib")
        );
    }
}
