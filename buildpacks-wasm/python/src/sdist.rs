//! Source distributions with no wheel for the target, built to wheels in the build image's
//! sandbox (`exec`, no network) with the runtime's own interpreter (so the wheel's ABI is the
//! image's) and the build image's compiler, through the PEP 517 `build_wheel` hook of the
//! backend `pyproject.toml` names. The build requirements come pinned from the app's
//! `build-constraints.txt` (the form `uv pip compile --generate-hashes` writes; uv's
//! `--build-constraint`) and are installed into a private build environment with this
//! buildpack's own installer. A built wheel is cached by the sdist's sha256 and the build
//! inputs (constraints, interpreter, target).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kiln_sdk::exec::Command;
use kiln_sdk::extract::{
    ArchiveFormat, ExtractOptions, HostExtract, extract_download, extract_zip,
};
use kiln_sdk::fetch::{Download, fetch_all};
use kiln_sdk::{BuildContext, CachedLayer, Layer, LayerTypes, RestoreDecision, layer_name};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::PythonError;
use crate::locks::{self, LockKind, LockedDist, Options};
use crate::markers::normalize_name;
use crate::resolve::{self, Chosen};
use crate::runtime::Runtime;
use crate::tags::Target;
use crate::venv::Venv;

/// The app file with the pinned build requirements.
pub const CONSTRAINTS: &str = "build-constraints.txt";

/// The PEP 517 front end run in the sandbox: import the backend (after its `backend-path`),
/// call `build_wheel` into the output directory, print the wheel's name.
const FRONTEND: &str = "import importlib, json, os, sys
backend, paths, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
sys.path[:0] = [os.path.abspath(p) for p in paths]
module, _, attrs = backend.partition(':')
hooks = importlib.import_module(module)
for attr in filter(None, attrs.split('.')):
    hooks = getattr(hooks, attr)
print(hooks.build_wheel(out))
";

/// Where `SOURCE_DATE_EPOCH` points for builds: 1980-01-01, the earliest time a zip holds.
const SOURCE_DATE_EPOCH: &str = "315532800";

/// What the cached `wheels` layer holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
struct WheelsMeta {
    /// `<sdist sha256>-<inputs key>` of each built wheel kept.
    built: BTreeSet<String>,
}

/// A wheel built from an sdist, ready to install.
#[derive(Debug, Clone)]
pub struct Built {
    /// The sdist it came from.
    pub sdist: Chosen,
    /// Guest path of the wheel.
    pub wheel: PathBuf,
}

