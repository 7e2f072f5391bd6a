//! Go module hashes (`h1:` in `go.sum`): `golang.org/x/mod/sumdb/dirhash.Hash1` over the
//! files of a module zip (`<module>/@v/<version>.zip`), or over a lone `go.mod`
//! (`<version>.mod`).
//!
//! `Hash1` sorts the file names, writes one summary line `<hex sha256 of the content>  <name>\n`
//! per file, and hashes the summary with SHA-256. For a zip the names are the entry names
//! exactly as stored and the contents the uncompressed entry bytes; for a `go.mod` the one
//! name is `go.mod`.
//!
//! Which of the two a download is: bytes that start with a zip local-header signature
//! (`PK\x03\x04`) are hashed as a module zip, anything else as a `go.mod`. Every entry of a
//! module zip must lie under one `<module>@<version>/` directory (Go's own rule), so no zip
//! summary has the lone `go.mod` line of a `go.mod` summary: passing one off as the other
//! would need a SHA-256 collision. (Without that rule a zip holding just a bare `go.mod` entry
//! would match the pin of that `go.mod` file.)
//!
//! The hash covers names and contents only, not compression, timestamps, modes, comments or
//! extra fields. Entries stored as symlinks are refused (a module zip holds none, and a link's
//! meaning is not in its hashed bytes); so are encrypted entries, duplicate names and names
//! with control characters (`Hash1` refuses a newline; Go module paths have none of them).

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::Digest as _;

use crate::Error;
use crate::zip::{self, LOCAL_MAGIC, S_IFLNK, S_IFMT};

/// Largest module zip hashed, in bytes (Go's `modzip.MaxZipFile`, 500 MiB).
pub const MAX_GO_ZIP_SIZE: u64 = 500 << 20;
/// Largest total uncompressed size of a module zip's entries (also 500 MiB, as in Go).
pub const MAX_GO_ZIP_CONTENT: u64 = 500 << 20;
/// Largest `go.mod` hashed, in bytes (Go's `modzip.MaxGoMod`, 16 MiB).
pub const MAX_GO_MOD_SIZE: u64 = 16 << 20;

/// The `h1` hash (32 raw bytes; `go.sum` writes `h1:` + their standard base64) of the module
/// zip or `go.mod` read from `reader` (from its start, whatever its position). See the module
/// docs for how the two are told apart and what is refused.
pub fn go_h1(reader: &mut (impl Read + Seek)) -> Result<[u8; 32], Error> {
    let len = reader.seek(SeekFrom::End(0)).map_err(read_error)?;
    reader.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut magic = Vec::with_capacity(LOCAL_MAGIC.len());
    reader
        .by_ref()
        .take(LOCAL_MAGIC.len() as u64)
        .read_to_end(&mut magic)
        .map_err(read_error)?;
    if magic == LOCAL_MAGIC {
        zip_h1(reader, len)
    } else {
        go_mod_h1(reader, len)
    }
}

/// [`go_h1`] of the file at `path`.
pub fn go_h1_file(path: &Path) -> Result<[u8; 32], Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("open", path, &e))?;
    go_h1(&mut file).map_err(|e| Error::msg(format!("{}: {}", path.display(), e.message())))
}

