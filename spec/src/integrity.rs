//! Expected digests of downloads: `sha256:<hex>`, `sha512:<hex>` and Subresource Integrity
//! strings (`sha512-<base64>`, as npm lockfiles write them). Parsing and formatting only; the
//! hashing is the caller's.

use std::fmt;

use base64::Engine as _;

/// A digest algorithm Kiln accepts for pinned downloads. Ordered by strength.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-512 (64 bytes).
    Sha512,
}

impl Algorithm {
    /// The name used in digests, SRI strings and cache paths (`sha256`, `sha512`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// The algorithm called `name`, if Kiln knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Length of a digest in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An integrity string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// `<algorithm>:<hex>` with an algorithm other than sha256/sha512.
    #[error("unknown digest algorithm {algorithm:?}; use sha256 or sha512")]
    UnknownAlgorithm {
        /// The algorithm named.
        algorithm: String,
    },
    /// The hex part is not hex.
    #[error("{text:?} is not `{algorithm}:` followed by hex digits")]
    BadHex {
        /// The whole text.
        text: String,
        /// The algorithm named.
        algorithm: Algorithm,
    },
    /// An SRI value is not base64.
    #[error("integrity {part:?} is not valid base64")]
    BadBase64 {
        /// The offending space-separated part.
        part: String,
    },
    /// The digest has the wrong number of bytes for its algorithm.
    #[error("{text:?} has {len} bytes; a {algorithm} digest has {}", algorithm.digest_len())]
    WrongLength {
        /// The offending text.
        text: String,
        /// Its algorithm.
        algorithm: Algorithm,
        /// The bytes it decoded to.
        len: usize,
    },
    /// Neither form, or an SRI string without a known algorithm.
    #[error(
        "{text:?} is not a digest; use sha256:<hex>, sha512:<hex> or an SRI string like sha512-<base64>"
    )]
    NotADigest {
        /// The text.
        text: String,
    },
}

/// A parsed digest: algorithm and raw bytes (of the right length).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Integrity {
    algorithm: Algorithm,
    bytes: Vec<u8>,
}

impl Integrity {
    /// A digest from raw bytes; fails when their length does not fit `algorithm`.
    pub fn new(algorithm: Algorithm, bytes: Vec<u8>) -> Result<Self, IntegrityError> {
        Self::checked(algorithm, bytes, "")
    }

    /// A SHA-256 digest.
    pub fn sha256(bytes: [u8; 32]) -> Self {
        Self {
            algorithm: Algorithm::Sha256,
            bytes: bytes.to_vec(),
        }
    }

    /// A SHA-512 digest.
    pub fn sha512(bytes: [u8; 64]) -> Self {
        Self {
            algorithm: Algorithm::Sha512,
            bytes: bytes.to_vec(),
        }
    }

    /// Parse `sha256:<hex>`, `sha512:<hex>` or an SRI string. Of several space-separated SRI
    /// values the strongest known one is used; unknown algorithms and `?options` are ignored.
    pub fn parse(text: &str) -> Result<Self, IntegrityError> {
        let text = text.trim();
        if let Some((name, hex_part)) = text.split_once(':') {
            let algorithm =
                Algorithm::from_name(name).ok_or_else(|| IntegrityError::UnknownAlgorithm {
                    algorithm: name.to_owned(),
                })?;
            let bytes = hex::decode(hex_part).map_err(|_| IntegrityError::BadHex {
                text: text.to_owned(),
                algorithm,
            })?;
            return Self::checked(algorithm, bytes, text);
        }
        let mut best: Option<Self> = None;
        for part in text.split_whitespace() {
            let Some((name, value)) = part.split_once('-') else {
                continue;
            };
            let Some(algorithm) = Algorithm::from_name(name) else {
                continue;
            };
            let value = value.split('?').next().unwrap_or(value);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| IntegrityError::BadBase64 {
                    part: part.to_owned(),
                })?;
            let digest = Self::checked(algorithm, bytes, part)?;
            if best.as_ref().is_none_or(|b| b.algorithm < digest.algorithm) {
                best = Some(digest);
            }
        }
        best.ok_or_else(|| IntegrityError::NotADigest {
            text: text.to_owned(),
        })
    }

    fn checked(algorithm: Algorithm, bytes: Vec<u8>, text: &str) -> Result<Self, IntegrityError> {
        if bytes.len() == algorithm.digest_len() {
            Ok(Self { algorithm, bytes })
        } else {
            Err(IntegrityError::WrongLength {
                text: text.to_owned(),
                algorithm,
                len: bytes.len(),
            })
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Lower-case hex of the bytes.
    pub fn hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// The SRI form, `sha512-<base64>`.
    pub fn sri(&self) -> String {
        format!(
            "{}-{}",
            self.algorithm.name(),
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }
}

/// The `<algorithm>:<hex>` form.
impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex())
    }
}

impl std::str::FromStr for Integrity {
    type Err = IntegrityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    /// SHA-512 of `abc`, in SRI form.
    const ABC_SHA512_SRI: &str = "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==";

    #[test]
    fn parses_hex_and_formats_back() {
        let d = Integrity::parse(&format!(" sha256:{ABC_SHA256} ")).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.bytes().len(), 32);
        assert_eq!(d.to_string(), format!("sha256:{ABC_SHA256}"));
        assert_eq!(d.hex(), ABC_SHA256);
        assert_eq!(
            d.sri(),
            "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn sri_round_trips_and_prefers_the_strongest() {
        let d = Integrity::parse(ABC_SHA512_SRI).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha512);
        assert_eq!(d.sri(), ABC_SHA512_SRI);
        let both = format!(
            "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0= {ABC_SHA512_SRI}?opt md5-xyz"
        );
        assert_eq!(Integrity::parse(&both).unwrap(), d);
        let via_hex: Integrity = format!("sha512:{}", d.hex()).parse().unwrap();
        assert_eq!(via_hex, d);
    }

    #[test]
    fn rejects_what_is_not_a_digest() {
        assert!(matches!(
            Integrity::parse("md5:00"),
            Err(IntegrityError::UnknownAlgorithm { algorithm }) if algorithm == "md5"
        ));
        assert!(matches!(
            Integrity::parse("sha256:zz"),
            Err(IntegrityError::BadHex { .. })
        ));
        assert!(matches!(
            Integrity::parse("sha256:abcd"),
            Err(IntegrityError::WrongLength { len: 2, .. })
        ));
        assert!(matches!(
            Integrity::parse("sha512-!!!"),
            Err(IntegrityError::BadBase64 { .. })
        ));
        assert!(matches!(
            Integrity::parse("md5-abc"),
            Err(IntegrityError::NotADigest { .. })
        ));
        assert!(matches!(
            Integrity::parse(""),
            Err(IntegrityError::NotADigest { .. })
        ));
        assert!(Integrity::new(Algorithm::Sha256, vec![0; 31]).is_err());
        assert!(Integrity::new(Algorithm::Sha256, vec![0; 32]).is_ok());
    }

    #[test]
    fn algorithms_are_ordered_by_strength() {
        assert!(Algorithm::Sha256 < Algorithm::Sha512);
        assert_eq!(Algorithm::from_name("sha512"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::from_name("SHA512"), None);
        assert_eq!(Algorithm::Sha512.to_string(), "sha512");
    }
}
