//! Tests of unpacking build images into rootfs trees, with hand-made layer tars.

use super::*;
use crate::{ImageConfig, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_TAR, OciLayout};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use tar::EntryType;

/// One entry of a hand-made layer; names and link targets are written verbatim.
enum E<'a> {
    File(&'a str, &'a str, u32),
    Dir(&'a str, u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Special(&'a str, EntryType),
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (kind, name, link, mode, data) = match *e {
            E::File(n, data, mode) => (EntryType::Regular, n, None, mode, data.as_bytes()),
            E::Dir(n, mode) => (EntryType::Directory, n, None, mode, &b""[..]),
            E::Symlink(n, t) => (EntryType::Symlink, n, Some(t), 0o777, &b""[..]),
            E::Hardlink(n, t) => (EntryType::Link, n, Some(t), 0o644, &b""[..]),
            E::Special(n, kind) => (kind, n, None, 0o644, &b""[..]),
        };
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(crate::NORMALIZED_MTIME);
        if let Some(t) = link {
            h.set_link_name_literal(t).unwrap();
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

/// An image in a new layout under `dir` with `layers` (tar bytes and media type).
fn image_with(dir: &Path, layers: &[(Vec<u8>, &str)]) -> LocalImage {
    let layout = OciLayout::create_or_open(dir.join("layout")).unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (tar, media_type) in layers {
        diff_ids.push(Digest::of_bytes(tar));
        let blob = if media_type.ends_with("gzip") {
            gzip(tar)
        } else if media_type.ends_with("zstd") {
            zstd::encode_all(&tar[..], 3).unwrap()
        } else {
            tar.clone()
        };
        descs.push(layout.blobs().write_bytes(&blob, media_type).unwrap());
    }
    let mut config = ImageConfig::new("linux", "amd64");
    config.set_diff_ids(&diff_ids);
    layout.write_image("t", &config, descs).unwrap();
    let resolved = layout.resolve(Some("t")).unwrap();
    LocalImage::new(layout, resolved)
}

/// An image of uncompressed layers.
fn image(dir: &Path, layers: &[&[E]]) -> LocalImage {
    let layers: Vec<_> = layers
        .iter()
        .map(|l| (tar_of(l), MEDIA_TYPE_OCI_LAYER_TAR))
        .collect();
    image_with(dir, &layers)
}

fn unpack(cache: &Path, image: &LocalImage) -> Result<Rootfs, RootfsError> {
    RootfsCache::new(cache).unpack(image, &VerifiedLayers::new(None))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// The names in the cache directory besides the lock directory.
fn cache_names(cache: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != LOCKS_DIR)
        .collect();
    names.sort();
    names
}

fn first_blob(image: &LocalImage) -> PathBuf {
    image
        .layout
        .blobs()
        .path(&image.resolved.manifest.layers[0].digest)
}

#[test]
fn whiteouts_delete_lower_entries_but_not_this_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        tmp.path(),
        &[
            &[
                E::Dir("etc/", 0o755),
                E::File("etc/a", "a", 0o644),
                E::File("etc/b", "b", 0o644),
                E::File("etc/c", "old c", 0o644),
                E::File("etc/sub/x", "x", 0o644),
            ],
            &[
                E::File("etc/c", "new c", 0o644),
                E::File("etc/.wh.c", "", 0o644),
                E::File("etc/.wh.a", "", 0o644),
                E::File("./etc/.wh.sub", "", 0o644),
                E::File("etc/.wh.missing", "", 0o644),
                E::File("gone/.wh.x", "", 0o644),
            ],
        ],
    );
    let rootfs = unpack(&tmp.path().join("cache"), &img).unwrap();
    let etc = rootfs.path.join("etc");
    assert!(!exists(&etc.join("a")));
    assert_eq!(read(&etc.join("b")), "b");
    assert_eq!(read(&etc.join("c")), "new c");
    assert!(!exists(&etc.join("sub")));
    assert!(!exists(&etc.join(".wh.missing")));
    assert!(!exists(&rootfs.path.join("gone")));
}

