//! Tests of reading and writing docker archives.

use super::*;
use crate::{LayerBuilder, LayerOwnership, MEDIA_TYPE_OCI_LAYER_GZIP, OciLayout, WrittenLayer};
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

/// A small image in a blob store: a gzip layer, an uncompressed layer, and
/// the gzip layer again (duplicate diff_id).
struct Sample {
    _dir: tempfile::TempDir,
    blobs: BlobStore,
    config: ImageConfig,
    layers: Vec<(Descriptor, Digest)>,
    tars: Vec<Vec<u8>>,
}

fn tar_of(files: &[(&str, &str)]) -> (LayerBuilder, Vec<u8>) {
    let mut b = LayerBuilder::new(LayerOwnership::ROOT);
    for (p, c) in files {
        b.add_file(p, c.as_bytes().to_vec(), 0o644).unwrap();
    }
    let tar = b.write_tar(Vec::new()).unwrap();
    (b, tar)
}

fn sample() -> Sample {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::new(dir.path().join("blobs/sha256"));
    let (b1, tar1) = tar_of(&[("etc/hello", "hello\n"), ("bin/x", "#!/bin/sh\n")]);
    let w1: WrittenLayer = b1.write_to(&blobs).unwrap();
    assert_eq!(w1.descriptor.media_type, MEDIA_TYPE_OCI_LAYER_GZIP);
    let (_, tar2) = tar_of(&[("workspace/app.txt", &"x".repeat(3000))]);
    let d2 = blobs.write_bytes(&tar2, MEDIA_TYPE_OCI_LAYER_TAR).unwrap();
    let diff2 = Digest::of_bytes(&tar2);
    let layers = vec![
        (w1.descriptor.clone(), w1.diff_id.clone()),
        (d2, diff2.clone()),
        (w1.descriptor.clone(), w1.diff_id.clone()),
    ];
    let mut config = ImageConfig::new("linux", "amd64");
    config.set_diff_ids(&[w1.diff_id.clone(), diff2, w1.diff_id.clone()]);
    config.set_env(vec!["PATH=/bin".into()]);
    config.set_label("which", "sample");
    Sample {
        _dir: dir,
        blobs,
        config,
        layers,
        tars: vec![tar1.clone(), tar2, tar1],
    }
}

fn write(s: &Sample, path: &Path, tags: &[&str]) -> Result<WrittenArchive> {
    let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
    write_docker_archive(path, &tags, &s.config, &s.layers, &s.blobs)
}

struct Seen {
    name: String,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    no_owner_names: bool,
    data: Vec<u8>,
}

fn entries(path: &Path) -> Vec<Seen> {
    let mut ar = tar::Archive::new(File::open(path).unwrap());
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            assert_eq!(h.entry_type(), EntryType::Regular);
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            Seen {
                name: e.path().unwrap().to_string_lossy().into_owned(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                no_owner_names: h.username_bytes().is_none_or(<[u8]>::is_empty)
                    && h.groupname_bytes().is_none_or(<[u8]>::is_empty),
                data,
            }
        })
        .collect()
}

fn tmp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

