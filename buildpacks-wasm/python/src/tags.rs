//! Wheel file names (the binary distribution format's
//! `{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl`) and the compatibility tags of
//! a CPython-on-Linux target in the order pip ranks them (`packaging.tags` `cpython_tags`
//! then `compatible_tags`), so that the wheel chosen is the one pip would choose.

use std::collections::HashMap;
use std::fmt;

use crate::pep440::Version;

/// A file name that is not a wheel file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{filename:?} is not a wheel file name ({{dist}}-{{version}}(-{{build}})?-{{python}}-{{abi}}-{{platform}}.whl): {reason}"
)]
pub struct TagError {
    /// The file name.
    pub filename: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed wheel file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// The distribution name as the file name spells it (`-` escaped as `_`).
    pub distribution: String,
    /// The version as the file name spells it (a valid PEP 440 version).
    pub version: String,
    /// The build tag: its leading number and the rest (`1` → `(1, "")`, `2b` → `(2, "b")`).
    pub build: Option<(u32, String)>,
    /// The python tags (`cp311`, `py3`), lowercased.
    pub python: Vec<String>,
    /// The ABI tags (`cp311`, `abi3`, `none`), lowercased.
    pub abi: Vec<String>,
    /// The platform tags (`manylinux_2_17_x86_64`, `any`), lowercased.
    pub platform: Vec<String>,
}

impl WheelName {
    /// Parse a wheel file name (a path's directories are not accepted).
    pub fn parse(filename: &str) -> Result<WheelName, TagError> {
        let bad = |reason: &str| TagError {
            filename: filename.to_owned(),
            reason: reason.to_owned(),
        };
        let stem = filename
            .len()
            .checked_sub(4)
            .filter(|&n| filename.is_char_boundary(n))
            .filter(|&n| filename[n..].eq_ignore_ascii_case(".whl"))
            .map(|n| &filename[..n])
            .ok_or_else(|| bad("it does not end in .whl"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (build, tags) = match parts.len() {
            5 => (None, &parts[2..]),
            6 => (Some(parts[2]), &parts[3..]),
            _ => return Err(bad("it needs 5 or 6 `-`-separated parts")),
        };
        let (name, version) = (parts[0], parts[1]);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        {
            return Err(bad("the distribution must be letters, digits, `_` and `.`"));
        }
        Version::parse(version).map_err(|_| bad("the version is not a PEP 440 version"))?;
        let build = match build {
            None => None,
            Some(b) => {
                let digits = b.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    return Err(bad("the build tag must start with a digit"));
                }
                let number = b[..digits]
                    .parse()
                    .map_err(|_| bad("the build number is too large"))?;
                Some((number, b[digits..].to_owned()))
            }
        };
        let set = |s: &str, what: &str| {
            let tags: Vec<String> = s.split('.').map(str::to_ascii_lowercase).collect();
            if tags.iter().any(String::is_empty) {
                Err(bad(&format!("an empty {what} tag")))
            } else {
                Ok(tags)
            }
        };
        Ok(WheelName {
            distribution: name.to_owned(),
            version: version.to_owned(),
            build,
            python: set(tags[0], "python")?,
            abi: set(tags[1], "ABI")?,
            platform: set(tags[2], "platform")?,
        })
    }

    /// Every (python, abi, platform) tag its compressed tag sets expand to.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Libc {
    /// glibc (manylinux wheels).
    Glibc {
        /// Major version (2).
        major: u32,
        /// Minor version.
        minor: u32,
    },
    /// musl (musllinux wheels).
    Musl {
        /// Major version (1).
        major: u32,
        /// Minor version.
        minor: u32,
    },
}

impl fmt::Display for Libc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Libc::Glibc { major, minor } => write!(f, "glibc {major}.{minor}"),
            Libc::Musl { major, minor } => write!(f, "musl {major}.{minor}"),
        }
    }
}

/// A CPython interpreter on Linux: what the tags are computed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The interpreter's (major, minor): `(3, 12)`.
    pub python: (u32, u32),
    /// The machine as `uname -m` says (`x86_64`, `aarch64`).
    pub machine: String,
    /// The C library.
    pub libc: Libc,
}

/// The minor version `packaging` takes as the last one of an older glibc major.
const LAST_GLIBC_MINOR: u32 = 50;

/// The legacy manylinux names of glibc 2.17, 2.12 and 2.5 (PEPs 599, 571, 513).
fn legacy_manylinux(major: u32, minor: u32) -> Option<&'static str> {
    match (major, minor) {
        (2, 17) => Some("manylinux2014"),
        (2, 12) => Some("manylinux2010"),
        (2, 5) => Some("manylinux1"),
        _ => None,
    }
}