#[test]
fn an_opaque_directory_keeps_only_this_layers_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        tmp.path(),
        &[
            &[
                E::File("opt/x/1", "1", 0o644),
                E::File("opt/x/sub/2", "2", 0o644),
                E::File("opt/x/other/3", "3", 0o644),
                E::File("opt/y", "y", 0o644),
            ],
            &[
                E::Dir("opt/x/", 0o755),
                E::File("opt/x/kept", "k", 0o644),
                E::File("opt/x/sub/new", "n", 0o644),
                E::File("opt/x/.wh..wh..opq", "", 0o644),
                E::File("opt/x/after", "a", 0o644),
            ],
        ],
    );
    let rootfs = unpack(&tmp.path().join("cache"), &img).unwrap();
    let x = rootfs.path.join("opt/x");
    let mut names = tree::sorted_names(&x).unwrap();
    names.sort();
    assert_eq!(names, ["after", "kept", "sub"]);
    assert_eq!(tree::sorted_names(&x.join("sub")).unwrap(), ["new"]);
    assert_eq!(read(&rootfs.path.join("opt/y")), "y");
}

#[test]
fn hard_links_share_an_earlier_file() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        tmp.path(),
        &[
            &[
                E::File("usr/bin/perl", "#!perl", 0o755),
                E::Hardlink("usr/bin/perl5", "usr/bin/perl"),
            ],
            &[E::Hardlink("/opt/perl", "./usr/bin/perl")],
        ],
    );
    let rootfs = unpack(&tmp.path().join("cache"), &img).unwrap();
    let ino = |p: &str| fs::metadata(rootfs.path.join(p)).unwrap().ino();
    assert_eq!(ino("usr/bin/perl"), ino("usr/bin/perl5"));
    assert_eq!(ino("usr/bin/perl"), ino("opt/perl"));
    assert_eq!(read(&rootfs.path.join("opt/perl")), "#!perl");
}

#[test]
fn a_hard_link_to_nothing_or_a_directory_is_refused() {
    for target in ["nope", "dir", "dir/../dir"] {
        let tmp = tempfile::tempdir().unwrap();
        let img = image(
            tmp.path(),
            &[&[E::Dir("dir/", 0o755), E::Hardlink("link", target)]],
        );
        let err = unpack(&tmp.path().join("cache"), &img).unwrap_err();
        assert!(
            matches!(&err, RootfsError::Entry { path, index: 1, .. } if path == "link"),
            "{err}"
        );
    }
}

#[test]
fn device_nodes_and_fifos_are_skipped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        tmp.path(),
        &[&[
            E::Special("dev/null", EntryType::Char),
            E::Special("dev/sda", EntryType::Block),
            E::Special("run/fifo", EntryType::Fifo),
            E::File("dev/.keep", "", 0o644),
        ]],
    );
    let cache = tmp.path().join("cache");
    let rootfs = unpack(&cache, &img).unwrap();
    assert_eq!(rootfs.skipped_special, 3);
    assert_eq!(
        tree::sorted_names(&rootfs.path.join("dev")).unwrap(),
        [".keep"]
    );
    assert!(!exists(&rootfs.path.join("run/fifo")));
    let again = unpack(&cache, &img).unwrap();
    assert!(again.reused);
    assert_eq!(again.skipped_special, 3);
}

