//! Go release versions (`1.23.4`, `1.19`, `1.21rc2`) and their order.

use std::cmp::Ordering;
use std::fmt;

/// A prerelease suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pre {
    /// `betaN`.
    Beta(u32),
    /// `rcN`.
    Rc(u32),
}

/// A Go version: `major.minor[.patch]`, or `major.minor` with an `rcN`/`betaN` suffix.
/// `1.19` and `1.19.0` are the same release (Go before 1.21 named first releases `1.X`).
#[derive(Debug, Clone, Copy)]
pub struct GoVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version, if written.
    pub patch: Option<u32>,
    /// Prerelease suffix.
    pub pre: Option<Pre>,
}

/// Text that is not a Go version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Go version (like 1.23.4, 1.19 or 1.21rc2)")]
pub struct VersionError(pub String);

fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl GoVersion {
    /// Parse a bare version (no `go` prefix).
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let bad = || VersionError(text.to_owned());
        let (major, rest) = text.split_once('.').ok_or_else(bad)?;
        let major = number(major).ok_or_else(bad)?;
        let (minor, patch, pre) = if let Some((minor, patch)) = rest.split_once('.') {
            (minor, Some(number(patch).ok_or_else(bad)?), None)
        } else if let Some(i) = rest.find(|c: char| !c.is_ascii_digit()) {
            let (minor, suffix) = rest.split_at(i);
            let pre = if let Some(n) = suffix.strip_prefix("rc") {
                Pre::Rc(number(n).ok_or_else(bad)?)
            } else if let Some(n) = suffix.strip_prefix("beta") {
                Pre::Beta(number(n).ok_or_else(bad)?)
            } else {
                return Err(bad());
            };
            (minor, None, Some(pre))
        } else {
            (rest, None, None)
        };
        Ok(Self {
            major,
            minor: number(minor).ok_or_else(bad)?,
            patch,
            pre,
        })
    }

    /// Parse a toolchain name (`go1.23.4`).
    pub fn parse_toolchain(text: &str) -> Result<Self, VersionError> {
        text.strip_prefix("go")
            .ok_or_else(|| VersionError(text.to_owned()))
            .and_then(Self::parse)
    }

    /// Whether this release can stand in for `minimum`: the same `major.minor`, not older.
    pub fn satisfies(&self, minimum: &Self) -> bool {
        self.major == minimum.major && self.minor == minimum.minor && self >= minimum
    }

    fn key(&self) -> (u32, u32, u32, u32, u32) {
        let (rank, n) = match self.pre {
            Some(Pre::Beta(n)) => (0, n),
            Some(Pre::Rc(n)) => (1, n),
            None => (2, 0),
        };
        (self.major, self.minor, self.patch.unwrap_or(0), rank, n)
    }
}

impl PartialEq for GoVersion {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for GoVersion {}

impl PartialOrd for GoVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for GoVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(p) = self.patch {
            write!(f, ".{p}")?;
        }
        match self.pre {
            Some(Pre::Beta(n)) => write!(f, "beta{n}"),
            Some(Pre::Rc(n)) => write!(f, "rc{n}"),
            None => Ok(()),
        }
    }
}
