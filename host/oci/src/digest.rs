//! Content digests (`sha256:<64 lowercase hex>`) and a hashing writer.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::ImageError;

/// The only digest algorithm Kiln reads and writes.
pub const SHA256_PREFIX: &str = "sha256:";

/// A validated content digest, always of the form `sha256:<64 lowercase hex>`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Parses and validates a digest string.
    pub fn parse(s: &str) -> Result<Self, ImageError> {
        let invalid = |reason: &str| ImageError::InvalidDigest {
            digest: s.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(hex_part) = s.strip_prefix(SHA256_PREFIX) else {
            return Err(match s.split_once(':') {
                Some((alg, _)) => invalid(&format!("unsupported algorithm {alg:?}, only sha256")),
                None => invalid("missing \"sha256:\" prefix"),
            });
        };
        if hex_part.len() != 64 {
            return Err(invalid(&format!(
                "expected 64 hex digits, found {}",
                hex_part.len()
            )));
        }
        if !hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid("hex digits must be 0-9 or lowercase a-f"));
        }
        Ok(Self(s.to_owned()))
    }

    /// Builds a digest from a raw 32-byte sha256 value.
    pub fn from_sha256(bytes: [u8; 32]) -> Self {
        Self(format!("{SHA256_PREFIX}{}", hex::encode(bytes)))
    }

    /// Computes the sha256 digest of `data`.
    pub fn of_bytes(data: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(data).into())
    }

    /// The full digest string, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits without the algorithm prefix.
    pub fn hex(&self) -> &str {
        &self.0[SHA256_PREFIX.len()..]
    }

    /// The algorithm name (always `sha256`).
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// A short form for display: the first 12 hex digits.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Digest {
    type Error = ImageError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A reader adapter that sha256-hashes every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    /// Hash what is read from `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The digest of everything read so far.
    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.hasher.finalize().into())
    }

    /// The inner reader and the digest of everything read through it.
    pub fn finish_with_inner(self) -> (R, Digest) {
        (
            self.inner,
            Digest::from_sha256(self.hasher.finalize().into()),
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer adapter that sha256-hashes and counts every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Number of bytes accepted by `inner` so far.
    pub fn bytes_written(&self) -> u64 {
        self.count
    }

    /// A shared reference to the wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Finishes hashing; returns the inner writer, the digest and the byte count.
    ///
    /// The inner writer is not flushed; callers flush or finish it as needed.
    pub fn finish(self) -> (W, Digest, u64) {
        let digest = Digest::from_sha256(self.hasher.finalize().into());
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_valid_and_display() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.hex().len(), 64);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::of_bytes(b""), d);
    }

    #[test]
    fn parse_rejects_bad_input() {
        for bad in [
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha512:abcd",
            "sha256:abc",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let e = Digest::parse(bad).unwrap_err();
            assert!(e.to_string().contains("invalid digest"), "{bad}: {e}");
        }
        let e = Digest::parse("sha512:00").unwrap_err().to_string();
        assert!(e.contains("sha512"), "{e}");
    }

    #[test]
    fn serde_as_string() {
        let d = Digest::parse(EMPTY).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        let back: Digest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
    }

    #[test]
    fn hashing_writer_counts_and_hashes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        assert_eq!(w.bytes_written(), 11);
        let (inner, digest, n) = w.finish();
        assert_eq!(inner, b"hello world");
        assert_eq!(n, 11);
        assert_eq!(digest, Digest::of_bytes(b"hello world"));
    }
}
