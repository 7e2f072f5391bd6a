//! Deterministic parallel gzip.
//!
//! The input is cut into [`BLOCK_SIZE`] blocks at fixed offsets. Each block is compressed on
//! its own, as raw deflate, by a fresh compressor primed with the last [`DICT_SIZE`] bytes of
//! the previous block's input. Every block but the last ends with a sync flush (byte-aligned,
//! not final); the last one carries BFINAL. The blocks concatenate into one deflate stream,
//! framed by a fixed gzip header and a CRC-32/ISIZE trailer.
//!
//! A block's compressed bytes depend only on its input, its dictionary, the level and whether it
//! is the last block, so the output is the same whatever the number of threads and however the
//! caller splits its writes.
//!
//! The engine is zlib-rs (pure Rust, pinned), used directly rather than as a flate2 backend: a
//! flate2 feature would be unified into every flate2 user of the same build (miniz_oxide
//! elsewhere, the wasm guests included), so their output would depend on what else is built.
//! The bytes are tied to the pinned zlib-rs version.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crc32fast::Hasher;
use zlib_rs::{Deflate, DeflateFlush, Status};

use crate::Error;

/// Input bytes per independently compressed block.
pub const BLOCK_SIZE: usize = 128 * 1024;

/// Bytes of the previous block's input used as the dictionary of the next block.
pub const DICT_SIZE: usize = 32 * 1024;

/// The default gzip level (what Kiln used with flate2).
pub const DEFAULT_LEVEL: u32 = 6;

/// Highest accepted gzip level.
pub const MAX_LEVEL: u32 = 9;

/// A block handed to a worker.
struct Job {
    seq: u64,
    dict: Vec<u8>,
    data: Vec<u8>,
}

/// A compressed block coming back from a worker.
struct Done {
    seq: u64,
    result: io::Result<Block>,
}

/// One block's compressed bytes and the CRC-32 of its input.
struct Block {
    deflate: Vec<u8>,
    crc: Hasher,
}

