//! The app's lock file, read into the distributions to install: `uv.lock`, `poetry.lock`,
//! `Pipfile.lock` or a hashed `requirements.txt`.
//!
//! The buildpack installs exactly what a lock pins, from wheels, every file verified by its
//! sha256. Each reader selects the distributions for the target (markers evaluated by an
//! [`Environment`], dev groups and extras per [`Options`]) and lists, for each, the files the
//! lock allows with their hashes.
//!
//! An *unpinned* distribution is one the lock does not pin to a single version with at least
//! one sha256 (a `requirements.txt` line such as `flask>=2`, a `Pipfile.lock` entry without
//! hashes). It is an error unless [`Options::allow_unpinned`] is set; it is then kept with
//! empty [`LockedDist::files`] and, as [`LockedDist::version`], the exact version when the
//! specifier is `==X` (or `===X`), else the specifier text as written (empty for a bare
//! name). The host later refuses to download an unpinned file unless the user allowed it.

use std::collections::{BTreeMap, BTreeSet};

mod pipfile;
mod poetry;
mod requirements;
mod uv;

/// Evaluates PEP 508 marker text for the target (implemented elsewhere with a real marker
/// parser).
pub trait Environment {
    /// Whether `marker` holds with these (normalised) extras active. Err = the marker text is
    /// invalid (message).
    fn matches(&self, marker: &str, extras: &BTreeSet<String>) -> Result<bool, String>;
}

/// The kinds of lock the buildpack reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockKind {
    /// `uv.lock`.
    Uv,
    /// `poetry.lock`.
    Poetry,
    /// `Pipfile.lock`.
    Pipfile,
    /// A hashed `requirements.txt`.
    Requirements,
}

impl LockKind {
    /// Every kind, in order of preference.
    pub const ALL: [LockKind; 4] = [
        LockKind::Uv,
        LockKind::Poetry,
        LockKind::Pipfile,
        LockKind::Requirements,
    ];

    /// The lock's file name in the app directory.
    pub fn file_name(self) -> &'static str {
        match self {
            LockKind::Uv => "uv.lock",
            LockKind::Poetry => "poetry.lock",
            LockKind::Pipfile => "Pipfile.lock",
            LockKind::Requirements => "requirements.txt",
        }
    }

    /// The command that regenerates the lock, for messages.
    fn regenerate(self) -> &'static str {
        match self {
            LockKind::Uv => "uv lock",
            LockKind::Poetry => "poetry lock",
            LockKind::Pipfile => "pipenv lock",
            LockKind::Requirements => {
                "uv pip compile --generate-hashes -o requirements.txt requirements.in"
            }
        }
    }
}

/// One file of a distribution that the lock allows, with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedFile {
    /// The file name (`x-1.0-py3-none-any.whl`), when the lock names it.
    pub filename: Option<String>,
    /// Where to download it, when the lock says.
    pub url: Option<String>,
    /// Its sha256, lowercase hex.
    pub sha256: String,
    /// Its size in bytes, when the lock records it.
    pub size: Option<u64>,
}

/// A distribution to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedDist {
    /// The name as the lock writes it.
    pub name: String,
    /// The pinned version (for an unpinned requirement, see the module documentation).
    pub version: String,
    /// The wheels and sdists the lock allows, with hashes; empty for an unpinned requirement.
    pub files: Vec<LockedFile>,
}

/// What a lock selects for the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The distributions to install, one per normalised name, sorted by normalised name.
    pub dists: Vec<LockedDist>,
    /// Entries left out, with why: `(name, "marker …")`, `(name, "dev group")`, ….
    pub skipped: Vec<(String, String)>,
    /// The package indexes the lock names (`--index-url` first, then `--extra-index-url`;
    /// `Pipfile.lock` sources; the registries of a `uv.lock` or `poetry.lock`), without
    /// duplicates.
    pub index_urls: Vec<String>,
}

/// What to select from the lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Also the development dependencies: the `dev` group of `uv.lock` / `poetry.lock`,
    /// poetry's old `category = "dev"`, `Pipfile.lock`'s `develop`.
    pub include_dev: bool,
    /// Extras of the project to activate (normalised names; `uv.lock`, `poetry.lock`).
    pub extras: BTreeSet<String>,
    /// Further dependency groups to include (normalised names; `uv.lock`, `poetry.lock`,
    /// `Pipfile.lock` categories).
    pub groups: BTreeSet<String>,
    /// Keep requirements that are not pinned by version and hash instead of failing.
    pub allow_unpinned: bool,
}

