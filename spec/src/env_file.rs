//! CNB environment-file semantics, shared by the host (build env, `env*/` files it writes)
//! and the launcher (which applies them at run time).
//!
//! A layer's `env/`, `env.build/` and `env.launch[/<type>]/` directories hold one file per
//! variable and action: `NAME` or `NAME.override`, `NAME.default`, `NAME.append`,
//! `NAME.prepend`, plus `NAME.delim` for the separator of append/prepend. Files apply in
//! file-name order.

/// How a modification combines with the variable's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Replace.
    Override,
    /// Set only if unset or empty.
    Default,
    /// `current + delim + value`.
    Append,
    /// `value + delim + current`.
    Prepend,
}

/// The suffix of delimiter files (`NAME.delim`).
pub const DELIM_SUFFIX: &str = "delim";

/// What applying an [`Action`] makes of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combination {
    /// Keep the current value.
    Keep,
    /// Set it to the new value alone.
    Value,
    /// `current + delim + value`.
    CurrentThenValue,
    /// `value + delim + current`.
    ValueThenCurrent,
}

impl Action {
    /// The env-file suffix of this action.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Override => "override",
            Self::Default => "default",
            Self::Append => "append",
            Self::Prepend => "prepend",
        }
    }

    /// The action of an env file with `suffix` (the text after the first `.` of its name;
    /// `None`: no suffix, which means override). `None` for a delimiter file or an unknown
    /// suffix, which are not actions.
    pub fn from_suffix(suffix: Option<&str>) -> Option<Self> {
        match suffix {
            None | Some("override") => Some(Self::Override),
            Some("default") => Some(Self::Default),
            Some("append") => Some(Self::Append),
            Some("prepend") => Some(Self::Prepend),
            Some(_) => None,
        }
    }

    /// What this action does to a variable that is set to a non-empty value (`current_set`)
    /// or is unset or empty. An empty current value counts as unset, as in CNB.
    pub fn combine(self, current_set: bool) -> Combination {
        match (self, current_set) {
            (Self::Override, _) | (Self::Default | Self::Append | Self::Prepend, false) => {
                Combination::Value
            }
            (Self::Default, true) => Combination::Keep,
            (Self::Append, true) => Combination::CurrentThenValue,
            (Self::Prepend, true) => Combination::ValueThenCurrent,
        }
    }
}

/// Why `name` cannot be an environment variable name in an env file, or `None` if it can.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("must not be empty")
    } else if name.contains(['=', '\0', '/', '.', '\\']) {
        Some("must not contain '=', '/', '.', '\\' or NUL")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_round_trip_and_a_bare_name_overrides() {
        for a in [
            Action::Override,
            Action::Default,
            Action::Append,
            Action::Prepend,
        ] {
            assert_eq!(Action::from_suffix(Some(a.suffix())), Some(a));
        }
        assert_eq!(Action::from_suffix(None), Some(Action::Override));
        assert_eq!(Action::from_suffix(Some(DELIM_SUFFIX)), None);
        assert_eq!(Action::from_suffix(Some("bogus")), None);
    }

    #[test]
    fn an_empty_or_unset_variable_takes_the_value_whatever_the_action() {
        for a in [
            Action::Override,
            Action::Default,
            Action::Append,
            Action::Prepend,
        ] {
            assert_eq!(a.combine(false), Combination::Value);
        }
        assert_eq!(Action::Default.combine(true), Combination::Keep);
        assert_eq!(Action::Append.combine(true), Combination::CurrentThenValue);
        assert_eq!(Action::Prepend.combine(true), Combination::ValueThenCurrent);
        assert_eq!(Action::Override.combine(true), Combination::Value);
    }

    #[test]
    fn names_with_separators_are_refused() {
        assert!(name_problem("PATH").is_none());
        for bad in ["", "A=B", "a/b", "a.b", "a\\b", "a\0"] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
