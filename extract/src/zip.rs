//! A small zip reader (stored and deflate entries, no zip64, no encryption) feeding the same
//! checked [`Tree`] as tar extraction. CRC-32 and sizes are verified.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{ExtractOptions, ExtractReport, Tree};
use crate::Error;

const EOCD_SIG: u32 = 0x0605_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
/// The first bytes of a zip that starts with an entry (a local file header).
pub(crate) const LOCAL_MAGIC: [u8; 4] = LOCAL_SIG.to_le_bytes();
/// The EOCD record is 22 bytes plus a comment of at most 65535 bytes.
const EOCD_SEARCH: u64 = 22 + 65_535;
/// Unix `S_IFMT` / `S_IFLNK`.
pub(crate) const S_IFMT: u32 = 0o170_000;
pub(crate) const S_IFLNK: u32 = 0o120_000;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn corrupt(why: impl std::fmt::Display) -> Error {
    Error::msg(format!("not a valid zip archive: {why}"))
}

/// One central-directory record.
pub(crate) struct Entry {
    /// The name exactly as stored (checked to be UTF-8).
    pub(crate) name: String,
    method: u16,
    pub(crate) flags: u16,
    crc: u32,
    compressed: u64,
    /// Uncompressed size, as the directory says.
    pub(crate) size: u64,
    /// Unix mode, when the entry was made on Unix.
    pub(crate) unix_mode: Option<u32>,
    local_offset: u64,
}

/// Extract the zip file at `archive` into `dest` (created if missing), with the same path and
/// link rules as tar extraction.
pub fn extract_zip(
    archive: &Path,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    let mut file = std::fs::File::open(archive).map_err(|e| Error::io("open", archive, &e))?;
    extract_zip_from(&mut file, dest, options)
        .map_err(|e| Error::msg(format!("{}: {}", archive.display(), e.message())))
}

/// Extract a zip from any seekable reader.
pub fn extract_zip_from(
    reader: &mut (impl Read + Seek),
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    let entries = central_directory(reader)?;
    let mut tree = Tree::new(dest, options)?;
    for entry in entries {
        let Some(rel) = tree.place(Path::new(&entry.name))? else {
            continue;
        };
        if entry.flags & 1 != 0 {
            return Err(corrupt(format!("{} is encrypted", entry.name)));
        }
        let is_dir = entry.name.ends_with('/');
        if is_dir {
            tree.dir(&rel)?;
            continue;
        }
        let data = read_entry(reader, &entry)?;
        let mode = entry.unix_mode.unwrap_or(0o644);
        if mode & S_IFMT == S_IFLNK {
            let target = String::from_utf8(data)
                .map_err(|_| corrupt(format!("symlink {} is not UTF-8", entry.name)))?;
            tree.symlink(&rel, Path::new(&target))?;
        } else {
            tree.file(&rel, &mut data.as_slice(), mode & 0o111 != 0)?;
        }
    }
    Ok(tree.finish())
}

