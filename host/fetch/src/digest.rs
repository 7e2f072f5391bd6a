//! Digests of downloads: parsing and formatting are kiln-spec's ([`Digest`] is
//! [`kiln_spec::Integrity`], shared with the SDK); hashing is here.

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
    /// A new hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Self::Sha512(sha2::Sha512::new()),
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
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"abc");
        assert_eq!(
            h.finish().hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
