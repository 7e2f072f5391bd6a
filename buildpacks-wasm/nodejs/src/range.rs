//! npm semver ranges (`engines.node`), with node-semver's semantics (`semver.satisfies`
//! with the default options: not loose, `includePrerelease` off).
//!
//! This is a port of node-semver's `Range`: the range text is rewritten step by step
//! as `classes/range.js` does (hyphen ranges, operator/whitespace trimming,
//! carets, tildes, x-ranges, stars) into sets of plain comparators (`>=1.2.3`, `<2.0.0-0`,
//! ...), which are then parsed strictly. So `20.11.0` means exactly 20.11.0, `^0.2.3`
//! means `>=0.2.3 <0.3.0-0`, `1.2 - 2` means `>=1.2.0 <3.0.0-0`, `>1.2` means `>=1.3.0`,
//! and anything node-semver rejects is rejected here.
//!
//! A prerelease version only satisfies a comparator set when some comparator in the set
//! has a prerelease on the same `major.minor.patch` (`>=1.2.3-alpha.3` admits
//! `1.2.3-alpha.7` but not `3.4.5-alpha.9`).

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

/// node-semver's `MAX_SAFE_INTEGER`: larger version components are invalid.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// node-semver's `MAX_LENGTH`: longer version strings are invalid.
const MAX_VERSION_LENGTH: usize = 256;
/// node-semver's safe regexes: at most this many repeated digits (`\d{0,256}`).
const MAX_DIGITS: usize = 256;
/// node-semver's safe regexes: at most this many repeated `[a-zA-Z0-9-]` characters.
const MAX_IDENTIFIER_CHARS: usize = 250;

/// An npm range that does not parse; names the range and the offending comparator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{range:?} is not a valid npm semver range: invalid comparator {comparator:?}")]
pub struct RangeError {
    /// The range text.
    pub range: String,
    /// The comparator that does not parse.
    pub comparator: String,
}

/// A comparator that does not parse (its text).
#[derive(Debug)]
struct BadComparator(String);

/// A parsed npm range: it matches when any of its comparator sets (the `||` alternatives)
/// matches.
#[derive(Debug, Clone)]
pub struct NpmRange {
    sets: Vec<Vec<Comparator>>,
}

