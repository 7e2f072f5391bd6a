//! PEP 508 environment markers (`python_version >= "3.8" and sys_platform == "linux"`):
//! parsed into a tree and evaluated for a target environment, comparing as PEP 440 versions
//! where both sides are versions and as strings otherwise, as the `packaging` library does.

use std::collections::BTreeSet;
use std::fmt;

use crate::pep440::{Operator, Specifier, Version};

/// A text that is not a PEP 508 environment marker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid environment marker {text:?}: expected {expected} at position {position}, found {found}"
)]
pub struct MarkerError {
    /// The marker text.
    pub text: String,
    /// The byte offset in it where the problem is.
    pub position: usize,
    /// What the grammar expected there.
    pub expected: String,
    /// What was there instead.
    pub found: String,
}

/// A marker variable (the names PEP 508 defines, and the aliases `packaging` still accepts:
/// `os.name`, `sys.platform`, `platform.version`, `platform.machine`,
/// `platform.python_implementation`, `python_implementation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    /// `python_version` (`3.11`).
    PythonVersion,
    /// `python_full_version` (`3.11.9`).
    PythonFullVersion,
    /// `os_name` (`posix`).
    OsName,
    /// `sys_platform` (`linux`).
    SysPlatform,
    /// `platform_release` (the kernel release).
    PlatformRelease,
    /// `platform_system` (`Linux`).
    PlatformSystem,
    /// `platform_version` (the kernel build).
    PlatformVersion,
    /// `platform_machine` (`x86_64`).
    PlatformMachine,
    /// `platform_python_implementation` (`CPython`).
    PlatformPythonImplementation,
    /// `implementation_name` (`cpython`).
    ImplementationName,
    /// `implementation_version` (`3.11.9`).
    ImplementationVersion,
    /// `extra`: one of the requested extras (names compared normalised).
    Extra,
    /// `extras` (PEP 751): the set of requested extras, for `"x" in extras`.
    Extras,
    /// `dependency_groups` (PEP 751): the set of requested groups, for `"dev" in
    /// dependency_groups`; this environment has none.
    DependencyGroups,
}

impl Variable {
    /// The variable named `word`.
    fn from_name(word: &str) -> Option<Variable> {
        Some(match word {
            "python_version" => Variable::PythonVersion,
            "python_full_version" => Variable::PythonFullVersion,
            "os_name" | "os.name" => Variable::OsName,
            "sys_platform" | "sys.platform" => Variable::SysPlatform,
            "platform_release" => Variable::PlatformRelease,
            "platform_system" => Variable::PlatformSystem,
            "platform_version" | "platform.version" => Variable::PlatformVersion,
            "platform_machine" | "platform.machine" => Variable::PlatformMachine,
            "platform_python_implementation"
            | "platform.python_implementation"
            | "python_implementation" => Variable::PlatformPythonImplementation,
            "implementation_name" => Variable::ImplementationName,
            "implementation_version" => Variable::ImplementationVersion,
            "extra" => Variable::Extra,
            "extras" => Variable::Extras,
            "dependency_groups" => Variable::DependencyGroups,
            _ => return None,
        })
    }

    /// The PEP 508 name.
    pub fn name(self) -> &'static str {
        match self {
            Variable::PythonVersion => "python_version",
            Variable::PythonFullVersion => "python_full_version",
            Variable::OsName => "os_name",
            Variable::SysPlatform => "sys_platform",
            Variable::PlatformRelease => "platform_release",
            Variable::PlatformSystem => "platform_system",
            Variable::PlatformVersion => "platform_version",
            Variable::PlatformMachine => "platform_machine",
            Variable::PlatformPythonImplementation => "platform_python_implementation",
            Variable::ImplementationName => "implementation_name",
            Variable::ImplementationVersion => "implementation_version",
            Variable::Extra => "extra",
            Variable::Extras => "extras",
            Variable::DependencyGroups => "dependency_groups",
        }
    }

    /// Whether its values are versions (compared as PEP 440 versions when both sides are).
    fn is_versionish(self) -> bool {
        matches!(
            self,
            Variable::PythonVersion
                | Variable::PythonFullVersion
                | Variable::ImplementationVersion
                | Variable::PlatformRelease
                | Variable::PlatformVersion
        )
    }

    /// Whether it is a set (only `in` / `not in` with a string on the left apply).
    fn is_set(self) -> bool {
        matches!(self, Variable::Extras | Variable::DependencyGroups)
    }
}

