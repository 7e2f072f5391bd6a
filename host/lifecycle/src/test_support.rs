//! Helpers shared by the unit tests of the phases. Each phase's test module includes this
//! file with `#[path]`, so nothing here is part of the library; not every module uses every
//! helper.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::BuildInputs;
use crate::analyze::PreviousImage;
use crate::build::BuiltBuildpack;
use crate::buildpack::{self, Buildpack};
use crate::env::Env;
use crate::export::{ExportError, ExportInputs, ExportReport, RunImage};
use crate::files::{LaunchMetadata, LaunchProcess};
use kiln_oci::{
    Digest, HistoryEntry, ImageConfig, LayerBuilder, LayerOwnership, LocalImage, OciLayout,
    VerifiedLayers, WrittenLayer,
};
use kiln_runtime::{Limits, LogLevel, Runtime};

/// `kiln/procfile` (the real buildpack): passes with a `Procfile`, declares its processes.
pub const PROCFILE: &str = "kiln-buildpack-procfile";
/// `tests/provider`: provides `greeting`; layers `tool` (build+cache), `runtime` (launch),
/// `scratchpad` (none).
pub const PROVIDER: &str = "kiln-test-buildpack-provider";
/// `tests/consumer`: requires `greeting`, reads the provider's build layer, declares processes.
pub const CONSUMER: &str = "kiln-test-buildpack-consumer";
/// `tests/raw`: returns invalid records by `KILN_TEST_MODE`.
pub const RAW: &str = "kiln-test-buildpack-raw";
/// `tests/hostile`: tries to escape the sandbox by `KILN_TEST_MODE`.
pub const HOSTILE: &str = "kiln-test-buildpack-hostile";

/// The workspace's `target/` directory.
fn target_dir() -> PathBuf {
    kiln_build_support::workspace_root(Path::new(env!("CARGO_MANIFEST_DIR"))).join("target")
}

/// The `.wasm` of the test component `package`, compiled on first use (once per test
/// process, cached in `target/wasm-guests`), so building the library compiles none of them.
fn component(package: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<Vec<(&'static str, PathBuf)>> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let all = [PROCFILE, PROVIDER, CONSUMER, RAW, HOSTILE];
        let paths =
            kiln_build_support::build_components(Path::new(env!("CARGO_MANIFEST_DIR")), &all, &[]);
        all.into_iter().zip(paths).collect()
    });
    let (_, path) = built
        .iter()
        .find(|(p, _)| *p == package)
        .unwrap_or_else(|| panic!("{package} is not a test component"));
    path.clone()
}

/// Lines buildpacks logged: (buildpack id, line).
pub type Log = Arc<Mutex<Vec<(String, String)>>>;

/// The lines of `log` that buildpack `id` logged.
pub fn lines_of(log: &Log, id: &str) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(i, _)| i == id)
        .map(|(_, l)| l.clone())
        .collect()
}

/// A runtime with `limits` whose buildpack log is recorded. Components are precompiled into
/// a cache under `target/`, so only the first test run compiles them.
pub fn runtime_with(limits: Limits) -> (Runtime, Log) {
    let log: Log = Arc::default();
    let sink = log.clone();
    let cache = target_dir().join("kiln-lifecycle-test-compile-cache");
    let rt = Runtime::new(
        Some(cache),
        limits,
        Arc::new(move |id: &str, _level: LogLevel, line: &str| {
            sink.lock().unwrap().push((id.to_owned(), line.to_owned()));
        }),
    )
    .unwrap();
    (rt, log)
}

/// A runtime with the default limits.
pub fn runtime() -> (Runtime, Log) {
    runtime_with(Limits::default())
}

/// Load the test component `package` (one of the constants above).
pub fn load(rt: &Runtime, package: &str) -> Buildpack {
    let bytes = std::fs::read(component(package)).unwrap();
    buildpack::load_bytes(&bytes, package, rt).unwrap()
}

/// A runtime and the buildpacks at `wasm`, in order.
pub fn buildpacks(wasm: &[&str]) -> (Runtime, Log, Vec<Buildpack>) {
    let (rt, log) = runtime();
    let bps = wasm.iter().map(|w| load(&rt, w)).collect();
    (rt, log, bps)
}

