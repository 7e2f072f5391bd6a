#![allow(clippy::unwrap_used)]

use std::path::Path;

use kiln_spec::BuildpackId;

use crate::{
    BuildEnvVar, GroupEntry, InlineBuildpack, License, ProjectDescriptor, ProjectError,
    SchemaVersion,
};

fn parse(text: &str) -> Result<ProjectDescriptor, ProjectError> {
    ProjectDescriptor::parse(text, Path::new("app/project.toml"))
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

fn id(value: &str) -> BuildpackId {
    BuildpackId::new(value).unwrap()
}

const FULL_0_2: &str = r#"
[_]
schema-version = "0.2"
id = "com.example.app"
name = "Example"
version = "1.0.0"
authors = ["Ada <ada@example.com>"]
documentation-url = "https://example.com/docs"
source-url = "https://example.com/src"

[[_.licenses]]
type = "MIT"

[[_.licenses]]
uri = "https://example.com/LICENSE"

[_.metadata]
team = "core"
[_.metadata.anything]
goes = ["here", 1, true]

[io.buildpacks]
builder = "cnbs/sample-builder:jammy"
exclude = ["spec/", "*.log"]

[[io.buildpacks.group]]
id = "example/java"
version = "1.0.0"

[[io.buildpacks.group]]
uri = "docker://example/node:2"

[[io.buildpacks.group]]
id = "example/latest"

[[io.buildpacks.pre.group]]
id = "example/pre"

[[io.buildpacks.post.group]]
uri = "./local-buildpack"

[[io.buildpacks.build.env]]
name = "JAVA_OPTS"
value = "-Xmx1g"

[[io.buildpacks.build.env]]
name = "EMPTY"
value = ""

[[io.buildpacks.env.build]]
name = "DEPRECATED_SPELLING"
value = "still read"

[io.kiln]
build-image = "example.com/build:1"
run-image = "example.com/run:1"

[io.other-tool]
whatever = 1

[com.example]
also = "fine"
"#;

#[test]
fn a_full_0_2_file() {
    let d = parse(FULL_0_2).unwrap();
    assert_eq!(d.schema, SchemaVersion::V0_2);
    assert_eq!(d.file, Path::new("app/project.toml"));
    assert_eq!(d.project.id.as_deref(), Some("com.example.app"));
    assert_eq!(d.project.name.as_deref(), Some("Example"));
    assert_eq!(d.project.version.as_deref(), Some("1.0.0"));
    assert_eq!(d.project.authors, ["Ada <ada@example.com>"]);
    assert_eq!(
        d.project.documentation_url.as_deref(),
        Some("https://example.com/docs")
    );
    assert_eq!(
        d.project.source_url.as_deref(),
        Some("https://example.com/src")
    );
    assert_eq!(
        d.project.licenses,
        [
            License {
                kind: Some("MIT".into()),
                uri: None
            },
            License {
                kind: None,
                uri: Some("https://example.com/LICENSE".into())
            },
        ]
    );
    assert_eq!(d.metadata["team"].as_str(), Some("core"));
    assert!(d.metadata["anything"]["goes"].is_array());
    assert_eq!(d.builder.as_deref(), Some("cnbs/sample-builder:jammy"));
    assert_eq!(
        d.group,
        [
            GroupEntry::Id {
                id: id("example/java"),
                version: Some("1.0.0".into())
            },
            GroupEntry::Uri {
                uri: "docker://example/node:2".into()
            },
            GroupEntry::Id {
                id: id("example/latest"),
                version: None
            },
        ]
    );
    assert_eq!(
        d.pre_group,
        [GroupEntry::Id {
            id: id("example/pre"),
            version: None
        }]
    );
    assert_eq!(
        d.post_group,
        [GroupEntry::Uri {
            uri: "./local-buildpack".into()
        }]
    );
    let env: Vec<_> = d
        .build_env
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("JAVA_OPTS", "-Xmx1g"),
            ("EMPTY", ""),
            ("DEPRECATED_SPELLING", "still read")
        ]
    );
    assert_eq!(d.build_image.as_deref(), Some("example.com/build:1"));
    assert_eq!(d.run_image.as_deref(), Some("example.com/run:1"));
    assert!(!d.filter.is_all());
    assert!(!d.filter.includes(Path::new("spec"), true));
    assert!(!d.filter.includes(Path::new("a/b.log"), false));
    assert!(d.filter.includes(Path::new("src/main.rs"), false));
}