#[test]
fn symlinked_parents_are_resolved_inside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), "v").unwrap();
    let abs = outside.to_str().unwrap();
    let img = image(
        tmp.path(),
        &[
            &[
                E::Symlink("abs", abs),
                E::Symlink("rel", "../../../../../../../../.."),
                E::Symlink("chain", "abs"),
                E::Dir("usr/bin/", 0o755),
                E::Symlink("bin", "usr/bin"),
                E::Symlink("usr/up", "../.."),
            ],
            &[
                E::File("abs/x", "x", 0o644),
                E::File("rel/y", "y", 0o644),
                E::File("chain/z", "z", 0o644),
                E::File("bin/foo", "foo", 0o755),
                E::File("usr/up/w", "w", 0o644),
                E::File("abs/.wh.victim", "", 0o644),
                E::File("rel/outside/.wh.victim", "", 0o644),
                E::Symlink("same", "/"),
                E::File("same/s", "s", 0o644),
            ],
        ],
    );
    let cache = tmp.path().join("cache");
    let rootfs = unpack(&cache, &img).unwrap();
    assert_eq!(read(&outside.join("victim")), "v");
    assert_eq!(tree::sorted_names(&outside).unwrap(), ["victim"]);
    let inner = rootfs.path.join(abs.trim_start_matches('/'));
    assert_eq!(read(&inner.join("x")), "x");
    assert_eq!(read(&inner.join("z")), "z");
    for name in ["y", "w", "s"] {
        assert_eq!(read(&rootfs.path.join(name)), name);
        assert!(!exists(&tmp.path().join(name)));
        assert!(!exists(&cache.join(name)));
    }
    assert_eq!(read(&rootfs.path.join("usr/bin/foo")), "foo");
    assert!(
        fs::symlink_metadata(rootfs.path.join("bin"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_hard_link_never_reaches_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), "v").unwrap();
    let abs = outside.to_str().unwrap();
    let victim = format!("{abs}/victim");

    let through_dir = image(
        &tmp.path().join("a"),
        &[
            &[E::Symlink("out", abs)],
            &[E::Hardlink("stolen", "out/victim")],
        ],
    );
    let err = unpack(&tmp.path().join("cache"), &through_dir).unwrap_err();
    assert!(matches!(err, RootfsError::Entry { index: 2, .. }), "{err}");

    let to_symlink = image(
        &tmp.path().join("b"),
        &[&[E::Symlink("s", &victim)], &[E::Hardlink("h", "s")]],
    );
    let rootfs = unpack(&tmp.path().join("cache"), &to_symlink).unwrap();
    let h = fs::symlink_metadata(rootfs.path.join("h")).unwrap();
    assert!(h.file_type().is_symlink());
    assert_eq!(fs::metadata(outside.join("victim")).unwrap().nlink(), 1);
}

#[test]
fn dotdot_entries_are_refused_and_nothing_is_marked_complete() {
    for name in ["../evil", "a/../../evil", "/../evil", "a/.wh..."] {
        let tmp = tempfile::tempdir().unwrap();
        let img = image(
            &tmp.path().join("img"),
            &[
                &[E::File("a/ok", "ok", 0o644)],
                &[E::File(name, "evil", 0o644)],
            ],
        );
        let cache = tmp.path().join("cache");
        let err = unpack(&cache, &img).unwrap_err();
        assert!(
            matches!(&err, RootfsError::Entry { path, index: 2, .. } if path == name),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(name), "{err}");
        assert!(cache_names(&cache).is_empty(), "{:?}", cache_names(&cache));
        assert!(!exists(&tmp.path().join("evil")));
    }
}

#[test]
fn symlinks_and_directories_replace_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        tmp.path(),
        &[
            &[
                E::File("d/x", "x", 0o644),
                E::Symlink("l", "d"),
                E::File("f", "file", 0o644),
            ],
            &[
                E::Symlink("d", "elsewhere"),
                E::Dir("l/", 0o755),
                E::File("l/y", "y", 0o644),
                E::Dir("f", 0o755),
            ],
            &[E::Dir("d", 0o755), E::File("d/z", "z", 0o644)],
        ],
    );
    let rootfs = unpack(&tmp.path().join("cache"), &img).unwrap();
    assert_eq!(tree::sorted_names(&rootfs.path.join("d")).unwrap(), ["z"]);
    assert_eq!(tree::sorted_names(&rootfs.path.join("l")).unwrap(), ["y"]);
    assert!(
        fs::symlink_metadata(rootfs.path.join("f"))
            .unwrap()
            .is_dir()
    );
    assert!(!exists(&rootfs.path.join("elsewhere")));
}

