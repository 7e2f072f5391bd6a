//! The `extract` import: unpack verified downloads into the calling buildpack's own layers,
//! natively, with `kiln-extract`'s checks.
//!
//! The guest names an archive under `/downloads` and a destination under its writable
//! `/layers/<id>` grant. The host refuses anything else, refuses a destination path that passes
//! through a symlink (a guest could plant one pointing outside its layers), unpacks into a
//! fresh directory, and renames that into place. The guest cannot run while the host works
//! (the call blocks it), so nothing can change in between.

use std::path::{Component, Path, PathBuf};

use super::HostState;
use super::bindings::kiln::buildpack::extract as wit;
use kiln_extract::{ExtractOptions, ExtractReport};

/// What `extract` may read and write during one `build` call.
#[derive(Debug, Clone)]
pub struct ExtractGrant {
    /// (guest path, host dir) of the read-only download cache.
    pub downloads: (String, PathBuf),
    /// (guest path, host dir) of the buildpack's own writable layers directory.
    pub layers: (String, PathBuf),
}

impl ExtractGrant {
    /// Unpack one request; the error is one line naming the archive.
    pub fn extract(
        &self,
        archive: &str,
        format: wit::ArchiveFormat,
        destination: &str,
        strip_components: u32,
    ) -> Result<ExtractReport, String> {
        let fail = |why: String| format!("extract {archive}: {why}");
        let (dl_guest, dl_host) = &self.downloads;
        let archive_host = map_guest(archive, dl_guest, dl_host).ok_or_else(|| {
            fail(format!(
                "the archive must be a download under {dl_guest} (use the path fetch returned)"
            ))
        })?;
        if !std::fs::symlink_metadata(&archive_host).is_ok_and(|m| m.is_file()) {
            return Err(fail("no such downloaded file".into()));
        }
        let (layers_guest, layers_host) = &self.layers;
        let dest = map_guest(destination, layers_guest, layers_host)
            .filter(|d| d != layers_host)
            .ok_or_else(|| {
                fail(format!(
                    "the destination {destination} must be inside {layers_guest}/, this buildpack's layers"
                ))
            })?;
        check_no_symlinks(layers_host, &dest).map_err(fail)?;
        if std::fs::read_dir(&dest).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(fail(format!("the destination {destination} is not empty")));
        }
        let staging = tempfile::Builder::new()
            .prefix(".kiln-extract-")
            .tempdir_in(layers_host)
            .map_err(|e| fail(format!("cannot create a staging directory: {e}")))?;
        let unpacked = staging.path().join("out");
        let options = ExtractOptions {
            strip_components: strip_components as usize,
        };
        let report = match format {
            wit::ArchiveFormat::Tar => std::fs::File::open(&archive_host)
                .map_err(|e| kiln_extract::Error::io("open", &archive_host, &e))
                .and_then(|f| {
                    kiln_extract::extract_tar(std::io::BufReader::new(f), &unpacked, options)
                }),
            wit::ArchiveFormat::TarGz => {
                kiln_extract::extract_tar_gz(&archive_host, &unpacked, options)
            }
            wit::ArchiveFormat::Zip => kiln_extract::extract_zip(&archive_host, &unpacked, options),
        }
        .map_err(|e| fail(e.to_string().replace(&*dl_host.to_string_lossy(), dl_guest)))?;
        mark_executables(&unpacked, &report.executables).map_err(fail)?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
        }
        let _ = std::fs::remove_dir(&dest);
        std::fs::rename(&unpacked, &dest)
            .map_err(|e| fail(format!("cannot move the files into {destination}: {e}")))?;
        Ok(report)
    }
}

/// Give the files the archive marks executable mode 0755 on disk, so native steps can run
/// them (the image export marks them from the report anyway). `executables` are paths
/// relative to `root` that the extractor itself wrote; symlinks are not followed.
fn mark_executables(root: &Path, executables: &[String]) -> Result<(), String> {
    #[cfg(unix)]
    for rel in executables {
        use std::os::unix::fs::PermissionsExt;
        let path = root.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| format!("cannot mark {rel} executable: {e}"))?;
            }
            _ => {}
        }
    }
    #[cfg(not(unix))]
    let _ = (root, executables);
    Ok(())
}

/// The host path of `guest` when it lies in `guest_root` (mapped to `host_root`), using only
/// plain components.
fn map_guest(guest: &str, guest_root: &str, host_root: &Path) -> Option<PathBuf> {
    let rest = guest.strip_prefix(guest_root)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let mut host = host_root.to_path_buf();
    for component in Path::new(rest.trim_start_matches('/')).components() {
        match component {
            Component::Normal(c) => host.push(c),
            _ => return None,
        }
    }
    Some(host)
}