#[test]
fn a_legacy_0_1_file() {
    let d = parse(
        r#"
[project]
id = "io.buildpacks.my-app"
name = "My App"
version = "0.1"
authors = ["someone"]
source-url = "https://example.com/src"

[[project.licenses]]
type = "Apache-2.0"

[build]
builder = "cnbs/sample-builder:bionic"
include = ["cmd/", "go.mod", "*.go"]

[[build.buildpacks]]
id = "io.buildpacks/java"
version = "1.0"

[[build.buildpacks]]
uri = "https://example.com/bp.tgz"

[[build.buildpacks]]
id = "me/inline"
[build.buildpacks.script]
api = "0.10"
inline = "echo hi"

[[build.env]]
name = "FOO"
value = "bar"

[metadata]
foo = "bar"
[metadata.fizz]
buzz = ["a", "b", "c"]

[io.kiln]
run-image = "example.com/run"
"#,
    )
    .unwrap();
    assert_eq!(d.schema, SchemaVersion::V0_1);
    assert_eq!(d.project.id.as_deref(), Some("io.buildpacks.my-app"));
    assert_eq!(d.project.name.as_deref(), Some("My App"));
    assert_eq!(d.project.version.as_deref(), Some("0.1"));
    assert_eq!(d.project.licenses.len(), 1);
    assert_eq!(d.builder.as_deref(), Some("cnbs/sample-builder:bionic"));
    assert_eq!(d.group.len(), 3);
    assert_eq!(
        d.group[1],
        GroupEntry::Uri {
            uri: "https://example.com/bp.tgz".into()
        }
    );
    assert!(matches!(&d.group[2], GroupEntry::Inline(b) if b.inline == "echo hi"));
    assert!(d.pre_group.is_empty() && d.post_group.is_empty());
    assert_eq!(
        d.build_env,
        [BuildEnvVar {
            name: "FOO".into(),
            value: "bar".into()
        }]
    );
    assert_eq!(d.metadata["foo"].as_str(), Some("bar"));
    assert_eq!(d.run_image.as_deref(), Some("example.com/run"));
    assert_eq!(d.build_image, None);
    assert!(d.filter.includes(Path::new("cmd/x/y.txt"), false));
    assert!(d.filter.includes(Path::new("pkg/a.go"), false));
    assert!(!d.filter.includes(Path::new("README.md"), false));

    // An explicit 0.1 in `[_]` reads the legacy tables too.
    let d = parse("[_]\nschema-version = \"0.1\"\n[project]\nid = \"x\"\n").unwrap();
    assert_eq!(d.schema, SchemaVersion::V0_1);
    assert_eq!(d.project.id.as_deref(), Some("x"));

    // No descriptor content at all is a valid (legacy) descriptor that changes nothing.
    let d = parse("").unwrap();
    assert_eq!(d.schema, SchemaVersion::V0_1);
    assert!(d.group.is_empty() && d.filter.is_all() && d.builder.is_none());
}

