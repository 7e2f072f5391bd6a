//! The wasm runtime: one engine configured for determinism, a compile cache, and calls into
//! buildpack components with sandbox grants and resource limits. One fresh `Store` per call.

pub mod bindings;
pub mod compile_cache;
pub mod exec_import;
mod extract_import;
mod fetch_import;
mod file_streams;
pub mod guest_text;
pub mod limits;
pub mod output;
pub mod sandbox;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use bindings::{Buildpack, BuildpackPre, Level, types};
pub use compile_cache::CacheOutcome;
use compile_cache::CompileCache;
use exec_import::ExecGrant;
pub use exec_import::NativeSteps;
pub use limits::Limits;
use limits::{EPOCH_TICK, MemoryGuard, ticks};
use output::{LineSink, LineStream, Stream};
pub use sandbox::{Grants, Preopen};

/// Severity of a buildpack log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Verbose only.
    Debug,
    /// Normal output.
    Info,
    /// Warnings.
    Warn,
    /// Errors.
    Error,
}

/// Receives every log line of every buildpack: (buildpack id, level, line).
pub type LogSink = Arc<dyn Fn(&str, LogLevel, &str) + Send + Sync>;

/// Which export is being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `describe`.
    Describe,
    /// `detect`.
    Detect,
    /// `build`.
    Build,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Describe => "describe",
            Self::Detect => "detect",
            Self::Build => "build",
        })
    }
}

/// Errors from loading or calling a component.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be configured.
    #[error("could not start the wasm engine: {0}")]
    Engine(String),
    /// The bytes are not a valid WebAssembly component.
    #[error("{origin} is not a valid WebAssembly component: {reason}")]
    InvalidComponent {
        /// Where the bytes came from.
        origin: String,
        /// The parser's explanation.
        reason: String,
    },
    /// The component does not implement the `kiln:buildpack` world.
    #[error(
        "{origin} does not implement the kiln:buildpack@0.1.0 world: {reason} (build it with kiln-sdk, or check its WIT package version)"
    )]
    WrongWorld {
        /// Where the component came from.
        origin: String,
        /// What is missing or mismatched.
        reason: String,
    },
    /// The call ran past its CPU time limit.
    #[error("buildpack {buildpack} exceeded the {phase} time limit of {limit:?}")]
    Timeout {
        /// Buildpack id.
        buildpack: String,
        /// The export being called.
        phase: Phase,
        /// The limit.
        limit: Duration,
    },
    /// The call tried to use more memory than allowed.
    #[error("buildpack {buildpack} exceeded the memory limit of {limit_mib} MiB during {phase}")]
    Memory {
        /// Buildpack id.
        buildpack: String,
        /// The export being called.
        phase: Phase,
        /// The limit in MiB.
        limit_mib: usize,
    },
    /// The guest trapped (panic, abort, unreachable).
    #[error("buildpack {buildpack} crashed during {phase}: {reason}")]
    Crashed {
        /// Buildpack id.
        buildpack: String,
        /// The export being called.
        phase: Phase,
        /// The trap message.
        reason: String,
    },
    /// The sandbox could not be set up (for example a granted directory is missing).
    #[error("could not prepare the sandbox for buildpack {buildpack}: {reason}")]
    Sandbox {
        /// Buildpack id.
        buildpack: String,
        /// What failed.
        reason: String,
    },
}

/// A compiled component ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pre: BuildpackPre<HostState>,
    /// sha256 (hex) of the component bytes.
    pub sha256: String,
    /// Whether it came from the compile cache.
    pub cache: CacheOutcome,
}

/// Per-call store state.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryGuard,
    buildpack: String,
    log: LogSink,
    /// Bytes the guest may still send through the `log` import during this call.
    log_budget: usize,
    /// Serves the `fetch` import; `None` outside `build` (requests are then denied).
    fetch: Option<Arc<dyn kiln_fetch::Downloader>>,
    /// Serves the `extract` import; `None` outside `build` (requests are then refused).
    extract: Option<extract_import::ExtractGrant>,
    /// Serves the `exec` import (refused outside `build` and without a build image).
    exec: ExecGrant,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::kiln::buildpack::types::Host for HostState {}

impl bindings::kiln::buildpack::log::Host for HostState {
    fn write(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        if self.log_budget == 0 {
            return;
        }
        let mut spent = 0;
        for line in message.lines() {
            if spent + line.len() > self.log_budget {
                (self.log)(&self.buildpack, LogLevel::Warn, "[log output truncated]");
                self.log_budget = 0;
                return;
            }
            spent += line.len();
            (self.log)(&self.buildpack, level, line);
        }
        self.log_budget -= spent;
    }
}

/// Advances the engine epoch on a background thread until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The wasm runtime shared by all buildpack calls of a build.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: CompileCache,
    limits: Limits,
    log: LogSink,
    fetcher: Option<Arc<dyn kiln_fetch::Downloader>>,
    _ticker: EpochTicker,
}

