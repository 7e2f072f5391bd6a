//! Wheel file names and the compatibility tags of a CPython-on-Linux target, in the order
//! `packaging.tags.sys_tags()` gives them, so the wheel chosen is the one pip would choose.

use std::collections::HashMap;

/// A wheel file name that is not `{dist}-{version}(-{build})?-{py}-{abi}-{platform}.whl`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a wheel file name ({{dist}}-{{version}}(-{{build}})?-{{python}}-{{abi}}-{{platform}}.whl)"
)]
pub struct TagError(pub String);

/// A parsed wheel file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// Distribution (escaped form, as in the file name).
    pub distribution: String,
    /// Version.
    pub version: String,
    /// Build tag: its number and the rest.
    pub build: Option<(u32, String)>,
    /// Python tags.
    pub python: Vec<String>,
    /// ABI tags.
    pub abi: Vec<String>,
    /// Platform tags.
    pub platform: Vec<String>,
}

impl WheelName {
    /// Parse a file name.
    pub fn parse(filename: &str) -> Result<WheelName, TagError> {
        let bad = || TagError(filename.to_owned());
        let stem = filename.strip_suffix(".whl").ok_or_else(bad)?;
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let (build, tags) = match parts.len() {
            5 => (None, &parts[2..]),
            6 => {
                let b = parts[2];
                let digits = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
                let n: u32 = b[..digits].parse().map_err(|_| bad())?;
                (Some((n, b[digits..].to_owned())), &parts[3..])
            }
            _ => return Err(bad()),
        };
        let split = |s: &str| {
            s.split('.')
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
        };
        Ok(WheelName {
            distribution: parts[0].to_owned(),
            version: parts[1].to_owned(),
            build,
            python: split(tags[0]),
            abi: split(tags[1]),
            platform: split(tags[2]),
        })
    }

    /// Every (python, abi, platform) triple the name's compressed tag sets expand to.
    pub fn triples(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.python.iter().flat_map(move |p| {
            self.abi.iter().flat_map(move |a| {
                self.platform
                    .iter()
                    .map(move |pl| (p.as_str(), a.as_str(), pl.as_str()))
            })
        })
    }
}

/// The C library of a Linux target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    /// glibc X.Y (manylinux).
    Glibc {
        /// Major version (2).
        major: u32,
        /// Minor version.
        minor: u32,
    },
    /// musl X.Y (musllinux).
    Musl {
        /// Major version (1).
        major: u32,
        /// Minor version.
        minor: u32,
    },
}

/// CPython on Linux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `(3, 12)`.
    pub python: (u32, u32),
    /// `x86_64`, `aarch64`.
    pub machine: String,
    /// Its C library.
    pub libc: Libc,
}

impl Target {
    /// The platform tags, most specific first.
    pub fn platforms(&self) -> Vec<String> {
        let arch = &self.machine;
        let mut out = Vec::new();
        match self.libc {
            Libc::Glibc { major: 2, minor } => {
                let oldest = if matches!(arch.as_str(), "x86_64" | "i686") {
                    5
                } else {
                    17
                };
                for m in (oldest..=minor).rev() {
                    out.push(format!("manylinux_2_{m}_{arch}"));
                    let legacy = match m {
                        17 if matches!(
                            arch.as_str(),
                            "x86_64"
                                | "i686"
                                | "aarch64"
                                | "armv7l"
                                | "ppc64"
                                | "ppc64le"
                                | "s390x"
                        ) =>
                        {
                            Some("manylinux2014")
                        }
                        12 if matches!(arch.as_str(), "x86_64" | "i686") => Some("manylinux2010"),
                        5 if matches!(arch.as_str(), "x86_64" | "i686") => Some("manylinux1"),
                        _ => None,
                    };
                    if let Some(l) = legacy {
                        out.push(format!("{l}_{arch}"));
                    }
                }
            }
            Libc::Musl { major, minor } => {
                for m in (0..=minor).rev() {
                    out.push(format!("musllinux_{major}_{m}_{arch}"));
                }
            }
            Libc::Glibc { .. } => {}
        }
        out.push(format!("linux_{arch}"));
        out
    }

