//! `order.toml`: the groups detection tries, in order (CNB Platform API `[[order]]` format).

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderToml {
    order: Vec<GroupToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupToml {
    group: Vec<EntryToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryToml {
    id: String,
    version: Option<String>,
    #[serde(default)]
    optional: bool,
}

/// One buildpack reference of an order file, before it is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    /// Buildpack id.
    pub id: String,
    /// Required version, if given.
    pub version: Option<String>,
    /// May be dropped.
    pub optional: bool,
}

/// An order file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct OrderError {
    /// The file.
    pub path: String,
    /// What is wrong and what to do.
    pub reason: String,
}

/// Parse an order file into groups of references.
pub fn parse(path: &Path) -> Result<Vec<Vec<OrderRef>>, OrderError> {
    let err = |reason: String| OrderError {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let parsed: OrderToml = toml::from_str(&text).map_err(|e| {
        err(format!(
            "invalid order file: {}; expected [[order]] tables of [[order.group]] entries with id, version and optional",
            e.message()
        ))
    })?;
    if parsed.order.is_empty() || parsed.order.iter().any(|g| g.group.is_empty()) {
        return Err(err(
            "every [[order]] needs at least one [[order.group]] entry".into(),
        ));
    }
    Ok(parsed
        .order
        .into_iter()
        .map(|g| {
            g.group
                .into_iter()
                .map(|e| OrderRef {
                    id: e.id,
                    version: e.version,
                    optional: e.optional,
                })
                .collect()
        })
        .collect())
}