#[test]
fn an_inline_buildpack() {
    let d = parse(
        r#"
[_]
schema-version = "0.2"
[[io.buildpacks.group]]
id = "example/ruby"
version = "1.0"
[[io.buildpacks.group]]
id = "me/rake-tasks"
[io.buildpacks.group.script]
api = "0.10"
inline = "rake package"
[[io.buildpacks.group]]
id = "me/bash"
version = "2.0.0"
[io.buildpacks.group.script]
api = "0.12"
shell = "/bin/bash"
inline = """
set -e
echo built
"""
"#,
    )
    .unwrap();
    assert_eq!(
        d.group[1],
        GroupEntry::Inline(InlineBuildpack {
            id: id("me/rake-tasks"),
            version: "0.0.0".into(),
            api: "0.10".into(),
            shell: "/bin/sh".into(),
            inline: "rake package".into(),
        })
    );
    assert_eq!(
        d.group[2],
        GroupEntry::Inline(InlineBuildpack {
            id: id("me/bash"),
            version: "2.0.0".into(),
            api: "0.12".into(),
            shell: "/bin/bash".into(),
            inline: "set -e\necho built\n".into(),
        })
    );

    let head = "[_]\nschema-version = \"0.2\"\n[[io.buildpacks.group]]\n";
    for (entry, key, says) in [
        (
            "[io.buildpacks.group.script]\napi = \"0.10\"\ninline = \"x\"\n",
            "io.buildpacks.group[0].id",
            "needs an id",
        ),
        (
            "id = \"a/b\"\n[io.buildpacks.group.script]\ninline = \"x\"\n",
            "io.buildpacks.group[0].script.api",
            "is required",
        ),
        (
            "id = \"a/b\"\n[io.buildpacks.group.script]\napi = \"latest\"\ninline = \"x\"\n",
            "io.buildpacks.group[0].script.api",
            "not a Buildpack API version",
        ),
        (
            "id = \"a/b\"\n[io.buildpacks.group.script]\napi = \"0.10\"\ninline = \" \"\n",
            "io.buildpacks.group[0].script.inline",
            "must not be empty",
        ),
        (
            "id = \"a/b\"\nuri = \"x\"\n[io.buildpacks.group.script]\napi = \"0.10\"\ninline = \"x\"\n",
            "io.buildpacks.group[0].uri",
            "takes no uri",
        ),
    ] {
        let e = error(&format!("{head}{entry}"));
        assert!(e.contains(key) && e.contains(says), "{e}");
        assert!(e.starts_with("app/project.toml:3: "), "{e}");
    }
}

#[test]
fn group_entries_are_validated() {
    let head = "[_]\nschema-version = \"0.2\"\n[[io.buildpacks.group]]\nid = \"ok/one\"\n";
    for (entry, key, says) in [
        (
            "id = \"a/b\"\nuri = \"docker://x\"\n",
            "io.buildpacks.group[1]:",
            "exactly one",
        ),
        (
            "version = \"1\"\n",
            "io.buildpacks.group[1]:",
            "needs an id",
        ),
        (
            "uri = \"docker://x\"\nversion = \"1\"\n",
            "io.buildpacks.group[1].version",
            "cannot be given with a uri",
        ),
        ("id = \"app\"\n", "io.buildpacks.group[1].id", "reserved"),
        ("id = \"sbom\"\n", "io.buildpacks.group[1].id", "reserved"),
        (
            "id = \"a b\"\n",
            "io.buildpacks.group[1].id",
            "may only contain",
        ),
        (
            "id = \"a\"\nversion = \"\"\n",
            "io.buildpacks.group[1].version",
            "empty",
        ),
    ] {
        let e = error(&format!("{head}[[io.buildpacks.group]]\n{entry}"));
        assert!(e.contains(key) && e.contains(says), "{e}");
        assert!(e.starts_with("app/project.toml:5: "), "{e}");
    }
    let e = error("[_]\nschema-version = \"0.2\"\n[[io.buildpacks.pre.group]]\nuri = \"\"\n");
    assert!(
        e.contains("io.buildpacks.pre.group[0].uri: must not be empty"),
        "{e}"
    );
}

#[test]
fn an_unknown_schema_version_is_refused() {
    assert_eq!(
        error("[_]\nschema-version = \"0.9\"\n"),
        "app/project.toml: _.schema-version \"0.9\" is not supported; \
         Kiln reads 0.1 (legacy [project]) and 0.2"
    );
    // Refused before the keys that version might have added are looked at.
    let e = error(
        "[_]\nschema-version = \"0.3\"\n[[io.buildpacks.group]]\nid = \"a\"\nexec-env = [\"x\"]\n",
    );
    assert!(e.contains("\"0.3\" is not supported"), "{e}");
    let e = error("[_]\nschema-version = 0.2\n");
    assert!(e.contains("_.schema-version: must be a string"), "{e}");
    let e = error("[_]\nid = \"x\"\n");
    assert!(e.contains("_.schema-version: is required"), "{e}");
}