/// The entries of the zip in `r`, in directory order.
pub(crate) fn central_directory(r: &mut (impl Read + Seek)) -> Result<Vec<Entry>, Error> {
    let len = r.seek(SeekFrom::End(0)).map_err(corrupt)?;
    let tail_len = len.min(EOCD_SEARCH);
    r.seek(SeekFrom::Start(len - tail_len)).map_err(corrupt)?;
    let mut tail = Vec::new();
    r.take(tail_len).read_to_end(&mut tail).map_err(corrupt)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == EOCD_SIG)
        .ok_or_else(|| corrupt("no end-of-central-directory record"))?;
    let count = u16_at(&tail, eocd + 10);
    let cd_size = u32_at(&tail, eocd + 12);
    let cd_offset = u32_at(&tail, eocd + 16);
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        return Err(corrupt("zip64 archives are not supported"));
    }
    r.seek(SeekFrom::Start(u64::from(cd_offset)))
        .map_err(corrupt)?;
    let mut cd = Vec::new();
    r.take(u64::from(cd_size))
        .read_to_end(&mut cd)
        .map_err(corrupt)?;
    let mut entries = Vec::new();
    let mut at = 0;
    for _ in 0..count {
        if at + 46 > cd.len() || u32_at(&cd, at) != CENTRAL_SIG {
            return Err(corrupt("truncated central directory"));
        }
        let made_by = u16_at(&cd, at + 4);
        let name_len = usize::from(u16_at(&cd, at + 28));
        let extra_len = usize::from(u16_at(&cd, at + 30));
        let comment_len = usize::from(u16_at(&cd, at + 32));
        let external = u32_at(&cd, at + 38);
        let end = at + 46 + name_len;
        if end > cd.len() {
            return Err(corrupt("truncated entry name"));
        }
        let name = String::from_utf8(cd[at + 46..end].to_vec())
            .map_err(|_| corrupt("an entry name is not UTF-8"))?;
        entries.push(Entry {
            name,
            flags: u16_at(&cd, at + 8),
            method: u16_at(&cd, at + 10),
            crc: u32_at(&cd, at + 16),
            compressed: u64::from(u32_at(&cd, at + 20)),
            size: u64::from(u32_at(&cd, at + 24)),
            unix_mode: (made_by >> 8 == 3).then_some(external >> 16),
            local_offset: u64::from(u32_at(&cd, at + 42)),
        });
        at = end + extra_len + comment_len;
    }
    Ok(entries)
}

fn read_entry(r: &mut (impl Read + Seek), e: &Entry) -> Result<Vec<u8>, Error> {
    let mut data = Vec::new();
    copy_entry(r, e, &mut data)?;
    Ok(data)
}

/// Write the uncompressed bytes of `e` to `out`, checking its size and CRC-32 (at the end:
/// `out` has seen every byte by then, so only use them once this returns `Ok`).
pub(crate) fn copy_entry(
    r: &mut (impl Read + Seek),
    e: &Entry,
    out: &mut impl Write,
) -> Result<(), Error> {
    let name = &e.name;
    r.seek(SeekFrom::Start(e.local_offset)).map_err(corrupt)?;
    let mut header = [0u8; 30];
    r.read_exact(&mut header).map_err(corrupt)?;
    if u32_at(&header, 0) != LOCAL_SIG {
        return Err(corrupt(format!("bad local header for {name}")));
    }
    let skip = u64::from(u16_at(&header, 26)) + u64::from(u16_at(&header, 28));
    r.seek(SeekFrom::Current(i64::try_from(skip).unwrap_or(0)))
        .map_err(corrupt)?;
    let raw = r.take(e.compressed);
    // One byte more than the directory says, so a longer entry is caught.
    let limit = e.size.saturating_add(1);
    let (len, crc) = match e.method {
        0 => pump(raw.take(limit), limit, out),
        8 => pump(
            flate2::read::DeflateDecoder::new(raw).take(limit),
            limit,
            out,
        ),
        m => {
            return Err(corrupt(format!(
                "{name} uses compression method {m}; only stored and deflate are supported"
            )));
        }
    }
    .map_err(|err| corrupt(format!("{name}: {err}")))?;
    if len != e.size {
        return Err(corrupt(format!(
            "{name} is {len} bytes, the directory says {}",
            e.size
        )));
    }
    if crc != e.crc {
        return Err(corrupt(format!("{name} fails its CRC-32 check")));
    }
    Ok(())
}

/// Copy `from` (at most `limit` bytes) to `out`: the byte count and CRC-32 of what was copied.
fn pump(mut from: impl Read, limit: u64, out: &mut impl Write) -> std::io::Result<(u64, u32)> {
    const CHUNK: u64 = 64 * 1024;
    let mut buf = vec![0u8; usize::try_from(limit.clamp(1, CHUNK)).unwrap_or(1)];
    let mut crc = flate2::Crc::new();
    let mut len = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok((len, crc.sum())),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        crc.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        len += n as u64;
    }
}
