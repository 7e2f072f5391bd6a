//! `go.sum`: one `module version h1:hash` line per module zip and one
//! `module version/go.mod h1:hash` line per `go.mod` file the build may read.

use base64::Engine as _;

use crate::escape::{self, EscapeError};

/// A `go.sum` line that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GoSumError {
    /// Not three fields, or a hash that is not `h1:<base64 of 32 bytes>`.
    #[error("go.sum line {line} is malformed ({why}): {text:?}; regenerate it with `go mod tidy`")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An unsafe or invalid module path or version.
    #[error("go.sum line {line} names an invalid module")]
    Name {
        /// 1-based line number.
        line: usize,
        /// Why.
        #[source]
        source: EscapeError,
    },
    /// Two different hashes for one file.
    #[error(
        "go.sum lists two different hashes for {module} {version}{}; remove the wrong line (or run `go mod tidy`)",
        if *.go_mod { "/go.mod" } else { "" }
    )]
    Conflict {
        /// Module path.
        module: String,
        /// Version.
        version: String,
        /// Whether it is the `go.mod` line.
        go_mod: bool,
    },
}

/// Which file of a module version a line pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The module's `go.mod` (`<version>.mod` on a proxy).
    GoMod,
    /// The module's source zip (`<version>.zip`).
    Zip,
}

/// One line of `go.sum`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SumLine {
    /// Module path.
    pub module: String,
    /// Version (`v1.2.3`).
    pub version: String,
    /// Which file it pins.
    pub kind: Kind,
    /// `h1:<base64>`.
    pub hash: String,
}

fn valid_h1(hash: &str) -> bool {
    hash.strip_prefix("h1:").is_some_and(|b64| {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .is_ok_and(|bytes| bytes.len() == 32)
    })
}

/// Parse `go.sum`: its lines sorted by module, version and kind, duplicates dropped.
pub fn parse(text: &str) -> Result<Vec<SumLine>, GoSumError> {
    let mut lines: Vec<SumLine> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let malformed = |why| GoSumError::Malformed {
            line: i + 1,
            text: line.to_owned(),
            why,
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [module, version, hash] = fields[..] else {
            return Err(malformed("it does not have three fields"));
        };
        if !valid_h1(hash) {
            return Err(malformed("the hash is not h1:<base64 sha256>"));
        }
        let (version, kind) = match version.strip_suffix("/go.mod") {
            Some(v) => (v, Kind::GoMod),
            None => (version, Kind::Zip),
        };
        let name_error = |source| GoSumError::Name {
            line: i + 1,
            source,
        };
        escape::module_path(module).map_err(name_error)?;
        escape::version(version).map_err(name_error)?;
        lines.push(SumLine {
            module: module.to_owned(),
            version: version.to_owned(),
            kind,
            hash: hash.to_owned(),
        });
    }
    lines.sort();
    lines.dedup();
    for pair in lines.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.module == b.module && a.version == b.version && a.kind == b.kind {
            return Err(GoSumError::Conflict {
                module: a.module.clone(),
                version: a.version.clone(),
                go_mod: a.kind == Kind::GoMod,
            });
        }
    }
    Ok(lines)
}