impl NpmRange {
    /// Parse an npm range the way `new semver.Range(text)` does. Empty, `*` and `x` match
    /// every release. The error names the range text and the offending comparator.
    pub fn parse(text: &str) -> Result<Self, RangeError> {
        let raw = collapse_whitespace(text);
        let mut sets = raw
            .split("||")
            .map(|alternative| parse_set(js_trim(alternative)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|BadComparator(comparator)| RangeError {
                range: text.to_owned(),
                comparator,
            })?;
        // An alternative that is just `*` makes the whole range `*`: the other
        // alternatives no longer admit their prereleases (`1.0.0-rc.1 || *`).
        if sets
            .iter()
            .any(|set| set.iter().all(|c| matches!(c, Comparator::Any)))
        {
            sets = vec![Vec::new()];
        }
        Ok(Self { sets })
    }

    /// Whether `v` satisfies the range (`semver.satisfies(v, range)`).
    pub fn matches(&self, v: &Version) -> bool {
        self.sets.iter().any(|set| set_matches(set, v))
    }
}

/// One desugared comparator.
#[derive(Debug, Clone)]
enum Comparator {
    /// The empty comparator: matches everything (node-semver's `ANY`).
    Any,
    /// `op version`.
    Cmp(Op, Version),
}

/// A comparator's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `=` or no operator.
    Eq,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl Comparator {
    /// Parse a plain comparator strictly (node-semver's `COMPARATOR` regex): an optional
    /// `<`, `>`, `<=`, `>=` or `=`, then a full version with an optional `v` prefix. The
    /// error is the comparator.
    fn parse(comp: &str) -> Result<Self, BadComparator> {
        if comp.is_empty() {
            return Ok(Self::Any);
        }
        let (op, version) = split_operator(comp);
        let op = match op {
            "" | "=" => Op::Eq,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            _ => Op::Ge,
        };
        let version = parse_full_version(version).ok_or_else(|| BadComparator(comp.to_owned()))?;
        Ok(Self::Cmp(op, version))
    }

    /// Whether `v` passes this comparator (precedence ignores build metadata).
    fn test(&self, v: &Version) -> bool {
        let Self::Cmp(op, bound) = self else {
            return true;
        };
        let ord = precedence(v, bound);
        match op {
            Op::Eq => ord == Ordering::Equal,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
        }
    }
}

/// node-semver's `testSet`: every comparator passes, and a prerelease `v` is only admitted
/// when some comparator has a prerelease on the same `major.minor.patch`.
fn set_matches(set: &[Comparator], v: &Version) -> bool {
    if !set.iter().all(|c| c.test(v)) {
        return false;
    }
    if v.pre.is_empty() {
        return true;
    }
    set.iter().any(|c| match c {
        Comparator::Cmp(_, bound) => {
            !bound.pre.is_empty()
                && (bound.major, bound.minor, bound.patch) == (v.major, v.minor, v.patch)
        }
        Comparator::Any => false,
    })
}

/// SemVer precedence: `major.minor.patch`, then the prerelease; build metadata is ignored.
fn precedence(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

/// node-semver's `parseRange`: rewrite one `||` alternative into plain comparators.
fn parse_set(alternative: &str) -> Result<Vec<Comparator>, BadComparator> {
    let text = strip_build(alternative);
    let text = replace_hyphen(&text).unwrap_or(text);
    let text = trim_operator_space(&text);
    let text = trim_lone_operator(&text, '~');
    let text = trim_lone_operator(&text, '^');
    let mut set = Vec::new();
    for word in text.split(' ') {
        for comp in desugar(word).split_whitespace() {
            // `>=0.0.0` is the same as `*`.
            let comp = if comp == ">=0.0.0" { "" } else { comp };
            set.push(Comparator::parse(comp)?);
        }
    }
    Ok(set)
}

/// node-semver's `parseComparator`: carets, then tildes, then x-ranges, then stars.
fn desugar(word: &str) -> String {
    let text = replace_caret(word);
    let text = map_words(&text, replace_tilde);
    let text = map_words(&text, replace_xrange);
    replace_stars(&text)
}

/// Apply `f` to each space-separated word of `text`.
fn map_words(text: &str, f: fn(&str) -> String) -> String {
    text.split(' ').map(f).collect::<Vec<_>>().join(" ")
}

/// A partial version as node-semver's `XRANGEPLAIN` matches it: `[v=\s]*` then
/// `M[.m[.p[-pre][+build]]]`, each of `M`, `m`, `p` a number or `x`/`X`/`*` (the build is
/// checked and dropped).
#[derive(Debug, Clone, Copy)]
struct Partial<'a> {
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    pre: Option<&'a str>,
}

impl Partial<'_> {
    /// `-pre` when there is a prerelease, else nothing.
    fn dash_pre(&self) -> String {
        self.pre.map(|p| format!("-{p}")).unwrap_or_default()
    }
}

/// Match all of `text` as a partial version.
fn parse_partial(text: &str) -> Option<Partial<'_>> {
    let text = text.trim_start_matches(|c: char| c == 'v' || c == '=' || is_js_space(c));
    let mut partial = Partial {
        major: "",
        minor: None,
        patch: None,
        pre: None,
    };
    let (major, rest) = take_x_or_number(text)?;
    partial.major = major;
    let Some(rest) = rest.strip_prefix('.') else {
        return rest.is_empty().then_some(partial);
    };
    let (minor, rest) = take_x_or_number(rest)?;
    partial.minor = Some(minor);
    let Some(rest) = rest.strip_prefix('.') else {
        return rest.is_empty().then_some(partial);
    };
    let (patch, rest) = take_x_or_number(rest)?;
    partial.patch = Some(patch);
    // Build metadata is usually stripped first, but can survive the star removal.
    let (rest, build) = rest
        .split_once('+')
        .map_or((rest, None), |(r, b)| (r, Some(b)));
    if build.is_some_and(|b| !valid_build(b)) {
        return None;
    }
    partial.pre = match rest.strip_prefix('-') {
        Some(pre) if valid_prerelease(pre) => Some(pre),
        None if rest.is_empty() => None,
        _ => return None,
    };
    Some(partial)
}

