//! Text a buildpack returns (error messages and details, detect-fail reasons): capped, so a
//! hostile or broken buildpack cannot flood the log (a 200 MB message printed twice).

/// Most bytes of one message kept.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// `text` cut to at most `max` bytes (at a character boundary), saying how much was cut.
pub fn capped(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} … [{} more bytes cut]", &text[..end], text.len() - end)
}

/// A buildpack's error as one capped message: `message (detail)`.
pub fn error_message(message: String, detail: &str) -> String {
    let text = if detail.is_empty() {
        message
    } else {
        format!("{message} ({detail})")
    };
    capped(text, MAX_MESSAGE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_char_boundary() {
        assert_eq!(capped("short".into(), 10), "short");
        let cut = capped("ééééé".into(), 3);
        assert_eq!(cut, "é … [8 more bytes cut]");
        let huge = error_message("x".repeat(10 << 20), "y");
        assert!(huge.len() < MAX_MESSAGE_BYTES + 64);
    }
}
