use super::*;

const TOML: &str = r#"
tag = "127.0.0.1:5000/apps/web:latest"

[source]
git = { url = "https://git.example.com/web.git", revision = "main" }
sub-path = "services/web"

[build]
buildpacks = ["docker://127.0.0.1:5000/bp/procfile:1"]
run-image = "127.0.0.1:5000/base/run:1"
env = { GREETING = "hi" }

[cache]
image = "127.0.0.1:5000/apps/web-cache:latest"

[history]
successes = 3
"#;

const YAML: &str = r#"
apiVersion: kpack.io/v1alpha2
kind: Image
metadata:
  name: web
  namespace: apps
spec:
  tag: 127.0.0.1:5000/apps/web:latest
  serviceAccountName: builder
  builder:
    buildpacks: ["docker://127.0.0.1:5000/bp/procfile:1"]
    runImage: 127.0.0.1:5000/base/run:1
  source:
    git:
      url: https://git.example.com/web.git
      revision: main
    subPath: services/web
  build:
    env:
      - name: GREETING
        value: hi
  cache:
    registry:
      tag: 127.0.0.1:5000/apps/web-cache:latest
  successBuildHistoryLimit: 3
"#;

fn parse(text: &str, file: &str) -> Result<ImageSpec, SpecError> {
    ImageSpec::parse(text, Path::new(file))
}

#[test]
fn toml_and_kpack_yaml_read_into_the_same_spec() {
    let a = parse(TOML, "/specs/web.toml").unwrap();
    let b = parse(YAML, "/specs/web.yaml").unwrap();
    assert_eq!(a.name, "web");
    assert_eq!(a.history.successes, 3);
    assert_eq!(a.history.failures, DEFAULT_FAILURE_HISTORY);
    assert_eq!(
        a.cache_image.as_deref(),
        Some("127.0.0.1:5000/apps/web-cache:latest")
    );
    assert_eq!(a.source.sub_path.as_deref(), Some("services/web"));
    assert_eq!(
        (&a.tag, &a.source, &a.env, &a.builder),
        (&b.tag, &b.source, &b.env, &b.builder)
    );
    assert_eq!(a.config_hash(), b.config_hash());
}

#[test]
fn the_config_hash_follows_what_decides_the_image_only() {
    let a = parse(TOML, "/specs/web.toml").unwrap();
    let mut b = a.clone();
    b.history.failures = 1;
    b.name = "other".into();
    b.file = "/elsewhere/other.toml".into();
    assert_eq!(a.config_hash(), b.config_hash());
    b.env.insert("MORE".into(), "1".into());
    assert_ne!(a.config_hash(), b.config_hash());
    let mut c = a.clone();
    c.builder.run_image = "127.0.0.1:5000/base/run:2".into();
    assert_ne!(a.config_hash(), c.config_hash());
}

#[test]
fn a_typo_in_a_key_names_the_file_and_the_key() {
    let err = parse(&TOML.replace("run-image", "run-imgae"), "/specs/web.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/specs/web.toml"), "{err}");
    assert!(err.contains("build") && err.contains("run-imgae"), "{err}");
    let err = parse(&YAML.replace("subPath", "subpath"), "/specs/web.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/specs/web.yaml"), "{err}");
    assert!(
        err.contains("spec.source") && err.contains("subpath"),
        "{err}"
    );
}

#[test]
fn bad_values_are_refused_with_the_key() {
    let cases = [
        (TOML.replace("services/web", "../up"), "source.subPath"),
        (
            TOML.replace("tag = \"127", "name = \"Web_1\"\ntag = \"127"),
            "name",
        ),
        (
            TOML.replace(
                "git = { url = \"https://git.example.com/web.git\", revision = \"main\" }",
                "blob = { url = \"https://x/app.tgz\", digest = \"sha256:abc\" }",
            ),
            "source.blob.digest",
        ),
        (
            TOML.replace("revision = \"main\"", "revision = \"\""),
            "source.git.revision",
        ),
        (
            TOML.replace("[build]\n", "[build]\nbuild-image = \"x\"\n")
                .replace("run-image = \"127.0.0.1:5000/base/run:1\"\n", ""),
            "build.run-image",
        ),
    ];
    for (text, key) in cases {
        let err = parse(&text, "/specs/web.toml").unwrap_err().to_string();
        assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
    }
}

#[test]
fn kpack_builder_references_and_unpinned_blobs_are_refused_with_what_to_do() {
    let text = YAML.replace(
        "    buildpacks: [\"docker://127.0.0.1:5000/bp/procfile:1\"]\n    runImage: 127.0.0.1:5000/base/run:1\n",
        "    kind: ClusterBuilder\n    name: default\n",
    );
    let err = parse(&text, "/s/web.yaml").unwrap_err().to_string();
    assert!(
        err.contains("spec.builder") && err.contains("inline"),
        "{err}"
    );
    let text = YAML.replace(
        "    git:\n      url: https://git.example.com/web.git\n      revision: main\n",
        "    blob:\n      url: https://example.com/app.tar.gz\n",
    );
    let err = parse(&text, "/s/web.yaml").unwrap_err().to_string();
    assert!(err.contains("spec.source.blob.digest"), "{err}");
    let err = parse(&YAML.replace("kind: Image", "kind: Build"), "/s/web.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`kind`"), "{err}");
}

#[test]
fn syntax_errors_and_unknown_formats_name_the_file() {
    let err = parse("tag = ", "/s/a.toml").unwrap_err().to_string();
    assert!(err.starts_with("/s/a.toml"), "{err}");
    let err = parse("spec: [", "/s/a.yaml").unwrap_err().to_string();
    assert!(err.starts_with("/s/a.yaml"), "{err}");
    let err = parse("", "/s/a.json").unwrap_err().to_string();
    assert!(err.contains(".toml") && err.contains("/s/a.json"), "{err}");
}
