//! Multi-threaded zstd.
//!
//! zstd's multi-threaded mode (`nbWorkers >= 1`) cuts the input into jobs whose size follows
//! from the compression parameters alone, so its output is the same for any worker count (it
//! differs from the single-threaded mode, `nbWorkers = 0`, which is therefore never used).

use std::io::{self, Write};

use crate::Error;

/// The default zstd level.
pub const DEFAULT_LEVEL: i32 = 3;

/// Lowest accepted zstd level.
pub const MIN_LEVEL: i32 = 1;

/// Highest accepted zstd level.
pub const MAX_LEVEL: i32 = 22;

/// A [`Write`] adapter producing one zstd frame, compressed by zstd's own worker threads.
///
/// The frame carries a content checksum and no content size. [`Write::flush`] flushes the inner
/// writer only: it does not end a zstd block, so the output does not depend on when the caller
/// flushes. Call [`ZstdEncoder::finish`] to end the frame.
pub struct ZstdEncoder<W: Write> {
    inner: zstd::stream::write::Encoder<'static, W>,
}

impl<W: Write> ZstdEncoder<W> {
    /// An encoder at `level` (1–22) using `workers` zstd worker threads (0 is taken as 1).
    pub fn new(inner: W, level: i32, workers: usize) -> Result<Self, Error> {
        if !(MIN_LEVEL..=MAX_LEVEL).contains(&level) {
            return Err(Error::Level {
                format: "zstd",
                level: i64::from(level),
                min: i64::from(MIN_LEVEL),
                max: i64::from(MAX_LEVEL),
            });
        }
        let workers = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
        let mut encoder = zstd::stream::write::Encoder::new(inner, level)?;
        encoder.multithread(workers)?;
        encoder.include_checksum(true)?;
        encoder.include_contentsize(false)?;
        Ok(Self { inner: encoder })
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        self.inner.get_ref()
    }

    /// Ends the frame and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        let mut inner = self.inner.finish()?;
        inner.flush()?;
        Ok(inner)
    }
}

impl<W: Write> Write for ZstdEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.get_mut().flush()
    }
}

impl<W: Write> std::fmt::Debug for ZstdEncoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZstdEncoder").finish_non_exhaustive()
    }
}
