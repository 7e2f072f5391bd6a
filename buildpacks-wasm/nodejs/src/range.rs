//! npm semver ranges (`engines.node`) on top of the `semver` crate: `||` alternatives,
//! hyphen ranges, space-separated comparators, `x` wildcards and `v` prefixes.

use semver::{Version, VersionReq};

/// A parsed npm range: any alternative may match.
#[derive(Debug, Clone)]
pub struct NpmRange {
    alternatives: Vec<VersionReq>,
}

impl NpmRange {
    /// Parse an npm range. Empty, `*`, `x` and `latest` match everything.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let alt = alt.trim();
            let req = if alt.is_empty() || alt == "*" || alt == "latest" || alt == "x" {
                VersionReq::STAR
            } else if let Some((low, high)) = alt.split_once(" - ") {
                VersionReq::parse(&format!(
                    ">={}, <={}",
                    clean(low.trim()),
                    clean(high.trim())
                ))
                .map_err(|e| format!("{text:?}: {e}"))?
            } else {
                let mut parts: Vec<String> = Vec::new();
                let mut pending_op = String::new();
                for token in alt.split_whitespace() {
                    if token.chars().all(|c| "<>=~^".contains(c)) {
                        pending_op.push_str(token);
                    } else {
                        parts.push(format!("{pending_op}{}", clean(token)));
                        pending_op.clear();
                    }
                }
                VersionReq::parse(&parts.join(", ")).map_err(|e| format!("{text:?}: {e}"))?
            };
            alternatives.push(req);
        }
        Ok(Self { alternatives })
    }

    /// Whether `v` satisfies the range.
    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives.iter().any(|r| r.matches(v))
    }
}

/// Drop a `v` prefix (also after an operator) and turn `x`/`X` wildcards into `*`.
fn clean(token: &str) -> String {
    let op_len = token
        .find(|c: char| !"<>=~^".contains(c))
        .unwrap_or(token.len());
    let (op, rest) = token.split_at(op_len);
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    let rest = rest
        .split('.')
        .map(|p| if p == "x" || p == "X" { "*" } else { p })
        .collect::<Vec<_>>()
        .join(".");
    format!("{op}{rest}")
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
        assert!(NpmRange::parse(">=banana").is_err());
    }
}
