//! Build plan resolution: pick one (provides, requires) option per passing buildpack so that
//! every require is met by a provide of the same or an earlier buildpack, and every provide is
//! required by the same or a later one. Optional buildpacks with unmet items are dropped.

/// A dependency requirement with its metadata (a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct Require {
    /// Dependency name.
    pub name: String,
    /// Metadata for the provider.
    pub metadata: serde_json::Value,
}

/// One (provides, requires) alternative of a buildpack.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanOption {
    /// Names provided.
    pub provides: Vec<String>,
    /// Requirements.
    pub requires: Vec<Require>,
}

/// A buildpack that passed detection, with its options (primary first; at least one).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Index of the buildpack in the group.
    pub index: usize,
    /// Whether it may be dropped.
    pub optional: bool,
    /// Its plan options.
    pub options: Vec<PlanOption>,
}

/// A resolved plan entry: one dependency name, its providers and all its requires.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Dependency name.
    pub name: String,
    /// Group indices of the providers, in group order.
    pub providers: Vec<usize>,
    /// Every require of the name, in group order.
    pub requires: Vec<Require>,
}

/// The winning trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// Group indices of the buildpacks that stay, in order.
    pub members: Vec<usize>,
    /// The plan entries.
    pub entries: Vec<Entry>,
}

/// Most trials tried before giving up; bounds detection time whatever the buildpacks return.
pub const MAX_TRIALS: usize = 100_000;

/// Find the first trial (depth-first over options, first buildpack slowest) that is
/// satisfiable. Returns `None` when no trial works.
pub fn resolve(candidates: &[Candidate]) -> Option<Resolution> {
    let mut choice = vec![0usize; candidates.len()];
    for _ in 0..MAX_TRIALS {
        if let Some(res) = run_trial(candidates, &choice) {
            return Some(res);
        }
        // Advance the odometer: the last candidate changes fastest.
        let mut i = candidates.len();
        loop {
            if i == 0 {
                return None;
            }
            i -= 1;
            choice[i] += 1;
            if choice[i] < candidates[i].options.len().max(1) {
                break;
            }
            choice[i] = 0;
        }
    }
    None
}

fn option_of(c: &Candidate, choice: usize) -> Option<&PlanOption> {
    c.options.get(choice)
}

fn run_trial(candidates: &[Candidate], choice: &[usize]) -> Option<Resolution> {
    let mut active: Vec<usize> = (0..candidates.len()).collect();
    loop {
        let unmet = unmet_members(candidates, choice, &active);
        if unmet.is_empty() {
            break;
        }
        for &pos in &unmet {
            let c = &candidates[pos];
            // An optional buildpack is only removable while its last option is tried.
            let removable = c.optional && choice[pos] + 1 >= c.options.len();
            if !removable {
                return None;
            }
        }
        active.retain(|p| !unmet.contains(p));
    }
    if active.is_empty() {
        return None;
    }
    Some(Resolution {
        members: active.iter().map(|&p| candidates[p].index).collect(),
        entries: entries(candidates, choice, &active),
    })
}

fn unmet_members(candidates: &[Candidate], choice: &[usize], active: &[usize]) -> Vec<usize> {
    let mut unmet = Vec::new();
    for (k, &pos) in active.iter().enumerate() {
        let Some(opt) = option_of(&candidates[pos], choice[pos]) else {
            continue;
        };
        let provided_so_far = |name: &str| {
            active[..=k].iter().any(|&p| {
                option_of(&candidates[p], choice[p])
                    .is_some_and(|o| o.provides.iter().any(|n| n == name))
            })
        };
        let required_later = |name: &str| {
            active[k..].iter().any(|&p| {
                option_of(&candidates[p], choice[p])
                    .is_some_and(|o| o.requires.iter().any(|r| r.name == name))
            })
        };
        let bad_require = opt.requires.iter().any(|r| !provided_so_far(&r.name));
        let bad_provide = opt.provides.iter().any(|n| !required_later(n));
        if bad_require || bad_provide {
            unmet.push(pos);
        }
    }
    unmet
}