/// Take a leading `x`, `X`, `*` or number without leading zeros (node-semver's safe
/// regexes allow at most [`MAX_DIGITS`] digits).
fn take_x_or_number(text: &str) -> Option<(&str, &str)> {
    let len = match text.as_bytes().first()? {
        b'x' | b'X' | b'*' | b'0' => 1,
        b'1'..=b'9' => {
            1 + text[1..]
                .bytes()
                .take(MAX_DIGITS)
                .take_while(u8::is_ascii_digit)
                .count()
        }
        _ => return None,
    };
    Some(text.split_at(len))
}

/// node-semver's `isX`: a missing part, `x`, `X` or `*`.
fn is_x(part: Option<&str>) -> bool {
    matches!(part, None | Some("x" | "X" | "*"))
}

/// `n + 1` for a decimal string; too large numbers saturate and are rejected later.
fn bump(n: &str) -> String {
    n.parse::<u64>()
        .unwrap_or(u64::MAX)
        .saturating_add(1)
        .to_string()
}

/// Dot-separated identifiers of `[0-9A-Za-z-]`: numeric ones without leading zeros,
/// others within node-semver's safe-regex caps.
fn valid_prerelease(pre: &str) -> bool {
    pre.split('.').all(|id| {
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return false;
        }
        match id.find(|c: char| !c.is_ascii_digit()) {
            // Numeric: `0|[1-9]\d{0,256}`.
            None => {
                id == "0" || (!id.is_empty() && !id.starts_with('0') && id.len() <= MAX_DIGITS + 1)
            }
            // Alphanumeric: `\d{0,256}[a-zA-Z-][a-zA-Z0-9-]{0,250}`.
            Some(first) => first <= MAX_DIGITS && id.len() - first - 1 <= MAX_IDENTIFIER_CHARS,
        }
    })
}