/// The worker threads, spawned on the first full block.
struct Pool {
    jobs: Option<Sender<Job>>,
    results: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    fn spawn(threads: usize, level: u32) -> io::Result<Self> {
        let (job_tx, job_rx) = channel::<Job>();
        let (done_tx, done_rx) = channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut pool = Self {
            jobs: Some(job_tx),
            results: done_rx,
            workers: Vec::with_capacity(threads),
        };
        for i in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("kiln-gzip-{i}"))
                .spawn(move || worker(&job_rx, &done_tx, level))?;
            pool.workers.push(handle);
        }
        Ok(pool)
    }

    /// Closes the job queue and waits for the workers, which finish at most their current block.
    fn shut_down(&mut self) {
        self.jobs = None;
        for handle in self.workers.drain(..) {
            // A worker only panics outside `catch_unwind` if the queue lock is poisoned; there is
            // nothing left to report then.
            let _ = handle.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn worker(jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>, level: u32) {
    loop {
        let job = {
            let Ok(queue) = jobs.lock() else { return };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let result = compress_block(level, &job.dict, &job.data, false);
        if done
            .send(Done {
                seq: job.seq,
                result,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Compresses one block as raw deflate, primed with `dict`; a non-final block ends with a sync
/// flush, the final one with BFINAL. A panic of the engine is returned as an error.
fn compress_block(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Block> {
    catch_unwind(AssertUnwindSafe(|| deflate_block(level, dict, data, last)))
        .unwrap_or_else(|_| Err(io::Error::other("deflate panicked")))
}

fn deflate_block(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Block> {
    let engine_error =
        |e: zlib_rs::DeflateError| io::Error::other(format!("deflate: {}", e.as_str()));
    let mut crc = Hasher::new();
    crc.update(data);
    let level = i32::try_from(level).map_err(io::Error::other)?;
    // Raw deflate (no zlib header), a 32 KiB window, zlib's default memory level and strategy.
    let mut c = Deflate::new(level, false, 15);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(engine_error)?;
    }
    let flush = if last {
        DeflateFlush::Finish
    } else {
        DeflateFlush::SyncFlush
    };
    let mut out = vec![0u8; data.len() + data.len() / 8 + 256];
    // Progress is counted from the engine's totals as differences: zlib counts the dictionary
    // into `total_in`.
    let (mut consumed, mut written) = (0usize, 0usize);
    loop {
        let (in_before, out_before) = (c.total_in(), c.total_out());
        let input = data.get(consumed..).unwrap_or_default();
        let output = out.get_mut(written..).unwrap_or_default();
        let status = c.compress(input, output, flush).map_err(engine_error)?;
        let (read, wrote) = (c.total_in() - in_before, c.total_out() - out_before);
        consumed += usize::try_from(read).map_err(io::Error::other)?;
        written += usize::try_from(wrote).map_err(io::Error::other)?;
        let all_in = consumed == data.len();
        let room_left = written < out.len();
        match status {
            Status::StreamEnd => break,
            // The flush is complete once all input is in and the output did not fill up.
            Status::Ok | Status::BufError if !last && all_in && room_left => break,
            Status::Ok | Status::BufError => {
                if room_left && read == 0 && wrote == 0 {
                    return Err(io::Error::other("deflate made no progress"));
                }
                out.resize(out.len() + out.len() / 2 + 256, 0);
            }
        }
    }
    out.truncate(written);
    Ok(Block { deflate: out, crc })
}

/// The gzip header Kiln writes: no name, mtime 0, OS 255, XFL from the level as flate2 sets it.
fn header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// A [`Write`] adapter producing gzip, compressing [`BLOCK_SIZE`] blocks on worker threads.
///
/// The bytes written to the inner writer depend only on the input and the level: not on the
/// number of threads, nor on how the input is split into `write` calls. [`Write::flush`] pushes
/// out the blocks already complete and flushes the inner writer; it never cuts the current block
/// short, so it does not change the output either. Call [`GzipEncoder::finish`] to write the end
/// of the stream; dropping the encoder without it abandons the stream (without blocking).
pub struct GzipEncoder<W: Write> {
    inner: Option<W>,
    level: u32,
    threads: usize,
    /// The current, not yet full, block.
    block: Vec<u8>,
    /// The dictionary of the current block: the tail of the previous block.
    dict: Vec<u8>,
    /// CRC-32 of the input of the blocks written so far.
    crc: Hasher,
    total_in: u64,
    header_written: bool,
    pool: Option<Pool>,
    /// Sequence number of the next block dispatched.
    next_seq: u64,
    /// Sequence number of the next block to write out.
    next_out: u64,
    /// Compressed blocks that arrived ahead of `next_out`.
    pending: BTreeMap<u64, Block>,
    failed: bool,
}

impl<W: Write> GzipEncoder<W> {
    /// An encoder at [`DEFAULT_LEVEL`] with [`crate::default_threads`] threads.
    pub fn new(inner: W) -> Self {
        Self::build(inner, DEFAULT_LEVEL, crate::default_threads())
    }

    /// An encoder at `level` (0–9) using `threads` compression threads (0 is taken as 1; with
    /// 1, blocks are compressed on the caller's thread and no thread is spawned).
    pub fn with_options(inner: W, level: u32, threads: usize) -> Result<Self, Error> {
        if level > MAX_LEVEL {
            return Err(Error::Level {
                format: "gzip",
                level: i64::from(level),
                min: 0,
                max: i64::from(MAX_LEVEL),
            });
        }
        Ok(Self::build(inner, level, threads))
    }

    fn build(inner: W, level: u32, threads: usize) -> Self {
        Self {
            inner: Some(inner),
            level,
            threads: threads.max(1),
            block: Vec::with_capacity(BLOCK_SIZE),
            dict: Vec::new(),
            crc: Hasher::new(),
            total_in: 0,
            header_written: false,
            pool: None,
            next_seq: 0,
            next_out: 0,
            pending: BTreeMap::new(),
            failed: false,
        }
    }

    /// The inner writer.
    pub fn get_ref(&self) -> Option<&W> {
        self.inner.as_ref()
    }

    /// Writes the last block and the trailer, waits for the workers and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.check()?;
        let result = self.finish_stream();
        if result.is_err() {
            self.failed = true;
        }
        result?;
        if let Some(mut pool) = self.pool.take() {
            pool.shut_down();
        }
        self.inner
            .take()
            .ok_or_else(|| io::Error::other("gzip encoder has no inner writer"))
    }

    fn finish_stream(&mut self) -> io::Result<()> {
        let data = std::mem::take(&mut self.block);
        let dict = std::mem::take(&mut self.dict);
        // Compressed here while the workers finish theirs.
        let last = compress_block(self.level, &dict, &data, true)?;
        self.total_in += data.len() as u64;
        let last_seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(last_seq, last);
        self.drain()?;
        let crc = std::mem::take(&mut self.crc).finalize();
        // ISIZE is the input size modulo 2^32.
        #[allow(clippy::cast_possible_truncation)]
        let isize = self.total_in as u32;
        let inner = self.inner_mut()?;
        inner.write_all(&crc.to_le_bytes())?;
        inner.write_all(&isize.to_le_bytes())?;
        inner.flush()
    }

    fn check(&self) -> io::Result<()> {
        if self.failed {
            Err(io::Error::other("gzip encoder failed earlier"))
        } else {
            Ok(())
        }
    }

    fn inner_mut(&mut self) -> io::Result<&mut W> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::other("gzip encoder has no inner writer"))
    }

    /// Hands the full current block to a worker (or compresses it here with one thread).
    fn dispatch(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_SIZE));
        let tail = data.len().saturating_sub(DICT_SIZE);
        let next_dict = data.get(tail..).unwrap_or_default().to_vec();
        let dict = std::mem::replace(&mut self.dict, next_dict);
        self.total_in += data.len() as u64;
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.threads == 1 {
            let block = compress_block(self.level, &dict, &data, false)?;
            self.pending.insert(seq, block);
            return self.write_ready();
        }
        if self.pool.is_none() {
            self.pool = Some(Pool::spawn(self.threads, self.level)?);
        }
        let sent = self
            .pool
            .as_ref()
            .and_then(|pool| pool.jobs.as_ref())
            .is_some_and(|jobs| jobs.send(Job { seq, dict, data }).is_ok());
        if !sent {
            return Err(io::Error::other("gzip workers are gone"));
        }
        // Collect what is done without waiting, then wait while too many blocks are in flight.
        while let Some(done) = self
            .pool
            .as_ref()
            .and_then(|pool| pool.results.try_recv().ok())
        {
            self.accept(done)?;
        }
        self.write_ready()?;
        while self.next_seq - self.next_out >= 2 * self.threads as u64 {
            self.wait_one()?;
            self.write_ready()?;
        }
        Ok(())
    }

    /// Waits for one block from the workers.
    fn wait_one(&mut self) -> io::Result<()> {
        let done = self
            .pool
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip block missing"))?
            .results
            .recv()
            .map_err(|_| io::Error::other("gzip workers are gone"))?;
        self.accept(done)
    }

    fn accept(&mut self, done: Done) -> io::Result<()> {
        let block = done.result?;
        self.pending.insert(done.seq, block);
        Ok(())
    }

    /// Waits for and writes every block dispatched so far.
    fn drain(&mut self) -> io::Result<()> {
        while self.next_out < self.next_seq {
            self.write_ready()?;
            if self.next_out < self.next_seq {
                self.wait_one()?;
            }
        }
        Ok(())
    }

    /// Writes the blocks that are next in order.
    fn write_ready(&mut self) -> io::Result<()> {
        while let Some(block) = self.pending.remove(&self.next_out) {
            let level = self.level;
            let first = !self.header_written;
            let inner = self.inner_mut()?;
            if first {
                inner.write_all(&header(level))?;
            }
            inner.write_all(&block.deflate)?;
            self.header_written = true;
            self.crc.combine(&block.crc);
            self.next_out += 1;
        }
        Ok(())
    }

    fn write_input(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let room = BLOCK_SIZE - self.block.len();
            let (now, rest) = buf.split_at(room.min(buf.len()));
            self.block.extend_from_slice(now);
            buf = rest;
            if self.block.len() == BLOCK_SIZE {
                self.dispatch()?;
            }
        }
        Ok(())
    }
}

impl<W: Write> Write for GzipEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        let result = self.write_input(buf);
        if result.is_err() {
            self.failed = true;
        }
        result.map(|()| buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        let result = self.drain().and_then(|()| self.inner_mut()?.flush());
        if result.is_err() {
            self.failed = true;
        }
        result
    }
}

impl<W: Write> std::fmt::Debug for GzipEncoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipEncoder")
            .field("level", &self.level)
            .field("threads", &self.threads)
            .field("total_in", &self.total_in)
            .finish_non_exhaustive()
    }
}
