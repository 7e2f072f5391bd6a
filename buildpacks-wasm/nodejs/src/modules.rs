//! The `modules` layer: the lockfile's packages at their paths, their install scripts run in
//! the build image, and the app's `node_modules` laid out. When only the build needs dev
//! packages (a production app with a build script), they are added for the build and removed
//! from the layer after it. The layer is cached by the lockfile's sha256, what it holds and
//! whether install scripts ran (with which Node.js); dev packages added for a build are
//! installed again (from the download cache) on every build that needs them.

use std::collections::{BTreeMap, BTreeSet};

use kiln_sdk::layer_name;
use kiln_sdk::{
    BuildContext, CachedLayer, EnvChange, Layer, LayerTypes, RestoreDecision, TypedLayer,
};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::app_link::{self, Tree};
use crate::bins::{self, BinSource};
use crate::error::NodejsError;
use crate::graph::Node;
use crate::install::{self, Selection};
use crate::install_scripts::{self, Target};
use crate::lifecycle;
use crate::lockfile::{self, LockedLink, LockedPackage, Lockfile};
use crate::native;
use crate::npm_env::ScriptEnv;
use crate::prune;
use crate::registry;
use crate::runtime::NodeRuntime;
use crate::scripts::{self, ScriptPolicy};

/// What the `modules` layer was built from.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct ModulesMeta {
    lockfile_sha256: String,
    include_dev: bool,
    arch: String,
    /// The Node.js version the install scripts of its packages ran with; none when they did
    /// not run (or none has any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scripts_node: Option<String>,
}

impl ModulesMeta {
    /// Why a restored `modules` layer built from `old` can or cannot be kept.
    fn decide(&self, old: &Self) -> RestoreDecision {
        if old.lockfile_sha256 != self.lockfile_sha256 {
            RestoreDecision::discard("package-lock.json changed")
        } else if old.include_dev != self.include_dev {
            RestoreDecision::discard(if self.include_dev {
                "dev dependencies are now included"
            } else {
                "dev dependencies are now left out"
            })
        } else if old.arch != self.arch {
            RestoreDecision::discard(format!(
                "the architecture changed from {} to {}",
                old.arch, self.arch
            ))
        } else if old.scripts_node != self.scripts_node {
            RestoreDecision::discard(match (&old.scripts_node, &self.scripts_node) {
                (None, _) => "install scripts now run".to_owned(),
                (Some(_), None) => "install scripts are now not run".to_owned(),
                (Some(a), Some(b)) => format!(
                    "install scripts ran with Node.js {a}, and Node.js {b} needs their native addons rebuilt"
                ),
            })
        } else {
            RestoreDecision::keep("package-lock.json is unchanged")
        }
    }
}

/// What to install, decided before anything is.
#[derive(Debug)]
pub struct Plan {
    lock: Lockfile,
    lockfile_sha256: String,
    arch: String,
    launch_dev: bool,
    build_dev: bool,
    /// What the launch layer holds.
    launch: Selection,
    /// What the build uses (the launch packages, plus dev packages for the build script).
    build: Selection,
    policy: ScriptPolicy,
}

impl Plan {
    /// Plan the install of `lock_text`; `build_script` says whether the app's build script
    /// runs (it gets the dev packages).
    pub fn new(
        ctx: &BuildContext,
        lock_text: &str,
        build_script: bool,
    ) -> Result<Self, NodejsError> {
        let launch_dev =
            crate::env_flag(ctx, "KILN_NODEJS_INCLUDE_DEV") || !ctx.detect.exec_env.is_production();
        let build_dev = launch_dev || build_script;
        let arch = crate::inventory::node_arch(ctx.detect.target.arch.as_ref()).to_owned();
        let os = ctx.detect.target.os.as_str();
        let lock = lockfile::parse(lock_text)?;
        let launch = install::select(lock.packages.clone(), launch_dev, os, &arch);
        let build = if build_dev == launch_dev {
            launch.clone()
        } else {
            install::select(lock.packages.clone(), build_dev, os, &arch)
        };
        Ok(Self {
            lockfile_sha256: hex::encode(sha2::Sha256::digest(lock_text.as_bytes())),
            lock,
            arch,
            launch_dev,
            build_dev,
            launch,
            build,
            policy: ScriptPolicy::from_env(&ctx.detect.platform_env),
        })
    }

    fn links(&self, dev: bool) -> Vec<&LockedLink> {
        self.lock.links.iter().filter(|l| dev || !l.dev).collect()
    }

