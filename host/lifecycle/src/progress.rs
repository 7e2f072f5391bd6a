//! Progress of a build as typed events: the phases emit them, a front end (the console, a
//! test harness, a benchmark) renders or records them.

use std::fmt;

use kiln_oci::Digest;
use kiln_runtime::LogLevel;

/// A step of a Kiln command, in the order a build runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Reading the run image and the previous image.
    Analyzing,
    /// Running the buildpacks' `detect`.
    Detecting,
    /// Restoring cached layers and layer metadata.
    Restoring,
    /// Running the buildpacks' `build`.
    Building,
    /// Writing the image.
    Exporting,
    /// Pushing the image to its registry.
    Pushing,
    /// Putting an image on a new run image.
    Rebasing,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Analyzing => "ANALYZING",
            Self::Detecting => "DETECTING",
            Self::Restoring => "RESTORING",
            Self::Building => "BUILDING",
            Self::Exporting => "EXPORTING",
            Self::Pushing => "PUSHING",
            Self::Rebasing => "REBASING",
        })
    }
}

/// One thing that happened.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A phase starts.
    PhaseStarted(Phase),
    /// A progress line.
    Info(&'a str),
    /// A detail shown only when asked for (`-v`).
    Debug(&'a str),
    /// Something the user should know; the build goes on.
    Warning(&'a str),
    /// The exporter wrote a new layer.
    LayerAdded {
        /// Its name (`app`, `kiln/nodejs:modules`, ...).
        name: &'a str,
        /// Its diff_id.
        diff_id: &'a Digest,
    },
    /// The exporter reused a layer of the previous image or the blob cache.
    LayerReused {
        /// Its name.
        name: &'a str,
        /// Its diff_id.
        diff_id: &'a Digest,
    },
    /// A line a buildpack logged.
    Buildpack {
        /// The buildpack id.
        id: &'a str,
        /// Its level.
        level: LogLevel,
        /// The line.
        line: &'a str,
    },
}

/// Receives progress; the CLI prints it, tests and benchmarks may record or ignore it.
pub trait Reporter: Send + Sync {
    /// Handle one event.
    fn report(&self, event: &Event<'_>);
}

impl dyn Reporter + '_ {
    /// Report [`Event::PhaseStarted`].
    pub fn phase(&self, phase: Phase) {
        self.report(&Event::PhaseStarted(phase));
    }

    /// Report [`Event::Info`].
    pub fn info(&self, message: &str) {
        self.report(&Event::Info(message));
    }

    /// Report [`Event::Debug`].
    pub fn debug(&self, message: &str) {
        self.report(&Event::Debug(message));
    }

    /// Report [`Event::Warning`].
    pub fn warn(&self, message: &str) {
        self.report(&Event::Warning(message));
    }
}

/// A reporter that drops everything.
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _: &Event<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Record(std::sync::Mutex<Vec<String>>);

    impl Reporter for Record {
        fn report(&self, event: &Event<'_>) {
            if let Ok(mut v) = self.0.lock() {
                v.push(format!("{event:?}"));
            }
        }
    }

    #[test]
    fn helpers_emit_typed_events_and_phases_print_as_the_cnb_lifecycle_does() {
        let r = Record(std::sync::Mutex::new(Vec::new()));
        let dyn_r: &dyn Reporter = &r;
        dyn_r.phase(Phase::Exporting);
        dyn_r.warn("careful");
        let seen = r.0.lock().unwrap().clone();
        assert_eq!(seen, ["PhaseStarted(Exporting)", "Warning(\"careful\")"]);
        assert_eq!(Phase::Analyzing.to_string(), "ANALYZING");
    }
}