/// Why a lock could not be used. Each names the file and the place, and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The file is not valid TOML / JSON or not in the expected shape.
    #[error("{file} could not be read: {message}; regenerate it with `{regenerate}`")]
    Syntax {
        /// The lock's file name.
        file: &'static str,
        /// What is wrong, with its place.
        message: String,
        /// The command that regenerates the lock.
        regenerate: &'static str,
    },
    /// A field or line has a value the buildpack cannot use.
    #[error("{file} {at}: {message}")]
    Invalid {
        /// The lock's file name.
        file: &'static str,
        /// Where: `line 7`, `package \`flask\``, ….
        at: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A requirement is not pinned to one version with sha256 hashes.
    #[error(
        "{file} {at}: `{requirement}` is not pinned with {how}; {fix}, or pass `--allow-unpinned`"
    )]
    Unpinned {
        /// The lock's file name.
        file: &'static str,
        /// Where.
        at: String,
        /// The requirement as written.
        requirement: String,
        /// What pinning means for this kind of lock.
        how: &'static str,
        /// How to lock it.
        fix: &'static str,
    },
    /// An environment marker is not valid PEP 508.
    #[error(
        "{file} {at}: the environment marker `{marker}` is invalid ({message}); fix it or regenerate the lock with `{regenerate}`"
    )]
    Marker {
        /// The lock's file name.
        file: &'static str,
        /// Where.
        at: String,
        /// The marker text.
        marker: String,
        /// The parser's message.
        message: String,
        /// The command that regenerates the lock.
        regenerate: &'static str,
    },
}

/// Read the lock `text` of `kind` and select what to install for the target.
pub fn read(
    kind: LockKind,
    text: &str,
    env: &dyn Environment,
    options: &Options,
) -> Result<Selection, LockError> {
    let cx = Context { kind, env, options };
    match kind {
        LockKind::Uv => uv::read(&cx, text),
        LockKind::Poetry => poetry::read(&cx, text),
        LockKind::Pipfile => pipfile::read(&cx, text),
        LockKind::Requirements => requirements::read(&cx, text),
    }
}

/// The preferred lock among the app's files, in the order uv.lock, poetry.lock, Pipfile.lock,
/// requirements.txt.
pub fn preferred(has: impl Fn(&str) -> bool) -> Option<LockKind> {
    LockKind::ALL.into_iter().find(|k| has(k.file_name()))
}

pub use crate::markers::normalize_name;

/// What every reader needs: the kind (for messages), the environment and the options.
struct Context<'a> {
    kind: LockKind,
    env: &'a dyn Environment,
    options: &'a Options,
}

impl Context<'_> {
    fn file(&self) -> &'static str {
        self.kind.file_name()
    }

    fn syntax(&self, message: impl Into<String>) -> LockError {
        LockError::Syntax {
            file: self.file(),
            message: message.into(),
            regenerate: self.kind.regenerate(),
        }
    }

    fn invalid(&self, at: impl Into<String>, message: impl Into<String>) -> LockError {
        LockError::Invalid {
            file: self.file(),
            at: at.into(),
            message: message.into(),
        }
    }

    /// Evaluate `marker` (empty = always) with `extras` active.
    fn marker(&self, at: &str, marker: &str, extras: &BTreeSet<String>) -> Result<bool, LockError> {
        if marker.trim().is_empty() {
            return Ok(true);
        }
        self.env
            .matches(marker, extras)
            .map_err(|message| LockError::Marker {
                file: self.file(),
                at: at.to_owned(),
                marker: marker.to_owned(),
                message,
                regenerate: self.kind.regenerate(),
            })
    }

    /// The lowercase hex of a `sha256:<hex>` hash string, or an error at `at`.
    fn sha256(&self, at: &str, hash: &str) -> Result<String, LockError> {
        parse_sha256(hash).map_err(|m| {
            self.invalid(
                at,
                format!("{m}; regenerate the lock with `{}`", self.kind.regenerate()),
            )
        })
    }
}

/// `sha256:<64 hex>` → lowercase hex; any other algorithm or malformed digest is an error.
fn parse_sha256(hash: &str) -> Result<String, String> {
    let hash = hash.trim();
    let Some((algorithm, digest)) = hash.split_once(':') else {
        return Err(format!(
            "the hash `{hash}` has no algorithm (expected `sha256:<hex>`)"
        ));
    };
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return Err(format!(
            "the hash `{hash}` uses {algorithm}; only sha256 hashes are supported"
        ));
    }
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "the hash `{hash}` is not a sha256 digest (64 hex digits)"
        ));
    }
    Ok(digest.to_ascii_lowercase())
}

/// The last path segment of a URL, percent-decoded: the file name it serves.
pub(crate) fn url_file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or(path);
    percent_decode(name)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `url` is an `http(s)` URL (the only remote files the buildpack fetches).
fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Gathers the selected distributions, one per normalised name.
#[derive(Default)]
struct Collector {
    dists: BTreeMap<String, LockedDist>,
    skipped: Vec<(String, String)>,
    index_urls: Vec<String>,
}

