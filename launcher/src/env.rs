//! The process environment: the container's env, cleaned of the launcher's own variables,
//! then each buildpack's layers applied over it (Platform API 0.15 §4 step 2, Buildpack API
//! env-file semantics).
//!
//! For each buildpack in group order whose `<layers>/<escaped id>` exists:
//! 1. for every layer dir in name order, `<layer>/bin` is prepended to `PATH` and
//!    `<layer>/lib` to `LD_LIBRARY_PATH` (with `:`), when they exist;
//! 2. then, for every layer dir in name order, the files of `env/`, `env.launch/` and
//!    (for a buildpack process of type `T` only) `env.launch/T/` are applied.
//!
//! Layer dirs are the sub-directories of the buildpack dir, except those whose name ends in
//! `.ignore`. In an env dir, files are applied in file-name order; a file `NAME.SUFFIX` acts
//! on variable `NAME` (the name ends at the first `.`):
//!
//! | suffix | effect (file content `v`, raw bytes) |
//! |---|---|
//! | none, `override` | `NAME = v` |
//! | `default` | `NAME = v` if `NAME` is unset or empty |
//! | `prepend` | `NAME = v + delim + NAME` (`v` if `NAME` is unset or empty) |
//! | `append` | `NAME = NAME + delim + v` (`v` if `NAME` is unset or empty) |
//! | `delim` | no action: its content is `delim` for `NAME` in the same dir (none when absent) |
//!
//! Other suffixes, sub-directories, and names that cannot be variables (empty, or with a
//! `=`) are ignored.

use kiln_spec::env_file::{Action, Combination};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::metadata::Buildpack;

/// Variables the launcher consumes and does not pass on.
pub const REMOVED: [&str; 5] = [
    "CNB_LAYERS_DIR",
    "CNB_APP_DIR",
    "CNB_PROCESS_TYPE",
    "CNB_PLATFORM_API",
    "CNB_DEPRECATION_MODE",
];

/// `PATH` entries that lead to the launcher itself and are removed before anything runs.
pub const STRIPPED_PATH_ENTRIES: [&str; 2] = ["/cnb/process", "/cnb/lifecycle"];

/// Separator of path lists (`PATH`, `LD_LIBRARY_PATH`) for root-dir injection.
const PATH_SEPARATOR: &str = ":";

/// A set of environment variables (name → value), values kept as raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<OsString, OsString>,
}