/// The working directories of one build, in a temporary directory.
pub struct Dirs {
    /// Holds everything.
    pub tmp: tempfile::TempDir,
    /// Guest `/workspace`.
    pub app: PathBuf,
    /// Guest `/platform`.
    pub platform: PathBuf,
    /// The layers root.
    pub layers: PathBuf,
}

impl Dirs {
    /// Empty app, platform and layers directories.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join("app");
        let platform = tmp.path().join("platform");
        let layers = tmp.path().join("layers");
        for d in [&app, &platform.join("env"), &layers] {
            std::fs::create_dir_all(d).unwrap();
        }
        Self {
            tmp,
            app,
            platform,
            layers,
        }
    }

    /// A path in the temporary directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// Write `contents` to `rel` in the app.
    pub fn app_file(&self, rel: &str, contents: &str) {
        write(&self.app.join(rel), contents);
    }

    /// Build inputs for these directories with the platform env `env`, targeting the host's
    /// platform (what a `scratch` run image reports).
    pub fn inputs(&self, env: &[(&str, &str)]) -> BuildInputs {
        let mut platform_env = Env::new();
        for (k, v) in env {
            platform_env.set(*k, *v);
        }
        let (os, arch) = scratch().target();
        BuildInputs {
            app_dir: self.app.clone(),
            platform_dir: self.platform.clone(),
            layers_dir: self.layers.clone(),
            platform_env,
            target_os: os,
            target_arch: arch,
            target_distro: None,
            exec_env: "production".into(),
            epoch_seconds: kiln_oci::NORMALIZED_MTIME,
            app_fingerprint: [7; 32],
            build_image_env: Env::new(),
            native_steps: None,
        }
    }
}

/// Write `contents` to `path`, creating its parents.
pub fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// The `scratch` run image.
pub fn scratch() -> RunImage {
    RunImage::new(
        "scratch",
        "scratch".into(),
        None,
        &VerifiedLayers::new(None),
    )
    .unwrap()
}

/// The OCI architecture of the host (what `scratch` reports).
pub fn host_arch() -> String {
    scratch().target().1
}

/// Write a layer holding `files` (path, contents) into `layout`.
pub fn layer(layout: &OciLayout, files: &[(&str, &str)]) -> WrittenLayer {
    let mut b = LayerBuilder::new(LayerOwnership::ROOT);
    for (path, contents) in files {
        b.add_file(path, contents.as_bytes().to_vec(), 0o644)
            .unwrap();
    }
    b.write_to(layout.blobs()).unwrap()
}

/// Write an image tagged `tag` into the layout at `dir`: one layer per entry of `layers`
/// (each a list of files), for `linux/<arch>`, with `labels`. Returns its layout.
pub fn write_image(
    dir: &Path,
    tag: &str,
    arch: &str,
    layers: &[&[(&str, &str)]],
    labels: &[(&str, &str)],
) -> OciLayout {
    let layout = OciLayout::create_or_open(dir).unwrap();
    let written: Vec<WrittenLayer> = layers.iter().map(|files| layer(&layout, files)).collect();
    let mut config = ImageConfig::new("linux", arch);
    let diff_ids: Vec<Digest> = written.iter().map(|w| w.diff_id.clone()).collect();
    config.set_diff_ids(&diff_ids);
    let history: Vec<HistoryEntry> = (0..written.len())
        .map(|i| HistoryEntry {
            created_by: Some(format!("{tag} layer {i}")),
            ..HistoryEntry::default()
        })
        .collect();
    config.set_history(&history).unwrap();
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    config.set_labels(&labels);
    layout
        .write_image(
            tag,
            &config,
            written.into_iter().map(|w| w.descriptor).collect(),
        )
        .unwrap();
    layout
}

/// The image tagged `tag` in the layout at `dir`.
pub fn open(dir: &Path, tag: &str) -> LocalImage {
    LocalImage::open(dir, tag).unwrap()
}

/// A checked run image from the layout at `dir`, named `name` in labels.
pub fn run_image(dir: &Path, tag: &str, name: &str) -> RunImage {
    RunImage::new(
        &format!("oci:{}:{tag}", dir.display()),
        name.to_owned(),
        Some(open(dir, tag)),
        &VerifiedLayers::new(None),
    )
    .unwrap()
}

