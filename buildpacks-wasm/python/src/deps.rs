//! The `venv` layer: the app's locked distributions installed from wheels into a virtual
//! environment, kept while the lock, the interpreter and the target are unchanged.

use std::collections::BTreeSet;

use kiln_sdk::extract::{ArchiveFormat, ExtractOptions, HostExtract, extract_downloads};
use kiln_sdk::fetch::{Download, FetchErrorKind, fetch_all};
use kiln_sdk::{
    BuildContext, CachedLayer, EnvChange, Layer, LayerTypes, RestoreDecision, layer_name,
};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::PythonError;
use crate::locks::{self, Options};
use crate::markers::{Marker, MarkerEnv};
use crate::resolve::{self, Chosen};
use crate::runtime::Runtime;
use crate::tags::{self, Libc, Target};
use crate::venv::Venv;

/// The default package index.
pub const PYPI: &str = "https://pypi.org/simple";

/// What the `venv` layer was built from; any change reinstalls it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct VenvMeta {
    lock: String,
    lock_sha256: String,
    python: String,
    python_sha256: String,
    platform: String,
    options: String,
    buildpack: String,
}

/// What the install did, for the build log and the process rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Normalised names of the installed distributions.
    pub dists: BTreeSet<String>,
    /// Whether the layer came back unchanged from the cache.
    pub kept: bool,
}

/// The layers the install made: the venv, and the cache of wheels built from sdists.
pub struct Installed {
    /// The `venv` layer.
    pub venv: Layer,
    /// The `wheels` cache layer, when source distributions were built.
    pub wheels: Option<Layer>,
    /// What was installed.
    pub summary: Summary,
}

/// Marker evaluation for the target, with the real PEP 508 parser.
struct TargetEnv(MarkerEnv);

impl locks::Environment for TargetEnv {
    fn matches(&self, marker: &str, extras: &BTreeSet<String>) -> Result<bool, String> {
        Marker::parse(marker)
            .map(|m| m.evaluate(&self.0, extras))
            .map_err(|e| e.to_string())
    }
}