#[test]
fn round_trip() {
    let s = sample();
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("sub/out.tar");
    let w = write(
        &s,
        &path,
        &["localhost:5000/team/app:v1", "app:latest", "app:v1"],
    )
    .unwrap();
    let config_bytes = s.config.to_bytes().unwrap();
    assert_eq!(w.image_id, Digest::of_bytes(&config_bytes));
    assert_eq!(w.layer_entries, 2);
    assert_eq!(w.size, fs::metadata(&path).unwrap().len());
    assert_eq!(w.size % 512, 0);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );

    let seen = entries(&path);
    let names: Vec<&str> = seen.iter().map(|e| e.name.as_str()).collect();
    let (h1, h2) = (s.layers[0].1.hex(), s.layers[1].1.hex());
    let config_name = format!("{}.json", w.image_id.hex());
    assert_eq!(
        names,
        vec![
            "manifest.json".to_owned(),
            "repositories".to_owned(),
            config_name.clone(),
            format!("{h1}.tar"),
            format!("{h2}.tar"),
        ]
    );
    for e in &seen {
        assert_eq!(
            (e.mode, e.uid, e.gid, e.mtime),
            (0o644, 0, 0, NORMALIZED_MTIME),
            "{}",
            e.name
        );
        assert!(e.no_owner_names, "{}", e.name);
    }
    assert_eq!(
        String::from_utf8(seen[0].data.clone()).unwrap(),
        format!(
            r#"[{{"Config":"{config_name}","RepoTags":["localhost:5000/team/app:v1","app:latest","app:v1"],"Layers":["{h1}.tar","{h2}.tar","{h1}.tar"]}}]"#
        )
    );
    assert_eq!(
        String::from_utf8(seen[1].data.clone()).unwrap(),
        format!(
            r#"{{"app":{{"latest":"{h1}","v1":"{h1}"}},"localhost:5000/team/app":{{"v1":"{h1}"}}}}"#
        )
    );
    assert_eq!(seen[2].data, config_bytes);
    assert_eq!(seen[3].data, s.tars[0]);
    assert_eq!(seen[4].data, s.tars[1]);

    for sel in [
        None,
        Some("app:v1"),
        Some("docker.io/library/app:latest"),
        Some("localhost:5000/team/app:v1"),
    ] {
        let img = read_docker_archive(&path, sel).unwrap();
        assert_eq!(img.config_bytes, config_bytes, "{sel:?}");
        assert_eq!(img.image_id, w.image_id);
        assert_eq!(img.diff_ids(), s.config.diff_ids().unwrap());
        assert_eq!(img.repo_tags.len(), 3);
        for i in 0..3 {
            assert_eq!(img.read_layer(i).unwrap(), s.tars[i]);
            assert_eq!(img.layers[i].compression, LayerCompression::None);
        }
    }
    let e = read_docker_archive(&path, Some("app:v2"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("app:v2") && e.contains("app:latest") && e.contains("out.tar"),
        "{e}"
    );

    // import into an OCI layout: uncompressed layers whose digests are the diff_ids
    let lt = tempfile::tempdir().unwrap();
    let layout = OciLayout::create_or_open(lt.path()).unwrap();
    let img = read_docker_archive(&path, None).unwrap();
    let descs = img.import_into(layout.blobs()).unwrap();
    for (d, (_, diff_id)) in descs.iter().zip(&s.layers) {
        assert_eq!(d.media_type, MEDIA_TYPE_OCI_LAYER_TAR);
        assert_eq!(&d.digest, diff_id);
        layout.blobs().read_descriptor(d).unwrap();
    }
    assert_eq!(img.import_into(layout.blobs()).unwrap(), descs);
    let written = layout
        .write_image("imported", &img.config, descs.clone())
        .unwrap();
    // and back out: same config bytes, so the same image ID
    let resolved = layout.resolve(Some("imported")).unwrap();
    let again = t.path().join("again.tar");
    let w2 = write_docker_archive_from_resolved(&again, &[], &resolved, layout.blobs()).unwrap();
    assert_eq!(w2.image_id, written.config.digest);
    let names2: Vec<String> = entries(&again).into_iter().map(|e| e.name).collect();
    assert!(!names2.contains(&"repositories".to_owned()), "{names2:?}");
    assert!(tmp_files(t.path()).is_empty());
    assert!(tmp_files(&t.path().join("sub")).is_empty());
}

#[test]
fn deterministic() {
    let s = sample();
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.tar");
    let b = t.path().join("b.tar");
    write(&s, &a, &["app:v1"]).unwrap();
    write(&s, &b, &["app:v1"]).unwrap();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    // rewriting in place gives the same bytes too
    let before = fs::read(&a).unwrap();
    write(&s, &a, &["app:v1"]).unwrap();
    assert_eq!(fs::read(&a).unwrap(), before);
    // a differently compressed store of the same layers gives the same archive
    let t2 = tempfile::tempdir().unwrap();
    let plain = BlobStore::new(t2.path().join("blobs"));
    let layers: Vec<(Descriptor, Digest)> = s
        .tars
        .iter()
        .map(|tar| {
            (
                plain.write_bytes(tar, MEDIA_TYPE_OCI_LAYER_TAR).unwrap(),
                Digest::of_bytes(tar),
            )
        })
        .collect();
    let c = t.path().join("c.tar");
    write_docker_archive(&c, &["app:v1".into()], &s.config, &layers, &plain).unwrap();
    assert_eq!(fs::read(&c).unwrap(), before);
}