impl Target {
    /// The platform tags, most preferred first: `manylinux_2_N` down to the oldest the
    /// architecture has (2.5 on x86_64 and i686, else 2.17) with the legacy names after
    /// their versions, or `musllinux_1_N` down to `musllinux_1_0`; then `linux_<arch>`.
    pub fn platforms(&self) -> Vec<String> {
        let arch = self.machine.as_str();
        let mut out = Vec::new();
        match self.libc {
            Libc::Glibc { major, minor } if major >= 2 => {
                let oldest = if matches!(arch, "x86_64" | "i686") {
                    5
                } else {
                    17
                };
                // glibc keeps compatibility across majors: 3.x also runs 2.x wheels.
                let mut ranges = vec![(major, minor)];
                ranges.extend((2..major).rev().map(|m| (m, LAST_GLIBC_MINOR)));
                for (m, top) in ranges {
                    let bottom = if m == 2 { oldest } else { 0 };
                    for n in (bottom..=top).rev() {
                        out.push(format!("manylinux_{m}_{n}_{arch}"));
                        if let Some(legacy) = legacy_manylinux(m, n) {
                            out.push(format!("{legacy}_{arch}"));
                        }
                    }
                }
            }
            Libc::Glibc { .. } => {}
            Libc::Musl { major, minor } => {
                for n in (0..=minor).rev() {
                    out.push(format!("musllinux_{major}_{n}_{arch}"));
                }
            }
        }
        out.push(format!("linux_{arch}"));
        out
    }

    /// The supported (python, abi, platform) tags, most preferred first, as pip computes
    /// them for CPython: `cp3X-cp3X-*`, `cp3X-abi3-*`, `cp3X-none-*`, `cp3Y-abi3-*` for
    /// each older minor down to `cp32`, then `py3X-none-*`, `py3-none-*`, `py3Y-none-*`
    /// down to `py30`, then `cp3X-none-any`, `py3X-none-any`, `py3-none-any`,
    /// `py3Y-none-any` down to `py30` (`*` the platforms, in their order).
    pub fn tags(&self) -> Vec<(String, String, String)> {
        let (major, minor) = self.python;
        let platforms = self.platforms();
        let interpreter = format!("cp{major}{minor}");
        // Before 3.8 the default ABI carried pymalloc's `m`.
        let abi = if (major, minor) < (3, 8) {
            format!("{interpreter}m")
        } else {
            interpreter.clone()
        };
        let abi3 = (major, minor) >= (3, 2);
        let mut out = Vec::new();
        let mut each_platform = |python: &str, abi: &str| {
            for p in &platforms {
                out.push((python.to_owned(), abi.to_owned(), p.clone()));
            }
        };
        each_platform(&interpreter, &abi);
        if abi3 {
            each_platform(&interpreter, "abi3");
        }
        each_platform(&interpreter, "none");
        if abi3 {
            for older in (2..minor).rev() {
                each_platform(&format!("cp{major}{older}"), "abi3");
            }
        }
        let mut pythons = vec![format!("py{major}{minor}"), format!("py{major}")];
        pythons.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
        for python in &pythons {
            each_platform(python, "none");
        }
        let any = |python: &str| (python.to_owned(), "none".to_owned(), "any".to_owned());
        out.push(any(&interpreter));
        out.extend(pythons.iter().map(|p| any(p)));
        out
    }

    /// The tags with their priority (0 is the most preferred), for ranking many wheels.
    pub fn priorities(&self) -> TagPriorities {
        TagPriorities(
            self.tags()
                .into_iter()
                .enumerate()
                .map(|(i, t)| (t, i))
                .collect(),
        )
    }
}

/// A target's tags by priority (see [`Target::priorities`]).
#[derive(Debug, Clone)]
pub struct TagPriorities(HashMap<(String, String, String), usize>);

impl TagPriorities {
    /// The priority of the wheel's best supported tag (lower is better), `None` when no tag
    /// of it is supported.
    pub fn rank(&self, wheel: &WheelName) -> Option<usize> {
        wheel
            .triples()
            .filter_map(|(p, a, pl)| {
                self.0
                    .get(&(p.to_owned(), a.to_owned(), pl.to_owned()))
                    .copied()
            })
            .min()
    }
}

