//! The parallel gzip writer: validity, determinism and failure behaviour.

mod common;

use std::io::{Read, Write};

use common::{FailAfter, mixed, pipe, within};
use kiln_compress::{BLOCK_SIZE, GzipEncoder};

fn gzip(data: &[u8], level: u32, threads: usize, chunk: usize) -> Vec<u8> {
    let mut enc = GzipEncoder::with_options(Vec::new(), level, threads).expect("valid level");
    for piece in data.chunks(chunk.max(1)) {
        enc.write_all(piece).expect("write");
    }
    enc.finish().expect("finish")
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn system_gzip_checks(gz: &[u8], data: &[u8]) {
    if !std::path::Path::new("/usr/bin/gzip").exists() {
        eprintln!("no /usr/bin/gzip; skipping the system gzip check");
        return;
    }
    let (ok, _) = pipe("/usr/bin/gzip", &["-t"], gz).expect("run gzip -t");
    assert!(ok, "gzip -t rejects the stream");
    let (ok, out) = pipe("/usr/bin/gzip", &["-dc"], gz).expect("run gzip -dc");
    assert!(ok, "gzip -dc fails");
    assert!(out == data, "gzip -dc gives other bytes");
}

fn sizes() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("one byte", vec![b'x']),
        ("one block", mixed(BLOCK_SIZE, 70, 1)),
        ("block + 1", mixed(BLOCK_SIZE + 1, 70, 2)),
        ("three blocks - 1", mixed(3 * BLOCK_SIZE - 1, 50, 3)),
        ("10 MB mixed", mixed(10_000_000, 70, 4)),
        ("repetitive", b"hello layer\n".repeat(50_000)),
    ]
}

#[test]
fn roundtrips_with_flate2_and_system_gzip() {
    for (name, data) in sizes() {
        let gz = gzip(&data, 6, 2, data.len());
        assert!(gunzip(&gz) == data, "{name}: flate2 roundtrip");
        system_gzip_checks(&gz, &data);
    }
}

#[test]
fn header_matches_what_kiln_wrote_with_flate2() {
    for level in [0, 1, 6, 9] {
        let mut reference = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(Vec::new(), flate2::Compression::new(level));
        reference.write_all(b"hello").expect("write");
        let reference = reference.finish().expect("finish");
        let ours = gzip(b"hello", level, 1, 5);
        assert_eq!(ours[..10], reference[..10], "level {level}");
        assert_eq!(ours[ours.len() - 8..], reference[reference.len() - 8..]);
    }
}

#[test]
fn trailer_has_crc_and_size() {
    for (name, data) in sizes() {
        let gz = gzip(&data, 6, 3, 4097);
        let trailer = &gz[gz.len() - 8..];
        let crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
        let isize = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes"));
        assert_eq!(crc, crc32fast::hash(&data), "{name}: CRC-32");
        assert_eq!(isize as usize, data.len(), "{name}: ISIZE");
    }
}

#[test]
fn output_does_not_depend_on_threads_or_write_sizes() {
    let data = mixed(10_000_000, 70, 5);
    let reference = gzip(&data, 6, 1, data.len());
    assert!(gunzip(&reference) == data);
    for threads in [2, 3, 8] {
        assert!(
            gzip(&data, 6, threads, data.len()) == reference,
            "{threads} threads, whole"
        );
        assert!(
            gzip(&data, 6, threads, 4097) == reference,
            "{threads} threads, 4097-byte writes"
        );
    }
    assert!(
        gzip(&data, 6, 1, 4097) == reference,
        "1 thread, 4097-byte writes"
    );
    // One-byte writes on a smaller input spanning several blocks.
    let small = &data[..5 * BLOCK_SIZE + 77];
    let reference = gzip(small, 6, 1, small.len());
    for threads in [1, 2, 8] {
        assert!(
            gzip(small, 6, threads, 1) == reference,
            "{threads} threads, 1-byte writes"
        );
    }
}

#[test]
fn block_edges_do_not_depend_on_threads() {
    for len in [
        0,
        1,
        BLOCK_SIZE - 1,
        BLOCK_SIZE,
        BLOCK_SIZE + 1,
        2 * BLOCK_SIZE,
    ] {
        let data = mixed(len, 70, 6);
        let reference = gzip(&data, 6, 1, data.len().max(1));
        for threads in [2, 3, 8] {
            assert!(
                gzip(&data, 6, threads, 1000) == reference,
                "{len} bytes, {threads} threads"
            );
        }
        assert!(gunzip(&reference) == data);
    }
}

#[test]
fn every_level_roundtrips() {
    let data = mixed(3 * BLOCK_SIZE + 5, 70, 7);
    for level in 0..=9 {
        let gz = gzip(&data, level, 2, 65536);
        assert!(gunzip(&gz) == data, "level {level}");
        assert!(
            gz == gzip(&data, level, 1, 999),
            "level {level} thread independence"
        );
    }
    assert!(GzipEncoder::with_options(Vec::new(), 10, 1).is_err());
}

#[test]
fn parallel_output_is_about_as_small_as_one_stream() {
    let data = mixed(4_000_000, 70, 8);
    let ours = gzip(&data, 6, 2, data.len()).len();
    let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    single.write_all(&data).expect("write");
    let single = single.finish().expect("finish").len();
    assert!(
        ours * 100 <= single * 101,
        "blocks cost more than 1 %: {ours} vs {single}"
    );
}

#[test]
fn a_failing_inner_writer_is_an_error_not_a_hang() {
    for threads in [1, 2, 4] {
        for limit in [0, 5, 20_000, 300_000] {
            within(120, move || {
                let data = mixed(4_000_000, 70, 9);
                let mut enc =
                    GzipEncoder::with_options(FailAfter { limit, written: 0 }, 6, threads)
                        .expect("valid level");
                let wrote = enc.write_all(&data);
                if wrote.is_err() {
                    assert!(enc.write_all(b"more").is_err(), "stays failed");
                }
                assert!(enc.finish().is_err(), "{threads} threads, limit {limit}");
            });
        }
    }
}

#[test]
fn dropping_without_finish_does_not_hang() {
    within(120, || {
        for threads in [1, 2, 8] {
            let mut enc = GzipEncoder::with_options(Vec::new(), 6, threads).expect("valid level");
            enc.write_all(&mixed(3_000_000, 70, 10)).expect("write");
            drop(enc);
        }
        let mut enc = GzipEncoder::new(Vec::new());
        enc.write_all(b"small").expect("write");
        drop(enc);
    });
}

#[test]
fn flush_does_not_change_the_output() {
    let data = mixed(2 * BLOCK_SIZE + 100, 70, 11);
    let reference = gzip(&data, 6, 2, data.len());
    let mut enc = GzipEncoder::with_options(Vec::new(), 6, 2).expect("valid level");
    for piece in data.chunks(50_000) {
        enc.write_all(piece).expect("write");
        enc.flush().expect("flush");
    }
    assert!(enc.finish().expect("finish") == reference);
}
