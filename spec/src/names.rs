//! Validated names: buildpack ids, layer names and process types.

use std::fmt;

/// A name failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {rule}")]
pub struct NameError {
    /// What kind of name it was meant to be.
    pub kind: &'static str,
    /// The rejected value.
    pub value: String,
    /// The rule it broke.
    pub rule: &'static str,
}

/// Layer names the CNB spec reserves.
const RESERVED_LAYER_NAMES: [&str; 3] = ["build", "launch", "store"];

/// Buildpack ids the CNB spec reserves.
const RESERVED_BUILDPACK_IDS: [&str; 4] = ["app", "config", "generated", "sbom"];

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn all_bytes(s: &str, process_type: bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let ok = if process_type {
            process_type_byte(b[i])
        } else {
            id_byte(b[i])
        };
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

/// True when every `/`-separated segment is non-empty and not `.` or `..`.
const fn segments_are_names(value: &str) -> bool {
    let b = value.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i <= b.len() {
        if i == b.len() || b[i] == b'/' {
            let len = i - start;
            if len == 0
                || (len == 1 && b[start] == b'.')
                || (len == 2 && b[start] == b'.' && b[start + 1] == b'.')
            {
                return false;
            }
            start = i + 1;
        }
        i += 1;
    }
    true
}

const fn id_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'/' || c == b'-'
}

const fn process_type_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-'
}

/// Why `value` is not a valid buildpack id, or `None` if it is.
pub const fn buildpack_id_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("must not be empty");
    }
    if !all_bytes(value, false) {
        return Some("may only contain letters, digits, '.', '/' and '-'");
    }
    if !segments_are_names(value) {
        return Some("must be '/'-separated names, none empty, '.' or '..'");
    }
    let mut i = 0;
    while i < RESERVED_BUILDPACK_IDS.len() {
        if str_eq(value, RESERVED_BUILDPACK_IDS[i]) {
            return Some("is reserved (app, config, generated, sbom)");
        }
        i += 1;
    }
    None
}

/// Why `value` is not a valid layer name, or `None` if it is.
pub const fn layer_name_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("must not be empty");
    }
    if str_eq(value, ".") || str_eq(value, "..") {
        return Some("must not be '.' or '..'");
    }
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' || b[i] == b'\\' || b[i] == 0 {
            return Some("must not contain '/', '\\' or NUL");
        }
        i += 1;
    }
    if b.len() > 128 {
        return Some("must be at most 128 bytes long");
    }
    let mut r = 0;
    while r < RESERVED_LAYER_NAMES.len() {
        if str_eq(value, RESERVED_LAYER_NAMES[r]) {
            return Some("is reserved (build, launch, store)");
        }
        r += 1;
    }
    // `<name>.toml`, `<name>.ignore` and SBOM files share the directory; keep names distinct.
    if ends_with(value, ".toml") || ends_with(value, ".ignore") {
        return Some("must not end in .toml or .ignore");
    }
    None
}

const fn ends_with(value: &str, suffix: &str) -> bool {
    let (v, s) = (value.as_bytes(), suffix.as_bytes());
    if s.len() > v.len() {
        return false;
    }
    let off = v.len() - s.len();
    let mut i = 0;
    while i < s.len() {
        if v[off + i] != s[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Why `value` is not a valid process type, or `None` if it is.
pub const fn process_type_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("must not be empty");
    }
    if !all_bytes(value, true) {
        return Some("may only contain letters, digits, '.', '_' and '-'");
    }
    if str_eq(value, ".") || str_eq(value, "..") {
        return Some("must not be '.' or '..'");
    }
    None
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validate and wrap `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                match $check(&value) {
                    None => Ok(Self(value)),
                    Some(rule) => Err(NameError { kind: $kind, value, rule }),
                }
            }

            /// Wrap a value already checked by the matching `*_problem` function.
            #[doc(hidden)]
            pub fn from_checked(value: &str) -> Self {
                Self(value.to_owned())
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A buildpack id such as `kiln/procfile`.
    BuildpackId,
    "buildpack id",
    buildpack_id_problem
);
name_type!(
    /// A layer name such as `node_modules`.
    LayerName,
    "layer name",
    layer_name_problem
);
name_type!(
    /// A process type such as `web` or `worker`.
    ProcessType,
    "process type",
    process_type_problem
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names() {
        assert!(LayerName::new("node_modules").is_ok());
        for bad in [
            "", "/", "../x", "..", ".", "a/b", "build", "launch", "store", "x.toml",
        ] {
            assert!(LayerName::new(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn buildpack_ids() {
        assert!(BuildpackId::new("kiln/procfile").is_ok());
        assert!(BuildpackId::new("app").is_err());
        assert!(BuildpackId::new("a b").is_err());
        assert!(BuildpackId::new("").is_err());
        for bad in ["..", ".", "a/..", "../a", "/a", "a/", "a//b", "a/./b"] {
            assert!(BuildpackId::new(bad).is_err(), "{bad} should be rejected");
        }
        assert!(BuildpackId::new("a.b/c-d.e").is_ok());
    }

    #[test]
    fn process_types() {
        assert!(ProcessType::new("web").is_ok());
        assert!(ProcessType::new("worker-2.x_y").is_ok());
        assert!(ProcessType::new("a/b").is_err());
        assert!(ProcessType::new("").is_err());
        let e = ProcessType::new("a b").unwrap_err();
        assert!(e.to_string().contains("process type"));
    }
}