    /// The supported (python, abi, platform) tags, most preferred first.
    pub fn tags(&self) -> Vec<(String, String, String)> {
        let (major, minor) = self.python;
        let platforms = self.platforms();
        let cp = format!("cp{major}{minor}");
        let mut out = Vec::new();
        let mut push = |py: &str, abi: &str, plat: &str| {
            out.push((py.to_owned(), abi.to_owned(), plat.to_owned()));
        };
        for abi in [cp.as_str(), "abi3", "none"] {
            for p in &platforms {
                push(&cp, abi, p);
            }
        }
        for older in (2..minor).rev() {
            let interp = format!("cp{major}{older}");
            for p in &platforms {
                push(&interp, "abi3", p);
            }
        }
        let mut py_versions = vec![format!("py{major}{minor}"), format!("py{major}")];
        py_versions.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
        for py in &py_versions {
            for p in &platforms {
                push(py, "none", p);
            }
        }
        push(&cp, "none", "any");
        for py in &py_versions {
            push(py, "none", "any");
        }
        out
    }
}

fn priorities(target: &Target) -> HashMap<(String, String, String), usize> {
    target
        .tags()
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, i))
        .collect()
}

fn rank(map: &HashMap<(String, String, String), usize>, wheel: &WheelName) -> Option<usize> {
    wheel
        .triples()
        .filter_map(|(p, a, pl)| {
            map.get(&(p.to_owned(), a.to_owned(), pl.to_owned()))
                .copied()
        })
        .min()
}

/// Whether the wheel installs on the target.
#[cfg(test)]
pub fn is_compatible(target: &Target, wheel: &WheelName) -> bool {
    rank(&priorities(target), wheel).is_some()
}

/// The wheel pip would choose: the best-ranked supported tag, then the higher build number.
pub fn best<'a>(target: &Target, wheels: &'a [WheelName]) -> Option<&'a WheelName> {
    let map = priorities(target);
    wheels
        .iter()
        .filter_map(|w| rank(&map, w).map(|r| (r, w)))
        .min_by(|(ra, a), (rb, b)| {
            let build = |w: &WheelName| w.build.as_ref().map_or(0, |b| b.0);
            ra.cmp(rb).then_with(|| build(b).cmp(&build(a)))
        })
        .map(|(_, w)| w)
}

