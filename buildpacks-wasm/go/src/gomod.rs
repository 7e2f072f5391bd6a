//! The parts of `go.mod` the buildpack uses: the module path, the `go` and `toolchain`
//! directives and whether it requires anything.

use crate::inventory::Wanted;
use crate::version::{GoVersion, VersionError};

/// `go.mod` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GoModError {
    /// No `module` directive.
    #[error("go.mod has no `module` directive; run `go mod init <module path>`")]
    NoModule,
    /// A `go` or `toolchain` directive does not name a version.
    #[error("go.mod line {line}: `{text}` does not name a Go version")]
    Version {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
        /// Why.
        #[source]
        source: VersionError,
    },
}

/// A parsed `go.mod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoMod {
    /// The module path.
    pub module: String,
    /// The `go` directive.
    pub go: Option<GoVersion>,
    /// The `toolchain` directive (without `go`).
    pub toolchain: Option<GoVersion>,
    /// How many modules it requires.
    pub requires: usize,
}

fn unquote(word: &str) -> &str {
    word.strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .or_else(|| word.strip_prefix('`').and_then(|w| w.strip_suffix('`')))
        .unwrap_or(word)
}

impl GoMod {
    /// Parse the text of `go.mod`.
    pub fn parse(text: &str) -> Result<Self, GoModError> {
        let mut module = None;
        let mut go = None;
        let mut toolchain = None;
        let mut requires = 0;
        let mut block: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split("//").next().unwrap_or("").trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(&first) = words.first() else {
                continue;
            };
            if let Some(verb) = &block {
                if first == ")" {
                    block = None;
                } else if verb == "require" {
                    requires += 1;
                } else if verb == "module" && module.is_none() {
                    module = Some(unquote(first).to_owned());
                }
                continue;
            }
            if words.get(1) == Some(&"(") || first.ends_with('(') {
                block = Some(first.trim_end_matches('(').to_owned());
                continue;
            }
            let version = |parse: fn(&str) -> Result<GoVersion, VersionError>| {
                let word = words.get(1).copied().unwrap_or("");
                parse(word).map_err(|source| GoModError::Version {
                    line: i + 1,
                    text: line.to_owned(),
                    source,
                })
            };
            match first {
                "module" => {
                    if let Some(path) = words.get(1) {
                        module = Some(unquote(path).to_owned());
                    }
                }
                "go" => go = Some(version(GoVersion::parse)?),
                "toolchain" => toolchain = Some(version(GoVersion::parse_toolchain)?),
                "require" => requires += 1,
                _ => {}
            }
        }
        Ok(Self {
            module: module
                .filter(|m| !m.is_empty())
                .ok_or(GoModError::NoModule)?,
            go,
            toolchain,
            requires,
        })
    }

    /// The Go release it asks for: its `toolchain`, else its `go` directive.
    pub fn wanted(&self) -> Option<Wanted> {
        if let Some(t) = self.toolchain {
            return Some(Wanted {
                directive: format!("toolchain go{t}"),
                minimum: t,
            });
        }
        self.go.map(|g| Wanted {
            directive: format!("go {g}"),
            minimum: g,
        })
    }
}