/// No existing component of `path` below `root` (nor `path` itself) may be a symlink or a
/// non-directory ancestor.
fn check_no_symlinks(root: &Path, path: &Path) -> Result<(), String> {
    let rel = path
        .strip_prefix(root)
        .map_err(|_| "the destination leaves the layers directory".to_owned())?;
    let mut at = root.to_path_buf();
    for component in rel.components() {
        at.push(component);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symlink; the destination must not pass through one",
                    at.display()
                ));
            }
            Ok(m) if !m.is_dir() => {
                return Err(format!("{} exists and is not a directory", at.display()));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

impl wit::Host for HostState {
    fn extract(
        &mut self,
        requests: Vec<wit::ExtractRequest>,
    ) -> Vec<Result<wit::Extracted, String>> {
        requests
            .into_iter()
            .map(|r| {
                let Some(grant) = &self.extract else {
                    return Err(format!(
                        "extract {}: archives can only be unpacked during build, from downloads",
                        r.archive
                    ));
                };
                grant
                    .extract(&r.archive, r.format, &r.destination, r.strip_components)
                    .map(|report| wit::Extracted {
                        files: report.files as u64,
                        symlinks: report.symlinks as u64,
                        bytes: report.bytes,
                        executables: report.executables,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn grant(dir: &Path) -> ExtractGrant {
        std::fs::create_dir_all(dir.join("dl")).unwrap();
        std::fs::create_dir_all(dir.join("layers")).unwrap();
        ExtractGrant {
            downloads: ("/downloads".into(), dir.join("dl")),
            layers: ("/layers/me".into(), dir.join("layers")),
        }
    }

    #[test]
    fn unpacks_a_download_into_the_own_layers() {
        let dir = tempfile::tempdir().unwrap();
        let g = grant(dir.path());
        std::fs::write(
            dir.path().join("dl/pkg.tgz"),
            tgz(&[("package/index.js", b"x"), ("package/bin/cli", b"#!")]),
        )
        .unwrap();
        let report = g
            .extract(
                "/downloads/pkg.tgz",
                wit::ArchiveFormat::TarGz,
                "/layers/me/modules/node_modules/pkg",
                1,
            )
            .unwrap();
        assert_eq!(report.files, 2);
        assert_eq!(
            report.executables,
            vec!["bin/cli".to_owned(), "index.js".to_owned()]
        );
        let out = dir.path().join("layers/modules/node_modules/pkg/index.js");
        assert_eq!(std::fs::read(out).unwrap(), b"x");
        // nothing left behind
        let names: Vec<_> = std::fs::read_dir(dir.path().join("layers"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("modules")]);
    }

    #[test]
    fn refuses_paths_outside_the_grants_and_planted_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let g = grant(dir.path());
        std::fs::write(dir.path().join("dl/a.tgz"), tgz(&[("a", b"1")])).unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        let try_extract = |archive: &str, dest: &str| {
            g.extract(archive, wit::ArchiveFormat::TarGz, dest, 0)
                .unwrap_err()
        };
        assert!(try_extract("/workspace/a.tgz", "/layers/me/x").contains("must be a download"));
        assert!(try_extract("/downloads/../secret", "/layers/me/x").contains("must be a download"));
        assert!(try_extract("/downloads/a.tgz", "/layers/other/x").contains("must be inside"));
        assert!(try_extract("/downloads/a.tgz", "/layers/me/../x").contains("must be inside"));
        assert!(try_extract("/downloads/a.tgz", "/layers/me").contains("must be inside"));
        std::os::unix::fs::symlink(dir.path(), dir.path().join("layers/link")).unwrap();
        assert!(try_extract("/downloads/a.tgz", "/layers/me/link/x").contains("symlink"));
        assert!(try_extract("/downloads/a.tgz", "/layers/me/link").contains("symlink"));
        std::fs::create_dir_all(dir.path().join("layers/full")).unwrap();
        std::fs::write(dir.path().join("layers/full/f"), b"").unwrap();
        assert!(try_extract("/downloads/a.tgz", "/layers/me/full").contains("not empty"));
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn hostile_archives_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let g = grant(dir.path());
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..`; write the raw name the way a hostile archive would.
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        builder.append(&header, &b"x"[..]).unwrap();
        std::fs::write(
            dir.path().join("dl/evil.tar"),
            builder.into_inner().unwrap(),
        )
        .unwrap();
        let err = g
            .extract(
                "/downloads/evil.tar",
                wit::ArchiveFormat::Tar,
                "/layers/me/x",
                0,
            )
            .unwrap_err();
        assert!(err.contains("evil.tar"), "{err}");
        assert!(!dir.path().join("layers/escape").exists());
        assert!(!dir.path().join("layers/x").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("layers"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
