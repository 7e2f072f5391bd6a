//! PEP 440 versions (parse, order) and specifier sets (`>=3.9,<3.13`, `~=3.10`,
//! `==3.11.*`).

use std::cmp::Ordering;
use std::str::FromStr;

/// A text that is not a PEP 440 version or specifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pep440Error {
    /// Not a version.
    #[error("{0:?} is not a PEP 440 version")]
    Version(String),
    /// Not a specifier.
    #[error("{0:?} is not a PEP 440 version specifier")]
    Specifier(String),
}

/// Pre-release phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// `a`.
    Alpha,
    /// `b`.
    Beta,
    /// `rc`.
    Rc,
}

/// A version.
#[derive(Debug, Clone, Eq)]
pub struct Version {
    /// `N!`.
    pub epoch: u64,
    /// `1.2.3`.
    pub release: Vec<u64>,
    /// `a1`, `b2`, `rc3`.
    pub pre: Option<(Phase, u64)>,
    /// `.post1`.
    pub post: Option<u64>,
    /// `.dev1`.
    pub dev: Option<u64>,
    /// `+local`, lowercased.
    pub local: Option<String>,
}

fn split_number(s: &str) -> (&str, Option<u64>, &str) {
    // (letters, digits as number, rest)
    let letters_end = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    let (word, rest) = s.split_at(letters_end);
    let rest = rest.trim_start_matches(['.', '-', '_']);
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, rest) = rest.split_at(digits_end);
    (word, digits.parse().ok(), rest)
}

impl FromStr for Version {
    type Err = Pep440Error;

    fn from_str(text: &str) -> Result<Self, Pep440Error> {
        let bad = || Pep440Error::Version(text.to_owned());
        let lower = text.trim().to_ascii_lowercase();
        let mut s = lower.strip_prefix('v').unwrap_or(&lower);
        let (main, local) = match s.split_once('+') {
            Some((m, l))
                if !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)) =>
            {
                (m, Some(l.replace(['-', '_'], ".")))
            }
            Some(_) => return Err(bad()),
            None => (s, None),
        };
        s = main;
        let mut epoch = 0;
        if let Some((e, rest)) = s.split_once('!') {
            epoch = e.parse().map_err(|_| bad())?;
            s = rest;
        }
        let release_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (release_text, mut rest) = s.split_at(release_end);
        let release_text = release_text.trim_end_matches('.');
        let rest_had_dot = s[release_text.len()..].starts_with('.');
        if release_text.is_empty() {
            return Err(bad());
        }
        let release = release_text
            .split('.')
            .map(str::parse)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| bad())?;
        let _ = rest_had_dot;
        let (mut pre, mut post, mut dev) = (None, None, None);
        while !rest.is_empty() {
            let trimmed = rest.trim_start_matches(['.', '-', '_']);
            let separated = trimmed.len() != rest.len();
            if separated
                && trimmed.starts_with(|c: char| c.is_ascii_digit())
                && rest.starts_with('-')
                && post.is_none()
                && dev.is_none()
            {
                // `1.0-1` is an implicit post release.
                let end = trimmed
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(trimmed.len());
                post = Some(trimmed[..end].parse().map_err(|_| bad())?);
                rest = &trimmed[end..];
                continue;
            }
            let (word, number, after) = split_number(trimmed);
            match word {
                "a" | "alpha" | "b" | "beta" | "c" | "rc" | "pre" | "preview"
                    if pre.is_none() && post.is_none() && dev.is_none() =>
                {
                    let phase = match word {
                        "a" | "alpha" => Phase::Alpha,
                        "b" | "beta" => Phase::Beta,
                        _ => Phase::Rc,
                    };
                    pre = Some((phase, number.unwrap_or(0)));
                }
                "post" | "rev" | "r" if post.is_none() && dev.is_none() => {
                    post = Some(number.unwrap_or(0));
                }
                "dev" if dev.is_none() => dev = Some(number.unwrap_or(0)),
                _ => return Err(bad()),
            }
            rest = after;
        }
        Ok(Self {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }
}

impl Version {
    /// Whether it is a pre-release (or a development release).
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    fn release_at(&self, i: usize) -> u64 {
        self.release.get(i).copied().unwrap_or(0)
    }

