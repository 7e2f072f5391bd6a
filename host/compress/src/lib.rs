//! Kiln's layer compression: writers that turn a tar stream into an OCI layer blob.
//!
//! - [`GzipEncoder`]: gzip compressed in parallel blocks, byte-for-byte independent of the
//!   thread count and of how the input is split into writes.
//! - [`ZstdEncoder`]: zstd in multi-threaded mode, independent of the worker count.
//! - [`Compression`]: the choice of the two (with a level), as the CLI spells it, with the OCI
//!   media type and a constructor for an [`Encoder`].

mod gzip;
mod zstd_writer;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

pub use gzip::{BLOCK_SIZE, DICT_SIZE, GzipEncoder};
pub use zstd_writer::ZstdEncoder;

/// Default and range of gzip levels.
pub mod gzip_level {
    pub use crate::gzip::{DEFAULT_LEVEL, MAX_LEVEL};
    /// Lowest accepted gzip level.
    pub const MIN_LEVEL: u32 = 0;
}

/// Default and range of zstd levels.
pub mod zstd_level {
    pub use crate::zstd_writer::{DEFAULT_LEVEL, MAX_LEVEL, MIN_LEVEL};
}

/// OCI media type of a gzip-compressed tar layer.
pub const MEDIA_TYPE_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// OCI media type of a zstd-compressed tar layer.
pub const MEDIA_TYPE_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A compression level outside the format's range.
    #[error("{format} level {level} is out of range {min}..={max}")]
    Level {
        /// `gzip` or `zstd`.
        format: &'static str,
        /// The level asked for.
        level: i64,
        /// Lowest accepted level.
        min: i64,
        /// Highest accepted level.
        max: i64,
    },
    /// A compression spelled neither `gzip[:LEVEL]` nor `zstd[:LEVEL]`.
    #[error("unknown compression {0:?} (expected gzip, gzip:LEVEL, zstd or zstd:LEVEL)")]
    Parse(String),
    /// An I/O error from the compressor setup.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The number of threads to compress with by default: the available parallelism, or 1.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// A layer compression and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip at `level` (0–9).
    Gzip {
        /// The deflate level.
        level: u32,
    },
    /// zstd at `level` (1–22).
    Zstd {
        /// The zstd level.
        level: i32,
    },
}

impl Default for Compression {
    fn default() -> Self {
        Self::Gzip {
            level: gzip::DEFAULT_LEVEL,
        }
    }
}

impl Compression {
    /// gzip at the default level.
    pub const GZIP: Self = Self::Gzip {
        level: gzip::DEFAULT_LEVEL,
    };

    /// zstd at the default level.
    pub const ZSTD: Self = Self::Zstd {
        level: zstd_writer::DEFAULT_LEVEL,
    };

    /// The OCI media type of a tar layer compressed this way.
    pub fn media_type(&self) -> &'static str {
        match self {
            Self::Gzip { .. } => MEDIA_TYPE_TAR_GZIP,
            Self::Zstd { .. } => MEDIA_TYPE_TAR_ZSTD,
        }
    }

    /// Checks the level is within the format's range.
    pub fn validate(&self) -> Result<(), Error> {
        let (format, level, min, max) = match *self {
            Self::Gzip { level } => (
                "gzip",
                i64::from(level),
                i64::from(gzip_level::MIN_LEVEL),
                i64::from(gzip_level::MAX_LEVEL),
            ),
            Self::Zstd { level } => (
                "zstd",
                i64::from(level),
                i64::from(zstd_level::MIN_LEVEL),
                i64::from(zstd_level::MAX_LEVEL),
            ),
        };
        if (min..=max).contains(&level) {
            Ok(())
        } else {
            Err(Error::Level {
                format,
                level,
                min,
                max,
            })
        }
    }

    /// An encoder writing to `out` with `threads` compression threads (see
    /// [`default_threads`]); the output does not depend on `threads`.
    pub fn encoder<W: Write>(&self, out: W, threads: usize) -> Result<Encoder<W>, Error> {
        Ok(match *self {
            Self::Gzip { level } => Encoder::Gzip(GzipEncoder::with_options(out, level, threads)?),
            Self::Zstd { level } => Encoder::Zstd(ZstdEncoder::new(out, level, threads)?),
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gzip { level } => write!(f, "gzip:{level}"),
            Self::Zstd { level } => write!(f, "zstd:{level}"),
        }
    }
}

impl FromStr for Compression {
    type Err = Error;

    /// Parses `gzip`, `zstd`, `gzip:LEVEL` or `zstd:LEVEL` (case-insensitive names).
    fn from_str(s: &str) -> Result<Self, Error> {
        let (name, level) = match s.split_once(':') {
            Some((name, level)) => (name, Some(level)),
            None => (s, None),
        };
        let bad = || Error::Parse(s.to_owned());
        let compression = match name.to_ascii_lowercase().as_str() {
            "gzip" | "gz" => match level {
                None => Self::GZIP,
                Some(level) => Self::Gzip {
                    level: level.parse().map_err(|_| bad())?,
                },
            },
            "zstd" | "zst" => match level {
                None => Self::ZSTD,
                Some(level) => Self::Zstd {
                    level: level.parse().map_err(|_| bad())?,
                },
            },
            _ => return Err(bad()),
        };
        compression.validate()?;
        Ok(compression)
    }
}

/// A compressing writer of either format: write the tar into it, then [`Encoder::finish`].
#[derive(Debug)]
pub enum Encoder<W: Write> {
    /// A gzip stream.
    Gzip(GzipEncoder<W>),
    /// A zstd frame.
    Zstd(ZstdEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// Ends the compressed stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Self::Gzip(e) => e.finish(),
            Self::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Gzip(e) => e.write(buf),
            Self::Zstd(e) => e.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Gzip(e) => e.write_all(buf),
            Self::Zstd(e) => e.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Gzip(e) => e.flush(),
            Self::Zstd(e) => e.flush(),
        }
    }
}