impl Env {
    /// An env holding `vars` as given (a later duplicate name wins).
    pub fn from_vars<I: IntoIterator<Item = (OsString, OsString)>>(vars: I) -> Self {
        Self {
            vars: vars.into_iter().collect(),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// Set `name` to `value`.
    pub fn set(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        self.vars.insert(name.into(), value.into());
    }

    /// Remove `name`.
    pub fn remove(&mut self, name: &str) {
        self.vars.remove(OsStr::new(name));
    }

    /// All variables, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// The value of `name` if it is set and not empty.
    fn non_empty(&self, name: &OsStr) -> Option<&OsStr> {
        self.vars
            .get(name)
            .map(OsString::as_os_str)
            .filter(|v| !v.is_empty())
    }

    /// `name = value + delim + current` (just `value` when `name` is unset or empty).
    fn prepend(&mut self, name: &OsStr, value: &OsStr, delim: &OsStr) {
        let mut new = value.to_os_string();
        if let Some(current) = self.non_empty(name) {
            new.push(delim);
            new.push(current);
        }
        self.vars.insert(name.to_os_string(), new);
    }

    /// `name = current + delim + value` (just `value` when `name` is unset or empty).
    fn append(&mut self, name: &OsStr, value: &OsStr, delim: &OsStr) {
        let new = match self.non_empty(name) {
            Some(current) => {
                let mut new = current.to_os_string();
                new.push(delim);
                new.push(value);
                new
            }
            None => value.to_os_string(),
        };
        self.vars.insert(name.to_os_string(), new);
    }
}

/// The container's env as the process starts from: [`REMOVED`] variables dropped and
/// [`STRIPPED_PATH_ENTRIES`] taken out of `PATH` (`PATH` is unset if nothing is left).
pub fn container_env<I: IntoIterator<Item = (OsString, OsString)>>(vars: I) -> Env {
    let mut env = Env::from_vars(vars);
    for name in REMOVED {
        env.remove(name);
    }
    if let Some(path) = env.get("PATH") {
        match strip_path(path) {
            Some(stripped) => env.set("PATH", stripped),
            None => env.remove("PATH"),
        }
    }
    env
}

/// `path` without the [`STRIPPED_PATH_ENTRIES`] (with or without a trailing `/`), or `None`
/// when no entry is left.
pub fn strip_path(path: &OsStr) -> Option<OsString> {
    let kept: Vec<PathBuf> = std::env::split_paths(path)
        .filter(|entry| {
            let entry = entry.as_os_str().to_string_lossy();
            let entry = entry.trim_end_matches('/');
            !STRIPPED_PATH_ENTRIES.contains(&entry)
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    std::env::join_paths(kept).ok()
}

/// Apply the layers of every buildpack in `buildpacks` (group order) under `layers` to
/// `env`. `process_type` is the type of the buildpack process being launched, `None` for a
/// user-provided command; it selects `env.launch/<type>/`.
pub fn apply_buildpacks(
    env: &mut Env,
    layers: &Path,
    buildpacks: &[Buildpack],
    process_type: Option<&str>,
) -> Result<(), Error> {
    for buildpack in buildpacks {
        let dir = layers.join(buildpack.escaped_id());
        if !dir.is_dir() {
            continue;
        }
        let layer_dirs = layer_dirs(&dir)?;
        for layer in &layer_dirs {
            inject_root_dirs(env, layer);
        }
        for layer in &layer_dirs {
            apply_env_dir(env, &layer.join("env"))?;
            let launch = layer.join("env.launch");
            apply_env_dir(env, &launch)?;
            if let Some(t) = process_type {
                apply_env_dir(env, &launch.join(t))?;
            }
        }
    }
    Ok(())
}

/// The layer dirs of a buildpack dir, in name order.
pub fn layer_dirs(buildpack_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut layers: Vec<PathBuf> = sorted_entries(buildpack_dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().ends_with(".ignore"))
        })
        .collect();
    layers.sort();
    Ok(layers)
}

/// Prepend `<layer>/bin` to `PATH` and `<layer>/lib` to `LD_LIBRARY_PATH` if they exist.
fn inject_root_dirs(env: &mut Env, layer: &Path) {
    for (sub, var) in [("bin", "PATH"), ("lib", "LD_LIBRARY_PATH")] {
        let dir = layer.join(sub);
        if dir.is_dir() {
            env.prepend(OsStr::new(var), dir.as_os_str(), OsStr::new(PATH_SEPARATOR));
        }
    }
}

/// Apply the env files of `dir` to `env` in file-name order. A missing dir changes nothing.
pub fn apply_env_dir(env: &mut Env, dir: &Path) -> Result<(), Error> {
    if !dir.is_dir() {
        return Ok(());
    }
    for file in sorted_entries(dir)? {
        let Some(file_name) = file.file_name().and_then(OsStr::to_str) else {
            continue;
        };
        let (name, suffix) = match file_name.split_once('.') {
            Some((name, suffix)) => (name, Some(suffix)),
            None => (file_name, None),
        };
        let Some(action) = Action::from_suffix(suffix) else {
            continue;
        };
        if name.is_empty() || name.contains('=') || file.is_dir() {
            continue;
        }
        let value = read_value(&file)?;
        let name = OsStr::new(name);
        match action.combine(env.non_empty(name).is_some()) {
            Combination::Keep => {}
            Combination::Value => env.set(name, value),
            Combination::CurrentThenValue => env.append(name, &value, &read_delim(dir, name)?),
            Combination::ValueThenCurrent => env.prepend(name, &value, &read_delim(dir, name)?),
        }
    }
    Ok(())
}

/// The content of `<dir>/<name>.delim`, or nothing when there is no such file.
fn read_delim(dir: &Path, name: &OsStr) -> Result<OsString, Error> {
    let mut file_name = name.to_os_string();
    file_name.push(".delim");
    let path = dir.join(file_name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(os_string(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(OsString::new()),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// The raw content of an env file.
fn read_value(path: &Path) -> Result<OsString, Error> {
    std::fs::read(path)
        .map(os_string)
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// The entries of `dir`, sorted by file name.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let read_error = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(read_error)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    entries.sort();
    Ok(entries)
}

/// File bytes as an env value, byte for byte on Unix.
#[cfg(unix)]
fn os_string(bytes: Vec<u8>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes)
}

/// File bytes as an env value (lossy where the platform cannot hold arbitrary bytes).
#[cfg(not(unix))]
fn os_string(bytes: Vec<u8>) -> OsString {
    String::from_utf8_lossy(&bytes).into_owned().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn write(path: &Path, content: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn bp(id: &str) -> Buildpack {
        Buildpack { id: id.to_owned() }
    }

    fn get(env: &Env, name: &str) -> Option<String> {
        env.get(name).map(|v| v.to_str().unwrap().to_owned())
    }

    /// Apply one env dir holding `files` to an env holding `start`.
    fn apply(start: &[(&str, &str)], files: &[(&str, &str)]) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        for (name, content) in files {
            write(&tmp.path().join(name), content);
        }
        let mut env = Env::from_vars(vars(start));
        apply_env_dir(&mut env, tmp.path()).unwrap();
        env
    }

    #[test]
    fn override_with_and_without_suffix() {
        let env = apply(
            &[("A", "old"), ("B", "old")],
            &[("A", "new-a"), ("B.override", "new-b"), ("C", "")],
        );
        assert_eq!(get(&env, "A").as_deref(), Some("new-a"));
        assert_eq!(get(&env, "B").as_deref(), Some("new-b"));
        assert_eq!(get(&env, "C").as_deref(), Some(""));
    }

    #[test]
    fn default_only_when_unset_or_empty() {
        let env = apply(
            &[("SET", "keep"), ("EMPTY", "")],
            &[
                ("SET.default", "x"),
                ("EMPTY.default", "filled"),
                ("UNSET.default", "new"),
            ],
        );
        assert_eq!(get(&env, "SET").as_deref(), Some("keep"));
        assert_eq!(get(&env, "EMPTY").as_deref(), Some("filled"));
        assert_eq!(get(&env, "UNSET").as_deref(), Some("new"));
    }

    #[test]
    fn prepend_and_append_without_delim_concatenate() {
        let env = apply(
            &[("P", "cur"), ("A", "cur")],
            &[("P.prepend", "pre"), ("A.append", "post")],
        );
        assert_eq!(get(&env, "P").as_deref(), Some("precur"));
        assert_eq!(get(&env, "A").as_deref(), Some("curpost"));
    }

    #[test]
    fn prepend_and_append_use_the_delim_file_of_the_same_dir() {
        let env = apply(
            &[("P", "cur"), ("A", "cur")],
            &[
                ("P.prepend", "pre"),
                ("P.delim", ":"),
                ("A.append", "post"),
                ("A.delim", " ; "),
            ],
        );
        assert_eq!(get(&env, "P").as_deref(), Some("pre:cur"));
        assert_eq!(get(&env, "A").as_deref(), Some("cur ; post"));

        // A delim in another dir does not count.
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("one/X.delim"), ":");
        write(&tmp.path().join("two/X.append"), "b");
        let mut env = Env::from_vars(vars(&[("X", "a")]));
        apply_env_dir(&mut env, &tmp.path().join("one")).unwrap();
        apply_env_dir(&mut env, &tmp.path().join("two")).unwrap();
        assert_eq!(get(&env, "X").as_deref(), Some("ab"));
    }

    #[test]
    fn prepend_and_append_to_unset_or_empty_give_the_value_alone() {
        let env = apply(
            &[("EP", ""), ("EA", "")],
            &[
                ("EP.prepend", "p"),
                ("EP.delim", ":"),
                ("EA.append", "a"),
                ("EA.delim", ":"),
                ("UP.prepend", "p"),
                ("UP.delim", ":"),
                ("UA.append", "a"),
            ],
        );
        for (name, value) in [("EP", "p"), ("EA", "a"), ("UP", "p"), ("UA", "a")] {
            assert_eq!(get(&env, name).as_deref(), Some(value), "{name}");
        }
    }

    #[test]
    fn delim_is_not_an_action_and_unknown_suffixes_are_ignored() {
        let env = apply(
            &[("KEEP", "k")],
            &[
                ("D.delim", ":"),
                ("KEEP.bogus", "x"),
                ("KEEP.append.extra", "x"),
                ("KEEP.OVERRIDE", "x"),
                (".append", "no name"),
                ("BAD=NAME", "x"),
            ],
        );
        assert_eq!(env, Env::from_vars(vars(&[("KEEP", "k")])));
    }

    #[test]
    fn values_are_raw_bytes() {
        let env = apply(&[], &[("NL", "line\n"), ("SP", "  spaced  ")]);
        assert_eq!(get(&env, "NL").as_deref(), Some("line\n"));
        assert_eq!(get(&env, "SP").as_deref(), Some("  spaced  "));
    }

    #[cfg(unix)]
    #[test]
    fn values_need_not_be_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("BIN"), b"\xff\xfe").unwrap();
        let mut env = Env::default();
        apply_env_dir(&mut env, tmp.path()).unwrap();
        assert_eq!(env.get("BIN").unwrap().as_bytes(), b"\xff\xfe");
    }

    #[test]
    fn files_apply_in_file_name_order() {
        // `V` < `V.append` < `V.default` < `V.override` < `V.prepend`.
        let env = apply(
            &[],
            &[
                ("V", "base"),
                ("V.append", "+a"),
                ("V.default", "ignored"),
                ("V.prepend", "p+"),
                ("W.override", "o"),
                ("W.default", "d"),
                ("W.append", "a"),
            ],
        );
        assert_eq!(get(&env, "V").as_deref(), Some("p+base+a"));
        // W.append (a), W.default (kept: set), W.override (o).
        assert_eq!(get(&env, "W").as_deref(), Some("o"));
    }

    #[test]
    fn subdirectories_are_skipped_and_a_missing_dir_is_fine() {
        let env = apply(&[], &[("sub/X", "x"), ("Y.override/Z", "z")]);
        assert_eq!(env, Env::default());
        let mut env = Env::default();
        apply_env_dir(&mut env, Path::new("/nonexistent-kiln-env")).unwrap();
        assert_eq!(env, Env::default());
    }

    #[test]
    fn container_env_drops_launcher_variables_and_cnb_path_entries() {
        let env = container_env(vars(&[
            ("CNB_LAYERS_DIR", "/layers"),
            ("CNB_APP_DIR", "/workspace"),
            ("CNB_PROCESS_TYPE", "web"),
            ("CNB_PLATFORM_API", "0.15"),
            ("CNB_DEPRECATION_MODE", "quiet"),
            ("CNB_EXEC_ENV", "production"),
            ("HOME", "/home/cnb"),
            (
                "PATH",
                "/cnb/process:/usr/bin:/cnb/lifecycle/:/bin:/cnb/processes",
            ),
        ]));
        assert_eq!(
            env,
            Env::from_vars(vars(&[
                ("CNB_EXEC_ENV", "production"),
                ("HOME", "/home/cnb"),
                ("PATH", "/usr/bin:/bin:/cnb/processes"),
            ]))
        );
        let env = container_env(vars(&[("PATH", "/cnb/process:/cnb/lifecycle")]));
        assert_eq!(env.get("PATH"), None);
    }

    /// A layers dir with two buildpacks.
    fn layers() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let l = tmp.path();
        // Buildpack one: layers `a` and `b` (name order), plus things that are not layers.
        fs::create_dir_all(l.join("one_bp/a/bin")).unwrap();
        fs::create_dir_all(l.join("one_bp/a/lib")).unwrap();
        fs::create_dir_all(l.join("one_bp/b/bin")).unwrap();
        write(&l.join("one_bp/a/env/ORDER.append"), "a-env,");
        write(&l.join("one_bp/a/env.launch/ORDER.append"), "a-launch,");
        write(&l.join("one_bp/a/env.launch/web/ORDER.append"), "a-web,");
        write(
            &l.join("one_bp/a/env.launch/worker/ORDER.append"),
            "a-worker,",
        );
        write(&l.join("one_bp/b/env/ORDER.append"), "b-env,");
        write(&l.join("one_bp/b/env.build/ORDER.append"), "b-build,");
        write(&l.join("one_bp/b/env.launch/web/ORDER.append"), "b-web,");
        write(&l.join("one_bp/a.toml"), "[types]\nlaunch = true\n");
        write(&l.join("one_bp/c.ignore/env/ORDER.append"), "ignored,");
        // Buildpack two.
        fs::create_dir_all(l.join("two/z/bin")).unwrap();
        write(&l.join("two/z/env.launch/ORDER.append"), "two,");
        write(&l.join("two/z/env.launch/FIRST.default"), "two");
        write(&l.join("two/z/env.launch/LAST"), "two");
        write(&l.join("one_bp/a/env.launch/FIRST.default"), "one");
        write(&l.join("one_bp/a/env.launch/LAST"), "one");
        tmp
    }

    fn launch_env(layers: &Path, process_type: Option<&str>) -> Env {
        let mut env = container_env(vars(&[("PATH", "/cnb/process:/usr/bin")]));
        let group = [bp("one/bp"), bp("absent"), bp("two")];
        apply_buildpacks(&mut env, layers, &group, process_type).unwrap();
        env
    }

    #[test]
    fn buildpacks_apply_in_group_order_layers_in_name_order() {
        let tmp = layers();
        let l = tmp.path().display();
        let env = launch_env(tmp.path(), Some("web"));
        assert_eq!(
            get(&env, "ORDER").as_deref(),
            Some("a-env,a-launch,a-web,b-env,b-web,two,")
        );
        assert_eq!(get(&env, "FIRST").as_deref(), Some("one"));
        assert_eq!(get(&env, "LAST").as_deref(), Some("two"));
        assert_eq!(
            get(&env, "PATH").unwrap(),
            format!("{l}/two/z/bin:{l}/one_bp/b/bin:{l}/one_bp/a/bin:/usr/bin")
        );
        assert_eq!(
            get(&env, "LD_LIBRARY_PATH").unwrap(),
            format!("{l}/one_bp/a/lib")
        );
    }

    #[test]
    fn process_dirs_apply_only_to_their_own_type() {
        let tmp = layers();
        let worker = launch_env(tmp.path(), Some("worker"));
        assert_eq!(
            get(&worker, "ORDER").as_deref(),
            Some("a-env,a-launch,a-worker,b-env,two,")
        );
        let user = launch_env(tmp.path(), None);
        assert_eq!(
            get(&user, "ORDER").as_deref(),
            Some("a-env,a-launch,b-env,two,")
        );
    }

    #[test]
    fn layer_dirs_skip_files_and_ignored_dirs() {
        let tmp = layers();
        let names: Vec<String> = layer_dirs(&tmp.path().join("one_bp"))
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn env_files_override_root_dir_injection_of_the_same_buildpack() {
        let tmp = tempfile::tempdir().unwrap();
        let l = tmp.path();
        write(&l.join("bp/a/env.launch/PATH.override"), "/only");
        fs::create_dir_all(l.join("bp/b/bin")).unwrap();
        let mut env = container_env(vars(&[("PATH", "/usr/bin")]));
        apply_buildpacks(&mut env, l, &[bp("bp")], None).unwrap();
        assert_eq!(get(&env, "PATH").as_deref(), Some("/only"));
    }
}
