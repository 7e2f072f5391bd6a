//! `RECORD` files of installed distributions: rows of `path,hash,size` (CSV), hashes as
//! `sha256=<urlsafe base64, no padding>`.

use std::fmt::Write as _;

use base64::Engine as _;
use sha2::Digest as _;

/// One row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    /// Path relative to site-packages (`/`-separated; may start with `../`).
    pub path: String,
    /// `sha256=…`, or empty.
    pub hash: String,
    /// Size in bytes, or empty.
    pub size: String,
}

impl Row {
    /// A row for `bytes` at `path`.
    pub fn of(path: impl Into<String>, bytes: &[u8]) -> Self {
        Self {
            path: path.into(),
            hash: hash(bytes),
            size: bytes.len().to_string(),
        }
    }

    /// A row with no hash or size (the `RECORD` file itself).
    pub fn bare(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            hash: String::new(),
            size: String::new(),
        }
    }
}

/// `sha256=<urlsafe base64 without padding>` of `bytes`.
pub fn hash(bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// Split one CSV line (RFC 4180 quoting).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            other => field.push(other),
        }
    }
    out.push(field);
    out
}

/// Parse a `RECORD`; lines that are empty are skipped.
pub fn parse(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = fields(l.trim_end_matches('\r')).into_iter();
            Row {
                path: f.next().unwrap_or_default(),
                hash: f.next().unwrap_or_default(),
                size: f.next().unwrap_or_default(),
            }
        })
        .collect()
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// Write rows sorted by path, one per line.
pub fn write(rows: &mut [Row]) -> String {
    rows.sort();
    let mut out = String::new();
    for r in rows.iter() {
        let _ = writeln!(
            out,
            "{},{},{}",
            quote(&r.path),
            quote(&r.hash),
            quote(&r.size)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_urlsafe_base64_without_padding() {
        // sha256("") in the wheel spec's form.
        assert_eq!(
            hash(b""),
            "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }

    #[test]
    fn rows_round_trip_with_quoting() {
        let text = "a/b.py,sha256=x,3\n\"we,ird.py\",sha256=y,4\npkg-1.0.dist-info/RECORD,,\n";
        let mut rows = parse(text);
        assert_eq!(rows[1].path, "we,ird.py");
        assert_eq!(rows[2].hash, "");
        let out = write(&mut rows);
        assert_eq!(
            out,
            "a/b.py,sha256=x,3\npkg-1.0.dist-info/RECORD,,\n\"we,ird.py\",sha256=y,4\n"
        );
    }
}