#[test]
fn failures_leave_existing_file_untouched() {
    let s = sample();
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("out.tar");
    fs::write(&path, b"previous archive").unwrap();

    let check = |e: ImageError, want: &str| {
        let msg = format!("{e}");
        assert!(msg.contains(want), "{want:?} not in {msg}");
        assert_eq!(fs::read(&path).unwrap(), b"previous archive");
        assert!(tmp_files(t.path()).is_empty(), "{:?}", tmp_files(t.path()));
    };

    // a layer blob whose content does not match its diff_id (detected after streaming)
    let mut bad = s.layers.clone();
    bad[1].1 = Digest::of_bytes(b"other");
    let mut cfg = s.config.clone();
    cfg.set_diff_ids(&bad.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>());
    let e = write_docker_archive(&path, &[], &cfg, &bad, &s.blobs).unwrap_err();
    check(e, "not its diff_id");

    // a missing blob
    let missing = s.blobs.path(&s.layers[1].0.digest);
    let keep = fs::read(&missing).unwrap();
    fs::remove_file(&missing).unwrap();
    check(write(&s, &path, &[]).unwrap_err(), "missing");
    fs::write(&missing, &keep).unwrap();

    // a truncated gzip blob
    let gz = s.blobs.path(&s.layers[0].0.digest);
    let good = fs::read(&gz).unwrap();
    fs::write(&gz, &good[..good.len() / 2]).unwrap();
    let mut short = s.layers.clone();
    for l in &mut short {
        if l.0.digest == s.layers[0].0.digest {
            l.0.size = (good.len() / 2) as u64;
        }
    }
    check(
        write_docker_archive(&path, &[], &s.config, &short, &s.blobs).unwrap_err(),
        "blob",
    );
    // ... and a size mismatch with the descriptor
    check(write(&s, &path, &[]).unwrap_err(), "descriptor says");
    fs::write(&gz, &good).unwrap();

    // diff_ids disagreeing with the config, and bad tags, fail before any write
    let mut cfg = s.config.clone();
    cfg.set_diff_ids(&[]);
    check(
        write_docker_archive(&path, &[], &cfg, &s.layers, &s.blobs).unwrap_err(),
        "rootfs.diff_ids has 0 entries",
    );
    check(write(&s, &path, &["App:v1"]).unwrap_err(), "App");
    check(write(&s, &path, &["app"]).unwrap_err(), "missing :TAG");

    // the target is a directory: the rename fails, nothing is left behind
    let dir_target = t.path().join("adir");
    fs::create_dir(&dir_target).unwrap();
    fs::write(dir_target.join("keep"), b"k").unwrap();
    assert!(write(&s, &dir_target, &[]).is_err());
    assert_eq!(fs::read(dir_target.join("keep")).unwrap(), b"k");
    assert!(tmp_files(t.path()).is_empty());

    // and finally a good write replaces it
    write(&s, &path, &[]).unwrap();
    read_docker_archive(&path, None).unwrap();
}

