//! Installing an unpacked wheel into a [`Venv`] as the binary distribution format says:
//! the root and `.data/purelib`/`platlib` into site-packages, `.data/scripts` into `bin`
//! (`#!python` rewritten to the venv's interpreter), `.data/headers` under
//! `include/site`, `.data/data` into the venv root; console and GUI entry points as
//! launcher scripts; `INSTALLER` (`kiln`), `REQUESTED`, and `RECORD` rewritten for the
//! installed paths.

use std::path::{Path, PathBuf};

use crate::entry_points;
use crate::record::{self, Row};
use crate::venv::Venv;

/// A wheel that cannot be installed.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    /// The wheel's layout is not that of the spec.
    #[error("wheel {wheel}: {why}")]
    Layout {
        /// The wheel's file name.
        wheel: String,
        /// What is wrong.
        why: String,
    },
    /// An entry point is invalid.
    #[error("wheel {wheel}")]
    EntryPoint {
        /// The wheel's file name.
        wheel: String,
        /// The entry point error.
        #[source]
        source: entry_points::EntryPointError,
    },
    /// A file operation failed.
    #[error("wheel {wheel}: could not {action} {}", path.display())]
    Io {
        /// The wheel's file name.
        wheel: String,
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What installing one wheel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The `*.dist-info` directory's name.
    pub dist_info: String,
    /// Venv-relative paths of files that must be executable in the image.
    pub executables: Vec<String>,
    /// Command names written to `bin`.
    pub scripts: Vec<String>,
}

struct Ctx<'a> {
    wheel: &'a str,
}

impl Ctx<'_> {
    fn io(&self, action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WheelError {
        let (wheel, path) = (self.wheel.to_owned(), path.to_path_buf());
        move |source| WheelError::Io {
            wheel,
            action,
            path,
            source,
        }
    }

    fn layout(&self, why: impl Into<String>) -> WheelError {
        WheelError::Layout {
            wheel: self.wheel.to_owned(),
            why: why.into(),
        }
    }

    /// Move `src` onto `dst`, merging into directories that exist (files replace files).
    fn merge(&self, src: &Path, dst: &Path) -> Result<(), WheelError> {
        let meta = std::fs::symlink_metadata(src).map_err(self.io("inspect", src))?;
        let existing = std::fs::symlink_metadata(dst).ok();
        if meta.is_dir() && existing.as_ref().is_some_and(std::fs::Metadata::is_dir) {
            for entry in read_dir_sorted(src).map_err(self.io("list", src))? {
                self.merge(&src.join(&entry), &dst.join(&entry))?;
            }
            return std::fs::remove_dir(src).map_err(self.io("remove", src));
        }
        if let Some(e) = existing {
            if e.is_dir() {
                std::fs::remove_dir_all(dst).map_err(self.io("replace", dst))?;
            } else {
                std::fs::remove_file(dst).map_err(self.io("replace", dst))?;
            }
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(self.io("create", parent))?;
        }
        std::fs::rename(src, dst).map_err(self.io("move", src))
    }
}

fn read_dir_sorted(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Where a wheel path (`/`-separated, relative to the wheel root) is installed, relative to
/// the venv root; `None` for a `.data` scheme the spec does not know.
fn placement(venv: &Venv, data_dir: &str, dist: &str, path: &str) -> Option<String> {
    let site = venv.site_packages_rel();
    let Some(rest) = path
        .strip_prefix(data_dir)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Some(format!("{site}/{path}"));
    };
    let (scheme, inner) = rest.split_once('/')?;
    Some(match scheme {
        "purelib" | "platlib" => format!("{site}/{inner}"),
        "scripts" => format!("bin/{inner}"),
        "headers" => format!("{}/{inner}", venv.headers_rel(dist)),
        "data" => inner.to_owned(),
        _ => return None,
    })
}

/// A venv-relative path as `RECORD` names it: relative to site-packages.
fn record_path(venv: &Venv, venv_rel: &str) -> String {
    let site = venv.site_packages_rel();
    match venv_rel
        .strip_prefix(&site)
        .and_then(|r| r.strip_prefix('/'))
    {
        Some(inside) => inside.to_owned(),
        None => format!("{}{venv_rel}", "../".repeat(site.split('/').count())),
    }
}