/// `Hash1` itself: the hash of files given by name and the SHA-256 of their content. Names
/// with a newline are refused; the order does not matter.
pub fn go_h1_of_digests(files: &[(String, [u8; 32])]) -> Result<[u8; 32], Error> {
    if let Some((name, _)) = files.iter().find(|(name, _)| name.contains('\n')) {
        return Err(Error::msg(format!(
            "the file name {name:?} contains a newline; Go's h1 hash does not support it"
        )));
    }
    let mut sorted: Vec<_> = files.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut summary = sha2::Sha256::new();
    for (name, digest) in sorted {
        summary.update(format!("{}  {name}\n", hex(digest)).as_bytes());
    }
    Ok(summary.finalize().into())
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn read_error(e: impl std::fmt::Display) -> Error {
    Error::msg(format!("could not read the file to hash: {e}"))
}

fn go_mod_h1(reader: &mut (impl Read + Seek), len: u64) -> Result<[u8; 32], Error> {
    if len > MAX_GO_MOD_SIZE {
        return Err(Error::msg(format!(
            "not a Go module zip, and at {len} bytes too large for a go.mod (at most {MAX_GO_MOD_SIZE})"
        )));
    }
    reader.seek(SeekFrom::Start(0)).map_err(read_error)?;
    let mut hasher = HashWriter(sha2::Sha256::new());
    std::io::copy(&mut reader.take(MAX_GO_MOD_SIZE), &mut hasher).map_err(read_error)?;
    go_h1_of_digests(&[("go.mod".to_owned(), hasher.0.finalize().into())])
}

fn zip_h1(reader: &mut (impl Read + Seek), len: u64) -> Result<[u8; 32], Error> {
    if len > MAX_GO_ZIP_SIZE {
        return Err(Error::msg(format!(
            "the module zip is {len} bytes; Go module zips have at most {MAX_GO_ZIP_SIZE}"
        )));
    }
    let entries = zip::central_directory(reader)?;
    let content: u64 = entries.iter().map(|e| e.size).fold(0, u64::saturating_add);
    if content > MAX_GO_ZIP_CONTENT {
        return Err(Error::msg(format!(
            "the module zip holds {content} bytes uncompressed; Go module zips hold at most {MAX_GO_ZIP_CONTENT}"
        )));
    }
    let mut names = BTreeSet::new();
    let mut files = Vec::with_capacity(entries.len());
    let mut prefix: Option<String> = None;
    for entry in entries {
        let name = &entry.name;
        // Before any message names the entry: no line breaks or escapes from the archive in
        // them (`Hash1` itself refuses only `\n`; Go module paths have no control characters).
        if name.chars().any(char::is_control) {
            return Err(Error::msg(format!(
                "the entry name {name:?} contains a control character; Go module zips have none"
            )));
        }
        let top = prefix.get_or_insert_with(|| module_prefix(name).unwrap_or_default());
        if top.is_empty() || !name.starts_with(top.as_str()) {
            return Err(Error::msg(format!(
                "{name} is not under the {} directory; every file of a Go module zip is under one `<module>@<version>/`",
                if top.is_empty() {
                    "<module>@<version>/"
                } else {
                    top
                }
            )));
        }
        if entry.flags & 1 != 0 {
            return Err(zip::corrupt(format!("{name} is encrypted")));
        }
        if entry.unix_mode.is_some_and(|m| m & S_IFMT == S_IFLNK) {
            return Err(Error::msg(format!(
                "{name} is a symlink; Go module zips hold only files"
            )));
        }
        if !names.insert(name.clone()) {
            return Err(Error::msg(format!(
                "{name} appears twice; Go module zips name each file once"
            )));
        }
        let mut hasher = HashWriter(sha2::Sha256::new());
        zip::copy_entry(reader, &entry, &mut hasher)?;
        files.push((entry.name, hasher.0.finalize().into()));
    }
    go_h1_of_digests(&files)
}

/// The `<module>@<version>/` at the start of `name` (module paths hold no `@`, versions no
/// `/`), if it has one.
fn module_prefix(name: &str) -> Option<String> {
    let at = name.find('@')?;
    let slash = at + name[at..].find('/')?;
    (at > 0 && slash > at + 1).then(|| name[..=slash].to_owned())
}

/// Feeds written bytes to a SHA-256.
struct HashWriter(sha2::Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// The go.mod `module example.com/hello\n\ngo 1.19\n`: its h1 computed with Python's
    /// hashlib (sha256 of the summary line `<hex sha256 of the file>  go.mod\n`); `go.sum`
    /// spells it `h1:RslnPMa/nR3RpskRbvoDBlr6/b2RhFS0EEnq72RQTo0=`.
    const HELLO_GO_MOD: &[u8] = b"module example.com/hello\n\ngo 1.19\n";
    const HELLO_GO_MOD_H1_HEX: &str =
        "46c9673cc6bf9d1dd1a6c9116efa03065afafdbd918454b41049eaef64504e8d";

    fn sha256_hex(data: &[u8]) -> String {
        hex(&sha2::Sha256::digest(data))
    }

    /// The h1 of `files`, built here from the summary text itself.
    fn h1_by_summary(files: &[(&str, &[u8])]) -> String {
        let mut sorted = files.to_vec();
        sorted.sort_by_key(|(name, _)| *name);
        let mut summary = String::new();
        for (name, data) in sorted {
            summary += &sha256_hex(data);
            summary += "  ";
            summary += name;
            summary += "\n";
        }
        sha256_hex(summary.as_bytes())
    }

    /// (name, data, deflate?) → a zip made on Unix with regular-file modes; `mode` overrides.
    fn zip_of(entries: &[(&str, &[u8], bool)], mode: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data, deflate) in entries {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let body = if *deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = u32::try_from(out.len()).unwrap();
            let common = |v: &mut Vec<u8>| {
                v.extend_from_slice(&20u16.to_le_bytes());
                v.extend_from_slice(&0u16.to_le_bytes());
                v.extend_from_slice(&method.to_le_bytes());
                v.extend_from_slice(&[0; 4]);
                v.extend_from_slice(&crc.sum().to_le_bytes());
                v.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
                v.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
                v.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
                v.extend_from_slice(&0u16.to_le_bytes());
            };
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            common(&mut out);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&0x0314u16.to_le_bytes());
            common(&mut central);
            central.extend_from_slice(&[0; 6]);
            central.extend_from_slice(&(mode << 16).to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = u32::try_from(out.len()).unwrap();
        let count = u16::try_from(entries.len()).unwrap();
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&u32::try_from(central.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn h1_hex(bytes: &[u8]) -> Result<String, Error> {
        go_h1(&mut Cursor::new(bytes)).map(|h| hex(&h))
    }

    const GO_MOD: &[u8] = b"module example.com/m\n\ngo 1.21\n";
    const MAIN_GO: &[u8] = b"package m\n\n// Hello says hello.\nfunc Hello() string { return \"hello, hello, hello\" }\n";

    #[test]
    fn zip_with_stored_and_deflated_files_matches_the_summary() {
        let zip = zip_of(
            &[
                ("example.com/m@v1.0.0/m.go", MAIN_GO, true),
                ("example.com/m@v1.0.0/go.mod", GO_MOD, false),
            ],
            0o100_644,
        );
        let want = h1_by_summary(&[
            ("example.com/m@v1.0.0/go.mod", GO_MOD),
            ("example.com/m@v1.0.0/m.go", MAIN_GO),
        ]);
        assert_eq!(h1_hex(&zip).unwrap(), want);
        // Entry order in the zip does not matter; the reader's position does not either.
        let reordered = zip_of(
            &[
                ("example.com/m@v1.0.0/go.mod", GO_MOD, true),
                ("example.com/m@v1.0.0/m.go", MAIN_GO, false),
            ],
            0o100_644,
        );
        let mut cursor = Cursor::new(reordered);
        cursor.set_position(7);
        assert_eq!(hex(&go_h1(&mut cursor).unwrap()), want);
        // A file on disk gives the same.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.0.0.zip");
        std::fs::write(&path, &zip).unwrap();
        assert_eq!(hex(&go_h1_file(&path).unwrap()), want);
    }

    #[test]
    fn go_mod_matches_the_known_vector() {
        assert_eq!(h1_hex(HELLO_GO_MOD).unwrap(), HELLO_GO_MOD_H1_HEX);
        assert_eq!(
            h1_by_summary(&[("go.mod", HELLO_GO_MOD)]),
            HELLO_GO_MOD_H1_HEX
        );
        // A zip holding that go.mod as a bare `go.mod` entry would hash the same: refused, as
        // a file outside `<module>@<version>/`.
        let bare = zip_of(&[("go.mod", HELLO_GO_MOD, false)], 0o100_644);
        let err = h1_hex(&bare).unwrap_err();
        assert!(err.message().contains("<module>@<version>/"), "{err}");
        // Under the module directory it hashes differently (the name differs).
        let in_module = zip_of(
            &[("example.com/hello@v1.0.0/go.mod", HELLO_GO_MOD, false)],
            0o100_644,
        );
        assert_ne!(h1_hex(&in_module).unwrap(), HELLO_GO_MOD_H1_HEX);
        // A real go.sum line: `golang.org/x/text v0.3.0/go.mod
        // h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=` (that version has no go.mod; the
        // proxy serves the synthesized `module golang.org/x/text\n`). Hex of the base64.
        assert_eq!(
            h1_hex(b"module golang.org/x/text\n").unwrap(),
            "36a33c114394d789e3909ddfa8c5bea5ce8b767c218bf223a701edef2caec0e4"
        );
        // Empty input is an empty go.mod.
        assert_eq!(h1_hex(b"").unwrap(), h1_by_summary(&[("go.mod", b"")]));
    }

    #[test]
    fn malformed_zips_are_errors() {
        let good = zip_of(&[("m@v1/a.go", MAIN_GO, true)], 0o100_644);
        // Corrupt the deflated body.
        let mut bad = good.clone();
        bad[40] ^= 0xff;
        assert!(h1_hex(&bad).is_err());
        // Cut off before the central directory.
        assert!(h1_hex(&good[..good.len() / 2]).is_err());
        // A symlink entry, a duplicate name, a name with a newline.
        let link = zip_of(&[("m@v1/l", b"a.go", false)], 0o120_777);
        assert!(h1_hex(&link).unwrap_err().message().contains("symlink"));
        let twice = zip_of(
            &[("m@v1/a", b"1", false), ("m@v1/a", b"2", false)],
            0o100_644,
        );
        assert!(h1_hex(&twice).unwrap_err().message().contains("twice"));
        let newline = zip_of(&[("m@v1/a\nb", b"1", false)], 0o100_644);
        let err = h1_hex(&newline).unwrap_err();
        assert!(err.message().contains("control character"), "{err}");
        assert!(!err.message().contains('\n'), "{err}");
        assert!(go_h1_of_digests(&[("a\n".into(), [0; 32])]).is_err());
        // Files outside the one module directory.
        for names in [
            &["m@v1/a", "n@v1/b"][..],
            &["m@v1/a", "m@v2/b"],
            &["m@v1/a", "b"],
            &["@v1/a"],
            &["m@/a"],
            &["m@v1"],
        ] {
            let entries: Vec<_> = names.iter().map(|n| (*n, b"x".as_slice(), false)).collect();
            let err = h1_hex(&zip_of(&entries, 0o100_644)).unwrap_err();
            assert!(
                err.message().contains("<module>@<version>/"),
                "{names:?}: {err}"
            );
        }
    }

    #[test]
    fn sizes_are_limited() {
        // A directory claiming more uncompressed content than Go allows.
        let mut zip = zip_of(&[("m@v1/a", b"x", false)], 0o100_644);
        let cd = zip
            .windows(4)
            .position(|w| w == 0x0201_4b50u32.to_le_bytes())
            .unwrap();
        let huge = u32::try_from(MAX_GO_ZIP_CONTENT + 1).unwrap();
        zip[cd + 24..cd + 28].copy_from_slice(&huge.to_le_bytes());
        assert!(h1_hex(&zip).unwrap_err().message().contains("uncompressed"));
        // A go.mod over 16 MiB.
        let big = vec![b' '; usize::try_from(MAX_GO_MOD_SIZE).unwrap() + 1];
        assert!(h1_hex(&big).unwrap_err().message().contains("too large"));
    }
}