#[test]
fn repo_tag_grammar() {
    for ok in [
        "app:v1",
        "a:latest",
        "team/app:1.0_rc-2",
        "localhost:5000/app:v1",
        "localhost/app:x",
        "registry.example.com/a/b/c:t",
        "Example.COM:443/app:T",
        "a__b.c-d---e/x:_",
        "127.0.0.1:5000/app:v1",
    ] {
        let rt = RepoTag::parse(ok).unwrap();
        assert_eq!(rt.to_string(), ok);
    }
    for bad in [
        "app",
        "app:",
        ":v1",
        "App:v1",
        "app:.v1",
        "app:-v1",
        "app@sha256:abc",
        "a//b:v1",
        "/app:v1",
        "app/:v1",
        "a-:v1",
        "a..b:v1",
        "a___b:v1",
        "local host:v1",
        "host:port/app:v1",
        "-bad.host/app:v1",
        "[zz]/app:v1",
        // IPv6 registry hosts are not in the grammar registry references use either.
        "[::1]:5000/app:v1",
        "app:with space",
        "localhost:5000/app",
        "é:v1",
    ] {
        assert!(RepoTag::parse(bad).is_err(), "{bad}");
    }
    assert!(RepoTag::parse(&format!("a:{}", "t".repeat(129))).is_err());
    assert!(RepoTag::parse(&format!("{}:t", "a".repeat(256))).is_err());
    let n = |s: &str| RepoTag::parse(s).unwrap().normalized();
    assert_eq!(n("busybox:v1"), "docker.io/library/busybox:v1");
    assert_eq!(n("team/app:v1"), "docker.io/team/app:v1");
    assert_eq!(
        n("index.docker.io/busybox:v1"),
        "docker.io/library/busybox:v1"
    );
    assert_eq!(n("localhost:5000/app:v1"), "localhost:5000/app:v1");
    assert_eq!(n("localhost/app:v1"), "localhost/app:v1");
}

#[test]
fn reference_parsing() {
    let r = |s: &str| DockerArchiveRef::parse(s).unwrap();
    let file = |s: &str| r(s).file.to_string_lossy().into_owned();
    let tag = |s: &str| r(s).name_tag();
    // the common cases
    assert_eq!(file("docker-archive:out.tar"), "out.tar");
    assert_eq!(tag("docker-archive:out.tar"), None);
    assert_eq!(file("docker-archive:/tmp/out.tar:app:v1"), "/tmp/out.tar");
    assert_eq!(
        tag("docker-archive:/tmp/out.tar:app:v1").as_deref(),
        Some("app:v1")
    );
    // registry host with a port, and a multi-component name
    let x = r("docker-archive:out.tar:localhost:5000/team/app:v1");
    assert_eq!(x.file, PathBuf::from("out.tar"));
    let rt = x.repo_tag.clone().unwrap();
    assert_eq!((rt.name(), rt.tag()), ("localhost:5000/team/app", "v1"));
    assert_eq!(x.repo_tags(), vec!["localhost:5000/team/app:v1".to_owned()]);
    assert_eq!(
        x.to_string(),
        "docker-archive:out.tar:localhost:5000/team/app:v1"
    );
    assert_eq!(r(&x.to_string()), x);
    // FILE with ':' followed by NAME:TAG: the first ':' that starts a valid NAME:TAG
    assert_eq!(
        file("docker-archive:/tmp/a:b/c.tar:app:v1"),
        "/tmp/a:b/c.tar"
    );
    assert_eq!(file("docker-archive:/tmp/x:Y:app:v1"), "/tmp/x:Y");
    assert_eq!(file("docker-archive:./im:v1.tar:app:latest"), "./im:v1.tar");
    // FILE with ':' and nothing name-like after it
    assert_eq!(file("docker-archive:/mnt/c:/out.tar"), "/mnt/c:/out.tar");
    assert_eq!(file("docker-archive:a:B.tar"), "a:B.tar");
    assert_eq!(tag("docker-archive:a:B.tar"), None);
    // errors
    for (bad, want) in [
        ("out.tar", "expected docker-archive:"),
        ("oci:out", "expected docker-archive:"),
        ("docker-archive:", "FILE is empty"),
        ("docker-archive::app:v1", "FILE is empty"),
        ("docker-archive:out.tar:app", "without a tag"),
        ("docker-archive:out.tar:localhost:5000/app", "without a tag"),
        ("docker-archive:/tmp/x:y/out.tar", "without a tag"),
        (
            "docker-archive:out.tar:App:v1",
            "invalid image name \"App\"",
        ),
        ("docker-archive:out.tar:app:bad tag", "invalid tag"),
        ("docker-archive:out.tar:app@sha256:00", "digest"),
    ] {
        let e = DockerArchiveRef::parse(bad).unwrap_err().to_string();
        assert!(
            e.contains("invalid image reference") && e.contains(want),
            "{bad}: {e}"
        );
    }
    assert_eq!(
        "docker-archive:f.tar:app:v1"
            .parse::<DockerArchiveRef>()
            .unwrap(),
        r("docker-archive:f.tar:app:v1")
    );
}