/// Dot-separated, non-empty identifiers of `[0-9A-Za-z-]`, each within node-semver's cap.
fn valid_build(build: &str) -> bool {
    build.split('.').all(|id| {
        (1..=MAX_IDENTIFIER_CHARS).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// Parse a full version (`v?M.m.p[-pre]`, numbers without leading zeros) as node-semver's
/// `SemVer` constructor does, including its length and `MAX_SAFE_INTEGER` limits.
fn parse_full_version(text: &str) -> Option<Version> {
    if text.len() > MAX_VERSION_LENGTH {
        return None;
    }
    // Only an optional `v` may precede the number (no `=`, no spaces).
    let digits = text.strip_prefix('v').unwrap_or(text);
    if !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let partial = parse_partial(digits)?;
    let number = |part: Option<&str>| {
        part.filter(|p| !is_x(Some(p)))?
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_SAFE_INTEGER)
    };
    Some(Version {
        major: number(Some(partial.major))?,
        minor: number(partial.minor)?,
        patch: number(partial.patch)?,
        pre: Prerelease::new(partial.pre.unwrap_or("")).ok()?,
        build: BuildMetadata::EMPTY,
    })
}

/// Split a leading `<`, `>`, `<=`, `>=` or `=` (node-semver's `GTLT`) off `text`.
fn split_operator(text: &str) -> (&str, &str) {
    let mut len = usize::from(text.starts_with(['<', '>']));
    if text[len..].starts_with('=') {
        len += 1;
    }
    text.split_at(len)
}

/// Remove build metadata (`+build.5`) wherever it appears, like node-semver does first
/// (with the uncapped regex).
fn strip_build(text: &str) -> String {
    let is_id = |c: char| c.is_ascii_alphanumeric() || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(plus) = rest.find('+') {
        out.push_str(&rest[..plus]);
        let after = &rest[plus + 1..];
        let mut end = 0;
        loop {
            let id = after[end..].chars().take_while(|c| is_id(*c)).count();
            if id == 0 {
                break;
            }
            end += id;
            if after[end..].starts_with('.') && after[end + 1..].starts_with(is_id) {
                end += 1;
            } else {
                break;
            }
        }
        if end == 0 {
            out.push('+');
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// node-semver's hyphen range `A - B` (the whole alternative): `>=A <=B`, where a partial
/// `A` fills in zeros and a partial `B` excludes the next minor/major (`1.2.3 - 2` is
/// `>=1.2.3 <3.0.0-0`). `None` when `text` is not a hyphen range.
fn replace_hyphen(text: &str) -> Option<String> {
    let body = text.strip_prefix(' ').unwrap_or(text);
    let body = body.strip_suffix(' ').unwrap_or(body);
    body.match_indices(" - ").find_map(|(i, _)| {
        let (from_text, to_text) = (&body[..i], &body[i + 3..]);
        let (from, to) = (parse_partial(from_text)?, parse_partial(to_text)?);
        let low = if is_x(Some(from.major)) {
            String::new()
        } else if is_x(from.minor) {
            format!(">={}.0.0", from.major)
        } else if is_x(from.patch) {
            format!(">={}.{}.0", from.major, from.minor.unwrap_or_default())
        } else {
            format!(">={from_text}")
        };
        let high = match (to.minor, to.patch) {
            _ if is_x(Some(to.major)) => String::new(),
            (m, _) if is_x(m) => format!("<{}.0.0-0", bump(to.major)),
            (Some(m), p) if is_x(p) => format!("<{}.{}.0-0", to.major, bump(m)),
            (Some(m), Some(p)) if to.pre.is_some() => {
                format!("<={}.{m}.{p}{}", to.major, to.dash_pre())
            }
            _ => format!("<={to_text}"),
        };
        Some(format!("{low} {high}").trim().to_string())
    })
}

/// node-semver's comparator trim (`(\s?)GTLT\s?(version)` becomes `$1GTLT(version)`):
/// `> 1.2.3` becomes `>1.2.3`. Like the global regex, the scan resumes after each
/// matched version, so a `[v=\s]*` prefix is kept as written.
fn trim_operator_space(text: &str) -> String {
    let is_body = |c: char| c.is_ascii_alphanumeric() || ".*+-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let lead = usize::from(rest.starts_with(' '));
        let (op, after) = split_operator(&rest[lead..]);
        let spaced = after.strip_prefix(' ').unwrap_or(after);
        let version = spaced.trim_start_matches(['v', '=', ' ']);
        if version.starts_with(|c: char| c.is_ascii_digit() || "xX*".contains(c)) {
            let body = version.find(|c| !is_body(c)).unwrap_or(version.len());
            let end = spaced.len() - version.len() + body;
            out.push_str(&rest[..lead]);
            out.push_str(op);
            out.push_str(&spaced[..end]);
            rest = &spaced[end..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// node-semver's tilde and caret trims: `~ 1.2` and `~> 1.2` become `~1.2`, `^ 1.2`
/// becomes `^1.2` (exactly one space after the operator).
fn trim_lone_operator(text: &str, op: char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(op) {
        out.push_str(&rest[..at]);
        out.push(op);
        let after = &rest[at + op.len_utf8()..];
        let gt = if op == '~' {
            after.strip_prefix('>').unwrap_or(after)
        } else {
            after
        };
        rest = gt.strip_prefix(' ').unwrap_or(after);
    }
    out.push_str(rest);
    out
}

/// `^M.m.p`: changes that do not modify the left-most non-zero part.
fn replace_caret(word: &str) -> String {
    let Some(v) = word.strip_prefix('^').and_then(parse_partial) else {
        return word.to_string();
    };
    let major = v.major;
    match (v.minor, v.patch) {
        _ if is_x(Some(major)) => String::new(),
        (m, _) if is_x(m) => format!(">={major}.0.0 <{}.0.0-0", bump(major)),
        (Some(m), p) if is_x(p) => {
            if major == "0" {
                format!(">={major}.{m}.0 <{major}.{}.0-0", bump(m))
            } else {
                format!(">={major}.{m}.0 <{}.0.0-0", bump(major))
            }
        }
        (Some(m), Some(p)) => {
            let low = format!(">={major}.{m}.{p}{}", v.dash_pre());
            if major != "0" {
                format!("{low} <{}.0.0-0", bump(major))
            } else if m != "0" {
                format!("{low} <{major}.{}.0-0", bump(m))
            } else {
                format!("{low} <{major}.{m}.{}-0", bump(p))
            }
        }
        _ => word.to_string(),
    }
}

/// `~M.m.p` (or `~>`): patch-level changes when a minor is given, else minor-level.
fn replace_tilde(word: &str) -> String {
    let Some(rest) = word.strip_prefix('~') else {
        return word.to_string();
    };
    let Some(v) = parse_partial(rest.strip_prefix('>').unwrap_or(rest)) else {
        return word.to_string();
    };
    let major = v.major;
    match (v.minor, v.patch) {
        _ if is_x(Some(major)) => String::new(),
        (m, _) if is_x(m) => format!(">={major}.0.0 <{}.0.0-0", bump(major)),
        (Some(m), p) if is_x(p) => format!(">={major}.{m}.0 <{major}.{}.0-0", bump(m)),
        (Some(m), Some(p)) => format!(">={major}.{m}.{p}{} <{major}.{}.0-0", v.dash_pre(), bump(m)),
        _ => word.to_string(),
    }
}

/// X-ranges and partial versions, with or without an operator: `1.2.x` / `1.2` is
/// `>=1.2.0 <1.3.0-0`, `>1.2` is `>=1.3.0`, `<=1.2` is `<1.3.0-0`, `*` matches all and
/// `>*` nothing. Full versions are left as they are.
fn replace_xrange(word: &str) -> String {
    let (op, rest) = split_operator(word);
    let Some(v) = parse_partial(rest) else {
        return word.to_string();
    };
    let invalid_order =
        (is_x(Some(v.major)) && !is_x(v.minor)) || (is_x(v.minor) && !is_x(v.patch));
    if invalid_order {
        return word.to_string();
    }
    let x_major = is_x(Some(v.major));
    let x_minor = x_major || is_x(v.minor);
    let any_x = x_minor || is_x(v.patch);
    let op = if op == "=" && any_x { "" } else { op };
    let major = v.major;
    let minor = if x_minor { "0" } else { v.minor.unwrap_or("0") };
    if x_major {
        return if op == ">" || op == "<" {
            "<0.0.0-0"
        } else {
            "*"
        }
        .to_string();
    }
    if !op.is_empty() && any_x {
        let (op, major, minor) = match op {
            ">" if x_minor => (">=", bump(major), "0".to_string()),
            ">" => (">=", major.to_string(), bump(minor)),
            "<=" if x_minor => ("<", bump(major), minor.to_string()),
            "<=" => ("<", major.to_string(), bump(minor)),
            other => (other, major.to_string(), minor.to_string()),
        };
        let pre = if op == "<" { "-0" } else { "" };
        return format!("{op}{major}.{minor}.0{pre}");
    }
    if x_minor {
        format!(">={major}.0.0 <{}.0.0-0", bump(major))
    } else if any_x {
        format!(">={major}.{minor}.0 <{major}.{}.0-0", bump(minor))
    } else {
        word.to_string()
    }
}

/// Remove the first star with its operator (`*`, `>=*`, `<*`...), like node-semver's
/// (non-global) `STAR` replacement: what remains must be a plain comparator, so `**` is
/// invalid.
fn replace_stars(text: &str) -> String {
    let Some(star) = text.find('*') else {
        return text.to_string();
    };
    let before = &text[..star];
    let before = before.strip_suffix('=').unwrap_or(before);
    let before = before.strip_suffix(['<', '>']).unwrap_or(before);
    format!("{before}{}", &text[star + 1..])
}

/// JavaScript's `\s` (Unicode white space plus the byte order mark).
fn is_js_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// JavaScript's `String.prototype.trim`.
fn js_trim(text: &str) -> &str {
    text.trim_matches(is_js_space)
}

/// Trim `text` and turn every run of white space into one space, as node-semver does first.
fn collapse_whitespace(text: &str) -> String {
    js_trim(text)
        .split(is_js_space)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(range: &str, v: &str) -> bool {
        NpmRange::parse(range)
            .unwrap()
            .matches(&Version::parse(v).unwrap())
    }

    #[test]
    fn exact_version_matches_only_itself() {
        assert!(m("20.11.0", "20.11.0"));
        assert!(!m("20.11.0", "20.11.1"));
        assert!(!m("20.11.0", "20.12.0"));
        assert!(!m("20.11.0", "20.10.0"));
        assert!(m("=v20.11.0", "20.11.0"));
        assert!(!m("v20.11.0", "21.0.0"));
    }

    #[test]
    fn caret_on_zero_major_stays_in_the_minor() {
        assert!(m("^0.2.3", "0.2.9"));
        assert!(!m("^0.2.3", "0.3.0"));
        assert!(!m("^0.2.3", "0.2.2"));
        assert!(m("^0.0.3", "0.0.3"));
        assert!(!m("^0.0.3", "0.0.4"));
        assert!(m("^0.x", "0.9.0"));
        assert!(!m("^0.x", "1.0.0"));
    }

    #[test]
    fn hyphen_with_partial_upper_bound_includes_the_whole_major() {
        assert!(m("1.2 - 2", "2.9.9"));
        assert!(m("1.2 - 2", "1.2.0"));
        assert!(!m("1.2 - 2", "3.0.0"));
        assert!(!m("1.2 - 2", "1.1.9"));
        assert!(m("1.2.3 - 2.3.4", "2.3.4"));
        assert!(!m("1.2.3 - 2.3.4", "2.3.5"));
    }

    #[test]
    fn npm_forms() {
        assert!(m(">=18 <21", "20.20.2"));
        assert!(!m(">=18 <21", "22.12.0"));
        assert!(m("^20 || ^22", "22.12.0"));
        assert!(m("18 - 20", "20.1.0"));
        assert!(m("20.x", "20.20.2"));
        assert!(m("v20", "20.0.1"));
        assert!(m(">= 20", "22.0.0"));
        assert!(m("", "1.0.0"));
        assert!(m("*", "1.0.0"));
        assert!(!m("~20.1", "20.2.0"));
        assert!(m(">1.2", "1.3.0"));
        assert!(!m(">1.2", "1.2.9"));
        assert!(m("<=1.2", "1.2.9"));
        assert!(!m("<=1.2", "1.3.0"));
    }

    #[test]
    fn prereleases_need_a_comparator_on_the_same_version() {
        assert!(m(">=1.2.3-alpha.3", "1.2.3-alpha.7"));
        assert!(!m(">=1.2.3-alpha.3", "3.4.5-alpha.9"));
        assert!(m(">=1.2.3-alpha.3", "3.4.5"));
        assert!(!m("*", "1.0.0-rc.1"));
    }

    #[test]
    fn invalid_ranges_name_the_text() {
        for bad in [">=banana", "latest", "1.2.3.4", "^1.2.3 >", "01.2.3"] {
            let err = NpmRange::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
