//! The npm registry to download from: `npm_config_registry` (platform env), else `registry=`
//! in the app's `.npmrc`, else the public registry; and tarball URLs rewritten onto it.

use crate::lockfile::LockedPackage;

/// The public npm registry.
pub const PUBLIC: &str = "https://registry.npmjs.org/";

/// The configured registry base URL, always ending in `/`.
pub fn configured(env_value: Option<&str>, npmrc: Option<&str>) -> String {
    let from_npmrc = npmrc.and_then(|text| {
        text.lines().find_map(|line| {
            let line = line.trim();
            let (k, v) = line.split_once('=')?;
            (k.trim() == "registry").then(|| v.trim().trim_matches('"').to_owned())
        })
    });
    let base = env_value
        .map(str::to_owned)
        .filter(|v| !v.trim().is_empty())
        .or(from_npmrc)
        .unwrap_or_else(|| PUBLIC.to_owned());
    format!("{}/", base.trim().trim_end_matches('/'))
}

/// Where to download `pkg` from: its `resolved` URL with the public registry prefix replaced
/// by `registry`, or the registry's conventional tarball path when nothing is resolved.
pub fn tarball_url(pkg: &LockedPackage, registry: &str) -> String {
    match &pkg.resolved {
        Some(url) if url.starts_with(PUBLIC) => format!("{registry}{}", &url[PUBLIC.len()..]),
        Some(url) if url.starts_with("http://registry.npmjs.org/") => {
            format!("{registry}{}", &url["http://registry.npmjs.org/".len()..])
        }
        Some(url) => url.clone(),
        None => {
            let short = pkg.name.rsplit('/').next().unwrap_or(&pkg.name);
            format!("{registry}{}/-/{short}-{}.tgz", pkg.name, pkg.version)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, resolved: Option<&str>) -> LockedPackage {
        LockedPackage {
            path: format!("node_modules/{name}"),
            name: name.into(),
            version: "1.2.3".into(),
            resolved: resolved.map(str::to_owned),
            ..LockedPackage::default()
        }
    }

    #[test]
    fn registry_precedence() {
        assert_eq!(configured(None, None), PUBLIC);
        assert_eq!(
            configured(None, Some("# c\nregistry = http://m:1/npm\n")),
            "http://m:1/npm/"
        );
        assert_eq!(
            configured(Some("http://e/"), Some("registry=http://m/")),
            "http://e/"
        );
    }

    #[test]
    fn urls_are_rewritten() {
        let r = "http://127.0.0.1:9/";
        assert_eq!(
            tarball_url(
                &pkg("a", Some("https://registry.npmjs.org/a/-/a-1.2.3.tgz")),
                r
            ),
            "http://127.0.0.1:9/a/-/a-1.2.3.tgz"
        );
        assert_eq!(
            tarball_url(&pkg("@s/b", None), r),
            "http://127.0.0.1:9/@s/b/-/b-1.2.3.tgz"
        );
        assert_eq!(
            tarball_url(&pkg("c", Some("https://other.example/c.tgz")), r),
            "https://other.example/c.tgz"
        );
    }
}