/// Builds a tar from `(name, kind)` items by hand (for foreign layouts).
enum Item<'a> {
    File(&'a [u8]),
    Symlink(&'a str),
    HardLink(&'a str),
    Dir,
}

fn make_tar(items: &[(&str, Item<'_>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, item) in items {
        let mut h = Header::new_gnu();
        h.set_mode(0o444);
        match item {
            Item::File(data) => {
                h.set_entry_type(EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, *data).unwrap();
            }
            Item::Symlink(t) | Item::HardLink(t) => {
                h.set_entry_type(if matches!(item, Item::Symlink(_)) {
                    EntryType::Symlink
                } else {
                    EntryType::Link
                });
                h.set_size(0);
                b.append_link(&mut h, name, t).unwrap();
            }
            Item::Dir => {
                h.set_entry_type(EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, name, io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn reads_docker_blobs_layout_with_links_and_gzip() {
    let (_, l1) = tar_of(&[("a", "1")]);
    let (_, l2) = tar_of(&[("b", "2")]);
    let (d1, d2) = (Digest::of_bytes(&l1), Digest::of_bytes(&l2));
    let l2gz = gzip(&l2);
    let gz_digest = Digest::of_bytes(&l2gz);
    let mut cfg = ImageConfig::new("linux", "arm64");
    cfg.set_diff_ids(&[d1.clone(), d2.clone()]);
    let cfg_bytes = cfg.to_bytes().unwrap();
    let cfg_digest = Digest::of_bytes(&cfg_bytes);
    let manifest = format!(
        r#"[{{"Config":"blobs/sha256/{}","RepoTags":["docker.io/library/thing:v2"],"Layers":["blobs/sha256/{}","./legacy/layer.tar"],"LayerSources":{{}}}}]"#,
        cfg_digest.hex(),
        d1.hex()
    );
    let b1 = format!("blobs/sha256/{}", d1.hex());
    let bgz = format!("blobs/sha256/{}", gz_digest.hex());
    let bcfg = format!("blobs/sha256/{}", cfg_digest.hex());
    let tar = make_tar(&[
        ("blobs/", Item::Dir),
        ("blobs/sha256/", Item::Dir),
        (&b1, Item::File(&l1)),
        (&bgz, Item::File(&l2gz)),
        ("cfg-real", Item::File(&cfg_bytes)),
        (&bcfg, Item::HardLink("cfg-real")),
        ("legacy/", Item::Dir),
        ("legacy/layer.tar", Item::Symlink("../blobs/sha256/link2")),
        ("blobs/sha256/link2", Item::Symlink(gz_digest.hex())),
        ("index.json", Item::File(b"{}")),
        ("oci-layout", Item::File(b"{}")),
        ("./manifest.json", Item::File(manifest.as_bytes())),
    ]);
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("new.tar");
    fs::write(&p, &tar).unwrap();
    let img = read_docker_archive(&p, Some("thing:v2")).unwrap();
    assert_eq!(img.config_bytes, cfg_bytes);
    assert_eq!(img.layers[0].compression, LayerCompression::None);
    assert_eq!(img.layers[1].compression, LayerCompression::Gzip);
    assert_eq!(img.layers[1].stored_size(), l2gz.len() as u64);
    assert_eq!(img.read_layer(0).unwrap(), l1);
    assert_eq!(img.read_layer(1).unwrap(), l2);
    let store = BlobStore::new(t.path().join("oci/blobs/sha256"));
    let descs = img.import_into(&store).unwrap();
    assert_eq!(descs[1].digest, d2);
    assert_eq!(descs[1].size, l2.len() as u64);
    assert_eq!(store.read(&d2).unwrap(), l2);
    // streaming through the public reader
    let mut r = img.open_layer(1).unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert_eq!(out, l2);
    assert!(img.open_layer(2).is_err());
}

fn expect_err(path: &Path, tag: Option<&str>, want: &[&str]) {
    let e = match read_docker_archive(path, tag) {
        Ok(img) => {
            let mut err = None;
            for i in 0..img.layers.len() {
                if let Err(e) = img.read_layer(i) {
                    err = Some(e);
                    break;
                }
            }
            err.expect("expected an error")
        }
        Err(e) => e,
    };
    let mut chain = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        chain = format!("{chain}: {s}");
        src = s.source();
    }
    assert!(chain.contains(&path.display().to_string()), "{chain}");
    for w in want {
        assert!(chain.contains(w), "{w:?} not in {chain}");
    }
}

#[test]
fn malformed_archives_give_clear_errors() {
    let s = sample();
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.tar");
    let w = write(&s, &good, &["app:v1"]).unwrap();
    let bytes = fs::read(&good).unwrap();
    let p = t.path().join("bad.tar");
    let put = |data: &[u8]| fs::write(&p, data).unwrap();
    let config_name = format!("{}.json", w.image_id.hex());
    let layer0 = format!("{}.tar", s.layers[0].1.hex());

    put(b"");
    expect_err(&p, None, &["no manifest.json", "not a docker-archive"]);
    put(b"this is not a tar archive at all");
    expect_err(&p, None, &["tar"]);
    put(&[7u8; 2048]);
    expect_err(&p, None, &["tar headers"]);
    put(&gzip(&bytes));
    expect_err(&p, None, &["compressed", "gunzip"]);
    put(&make_tar(&[
        ("oci-layout", Item::File(b"{}")),
        ("index.json", Item::File(b"{}")),
    ]));
    expect_err(&p, None, &["oci-archive"]);
    put(&make_tar(&[("manifest.json", Item::File(b"[{"))]));
    expect_err(&p, None, &["JSON", "manifest.json"]);
    put(&make_tar(&[("manifest.json", Item::File(b"[]"))]));
    expect_err(&p, None, &["lists no images"]);
    put(&make_tar(&[(
        "manifest.json",
        Item::File(br#"[{"Config":"c.json","Layers":[]},{"Config":"d.json"}]"#),
    )]));
    expect_err(&p, None, &["holds 2 images", "NAME:TAG"]);
    put(&make_tar(&[(
        "manifest.json",
        Item::File(br#"[{"Config":"c.json","Layers":[]}]"#),
    )]));
    expect_err(&p, None, &["c.json", "no entry"]);
    put(&make_tar(&[
        (
            "manifest.json",
            Item::File(br#"[{"Config":"c.json","Layers":[]}]"#),
        ),
        ("c.json", Item::File(b"[1]")),
    ]));
    expect_err(&p, None, &["c.json", "not a JSON object"]);
    put(&make_tar(&[
        (
            "manifest.json",
            Item::File(br#"[{"Config":"c.json","Layers":["x.tar"]}]"#),
        ),
        ("c.json", Item::File(br#"{"rootfs":{"diff_ids":[]}}"#)),
    ]));
    expect_err(&p, None, &["1 layers", "0 rootfs.diff_ids"]);
    put(&make_tar(&[
        (
            "manifest.json",
            Item::File(br#"[{"Config":"c.json","Layers":["x.tar"]}]"#),
        ),
        (
            "c.json",
            Item::File(br#"{"rootfs":{"diff_ids":["sha256:00"]}}"#),
        ),
    ]));
    expect_err(&p, None, &["c.json", "invalid digest"]);
    put(&make_tar(&[(
        "manifest.json",
        Item::File(br#"[{"Config":"../c.json","Layers":[]}]"#),
    )]));
    expect_err(&p, None, &["outside the archive"]);
    put(&make_tar(&[
        (
            "manifest.json",
            Item::File(br#"[{"Config":"a","Layers":[]}]"#),
        ),
        ("a", Item::Symlink("b")),
        ("b", Item::Symlink("a")),
    ]));
    expect_err(&p, None, &["links"]);

    // config named by a hash it does not have
    let wrong_name = format!("{}.json", "0".repeat(64));
    put(&make_tar(&[
        (
            "manifest.json",
            Item::File(format!(r#"[{{"Config":"{wrong_name}","Layers":[]}}]"#).as_bytes()),
        ),
        (&wrong_name, Item::File(b"{}")),
    ]));
    expect_err(&p, None, &[&wrong_name, "hashes to"]);

    // a layer whose content does not match its diff_id
    let mut tampered = bytes.clone();
    let at = find(&tampered, b"workspace/app.txt").unwrap();
    let data_at = at + 512 + 10; // inside the file content of the plain layer
    tampered[data_at] ^= 1;
    put(&tampered);
    let h2 = format!("{}.tar", s.layers[1].1.hex());
    expect_err(&p, None, &[&h2, "not its diff_id"]);
    let img = read_docker_archive(&p, None).unwrap();
    let store = BlobStore::new(t.path().join("store"));
    let e = img.import_into(&store).unwrap_err().to_string();
    assert!(e.contains("not its diff_id") && e.contains(&h2), "{e}");
    assert!(!store.has(&s.layers[1].1));
    assert!(tmp_files(store.dir()).is_empty());

    // truncated in the middle of the last layer, or in the middle of a header
    let layer_off = find(&bytes, format!("{h2}\0").as_bytes()).unwrap();
    put(&bytes[..layer_off + 512 + 100]);
    expect_err(&p, None, &[&h2, "truncated"]);
    put(&bytes[..layer_off + 200]);
    expect_err(&p, None, &["tar"]);

    // a missing layer entry
    let renamed: Vec<u8> = {
        let mut b = bytes.clone();
        let at = find(&b, format!("{layer0}\0").as_bytes()).unwrap();
        b[at] = b'z';
        // fix the header checksum
        let hstart = at - at % 512;
        let mut h = Header::new_old();
        h.as_mut_bytes().copy_from_slice(&b[hstart..hstart + 512]);
        h.set_cksum();
        b[hstart..hstart + 512].copy_from_slice(h.as_bytes());
        b
    };
    put(&renamed);
    expect_err(&p, None, &[&layer0, "no entry"]);

    // gzip layer inside the archive that is corrupt
    let (_, l) = tar_of(&[("x", "y")]);
    let mut lgz = gzip(&l);
    let n = lgz.len();
    lgz[n - 12] ^= 0xff;
    let mut cfg = ImageConfig::new("linux", "amd64");
    cfg.set_diff_ids(&[Digest::of_bytes(&l)]);
    put(&make_tar(&[
        (
            "manifest.json",
            Item::File(br#"[{"Config":"c.json","Layers":["l.tar.gz"]}]"#),
        ),
        ("c.json", Item::File(&cfg.to_bytes().unwrap())),
        ("l.tar.gz", Item::File(&lgz)),
    ]));
    expect_err(&p, None, &["l.tar.gz"]);
    let _ = config_name;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn never_panics_on_truncation_or_corruption() {
    let s = sample();
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("good.tar");
    write(&s, &good, &["app:v1"]).unwrap();
    let bytes = fs::read(&good).unwrap();
    let p = t.path().join("cut.tar");
    let store = BlobStore::new(t.path().join("store"));
    let mut ok = 0;
    for cut in (0..bytes.len()).step_by(97).chain([bytes.len() - 1024]) {
        fs::write(&p, &bytes[..cut]).unwrap();
        if let Ok(img) = read_docker_archive(&p, None)
            && img.import_into(&store).is_ok()
        {
            ok += 1;
        }
    }
    // only cuts inside the trailing zero blocks can still be complete
    assert!(ok <= 11, "{ok}");
    for i in (0..bytes.len()).step_by(131) {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        fs::write(&p, &b).unwrap();
        if let Ok(img) = read_docker_archive(&p, None) {
            let _ = img.import_into(&BlobStore::new(t.path().join(format!("s{i}"))));
        }
    }
}

// ---- real tools ------------------------------------------------------

fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(cmd).is_file()))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn skopeo_reads_what_kiln_writes() {
    if !have("skopeo") {
        eprintln!("note: skopeo is not on PATH; skipping skopeo_reads_what_kiln_writes");
        return;
    }
    let s = sample();
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("kiln.tar");
    let w = write(&s, &path, &["localhost:5000/kiln/sample:v1"]).unwrap();
    let arg = format!("docker-archive:{}", path.display());
    let inspect: serde_json::Value =
        serde_json::from_str(&run(Command::new("skopeo").args(["inspect", &arg]))).unwrap();
    assert_eq!(inspect["Labels"]["which"], "sample", "{inspect}");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3, "{inspect}");
    let config = run(Command::new("skopeo").args(["inspect", "--config", "--raw", &arg]));
    assert_eq!(Digest::of_bytes(config.as_bytes()), w.image_id);
    // a digest-checking copy into an OCI layout
    let oci = t.path().join("oci");
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("{arg}:localhost:5000/kiln/sample:v1"),
        &format!("oci:{}:copied", oci.display()),
    ]));
    let layout = OciLayout::open(&oci).unwrap();
    let r = layout.resolve(Some("copied")).unwrap();
    assert_eq!(r.config.diff_ids().unwrap(), s.config.diff_ids().unwrap());
}

/// The project's image tools, `<workspace>/tools`.
fn project_tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools")
}

#[test]
fn kiln_reads_what_skopeo_writes() {
    if !have("skopeo") {
        eprintln!("note: skopeo is not on PATH; skipping kiln_reads_what_skopeo_writes");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("busybox");
    let script = project_tools().join("make-busybox-base.sh");
    if script.is_file() {
        let work = std::env::var_os("KILN_TOOLS_DIR").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/kiln-tools"),
            PathBuf::from,
        );
        run(Command::new("bash")
            .arg(&script)
            .arg(&base)
            .arg("latest")
            .env("KILN_TOOLS_DIR", work));
    } else {
        eprintln!(
            "note: {} is missing; using a layout built in-process",
            script.display()
        );
        let layout = OciLayout::create_or_open(&base).unwrap();
        let s = sample();
        let mut descs = Vec::new();
        for (d, _) in &s.layers {
            let bytes = s.blobs.read_descriptor(d).unwrap();
            descs.push(layout.blobs().write_bytes(&bytes, &d.media_type).unwrap());
        }
        layout.write_image("latest", &s.config, descs).unwrap();
    }
    let layout = OciLayout::open(&base).unwrap();
    let oci = layout.resolve(Some("latest")).unwrap();
    let archive = t.path().join("skopeo.tar");
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("oci:{}:latest", base.display()),
        &format!(
            "docker-archive:{}:localhost:5000/base/busybox:v1",
            archive.display()
        ),
    ]));
    // skopeo writes the name normalised; any spelling of it selects the image
    for sel in [None, Some("localhost:5000/base/busybox:v1")] {
        let img = read_docker_archive(&archive, sel).unwrap();
        assert_eq!(
            img.repo_tags,
            vec!["localhost:5000/base/busybox:v1".to_owned()]
        );
        assert_eq!(img.diff_ids(), oci.config.diff_ids().unwrap());
        assert_eq!(img.config.env(), oci.config.env());
    }
    let img = read_docker_archive(&archive, None).unwrap();
    let store_dir = t.path().join("run-image");
    let run_layout = OciLayout::create_or_open(&store_dir).unwrap();
    let descs = img.import_into(run_layout.blobs()).unwrap();
    for (d, diff_id) in descs.iter().zip(img.diff_ids()) {
        assert_eq!(d.digest, diff_id);
        assert_eq!(d.media_type, MEDIA_TYPE_OCI_LAYER_TAR);
        run_layout.blobs().read_descriptor(d).unwrap();
    }
    run_layout
        .write_image("imported", &img.config, descs)
        .unwrap();
    run(Command::new("skopeo").args(["inspect", &format!("oci:{}:imported", store_dir.display())]));
    // and Kiln's own archive of the imported image is loadable by skopeo again
    let again = t.path().join("again.tar");
    let resolved = run_layout.resolve(Some("imported")).unwrap();
    write_docker_archive_from_resolved(
        &again,
        &["kiln/busybox:v1".into()],
        &resolved,
        run_layout.blobs(),
    )
    .unwrap();
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("docker-archive:{}", again.display()),
        &format!("oci:{}:roundtrip", t.path().join("rt").display()),
    ]));
}