/// The paths (and, for files, contents) in the gzip layer blob `digest` of `layout`.
pub fn layer_entries(layout: &OciLayout, digest: &Digest) -> BTreeMap<String, Vec<u8>> {
    let file = layout.blobs().open(digest).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        out.insert(path, bytes);
    }
    out
}

/// The value of label `key` of `config`, parsed as JSON.
pub fn json_label(config: &ImageConfig, key: &str) -> serde_json::Value {
    serde_json::from_str(config.label(key).unwrap()).unwrap()
}

/// The blob files in `layout`.
pub fn blob_count(layout: &OciLayout) -> usize {
    std::fs::read_dir(layout.blobs().dir())
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count()
}

/// The launcher the exports of the tests put in images.
pub const LAUNCHER: &[u8] = b"#!/bin/sh\n# the test launcher\n";

/// Launch metadata with one process, `web` (the default), declared by `buildpack`.
pub fn launch_web(buildpack: &str) -> LaunchMetadata {
    LaunchMetadata {
        default_process: Some("web".into()),
        buildpacks: Vec::new(),
        processes: vec![LaunchProcess {
            process_type: "web".into(),
            command: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
            args: Vec::new(),
            direct: true,
            working_dir: kiln_spec::APP_DIR.into(),
            buildpack_id: buildpack.into(),
        }],
        labels: BTreeMap::new(),
        slices: Vec::new(),
    }
}

/// Everything an export reads, owned: an app with `app.txt`, no buildpacks, a `web` process.
pub struct ExportSetup {
    /// App and layers directories.
    pub dirs: Dirs,
    /// The base.
    pub run_image: RunImage,
    /// Buildpacks `built` indexes.
    pub buildpacks: Vec<Buildpack>,
    /// The group's results.
    pub built: Vec<BuiltBuildpack>,
    /// Processes and labels.
    pub launch: LaunchMetadata,
    /// Checked blobs.
    pub verified: VerifiedLayers,
    /// Layer compression (gzip by default).
    pub compression: kiln_oci::BlobCompression,
    /// Remembered diff_ids (none by default).
    pub layer_ids: kiln_oci::LayerIds,
    /// App slicing (one layer by default).
    pub app_slices: crate::export::slices::SliceRules,
    /// The launchers by architecture (the test launcher for the host's).
    pub launchers: Vec<(&'static str, &'static [u8])>,
}

impl ExportSetup {
    /// An export of an app holding `app.txt` onto `run_image`.
    pub fn new(run_image: RunImage) -> Self {
        let dirs = Dirs::new();
        dirs.app_file("app.txt", "hello\n");
        let arch: &'static str = Box::leak(host_arch().into_boxed_str());
        Self {
            dirs,
            run_image,
            buildpacks: Vec::new(),
            built: Vec::new(),
            launch: launch_web("tests/none"),
            verified: VerifiedLayers::new(None),
            layer_ids: kiln_oci::LayerIds::new(None),
            compression: kiln_oci::BlobCompression::default(),
            app_slices: crate::export::slices::SliceRules::default(),
            launchers: vec![(arch, LAUNCHER)],
        }
    }

    /// The export's inputs, reusing layers of `previous`.
    pub fn inputs<'a>(&'a self, previous: Option<&'a PreviousImage>) -> ExportInputs<'a> {
        ExportInputs {
            run_image: &self.run_image,
            buildpacks: &self.buildpacks,
            built: &self.built,
            launch: &self.launch,
            layers_dir: &self.dirs.layers,
            app_dir: &self.dirs.app,
            ownership: LayerOwnership::ROOT,
            epoch_seconds: kiln_oci::NORMALIZED_MTIME,
            exec_env: "production",
            previous,
            blob_cache: None,
            verified: &self.verified,
            layer_ids: &self.layer_ids,
            compression: &self.compression,
            app_slices: &self.app_slices,
            launchers: &self.launchers,
            project_metadata: None,
            extra_labels: &NO_LABELS,
        }
    }

    /// Export into the layout at `dir` under `tag`.
    pub fn export(
        &self,
        dir: &Path,
        tag: &str,
        previous: Option<&PreviousImage>,
    ) -> Result<ExportReport, ExportError> {
        let layout = OciLayout::create_or_open(dir).unwrap();
        crate::export::export(&self.inputs(previous), &layout, tag)
    }
}

/// No extra labels.
static NO_LABELS: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
