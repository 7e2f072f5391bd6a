//! PEP 440 versions (parsed from normalised and the usual non-normalised spellings, ordered
//! and shown as PEP 440 says) and version specifiers (`>=3.9,<3.13`, `~=3.10`, `==3.11.*`,
//! `!=3.10.2`, `===x`) with the `packaging` library's matching rules.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// A text that is not a PEP 440 version or version specifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pep440Error {
    /// Not a version.
    #[error("{text:?} is not a PEP 440 version: {reason}")]
    Version {
        /// The text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not a version specifier (or a comma-separated list of them).
    #[error("{text:?} is not a PEP 440 version specifier: {reason}")]
    Specifier {
        /// The text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A pre-release phase, in PEP 440 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// `a` (also spelt `alpha`).
    Alpha,
    /// `b` (also spelt `beta`).
    Beta,
    /// `rc` (also spelt `c`, `pre`, `preview`).
    Rc,
}

impl Phase {
    /// The normalised spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Alpha => "a",
            Phase::Beta => "b",
            Phase::Rc => "rc",
        }
    }
}

/// One dot-separated part of a local version label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LocalSegment {
    /// All digits (compared as a number, above any text).
    Number(u64),
    /// Anything else, lowercased (compared as text).
    Text(String),
}

impl Ord for LocalSegment {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (LocalSegment::Number(a), LocalSegment::Number(b)) => a.cmp(b),
            (LocalSegment::Number(_), LocalSegment::Text(_)) => Ordering::Greater,
            (LocalSegment::Text(_), LocalSegment::Number(_)) => Ordering::Less,
            (LocalSegment::Text(a), LocalSegment::Text(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for LocalSegment {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for LocalSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalSegment::Number(n) => write!(f, "{n}"),
            LocalSegment::Text(t) => f.write_str(t),
        }
    }
}

/// A PEP 440 version: `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`.
///
/// Equality and order are PEP 440's: `1.0 == 1.0.0`, `1.0.dev0 < 1.0a1 < 1.0 < 1.0.post1`,
/// and a local label sorts after the same public version.
#[derive(Debug, Clone)]
pub struct Version {
    /// The epoch (`N!`, 0 when absent).
    pub epoch: u64,
    /// The release segments (`1.2.3`), at least one.
    pub release: Vec<u64>,
    /// The pre-release (`a1`, `b2`, `rc3`).
    pub pre: Option<(Phase, u64)>,
    /// The post-release number (`.post1`, `-1`).
    pub post: Option<u64>,
    /// The development release number (`.dev1`).
    pub dev: Option<u64>,
    /// The local label (`+ubuntu.1`), empty when there is none.
    pub local: Vec<LocalSegment>,
}

/// Pre-release labels, the longer spellings first so that they win.
const PRE_LABELS: [(&str, Phase); 8] = [
    ("alpha", Phase::Alpha),
    ("beta", Phase::Beta),
    ("preview", Phase::Rc),
    ("pre", Phase::Rc),
    ("rc", Phase::Rc),
    ("a", Phase::Alpha),
    ("b", Phase::Beta),
    ("c", Phase::Rc),
];

/// Post-release labels.
const POST_LABELS: [&str; 3] = ["post", "rev", "r"];

/// A cursor over the (lowercased) version text.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Skip one `-`, `_` or `.`.
    fn skip_separator(&mut self) {
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// The digits at the cursor as a number, `None` when there are none.
    fn number(&mut self) -> Result<Option<u64>, String> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return Ok(None);
        }
        let digits = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or_default();
        digits
            .parse()
            .map(Some)
            .map_err(|_| format!("the number {digits} is too large"))
    }

    fn rest(&self) -> String {
        String::from_utf8_lossy(&self.bytes[self.pos..]).into_owned()
    }
}

