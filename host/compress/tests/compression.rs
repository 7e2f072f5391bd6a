//! The `Compression` choice: parsing, media types and its encoders.

use std::io::{Read, Write};

use kiln_compress::{Compression, Encoder, default_threads};

#[test]
fn parses_cli_spellings() {
    assert_eq!(
        "gzip".parse::<Compression>().ok(),
        Some(Compression::Gzip { level: 6 })
    );
    assert_eq!(
        "zstd".parse::<Compression>().ok(),
        Some(Compression::Zstd { level: 3 })
    );
    assert_eq!(
        "gzip:9".parse::<Compression>().ok(),
        Some(Compression::Gzip { level: 9 })
    );
    assert_eq!(
        "ZSTD:19".parse::<Compression>().ok(),
        Some(Compression::Zstd { level: 19 })
    );
    for bad in [
        "", "xz", "gzip:", "gzip:10", "gzip:-1", "zstd:0", "zstd:23", "zstd:x",
    ] {
        assert!(bad.parse::<Compression>().is_err(), "{bad:?}");
    }
    for c in [
        Compression::GZIP,
        Compression::ZSTD,
        Compression::Gzip { level: 1 },
    ] {
        assert_eq!(c.to_string().parse::<Compression>().ok(), Some(c));
    }
    assert_eq!(Compression::default(), Compression::GZIP);
}

#[test]
fn media_types() {
    assert_eq!(
        Compression::GZIP.media_type(),
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        Compression::ZSTD.media_type(),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
}

#[test]
fn encoders_roundtrip_a_tar() {
    let mut tar = tar::Builder::new(Vec::new());
    let body = b"hello layer\n".repeat(50_000);
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "hello.txt", &body[..])
        .expect("append");
    let tar = tar.into_inner().expect("tar");

    for c in [Compression::GZIP, Compression::ZSTD] {
        let mut enc: Encoder<Vec<u8>> = c.encoder(Vec::new(), default_threads()).expect("encoder");
        enc.write_all(&tar).expect("write");
        let blob = enc.finish().expect("finish");
        let mut out = Vec::new();
        match c {
            Compression::Gzip { .. } => {
                flate2::read::GzDecoder::new(&blob[..])
                    .read_to_end(&mut out)
                    .expect("gunzip");
            }
            Compression::Zstd { .. } => out = zstd::decode_all(&blob[..]).expect("unzstd"),
        }
        assert!(out == tar, "{c}");
        assert!(c.encoder(Vec::new(), 1).is_ok());
    }
    assert!(
        Compression::Gzip { level: 12 }
            .encoder(Vec::new(), 1)
            .is_err()
    );
}
