//! What a buildpack may see: preopened directories, environment, pinned clocks, seeded random.
//!
//! Everything is denied unless granted here. No host environment variables, no network, no
//! inherited stdio.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use super::output::LineStream;

/// One directory granted to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// Directory on the host.
    pub host: PathBuf,
    /// Path the guest sees.
    pub guest: String,
    /// Whether the guest may write.
    pub writable: bool,
}

/// Everything one call is allowed.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Directories, each with its own permission.
    pub preopens: Vec<Preopen>,
    /// Environment variables (only these; nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Seed for both random sources, derived from the build inputs.
    pub seed: [u8; 32],
    /// Wall-clock time the guest sees, in seconds since the Unix epoch.
    pub epoch_seconds: u64,
    /// Native steps the `exec` import may run (`build` only; `None`: no build image).
    pub native: Option<crate::NativeSteps>,
}

impl Grants {
    /// Grant `host` at `guest`, read-only.
    pub fn read_only(&mut self, host: impl Into<PathBuf>, guest: impl Into<String>) {
        self.preopens.push(Preopen {
            host: host.into(),
            guest: guest.into(),
            writable: false,
        });
    }

    /// Grant `host` at `guest`, read-write.
    pub fn read_write(&mut self, host: impl Into<PathBuf>, guest: impl Into<String>) {
        self.preopens.push(Preopen {
            host: host.into(),
            guest: guest.into(),
            writable: true,
        });
    }
}

/// A wall clock stuck at one instant (`SOURCE_DATE_EPOCH`).
struct PinnedWallClock(Duration);

impl HostWallClock for PinnedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that advances by one microsecond each time it is read.
#[derive(Default)]
struct SteppingMonotonicClock(AtomicU64);

impl HostMonotonicClock for SteppingMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed)
    }
}

/// Build the WASI context for one call from `grants`.
pub fn wasi_context(
    grants: &Grants,
    stdout: LineStream,
    stderr: LineStream,
) -> Result<WasiCtx, std::io::Error> {
    let mut builder = WasiCtxBuilder::new();
    // Must come before the preopens: each preopen copies the setting.
    builder.allow_blocking_current_thread(true);
    for p in &grants.preopens {
        let perms = if p.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(&p.host, &p.guest, perms)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", p.host.display())))?;
    }
    builder
        .envs(&grants.env)
        .stdout(stdout)
        .stderr(stderr)
        .wall_clock(PinnedWallClock(Duration::from_secs(grants.epoch_seconds)))
        .monotonic_clock(SteppingMonotonicClock::default())
        .secure_random(StdRng::from_seed(grants.seed))
        .insecure_random(StdRng::from_seed(grants.seed))
        .insecure_random_seed(u128::from_le_bytes(
            grants.seed[..16].try_into().unwrap_or([0; 16]),
        ))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if grants
        .preopens
        .iter()
        .any(|p| p.guest == kiln_spec::APP_DIR)
    {
        builder.initial_cwd(kiln_spec::APP_DIR);
    }
    Ok(builder.build())
}
