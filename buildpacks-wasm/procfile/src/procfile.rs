//! Procfile parsing.

use kiln_sdk::{Error, ProcessType};

/// One `type: command` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcfileEntry {
    /// The process type before the colon.
    pub process_type: ProcessType,
    /// The shell command after the colon.
    pub command: String,
}

/// Parse a Procfile. Blank lines and lines starting with `#` are skipped; any other line must
/// be `type: command`. Errors name the line number.
pub fn parse_procfile(text: &str) -> Result<Vec<ProcfileEntry>, Error> {
    let mut entries: Vec<ProcfileEntry> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, command)) = line.split_once(':') else {
            return Err(malformed(number, "expected `type: command`"));
        };
        let process_type = ProcessType::new(name.trim())
            .map_err(|e| malformed(number, &format!("{} ({})", e.rule, name.trim())))?;
        let command = command.trim();
        if command.is_empty() {
            return Err(malformed(number, "the command after ':' is empty"));
        }
        if entries.iter().any(|e| e.process_type == process_type) {
            return Err(malformed(
                number,
                &format!("process type {process_type} is declared twice"),
            ));
        }
        entries.push(ProcfileEntry {
            process_type,
            command: command.to_owned(),
        });
    }
    if entries.is_empty() {
        return Err(Error::msg("Procfile declares no processes")
            .with_detail("add a line such as `web: ./server`"));
    }
    Ok(entries)
}

fn malformed(line: usize, what: &str) -> Error {
    Error::msg(format!("Procfile line {line} is malformed: {what}"))
        .with_detail("each line must look like `web: ./server --port 8080`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types_and_commands() {
        let entries =
            parse_procfile("# comment\nweb: echo hello: world\n\nworker:  ./run --x\n").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].process_type.as_str(), "web");
        assert_eq!(entries[0].command, "echo hello: world");
        assert_eq!(entries[1].command, "./run --x");
    }

    #[test]
    fn malformed_line_names_its_number() {
        let err = parse_procfile("web: ok\nthis is not valid\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_procfile("web: ok\n\nbad type: x\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        let err = parse_procfile("web:\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = parse_procfile("web: a\nweb: b\n").unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn empty_procfile_is_an_error() {
        assert!(parse_procfile("# nothing\n").is_err());
    }
}
