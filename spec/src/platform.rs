//! Platforms (`os/arch[/variant]`) with OCI names, and the host's.

use std::fmt;

/// A platform an image is for: OCI os, architecture and variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// OCI os, e.g. `linux`.
    pub os: String,
    /// OCI architecture, e.g. `amd64`.
    pub arch: String,
    /// Variant, e.g. `v8`, if any.
    pub variant: Option<String>,
}

/// A platform string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}; use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64")]
pub struct PlatformError {
    /// The input.
    pub input: String,
}

impl Platform {
    /// `os/arch` without a variant.
    pub fn new(os: impl Into<String>, arch: impl Into<String>) -> Self {
        Self {
            os: os.into(),
            arch: arch.into(),
            variant: None,
        }
    }

    /// Linux on the host's architecture (the images Kiln builds run on Linux).
    pub fn host() -> Self {
        Self::new("linux", host_arch())
    }

    /// Parse `os/arch[/variant]`, e.g. `linux/arm64`.
    pub fn parse(input: &str) -> Result<Self, PlatformError> {
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        let parts: Vec<&str> = input.split('/').collect();
        match parts.as_slice() {
            [os, arch] if valid(os) && valid(arch) => Ok(Self::new(*os, *arch)),
            [os, arch, variant] if valid(os) && valid(arch) && valid(variant) => Ok(Self {
                variant: Some((*variant).into()),
                ..Self::new(*os, *arch)
            }),
            _ => Err(PlatformError {
                input: input.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The OCI architecture name of the host (`amd64`, `arm64`, ...).
pub fn host_arch() -> &'static str {
    oci_arch_name(std::env::consts::ARCH)
}

/// Maps a Rust `std::env::consts::ARCH` value to its OCI/Go name.
pub fn oci_arch_name(rust_arch: &'static str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "mips" if cfg!(target_endian = "little") => "mipsle",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_os_arch_and_variant() {
        assert_eq!(
            Platform::parse("linux/amd64").unwrap(),
            Platform::new("linux", "amd64")
        );
        let arm = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(arm.variant.as_deref(), Some("v8"));
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        for bad in ["", "linux", "linux/", "/amd64", "a/b/c/d", "linux/x86-64"] {
            let e = Platform::parse(bad).unwrap_err();
            assert!(e.to_string().contains("OS/ARCH"), "{bad}");
        }
    }

    #[test]
    fn host_names_follow_oci() {
        assert_eq!(oci_arch_name("x86_64"), "amd64");
        assert_eq!(oci_arch_name("aarch64"), "arm64");
        assert_eq!(oci_arch_name("s390x"), "s390x");
        assert_eq!(Platform::host().os, "linux");
        assert!(!host_arch().is_empty());
    }
}
