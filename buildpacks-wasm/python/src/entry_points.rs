//! `entry_points.txt` (`[console_scripts]`, `[gui_scripts]`) and the launcher scripts an
//! installer writes for them.

/// A script to put in the venv's `bin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The command name.
    pub name: String,
    /// The module to import.
    pub module: String,
    /// The attribute path to call (`main`, `Cli.run`).
    pub attr: String,
}

/// Why an entry point cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: entry point {line:?} is not `name = module:function`")]
pub struct EntryPointError {
    /// The dist-info file.
    pub file: String,
    /// The line.
    pub line: String,
}

fn is_dotted_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// The console and GUI scripts of an `entry_points.txt` (sorted by name).
pub fn scripts(text: &str, file: &str) -> Result<Vec<Script>, EntryPointError> {
    let mut out = Vec::new();
    let mut in_scripts = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_scripts = matches!(section.trim(), "console_scripts" | "gui_scripts");
            continue;
        }
        if !in_scripts {
            continue;
        }
        let bad = || EntryPointError {
            file: file.to_owned(),
            line: line.to_owned(),
        };
        let (name, value) = line.split_once('=').ok_or_else(bad)?;
        let name = name.trim();
        // Extras (`[extra]`) after the reference do not change the script.
        let value = value.split('[').next().unwrap_or("").trim();
        let (module, attr) = value.split_once(':').ok_or_else(bad)?;
        let (module, attr) = (module.trim(), attr.trim());
        let name_ok = !name.is_empty()
            && !name.contains(['/', '\\'])
            && name != "."
            && name != ".."
            && !name.chars().any(char::is_whitespace);
        if !name_ok || !is_dotted_name(module) || !is_dotted_name(attr) {
            return Err(bad());
        }
        out.push(Script {
            name: name.to_owned(),
            module: module.to_owned(),
            attr: attr.to_owned(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

impl Script {
    /// The launcher script, run by `interpreter`.
    pub fn launcher(&self, interpreter: &str) -> String {
        let top = self.attr.split('.').next().unwrap_or(&self.attr);
        format!(
            "#!{interpreter}\n# Written by kiln for the entry point {name} = {module}:{attr}\nimport sys\nfrom {module} import {top}\n\nif __name__ == \"__main__\":\n    if sys.argv[0].endswith(\"-script.py\"):\n        sys.argv[0] = sys.argv[0][: -len(\"-script.py\")]\n    sys.exit({attr}())\n",
            name = self.name,
            module = self.module,
            attr = self.attr,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_and_gui_scripts_are_read_and_others_ignored() {
        let text = "[console_scripts]\ntool = pkg.cli:main\nother=pkg.cli:Cli.run [extra]\n\n[gui_scripts]\nwin = pkg.gui:start\n[pytest11]\nplug = pkg.plugin\n";
        let s = scripts(text, "x.dist-info/entry_points.txt").unwrap();
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["other", "tool", "win"]);
        assert_eq!(s[0].attr, "Cli.run");
    }

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "../evil = a:b",
            "x = a",
            "x = a:b;c",
            "x y = a:b",
            "x = a-b:c",
        ] {
            let text = format!("[console_scripts]\n{bad}\n");
            assert!(scripts(&text, "f").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_launcher_imports_and_calls() {
        let s = Script {
            name: "tool".into(),
            module: "pkg.cli".into(),
            attr: "Cli.run".into(),
        };
        let l = s.launcher("/venv/bin/python");
        assert!(l.starts_with("#!/venv/bin/python\n"));
        assert!(l.contains("from pkg.cli import Cli\n"));
        assert!(l.contains("sys.exit(Cli.run())"));
    }
}