#[test]
fn modes_lose_special_bits_and_directories_stay_writable() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        tmp.path(),
        &[
            &[
                E::Dir("ro", 0o555),
                E::File("ro/suid", "s", 0o4755),
                E::File("secret", "s", 0o000),
                E::File("sgid", "g", 0o2644),
                E::Dir("tmp", 0o1777),
            ],
            &[E::File("ro/new", "n", 0o640)],
        ],
    );
    let rootfs = unpack(&tmp.path().join("cache"), &img).unwrap();
    let m = |p: &str| mode(&rootfs.path.join(p));
    assert_eq!(m("ro"), 0o755);
    assert_eq!(m("ro/suid"), 0o755);
    assert_eq!(m("ro/new"), 0o640);
    assert_eq!(m("secret"), 0o400);
    assert_eq!(m("sgid"), 0o644);
    assert_eq!(m("tmp"), 0o777);
    assert_eq!(m(""), 0o755);
}

#[test]
fn a_second_unpack_reuses_the_tree_without_reading_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        tmp.path(),
        &[&[E::File("etc/os-release", "ID=test", 0o644)]],
    );
    let cache = tmp.path().join("cache");
    let first = unpack(&cache, &img).unwrap();
    assert!(!first.reused);
    assert_eq!(first.manifest_digest, *img.resolved.manifest_digest());
    assert_eq!(
        first.path,
        cache
            .join(img.resolved.manifest_digest().hex())
            .join("root")
    );
    // A reuse does not read the blob (so a broken one goes unnoticed).
    fs::write(first_blob(&img), b"broken").unwrap();
    let second = unpack(&cache, &img).unwrap();
    assert!(second.reused);
    assert_eq!(second.path, first.path);
    assert_eq!(read(&second.path.join("etc/os-release")), "ID=test");
}

#[test]
fn a_damaged_tree_is_unpacked_again() {
    type Damage = fn(&Path, &Path);
    let damages: [(&str, Damage); 6] = [
        ("deleted file", |root, _| {
            fs::remove_file(root.join("etc/a")).unwrap();
        }),
        ("file mode", |root, _| {
            fs::set_permissions(root.join("etc/a"), fs::Permissions::from_mode(0o600)).unwrap();
        }),
        ("read-only directory", |root, _| {
            fs::write(root.join("etc/extra"), "x").unwrap();
            fs::set_permissions(root.join("etc"), fs::Permissions::from_mode(0o500)).unwrap();
        }),
        ("grown file", |root, _| {
            fs::write(root.join("etc/a"), "longer").unwrap();
        }),
        ("retargeted symlink", |root, _| {
            fs::remove_file(root.join("link")).unwrap();
            std::os::unix::fs::symlink("elsewhere", root.join("link")).unwrap();
        }),
        ("missing record", |_, entry| {
            fs::remove_file(entry.join(RECORD_FILE)).unwrap();
        }),
    ];
    for (what, damage) in damages {
        let tmp = tempfile::tempdir().unwrap();
        let img = image(
            tmp.path(),
            &[&[E::File("etc/a", "a", 0o644), E::Symlink("link", "etc/a")]],
        );
        let cache = tmp.path().join("cache");
        let first = unpack(&cache, &img).unwrap();
        let entry = first.path.parent().unwrap().to_path_buf();
        damage(&first.path, &entry);
        let again = unpack(&cache, &img).unwrap();
        assert!(!again.reused, "{what}");
        assert_eq!(read(&again.path.join("etc/a")), "a", "{what}");
        assert_eq!(mode(&again.path.join("etc/a")), 0o644, "{what}");
        assert!(!exists(&again.path.join("etc/extra")), "{what}");
        assert_eq!(read_link(&again.path.join("link")), "etc/a", "{what}");
        assert_eq!(cache_names(&cache), [first.manifest_digest.hex()], "{what}");
        assert!(unpack(&cache, &img).unwrap().reused, "{what}");
    }
}

fn read_link(path: &Path) -> String {
    fs::read_link(path).unwrap().to_str().unwrap().to_owned()
}

#[test]
fn leftover_temporary_entries_are_ignored_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path(), &[&[E::File("etc/a", "a", 0o644)]]);
    let cache = tmp.path().join("cache");
    let hex = img.resolved.manifest_digest().hex().to_owned();
    // A crashed unpack of this image (with a record that looks complete) and of another one.
    let own = cache.join(format!("{TEMP_PREFIX}{hex}-crashed"));
    fs::create_dir_all(own.join("root/locked")).unwrap();
    fs::write(own.join(RECORD_FILE), b"{}").unwrap();
    fs::set_permissions(own.join("root/locked"), fs::Permissions::from_mode(0o500)).unwrap();
    let other = cache.join(format!("{TEMP_PREFIX}{}-x1", "0".repeat(64)));
    fs::create_dir_all(other.join("root")).unwrap();

    let rootfs = unpack(&cache, &img).unwrap();
    assert!(!rootfs.reused);
    assert_eq!(read(&rootfs.path.join("etc/a")), "a");
    assert_eq!(cache_names(&cache), [hex]);
}

