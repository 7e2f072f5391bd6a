//! PEP 508 environment markers: parsed once, evaluated for a target.

use std::collections::BTreeSet;

use crate::pep440::{Op, Specifier, Specifiers, Version};

/// A marker that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("marker {text:?}: {why} at position {at}")]
pub struct MarkerError {
    /// The marker text.
    pub text: String,
    /// Byte offset of the problem.
    pub at: usize,
    /// What was expected.
    pub why: String,
}

/// The values markers are evaluated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerEnv {
    /// `3.11`.
    pub python_version: String,
    /// `3.11.2`.
    pub python_full_version: String,
    /// `posix`.
    pub os_name: String,
    /// `linux`.
    pub sys_platform: String,
    /// `Linux`.
    pub platform_system: String,
    /// `x86_64`.
    pub platform_machine: String,
    /// Kernel release (unknown at build time: empty).
    pub platform_release: String,
    /// Kernel version (unknown: empty).
    pub platform_version: String,
    /// `CPython`.
    pub platform_python_implementation: String,
    /// `cpython`.
    pub implementation_name: String,
    /// `3.11.2`.
    pub implementation_version: String,
}

impl MarkerEnv {
    /// CPython `python_full_version` on Linux on `machine`.
    pub fn linux(python_full_version: &str, machine: &str) -> Self {
        let short: Vec<&str> = python_full_version.split('.').take(2).collect();
        Self {
            python_version: short.join("."),
            python_full_version: python_full_version.to_owned(),
            os_name: "posix".into(),
            sys_platform: "linux".into(),
            platform_system: "Linux".into(),
            platform_machine: machine.to_owned(),
            platform_release: String::new(),
            platform_version: String::new(),
            platform_python_implementation: "CPython".into(),
            implementation_name: "cpython".into(),
            implementation_version: python_full_version.to_owned(),
        }
    }

    fn get(&self, var: &str) -> Option<&str> {
        Some(match var {
            "python_version" => &self.python_version,
            "python_full_version" => &self.python_full_version,
            "os_name" | "os.name" => &self.os_name,
            "sys_platform" | "sys.platform" => &self.sys_platform,
            "platform_system" => &self.platform_system,
            "platform_machine" | "platform.machine" => &self.platform_machine,
            "platform_release" => &self.platform_release,
            "platform_version" | "platform.version" => &self.platform_version,
            "platform_python_implementation" | "platform.python_implementation" => {
                &self.platform_python_implementation
            }
            "implementation_name" => &self.implementation_name,
            "implementation_version" => &self.implementation_version,
            _ => return None,
        })
    }
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Var(String),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkerOp {
    Version(Op),
    In,
    NotIn,
}

/// A parsed marker expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// Both hold.
    And(Box<Marker>, Box<Marker>),
    /// Either holds.
    Or(Box<Marker>, Box<Marker>),
    /// One comparison.
    Compare(ValuePair),
}

/// One comparison's operands and operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePair {
    left: Value,
    op: MarkerOp,
    right: Value,
}