impl Collector {
    /// Add a distribution; the same name twice must have the same version (its files are
    /// merged).
    fn add(&mut self, cx: &Context<'_>, at: &str, dist: LockedDist) -> Result<(), LockError> {
        let key = normalize_name(&dist.name);
        match self.dists.get_mut(&key) {
            None => {
                let mut dist = dist;
                dedupe_files(&mut dist.files);
                self.dists.insert(key, dist);
            }
            Some(existing) => {
                if existing.version != dist.version {
                    return Err(cx.invalid(
                        at,
                        format!(
                            "`{}` is selected twice for this target, as {} and {}; regenerate the lock with `{}`",
                            dist.name,
                            display_version(&existing.version),
                            display_version(&dist.version),
                            cx.kind.regenerate()
                        ),
                    ));
                }
                // An entry without files (unpinned) adds nothing to one with files.
                if existing.files.is_empty() {
                    existing.files = dist.files;
                } else {
                    existing.files.extend(dist.files);
                }
                dedupe_files(&mut existing.files);
            }
        }
        Ok(())
    }

    fn skip(&mut self, name: &str, why: impl Into<String>) {
        self.skipped.push((name.to_owned(), why.into()));
    }

    fn index_url(&mut self, url: &str) {
        let url = url.trim();
        if !url.is_empty() && !self.index_urls.iter().any(|u| u == url) {
            self.index_urls.push(url.to_owned());
        }
    }

    fn finish(self) -> Selection {
        Selection {
            dists: self.dists.into_values().collect(),
            skipped: self.skipped,
            index_urls: self.index_urls,
        }
    }
}

fn display_version(v: &str) -> &str {
    if v.is_empty() { "any version" } else { v }
}

/// Drop repeated files (same sha256 and name), keeping the first.
fn dedupe_files(files: &mut Vec<LockedFile>) {
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert((f.sha256.clone(), f.filename.clone(), f.url.clone())));
}

/// `marker `…``, the reason recorded for a distribution left out by its marker.
fn marker_reason(marker: &str) -> String {
    format!("marker `{}`", marker.trim())
}

#[cfg(test)]
pub(crate) mod test_env {
    //! A tiny marker "evaluator" for the readers' tests: the target is CPython 3.11 on Linux.

    use std::collections::BTreeSet;

    use super::Environment;

    /// Treats a few marker clauses by string matching; `and` / `or` are split naively.
    pub(crate) struct FakeEnv;

    fn clause(c: &str, extras: &BTreeSet<String>) -> Result<bool, String> {
        let c = c.trim().trim_matches(|ch| ch == '(' || ch == ')').trim();
        let norm: String = c
            .replace('\'', "\"")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(rest) = norm.strip_prefix("extra == ") {
            let name = rest.trim_matches('"');
            return Ok(extras.contains(&super::normalize_name(name)));
        }
        // `python_version OP "X.Y"` against 3.11 (python_full_version against 3.11.9).
        for key in ["python_full_version ", "python_version "] {
            if let Some(rest) = norm.strip_prefix(key) {
                let (op, v) = rest.split_once(' ').ok_or("no operator")?;
                let parts: Vec<u32> = v
                    .trim_matches('"')
                    .split('.')
                    .map(|p| p.parse().map_err(|_| format!("bad version `{v}`")))
                    .collect::<Result<_, _>>()?;
                let have: Vec<u32> = if key.contains("full") {
                    vec![3, 11, 9]
                } else {
                    vec![3, 11]
                };
                let mut want = parts.clone();
                want.resize(have.len(), 0);
                let ord = have.cmp(&want);
                return match op {
                    "<" => Ok(ord.is_lt()),
                    "<=" => Ok(ord.is_le()),
                    ">" => Ok(ord.is_gt()),
                    ">=" => Ok(ord.is_ge()),
                    "==" => Ok(ord.is_eq()),
                    "!=" => Ok(ord.is_ne()),
                    _ => Err(format!("unknown operator `{op}`")),
                };
            }
        }
        match norm.as_str() {
            "sys_platform == \"win32\""
            | "platform_system == \"Windows\""
            | "os_name == \"nt\""
            | "sys_platform == \"darwin\""
            | "platform_system == \"Darwin\""
            | "platform_python_implementation == \"PyPy\"" => Ok(false),
            "sys_platform != \"win32\""
            | "platform_system != \"Windows\""
            | "sys_platform == \"linux\""
            | "platform_system == \"Linux\""
            | "implementation_name == \"cpython\""
            | "platform_python_implementation == \"CPython\"" => Ok(true),
            _ => Err(format!("unknown marker clause `{c}`")),
        }
    }

