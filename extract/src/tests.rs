//! Extraction tests, including hostile archives.

use std::io::Write as _;

use super::*;

enum E<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

/// A tar with raw (unchecked) names, so hostile paths can be written.
fn tar_of(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let (name, data, kind, mode, link): (&str, &[u8], tar::EntryType, u32, Option<&str>) =
            match e {
                E::File(name, data, mode) => (name, data, tar::EntryType::Regular, *mode, None),
                E::Dir(n) => (n, b"", tar::EntryType::Directory, 0o755, None),
                E::Link(n, t) => (n, b"", tar::EntryType::Symlink, 0o777, Some(t)),
                E::Hard(n, t) => (n, b"", tar::EntryType::Link, 0o644, Some(t)),
            };
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn run(entries: &[E<'_>], strip: usize) -> (tempfile::TempDir, Result<ExtractReport, Error>) {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let r = extract_tar(
        tar_of(entries).as_slice(),
        &dest,
        ExtractOptions {
            strip_components: strip,
        },
    );
    (dir, r)
}

#[test]
fn extracts_files_dirs_links_and_strips() {
    let (dir, r) = run(
        &[
            E::Dir("package/"),
            E::File("package/index.js", b"module.exports=1", 0o644),
            E::File("package/bin/cli.js", b"#!/usr/bin/env node", 0o755),
            E::Link("package/lib/alias.js", "../index.js"),
            E::Hard("package/copy.js", "package/index.js"),
            E::File("top", b"x", 0o644),
        ],
        1,
    );
    let r = r.unwrap();
    let out = dir.path().join("out");
    assert_eq!(
        std::fs::read(out.join("index.js")).unwrap(),
        b"module.exports=1"
    );
    assert_eq!(
        std::fs::read(out.join("copy.js")).unwrap(),
        b"module.exports=1"
    );
    assert_eq!(
        std::fs::read_link(out.join("lib/alias.js")).unwrap(),
        Path::new("../index.js")
    );
    assert!(!out.join("top").exists(), "stripped to nothing: skipped");
    assert_eq!(r.files, 2 + 1);
    assert_eq!(r.symlinks, 1);
    assert_eq!(r.executables, vec!["bin/cli.js".to_owned()]);
}

#[test]
fn gzip_archives_extract() {
    let dir = tempfile::tempdir().unwrap();
    let tgz = dir.path().join("a.tgz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_of(&[E::File("a/b.txt", b"hi", 0o644)]))
        .unwrap();
    std::fs::write(&tgz, gz.finish().unwrap()).unwrap();
    let r = extract_tar_gz(&tgz, &dir.path().join("o"), ExtractOptions::default()).unwrap();
    assert_eq!(r.files, 1);
    assert_eq!(std::fs::read(dir.path().join("o/a/b.txt")).unwrap(), b"hi");
    let err = extract_tar_gz(
        &dir.path().join("missing"),
        dir.path(),
        ExtractOptions::default(),
    )
    .unwrap_err();
    assert!(err.message().contains("missing"));
}

fn assert_refused(entries: &[E<'_>], what: &str) {
    let (dir, r) = run(entries, 0);
    let err = r.expect_err("hostile archive was accepted");
    assert!(err.message().contains(what), "{}", err.message());
    assert!(
        !dir.path().join("evil").exists(),
        "wrote outside the destination"
    );
}

#[test]
fn rejects_traversal() {
    assert_refused(&[E::File("../evil", b"x", 0o644)], "..");
    assert_refused(&[E::File("a/../../evil", b"x", 0o644)], "..");
    assert_refused(&[E::File("/tmp/evil", b"x", 0o644)], "absolute");
}

#[test]
fn rejects_escaping_links() {
    assert_refused(&[E::Link("l", "../evil")], "outside");
    assert_refused(&[E::Link("a/l", "../../evil")], "outside");
    assert_refused(&[E::Link("l", "/etc/passwd")], "outside");
    assert_refused(&[E::Hard("h", "../evil")], "..");
}

#[test]
fn rejects_writing_or_linking_through_links() {
    // A safe link to `.` followed by a file under it.
    assert_refused(
        &[E::Link("l", "."), E::File("l/evil", b"x", 0o644)],
        "under the symlink",
    );
    // `d/up -> ..` is inside, but `m -> d/up/..` would resolve above the root.
    assert_refused(
        &[E::Dir("d/"), E::Link("d/up", ".."), E::Link("m", "d/up/..")],
        "passes through",
    );
}

/// (name, data, unix mode, deflate?) → a zip archive.
fn zip_of(entries: &[(&str, &[u8], u32, bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, mode, deflate) in entries {
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
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&method.to_le_bytes());
            v.extend_from_slice(&[0; 4]); // time, date
            v.extend_from_slice(&crc.sum().to_le_bytes());
            v.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
            v.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
            v.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&body);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&0x0314u16.to_le_bytes()); // made by unix
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attrs
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

fn unzip(zip: &[u8], strip: usize) -> (tempfile::TempDir, Result<ExtractReport, Error>) {
    let dir = tempfile::tempdir().unwrap();
    let r = extract_zip_from(
        &mut std::io::Cursor::new(zip.to_vec()),
        &dir.path().join("out"),
        ExtractOptions {
            strip_components: strip,
        },
    );
    (dir, r)
}

#[test]
fn zip_stored_deflate_links_and_modes() {
    let zip = zip_of(&[
        ("pkg/", b"", 0o040_755, false),
        ("pkg/a.txt", b"stored", 0o100_644, false),
        (
            "pkg/bin/run",
            b"#!/bin/sh\necho deflated\n",
            0o100_755,
            true,
        ),
        ("pkg/alias", b"a.txt", 0o120_777, false),
    ]);
    let (dir, r) = unzip(&zip, 1);
    let r = r.unwrap();
    let out = dir.path().join("out");
    assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"stored");
    assert_eq!(
        std::fs::read(out.join("bin/run")).unwrap(),
        b"#!/bin/sh\necho deflated\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("alias")).unwrap(),
        Path::new("a.txt")
    );
    assert_eq!(r.executables, vec!["bin/run".to_owned()]);
    assert_eq!((r.files, r.symlinks), (2, 1));
}

#[test]
fn zip_rejects_traversal_escaping_links_and_corruption() {
    for (entries, what) in [
        (vec![("../evil", &b"x"[..], 0o100_644, false)], ".."),
        (vec![("/evil", &b"x"[..], 0o100_644, false)], "absolute"),
        (vec![("l", &b"../evil"[..], 0o120_777, false)], "outside"),
    ] {
        let (dir, r) = unzip(&zip_of(&entries), 0);
        let err = r.expect_err("hostile zip accepted");
        assert!(err.message().contains(what), "{}", err.message());
        assert!(!dir.path().join("evil").exists());
    }
    let mut zip = zip_of(&[("a", b"hello", 0o100_644, false)]);
    let at = zip.windows(5).position(|w| w == b"hello").unwrap();
    zip[at] = b'j';
    let (_dir, r) = unzip(&zip, 0);
    assert!(r.unwrap_err().message().contains("CRC"));
    let (_dir, r) = unzip(b"not a zip", 0);
    assert!(
        r.unwrap_err()
            .message()
            .contains("end-of-central-directory")
    );
}

#[test]
fn extracting_over_existing_files_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let first = tar_of(&[E::File("a/b.txt", b"one", 0o644), E::Link("l", "a")]);
    extract_tar(first.as_slice(), &dest, ExtractOptions::default()).unwrap();
    // The second archive turns the link into a file and rewrites b.txt.
    let second = tar_of(&[
        E::File("a/b.txt", b"two", 0o644),
        E::File("l", b"now a file", 0o644),
        E::File("a/b.txt", b"three", 0o755),
    ]);
    let r = extract_tar(second.as_slice(), &dest, ExtractOptions::default()).unwrap();
    assert_eq!(std::fs::read(dest.join("a/b.txt")).unwrap(), b"three");
    assert_eq!(std::fs::read(dest.join("l")).unwrap(), b"now a file");
    assert_eq!(r.executables, vec!["a/b.txt".to_owned()]);
}