#[test]
fn a_corrupt_blob_is_an_error_and_nothing_is_marked_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        tmp.path(),
        &[&[E::File("a", "a", 0o644)], &[E::File("b", "b", 0o644)]],
    );
    let blob = img
        .layout
        .blobs()
        .path(&img.resolved.manifest.layers[1].digest);
    let mut bytes = fs::read(&blob).unwrap();
    bytes[600] ^= 1;
    fs::write(&blob, bytes).unwrap();
    let cache = tmp.path().join("cache");
    let err = unpack(&cache, &img).unwrap_err();
    assert!(
        matches!(
            err,
            RootfsError::BadLayer {
                index: 2,
                problem: LayerProblem::BlobMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(cache_names(&cache).is_empty());
}

#[test]
fn a_blob_changed_behind_its_verified_record_is_caught_while_applying() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path(), &[&[E::File("a", "aaaa", 0o644)]]);
    let verified = VerifiedLayers::new(Some(tmp.path().join("records")));
    let desc = &img.resolved.manifest.layers[0];
    let diff_id = &img.resolved.config.diff_ids().unwrap()[0];
    // The stamp includes ctime, so a rewrite in place cannot fool the record; a record that
    // vouches for the changed file anyway (forged, or a filesystem that lies) must still not
    // let damaged content into the rootfs.
    let blob = first_blob(&img);
    let bytes = fs::read(&blob).unwrap();
    let changed = String::from_utf8_lossy(&bytes).replace("aaaa", "bbbb");
    fs::write(&blob, changed.as_bytes()).unwrap();
    let stamp = crate::FileStamp::of(&blob).unwrap();
    fs::create_dir_all(tmp.path().join("records")).unwrap();
    fs::write(
        tmp.path().join("records").join(desc.digest.hex()),
        format!("{diff_id} {}\n", stamp.to_record()),
    )
    .unwrap();
    verified.check(img.layout.blobs(), desc, diff_id).unwrap();
    let cache = tmp.path().join("cache");
    let err = RootfsCache::new(&cache)
        .unpack(&img, &verified)
        .unwrap_err();
    assert!(
        matches!(
            err,
            RootfsError::BadLayer {
                problem: LayerProblem::DiffIdMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(cache_names(&cache).is_empty());
}

#[test]
fn gzip_and_zstd_layers_unpack_and_other_media_types_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tar_of(&[E::File("etc/a", "a", 0o644)]);
    let img = image_with(
        &tmp.path().join("gz"),
        &[(tar.clone(), MEDIA_TYPE_OCI_LAYER_GZIP)],
    );
    let rootfs = unpack(&tmp.path().join("cache"), &img).unwrap();
    assert_eq!(read(&rootfs.path.join("etc/a")), "a");

    let zstd = image_with(
        &tmp.path().join("zstd"),
        &[(tar.clone(), crate::MEDIA_TYPE_OCI_LAYER_ZSTD)],
    );
    let rootfs = unpack(&tmp.path().join("cache-zstd"), &zstd).unwrap();
    assert_eq!(read(&rootfs.path.join("etc/a")), "a");

    let bzip2 = image_with(
        &tmp.path().join("bzip2"),
        &[(tar, "application/vnd.oci.image.layer.v1.tar+bzip2")],
    );
    let err = unpack(&tmp.path().join("cache2"), &bzip2).unwrap_err();
    assert!(
        matches!(&err, RootfsError::MediaType { index: 1, .. }),
        "{err}"
    );
    assert!(!exists(&tmp.path().join("cache2")));
}

#[test]
fn the_same_image_gives_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let layers: &[&[E]] = &[
        &[
            E::File("b", "b", 0o644),
            E::File("a/x", "x", 0o600),
            E::Symlink("l", "a/x"),
        ],
        &[E::File("a/.wh.x", "", 0o644), E::Dir("c", 0o700)],
    ];
    let one = unpack(
        &tmp.path().join("c1"),
        &image(&tmp.path().join("i1"), layers),
    )
    .unwrap();
    let two = unpack(
        &tmp.path().join("c2"),
        &image(&tmp.path().join("i2"), layers),
    )
    .unwrap();
    assert_eq!(one.manifest_digest, two.manifest_digest);
    let listing = |r: &Rootfs| tree::listing_digest(&r.path).unwrap();
    assert_eq!(listing(&one), listing(&two));
    let record = |r: &Rootfs| read(&r.path.parent().unwrap().join(RECORD_FILE));
    assert_eq!(record(&one), record(&two));
}

#[test]
fn concurrent_unpacks_share_one_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path(), &[&[E::File("etc/a", "a", 0o644)]]);
    let cache = tmp.path().join("cache");
    let results: Vec<Rootfs> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2).map(|_| s.spawn(|| unpack(&cache, &img))).collect();
        runs.into_iter()
            .map(|r| r.join().unwrap().unwrap())
            .collect()
    });
    assert_eq!(results[0].path, results[1].path);
    assert_eq!(results.iter().filter(|r| r.reused).count(), 1);
    assert_eq!(cache_names(&cache), [img.resolved.manifest_digest().hex()]);
}

