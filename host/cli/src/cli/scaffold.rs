//! `kiln buildpack new NAME [--path DIR]`: write a new buildpack crate that builds and passes
//! its own `cargo test` out of the box: `Cargo.toml`, `src/lib.rs` (detect/build and a native
//! unit test), `tests/build.rs` (a `kiln-test` build in the real host), `buildpack.toml`,
//! `README.md`, `.gitignore`, `rust-toolchain.toml` and a copy of Kiln's `Cargo.lock` (so the
//! dependencies resolve to the versions Kiln is tested with, on rustc 1.95).
//!
//! The templates are the files of `sdk/template/`. While `kiln-sdk` and `kiln-test` are not
//! published, the crate refers to them by path, in the Kiln source checkout this binary was
//! built from, or in `$KILN_SOURCE_DIR`.

use std::path::{Path, PathBuf};

/// Environment variable naming the Kiln source checkout the new crate refers to.
pub const SOURCE_DIR_ENV: &str = "KILN_SOURCE_DIR";

const CARGO_TOML: &str = include_str!("../../../../sdk/template/Cargo.toml.in");
const LIB_RS: &str = include_str!("../../../../sdk/template/lib.rs.in");
const BUILD_TEST_RS: &str = include_str!("../../../../sdk/template/build_test.rs.in");
const BUILDPACK_TOML: &str = include_str!("../../../../sdk/template/buildpack.toml.in");
const README_MD: &str = include_str!("../../../../sdk/template/README.md.in");
const GITIGNORE: &str = include_str!("../../../../sdk/template/gitignore.in");
const RUST_TOOLCHAIN: &str = include_str!("../../../../sdk/template/rust-toolchain.toml.in");

/// Why a buildpack crate could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// NAME is not a valid buildpack id.
    #[error("{name:?} is not a valid buildpack id: {rule} (use e.g. acme/hello)")]
    InvalidName {
        /// The name given.
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The directory exists and is not empty.
    #[error("{} already exists and is not empty; choose another --path", .0.display())]
    NotEmpty(PathBuf),
    /// The Kiln source checkout (with `sdk/` and `test-harness/`) is not where expected.
    #[error(
        "the Kiln source checkout is not at {} (no sdk/ and test-harness/ there); set {SOURCE_DIR_ENV} to it", .0.display()
    )]
    NoSource(PathBuf),
    /// Writing a file failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The Kiln source checkout: `$KILN_SOURCE_DIR`, else the one this crate was built from.
pub fn default_source() -> PathBuf {
    std::env::var_os(SOURCE_DIR_ENV).map_or_else(
        || {
            // This crate is `host/cli` in the checkout.
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .nth(2)
                .map_or_else(
                    || PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                    Path::to_path_buf,
                )
        },
        PathBuf::from,
    )
}

/// Write a buildpack crate for the buildpack id `name` (e.g. `acme/hello`) into `dir`
/// (created; it must not exist or be empty), referring to the Kiln checkout of
/// [`default_source`]. Returns the crate directory.
pub fn scaffold(name: &str, dir: &Path) -> Result<PathBuf, ScaffoldError> {
    scaffold_from(name, dir, &default_source())
}

/// [`scaffold`] with an explicit Kiln source checkout.
pub fn scaffold_from(name: &str, dir: &Path, source: &Path) -> Result<PathBuf, ScaffoldError> {
    if let Some(rule) = kiln_spec::names::buildpack_id_problem(name) {
        return Err(ScaffoldError::InvalidName {
            name: name.to_owned(),
            rule,
        });
    }
    let source =
        std::fs::canonicalize(source).map_err(|_| ScaffoldError::NoSource(source.to_path_buf()))?;
    let (sdk, harness) = (source.join("sdk"), source.join("test-harness"));
    if !sdk.join("Cargo.toml").is_file() || !harness.join("Cargo.toml").is_file() {
        return Err(ScaffoldError::NoSource(source));
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ScaffoldError::NotEmpty(dir.to_path_buf()));
    }
    let names = Names::new(name, &sdk, &harness);
    let files: [(&str, String); 8] = [
        ("Cargo.toml", names.fill(CARGO_TOML)),
        ("src/lib.rs", names.fill(LIB_RS)),
        ("tests/build.rs", names.fill(BUILD_TEST_RS)),
        ("buildpack.toml", names.fill(BUILDPACK_TOML)),
        ("README.md", names.fill(README_MD)),
        (".gitignore", GITIGNORE.to_owned()),
        ("rust-toolchain.toml", RUST_TOOLCHAIN.to_owned()),
        ("Cargo.lock", read(&source.join("Cargo.lock"))?),
    ];
    for (relative, text) in files {
        write(&dir.join(relative), &text)?;
    }
    Ok(dir.to_path_buf())
}

