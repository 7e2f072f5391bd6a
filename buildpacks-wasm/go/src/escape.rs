//! Module paths and versions as the module proxy protocol spells them in URLs and file
//! names: every uppercase letter becomes `!` and its lowercase (`github.com/Azure/x` →
//! `github.com/!azure/x`), so case-insensitive file systems keep them apart.

/// A module path or version that is unsafe or not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    /// Not a module path.
    #[error(
        "{0:?} is not a valid module path (letters, digits and -._~+ in '/'-separated elements, none empty, '.' or '..')"
    )]
    ModulePath(String),
    /// Not a module version.
    #[error("{0:?} is not a valid module version (v followed by letters, digits and .-+)")]
    Version(String),
}

fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The escaped form of a module path, after checking that it is one.
pub fn module_path(path: &str) -> Result<String, EscapeError> {
    let char_ok = |c: char| c.is_ascii_alphanumeric() || "-._~+".contains(c);
    let ok = !path.is_empty()
        && path
            .split('/')
            .all(|e| !e.is_empty() && e != "." && e != ".." && e.chars().all(char_ok));
    if ok {
        Ok(escaped(path))
    } else {
        Err(EscapeError::ModulePath(path.to_owned()))
    }
}

/// The escaped form of a module version, after checking that it is one.
pub fn version(version: &str) -> Result<String, EscapeError> {
    let ok = version.len() > 1
        && version.starts_with('v')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.+".contains(c));
    if ok {
        Ok(escaped(version))
    } else {
        Err(EscapeError::Version(version.to_owned()))
    }
}
