//! Build results: layers, processes, labels and unmet plan entries.

use std::collections::BTreeSet;

use crate::layer::Layer;
use crate::{Error, ProcessType};

/// A process the image can run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Process {
    pub(crate) process_type: ProcessType,
    pub(crate) command: Vec<String>,
    pub(crate) args: Vec<String>,
    pub(crate) default: bool,
    pub(crate) working_dir: String,
}

impl Process {
    /// A process running `command` (the executable and arguments that are always passed).
    pub fn new<I, S>(process_type: ProcessType, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            process_type,
            command: command.into_iter().map(Into::into).collect(),
            args: Vec::new(),
            default: false,
            working_dir: String::new(),
        }
    }

    /// Default arguments, replaced by the user's arguments at run time.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Make this the image's default process.
    pub fn default(mut self, default: bool) -> Self {
        self.default = default;
        self
    }

    /// Run in `dir` instead of the application directory.
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = dir.into();
        self
    }

    /// The process type.
    pub fn process_type(&self) -> &ProcessType {
        &self.process_type
    }

    /// The command (executable and fixed arguments).
    pub fn command(&self) -> &[String] {
        &self.command
    }

    /// The default arguments.
    pub fn default_args(&self) -> &[String] {
        &self.args
    }

    /// Whether this is the default process.
    pub fn is_default(&self) -> bool {
        self.default
    }
}

/// The result of a build, assembled with builder methods and finished with
/// [`BuildResult::build`].
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct BuildResult {
    pub(crate) layers: Vec<Layer>,
    pub(crate) processes: Vec<Process>,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) slices: Vec<Vec<String>>,
    pub(crate) unmet: Vec<String>,
}

impl BuildResult {
    /// An empty result.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a layer (a [`Layer`] or a typed [`crate::TypedLayer`]).
    pub fn layer(mut self, layer: impl Into<Layer>) -> Self {
        self.layers.push(layer.into());
        self
    }

    /// Add a process.
    pub fn process(mut self, process: Process) -> Self {
        self.processes.push(process);
        self
    }

    /// Add an image label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }

    /// Put the app files matching `globs` (relative to the app dir, e.g. `static/**`) in an
    /// app layer of their own (CNB `launch.toml` `[[slices]]`), so a change elsewhere in the
    /// app does not rewrite them.
    pub fn slice<I, S>(mut self, globs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.slices
            .push(globs.into_iter().map(Into::into).collect());
        self
    }

    /// Declare a plan entry this buildpack did not satisfy.
    pub fn unmet(mut self, name: impl Into<String>) -> Self {
        self.unmet.push(name.into());
        self
    }

    /// The layers added so far.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The processes added so far.
    pub fn processes(&self) -> &[Process] {
        &self.processes
    }

    /// The process of type `process_type`, if declared.
    pub fn process_of(&self, process_type: &str) -> Option<&Process> {
        self.processes
            .iter()
            .find(|p| p.process_type.as_str() == process_type)
    }

    /// The layer named `name`, if added.
    pub fn layer_named(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name.as_str() == name)
    }

    /// The labels added so far.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The app layer slices declared so far.
    pub fn slices(&self) -> &[Vec<String>] {
        &self.slices
    }

    /// Plan entries declared unmet.
    pub fn unmet_entries(&self) -> &[String] {
        &self.unmet
    }

    /// Check the result: process types and layer names unique, at most one default process.
    pub fn build(self) -> Result<Self, Error> {
        let mut types = BTreeSet::new();
        for p in &self.processes {
            if !types.insert(p.process_type.as_str()) {
                return Err(Error::InvalidResult(format!(
                    "process type {} is declared twice",
                    p.process_type
                )));
            }
            if p.command.is_empty() {
                return Err(Error::InvalidResult(format!(
                    "process {} has an empty command",
                    p.process_type
                )));
            }
        }
        if self.processes.iter().filter(|p| p.default).count() > 1 {
            return Err(Error::InvalidResult(
                "more than one process is marked default".to_owned(),
            ));
        }
        let mut names = BTreeSet::new();
        for l in &self.layers {
            if !names.insert(l.name.as_str()) {
                return Err(Error::InvalidResult(format!(
                    "layer {} is declared twice",
                    l.name
                )));
            }
        }
        Ok(self)
    }
}