fn read(path: &Path) -> Result<String, ScaffoldError> {
    std::fs::read_to_string(path).map_err(|source| ScaffoldError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), ScaffoldError> {
    let io = |action| {
        move |source| ScaffoldError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create"))?;
    }
    std::fs::write(path, text).map_err(io("write"))
}

/// The names a template is filled with.
struct Names {
    id: String,
    crate_name: String,
    type_name: String,
    name: String,
    sdk_path: String,
    test_path: String,
}

impl Names {
    fn new(id: &str, sdk: &Path, harness: &Path) -> Self {
        let mut crate_name: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        if !crate_name.starts_with(|c: char| c.is_ascii_lowercase()) {
            crate_name.insert_str(0, "bp-");
        }
        let type_name = crate_name
            .split('-')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect::<String>()
            + "Buildpack";
        Self {
            id: id.to_owned(),
            name: id.rsplit('/').next().unwrap_or(id).to_owned(),
            crate_name,
            type_name,
            sdk_path: toml_escape(&sdk.display().to_string()),
            test_path: toml_escape(&harness.display().to_string()),
        }
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{{id}}", &self.id)
            .replace("{{crate}}", &self.crate_name)
            .replace("{{crate_ident}}", &self.crate_name.replace('-', "_"))
            .replace("{{type_name}}", &self.type_name)
            .replace("{{name}}", &self.name)
            .replace("{{sdk_path}}", &self.sdk_path)
            .replace("{{test_path}}", &self.test_path)
    }
}

/// The text of a TOML basic string's contents.
fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> PathBuf {
        default_source()
    }

    #[test]
    fn writes_a_crate_whose_manifests_parse_and_name_the_buildpack() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hello");
        let written = scaffold_from("acme/hello", &dir, &source()).unwrap();
        assert_eq!(written, dir);
        for file in [
            "Cargo.toml",
            "Cargo.lock",
            "src/lib.rs",
            "tests/build.rs",
            "buildpack.toml",
            "README.md",
            ".gitignore",
            "rust-toolchain.toml",
        ] {
            assert!(dir.join(file).is_file(), "{file} is missing");
        }
        let cargo: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
        assert_eq!(cargo["package"]["name"].as_str(), Some("acme-hello"));
        let sdk = cargo["dependencies"]["kiln-sdk"]["path"].as_str().unwrap();
        assert!(Path::new(sdk).join("Cargo.toml").is_file(), "{sdk}");
        let harness = cargo["dev-dependencies"]["kiln-test"]["path"]
            .as_str()
            .unwrap();
        assert!(Path::new(harness).join("Cargo.toml").is_file(), "{harness}");
        let buildpack: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("buildpack.toml")).unwrap()).unwrap();
        assert_eq!(buildpack["buildpack"]["id"].as_str(), Some("acme/hello"));
        assert_eq!(
            buildpack["metadata"]["kiln"]["component"].as_str(),
            Some("acme_hello.wasm")
        );
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("buildpack_id!(\"acme/hello\")"), "{lib}");
        assert!(lib.contains("pub struct AcmeHelloBuildpack;"), "{lib}");
        assert!(!lib.contains("{{"), "unfilled placeholder in src/lib.rs");
        let test = std::fs::read_to_string(dir.join("tests/build.rs")).unwrap();
        assert!(
            test.contains("out.layer(\"acme/hello\", \"greeting\")"),
            "{test}"
        );
    }

    #[test]
    fn refuses_bad_names_and_non_empty_directories() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            scaffold_from("bad name", &tmp.path().join("x"), &source()),
            Err(ScaffoldError::InvalidName { .. })
        ));
        assert!(matches!(
            scaffold_from("app", &tmp.path().join("x"), &source()),
            Err(ScaffoldError::InvalidName { .. })
        ));
        std::fs::write(tmp.path().join("keep"), "x").unwrap();
        assert!(matches!(
            scaffold_from("acme/hello", tmp.path(), &source()),
            Err(ScaffoldError::NotEmpty(_))
        ));
        assert!(matches!(
            scaffold_from(
                "acme/hello",
                &tmp.path().join("y"),
                &tmp.path().join("nowhere")
            ),
            Err(ScaffoldError::NoSource(_))
        ));
    }

    #[test]
    fn names_become_crate_and_type_names() {
        let n = Names::new("3d/my.tool", Path::new("/s/sdk"), Path::new("C:\\k\\\"t\""));
        assert_eq!(n.crate_name, "bp-3d-my-tool");
        assert_eq!(n.type_name, "Bp3dMyToolBuildpack");
        assert_eq!(n.name, "my.tool");
        assert_eq!(n.test_path, "C:\\\\k\\\\\\\"t\\\"");
    }
}
