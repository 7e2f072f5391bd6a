//! The zstd writer: roundtrips and worker-count independence.

mod common;

use std::io::Write;

use common::{FailAfter, mixed, pipe, within};
use kiln_compress::ZstdEncoder;

fn zstd(data: &[u8], level: i32, workers: usize, chunk: usize) -> Vec<u8> {
    let mut enc = ZstdEncoder::new(Vec::new(), level, workers).expect("valid level");
    for piece in data.chunks(chunk.max(1)) {
        enc.write_all(piece).expect("write");
    }
    enc.finish().expect("finish")
}

#[test]
fn roundtrips() {
    for data in [
        Vec::new(),
        vec![7],
        mixed(300_000, 70, 1),
        mixed(10_000_000, 70, 2),
    ] {
        let z = zstd(&data, 3, 2, 65536);
        assert!(zstd::decode_all(&z[..]).expect("valid zstd") == data);
        if std::path::Path::new("/usr/bin/zstd").exists() {
            let (ok, out) = pipe("/usr/bin/zstd", &["-dc"], &z).expect("run zstd -dc");
            assert!(ok && out == data, "zstd -dc");
        }
    }
}

#[test]
fn output_does_not_depend_on_workers_or_write_sizes() {
    // Larger than several zstd jobs at level 3.
    let data = mixed(40_000_000, 70, 3);
    let reference = zstd(&data, 3, 1, data.len());
    assert!(zstd::decode_all(&reference[..]).expect("valid zstd") == data);
    for workers in [2, 4] {
        assert!(
            zstd(&data, 3, workers, data.len()) == reference,
            "{workers} workers"
        );
    }
    assert!(zstd(&data, 3, 2, 4097) == reference, "4097-byte writes");
    let small = &data[..1_000_000];
    let reference = zstd(small, 3, 1, small.len());
    assert!(zstd(small, 3, 4, 1) == reference, "1-byte writes");
}

#[test]
fn flush_does_not_change_the_output() {
    let data = mixed(3_000_000, 70, 4);
    let reference = zstd(&data, 3, 2, data.len());
    let mut enc = ZstdEncoder::new(Vec::new(), 3, 2).expect("valid level");
    for piece in data.chunks(100_000) {
        enc.write_all(piece).expect("write");
        enc.flush().expect("flush");
    }
    assert!(enc.finish().expect("finish") == reference);
}

#[test]
fn levels_are_checked() {
    assert!(ZstdEncoder::new(Vec::new(), 0, 1).is_err());
    assert!(ZstdEncoder::new(Vec::new(), 23, 1).is_err());
    assert!(ZstdEncoder::new(Vec::new(), 19, 1).is_ok());
}

#[test]
fn a_failing_inner_writer_is_an_error_not_a_hang() {
    within(120, || {
        let data = mixed(20_000_000, 70, 5);
        let mut enc = ZstdEncoder::new(
            FailAfter {
                limit: 1000,
                written: 0,
            },
            3,
            2,
        )
        .expect("valid level");
        let wrote = enc.write_all(&data);
        assert!(wrote.is_err() || enc.finish().is_err());
    });
}