/// A marker comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerOp {
    /// A PEP 440 comparison operator (`==`, `<`, `~=`, `===`, …).
    Compare(Operator),
    /// `in` (substring, or membership for sets).
    In,
    /// `not in`.
    NotIn,
}

impl fmt::Display for MarkerOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MarkerOp::Compare(op) => f.write_str(op.as_str()),
            MarkerOp::In => f.write_str("in"),
            MarkerOp::NotIn => f.write_str("not in"),
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A marker variable.
    Variable(Variable),
    /// A quoted string.
    Literal(String),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Variable(v) => f.write_str(v.name()),
            Operand::Literal(s) if s.contains('"') => write!(f, "'{s}'"),
            Operand::Literal(s) => write!(f, "\"{s}\""),
        }
    }
}

/// A marker expression tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// Any must hold.
    Or(Vec<Expr>),
    /// A comparison.
    Compare {
        /// The left side.
        left: Operand,
        /// The operator.
        op: MarkerOp,
        /// The right side.
        right: Operand,
    },
}

impl Expr {
    fn fmt_in(&self, f: &mut fmt::Formatter<'_>, inside_and: bool) -> fmt::Result {
        match self {
            Expr::Compare { left, op, right } => write!(f, "{left} {op} {right}"),
            Expr::And(items) => join(f, items, " and ", true),
            Expr::Or(items) if inside_and => {
                f.write_str("(")?;
                join(f, items, " or ", false)?;
                f.write_str(")")
            }
            Expr::Or(items) => join(f, items, " or ", false),
        }
    }
}

fn join(f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str, inside_and: bool) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        item.fmt_in(f, inside_and)?;
    }
    Ok(())
}

/// A parsed PEP 508 environment marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The expression.
    pub expr: Expr,
}

/// The values of the marker variables for a target interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerEnv {
    /// `3.11`.
    pub python_version: String,
    /// `3.11.9`.
    pub python_full_version: String,
    /// `posix`.
    pub os_name: String,
    /// `linux`.
    pub sys_platform: String,
    /// `Linux`.
    pub platform_system: String,
    /// `x86_64`, `aarch64`.
    pub platform_machine: String,
    /// The kernel release (`platform.release()`); empty when unknown.
    pub platform_release: String,
    /// The kernel build (`platform.version()`); empty when unknown.
    pub platform_version: String,
    /// `CPython`.
    pub platform_python_implementation: String,
    /// `cpython`.
    pub implementation_name: String,
    /// `3.11.9`.
    pub implementation_version: String,
}

impl MarkerEnv {
    /// CPython `python_full_version` (`3.11.9`, `3.13.0rc1`) on Linux on `machine`; the
    /// kernel's release and version are unknown at build time, so empty.
    pub fn linux(python_full_version: &str, machine: &str) -> MarkerEnv {
        let full = python_full_version.trim();
        let mut parts = full.split('.');
        let major = parts.next().unwrap_or_default();
        let minor: String = parts
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let python_version = if minor.is_empty() {
            major.to_owned()
        } else {
            format!("{major}.{minor}")
        };
        MarkerEnv {
            python_version,
            python_full_version: full.to_owned(),
            os_name: "posix".into(),
            sys_platform: "linux".into(),
            platform_system: "Linux".into(),
            platform_machine: machine.to_owned(),
            platform_release: String::new(),
            platform_version: String::new(),
            platform_python_implementation: "CPython".into(),
            implementation_name: "cpython".into(),
            implementation_version: full.to_owned(),
        }
    }

