//! Detect with real components: which group wins, the resolved plan, why groups fail, and
//! buildpacks that error, spin or try to write during detect.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

// Each phase's tests include the shared helpers; lib.rs stays free of test modules.
#[allow(clippy::duplicate_mod)]
#[path = "../test_support.rs"]
mod support;

use support::{CONSUMER, Dirs, HOSTILE, PROCFILE, PROVIDER, RAW};

fn entry(buildpack: usize) -> OrderEntry {
    OrderEntry {
        buildpack,
        optional: false,
    }
}

fn optional(buildpack: usize) -> OrderEntry {
    OrderEntry {
        buildpack,
        optional: true,
    }
}

/// Run detect over `order`; also returns how many times each buildpack's verdict was
/// reported, by id.
fn run(
    runtime: &Runtime,
    buildpacks: &[Buildpack],
    order: &[Vec<OrderEntry>],
    inputs: &BuildInputs,
) -> (Result<DetectOutput, DetectError>, BTreeMap<String, usize>) {
    let mut seen = BTreeMap::new();
    let out = detect(runtime, buildpacks, order, inputs, |bp, _| {
        *seen.entry(bp.descriptor.id.to_string()).or_insert(0) += 1;
    });
    (out, seen)
}

#[test]
fn procfile_passes_only_when_the_app_has_a_procfile() {
    let (rt, _, bps) = support::buildpacks(&[PROCFILE]);
    let dirs = Dirs::new();
    let (out, _) = run(&rt, &bps, &[vec![entry(0)]], &dirs.inputs(&[]));
    let e = out.unwrap_err();
    assert!(matches!(e, DetectError::NoMatch(_)), "{e}");
    assert!(
        e.to_string()
            .contains("kiln/procfile: no Procfile in the app directory"),
        "{e}"
    );

    dirs.app_file("Procfile", "web: echo hi\n");
    let (out, _) = run(&rt, &bps, &[vec![entry(0)]], &dirs.inputs(&[]));
    let out = out.unwrap();
    assert_eq!(out.group, [0]);
    assert!(out.plan.is_empty());
}

#[test]
fn a_provider_and_a_consumer_resolve_to_one_plan_entry() {
    let (rt, _, bps) = support::buildpacks(&[PROVIDER, CONSUMER]);
    let dirs = Dirs::new();
    let (out, seen) = run(&rt, &bps, &[vec![entry(0), entry(1)]], &dirs.inputs(&[]));
    let out = out.unwrap();
    assert_eq!(out.group, [0, 1]);
    assert_eq!(out.plan.len(), 1);
    let greeting = &out.plan[0];
    assert_eq!(greeting.name, "greeting");
    assert_eq!(greeting.providers, [0]);
    assert_eq!(greeting.requires.len(), 1);
    assert_eq!(
        greeting.requires[0].metadata,
        serde_json::json!({"from": "consumer"})
    );
    assert_eq!(seen["tests/provider"], 1);
    assert_eq!(seen["tests/consumer"], 1);
}

#[test]
fn a_group_whose_plan_cannot_be_satisfied_fails_naming_the_group() {
    let (rt, _, bps) = support::buildpacks(&[PROVIDER, CONSUMER]);
    let dirs = Dirs::new();
    for (group, names) in [
        (vec![entry(1)], "[tests/consumer]"),
        (vec![entry(1), entry(0)], "[tests/consumer, tests/provider]"),
        (vec![entry(0)], "[tests/provider]"),
    ] {
        let (out, _) = run(&rt, &bps, &[group], &dirs.inputs(&[]));
        let e = out.unwrap_err();
        assert!(matches!(e, DetectError::NoMatch(_)), "{e}");
        assert!(
            e.to_string().contains(&format!(
                "group {names}: the build plan cannot be satisfied"
            )),
            "{e}"
        );
    }
}

#[test]
fn the_first_passing_group_wins_and_each_buildpack_is_detected_once() {
    let (rt, _, bps) = support::buildpacks(&[PROCFILE, PROVIDER, CONSUMER, RAW]);
    let dirs = Dirs::new();
    let order = [
        vec![entry(0), entry(2)],
        vec![entry(1), entry(2)],
        vec![entry(3)],
    ];
    let (out, seen) = run(&rt, &bps, &order, &dirs.inputs(&[]));
    assert_eq!(out.unwrap().group, [1, 2]);
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            ("kiln/procfile".to_owned(), 1),
            ("tests/consumer".to_owned(), 1),
            ("tests/provider".to_owned(), 1),
        ],
        "the consumer's verdict is reused for the second group; the third is never tried"
    );
}

