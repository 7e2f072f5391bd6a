//! `docker-archive` tarballs: the format of `docker save`/`docker load`,
//! `podman save`/`podman load` and `skopeo copy … docker-archive:FILE`.
//!
//! # What Kiln writes
//!
//! [`write_docker_archive`] writes one image as an uncompressed tar with these
//! entries, in this order:
//!
//! 1. `manifest.json`: `[{"Config":"<config hex>.json","RepoTags":[…],"Layers":["<diff_id hex>.tar",…]}]`
//!    (compact JSON, keys in that order);
//! 2. `repositories` (only when there are RepoTags and layers): the legacy
//!    `{"NAME":{"TAG":"<top layer diff_id hex>"}}` map, keys sorted;
//! 3. `<config sha256 hex>.json`: the exact config bytes;
//! 4. `<diff_id hex>.tar` per layer, bottom first: the *uncompressed* layer
//!    tar (gzip blobs are decompressed while streaming, uncompressed blobs are
//!    copied as is). A diff_id that occurs twice is stored once and listed
//!    twice in `Layers`.
//!
//! Every entry is a ustar regular file with mode 0644, uid/gid 0, no
//! uname/gname and mtime [`NORMALIZED_MTIME`]; the
//! archive ends with two zero blocks. So the same image and tags always give
//! the same bytes. No legacy `<id>/layer.tar` directories are written:
//! `docker load` (since 1.10), `podman load` and skopeo all use `manifest.json`.
//!
//! The file is written to a temporary file in the target's directory, fsynced
//! and renamed over the target: a crash or an error never leaves a partial
//! archive, and an existing file survives any failure.
//!
//! # What Kiln reads
//!
//! [`read_docker_archive`] reads archives from `docker save` (the classic
//! layout and the Docker 25+ layout whose entries are `blobs/sha256/<hex>`),
//! `podman save` and `skopeo copy`: layers may be plain or gzip tars (detected
//! by their magic bytes), entries may be symlinks or hard links to other
//! entries. Layer content is checked against the config's `rootfs.diff_ids`
//! as it is streamed. [`ArchiveImage::import_into`] copies the layers into an
//! OCI blob store as **uncompressed** layers (`application/vnd.oci.image.layer.v1.tar`,
//! digest = diff_id): no recompression, so importing is fast, needs no
//! compression settings to be reproducible, and gives the same digests
//! whatever compression the archive used.
//!
//! # References
//!
//! [`DockerArchiveRef`] parses `docker-archive:FILE[:NAME:TAG]`; see
//! [`DockerArchiveRef::parse`] for how FILE and NAME:TAG are told apart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::distribution::Reference;

use flate2::bufread::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use super::spec::{MEDIA_TYPE_OCI_LAYER_TAR, to_json_bytes};
use super::{
    BlobStore, DEFAULT_TAG, Descriptor, Digest, ImageConfig, ImageError, NORMALIZED_MTIME,
    ResolvedImage, Result,
};

/// The transport prefix of a docker-archive reference.
pub const TRANSPORT: &str = "docker-archive:";
/// The entry that lists the images of an archive.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The legacy tag map entry.
pub const REPOSITORIES_FILE: &str = "repositories";

/// Mode of every entry Kiln writes, and of the archive file itself.
const FILE_MODE: u32 = 0o644;
/// tar block size.
const BLOCK: u64 = 512;
/// [`BLOCK`] as a length.
const BLOCK_LEN: usize = 512;
/// Largest `manifest.json` or config entry Kiln reads into memory.
const MAX_JSON_ENTRY: u64 = 64 << 20;
/// How many symlinks/hard links are followed to find an entry.
const MAX_LINK_HOPS: usize = 16;
/// Copy buffer size.
const COPY_BUF: usize = 256 * 1024;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

// ---------------------------------------------------------------------------
// manifest.json
// ---------------------------------------------------------------------------

/// One image of `manifest.json`, as Kiln writes it (field order matters).
#[derive(Serialize)]
struct ManifestOut<'a> {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: &'a [String],
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// One image of `manifest.json`, as read (unknown fields ignored).
#[derive(Deserialize)]
struct ManifestIn {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Option<Vec<String>>,
}

/// Returns up to the first 4 bytes of `r` without consuming them.
fn peek<R: Read>(r: &mut BufReader<R>) -> io::Result<Vec<u8>> {
    use std::io::BufRead;
    let buf = r.fill_buf()?;
    Ok(buf[..buf.len().min(4)].to_vec())
}

fn archive_err(archive: &Path, entry: Option<&str>, reason: String) -> ImageError {
    ImageError::DockerArchive {
        archive: archive.to_path_buf(),
        entry: entry.map(str::to_owned),
        reason,
    }
}

mod read;
mod reference;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::many_single_char_names)]
mod tests;
mod write;

pub use read::*;
pub use reference::*;
pub use write::*;