#[derive(Debug, Deserialize, Default)]
struct BuildSystem {
    #[serde(default)]
    requires: Option<Vec<String>>,
    #[serde(rename = "build-backend")]
    build_backend: Option<String>,
    #[serde(rename = "backend-path", default)]
    backend_path: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
struct Pyproject {
    #[serde(rename = "build-system", default)]
    build_system: BuildSystem,
}

fn fail(package: &Chosen, why: impl std::fmt::Display) -> PythonError {
    PythonError::Sdist {
        package: format!("{} {}", package.name, package.version),
        why: why.to_string(),
    }
}

/// The requirement's name (`setuptools>=61` → `setuptools`).
fn requirement_name(req: &str) -> String {
    let end = req
        .find(|c: char| !(c.is_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(req.len());
    normalize_name(&req[..end])
}

/// Build (or take from the cache) a wheel for each of `sdists`.
pub fn build(
    ctx: &BuildContext,
    runtime: &Runtime,
    sdists: &[Chosen],
    target: &Target,
    env: &dyn locks::Environment,
    index: (&str, Option<&str>),
) -> Result<(Option<Layer>, Vec<Built>), PythonError> {
    if sdists.is_empty() {
        return Ok((None, Vec::new()));
    }
    if let crate::native::Native::Unavailable(e) = crate::native::probe()? {
        let names: Vec<String> = sdists
            .iter()
            .map(|s| format!("{} {}", s.name, s.version))
            .collect();
        return Err(PythonError::SdistNeedsBuildImage {
            packages: names.join(", "),
            source: e,
        });
    }
    let constraints = crate::read_app_file(ctx, CONSTRAINTS)?.unwrap_or_default();
    let key = hex::encode(sha2::Sha256::digest(
        format!(
            "{constraints}\n{}\n{}\n{:?}",
            runtime.version, runtime.sha256, target
        )
        .as_bytes(),
    ));
    let definition = CachedLayer::new(
        layer_name!("wheels"),
        LayerTypes::none().cache(),
        |_: &WheelsMeta, _| RestoreDecision::keep("built wheels are kept by their inputs"),
    );
    let (mut layer, _) = ctx.cached(&definition)?;
    let mut meta: WheelsMeta = serde_json::from_value(layer.metadata().clone()).unwrap_or_default();
    let root = layer.path().to_path_buf();
    let mut built = Vec::new();
    let mut to_build = Vec::new();
    for s in sdists {
        let id = format!(
            "{}-{}",
            s.sha256.as_deref().unwrap_or("unpinned"),
            &key[..16]
        );
        let dir = root.join(&id);
        match find_wheel(&dir) {
            Some(wheel) if meta.built.contains(&id) && s.sha256.is_some() => {
                kiln_sdk::log::info(format!("Reusing the wheel built from {}", s.filename));
                built.push(Built {
                    sdist: s.clone(),
                    wheel,
                });
            }
            _ => to_build.push((s.clone(), id, dir)),
        }
    }
    if !to_build.is_empty() {
        let workdir = root.join(".build");
        if workdir.exists() {
            std::fs::remove_dir_all(&workdir)
                .map_err(|e| kiln_sdk::Error::io("remove", &workdir, e))?;
        }
        let interpreter = format!("bin/python{}.{}", runtime.python.0, runtime.python.1);
        crate::native::make_executable(&runtime.dir, &[interpreter])?;
        let downloads: Vec<Download> = to_build
            .iter()
            .map(|(s, _, _)| match &s.sha256 {
                Some(sha) => Download::pinned(&s.url, format!("sha256:{sha}")),
                None => Download::unpinned(&s.url),
            })
            .collect();
        let files = fetch_all(&downloads);
        for (i, ((s, id, dir), file)) in to_build.into_iter().zip(files).enumerate() {
            let file = file.map_err(|e| fail(&s, e.message))?;
            let src = workdir.join(format!("src-{i}"));
            extract_download(&HostExtract {
                archive: file.path.clone(),
                format: ArchiveFormat::TarGz,
                destination: src.clone(),
                options: ExtractOptions {
                    strip_components: 1,
                },
            })
            .map_err(|e| fail(&s, e))?;
            let env_dir = workdir.join(format!("env-{i}"));
            let wheel = build_one(
                runtime,
                &s,
                &src,
                &env_dir,
                &dir,
                (&constraints, target, env, index),
            )?;
            meta.built.insert(id);
            built.push(Built { sdist: s, wheel });
        }
        std::fs::remove_dir_all(&workdir)
            .map_err(|e| kiln_sdk::Error::io("remove", &workdir, e))?;
    }
    // Keep only what this build used.
    let used: BTreeSet<String> = built
        .iter()
        .filter_map(|b| {
            b.wheel
                .parent()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .collect();
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() && !used.contains(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    meta.built.retain(|id| used.contains(id));
    layer.set_metadata(&meta)?;
    Ok((Some(layer.into_layer()), built))
}

/// The `wheels` cache layer as the cache has it, to keep it when nothing is built.
pub fn carry(ctx: &BuildContext) -> Result<Option<Layer>, PythonError> {
    let definition = CachedLayer::new(
        layer_name!("wheels"),
        LayerTypes::none().cache(),
        |_: &WheelsMeta, _| RestoreDecision::keep("built wheels are kept by their inputs"),
    );
    let (layer, _) = ctx.cached(&definition)?;
    let meta: WheelsMeta = serde_json::from_value(layer.metadata().clone()).unwrap_or_default();
    Ok((!meta.built.is_empty()).then(|| layer.into_layer()))
}

fn find_wheel(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
}

/// Build one unpacked sdist at `src` into `out`.
fn build_one(
    runtime: &Runtime,
    sdist: &Chosen,
    src: &Path,
    env_dir: &Path,
    out: &Path,
    (constraints, target, env, index): (
        &str,
        &Target,
        &dyn locks::Environment,
        (&str, Option<&str>),
    ),
) -> Result<PathBuf, PythonError> {
    let pyproject: Pyproject = match std::fs::read_to_string(src.join("pyproject.toml")) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| fail(sdist, format!("its pyproject.toml is not valid: {e}")))?,
        Err(_) => Pyproject::default(),
    };
    let system = pyproject.build_system;
    let requires = system
        .requires
        .unwrap_or_else(|| vec!["setuptools>=40.8.0".into()]);
    let backend = system
        .build_backend
        .unwrap_or_else(|| "setuptools.build_meta:__legacy__".into());
    // The build environment: every distribution build-constraints.txt pins (for this
    // target), and each build requirement must be among them.
    let options = Options {
        include_dev: false,
        extras: BTreeSet::new(),
        groups: BTreeSet::new(),
        allow_unpinned: true,
    };
    let mut dists: Vec<LockedDist> = if constraints.trim().is_empty() {
        Vec::new()
    } else {
        locks::read(LockKind::Requirements, constraints, env, &options)
            .map_err(|e| fail(sdist, format!("{CONSTRAINTS}: {e}")))?
            .dists
    };
    let pinned: BTreeSet<String> = dists.iter().map(|d| normalize_name(&d.name)).collect();
    for req in &requires {
        let name = requirement_name(req);
        if !pinned.contains(&name) {
            kiln_sdk::log::warn(format!(
                "build requirement {req:?} of {} is not pinned in {CONSTRAINTS}; it is fetched unpinned, which needs --allow-unpinned (the image is then labelled not reproducible). Pin it: list the build requirements in build-requirements.in and run `uv pip compile --generate-hashes -o {CONSTRAINTS} build-requirements.in`",
                sdist.name
            ));
            dists.push(LockedDist {
                name: name.clone(),
                version: String::new(),
                files: Vec::new(),
            });
        }
    }
    let venv = Venv {
        root: env_dir.to_path_buf(),
        python: runtime.python,
    };
    venv.create(&runtime.bin_dir(), &runtime.version)?;
    let chosen = resolve::choose(&dists, target, index.0, index.1)
        .map_err(|e| fail(sdist, format!("its build requirements: {e}")))?;
    if let Some(nested) = chosen.iter().find(|c| c.sdist) {
        return Err(fail(
            sdist,
            format!(
                "its build requirement {} has no wheel; build requirements must be wheels",
                nested.name
            ),
        ));
    }
    let downloads: Vec<Download> = chosen
        .iter()
        .map(|c| match &c.sha256 {
            Some(sha) => Download::pinned(&c.url, format!("sha256:{sha}")),
            None => Download::unpinned(&c.url),
        })
        .collect();
    for (c, file) in chosen.iter().zip(fetch_all(&downloads)) {
        let file = file.map_err(|e| {
            fail(
                sdist,
                format!(
                    "build requirement {} {}: {}. Pin it with its sha256 in {CONSTRAINTS}",
                    c.name, c.version, e.message
                ),
            )
        })?;
        let stage = env_dir.join(".unpack");
        let report = extract_zip(&file.path, &stage, ExtractOptions::default())?;
        crate::wheel::install(&venv, &stage, &c.filename, &report.executables)?;
    }
    std::fs::create_dir_all(out).map_err(|e| kiln_sdk::Error::io("create", out, e))?;
    let paths = serde_json::to_string(&system.backend_path).unwrap_or_else(|_| "[]".into());
    kiln_sdk::log::info(format!(
        "Building a wheel from {} with {backend} (CPython {}, in the build image)",
        sdist.filename, runtime.version
    ));
    let interpreter = runtime
        .bin_dir()
        .join(format!("python{}.{}", runtime.python.0, runtime.python.1));
    let site = venv.site_packages();
    let stdout = Command::new(interpreter.to_string_lossy())
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", venv.bin().display()),
        )
        .env("PYTHONPATH", site.to_string_lossy())
        .env("PYTHONNOUSERSITE", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONHASHSEED", "0")
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .env("HOME", env_dir.to_string_lossy())
        .env("LC_ALL", "C.UTF-8")
        .args(["-c", FRONTEND, &backend, &paths])
        .arg(out.to_string_lossy())
        .current_dir(src)
        .output()
        .map_err(|source| PythonError::SdistBuild {
            package: format!("{} {}", sdist.name, sdist.version),
            source,
        })?;
    let name = String::from_utf8_lossy(&stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_owned();
    let wheel = out.join(&name);
    if name.is_empty() || name.contains('/') || !wheel.is_file() {
        return Err(fail(
            sdist,
            format!("the backend {backend} reported {name:?}, which is not a wheel it wrote"),
        ));
    }
    Ok(wheel)
}
