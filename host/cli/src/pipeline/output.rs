//! Where the output image goes: checked before any work is done, locked while the build
//! writes it, and published once exported (a layout tag, a `docker load` archive, or a push).

use std::path::{Path, PathBuf};

use kiln_fs::DirLock;
use kiln_fs::interrupt::Registration;
use kiln_oci::docker_archive;
use kiln_oci::layout::{BLOB_TEMP_PREFIX, INDEX_TEMP_PREFIX};
use kiln_oci::{Digest, OciLayout};
use kiln_registry::{self as registry, Registries, RegistryRef};
use sha2::Digest as _;

use super::{Phase, Reporter};
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::services::Services;

/// Where the output image goes, checked before any work is done.
pub struct OutputTarget {
    reference: ImageRef,
    dir: PathBuf,
    tag: String,
    /// For `docker-archive:` outputs: the archive file and its `RepoTags`. The image is
    /// first exported into `dir`, a staging layout kept per archive (so rebuilds reuse it).
    archive: Option<(PathBuf, Vec<String>)>,
    /// For registry outputs: where to push. The image is first exported into the local
    /// registry store (`dir`), tagged with the full reference.
    push: Option<RegistryRef>,
    /// More tags: full references (registry outputs) or tag names (`oci:` outputs).
    extra_tags: Vec<String>,
}

impl OutputTarget {
    /// The path one build at a time may write: the layout, or the archive file (registry
    /// outputs go through the shared store, which needs no lock of its own).
    fn lock_path(&self) -> Option<&Path> {
        if self.push.is_some() {
            return None;
        }
        Some(
            self.archive
                .as_ref()
                .map_or(self.dir.as_path(), |(file, _)| file.as_path()),
        )
    }

    /// Parse `reference` and check it with [`OutputTarget::new`].
    pub fn parse(reference: &str, services: &Services) -> Result<Self> {
        let parsed = ImageRef::parse(reference).map_err(|source| Error::Reference {
            what: "output image",
            source,
        })?;
        Self::new(&parsed, services)
    }

    /// Check an output: `oci:DIR[:TAG]` (DIR must be absent, empty or an OCI layout),
    /// `docker-archive:FILE[:NAME:TAG]` (FILE must not be a directory), or a registry
    /// reference with a tag.
    pub fn new(reference: &ImageRef, services: &Services) -> Result<Self> {
        let plain = |dir: PathBuf, tag: String| Self {
            reference: reference.clone(),
            dir,
            tag,
            archive: None,
            push: None,
            extra_tags: Vec::new(),
        };
        match reference {
            ImageRef::Registry(dest) => {
                if dest.digest().is_some() {
                    return Err(Error::InvalidInput(format!(
                        "output image {} names a digest; push to a tag (REPOSITORY:TAG)",
                        dest.whole()
                    )));
                }
                // Create the store now, atomically (concurrent builds may race to make it).
                let store = services.registries.store()?;
                Ok(Self {
                    push: Some(dest.clone()),
                    ..plain(store.root().to_owned(), registry::store::tag_for(dest))
                })
            }
            ImageRef::DockerArchive(archive) => {
                if archive.file.is_dir() {
                    return Err(Error::InvalidInput(format!(
                        "output {} is a directory; a docker-archive output is a file",
                        archive.file.display()
                    )));
                }
                let absolute =
                    std::path::absolute(&archive.file).unwrap_or_else(|_| archive.file.clone());
                let key = hex::encode(sha2::Sha256::digest(absolute.to_string_lossy().as_bytes()));
                let dir = services.caches.archive_layouts().join(&key[..16]);
                Ok(Self {
                    archive: Some((archive.file.clone(), archive.repo_tags())),
                    ..plain(dir, kiln_oci::DEFAULT_TAG.to_owned())
                })
            }
            ImageRef::Layout { dir, tag } => {
                if dir.exists() {
                    let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
                    if !dir.is_dir() || (!empty && !dir.join("oci-layout").is_file()) {
                        return Err(Error::InvalidInput(format!(
                            "output {} exists and is not an OCI image layout; choose a new or empty directory",
                            dir.display()
                        )));
                    }
                }
                Ok(plain(dir.clone(), tag.clone()))
            }
            ImageRef::Scratch => Err(Error::InvalidInput(
                "the output image cannot be `scratch`; use oci:DIR[:TAG]".into(),
            )),
        }
    }

    /// The default previous image: the output itself (a registry output is read back from
    /// its registry, an archive output from its staging layout).
    pub(super) fn default_previous(&self) -> ImageRef {
        if self.push.is_some() {
            self.reference.clone()
        } else {
            self.written()
        }
    }

    /// The key of the default layer cache: the output's registry reference, or its layout.
    pub(super) fn cache_key(&self) -> String {
        self.default_previous().to_string()
    }

    /// The image the build writes, where it is read back from as the default previous
    /// image: the layout (the staging layout of an archive output, the store's copy of a
    /// registry output).
    fn written(&self) -> ImageRef {
        ImageRef::Layout {
            dir: self.dir.clone(),
            tag: self.tag.clone(),
        }
    }