/// Whether the wheel installs on the target (one of its tags is supported).
#[allow(
    dead_code,
    reason = "API for checking one wheel; the crate ranks with best"
)]
pub fn is_compatible(target: &Target, wheel: &WheelName) -> bool {
    target.priorities().rank(wheel).is_some()
}

/// The wheel pip would choose among `wheels` (of one version): the one whose best supported
/// tag is the most preferred, then the one with the higher build tag (a wheel without one
/// loses to any with one; equal numbers compare their rest as text), then the first given.
pub fn best<'a>(target: &Target, wheels: &'a [WheelName]) -> Option<&'a WheelName> {
    best_by(target, wheels, |w| w)
}

/// [`best`] over any candidates, `name` giving each one's parsed wheel name.
pub fn best_by<'a, T>(
    target: &Target,
    candidates: &'a [T],
    name: impl Fn(&T) -> &WheelName,
) -> Option<&'a T> {
    let priorities = target.priorities();
    let mut chosen: Option<(usize, &'a WheelName, &'a T)> = None;
    for c in candidates {
        let wheel = name(c);
        let Some(rank) = priorities.rank(wheel) else {
            continue;
        };
        let better = chosen.is_none_or(|(best_rank, best_wheel, _)| {
            rank < best_rank || (rank == best_rank && wheel.build > best_wheel.build)
        });
        if better {
            chosen = Some((rank, wheel, c));
        }
    }
    chosen.map(|(_, _, c)| c)
}

