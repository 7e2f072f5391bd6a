//! Expected digests: `sha256:<hex>`, `sha512:<hex>`, and SRI integrity strings
//! (`sha512-<base64>`), and the hashers that check them.

use base64::Engine as _;
use sha2::Digest as _;

/// A digest algorithm the download cache knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in digests and cache paths (`sha256`, `sha512`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// A digest: algorithm and raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The raw digest bytes.
    pub bytes: Vec<u8>,
}

impl Digest {
    /// Lower-case hex of the bytes.
    pub fn hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// The SRI form (`sha512-<base64>`), as npm lockfiles write it.
    pub fn sri(&self) -> String {
        format!(
            "{}-{}",
            self.algorithm.name(),
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }

    /// Parse `sha256:<hex>`, `sha512:<hex>`, or an SRI string (`sha512-<base64>`; when several
    /// space-separated values are given, the strongest known one is used).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some((algo, hex_part)) = text.split_once(':') {
            let algorithm = Algorithm::from_name(algo).ok_or_else(|| {
                format!("unknown digest algorithm {algo:?}; use sha256 or sha512")
            })?;
            let bytes = hex::decode(hex_part)
                .map_err(|_| format!("{text:?} is not `{algo}:` followed by hex digits"))?;
            return Self::checked(algorithm, bytes, text);
        }
        let mut best: Option<Self> = None;
        for part in text.split_whitespace() {
            let Some((algo, b64)) = part.split_once('-') else {
                continue;
            };
            let Some(algorithm) = Algorithm::from_name(algo) else {
                continue;
            };
            // SRI allows `?options` after the value.
            let b64 = b64.split('?').next().unwrap_or(b64);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| format!("integrity {part:?} is not valid base64"))?;
            let digest = Self::checked(algorithm, bytes, part)?;
            if best.as_ref().is_none_or(|b| b.algorithm < digest.algorithm) {
                best = Some(digest);
            }
        }
        best.ok_or_else(|| {
            format!(
                "{text:?} is not a digest; use sha256:<hex>, sha512:<hex> or an SRI string like sha512-<base64>"
            )
        })
    }

    fn checked(algorithm: Algorithm, bytes: Vec<u8>, text: &str) -> Result<Self, String> {
        if bytes.len() == algorithm.len() {
            Ok(Self { algorithm, bytes })
        } else {
            Err(format!(
                "{text:?} has {} bytes; a {} digest has {}",
                bytes.len(),
                algorithm.name(),
                algorithm.len()
            ))
        }
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex())
    }
}

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
            Self::Sha256(h) => Digest {
                algorithm: Algorithm::Sha256,
                bytes: h.finalize().to_vec(),
            },
            Self::Sha512(h) => Digest {
                algorithm: Algorithm::Sha512,
                bytes: h.finalize().to_vec(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_sri() {
        let hex = format!("sha256:{}", "ab".repeat(32));
        let d = Digest::parse(&hex).unwrap();
        assert_eq!(d.algorithm, Algorithm::Sha256);
        assert_eq!(d.to_string(), hex);
        let bytes = [7u8; 64];
        let sri = format!(
            "sha1-AAAA sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        let d = Digest::parse(&sri).unwrap();
        assert_eq!(d.algorithm, Algorithm::Sha512);
        assert_eq!(d.bytes, bytes);
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(Digest::parse("md5:00").unwrap_err().contains("unknown"));
        assert!(Digest::parse("sha256:zz").is_err());
        assert!(Digest::parse("sha256:abcd").unwrap_err().contains("bytes"));
        assert!(
            Digest::parse("sha1-AAAA")
                .unwrap_err()
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