const VARIABLES: &[&str] = &[
    "python_version",
    "python_full_version",
    "os_name",
    "os.name",
    "sys_platform",
    "sys.platform",
    "platform_release",
    "platform_system",
    "platform_version",
    "platform.version",
    "platform_machine",
    "platform.machine",
    "platform_python_implementation",
    "platform.python_implementation",
    "implementation_name",
    "implementation_version",
    "extra",
];

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, why: &str) -> MarkerError {
        MarkerError {
            text: self.text.to_owned(),
            at: self.pos,
            why: why.to_owned(),
        }
    }

    fn skip_ws(&mut self) {
        while self.rest().starts_with(char::is_whitespace) {
            self.pos += self.rest().chars().next().map_or(1, char::len_utf8);
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        if rest.starts_with(word)
            && !rest[word.len()..]
                .starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Marker, MarkerError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            let right = self.and()?;
            left = Marker::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Marker, MarkerError> {
        let mut left = self.atom()?;
        while self.keyword("and") {
            let right = self.atom()?;
            left = Marker::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Marker, MarkerError> {
        self.skip_ws();
        if self.rest().starts_with('(') {
            self.pos += 1;
            let inner = self.or()?;
            self.skip_ws();
            if !self.rest().starts_with(')') {
                return Err(self.err("expected `)`"));
            }
            self.pos += 1;
            return Ok(inner);
        }
        let left = self.value()?;
        let op = self.op()?;
        let right = self.value()?;
        if matches!((&left, &right), (Value::Str(_), Value::Str(_))) {
            return Err(self.err("a comparison needs a marker variable on one side"));
        }
        Ok(Marker::Compare(ValuePair { left, op, right }))
    }

    fn value(&mut self) -> Result<Value, MarkerError> {
        self.skip_ws();
        let rest = self.rest();
        if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let end = rest[1..]
                .find(q)
                .ok_or_else(|| self.err("unterminated string"))?;
            let s = rest[1..=end].to_owned();
            self.pos += end + 2;
            return Ok(Value::Str(s));
        }
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        let word = &rest[..len];
        if VARIABLES.contains(&word) {
            self.pos += len;
            Ok(Value::Var(word.to_owned()))
        } else {
            Err(self.err("expected a marker variable or a quoted string"))
        }
    }

    fn op(&mut self) -> Result<MarkerOp, MarkerError> {
        self.skip_ws();
        let text = self.text;
        if let Some((op, rest)) = Op::split(&text[self.pos..]) {
            let rest_len = rest.len();
            self.pos = self.text.len() - rest_len;
            return Ok(MarkerOp::Version(op));
        }
        if self.keyword("in") {
            return Ok(MarkerOp::In);
        }
        if self.keyword("not") {
            if self.keyword("in") {
                return Ok(MarkerOp::NotIn);
            }
            return Err(self.err("expected `in` after `not`"));
        }
        Err(self.err("expected a comparison operator"))
    }
}

impl Marker {
    /// Parse marker text.
    pub fn parse(text: &str) -> Result<Marker, MarkerError> {
        let mut p = Parser { text, pos: 0 };
        let m = p.or()?;
        p.skip_ws();
        if !p.rest().is_empty() {
            return Err(p.err("unexpected text"));
        }
        Ok(m)
    }

    /// Whether the marker holds for `env` with these extras active.
    pub fn evaluate(&self, env: &MarkerEnv, extras: &BTreeSet<String>) -> bool {
        match self {
            Marker::And(a, b) => a.evaluate(env, extras) && b.evaluate(env, extras),
            Marker::Or(a, b) => a.evaluate(env, extras) || b.evaluate(env, extras),
            Marker::Compare(c) => c.evaluate(env, extras),
        }
    }
}

fn is_version_var(v: &Value) -> bool {
    matches!(v, Value::Var(n) if matches!(n.as_str(), "python_version" | "python_full_version" | "implementation_version" | "platform_release"))
}

fn compare_str(op: MarkerOp, l: &str, r: &str) -> bool {
    match op {
        MarkerOp::In => r.contains(l),
        MarkerOp::NotIn => !r.contains(l),
        MarkerOp::Version(op) => match op {
            Op::Eq | Op::Arbitrary => l == r,
            Op::Ne => l != r,
            Op::Lt => l < r,
            Op::Le => l <= r,
            Op::Gt => l > r,
            Op::Ge => l >= r,
            Op::Compatible => false,
        },
    }
}

impl ValuePair {
    fn evaluate(&self, env: &MarkerEnv, extras: &BTreeSet<String>) -> bool {
        let is_extra = |v: &Value| matches!(v, Value::Var(n) if n == "extra");
        if is_extra(&self.left) || is_extra(&self.right) {
            let other = match (&self.left, &self.right) {
                (Value::Str(s), _) | (_, Value::Str(s)) => normalize_name(s),
                _ => return false,
            };
            let any = extras.iter().any(|e| normalize_name(e) == other);
            return match self.op {
                MarkerOp::Version(Op::Eq | Op::Arbitrary) | MarkerOp::In => any,
                MarkerOp::Version(Op::Ne) | MarkerOp::NotIn => !any,
                MarkerOp::Version(_) => false,
            };
        }
        let resolve = |v: &Value| match v {
            Value::Var(n) => env.get(n).unwrap_or("").to_owned(),
            Value::Str(s) => s.clone(),
        };
        let (l, r) = (resolve(&self.left), resolve(&self.right));
        if let MarkerOp::Version(op) = self.op
            && (is_version_var(&self.left) || is_version_var(&self.right))
            && let (Ok(lv), Some(spec)) = (l.parse::<Version>(), specifier(op, &r))
        {
            return Specifiers(vec![spec]).matches_all(&lv);
        }
        compare_str(self.op, &l, &r)
    }
}

fn specifier(op: Op, right: &str) -> Option<Specifier> {
    let text = match op {
        Op::Eq => "==",
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Compatible => "~=",
        Op::Arbitrary => "===",
    };
    format!("{text}{right}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(marker: &str, extras: &[&str]) -> bool {
        let env = MarkerEnv::linux("3.11.2", "x86_64");
        let extras = extras.iter().map(|s| (*s).to_owned()).collect();
        Marker::parse(marker).unwrap().evaluate(&env, &extras)
    }

    #[test]
    fn comparisons_of_versions_and_strings() {
        assert!(holds("python_version >= \"3.8\"", &[]));
        assert!(!holds("python_version < '3.8'", &[]));
        assert!(
            holds("python_version > '3.9'", &[]),
            "3.11 > 3.9 as versions"
        );
        assert!(holds("'3.8' < python_version", &[]));
        assert!(holds("python_full_version == '3.11.*'", &[]));
        assert!(holds(
            "sys_platform == 'linux' and platform_machine == \"x86_64\"",
            &[]
        ));
        assert!(!holds("sys_platform == 'win32' or os_name == 'nt'", &[]));
        assert!(holds(
            "(sys_platform == 'win32' or os_name == 'posix') and implementation_name == 'cpython'",
            &[]
        ));
        assert!(holds("platform_machine in 'x86_64 aarch64'", &[]));
        assert!(holds("platform_system not in 'Windows Darwin'", &[]));
        assert!(holds("platform_python_implementation == 'CPython'", &[]));
    }

    #[test]
    fn extras_are_normalised() {
        assert!(!holds("extra == 'socks'", &[]));
        assert!(holds("extra == 'Socks_Proxy'", &["socks-proxy"]));
        assert!(holds(
            "python_version >= '3' and extra == \"tls\"",
            &["tls", "x"]
        ));
        assert!(holds("extra != 'tls'", &[]));
    }

    #[test]
    fn errors_name_the_marker_and_place() {
        for bad in [
            "python_version",
            "python_version >= ",
            "'a' == 'b'",
            "foo == 'x'",
            "(os_name == 'posix'",
            "os_name == 'posix' trailing",
            "os_name not 'x'",
            "os_name == 'x",
        ] {
            let e = Marker::parse(bad).unwrap_err();
            assert_eq!(e.text, bad);
        }
    }

    #[test]
    fn names_normalise_as_pep_503() {
        assert_eq!(normalize_name("Foo.Bar__baz-"), "foo-bar-baz");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
    }
}
