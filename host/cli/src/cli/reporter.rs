//! Console output: phase headers and log lines on stderr, results on stdout.

use std::io::Write;

use kiln_lifecycle::progress::{Event, Reporter};
use kiln_runtime::LogLevel;

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors and the result only.
    Quiet,
    /// Phases, progress and buildpack output.
    Normal,
    /// Everything, including debug lines.
    Verbose,
}

/// Prints progress to stderr.
pub struct ConsoleReporter {
    verbosity: Verbosity,
}

impl ConsoleReporter {
    /// A reporter at `verbosity`.
    pub fn new(verbosity: Verbosity) -> Self {
        Self { verbosity }
    }

    fn line(&self, min: Verbosity, text: &str) {
        if self.verbosity >= min {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}", printable(text));
        }
    }
}

impl Reporter for ConsoleReporter {
    fn report(&self, event: &Event<'_>) {
        let (min, text) = render(event);
        self.line(min, &text);
    }
}

/// An event as a console line, with the verbosity it needs to be shown.
pub fn render(event: &Event<'_>) -> (Verbosity, String) {
    match *event {
        Event::PhaseStarted(phase) => (Verbosity::Normal, format!("===> {phase}")),
        Event::Info(message) => (Verbosity::Normal, message.to_owned()),
        Event::Debug(message) => (Verbosity::Verbose, message.to_owned()),
        Event::Warning(message) => (Verbosity::Normal, format!("warning: {message}")),
        Event::LayerAdded { name, diff_id } => (
            Verbosity::Normal,
            format!("Adding layer {name} ({})", diff_id.short()),
        ),
        Event::LayerReused { name, diff_id } => (
            Verbosity::Normal,
            format!("Reusing layer {name} ({})", diff_id.short()),
        ),
        Event::Buildpack { id, level, line } => buildpack_line(id, level, line),
    }
}

fn buildpack_line(id: &str, level: LogLevel, line: &str) -> (Verbosity, String) {
    let min = match level {
        LogLevel::Debug => Verbosity::Verbose,
        LogLevel::Info => Verbosity::Normal,
        LogLevel::Warn | LogLevel::Error => Verbosity::Quiet,
    };
    let tag = match level {
        LogLevel::Warn => "warning: ",
        LogLevel::Error => "error: ",
        LogLevel::Debug | LogLevel::Info => "",
    };
    (min, format!("[{id}] {tag}{line}"))
}

/// `text` with control characters (other than tab) replaced, so buildpack output cannot move
/// the cursor, erase lines or forge Kiln's own output.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(printable("a\u{1b}[2Kb\tc\rd"), "a\u{fffd}[2Kb\tc\u{fffd}d");
    }
}
