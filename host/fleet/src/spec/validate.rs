//! The checks every spec passes, whatever its format: each names the file and the key.

use std::path::Component;

use super::{ImageSpec, SourceKind};
use crate::error::SpecError;

/// Most builds a history may keep of each kind.
const MAX_HISTORY: u32 = 1000;

impl ImageSpec {
    /// Check names, references, paths, env and limits.
    pub fn validate(&self) -> Result<(), SpecError> {
        let invalid = |key: &str, message: String| SpecError::Invalid {
            file: self.file.clone(),
            key: key.to_owned(),
            message,
        };
        if !is_image_name(&self.name) {
            return Err(invalid(
                "name",
                format!(
                    "`{}` is not a valid image name: use 1-63 lowercase letters, digits and `-`, starting and ending with a letter or digit",
                    self.name
                ),
            ));
        }
        if self.tag.trim().is_empty() || self.tag.chars().any(char::is_whitespace) {
            return Err(invalid(
                "tag",
                "must be an image reference such as registry.example.com/apps/web:latest or oci:DIR:TAG".into(),
            ));
        }
        match &self.source.kind {
            SourceKind::Git { url, revision } => {
                non_blank(url, "source.git.url", &invalid)?;
                non_blank(revision, "source.git.revision", &invalid)?;
            }
            SourceKind::Blob { url, digest } => {
                non_blank(url, "source.blob.url", &invalid)?;
                if !is_sha256(digest) {
                    return Err(invalid(
                        "source.blob.digest",
                        format!("`{digest}` is not `sha256:` and 64 lowercase hex digits"),
                    ));
                }
            }
            SourceKind::Path { path } => non_blank(path, "source.path", &invalid)?,
        }
        if let Some(sub) = &self.source.sub_path {
            let relative = std::path::Path::new(sub)
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            if sub.is_empty() || !relative {
                return Err(invalid(
                    "source.subPath",
                    format!("`{sub}` must be a relative path inside the source, without `..`"),
                ));
            }
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(invalid(
                    "build.env",
                    format!("`{key}` is not a variable name"),
                ));
            }
        }
        for (i, bp) in self.builder.buildpacks.iter().enumerate() {
            non_blank(bp, &format!("build.buildpacks[{i}]"), &invalid)?;
        }
        non_blank(&self.builder.run_image, "build.run-image", &invalid)?;
        for (value, key) in [
            (self.history.successes, "history.successes"),
            (self.history.failures, "history.failures"),
        ] {
            if value > MAX_HISTORY {
                return Err(invalid(key, format!("{value} is over {MAX_HISTORY}")));
            }
        }
        Ok(())
    }
}

fn non_blank(
    value: &str,
    key: &str,
    invalid: &dyn Fn(&str, String) -> SpecError,
) -> Result<(), SpecError> {
    if value.trim().is_empty() {
        return Err(invalid(key, "must not be empty".into()));
    }
    Ok(())
}

/// A DNS-1123 label: what kpack and Kubernetes accept as a name, and safe as a file name.
pub(crate) fn is_image_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}
