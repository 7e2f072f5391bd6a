//! Digests of downloads: parsing and formatting are kiln-spec's ([`Digest`] is
//! [`kiln_spec::Integrity`], shared with the SDK); hashing is here. SHA-256 and SHA-512 hash
//! the bytes as they arrive ([`Hasher`]); Go's `h1` needs the whole file ([`go_h1_of_file`]).

use sha2::Digest as _;

pub use kiln_spec::integrity::{Algorithm, Integrity as Digest};

/// A running hash of one algorithm.
pub enum Hasher {
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-512.
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A new hasher for `algorithm`; `None` for `h1`, which is no hash of a byte stream (see
    /// [`go_h1_of_file`]).
    pub fn new(algorithm: Algorithm) -> Option<Self> {
        match algorithm {
            Algorithm::Sha256 => Some(Self::Sha256(sha2::Sha256::new())),
            Algorithm::Sha512 => Some(Self::Sha512(sha2::Sha512::new())),
            Algorithm::GoH1 => None,
        }
    }

    /// Add bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything added.
    pub fn finish(self) -> Digest {
        match self {
            Self::Sha256(h) => Digest::sha256(h.finalize().into()),
            Self::Sha512(h) => Digest::sha512(h.finalize().into()),
        }
    }
}

/// The `h1` digest of the Go module zip or `go.mod` in `file` (read from its start; see
/// [`kiln_extract::go_h1`] for how the two are told apart and the size limits).
pub fn go_h1_of_file(file: &mut std::fs::File) -> Result<Digest, kiln_extract::Error> {
    kiln_extract::go_h1(file).map(Digest::go_h1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn parses_hex_and_sri() {
        let hex = format!("sha256:{}", "ab".repeat(32));
        let d = Digest::parse(&hex).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_string(), hex);
        let bytes = [7u8; 64];
        let sri = format!(
            "sha1-AAAA sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        let d = Digest::parse(&sri).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha512);
        assert_eq!(d.bytes(), bytes);
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(
            Digest::parse("md5:00")
                .unwrap_err()
                .to_string()
                .contains("unknown")
        );
        assert!(Digest::parse("sha256:zz").is_err());
        assert!(
            Digest::parse("sha256:abcd")
                .unwrap_err()
                .to_string()
                .contains("bytes")
        );
        assert!(
            Digest::parse("sha1-AAAA")
                .unwrap_err()
                .to_string()
                .contains("not a digest")
        );
        assert!(Digest::parse("").is_err());
    }

    #[test]
    fn hasher_matches_known_value() {
        let mut h = Hasher::new(Algorithm::Sha256).unwrap();
        h.update(b"abc");
        assert_eq!(
            h.finish().hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(Hasher::new(Algorithm::GoH1).is_none());
    }

    #[test]
    fn go_h1_of_a_go_mod_file() {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, b"module golang.org/x/text\n").unwrap();
        // From go.sum files: `golang.org/x/text v0.3.0/go.mod h1:NqM8…` (that version has no
        // go.mod; the proxy serves this synthesized one).
        assert_eq!(
            go_h1_of_file(&mut file).unwrap().to_string(),
            "h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ="
        );
    }
}