    /// The value of a (non-extra) variable.
    fn value(&self, var: Variable) -> &str {
        match var {
            Variable::PythonVersion => &self.python_version,
            Variable::PythonFullVersion => &self.python_full_version,
            Variable::OsName => &self.os_name,
            Variable::SysPlatform => &self.sys_platform,
            Variable::PlatformRelease => &self.platform_release,
            Variable::PlatformSystem => &self.platform_system,
            Variable::PlatformVersion => &self.platform_version,
            Variable::PlatformMachine => &self.platform_machine,
            Variable::PlatformPythonImplementation => &self.platform_python_implementation,
            Variable::ImplementationName => &self.implementation_name,
            Variable::ImplementationVersion => &self.implementation_version,
            Variable::Extra | Variable::Extras | Variable::DependencyGroups => "",
        }
    }
}

/// A distribution (or extra, or group) name normalised as PEP 503 says: lowercased, each run
/// of `-`, `_` and `.` replaced by one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            in_run = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// A lexical token and its byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Str(String),
    Op(Operator),
    Word(String),
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::Str(s) => format!("the string {s:?}"),
            Token::Op(op) => format!("`{op}`"),
            Token::Word(w) => format!("`{w}`"),
            Token::End => "the end of the marker".into(),
        }
    }
}

/// The operand names listed in errors.
const VARIABLES: &str = "a marker variable (python_version, python_full_version, os_name, sys_platform, platform_release, platform_system, platform_version, platform_machine, platform_python_implementation, implementation_name, implementation_version, extra) or a quoted string";

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(Token, usize)>,
    next: usize,
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, MarkerError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let token = match b {
            b'(' => {
                i += 1;
                Token::Open
            }
            b')' => {
                i += 1;
                Token::Close
            }
            b'"' | b'\'' => {
                let Some(len) = text[i + 1..].find(char::from(b)) else {
                    return Err(MarkerError {
                        text: text.to_owned(),
                        position: start,
                        expected: format!("a closing {}", char::from(b)),
                        found: "the end of the marker".into(),
                    });
                };
                let s = text[i + 1..i + 1 + len].to_owned();
                i += len + 2;
                Token::Str(s)
            }
            b'=' | b'!' | b'<' | b'>' | b'~' => match Operator::split_prefix(&text[i..]) {
                Some((op, _)) => {
                    i += op.as_str().len();
                    Token::Op(op)
                }
                None => {
                    return Err(MarkerError {
                        text: text.to_owned(),
                        position: start,
                        expected: "a comparison operator (==, !=, <, <=, >, >=, ~=, ===)".into(),
                        found: format!("`{}`", &text[i..=i]),
                    });
                }
            },
            _ if b.is_ascii_alphanumeric() || b == b'_' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || b"_.".contains(&bytes[i]))
                {
                    i += 1;
                }
                Token::Word(text[start..i].to_owned())
            }
            _ => {
                let c = text[i..].chars().next().unwrap_or_default();
                return Err(MarkerError {
                    text: text.to_owned(),
                    position: start,
                    expected: VARIABLES.into(),
                    found: format!("`{c}`"),
                });
            }
        };
        out.push((token, start));
    }
    out.push((Token::End, text.len()));
    Ok(out)
}

