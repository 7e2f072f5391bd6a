//! File output streams that write on the calling thread.
//!
//! wasmtime-wasi's stream for `descriptor.write-via-stream` hands every `write` to tokio's
//! blocking pool and waits for it in the following flush: two thread switches per write.
//! wasi-libc writes a file with check-write, write, blocking-flush, so a buildpack that writes
//! 200,000 small files pays 400,000 switches. Kiln runs guests synchronously and already lets
//! filesystem calls block the calling thread (`allow_blocking_current_thread`), so this
//! module replaces that one function with a stream that writes in place.
//!
//! The replacement keeps the checks of the original: the descriptor must be a file opened
//! through a grant that permits writing; the stream writes only to that open file.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::sync::filesystem::types::ErrorCode;
use wasmtime_wasi::p2::{DynOutputStream, OutputStream, Pollable, StreamError, StreamResult};

use crate::HostState;

/// The interface whose `write-via-stream` is replaced (the version wasmtime-wasi links).
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// How many bytes one `write` may take (what `check-write` answers), as in wasmtime-wasi.
const WRITE_CAPACITY: usize = 64 * 1024;

/// Replace `[method]descriptor.write-via-stream` in `linker` (which must already hold the
/// WASI interfaces) with one returning an [`InlineFileOutput`].
pub fn replace_write_via_stream(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = linker.instance(FILESYSTEM_TYPES)?.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
            let table = &mut store.data_mut().table;
            let file = match table.get(&fd)? {
                Descriptor::File(file) if !file.perms.write_not_permitted() => {
                    Ok(Arc::clone(&file.file))
                }
                Descriptor::File(_) => Err(ErrorCode::NotPermitted),
                Descriptor::Dir(_) => Err(ErrorCode::BadDescriptor),
            };
            let stream = match file {
                Ok(file) => {
                    let stream: DynOutputStream = Box::new(InlineFileOutput::at(file, offset));
                    Ok(table.push(stream)?)
                }
                Err(code) => Err(code),
            };
            Ok((stream,))
        },
    );
    linker.allow_shadowing(false);
    result
}

/// An output stream over an open file that writes at a position, on the calling thread.
pub struct InlineFileOutput {
    file: Arc<std::fs::File>,
    position: u64,
    closed: bool,
}

impl InlineFileOutput {
    /// A stream writing `file` from `position` on.
    pub fn at(file: Arc<std::fs::File>, position: u64) -> Self {
        Self {
            file,
            position,
            closed: false,
        }
    }
}

#[cfg(unix)]
fn write_all_at(file: &std::fs::File, bytes: &[u8], position: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, position)
}

#[cfg(windows)]
fn write_all_at(file: &std::fs::File, mut bytes: &[u8], mut position: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = std::os::windows::fs::FileExt::seek_write(file, bytes, position)?;
        if written == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        bytes = &bytes[written..];
        position += written as u64;
    }
    Ok(())
}

impl OutputStream for InlineFileOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        if bytes.len() > WRITE_CAPACITY {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "write of {} bytes exceeds what check-write permitted ({WRITE_CAPACITY})",
                bytes.len()
            )));
        }
        match write_all_at(&self.file, &bytes, self.position) {
            Ok(()) => {
                self.position += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.closed = true;
                Err(StreamError::LastOperationFailed(e.into()))
            }
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        Ok(WRITE_CAPACITY)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for InlineFileOutput {
    async fn ready(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_at_the_position_and_advance_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let mut stream = InlineFileOutput::at(Arc::new(file), 2);
        assert_eq!(stream.check_write().unwrap(), WRITE_CAPACITY);
        stream.write(Bytes::from_static(b"ab")).unwrap();
        stream.write(Bytes::from_static(b"cd")).unwrap();
        stream.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"01abcd6789");
    }

    #[test]
    fn a_write_larger_than_permitted_traps() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("f")).unwrap();
        let mut stream = InlineFileOutput::at(Arc::new(file), 0);
        let big = Bytes::from(vec![0u8; WRITE_CAPACITY + 1]);
        assert!(matches!(stream.write(big), Err(StreamError::Trap(_))));
    }

    #[test]
    fn a_failed_write_closes_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        // Opened read-only: the write fails in the OS.
        let file = std::fs::File::open(&path).unwrap();
        let mut stream = InlineFileOutput::at(Arc::new(file), 0);
        assert!(matches!(
            stream.write(Bytes::from_static(b"y")),
            Err(StreamError::LastOperationFailed(_))
        ));
        assert!(matches!(stream.check_write(), Err(StreamError::Closed)));
    }
}