/// The engine configuration: deterministic, epoch interruption for CPU limits. Threads stay
/// off because the `threads` feature of wasmtime is not compiled in.
pub fn engine_config() -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        .epoch_interruption(true);
    config
}

impl Runtime {
    /// A runtime with a compile cache in `cache_dir` (none if `None`).
    pub fn new(
        cache_dir: Option<PathBuf>,
        limits: Limits,
        log: LogSink,
    ) -> Result<Self, RuntimeError> {
        let engine =
            Engine::new(&engine_config()).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| file_streams::replace_write_via_stream(&mut linker))
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        Buildpack::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = CompileCache::new(&engine, cache_dir);
        let ticker = EpochTicker::start(&engine);
        Ok(Self {
            engine,
            linker,
            cache,
            limits,
            log,
            fetcher: None,
            _ticker: ticker,
        })
    }

    /// Serve the `fetch` import of `build` calls with `fetcher`, and grant each buildpack its
    /// view of the download cache (only what this build fetched for it) read-only at
    /// `/downloads` during build.
    pub fn set_fetcher(&mut self, fetcher: Arc<dyn kiln_fetch::Downloader>) {
        self.fetcher = Some(fetcher);
    }

    /// The fetcher serving `build` calls, if any.
    pub fn fetcher(&self) -> Option<&Arc<dyn kiln_fetch::Downloader>> {
        self.fetcher.as_ref()
    }

    /// The limits applied to calls.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compile (or load from cache) and link a component. `source` names it in errors.
    pub fn load(&self, bytes: &[u8], source: &str) -> Result<LoadedComponent, RuntimeError> {
        if !bytes.starts_with(b"\0asm") {
            return Err(RuntimeError::InvalidComponent {
                origin: source.to_owned(),
                reason: "the file does not start with the WebAssembly magic bytes".into(),
            });
        }
        let (component, sha256, cache) =
            self.cache
                .load(&self.engine, bytes)
                .map_err(|e| RuntimeError::InvalidComponent {
                    origin: source.to_owned(),
                    reason: first_line(&e),
                })?;
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| RuntimeError::WrongWorld {
                    origin: source.to_owned(),
                    reason: first_line(&e),
                })?;
        let pre = BuildpackPre::new(instance_pre).map_err(|e| RuntimeError::WrongWorld {
            origin: source.to_owned(),
            reason: first_line(&e),
        })?;
        Ok(LoadedComponent { pre, sha256, cache })
    }

    fn store(
        &self,
        buildpack: &str,
        grants: &Grants,
        phase: Phase,
        timeout: Duration,
    ) -> Result<(Store<HostState>, LineStream, LineStream), RuntimeError> {
        let sink_for = |stream: Stream| -> LineSink {
            let log = self.log.clone();
            let id = buildpack.to_owned();
            Arc::new(move |_, line: &str| {
                let level = match stream {
                    Stream::Stdout => LogLevel::Info,
                    Stream::Stderr => LogLevel::Warn,
                };
                log(&id, level, line);
            })
        };
        let stdout = LineStream::new(Stream::Stdout, self.limits.output, sink_for(Stream::Stdout));
        let stderr = LineStream::new(Stream::Stderr, self.limits.output, sink_for(Stream::Stderr));
        let fetch = self.fetcher.clone().filter(|_| phase == Phase::Build);
        let mut extended;
        let view = fetch.as_ref().and_then(|f| f.view(buildpack).ok());
        let grants = match &view {
            Some(v) => {
                extended = grants.clone();
                extended.read_only(v.root(), kiln_fetch::cache::GUEST_DIR);
                &extended
            }
            None => grants,
        };
        let extract = view.and_then(|v| {
            let layers = grants
                .preopens
                .iter()
                .find(|p| p.writable && p.guest.starts_with(kiln_spec::LAYERS_DIR))?;
            Some(extract_import::ExtractGrant {
                downloads: (kiln_fetch::cache::GUEST_DIR.to_owned(), v.root().to_owned()),
                layers: (layers.guest.clone(), layers.host.clone()),
            })
        });
        let exec = Self::exec_grant(phase, grants);
        let wasi = sandbox::wasi_context(grants, stdout.clone(), stderr.clone()).map_err(|e| {
            RuntimeError::Sandbox {
                buildpack: buildpack.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryGuard::new(self.limits.memory),
            buildpack: buildpack.to_owned(),
            log: self.log.clone(),
            log_budget: self.limits.output,
            fetch,
            extract,
            exec,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(ticks(timeout));
        store.epoch_deadline_trap();
        Ok((store, stdout, stderr))
    }

    /// What `exec` may do in a call of `phase` with `grants`: the same directories, as mounts.
    fn exec_grant(phase: Phase, grants: &Grants) -> ExecGrant {
        use bindings::kiln::buildpack::exec::ExecErrorKind;
        if phase != Phase::Build {
            return ExecGrant::Refused(
                ExecErrorKind::Denied,
                format!("native commands may only run during build, not during {phase}"),
            );
        }
        let Some(native) = &grants.native else {
            return ExecGrant::Refused(
                ExecErrorKind::Unavailable,
                exec_import::NO_BUILD_IMAGE.to_owned(),
            );
        };
        ExecGrant::Allowed {
            native: native.clone(),
            mounts: grants
                .preopens
                .iter()
                .map(|p| kiln_sandbox::Mount {
                    host: p.host.clone(),
                    guest: p.guest.clone(),
                    writable: p.writable,
                })
                .collect(),
            source_date_epoch: grants.epoch_seconds,
        }
    }

    fn classify(
        &self,
        err: &wasmtime::Error,
        store: &Store<HostState>,
        buildpack: &str,
        phase: Phase,
        timeout: Duration,
    ) -> RuntimeError {
        if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return RuntimeError::Timeout {
                buildpack: buildpack.to_owned(),
                phase,
                limit: timeout,
            };
        }
        if store.data().memory.breached() {
            return RuntimeError::Memory {
                buildpack: buildpack.to_owned(),
                phase,
                limit_mib: self.limits.memory >> 20,
            };
        }
        RuntimeError::Crashed {
            buildpack: buildpack.to_owned(),
            phase,
            reason: crash_reason(err),
        }
    }

    fn call<T>(
        &self,
        component: &LoadedComponent,
        buildpack: &str,
        phase: Phase,
        grants: &Grants,
        f: impl FnOnce(&Buildpack, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<(T, bool), RuntimeError> {
        let timeout = match phase {
            Phase::Build => self.limits.build_timeout,
            Phase::Detect | Phase::Describe => self.limits.detect_timeout,
        };
        let (mut store, stdout, stderr) = self.store(buildpack, grants, phase, timeout)?;
        let result = component
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store));
        stdout.finish();
        stderr.finish();
        let breached = store.data().memory.breached();
        result
            .map(|value| (value, breached))
            .map_err(|e| self.classify(&e, &store, buildpack, phase, timeout))
    }

    /// A guest that hit the memory limit may catch the allocation failure and return an
    /// error of its own; report the limit, which is the cause.
    fn memory_breach_as_error<T>(
        &self,
        (value, breached): (Result<T, types::Error>, bool),
        buildpack: &str,
        phase: Phase,
    ) -> Result<Result<T, types::Error>, RuntimeError> {
        if breached && value.is_err() {
            return Err(RuntimeError::Memory {
                buildpack: buildpack.to_owned(),
                phase,
                limit_mib: self.limits.memory >> 20,
            });
        }
        Ok(value)
    }

    /// Call `describe` with no grants at all.
    pub fn describe(
        &self,
        component: &LoadedComponent,
        source: &str,
    ) -> Result<types::BuildpackInfo, RuntimeError> {
        self.call(
            component,
            source,
            Phase::Describe,
            &Grants::default(),
            |bp, store| bp.call_describe(store),
        )
        .map(|(info, _)| info)
    }

    /// Call `detect`.
    pub fn detect(
        &self,
        component: &LoadedComponent,
        ctx: &types::Context,
        grants: &Grants,
    ) -> Result<Result<types::DetectOutcome, types::Error>, RuntimeError> {
        let out = self.call(
            component,
            &ctx.buildpack_id,
            Phase::Detect,
            grants,
            |bp, store| bp.call_detect(store, ctx),
        )?;
        self.memory_breach_as_error(out, &ctx.buildpack_id, Phase::Detect)
    }

    /// Call `build`.
    pub fn build(
        &self,
        component: &LoadedComponent,
        ctx: &types::BuildContext,
        grants: &Grants,
    ) -> Result<Result<types::BuildOutcome, types::Error>, RuntimeError> {
        let out = self.call(
            component,
            &ctx.base.buildpack_id,
            Phase::Build,
            grants,
            |bp, store| bp.call_build(store, ctx),
        )?;
        self.memory_breach_as_error(out, &ctx.base.buildpack_id, Phase::Build)
    }
}

/// Why the guest trapped: the trap's own description first (the backtrace header alone says
/// nothing), then the guest's panic message when there is one.
fn crash_reason(err: &wasmtime::Error) -> String {
    let Some(trap) = err.downcast_ref::<Trap>() else {
        return first_line(err);
    };
    let what = match trap {
        Trap::StackOverflow => "its call stack overflowed (unbounded recursion?)".to_owned(),
        other => other.to_string(),
    };
    let text = format!("{err:#}");
    match text.lines().find(|l| l.contains("panicked")) {
        Some(panic) => format!("{what}: {}", panic.trim()),
        None => what,
    }
}

fn first_line(err: &wasmtime::Error) -> String {
    let text = format!("{err:#}");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("unknown error").trim().to_owned();
    // wasmtime puts the useful part of trap messages (the guest panic) after the first line.
    match lines.find(|l| l.contains("panicked") || l.contains("error while executing")) {
        Some(more) if !first.contains(more.trim()) => format!("{first}: {}", more.trim()),
        _ => first,
    }
}