    /// Whether an install script would run in this build: a package to install has one, or
    /// a linked workspace folder has one.
    pub fn wants_scripts(&self, ctx: &BuildContext) -> Result<bool, NodejsError> {
        if self
            .build
            .packages
            .iter()
            .any(|p| p.has_install_script && !self.policy.skips(&p.name))
        {
            return Ok(true);
        }
        for l in self.links(self.build_dev) {
            if !self.policy.skips(&l.name)
                && lifecycle::read(&ctx.app_dir().join(&l.target), lifecycle::LINK_EVENTS)?
                    .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Dev packages in the build but not in the launch layer.
    fn build_only(&self) -> Vec<LockedPackage> {
        let launch: BTreeSet<&str> = self
            .launch
            .packages
            .iter()
            .map(|p| p.path.as_str())
            .collect();
        self.build
            .packages
            .iter()
            .filter(|p| !launch.contains(p.path.as_str()))
            .cloned()
            .collect()
    }

    /// Install (or keep) the layer and lay out the app's `node_modules`; runs install scripts
    /// when `native` commands can run and `scripts_off` gives no reason not to.
    pub fn install(
        self,
        ctx: &BuildContext,
        runtime: &NodeRuntime,
        native: bool,
        scripts_off: Option<&str>,
    ) -> Result<InstalledModules, NodejsError> {
        let run_scripts = native && scripts_off.is_none();
        let reason =
            scripts_off.unwrap_or("this build has no build image: kiln build --build-image REF");
        let unrun = if run_scripts {
            Vec::new()
        } else {
            self.policy.check(&self.build.packages, reason)?
        };
        let scripted = run_scripts
            && self
                .launch
                .packages
                .iter()
                .any(|p| p.has_install_script && !self.policy.skips(&p.name));
        let meta = ModulesMeta {
            lockfile_sha256: self.lockfile_sha256.clone(),
            include_dev: self.launch_dev,
            arch: self.arch.clone(),
            scripts_node: scripted.then(|| runtime.version.clone()),
        };
        let (mut layer, restore) = ctx.cached(&CachedLayer::new(
            layer_name!("modules"),
            LayerTypes::none().launch().build().cache(),
            |old: &ModulesMeta, _| meta.decide(old),
        ))?;
        let kept = restore.is_kept();
        let build_only = self.build_only();
        let to_install = if kept {
            build_only.clone()
        } else {
            self.build.packages.clone()
        };
        let mut fresh = Vec::new();
        let mut unpacked = None;
        if !to_install.is_empty() {
            let done = Self::unpack(ctx, &to_install, &mut layer)?;
            fresh.extend(done.executables.iter().cloned());
            unpacked = Some(done);
        }
        if !kept || !to_install.is_empty() {
            let linked = relink_bins(&mut layer, &self.build.packages, &self.build.packages)?;
            fresh.extend(linked.targets);
            if let Some(done) = unpacked {
                self.log_install(&done, kept, build_only.len(), linked.links);
            }
        }
        if native && !fresh.is_empty() {
            fresh.sort();
            fresh.dedup();
            native::make_executable(layer.path(), &fresh)?;
        }
        let build_links = self.links(self.build_dev);
        let folders = app_link::lay_out(
            &Tree {
                app_dir: ctx.app_dir(),
                layer_root: layer.path(),
                packages: &self.build.packages,
                links: &build_links,
                folders: &self.lock.folders,
            },
            &BTreeSet::new(),
            true,
        )?;
        if run_scripts {
            let scripted = if kept {
                &build_only
            } else {
                &self.build.packages
            };
            self.run_scripts(ctx, runtime, &layer, scripted)?;
        } else if let Some(text) = scripts::warning(&unrun, layer.path(), reason) {
            kiln_sdk::log::warn(text);
        }
        Ok(InstalledModules {
            layer,
            meta,
            build_only,
            folders,
            plan: self,
        })
    }

    /// Fetch and unpack `packages` into the layer.
    fn unpack(
        ctx: &BuildContext,
        packages: &[LockedPackage],
        layer: &mut Layer,
    ) -> Result<install::Installed, NodejsError> {
        let reg = registry::configured(
            ctx.detect.env("npm_config_registry"),
            crate::read_app_file(ctx, ".npmrc")?.as_deref(),
        );
        let unpack = match ctx.detect.env("KILN_NODEJS_EXTRACT") {
            Some("guest") => install::Unpack::Guest,
            _ => install::Unpack::Host,
        };
        install::install(packages, &reg, layer, unpack)
    }

    fn log_install(
        &self,
        done: &install::Installed,
        kept: bool,
        build_only: usize,
        bin_links: usize,
    ) {
        if kept {
            kiln_sdk::log::info(format!(
                "Installed {} dev packages for the build script ({} downloaded)",
                done.packages, done.downloaded
            ));
            return;
        }
        let for_build = if build_only > 0 {
            format!(" ({build_only} dev packages only for the build script)")
        } else {
            String::new()
        };
        kiln_sdk::log::info(format!(
            "Installed {} packages ({} downloaded, {bin_links} .bin links){for_build}; left out {} dev and {} other-platform packages",
            done.packages, done.downloaded, self.build.skipped_dev, self.build.skipped_platform
        ));
    }

    /// Run the install scripts of `scripted` (installed now) and of the linked workspace
    /// folders, in dependency order.
    fn run_scripts(
        &self,
        ctx: &BuildContext,
        runtime: &NodeRuntime,
        layer: &Layer,
        scripted: &[LockedPackage],
    ) -> Result<(), NodejsError> {
        let mut targets = BTreeMap::new();
        for p in scripted {
            if p.has_install_script && !self.policy.skips(&p.name) {
                targets.insert(
                    p.path.clone(),
                    Target {
                        dir: layer.path().join(&p.path),
                        events: lifecycle::PACKAGE_EVENTS,
                    },
                );
            }
        }
        let links = self.links(self.build_dev);
        for l in &links {
            if !self.policy.skips(&l.name) {
                targets.insert(
                    l.target.clone(),
                    Target {
                        dir: ctx.app_dir().join(&l.target),
                        events: lifecycle::LINK_EVENTS,
                    },
                );
            }
        }
        if targets.is_empty() {
            return Ok(());
        }
        let no_deps: Vec<String> = Vec::new();
        let targets_of_links: BTreeSet<&str> = links.iter().map(|l| l.target.as_str()).collect();
        let nodes: Vec<Node<'_>> = self
            .build
            .packages
            .iter()
            .map(|p| Node {
                path: &p.path,
                dependencies: &p.dependencies,
            })
            .chain(targets_of_links.iter().map(|t| {
                Node {
                    path: t,
                    dependencies: self
                        .lock
                        .folders
                        .get(*t)
                        .map_or(&no_deps, |f| &f.dependencies),
                }
            }))
            .collect();
        let plan = install_scripts::Plan {
            nodes,
            links: links
                .iter()
                .map(|l| (l.path.clone(), l.target.clone()))
                .collect(),
            targets,
        };
        let env = ScriptEnv::new(runtime, ctx.app_dir(), "ci");
        let ran = install_scripts::run(&plan, runtime, &env)?;
        if ran > 0 {
            kiln_sdk::log::info(format!("Ran the install scripts of {ran} package(s)"));
        }
        Ok(())
    }
}

fn sources(packages: &[LockedPackage]) -> Vec<BinSource<'_>> {
    packages
        .iter()
        .map(|p| BinSource {
            path: &p.path,
            bin: &p.bin,
        })
        .collect()
}

/// Replace the layer's `.bin` links of `old` by those of `new`, marking their targets
/// executable.
fn relink_bins(
    layer: &mut Layer,
    old: &[LockedPackage],
    new: &[LockedPackage],
) -> Result<bins::Linked, NodejsError> {
    let root = layer.path().to_path_buf();
    bins::remove(&sources(old), &root)?;
    let linked = bins::link(&sources(new), &root)?;
    for target in &linked.targets {
        layer.mark_executable(target)?;
    }
    Ok(linked)
}

/// The installed layer, to finish after the build script.
#[derive(Debug)]
pub struct InstalledModules {
    layer: TypedLayer<ModulesMeta>,
    meta: ModulesMeta,
    build_only: Vec<LockedPackage>,
    folders: BTreeSet<String>,
    plan: Plan,
}

impl InstalledModules {
    /// Remove what only the build needed (dev packages, and build caches when the build
    /// script `built`), and return the launch layer with its environment.
    pub fn finish(self, ctx: &BuildContext, built: bool) -> Result<Layer, NodejsError> {
        let Self {
            mut layer,
            meta,
            build_only,
            folders,
            plan,
        } = self;
        let root = layer.path().to_path_buf();
        let launch_links = plan.links(plan.launch_dev);
        if !build_only.is_empty() {
            let paths: Vec<&str> = build_only.iter().map(|p| p.path.as_str()).collect();
            let removed = prune::remove_packages(&root, &paths)?;
            kiln_sdk::log::info(format!(
                "Removed {removed} dev packages from the launch layer after the build"
            ));
            relink_bins(&mut layer, &plan.build.packages, &plan.launch.packages)?;
            app_link::lay_out(
                &Tree {
                    app_dir: ctx.app_dir(),
                    layer_root: &root,
                    packages: &plan.launch.packages,
                    links: &launch_links,
                    folders: &plan.lock.folders,
                },
                &folders,
                false,
            )?;
        }
        if built {
            prune::remove_build_caches(&root)?;
        }
        let modules_dir = root.join("node_modules");
        let app_bin_dir = launch_links
            .iter()
            .any(|l| l.path.starts_with("node_modules/"));
        let bin_dir = if app_bin_dir {
            ctx.app_dir().join("node_modules/.bin")
        } else {
            modules_dir.join(".bin")
        };
        layer.add_env(EnvChange::set(
            "NODE_PATH",
            modules_dir.display().to_string(),
        ));
        layer.add_env(EnvChange::prepend("PATH", bin_dir.display().to_string()).delimiter(":"));
        // `<app>/node_modules` links into this layer; resolve through it as npm's real
        // directory would (`require.resolve` and `__dirname` give paths under the app).
        layer.add_env(EnvChange::default_value("NODE_PRESERVE_SYMLINKS", "1"));
        layer.set_metadata(&meta)?;
        Ok(layer.into_layer())
    }
}
