//! The order install scripts run in: a package after the packages it depends on, each
//! dependency resolved the way Node.js resolves `require` through the `node_modules` layout;
//! ties (and cycles) are broken by path, so the order is the same on every build.

use std::collections::{BTreeMap, BTreeSet};

/// One package of the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node<'a> {
    /// Its directory relative to the app (for a link, the folder it points at).
    pub path: &'a str,
    /// The names it depends on.
    pub dependencies: &'a [String],
}

/// Where `name`, required by the package in `from`, resolves: the nearest
/// `<dir>/node_modules/<name>` for which `exists` holds, walking up from `from` and skipping
/// directories that are themselves `node_modules`.
pub fn resolve(from: &str, name: &str, exists: impl Fn(&str) -> bool) -> Option<String> {
    let mut dir = Some(from.trim_end_matches('/'));
    while let Some(d) = dir {
        if d != "node_modules" && !d.ends_with("/node_modules") {
            let candidate = if d.is_empty() {
                format!("node_modules/{name}")
            } else {
                format!("{d}/node_modules/{name}")
            };
            if exists(&candidate) {
                return Some(candidate);
            }
        }
        dir = (!d.is_empty()).then(|| d.rsplit_once('/').map_or("", |(parent, _)| parent));
    }
    None
}

/// The indices of `nodes` in dependency order. `links` maps `node_modules` link paths to the
/// folders they point at (the `path` of a node).
pub fn order(nodes: &[Node<'_>], links: &BTreeMap<String, String>) -> Vec<usize> {
    let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.path, i)).collect();
    let node_at = |path: &str| -> Option<usize> {
        index.get(path).copied().or_else(|| {
            links
                .get(path)
                .and_then(|target| index.get(target.as_str()).copied())
        })
    };
    let mut pending = vec![0usize; nodes.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let deps: BTreeSet<usize> = node
            .dependencies
            .iter()
            .filter_map(|name| resolve(node.path, name, |p| node_at(p).is_some()))
            .filter_map(|p| node_at(&p))
            .filter(|&j| j != i)
            .collect();
        pending[i] = deps.len();
        for j in deps {
            dependents[j].push(i);
        }
    }
    let key = |i: usize| (nodes[i].path, i);
    let mut ready: BTreeSet<(&str, usize)> = BTreeSet::new();
    let mut waiting: BTreeSet<(&str, usize)> = BTreeSet::new();
    for (i, &count) in pending.iter().enumerate() {
        if count == 0 {
            ready.insert(key(i));
        } else {
            waiting.insert(key(i));
        }
    }
    let mut out = Vec::with_capacity(nodes.len());
    // A cycle leaves nothing ready: its member with the smallest path goes first.
    while let Some((_, i)) = ready.pop_first().or_else(|| waiting.pop_first()) {
        out.push(i);
        for &d in &dependents[i] {
            if pending[d] > 0 {
                pending[d] -= 1;
                if pending[d] == 0 && waiting.remove(&key(d)) {
                    ready.insert(key(d));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn resolves_like_node_through_nested_node_modules() {
        let have = [
            "node_modules/a/node_modules/c",
            "node_modules/c",
            "packages/w/node_modules/c",
        ];
        let exists = |p: &str| have.contains(&p);
        assert_eq!(
            resolve("node_modules/a/node_modules/b", "c", exists).as_deref(),
            Some("node_modules/a/node_modules/c")
        );
        assert_eq!(
            resolve("node_modules/b", "c", exists).as_deref(),
            Some("node_modules/c")
        );
        assert_eq!(
            resolve("packages/w", "c", exists).as_deref(),
            Some("packages/w/node_modules/c")
        );
        assert_eq!(resolve("node_modules/b", "missing", exists), None);
    }

    #[test]
    fn dependencies_come_first_ties_and_cycles_by_path() {
        let d_app = names(&["z-native", "lib"]);
        let d_lib = names(&["z-native"]);
        let d_cycle_a = names(&["cycle-b"]);
        let d_cycle_b = names(&["cycle-a"]);
        let none: Vec<String> = Vec::new();
        let nodes = [
            Node {
                path: "node_modules/app-tool",
                dependencies: &d_app,
            },
            Node {
                path: "packages/lib",
                dependencies: &d_lib,
            },
            Node {
                path: "node_modules/z-native",
                dependencies: &none,
            },
            Node {
                path: "node_modules/cycle-b",
                dependencies: &d_cycle_b,
            },
            Node {
                path: "node_modules/cycle-a",
                dependencies: &d_cycle_a,
            },
        ];
        let links = BTreeMap::from([("node_modules/lib".to_owned(), "packages/lib".to_owned())]);
        let order: Vec<&str> = order(&nodes, &links)
            .into_iter()
            .map(|i| nodes[i].path)
            .collect();
        assert_eq!(
            order,
            [
                "node_modules/z-native",
                "packages/lib",
                "node_modules/app-tool",
                "node_modules/cycle-a",
                "node_modules/cycle-b",
            ]
        );
    }
}
