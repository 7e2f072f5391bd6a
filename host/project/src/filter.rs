//! Which files of the app directory go into the build: `include` / `exclude`.
//!
//! Patterns are written as in `.gitignore` (gitignore(5)):
//! - a blank pattern, or one starting with `#`, matches nothing (`\#` is a literal `#`);
//! - a leading `!` negates the pattern (`\!` is a literal `!`);
//! - a leading `/`, or a `/` anywhere but at the end, anchors the pattern at the app
//!   directory; otherwise it matches a name at any depth (`*.go` matches `cmd/x/main.go`);
//! - a trailing `/` makes the pattern match directories only;
//! - `*`, `?` and `[...]` never match `/`; `**` as a whole segment matches any number of
//!   directories (`a/**/b`, `**/b`, `a/**`);
//! - trailing unescaped spaces are dropped.
//!
//! How a list decides, the way `pack` applies it: a pattern that matches a directory matches
//! everything below it, and the **last** pattern in the list that matches a path (itself or
//! one of its parent directories) decides for that path. A `!` pattern can therefore take a
//! path back out of a directory an earlier pattern matched (`exclude = ["vendor/",
//! "!vendor/keep/"]` copies `vendor/keep/**`), which plain git does not allow.
//!
//! With `include`, a path is copied when the deciding pattern is a plain one; with `exclude`,
//! when no pattern matches it or the deciding pattern is a `!` one. `project.toml` gets no
//! special treatment (neither in `pack` nor here): an `include` list that does not name it
//! leaves it out of the build, which is harmless because the platform has read it already.

use std::path::{Component, Path};

use globset::{GlobBuilder, GlobMatcher};

/// The app file filter of a project descriptor: everything, an include list or an exclude list.
///
/// A caller copying the app directory walks it from the top and asks [`AppFilter::includes`]
/// for every entry, skipping the whole subtree of a directory for which it answers `false`.
#[derive(Debug, Clone)]
pub struct AppFilter {
    mode: Mode,
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    All,
    Include,
    Exclude,
}

/// A pattern of an include or exclude list could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern {pattern:?}: {message}")]
pub struct PatternError {
    /// Zero-based position of the pattern in its list.
    pub index: usize,
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub message: String,
}

impl AppFilter {
    /// The filter that copies every file: what an app without `include`/`exclude` gets.
    pub fn all() -> Self {
        Self {
            mode: Mode::All,
            patterns: Vec::new(),
        }
    }

    /// Copy only what `patterns` select. An empty list copies everything, as in `pack`.
    pub fn include<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        Self::with_mode(Mode::Include, patterns)
    }

    /// Copy everything except what `patterns` select.
    pub fn exclude<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        Self::with_mode(Mode::Exclude, patterns)
    }

    fn with_mode<S: AsRef<str>>(mode: Mode, patterns: &[S]) -> Result<Self, PatternError> {
        let mut compiled = Vec::with_capacity(patterns.len());
        for (index, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            if let Some(p) = Pattern::compile(pattern).map_err(|message| PatternError {
                index,
                pattern: pattern.to_owned(),
                message,
            })? {
                compiled.push(p);
            }
        }
        if compiled.is_empty() && patterns.is_empty() {
            return Ok(Self::all());
        }
        Ok(Self {
            mode,
            patterns: compiled,
        })
    }

    /// True when the filter copies every file (no `include`/`exclude`, or an empty one).
    pub fn is_all(&self) -> bool {
        self.mode == Mode::All
    }

    /// Whether the file or directory at `relative` (relative to the app directory, normal
    /// components only, `/`-separated) is copied.
    ///
    /// For a file, the answer is exact. For a directory, `true` means "descend into it":
    /// either the directory is selected itself, or a later pattern could still select
    /// something below it (for example every directory may hold a `*.go` when
    /// `include = ["*.go"]`). `false` means nothing below it is copied, so a walker can prune
    /// it. A walker that wants no empty directories in the copy creates a directory only
    /// when it copies something into it.
    ///
    /// The app directory itself (an empty path) is always included. A path that is absolute
    /// or contains `..` is never included.
    pub fn includes(&self, relative: &Path, is_dir: bool) -> bool {
        let Some(components) = normal_components(relative) else {
            return false;
        };
        if self.mode == Mode::All || components.is_empty() {
            return true;
        }
        let decided = self.decide(&components, is_dir);
        let selected = decided.is_some_and(|i| !self.patterns[i].negated);
        let copied = match self.mode {
            Mode::Include => selected,
            Mode::All | Mode::Exclude => !selected,
        };
        if copied || !is_dir {
            return copied;
        }
        // The directory is not copied as a whole. A pattern after the deciding one (which
        // matches everything below the directory too) may still bring something below back:
        // a plain pattern for `include`, a `!` pattern for `exclude`.
        let rescue_negated = self.mode == Mode::Exclude;
        let start = decided.map_or(0, |i| i + 1);
        self.patterns[start..]
            .iter()
            .any(|p| p.negated == rescue_negated && p.may_match_below(&components))
    }

    /// The index of the last pattern that matches the path or one of its parent directories.
    fn decide(&self, components: &[&str], is_dir: bool) -> Option<usize> {
        let full = components.join("/");
        // Byte ends of each proper ancestor in `full`: "a", "a/b", ...
        let mut ancestor_ends = Vec::with_capacity(components.len().saturating_sub(1));
        let mut end = 0;
        for component in &components[..components.len() - 1] {
            end += component.len();
            ancestor_ends.push(end);
            end += 1;
        }
        self.patterns.iter().rposition(|p| {
            p.matches(&full, is_dir) || ancestor_ends.iter().any(|&e| p.matches(&full[..e], true))
        })
    }
}

