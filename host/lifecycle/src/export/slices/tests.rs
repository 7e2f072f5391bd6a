use std::collections::BTreeSet;

use kiln_oci::{LayerBuilder, LayerOwnership};

use super::*;

/// An app of `files` files of `size` bytes each under a few directories; `changed` gets
/// other (same-size) content, `grown` twice the size.
fn app(files: usize, size: usize, changed: Option<usize>, grown: Option<usize>) -> LayerBuilder {
    let mut b = LayerBuilder::new(LayerOwnership::ROOT);
    b.add_dir("workspace").unwrap();
    for i in 0..files {
        let fill = if changed == Some(i) { b'y' } else { b'x' };
        let len = if grown == Some(i) { size * 2 } else { size };
        b.add_file(
            &format!("workspace/d{}/f{i:05}", i % 7),
            vec![fill; len],
            0o644,
        )
        .unwrap();
    }
    b.add_file("workspace/static/logo.svg", b"<svg/>".to_vec(), 0o644)
        .unwrap();
    b
}

fn file_sets(parts: &[LayerBuilder]) -> Vec<BTreeSet<String>> {
    parts
        .iter()
        .map(|p| {
            p.sizes()
                .filter(|(_, s)| *s > 0)
                .map(|(path, _)| String::from_utf8_lossy(path).into_owned())
                .collect()
        })
        .collect()
}

fn auto() -> SliceRules {
    SliceRules {
        explicit: Vec::new(),
        auto: true,
    }
}

#[test]
fn a_small_app_is_one_layer() {
    let parts = split(app(100, 1000, None, None), &auto()).unwrap();
    assert_eq!(parts.len(), 1);
}

#[test]
fn a_large_app_is_sliced_into_a_bounded_number_of_layers_that_cover_it() {
    let whole = app(500, 100_000, None, None);
    let all: BTreeSet<String> = whole.paths().into_iter().collect();
    let parts = split(whole, &auto()).unwrap();
    assert!((2..=64).contains(&parts.len()), "{} slices", parts.len());
    let union: BTreeSet<String> = parts.iter().flat_map(LayerBuilder::paths).collect();
    assert_eq!(union, all, "the slices together are the one-layer tree");
    let sets = file_sets(&parts);
    let files: usize = sets.iter().map(BTreeSet::len).sum();
    assert_eq!(files, 501, "each file in exactly one slice");
    for p in &parts {
        let bytes: u64 = p.sizes().map(|(_, s)| s).sum();
        assert!(bytes <= 2 * (4 << 20) + 100_000, "slice of {bytes} bytes");
    }
}

#[test]
fn same_tree_same_cuts_and_a_changed_file_moves_no_cut() {
    let a = file_sets(&split(app(500, 100_000, None, None), &auto()).unwrap());
    let b = file_sets(&split(app(500, 100_000, None, None), &auto()).unwrap());
    assert_eq!(a, b);
    let changed = file_sets(&split(app(500, 100_000, Some(250), None), &auto()).unwrap());
    assert_eq!(a, changed, "same sizes: same boundaries");
}

#[test]
fn a_grown_file_changes_only_the_slices_next_to_it() {
    let a = file_sets(&split(app(500, 100_000, None, None), &auto()).unwrap());
    let grown = file_sets(&split(app(500, 100_000, None, Some(250)), &auto()).unwrap());
    let differing = grown.iter().filter(|s| !a.contains(s)).count();
    assert!(
        differing <= 3,
        "{differing} of {} slices changed",
        grown.len()
    );
}

#[test]
fn explicit_slices_come_first_and_take_their_files() {
    let rules = SliceRules {
        explicit: vec![vec!["static".into()], vec!["nothing/**".into()]],
        auto: false,
    };
    let parts = split(app(10, 10, None, None), &rules).unwrap();
    let sets = file_sets(&parts);
    assert_eq!(parts.len(), 2, "the empty slice is dropped");
    assert_eq!(
        sets[0],
        BTreeSet::from(["workspace/static/logo.svg".to_owned()])
    );
    assert_eq!(sets[1].len(), 10);
    assert!(
        parts[0].paths().contains(&"workspace/".to_owned()),
        "parents repeated"
    );
}

#[test]
fn a_bad_glob_names_itself() {
    let rules = SliceRules {
        explicit: vec![vec!["a/[".into()]],
        auto: true,
    };
    let err = split(app(1, 1, None, None), &rules).unwrap_err();
    assert!(err.to_string().contains("\"a/[\""), "{err}");
}

#[test]
fn the_target_moves_in_quarter_power_of_two_steps() {
    assert_eq!(target_size(1 << 20), 4 << 20);
    assert_eq!(target_size(300 << 20), 5 << 20);
    assert_eq!(target_size(320 << 20), 5 << 20);
    assert_eq!(target_size(321 << 20), 6 << 20);
    assert_eq!(target_size(1 << 30), 16 << 20);
}

#[test]
fn many_large_files_still_give_at_most_the_maximum_slices() {
    let mut b = LayerBuilder::new(LayerOwnership::ROOT);
    for i in 0..200 {
        b.add_file(&format!("workspace/big{i:03}"), vec![0; 3 << 20], 0o644)
            .unwrap();
    }
    let parts = split(b, &auto()).unwrap();
    assert!(parts.len() <= MAX_AUTO_SLICES, "{} slices", parts.len());
    assert!(parts.len() > 8, "{} slices", parts.len());
}