impl Version {
    /// Parse a version (surrounding whitespace, a leading `v`, any case and the alternative
    /// spellings PEP 440 normalises are accepted).
    pub fn parse(text: &str) -> Result<Version, Pep440Error> {
        parse_version(text).map_err(|reason| Pep440Error::Version {
            text: text.to_owned(),
            reason,
        })
    }

    /// Whether it is a pre-release or a development release.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// Whether it is a post-release.
    pub fn is_postrelease(&self) -> bool {
        self.post.is_some()
    }

    /// The same version without its local label.
    pub fn public(&self) -> Version {
        Version {
            local: Vec::new(),
            ..self.clone()
        }
    }

    /// The epoch and release only (`1!2.0` of `1!2.0rc1.post2+x`).
    pub fn base(&self) -> Version {
        Version {
            epoch: self.epoch,
            release: self.release.clone(),
            pre: None,
            post: None,
            dev: None,
            local: Vec::new(),
        }
    }

    /// Release segment `i`, 0 past the end (`1.0` is `1.0.0`).
    pub fn release_at(&self, i: usize) -> u64 {
        self.release.get(i).copied().unwrap_or(0)
    }

    /// The release without trailing zeros, what equality and hashing look at.
    fn trimmed_release(&self) -> &[u64] {
        let len = self
            .release
            .iter()
            .rposition(|&n| n != 0)
            .map_or(0, |i| i + 1);
        &self.release[..len]
    }

    /// Whether the release, padded with zeros, starts with `prefix` (in the same epoch).
    fn has_release_prefix(&self, epoch: u64, prefix: &[u64]) -> bool {
        self.epoch == epoch
            && prefix
                .iter()
                .enumerate()
                .all(|(i, &n)| self.release_at(i) == n)
    }

    /// The pre-release part of the order key: a dev release of a final sorts before every
    /// pre-release of it, a final after them.
    fn pre_key(&self) -> (i8, u64) {
        match (self.pre, self.post, self.dev) {
            (Some((phase, n)), _, _) => (phase as i8, n),
            (None, None, Some(_)) => (-1, 0),
            (None, _, _) => (i8::MAX, 0),
        }
    }
}

fn parse_version(text: &str) -> Result<Version, String> {
    let lower = text.trim().to_ascii_lowercase();
    let mut c = Cursor {
        bytes: lower.as_bytes(),
        pos: 0,
    };
    if lower.is_empty() {
        return Err("it is empty".into());
    }
    if c.peek() == Some(b'v') {
        c.pos += 1;
    }
    let mut epoch = 0;
    let mut first = c.number()?.ok_or("expected a release number")?;
    if c.peek() == Some(b'!') {
        c.pos += 1;
        epoch = first;
        first = c
            .number()?
            .ok_or("expected a release number after the epoch")?;
    }
    let mut release = vec![first];
    while c.peek() == Some(b'.') && c.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
        c.pos += 1;
        release.push(c.number()?.unwrap_or(0));
    }

    // Pre-release: [-_.]?(label)[-_.]?N?
    let save = c.pos;
    c.skip_separator();
    let mut pre = None;
    if let Some((_, phase)) = PRE_LABELS.iter().find(|(label, _)| c.eat(label)) {
        c.skip_separator();
        pre = Some((*phase, c.number()?.unwrap_or(0)));
    } else {
        c.pos = save;
    }

    // Post-release: -N | [-_.]?(post|rev|r)[-_.]?N?
    let mut post = None;
    if c.peek() == Some(b'-') && c.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
        c.pos += 1;
        post = c.number()?;
    } else {
        let save = c.pos;
        c.skip_separator();
        if POST_LABELS.iter().any(|label| c.eat(label)) {
            c.skip_separator();
            post = Some(c.number()?.unwrap_or(0));
        } else {
            c.pos = save;
        }
    }

    // Development release: [-_.]?dev[-_.]?N?
    let mut dev = None;
    let save = c.pos;
    c.skip_separator();
    if c.eat("dev") {
        c.skip_separator();
        dev = Some(c.number()?.unwrap_or(0));
    } else {
        c.pos = save;
    }

    // Local label: +[a-z0-9]+([-_.][a-z0-9]+)*
    let mut local = Vec::new();
    if c.peek() == Some(b'+') {
        c.pos += 1;
        let label = c.rest();
        for part in label.split(['-', '_', '.']) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "the local label {label:?} must be letters and digits separated by `.`"
                ));
            }
            local.push(if part.bytes().all(|b| b.is_ascii_digit()) {
                LocalSegment::Number(
                    part.parse()
                        .map_err(|_| format!("the number {part} is too large"))?,
                )
            } else {
                LocalSegment::Text(part.to_owned())
            });
        }
        c.pos = c.bytes.len();
    }

    if !c.at_end() {
        return Err(format!("unexpected {:?}", c.rest()));
    }
    Ok(Version {
        epoch,
        release,
        pre,
        post,
        dev,
        local,
    })
}

