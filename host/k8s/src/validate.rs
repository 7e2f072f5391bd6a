//! Checks on the settings, done before any object is built so errors name the bad input.

use std::collections::BTreeMap;

use crate::{FleetSettings, K8sError, SpecFile};

/// Longest `name`: a CronJob name is at most 52 characters (its Jobs add an 11-character
/// suffix and must stay DNS-1123 labels); the indexed Job uses the same limit.
pub const MAX_NAME_LEN: usize = 52;

/// Largest total size of a ConfigMap's keys and values, as the API server enforces it.
pub const MAX_CONFIG_MAP_BYTES: usize = 1024 * 1024;

/// File extensions Kiln reads as image specs (compared case-insensitively).
pub const SPEC_EXTENSIONS: &[&str] = &["toml", "yaml", "yml"];

/// Every check shared by both kinds of manifest.
pub(crate) fn settings(s: &FleetSettings) -> Result<(), K8sError> {
    dns_label("name", &s.name, MAX_NAME_LEN)?;
    if let Some(ns) = &s.namespace {
        dns_label("namespace", ns, 63)?;
    }
    dns_subdomain("registry_secret", &s.registry_secret)?;
    if s.image.is_empty() || s.image.chars().any(char::is_whitespace) {
        return Err(K8sError::InvalidImage(s.image.clone()));
    }
    if s.jobs == 0 {
        return Err(K8sError::ZeroJobs);
    }
    if let Some(q) = &s.work_size_limit {
        quantity(q)?;
    }
    specs(&s.specs)
}

/// A DNS-1123 label: lowercase alphanumerics and `-`, starting and ending alphanumeric.
pub(crate) fn dns_label(field: &'static str, value: &str, max: usize) -> Result<(), K8sError> {
    let bad = |reason: String| K8sError::InvalidName {
        field,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(bad("must not be empty".into()));
    }
    if value.len() > max {
        return Err(bad(format!("must be at most {max} characters")));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad(
            "must be a DNS-1123 label: lowercase letters, digits and '-' only".into(),
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(bad("must start and end with a letter or digit".into()));
    }
    Ok(())
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, 253 characters at most.
fn dns_subdomain(field: &'static str, value: &str) -> Result<(), K8sError> {
    if value.len() > 253 {
        return Err(K8sError::InvalidName {
            field,
            value: value.to_owned(),
            reason: "must be at most 253 characters".into(),
        });
    }
    value
        .split('.')
        .try_for_each(|label| dns_label(field, label, 63))
        .map_err(|e| match e {
            K8sError::InvalidName { field, reason, .. } => K8sError::InvalidName {
                field,
                value: value.to_owned(),
                reason: format!(
                    "must be a DNS-1123 subdomain ({reason} in each dot-separated part)"
                ),
            },
            other => other,
        })
}

/// A Kubernetes quantity: a decimal number and an optional suffix (`Ki`..`Ei`, `n`, `u`,
/// `m`, `k`, `M`..`E`, or `e<exponent>`).
pub(crate) fn quantity(q: &str) -> Result<(), K8sError> {
    let bad = || K8sError::InvalidQuantity(q.to_owned());
    let body = q.strip_prefix(['+', '-']).unwrap_or(q);
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(split);
    let mut parts = number.split('.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next();
    if parts.next().is_some() || (whole.is_empty() && frac.is_none_or(str::is_empty)) {
        return Err(bad());
    }
    if SUFFIXES.contains(&suffix) {
        return Ok(());
    }
    let exponent = suffix
        .strip_prefix(['e', 'E'])
        .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e));
    match exponent {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(bad()),
    }
}

/// Quantity suffixes Kubernetes accepts (binary, decimal SI).
const SUFFIXES: &[&str] = &[
    "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
];

/// Spec files: valid, unique ConfigMap keys that Kiln reads, unique image names, and a
/// total size that fits one ConfigMap.
fn specs(specs: &[SpecFile]) -> Result<(), K8sError> {
    let mut files = std::collections::BTreeSet::new();
    let mut images: BTreeMap<&str, &str> = BTreeMap::new();
    let mut bytes = 0usize;
    for spec in specs {
        spec_file_name(&spec.file_name)?;
        if !files.insert(spec.file_name.as_str()) {
            return Err(K8sError::DuplicateSpecFile(spec.file_name.clone()));
        }
        if spec.image_name.is_empty() || spec.image_name.chars().any(char::is_control) {
            return Err(K8sError::InvalidImageName {
                file: spec.file_name.clone(),
                image: spec.image_name.clone(),
            });
        }
        if let Some(first) = images.insert(&spec.image_name, &spec.file_name) {
            return Err(K8sError::DuplicateImageName {
                image: spec.image_name.clone(),
                first: first.to_owned(),
                second: spec.file_name.clone(),
            });
        }
        bytes += spec.file_name.len() + spec.contents.len();
    }
    if bytes > MAX_CONFIG_MAP_BYTES {
        return Err(K8sError::SpecsTooLarge {
            bytes,
            limit: MAX_CONFIG_MAP_BYTES,
        });
    }
    Ok(())
}

/// A ConfigMap key (`[-._a-zA-Z0-9]+`, at most 253 characters, not `.`/`..`-prefixed)
/// that Kiln reads as a spec: not hidden, ending in `.toml`, `.yaml` or `.yml`.
fn spec_file_name(name: &str) -> Result<(), K8sError> {
    let bad = |reason: &str| K8sError::InvalidSpecFileName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(bad("must not be empty"));
    }
    if name.len() > 253 {
        return Err(bad("must be at most 253 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(bad(
            "a ConfigMap key may only contain letters, digits, '-', '_' and '.'",
        ));
    }
    if name.starts_with('.') {
        return Err(bad("must not start with '.' (Kiln skips hidden files)"));
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !SPEC_EXTENSIONS.contains(&extension.as_str()) {
        return Err(bad("must end in .toml, .yaml or .yml"));
    }
    Ok(())
}