/// `#!python` / `#!pythonw` scripts get the venv's interpreter.
fn rewrite_shebang(bytes: &[u8], interpreter: &str) -> Option<Vec<u8>> {
    let first_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let first = bytes[..first_end]
        .strip_suffix(b"\r")
        .unwrap_or(&bytes[..first_end]);
    let rest = first.strip_prefix(b"#!python")?;
    let rest = rest.strip_prefix(b"w").unwrap_or(rest);
    let mut out = format!("#!{interpreter}").into_bytes();
    out.extend_from_slice(rest);
    out.extend_from_slice(&bytes[first_end..]);
    Some(out)
}

/// Install the wheel `wheel` (its file name), unpacked in `stage`, into `venv`;
/// `unpacked_executables` are the stage-relative files that had an execute bit.
/// `stage` is consumed.
pub fn install(
    venv: &Venv,
    stage: &Path,
    wheel: &str,
    unpacked_executables: &[String],
) -> Result<Installed, WheelError> {
    let cx = Ctx { wheel };
    let top = read_dir_sorted(stage).map_err(cx.io("list", stage))?;
    let infos: Vec<&String> = top.iter().filter(|n| n.ends_with(".dist-info")).collect();
    let [dist_info] = infos.as_slice() else {
        return Err(cx.layout(format!(
            "has {} .dist-info directories at its root; a wheel has exactly one",
            infos.len()
        )));
    };
    let dist_info = (*dist_info).clone();
    let stem = dist_info.trim_end_matches(".dist-info").to_owned();
    let dist = stem.split('-').next().unwrap_or(&stem).to_owned();
    let data_dir = format!("{stem}.data");
    let info_dir = stage.join(&dist_info);
    let wheel_meta = std::fs::read_to_string(info_dir.join("WHEEL"))
        .map_err(cx.io("read", &info_dir.join("WHEEL")))?;
    let version = wheel_meta
        .lines()
        .find_map(|l| l.strip_prefix("Wheel-Version:"))
        .map(str::trim)
        .ok_or_else(|| cx.layout(format!("{dist_info}/WHEEL has no Wheel-Version")))?;
    if version.split('.').next() != Some("1") {
        return Err(cx.layout(format!(
            "Wheel-Version {version} is not supported (only 1.x)"
        )));
    }
    let record_file = info_dir.join("RECORD");
    let original = std::fs::read_to_string(&record_file).map_err(cx.io("read", &record_file))?;
    let entry_text = match std::fs::read_to_string(info_dir.join("entry_points.txt")) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(cx.io("read", &info_dir.join("entry_points.txt"))(e)),
    };
    let interpreter = venv.interpreter();
    let mut rewritten: std::collections::BTreeMap<String, Row> = std::collections::BTreeMap::new();

    // Scripts first (their bytes change), then every other scheme and the root.
    let scripts_dir = stage.join(&data_dir).join("scripts");
    if scripts_dir.is_dir() {
        for name in read_dir_sorted(&scripts_dir).map_err(cx.io("list", &scripts_dir))? {
            let src = scripts_dir.join(&name);
            if !src.is_file() {
                continue;
            }
            let bytes = std::fs::read(&src).map_err(cx.io("read", &src))?;
            if let Some(new) = rewrite_shebang(&bytes, &interpreter) {
                std::fs::write(&src, &new).map_err(cx.io("write", &src))?;
                let wheel_path = format!("{data_dir}/scripts/{name}");
                rewritten.insert(
                    wheel_path,
                    Row::of(record_path(venv, &format!("bin/{name}")), &new),
                );
            }
        }
    }
    let data = stage.join(&data_dir);
    if data.is_dir() {
        for scheme in read_dir_sorted(&data).map_err(cx.io("list", &data))? {
            let target = match scheme.as_str() {
                "purelib" | "platlib" => venv.site_packages(),
                "scripts" => venv.bin(),
                "headers" => venv.root.join(venv.headers_rel(&dist)),
                "data" => venv.root.clone(),
                other => {
                    return Err(cx.layout(format!(
                        "{data_dir}/{other} is not a scheme of the wheel format (purelib, platlib, scripts, headers, data)"
                    )));
                }
            };
            let src = data.join(&scheme);
            std::fs::create_dir_all(&target).map_err(cx.io("create", &target))?;
            for entry in read_dir_sorted(&src).map_err(cx.io("list", &src))? {
                cx.merge(&src.join(&entry), &target.join(&entry))?;
            }
            std::fs::remove_dir(&src).map_err(cx.io("remove", &src))?;
        }
        std::fs::remove_dir(&data).map_err(cx.io("remove", &data))?;
    }
    let site = venv.site_packages();
    for name in &top {
        if *name != data_dir {
            cx.merge(&stage.join(name), &site.join(name))?;
        }
    }

    let mut rows = Vec::new();
    let own_record = format!("{dist_info}/RECORD");
    for row in record::parse(&original) {
        if row.path == own_record {
            continue;
        }
        if let Some(new) = rewritten.remove(&row.path) {
            rows.push(new);
            continue;
        }
        let placed = placement(venv, &data_dir, &dist, &row.path).ok_or_else(|| {
            cx.layout(format!(
                "RECORD names {}, outside the wheel's schemes",
                row.path
            ))
        })?;
        rows.push(Row {
            path: record_path(venv, &placed),
            ..row
        });
    }
    let mut executables: Vec<String> = unpacked_executables
        .iter()
        .filter_map(|p| placement(venv, &data_dir, &dist, p))
        .collect();
    let mut scripts = Vec::new();
    if let Some(text) = entry_text {
        let list = entry_points::scripts(&text, &format!("{dist_info}/entry_points.txt")).map_err(
            |source| WheelError::EntryPoint {
                wheel: wheel.to_owned(),
                source,
            },
        )?;
        for s in list {
            let body = s.launcher(&interpreter);
            let path = venv.bin().join(&s.name);
            std::fs::write(&path, &body).map_err(cx.io("write", &path))?;
            let rel = format!("bin/{}", s.name);
            rows.retain(|r| r.path != record_path(venv, &rel));
            rows.push(Row::of(record_path(venv, &rel), body.as_bytes()));
            executables.push(rel);
            scripts.push(s.name);
        }
    }
    for wheel_path in rewritten.keys() {
        // A rewritten script RECORD did not list is still recorded.
        let name = wheel_path.rsplit('/').next().unwrap_or(wheel_path);
        let rel = format!("bin/{name}");
        if !rows.iter().any(|r| r.path == record_path(venv, &rel)) {
            let bytes = std::fs::read(venv.root.join(&rel))
                .map_err(cx.io("read", &venv.root.join(&rel)))?;
            rows.push(Row::of(record_path(venv, &rel), &bytes));
        }
    }
    // Everything installed into `bin` is a command.
    let bin_prefix = record_path(venv, "bin/");
    let bin_files: Vec<String> = rows
        .iter()
        .filter_map(|r| r.path.strip_prefix(&bin_prefix).map(|n| format!("bin/{n}")))
        .filter(|p| venv.root.join(p).is_file())
        .collect();
    executables.extend(bin_files);
    let installed_info = site.join(&dist_info);
    for (file, body) in [("INSTALLER", "kiln\n"), ("REQUESTED", "")] {
        let path = installed_info.join(file);
        std::fs::write(&path, body).map_err(cx.io("write", &path))?;
        let rel = format!("{dist_info}/{file}");
        rows.retain(|r| r.path != rel);
        rows.push(Row::of(rel, body.as_bytes()));
    }
    rows.push(Row::bare(own_record.clone()));
    let text = record::write(&mut rows);
    let path = installed_info.join("RECORD");
    std::fs::write(&path, text).map_err(cx.io("write", &path))?;
    if stage.exists() {
        std::fs::remove_dir_all(stage).map_err(cx.io("remove", stage))?;
    }
    executables.sort();
    executables.dedup();
    Ok(Installed {
        dist_info,
        executables,
        scripts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, body: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    fn venv(tmp: &Path) -> Venv {
        let v = Venv {
            root: tmp.join("venv"),
            python: (3, 12),
        };
        v.create(Path::new("/opt/python/bin"), "3.12.1").unwrap();
        v
    }

    #[test]
    fn a_wheel_is_installed_with_every_scheme_and_a_rewritten_record() {
        let tmp = tempfile::tempdir().unwrap();
        let v = venv(tmp.path());
        let stage = tmp.path().join("stage");
        write(&stage, "demo/__init__.py", b"x = 1\n");
        write(
            &stage,
            "demo-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
        );
        write(
            &stage,
            "demo-1.0.dist-info/METADATA",
            b"Name: demo\nVersion: 1.0\n",
        );
        write(
            &stage,
            "demo-1.0.dist-info/entry_points.txt",
            b"[console_scripts]\ndemo = demo:main\n",
        );
        write(
            &stage,
            "demo-1.0.data/scripts/tool",
            b"#!python\nprint(1)\n",
        );
        write(&stage, "demo-1.0.data/headers/demo.h", b"int x;\n");
        write(&stage, "demo-1.0.data/data/share/demo.txt", b"d\n");
        write(&stage, "demo-1.0.data/platlib/_demo.so", b"ELF");
        let record = "demo/__init__.py,sha256=a,6\ndemo-1.0.dist-info/WHEEL,sha256=b,1\ndemo-1.0.dist-info/METADATA,sha256=c,1\ndemo-1.0.dist-info/entry_points.txt,sha256=d,1\ndemo-1.0.data/scripts/tool,sha256=e,17\ndemo-1.0.data/headers/demo.h,sha256=f,7\ndemo-1.0.data/data/share/demo.txt,sha256=g,2\ndemo-1.0.data/platlib/_demo.so,sha256=h,3\ndemo-1.0.dist-info/RECORD,,\n";
        write(&stage, "demo-1.0.dist-info/RECORD", record.as_bytes());
        let done = install(
            &v,
            &stage,
            "demo-1.0-py3-none-any.whl",
            &["demo-1.0.data/platlib/_demo.so".into()],
        )
        .unwrap();
        assert!(!stage.exists());
        let sp = v.site_packages();
        assert!(sp.join("demo/__init__.py").is_file());
        assert!(sp.join("_demo.so").is_file());
        assert_eq!(
            std::fs::read_to_string(v.root.join("share/demo.txt")).unwrap(),
            "d\n"
        );
        assert!(v.root.join("include/site/python3.12/demo/demo.h").is_file());
        let tool = std::fs::read_to_string(v.root.join("bin/tool")).unwrap();
        assert_eq!(tool, format!("#!{}\nprint(1)\n", v.interpreter()));
        let launcher = std::fs::read_to_string(v.root.join("bin/demo")).unwrap();
        assert!(launcher.contains("from demo import main"));
        assert_eq!(
            std::fs::read_to_string(sp.join("demo-1.0.dist-info/INSTALLER")).unwrap(),
            "kiln\n"
        );
        let rec = std::fs::read_to_string(sp.join("demo-1.0.dist-info/RECORD")).unwrap();
        let paths: Vec<&str> = rec.lines().map(|l| l.split(',').next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "../../../bin/demo",
                "../../../bin/tool",
                "../../../include/site/python3.12/demo/demo.h",
                "../../../share/demo.txt",
                "_demo.so",
                "demo-1.0.dist-info/INSTALLER",
                "demo-1.0.dist-info/METADATA",
                "demo-1.0.dist-info/RECORD",
                "demo-1.0.dist-info/REQUESTED",
                "demo-1.0.dist-info/WHEEL",
                "demo-1.0.dist-info/entry_points.txt",
                "demo/__init__.py",
            ]
        );
        assert!(rec.contains(&format!(
            "../../../bin/tool,{},",
            record::hash(tool.as_bytes())
        )));
        assert!(rec.ends_with("demo/__init__.py,sha256=a,6\n"));
        assert!(done.executables.contains(&"bin/demo".to_owned()));
        assert!(done.executables.contains(&"bin/tool".to_owned()));
        assert!(
            done.executables
                .contains(&"lib/python3.12/site-packages/_demo.so".to_owned())
        );
        assert_eq!(done.scripts, ["demo"]);
    }

    #[test]
    fn namespace_packages_merge_and_bad_layouts_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let v = venv(tmp.path());
        for (n, file) in [("a", "ns/a.py"), ("b", "ns/b.py")] {
            let stage = tmp.path().join(format!("stage-{n}"));
            write(&stage, file, b"");
            write(
                &stage,
                &format!("{n}-1.dist-info/WHEEL"),
                b"Wheel-Version: 1.0\n",
            );
            write(&stage, &format!("{n}-1.dist-info/RECORD"), b"");
            install(&v, &stage, "w.whl", &[]).unwrap();
        }
        assert!(v.site_packages().join("ns/a.py").is_file());
        assert!(v.site_packages().join("ns/b.py").is_file());

        let stage = tmp.path().join("stage-bad");
        write(&stage, "x/__init__.py", b"");
        let err = install(&v, &stage, "bad.whl", &[]).unwrap_err().to_string();
        assert!(
            err.contains("bad.whl") && err.contains("0 .dist-info"),
            "{err}"
        );

        let stage = tmp.path().join("stage-v2");
        write(&stage, "c-1.dist-info/WHEEL", b"Wheel-Version: 2.0\n");
        write(&stage, "c-1.dist-info/RECORD", b"");
        let err = install(&v, &stage, "c.whl", &[]).unwrap_err().to_string();
        assert!(err.contains("Wheel-Version 2.0"), "{err}");
    }
}
