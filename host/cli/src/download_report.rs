//! What the build prints and labels after buildpacks used `fetch`.

use std::collections::BTreeMap;
use std::sync::Arc;

use kiln_fetch::{Downloader, REPRODUCIBLE_LABEL};

use kiln_lifecycle::progress::Reporter;

/// Print `Downloads: fetched N (B bytes), cached M` when anything was requested, warn about
/// unpinned downloads and label the image `io.kiln.reproducible=false` if there were any.
pub fn after_build(
    fetcher: Option<&Arc<dyn Downloader>>,
    labels: &mut BTreeMap<String, String>,
    reporter: &dyn Reporter,
) {
    let Some(stats) = fetcher.map(|f| f.stats()) else {
        return;
    };
    if stats.fetched + stats.cached > 0 {
        reporter.info(&format!(
            "Downloads: fetched {} ({} bytes), cached {}",
            stats.fetched, stats.bytes, stats.cached
        ));
    }
    if !stats.unpinned.is_empty() {
        reporter.warn(&format!(
            "{} unpinned download(s) ({}); the image is labelled {REPRODUCIBLE_LABEL}=false",
            stats.unpinned.len(),
            stats.unpinned.join(", ")
        ));
        labels.insert(REPRODUCIBLE_LABEL.to_owned(), "false".to_owned());
    }
}