#[test]
fn a_failing_optional_buildpack_is_dropped_from_the_group() {
    let (rt, _, bps) = support::buildpacks(&[PROCFILE, RAW]);
    let dirs = Dirs::new();
    let (out, _) = run(&rt, &bps, &[vec![optional(0), entry(1)]], &dirs.inputs(&[]));
    assert_eq!(out.unwrap().group, [1]);
    let (out, _) = run(&rt, &bps, &[vec![entry(0), entry(1)]], &dirs.inputs(&[]));
    assert!(matches!(out.unwrap_err(), DetectError::NoMatch(_)));
    // All optional and all failing: no group.
    let (out, _) = run(&rt, &bps, &[vec![optional(0)]], &dirs.inputs(&[]));
    assert!(matches!(out.unwrap_err(), DetectError::NoMatch(_)));
}

#[test]
fn a_buildpack_error_makes_detection_errored_naming_it() {
    let (rt, _, bps) = support::buildpacks(&[HOSTILE, PROCFILE]);
    let dirs = Dirs::new();
    let inputs = dirs.inputs(&[("KILN_TEST_MODE", "no-such-mode")]);
    let (out, _) = run(&rt, &bps, &[vec![entry(0)], vec![entry(1)]], &inputs);
    let e = out.unwrap_err();
    assert!(matches!(e, DetectError::Errored(_)), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("tests/hostile: error: tests/hostile: unknown KILN_TEST_MODE"),
        "{text}"
    );
    assert!(
        text.contains("kiln/procfile: no Procfile"),
        "every group's reason is listed: {text}"
    );
    // An erroring optional buildpack is dropped like a failing one.
    let (out, _) = run(&rt, &bps, &[vec![optional(0)]], &inputs);
    assert!(matches!(out.unwrap_err(), DetectError::Errored(_)));
}

#[test]
fn the_app_is_read_only_during_detect() {
    let (rt, _, bps) = support::buildpacks(&[HOSTILE]);
    let dirs = Dirs::new();
    let inputs = dirs.inputs(&[("KILN_TEST_MODE", "detect-write")]);
    let (out, _) = run(&rt, &bps, &[vec![entry(0)]], &inputs);
    let e = out.unwrap_err();
    assert!(matches!(e, DetectError::Errored(_)), "{e}");
    assert!(
        e.to_string()
            .contains("sandbox attempt detect-write refused"),
        "{e}"
    );
    assert!(!dirs.app.join("hostile-detect-write.txt").exists());
}

#[test]
fn a_buildpack_spinning_in_detect_is_stopped_at_the_time_limit() {
    let (rt, _) = support::runtime_with(kiln_runtime::Limits {
        detect_timeout: Duration::from_millis(300),
        ..kiln_runtime::Limits::default()
    });
    let bps = vec![support::load(&rt, HOSTILE), support::load(&rt, RAW)];
    let dirs = Dirs::new();
    let inputs = dirs.inputs(&[("KILN_TEST_MODE", "detect-loop")]);
    let started = std::time::Instant::now();
    let (out, _) = run(&rt, &bps, &[vec![entry(0)], vec![entry(1)]], &inputs);
    assert!(started.elapsed() < Duration::from_secs(20));
    // The next group is still tried, and wins.
    assert_eq!(out.unwrap().group, [1]);
    let (out, _) = run(&rt, &bps, &[vec![entry(0)]], &inputs);
    let e = out.unwrap_err();
    assert!(matches!(e, DetectError::Errored(_)), "{e}");
    assert!(e.to_string().contains("tests/hostile: error:"), "{e}");
}

#[test]
fn too_many_or_malformed_plan_alternatives_are_errors() {
    let alt = |requires: Vec<types::PlanRequire>| types::PlanAlternative {
        provides: Vec::new(),
        requires,
    };
    let require = |name: &str, metadata: &str| types::PlanRequire {
        name: name.into(),
        metadata: metadata.into(),
    };
    let many = (0..=MAX_PLAN_ALTERNATIVES)
        .map(|_| alt(Vec::new()))
        .collect();
    assert!(options(many).unwrap_err().contains("at most 64"));
    assert!(
        options(vec![alt(vec![require("", "{}")])])
            .unwrap_err()
            .contains("empty name")
    );
    assert!(
        options(vec![alt(vec![require("x", "[1]")])])
            .unwrap_err()
            .contains("must be a JSON object")
    );
    assert!(
        options(vec![alt(vec![require("x", "{oops")])])
            .unwrap_err()
            .contains("is not JSON")
    );
    let ok = options(Vec::new()).unwrap();
    assert_eq!(
        ok,
        [PlanOption::default()],
        "no alternatives: one empty option"
    );
}
