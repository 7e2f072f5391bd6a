//! The module proxy: which one the `GOPROXY` setting names, and where a `go.sum` line's file
//! is on it (`<proxy>/<escaped module>/@v/<escaped version>.zip|.mod`).

use crate::escape::{self, EscapeError};
use crate::gosum::{Kind, SumLine};

/// The proxy Go uses when `GOPROXY` is unset.
pub const DEFAULT_PROXY: &str = "https://proxy.golang.org";

/// `GOPROXY` names no proxy the buildpack can download from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "GOPROXY={0:?} names no http(s) module proxy; set GOPROXY to one (e.g. https://proxy.golang.org or a mirror), or vendor the modules with `go mod vendor`"
)]
pub struct ProxyError(pub String);

/// The first `http://` or `https://` entry of a `GOPROXY` list (`,` or `|` separated;
/// `off`, `direct` and other entries are skipped), without a trailing `/`. Unset or empty
/// means [`DEFAULT_PROXY`].
pub fn configured(setting: Option<&str>) -> Result<String, ProxyError> {
    let Some(setting) = setting.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_PROXY.to_owned());
    };
    setting
        .split([',', '|'])
        .map(str::trim)
        .find(|e| e.starts_with("https://") || e.starts_with("http://"))
        .map(|e| e.trim_end_matches('/').to_owned())
        .ok_or_else(|| ProxyError(setting.to_owned()))
}

/// Where the file a line pins sits on a proxy, relative to its root.
pub fn relative_path(line: &SumLine) -> Result<String, EscapeError> {
    let ext = match line.kind {
        Kind::GoMod => "mod",
        Kind::Zip => "zip",
    };
    Ok(format!(
        "{}/@v/{}.{ext}",
        escape::module_path(&line.module)?,
        escape::version(&line.version)?
    ))
}

/// The URL of the file a line pins on `proxy`.
pub fn url(proxy: &str, line: &SumLine) -> Result<String, EscapeError> {
    Ok(format!("{proxy}/{}", relative_path(line)?))
}

/// Whether `version` is a pseudo-version (`v0.0.0-20240102150405-abcdefabcdef`, also with a
/// `-pre.0.` or `.0.` base), which a proxy's `list` leaves out.
pub fn is_pseudo_version(version: &str) -> bool {
    let base = version.split('+').next().unwrap_or(version);
    let Some((rest, rev)) = base.rsplit_once('-') else {
        return false;
    };
    let rev_ok = rev.len() == 12 && rev.bytes().all(|b| b.is_ascii_hexdigit());
    let time = rest.rsplit(['-', '.']).next().unwrap_or("");
    rev_ok && time.len() == 14 && time.bytes().all(|b| b.is_ascii_digit())
}