    impl Environment for FakeEnv {
        fn matches(&self, marker: &str, extras: &BTreeSet<String>) -> Result<bool, String> {
            let mut any = false;
            for alternative in marker.split(" or ") {
                let mut all = true;
                for c in alternative.split(" and ") {
                    all &= clause(c, extras)?;
                }
                any |= all;
            }
            Ok(any)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise() {
        assert_eq!(normalize_name("Flask"), "flask");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("a__b-._c"), "a-b-c");
        assert_eq!(normalize_name("Typing_Extensions"), "typing-extensions");
        assert_eq!(normalize_name(""), "");
    }

    #[test]
    fn preferred_lock_order() {
        assert_eq!(preferred(|_| true), Some(LockKind::Uv));
        assert_eq!(
            preferred(|f| f == "requirements.txt" || f == "Pipfile.lock"),
            Some(LockKind::Pipfile)
        );
        assert_eq!(
            preferred(|f| f == "requirements.txt" || f == "poetry.lock"),
            Some(LockKind::Poetry)
        );
        assert_eq!(
            preferred(|f| f == "requirements.txt"),
            Some(LockKind::Requirements)
        );
        assert_eq!(preferred(|_| false), None);
        assert_eq!(LockKind::Pipfile.file_name(), "Pipfile.lock");
    }

    #[test]
    fn hashes() {
        let hex = "A".repeat(64);
        assert_eq!(parse_sha256(&format!("sha256:{hex}")), Ok("a".repeat(64)));
        assert_eq!(parse_sha256(&format!("SHA256:{hex}")), Ok("a".repeat(64)));
        assert!(parse_sha256(&format!("md5:{hex}")).is_err_and(|e| e.contains("md5")));
        assert!(parse_sha256("sha256:abc").is_err());
        assert!(parse_sha256(&"a".repeat(64)).is_err());
        assert!(parse_sha256(&format!("sha256:{}", "g".repeat(64))).is_err());
        assert!(parse_sha256("sha256:é").is_err());
    }

    #[test]
    fn url_names() {
        assert_eq!(
            url_file_name("https://h/p/ab/x-1.0-py3-none-any.whl#sha256=00"),
            "x-1.0-py3-none-any.whl"
        );
        assert_eq!(
            url_file_name("https://h/a%2Bb-1.0.tar.gz?x=1"),
            "a+b-1.0.tar.gz"
        );
        assert_eq!(percent_decode("%zz%4%"), "%zz%4%");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
        assert!(is_http_url("HTTPS://x"));
        assert!(!is_http_url("file:///x"));
        assert!(!is_http_url("ht"));
    }

    #[test]
    fn collector_merges_and_refuses_conflicts() {
        let env = test_env::FakeEnv;
        let options = Options::default();
        let cx = Context {
            kind: LockKind::Requirements,
            env: &env,
            options: &options,
        };
        let file = |h: &str| LockedFile {
            filename: None,
            url: None,
            sha256: h.repeat(64),
            size: None,
        };
        let mut c = Collector::default();
        let d = |name: &str, v: &str, files| LockedDist {
            name: name.into(),
            version: v.into(),
            files,
        };
        c.add(&cx, "line 1", d("Foo_Bar", "1.0", vec![file("a")]))
            .expect("first");
        c.add(
            &cx,
            "line 2",
            d("foo-bar", "1.0", vec![file("a"), file("b")]),
        )
        .expect("same version");
        c.add(&cx, "line 3", d("Abc", "2.0", vec![]))
            .expect("other");
        let err = c
            .add(&cx, "line 4", d("foo.bar", "2.0", vec![file("c")]))
            .expect_err("conflict");
        assert!(err.to_string().contains("requirements.txt line 4"), "{err}");
        assert!(err.to_string().contains("1.0 and 2.0"), "{err}");
        c.index_url("https://a/simple");
        c.index_url("https://a/simple");
        let s = c.finish();
        assert_eq!(s.dists.len(), 2);
        assert_eq!(s.dists[0].name, "Abc");
        assert_eq!(s.dists[1].files.len(), 2);
        assert_eq!(s.index_urls, vec!["https://a/simple".to_owned()]);
    }

    #[test]
    fn invalid_markers_name_the_place() {
        let env = test_env::FakeEnv;
        let options = Options::default();
        let cx = Context {
            kind: LockKind::Uv,
            env: &env,
            options: &options,
        };
        let err = cx
            .marker("package `x`", "nonsense", &BTreeSet::new())
            .expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.starts_with("uv.lock package `x`: the environment marker `nonsense`"),
            "{text}"
        );
        assert!(text.contains("uv lock"), "{text}");
        assert_eq!(cx.marker("p", "  ", &BTreeSet::new()), Ok(true));
    }
}
