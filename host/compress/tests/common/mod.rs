//! Test and bench helpers: deterministic input data and process plumbing.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// A small deterministic PRNG (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

const WORDS: &[&str] = &[
    "layer",
    "image",
    "build",
    "kiln",
    "tar",
    "gzip",
    "the",
    "of",
    "and",
    "to",
    "config",
    "manifest",
    "digest",
    "sha256",
    "node_modules",
    "package.json",
    "index",
    "lib",
    "usr",
    "bin",
    "function",
    "return",
    "const",
    "let",
    "import",
    "export",
    "default",
    "value",
    "{",
    "}",
    "(",
    ")",
    ";",
    "=",
    "==",
    "if",
    "else",
    "for",
    "while",
    "0",
    "1",
    "42",
    "4096",
];

/// `len` bytes: segments of word-like text (about `text_percent` % of them) and random bytes.
pub fn mixed(len: usize, text_percent: u64, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        let segment = 1024 + usize::try_from(rng.below(60 * 1024)).unwrap_or(0);
        let end = (out.len() + segment).min(len);
        if rng.below(100) < text_percent {
            while out.len() < end {
                let word = WORDS[usize::try_from(rng.below(WORDS.len() as u64)).unwrap_or(0)];
                out.extend_from_slice(word.as_bytes());
                out.push(if rng.below(12) == 0 { b'\n' } else { b' ' });
            }
            out.truncate(end);
        } else {
            while out.len() < end {
                out.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
            out.truncate(end);
        }
    }
    out
}

/// Runs `program args` with `input` on stdin; returns (success, stdout).
pub fn pipe(program: &str, args: &[&str], input: &[u8]) -> Option<(bool, Vec<u8>)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = Vec::new();
    child.stdout.take()?.read_to_end(&mut out).ok()?;
    let status = child.wait().ok()?;
    feeder.join().ok()?;
    Some((status.success(), out))
}

/// Runs `f` on a thread and fails the test if it takes longer than `secs` (a hang).
pub fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .expect("finished in time without panicking")
}

/// A writer that fails once more than `limit` bytes were written to it.
pub struct FailAfter {
    pub limit: usize,
    pub written: usize,
}

impl Write for FailAfter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() > self.limit {
            return Err(std::io::Error::other("disk full (test)"));
        }
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