#[test]
fn an_unknown_key_is_refused_with_its_path() {
    let v02 = "[_]\nschema-version = \"0.2\"\n";
    for (text, key, line) in [
        (
            format!(
                "{v02}[[io.buildpacks.group]]\nid = \"a\"\n[io.buildpacks.group.script]\napi = \"0.10\"\ninline = \"x\"\nshel = \"/bin/bash\"\n"
            ),
            "io.buildpacks.group[0].script.shel",
            8,
        ),
        (
            format!("{v02}[io.buildpacks]\nbuilde = \"x\"\n"),
            "io.buildpacks.builde",
            4,
        ),
        (
            format!(
                "{v02}[[io.buildpacks.group]]\nid = \"a\"\n[[io.buildpacks.group]]\nid = \"b\"\nverison = \"1\"\n"
            ),
            "io.buildpacks.group[1].verison",
            7,
        ),
        (
            format!(
                "{v02}[[io.buildpacks.build.env]]\nname = \"A\"\nvalue = \"b\"\ntype = \"x\"\n"
            ),
            "io.buildpacks.build.env[0].type",
            6,
        ),
        (format!("{v02}nmae = \"x\"\n"), "_.nmae", 3),
        (
            format!("{v02}[io.kiln]\nrun_image = \"x\"\n"),
            "io.kiln.run_image",
            4,
        ),
        ("[build]\nexclud = [\"x\"]\n".to_owned(), "build.exclud", 2),
    ] {
        let e = error(&text);
        assert!(
            e.starts_with(&format!("app/project.toml:{line}: {key}: unknown key")),
            "{e}"
        );
    }
    // A missing required key is named the same way.
    let e = error(&format!("{v02}[[io.buildpacks.build.env]]\nname = \"A\"\n"));
    assert!(
        e.contains("io.buildpacks.build.env[0]: missing field `value`"),
        "{e}"
    );

    // Free-form and foreign tables may hold anything.
    let d = parse(&format!(
        "{v02}[_.metadata]\nanything = 1\n[io.other]\nx = 1\n[tool]\ny = 2\n"
    ))
    .unwrap();
    assert_eq!(d.metadata["anything"].as_integer(), Some(1));
    // `schema-version` is allowed on `[io.buildpacks]`, as on every non-`_` table.
    parse(&format!("{v02}[io.buildpacks]\nschema-version = \"0.2\"\n")).unwrap();
}

#[test]
fn tables_of_the_other_schema_are_refused() {
    let e = error("[_]\nschema-version = \"0.2\"\n[build]\ninclude = [\"x\"]\n");
    assert!(
        e.contains("app/project.toml: build: [build] belongs to the legacy schema 0.1"),
        "{e}"
    );
    let e = error("[_]\nschema-version = \"0.2\"\n[metadata]\na = 1\n");
    assert!(e.contains("use [_.metadata]"), "{e}");
    let e = error("[project]\nid = \"x\"\n[io.buildpacks]\nbuilder = \"b\"\n");
    assert!(
        e.contains("io.buildpacks: is read only with schema 0.2"),
        "{e}"
    );
    let e = error("[_]\nschema-version = \"0.1\"\nid = \"x\"\n");
    assert!(e.contains("_.id: is a schema 0.2 key"), "{e}");
}

#[test]
fn include_and_exclude_together_are_refused() {
    let e = error(
        "[_]\nschema-version = \"0.2\"\n[io.buildpacks]\ninclude = [\"a\"]\nexclude = [\"b\"]\n",
    );
    assert_eq!(
        e,
        "app/project.toml: io.buildpacks: include and exclude cannot both be set; keep one of them"
    );
    let e = error("[build]\ninclude = []\nexclude = []\n");
    assert!(
        e.contains("build: include and exclude cannot both be set"),
        "{e}"
    );
    let e = error("[build]\nexclude = [\"ok\", \"a[z-a]\"]\n");
    assert!(
        e.contains("build.exclude[1]: invalid pattern \"a[z-a]\""),
        "{e}"
    );
}

