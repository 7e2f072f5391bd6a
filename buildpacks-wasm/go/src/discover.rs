//! Find the module's `main` packages by reading the package clause of its `.go` files, as
//! `go build ./...` would see them: `vendor/`, `testdata/`, directories starting with `.` or
//! `_` and nested modules (a directory with its own `go.mod`) are skipped, and so are
//! `_test.go` files, files starting with `.` or `_` and files constrained `ignore`.

use std::path::Path;

use kiln_sdk::Error;

/// The package name a Go source file declares, or `None` when it has no package clause or
/// is excluded with `//go:build ignore` (or `// +build ignore`).
pub fn package_name(source: &str) -> Option<&str> {
    let mut rest = source.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(comment) = rest.strip_prefix("//") {
            let (line, after) = comment.split_once('\n').unwrap_or((comment, ""));
            let line = line.trim();
            let constraint = line
                .strip_prefix("go:build")
                .or_else(|| line.strip_prefix("+build"));
            if constraint.is_some_and(|c| c.trim() == "ignore") {
                return None;
            }
            rest = after;
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            let clause = rest.strip_prefix("package")?;
            if !clause.starts_with(char::is_whitespace) {
                return None;
            }
            let clause = clause.trim_start();
            let end = clause
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(clause.len());
            return Some(&clause[..end]).filter(|name| !name.is_empty());
        }
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(action, path, e)
}

/// Entry names of `dir` split into (subdirectories, files), each sorted.
fn entries(dir: &Path) -> Result<(Vec<String>, Vec<String>), Error> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("read", dir))? {
        let entry = entry.map_err(io("read", dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let kind = entry.file_type().map_err(io("inspect", &entry.path()))?;
        if kind.is_dir() {
            dirs.push(name);
        } else if kind.is_file() {
            files.push(name);
        }
    }
    dirs.sort();
    files.sort();
    Ok((dirs, files))
}

fn is_main_dir(dir: &Path, files: &[String]) -> Result<bool, Error> {
    for name in files {
        let source = Path::new(name).extension().is_some_and(|e| e == "go")
            && !name.ends_with("_test.go")
            && !name.starts_with(['.', '_']);
        if !source {
            continue;
        }
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
        if package_name(&text) == Some("main") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The `main` packages under `app_dir`, as `/`-separated directories relative to it (`""`
/// for the root), the root first and the others in path order.
pub fn main_packages(app_dir: &Path) -> Result<Vec<String>, Error> {
    let mut found = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            app_dir.to_path_buf()
        } else {
            app_dir.join(&rel)
        };
        if !rel.is_empty() && dir.join("go.mod").exists() {
            continue;
        }
        let (dirs, files) = entries(&dir)?;
        if is_main_dir(&dir, &files)? {
            found.push(rel.clone());
        }
        for name in dirs.iter().rev() {
            let skipped = name == "vendor" || name == "testdata" || name.starts_with(['.', '_']);
            if !skipped {
                stack.push(if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                });
            }
        }
    }
    Ok(found)
}
