//! Detection results and build plans.

use serde::Serialize;

use crate::Error;

/// One (provides, requires) alternative of a build plan.
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct Plan {
    pub(crate) provides: Vec<String>,
    pub(crate) requires: Vec<(String, serde_json::Value)>,
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offer to provide `name`.
    pub fn provides(mut self, name: impl Into<String>) -> Self {
        self.provides.push(name.into());
        self
    }

    /// Require `name` with no metadata.
    pub fn requires(mut self, name: impl Into<String>) -> Self {
        self.requires.push((
            name.into(),
            serde_json::Value::Object(serde_json::Map::new()),
        ));
        self
    }

    /// Require `name` and pass `metadata` (serialised as a JSON object) to its provider.
    pub fn requires_with<M: Serialize>(
        mut self,
        name: impl Into<String>,
        metadata: &M,
    ) -> Result<Self, Error> {
        let name = name.into();
        let what = || format!("requirement {name:?}");
        let value = serde_json::to_value(metadata).map_err(|source| Error::InvalidMetadata {
            what: what(),
            source,
        })?;
        if !value.is_object() {
            return Err(Error::MetadataNotAnObject { what: what() });
        }
        self.requires.push((name, value));
        Ok(self)
    }
}

/// The outcome of detection, built with [`DetectResult::pass`] or [`DetectResult::fail`].
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum DetectResult {
    /// The buildpack applies, with its plan alternatives (primary first).
    Pass(Vec<Plan>),
    /// The buildpack does not apply; the reason is shown with `kiln -v`.
    Fail(String),
}

impl DetectResult {
    /// Pass with no build plan.
    pub fn pass() -> Self {
        Self::Pass(Vec::new())
    }

    /// Pass with one build plan.
    pub fn pass_with(plan: Plan) -> Self {
        Self::Pass(vec![plan])
    }

    /// Add an alternative plan (`or`), tried when the earlier ones cannot be met.
    pub fn or(self, plan: Plan) -> Self {
        match self {
            Self::Pass(mut plans) => {
                if plans.is_empty() {
                    plans.push(Plan::new());
                }
                plans.push(plan);
                Self::Pass(plans)
            }
            fail @ Self::Fail(_) => fail,
        }
    }

    /// Do not apply to this application.
    pub fn fail(reason: impl Into<String>) -> Self {
        Self::Fail(reason.into())
    }
}
