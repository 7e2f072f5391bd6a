use super::*;
use crate::inputs::{ResolvedBuildpack, ResolvedImage, ResolvedSource};

fn inputs() -> BuildInputs {
    BuildInputs {
        build_image: None,
        buildpacks: vec![ResolvedBuildpack {
            digest: "sha256:bp1".into(),
            id: Some("kiln/procfile".into()),
            reference: "docker://r/bp:1".into(),
            version: Some("0.1.0".into()),
        }],
        kiln: "0.1.0".into(),
        run_image: ResolvedImage {
            digest: "sha256:run1".into(),
            reference: "r/run:1".into(),
        },
        source: ResolvedSource {
            id: "c0ffee".into(),
            kind: "git".into(),
            revision: Some("main".into()),
            sub_path: None,
            url: "/repo".into(),
        },
        spec_hash: "sha256:spec1".into(),
    }
}

type Change = fn(&mut BuildInputs);

fn label(i: &BuildInputs) -> Current {
    Current::Label(i.to_label())
}

#[test]
fn unchanged_inputs_are_nothing_to_do() {
    let d = decide(&inputs(), &label(&inputs()), false);
    assert_eq!(d.action, Action::Nothing);
    assert!(d.reasons.is_empty() && d.changes.is_empty());
}

#[test]
fn only_a_new_run_image_is_a_rebase() {
    let old = inputs();
    let mut new = inputs();
    new.run_image.digest = "sha256:run2".into();
    let d = decide(&new, &label(&old), false);
    assert_eq!(
        (d.action, d.reasons.as_slice()),
        (Action::Rebase, &[Reason::Stack][..])
    );
    new.source.id = "beef".into();
    let d = decide(&new, &label(&old), false);
    assert_eq!(d.action, Action::Build);
    assert_eq!(d.reasons, [Reason::Commit, Reason::Stack]);
}

#[test]
fn a_new_build_image_is_a_stack_rebuild() {
    let old = inputs();
    let mut new = inputs();
    new.build_image = Some(ResolvedImage {
        digest: "sha256:b".into(),
        reference: "r/build".into(),
    });
    let d = decide(&new, &label(&old), false);
    assert_eq!(
        (d.action, d.reasons.as_slice()),
        (Action::Build, &[Reason::Stack][..])
    );
}

#[test]
fn each_input_has_its_reason() {
    let old = inputs();
    let cases: [(Change, Reason); 4] = [
        (|i| i.spec_hash = "sha256:spec2".into(), Reason::Config),
        (|i| i.source.id = "beef".into(), Reason::Commit),
        (
            |i| i.buildpacks[0].digest = "sha256:bp2".into(),
            Reason::Buildpack,
        ),
        (|i| i.kiln = "0.2.0".into(), Reason::Buildpack),
    ];
    for (change, reason) in cases {
        let mut new = inputs();
        change(&mut new);
        let d = decide(&new, &label(&old), false);
        assert_eq!(
            (d.action, d.reasons.as_slice()),
            (Action::Build, &[reason][..])
        );
        assert_eq!(d.changes.len(), 1, "{:?}", d.changes);
    }
    // The ids and versions a build adds do not count: only references and digests do.
    let mut loaded = inputs();
    loaded.buildpacks[0].id = None;
    assert_eq!(decide(&loaded, &label(&old), false).action, Action::Nothing);
}

#[test]
fn missing_unlabelled_and_unreadable_images_are_config_builds_that_say_why() {
    for current in [
        Current::Missing,
        Current::Unlabelled,
        Current::Label("{\"not\": 1}".into()),
    ] {
        let d = decide(&inputs(), &current, false);
        assert_eq!(
            (d.action, d.reasons.as_slice()),
            (Action::Build, &[Reason::Config][..])
        );
        assert_eq!(d.changes.len(), 1);
    }
    let d = decide(&inputs(), &Current::Unlabelled, false);
    assert!(
        d.changes[0].contains("io.kiln.build.inputs"),
        "{:?}",
        d.changes
    );
}

#[test]
fn a_trigger_is_a_build() {
    let d = decide(&inputs(), &label(&inputs()), true);
    assert_eq!(
        (d.action, d.reasons.as_slice()),
        (Action::Build, &[Reason::Trigger][..])
    );
}

#[test]
fn the_label_is_canonical_and_round_trips() {
    let text = inputs().to_label();
    assert!(text.starts_with("{\"buildpacks\":"), "{text}");
    assert!(!text.contains(' '));
    assert_eq!(BuildInputs::from_label(&text).unwrap(), inputs());
    // A newer Kiln's extra keys are ignored.
    let extended = text.replacen('{', "{\"zz\":1,", 1);
    assert_eq!(BuildInputs::from_label(&extended).unwrap(), inputs());
}