impl Parser<'_> {
    fn peek(&self) -> &(Token, usize) {
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> (Token, usize) {
        let t = self.peek().clone();
        if self.next < self.tokens.len() - 1 {
            self.next += 1;
        }
        t
    }

    fn error(&self, expected: &str, at: &(Token, usize)) -> MarkerError {
        MarkerError {
            text: self.text.to_owned(),
            position: at.1,
            expected: expected.to_owned(),
            found: at.0.describe(),
        }
    }

    fn at_word(&self, word: &str) -> bool {
        matches!(&self.peek().0, Token::Word(w) if w == word)
    }

    fn or(&mut self) -> Result<Expr, MarkerError> {
        let mut items = vec![self.and()?];
        while self.at_word("or") {
            self.bump();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, MarkerError> {
        let mut items = vec![self.atom()?];
        while self.at_word("and") {
            self.bump();
            items.push(self.atom()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn atom(&mut self) -> Result<Expr, MarkerError> {
        if self.peek().0 == Token::Open {
            self.bump();
            let inner = self.or()?;
            let close = self.bump();
            if close.0 != Token::Close {
                return Err(self.error("`)` (or `and`, `or`)", &close));
            }
            return Ok(inner);
        }
        let start = self.peek().clone();
        let left = self.operand()?;
        let op = self.op()?;
        let right = self.operand()?;
        match (&left, &right) {
            (Operand::Literal(_), Operand::Literal(_)) => {
                return Err(self.error(
                    "a comparison of a marker variable (two quoted strings are compared)",
                    &start,
                ));
            }
            (Operand::Variable(v), _) | (_, Operand::Variable(v)) if v.is_set() => {
                let string_in_set = matches!(
                    (&left, op, &right),
                    (
                        Operand::Literal(_),
                        MarkerOp::In | MarkerOp::NotIn,
                        Operand::Variable(_)
                    )
                );
                if !string_in_set {
                    return Err(
                        self.error(&format!("`\"name\" in {}` or `not in`", v.name()), &start)
                    );
                }
            }
            _ => {}
        }
        Ok(Expr::Compare { left, op, right })
    }

    fn operand(&mut self) -> Result<Operand, MarkerError> {
        let token = self.bump();
        match &token.0 {
            Token::Str(s) => Ok(Operand::Literal(s.clone())),
            Token::Word(w) => Variable::from_name(w)
                .map(Operand::Variable)
                .ok_or_else(|| self.error(VARIABLES, &token)),
            _ => Err(self.error(VARIABLES, &token)),
        }
    }

    fn op(&mut self) -> Result<MarkerOp, MarkerError> {
        let token = self.bump();
        match &token.0 {
            Token::Op(op) => Ok(MarkerOp::Compare(*op)),
            Token::Word(w) if w == "in" => Ok(MarkerOp::In),
            Token::Word(w) if w == "not" => {
                let next = self.bump();
                if matches!(&next.0, Token::Word(w) if w == "in") {
                    Ok(MarkerOp::NotIn)
                } else {
                    Err(self.error("`in` after `not`", &next))
                }
            }
            _ => Err(self.error(
                "a comparison operator (==, !=, <, <=, >, >=, ~=, ===, in, not in)",
                &token,
            )),
        }
    }
}

/// Compare two values as PEP 508 says: as PEP 440 versions when `versions` and the operator
/// and the right side form a specifier and the left side is a version, else as strings
/// (`~=` has no string meaning and is false).
fn compare_values(left: &str, op: MarkerOp, right: &str, versions: bool) -> bool {
    let op = match op {
        MarkerOp::In => return right.contains(left),
        MarkerOp::NotIn => return !right.contains(left),
        MarkerOp::Compare(op) => op,
    };
    if versions
        && let Ok(spec) = Specifier::parse(&format!("{op}{right}"))
        && let Ok(version) = Version::parse(left)
    {
        return spec.matches(&version);
    }
    match op {
        Operator::Equal => left == right,
        Operator::NotEqual => left != right,
        Operator::Less => left < right,
        Operator::LessEqual => left <= right,
        Operator::Greater => left > right,
        Operator::GreaterEqual => left >= right,
        Operator::Arbitrary => left.eq_ignore_ascii_case(right),
        Operator::Compatible => false,
    }
}

impl Marker {
    /// Parse marker text (the part after `;` in a requirement).
    pub fn parse(text: &str) -> Result<Marker, MarkerError> {
        let mut parser = Parser {
            text,
            tokens: tokenize(text)?,
            next: 0,
        };
        let expr = parser.or()?;
        let end = parser.peek().clone();
        if end.0 != Token::End {
            return Err(parser.error("`and`, `or` or the end of the marker", &end));
        }
        Ok(Marker { expr })
    }

    /// Whether the marker holds in `env` with `extras` (normalised names) requested: an
    /// `extra` comparison holds when it holds for any of them; with none, `extra` is `""`.
    pub fn evaluate(&self, env: &MarkerEnv, extras: &BTreeSet<String>) -> bool {
        eval(&self.expr, env, extras)
    }
}

fn eval(expr: &Expr, env: &MarkerEnv, extras: &BTreeSet<String>) -> bool {
    match expr {
        Expr::And(items) => items.iter().all(|e| eval(e, env, extras)),
        Expr::Or(items) => items.iter().any(|e| eval(e, env, extras)),
        Expr::Compare { left, op, right } => compare(left, *op, right, env, extras),
    }
}

fn compare(
    left: &Operand,
    op: MarkerOp,
    right: &Operand,
    env: &MarkerEnv,
    extras: &BTreeSet<String>,
) -> bool {
    let is = |var: Variable| {
        matches!(left, Operand::Variable(v) if *v == var)
            || matches!(right, Operand::Variable(v) if *v == var)
    };
    if is(Variable::Extras) || is(Variable::DependencyGroups) {
        // Checked at parse time: `"name" in <set>`.
        let (Operand::Literal(name), Operand::Variable(set)) = (left, right) else {
            return false;
        };
        let member = *set == Variable::Extras && extras.contains(&normalize_name(name));
        return member == (op == MarkerOp::In);
    }
    if is(Variable::Extra) {
        let side = |o: &Operand, extra: &str| match o {
            Operand::Variable(Variable::Extra) => normalize_name(extra),
            Operand::Variable(v) => env.value(*v).to_owned(),
            Operand::Literal(s) => normalize_name(s),
        };
        let holds =
            |extra: &str| compare_values(&side(left, extra), op, &side(right, extra), false);
        return if extras.is_empty() {
            holds("")
        } else {
            extras.iter().any(|e| holds(e))
        };
    }
    let versionish = [left, right]
        .iter()
        .any(|o| matches!(o, Operand::Variable(v) if v.is_versionish()));
    let value = |o: &Operand| match o {
        Operand::Variable(v) => env.value(*v).to_owned(),
        Operand::Literal(s) => s.clone(),
    };
    compare_values(&value(left), op, &value(right), versionish)
}

impl std::str::FromStr for Marker {
    type Err = MarkerError;

    fn from_str(text: &str) -> Result<Self, MarkerError> {
        Marker::parse(text)
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt_in(f, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> MarkerEnv {
        MarkerEnv::linux("3.11.9", "x86_64")
    }

    fn holds(marker: &str, extras: &[&str]) -> bool {
        let extras: BTreeSet<String> = extras.iter().map(|e| normalize_name(e)).collect();
        Marker::parse(marker)
            .unwrap_or_else(|e| panic!("{e}"))
            .evaluate(&env(), &extras)
    }

    #[test]
    fn the_linux_environment() {
        let e = env();
        assert_eq!(e.python_version, "3.11");
        assert_eq!(e.python_full_version, "3.11.9");
        assert_eq!(e.implementation_version, "3.11.9");
        assert_eq!(e.os_name, "posix");
        assert_eq!(e.sys_platform, "linux");
        assert_eq!(e.platform_system, "Linux");
        assert_eq!(e.platform_machine, "x86_64");
        assert_eq!(e.platform_python_implementation, "CPython");
        assert_eq!(e.implementation_name, "cpython");
        assert_eq!(e.platform_release, "");
        assert_eq!(e.platform_version, "");
        assert_eq!(
            MarkerEnv::linux("3.13.0rc1", "aarch64").python_version,
            "3.13"
        );
        assert_eq!(MarkerEnv::linux("3.14", "aarch64").python_version, "3.14");
    }

    #[test]
    fn version_comparisons() {
        assert!(holds("python_version >= '3.8'", &[]));
        assert!(holds("python_version >= \"3.11\"", &[]));
        assert!(!holds("python_version > '3.11'", &[]));
        assert!(
            holds("python_version > '3.9'", &[]),
            "3.11 > 3.9 as versions"
        );
        assert!(holds("python_version < '3.12'", &[]));
        assert!(holds("python_version == '3.11'", &[]));
        assert!(holds("python_version != '3.10'", &[]));
        assert!(holds("python_full_version >= '3.11.2'", &[]));
        assert!(!holds("python_full_version < '3.11.2'", &[]));
        assert!(holds("python_full_version == '3.11.*'", &[]));
        assert!(!holds("python_full_version == '3.1.*'", &[]));
        assert!(holds("python_version ~= '3.9'", &[]));
        assert!(holds("python_full_version ~= '3.11.0'", &[]));
        assert!(!holds("python_full_version ~= '3.10.0'", &[]));
        assert!(holds("implementation_version >= '3'", &[]));
        assert!(holds("python_full_version === '3.11.9'", &[]));
        // The literal on the left.
        assert!(holds("'3.9' < python_version", &[]));
        assert!(!holds("'3.12' <= python_version", &[]));
        // Pre-releases compare as versions (markers admit them).
        let rc = MarkerEnv::linux("3.13.0rc1", "x86_64");
        let m = Marker::parse("python_full_version >= '3.13.0a1'").unwrap();
        assert!(m.evaluate(&rc, &BTreeSet::new()));
        let m = Marker::parse("python_full_version < '3.13'").unwrap();
        assert!(
            !m.evaluate(&rc, &BTreeSet::new()),
            "3.13.0rc1 is excluded by <3.13"
        );
        let m = Marker::parse("python_full_version >= '3.12'").unwrap();
        assert!(m.evaluate(&rc, &BTreeSet::new()));
    }

    #[test]
    fn string_comparisons() {
        assert!(holds("os_name == 'posix'", &[]));
        assert!(holds("os_name != 'nt'", &[]));
        assert!(holds("sys_platform == \"linux\"", &[]));
        assert!(!holds("sys_platform == 'win32'", &[]));
        assert!(!holds("sys_platform == 'Linux'", &[]), "case matters");
        assert!(holds("platform_system == 'Linux'", &[]));
        assert!(holds("platform_machine == 'x86_64'", &[]));
        assert!(holds("platform_python_implementation == 'CPython'", &[]));
        assert!(holds("implementation_name == 'cpython'", &[]));
        assert!(holds("'linux' in sys_platform", &[]));
        assert!(
            holds("'lin' in sys_platform", &[]),
            "in is a substring test"
        );
        assert!(holds("sys_platform in 'linux darwin'", &[]));
        assert!(!holds("sys_platform not in 'linux darwin'", &[]));
        assert!(holds("platform_machine not in 'arm64 aarch64'", &[]));
        assert!(holds("os_name > 'nt'", &[]), "Python's string order");
        assert!(
            !holds("os_name ~= 'posix'", &[]),
            "~= has no string meaning"
        );
        // Non-versions of a version-ish variable fall back to strings.
        assert!(holds("platform_release == ''", &[]));
        assert!(!holds("platform_release >= '5.10'", &[]));
        assert!(holds("python_version == '3.11'", &[]));
        assert!(!holds("python_version == '3.11.*x'", &[]));
        // Old spellings.
        assert!(holds("os.name == 'posix' and sys.platform == 'linux'", &[]));
        assert!(holds("python_implementation == 'CPython'", &[]));
        assert!(holds("platform.machine == 'x86_64'", &[]));
        // Both sides variables.
        assert!(holds("os_name != sys_platform", &[]));
    }

    #[test]
    fn and_or_and_parentheses() {
        assert!(holds(
            "python_version >= '3.8' and sys_platform == 'linux'",
            &[]
        ));
        assert!(!holds(
            "python_version >= '3.8' and sys_platform == 'win32'",
            &[]
        ));
        assert!(holds("sys_platform == 'win32' or os_name == 'posix'", &[]));
        // `and` binds tighter than `or`.
        assert!(holds(
            "os_name == 'posix' or os_name == 'nt' and sys_platform == 'win32'",
            &[]
        ));
        assert!(!holds(
            "(os_name == 'posix' or os_name == 'nt') and sys_platform == 'win32'",
            &[]
        ));
        assert!(holds(
            "((python_version>='3.8'))and(platform_machine=='x86_64'or platform_machine=='aarch64')",
            &[]
        ));
        assert!(holds("  os_name=='posix'  ", &[]));
        assert!(holds(
            "platform_python_implementation != 'PyPy' and (python_version < '3.12' or extra == 'x')",
            &[]
        ));
    }

    #[test]
    fn extras_compare_normalised() {
        assert!(holds("extra == 'socks'", &["socks"]));
        assert!(!holds("extra == 'socks'", &[]));
        assert!(!holds("extra == 'socks'", &["tls"]));
        assert!(holds("extra == 'Socks_Proxy'", &["socks-proxy"]));
        assert!(holds("extra == 'socks.proxy'", &["Socks__Proxy"]));
        assert!(holds("'socks' == extra", &["socks"]));
        assert!(holds(
            "python_version >= '3' and extra == \"tls\"",
            &["tls", "x"]
        ));
        assert!(holds("extra != 'tls'", &[]));
        assert!(holds("extra == 'a' and extra == 'b'", &["a", "b"]));
        assert!(holds("extra == 'b' or os_name == 'nt'", &["b"]));
        assert!(holds("'a' in extras", &["a", "b"]));
        assert!(holds("'A_' in extras", &["a-"]));
        assert!(!holds("'c' in extras", &["a", "b"]));
        assert!(holds("'c' not in extras", &["a"]));
        assert!(!holds("'dev' in dependency_groups", &[]));
        assert!(holds("'dev' not in dependency_groups", &[]));
    }

    #[test]
    fn errors_name_the_marker_and_place() {
        for (bad, position) in [
            ("", 0),
            ("python_version", 14),
            ("python_version >= ", 18),
            ("'a' == 'b'", 0),
            ("foo == 'x'", 0),
            ("(os_name == 'posix'", 19),
            ("os_name == 'posix')", 18),
            ("os_name == 'posix' trailing", 19),
            ("os_name not 'x'", 12),
            ("os_name == 'x", 11),
            ("os_name = 'x'", 8),
            ("os_name == 'x' and", 18),
            ("os_name == 'x' && os_name == 'y'", 15),
            ("extras == 'a'", 0),
            ("python_version >= 3.8", 18),
            ("()", 1),
        ] {
            let e = Marker::parse(bad).unwrap_err();
            assert_eq!(e.text, bad);
            assert_eq!(e.position, position, "{bad}: {e}");
            let message = e.to_string();
            assert!(message.contains(&format!("{bad:?}")), "{message}");
            assert!(message.contains("expected"), "{message}");
        }
        let e = Marker::parse("python_version >= ").unwrap_err();
        assert!(e.expected.contains("quoted string"), "{e}");
        assert_eq!(e.found, "the end of the marker");
    }

    #[test]
    fn markers_display_normalised() {
        let m = Marker::parse(
            "(os_name=='posix' or os_name=='nt')and python_version>='3.8' and 'x' not in extra",
        )
        .unwrap();
        assert_eq!(
            m.to_string(),
            "(os_name == \"posix\" or os_name == \"nt\") and python_version >= \"3.8\" and \"x\" not in extra"
        );
        let m = Marker::parse("sys.platform == 'a\"b'").unwrap();
        assert_eq!(m.to_string(), "sys_platform == 'a\"b'");
        let again = Marker::parse(&m.to_string()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn names_normalise_as_pep_503() {
        assert_eq!(normalize_name("Foo.Bar__baz"), "foo-bar-baz");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("Typing_Extensions"), "typing-extensions");
        assert_eq!(normalize_name("a-_.-b"), "a-b");
        assert_eq!(normalize_name("friendly-bard"), "friendly-bard");
        assert_eq!(normalize_name("FRIENDLY.._BARD"), "friendly-bard");
        assert_eq!(normalize_name(" pkg "), "pkg");
        assert_eq!(normalize_name(""), "");
    }
}