    fn cmp_release(&self, other: &Self) -> Ordering {
        let n = self.release.len().max(other.release.len());
        (0..n)
            .map(|i| self.release_at(i).cmp(&other.release_at(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// The same version without its local part.
    fn public(&self) -> Self {
        Self {
            local: None,
            ..self.clone()
        }
    }

    /// Order ignoring the local part.
    fn cmp_public(&self, other: &Self) -> Ordering {
        self.public().cmp(&other.public())
    }

    fn key(&self) -> (i128, i128, i128, i128) {
        // (pre phase, pre number, post, dev) with "missing" mapped as PEP 440 orders it.
        let (phase, n) = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => (-1, 0),
            (None, _, _) => (10, 0),
            (Some((p, n)), _, _) => (p as i128, i128::from(n)),
        };
        let post = self.post.map_or(-1, i128::from);
        let dev = self.dev.map_or(i128::MAX, i128::from);
        (phase, n, post, dev)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.cmp_release(other))
            .then_with(|| self.key().cmp(&other.key()))
            .then_with(|| match (&self.local, &other.local) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => cmp_local(a, b),
            })
    }
}

fn cmp_local(left: &str, right: &str) -> Ordering {
    let mut lefts = left.split('.');
    let mut rights = right.split('.');
    loop {
        match (lefts.next(), rights.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(l), Some(r)) => {
                let order = match (l.parse::<u64>(), r.parse::<u64>()) {
                    (Ok(ln), Ok(rn)) => ln.cmp(&rn),
                    (Ok(_), Err(_)) => Ordering::Greater,
                    (Err(_), Ok(_)) => Ordering::Less,
                    (Err(_), Err(_)) => l.cmp(r),
                };
                if order.is_ne() {
                    return order;
                }
            }
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        let release: Vec<String> = self.release.iter().map(u64::to_string).collect();
        write!(f, "{}", release.join("."))?;
        if let Some((p, n)) = self.pre {
            let tag = match p {
                Phase::Alpha => "a",
                Phase::Beta => "b",
                Phase::Rc => "rc",
            };
            write!(f, "{tag}{n}")?;
        }
        if let Some(n) = self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        if let Some(l) = &self.local {
            write!(f, "+{l}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `~=`.
    Compatible,
    /// `===`.
    Arbitrary,
}

impl Op {
    /// The operator at the start of `s`, and the rest.
    pub fn split(s: &str) -> Option<(Op, &str)> {
        for (text, op) in [
            ("===", Op::Arbitrary),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("~=", Op::Compatible),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if let Some(rest) = s.strip_prefix(text) {
                return Some((op, rest));
            }
        }
        None
    }
}

/// One specifier (`>=3.9`, `==3.11.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
    /// The operator.
    pub op: Op,
    /// The version text after it (without `.*`).
    pub text: String,
    /// The version, unless `===` names an arbitrary string.
    pub version: Option<Version>,
    /// `==X.*` / `!=X.*`.
    pub wildcard: bool,
}

impl FromStr for Specifier {
    type Err = Pep440Error;

    fn from_str(text: &str) -> Result<Self, Pep440Error> {
        let bad = || Pep440Error::Specifier(text.to_owned());
        let t = text.trim();
        let (op, rest) = Op::split(t).ok_or_else(bad)?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        if op == Op::Arbitrary {
            return Ok(Self {
                op,
                text: rest.to_owned(),
                version: rest.parse().ok(),
                wildcard: false,
            });
        }
        let (v, wildcard) = match rest.strip_suffix(".*") {
            Some(v) if matches!(op, Op::Eq | Op::Ne) => (v, true),
            Some(_) => return Err(bad()),
            None => (rest, false),
        };
        let version: Version = v.parse().map_err(|_| bad())?;
        if op == Op::Compatible && version.release.len() < 2 {
            return Err(bad());
        }
        Ok(Self {
            op,
            text: v.to_owned(),
            version: Some(version),
            wildcard,
        })
    }
}

impl Specifier {
    /// Whether `v` satisfies this specifier (pre-releases are not filtered here).
    pub fn matches(&self, v: &Version) -> bool {
        let Some(s) = &self.version else {
            return v.to_string() == self.text;
        };
        match self.op {
            Op::Eq | Op::Ne => {
                let hit = if self.wildcard {
                    v.epoch == s.epoch
                        && (0..s.release.len()).all(|i| v.release_at(i) == s.release_at(i))
                } else if s.local.is_none() {
                    v.cmp_public(s).is_eq()
                } else {
                    v == s
                };
                hit == (self.op == Op::Eq)
            }
            Op::Le => v.cmp_public(s).is_le(),
            Op::Ge => v.cmp_public(s).is_ge(),
            Op::Lt => {
                v.cmp_public(s).is_lt()
                    && !(v.is_prerelease()
                        && !s.is_prerelease()
                        && v.cmp_release(s).is_eq()
                        && v.epoch == s.epoch)
            }
            Op::Gt => {
                v.cmp_public(s).is_gt()
                    && !(v.post.is_some()
                        && s.post.is_none()
                        && v.cmp_release(s).is_eq()
                        && v.pre == s.pre)
            }
            Op::Compatible => {
                let prefix = s.release.len() - 1;
                v.cmp_public(s).is_ge()
                    && v.epoch == s.epoch
                    && (0..prefix).all(|i| v.release_at(i) == s.release_at(i))
            }
            Op::Arbitrary => v.to_string() == self.text,
        }
    }
}

/// A comma-separated set of specifiers (all must hold).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Specifiers(pub Vec<Specifier>);

impl FromStr for Specifiers {
    type Err = Pep440Error;

    fn from_str(text: &str) -> Result<Self, Pep440Error> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        text.split(',')
            .map(|s| {
                s.parse()
                    .map_err(|_| Pep440Error::Specifier(text.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl Specifiers {
    /// Whether `v` satisfies every specifier; a pre-release only when a specifier names one.
    pub fn contains(&self, v: &Version) -> bool {
        let allow_pre = self
            .0
            .iter()
            .any(|s| s.version.as_ref().is_some_and(Version::is_prerelease));
        (allow_pre || !v.is_prerelease()) && self.matches_all(v)
    }

    /// Whether `v` satisfies every specifier, pre-release or not.
    pub fn matches_all(&self, v: &Version) -> bool {
        self.0.iter().all(|s| s.matches(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn within(spec: &str, version: &str) -> bool {
        spec.parse::<Specifiers>().unwrap().contains(&v(version))
    }

    #[test]
    fn versions_parse_normalise_and_order() {
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("v1.0").to_string(), "1.0");
        assert_eq!(v("1.0.0RC1").to_string(), "1.0.0rc1");
        assert_eq!(v("1.0-post2").to_string(), "1.0.post2");
        assert_eq!(v("1.0-2").to_string(), "1.0.post2");
        assert_eq!(v("1!2.0").epoch, 1);
        assert_eq!(v("1.0+Local-7").to_string(), "1.0+local.7");
        let order = [
            "1.0.dev1",
            "1.0a1",
            "1.0a2.dev1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+a",
            "1.0.post1.dev1",
            "1.0.post1",
            "1.1",
            "1!0.1",
        ];
        for w in order.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        for bad in ["", "abc", "1.0+", "1.0-x", "1..0x"] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }

    #[test]
    fn specifiers_follow_pep_440() {
        assert!(within(">=3.9,<3.13", "3.12.4"));
        assert!(!within(">=3.9,<3.13", "3.13.0"));
        assert!(within("~=3.10", "3.11"));
        assert!(!within("~=3.10", "4.0"));
        assert!(within("~=3.10.2", "3.10.9"));
        assert!(!within("~=3.10.2", "3.11.0"));
        assert!(within("==3.11.*", "3.11.7"));
        assert!(!within("==3.11.*", "3.12.0"));
        assert!(within("!=3.10.2", "3.10.3"));
        assert!(!within("!=3.10.*", "3.10.3"));
        assert!(within("==1.0", "1.0+local"));
        assert!(!within("<3.13", "3.13.0a1"));
        assert!(
            !within(">=3.12", "3.13.0a1"),
            "no pre-releases unless named"
        );
        assert!(within(">=3.13.0a1", "3.13.0a2"));
        assert!(!within(">1.0", "1.0.post1"));
        assert!(within("===1.0", "1.0"));
        assert!("~=3".parse::<Specifier>().is_err());
        assert!(">=3.*".parse::<Specifier>().is_err());
        assert!("3.9".parse::<Specifier>().is_err());
        assert!(within("", "1.0"));
    }
}