#[test]
fn build_env_is_validated_and_duplicates_are_refused() {
    let head = "[_]\nschema-version = \"0.2\"\n";
    for (name, says) in [
        ("", "must not be empty"),
        ("A=B", "must not contain"),
        ("A\\u0000", "must not contain"),
        ("../etc", "must not contain"),
    ] {
        let e = error(&format!(
            "{head}[[io.buildpacks.build.env]]\nname = \"{name}\"\nvalue = \"v\"\n"
        ));
        assert!(
            e.contains("io.buildpacks.build.env[0]: name") && e.contains(says),
            "{e}"
        );
    }
    let e = error(&format!(
        "{head}[[io.buildpacks.build.env]]\nname = \"A\"\nvalue = \"x\\u0000\"\n"
    ));
    assert!(e.contains("must not contain NUL"), "{e}");
    let e = error(&format!(
        "{head}[[io.buildpacks.build.env]]\nname = \"A\"\nvalue = \"1\"\n\
         [[io.buildpacks.env.build]]\nname = \"A\"\nvalue = \"2\"\n"
    ));
    assert!(
        e.starts_with(
            "app/project.toml:6: io.buildpacks.env.build[0]: A is already set by \
             io.buildpacks.build.env[0]"
        ),
        "{e}"
    );
}

#[test]
fn the_metadata_label_is_deterministic() {
    let a = parse(
        r#"
[_]
schema-version = "0.2"
id = "app"
version = "1.2.3"
source-url = "https://example.com/src"
[_.metadata]
x = 1
y = 2
[io.buildpacks]
builder = "b"
"#,
    )
    .unwrap();
    let b = parse(
        r#"
[io.buildpacks]
builder = "b"

[_]
source-url = "https://example.com/src"
version = "1.2.3"
id = "app"
schema-version = "0.2"

[_.metadata]
y = 2
x = 1
"#,
    )
    .unwrap();
    let label = a.project_metadata_label().unwrap();
    assert_eq!(label, b.project_metadata_label().unwrap());
    assert_eq!(
        label,
        r#"{"source":{"metadata":{"url":"https://example.com/src"},"type":"project","version":{"declared":"1.2.3"}}}"#
    );
    let v: serde_json::Value = serde_json::from_str(&label).unwrap();
    assert_eq!(v["source"]["version"]["declared"], "1.2.3");

    // Only what is declared appears; legacy files give the same shape.
    let legacy = parse("[project]\nversion = \"0.1\"\n").unwrap();
    assert_eq!(
        legacy.project_metadata_label().unwrap(),
        r#"{"source":{"type":"project","version":{"declared":"0.1"}}}"#
    );
    assert_eq!(
        parse("[_]\nschema-version = \"0.2\"\nid = \"x\"\n")
            .unwrap()
            .project_metadata_label(),
        None
    );
}

#[test]
fn malformed_toml_names_the_file_and_line() {
    let e =
        parse("[_]\nschema-version = \"0.2\"\n\n[io.buildpacks\nbuilder = \"x\"\n").unwrap_err();
    assert!(
        matches!(e, ProjectError::Syntax { line: Some(4), .. }),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(e.starts_with("app/project.toml:4:"), "{e}");
    assert!(e.contains("not valid TOML"), "{e}");
    // A value of the wrong type names its key and line.
    let e = error("[_]\nschema-version = \"0.2\"\n[io.buildpacks]\ninclude = \"*.go\"\n");
    assert!(
        e.starts_with("app/project.toml:4: io.buildpacks.include: invalid type"),
        "{e}"
    );
}

#[test]
fn load_reads_the_app_dir_and_tolerates_absence() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ProjectDescriptor::load(dir.path()).unwrap().is_none());
    std::fs::write(
        dir.path().join("project.toml"),
        "[_]\nschema-version = \"0.2\"\n[io.buildpacks]\nbuilder = \"b\"\n",
    )
    .unwrap();
    let d = ProjectDescriptor::load(dir.path()).unwrap().unwrap();
    assert_eq!(d.builder.as_deref(), Some("b"));
    assert_eq!(d.file, dir.path().join("project.toml"));

    std::fs::write(dir.path().join("project.toml"), "[_\n").unwrap();
    let e = ProjectDescriptor::load(dir.path()).unwrap_err();
    assert_eq!(e.file(), dir.path().join("project.toml"));

    let not_a_file = tempfile::tempdir().unwrap();
    std::fs::create_dir(not_a_file.path().join("project.toml")).unwrap();
    let e = ProjectDescriptor::load(not_a_file.path()).unwrap_err();
    assert!(matches!(e, ProjectError::Read { .. }), "{e:?}");
}