impl FromStr for Version {
    type Err = Pep440Error;

    fn from_str(text: &str) -> Result<Self, Pep440Error> {
        Version::parse(text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.release.len().max(other.release.len());
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| {
                (0..len)
                    .map(|i| self.release_at(i).cmp(&other.release_at(i)))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| self.pre_key().cmp(&other.pre_key()))
            // No post-release sorts before any; no dev release after any.
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| match (self.dev, other.dev) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(&b),
            })
            // No local label sorts before any; labels compare segment by segment.
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
        self.trimmed_release().hash(state);
        self.pre.hash(state);
        self.post.hash(state);
        self.dev.hash(state);
        self.local.hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        for (i, n) in self.release.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{n}")?;
        }
        if let Some((phase, n)) = self.pre {
            write!(f, "{}{n}", phase.as_str())?;
        }
        if let Some(n) = self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        for (i, segment) in self.local.iter().enumerate() {
            f.write_str(if i == 0 { "+" } else { "." })?;
            write!(f, "{segment}")?;
        }
        Ok(())
    }
}

/// A specifier's comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `==` (with `.*`: prefix match).
    Equal,
    /// `!=` (with `.*`: prefix exclusion).
    NotEqual,
    /// `<=`.
    LessEqual,
    /// `>=`.
    GreaterEqual,
    /// `<` (excludes pre-releases of the named version).
    Less,
    /// `>` (excludes post-releases and local versions of the named version).
    Greater,
    /// `~=` (compatible release: `~=2.2` is `>=2.2,==2.*`).
    Compatible,
    /// `===` (string identity).
    Arbitrary,
}

impl Operator {
    /// The operators, the longer spellings first so that a prefix match finds the right one.
    const ALL: [Operator; 8] = [
        Operator::Arbitrary,
        Operator::Equal,
        Operator::NotEqual,
        Operator::LessEqual,
        Operator::GreaterEqual,
        Operator::Compatible,
        Operator::Less,
        Operator::Greater,
    ];