/// The C library of a known run-image distribution (`/etc/os-release` `ID` and
/// `VERSION_ID`): Debian and Ubuntu releases' glibc, Alpine's musl (1.2 from 3.13, 1.1
/// before).
pub fn glibc_for_distro(name: &str, version: &str) -> Option<Libc> {
    let glibc = |minor| Some(Libc::Glibc { major: 2, minor });
    let version = version.trim().trim_matches('"');
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next();
    match name.trim().to_ascii_lowercase().as_str() {
        "debian" => match major {
            "9" => glibc(24),
            "10" => glibc(28),
            "11" => glibc(31),
            "12" => glibc(36),
            "13" => glibc(41),
            _ => None,
        },
        "ubuntu" => match (major, minor?) {
            ("18", "04") => glibc(27),
            ("20", "04") => glibc(31),
            ("22", "04") => glibc(35),
            ("24", "04") => glibc(39),
            _ => None,
        },
        "alpine" if major == "3" => {
            let digits: String = minor?.chars().take_while(char::is_ascii_digit).collect();
            let minor: u32 = digits.parse().ok()?;
            let musl = if minor >= 13 { 2 } else { 1 };
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
    use sha2::{Digest, Sha256};

    use super::*;

    fn glibc(minor: u32) -> Libc {
        Libc::Glibc { major: 2, minor }
    }

    fn target(python: (u32, u32), machine: &str, libc: Libc) -> Target {
        Target {
            python,
            machine: machine.into(),
            libc,
        }
    }

    fn x86_311() -> Target {
        target((3, 11), "x86_64", glibc(36))
    }

    fn w(name: &str) -> WheelName {
        WheelName::parse(name).unwrap()
    }

    fn strings(target: &Target) -> Vec<String> {
        target
            .tags()
            .iter()
            .map(|(p, a, pl)| format!("{p}-{a}-{pl}"))
            .collect()
    }

    #[test]
    fn names_parse_per_the_binary_distribution_format() {
        let n = w("numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        assert_eq!(n.distribution, "numpy");
        assert_eq!(n.version, "2.1.0");
        assert_eq!(n.build, None);
        assert_eq!(n.python, ["cp311"]);
        assert_eq!(n.abi, ["cp311"]);
        assert_eq!(
            n.platform,
            ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
        );
        let n = w("pkg-1.0-2b-cp311.CP312-abi3-linux_x86_64.WHL");
        assert_eq!(n.build, Some((2, "b".into())));
        assert_eq!(n.python, ["cp311", "cp312"], "lowercased");
        assert_eq!(n.triples().count(), 2);
        let n = w("typing_extensions-4.12.2-py3-none-any.whl");
        assert_eq!(n.distribution, "typing_extensions");
        assert_eq!(n.triples().collect::<Vec<_>>(), [("py3", "none", "any")]);
        let n = w("six-1.16.0-py2.py3-none-any.whl");
        assert_eq!(n.python, ["py2", "py3"]);
        assert_eq!(
            w("zope.interface-7.0-10-py3-none-any.whl").build,
            Some((10, String::new()))
        );
    }

    #[test]
    fn bad_names_are_refused_naming_the_file() {
        for bad in [
            "pkg-1.0.tar.gz",
            "pkg-1.0-py3-none.whl",
            "pkg--1.0-py3-none-any.whl",
            "pkg-1.0-x-py3-none-any.whl",
            "pkg-1.0-1-2-py3-none-any.whl",
            "pkg-notaversion-py3-none-any.whl",
            "pkg-1.0-py3..py2-none-any.whl",
            "pkg-1.0-py3-none-.whl",
            "my pkg-1.0-py3-none-any.whl",
            "-1.0-py3-none-any.whl",
            "pkg-1.0-99999999999-py3-none-any.whl",
            ".whl",
            "",
        ] {
            let e = WheelName::parse(bad).unwrap_err();
            assert_eq!(e.filename, bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn glibc_platforms_follow_packaging() {
        let p = x86_311().platforms();
        // manylinux_2_36 .. 2_5 (32 tags), 3 legacy aliases, linux.
        assert_eq!(p.len(), 36);
        assert_eq!(p[0], "manylinux_2_36_x86_64");
        assert_eq!(p[19], "manylinux_2_17_x86_64");
        assert_eq!(p[20], "manylinux2014_x86_64");
        assert_eq!(p[25], "manylinux_2_12_x86_64");
        assert_eq!(p[26], "manylinux2010_x86_64");
        assert_eq!(p[33], "manylinux_2_5_x86_64");
        assert_eq!(p[34], "manylinux1_x86_64");
        assert_eq!(p[35], "linux_x86_64");
        let arm = target((3, 12), "aarch64", glibc(28)).platforms();
        assert_eq!(arm.len(), 14);
        assert_eq!(arm[11], "manylinux_2_17_aarch64");
        assert_eq!(arm[12], "manylinux2014_aarch64");
        assert_eq!(arm[13], "linux_aarch64");
        assert_eq!(
            target((3, 12), "aarch64", glibc(16)).platforms(),
            ["linux_aarch64"]
        );
        let glibc3 = target((3, 12), "aarch64", Libc::Glibc { major: 3, minor: 1 }).platforms();
        assert_eq!(
            glibc3[..3],
            [
                "manylinux_3_1_aarch64",
                "manylinux_3_0_aarch64",
                "manylinux_2_50_aarch64"
            ]
        );
    }

    #[test]
    fn musl_platforms_follow_packaging() {
        let p = target((3, 12), "x86_64", Libc::Musl { major: 1, minor: 2 }).platforms();
        assert_eq!(
            p,
            [
                "musllinux_1_2_x86_64",
                "musllinux_1_1_x86_64",
                "musllinux_1_0_x86_64",
                "linux_x86_64"
            ]
        );
    }

    /// An aarch64 glibc 2.17 CPython 3.8 target, tag for tag as pip 23.2's
    /// `compatibility_tags.get_supported()` (packaging 21.3) gives them.
    #[test]
    fn a_small_target_matches_pip_tag_for_tag() {
        let t = strings(&target((3, 8), "aarch64", glibc(17)));
        let plats = [
            "manylinux_2_17_aarch64",
            "manylinux2014_aarch64",
            "linux_aarch64",
        ];
        let mut expected = Vec::new();
        for (py, abi) in [
            ("cp38", "cp38"),
            ("cp38", "abi3"),
            ("cp38", "none"),
            ("cp37", "abi3"),
            ("cp36", "abi3"),
            ("cp35", "abi3"),
            ("cp34", "abi3"),
            ("cp33", "abi3"),
            ("cp32", "abi3"),
        ]
        .into_iter()
        .chain(
            [
                "py38", "py3", "py37", "py36", "py35", "py34", "py33", "py32", "py31", "py30",
            ]
            .map(|p| (p, "none")),
        ) {
            for p in plats {
                expected.push(format!("{py}-{abi}-{p}"));
            }
        }
        for py in [
            "cp38", "py38", "py3", "py37", "py36", "py35", "py34", "py33", "py32", "py31", "py30",
        ] {
            expected.push(format!("{py}-none-any"));
        }
        assert_eq!(t, expected);
        assert_eq!(t.len(), 68);
    }

    /// Counts and SHA-256 digests of the newline-joined tag lists pip 23.2 (packaging 21.3)
    /// computes for these targets (its glibc / musl version detection patched to report the
    /// given versions).
    #[test]
    fn larger_targets_match_pip_exactly() {
        let cases = [
            (
                (3, 11),
                "x86_64",
                glibc(36),
                914,
                "383ffd2beb764fa9054698434f944b99ad76427d82d57c95382f2b5df9c80b33",
            ),
            (
                (3, 12),
                "x86_64",
                Libc::Musl { major: 1, minor: 2 },
                123,
                "3a76d8d82692e240ac450d80dc131de4a1abe5bfca4d60950f9ffceb5d3947dd",
            ),
            (
                (3, 13),
                "aarch64",
                glibc(39),
                741,
                "527b4007c02bcce5fd36542b3c078fdca2b3890d5144b94cac89b5b01ab928f6",
            ),
            (
                (3, 9),
                "x86_64",
                glibc(12),
                243,
                "4158512c43c84d9ca904103225ec3a2a2e9db9be7d66a5d83c5d866228253470",
            ),
            (
                (3, 10),
                "aarch64",
                Libc::Musl { major: 1, minor: 1 },
                82,
                "19b92d2eb29f66ab6fcb60f1a07108a7667a8cf79e9ca708300fc029aadfb04d",
            ),
            (
                (3, 8),
                "aarch64",
                glibc(17),
                68,
                "97998aa23eafdd1ba94c96e4ad6c621ba027ec40a976950decb0d664d2648858",
            ),
            (
                (3, 12),
                "aarch64",
                glibc(16),
                42,
                "f6f3fd9b80683461202dd092f1e07cbc10a93d3903ae9c66728125c854d92347",
            ),
            (
                (3, 7),
                "x86_64",
                glibc(28),
                486,
                "17b9611e5fe282bbedafe4d78ca7bc1a056320a26a649266dd4342a918d689f9",
            ),
        ];
        for (python, machine, libc, count, digest) in cases {
            let t = strings(&target(python, machine, libc));
            assert_eq!(t.len(), count, "{python:?} {machine} {libc}");
            let got = hex::encode(Sha256::digest(t.join("\n").as_bytes()));
            assert_eq!(got, digest, "{python:?} {machine} {libc}");
        }
    }

    #[test]
    fn landmarks_of_the_cpython_311_order() {
        let t = strings(&x86_311());
        assert_eq!(t[0], "cp311-cp311-manylinux_2_36_x86_64");
        assert_eq!(t[35], "cp311-cp311-linux_x86_64");
        assert_eq!(t[36], "cp311-abi3-manylinux_2_36_x86_64");
        assert_eq!(t[72], "cp311-none-manylinux_2_36_x86_64");
        assert_eq!(t[108], "cp310-abi3-manylinux_2_36_x86_64");
        assert_eq!(t[108 + 36 * 9], "py311-none-manylinux_2_36_x86_64");
        assert_eq!(t[108 + 36 * 10], "py3-none-manylinux_2_36_x86_64");
        let tail = &t[t.len() - 14..];
        assert_eq!(tail[0], "cp311-none-any");
        assert_eq!(tail[1], "py311-none-any");
        assert_eq!(tail[2], "py3-none-any");
        assert_eq!(tail[3], "py310-none-any");
        assert_eq!(tail[13], "py30-none-any");
        let t37 = strings(&target((3, 7), "x86_64", glibc(28)));
        assert_eq!(t37[0], "cp37-cp37m-manylinux_2_28_x86_64");
    }

    #[test]
    fn the_best_wheel_is_the_most_preferred_supported_one() {
        let t = x86_311();
        let wheels = [
            w("x-1.0-py3-none-any.whl"),
            w("x-1.0-cp311-cp311-macosx_11_0_arm64.whl"),
            w("x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
            w("x-1.0-cp311-cp311-manylinux_2_39_x86_64.whl"),
            w("x-1.0-cp311-cp311-win_amd64.whl"),
            w("x-1.0-cp311-cp311-musllinux_1_2_x86_64.whl"),
        ];
        assert_eq!(best(&t, &wheels), Some(&wheels[2]));
        assert!(is_compatible(&t, &wheels[0]));
        assert!(!is_compatible(&t, &wheels[1]));
        assert!(!is_compatible(&t, &wheels[3]), "needs a newer glibc");
        assert!(!is_compatible(&t, &wheels[5]), "musl wheels need musl");
        // A newer manylinux beats an older one.
        let two = [
            w("x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
            w("x-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
        ];
        assert_eq!(best(&t, &two), Some(&two[1]));
        // The interpreter's own ABI beats abi3, which beats pure Python.
        let abis = [
            w("x-1.0-py3-none-any.whl"),
            w("x-1.0-cp38-abi3-manylinux_2_17_x86_64.whl"),
            w("x-1.0-cp311-cp311-linux_x86_64.whl"),
        ];
        assert_eq!(best(&t, &abis), Some(&abis[2]));
        assert_eq!(best(&t, &abis[..2]), Some(&abis[1]));
        // abi3 for a newer CPython does not apply.
        assert!(!is_compatible(
            &t,
            &w("x-1.0-cp312-abi3-manylinux_2_17_x86_64.whl")
        ));
        assert!(!is_compatible(
            &t,
            &w("x-1.0-cp310-cp310-manylinux_2_17_x86_64.whl")
        ));
        assert!(!is_compatible(&t, &w("x-1.0-py2-none-any.whl")));
        assert!(is_compatible(&t, &w("x-1.0-py2.py3-none-any.whl")));
        assert!(is_compatible(&t, &w("x-1.0-cp311-none-any.whl")));
        assert_eq!(best(&t, &[wheels[1].clone(), wheels[4].clone()]), None);
        assert_eq!(best(&t, &[]), None);
    }

    #[test]
    fn build_tags_break_ties_as_pip_does() {
        let t = x86_311();
        let pure = [
            w("x-1.0-py3-none-any.whl"),
            w("x-1.0-1-py3-none-any.whl"),
            w("x-1.0-0-py3-none-any.whl"),
        ];
        assert_eq!(best(&t, &pure), Some(&pure[1]));
        let suffixes = [
            w("x-1.0-2a-py3-none-any.whl"),
            w("x-1.0-2b-py3-none-any.whl"),
        ];
        assert_eq!(best(&t, &suffixes), Some(&suffixes[1]));
        // No build tag loses to build 0; the tag still comes first.
        assert_eq!(best(&t, &pure[..1]), Some(&pure[0]));
        assert_eq!(
            best(&t, &[pure[0].clone(), pure[2].clone()]).unwrap().build,
            Some((0, String::new()))
        );
        let tag_first = [
            w("x-1.0-9-py3-none-any.whl"),
            w("x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
        ];
        assert_eq!(best(&t, &tag_first), Some(&tag_first[1]));
        // Equal rank and build: the first given.
        let same = [w("a-1.0-py3-none-any.whl"), w("b-1.0-py3-none-any.whl")];
        assert_eq!(best(&t, &same), Some(&same[0]));
    }

    #[test]
    fn best_by_ranks_any_candidates() {
        let t = x86_311();
        let candidates = [
            ("u1", w("x-1.0-py3-none-any.whl")),
            ("u2", w("x-1.0-cp311-abi3-manylinux_2_28_x86_64.whl")),
        ];
        assert_eq!(best_by(&t, &candidates, |c| &c.1).map(|c| c.0), Some("u2"));
        let p = t.priorities();
        assert_eq!(p.rank(&candidates[1].1), Some(36 + 8));
        assert_eq!(p.rank(&w("x-1.0-cp311-cp311-win32.whl")), None);
    }

    #[test]
    fn distros_map_to_their_c_library() {
        for (name, version, libc) in [
            ("debian", "10", glibc(28)),
            ("debian", "11", glibc(31)),
            ("debian", "12", glibc(36)),
            ("debian", "12.7", glibc(36)),
            ("debian", "13", glibc(41)),
            ("ubuntu", "20.04", glibc(31)),
            ("ubuntu", "22.04", glibc(35)),
            ("ubuntu", "24.04", glibc(39)),
            ("Ubuntu", "\"24.04\"", glibc(39)),
            ("alpine", "3.20.3", Libc::Musl { major: 1, minor: 2 }),
            ("alpine", "3.13", Libc::Musl { major: 1, minor: 2 }),
            ("alpine", "3.12.12", Libc::Musl { major: 1, minor: 1 }),
        ] {
            assert_eq!(
                glibc_for_distro(name, version),
                Some(libc),
                "{name} {version}"
            );
        }
        for (name, version) in [
            ("busybox", "1"),
            ("debian", "unstable"),
            ("debian", ""),
            ("ubuntu", "23.10.1x"),
            ("ubuntu", "22"),
            ("alpine", "edge"),
            ("alpine", "4.0"),
        ] {
            assert_eq!(glibc_for_distro(name, version), None, "{name} {version}");
        }
        assert_eq!(glibc(36).to_string(), "glibc 2.36");
        assert_eq!(Libc::Musl { major: 1, minor: 2 }.to_string(), "musl 1.2");
    }
}