impl Default for AppFilter {
    fn default() -> Self {
        Self::all()
    }
}

/// The components of `relative` as strings, or `None` if it leaves the app directory or is
/// not UTF-8.
fn normal_components(relative: &Path) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(c) => out.push(c.to_str()?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// One compiled gitignore-style pattern.
#[derive(Debug, Clone)]
struct Pattern {
    negated: bool,
    dir_only: bool,
    matcher: GlobMatcher,
    /// `prefixes[l - 1]` matches the first `l` path components for the pattern's first `l`
    /// segments, for every `l` up to `prefix_limit`.
    prefixes: Vec<GlobMatcher>,
    /// Number of `/`-separated segments of the glob.
    segments: usize,
    /// Index of the first segment that is exactly `**`.
    double_star: Option<usize>,
}

impl Pattern {
    /// Compile `line`; `Ok(None)` for a blank or comment pattern.
    fn compile(line: &str) -> Result<Option<Self>, String> {
        if line.starts_with('#') {
            return Ok(None);
        }
        let mut rest = trim_trailing_unescaped_spaces(line);
        let mut negated = false;
        let mut anchored = false;
        if rest.starts_with("\\!") || rest.starts_with("\\#") {
            rest = &rest[1..];
        } else {
            if let Some(r) = rest.strip_prefix('!') {
                negated = true;
                rest = r;
            }
            if let Some(r) = rest.strip_prefix('/') {
                anchored = true;
                rest = r;
            }
        }
        let mut dir_only = false;
        if let Some(r) = rest.strip_suffix('/') {
            dir_only = true;
            rest = r;
        }
        if rest.is_empty() {
            // `!`, `/` or `!/` alone: nothing to match, as in git.
            return Ok(None);
        }
        let mut glob = rest.to_owned();
        if !anchored && !rest.contains('/') && !rest.starts_with("**/") {
            glob.insert_str(0, "**/");
        }
        // `a/**` matches what is inside `a`, not `a` itself.
        if glob.ends_with("/**") {
            glob.push_str("/*");
        }
        let matcher = compile_glob(&glob)?;
        let segments: Vec<&str> = glob.split('/').collect();
        let double_star = segments.iter().position(|s| *s == "**");
        let prefix_limit = double_star.unwrap_or(segments.len() - 1);
        let prefixes = (1..=prefix_limit)
            .map(|l| compile_glob(&segments[..l].join("/")))
            .collect::<Result<_, _>>()?;
        Ok(Some(Self {
            negated,
            dir_only,
            matcher,
            prefixes,
            segments: segments.len(),
            double_star,
        }))
    }

    /// Whether the pattern matches `path` itself (not counting its parents).
    fn matches(&self, path: &str, is_dir: bool) -> bool {
        (is_dir || !self.dir_only) && self.matcher.is_match(path)
    }

    /// Whether the pattern could match some path strictly below the directory `components`.
    /// May answer `true` when nothing below actually matches; never `false` when something
    /// could.
    fn may_match_below(&self, components: &[&str]) -> bool {
        let depth = components.len();
        let prefix =
            |l: usize| l == 0 || self.prefixes[l - 1].is_match(components[..l].join("/").as_str());
        match self.double_star {
            // `**` absorbs any depth once the segments before it match.
            Some(j) if j <= depth => prefix(j),
            // Otherwise the glob matches paths of exactly `segments` components.
            _ => self.segments > depth && prefix(depth),
        }
    }
}

fn compile_glob(glob: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

/// `line` without trailing spaces that are not escaped with a backslash.
fn trim_trailing_unescaped_spaces(line: &str) -> &str {
    let mut end = line.len();
    while line[..end].ends_with(' ') {
        let before = &line[..end - 1];
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        if backslashes % 2 == 1 {
            break;
        }
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The app tree the walk tests use: directories end in `/`.
    const TREE: &[&str] = &[
        "project.toml",
        "go.mod",
        "main.go",
        "README.md",
        "cmd/",
        "cmd/server/",
        "cmd/server/main.go",
        "cmd/server/notes.txt",
        "docs/",
        "docs/guide.md",
        "docs/cmd/",
        "docs/cmd/usage.md",
        "spec/",
        "spec/a_test.go",
        "spec/fixtures/",
        "spec/fixtures/big.bin",
        "vendor/",
        "vendor/lib/",
        "vendor/lib/lib.go",
        "vendor/keep/",
        "vendor/keep/keep.go",
        "web/",
        "web/spec/",
        "web/spec/x.js",
        "web/app.js",
        "tmp.log",
        "logs/",
        "logs/a.log",
    ];

    /// Walk `TREE` top-down as a copier would, pruning refused directories; return the
    /// copied files.
    fn walk(filter: &AppFilter) -> Vec<&'static str> {
        let mut pruned: Vec<&str> = Vec::new();
        let mut copied = Vec::new();
        for entry in TREE {
            let is_dir = entry.ends_with('/');
            let path = entry.trim_end_matches('/');
            if pruned
                .iter()
                .any(|p| path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'/'))
            {
                continue;
            }
            let included = filter.includes(Path::new(path), is_dir);
            if is_dir {
                if !included {
                    pruned.push(path);
                }
            } else if included {
                copied.push(path);
            }
        }
        copied
    }

    #[test]
    fn all_copies_everything() {
        let all = AppFilter::all();
        assert!(all.is_all());
        assert_eq!(
            walk(&all).len(),
            TREE.iter().filter(|e| !e.ends_with('/')).count()
        );
        assert!(AppFilter::include::<&str>(&[]).unwrap().is_all());
    }

    #[test]
    fn exclude_removes_matches_and_everything_under_excluded_dirs() {
        let filter =
            AppFilter::exclude(&["/spec/", "*.log", "vendor/", "!vendor/keep/", "docs/*.md"])
                .unwrap();
        assert_eq!(
            walk(&filter),
            [
                "project.toml",
                "go.mod",
                "main.go",
                "README.md",
                "cmd/server/main.go",
                "cmd/server/notes.txt",
                "docs/cmd/usage.md",
                "vendor/keep/keep.go",
                "web/spec/x.js",
                "web/app.js",
            ]
        );
        // `/spec/` is anchored: `web/spec` stays; nothing can rescue `spec`, so it is pruned.
        assert!(!filter.includes(Path::new("spec"), true));
        assert!(filter.includes(Path::new("web/spec"), true));
        // `vendor` is excluded but descended into: `!vendor/keep/` may bring things back.
        assert!(filter.includes(Path::new("vendor"), true));
        assert!(!filter.includes(Path::new("vendor/lib"), true));
        // A trailing `/` matches directories only.
        let dirs = AppFilter::exclude(&["build/"]).unwrap();
        assert!(dirs.includes(Path::new("build"), false));
        assert!(!dirs.includes(Path::new("build"), true));
        assert!(!dirs.includes(Path::new("x/build/y"), false));
    }

    #[test]
    fn include_copies_only_matches_and_prunes_dirs_that_cannot_match() {
        let filter = AppFilter::include(&["/cmd/", "go.mod", "*.go", "!spec/"]).unwrap();
        assert_eq!(
            walk(&filter),
            [
                "go.mod",
                "main.go",
                "cmd/server/main.go",
                "cmd/server/notes.txt",
                "vendor/lib/lib.go",
                "vendor/keep/keep.go",
            ]
        );
        // `*.go` may match at any depth, so an unselected directory is still descended...
        assert!(filter.includes(Path::new("docs"), true));
        assert!(!filter.includes(Path::new("docs/guide.md"), false));
        // ...except where the last matching pattern refuses it and nothing comes after.
        assert!(!filter.includes(Path::new("spec"), true));
        assert!(!filter.includes(Path::new("spec/a_test.go"), false));

        // Anchored patterns prune every directory off their path.
        let anchored = AppFilter::include(&["/cmd/server/*.go", "web/**/*.js"]).unwrap();
        assert_eq!(
            walk(&anchored),
            ["cmd/server/main.go", "web/spec/x.js", "web/app.js"]
        );
        for (dir, descend) in [
            ("cmd", true),
            ("cmd/server", true),
            ("cmd/other", false),
            ("docs", false),
            ("docs/cmd", false),
            ("web", true),
            ("web/spec", true),
            ("web/a/b/c", true),
        ] {
            assert_eq!(anchored.includes(Path::new(dir), true), descend, "{dir}");
        }
        // A file named like a directory-only pattern is not selected.
        let dirs = AppFilter::include(&["cmd/"]).unwrap();
        assert!(!dirs.includes(Path::new("cmd"), false));
        assert!(dirs.includes(Path::new("cmd/anything/at/all"), false));
    }

    #[test]
    fn project_toml_is_not_special() {
        let filter = AppFilter::include(&["*.go"]).unwrap();
        assert!(!filter.includes(Path::new("project.toml"), false));
        let filter = AppFilter::exclude(&["project.toml"]).unwrap();
        assert!(!filter.includes(Path::new("project.toml"), false));
    }

    #[test]
    fn gitignore_syntax_details() {
        // Comments and blanks match nothing; escapes make `#` and `!` literal.
        let filter =
            AppFilter::exclude(&["# comment", "", "\\#hash", "\\!bang", "trail  "]).unwrap();
        assert!(filter.includes(Path::new("# comment"), false));
        assert!(!filter.includes(Path::new("#hash"), false));
        assert!(!filter.includes(Path::new("!bang"), false));
        assert!(!filter.includes(Path::new("trail"), false));
        // `**` forms.
        let filter = AppFilter::exclude(&["**/tmp", "a/**/z", "out/**"]).unwrap();
        assert!(!filter.includes(Path::new("x/y/tmp"), false));
        assert!(!filter.includes(Path::new("a/z"), false));
        assert!(!filter.includes(Path::new("a/b/c/z"), false));
        assert!(filter.includes(Path::new("out"), true));
        assert!(!filter.includes(Path::new("out/x"), false));
        // `*` does not cross `/`.
        let filter = AppFilter::exclude(&["/src/*.rs"]).unwrap();
        assert!(!filter.includes(Path::new("src/main.rs"), false));
        assert!(filter.includes(Path::new("src/bin/main.rs"), false));
    }

    #[test]
    fn paths_outside_the_app_are_never_included() {
        let all = AppFilter::all();
        assert!(!all.includes(Path::new("../x"), false));
        assert!(!all.includes(Path::new("/etc/passwd"), false));
        assert!(all.includes(Path::new("./a"), false));
        assert!(all.includes(Path::new(""), true));
    }

    #[test]
    fn a_bad_pattern_is_reported_with_its_index() {
        let err = AppFilter::exclude(&["ok", "a[z-a]"]).unwrap_err();
        assert_eq!(err.index, 1);
        assert_eq!(err.pattern, "a[z-a]");
    }
}