/// The C library of a known run-image distribution (`/etc/os-release` `ID`, `VERSION_ID`).
pub fn glibc_for_distro(name: &str, version: &str) -> Option<Libc> {
    let glibc = |minor| Some(Libc::Glibc { major: 2, minor });
    match (name, version.split('.').next().unwrap_or("")) {
        ("debian", "10") => glibc(28),
        ("debian", "11") => glibc(31),
        ("debian", "12") => glibc(36),
        ("debian", "13") => glibc(41),
        ("ubuntu", _) => match version {
            "20.04" => glibc(31),
            "22.04" => glibc(35),
            "24.04" => glibc(39),
            _ => None,
        },
        ("alpine", _) => {
            let minor: u32 = version.split('.').nth(1).and_then(|m| m.parse().ok())?;
            let musl = if version.starts_with("3.") && minor >= 13 {
                2
            } else {
                1
            };
            Some(Libc::Musl {
                major: 1,
                minor: musl,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            python: (3, 11),
            machine: "x86_64".into(),
            libc: Libc::Glibc {
                major: 2,
                minor: 36,
            },
        }
    }

    fn w(name: &str) -> WheelName {
        WheelName::parse(name).unwrap()
    }

    #[test]
    fn names_parse_with_build_tags_and_compressed_sets() {
        let n = w("pkg-1.0-2b-cp311.cp312-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        assert_eq!(n.build, Some((2, "b".into())));
        assert_eq!(n.python, ["cp311", "cp312"]);
        assert_eq!(n.triples().count(), 4);
        for bad in [
            "pkg-1.0.tar.gz",
            "pkg-1.0-py3-none.whl",
            "pkg--1.0-py3-none-any.whl",
            "a-1-x-py3-none-any.whl",
        ] {
            assert!(WheelName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_are_ordered_as_packaging_orders_them() {
        let t = target().tags();
        // The count and the positions below are those `packaging.tags` gives for the same
        // interpreter and platform list.
        assert_eq!(t.len(), 914);
        let s = |i: usize| format!("{}-{}-{}", t[i].0, t[i].1, t[i].2);
        assert_eq!(s(0), "cp311-cp311-manylinux_2_36_x86_64");
        // manylinux_2_36 .. 2_5 (32 tags) + 3 legacy aliases + linux = 36 platforms.
        let platforms = target().platforms();
        assert_eq!(platforms.len(), 36);
        assert_eq!(platforms[19], "manylinux_2_17_x86_64");
        assert_eq!(platforms[20], "manylinux2014_x86_64");
        assert_eq!(platforms.last().unwrap(), "linux_x86_64");
        assert_eq!(s(36), "cp311-abi3-manylinux_2_36_x86_64");
        assert_eq!(s(72), "cp311-none-manylinux_2_36_x86_64");
        assert_eq!(s(108), "cp310-abi3-manylinux_2_36_x86_64");
        let tail: Vec<String> = t[t.len() - 14..]
            .iter()
            .map(|x| format!("{}-{}-{}", x.0, x.1, x.2))
            .collect();
        assert_eq!(tail[0], "cp311-none-any");
        assert_eq!(tail[1], "py311-none-any");
        assert_eq!(tail[2], "py3-none-any");
        assert_eq!(tail[3], "py310-none-any");
        assert_eq!(tail.last().unwrap(), "py30-none-any");
    }

    #[test]
    fn the_best_wheel_is_the_most_specific_supported_one() {
        let wheels = [
            w("x-1.0-py3-none-any.whl"),
            w("x-1.0-cp311-cp311-macosx_11_0_arm64.whl"),
            w("x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
            w("x-1.0-cp311-cp311-manylinux_2_39_x86_64.whl"),
            w("x-1.0-cp311-cp311-win_amd64.whl"),
        ];
        assert_eq!(
            best(&target(), &wheels).unwrap().platform,
            ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
        );
        assert!(!is_compatible(&target(), &wheels[1]));
        assert!(!is_compatible(&target(), &wheels[3]), "needs a newer glibc");
        let pure = [w("x-1.0-py3-none-any.whl"), w("x-1.0-1-py3-none-any.whl")];
        assert_eq!(
            best(&target(), &pure).unwrap().build,
            Some((1, String::new()))
        );
        let abi3 = [
            w("x-1.0-cp38-abi3-manylinux_2_17_x86_64.whl"),
            w("x-1.0-py3-none-any.whl"),
        ];
        assert_eq!(best(&target(), &abi3).unwrap().abi, ["abi3"]);
        let musl = Target {
            libc: Libc::Musl { major: 1, minor: 2 },
            ..target()
        };
        assert!(best(&musl, &wheels[2..3]).is_none());
        assert!(is_compatible(
            &musl,
            &w("x-1.0-cp311-cp311-musllinux_1_1_x86_64.whl")
        ));
    }

    #[test]
    fn distros_map_to_their_c_library() {
        assert_eq!(
            glibc_for_distro("debian", "12"),
            Some(Libc::Glibc {
                major: 2,
                minor: 36
            })
        );
        assert_eq!(
            glibc_for_distro("ubuntu", "22.04"),
            Some(Libc::Glibc {
                major: 2,
                minor: 35
            })
        );
        assert_eq!(
            glibc_for_distro("alpine", "3.20"),
            Some(Libc::Musl { major: 1, minor: 2 })
        );
        assert_eq!(glibc_for_distro("busybox", "1"), None);
    }
}