    /// Add tags (`--tag`): for a registry output, references in the same registry (a bare
    /// tag means the output's repository); for an `oci:` output, tag names.
    pub fn with_tags(mut self, tags: &[String]) -> Result<Self> {
        for t in tags {
            match &self.push {
                Some(dest) => {
                    let full = if t.contains('/') {
                        RegistryRef::parse(t)?
                    } else {
                        dest.with_tag(t)?
                    };
                    if full.registry() != dest.registry() {
                        return Err(Error::InvalidInput(format!(
                            "--tag {t}: registry {} differs from the output's {}; tags must be in the same registry",
                            full.registry(),
                            dest.registry()
                        )));
                    }
                    self.extra_tags.push(full.whole());
                }
                None if self.archive.is_some() => {
                    return Err(Error::InvalidInput(format!(
                        "--tag {t}: a docker-archive output is tagged with FILE:NAME:TAG; --tag applies to registry and oci: outputs"
                    )));
                }
                None => {
                    kiln_oci::validate_tag(t)
                        .map_err(|e| Error::InvalidInput(format!("--tag {t}: {e}")))?;
                    self.extra_tags.push(t.clone());
                }
            }
        }
        Ok(self)
    }

    /// Whether the output is a `docker-archive:` file.
    pub fn is_docker_archive(&self) -> bool {
        self.archive.is_some()
    }

    /// Whether the output is an `oci:` layout (not a registry or docker-archive output).
    pub fn is_layout(&self) -> bool {
        self.push.is_none() && self.archive.is_none()
    }

    /// The output reference.
    pub fn reference(&self) -> &ImageRef {
        &self.reference
    }

    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The layout dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl OutputTarget {
    /// Lock what this build writes (see [`OutputTarget::lock_path`]) with a lock file in
    /// `locks`; wait for another build (saying so) or fail at once. A `docker-archive:`
    /// output also locks its staging layout, so `kiln gc --cache` leaves it alone.
    pub(super) fn lock(
        &self,
        locks: &Path,
        wait: bool,
        reporter: &dyn Reporter,
    ) -> Result<Vec<DirLock>> {
        let wait_note = |m: &str| reporter.info(m);
        let mut held = Vec::new();
        if let Some(p) = self.lock_path() {
            held.push(DirLock::acquire(locks, p, "output", wait, &wait_note)?);
        }
        if self.archive.is_some() {
            held.push(DirLock::acquire(
                locks, &self.dir, "output", wait, &wait_note,
            )?);
        }
        Ok(held)
    }

    /// Sweep the temp files (blobs, `index.json`, the archive) that killed builds left in
    /// what this build writes, and remove ours if this build is interrupted (until the
    /// registrations are dropped). Registry outputs go through the shared store and have
    /// nothing of their own to sweep.
    pub(super) fn guard_temp_files(&self, started: std::time::SystemTime) -> Vec<Registration> {
        if self.lock_path().is_none() {
            return Vec::new();
        }
        let mut temp_files = vec![
            (
                self.dir.join("blobs").join("sha256"),
                BLOB_TEMP_PREFIX.to_owned(),
            ),
            (self.dir.clone(), INDEX_TEMP_PREFIX.to_owned()),
        ];
        if let Some((file, _)) = &self.archive
            && let (Some(dir), Some(name)) = (file.parent(), file.file_name())
        {
            temp_files.push((
                dir.to_path_buf(),
                docker_archive::temp_prefix(&name.to_string_lossy()),
            ));
        }
        temp_files
            .iter()
            .map(|(dir, prefix)| {
                kiln_fs::interrupt::sweep_temp_files(dir, prefix, started);
                kiln_fs::interrupt::remove_temp_files_on_interrupt(dir, prefix)
            })
            .collect()
    }

    /// Publish the image exported into `layout`: write the archive (returning its image ID),
    /// push to the registry (mounting the run image's layers from `run_image_registry`), or
    /// add the extra tags to the layout.
    pub(super) fn publish(
        &self,
        layout: &OciLayout,
        registries: &Registries,
        run_image_registry: Option<&RegistryRef>,
        reporter: &dyn Reporter,
    ) -> Result<Option<Digest>> {
        let export_err = |e: kiln_oci::ImageError| Error::Export(e.into());
        if let Some((file, tags)) = &self.archive {
            let resolved = layout.resolve(Some(&self.tag)).map_err(export_err)?;
            let written = docker_archive::write_docker_archive_from_resolved(
                file,
                tags,
                &resolved,
                layout.blobs(),
            )
            .map_err(export_err)?;
            reporter.info(&format!(
                "Saved docker-archive:{} (image ID {})",
                file.display(),
                written.image_id
            ));
            return Ok(Some(written.image_id));
        }
        if let Some(dest) = &self.push {
            self.push(registries, dest, layout, run_image_registry, reporter)?;
            return Ok(None);
        }
        for extra in &self.extra_tags {
            let mut desc = layout
                .resolve(Some(&self.tag))
                .map_err(export_err)?
                .manifest_descriptor;
            desc.set_ref_name(extra);
            layout.tag_descriptor(desc).map_err(export_err)?;
        }
        reporter.info(&format!(
            "Saved oci:{}:{}",
            self.dir.display(),
            std::iter::once(self.tag.as_str())
                .chain(self.extra_tags.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(",")
        ));
        Ok(None)
    }

    /// Push the exported image to its registry and to every extra tag.
    fn push(
        &self,
        registries: &Registries,
        dest: &RegistryRef,
        layout: &OciLayout,
        run_image_registry: Option<&RegistryRef>,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        reporter.phase(Phase::Pushing);
        let extra = self
            .extra_tags
            .iter()
            .map(|t| RegistryRef::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        let mount_from: Vec<RegistryRef> = run_image_registry.into_iter().cloned().collect();
        let report = registries.push(layout, &self.tag, dest, &extra, &mount_from)?;
        reporter.info(&report.summary());
        Ok(())
    }
}