#[test]
fn a_complete_entry_that_appeared_meanwhile_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path(), &[&[E::File("etc/a", "a", 0o644)]]);
    let cache_dir = tmp.path().join("cache");
    let cache = RootfsCache::new(&cache_dir);
    let verified = VerifiedLayers::new(None);
    let digest = img.resolved.manifest_digest().clone();
    let installed = unpack(&cache_dir, &img).unwrap();
    let layers = layers_of(&img).unwrap();
    let (staged, record) = cache.stage(&img, &layers, &verified, &digest).unwrap();
    let entry = cache_dir.join(digest.hex());
    let used = install(&staged, record, &entry, &digest).unwrap();
    assert_eq!(used.manifest, digest);
    assert!(!exists(&staged));
    assert_eq!(read(&installed.path.join("etc/a")), "a");
    assert_eq!(cache_names(&cache_dir), [digest.hex()]);
}

#[test]
fn a_sweep_removes_unused_entries_and_keeps_used_and_busy_ones() {
    use crate::cache_sweep::SweepPolicy;
    use std::time::{Duration, SystemTime};
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let a = image(&tmp.path().join("a"), &[&[E::File("a", "aaaa", 0o644)]]);
    let b = image(&tmp.path().join("b"), &[&[E::File("b", "bbbb", 0o644)]]);
    let c = image(&tmp.path().join("c"), &[&[E::File("c", "cccc", 0o644)]]);
    let old = SystemTime::now() - Duration::from_hours(24 * 40);
    for img in [&a, &b, &c] {
        let root = unpack(&cache, img).unwrap();
        let entry = root.path.parent().unwrap().to_path_buf();
        fs::File::open(&entry).unwrap().set_modified(old).unwrap();
    }
    // `b` is used again (its last-used stamp refreshed); `c` is busy in another build.
    assert!(unpack(&cache, &b).unwrap().reused);
    let c_hex = c.resolved.manifest_digest().hex().to_owned();
    let _busy = DirLock::acquire(
        &cache.join(LOCKS_DIR),
        &cache.join(&c_hex),
        "build image rootfs",
        false,
        &|_| {},
    )
    .unwrap();
    let removed = RootfsCache::new(&cache)
        .sweep(&SweepPolicy::new(Duration::from_hours(24 * 30)))
        .unwrap();
    let a_hex = a.resolved.manifest_digest().hex().to_owned();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0].path, cache.join(&a_hex));
    assert!(removed[0].bytes > 0);
    let b_hex = b.resolved.manifest_digest().hex().to_owned();
    let mut left = vec![b_hex, c_hex];
    left.sort();
    assert_eq!(cache_names(&cache), left);
}
