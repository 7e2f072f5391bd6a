//! Garbage collection of `oci:` layouts: after a build or rebase (under the output lock),
//! and `kiln gc oci:DIR`.

use std::path::Path;

use kiln_fs::DirLock;
use kiln_oci::{GcReport, OciLayout};

use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::pipeline::Reporter;

/// `Removed 3 unreferenced blobs (134.2 MB) from the layout`.
pub fn summary(report: &GcReport) -> String {
    format!(
        "Removed {} unreferenced blob{} ({}) from the layout",
        report.removed,
        if report.removed == 1 { "" } else { "s" },
        kiln_registry::human_bytes(report.freed_bytes)
    )
}

/// Sweep `layout` after a successful build or rebase (the caller holds its output lock):
/// report what was removed, if anything; a failure is only a warning.
pub fn sweep_after(layout: &OciLayout, reporter: &dyn Reporter) {
    match kiln_oci::collect_garbage(layout) {
        Ok(report) if report.removed > 0 => reporter.info(&summary(&report)),
        Ok(_) => {}
        Err(e) => reporter.warn(&format!(
            "could not remove unreferenced blobs from {} (the image is complete; run `kiln gc` to retry): {}",
            layout.root().display(),
            kiln_spec::error_chain(&e)
        )),
    }
}

/// Take the output lock of the layout `dir`, the one `kiln build` into it holds.
pub fn lock(locks: &Path, dir: &Path, wait: bool, reporter: &dyn Reporter) -> Result<DirLock> {
    let note = |m: &str| reporter.info(m);
    Ok(DirLock::acquire(locks, dir, "output", wait, &note)?)
}

/// `kiln gc oci:DIR`: lock the layout, sweep it and return the report.
pub fn run(
    reference: &ImageRef,
    locks: &Path,
    wait: bool,
    reporter: &dyn Reporter,
) -> Result<GcReport> {
    let ImageRef::Layout { dir, .. } = reference else {
        return Err(Error::InvalidInput(format!(
            "kiln gc works on oci:DIR layouts; {reference} is not one"
        )));
    };
    OciLayout::open(dir)?;
    let _lock = lock(locks, dir, wait, reporter)?;
    Ok(kiln_oci::collect_garbage(&OciLayout::open(dir)?)?)
}
