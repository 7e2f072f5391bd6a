//! Fixtures for the Go buildpack's native tests: module zips (stored entries), their `h1:`
//! hashes computed here independently of the host, and a stand-in Go release tarball.

#![allow(dead_code, clippy::missing_panics_doc)]

use std::fmt::Write as _;
use std::io::Write as _;

use base64::Engine as _;
use sha2::Digest as _;

/// A zip archive of `files` (name, contents), entries stored uncompressed.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = u32::try_from(out.len()).unwrap();
        let size = u32::try_from(data.len()).unwrap();
        let name_len = u16::try_from(name.len()).unwrap();
        // Version 2.0, no flags, stored, 1980-01-01 00:00.
        let common = |buf: &mut Vec<u8>| {
            for v in [20u16, 0, 0, 0, 0x21] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            for v in [crc.sum(), size, size] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.extend_from_slice(&name_len.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        common(&mut central);
        for v in [0u16, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).unwrap();
    let cd_size = u32::try_from(central.len()).unwrap();
    let count = u16::try_from(files.len()).unwrap();
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, count, count] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Go's `h1:` hash of files given by name and contents.
pub fn h1(files: &[(&str, &[u8])]) -> String {
    let mut sorted: Vec<_> = files.to_vec();
    sorted.sort_by_key(|(name, _)| *name);
    let mut summary = String::new();
    for (name, data) in sorted {
        writeln!(
            summary,
            "{}  {name}",
            hex::encode(sha2::Sha256::digest(data))
        )
        .unwrap();
    }
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(summary))
    )
}

/// A module as a proxy serves it: `.mod`, `.zip` and their `go.sum` lines.
pub struct Module {
    /// Module path.
    pub path: String,
    /// Version.
    pub version: String,
    /// The `go.mod` text.
    pub go_mod: String,
    /// The zip.
    pub zip: Vec<u8>,
    /// `module version h1:…` and `module version/go.mod h1:…`.
    pub sum_lines: String,
}

impl Module {
    /// A module with `go.mod` and `files` (name relative to the module root, contents).
    pub fn new(path: &str, version: &str, requires: &[&str], files: &[(&str, &str)]) -> Self {
        let mut go_mod = format!("module {path}\n\ngo 1.19\n");
        for r in requires {
            writeln!(go_mod, "\nrequire {r}").unwrap();
        }
        let prefix = format!("{path}@{version}/");
        let mut entries: Vec<(String, Vec<u8>)> =
            vec![(format!("{prefix}go.mod"), go_mod.clone().into_bytes())];
        for (name, data) in files {
            entries.push((format!("{prefix}{name}"), data.as_bytes().to_vec()));
        }
        let borrowed: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let sum_lines = format!(
            "{path} {version} {}\n{path} {version}/go.mod {}\n",
            h1(&borrowed),
            h1(&[("go.mod", go_mod.as_bytes())])
        );
        Self {
            path: path.to_owned(),
            version: version.to_owned(),
            zip: zip(&borrowed),
            go_mod,
            sum_lines,
        }
    }
}

/// A gzip-compressed tar of `files` (path, contents, mode) under `go/`, as go.dev ships.
pub fn go_tarball(files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, format!("go/{path}"), data.as_bytes())
            .unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}
