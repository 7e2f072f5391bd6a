//! One-line rendering of an error and its causes.

/// An error and its causes on one line (`a: b: c`), leaving out a cause whose text the line
/// already contains (many errors repeat their source in their own message).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn causes_are_joined_and_repeats_left_out() {
        let inner = E("disk full", None);
        let mid = E("write blob: disk full", Some(Box::new(inner)));
        let top = E("export failed", Some(Box::new(mid)));
        assert_eq!(error_chain(&top), "export failed: write blob: disk full");
    }
}