fn list(ctx: &BuildContext, name: &str) -> BTreeSet<String> {
    ctx.detect
        .env(name)
        .map(|v| {
            v.split(',')
                .map(|s| crate::markers::normalize_name(s.trim()))
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The target's C library: from the run image's distribution, else `KILN_PYTHON_LIBC`
/// (`glibc-2.36`, `musl-1.2`), else glibc 2.17 (manylinux2014) with a warning.
fn libc(ctx: &BuildContext) -> Libc {
    if let Some(v) = ctx.detect.env("KILN_PYTHON_LIBC") {
        let parse = |s: &str| {
            let (a, b) = s.split_once('.')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        };
        if let Some((major, minor)) = v.strip_prefix("glibc-").and_then(parse) {
            return Libc::Glibc { major, minor };
        }
        if let Some((major, minor)) = v.strip_prefix("musl-").and_then(parse) {
            return Libc::Musl { major, minor };
        }
        kiln_sdk::log::warn(format!(
            "KILN_PYTHON_LIBC={v} is not glibc-X.Y or musl-X.Y; ignoring it"
        ));
    }
    let target = &ctx.detect.target;
    if let (Some(name), Some(version)) = (&target.distro_name, &target.distro_version)
        && let Some(l) = tags::glibc_for_distro(name, version)
    {
        return l;
    }
    kiln_sdk::log::warn(
        "the run image's C library is unknown (no known distribution in its labels); choosing wheels for glibc 2.17 (manylinux2014). Set KILN_PYTHON_LIBC=glibc-X.Y to change it",
    );
    Libc::Glibc {
        major: 2,
        minor: 17,
    }
}

fn platform_text(target: &Target) -> String {
    let libc = match target.libc {
        Libc::Glibc { major, minor } => format!("glibc-{major}.{minor}"),
        Libc::Musl { major, minor } => format!("musl-{major}.{minor}"),
    };
    format!("{}-{libc}", target.machine)
}

/// The index to use: `PIP_INDEX_URL`, `UV_INDEX_URL`, the lock's own, else PyPI; the second
/// value is set when the user named one (the lock's file URLs are then not used).
fn index_url(ctx: &BuildContext, from_lock: &[String]) -> (String, Option<String>) {
    for name in ["PIP_INDEX_URL", "UV_INDEX_URL"] {
        if let Some(v) = ctx
            .detect
            .env(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return (v.to_owned(), Some(v.to_owned()));
        }
    }
    let lock = from_lock
        .first()
        .cloned()
        .unwrap_or_else(|| PYPI.to_owned());
    (lock, None)
}

fn download_failure(c: &Chosen, kind: FetchErrorKind, message: &str, lock: &str) -> String {
    let what = format!("package {} {} ({})", c.name, c.version, c.filename);
    match kind {
        FetchErrorKind::IntegrityMismatch => format!(
            "{what}: {message}. The file does not match the sha256 in {lock}; regenerate the lock or fix the mirror"
        ),
        FetchErrorKind::NotFound => format!(
            "{what} is missing from the index: {message}; check PIP_INDEX_URL / UV_INDEX_URL"
        ),
        FetchErrorKind::Denied if c.sha256.is_none() => format!(
            "{what} is not pinned by a hash in {lock}: {message}. Lock it with `uv pip compile --generate-hashes -o requirements.txt requirements.in` (or `pip-compile --generate-hashes`), or pass --allow-unpinned"
        ),
        _ => format!("{what}: {message}"),
    }
}

/// Install (or keep) the venv for the app's lock; `None` when the app has no lock.
pub fn install(ctx: &BuildContext, runtime: &Runtime) -> Result<Option<Installed>, PythonError> {
    let Some(kind) = locks::preferred(|f| ctx.detect.app_has(f)) else {
        return Ok(None);
    };
    let file = kind.file_name();
    let text = crate::read_app_file(ctx, file)?.unwrap_or_default();
    let target = Target {
        python: runtime.python,
        machine: crate::inventory::python_arch(ctx.detect.target.arch.as_ref()).to_owned(),
        libc: libc(ctx),
    };
    let include_dev = crate::env_flag(ctx, "KILN_PYTHON_INCLUDE_DEV");
    let options = Options {
        include_dev,
        extras: list(ctx, "KILN_PYTHON_EXTRAS"),
        groups: list(ctx, "KILN_PYTHON_GROUPS"),
        // Unpinned requirements reach the host, which refuses them unless the user passed
        // --allow-unpinned; the error then says how to lock them.
        allow_unpinned: true,
    };
    let meta = VenvMeta {
        lock: file.to_owned(),
        lock_sha256: hex::encode(sha2::Sha256::digest(text.as_bytes())),
        python: runtime.version.clone(),
        python_sha256: runtime.sha256.clone(),
        platform: platform_text(&target),
        options: format!(
            "dev={include_dev} extras={:?} groups={:?} index={:?}",
            options.extras,
            options.groups,
            index_url(ctx, &[]).1
        ),
        buildpack: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let definition = CachedLayer::new(
        layer_name!("venv"),
        LayerTypes::none().launch().build().cache(),
        |old: &VenvMeta, _| {
            if *old == meta {
                RestoreDecision::keep(format!("{file} and CPython {} are unchanged", meta.python))
            } else if old.lock_sha256 != meta.lock_sha256 {
                RestoreDecision::discard(format!("{file} changed"))
            } else {
                RestoreDecision::discard("the interpreter, target or settings changed")
            }
        },
    );
    let (mut layer, restore) = ctx.cached(&definition)?;
    let venv = Venv {
        root: layer.path().to_path_buf(),
        python: runtime.python,
    };
    layer.add_env(EnvChange::set("VIRTUAL_ENV", venv.root.to_string_lossy()));
    if restore.is_kept() {
        let dists = installed_names(&venv);
        return Ok(Some(Installed {
            venv: layer.into_layer(),
            wheels: crate::sdist::carry(ctx)?,
            summary: Summary { dists, kept: true },
        }));
    }

    let marker_env = TargetEnv(MarkerEnv::linux(&runtime.version, &target.machine));
    let selection = locks::read(kind, &text, &marker_env, &options)?;
    for (name, why) in &selection.skipped {
        kiln_sdk::log::debug(format!("{file}: {name} is left out ({why})"));
    }
    let (index, mirror) = index_url(ctx, &selection.index_urls);
    let (sdists, chosen): (Vec<Chosen>, Vec<Chosen>) =
        resolve::choose(&selection.dists, &target, &index, mirror.as_deref())
            .map_err(PythonError::Resolve)?
            .into_iter()
            .partition(|c| c.sdist);
    kiln_sdk::log::info(format!(
        "Installing {} packages from {file} into a virtual environment",
        chosen.len()
    ));
    let downloads: Vec<Download> = chosen
        .iter()
        .map(|c| match &c.sha256 {
            Some(sha) => Download::pinned(&c.url, format!("sha256:{sha}")),
            None => Download::unpinned(&c.url),
        })
        .collect();
    let mut files = Vec::new();
    let mut failures = Vec::new();
    for (c, r) in chosen.iter().zip(fetch_all(&downloads)) {
        match r {
            Ok(f) => files.push(f),
            Err(e) => failures.push(download_failure(c, e.kind, &e.message, file)),
        }
    }
    if !failures.is_empty() {
        let first = failures.remove(0);
        return Err(PythonError::Downloads {
            first,
            more: failures,
        });
    }
    let (wheels_layer, built) = crate::sdist::build(
        ctx,
        runtime,
        &sdists,
        &target,
        &marker_env,
        (&index, mirror.as_deref()),
    )?;
    venv.create(&runtime.bin_dir(), &runtime.version)?;
    let unpack_root = venv.root.join(".kiln-unpack");
    let stages: Vec<std::path::PathBuf> = (0..files.len())
        .map(|i| unpack_root.join(i.to_string()))
        .collect();
    let requests: Vec<HostExtract> = files
        .iter()
        .zip(&stages)
        .map(|(f, stage)| HostExtract {
            archive: f.path.clone(),
            format: ArchiveFormat::Zip,
            destination: stage.clone(),
            options: ExtractOptions::default(),
        })
        .collect();
    let reports = extract_downloads(&requests);
    let mut summary = Summary::default();
    for ((c, stage), report) in chosen.iter().zip(&stages).zip(reports) {
        let report = report?;
        let installed = crate::wheel::install(&venv, stage, &c.filename, &report.executables)?;
        for exe in &installed.executables {
            layer.mark_executable(exe)?;
        }
        summary
            .dists
            .insert(crate::markers::normalize_name(&c.name));
    }
    for (i, b) in built.iter().enumerate() {
        let stage = unpack_root.join(format!("built-{i}"));
        let report = kiln_sdk::extract::extract_zip(&b.wheel, &stage, ExtractOptions::default())?;
        let name = b
            .wheel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let installed = crate::wheel::install(&venv, &stage, &name, &report.executables)?;
        for exe in &installed.executables {
            layer.mark_executable(exe)?;
        }
        summary
            .dists
            .insert(crate::markers::normalize_name(&b.sdist.name));
    }
    if unpack_root.exists() {
        std::fs::remove_dir_all(&unpack_root)
            .map_err(|e| kiln_sdk::Error::io("remove", &unpack_root, e))?;
    }
    layer.set_metadata(&meta)?;
    Ok(Some(Installed {
        venv: layer.into_layer(),
        wheels: wheels_layer,
        summary,
    }))
}

/// The normalised names of the distributions in the venv's site-packages.
fn installed_names(venv: &Venv) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(venv.site_packages()) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".dist-info")?;
            Some(crate::markers::normalize_name(
                stem.split('-').next().unwrap_or(stem),
            ))
        })
        .collect()
}
