//! The app layer in slices, so a small change rewrites a small layer.
//!
//! - **Explicit slices** (CNB `launch.toml` `[[slices]]`, Kiln's `project.toml`): each is a
//!   list of globs over paths relative to the app dir; a file goes to the first slice whose
//!   globs match it. Slices that match nothing are dropped.
//! - **Automatic slices** of what is left, when it is at least [`AUTO_MIN_BYTES`]: the files in
//!   tar order are cut into runs by content-defined boundaries. After each file a cut is made
//!   with probability `size / target`, decided by a hash of the file's path (so the same tree
//!   always cuts in the same places and a changed file moves at most the cuts next to it),
//!   never before `target / 2` bytes and always at `2 × target` bytes. `target` starts at
//!   `app bytes / 64` rounded up to a step of a quarter power of two (4, 5, 6, 7, 8, 10, 12,
//!   14, 16, 20 … MiB; at least 4 MiB), so it stays put until the app grows past a step, and
//!   doubles until there are at most [`MAX_AUTO_SLICES`] slices. A slice then averages about
//!   1/40 of the app.
//! - Smaller apps, or `auto: false`, stay one layer (what they always were).
//!
//! Directories go with the files after them; every slice repeats the parent directories it
//! needs, with the same metadata, so the union of the slices is the one-layer tree.

use globset::{Glob, GlobSet, GlobSetBuilder};
use kiln_oci::LayerBuilder;
use sha2::{Digest as _, Sha256};

/// Below this many bytes the app is one layer.
pub const AUTO_MIN_BYTES: u64 = 32 << 20;
/// Smallest automatic target slice size.
const MIN_TARGET: u64 = 4 << 20;
/// The app bytes per target slice size on large apps.
const TARGET_SLICES: u64 = 64;
/// Most automatic slices (with the run image and buildpack layers well under the 127 layers
/// overlay file systems stack).
pub const MAX_AUTO_SLICES: usize = 64;

/// How the app layer is sliced.
#[derive(Debug, Clone, Default)]
pub struct SliceRules {
    /// Explicit slices in order, each a list of globs relative to the app dir.
    pub explicit: Vec<Vec<String>>,
    /// Slice what the explicit slices leave by content-defined boundaries.
    pub auto: bool,
}

/// A glob of a slice did not parse.
#[derive(Debug, thiserror::Error)]
#[error("slice glob {glob:?} is not a valid glob: {reason}; fix the [[slices]] paths")]
pub struct SliceGlobError {
    /// The glob.
    pub glob: String,
    /// Why.
    pub reason: String,
}

/// Split the app layer (paths under `workspace/`) by `rules`.
pub fn split(app: LayerBuilder, rules: &SliceRules) -> Result<Vec<LayerBuilder>, SliceGlobError> {
    let sets = rules
        .explicit
        .iter()
        .map(|globs| glob_set(globs))
        .collect::<Result<Vec<_>, _>>()?;
    let entries: Vec<(Vec<u8>, u64)> = app.sizes().map(|(p, s)| (p.to_vec(), s)).collect();
    let n_explicit = sets.len();
    // Explicit slices first; the rest (index `n_explicit`) after.
    let mut assignment: Vec<usize> = entries
        .iter()
        .map(|(path, _)| {
            let rel = String::from_utf8_lossy(relative(path));
            sets.iter()
                .position(|s| !rel.is_empty() && s.is_match(rel.as_ref()))
                .unwrap_or(n_explicit)
        })
        .collect();
    let rest_bytes: u64 = entries
        .iter()
        .zip(&assignment)
        .filter(|(_, a)| **a == n_explicit)
        .map(|((_, s), _)| s)
        .sum();
    let mut count = n_explicit + 1;
    if rules.auto && rest_bytes >= AUTO_MIN_BYTES {
        let mut target = target_size(rest_bytes);
        loop {
            let (cuts, slices) = auto_cuts(&entries, &assignment, n_explicit, target);
            if slices <= MAX_AUTO_SLICES || target >= rest_bytes {
                for (a, cut) in assignment.iter_mut().zip(cuts) {
                    if let Some(slice) = cut {
                        *a = n_explicit + slice;
                    }
                }
                count = n_explicit + slices;
                break;
            }
            target *= 2;
        }
    }
    let mut parts: Vec<LayerBuilder> = app
        .partition(count, |i| assignment[i])
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        parts.push(LayerBuilder::new(kiln_oci::LayerOwnership::ROOT));
    }
    Ok(parts)
}

/// A path relative to the app dir (`workspace/a/b` → `a/b`; `workspace` → ``).
fn relative(path: &[u8]) -> &[u8] {
    let app = kiln_spec::APP_DIR.trim_start_matches('/').as_bytes();
    match path.strip_prefix(app) {
        Some([]) => &[],
        Some([b'/', rest @ ..]) => rest,
        _ => path,
    }
}

/// The automatic slices of the rest (entries whose `assignment` is `rest`) with `target`:
/// each entry's slice counted from 0 (`None` for entries of explicit slices), and the number
/// of slices.
fn auto_cuts(
    entries: &[(Vec<u8>, u64)],
    assignment: &[usize],
    rest: usize,
    target: u64,
) -> (Vec<Option<usize>>, usize) {
    let mut current = 0u64;
    let mut slice = 0;
    let mut slice_of = Vec::with_capacity(entries.len());
    for ((path, size), a) in entries.iter().zip(assignment) {
        if *a != rest {
            slice_of.push(None);
            continue;
        }
        slice_of.push(Some(slice));
        current += size;
        if current >= 2 * target || (current >= target / 2 && cut_after(path, *size, target)) {
            slice += 1;
            current = 0;
        }
    }
    let slices = if current == 0 {
        slice.max(1)
    } else {
        slice + 1
    };
    (slice_of, slices)
}

/// The automatic target slice size for `bytes` of app: `bytes / 64` rounded up to a quarter
/// power of two, at least [`MIN_TARGET`].
fn target_size(bytes: u64) -> u64 {
    let want = (bytes / TARGET_SLICES).max(MIN_TARGET);
    let pow = want.next_power_of_two();
    let step = usize::try_from((pow / 8).max(1)).unwrap_or(usize::MAX);
    (pow / 2..=pow)
        .step_by(step)
        .find(|t| *t >= want)
        .unwrap_or(pow)
}

/// Whether to cut after the file at `path` of `size` bytes: true with probability
/// `size / target`, decided by the path's hash.
fn cut_after(path: &[u8], size: u64, target: u64) -> bool {
    let digest = Sha256::digest(path);
    let h = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0xff; 8]));
    let threshold = (u128::from(size) << 64) / u128::from(target.max(1));
    u128::from(h) < threshold
}

fn glob_set(globs: &[String]) -> Result<GlobSet, SliceGlobError> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let pattern = g.trim_start_matches("./").trim_start_matches('/');
        let glob = Glob::new(pattern).map_err(|e| SliceGlobError {
            glob: g.clone(),
            reason: e.kind().to_string(),
        })?;
        b.add(glob);
        // A directory glob takes everything under it, as CNB slices do.
        if let Ok(under) = Glob::new(&format!("{}/**", pattern.trim_end_matches('/'))) {
            b.add(under);
        }
    }
    b.build().map_err(|e| SliceGlobError {
        glob: globs.join(", "),
        reason: e.kind().to_string(),
    })
}

#[cfg(test)]
mod tests;
