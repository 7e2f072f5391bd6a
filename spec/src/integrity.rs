//! Expected digests of downloads: `sha256:<hex>`, `sha512:<hex>`, Subresource Integrity
//! strings (`sha512-<base64>`, as npm lockfiles write them) and Go module hashes
//! (`h1:<base64>`, as `go.sum` writes them). Parsing and formatting only; the hashing is the
//! caller's (`h1` is computed by `kiln_extract::go_h1`).

use std::fmt;

use base64::Engine as _;

/// A digest algorithm Kiln accepts for pinned downloads. The SRI algorithms are ordered by
/// strength (`Sha256 < Sha512`, the choice among several SRI values); [`Algorithm::GoH1`],
/// which is not an SRI algorithm, sorts last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-512 (64 bytes).
    Sha512,
    /// Go's module hash `h1` (32 bytes: SHA-256 of a summary of SHA-256s of a module zip's
    /// files, or of a lone `go.mod`). Not a hash of the bytes as a stream: it needs the whole
    /// file.
    GoH1,
}

impl Algorithm {
    /// The name used in digests, SRI strings and cache paths (`sha256`, `sha512`, `h1`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
            Self::GoH1 => "h1",
        }
    }

    /// The algorithm called `name`, if Kiln knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            "h1" => Some(Self::GoH1),
            _ => None,
        }
    }

    /// Length of a digest in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Sha256 | Self::GoH1 => 32,
            Self::Sha512 => 64,
        }
    }

    /// Whether Subresource Integrity defines this algorithm (`h1` it does not: `h1-<base64>`
    /// in an SRI string is ignored like any unknown algorithm).
    pub const fn is_sri(self) -> bool {
        matches!(self, Self::Sha256 | Self::Sha512)
    }

    /// Whether the `<name>:` text form writes the digest in base64 (`h1`, as `go.sum` does)
    /// rather than hex.
    pub const fn is_base64_text(self) -> bool {
        matches!(self, Self::GoH1)
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
    /// `<algorithm>:<digest>` with an algorithm other than sha256/sha512/h1.
    #[error("unknown digest algorithm {algorithm:?}; use sha256, sha512 or h1")]
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
    /// An SRI value or an `h1:` digest is not base64.
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
        "{text:?} is not a digest; use sha256:<hex>, sha512:<hex>, h1:<base64> or an SRI string like sha512-<base64>"
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

    /// A Go module hash (`h1`).
    pub fn go_h1(bytes: [u8; 32]) -> Self {
        Self {
            algorithm: Algorithm::GoH1,
            bytes: bytes.to_vec(),
        }
    }

    /// Parse `sha256:<hex>`, `sha512:<hex>`, `h1:<base64>` (standard alphabet, padded, as in
    /// `go.sum`) or an SRI string. Of several space-separated SRI values the strongest known
    /// one is used; unknown algorithms (`h1` included) and `?options` are ignored.
    pub fn parse(text: &str) -> Result<Self, IntegrityError> {
        let text = text.trim();
        if let Some((name, digest_part)) = text.split_once(':') {
            let algorithm =
                Algorithm::from_name(name).ok_or_else(|| IntegrityError::UnknownAlgorithm {
                    algorithm: name.to_owned(),
                })?;
            let bytes = if algorithm.is_base64_text() {
                base64::engine::general_purpose::STANDARD
                    .decode(digest_part)
                    .map_err(|_| IntegrityError::BadBase64 {
                        part: text.to_owned(),
                    })?
            } else {
                hex::decode(digest_part).map_err(|_| IntegrityError::BadHex {
                    text: text.to_owned(),
                    algorithm,
                })?
            };
            return Self::checked(algorithm, bytes, text);
        }
        let mut best: Option<Self> = None;
        for part in text.split_whitespace() {
            let Some((name, value)) = part.split_once('-') else {
                continue;
            };
            let Some(algorithm) = Algorithm::from_name(name).filter(|a| a.is_sri()) else {
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

    /// Lower-case hex of the bytes (for every algorithm, `h1` included: cache paths use it).
    pub fn hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// The SRI form, `sha512-<base64>`. SRI defines no `h1`: for it this is the `go.sum`
    /// form `h1:<base64>` (the same as [`Display`](fmt::Display)); see [`Algorithm::is_sri`].
    pub fn sri(&self) -> String {
        let sep = if self.algorithm.is_sri() { '-' } else { ':' };
        format!("{}{sep}{}", self.algorithm.name(), self.base64())
    }

    fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }
}

/// The `<algorithm>:<hex>` form; for `h1`, `h1:<base64>` (as `go.sum` writes it). Both parse
/// back with [`Integrity::parse`].
impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.algorithm.is_base64_text() {
            write!(f, "{}:{}", self.algorithm.name(), self.base64())
        } else {
            write!(f, "{}:{}", self.algorithm.name(), self.hex())
        }
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

    /// `h1` of the go.mod `module example.com/hello\n\ngo 1.19\n`, computed with Python's
    /// hashlib/base64 (sha256 of the summary line `<hex sha256 of the file>  go.mod\n`).
    const HELLO_GO_MOD_H1: &str = "h1:RslnPMa/nR3RpskRbvoDBlr6/b2RhFS0EEnq72RQTo0=";
    const HELLO_GO_MOD_H1_HEX: &str =
        "46c9673cc6bf9d1dd1a6c9116efa03065afafdbd918454b41049eaef64504e8d";

    #[test]
    fn h1_parses_base64_and_prints_the_go_sum_form() {
        let d = Integrity::parse(&format!(" {HELLO_GO_MOD_H1}\n")).unwrap();
        assert_eq!(d.algorithm(), Algorithm::GoH1);
        assert_eq!(d.hex(), HELLO_GO_MOD_H1_HEX);
        assert_eq!(d.to_string(), HELLO_GO_MOD_H1);
        assert_eq!(d.sri(), HELLO_GO_MOD_H1, "SRI has no h1: the go.sum form");
        assert_eq!(HELLO_GO_MOD_H1.parse::<Integrity>().unwrap(), d);
        let from_bytes =
            Integrity::new(Algorithm::GoH1, hex::decode(HELLO_GO_MOD_H1_HEX).unwrap()).unwrap();
        assert_eq!(from_bytes, d);
        assert_eq!(
            Integrity::go_h1(d.bytes().try_into().unwrap()),
            d,
            "the constructor"
        );
        // Same bytes, another algorithm: a different digest.
        let sha = Integrity::new(Algorithm::Sha256, d.bytes().to_vec()).unwrap();
        assert_ne!(sha, d);
        assert_eq!(sha.to_string(), format!("sha256:{HELLO_GO_MOD_H1_HEX}"));
    }

    #[test]
    fn h1_rejects_hex_bad_base64_and_wrong_lengths() {
        assert!(matches!(
            Integrity::parse(&format!("h1:{HELLO_GO_MOD_H1_HEX}")),
            Err(IntegrityError::BadBase64 { .. } | IntegrityError::WrongLength { .. })
        ));
        assert!(matches!(
            Integrity::parse("h1:!!!"),
            Err(IntegrityError::BadBase64 { .. })
        ));
        assert!(matches!(
            Integrity::parse("h1:AAAA"),
            Err(IntegrityError::WrongLength { len: 3, .. })
        ));
        // sha256 stays hex.
        assert!(matches!(
            Integrity::parse("sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="),
            Err(IntegrityError::BadHex { .. })
        ));
    }

    #[test]
    fn h1_is_not_an_sri_algorithm() {
        let h1_as_sri = HELLO_GO_MOD_H1.replacen(':', "-", 1);
        assert!(matches!(
            Integrity::parse(&h1_as_sri),
            Err(IntegrityError::NotADigest { .. })
        ));
        // Beside a real SRI value it is ignored, whatever the ordering of `Algorithm`.
        let mixed = format!("{h1_as_sri} sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        let d = Integrity::parse(&mixed).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex(), ABC_SHA256);
        assert!(!Algorithm::GoH1.is_sri());
        assert!(Algorithm::Sha256.is_sri() && Algorithm::Sha512.is_sri());
    }

    #[test]
    fn algorithms_are_ordered_by_strength() {
        assert!(Algorithm::Sha256 < Algorithm::Sha512);
        assert_eq!(Algorithm::from_name("h1"), Some(Algorithm::GoH1));
        assert_eq!(Algorithm::GoH1.to_string(), "h1");
        assert_eq!(Algorithm::GoH1.digest_len(), 32);
        assert_eq!(Algorithm::from_name("sha512"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::from_name("SHA512"), None);
        assert_eq!(Algorithm::Sha512.to_string(), "sha512");
    }
}
