//! The spec directory and the fleet's state beside it.
//!
//! Specs are the `*.toml`, `*.yaml` and `*.yml` files of one directory (a directory Kiln
//! keeps, filled by `kiln image apply`, or a directory of a repository read as it is). The
//! state is a directory Kiln owns (default: `.kiln/` in the spec directory): per image its
//! build history (`history/<name>.json`), build logs (`logs/<name>/<n>.log`), a pending
//! trigger (`triggers/<name>`), and the locks that keep two reconciles from building the
//! same image at once (`locks/`).

use std::path::{Path, PathBuf};

use crate::error::{SpecError, StoreError};
use crate::spec::{ImageSpec, SPEC_EXTENSIONS};

/// Name of the default state directory inside the spec directory.
pub const STATE_DIR: &str = ".kiln";

/// A spec directory and its state directory.
#[derive(Debug, Clone)]
pub struct SpecStore {
    specs: PathBuf,
    state: PathBuf,
}

/// One file written by [`SpecStore::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The image's name.
    pub name: String,
    /// Where the spec now is.
    pub file: PathBuf,
    /// `false` when the directory already had these exact bytes.
    pub changed: bool,
}

impl SpecStore {
    /// The specs in `specs`, with the state in `state` (default: `specs/.kiln`).
    pub fn new(specs: impl Into<PathBuf>, state: Option<PathBuf>) -> Self {
        let specs = specs.into();
        let state = state.unwrap_or_else(|| specs.join(STATE_DIR));
        Self { specs, state }
    }

    /// The spec directory.
    pub fn specs_dir(&self) -> &Path {
        &self.specs
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// Every spec file of the directory, sorted by file name (none when it does not exist).
    pub fn files(&self) -> Result<Vec<PathBuf>, StoreError> {
        let entries = match std::fs::read_dir(&self.specs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&self.specs)(e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(StoreError::io(&self.specs))?;
            let path = entry.path();
            let is_spec = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| SPEC_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            let name = entry.file_name();
            if is_spec && !name.to_string_lossy().starts_with('.') && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    /// Every spec, sorted by name. A bad file or two specs of one name is an error naming
    /// the files.
    pub fn load_all(&self) -> Result<Vec<ImageSpec>, StoreError> {
        let mut specs: Vec<ImageSpec> = Vec::new();
        for file in self.files()? {
            specs.push(ImageSpec::load(&file)?);
        }
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in specs.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(SpecError::DuplicateName {
                    name: pair[0].name.clone(),
                    first: pair[0].file.clone(),
                    second: pair[1].file.clone(),
                }
                .into());
            }
        }
        Ok(specs)
    }

    /// The specs named `names` (all of them when `names` is empty), in the order asked.
    pub fn select(&self, names: &[String]) -> Result<Vec<ImageSpec>, StoreError> {
        let all = self.load_all()?;
        if names.is_empty() {
            return Ok(all);
        }
        names
            .iter()
            .map(|name| {
                all.iter()
                    .find(|s| &s.name == name)
                    .cloned()
                    .ok_or_else(|| StoreError::UnknownImage {
                        name: name.clone(),
                        dir: self.specs.clone(),
                    })
            })
            .collect()
    }

    /// Validate every file, then copy each into the spec directory as `<name>.<ext>`
    /// (replacing the image's earlier spec, whatever its format). Nothing is written when
    /// any file is bad, or when two files describe one image.
    pub fn apply(&self, files: &[PathBuf]) -> Result<Vec<Applied>, StoreError> {
        let mut parsed = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|source| SpecError::Read {
                file: file.clone(),
                source,
            })?;
            let spec = ImageSpec::parse(&text, file)?;
            if let Some((other, _)) = parsed
                .iter()
                .find(|(s, _): &&(ImageSpec, String)| s.name == spec.name)
            {
                return Err(SpecError::DuplicateName {
                    name: spec.name.clone(),
                    first: other.file.clone(),
                    second: file.clone(),
                }
                .into());
            }
            parsed.push((spec, text));
        }
        std::fs::create_dir_all(&self.specs).map_err(StoreError::io(&self.specs))?;
        let existing = self.load_all()?;
        let mut applied = Vec::new();
        for (spec, text) in parsed {
            let extension = spec
                .file
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("toml")
                .to_ascii_lowercase();
            let dest = self.specs.join(format!("{}.{extension}", spec.name));
            let changed = std::fs::read(&dest).ok().as_deref() != Some(text.as_bytes());
            if changed {
                kiln_fs::atomic_file::write(&dest, text.as_bytes())
                    .map_err(StoreError::io(&dest))?;
            }
            for old in existing
                .iter()
                .filter(|o| o.name == spec.name && o.file != dest)
            {
                std::fs::remove_file(&old.file).map_err(StoreError::io(&old.file))?;
            }
            applied.push(Applied {
                name: spec.name,
                file: dest,
                changed,
            });
        }
        Ok(applied)
    }

    /// Ask for a build of `name` at the next reconcile (reason `TRIGGER`).
    pub fn trigger(&self, name: &str) -> Result<(), StoreError> {
        self.select(&[name.to_owned()])?;
        let file = self.trigger_file(name);
        let dir = self.state.join("triggers");
        std::fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
        kiln_fs::atomic_file::write(&file, b"requested\n").map_err(StoreError::io(&file))
    }

    /// Whether a build of `name` was asked for.
    pub fn is_triggered(&self, name: &str) -> bool {
        self.trigger_file(name).is_file()
    }

    /// Forget the trigger of `name` (after a successful build).
    pub fn clear_trigger(&self, name: &str) -> Result<(), StoreError> {
        let file = self.trigger_file(name);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(&file)(e)),
            _ => Ok(()),
        }
    }

    fn trigger_file(&self, name: &str) -> PathBuf {
        self.state.join("triggers").join(name)
    }

    /// Where the locks of this fleet's images are.
    pub fn locks_dir(&self) -> PathBuf {
        self.state.join("locks")
    }

    /// The path a reconcile locks while it works on `name`.
    pub fn lock_path(&self, name: &str) -> PathBuf {
        self.state.join("images").join(name)
    }

    /// The history file of `name`.
    pub fn history_file(&self, name: &str) -> PathBuf {
        self.state.join("history").join(format!("{name}.json"))
    }

    /// The directory of `name`'s build logs.
    pub fn logs_dir(&self, name: &str) -> PathBuf {
        self.state.join("logs").join(name)
    }
}

#[cfg(test)]
mod tests;
