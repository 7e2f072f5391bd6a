//! Kiln buildpack `kiln/go`: installs Go from a pinned inventory, downloads the modules
//! `go.sum` pins through the host's `fetch` import (each file verified against its `h1:`
//! hash), and runs `go build` offline in the build image (`kiln build --build-image`).
//!
//! Configuration (platform env, `kiln build --env`):
//! - `KILN_GO_INVENTORY`: a TOML inventory file in the app dir replacing the shipped one;
//! - `KILN_GO_DIST_URL`: mirror replacing `https://go.dev/dl`;
//! - `GOPROXY`: the module proxy (its first http(s) entry; default `https://proxy.golang.org`);
//! - `KILN_GO_TARGETS=./cmd/a:./cmd/b`: the packages to build (default: every `main` package);
//! - `KILN_GO_WEB=name`: the binary that is the `web` process;
//! - `CGO_ENABLED`: passed to `go build` (default `0`).

mod compile;
pub mod discover;
mod error;
pub mod escape;
pub mod gomod;
pub mod goproxy;
pub mod gosum;
pub mod inventory;
mod layers;
mod modules;
pub mod targets;
mod toolchain;
pub mod version;

use std::path::PathBuf;

use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, DetectContext, DetectResult, EnvChange,
    Error, LayerTypes, Plan, Sbom, buildpack_id, layer_name,
};

pub use error::GoError;
use gomod::GoMod;
use gosum::{Kind, SumLine};

/// The Go buildpack.
#[derive(Default)]
pub struct GoBuildpack;

/// Read a file of the app, or `None` if it does not exist.
pub(crate) fn read_app_file(ctx: &BuildContext, name: &str) -> Result<Option<String>, Error> {
    let path = ctx.app_dir().join(name);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

impl Buildpack for GoBuildpack {
    type Error = GoError;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("kiln/go"), env!("CARGO_PKG_VERSION"))
            .name("Go")
            .description("Installs Go and builds the app offline from go.sum-pinned modules")
    }

    fn detect(&self, ctx: DetectContext) -> Result<DetectResult, GoError> {
        Ok(if ctx.app_has("go.mod") {
            DetectResult::pass_with(Plan::new().provides("go").requires("go"))
        } else {
            DetectResult::fail("no go.mod in the app directory")
        })
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, GoError> {
        let go_mod = GoMod::parse(&read_app_file(&ctx, "go.mod")?.ok_or(GoError::GoModMissing)?)?;
        let go_sum_text = read_app_file(&ctx, "go.sum")?;
        let vendored = ctx.app_dir().join("vendor/modules.txt").is_file();
        let lines = match &go_sum_text {
            Some(text) => gosum::parse(text)?,
            None if go_mod.requires > 0 && !vendored => {
                return Err(GoError::NoGoSum {
                    requires: go_mod.requires,
                });
            }
            None => Vec::new(),
        };
        let toolchain = toolchain::install(&ctx, &go_mod)?;
        let mut result = BuildResult::new();
        let modules = if vendored {
            kiln_sdk::log::info(
                "vendor/modules.txt found: building with -mod=vendor, nothing to download",
            );
            compile::Modules::Vendor
        } else if lines.is_empty() {
            compile::Modules::None
        } else {
            let layer = layers::proxy_layer(&ctx, &lines, go_sum_text.as_deref().unwrap_or(""))?;
            let dir = layer.path().to_path_buf();
            result = result.layer(layer);
            compile::Modules::Proxy(dir)
        };
        let gocache = layers::build_cache_layer(&ctx, &toolchain.version)?;
        let gomodcache = layers::mod_cache_layer(&ctx)?;
        let setup = compile::Setup {
            goroot: toolchain.layer.path().to_path_buf(),
            goroot_executables: toolchain.executables.clone(),
            gocache: gocache.path().to_path_buf(),
            gomodcache: gomodcache.path().to_path_buf(),
            modules,
            cgo_enabled: ctx
                .detect
                .env("CGO_ENABLED")
                .map_or_else(|| "0".to_owned(), str::to_owned),
            app_dir: ctx.app_dir().to_path_buf(),
        };
        let targets = match ctx.detect.env("KILN_GO_TARGETS") {
            Some(setting) => targets::from_setting(setting, &go_mod.module, ctx.app_dir())?,
            None => targets::from_dirs(&discover::main_packages(ctx.app_dir())?, &go_mod.module)?,
        };
        targets::check_unique(&targets)?;
        let mut bin = ctx.create_layer(layer_name!("bin"), LayerTypes::none().launch())?;
        setup.build_all(&targets, bin.path())?;
        for t in &targets {
            bin.mark_executable(&t.binary)?;
        }
        bin.add_env(
            EnvChange::prepend("PATH", bin.path().display().to_string())
                .delimiter(":")
                .launch_only(),
        );
        bin.set_sbom(&sbom(&lines));
        let bin_dir: PathBuf = bin.path().to_path_buf();
        let processes = targets::processes(&targets, ctx.detect.env("KILN_GO_WEB"), |t| {
            bin_dir.join(&t.binary).display().to_string()
        })?;
        for p in processes {
            result = result.process(p);
        }
        Ok(result
            .layer(toolchain.layer)
            .layer(gocache)
            .layer(gomodcache)
            .layer(bin)
            .build()?)
    }
}

/// The modules as an SBOM: every zip `go.sum` pins.
fn sbom(lines: &[SumLine]) -> Sbom {
    lines
        .iter()
        .filter(|l| l.kind == Kind::Zip)
        .fold(Sbom::new(), |s, l| {
            s.component(
                &l.module,
                &l.version,
                &format!("pkg:golang/{}@{}", l.module, l.version),
            )
        })
}

kiln_sdk::export_buildpack!(GoBuildpack);
