//! Environment modifications with CNB semantics, kept as data and applied in one place.

use std::collections::BTreeMap;

use kiln_spec::env_file::Combination;
pub use kiln_spec::env_file::{Action, name_problem};

/// When a modification applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Build (for `build` layers) and launch (for `launch` layers): `env/`.
    All,
    /// Build only: `env.build/`.
    Build,
    /// Launch, every process: `env.launch/`.
    Launch,
    /// Launch, one process type: `env.launch/<type>/`.
    Process(String),
}

impl Scope {
    /// The directory (relative to the layer) where CNB keeps files of this scope.
    pub fn dir(&self) -> String {
        match self {
            Self::All => "env".into(),
            Self::Build => "env.build".into(),
            Self::Launch => "env.launch".into(),
            Self::Process(t) => format!("env.launch/{t}"),
        }
    }
}

/// One modification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modification {
    /// Variable name.
    pub name: String,
    /// How to combine.
    pub action: Action,
    /// Value, verbatim.
    pub value: String,
    /// Separator for append/prepend; `None` means none, as in CNB.
    pub delimiter: Option<String>,
    /// When it applies.
    pub scope: Scope,
}

/// The modifications of `scope`, in the order CNB applies the files they are stored in
/// (file-name order: `NAME.append` < `NAME.default` < `NAME.override` < `NAME.prepend`).
pub fn in_file_order<'a>(mods: &'a [Modification], scope: &Scope) -> Vec<&'a Modification> {
    let mut selected: Vec<&Modification> = mods.iter().filter(|m| &m.scope == scope).collect();
    selected.sort_by_cached_key(|m| format!("{}.{}", m.name, m.action.suffix()));
    selected
}

/// An environment: ordered, deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// From `KEY=VALUE` strings (as in an image config); entries without `=` are kept empty.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (p.to_owned(), String::new()),
                })
                .collect(),
        )
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Set `name`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// Remove `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    /// Apply one modification (its scope is the caller's concern).
    pub fn apply(&mut self, m: &Modification) {
        let delim = m.delimiter.as_deref().unwrap_or("");
        let current = self.0.get(&m.name).filter(|v| !v.is_empty()).cloned();
        let value = match (m.action.combine(current.is_some()), current) {
            (Combination::Keep, Some(cur)) => cur,
            (Combination::CurrentThenValue, Some(cur)) => format!("{cur}{delim}{}", m.value),
            (Combination::ValueThenCurrent, Some(cur)) => format!("{}{delim}{cur}", m.value),
            _ => m.value.clone(),
        };
        self.0.insert(m.name.clone(), value);
    }

    /// Prepend a path entry with `:` (root-dir injection such as `<layer>/bin` to `PATH`).
    pub fn prepend_path(&mut self, name: &str, entry: &str) {
        self.apply(&Modification {
            name: name.to_owned(),
            action: Action::Prepend,
            value: entry.to_owned(),
            delimiter: Some(":".into()),
            scope: Scope::All,
        });
    }

    /// `(name, value)` pairs in name order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// `NAME=value` strings in name order.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(action: Action, value: &str, delimiter: Option<&str>) -> Modification {
        Modification {
            name: "V".into(),
            action,
            value: value.into(),
            delimiter: delimiter.map(Into::into),
            scope: Scope::All,
        }
    }

    #[test]
    fn cnb_semantics() {
        let mut env = Env::new();
        env.apply(&m(Action::Append, "a", Some(":")));
        assert_eq!(env.get("V"), Some("a"));
        env.apply(&m(Action::Append, "b", Some(":")));
        env.apply(&m(Action::Prepend, "z", Some(":")));
        assert_eq!(env.get("V"), Some("z:a:b"));
        env.apply(&m(Action::Append, "c", None));
        assert_eq!(env.get("V"), Some("z:a:bc"));
        env.apply(&m(Action::Default, "ignored", None));
        assert_eq!(env.get("V"), Some("z:a:bc"));
        env.apply(&m(Action::Override, "o", None));
        assert_eq!(env.get("V"), Some("o"));
        env.set("V", "");
        env.apply(&m(Action::Default, "d", None));
        assert_eq!(env.get("V"), Some("d"));
    }

    #[test]
    fn names() {
        assert!(name_problem("PATH").is_none());
        assert!(name_problem("A=B").is_some());
        assert!(name_problem("").is_some());
        assert!(name_problem("a.b").is_some());
    }
}