fn entries(candidates: &[Candidate], choice: &[usize], active: &[usize]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for (k, &pos) in active.iter().enumerate() {
        let Some(opt) = option_of(&candidates[pos], choice[pos]) else {
            continue;
        };
        for require in &opt.requires {
            let providers: Vec<usize> = active[..=k]
                .iter()
                .filter(|&&p| {
                    option_of(&candidates[p], choice[p])
                        .is_some_and(|o| o.provides.contains(&require.name))
                })
                .map(|&p| candidates[p].index)
                .collect();
            match entries.iter_mut().find(|e| e.name == require.name) {
                Some(e) => {
                    e.requires.push(require.clone());
                    for p in providers {
                        if !e.providers.contains(&p) {
                            e.providers.push(p);
                        }
                    }
                    e.providers.sort_unstable();
                }
                None => entries.push(Entry {
                    name: require.name.clone(),
                    providers,
                    requires: vec![require.clone()],
                }),
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(provides: &[&str], requires: &[&str]) -> PlanOption {
        PlanOption {
            provides: provides.iter().map(|s| (*s).to_owned()).collect(),
            requires: requires
                .iter()
                .map(|s| Require {
                    name: (*s).to_owned(),
                    metadata: serde_json::json!({}),
                })
                .collect(),
        }
    }

    fn cand(index: usize, optional: bool, options: Vec<PlanOption>) -> Candidate {
        Candidate {
            index,
            optional,
            options,
        }
    }

    #[test]
    fn provider_then_requirer() {
        let r = resolve(&[
            cand(0, false, vec![opt(&["node"], &[])]),
            cand(1, false, vec![opt(&[], &["node"])]),
        ])
        .unwrap();
        assert_eq!(r.members, vec![0, 1]);
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.entries[0].providers, vec![0]);
    }

    #[test]
    fn require_before_provide_fails() {
        assert!(
            resolve(&[
                cand(0, false, vec![opt(&[], &["node"])]),
                cand(1, false, vec![opt(&["node"], &[])]),
            ])
            .is_none()
        );
    }

    #[test]
    fn self_provide_and_require() {
        let r = resolve(&[cand(0, false, vec![opt(&["x"], &["x"])])]).unwrap();
        assert_eq!(r.entries[0].providers, vec![0]);
    }

    #[test]
    fn or_alternative_is_used() {
        // First option provides something nobody requires; the second provides nothing.
        let r = resolve(&[
            cand(0, false, vec![opt(&["yarn"], &[]), opt(&[], &[])]),
            cand(1, false, vec![opt(&[], &[])]),
        ])
        .unwrap();
        assert_eq!(r.members, vec![0, 1]);
        assert!(r.entries.is_empty());
    }

    #[test]
    fn optional_with_unmet_require_is_dropped() {
        let r = resolve(&[
            cand(0, true, vec![opt(&[], &["missing"])]),
            cand(1, false, vec![opt(&[], &[])]),
        ])
        .unwrap();
        assert_eq!(r.members, vec![1]);
    }

    #[test]
    fn dropping_a_provider_cascades() {
        // 0 provides a, requires b (unmet) -> dropped; then 1's require of a is unmet; 1 is
        // optional -> dropped too; 2 stays.
        let r = resolve(&[
            cand(0, true, vec![opt(&["a"], &["b"])]),
            cand(1, true, vec![opt(&[], &["a"])]),
            cand(2, false, vec![opt(&[], &[])]),
        ])
        .unwrap();
        assert_eq!(r.members, vec![2]);
    }

    #[test]
    fn required_with_unmet_fails() {
        assert!(resolve(&[cand(0, false, vec![opt(&[], &["a"])])]).is_none());
    }

    #[test]
    fn several_requires_merge_into_one_entry() {
        let r = resolve(&[
            cand(0, false, vec![opt(&["a"], &[])]),
            cand(1, false, vec![opt(&[], &["a"])]),
            cand(2, false, vec![opt(&[], &["a"])]),
        ])
        .unwrap();
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.entries[0].requires.len(), 2);
    }

    #[test]
    fn first_buildpack_options_vary_slowest() {
        // Trial (0:opt0, 1:opt0) fails; (0:opt0, 1:opt1) succeeds and must win over
        // (0:opt1, 1:opt0).
        let r = resolve(&[
            cand(0, false, vec![opt(&["a"], &[]), opt(&["b"], &[])]),
            cand(1, false, vec![opt(&[], &["b"]), opt(&[], &["a"])]),
        ])
        .unwrap();
        assert_eq!(r.entries[0].name, "a");
    }
}