    /// Its spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equal => "==",
            Operator::NotEqual => "!=",
            Operator::LessEqual => "<=",
            Operator::GreaterEqual => ">=",
            Operator::Less => "<",
            Operator::Greater => ">",
            Operator::Compatible => "~=",
            Operator::Arbitrary => "===",
        }
    }

    /// The operator `text` starts with, and the text after it.
    pub fn split_prefix(text: &str) -> Option<(Operator, &str)> {
        Operator::ALL
            .into_iter()
            .find_map(|op| text.strip_prefix(op.as_str()).map(|rest| (op, rest)))
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version specifier: `>=3.9`, `==3.11.*`, `~=3.10`, `===foo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
    /// The operator.
    pub operator: Operator,
    /// The version text after the operator as written (trimmed, without `.*`).
    pub text: String,
    /// The version; `None` only for `===` with a text that is no PEP 440 version.
    pub version: Option<Version>,
    /// Whether it is a prefix match (`==3.11.*`, `!=3.10.*`).
    pub wildcard: bool,
}

impl Specifier {
    /// Parse one specifier (`>= 3.9` with spaces is accepted).
    pub fn parse(text: &str) -> Result<Specifier, Pep440Error> {
        let bad = |reason: &str| Pep440Error::Specifier {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let (operator, rest) = Operator::split_prefix(trimmed)
            .ok_or_else(|| bad("expected an operator (==, !=, <=, >=, <, >, ~=, ===)"))?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(bad("expected a version after the operator"));
        }
        if operator == Operator::Arbitrary {
            if rest.contains(char::is_whitespace) {
                return Err(bad("the `===` text cannot contain whitespace"));
            }
            return Ok(Specifier {
                operator,
                text: rest.to_owned(),
                version: Version::parse(rest).ok(),
                wildcard: false,
            });
        }
        let (version_text, wildcard) = match rest.strip_suffix(".*") {
            Some(head) => (head.trim_end(), true),
            None => (rest, false),
        };
        let version = Version::parse(version_text).map_err(|e| match e {
            Pep440Error::Version { reason, .. } => bad(&reason),
            other @ Pep440Error::Specifier { .. } => other,
        })?;
        if wildcard {
            if !matches!(operator, Operator::Equal | Operator::NotEqual) {
                return Err(bad("a `.*` prefix match needs `==` or `!=`"));
            }
            if version.pre.is_some()
                || version.post.is_some()
                || version.dev.is_some()
                || !version.local.is_empty()
            {
                return Err(bad("`.*` may only follow the release segment"));
            }
        }
        if !version.local.is_empty() && !matches!(operator, Operator::Equal | Operator::NotEqual) {
            return Err(bad("a local version label needs `==` or `!=`"));
        }
        if operator == Operator::Compatible && version.release.len() < 2 {
            return Err(bad("`~=` needs at least two release segments (`~=3.10`)"));
        }
        Ok(Specifier {
            operator,
            text: version_text.to_owned(),
            version: Some(version),
            wildcard,
        })
    }

    /// Whether it names a pre-release that makes pre-releases acceptable (`>=1.0b1`,
    /// `==2.0rc1`, `~=1.0a1`, `<=1.0.dev1`, `===1.0a1`; `<`, `>` and `!=` never do).
    pub fn allows_prereleases(&self) -> bool {
        matches!(
            self.operator,
            Operator::Equal
                | Operator::GreaterEqual
                | Operator::LessEqual
                | Operator::Compatible
                | Operator::Arbitrary
        ) && self.version.as_ref().is_some_and(Version::is_prerelease)
    }

    /// Whether `v` satisfies it, pre-releases excluded unless it names one.
    #[allow(
        dead_code,
        reason = "API for one-specifier checks; the crate uses Specifiers"
    )]
    pub fn contains(&self, v: &Version) -> bool {
        self.contains_with(v, self.allows_prereleases())
    }

    /// Whether `v` satisfies it, pre-releases of `v` accepted only when `prereleases`.
    pub fn contains_with(&self, v: &Version, prereleases: bool) -> bool {
        (prereleases || !v.is_prerelease()) && self.matches(v)
    }

    /// The comparison alone, pre-releases not treated specially (as markers compare).
    pub fn matches(&self, v: &Version) -> bool {
        let Some(spec) = &self.version else {
            // `===` with a non-version text: nothing that parsed as a version is identical.
            return self.operator == Operator::Arbitrary
                && v.to_string().eq_ignore_ascii_case(&self.text);
        };
        match self.operator {
            Operator::Equal => self.equal(v, spec),
            Operator::NotEqual => !self.equal(v, spec),
            Operator::LessEqual => v.public() <= *spec,
            Operator::GreaterEqual => v.public() >= *spec,
            Operator::Less => {
                // `<3.0` does not admit `3.0rc1` (unless it names a pre-release itself).
                v < spec && (spec.is_prerelease() || !v.is_prerelease() || v.base() != spec.base())
            }
            Operator::Greater => {
                // `>3.0` admits neither `3.0.post1` (unless it names a post-release) nor
                // `3.0+local`.
                v > spec
                    && (spec.is_postrelease() || !v.is_postrelease() || v.base() != spec.base())
                    && (v.local.is_empty() || v.base() != spec.base())
            }
            Operator::Compatible => {
                let prefix = &spec.release[..spec.release.len() - 1];
                v.public() >= *spec && v.has_release_prefix(spec.epoch, prefix)
            }
            Operator::Arbitrary => v.to_string().eq_ignore_ascii_case(&self.text),
        }
    }

    fn equal(&self, v: &Version, spec: &Version) -> bool {
        if self.wildcard {
            v.has_release_prefix(spec.epoch, &spec.release)
        } else if spec.local.is_empty() {
            v.public() == *spec
        } else {
            v == spec
        }
    }
}

impl FromStr for Specifier {
    type Err = Pep440Error;

    fn from_str(text: &str) -> Result<Self, Pep440Error> {
        Specifier::parse(text)
    }
}

impl fmt::Display for Specifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) if self.operator != Operator::Arbitrary => {
                write!(f, "{}{v}", self.operator)?;
                if self.wildcard {
                    f.write_str(".*")?;
                }
                Ok(())
            }
            _ => write!(f, "{}{}", self.operator, self.text),
        }
    }
}

/// A comma-separated list of specifiers, all of which must hold (`>=3.9,<3.13`); the empty
/// list admits every final release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Specifiers(pub Vec<Specifier>);

impl Specifiers {
    /// Parse a comma-separated list (empty items are ignored).
    pub fn parse(text: &str) -> Result<Specifiers, Pep440Error> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                Specifier::parse(s).map_err(|e| match e {
                    Pep440Error::Specifier { text: one, reason } if one != text => {
                        Pep440Error::Specifier {
                            text: text.to_owned(),
                            reason: format!("in {one:?}: {reason}"),
                        }
                    }
                    other => other,
                })
            })
            .collect::<Result<_, _>>()
            .map(Specifiers)
    }

    /// Whether any of them names a pre-release (which makes pre-releases acceptable).
    pub fn allows_prereleases(&self) -> bool {
        self.0.iter().any(Specifier::allows_prereleases)
    }

    /// Whether `v` satisfies all of them; pre-releases only when one names a pre-release.
    pub fn contains(&self, v: &Version) -> bool {
        self.contains_with(v, self.allows_prereleases())
    }

    /// Whether `v` satisfies all of them, pre-releases accepted only when `prereleases`.
    pub fn contains_with(&self, v: &Version, prereleases: bool) -> bool {
        (prereleases || !v.is_prerelease())
            && self.0.iter().all(|s| s.contains_with(v, prereleases))
    }
}

impl FromStr for Specifiers {
    type Err = Pep440Error;

    fn from_str(text: &str) -> Result<Self, Pep440Error> {
        Specifiers::parse(text)
    }
}

impl fmt::Display for Specifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn holds(spec: &str, version: &str) -> bool {
        spec.parse::<Specifiers>().unwrap().contains(&v(version))
    }

    #[test]
    fn versions_normalise_as_pep_440_shows_them() {
        for (text, normal) in [
            ("1.0", "1.0"),
            ("v1.0", "1.0"),
            ("V1.0", "1.0"),
            ("  1.0\n", "1.0"),
            ("1.0.0rc1", "1.0.0rc1"),
            ("1.0.0-rc.1", "1.0.0rc1"),
            ("1.0RC1", "1.0rc1"),
            ("1.0c1", "1.0rc1"),
            ("1.0pre2", "1.0rc2"),
            ("1.0-preview.3", "1.0rc3"),
            ("1.0alpha", "1.0a0"),
            ("1.0.beta_4", "1.0b4"),
            ("1.0.a1", "1.0a1"),
            ("1.0-post2", "1.0.post2"),
            ("1.0.post", "1.0.post0"),
            ("1.0-1", "1.0.post1"),
            ("1.0-r1", "1.0.post1"),
            ("1.0rev3", "1.0.post3"),
            ("1.0.dev3", "1.0.dev3"),
            ("1.0.dev", "1.0.dev0"),
            ("1.0-dev-3", "1.0.dev3"),
            ("1!2.0", "1!2.0"),
            ("0!2.0", "2.0"),
            ("1.0+local.7", "1.0+local.7"),
            ("1.0+007.A", "1.0+7.a"),
            ("1.0a1.post2.dev3+x-y_z", "1.0a1.post2.dev3+x.y.z"),
            ("01.002.3", "1.2.3"),
            ("2024.10", "2024.10"),
        ] {
            assert_eq!(v(text).to_string(), normal, "{text}");
            assert_eq!(text.parse::<Version>().unwrap().to_string(), normal);
        }
    }

    #[test]
    fn fields_are_parsed() {
        let x = v("2!1.2.3rc4.post5.dev6+ubuntu.1");
        assert_eq!(x.epoch, 2);
        assert_eq!(x.release, [1, 2, 3]);
        assert_eq!(x.pre, Some((Phase::Rc, 4)));
        assert_eq!(x.post, Some(5));
        assert_eq!(x.dev, Some(6));
        assert_eq!(
            x.local,
            [LocalSegment::Text("ubuntu".into()), LocalSegment::Number(1)]
        );
        assert!(x.is_prerelease() && x.is_postrelease());
        assert_eq!(x.public().to_string(), "2!1.2.3rc4.post5.dev6");
        assert_eq!(x.base().to_string(), "2!1.2.3");
        assert!(!v("1.0.post1").is_prerelease());
        assert!(v("1.0.dev1").is_prerelease());
    }

    #[test]
    fn bad_versions_are_refused_naming_the_text() {
        for bad in [
            "",
            "   ",
            "v",
            "a1",
            "1.",
            ".1",
            "1..0",
            "1.0a1b2",
            "1.0 a1",
            "1.0+",
            "1.0+a..b",
            "1.0+a b",
            "1.0-",
            "1.0.dev1.post1",
            "1.0.post1a1",
            "1!",
            "!1.0",
            "1.0-foo",
            "1.0.*",
            "99999999999999999999999",
            "1.0ä",
        ] {
            let e = Version::parse(bad).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn order_follows_pep_440() {
        // The PEP's own example ordering, then epochs and locals.
        let ordered = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "2.0",
            "10.0",
            "1!0.1",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
            assert!(v(pair[1]) > v(pair[0]));
        }
        let mut shuffled: Vec<Version> = ordered.iter().rev().map(|t| v(t)).collect();
        shuffled.sort();
        let back: Vec<String> = shuffled.iter().map(ToString::to_string).collect();
        assert_eq!(back, ordered);
    }

    #[test]
    fn equality_ignores_trailing_zeros_and_spelling() {
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("1"), v("1.0.0.0"));
        assert_eq!(v("1.0rc1"), v("1.0c1"));
        assert_eq!(v("1.0+ABC"), v("1.0+abc"));
        assert_eq!(v("1.0+7"), v("1.0+007"));
        assert_ne!(v("1.0"), v("1.0+0"));
        assert_ne!(v("1.0"), v("1.0.post0"));
        assert_ne!(v("1.0"), v("1.0.dev0"));
        assert_ne!(v("1.0"), v("1!1.0"));
        let set: std::collections::HashSet<Version> =
            ["1.0", "1.0.0", "1", "1.1"].iter().map(|t| v(t)).collect();
        assert_eq!(set.len(), 2);
        // Local labels: numbers above text, longer above its prefix.
        assert!(v("1.0+a") < v("1.0+1"));
        assert!(v("1.0+a") < v("1.0+a.1"));
        assert!(v("1.0+abc") < v("1.0+abd"));
    }

    #[test]
    fn ranges_and_exclusions() {
        let s = ">=3.9,<3.13";
        assert!(holds(s, "3.9"));
        assert!(holds(s, "3.9.0"));
        assert!(holds(s, "3.12.7"));
        assert!(!holds(s, "3.13.0"));
        assert!(!holds(s, "3.8.19"));
        assert!(!holds(s, "3.13.0rc1"), "pre-releases are not admitted");
        assert!(!holds(s, "3.12.0rc1"), "not even inside the range");
        assert!(holds(" >= 3.9 , < 3.13 ", "3.10"));
        assert!(holds("!=3.10.2", "3.10.3"));
        assert!(!holds("!=3.10.2", "3.10.2"));
        assert!(!holds("!=3.10.2", "3.10.2+local"));
        assert!(holds("<=3.10", "3.10.0"));
        assert!(holds("<=3.10", "3.10+local"), "<= ignores local labels");
        assert!(!holds("<=3.10", "3.10.1"));
        assert!(holds(">3.10", "3.10.1"));
        assert!(!holds(">3.10", "3.10"));
        assert!(holds("", "1.0"));
        assert!(!holds("", "1.0a1"));
        assert!(holds(">=1,,<2", "1.5"));
    }

    #[test]
    fn prefix_matches() {
        assert!(holds("==3.11.*", "3.11"));
        assert!(holds("==3.11.*", "3.11.0"));
        assert!(holds("==3.11.*", "3.11.9"));
        assert!(holds("==3.11.*", "3.11.9+local"));
        assert!(holds("==3.11.*", "3.11.post1"));
        assert!(!holds("==3.11.*", "3.1"));
        assert!(!holds("==3.11.*", "3.12.0"));
        assert!(!holds("==3.1.*", "3.11.0"), "segments, not characters");
        assert!(!holds("==3.11.*", "3.11.0rc1"), "pre-releases stay out");
        assert!(holds("==1.0.0.*", "1.0"));
        assert!(holds("==3.*", "3.0"));
        assert!(!holds("==3.*", "1!3.0"), "epochs must agree");
        assert!(holds("!=3.10.*", "3.11"));
        assert!(!holds("!=3.10.*", "3.10.4"));
        assert!(holds("== 3.11.*", "3.11.2"));
    }

    #[test]
    fn exact_matches() {
        assert!(holds("==3.11", "3.11.0"));
        assert!(holds("==3.11", "3.11+local"), "a local label is ignored");
        assert!(!holds("==3.11+a", "3.11"));
        assert!(holds("==3.11+a", "3.11+A"));
        assert!(!holds("==3.11", "3.11.1"));
        assert!(
            holds("==1.0rc1", "1.0rc1"),
            "a named pre-release is admitted"
        );
        assert!(holds("==v1.0", "1.0"));
        assert!(holds("===1.0", "1.0"));
        assert!(!holds("===1.0", "1.0.0"), "=== is identity of the text");
        assert!(!holds("===foobar", "1.0"));
        assert!(holds("===1.0RC1", "1.0rc1"));
    }

    #[test]
    fn compatible_releases() {
        // The PEP's examples: ~=2.2 is >=2.2,==2.*; ~=1.4.5 is >=1.4.5,==1.4.*.
        assert!(holds("~=2.2", "2.2"));
        assert!(holds("~=2.2", "2.9"));
        assert!(!holds("~=2.2", "3.0"));
        assert!(!holds("~=2.2", "2.1"));
        assert!(holds("~=1.4.5", "1.4.9"));
        assert!(!holds("~=1.4.5", "1.5.0"));
        assert!(!holds("~=1.4.5", "1.4.4"));
        assert!(holds("~=2.2.post3", "2.2.post3"));
        assert!(holds("~=2.2.post3", "2.3"));
        assert!(!holds("~=2.2.post3", "2.2"));
        assert!(holds("~=1.4.5a4", "1.4.5a4"), "names a pre-release");
        assert!(holds("~=1.4.5a4", "1.4.6"));
        assert!(!holds("~=1.4.5a4", "1.5"));
        assert!(holds("~=3.10", "3.12.1"));
        assert!(!holds("~=3.10", "4.0"));
        assert!(!holds("~=1!2.0", "2.5"));
        assert!(holds("~=1!2.0", "1!2.5"));
    }

    #[test]
    fn less_and_greater_exclude_neighbours() {
        assert!(!holds("<3.0", "3.0rc1"));
        assert!(
            !holds("<3.0rc2", "3.0rc1"),
            "< never admits pre-releases by itself"
        );
        assert!(!holds("<3.0", "3.0.dev1"));
        assert!(holds("<3.0", "2.9"));
        assert!(!holds(">3.0", "3.0.post1"));
        assert!(holds(">3.0.post1", "3.0.post2"));
        assert!(!holds(">3.0", "3.0+local"));
        assert!(holds(">3.0", "3.0.1"));
        assert!(holds(">3.0", "3.0.1+local"));
        // With pre-releases allowed explicitly.
        let lt: Specifiers = "<3.0".parse().unwrap();
        assert!(!lt.contains_with(&v("3.0rc1"), true));
        assert!(lt.contains_with(&v("2.9rc1"), true));
        let lt_pre: Specifiers = "<3.0rc2".parse().unwrap();
        assert!(lt_pre.contains_with(&v("3.0rc1"), true));
    }

    #[test]
    fn prereleases_are_admitted_when_a_specifier_names_one() {
        assert!(holds(">=1.0b1", "1.0b2"));
        assert!(holds(">=1.0b1,<2", "1.5rc1"), "for the whole list");
        assert!(holds("<=2.0.dev5", "2.0.dev3"));
        assert!(!holds(">1.0b1", "1.0b2"), "> never admits them");
        assert!(!holds("!=1.0b1", "1.0b2"));
        assert!(!holds("<2.0b1", "1.0b2"));
        let s: Specifier = ">=1.0".parse().unwrap();
        assert!(!s.contains(&v("1.1a1")));
        assert!(s.contains_with(&v("1.1a1"), true));
        assert!(s.matches(&v("1.1a1")));
    }

    #[test]
    fn bad_specifiers_are_refused_naming_the_text() {
        for bad in [
            "3.9",
            ">=",
            "=>3.9",
            "=3.9",
            ">=3.9.*",
            "~=3.*",
            "~=3",
            "<3.0+local",
            "~=3.0+local",
            "==3.0a1.*",
            "==3.0+x.*",
            ">=abc",
            "=== a b",
            ">=3.9,<",
            ">=3.9;<3",
        ] {
            let e = bad.parse::<Specifiers>().unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        let e = ">=3.9,<".parse::<Specifiers>().unwrap_err().to_string();
        assert!(e.contains("\"<\""), "{e}");
    }

    #[test]
    fn specifiers_display_normalised() {
        let s: Specifiers = ">= 3.9 ,<3.13,==3.11.*, ~=v3.10.0rc1,===Foo"
            .parse()
            .unwrap();
        assert_eq!(s.to_string(), ">=3.9,<3.13,==3.11.*,~=3.10.0rc1,===Foo");
        assert_eq!(s.0.len(), 5);
        assert_eq!(s.0[2].operator, Operator::Equal);
        assert!(s.0[2].wildcard);
        assert_eq!(s.0[2].text, "3.11");
        assert_eq!(s.0[4].version, None);
        assert!(Specifiers::parse("").unwrap().0.is_empty());
        assert!(Specifiers::parse(" , ").unwrap().0.is_empty());
        assert_eq!(
            Operator::split_prefix("===1"),
            Some((Operator::Arbitrary, "1"))
        );
        assert_eq!(Operator::split_prefix("<1"), Some((Operator::Less, "1")));
        assert_eq!(Operator::split_prefix("1"), None);
    }
}
