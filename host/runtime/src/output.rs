//! Capture of a buildpack's stdout/stderr: streamed line by line to the build log, with a cap.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Which guest stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives complete lines of guest output.
pub type LineSink = Arc<dyn Fn(Stream, &str) + Send + Sync>;

#[derive(Default)]
struct Buffer {
    pending: Vec<u8>,
    written: usize,
    truncated: bool,
}

/// A guest output stream that forwards complete lines to a sink, keeping at most `limit`
/// bytes; the rest is dropped and reported once.
#[derive(Clone)]
pub struct LineStream {
    stream: Stream,
    limit: usize,
    sink: LineSink,
    buffer: Arc<Mutex<Buffer>>,
}

impl LineStream {
    /// A stream for `stream` that sends lines to `sink`.
    pub fn new(stream: Stream, limit: usize, sink: LineSink) -> Self {
        Self {
            stream,
            limit,
            sink,
            buffer: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut buf = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.limit.saturating_sub(buf.written);
        let take = bytes.len().min(room);
        buf.written += take;
        buf.pending.extend_from_slice(&bytes[..take]);
        while let Some(pos) = buf.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.pending.drain(..=pos).collect();
            (self.sink)(
                self.stream,
                String::from_utf8_lossy(&line[..pos]).trim_end_matches('\r'),
            );
        }
        if take < bytes.len() && !buf.truncated {
            buf.truncated = true;
            let rest = std::mem::take(&mut buf.pending);
            if !rest.is_empty() {
                (self.sink)(self.stream, &String::from_utf8_lossy(&rest));
            }
            (self.sink)(
                self.stream,
                &format!("[output truncated after {} bytes]", self.limit),
            );
        }
    }

    /// Emit any unterminated last line.
    pub fn finish(&self) {
        let mut buf = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let rest = std::mem::take(&mut buf.pending);
        if !rest.is_empty() {
            (self.sink)(self.stream, &String::from_utf8_lossy(&rest));
        }
    }
}

impl IsTerminal for LineStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LineStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LineStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LineStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_caps_output() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        let sink: LineSink = Arc::new(move |_, l| seen.lock().unwrap().push(l.to_owned()));
        let s = LineStream::new(Stream::Stdout, 12, sink);
        s.push(b"one\ntw");
        s.push(b"o\nthree four five\n");
        s.finish();
        let got = lines.lock().unwrap().clone();
        assert_eq!(got[0], "one");
        assert_eq!(got[1], "two");
        assert!(got.last().unwrap().contains("truncated"), "{got:?}");
    }
}
