//! Typed facts about where the image runs: target OS and architecture, execution environment.

use std::fmt;

/// An OCI operating system. The host's empty value means linux.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Os {
    /// `linux`.
    #[default]
    Linux,
    /// `windows`.
    Windows,
    /// Another OCI OS name.
    Other(String),
}

impl Os {
    /// The OS called `name`; empty means linux.
    pub fn parse(name: &str) -> Self {
        match name {
            "" | "linux" => Self::Linux,
            "windows" => Self::Windows,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The OCI name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Linux => "linux",
            Self::Windows => "windows",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OCI architecture.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Arch {
    /// `amd64` (x86-64).
    Amd64,
    /// `arm64` (AArch64).
    Arm64,
    /// `arm` (32-bit).
    Arm,
    /// Another OCI architecture name.
    Other(String),
}

impl Arch {
    /// The architecture called `name`, or `None` for the empty value (any).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "" => return None,
            "amd64" => Self::Amd64,
            "arm64" => Self::Arm64,
            "arm" => Self::Arm,
            other => Self::Other(other.to_owned()),
        })
    }

    /// The OCI name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
            Self::Arm => "arm",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform: the run image's, or one a buildpack supports ([`crate::BuildpackInfo::target`]).
/// `None` fields mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Target {
    /// Operating system.
    pub os: Os,
    /// Architecture.
    pub arch: Option<Arch>,
    /// Architecture variant, e.g. `v8`.
    pub variant: Option<String>,
    /// Distribution name (`/etc/os-release` `ID`), e.g. `debian`.
    pub distro_name: Option<String>,
    /// Distribution version (`VERSION_ID`).
    pub distro_version: Option<String>,
}

impl Target {
    /// Linux on `arch`.
    pub fn linux(arch: Arch) -> Self {
        Self {
            arch: Some(arch),
            ..Self::default()
        }
    }

    /// Set the distribution name and version.
    pub fn distro(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.distro_name = Some(name.into());
        self.distro_version = Some(version.into());
        self
    }
}

/// The execution environment the image is built for (`CNB_EXEC_ENV`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ExecEnv {
    /// `production` (the default).
    #[default]
    Production,
    /// `development`.
    Development,
    /// `test`.
    Test,
    /// Any other value.
    Custom(String),
}

impl ExecEnv {
    /// The environment called `name`; empty means production.
    pub fn parse(name: &str) -> Self {
        match name {
            "" | "production" => Self::Production,
            "development" => Self::Development,
            "test" => Self::Test,
            other => Self::Custom(other.to_owned()),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Production => "production",
            Self::Development => "development",
            Self::Test => "test",
            Self::Custom(name) => name,
        }
    }

    /// True for [`ExecEnv::Production`].
    pub fn is_production(&self) -> bool {
        *self == Self::Production
    }
}

impl fmt::Display for ExecEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_mean_linux_any_arch_and_production() {
        assert_eq!(Os::parse(""), Os::Linux);
        assert_eq!(Os::parse("linux").as_str(), "linux");
        assert_eq!(Os::parse("plan9"), Os::Other("plan9".into()));
        assert_eq!(Arch::parse(""), None);
        assert_eq!(Arch::parse("arm64"), Some(Arch::Arm64));
        assert_eq!(Arch::parse("riscv64").unwrap().to_string(), "riscv64");
        assert_eq!(ExecEnv::parse(""), ExecEnv::Production);
        assert!(ExecEnv::parse("production").is_production());
        assert_eq!(ExecEnv::parse("test"), ExecEnv::Test);
        assert_eq!(ExecEnv::parse("staging").as_str(), "staging");
    }
}
